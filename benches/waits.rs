//! Waits benchmark: what `stealpool::block_in_place` buys a pool whose tasks block, and what
//! `stealpool::isolate` costs a pool whose tasks wait for other tasks.
//!
//! Every pool under test runs exactly **2 worker threads**; all work is submitted from the
//! main thread, which belongs to none of the pools.
//!
//! Run with `cargo bench --bench waits` (under a minute on 2 cores).
//! `cargo bench --bench waits -- --test` (or `STEALPOOL_BENCH_QUICK=1`) shrinks both parts so
//! that they finish in seconds once built, with figures that mean nothing.
//!
//! There is no criterion group: a wait of 300 ms is measured as well by one `Instant` as by
//! criterion's statistics, and the isolate workloads are compared within rounds, which
//! criterion does not do. criterion still reads the command line, so `--test`, `--list` and
//! the rest behave as in the other benches.
//!
//! # Parts
//!
//! 1. Blocking tasks beside CPU work (the target of `block_in_place`). One trial: submit 2
//!    tasks that block for 300 ms (`std::thread::sleep`), then 64 CPU tasks of 2 ms each (a
//!    busy spin on `Instant`, so they occupy the CPU like real work), all from the main
//!    thread; the figure is the time from just before the first submission until the **last
//!    CPU task** ends (noted by that task). The main thread then waits for the blocking tasks
//!    too, and sleeps 5 ms, before the next trial starts, so nothing of one trial overlaps
//!    the next. Variants:
//!    - stealpool (`WorkerPool::spawn`): the CPU tasks alone (the baseline); the blocking
//!      tasks wrapped in `stealpool::block_in_place`; the blocking tasks sleeping plainly;
//!    - rayon (`ThreadPool::spawn`): the CPU tasks alone; the blocking tasks sleeping plainly
//!      (rayon has no counterpart of `block_in_place`);
//!    - tokio (a multi-thread runtime with `worker_threads(2)`, tasks spawned with
//!      `Runtime::spawn`, the same as `tokio::spawn` inside it, each CPU task an async block
//!      that spins): the CPU tasks alone; the blocking tasks wrapped in
//!      `tokio::task::block_in_place`, the closest peer.
//!
//!    One untimed trial of every variant, then 11 rounds (quick mode: 2 rounds, 30 ms blocks,
//!    16 CPU tasks) running every variant once, in an order that rotates from round to round.
//!    Reported: medians, and each variant's ratio to its own library's CPU tasks alone (the
//!    median over rounds of the ratio within the round). Target: stealpool with
//!    `block_in_place` / stealpool alone <= 1.15x.
//! 2. What isolating waits costs (the evidence that `isolate` is not the default), on the same
//!    2-thread pools:
//!    - a: `fib(25)` with `stealpool::join` at every node inside `WorkerPool::install`:
//!      plain; `stealpool::isolate(|| stealpool::join(..))` at every node; one `isolate`
//!      around the whole call; and `rayon::join` at every node inside rayon's `install`, as a
//!      reference. Timed in batches of runs (20; quick mode: 2), time per run.
//!    - b, helping: 64 outer tasks (`WorkerPool::spawn`), each opening a scope of 8 jobs of
//!      50 µs of spinning and waiting for it; the time from just before the first submission
//!      until the last outer task ends: `stealpool::scope` plainly against
//!      `isolate(|| stealpool::scope(..))`; rayon (`ThreadPool::spawn` and `rayon::scope`)
//!      beside.
//!    - c, spawn tree: a task (`WorkerPool::spawn`, joined from the main thread) that spawns
//!      two children with `stealpool::spawn` and joins their `JoinHandle`s, recursively to
//!      depth 10 (2 047 tasks): plain against the spawns and joins wrapped in
//!      `isolate(|| { let a = spawn(..); let b = spawn(..); (a.join(), b.join()) })`. Timed in
//!      batches of trees (10; quick mode: 2), time per tree.
//!
//!    Each workload runs 21 rounds (quick mode: 2) of its variants, in rotating order, each
//!    timed run directly after an untimed run of the same variant; results are checked after
//!    every run, outside the timing. Reported: medians and each variant's ratio to stealpool's
//!    plain variant of the same workload (median over rounds of the per-round ratio).
//! 3. Markdown tables of parts 1 and 2 and the target line. The same tables, unrounded and
//!    keyed by ids (`tables.block_in_place.rows.<variant>.<column>`,
//!    `tables.isolate.rows.<workload>_<variant>.<column>`) and the target's figures
//!    (`extra.targets.block_in_place`) go to `waits.json`: in `target/bench-results/`, or in
//!    `$STEALPOOL_BENCH_JSON_DIR` (see `benches/common/mod.rs`).
//!
//!    Row ids of `block_in_place`: `stealpool_alone`, `stealpool_block_in_place`,
//!    `stealpool_plain`, `rayon_alone`, `rayon_plain`, `tokio_alone`,
//!    `tokio_block_in_place`; columns `cpu_done_ms` (median), `cpu_done_min_ms`,
//!    `cpu_done_max_ms`, `over_alone` and `all_done_ms` (median time until the blocking
//!    tasks have ended too). Row ids of `isolate`: `fib_plain`, `fib_isolate_each`,
//!    `fib_isolate_once`, `fib_rayon`, `helping_plain`, `helping_isolate`, `helping_rayon`,
//!    `tree_plain`, `tree_isolate`; columns `median_ms`, `min_ms`, `max_ms`, `over_plain`.
//!
//! The pools, the rotating rounds, the medians and paired ratios, the tables and the JSON file
//! come from the harness in `benches/common/`; this file holds the workloads and what is
//! reported.

