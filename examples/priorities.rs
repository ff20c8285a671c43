//! Priority lanes in a small service: interactive requests (`High`) keep arriving while a
//! batch job (`Low`) fills every worker, with some `Normal` housekeeping in between.
//!
//! ```text
//! cargo run --release --example priorities
//! cargo run --release --example priorities -- --no-lanes
//! ```
//!
//! The batch checksums a few hundred chunks of synthetic data, about 1 ms each (calibrated on
//! this machine at start), all submitted at once. Meanwhile a request thread submits 100
//! requests of about 0.2 ms, one every 2 ms, and a housekeeping thread 20 tasks of about
//! 0.5 ms, one every 10 ms. Every task notes when it starts; the program prints, per lane, how
//! long tasks waited from submission until they started, and how long the batch took.
//!
//! A running task is never interrupted, so a request waits for the end of a batch task, not
//! for the batch. `--no-lanes` submits everything with plain `spawn` (all `Normal`, as in a
//! pool without lanes): the requests then queue behind the batch.

use std::hint::black_box;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use stealpool::{JoinHandle, Priority, WorkerPool};

/// Work per batch task.
const BATCH_TASK: Duration = Duration::from_millis(1);
/// Batch tasks per worker thread, so the batch lasts about the same on any machine.
const BATCH_PER_THREAD: usize = 250;
const REQUESTS: usize = 100;
const REQUEST_EVERY: Duration = Duration::from_millis(2);
const REQUEST_WORK: Duration = Duration::from_micros(200);
const HOUSEKEEPING: usize = 20;
const HOUSEKEEPING_EVERY: Duration = Duration::from_millis(10);
const HOUSEKEEPING_WORK: Duration = Duration::from_micros(500);

/// FNV-1a over `len` bytes of synthetic data (an xorshift stream seeded with `seed`): the
/// CPU work every task does, in an amount set by `len`.
fn checksum(seed: u64, len: u64) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut x = seed | 1;
    for _ in 0..len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        hash = (hash ^ (x & 0xff)).wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Bytes of [`checksum`] per millisecond on this machine (the best of a few runs).
fn calibrate() -> f64 {
    const PROBE: u64 = 200_000;
    let best = (0..5)
        .map(|i| {
            let start = Instant::now();
            black_box(checksum(black_box(i), PROBE));
            start.elapsed()
        })
        .min()
        .expect("five probes");
    PROBE as f64 / (best.as_secs_f64() * 1e3)
}

/// How many bytes of checksumming take `d`.
fn bytes_for(d: Duration, bytes_per_ms: f64) -> u64 {
    (d.as_secs_f64() * 1e3 * bytes_per_ms).round() as u64
}

/// A submitted task: when it was submitted, and a handle to (its start, its end, its result).
struct Timed {
    submitted: Instant,
    handle: JoinHandle<(Instant, Instant, u64)>,
}

/// What one task reported once joined.
struct Done {
    latency: Duration,
    end: Instant,
    value: u64,
}

impl Timed {
    fn join(self) -> Done {
        let (start, end, value) = self.handle.join().expect("no task panics");
        Done {
            latency: start.saturating_duration_since(self.submitted),
            end,
            value,
        }
    }
}

/// Submits `len` bytes of checksumming at `priority`, or with plain `spawn` (Normal) when
/// `lanes` is false.
fn submit(pool: &WorkerPool, lanes: bool, priority: Priority, seed: u64, len: u64) -> Timed {
    let task = move || {
        let start = Instant::now();
        let value = checksum(seed, len);
        (start, Instant::now(), value)
    };
    let submitted = Instant::now();
    let handle = if lanes {
        pool.spawn_with(priority, task)
    } else {
        pool.spawn(task)
    };
    Timed { submitted, handle }
}

/// Submits `count` tasks of `len` bytes, one every `every` from `start`, and joins them.
fn submit_every(
    pool: &WorkerPool,
    lanes: bool,
    priority: Priority,
    (count, every, len): (usize, Duration, u64),
    start: Instant,
) -> Vec<Done> {
    let tasks: Vec<Timed> = (0..count)
        .map(|i| {
            let due = start + every * i as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            submit(pool, lanes, priority, 1_000_000 + i as u64, len)
        })
        .collect();
    tasks.into_iter().map(Timed::join).collect()
}

/// Nearest-rank percentile (`p` in 0..=100) of a sorted, non-empty slice.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// Prints one lane's row; returns its sorted latencies.
fn print_row(name: &str, done: &[Done]) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = done.iter().map(|d| d.latency).collect();
    latencies.sort();
    println!(
        "| {name:<32} | {:>5} | {:>8} | {:>8} | {:>8} | {:>8} |",
        latencies.len(),
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().expect("at least one task"))
    );
    latencies
}

