//! A stealpool worker fed by a NATS JetStream work queue: one per machine (or several).
//!
//! ```sh
//! nats-server -js -sd /tmp/nats-store &          # a server with JetStream, file storage
//! cargo run --release --features nats --example nats_worker -- --server nats://127.0.0.1:4222 --threads 4
//! cargo run --release --features nats --example nats_submit -- --server nats://127.0.0.1:4222 --jobs 100 --fib 30
//! ```
//!
//! It serves three kinds of jobs: `fib` (`u64` → `u64`), `sleep` (milliseconds → the same
//! number, after sleeping that long) and `fail` (always panics: a poison job, to watch it end
//! in the dead-letter subject). It runs until SIGINT or SIGTERM, then stops fetching, finishes
//! and acks what it holds, prints what it did and exits 0.
//!
//! Options besides the two above: `--ack-wait-ms N` (redelivery after a worker dies; default
//! 30000), `--max-deliver N` (deliveries of a panicking job; default 5), `--retry-delay-ms N`
//! (default 1000), `--prefix P` (default `stealpool`).

use std::process::ExitCode;
use std::time::Duration;

use stealpool::WorkerPool;
use stealpool::nats::NatsWorker;

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn sleep(ms: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(ms));
    ms
}

fn fail(what: String) -> u64 {
    panic!("job `fail` always panics ({what})")
}

struct Options {
    server: String,
    threads: Option<usize>,
    ack_wait: Duration,
    max_deliver: u32,
    retry_delay: Duration,
    prefix: String,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        server: String::new(),
        threads: None,
        ack_wait: Duration::from_secs(30),
        max_deliver: 5,
        retry_delay: Duration::from_secs(1),
        prefix: "stealpool".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--server" => options.server = value()?,
            "--threads" => options.threads = Some(number(value()?)? as usize),
            "--ack-wait-ms" => options.ack_wait = Duration::from_millis(number(value()?)?),
            "--max-deliver" => options.max_deliver = number(value()?)? as u32,
            "--retry-delay-ms" => options.retry_delay = Duration::from_millis(number(value()?)?),
            "--prefix" => options.prefix = value()?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if options.server.is_empty() {
        return Err("--server nats://host:port is required".into());
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(why) => {
            eprintln!("nats_worker: {why}");
            eprintln!("usage: nats_worker --server nats://127.0.0.1:4222 [--threads N]");
            return ExitCode::from(2);
        }
    };
    let mut pool = WorkerPool::builder();
    if let Some(n) = options.threads {
        pool = pool.num_threads(n);
    }
    let pool = match pool.build() {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("nats_worker: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "nats_worker: pid {} serving fib, sleep, fail from {} on {} threads",
        std::process::id(),
        options.server,
        pool.num_threads()
    );
    let report = NatsWorker::builder(&options.server)
        .pool(pool)
        .prefix(&options.prefix)
        .ack_wait(options.ack_wait)
        .max_deliver(options.max_deliver)
        .retry_delay(options.retry_delay)
        .handle("fib", fib)
        .handle("sleep", sleep)
        .handle("fail", fail)
        .run(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            println!("nats_worker: stopping: finishing the jobs held");
        });
    match report {
        Ok(report) => {
            println!(
                "nats_worker: done: completed {} retried {} dead-lettered {}",
                report.completed, report.retried, report.dead_lettered
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("nats_worker: {e}");
            ExitCode::FAILURE
        }
    }
}
