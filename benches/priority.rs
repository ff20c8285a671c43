//! Priority-lane benchmark: how long an urgent task waits to *start* when it arrives at a
//! pool that is saturated with batch work, and what urgent work costs the batch.
//!
//! Every pool under test runs exactly **2 worker threads**; all tasks are submitted from the
//! main thread, which belongs to none of the pools.
//!
//! Run with `cargo bench --bench priority` (under a minute on 2 cores).
//! `cargo bench --bench priority -- --test` runs the criterion benchmark once and shrinks the
//! custom pass, so it finishes in seconds once built; `STEALPOOL_BENCH_QUICK=1` shrinks the
//! custom pass and criterion's measurement windows.
//!
//! # Parts
//!
//! 1. criterion group `spawn_priority_10k`: spawn 10 000 tiny tasks from the main thread and
//!    join them all, with `spawn` (Normal), `spawn_with(High)` and `spawn_with(Low)`: what
//!    choosing a lane costs on the submission path.
//! 2. Urgent-task wait. One trial: submit a backlog of 400 tasks, each a busy spin of 0.5 ms
//!    of wall time (100 ms of work for each of the 2 workers; spinning rather than sleeping,
//!    so it occupies the CPU like real work); wait until two backlog tasks have started (both
//!    workers busy); sleep a random 0-0.5 ms so that the urgent task lands at a random phase
//!    of the running tasks; submit one urgent task, noting the time just before the call; the
//!    urgent task notes when it starts. The wait is start - submit. The urgent task then
//!    raises a cancel flag that every backlog task reads when it starts, so the rest of the
//!    backlog is skipped and the trial ends within about one task length. The main thread
//!    waits until every task of the trial has finished before the next trial begins (nothing
//!    of one trial is left in the pool for the next one), and then sleeps 1 ms so that
//!    whichever pool ran last has gone quiet. Variants:
//!    - stealpool, backlog at `Low`, urgent task at `High` (the case the lanes are for);
//!    - stealpool, backlog at `Low`, urgent task with `spawn` (`Normal`, also above `Low`);
//!    - stealpool without lanes: backlog and urgent task both with `spawn` (`Normal`);
//!    - rayon (`ThreadPool::spawn`), threadpool (`execute`) and tokio (`spawn_blocking` on a
//!      blocking pool capped at 2 threads): one queue, so the urgent task waits behind the
//!      whole backlog, about 100 ms.
//!
//!    The slow variants (stealpool without lanes and the peers) cannot be cut short, since the
//!    backlog ahead of the urgent task has to run: they get one trial per round, the two fast
//!    stealpool variants 40 (30 rounds; in quick mode 3 rounds of 10).
//!    Plus the wake-up latency of the idle stealpool pool (5 ms idle, then `spawn_with(High)`,
//!    time until the task starts; 40 per round), which the target allows on top of one backlog
//!    task: p99 of the High wait <= 0.5 ms + p99 of the wake-up latency.
//!    All of these are interleaved: each round runs every variant, in an order that rotates
//!    from round to round, so a passing disturbance on the (shared) machine is spread over all
//!    of them.
//! 3. Backlog throughput (stealpool): the time from the first submission of the 400-task Low
//!    backlog until its last task finishes, alone and with 20 High tasks of 0.5 ms each
//!    submitted at even intervals over the backlog's expected run (nothing is cancelled
//!    here). 15 runs of each kind (2 in quick mode), alternating, with the order alternating
//!    too. The median of the paired differences (with - alone) is compared with the High
//!    tasks' own work spread over 2 threads, 20 x 0.5 ms / 2 = 5 ms. That is also the
//!    difference perfect scheduling would give (420 equal tasks instead of 400), so the
//!    verdict also says whether an excess stays within the run-to-run noise (the median
//!    absolute deviation of the paired differences).
//! 4. Markdown tables of parts 2-3, with the target lines.

use std::env;
use std::hint::{black_box, spin_loop};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use stealpool::{Priority, WorkerPool};

mod common;
use common::{fmt_ms, is_quick, median, nproc, percentile, tiny_work, verdict};

