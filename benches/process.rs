//! Process pool benchmark (feature `process`; issue 16, item 6): stealpool's `ProcessPool`
//! beside procspawn's `Pool`, the peer the issue names, and beside stealpool's own thread
//! `WorkerPool` where the question is what the processes cost; then the codec the pool sends
//! arguments and results with (postcard) beside bincode.
//!
//! Run with `cargo bench --features process --bench process` (about 10 s on 2 cores once built).
//! `cargo bench --features process --bench process -- --test` (or `STEALPOOL_BENCH_QUICK=1`)
//! shrinks every part so that it finishes in seconds once built, with figures that mean
//! nothing. `STEALPOOL_PROCESS_BENCH_PART=round_trip` (or `throughput`, `crash`, `codec`; a
//! comma-separated list) runs only those parts, for a profiler or `strace -c -f` to look at
//! one workload alone.
//!
//! The worker processes of both pools are this bench binary run again, so `main` calls
//! `stealpool::process::init()` and `procspawn::init()` first (each returns at once in the
//! parent and serves tasks in its own kind of child). There is no criterion group: the pools
//! are compared within rounds, which criterion does not do. criterion still reads the command
//! line, so `--test`, `--list` and the rest behave as in the other benches.
//!
//! Every pool is built for its part and shut down after it, so no idle pool of one part runs
//! beside another part; all tasks are spawned and joined from the main thread. Every result
//! is checked, outside the timing.
//!
//! # Parts
//!
//! 1. **Round trip per tiny task** (`round_trip`): spawn one task that returns its `u64`
//!    argument + 1, join it, and only then spawn the next: 400 in a row per sample (quick
//!    mode: 20); the figure is µs per task. stealpool's `ProcessPool` (2 processes,
//!    `ProcessPool::spawn`) against procspawn's `Pool` (2 processes, `Pool::spawn`). Target:
//!    stealpool / procspawn <= 0.5x.
//! 2. **Throughput of 100 µs tasks** (`throughput`): 2 000 tasks (quick mode: 100), each a
//!    busy spin of 100 µs on `Instant` returning `2 x + 1` of its argument, all spawned at
//!    once, then all joined; the figure is the time from just before the first spawn until
//!    the last join returns. stealpool's `ProcessPool` (2 processes) against stealpool's
//!    thread `WorkerPool` (2 threads, `WorkerPool::spawn`, the same function) and procspawn's
//!    `Pool` (2 processes). Target: process pool / thread pool <= 1.10x. The breakdown: each
//!    task also returns the thread it ran on and its start and end on `CLOCK_MONOTONIC`
//!    (the same clock in every process), from which each worker's idle gaps between
//!    consecutive tasks (the pool's dispatch cost, as its worker sees it), the lead-in (first
//!    spawn to first task start) and the tail (last task end to last join) follow.
//! 3. **Replacing a crashed worker** (`crash`), on pools of **1 process**: spawn a task that
//!    calls `std::process::abort()` and right behind it a tiny task that returns its argument
//!    plus 1 and its process id; the figure is the time from just before the first spawn until
//!    the tiny task's result is in the main thread: crash detection, a new process, one round
//!    trip. Checked: the crashed task fails (stealpool: `TaskError::is_crash`; procspawn: any
//!    `SpawnError`), and the tiny task's result is right and comes from a process other than
//!    the one before (its pid changed). Beside it, for scale, the plain round trip of a tiny
//!    task on the same pool (100 in a row per sample; quick mode: 10). stealpool's pool is
//!    built with `restart_intensity(100_000, 1 s)`, since the default (10 within 10 s) would,
//!    rightly, give up on a bench that crashes its worker every few milliseconds. procspawn's
//!    `Pool` documents that it restarts broken processes; whatever happens to its next task
//!    (a result, an error, nothing within 10 s) is what its row reports: a pool found broken
//!    is not measured again, and the table says how many crashes it got through.
//! 4. **Codec** (`codec`): postcard (`to_stdvec`, `from_bytes`: what the pool does with
//!    arguments and results) against bincode 2 through serde, with its `standard()` config
//!    (varints, as postcard) and its `legacy()` config (bincode 1's fixed-width integers).
//!    Payloads: a `u64` (1 000 000 007); a struct of a `u64`, two `f64`, a `u32` and a
//!    16-character `String` (serde's derive); a `Vec<u64>` of 1 000 values of every bit length
//!    (`i * 0x9E3779B97F4A7C15 >> (i % 64)`); a `Vec<u8>` of 64 KiB (plain serde, a sequence of
//!    bytes, as a task's argument would be without `serde_bytes`). Each sample encodes the
//!    payload into a fresh `Vec` a batch of times, then decodes it a batch of times (batches
//!    of 50 000, 20 000, 500 and 20 by payload; quick mode: a hundredth); the figures are ns
//!    per encode and per decode, their sum, and the encoded size. The decoded value is
//!    compared with the original after every sample.
//!
//! Parts 1 to 3 run 21 rounds (throughput: 11; quick mode: 2) and part 4 21 rounds per
//! payload (quick mode: 2), every variant once per round in an order that rotates from round
//! to round, after one untimed run of every variant. Ratios are the median over rounds of the
//! per-round ratio (`benches/common/stats.rs`).
//!
//! # Output
//!
//! Markdown tables, one per part, then the target lines; the same figures, unrounded, go to
//! `process.json` (in `target/bench-results/`, or in `$STEALPOOL_BENCH_JSON_DIR`; see
//! `benches/common/mod.rs`):
//!
//! - `tables.round_trip`: rows `stealpool`, `procspawn`; columns `pool`, `us_per_task`
//!   (median), `min_us`, `max_us`, `over_procspawn`.
//! - `tables.throughput`: rows `process_pool`, `thread_pool`, `procspawn`; columns `pool`,
//!   `ms` (median), `min_ms`, `max_ms`, `us_per_task` (median time / tasks), `over_thread_pool`,
//!   `gap_mean_us`, `gap_median_us`, `lead_in_us`, `tail_us` (medians over rounds).
//! - `tables.crash`: rows `stealpool_crash`, `stealpool_round_trip`, `procspawn_crash`,
//!   `procspawn_round_trip`; columns `pool`, `what`, `median_ms`, `min_ms`, `max_ms`,
//!   `samples`, `next_task` (what became of the task behind the crash).
//! - `tables.codec`: rows `<payload>_<codec>` (payloads `u64`, `struct`, `vec_u64`, `vec_u8`;
//!   codecs `postcard`, `bincode_standard`, `bincode_legacy`); columns `payload`, `codec`,
//!   `bytes`, `encode_ns`, `decode_ns`, `total_ns` (medians), `over_postcard` (the paired
//!   ratio of encode + decode).
//! - `extra.targets.round_trip` and `extra.targets.throughput`: ratio, limit, verdict;
//!   `extra.crash_errors`: the crashed task's error as each pool reported it, first round.
//!
//! The rotating rounds, the medians and paired ratios, the tables and the JSON file come from
//! the harness in `benches/common/`; this file holds the workloads and what is reported.