use std::hint::{black_box, spin_loop};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use criterion::Criterion;
use stealpool::WorkerPool;

mod common;
use common::json::Json;
use common::peers::{self, Names, Pool};
use common::rounds::{Order, Rounds};
use common::run::{Results, Run};
use common::stats::{Samples, paired_ratio};
use common::table::{Cell, Table, fmt_ms, verdict};

/// Worker threads in every pool under test.
const THREADS: usize = 2;
/// Part 1: tasks that block.
const BLOCKERS: usize = 2;
/// Part 1: wall time each CPU task spins for.
const CPU_TASK: Duration = Duration::from_millis(2);
/// Part 1 target: stealpool with `block_in_place` / stealpool alone, at most.
const TARGET: f64 = 1.15;
/// Pause after every trial of part 1, so that the pool that ran it goes quiet (its spare
/// workers leave, rayon's threads stop spinning) before the next one.
const SETTLE: Duration = Duration::from_millis(5);
/// Part 2a: `n` of `fib`.
const FIB_N: u64 = 25;
/// Part 2b: outer tasks, jobs in each one's scope, and each job's spin.
const OUTER: usize = 64;
const INNER: usize = 8;
const INNER_SPIN: Duration = Duration::from_micros(50);
/// Part 2c: depth of the spawn tree, and its tasks.
const TREE_DEPTH: u32 = 10;
const TREE_TASKS: usize = (1 << (TREE_DEPTH + 1)) - 1;

/// Spins (no sleeping) for `d` of wall time.
fn spin_for(d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        spin_loop();
    }
}

/// Tasks that report their end to the main thread: the last one notes the time and wakes it.
struct Countdown {
    left: AtomicUsize,
    end: OnceLock<Instant>,
    waiter: Thread,
}

impl Countdown {
    /// `n` tasks (at least one); the calling thread is the one that waits.
    fn new(n: usize) -> Countdown {
        assert!(n > 0, "a countdown of no tasks");
        Countdown {
            left: AtomicUsize::new(n),
            end: OnceLock::new(),
            waiter: thread::current(),
        }
    }

    fn done(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let _ = self.end.set(Instant::now());
            self.waiter.unpark();
        }
    }

    /// Parks until the last task is done; returns when it ended.
    fn wait(&self) -> Instant {
        loop {
            if let Some(&end) = self.end.get() {
                return end;
            }
            thread::park();
        }
    }
}

