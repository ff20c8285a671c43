//! Spawn-throughput, wake-up-latency and idle-CPU benchmarks: `stealpool`
//! against `rayon`, `threadpool` and tokio's blocking pool.
//!
//! Every pool under test runs exactly **2 worker threads**, and all tasks are
//! submitted from the main thread, which belongs to none of the pools.
//!
//! Run with `cargo bench --bench spawn` (about 1.5 minutes on 2 cores).
//! `cargo bench --bench spawn -- --test` (or `cargo test --benches`) runs
//! every criterion benchmark once and shrinks the extra parts, so it finishes
//! in seconds; setting `STEALPOOL_BENCH_QUICK=1` shrinks the extra parts only.
//!
//! The binary has four parts:
//!
//! 1. criterion group `spawn_100k`: spawn 100 000 tiny tasks and wait for all
//!    of them, once per peer (`stealpool`, `stealpool_timing` (the same pool
//!    with `record_timing(true)`), `rayon_spawn`, `rayon_scope`, `threadpool`,
//!    `tokio_spawn_blocking`).
//! 2. Wake-up latency: let a pool go idle, submit one task and measure the
//!    time from just before the submission until the task starts running.
//! 3. Idle CPU: the CPU time a pool burns while it sits idle for 2 s right
//!    after a burst of work. Each peer is measured in a child process (this
//!    same binary, re-executed with `STEALPOOL_BENCH_IDLE=<peer>`) so that no
//!    other pool's threads are counted.
//! 4. A Markdown table summing up parts 1-3 (spawn cost measured again here
//!    with `Instant`, since criterion's estimates are not easy to read back).
//!    The same table, unrounded and keyed by ids (`tables.summary.rows.<metric
//!    id>.<peer id>`), goes to `spawn.json`: in `target/bench-results/`, or
//!    in `$STEALPOOL_BENCH_JSON_DIR` (see `benches/common/mod.rs`).
//!
//! The pools, the rounds of part 4's spawn row, the percentiles, the table
//! and the JSON file come from the harness in `benches/common/`; this file
//! holds the peers' workloads and what is reported.

use std::env;
use std::hint::black_box;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use criterion::Criterion;

mod common;
use common::peers::{self, Names, Pool};
use common::rounds::{Order, Rounds};
use common::run::{Results, Run, burst_group};
use common::stats::Samples;
use common::table::{Cell, Table};
use common::tiny_work;

/// Worker threads in every pool under test.
const THREADS: usize = 2;
/// Tasks per burst in the spawn-throughput benchmarks.
const N: usize = 100_000;

/// Set in a child process: which peer's idle CPU to measure.
const IDLE_ENV: &str = "STEALPOOL_BENCH_IDLE";
/// Set in a child process: how long the idle window lasts, in milliseconds.
const IDLE_MS_ENV: &str = "STEALPOOL_BENCH_IDLE_MS";
/// Prefix of the line on which a child process reports its result.
const IDLE_RESULT_PREFIX: &str = "idle_cpu_ms=";
/// Prefix of the child's second answer line: the whole process's CPU (getrusage).
const IDLE_PROCESS_PREFIX: &str = "idle_process_cpu_ms=";

/// The ways of running tasks that are compared. `RayonSpawn` and
/// `RayonScope` share the same kind of pool; they differ in how a burst is
/// submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    Stealpool,
    /// stealpool with `record_timing(true)`: what the wait/run histograms cost.
    StealpoolTiming,
    RayonSpawn,
    RayonScope,
    Threadpool,
    Tokio,
}

impl Peer {
    /// Every peer, in the order of the criterion group and the table.
    const ALL: [Peer; 6] = [
        Peer::Stealpool,
        Peer::StealpoolTiming,
        Peer::RayonSpawn,
        Peer::RayonScope,
        Peer::Threadpool,
        Peer::Tokio,
    ];