/// Worker threads in every pool under test.
const THREADS: usize = 2;
/// Tasks in the backlog.
const BACKLOG: usize = 400;
/// Wall time each backlog task (and each urgent task of part 3) spins for.
const TASK: Duration = Duration::from_micros(500);
/// Urgent High tasks sent during a backlog run in part 3.
const URGENT_IN_RUN: usize = 20;
/// How long a pool is left idle before each wake-up trial.
const WAKE_IDLE: Duration = Duration::from_millis(5);
/// Pause after every trial, so the pool that ran it goes quiet before the next one.
const SETTLE: Duration = Duration::from_millis(1);
/// Tiny tasks per burst in the criterion group.
const SPAWN_BURST: usize = 10_000;

/// Spins (no sleeping) until `deadline`.
fn spin_until(deadline: Instant) {
    while Instant::now() < deadline {
        spin_loop();
    }
}

/// A small xorshift64* generator for the random phase; seeded, so runs are repeatable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..=max`.
    fn duration_up_to(&mut self, max: Duration) -> Duration {
        let nanos = max.as_nanos() as u64;
        Duration::from_nanos(self.next() % (nanos + 1))
    }
}

// ---------------------------------------------------------------------------
// Pools and variants.
// ---------------------------------------------------------------------------

/// One way of submitting the backlog and the urgent task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// stealpool: backlog `Low`, urgent `High`.
    High,
    /// stealpool: backlog `Low`, urgent `spawn` (Normal).
    NormalOverLow,
    /// stealpool: everything with `spawn` (Normal).
    NoLanes,
    Rayon,
    Threadpool,
    Tokio,
}

impl Variant {
    /// Table order.
    const ALL: [Variant; 6] = [
        Variant::High,
        Variant::NormalOverLow,
        Variant::NoLanes,
        Variant::Rayon,
        Variant::Threadpool,
        Variant::Tokio,
    ];

    /// Whether a trial ends soon after the urgent task is submitted (the urgent task jumps
    /// the backlog and cancels the rest), so that many trials are affordable.
    fn is_fast(self) -> bool {
        matches!(self, Variant::High | Variant::NormalOverLow)
    }

    fn label(self) -> &'static str {
        match self {
            Variant::High | Variant::NormalOverLow => "stealpool",
            Variant::NoLanes => "stealpool, no lanes",
            Variant::Rayon => "rayon",
            Variant::Threadpool => "threadpool",
            Variant::Tokio => "tokio",
        }
    }

    /// How the backlog and the urgent task are submitted.
    fn how(self) -> &'static str {
        match self {
            Variant::High => "`spawn_with(Low)` / `spawn_with(High)`",
            Variant::NormalOverLow => "`spawn_with(Low)` / `spawn` (Normal)",
            Variant::NoLanes => "`spawn` / `spawn` (both Normal)",
            Variant::Rayon => "`ThreadPool::spawn` / `ThreadPool::spawn`",
            Variant::Threadpool => "`execute` / `execute`",
            Variant::Tokio => "`spawn_blocking` / `spawn_blocking`",
        }
    }
}

/// Which part of a trial a task is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Backlog,
    Urgent,
}

/// The pools under test, all alive for the whole run; only one has work at a time.
struct Pools {
    stealpool: WorkerPool,
    rayon: rayon::ThreadPool,
    threadpool: threadpool::ThreadPool,
    tokio: tokio::runtime::Runtime,
}

impl Pools {
    fn new() -> Pools {
        let stealpool = WorkerPool::builder()
            .num_threads(THREADS)
            .thread_name(|i| format!("sp-{i}"))
            .build()
            .unwrap_or_else(|_| panic!("failed to build the stealpool pool"));
        let rayon = rayon::ThreadPoolBuilder::new()
            .num_threads(THREADS)
            .thread_name(|i| format!("rayon-{i}"))
            .build()
            .expect("failed to build the rayon pool");
        let threadpool = threadpool::Builder::new()
            .num_threads(THREADS)
            .thread_name("threadpool".to_owned())
            .build();
        // Blocking tasks run on tokio's blocking pool, capped at 2 threads; the runtime's one
        // async worker thread stays idle.
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(THREADS)
            .thread_name("tokio")
            .build()
            .expect("failed to build the tokio runtime");
        Pools {
            stealpool,
            rayon,
            threadpool,
            tokio,
        }
    }