/// The pools under test, all alive for the whole run; only one has work at a time.
struct Pools {
    stealpool: WorkerPool,
    rayon: rayon::ThreadPool,
    tokio: tokio::runtime::Runtime,
}

impl Pools {
    fn new() -> Pools {
        Pools {
            stealpool: peers::stealpool(THREADS, Names::Named),
            rayon: peers::rayon(THREADS, Names::Named),
            tokio: peers::tokio_workers(THREADS),
        }
    }

    fn shutdown(self) {
        for pool in [
            Pool::Stealpool(self.stealpool),
            Pool::Rayon(self.rayon),
            Pool::Tokio(self.tokio),
        ] {
            pool.shutdown();
        }
    }
}

/// How much of each part to run.
struct PassConfig {
    quick: bool,
    /// Part 1.
    rounds: usize,
    block: Duration,
    cpu_tasks: usize,
    /// Part 2.
    isolate_rounds: usize,
    fib_batch: u32,
    tree_batch: u32,
}

impl PassConfig {
    fn new(quick: bool) -> PassConfig {
        if quick {
            PassConfig {
                quick,
                rounds: 2,
                block: Duration::from_millis(30),
                cpu_tasks: 16,
                isolate_rounds: 2,
                fib_batch: 2,
                tree_batch: 2,
            }
        } else {
            PassConfig {
                quick,
                rounds: 11,
                block: Duration::from_millis(300),
                cpu_tasks: 64,
                isolate_rounds: 21,
                fib_batch: 20,
                tree_batch: 10,
            }
        }
    }

    /// The CPU tasks' work spread over the pool's width: the best time possible.
    fn ideal_ms(&self) -> f64 {
        self.cpu_tasks as f64 * CPU_TASK.as_secs_f64() * 1e3 / THREADS as f64
    }
}

// ---------------------------------------------------------------------------
// Part 1: blocking tasks beside CPU work.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lib {
    Stealpool,
    Rayon,
    Tokio,
}

/// What the blocking tasks of a trial do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Blockers {
    /// No blocking tasks: the CPU tasks alone.
    None,
    /// Sleep inside the library's `block_in_place`.
    InPlace,
    /// Sleep plainly.
    Plain,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Variant {
    lib: Lib,
    blockers: Blockers,
}

impl Variant {
    /// Table order.
    const ALL: [Variant; 7] = [
        Variant::new(Lib::Stealpool, Blockers::None),
        Variant::new(Lib::Stealpool, Blockers::InPlace),
        Variant::new(Lib::Stealpool, Blockers::Plain),
        Variant::new(Lib::Rayon, Blockers::None),
        Variant::new(Lib::Rayon, Blockers::Plain),
        Variant::new(Lib::Tokio, Blockers::None),
        Variant::new(Lib::Tokio, Blockers::InPlace),
    ];

    const fn new(lib: Lib, blockers: Blockers) -> Variant {
        Variant { lib, blockers }
    }

    /// Row id in the JSON file.
    fn id(self) -> String {
        let lib = match self.lib {
            Lib::Stealpool => "stealpool",
            Lib::Rayon => "rayon",
            Lib::Tokio => "tokio",
        };
        let blockers = match self.blockers {
            Blockers::None => "alone",
            Blockers::InPlace => "block_in_place",
            Blockers::Plain => "plain",
        };
        format!("{lib}_{blockers}")
    }

    fn label(self) -> &'static str {
        match self.lib {
            Lib::Stealpool => "stealpool",
            Lib::Rayon => "rayon",
            Lib::Tokio => "tokio",
        }
    }

    /// The blocking tasks, as the table describes them.
    fn how(self, block: Duration) -> String {
        let sleep = format!("sleep({} ms)", block.as_millis());
        match (self.lib, self.blockers) {
            (_, Blockers::None) => "none: the CPU tasks alone".to_owned(),
            (Lib::Stealpool, Blockers::InPlace) => {
                format!("{BLOCKERS} x `{sleep}` in `stealpool::block_in_place`")
            }
            (Lib::Tokio, Blockers::InPlace) => {
                format!("{BLOCKERS} x `{sleep}` in `tokio::task::block_in_place`")
            }
            (Lib::Rayon, Blockers::InPlace) => unreachable!("rayon has no block_in_place"),
            (_, Blockers::Plain) => format!("{BLOCKERS} x plain `{sleep}`"),
        }
    }

    /// The variant of the same library with the CPU tasks alone.
    fn alone(self) -> Variant {
        Variant::new(self.lib, Blockers::None)
    }
}