use std::hint::{black_box, spin_loop};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use criterion::Criterion;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use stealpool::WorkerPool;
use stealpool::process::ProcessPool;

mod common;

use common::clock::{gettid, monotonic_ns};
use common::json::Json;
use common::peers::{self, Names, Pool};
use common::rounds::{Order, Rounds};
use common::run::{Results, Run};
use common::stats::{Samples, paired_ratio};
use common::table::{Cell, Table, fmt_ms, verdict};

/// Worker processes (and threads) of the pools of parts 1 and 2.
const PROCESSES: usize = 2;
/// Part 1 target: stealpool / procspawn, at most.
const TARGET_ROUND_TRIP: f64 = 0.5;
/// Part 2 target: process pool / thread pool, at most.
const TARGET_THROUGHPUT: f64 = 1.10;
/// Part 2: the busy work of each task.
const TASK_SPIN: Duration = Duration::from_micros(100);
/// Part 3: how long a join may take before the pool counts as broken.
const JOIN_LIMIT: Duration = Duration::from_secs(10);
/// Selects parts (see the module doc).
const PART_ENV: &str = "STEALPOOL_PROCESS_BENCH_PART";

// ---------------------------------------------------------------------------
// The tasks (plain `fn`s: both pools find them in the child by their address).
// ---------------------------------------------------------------------------

/// Parts 1 and 3: the tiny task.
fn plus_one(x: u64) -> u64 {
    x + 1
}

/// Part 3: the tiny task behind the crash, saying which process ran it.
fn plus_one_and_pid(x: u64) -> (u64, u32) {
    (x + 1, std::process::id())
}

/// Part 3: the crash.
fn abort_task(_: ()) -> u64 {
    std::process::abort()
}

/// Part 2: 100 µs of busy work (a spin on `Instant`, so it occupies the CPU like real work);
/// returns `2 x + 1` and, for the breakdown, where and when it ran (see [`Span`]).
fn spin_task(x: u64) -> (u64, Span) {
    let start = monotonic_ns();
    let end = Instant::now() + TASK_SPIN;
    while Instant::now() < end {
        spin_loop();
    }
    let span = Span {
        worker: gettid(),
        start_ns: start,
        end_ns: monotonic_ns(),
    };
    (2 * x + 1, span)
}

/// Where and when a spin task ran: the thread (in a worker process of either pool, its main
/// thread, whose id is the process id) and `CLOCK_MONOTONIC`, which every process of the
/// machine reads alike, at its start and end.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct Span {
    worker: i32,
    start_ns: u64,
    end_ns: u64,
}

// ---------------------------------------------------------------------------
// Settings.
// ---------------------------------------------------------------------------

/// How much of each part to run, and which parts.
struct PassConfig {
    quick: bool,
    parts: Vec<String>,
    rounds: usize,
    throughput_rounds: usize,
    /// Part 1: tasks per sample.
    round_trips: u64,
    /// Part 2: tasks per sample.
    tasks: u64,
    /// Part 3: tiny tasks per round-trip sample.
    crash_round_trips: u64,
    /// Part 4: a hundredth of the batches in quick mode.
    codec_divisor: u32,
}

