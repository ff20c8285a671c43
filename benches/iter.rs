//! Parallel iterators (issue 15): stealpool's `stealpool::prelude` beside rayon's
//! `rayon::prelude`, the same loops written the same way, in one process.
//!
//! Both pools run exactly **2 worker threads** (`WorkerPool::builder().num_threads(2)` and
//! rayon's `ThreadPoolBuilder::new().num_threads(2)`); every parallel run enters its pool with
//! `install` from the main thread, which then only waits. The sequential variant runs the same
//! loop with `std`'s iterators on the main thread, for context. Neither side sets
//! `with_min_len` or any other tuning: stealpool splits a loop only when another worker asks
//! for work (`src/iter/bridge.rs`), rayon splits by its adaptive splitter.
//!
//! Run with `cargo bench --bench iter` (under a minute on 2 cores).
//! `cargo bench --bench iter -- --test` (or `STEALPOOL_BENCH_QUICK=1`) shrinks every size a
//! hundredfold and runs 2 rounds, so that it finishes in seconds once built, with figures that
//! mean nothing.
//!
//! There is no criterion group: the variants are compared within rounds, which criterion
//! does not do. criterion still reads the command line, so `--test`, `--list` and the rest
//! behave as in the other benches.
//!
//! # Workloads
//!
//! The loop bodies are written once (the `loops!` macro) and compiled twice, once against
//! each library's prelude, so both libraries run the same closures:
//!
//! 1. `sum`, fine-grained: `(0..20_000_000u64).into_par_iter().map(|x| x * x % 7).sum()`;
//! 2. `map_collect`, coarse-ish: `v.par_iter().map(|x| x * 3 + 1).collect::<Vec<u64>>()` over
//!    5 000 000 `u64` (the output vector is freed outside the timing);
//! 3. `sort_unstable`: `par_sort_unstable` of 5 000 000 pseudo-random `u64` (seeded
//!    xorshift64); each run sorts a fresh copy of the same input, copied outside the timing;
//! 4. `iter_mut`, fine-grained: `v.par_iter_mut().for_each(|x| *x += 1)` over 1 000 000 `u32`;
//!    a run takes a fraction of a millisecond, so a sample is a batch of 10 runs over the same
//!    vector (reset outside the timing) and the figure is the time per run;
//! 5. `filter_count`, fine-grained:
//!    `(0..1_000_000u64).into_par_iter().filter(|x| x % 3 == 0).count()`, in batches of 10 runs
//!    like 4;
//! 6. `nested`, fine-grained: `(0..1000u64).into_par_iter().map(|i| (0..2000u64)
//!    .into_par_iter().map(|j| (i * j) % 7).sum::<u64>()).sum::<u64>()`.
//!
//! Every result is checked, after its timing, against the sequential result, which is computed
//! once before the rounds (for 4, the vector after a batch of sequential increments).
//!
//! # Rounds
//!
//! Per workload, 15 rounds (quick mode: 2) run every variant (sequential, stealpool, rayon)
//! once, in an order that rotates from round to round; each timed run directly follows an
//! untimed run of the same variant, so its pool is warm and the previous variant's threads
//! have gone quiet.
//!
//! # Output
//!
//! Per workload, each variant's median, min and max as the rounds end; then a Markdown table
//! (`tables.iter`): the medians (ms) of sequential, stealpool and rayon, the median over
//! rounds of the paired ratio stealpool / rayon (each round's stealpool time over the same
//! round's rayon time), its target and verdict, and for scale the ratio a perfect split would
//! give: the median over rounds of (sequential / 2) / rayon, what stealpool / rayon would be if
//! stealpool ran the sequential loop at full speed on both threads with no overhead at all;
//! then one target line per workload. Targets: stealpool / rayon <= 1.05x on the coarse-ish
//! `map_collect` and on the sort, <= 0.70x on the fine-grained ones (`sum`, `iter_mut`,
//! `filter_count`, `nested`). Last, alone (a thread spins through it), the floor of
//! `iter_mut` on this machine: two threads already running, fixed halves, spin-waits
//! ([`iter_mut_floor`]), set against rayon's median from the pass.
//!
//! `iter.json` (in `target/bench-results/`, or in `$STEALPOOL_BENCH_JSON_DIR`; see
//! `benches/common/mod.rs`): row ids `sum`, `map_collect`, `sort_unstable`, `iter_mut`,
//! `filter_count`, `nested`; columns `workload` (its description), `grain` (`fine`,
//! `coarse-ish` or `sort`), `sequential_ms`, `stealpool_ms`, `rayon_ms` (medians per run),
//! `stealpool_over_rayon`, `target_max_stealpool_over_rayon`, `met`,
//! `perfect_split_over_rayon`. `extra.targets.<row id>` repeats the ratio, the limit, the
//! verdict and the perfect split's ratio with each variant's min and max (ms);
//! `extra.iter_mut_floor` the floor's median, min and max (ms) and its ratio to rayon's median;
//! `config` holds the sizes, batches and rounds.
//!
//! The pools, the rotating rounds, the medians and paired ratios, the tables and the JSON file
//! come from the harness in `benches/common/`; this file holds the workloads and what is
//! reported.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use criterion::Criterion;
use stealpool::WorkerPool;