/// One trial's tasks: the CPU tasks, and all of them.
struct Trial {
    cpu: Countdown,
    all: Countdown,
}

/// A trial's times from just before its first submission: until the last CPU task ended,
/// and until every task had.
#[derive(Clone, Copy)]
struct TrialTimes {
    cpu_done: Duration,
    all_done: Duration,
}

fn submit(pools: &Pools, lib: Lib, job: impl FnOnce() + Send + 'static) {
    match lib {
        Lib::Stealpool => drop(pools.stealpool.spawn(job)),
        Lib::Rayon => pools.rayon.spawn(job),
        Lib::Tokio => drop(pools.tokio.spawn(async move { job() })),
    }
}

fn blocking_trial(pools: &Pools, variant: Variant, cfg: &PassConfig) -> TrialTimes {
    let blockers = if variant.blockers == Blockers::None {
        0
    } else {
        BLOCKERS
    };
    let trial = Arc::new(Trial {
        cpu: Countdown::new(cfg.cpu_tasks),
        all: Countdown::new(cfg.cpu_tasks + blockers),
    });
    let block = cfg.block;
    let start = Instant::now();
    for _ in 0..blockers {
        let trial = Arc::clone(&trial);
        let blocker = move || {
            let sleep = || thread::sleep(block);
            match (variant.lib, variant.blockers) {
                (Lib::Stealpool, Blockers::InPlace) => stealpool::block_in_place(sleep),
                (Lib::Tokio, Blockers::InPlace) => tokio::task::block_in_place(sleep),
                _ => sleep(),
            }
            trial.all.done();
        };
        submit(pools, variant.lib, blocker);
    }
    for _ in 0..cfg.cpu_tasks {
        let trial = Arc::clone(&trial);
        submit(pools, variant.lib, move || {
            spin_for(CPU_TASK);
            trial.cpu.done();
            trial.all.done();
        });
    }
    let all_end = trial.all.wait();
    let cpu_end = trial.cpu.wait();
    thread::sleep(SETTLE);
    TrialTimes {
        cpu_done: cpu_end - start,
        all_done: all_end - start,
    }
}

/// Part 1's samples (ms), in [`Variant::ALL`] order.
struct BlockingResults {
    cpu_done: Vec<Samples>,
    all_done: Vec<Samples>,
}

fn run_blocking(pools: &Pools, cfg: &PassConfig) -> BlockingResults {
    // Warm-up: every variant once (spare threads, tokio's blocking pool, code paged in).
    for variant in Variant::ALL {
        blocking_trial(pools, variant, cfg);
    }
    let started = Instant::now();
    let rounds = Rounds {
        rounds: cfg.rounds,
        order: Order::Rotating,
        warm_each: false,
    };
    let samples = rounds.run(Variant::ALL.len(), |i| {
        blocking_trial(pools, Variant::ALL[i], cfg)
    });
    println!(
        "\n== blocking tasks beside CPU work: {} rounds ({:.1} s) ==",
        cfg.rounds,
        started.elapsed().as_secs_f64()
    );
    let mut results = BlockingResults {
        cpu_done: Vec::new(),
        all_done: Vec::new(),
    };
    for (variant, times) in Variant::ALL.iter().zip(samples) {
        let cpu: Vec<Duration> = times.iter().map(|t| t.cpu_done).collect();
        let all: Vec<Duration> = times.iter().map(|t| t.all_done).collect();
        let cpu = Samples::ms(&cpu);
        let list: Vec<String> = cpu.taken().iter().map(|ms| format!("{ms:.1}")).collect();
        println!("{:<26} last CPU task, ms: {}", variant.id(), list.join(" "));
        results.cpu_done.push(cpu);
        results.all_done.push(Samples::ms(&all));
    }
    results
}

