//! Fibonacci numbers by plain recursion, sequentially and with `join` on a pool.
//!
//! ```text
//! cargo run --release --example fib -- 42
//! cargo run --release --example fib -- 42 --cutoff 20 --threads 2
//! ```
//!
//! The parallel version joins at every call down to `--cutoff` (default 20) and runs the
//! smaller calls sequentially. A join costs a few nanoseconds on stealpool, so the cutoff can
//! be low; `--cutoff 1` joins at every single call.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use stealpool::WorkerPool;

/// fib(92) is the largest that fits in a u64.
const MAX_N: u64 = 92;

fn fib_sequential(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_sequential(n - 1) + fib_sequential(n - 2)
    }
}

fn fib_parallel(n: u64, cutoff: u64) -> u64 {
    if n <= cutoff.max(1) {
        return fib_sequential(n);
    }
    let (a, b) = stealpool::join(
        || fib_parallel(n - 1, cutoff),
        || fib_parallel(n - 2, cutoff),
    );
    a + b
}

struct Args {
    n: u64,
    cutoff: u64,
    threads: Option<usize>,
}

const USAGE: &str = "usage: fib [N] [--cutoff C] [--threads T]   (N <= 92, default 42)";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n: 42,
        cutoff: 20,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse::<u64>()
                .map_err(|e| format!("{name}: {e}"))
        };
        match arg.as_str() {
            "--cutoff" => args.cutoff = value("--cutoff")?,
            "--threads" => args.threads = Some(value("--threads")? as usize),
            "-h" | "--help" => return Err(USAGE.to_string()),
            n => args.n = n.parse().map_err(|e| format!("N: {e}\n{USAGE}"))?,
        }
    }
    if args.n > MAX_N {
        return Err(format!(
            "fib({}) does not fit in a u64; N must be <= {MAX_N}",
            args.n
        ));
    }
    Ok(args)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = WorkerPool::builder();
    if let Some(threads) = args.threads {
        builder = builder.num_threads(threads);
    }
    let pool = match builder.build() {
        Ok(pool) => pool,
        Err(error) => {
            eprintln!("cannot build the pool: {error}");
            return ExitCode::FAILURE;
        }
    };
    let n = args.n;
    println!(
        "fib({n}) on a pool of {} threads, sequential below n = {}",
        pool.num_threads(),
        args.cutoff.max(1)
    );

    let start = Instant::now();
    let sequential = fib_sequential(std::hint::black_box(n));
    let t_sequential = start.elapsed();
    println!("sequential: {sequential} in {}", ms(t_sequential));

    let start = Instant::now();
    let parallel = pool.install(|| fib_parallel(std::hint::black_box(n), args.cutoff));
    let t_parallel = start.elapsed();
    println!("on the pool: {parallel} in {}", ms(t_parallel));

    if sequential != parallel {
        eprintln!("mismatch: {sequential} != {parallel}");
        return ExitCode::FAILURE;
    }
    println!(
        "speedup: {:.2}x on {} threads",
        t_sequential.as_secs_f64() / t_parallel.as_secs_f64(),
        pool.num_threads()
    );
    pool.shutdown();
    ExitCode::SUCCESS
}