impl PassConfig {
    fn new(quick: bool) -> PassConfig {
        let parts = std::env::var(PART_ENV)
            .ok()
            .filter(|s| !s.is_empty())
            .map_or_else(
                || {
                    ["round_trip", "throughput", "crash", "codec"]
                        .map(String::from)
                        .to_vec()
                },
                |s| s.split(',').map(|p| p.trim().to_owned()).collect(),
            );
        if quick {
            PassConfig {
                quick,
                parts,
                rounds: 2,
                throughput_rounds: 2,
                round_trips: 20,
                tasks: 100,
                crash_round_trips: 10,
                codec_divisor: 100,
            }
        } else {
            PassConfig {
                quick,
                parts,
                rounds: 21,
                throughput_rounds: 11,
                round_trips: 400,
                tasks: 2_000,
                crash_round_trips: 100,
                codec_divisor: 1,
            }
        }
    }

    fn runs(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }

    fn rounds(&self, rounds: usize) -> Rounds {
        Rounds {
            rounds,
            order: Order::Rotating,
            warm_each: false,
        }
    }
}

fn process_pool(processes: usize) -> ProcessPool {
    ProcessPool::builder()
        .processes(processes)
        .build()
        .unwrap_or_else(|err| panic!("failed to build the process pool: {err}"))
}

fn procspawn_pool(processes: usize) -> procspawn::Pool {
    procspawn::Pool::new(processes)
        .unwrap_or_else(|err| panic!("failed to build the procspawn pool: {err}"))
}

fn quick_note(cfg: &PassConfig) {
    if cfg.quick {
        println!("QUICK MODE: few rounds, small batches, figures not meaningful.");
    }
}

// ---------------------------------------------------------------------------
// Part 1: round trip per tiny task.
// ---------------------------------------------------------------------------