fn of(variant: Variant) -> usize {
    Variant::ALL
        .iter()
        .position(|&v| v == variant)
        .expect("a measured variant")
}

fn print_blocking(results: &BlockingResults, cfg: &PassConfig, nproc: &str, out: &mut Results) {
    let block_ms = cfg.block.as_millis();
    let task_ms = CPU_TASK.as_secs_f64() * 1e3;
    println!(
        "\n## Blocking tasks beside CPU work ({THREADS} worker threads per pool; nproc = {nproc})\n"
    );
    println!(
        "{BLOCKERS} tasks blocking {block_ms} ms, submitted first, then {} CPU tasks of {task_ms} ms busy work ({} ms of work per worker), all from the main thread. Time = from just before the first submission until the last CPU task ends (median of {} rounds, variants interleaved in rotating order). The ratio is the median over rounds of this row's time / its own library's CPU tasks alone in the same round. The last column waits for the blocking tasks too.",
        cfg.cpu_tasks,
        fmt_ms(cfg.ideal_ms()),
        cfg.rounds
    );
    if cfg.quick {
        println!("QUICK MODE: few rounds, short blocks, figures not meaningful.");
    }
    println!();
    let mut table = Table::new("block_in_place")
        .left("pool", "pool")
        .left("blockers", "blocking tasks")
        .right("cpu_done_ms", "last CPU task, median (ms)")
        .right("cpu_done_min_ms", "min (ms)")
        .right("cpu_done_max_ms", "max (ms)")
        .right("over_alone", "/ CPU tasks alone")
        .right("all_done_ms", "all tasks done, median (ms)");
    for variant in Variant::ALL {
        let i = of(variant);
        let cpu = &results.cpu_done[i];
        let ratio = if variant.blockers == Blockers::None {
            Cell::num(1.0, "1.00x (reference)".to_owned())
        } else {
            Cell::ratio(paired_ratio(cpu, &results.cpu_done[of(variant.alone())]), 3)
        };
        table.row(
            variant.id(),
            vec![
                Cell::text(variant.label()),
                Cell::text(variant.how(cfg.block)),
                Cell::ms(cpu.median()),
                Cell::ms(cpu.min()),
                Cell::ms(cpu.max()),
                ratio,
                Cell::ms(results.all_done[i].median()),
            ],
        );
    }
    out.print_table(&table);

    let ours = Variant::new(Lib::Stealpool, Blockers::InPlace);
    let ratio = paired_ratio(
        &results.cpu_done[of(ours)],
        &results.cpu_done[of(ours.alone())],
    );
    let tokio = Variant::new(Lib::Tokio, Blockers::InPlace);
    let tokio_ratio = paired_ratio(
        &results.cpu_done[of(tokio)],
        &results.cpu_done[of(tokio.alone())],
    );
    println!("\n### Target, on this run\n");
    println!(
        "- stealpool, blocking tasks in `block_in_place`: last CPU task {ratio:.3}x the CPU tasks alone (median of per-round ratios; target <= {TARGET:.2}x): {} (tokio's `block_in_place`: {tokio_ratio:.3}x its own)",
        verdict(ratio <= TARGET)
    );
    out.extra(
        "targets",
        Json::object().with(
            "block_in_place",
            Json::object()
                .with("stealpool_block_in_place_over_alone", ratio)
                .with("limit", TARGET)
                .with("met", ratio <= TARGET)
                .with("tokio_block_in_place_over_alone", tokio_ratio),
        ),
    );
}

// ---------------------------------------------------------------------------
// Part 2: what isolating waits costs.
// ---------------------------------------------------------------------------

fn fib_value(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

fn fib_plain(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = stealpool::join(|| fib_plain(n - 1), || fib_plain(n - 2));
    a + b
}

fn fib_isolated(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) =
        stealpool::isolate(|| stealpool::join(|| fib_isolated(n - 1), || fib_isolated(n - 2)));
    a + b
}