mod common;
use common::json::Json;
use common::peers::{self, Names, Pool};
use common::rounds::{Order, Rounds};
use common::run::{Results, Run};
use common::stats::{Samples, paired, paired_ratio};
use common::table::{Cell, Table, fmt_ms, verdict};

/// Worker threads in both pools.
const THREADS: usize = 2;
/// Seed of the xorshift generator that makes the sort's input.
const SORT_SEED: u64 = 0x2545_F491_4F6C_DD1D;
/// Seed of the input of `map_collect`.
const COLLECT_SEED: u64 = 0x9E37_79B9_7F4A_7C15;
/// Target stealpool / rayon on the coarse-ish workload and the sort, at most.
const TARGET_COARSE: f64 = 1.05;
/// Target stealpool / rayon on the fine-grained workloads, at most.
const TARGET_FINE: f64 = 0.70;

// ---------------------------------------------------------------------------
// The loops, once per library.
// ---------------------------------------------------------------------------

/// The parallel loops, written once and compiled against the prelude named by `$lib`, so that
/// stealpool and rayon run the same source (the two preludes cannot both be in scope: their
/// traits have the same method names).
macro_rules! loops {
    ($module:ident, $($lib:ident)::+) => {
        mod $module {
            use $($lib)::+::*;

            pub fn sum(n: u64) -> u64 {
                (0..n).into_par_iter().map(|x| x * x % 7).sum::<u64>()
            }

            pub fn map_collect(v: &[u64]) -> Vec<u64> {
                v.par_iter().map(|x| x * 3 + 1).collect::<Vec<_>>()
            }

            pub fn sort_unstable(v: &mut [u64]) {
                v.par_sort_unstable();
            }

            pub fn iter_mut(v: &mut [u32]) {
                v.par_iter_mut().for_each(|x| *x += 1);
            }

            pub fn filter_count(n: u64) -> usize {
                (0..n).into_par_iter().filter(|x| x % 3 == 0).count()
            }

            pub fn nested(outer: u64, inner: u64) -> u64 {
                (0..outer)
                    .into_par_iter()
                    .map(|i| (0..inner).into_par_iter().map(|j| (i * j) % 7).sum::<u64>())
                    .sum::<u64>()
            }
        }
    };
}

loops!(sp, stealpool::prelude);
loops!(ry, rayon::prelude);

/// The same loops with `std`'s sequential iterators.
mod seq {
    pub fn sum(n: u64) -> u64 {
        (0..n).map(|x| x * x % 7).sum::<u64>()
    }

    pub fn map_collect(v: &[u64]) -> Vec<u64> {
        v.iter().map(|x| x * 3 + 1).collect::<Vec<_>>()
    }

    pub fn sort_unstable(v: &mut [u64]) {
        v.sort_unstable();
    }

    pub fn iter_mut(v: &mut [u32]) {
        v.iter_mut().for_each(|x| *x += 1);
    }

    pub fn filter_count(n: u64) -> usize {
        (0..n).filter(|x| x % 3 == 0).count()
    }