/// `n` tiny tasks one after another on stealpool's pool; µs per task.
fn round_trips_stealpool(pool: &ProcessPool, n: u64) -> f64 {
    let start = Instant::now();
    for x in 0..n {
        let got = pool.spawn(black_box(x), plus_one).join();
        assert_eq!(got.ok(), Some(x + 1), "stealpool: wrong round-trip result");
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

/// The same on procspawn's pool.
fn round_trips_procspawn(pool: &procspawn::Pool, n: u64) -> f64 {
    let start = Instant::now();
    for x in 0..n {
        let got = pool.spawn(black_box(x), plus_one).join();
        assert_eq!(got.ok(), Some(x + 1), "procspawn: wrong round-trip result");
    }
    start.elapsed().as_secs_f64() * 1e6 / n as f64
}

fn part_round_trip(cfg: &PassConfig, nproc: &str, out: &mut Results) -> f64 {
    let ours = process_pool(PROCESSES);
    let theirs = procspawn_pool(PROCESSES);
    let sample = |i: usize| match i {
        0 => round_trips_stealpool(&ours, cfg.round_trips),
        _ => round_trips_procspawn(&theirs, cfg.round_trips),
    };
    for i in 0..2 {
        sample(i);
    }
    let started = Instant::now();
    let samples = cfg.rounds(cfg.rounds).run(2, sample);
    println!(
        "\n== round trip per tiny task: {} rounds ({:.1} s) ==",
        cfg.rounds,
        started.elapsed().as_secs_f64()
    );
    ours.shutdown();
    theirs.shutdown();
    let [ours, theirs] = [0, 1].map(|i| Samples::new(samples[i].clone()));
    let ratio = paired_ratio(&ours, &theirs);

    println!(
        "\n## Round trip per tiny task ({PROCESSES} worker processes per pool; nproc = {nproc})\n"
    );
    println!(
        "Spawn a task that returns its `u64` argument + 1, join it, then spawn the next: {} in a row per sample, µs per task. Medians of {} rounds (pools interleaved, rotating order). The ratio is the median over rounds of stealpool / procspawn in the same round.",
        cfg.round_trips, cfg.rounds
    );
    quick_note(cfg);
    println!();
    let mut table = Table::new("round_trip")
        .left("pool", "pool")
        .right("us_per_task", "µs per task, median")
        .right("min_us", "min (µs)")
        .right("max_us", "max (µs)")
        .right("over_procspawn", "/ procspawn");
    let us = |x: f64| Cell::fixed(x, 1);
    table.row(
        "stealpool",
        vec![
            Cell::text("stealpool `ProcessPool::spawn`"),
            us(ours.median()),
            us(ours.min()),
            us(ours.max()),
            Cell::ratio(ratio, 3),
        ],
    );
    table.row(
        "procspawn",
        vec![
            Cell::text("procspawn `Pool::spawn`"),
            us(theirs.median()),
            us(theirs.min()),
            us(theirs.max()),
            Cell::num(1.0, "1.00x (reference)".to_owned()),
        ],
    );
    out.print_table(&table);
    ratio
}

// ---------------------------------------------------------------------------
// Part 2: throughput of 100 µs tasks.
// ---------------------------------------------------------------------------

/// The pools of part 2, in table order.
const THROUGHPUT_ROWS: [(&str, &str); 3] = [
    ("process_pool", "stealpool `ProcessPool`, 2 processes"),
    ("thread_pool", "stealpool `WorkerPool`, 2 threads"),
    ("procspawn", "procspawn `Pool`, 2 processes"),
];

/// One burst of part 2: its time, and the breakdown of it from the tasks' [`Span`]s.
#[derive(Clone, Copy)]
struct Burst {
    ms: f64,
    /// Per task, the time its worker sat idle since its previous task ended (µs): mean and
    /// median over the burst's tasks (each worker's first task excluded).
    gap_mean_us: f64,
    gap_median_us: f64,
    /// From just before the first spawn until the first task started (µs).
    lead_in_us: f64,
    /// From the last task's end until the last join returned (µs).
    tail_us: f64,
}

/// Spawns `n` spin tasks at once, joins them all.
fn burst_process(pool: &ProcessPool, n: u64) -> Burst {
    let t0 = monotonic_ns();
    let start = Instant::now();
    let handles: Vec<_> = (0..n).map(|x| pool.spawn(x, spin_task)).collect();
    let results: Vec<(u64, Span)> = handles
        .into_iter()
        .map(|h| h.join().expect("a spin task failed in the process pool"))
        .collect();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    breakdown(ms, t0, monotonic_ns(), &results, "process pool")
}

fn burst_threads(pool: &WorkerPool, n: u64) -> Burst {
    let t0 = monotonic_ns();
    let start = Instant::now();
    let handles: Vec<_> = (0..n).map(|x| pool.spawn(move || spin_task(x))).collect();
    let results: Vec<(u64, Span)> = handles
        .into_iter()
        .map(|h| h.join().expect("a spin task failed in the thread pool"))
        .collect();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    breakdown(ms, t0, monotonic_ns(), &results, "thread pool")
}

fn burst_procspawn(pool: &procspawn::Pool, n: u64) -> Burst {
    let t0 = monotonic_ns();
    let start = Instant::now();
    // A procspawn handle kills its task when dropped: every one is kept until joined.
    let handles: Vec<_> = (0..n).map(|x| pool.spawn(x, spin_task)).collect();
    let results: Vec<(u64, Span)> = handles
        .into_iter()
        .map(|h| h.join().expect("a spin task failed in procspawn's pool"))
        .collect();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    breakdown(ms, t0, monotonic_ns(), &results, "procspawn")
}

/// Checks every result, and works out where a burst's time went: per worker, the tasks in
/// the order they ran and the idle gaps between them.
fn breakdown(ms: f64, t0: u64, t1: u64, results: &[(u64, Span)], what: &str) -> Burst {
    let mut spans = Vec::with_capacity(results.len());
    for (x, (r, span)) in results.iter().enumerate() {
        assert_eq!(
            *r,
            2 * x as u64 + 1,
            "{what}: wrong result of spin task {x}"
        );
        spans.push(*span);
    }
    spans.sort_by_key(|s| (s.worker, s.start_ns));
    let gaps: Vec<f64> = spans
        .windows(2)
        .filter(|pair| pair[0].worker == pair[1].worker)
        .map(|pair| pair[1].start_ns.saturating_sub(pair[0].end_ns) as f64 / 1e3)
        .collect();
    let first = spans.iter().map(|s| s.start_ns).min().unwrap_or(t0);
    let last = spans.iter().map(|s| s.end_ns).max().unwrap_or(t1);
    let us = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e3;
    let (gap_mean_us, gap_median_us) = if gaps.is_empty() {
        (0.0, 0.0)
    } else {
        let gaps = Samples::new(gaps);
        let mean = gaps.taken().iter().sum::<f64>() / gaps.len() as f64;
        (mean, gaps.median())
    };
    Burst {
        ms,
        gap_mean_us,
        gap_median_us,
        lead_in_us: us(t0, first),
        tail_us: us(last, t1),
    }
}

fn part_throughput(cfg: &PassConfig, nproc: &str, out: &mut Results) -> f64 {
    let process = process_pool(PROCESSES);
    let threads = peers::stealpool(PROCESSES, Names::Named);
    let theirs = procspawn_pool(PROCESSES);
    let sample = |i: usize| match i {
        0 => burst_process(&process, cfg.tasks),
        1 => burst_threads(&threads, cfg.tasks),
        _ => burst_procspawn(&theirs, cfg.tasks),
    };
    for i in 0..3 {
        sample(i);
    }
    let started = Instant::now();
    let bursts = cfg.rounds(cfg.throughput_rounds).run(3, sample);
    println!(
        "\n== throughput of {} µs tasks: {} rounds ({:.1} s) ==",
        TASK_SPIN.as_micros(),
        cfg.throughput_rounds,
        started.elapsed().as_secs_f64()
    );
    process.shutdown();
    Pool::Stealpool(threads).shutdown();
    theirs.shutdown();
    let of = |i: usize, f: fn(&Burst) -> f64| Samples::new(bursts[i].iter().map(f).collect());
    let samples: Vec<Samples> = (0..3).map(|i| of(i, |b| b.ms)).collect();
    let ratio = paired_ratio(&samples[0], &samples[1]);

    let ideal = cfg.tasks as f64 * TASK_SPIN.as_secs_f64() * 1e3 / PROCESSES as f64;
    println!(
        "\n## Throughput of {} µs tasks ({PROCESSES} worker processes or threads per pool; nproc = {nproc})\n",
        TASK_SPIN.as_micros()
    );
    println!(
        "{} tasks of {} µs busy work each (a spin on `Instant`), all spawned at once from the main thread, then all joined; time from just before the first spawn until the last join returns ({} ms of work per worker: the best time possible). Medians of {} rounds (pools interleaved, rotating order). The ratio is the median over rounds of this row's time / the thread pool's in the same round. The breakdown comes from each task's start and end (`CLOCK_MONOTONIC`, read in the task) and the thread it ran on: a worker's idle gap is the time from the end of one of its tasks to the start of its next (its first task excluded), each burst's mean and median over its tasks, medians over rounds; lead-in is from just before the first spawn to the first task's start, tail from the last task's end to the last join's return.",
        cfg.tasks,
        TASK_SPIN.as_micros(),
        fmt_ms(ideal),
        cfg.throughput_rounds
    );
    quick_note(cfg);
    println!();
    let mut table = Table::new("throughput")
        .left("pool", "pool")
        .right("ms", "time, median (ms)")
        .right("min_ms", "min (ms)")
        .right("max_ms", "max (ms)")
        .right("us_per_task", "µs per task")
        .right("over_thread_pool", "/ thread pool")
        .right("gap_mean_us", "worker idle between tasks, mean (µs)")
        .right("gap_median_us", "median (µs)")
        .right("lead_in_us", "lead-in (µs)")
        .right("tail_us", "tail (µs)");
    for (i, (id, label)) in THROUGHPUT_ROWS.iter().enumerate() {
        let ms = &samples[i];
        let over = if i == 1 {
            Cell::num(1.0, "1.00x (reference)".to_owned())
        } else {
            Cell::ratio(paired_ratio(ms, &samples[1]), 3)
        };
        table.row(
            *id,
            vec![
                Cell::text(*label),
                Cell::ms(ms.median()),
                Cell::ms(ms.min()),
                Cell::ms(ms.max()),
                Cell::fixed(ms.median() * 1e3 / cfg.tasks as f64, 1),
                over,
                Cell::fixed(of(i, |b| b.gap_mean_us).median(), 1),
                Cell::fixed(of(i, |b| b.gap_median_us).median(), 1),
                Cell::fixed(of(i, |b| b.lead_in_us).median(), 0),
                Cell::fixed(of(i, |b| b.tail_us).median(), 0),
            ],
        );
    }
    out.print_table(&table);
    ratio
}

// ---------------------------------------------------------------------------
// Part 3: replacing a crashed worker.
// ---------------------------------------------------------------------------

/// The pools of part 3, both of one process, with what they have seen.
struct CrashPools {
    ours: ProcessPool,
    theirs: procspawn::Pool,
    /// The pid of each pool's process now, learnt from its last tiny task.
    pids: [u32; 2],
    /// The pool went wrong (a hang, an error where a result was due): what happened. It is
    /// not measured any more.
    broken: [Option<String>; 2],
    /// Crashes each pool got through.
    survived: [usize; 2],
    /// The crashed task's error, as each pool reported it, first time.
    errors: [Option<String>; 2],
}

/// A tiny task on pool `p` (0: stealpool, 1: procspawn): its result and pid, or what went
/// wrong.
fn tiny_with_pid(pools: &CrashPools, p: usize, x: u64) -> Result<(u64, u32), String> {
    match p {
        0 => pools
            .ours
            .spawn(x, plus_one_and_pid)
            .join()
            .map_err(|e| format!("the tiny task failed: {e}")),
        _ => {
            let mut handle = pools.theirs.spawn(x, plus_one_and_pid);
            handle
                .join_timeout(JOIN_LIMIT)
                .map_err(|e| format!("the tiny task failed: {e}"))
        }
    }
}

/// One crash, then the tiny task behind it; ms until its result is in, or what went wrong.
fn crash_once(pools: &mut CrashPools, p: usize) -> Result<f64, String> {
    let x = black_box(41);
    let (crashed, next, ms) = match p {
        0 => {
            let start = Instant::now();
            let crash = pools.ours.spawn((), abort_task);
            let next = pools.ours.spawn(x, plus_one_and_pid);
            let crashed = crash.join();
            let next = next.join();
            let ms = start.elapsed().as_secs_f64() * 1e3;
            let crashed = match crashed {
                Err(e) if e.is_crash() => Ok(e.to_string()),
                Err(e) => Err(format!("the crashed task failed, but not as a crash: {e}")),
                Ok(v) => Err(format!("the crashed task returned {v}")),
            };
            (crashed, next.map_err(|e| e.to_string()), ms)
        }
        _ => {
            let start = Instant::now();
            let mut crash = pools.theirs.spawn((), abort_task);
            let mut next = pools.theirs.spawn(x, plus_one_and_pid);
            let crashed = crash.join_timeout(JOIN_LIMIT);
            let next = next.join_timeout(JOIN_LIMIT);
            let ms = start.elapsed().as_secs_f64() * 1e3;
            let crashed = match crashed {
                Err(e) if e.is_timeout() => Err(format!(
                    "the crashed task's handle did not resolve within {JOIN_LIMIT:?}"
                )),
                Err(e) => Ok(e.to_string()),
                Ok(v) => Err(format!("the crashed task returned {v}")),
            };
            let next = next.map_err(|e| {
                if e.is_timeout() {
                    format!("no result within {JOIN_LIMIT:?}")
                } else {
                    format!("failed: {e}")
                }
            });
            (crashed, next, ms)
        }
    };
    let error = crashed?;
    pools.errors[p].get_or_insert(error);
    let (value, pid) = next.map_err(|e| format!("the task behind the crash: {e}"))?;
    if value != x + 1 {
        return Err(format!("the task behind the crash returned {value}"));
    }
    if pid == pools.pids[p] {
        return Err(format!(
            "the task behind the crash ran in the crashed process's pid {pid}"
        ));
    }
    pools.pids[p] = pid;
    pools.survived[p] += 1;
    Ok(ms)
}

/// `n` tiny tasks in a row on pool `p`, each checked to run in the same process; ms per task.
fn round_trips_with_pid(pools: &CrashPools, p: usize, n: u64) -> Result<f64, String> {
    let start = Instant::now();
    for x in 0..n {
        let (value, pid) = tiny_with_pid(pools, p, black_box(x))?;
        if value != x + 1 || pid != pools.pids[p] {
            return Err(format!(
                "tiny task {x}: got {value} from pid {pid}, expected {} from pid {}",
                x + 1,
                pools.pids[p]
            ));
        }
    }
    Ok(start.elapsed().as_secs_f64() * 1e3 / n as f64)
}

/// The variants of part 3 in table order: (pool, crash or round trip).
const CRASH_ROWS: [(usize, bool); 4] = [(0, true), (0, false), (1, true), (1, false)];

fn part_crash(cfg: &PassConfig, nproc: &str, out: &mut Results) {
    let ours = ProcessPool::builder()
        .processes(1)
        .restart_intensity(100_000, Duration::from_secs(1))
        .build()
        .unwrap_or_else(|err| panic!("failed to build the process pool: {err}"));
    let theirs = procspawn_pool(1);
    let mut pools = CrashPools {
        ours,
        theirs,
        pids: [0; 2],
        broken: [None, None],
        survived: [0; 2],
        errors: [None, None],
    };
    for p in 0..2 {
        let (_, pid) = tiny_with_pid(&pools, p, 0).expect("the first tiny task failed");
        pools.pids[p] = pid;
    }
    let mut sample = |i: usize| -> Option<f64> {
        let (p, crash) = CRASH_ROWS[i];
        if pools.broken[p].is_some() {
            return None;
        }
        let got = if crash {
            crash_once(&mut pools, p)
        } else {
            round_trips_with_pid(&pools, p, cfg.crash_round_trips)
        };
        got.map_err(|why| pools.broken[p] = Some(why)).ok()
    };
    for i in 0..CRASH_ROWS.len() {
        sample(i);
    }
    let started = Instant::now();
    let samples = cfg.rounds(cfg.rounds).run(CRASH_ROWS.len(), sample);
    println!(
        "\n== replacing a crashed worker: {} rounds ({:.1} s) ==",
        cfg.rounds,
        started.elapsed().as_secs_f64()
    );
    let metrics = pools.ours.metrics();
    assert_eq!(
        metrics.crashes(),
        pools.survived[0] as u64,
        "stealpool counted other crashes than the bench caused"
    );
    assert_eq!(metrics.workers_replaced(), pools.survived[0] as u64);
    pools.ours.shutdown();
    pools.theirs.shutdown();

    println!("\n## Replacing a crashed worker (pools of 1 worker process; nproc = {nproc})\n");
    println!(
        "Crash + next: spawn a task that calls `std::process::abort()` and right behind it a tiny task (argument + 1, and its pid); time from just before the first spawn until the tiny task's result is in, checked to come from a new process. Round trip: {} tiny tasks in a row, ms per task, for scale. Medians of {} rounds after one untimed run of each variant (rotating order); a pool that went wrong is not measured again. stealpool's pool: `restart_intensity(100_000, 1 s)`.",
        cfg.crash_round_trips, cfg.rounds
    );
    quick_note(cfg);
    println!();
    let mut table = Table::new("crash")
        .left("pool", "pool")
        .left("what", "what")
        .right("median_ms", "median (ms)")
        .right("min_ms", "min (ms)")
        .right("max_ms", "max (ms)")
        .right("samples", "samples")
        .left("next_task", "the task behind the crash");
    for (i, &(p, crash)) in CRASH_ROWS.iter().enumerate() {
        let (name, pool) = if p == 0 {
            ("stealpool", "stealpool `ProcessPool`, 1 process")
        } else {
            ("procspawn", "procspawn `Pool`, 1 process")
        };
        let taken: Vec<f64> = samples[i].iter().flatten().copied().collect();
        let figures = if taken.is_empty() {
            vec![Cell::none("n/a"), Cell::none("n/a"), Cell::none("n/a")]
        } else {
            let ms = Samples::new(taken.clone());
            vec![
                Cell::ms(ms.median()),
                Cell::ms(ms.min()),
                Cell::ms(ms.max()),
            ]
        };
        let next = match (&pools.broken[p], crash) {
            (None, true) => Cell::text(format!(
                "its result, from a new process, after each of {} crashes",
                pools.survived[p]
            )),
            (Some(why), true) => {
                Cell::text(format!("broken after {} crashes: {why}", pools.survived[p]))
            }
            (_, false) => Cell::none(""),
        };
        let mut cells = vec![
            Cell::text(pool),
            Cell::text(if crash {
                "crash + next task's result"
            } else {
                "tiny round trip"
            }),
        ];
        cells.extend(figures);
        cells.push(Cell::count(taken.len()));
        cells.push(next);
        let id = format!("{name}_{}", if crash { "crash" } else { "round_trip" });
        table.row(id, cells);
    }
    out.print_table(&table);
    println!();
    let mut errors = Json::object();
    for (p, name) in ["stealpool", "procspawn"].iter().enumerate() {
        let error = pools.errors[p].as_deref().unwrap_or("(none seen)");
        println!("- {name}: the crashed task's error: {error}");
        errors.set(name, error);
    }
    out.extra("crash_errors", errors);
}

// ---------------------------------------------------------------------------
// Part 4: codec.
// ---------------------------------------------------------------------------

/// The struct payload: a few numbers and a short string, as a task's arguments might be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Job {
    id: u64,
    x: f64,
    y: f64,
    flags: u32,
    name: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Codec {
    Postcard,
    BincodeStandard,
    BincodeLegacy,
}

impl Codec {
    const ALL: [Codec; 3] = [
        Codec::Postcard,
        Codec::BincodeStandard,
        Codec::BincodeLegacy,
    ];

    fn id(self) -> &'static str {
        match self {
            Codec::Postcard => "postcard",
            Codec::BincodeStandard => "bincode_standard",
            Codec::BincodeLegacy => "bincode_legacy",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Codec::Postcard => "postcard 1 (`to_stdvec` / `from_bytes`)",
            Codec::BincodeStandard => "bincode 2, `standard()` (varints)",
            Codec::BincodeLegacy => "bincode 2, `legacy()` (fixed-width)",
        }
    }

    fn encode<T: Serialize>(self, value: &T) -> Vec<u8> {
        match self {
            Codec::Postcard => postcard::to_stdvec(value).expect("postcard encodes"),
            Codec::BincodeStandard => {
                bincode::serde::encode_to_vec(value, bincode::config::standard())
                    .expect("bincode encodes")
            }
            Codec::BincodeLegacy => bincode::serde::encode_to_vec(value, bincode::config::legacy())
                .expect("bincode encodes"),
        }
    }

    fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> T {
        match self {
            Codec::Postcard => postcard::from_bytes(bytes).expect("postcard decodes"),
            Codec::BincodeStandard => {
                bincode::serde::decode_from_slice(bytes, bincode::config::standard())
                    .expect("bincode decodes")
                    .0
            }
            Codec::BincodeLegacy => {
                bincode::serde::decode_from_slice(bytes, bincode::config::legacy())
                    .expect("bincode decodes")
                    .0
            }
        }
    }
}

/// One codec sample: ns per encode, ns per decode, encoded bytes.
#[derive(Clone, Copy)]
struct CodecSample {
    encode_ns: f64,
    decode_ns: f64,
    bytes: usize,
}

/// Encodes `value` `iters` times, then decodes it `iters` times; checks the decoded value.
fn codec_sample<T>(codec: Codec, value: &T, iters: u32) -> CodecSample
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let start = Instant::now();
    for _ in 0..iters {
        black_box(codec.encode(black_box(value)));
    }
    let encode_ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(iters);
    let bytes = codec.encode(value);
    let mut last: Option<T> = None;
    let start = Instant::now();
    for _ in 0..iters {
        last = Some(black_box(codec.decode(black_box(&bytes))));
    }
    let decode_ns = start.elapsed().as_secs_f64() * 1e9 / f64::from(iters);
    assert!(
        last.as_ref() == Some(value),
        "{}: the payload did not decode to itself",
        codec.id()
    );
    CodecSample {
        encode_ns,
        decode_ns,
        bytes: bytes.len(),
    }
}