fn fib_rayon(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

/// One job of a helping scope.
fn inner_job() {
    spin_for(INNER_SPIN);
}

/// The spawn tree below a task at `depth`: its size (tasks, itself included).
fn tree_plain(depth: u32) -> usize {
    if depth == 0 {
        return 1;
    }
    let a = stealpool::spawn(move || tree_plain(depth - 1));
    let b = stealpool::spawn(move || tree_plain(depth - 1));
    let (a, b) = (a.join(), b.join());
    1 + a.expect("a tree task failed") + b.expect("a tree task failed")
}

fn tree_isolated(depth: u32) -> usize {
    if depth == 0 {
        return 1;
    }
    let (a, b) = stealpool::isolate(|| {
        let a = stealpool::spawn(move || tree_isolated(depth - 1));
        let b = stealpool::spawn(move || tree_isolated(depth - 1));
        (a.join(), b.join())
    });
    1 + a.expect("a tree task failed") + b.expect("a tree task failed")
}

/// The variants of part 2; the first of each workload is stealpool's plain one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Iso {
    FibPlain,
    FibIsolateEach,
    FibIsolateOnce,
    FibRayon,
    HelpingPlain,
    HelpingIsolate,
    HelpingRayon,
    TreePlain,
    TreeIsolate,
}

impl Iso {
    const FIB: [Iso; 4] = [
        Iso::FibPlain,
        Iso::FibIsolateEach,
        Iso::FibIsolateOnce,
        Iso::FibRayon,
    ];
    const HELPING: [Iso; 3] = [Iso::HelpingPlain, Iso::HelpingIsolate, Iso::HelpingRayon];
    const TREE: [Iso; 2] = [Iso::TreePlain, Iso::TreeIsolate];

    fn id(self) -> &'static str {
        match self {
            Iso::FibPlain => "fib_plain",
            Iso::FibIsolateEach => "fib_isolate_each",
            Iso::FibIsolateOnce => "fib_isolate_once",
            Iso::FibRayon => "fib_rayon",
            Iso::HelpingPlain => "helping_plain",
            Iso::HelpingIsolate => "helping_isolate",
            Iso::HelpingRayon => "helping_rayon",
            Iso::TreePlain => "tree_plain",
            Iso::TreeIsolate => "tree_isolate",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Iso::FibPlain => "stealpool, `join` at every node",
            Iso::FibIsolateEach => "stealpool, each node's `join` in `isolate`",
            Iso::FibIsolateOnce => "stealpool, one `isolate` around the whole call",
            Iso::FibRayon => "rayon, `rayon::join` at every node",
            Iso::HelpingPlain => "stealpool, `scope(..)`",
            Iso::HelpingIsolate => "stealpool, `scope(..)` in `isolate`",
            Iso::HelpingRayon => "rayon, `rayon::scope(..)`",
            Iso::TreePlain => "stealpool, `spawn` x 2, then `join` both",
            Iso::TreeIsolate => "stealpool, each node's spawns and joins in `isolate`",
        }
    }

    /// One timed sample, in ms per run; checks the result outside the timing.
    fn sample(self, pools: &Pools, cfg: &PassConfig) -> f64 {
        match self {
            Iso::FibPlain | Iso::FibIsolateEach | Iso::FibIsolateOnce | Iso::FibRayon => {
                let start = Instant::now();
                let results: Vec<u64> = (0..cfg.fib_batch)
                    .map(|_| fib(pools, self, black_box(FIB_N)))
                    .collect();
                let time = start.elapsed() / cfg.fib_batch;
                assert!(
                    results.iter().all(|&r| r == fib_value(FIB_N)),
                    "{}: wrong fib",
                    self.id()
                );
                time.as_secs_f64() * 1e3
            }
            Iso::HelpingPlain | Iso::HelpingIsolate | Iso::HelpingRayon => {
                helping(pools, self).as_secs_f64() * 1e3
            }
            Iso::TreePlain | Iso::TreeIsolate => {
                let start = Instant::now();
                let sizes: Vec<usize> = (0..cfg.tree_batch).map(|_| tree(pools, self)).collect();
                let time = start.elapsed() / cfg.tree_batch;
                assert!(
                    sizes.iter().all(|&s| s == TREE_TASKS),
                    "{}: wrong tree size",
                    self.id()
                );
                time.as_secs_f64() * 1e3
            }
        }
    }
}

