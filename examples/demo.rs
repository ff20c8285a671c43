//! The first thing to run: CPU-heavy work done sequentially, then on a stealpool pool.
//!
//! ```text
//! cargo run --release --example demo [-- CHUNKS]
//! ```
//!
//! It counts the primes below 3 million by trial division, split into chunks (64 by default),
//! once on the calling thread and once as one pool task per chunk, then prints both times,
//! the speedup and what the pool saw (a panicking task included, to show it stays contained).

use std::time::Instant;

use stealpool::WorkerPool;

const LIMIT: u64 = 3_000_000;

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d = 3;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

fn count_primes(range: std::ops::Range<u64>) -> u64 {
    range.filter(|&n| is_prime(n)).count() as u64
}

fn chunks(count: u64) -> Vec<std::ops::Range<u64>> {
    let step = LIMIT.div_ceil(count);
    (0..count)
        .map(|i| (i * step)..((i + 1) * step).min(LIMIT))
        .collect()
}

fn main() {
    let count: u64 = match std::env::args().nth(1) {
        None => 64,
        Some(arg) => match arg.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("usage: demo [CHUNKS]   (CHUNKS: a positive whole number, default 64)");
                std::process::exit(2);
            }
        },
    };

    let pool = WorkerPool::new();
    println!(
        "stealpool demo: primes below {LIMIT}, {count} chunks, pool of {} threads",
        pool.num_threads()
    );

    let start = Instant::now();
    let sequential: u64 = chunks(count).into_iter().map(count_primes).sum();
    let sequential_time = start.elapsed();
    println!("sequential: {sequential} primes in {sequential_time:.2?}");

    let start = Instant::now();
    let handles: Vec<_> = chunks(count)
        .into_iter()
        .map(|range| pool.spawn(move || count_primes(range)))
        .collect();
    let parallel: u64 = handles
        .into_iter()
        .map(|handle| handle.join().expect("no chunk panics"))
        .sum();
    let parallel_time = start.elapsed();
    println!("on the pool: {parallel} primes in {parallel_time:.2?}");
    assert_eq!(sequential, parallel, "both ways must agree");

    println!(
        "speedup: {:.2}x on {} threads",
        sequential_time.as_secs_f64() / parallel_time.as_secs_f64(),
        pool.num_threads()
    );

    // A panic stays inside its task: the handle reports it and the pool carries on.
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let failed = pool
        .spawn(|| -> u64 { panic!("chunk 13 hit bad data") })
        .join();
    std::panic::set_hook(previous_hook);
    match failed {
        Err(err) => println!("a failing task reported: {err}"),
        Ok(_) => unreachable!("the task panics"),
    }
    let after = pool
        .spawn(|| count_primes(0..1000))
        .join()
        .expect("the pool still works");
    println!("and the pool still works: {after} primes below 1000");

    pool.shutdown();
}