    /// Submits `job` as `role` of `variant`'s trial. Handles are dropped: the tasks report
    /// through their [`Trial`].
    fn submit(&self, variant: Variant, role: Role, job: impl FnOnce() + Send + 'static) {
        let sp = &self.stealpool;
        match (variant, role) {
            (Variant::High | Variant::NormalOverLow, Role::Backlog) => {
                drop(sp.spawn_with(Priority::Low, job));
            }
            (Variant::High, Role::Urgent) => drop(sp.spawn_with(Priority::High, job)),
            (Variant::NormalOverLow | Variant::NoLanes, Role::Urgent)
            | (Variant::NoLanes, Role::Backlog) => drop(sp.spawn(job)),
            (Variant::Rayon, _) => self.rayon.spawn(job),
            (Variant::Threadpool, _) => self.threadpool.execute(job),
            (Variant::Tokio, _) => drop(self.tokio.spawn_blocking(job)),
        }
    }

    fn shutdown(self) {
        self.stealpool.shutdown();
        drop(self.rayon);
        self.threadpool.join();
        self.tokio.shutdown_timeout(Duration::from_secs(5));
    }
}

// ---------------------------------------------------------------------------
// One trial: its shared state and its tasks.
// ---------------------------------------------------------------------------

/// What the tasks of one trial (or one backlog run) share with the main thread.
struct Trial {
    /// Backlog tasks that have started.
    started: AtomicUsize,
    /// Backlog tasks not yet finished; the last one notes `backlog_end`.
    backlog_left: AtomicUsize,
    /// Tasks of any kind not yet finished; the last one wakes the main thread.
    total_left: AtomicUsize,
    /// Raised by the urgent task of a wait trial: backlog tasks that start later skip their spin.
    cancel: AtomicBool,
    backlog_end: OnceLock<Instant>,
    /// The urgent tasks' waits (start - submit).
    waits: Mutex<Vec<Duration>>,
    /// The main thread.
    waiter: Thread,
}

impl Trial {
    fn new(backlog: usize, urgent: usize) -> Arc<Trial> {
        Arc::new(Trial {
            started: AtomicUsize::new(0),
            backlog_left: AtomicUsize::new(backlog),
            total_left: AtomicUsize::new(backlog + urgent),
            cancel: AtomicBool::new(false),
            backlog_end: OnceLock::new(),
            waits: Mutex::new(Vec::with_capacity(urgent)),
            waiter: thread::current(),
        })
    }

    fn task_done(&self) {
        if self.total_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.waiter.unpark();
        }
    }

    /// A backlog task: 0.5 ms of spinning unless the trial was cancelled before it started.
    fn backlog_task(&self) {
        let start = Instant::now();
        if self.started.fetch_add(1, Ordering::AcqRel) + 1 == THREADS {
            self.waiter.unpark();
        }
        if !self.cancel.load(Ordering::Acquire) {
            spin_until(start + TASK);
        }
        if self.backlog_left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.backlog_end.set(Instant::now());
        }
        self.task_done();
    }

    /// An urgent task: notes its wait, then either cancels the rest of the backlog (a wait
    /// trial) or does its own 0.5 ms of work (a throughput run).
    fn urgent_task(&self, submitted: Instant, cancel: bool) {
        let start = Instant::now();
        self.waits
            .lock()
            .expect("waits lock")
            .push(start.saturating_duration_since(submitted));
        if cancel {
            self.cancel.store(true, Ordering::Release);
        } else {
            spin_until(start + TASK);
        }
        self.task_done();
    }

    /// Main thread: parks until `cond` holds (every change it waits for unparks it).
    fn wait_for(&self, cond: impl Fn(&Trial) -> bool) {
        while !cond(self) {
            thread::park();
        }
    }
}