/// The payloads: (id, description, batch size in full mode, the sample function).
type Payload = (
    &'static str,
    String,
    u32,
    Box<dyn Fn(Codec, u32) -> CodecSample>,
);

fn payloads() -> Vec<Payload> {
    let number = 1_000_000_007u64;
    let job = Job {
        id: 123_456,
        x: 0.25,
        y: -1234.5678,
        flags: 7,
        name: "frame-000123.png".to_owned(),
    };
    let longs: Vec<u64> = (0..1_000u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 64))
        .collect();
    let bytes: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 31 + 7) as u8).collect();
    vec![
        (
            "u64",
            format!("`u64` ({number})"),
            50_000,
            Box::new(move |c, n| codec_sample(c, &number, n)),
        ),
        (
            "struct",
            "struct: `u64`, 2 `f64`, `u32`, 16-char `String`".to_owned(),
            20_000,
            Box::new(move |c, n| codec_sample(c, &job, n)),
        ),
        (
            "vec_u64",
            "`Vec<u64>` of 1 000, all bit lengths".to_owned(),
            500,
            Box::new(move |c, n| codec_sample(c, &longs, n)),
        ),
        (
            "vec_u8",
            "`Vec<u8>` of 64 KiB".to_owned(),
            20,
            Box::new(move |c, n| codec_sample(c, &bytes, n)),
        ),
    ]
}