    pub fn nested(outer: u64, inner: u64) -> u64 {
        (0..outer)
            .map(|i| (0..inner).map(|j| (i * j) % 7).sum::<u64>())
            .sum::<u64>()
    }
}

// ---------------------------------------------------------------------------
// Variants, pools, sizes and data.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Sequential,
    Stealpool,
    Rayon,
}

impl Variant {
    /// Table order.
    const ALL: [Variant; 3] = [Variant::Sequential, Variant::Stealpool, Variant::Rayon];

    fn id(self) -> &'static str {
        match self {
            Variant::Sequential => "sequential",
            Variant::Stealpool => "stealpool",
            Variant::Rayon => "rayon",
        }
    }
}

/// The two pools, alive for the whole run; only one has work at a time.
struct Pools {
    stealpool: WorkerPool,
    rayon: rayon::ThreadPool,
}

impl Pools {
    fn new() -> Pools {
        Pools {
            stealpool: peers::stealpool(THREADS, Names::Named),
            rayon: peers::rayon(THREADS, Names::Named),
        }
    }

    fn shutdown(self) {
        Pool::Stealpool(self.stealpool).shutdown();
        Pool::Rayon(self.rayon).shutdown();
    }

    /// Runs `op` as `variant`: on the main thread, or inside the pool's `install`.
    fn run<R: Send>(&self, variant: Variant, op: impl FnOnce() -> R + Send) -> R {
        match variant {
            Variant::Sequential => op(),
            Variant::Stealpool => self.stealpool.install(op),
            Variant::Rayon => self.rayon.install(op),
        }
    }
}

/// The pass's sizes and rounds.
struct PassConfig {
    quick: bool,
    rounds: usize,
    sum_n: u64,
    collect_len: usize,
    sort_len: usize,
    iter_mut_len: usize,
    filter_n: u64,
    nested_outer: u64,
    nested_inner: u64,
    /// Runs per sample of `iter_mut` and of `filter_count`.
    batch: u32,
}

impl PassConfig {
    fn new(quick: bool) -> PassConfig {
        if quick {
            PassConfig {
                quick,
                rounds: 2,
                sum_n: 200_000,
                collect_len: 50_000,
                sort_len: 50_000,
                iter_mut_len: 10_000,
                filter_n: 10_000,
                nested_outer: 100,
                nested_inner: 200,
                batch: 2,
            }
        } else {
            PassConfig {
                quick,
                rounds: 15,
                sum_n: 20_000_000,
                collect_len: 5_000_000,
                sort_len: 5_000_000,
                iter_mut_len: 1_000_000,
                filter_n: 1_000_000,
                nested_outer: 1_000,
                nested_inner: 2_000,
                batch: 10,
            }
        }
    }
}

/// `len` pseudo-random `u64`s from a xorshift64 generator seeded with `seed`.
fn random_u64s(len: usize, seed: u64) -> Vec<u64> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
        .collect()
}

/// The inputs, and the sequential results every run is checked against (computed once,
/// before the rounds).
struct Data {
    sum: u64,
    collect_input: Vec<u64>,
    collect: Vec<u64>,
    sort_input: Vec<u64>,
    sorted: Vec<u64>,
    iter_mut_input: Vec<u32>,
    /// `iter_mut_input` after a batch of sequential increments.
    iter_mut_batch: Vec<u32>,
    filter_count: usize,
    nested: u64,
}

impl Data {
    fn new(cfg: &PassConfig) -> Data {
        // Small values, so that `x * 3 + 1` cannot overflow.
        let collect_input: Vec<u64> = random_u64s(cfg.collect_len, COLLECT_SEED)
            .into_iter()
            .map(|x| x >> 8)
            .collect();
        let sort_input = random_u64s(cfg.sort_len, SORT_SEED);
        let mut sorted = sort_input.clone();
        seq::sort_unstable(&mut sorted);
        let iter_mut_input: Vec<u32> = (0..cfg.iter_mut_len as u32).collect();
        let mut iter_mut_batch = iter_mut_input.clone();
        for _ in 0..cfg.batch {
            seq::iter_mut(&mut iter_mut_batch);
        }
        Data {
            sum: seq::sum(cfg.sum_n),
            collect: seq::map_collect(&collect_input),
            collect_input,
            sort_input,
            sorted,
            iter_mut_input,
            iter_mut_batch,
            filter_count: seq::filter_count(cfg.filter_n),
            nested: seq::nested(cfg.nested_outer, cfg.nested_inner),
        }
    }
}