/// Submits the backlog of `variant`.
fn submit_backlog(pools: &Pools, variant: Variant, trial: &Arc<Trial>) {
    for _ in 0..BACKLOG {
        let trial = Arc::clone(trial);
        pools.submit(variant, Role::Backlog, move || trial.backlog_task());
    }
}

/// Submits one urgent task of `variant`; the submit time is taken just before the call.
fn submit_urgent(pools: &Pools, variant: Variant, trial: &Arc<Trial>, cancel: bool) {
    let trial = Arc::clone(trial);
    let submitted = Instant::now();
    pools.submit(variant, Role::Urgent, move || {
        trial.urgent_task(submitted, cancel);
    });
}

/// One wait trial (part 2); returns the urgent task's wait.
fn wait_trial(pools: &Pools, variant: Variant, rng: &mut Rng) -> Duration {
    let trial = Trial::new(BACKLOG, 1);
    submit_backlog(pools, variant, &trial);
    trial.wait_for(|t| t.started.load(Ordering::Acquire) >= THREADS);
    let phase = rng.duration_up_to(TASK);
    if !phase.is_zero() {
        thread::sleep(phase);
    }
    submit_urgent(pools, variant, &trial, true);
    trial.wait_for(|t| t.total_left.load(Ordering::Acquire) == 0);
    let wait = trial.waits.lock().expect("waits lock")[0];
    thread::sleep(SETTLE);
    wait
}

/// One wake-up trial: the idle stealpool pool gets one High task.
fn wake_trial(pool: &WorkerPool) -> Duration {
    thread::sleep(WAKE_IDLE);
    let submitted = Instant::now();
    let started = pool
        .spawn_with(Priority::High, Instant::now)
        .join()
        .unwrap_or_else(|_| panic!("a stealpool task failed"));
    started.saturating_duration_since(submitted)
}

/// One backlog run (part 3) on stealpool with `urgent` High tasks spread over it; returns
/// the backlog's total time and the urgent tasks' waits.
fn backlog_run(pools: &Pools, urgent: usize) -> (Duration, Vec<Duration>) {
    let trial = Trial::new(BACKLOG, urgent);
    let start = Instant::now();
    submit_backlog(pools, Variant::High, &trial);
    let expected = TASK * (BACKLOG / THREADS) as u32;
    for i in 0..urgent {
        let at = start + expected * (2 * i as u32 + 1) / (2 * urgent as u32);
        if let Some(left) = at.checked_duration_since(Instant::now()) {
            thread::sleep(left);
        }
        submit_urgent(pools, Variant::High, &trial, false);
    }
    trial.wait_for(|t| t.total_left.load(Ordering::Acquire) == 0);
    let end = *trial.backlog_end.get().expect("the backlog finished");
    let waits = std::mem::take(&mut *trial.waits.lock().expect("waits lock"));
    thread::sleep(SETTLE);
    (end - start, waits)
}

// ---------------------------------------------------------------------------
// Part 1: criterion group.
// ---------------------------------------------------------------------------

/// Spawns [`SPAWN_BURST`] tiny tasks at `priority` (`None`: plain `spawn`) and joins them.
fn spawn_burst(pool: &WorkerPool, priority: Option<Priority>) -> u64 {
    let handles: Vec<_> = (0..SPAWN_BURST)
        .map(|i| match priority {
            None => pool.spawn(move || tiny_work(i)),
            Some(p) => pool.spawn_with(p, move || tiny_work(i)),
        })
        .collect();
    handles.into_iter().fold(0u64, |sum, h| {
        let v = h
            .join()
            .unwrap_or_else(|_| panic!("a stealpool task failed"));
        sum.wrapping_add(v)
    })
}