fn part_codec(cfg: &PassConfig, out: &mut Results) {
    let payloads = payloads();
    let mut table = Table::new("codec")
        .left("payload", "payload")
        .left("codec", "codec")
        .right("bytes", "encoded bytes")
        .right("encode_ns", "encode (ns)")
        .right("decode_ns", "decode (ns)")
        .right("total_ns", "encode + decode (ns)")
        .right("over_postcard", "/ postcard");
    let started = Instant::now();
    for (id, description, batch, sample) in &payloads {
        let iters = (batch / cfg.codec_divisor).max(1);
        for codec in Codec::ALL {
            sample(codec, iters);
        }
        let samples = cfg
            .rounds(cfg.rounds)
            .run(Codec::ALL.len(), |i| sample(Codec::ALL[i], iters));
        let totals: Vec<Samples> = samples
            .iter()
            .map(|s| Samples::new(s.iter().map(|x| x.encode_ns + x.decode_ns).collect()))
            .collect();
        for (i, codec) in Codec::ALL.iter().enumerate() {
            let encode = Samples::new(samples[i].iter().map(|x| x.encode_ns).collect());
            let decode = Samples::new(samples[i].iter().map(|x| x.decode_ns).collect());
            let over = if i == 0 {
                Cell::num(1.0, "1.00x (reference)".to_owned())
            } else {
                Cell::ratio(paired_ratio(&totals[i], &totals[0]), 2)
            };
            let ns = |x: f64| Cell::num(x, format_ns(x));
            table.row(
                format!("{id}_{}", codec.id()),
                vec![
                    Cell::text(description.as_str()),
                    Cell::text(codec.label()),
                    Cell::count(samples[i][0].bytes),
                    ns(encode.median()),
                    ns(decode.median()),
                    ns(totals[i].median()),
                    over,
                ],
            );
        }
    }
    println!(
        "\n== codec: {} rounds per payload ({:.1} s) ==",
        cfg.rounds,
        started.elapsed().as_secs_f64()
    );
    println!("\n## Codec: postcard (the pool's) beside bincode\n");
    println!(
        "Each sample encodes the payload into a fresh `Vec` a batch of times, then decodes it a batch of times, through serde; ns per operation, medians of {} rounds (codecs interleaved, rotating order). The ratio is the median over rounds of this codec's encode + decode / postcard's in the same round: below 1.00x is faster than postcard.",
        cfg.rounds
    );
    quick_note(cfg);
    println!();
    out.print_table(&table);
}

