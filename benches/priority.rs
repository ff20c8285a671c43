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
//! 4. Markdown tables of parts 2-3, with the target lines. The same tables, unrounded and keyed
//!    by ids (`tables.urgent_wait.rows.<variant>.<column>`, `tables.backlog.rows.<run>.<column>`),
//!    the target lines' figures and the High tasks' waits in part 3 go to `priority.json`: in
//!    `target/bench-results/`, or in `$STEALPOOL_BENCH_JSON_DIR` (see `benches/common/mod.rs`).
//!
//! The pools, the rotating rounds of parts 2 and 3, the percentiles and paired differences, the
//! tables and the JSON file come from the harness in `benches/common/`; this file holds the
//! trials, the backlog runs and what is reported.

use std::hint::{black_box, spin_loop};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use criterion::Criterion;
use stealpool::{Priority, WorkerPool};

mod common;
use common::json::Json;
use common::peers::{self, Names, Pool};
use common::rounds::{Order, Rounds};
use common::run::{Results, Run, burst_group, short_windows};
use common::stats::{Samples, paired};
use common::table::{Cell, Table, fmt_ms, verdict};
use common::tiny_work;

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

    /// Row id in the JSON file.
    fn id(self) -> &'static str {
        match self {
            Variant::High => "stealpool_high",
            Variant::NormalOverLow => "stealpool_normal_over_low",
            Variant::NoLanes => "stealpool_no_lanes",
            Variant::Rayon => "rayon",
            Variant::Threadpool => "threadpool",
            Variant::Tokio => "tokio",
        }
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
        Pools {
            stealpool: peers::stealpool(THREADS, Names::Named),
            rayon: peers::rayon(THREADS, Names::Named),
            threadpool: peers::threadpool(THREADS),
            tokio: peers::tokio_blocking(THREADS),
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
        for pool in [
            Pool::Stealpool(self.stealpool),
            Pool::Rayon(self.rayon),
            Pool::Threadpool(self.threadpool),
            Pool::Tokio(self.tokio),
        ] {
            pool.shutdown();
        }
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
    let (warm_up, measurement) = short_windows(quick);
    let mut group = burst_group(c, "spawn_priority_10k", SPAWN_BURST, warm_up, measurement);
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

/// The pass's samples, all in milliseconds.
struct PassResults {
    /// In [`Variant::ALL`] order.
    waits: Vec<Samples>,
    wake: Samples,
    /// The backlog's total time alone and with urgent tasks, in run order.
    alone: Samples,
    with_urgent: Samples,
    /// The urgent tasks' waits during the backlog runs.
    run_waits: Samples,
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
    let started = Instant::now();
    let rounds = Rounds {
        rounds: cfg.rounds,
        order: Order::Rotating,
        warm_each: false,
    };
    let per_slot = rounds.run(slots.len(), |i| match slots[i] {
        Some(variant) => {
            let trials = if variant.is_fast() {
                cfg.fast_per_round
            } else {
                1
            };
            (0..trials)
                .map(|_| wait_trial(pools, variant, &mut rng))
                .collect()
        }
        None => (0..cfg.fast_per_round)
            .map(|_| wake_trial(&pools.stealpool))
            .collect::<Vec<_>>(),
    });
    println!(
        "\n== urgent-task wait: {} rounds ({:.1} s) ==",
        cfg.rounds,
        started.elapsed().as_secs_f64()
    );
    let mut waits: Vec<Samples> = per_slot.iter().map(|r| Samples::ms(&r.concat())).collect();
    let wake = waits.pop().expect("the wake-up slot");
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

    // Part 3: runs alone (0) and with urgent tasks (1) alternate, and so does their order.
    let started = Instant::now();
    backlog_run(pools, 0);
    let rounds = Rounds {
        rounds: cfg.backlog_runs,
        order: Order::Rotating,
        warm_each: false,
    };
    let mut runs = rounds.run(2, |i| backlog_run(pools, [0, URGENT_IN_RUN][i]));
    let with_urgent = runs.pop().expect("runs with urgent tasks");
    let alone = runs.pop().expect("runs alone");
    println!(
        "\n== backlog throughput: {} runs of each kind ({:.1} s) ==",
        cfg.backlog_runs,
        started.elapsed().as_secs_f64()
    );
    let times = |runs: &[(Duration, Vec<Duration>)]| {
        let times: Vec<Duration> = runs.iter().map(|(time, _)| *time).collect();
        Samples::ms(&times)
    };
    let (alone_ms, with_urgent_ms) = (times(&alone), times(&with_urgent));
    let show = |name: &str, ms: &Samples| {
        let list: Vec<String> = ms.taken().iter().map(|ms| format!("{ms:.1}")).collect();
        println!("{name:<22} ms: {}", list.join(" "));
    };
    show("alone", &alone_ms);
    show("with urgent", &with_urgent_ms);
    let run_waits: Vec<Duration> = with_urgent.into_iter().flat_map(|(_, w)| w).collect();

    PassResults {
        waits,
        wake,
        alone: alone_ms,
        with_urgent: with_urgent_ms,
        run_waits: Samples::ms(&run_waits),
    }
}

// ---------------------------------------------------------------------------
// Part 4: tables.
// ---------------------------------------------------------------------------

/// stealpool (High) / peer, or `n/a` when the peer's figure is zero.
fn ratio(ours: f64, theirs: f64) -> Cell {
    if theirs > 0.0 {
        Cell::ratio(ours / theirs, 4)
    } else {
        Cell::none("n/a")
    }
}

/// A row of the wait table: trials, p50, p99, max and the trials over one task's length.
fn wait_cells(d: &Samples, task_ms: f64) -> [Cell; 5] {
    [
        Cell::count(d.len()),
        Cell::ms(d.pct(50.0)),
        Cell::ms(d.pct(99.0)),
        Cell::ms(d.max()),
        Cell::count(d.over(task_ms)),
    ]
}

fn print_tables(results: &PassResults, cfg: &PassConfig, nproc: &str, out: &mut Results) {
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
    let mut table = Table::new("urgent_wait")
        .left("pool", "pool")
        .left("submitted_with", "backlog / urgent task submitted with")
        .right("trials", "trials")
        .right("p50_ms", "p50 (ms)")
        .right("p99_ms", "p99 (ms)")
        .right("max_ms", "max (ms)")
        .right("trials_over_task", format!("trials over {task_ms} ms"))
        .right("high_over_this_p50", "High / this, p50")
        .right("high_over_this_p99", "High / this, p99");
    for (i, (variant, d)) in Variant::ALL.iter().zip(&results.waits).enumerate() {
        let (r50, r99) = if i == 0 {
            let reference = || Cell::num(1.0, "1.00x (reference)".to_owned());
            (reference(), reference())
        } else {
            (
                ratio(high.pct(50.0), d.pct(50.0)),
                ratio(high.pct(99.0), d.pct(99.0)),
            )
        };
        let mut cells = vec![Cell::text(variant.label()), Cell::text(variant.how())];
        cells.extend(wait_cells(d, task_ms));
        cells.extend([r50, r99]);
        table.row(variant.id(), cells);
    }
    let wake = &results.wake;
    let mut cells = vec![
        Cell::text("stealpool, idle pool (wake-up latency)"),
        Cell::text(format!(
            "no backlog / `spawn_with(High)` after {} ms idle",
            WAKE_IDLE.as_millis()
        )),
    ];
    cells.extend(wait_cells(wake, task_ms));
    cells.extend([Cell::none("-"), Cell::none("-")]);
    table.row("stealpool_idle_wake", cells);
    out.print_table(&table);

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
    let diffs = paired(&results.with_urgent, &results.alone, |w, a| w - a);
    let own_work = URGENT_IN_RUN as f64 * task_ms / THREADS as f64;
    let diff = diffs.median();
    // Run-to-run noise of the paired differences: their median absolute deviation.
    let mad = Samples::new(diffs.taken().iter().map(|d| (d - diff).abs()).collect()).median();
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
    out.extra(
        "targets",
        Json::object()
            .with(
                "urgent_wait",
                Json::object()
                    .with("high_p99_ms", high.pct(99.0))
                    .with("idle_wake_p99_ms", wake.pct(99.0))
                    .with("limit_ms", limit)
                    .with("met", high.pct(99.0) <= limit),
            )
            .with(
                "backlog_slowdown",
                Json::object()
                    .with("paired_median_ms", diff)
                    .with("mad_ms", mad)
                    .with("high_own_work_ms", own_work)
                    .with("verdict", throughput_verdict),
            ),
    );

    println!("\n### Low backlog's total time, with and without urgent work (stealpool)\n");
    println!(
        "From the first submission of the {BACKLOG} Low tasks until the last of them finishes; the High tasks arrive at even intervals over the expected {} ms. {} runs of each kind, alternating.\n",
        fmt_ms(ideal),
        results.alone.len()
    );
    let mut table = Table::new("backlog")
        .left("run", "run")
        .right("median_ms", "median (ms)")
        .right("min_ms", "min (ms)")
        .right("max_ms", "max (ms)");
    for (id, name, ms) in [
        ("low_alone", format!("{BACKLOG} Low alone"), &results.alone),
        (
            "low_with_high",
            format!("{BACKLOG} Low + {URGENT_IN_RUN} High of {task_ms} ms"),
            &results.with_urgent,
        ),
    ] {
        let cells = vec![
            Cell::text(name),
            Cell::ms(ms.median()),
            Cell::ms(ms.min()),
            Cell::ms(ms.max()),
        ];
        table.row(id, cells);
    }
    for (id, name, ms) in [
        (
            "difference",
            "difference, paired median (with - alone)".to_owned(),
            diff,
        ),
        (
            "high_own_work",
            format!("the High tasks' own work / {THREADS} threads"),
            own_work,
        ),
        (
            "slowdown_beyond_work",
            "slowdown beyond that work".to_owned(),
            diff - own_work,
        ),
    ] {
        let cells = vec![
            Cell::text(name),
            Cell::ms(ms),
            Cell::none(""),
            Cell::none(""),
        ];
        table.row(id, cells);
    }
    out.print_table(&table);
    let rw = &results.run_waits;
    println!(
        "\nThe High tasks' own waits in these runs ({} tasks): p50 {} ms, p99 {} ms, max {} ms, min {} ms.",
        rw.len(),
        fmt_ms(rw.pct(50.0)),
        fmt_ms(rw.pct(99.0)),
        fmt_ms(rw.max()),
        fmt_ms(rw.min())
    );
    out.extra(
        "backlog_high_waits",
        Json::object()
            .with("tasks", rw.len())
            .with("p50_ms", rw.pct(50.0))
            .with("p99_ms", rw.pct(99.0))
            .with("max_ms", rw.max())
            .with("min_ms", rw.min()),
    );
}

// ---------------------------------------------------------------------------
// main.
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let run = Run::from_args("priority", THREADS);
    let pools = Pools::new();

    let mut criterion = Criterion::default().configure_from_args();
    bench_criterion(&mut criterion, &pools.stealpool, run.quick());

    let written = run.pass("custom pass", |out| {
        let cfg = PassConfig::new(run.quick());
        out.config("rounds", cfg.rounds);
        out.config("fast_trials_per_round", cfg.fast_per_round);
        out.config("backlog_runs", cfg.backlog_runs);
        out.config("backlog_tasks", BACKLOG);
        out.config("task_ms", TASK.as_secs_f64() * 1e3);
        out.config("urgent_in_run", URGENT_IN_RUN);
        let results = run_pass(&pools, &cfg);
        print_tables(&results, &cfg, run.nproc(), out);
    });

    pools.shutdown();
    criterion.final_summary();
    written
}
