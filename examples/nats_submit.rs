//! Submits `fib` jobs to the NATS JetStream work queue that `nats_worker`s serve, awaits every
//! result, checks each value, and prints a last line
//! `submitted N completed C failed F duplicates D`. Exits 0 only when C == N and F == 0.
//!
//! ```sh
//! cargo run --release --features nats --example nats_submit -- --server nats://127.0.0.1:4222 --jobs 100 --fib 30
//! ```
//!
//! Options besides those: `--prefix P` (default `stealpool`), `--kind K` (default `fib`; the
//! argument is `--fib`'s number, and the expected value is checked only for `fib`).

use std::process::ExitCode;
use std::time::Instant;

use stealpool::nats::NatsClient;

fn fib(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

fn main() -> ExitCode {
    let mut server = String::new();
    let (mut jobs, mut n) = (None, None);
    let mut prefix = String::from("stealpool");
    let mut kind = String::from("fib");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        let parsed = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        match (flag.as_str(), value.clone()) {
            ("--server", Some(v)) => server = v,
            ("--jobs", Some(_)) if parsed.is_some() => jobs = parsed,
            ("--fib", Some(_)) if parsed.is_some() => n = parsed,
            ("--prefix", Some(v)) => prefix = v,
            ("--kind", Some(v)) => kind = v,
            _ => {
                eprintln!(
                    "nats_submit: bad option {flag} {}",
                    value.unwrap_or_default()
                );
                eprintln!("usage: nats_submit --server nats://127.0.0.1:4222 --jobs N --fib M");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(jobs), Some(n), false) = (jobs, n, server.is_empty()) else {
        eprintln!("usage: nats_submit --server nats://127.0.0.1:4222 --jobs N --fib M");
        return ExitCode::from(2);
    };
    let client = match NatsClient::builder(&server).prefix(&prefix).connect() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("nats_submit: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    let handles: Vec<stealpool::JoinHandle<u64>> =
        (0..jobs).map(|_| client.submit(&kind, &n)).collect();
    let expected = fib(n);
    let (mut completed, mut failed) = (0u64, 0u64);
    for handle in handles {
        match handle.join() {
            Ok(value) if kind != "fib" || value == expected => completed += 1,
            Ok(value) => {
                eprintln!("nats_submit: wrong result {value}, expected {expected}");
                failed += 1;
            }
            Err(e) => {
                eprintln!("nats_submit: job failed: {e}");
                failed += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "nats_submit: {jobs} jobs in {secs:.3} s ({:.0} jobs/s)",
        jobs as f64 / secs
    );
    println!(
        "submitted {jobs} completed {completed} failed {failed} duplicates {}",
        client.duplicates()
    );
    if completed == jobs && failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