fn main() -> ExitCode {
    let mut lanes = true;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--no-lanes" => lanes = false,
            "-h" | "--help" => {
                println!("usage: priorities [--no-lanes]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("priorities: unknown argument {other:?}\nusage: priorities [--no-lanes]");
                return ExitCode::from(2);
            }
        }
    }

    let pool = WorkerPool::new();
    let threads = pool.num_threads();
    let bytes_per_ms = calibrate();
    let batch_tasks = BATCH_PER_THREAD * threads;
    let batch_len = bytes_for(BATCH_TASK, bytes_per_ms);
    let request_len = bytes_for(REQUEST_WORK, bytes_per_ms);
    let housekeeping_len = bytes_for(HOUSEKEEPING_WORK, bytes_per_ms);

    println!(
        "priorities: pool of {threads} threads, {}",
        if lanes {
            "lanes on: batch Low, requests High, housekeeping Normal"
        } else {
            "--no-lanes: everything submitted with spawn (Normal)"
        }
    );
    println!(
        "calibrated: 1 ms of work = checksumming {:.0} KiB",
        bytes_per_ms / 1024.0
    );
    println!(
        "batch: {batch_tasks} tasks of ~{BATCH_TASK:?}, submitted at once; requests: {REQUESTS} of ~{REQUEST_WORK:?}, one every {REQUEST_EVERY:?}; housekeeping: {HOUSEKEEPING} of ~{HOUSEKEEPING_WORK:?}, one every {HOUSEKEEPING_EVERY:?}"
    );

    let start = Instant::now();
    let (batch, requests, housekeeping) = thread::scope(|s| {
        let pool = &pool;
        let batch: Vec<Timed> = (0..batch_tasks)
            .map(|i| submit(pool, lanes, Priority::Low, i as u64, batch_len))
            .collect();
        let requests = s.spawn(move || {
            let plan = (REQUESTS, REQUEST_EVERY, request_len);
            submit_every(pool, lanes, Priority::High, plan, start)
        });
        let housekeeping = s.spawn(move || {
            let plan = (HOUSEKEEPING, HOUSEKEEPING_EVERY, housekeeping_len);
            submit_every(pool, lanes, Priority::Normal, plan, start)
        });
        let batch: Vec<Done> = batch.into_iter().map(Timed::join).collect();
        (
            batch,
            requests.join().expect("request thread"),
            housekeeping.join().expect("housekeeping thread"),
        )
    });
    pool.shutdown();

    let batch_end = batch.iter().map(|d| d.end).max().expect("a batch");
    let batch_time = batch_end - start;
    let digest = batch
        .iter()
        .fold(0u64, |acc, d| acc.rotate_left(5) ^ d.value);
    let all_work = BATCH_TASK * batch_tasks as u32
        + REQUEST_WORK * REQUESTS as u32
        + HOUSEKEEPING_WORK * HOUSEKEEPING as u32;
    let as_submitted = |p: &'static str| if lanes { p } else { "Normal" };

    println!("\nstart latency (submission -> start), ms:\n");
    println!(
        "| {:<32} | {:>5} | {:>8} | {:>8} | {:>8} | {:>8} |",
        "tasks (submitted as)", "count", "p50", "p90", "p99", "max"
    );
    println!(
        "|{:-<34}|{:->6}:|{:->9}:|{:->9}:|{:->9}:|{:->9}:|",
        "", "", "", "", "", ""
    );
    let req = print_row(&format!("requests ({})", as_submitted("High")), &requests);
    print_row(
        &format!("housekeeping ({})", as_submitted("Normal")),
        &housekeeping,
    );
    print_row(&format!("batch ({})", as_submitted("Low")), &batch);

    println!(
        "\nbatch: {batch_tasks} tasks done in {} ms (all tasks' work / {threads} threads = {} ms); digest {digest:016x}",
        ms(batch_time),
        ms(all_work / threads as u32)
    );
    let p99 = percentile(&req, 99.0);
    let in_tasks = p99.as_secs_f64() / BATCH_TASK.as_secs_f64();
    let conclusion = if p99 <= BATCH_TASK * 2 {
        format!(
            "requests jumped the batch: p99 start latency {} ms, about one batch task ({BATCH_TASK:?}), while the batch kept all {threads} threads busy",
            ms(p99)
        )
    } else if lanes {
        format!(
            "requests waited {} ms at p99 ({in_tasks:.1}x a batch task's length), more than the task or two a request should wait for; other programs competing for the CPU add to it",
            ms(p99)
        )
    } else {
        format!(
            "without lanes the requests queued behind the batch: p99 start latency {} ms ({in_tasks:.0}x a batch task's length); run without --no-lanes to compare",
            ms(p99)
        )
    };
    println!("conclusion: {conclusion}");
    ExitCode::SUCCESS
}