    /// Criterion benchmark id, also the value of `STEALPOOL_BENCH_IDLE`.
    fn id(self) -> &'static str {
        match self {
            Peer::Stealpool => "stealpool",
            Peer::StealpoolTiming => "stealpool_timing",
            Peer::RayonSpawn => "rayon_spawn",
            Peer::RayonScope => "rayon_scope",
            Peer::Threadpool => "threadpool",
            Peer::Tokio => "tokio_spawn_blocking",
        }
    }

    /// Column heading in the summary table.
    fn label(self) -> &'static str {
        match self {
            Peer::Stealpool => "stealpool",
            Peer::StealpoolTiming => "stealpool, record_timing",
            Peer::RayonSpawn => "rayon (ThreadPool::spawn)",
            Peer::RayonScope => "rayon (scope)",
            Peer::Threadpool => "threadpool",
            Peer::Tokio => "tokio (spawn_blocking)",
        }
    }

    fn from_id(id: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|p| p.id() == id)
    }

    /// Whether wake-up latency and idle CPU are measured for this peer.
    /// `rayon_scope` uses the same pool as `rayon_spawn`, so those figures
    /// would only repeat the `rayon_spawn` ones; timing changes nothing about
    /// an idle stealpool pool.
    fn has_idle_metrics(self) -> bool {
        !matches!(self, Peer::RayonScope | Peer::StealpoolTiming)
    }
}

/// Counts finished tasks and wakes the waiting (main) thread when the last
/// one is done, so that rayon's fire-and-forget `spawn` can be waited for
/// without busy spinning.
struct CountLatch {
    remaining: AtomicUsize,
    waiter: Thread,
}

impl CountLatch {
    fn new(count: usize) -> Arc<Self> {
        Arc::new(CountLatch {
            remaining: AtomicUsize::new(count),
            waiter: thread::current(),
        })
    }

    /// Called by each task when it finishes.
    fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waiter.unpark();
        }
    }

    /// Called by the thread that created the latch. `park` may wake up
    /// spuriously, hence the loop.
    fn wait(&self) {
        while self.remaining.load(Ordering::Acquire) != 0 {
            thread::park();
        }
    }
}

/// A running pool together with the way bursts are submitted to it.
struct Bench {
    peer: Peer,
    pool: Pool,
}

impl Bench {
    /// Builds the pool for `peer` with [`THREADS`] worker threads.
    fn new(peer: Peer) -> Bench {
        let pool = match peer {
            Peer::Stealpool | Peer::StealpoolTiming => Pool::Stealpool(peers::build_stealpool(
                peers::stealpool_builder(THREADS, Names::Named)
                    .record_timing(peer == Peer::StealpoolTiming),
                "stealpool",
            )),
            Peer::RayonSpawn | Peer::RayonScope => Pool::Rayon(peers::rayon(THREADS, Names::Named)),
            Peer::Threadpool => Pool::Threadpool(peers::threadpool(THREADS)),
            Peer::Tokio => Pool::Tokio(peers::tokio_blocking(THREADS)),
        };
        Bench { peer, pool }
    }

    /// Spawns `n` tiny tasks from the calling thread and returns once all of
    /// them have finished.
    fn burst(&self, n: usize) {
        match (&self.pool, self.peer) {
            (Pool::Stealpool(pool), _) => {
                let handles: Vec<_> = (0..n).map(|i| pool.spawn(move || tiny_work(i))).collect();
                let mut sum = 0u64;
                for handle in handles {
                    let value = handle
                        .join()
                        .unwrap_or_else(|_| panic!("a stealpool task failed"));
                    sum = sum.wrapping_add(value);
                }
                black_box(sum);
            }
            (Pool::Rayon(pool), Peer::RayonScope) => {
                // Note: `scope` runs its closure on one of the pool's
                // workers, so here the spawning itself happens inside the
                // pool; the main thread only waits for the scope to end.
                pool.scope(|s| {
                    for i in 0..n {
                        s.spawn(move |_| {
                            black_box(tiny_work(i));
                        });
                    }
                });
            }
            (Pool::Rayon(pool), _) => {
                let latch = CountLatch::new(n);
                for i in 0..n {
                    let latch = Arc::clone(&latch);
                    pool.spawn(move || {
                        black_box(tiny_work(i));
                        latch.count_down();
                    });
                }
                latch.wait();
            }
            (Pool::Threadpool(pool), _) => {
                for i in 0..n {
                    pool.execute(move || {
                        black_box(tiny_work(i));
                    });
                }
                pool.join();
            }
            (Pool::Tokio(rt), _) => {
                rt.block_on(async {
                    let handles: Vec<_> = (0..n)
                        .map(|i| tokio::task::spawn_blocking(move || tiny_work(i)))
                        .collect();
                    let mut sum = 0u64;
                    for handle in handles {
                        let value = handle.await.expect("a tokio blocking task failed");
                        sum = sum.wrapping_add(value);
                    }
                    black_box(sum);
                });
            }
        }
    }