fn fib(pools: &Pools, variant: Iso, n: u64) -> u64 {
    match variant {
        Iso::FibPlain => pools.stealpool.install(|| fib_plain(n)),
        Iso::FibIsolateEach => pools.stealpool.install(|| fib_isolated(n)),
        Iso::FibIsolateOnce => pools
            .stealpool
            .install(|| stealpool::isolate(|| fib_plain(n))),
        Iso::FibRayon => pools.rayon.install(|| fib_rayon(n)),
        _ => unreachable!("not a fib variant"),
    }
}

/// Part 2b: the time until the last outer task ends.
fn helping(pools: &Pools, variant: Iso) -> Duration {
    let done = Arc::new(Countdown::new(OUTER));
    let jobs_run = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    for _ in 0..OUTER {
        let done = Arc::clone(&done);
        let jobs_run = Arc::clone(&jobs_run);
        let count = move || {
            inner_job();
            jobs_run.fetch_add(1, Ordering::Relaxed);
        };
        match variant {
            Iso::HelpingPlain => drop(pools.stealpool.spawn(move || {
                stealpool::scope(|s| {
                    for _ in 0..INNER {
                        let count = count.clone();
                        s.spawn(move |_| count());
                    }
                });
                done.done();
            })),
            Iso::HelpingIsolate => drop(pools.stealpool.spawn(move || {
                stealpool::isolate(|| {
                    stealpool::scope(|s| {
                        for _ in 0..INNER {
                            let count = count.clone();
                            s.spawn(move |_| count());
                        }
                    });
                });
                done.done();
            })),
            Iso::HelpingRayon => pools.rayon.spawn(move || {
                rayon::scope(|s| {
                    for _ in 0..INNER {
                        let count = count.clone();
                        s.spawn(move |_| count());
                    }
                });
                done.done();
            }),
            _ => unreachable!("not a helping variant"),
        }
    }
    let end = done.wait();
    assert_eq!(
        jobs_run.load(Ordering::Relaxed),
        OUTER * INNER,
        "{}: jobs missing",
        variant.id()
    );
    end - start
}

/// Part 2c: one tree, rooted in a task spawned from the main thread.
fn tree(pools: &Pools, variant: Iso) -> usize {
    let root = match variant {
        Iso::TreePlain => pools.stealpool.spawn(|| tree_plain(TREE_DEPTH)),
        Iso::TreeIsolate => pools.stealpool.spawn(|| tree_isolated(TREE_DEPTH)),
        _ => unreachable!("not a tree variant"),
    };
    root.join().expect("the tree's root failed")
}

/// One workload of part 2: its name and its variants' samples (ms), in its variants' order.
struct Workload {
    name: String,
    variants: &'static [Iso],
    samples: Vec<Samples>,
}