// ---------------------------------------------------------------------------
// The workloads.
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    Sum,
    MapCollect,
    SortUnstable,
    IterMut,
    FilterCount,
    Nested,
}

impl Workload {
    /// Table order.
    const ALL: [Workload; 6] = [
        Workload::Sum,
        Workload::MapCollect,
        Workload::SortUnstable,
        Workload::IterMut,
        Workload::FilterCount,
        Workload::Nested,
    ];

    /// Row id in the JSON file.
    fn id(self) -> &'static str {
        match self {
            Workload::Sum => "sum",
            Workload::MapCollect => "map_collect",
            Workload::SortUnstable => "sort_unstable",
            Workload::IterMut => "iter_mut",
            Workload::FilterCount => "filter_count",
            Workload::Nested => "nested",
        }
    }

    /// The workload as the table describes it.
    fn describe(self, cfg: &PassConfig) -> String {
        match self {
            Workload::Sum => format!("1. sum of `x * x % 7` over `0..{}u64`", cfg.sum_n),
            Workload::MapCollect => format!(
                "2. `map` to `x * 3 + 1`, `collect` of {} `u64`",
                cfg.collect_len
            ),
            Workload::SortUnstable => {
                format!("3. `par_sort_unstable` of {} random `u64`", cfg.sort_len)
            }
            Workload::IterMut => format!(
                "4. `par_iter_mut`, `+= 1` on {} `u32` (per run, batches of {})",
                cfg.iter_mut_len, cfg.batch
            ),
            Workload::FilterCount => format!(
                "5. `filter` on `x % 3 == 0`, `count` over `0..{}u64` (per run, batches of {})",
                cfg.filter_n, cfg.batch
            ),
            Workload::Nested => format!(
                "6. nested: {} outer x {} inner, `sum` of `(i * j) % 7`",
                cfg.nested_outer, cfg.nested_inner
            ),
        }
    }

    fn grain(self) -> &'static str {
        match self {
            Workload::MapCollect => "coarse-ish",
            Workload::SortUnstable => "sort",
            _ => "fine",
        }
    }

    /// The most stealpool / rayon may be.
    fn target(self) -> f64 {
        match self {
            Workload::MapCollect | Workload::SortUnstable => TARGET_COARSE,
            _ => TARGET_FINE,
        }
    }

    /// One timed sample of `variant`, in ms per run; the result is checked (and any
    /// copy made or output freed) outside the timing.
    fn sample(self, variant: Variant, pools: &Pools, data: &Data, cfg: &PassConfig) -> f64 {
        let who = variant.id();
        let ms = |start: Instant, runs: u32| start.elapsed().as_secs_f64() * 1e3 / f64::from(runs);
        match self {
            Workload::Sum => {
                let n = black_box(cfg.sum_n);
                let start = Instant::now();
                let result = pools.run(variant, || match variant {
                    Variant::Sequential => seq::sum(n),
                    Variant::Stealpool => sp::sum(n),
                    Variant::Rayon => ry::sum(n),
                });
                let time = ms(start, 1);
                assert_eq!(result, data.sum, "{who}: wrong sum");
                time
            }
            Workload::MapCollect => {
                let v = black_box(data.collect_input.as_slice());
                let start = Instant::now();
                let result = pools.run(variant, || match variant {
                    Variant::Sequential => seq::map_collect(v),
                    Variant::Stealpool => sp::map_collect(v),
                    Variant::Rayon => ry::map_collect(v),
                });
                let time = ms(start, 1);
                assert!(result == data.collect, "{who}: wrong collect");
                drop(result);
                time
            }
            Workload::SortUnstable => {
                let mut v = data.sort_input.clone();
                let slice = black_box(v.as_mut_slice());
                let start = Instant::now();
                pools.run(variant, || match variant {
                    Variant::Sequential => seq::sort_unstable(slice),
                    Variant::Stealpool => sp::sort_unstable(slice),
                    Variant::Rayon => ry::sort_unstable(slice),
                });
                let time = ms(start, 1);
                assert!(v == data.sorted, "{who}: not sorted");
                time
            }
            Workload::IterMut => {
                let mut v = data.iter_mut_input.clone();
                let slice = black_box(v.as_mut_slice());
                let batch = cfg.batch;
                let start = Instant::now();
                for _ in 0..batch {
                    pools.run(variant, || match variant {
                        Variant::Sequential => seq::iter_mut(slice),
                        Variant::Stealpool => sp::iter_mut(slice),
                        Variant::Rayon => ry::iter_mut(slice),
                    });
                }
                let time = ms(start, batch);
                assert!(v == data.iter_mut_batch, "{who}: wrong increments");
                time
            }
            Workload::FilterCount => {
                let n = black_box(cfg.filter_n);
                let batch = cfg.batch;
                let mut counts = Vec::with_capacity(batch as usize);
                let start = Instant::now();
                for _ in 0..batch {
                    counts.push(pools.run(variant, || match variant {
                        Variant::Sequential => seq::filter_count(n),
                        Variant::Stealpool => sp::filter_count(n),
                        Variant::Rayon => ry::filter_count(n),
                    }));
                }
                let time = ms(start, batch);
                assert!(
                    counts.iter().all(|&c| c == data.filter_count),
                    "{who}: wrong count"
                );
                time
            }
            Workload::Nested => {
                let (outer, inner) = (black_box(cfg.nested_outer), black_box(cfg.nested_inner));
                let start = Instant::now();
                let result = pools.run(variant, || match variant {
                    Variant::Sequential => seq::nested(outer, inner),
                    Variant::Stealpool => sp::nested(outer, inner),
                    Variant::Rayon => ry::nested(outer, inner),
                });
                let time = ms(start, 1);
                assert_eq!(result, data.nested, "{who}: wrong nested sum");
                time
            }
        }
    }
}