    /// Submits one task to the (idle) pool and returns how long after the
    /// submission began the task started running.
    fn wake_once(&self) -> Duration {
        // The channel (where one is needed) is made before the clock starts,
        // so only the submission and the worker's wake-up are timed.
        let (tx, rx) = mpsc::sync_channel::<Instant>(1);
        let (submitted, started) = match &self.pool {
            Pool::Stealpool(pool) => {
                let submitted = Instant::now();
                let handle = pool.spawn(Instant::now);
                let started = handle
                    .join()
                    .unwrap_or_else(|_| panic!("a stealpool task failed"));
                (submitted, started)
            }
            Pool::Rayon(pool) => {
                let submitted = Instant::now();
                pool.spawn(move || {
                    let _ = tx.send(Instant::now());
                });
                (submitted, rx.recv().expect("rayon task vanished"))
            }
            Pool::Threadpool(pool) => {
                let submitted = Instant::now();
                pool.execute(move || {
                    let _ = tx.send(Instant::now());
                });
                (submitted, rx.recv().expect("threadpool task vanished"))
            }
            Pool::Tokio(rt) => {
                let submitted = Instant::now();
                let handle = rt.spawn_blocking(Instant::now);
                let started = rt.block_on(handle).expect("a tokio blocking task failed");
                (submitted, started)
            }
        };
        started.saturating_duration_since(submitted)
    }

    fn shutdown(self) {
        self.pool.shutdown();
    }
}

// ---------------------------------------------------------------------------
// Part 1: criterion group.
// ---------------------------------------------------------------------------