/// Nanoseconds with about three significant digits.
fn format_ns(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0}")
    } else {
        format!("{ns:.1}")
    }
}

// ---------------------------------------------------------------------------
// main.
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    // In a worker process of either pool, one of these serves tasks and never returns.
    stealpool::process::init();
    procspawn::init();

    let run = Run::from_args("process", PROCESSES);
    // No groups (see the module doc); criterion still reads the command line.
    let criterion = Criterion::default().configure_from_args();

    let written = run.pass("process pass", |out| {
        let cfg = PassConfig::new(run.quick());
        out.config("parts", cfg.parts.clone());
        out.config("processes", PROCESSES);
        out.config("rounds", cfg.rounds);
        out.config("throughput_rounds", cfg.throughput_rounds);
        out.config("round_trips_per_sample", cfg.round_trips);
        out.config("tasks", cfg.tasks);
        out.config("task_us", TASK_SPIN.as_secs_f64() * 1e6);
        out.config("crash_round_trips_per_sample", cfg.crash_round_trips);
        out.config("codec_divisor", cfg.codec_divisor);
        let mut targets = Json::object();
        let mut lines = Vec::new();
        if cfg.runs("round_trip") {
            let ratio = part_round_trip(&cfg, run.nproc(), out);
            let met = ratio <= TARGET_ROUND_TRIP;
            lines.push(format!(
                "- round trip per tiny task: stealpool / procspawn {ratio:.3}x (target <= {TARGET_ROUND_TRIP:.2}x): {}",
                verdict(met)
            ));
            targets.set(
                "round_trip",
                Json::object()
                    .with("stealpool_over_procspawn", ratio)
                    .with("limit", TARGET_ROUND_TRIP)
                    .with("met", met),
            );
        }
        if cfg.runs("throughput") {
            let ratio = part_throughput(&cfg, run.nproc(), out);
            let met = ratio <= TARGET_THROUGHPUT;
            lines.push(format!(
                "- throughput of {} µs tasks: process pool / thread pool {ratio:.3}x (target <= {TARGET_THROUGHPUT:.2}x): {}",
                TASK_SPIN.as_micros(),
                verdict(met)
            ));
            targets.set(
                "throughput",
                Json::object()
                    .with("process_pool_over_thread_pool", ratio)
                    .with("limit", TARGET_THROUGHPUT)
                    .with("met", met),
            );
        }
        if cfg.runs("crash") {
            part_crash(&cfg, run.nproc(), out);
        }
        if cfg.runs("codec") {
            part_codec(&cfg, out);
        }
        if !lines.is_empty() {
            println!("\n### Targets, on this run\n");
            for line in &lines {
                println!("{line}");
            }
        }
        out.extra("targets", targets);
    });

    criterion.final_summary();
    written
}