/// One workload's samples (ms per run), in [`Variant::ALL`] order.
struct Measured {
    workload: Workload,
    samples: Vec<Samples>,
}

impl Measured {
    fn of(&self, variant: Variant) -> &Samples {
        let i = Variant::ALL
            .iter()
            .position(|&v| v == variant)
            .expect("a measured variant");
        &self.samples[i]
    }
}

fn run_pass(pools: &Pools, data: &Data, cfg: &PassConfig) -> Vec<Measured> {
    let rounds = Rounds {
        rounds: cfg.rounds,
        order: Order::Rotating,
        warm_each: true,
    };
    Workload::ALL
        .into_iter()
        .map(|workload| {
            let started = Instant::now();
            let samples = rounds.run(Variant::ALL.len(), |i| {
                workload.sample(Variant::ALL[i], pools, data, cfg)
            });
            println!(
                "\n== {}: {} rounds ({:.1} s) ==",
                workload.describe(cfg),
                cfg.rounds,
                started.elapsed().as_secs_f64()
            );
            let samples: Vec<Samples> = samples.into_iter().map(Samples::new).collect();
            for (variant, ms) in Variant::ALL.iter().zip(&samples) {
                println!(
                    "{:<11} median {:>9} ms   min {:>9} ms   max {:>9} ms",
                    variant.id(),
                    fmt_ms(ms.median()),
                    fmt_ms(ms.min()),
                    fmt_ms(ms.max())
                );
            }
            Measured { workload, samples }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The table and the target lines.
// ---------------------------------------------------------------------------

fn print_results(measured: &[Measured], cfg: &PassConfig, nproc: &str, out: &mut Results) {
    println!(
        "\n## Parallel iterators beside rayon ({THREADS} worker threads per pool; nproc = {nproc})\n"
    );
    println!(
        "Medians of {} rounds per workload (sequential, stealpool and rayon in rotating order, each timed run after an untimed one), ms per run. stealpool / rayon is the median over rounds of the ratio within each round: below 1.00x means stealpool is faster. No `with_min_len` on either side. The last column, for scale, is the stealpool / rayon that the sequential loop split perfectly over {THREADS} threads would give (median over rounds of sequential / {THREADS} / rayon).",
        cfg.rounds
    );
    if cfg.quick {
        println!("QUICK MODE: small sizes, 2 rounds, figures not meaningful.");
    }
    println!();
    let mut table = Table::new("iter")
        .left("workload", "workload")
        .left("grain", "grain")
        .right("sequential_ms", "sequential (ms)")
        .right("stealpool_ms", "stealpool (ms)")
        .right("rayon_ms", "rayon (ms)")
        .right("stealpool_over_rayon", "stealpool / rayon")
        .right("target_max_stealpool_over_rayon", "target")
        .left("met", "verdict")
        .right("perfect_split_over_rayon", "(sequential / 2) / rayon");
    let mut targets = Json::object();
    let mut lines = Vec::new();
    for m in measured {
        let w = m.workload;
        let (ours, rayon, seq) = (
            m.of(Variant::Stealpool),
            m.of(Variant::Rayon),
            m.of(Variant::Sequential),
        );
        let ratio = paired_ratio(ours, rayon);
        let perfect = paired(seq, rayon, |s, r| s / THREADS as f64 / r).median();
        let limit = w.target();
        let met = ratio <= limit;
        table.row(
            w.id(),
            vec![
                Cell::text(w.describe(cfg)),
                Cell::text(w.grain()),
                Cell::ms(seq.median()),
                Cell::ms(ours.median()),
                Cell::ms(rayon.median()),
                Cell::ratio(ratio, 3),
                Cell::num(limit, format!("<= {limit:.2}x")),
                Cell::verdict(met),
                Cell::ratio(perfect, 3),
            ],
        );
        let margin = if met {
            format!("{:.1}% under the limit", (1.0 - ratio / limit) * 100.0)
        } else {
            format!("{:.1}% over the limit", (ratio / limit - 1.0) * 100.0)
        };
        lines.push(format!(
            "- {} ({}): stealpool / rayon = {ratio:.3}x (target <= {limit:.2}x): {} ({margin}); a perfect split of the sequential loop would give {perfect:.3}x; medians stealpool {} ms, rayon {} ms, sequential {} ms",
            w.id(),
            w.grain(),
            verdict(met),
            fmt_ms(ours.median()),
            fmt_ms(rayon.median()),
            fmt_ms(seq.median()),
        ));
        let spread = |s: &Samples| {
            Json::object()
                .with("min_ms", s.min())
                .with("max_ms", s.max())
        };
        targets.set(
            w.id(),
            Json::object()
                .with("stealpool_over_rayon", ratio)
                .with("limit", limit)
                .with("met", met)
                .with("perfect_split_over_rayon", perfect)
                .with("stealpool", spread(ours))
                .with("rayon", spread(rayon))
                .with("sequential", spread(seq)),
        );
    }
    out.print_table(&table);
    println!("\n### Targets, on this run\n");
    for line in lines {
        println!("{line}");
    }
    out.extra("targets", targets);
}

// ---------------------------------------------------------------------------
// The floor of `iter_mut` on this machine.
// ---------------------------------------------------------------------------

/// The fastest a split of `iter_mut` over two threads can be here, whatever the scheduler:
/// a second thread already running and spinning (no wake-up), fixed halves (each core sees
/// the same half every run, the best case for its caches), and a spin-wait for the end. No
/// pool can hand work over for less. The spinning thread holds a core for the whole
/// measurement, so this runs alone, after the pass: its median is set against rayon's median
/// from the pass, not paired round by round.
fn iter_mut_floor(data: &Data, cfg: &PassConfig) -> Samples {
    use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

    struct Shared {
        round: AtomicUsize,
        done: AtomicUsize,
        half: AtomicPtr<u32>,
        len: AtomicUsize,
        stop: AtomicBool,
    }
    let shared = Shared {
        round: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        half: AtomicPtr::new(std::ptr::null_mut()),
        len: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let mut v = data.iter_mut_input.clone();
    let mut samples = Vec::new();
    std::thread::scope(|s| {
        let shared = &shared;
        s.spawn(move || {
            let mut seen = 0;
            while !shared.stop.load(Ordering::Acquire) {
                let round = shared.round.load(Ordering::Acquire);
                if round == seen {
                    std::hint::spin_loop();
                    continue;
                }
                seen = round;
                let (ptr, len) = (
                    shared.half.load(Ordering::Relaxed),
                    shared.len.load(Ordering::Relaxed),
                );
                // SAFETY: the main thread published the second half of its vector before
                // this round and does not touch it until `done` says this round is over.
                let half = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
                seq::iter_mut(half);
                shared.done.store(round, Ordering::Release);
            }
        });
        let rounds = cfg.rounds * 4;
        for _ in 0..rounds {
            let start = Instant::now();
            for _ in 0..cfg.batch {
                let mid = v.len() / 2;
                let (first, second) = v.split_at_mut(mid);
                shared.half.store(second.as_mut_ptr(), Ordering::Relaxed);
                shared.len.store(second.len(), Ordering::Relaxed);
                let round = shared.round.load(Ordering::Relaxed) + 1;
                shared.round.store(round, Ordering::Release);
                seq::iter_mut(first);
                while shared.done.load(Ordering::Acquire) != round {
                    std::hint::spin_loop();
                }
            }
            samples.push(start.elapsed().as_secs_f64() * 1e3 / f64::from(cfg.batch));
        }
        shared.stop.store(true, Ordering::Release);
    });
    let expected_runs = (cfg.rounds * 4) as u32 * cfg.batch;
    assert!(
        v.iter()
            .zip(&data.iter_mut_input)
            .all(|(a, b)| *a == b + expected_runs),
        "the floor's runs added 1 to every element each time"
    );
    Samples::new(samples)
}

fn print_floor(floor: &Samples, measured: &[Measured], out: &mut Results) {
    let Some(m) = measured.iter().find(|m| m.workload == Workload::IterMut) else {
        return;
    };
    let rayon = m.of(Variant::Rayon).median();
    let ratio = floor.median() / rayon;
    println!(
        "
### The floor of `par_iter_mut` here
"
    );
    println!(
        "Two threads already running, fixed halves, spin-waits (see `iter_mut_floor`): median {} ms (min {} ms, max {} ms) over {} samples; / rayon's median in the pass = {ratio:.3}x; the target asks stealpool for <= {TARGET_FINE:.2}x rayon.",
        fmt_ms(floor.median()),
        fmt_ms(floor.min()),
        fmt_ms(floor.max()),
        floor.len(),
    );
    out.extra(
        "iter_mut_floor",
        Json::object()
            .with("median_ms", floor.median())
            .with("min_ms", floor.min())
            .with("max_ms", floor.max())
            .with("over_rayon_median", ratio),
    );
}

// ---------------------------------------------------------------------------
// main.
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let run = Run::from_args("iter", THREADS);
    // No groups (see the module doc); criterion still reads the command line.
    let criterion = Criterion::default().configure_from_args();

    let pools = if run.list_only() {
        None
    } else {
        Some(Pools::new())
    };
    let written = run.pass("iter pass", |out| {
        let pools = pools.as_ref().expect("pools are built unless listing");
        let cfg = PassConfig::new(run.quick());
        out.config("rounds", cfg.rounds);
        out.config("sum_n", cfg.sum_n);
        out.config("collect_len", cfg.collect_len);
        out.config("sort_len", cfg.sort_len);
        out.config("iter_mut_len", cfg.iter_mut_len);
        out.config("filter_n", cfg.filter_n);
        out.config("nested_outer", cfg.nested_outer);
        out.config("nested_inner", cfg.nested_inner);
        out.config("batch", cfg.batch);
        out.config("target_coarse_max", TARGET_COARSE);
        out.config("target_fine_max", TARGET_FINE);
        let started = Instant::now();
        let data = Data::new(&cfg);
        println!(
            "iter: {THREADS} worker threads per pool; nproc = {}; inputs and sequential results ready ({:.1} s)",
            run.nproc(),
            started.elapsed().as_secs_f64()
        );
        let measured = run_pass(pools, &data, &cfg);
        print_results(&measured, &cfg, run.nproc(), out);
        let floor = iter_mut_floor(&data, &cfg);
        print_floor(&floor, &measured, out);
    });

    if let Some(pools) = pools {
        pools.shutdown();
    }
    criterion.final_summary();
    written
}