fn bench_criterion(c: &mut Criterion, pool: &WorkerPool, quick: bool) {
    let mut group = c.benchmark_group("spawn_priority_10k");
    group
        .throughput(Throughput::Elements(SPAWN_BURST as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    if quick {
        group
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(300));
    } else {
        group
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
    }
    for (id, priority) in [
        ("spawn", None),
        ("spawn_with_high", Some(Priority::High)),
        ("spawn_with_low", Some(Priority::Low)),
    ] {
        group.bench_function(id, |b| b.iter(|| black_box(spawn_burst(pool, priority))));
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// Parts 2-3: the custom pass.
// ---------------------------------------------------------------------------

struct PassConfig {
    quick: bool,
    rounds: usize,
    /// Trials of each fast variant, and wake-up trials, per round (slow variants: one).
    fast_per_round: usize,
    /// Backlog runs of each kind (alone, with urgent tasks).
    backlog_runs: usize,
}

impl PassConfig {
    fn new(quick: bool) -> Self {
        if quick {
            PassConfig {
                quick,
                rounds: 3,
                fast_per_round: 10,
                backlog_runs: 2,
            }
        } else {
            PassConfig {
                quick,
                rounds: 30,
                fast_per_round: 40,
                backlog_runs: 15,
            }
        }
    }
}

/// Sorted samples in milliseconds, with nearest-rank percentiles.
struct Dist {
    ms: Vec<f64>,
}

impl Dist {
    fn new(samples: &[Duration]) -> Dist {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        assert!(!ms.is_empty(), "no samples");
        Dist { ms }
    }

    fn pct(&self, p: f64) -> f64 {
        percentile(&self.ms, p)
    }

    fn max(&self) -> f64 {
        self.ms[self.ms.len() - 1]
    }

    fn min(&self) -> f64 {
        self.ms[0]
    }

    fn len(&self) -> usize {
        self.ms.len()
    }

    /// How many samples exceed `ms`.
    fn over(&self, ms: f64) -> usize {
        self.ms.iter().filter(|&&x| x > ms).count()
    }
}

struct PassResults {
    /// In [`Variant::ALL`] order.
    waits: Vec<Dist>,
    wake: Dist,
    alone_ms: Vec<f64>,
    with_urgent_ms: Vec<f64>,
    /// The urgent tasks' waits during the backlog runs.
    run_waits: Dist,
}

fn run_pass(pools: &Pools, cfg: &PassConfig) -> PassResults {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // Warm-up: every pool runs one trial (threads started, code paged in), untimed.
    for variant in Variant::ALL {
        wait_trial(pools, variant, &mut rng);
    }
    wake_trial(&pools.stealpool);

    // Part 2. `None` stands for the wake-up trials in the rotation.
    let slots: Vec<Option<Variant>> = Variant::ALL
        .into_iter()
        .map(Some)
        .chain(std::iter::once(None))
        .collect();
    let mut waits: Vec<Vec<Duration>> = vec![Vec::new(); Variant::ALL.len()];
    let mut wake = Vec::new();
    let started = Instant::now();
    for round in 0..cfg.rounds {
        for k in 0..slots.len() {
            let i = (round + k) % slots.len();
            match slots[i] {
                Some(variant) => {
                    let trials = if variant.is_fast() {
                        cfg.fast_per_round
                    } else {
                        1
                    };
                    for _ in 0..trials {
                        waits[i].push(wait_trial(pools, variant, &mut rng));
                    }
                }
                None => {
                    for _ in 0..cfg.fast_per_round {
                        wake.push(wake_trial(&pools.stealpool));
                    }
                }
            }
        }
    }
    println!(
        "\n== urgent-task wait: {} rounds ({:.1} s) ==",
        cfg.rounds,
        started.elapsed().as_secs_f64()
    );
    let waits: Vec<Dist> = waits.iter().map(|w| Dist::new(w)).collect();
    let wake = Dist::new(&wake);
    for (variant, d) in Variant::ALL.iter().zip(&waits) {
        println!(
            "{:<22} {:<42} n {:>4}   p50 {:>9} ms   p99 {:>9} ms   max {:>9} ms",
            variant.label(),
            variant.how(),
            d.len(),
            fmt_ms(d.pct(50.0)),
            fmt_ms(d.pct(99.0)),
            fmt_ms(d.max())
        );
    }
    println!(
        "{:<22} {:<42} n {:>4}   p50 {:>9} ms   p99 {:>9} ms   max {:>9} ms",
        "stealpool idle wake",
        "`spawn_with(High)` after 5 ms idle",
        wake.len(),
        fmt_ms(wake.pct(50.0)),
        fmt_ms(wake.pct(99.0)),
        fmt_ms(wake.max())
    );

    // Part 3.
    let started = Instant::now();
    let mut alone_ms = Vec::new();
    let mut with_urgent_ms = Vec::new();
    let mut run_waits = Vec::new();
    backlog_run(pools, 0);
    for run in 0..cfg.backlog_runs {
        for urgent_first in [run % 2 == 1, run % 2 == 0] {
            if urgent_first {
                let (time, w) = backlog_run(pools, URGENT_IN_RUN);
                with_urgent_ms.push(time.as_secs_f64() * 1e3);
                run_waits.extend(w);
            } else {
                alone_ms.push(backlog_run(pools, 0).0.as_secs_f64() * 1e3);
            }
        }
    }
    println!(
        "\n== backlog throughput: {} runs of each kind ({:.1} s) ==",
        cfg.backlog_runs,
        started.elapsed().as_secs_f64()
    );
    let show = |name: &str, v: &[f64]| {
        let list: Vec<String> = v.iter().map(|ms| format!("{ms:.1}")).collect();
        println!("{name:<22} ms: {}", list.join(" "));
    };
    show("alone", &alone_ms);
    show("with urgent", &with_urgent_ms);

    PassResults {
        waits,
        wake,
        alone_ms,
        with_urgent_ms,
        run_waits: Dist::new(&run_waits),
    }
}

// ---------------------------------------------------------------------------
// Part 4: tables.
// ---------------------------------------------------------------------------

/// stealpool (High) / peer, or `n/a` when the peer's figure is zero.
fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 {
        format!("{:.4}x", ours / theirs)
    } else {
        "n/a".to_owned()
    }
}

fn print_tables(results: &PassResults, cfg: &PassConfig, nproc: &str) {
    let task_ms = TASK.as_secs_f64() * 1e3;
    let high = &results.waits[0];

    println!(
        "\n## Urgent task behind a saturated pool ({THREADS} worker threads per pool; nproc = {nproc})\n"
    );
    println!(
        "Backlog: {BACKLOG} tasks of {task_ms} ms busy work ({} ms per worker), then one urgent task at a random phase. Wait = from just before the urgent task's submission until it starts. Percentiles are nearest-rank over trials interleaved across all rows; ratios are stealpool (High) / row, below 1.00x means the High lane waits less.",
        task_ms * (BACKLOG / THREADS) as f64
    );
    if cfg.quick {
        println!("QUICK MODE: few trials, figures not meaningful.");
    }
    println!();
    println!(
        "| pool | backlog / urgent task submitted with | trials | p50 (ms) | p99 (ms) | max (ms) | trials over {task_ms} ms | High / this, p50 | High / this, p99 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, (variant, d)) in Variant::ALL.iter().zip(&results.waits).enumerate() {
        let (r50, r99) = if i == 0 {
            (
                "1.00x (reference)".to_owned(),
                "1.00x (reference)".to_owned(),
            )
        } else {
            (
                ratio(high.pct(50.0), d.pct(50.0)),
                ratio(high.pct(99.0), d.pct(99.0)),
            )
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {r50} | {r99} |",
            variant.label(),
            variant.how(),
            d.len(),
            fmt_ms(d.pct(50.0)),
            fmt_ms(d.pct(99.0)),
            fmt_ms(d.max()),
            d.over(task_ms)
        );
    }
    let wake = &results.wake;
    println!(
        "| stealpool, idle pool (wake-up latency) | no backlog / `spawn_with(High)` after {} ms idle | {} | {} | {} | {} | {} | - | - |",
        WAKE_IDLE.as_millis(),
        wake.len(),
        fmt_ms(wake.pct(50.0)),
        fmt_ms(wake.pct(99.0)),
        fmt_ms(wake.max()),
        wake.over(task_ms)
    );

    let limit = task_ms + wake.pct(99.0);
    println!("\n### Targets, on this run\n");
    println!(
        "- urgent wait, stealpool High: p99 {} ms <= one backlog task ({task_ms} ms) + idle wake-up p99 ({} ms) = {} ms: {}",
        fmt_ms(high.pct(99.0)),
        fmt_ms(wake.pct(99.0)),
        fmt_ms(limit),
        verdict(high.pct(99.0) <= limit)
    );

    // Part 3.
    let mut alone = results.alone_ms.clone();
    let mut with = results.with_urgent_ms.clone();
    let mut diffs: Vec<f64> = results
        .with_urgent_ms
        .iter()
        .zip(&results.alone_ms)
        .map(|(w, a)| w - a)
        .collect();
    let own_work = URGENT_IN_RUN as f64 * task_ms / THREADS as f64;
    let diff = median(&mut diffs);
    // Run-to-run noise of the paired differences: their median absolute deviation.
    let mut deviations: Vec<f64> = diffs.iter().map(|d| (d - diff).abs()).collect();
    let mad = median(&mut deviations);
    let ideal = task_ms * (BACKLOG / THREADS) as f64;
    let throughput_verdict = if diff <= own_work {
        "met"
    } else if diff - own_work <= mad {
        "met within run-to-run noise (the excess is below the MAD)"
    } else {
        "NOT met"
    };
    println!(
        "- Low backlog with {URGENT_IN_RUN} High tasks of {task_ms} ms: slower by {} ms (paired median; median absolute deviation {} ms) against their own work of {URGENT_IN_RUN} x {task_ms} ms / {THREADS} threads = {} ms: {throughput_verdict}",
        fmt_ms(diff),
        fmt_ms(mad),
        fmt_ms(own_work),
    );

    println!("\n### Low backlog's total time, with and without urgent work (stealpool)\n");
    println!(
        "From the first submission of the {BACKLOG} Low tasks until the last of them finishes; the High tasks arrive at even intervals over the expected {} ms. {} runs of each kind, alternating.\n",
        fmt_ms(ideal),
        results.alone_ms.len()
    );
    println!("| run | median (ms) | min (ms) | max (ms) |");
    println!("|---|---:|---:|---:|");
    let row = |name: String, v: &mut [f64]| {
        let m = median(v);
        println!(
            "| {name} | {} | {} | {} |",
            fmt_ms(m),
            fmt_ms(v[0]),
            fmt_ms(v[v.len() - 1])
        );
    };
    row(format!("{BACKLOG} Low alone"), &mut alone);
    row(
        format!("{BACKLOG} Low + {URGENT_IN_RUN} High of {task_ms} ms"),
        &mut with,
    );
    println!(
        "| difference, paired median (with - alone) | {} | | |",
        fmt_ms(diff)
    );
    println!(
        "| the High tasks' own work / {THREADS} threads | {} | | |",
        fmt_ms(own_work)
    );
    println!(
        "| slowdown beyond that work | {} | | |",
        fmt_ms(diff - own_work)
    );
    let rw = &results.run_waits;
    println!(
        "\nThe High tasks' own waits in these runs ({} tasks): p50 {} ms, p99 {} ms, max {} ms, min {} ms.",
        rw.len(),
        fmt_ms(rw.pct(50.0)),
        fmt_ms(rw.pct(99.0)),
        fmt_ms(rw.max()),
        fmt_ms(rw.min())
    );
}

// ---------------------------------------------------------------------------
// main.
// ---------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = env::args().collect();
    let quick = is_quick(&args);
    let list_only = args.iter().any(|a| a == "--list");

    let pools = Pools::new();

    let mut criterion = Criterion::default().configure_from_args();
    bench_criterion(&mut criterion, &pools.stealpool, quick);

    if !list_only {
        let started = Instant::now();
        let cfg = PassConfig::new(quick);
        let results = run_pass(&pools, &cfg);
        print_tables(&results, &cfg, &nproc());
        println!(
            "\n(custom pass took {:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }

    pools.shutdown();
    criterion.final_summary();
}