fn run_isolate(pools: &Pools, cfg: &PassConfig) -> Vec<Workload> {
    let workloads: [(String, &'static [Iso]); 3] = [
        (format!("a. `fib({FIB_N})`, per run"), &Iso::FIB),
        (
            format!(
                "b. helping: {OUTER} x scope of {INNER} x {} µs",
                INNER_SPIN.as_micros()
            ),
            &Iso::HELPING,
        ),
        (
            format!("c. spawn tree of {TREE_TASKS} tasks, per tree"),
            &Iso::TREE,
        ),
    ];
    let rounds = Rounds {
        rounds: cfg.isolate_rounds,
        order: Order::Rotating,
        warm_each: true,
    };
    workloads
        .into_iter()
        .map(|(name, variants)| {
            let started = Instant::now();
            let samples = rounds.run(variants.len(), |i| variants[i].sample(pools, cfg));
            println!(
                "\n== {name}: {} rounds ({:.1} s) ==",
                cfg.isolate_rounds,
                started.elapsed().as_secs_f64()
            );
            let samples: Vec<Samples> = samples.into_iter().map(Samples::new).collect();
            for (variant, ms) in variants.iter().zip(&samples) {
                println!(
                    "{:<18} median {:>9} ms   min {:>9} ms   max {:>9} ms",
                    variant.id(),
                    fmt_ms(ms.median()),
                    fmt_ms(ms.min()),
                    fmt_ms(ms.max())
                );
            }
            Workload {
                name,
                variants,
                samples,
            }
        })
        .collect()
}

fn print_isolate(workloads: &[Workload], cfg: &PassConfig, nproc: &str, out: &mut Results) {
    println!(
        "\n## What isolating waits costs ({THREADS} worker threads per pool; nproc = {nproc})\n"
    );
    println!(
        "a. `fib({FIB_N})` with a join at every node, in `install` (time per run, batches of {}); b. {OUTER} tasks spawned from the main thread, each opening a scope of {INNER} jobs of {} µs busy work and waiting for it (time until the last task ends); c. a task that spawns two children and joins their handles, recursively to depth {TREE_DEPTH} ({TREE_TASKS} tasks; time per tree, batches of {}). Medians of {} rounds per workload (variants in rotating order, each timed run after an untimed one). The ratio is the median over rounds of this row's time / stealpool's plain variant of the same workload in the same round: above 1.00x is slower than the plain wait.",
        cfg.fib_batch,
        INNER_SPIN.as_micros(),
        cfg.tree_batch,
        cfg.isolate_rounds
    );
    if cfg.quick {
        println!("QUICK MODE: few rounds, figures not meaningful.");
    }
    println!();
    let mut table = Table::new("isolate")
        .left("workload", "workload")
        .left("variant", "variant")
        .right("median_ms", "median (ms)")
        .right("min_ms", "min (ms)")
        .right("max_ms", "max (ms)")
        .right("over_plain", "/ stealpool plain");
    for workload in workloads {
        let plain = &workload.samples[0];
        for (k, (variant, ms)) in workload.variants.iter().zip(&workload.samples).enumerate() {
            let ratio = if k == 0 {
                Cell::num(1.0, "1.00x (reference)".to_owned())
            } else {
                Cell::ratio(paired_ratio(ms, plain), 3)
            };
            table.row(
                variant.id(),
                vec![
                    Cell::text(workload.name.as_str()),
                    Cell::text(variant.label()),
                    Cell::ms(ms.median()),
                    Cell::ms(ms.min()),
                    Cell::ms(ms.max()),
                    ratio,
                ],
            );
        }
    }
    out.print_table(&table);
}

// ---------------------------------------------------------------------------
// main.
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let run = Run::from_args("waits", THREADS);
    // No groups (see the module doc); criterion still reads the command line.
    let criterion = Criterion::default().configure_from_args();

    let pools = if run.list_only() {
        None
    } else {
        Some(Pools::new())
    };
    let written = run.pass("waits pass", |out| {
        let pools = pools.as_ref().expect("pools are built unless listing");
        let cfg = PassConfig::new(run.quick());
        out.config("rounds", cfg.rounds);
        out.config("blockers", BLOCKERS);
        out.config("block_ms", cfg.block.as_secs_f64() * 1e3);
        out.config("cpu_tasks", cfg.cpu_tasks);
        out.config("cpu_task_ms", CPU_TASK.as_secs_f64() * 1e3);
        out.config("isolate_rounds", cfg.isolate_rounds);
        out.config("fib_n", FIB_N);
        out.config("fib_batch", cfg.fib_batch);
        out.config("outer_tasks", OUTER);
        out.config("inner_jobs", INNER);
        out.config("inner_us", INNER_SPIN.as_secs_f64() * 1e6);
        out.config("tree_depth", TREE_DEPTH);
        out.config("tree_batch", cfg.tree_batch);
        let blocking = run_blocking(pools, &cfg);
        let isolate = run_isolate(pools, &cfg);
        print_blocking(&blocking, &cfg, run.nproc(), out);
        print_isolate(&isolate, &cfg, run.nproc(), out);
    });

    if let Some(pools) = pools {
        pools.shutdown();
    }
    criterion.final_summary();
    written
}