/// `spawn_100k`: per-task cost of spawning `N` tiny tasks from the main
/// thread and waiting for all of them. Each pool is built once, outside the
/// timing loop, and shut down before the next peer's pool is built so that
/// idle threads of other pools don't share the 2 cores.
fn bench_spawn_100k(c: &mut Criterion) {
    // Each iteration takes tens to hundreds of milliseconds.
    let mut group = burst_group(
        c,
        "spawn_100k",
        N,
        Duration::from_secs(2),
        Duration::from_secs(8),
    );
    for peer in Peer::ALL {
        let bench = Bench::new(peer);
        group.bench_function(peer.id(), |b| b.iter(|| bench.burst(N)));
        bench.shutdown();
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// Parts 2-4: custom measurements and the summary table.
// ---------------------------------------------------------------------------

/// How much of parts 2-4 to run.
struct ExtraConfig {
    quick: bool,
    /// Tasks per burst when re-measuring spawn cost for the table.
    spawn_tasks: usize,
    /// Timed bursts per peer (the median is reported).
    spawn_runs: usize,
    /// Wake-up latency trials per peer.
    wake_trials: usize,
    /// How long a pool is left alone before each wake-up trial.
    wake_idle: Duration,
    /// Length of the idle window whose CPU time is measured.
    idle_window: Duration,
}

impl ExtraConfig {
    fn new(quick: bool) -> Self {
        if quick {
            ExtraConfig {
                quick,
                spawn_tasks: 10_000,
                spawn_runs: 3,
                wake_trials: 20,
                wake_idle: Duration::from_millis(5),
                idle_window: Duration::from_millis(200),
            }
        } else {
            ExtraConfig {
                quick,
                spawn_tasks: N,
                spawn_runs: 15,
                wake_trials: 300,
                wake_idle: Duration::from_millis(5),
                idle_window: Duration::from_secs(2),
            }
        }
    }
}

/// Results of parts 2-3 (and the spawn re-measurement) for one peer; `None` where not measured or failed.
#[derive(Default, Clone, Copy)]
struct Row {
    spawn_ns_per_task: Option<f64>,
    wake_p50_us: Option<f64>,
    wake_p99_us: Option<f64>,
    idle_cpu_ms: Option<f64>,
    idle_process_cpu_ms: Option<f64>,
}

/// Part 4's spawn row: for every peer, the median wall time of `spawn_runs`
/// bursts, per task, in [`Peer::ALL`] order.
///
/// The peers take turns (one timed burst each per round, always in the same
/// order) rather than running all of one peer's bursts in a row. All pools
/// are alive at once, but only one has work at a time. Each timed burst
/// directly follows an untimed one on the same pool, so it runs in the same
/// warmed-up, back-to-back state as criterion's iterations rather than
/// waking a pool that had gone to sleep.
fn measure_spawn_costs(cfg: &ExtraConfig) -> Vec<f64> {
    let benches: Vec<Bench> = Peer::ALL.into_iter().map(Bench::new).collect();
    let rounds = Rounds {
        rounds: cfg.spawn_runs,
        order: Order::Fixed,
        warm_each: true,
    };
    let per_task_ns = rounds.run(benches.len(), |i| {
        let start = Instant::now();
        benches[i].burst(cfg.spawn_tasks);
        start.elapsed().as_nanos() as f64 / cfg.spawn_tasks as f64
    });
    for bench in benches {
        bench.shutdown();
    }
    per_task_ns
        .into_iter()
        .map(|ns| Samples::new(ns).median())
        .collect()
}

/// Part 2: wake-up latency of an idle pool, as (p50, p99) in microseconds.
fn measure_wake_latency(bench: &Bench, cfg: &ExtraConfig) -> (f64, f64) {
    // Make sure all workers have been started before the first trial.
    bench.burst(1_000);
    let micros = Samples::new(
        (0..cfg.wake_trials)
            .map(|_| {
                // Long enough for the workers to stop spinning and park.
                thread::sleep(cfg.wake_idle);
                bench.wake_once().as_nanos() as f64 / 1_000.0
            })
            .collect(),
    );
    (micros.pct(50.0), micros.pct(99.0))
}

/// Part 3, parent side: runs this binary again as a child that measures
/// only `peer`'s idle CPU time, and parses the child's answers: the pool
/// threads' CPU (schedstat) and the whole process's (getrusage).
fn measure_idle_cpu(peer: Peer, cfg: &ExtraConfig) -> Option<(f64, f64)> {
    let exe = match env::current_exe() {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("idle CPU: cannot locate the bench binary: {err}");
            return None;
        }
    };
    let output = Command::new(exe)
        .env(IDLE_ENV, peer.id())
        .env(IDLE_MS_ENV, cfg.idle_window.as_millis().to_string())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            eprintln!("idle CPU ({}): cannot run the child: {err}", peer.id());
            return None;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer = |prefix: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .and_then(|value| value.trim().parse::<f64>().ok())
    };
    let parsed = answer(IDLE_RESULT_PREFIX).zip(answer(IDLE_PROCESS_PREFIX));
    if parsed.is_none() || !output.status.success() {
        eprintln!(
            "idle CPU ({}): child failed ({}); stdout: {stdout:?}; stderr: {:?}",
            peer.id(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    parsed
}

/// CPU time (user + system) used so far by this whole process.
#[cfg(unix)]
fn process_cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage.as_mut_ptr()` points to writable, properly aligned
    // memory of the size of a `rusage`, which is all `getrusage` writes to.
    // An all-zero `rusage` is a valid value (it only holds integers), and on
    // success the kernel has filled it in, so `assume_init` is sound.
    let usage = unsafe {
        let rc = libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        assert_eq!(rc, 0, "getrusage(RUSAGE_SELF) failed");
        usage.assume_init()
    };
    let to_duration = |tv: libc::timeval| {
        // Both fields are never negative for resource usage.
        let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
        let micros = u64::try_from(tv.tv_usec).unwrap_or(0);
        Duration::from_secs(secs) + Duration::from_micros(micros)
    };
    to_duration(usage.ru_utime) + to_duration(usage.ru_stime)
}

/// CPU time used so far by every thread of this process except the calling (main) one,
/// summed from `/proc/self/task/*/schedstat` (nanoseconds on the CPU). `None` off Linux or
/// when schedstat is unavailable.
fn pool_threads_cpu_time() -> Option<Duration> {
    let me = std::process::id().to_string();
    let mut total_ns: u64 = 0;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let entry = entry.ok()?;
        if entry.file_name().to_string_lossy() == me {
            continue; // the main thread, which only sleeps and measures
        }
        let stat = std::fs::read_to_string(entry.path().join("schedstat")).ok()?;
        total_ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total_ns))
}

/// Part 3, child side (this process was started with `STEALPOOL_BENCH_IDLE`
/// set): builds only the requested pool, runs a burst, lets the pool idle,
/// and prints the CPU time spent during the idle window.
#[cfg(unix)]
fn idle_child(peer_id: &str) {
    let peer = Peer::from_id(peer_id).unwrap_or_else(|| panic!("unknown peer {peer_id:?}"));
    let window_ms: u64 = env::var(IDLE_MS_ENV)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(2_000);
    let bench = Bench::new(peer);
    bench.burst(N);
    // Let the tail of the burst drain and any post-burst spinning start.
    thread::sleep(Duration::from_millis(100));
    // Two readings over the same window: the whole process (getrusage, µs
    // resolution, includes this measuring thread's own wake-up), and the pool's
    // own threads (every thread but this one, ns, from /proc's schedstat; where
    // schedstat is missing, the process figure stands in).
    // The /proc reads cost this thread CPU, so they stay outside the getrusage pair.
    let pool_before = pool_threads_cpu_time();
    let process_before = process_cpu_time();
    thread::sleep(Duration::from_millis(window_ms));
    let process_idle = process_cpu_time().saturating_sub(process_before);
    let pool_idle = pool_before
        .and_then(|before| pool_threads_cpu_time().map(|after| after.saturating_sub(before)));
    let pool_idle = pool_idle.unwrap_or(process_idle);
    println!("{IDLE_RESULT_PREFIX}{:.3}", pool_idle.as_secs_f64() * 1e3);
    println!(
        "{IDLE_PROCESS_PREFIX}{:.3}",
        process_idle.as_secs_f64() * 1e3
    );
    bench.shutdown();
}

#[cfg(not(unix))]
fn idle_child(_peer_id: &str) {
    // No getrusage: print nothing, so the parent reports "n/a".
}

/// Runs parts 2 and 3 for every peer and returns one row per peer, in the
/// order of [`Peer::ALL`].
fn run_extras(cfg: &ExtraConfig) -> Vec<Row> {
    let mut rows = vec![Row::default(); Peer::ALL.len()];

    println!(
        "\n== spawn cost: {} tasks per burst, median of {} bursts, peers taking turns ==",
        cfg.spawn_tasks, cfg.spawn_runs
    );
    let costs = measure_spawn_costs(cfg);
    for ((row, peer), ns) in rows.iter_mut().zip(Peer::ALL).zip(costs) {
        println!("{:<28} {ns:>9.1} ns/task", peer.label());
        row.spawn_ns_per_task = Some(ns);
    }

    println!(
        "\n== wake-up latency of an idle pool: {} trials, {:?} idle before each ==",
        cfg.wake_trials, cfg.wake_idle
    );
    for (row, peer) in rows.iter_mut().zip(Peer::ALL) {
        if !peer.has_idle_metrics() {
            continue;
        }
        let bench = Bench::new(peer);
        let (p50, p99) = measure_wake_latency(&bench, cfg);
        println!("{:<28} p50 {p50:>8.1} us   p99 {p99:>8.1} us", peer.label());
        row.wake_p50_us = Some(p50);
        row.wake_p99_us = Some(p99);
        bench.shutdown();
    }

    println!(
        "\n== idle CPU: pool threads (schedstat) and whole process (getrusage) over {:?} of idleness after a burst of {N} tasks (child process per peer) ==",
        cfg.idle_window
    );
    for (row, peer) in rows.iter_mut().zip(Peer::ALL) {
        if !peer.has_idle_metrics() {
            continue;
        }
        let measured = measure_idle_cpu(peer, cfg);
        row.idle_cpu_ms = measured.map(|(pool, _)| pool);
        row.idle_process_cpu_ms = measured.map(|(_, process)| process);
        match measured {
            Some((pool, process)) => println!(
                "{:<28} pool threads {pool:>7.3} ms   whole process (getrusage) {process:>7.3} ms",
                peer.label()
            ),
            None => println!("{:<28} n/a", peer.label()),
        }
    }
    rows
}

/// The ratio stealpool/peer, or `n/a` where it is undefined.
fn ratio_cell(ours: Option<f64>, theirs: Option<f64>) -> Cell {
    match (ours, theirs) {
        (Some(ours), Some(theirs)) if theirs > 0.0 => Cell::ratio(ours / theirs, 2),
        // Both measured nothing at all (an idle pool whose threads never ran): a tie.
        (Some(ours), Some(theirs)) if ours == 0.0 && theirs == 0.0 => Cell::none("equal (both 0)"),
        _ => Cell::none("n/a"),
    }
}

/// Part 4: prints the Markdown summary table.
fn print_table(rows: &[Row], cfg: &ExtraConfig, results: &mut Results) {
    /// A table row: its id, its name, how to read it from a [`Row`], and decimals.
    type Metric = (&'static str, String, fn(&Row) -> Option<f64>, usize);

    let ours = rows[0];
    let peers: Vec<(Peer, Row)> = Peer::ALL
        .into_iter()
        .zip(rows.iter().copied())
        .skip(1)
        .collect();

    println!("\n## stealpool vs. peers ({THREADS} worker threads each)\n");
    println!(
        "Lower is better for every metric; the ratio columns are stealpool / peer, so a ratio below 1.00x means stealpool wins."
    );
    if cfg.quick {
        println!("QUICK MODE: shrunken measurements, not meaningful.");
    }
    println!();

    let mut table = Table::new("summary")
        .left("metric", "metric (lower is better)")
        .right("stealpool", "stealpool");
    for (peer, _) in &peers {
        table = table.right(peer.id(), peer.label()).right(
            &format!("stealpool_over_{}", peer.id()),
            format!("stealpool / {}", peer.id()),
        );
    }
    let metrics: [Metric; 5] = [
        (
            "spawn_ns_per_task",
            format!(
                "spawn {} tasks: ns/task (median of {})",
                cfg.spawn_tasks, cfg.spawn_runs
            ),
            |r| r.spawn_ns_per_task,
            1,
        ),
        (
            "wake_p50_us",
            "wake-up latency p50 (us)".to_owned(),
            |r| r.wake_p50_us,
            1,
        ),
        (
            "wake_p99_us",
            "wake-up latency p99 (us)".to_owned(),
            |r| r.wake_p99_us,
            1,
        ),
        (
            "idle_pool_threads_cpu_ms",
            format!(
                "idle CPU of the pool threads (ms per {:?} idle)",
                cfg.idle_window
            ),
            |r| r.idle_cpu_ms,
            2,
        ),
        (
            "idle_process_cpu_ms",
            format!(
                "idle CPU of the whole process, getrusage (ms per {:?} idle)",
                cfg.idle_window
            ),
            |r| r.idle_process_cpu_ms,
            2,
        ),
    ];
    for (id, name, get, decimals) in metrics {
        let figure = |row: &Row| Cell::or_na(get(row), |v| Cell::fixed(v, decimals));
        let mut cells = vec![Cell::text(name), figure(&ours)];
        for (_, row) in &peers {
            cells.push(figure(row));
            cells.push(ratio_cell(get(&ours), get(row)));
        }
        table.row(id, cells);
    }
    results.print_table(&table);
    println!(
        "\nrayon (scope) shares rayon's pool, so its wake-up and idle figures are those of rayon (ThreadPool::spawn)."
    );
    if let (Some(off), Some(on)) = (ours.spawn_ns_per_task, rows[1].spawn_ns_per_task) {
        let cost_pct = (on / off - 1.0) * 100.0;
        println!(
            "\nrecord_timing(true) on the spawn row: {on:.1} ns/task against {off:.1} off, a cost of {cost_pct:+.1}%."
        );
        results.extra("record_timing_spawn_cost_pct", cost_pct);
    }
}

fn main() -> ExitCode {
    // Child process for part 3: must be handled before criterion parses the
    // command line or starts anything.
    if let Ok(peer) = env::var(IDLE_ENV) {
        idle_child(&peer);
        return ExitCode::SUCCESS;
    }

    let run = Run::from_args("spawn", THREADS);
    let mut criterion = Criterion::default().configure_from_args();
    bench_spawn_100k(&mut criterion);

    let written = run.pass("parts 2-4", |results| {
        let cfg = ExtraConfig::new(run.quick());
        results.config("spawn_tasks", cfg.spawn_tasks);
        results.config("spawn_runs", cfg.spawn_runs);
        results.config("wake_trials", cfg.wake_trials);
        results.config("wake_idle_ms", cfg.wake_idle.as_secs_f64() * 1e3);
        results.config("idle_window_ms", cfg.idle_window.as_secs_f64() * 1e3);
        let rows = run_extras(&cfg);
        print_table(&rows, &cfg, results);
    });

    criterion.final_summary();
    written
}
