//! Fork-join benchmarks: `stealpool::join` against `rayon::join`, chili's
//! `Scope::join`, plain sequential code and (for coarse-grained work) raw
//! `std::thread`s with a static schedule.
//!
//! Every pool runs `T = max(num_cpus::get(), 2)` threads; the figure is
//! printed together with the machine's `nproc`. stealpool and rayon enter
//! their pool with `install` from the main thread, which then only waits, so
//! `T` workers compute. chili runs the root of the recursion on the calling
//! thread, so its pool is configured with `thread_count = T`, which chili
//! counts *including* the caller (`T - 1` worker threads plus the main thread;
//! its heartbeat thread only ticks while a scope is alive). The raw-threads
//! variant spawns `T` scoped threads per run and the main thread waits.
//!
//! Run with `cargo bench --bench fork_join` (about 2.5 minutes on 2 cores).
//! `cargo bench --bench fork_join -- --test` runs every criterion benchmark
//! once and shrinks the interleaved pass, so it finishes in a few seconds
//! once built; `STEALPOOL_BENCH_QUICK=1 cargo bench --bench fork_join` keeps
//! criterion's statistics but with short measurement windows (about 20 s).
//! `cargo test --bench fork_join` is quick mode too, but unoptimised: about a
//! minute.
//!
//! # Workloads
//!
//! Fine-grained, a `join` at every node and no cutoff (sequential, stealpool,
//! rayon, chili):
//!
//! - `fib(30)`, joining at every call down to `n < 2`;
//! - the sum of a balanced binary tree of boxed nodes, built once outside the
//!   timing: 10 levels (1 023 nodes) and 20 levels (1 048 575 nodes). Every
//!   node joins the sums of its two subtrees (leaves join two empty ones).
//!
//! Coarse-grained (sequential, stealpool, rayon, chili, raw threads):
//!
//! - `fib(36)`, joining down to `n > 20`; calls with `n <= 20` run the plain
//!   sequential `fib` (2 584 sequential leaves of `fib(20)` or `fib(19)`);
//! - quicksort of 1 000 000 `u32` from a seeded xorshift generator: partition
//!   around a median-of-3 pivot and join the two sides; slices of at most 2 048
//!   elements are sorted with `sort_unstable`. Each run sorts a fresh copy of
//!   the same input, copied outside the timing (criterion's `iter_batched`).
//!
//! The raw-threads variant runs the same sequential code on the same work,
//! split evenly by a static schedule computed on the main thread (inside the
//! timing): for `fib` the recursion above the cutoff is expanded into its 2 584
//! leaf calls; for quicksort the largest piece is partitioned (sequentially)
//! until there are at least `8 x T` pieces. The pieces go to the `T` threads
//! longest-processing-time first (cost of `fib(n)` taken as `fib(n + 1)`, cost
//! of a slice as its length). Its speedup over sequential is taken as what the
//! machine can deliver, and a pool's *efficiency* is its speedup divided by
//! that one (equivalently `t_raw / t_pool`). This reference is not an upper
//! bound: the quicksort's partitions down to `8 x T` pieces run on one thread
//! (the time they take is printed at the start; on 2 threads that is four
//! passes over the whole array), where a pool runs all but the first in
//! parallel; and on a shared machine a dynamic scheduler can beat the static
//! split when another process takes a core for a while. Efficiencies above
//! 1.00 are possible for both reasons.
//!
//! # Output
//!
//! 1. A check that every variant computes the right result (fib values, tree
//!    sums, a sorted permutation of the input).
//! 2. criterion groups, one per workload: `fib30_fine`, `tree_sum_1k_fine`,
//!    `tree_sum_1m_fine`, `fib36_cutoff20`, `quicksort_1m`.
//! 3. An interleaved pass: per workload, each round runs every variant once,
//!    in an order that rotates from round to round, so a passing disturbance on
//!    the machine is spread over all variants. Each timed run directly follows
//!    an untimed run of the same variant (so pools are warm and the previous
//!    variant's threads have gone quiet). The median of the rounds is kept and
//!    the results are checked after every timed run (outside the timing).
//!    The 1 023-node tree is timed in batches of runs, as one run takes
//!    microseconds. Each run is one entry into the pool (`install`, or a new
//!    chili scope on the calling thread), as in the criterion groups.
//! 4. Markdown tables of the interleaved pass: fine-grained ratios and
//!    coarse-grained speedups and efficiencies, and the target lines. The same
//!    tables, unrounded and keyed by ids (`tables.fine.rows.<workload>.<column>`
//!    and `tables.coarse.rows.<variant>.<workload>_<figure>`, the workloads
//!    named by their criterion groups) and the target lines' figures
//!    (`extra.targets`) go to `fork_join.json`: in `target/bench-results/`, or
//!    in `$STEALPOOL_BENCH_JSON_DIR` (see `benches/common/mod.rs`).
//!
//! The pools, the interleaved rounds, the paired ratios, the tables and the
//! JSON file come from the harness in `benches/common/`; this file holds the
//! workloads, their checks and what is reported.

use std::hint::black_box;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use stealpool::WorkerPool;

mod common;
use common::json::Json;
use common::peers::{self, Names};
use common::rounds::{Order, Rounds};
use common::run::{Results, Run};
use common::stats::{Samples, paired_ratio};
use common::table::{Cell, Table, fmt_ms, verdict};

/// `n` of the fine-grained `fib`.
const FIB_FINE_N: u64 = 30;
/// `n` of the coarse-grained `fib`.
const FIB_COARSE_N: u64 = 36;
/// Coarse `fib`: calls with `n <= FIB_CUTOFF` run [`fib_seq`].
const FIB_CUTOFF: u64 = 20;
/// Levels of the small and the large tree.
const TREE_SMALL_LEVELS: u32 = 10;
const TREE_LARGE_LEVELS: u32 = 20;
/// Elements to sort.
const SORT_LEN: usize = 1_000_000;
/// Slices of at most this many elements are sorted with `sort_unstable`.
const SORT_CUTOFF: usize = 2_048;
/// Seed of the xorshift generator that makes the input of the sort.
const SORT_SEED: u64 = 0x2545_F491_4F6C_DD1D;
/// Raw threads' quicksort: pieces per thread (at least) in the static schedule.
const RAW_PIECES_PER_THREAD: usize = 8;

// ---------------------------------------------------------------------------
// Variants and pools.
// ---------------------------------------------------------------------------

/// One way of running a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Sequential,
    Stealpool,
    Rayon,
    Chili,
    RawThreads,
}

impl Variant {
    /// The variants of the fine-grained workloads, in table order.
    const FINE: [Variant; 4] = [
        Variant::Sequential,
        Variant::Stealpool,
        Variant::Rayon,
        Variant::Chili,
    ];
    /// The variants of the coarse-grained workloads, in table order.
    const COARSE: [Variant; 5] = [
        Variant::Sequential,
        Variant::Stealpool,
        Variant::Rayon,
        Variant::Chili,
        Variant::RawThreads,
    ];

    /// criterion benchmark id.
    fn id(self) -> &'static str {
        match self {
            Variant::Sequential => "sequential",
            Variant::Stealpool => "stealpool",
            Variant::Rayon => "rayon",
            Variant::Chili => "chili",
            Variant::RawThreads => "raw_threads",
        }
    }

    /// Name in the printed results.
    fn label(self) -> &'static str {
        match self {
            Variant::RawThreads => "raw threads",
            other => other.id(),
        }
    }
}

/// The pools under test, built once and shared by all parts of the bench.
struct Pools {
    threads: usize,
    stealpool: WorkerPool,
    rayon: rayon::ThreadPool,
    chili: chili::ThreadPool,
}

impl Pools {
    fn new(threads: usize) -> Pools {
        Pools {
            threads,
            stealpool: peers::stealpool(threads, Names::Default),
            rayon: peers::rayon(threads, Names::Default),
            chili: peers::chili(threads),
        }
    }
}

// ---------------------------------------------------------------------------
// fib.
// ---------------------------------------------------------------------------

/// Plain sequential `fib`: the baseline and the leaves of the coarse versions.
fn fib_seq(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

/// `fib(n)` by iteration, for checking results and for the cost model.
fn fib_value(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

fn fib_stealpool(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = stealpool::join(|| fib_stealpool(n - 1), || fib_stealpool(n - 2));
    a + b
}

fn fib_rayon(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn fib_chili(s: &mut chili::Scope<'_>, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = s.join(|s| fib_chili(s, n - 1), |s| fib_chili(s, n - 2));
    a + b
}

fn fib_cutoff_stealpool(n: u64) -> u64 {
    if n <= FIB_CUTOFF {
        return fib_seq(n);
    }
    let (a, b) = stealpool::join(
        || fib_cutoff_stealpool(n - 1),
        || fib_cutoff_stealpool(n - 2),
    );
    a + b
}

fn fib_cutoff_rayon(n: u64) -> u64 {
    if n <= FIB_CUTOFF {
        return fib_seq(n);
    }
    let (a, b) = rayon::join(|| fib_cutoff_rayon(n - 1), || fib_cutoff_rayon(n - 2));
    a + b
}

fn fib_cutoff_chili(s: &mut chili::Scope<'_>, n: u64) -> u64 {
    if n <= FIB_CUTOFF {
        return fib_seq(n);
    }
    let (a, b) = s.join(
        |s| fib_cutoff_chili(s, n - 1),
        |s| fib_cutoff_chili(s, n - 2),
    );
    a + b
}

/// The leaf calls of the coarse `fib(n)`: the recursion above the cutoff,
/// expanded on the calling thread.
fn fib_leaves(n: u64) -> Vec<u64> {
    let mut pending = vec![n];
    let mut leaves = Vec::new();
    while let Some(m) = pending.pop() {
        if m <= FIB_CUTOFF {
            leaves.push(m);
        } else {
            pending.push(m - 1);
            pending.push(m - 2);
        }
    }
    leaves
}

/// Coarse `fib(n)` on `threads` raw threads with a static schedule.
fn fib_cutoff_raw(n: u64, threads: usize) -> u64 {
    let pieces = fib_leaves(n)
        .into_iter()
        .map(|m| (fib_value(m + 1), m))
        .collect();
    let schedule = lpt_schedule(pieces, threads);
    thread::scope(|s| {
        let handles: Vec<_> = schedule
            .into_iter()
            .map(|(_, leaves)| s.spawn(move || leaves.into_iter().map(fib_seq).sum::<u64>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a raw fib thread panicked"))
            .sum()
    })
}

fn fib_fine(pools: &Pools, variant: Variant, n: u64) -> u64 {
    match variant {
        Variant::Sequential => fib_seq(n),
        Variant::Stealpool => pools.stealpool.install(|| fib_stealpool(n)),
        Variant::Rayon => pools.rayon.install(|| fib_rayon(n)),
        Variant::Chili => fib_chili(&mut pools.chili.scope(), n),
        Variant::RawThreads => unreachable!("fine-grained workloads have no raw-threads variant"),
    }
}

fn fib_coarse(pools: &Pools, variant: Variant, n: u64) -> u64 {
    match variant {
        Variant::Sequential => fib_seq(n),
        Variant::Stealpool => pools.stealpool.install(|| fib_cutoff_stealpool(n)),
        Variant::Rayon => pools.rayon.install(|| fib_cutoff_rayon(n)),
        Variant::Chili => fib_cutoff_chili(&mut pools.chili.scope(), n),
        Variant::RawThreads => fib_cutoff_raw(n, pools.threads),
    }
}

// ---------------------------------------------------------------------------
// Tree sum.
// ---------------------------------------------------------------------------

struct Node {
    val: u64,
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

impl Node {
    /// A balanced tree with `levels` levels (`2^levels - 1` nodes), with the
    /// values `0, 1, 2, ...` in allocation order.
    ///
    /// The nodes are allocated level by level, leaves first, each level left
    /// to right. In that layout a left-first traversal (sequential, stealpool
    /// and rayon run the first closure first) and a right-first one (chili
    /// runs the second closure first and shares the first) see mirror-image
    /// address patterns. A depth-first allocation order would favour one of
    /// the two orders, because one of them then streams through memory while
    /// the other jumps around: on the 2-core test machine the sequential
    /// 20-level sum took about 3 ms in one order and about 25 ms in the other.
    fn tree(levels: u32) -> Node {
        assert!(levels >= 1, "a tree has at least one level");
        let mut next_val = 0u64;
        let mut node = |left, right| {
            let val = next_val;
            next_val += 1;
            Box::new(Node { val, left, right })
        };
        let mut level: Vec<Box<Node>> = (0..1u64 << (levels - 1))
            .map(|_| node(None, None))
            .collect();
        while level.len() > 1 {
            let mut children = level.into_iter();
            let mut parents = Vec::with_capacity(children.len() / 2);
            while let (Some(left), Some(right)) = (children.next(), children.next()) {
                parents.push(node(Some(left), Some(right)));
            }
            level = parents;
        }
        *level.pop().expect("the root")
    }
}

/// Number of nodes in a tree of `levels` levels.
fn tree_nodes(levels: u32) -> u64 {
    (1u64 << levels) - 1
}

/// The sum of a tree of `levels` levels (its values are `0..nodes`).
fn tree_expected_sum(levels: u32) -> u64 {
    let nodes = tree_nodes(levels);
    nodes * (nodes - 1) / 2
}

fn sum_seq(node: &Node) -> u64 {
    let left = node.left.as_deref().map_or(0, sum_seq);
    let right = node.right.as_deref().map_or(0, sum_seq);
    node.val + left + right
}

fn sum_stealpool(node: &Node) -> u64 {
    let (left, right) = stealpool::join(
        || node.left.as_deref().map_or(0, sum_stealpool),
        || node.right.as_deref().map_or(0, sum_stealpool),
    );
    node.val + left + right
}

fn sum_rayon(node: &Node) -> u64 {
    let (left, right) = rayon::join(
        || node.left.as_deref().map_or(0, sum_rayon),
        || node.right.as_deref().map_or(0, sum_rayon),
    );
    node.val + left + right
}

fn sum_chili(s: &mut chili::Scope<'_>, node: &Node) -> u64 {
    let (left, right) = s.join(
        |s| node.left.as_deref().map_or(0, |n| sum_chili(s, n)),
        |s| node.right.as_deref().map_or(0, |n| sum_chili(s, n)),
    );
    node.val + left + right
}

fn tree_sum(pools: &Pools, variant: Variant, tree: &Node) -> u64 {
    match variant {
        Variant::Sequential => sum_seq(tree),
        Variant::Stealpool => pools.stealpool.install(|| sum_stealpool(tree)),
        Variant::Rayon => pools.rayon.install(|| sum_rayon(tree)),
        Variant::Chili => sum_chili(&mut pools.chili.scope(), tree),
        Variant::RawThreads => unreachable!("fine-grained workloads have no raw-threads variant"),
    }
}

// ---------------------------------------------------------------------------
// Quicksort.
// ---------------------------------------------------------------------------

/// `len` pseudo-random `u32`s from a xorshift64 generator seeded with `seed`.
fn random_u32s(len: usize, seed: u64) -> Vec<u32> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 32) as u32
        })
        .collect()
}

/// Partitions `v` (at least 3 elements) around the median of its first,
/// middle and last elements and returns the two sides, without the pivot:
/// everything in the first is `< pivot`, everything in the second `>= pivot`.
fn partition(v: &mut [u32]) -> (&mut [u32], &mut [u32]) {
    let last = v.len() - 1;
    let mid = v.len() / 2;
    // Order v[0] <= v[mid] <= v[last], then move the median to the end.
    if v[mid] < v[0] {
        v.swap(mid, 0);
    }
    if v[last] < v[0] {
        v.swap(last, 0);
    }
    if v[last] < v[mid] {
        v.swap(last, mid);
    }
    v.swap(mid, last);
    let pivot = v[last];
    // Lomuto without branches: v[..store] < pivot <= v[store..i].
    let mut store = 0;
    for i in 0..last {
        let x = v[i];
        v.swap(i, store);
        store += usize::from(x < pivot);
    }
    v.swap(store, last);
    let (left, rest) = v.split_at_mut(store);
    (left, &mut rest[1..])
}

fn quicksort_seq(v: &mut [u32]) {
    if v.len() <= SORT_CUTOFF {
        v.sort_unstable();
        return;
    }
    let (left, right) = partition(v);
    quicksort_seq(left);
    quicksort_seq(right);
}

fn quicksort_stealpool(v: &mut [u32]) {
    if v.len() <= SORT_CUTOFF {
        v.sort_unstable();
        return;
    }
    let (left, right) = partition(v);
    stealpool::join(|| quicksort_stealpool(left), || quicksort_stealpool(right));
}

fn quicksort_rayon(v: &mut [u32]) {
    if v.len() <= SORT_CUTOFF {
        v.sort_unstable();
        return;
    }
    let (left, right) = partition(v);
    rayon::join(|| quicksort_rayon(left), || quicksort_rayon(right));
}

fn quicksort_chili(s: &mut chili::Scope<'_>, v: &mut [u32]) {
    if v.len() <= SORT_CUTOFF {
        v.sort_unstable();
        return;
    }
    let (left, right) = partition(v);
    s.join(|s| quicksort_chili(s, left), |s| quicksort_chili(s, right));
}

/// Raw threads' quicksort, first step: partitions the largest piece until
/// there are at least `min_pieces` (or every piece is at most the cutoff).
fn quicksort_pieces(v: &mut [u32], min_pieces: usize) -> Vec<&mut [u32]> {
    let mut pieces = vec![v];
    while pieces.len() < min_pieces {
        let largest = (0..pieces.len())
            .max_by_key(|&i| pieces[i].len())
            .expect("there is always a piece");
        if pieces[largest].len() <= SORT_CUTOFF {
            break;
        }
        let piece = pieces.swap_remove(largest);
        let (left, right) = partition(piece);
        pieces.push(left);
        pieces.push(right);
    }
    pieces
}

/// Quicksort on `threads` raw threads with a static schedule.
fn quicksort_raw(v: &mut [u32], threads: usize) {
    let pieces = quicksort_pieces(v, RAW_PIECES_PER_THREAD * threads)
        .into_iter()
        .map(|piece| (piece.len() as u64, piece))
        .collect();
    let schedule = lpt_schedule(pieces, threads);
    thread::scope(|s| {
        for (_, pieces) in schedule {
            s.spawn(move || {
                for piece in pieces {
                    quicksort_seq(piece);
                }
            });
        }
    });
}

fn quicksort(pools: &Pools, variant: Variant, v: &mut [u32]) {
    match variant {
        Variant::Sequential => quicksort_seq(v),
        Variant::Stealpool => pools.stealpool.install(|| quicksort_stealpool(v)),
        Variant::Rayon => pools.rayon.install(|| quicksort_rayon(v)),
        Variant::Chili => quicksort_chili(&mut pools.chili.scope(), v),
        Variant::RawThreads => quicksort_raw(v, pools.threads),
    }
}

// ---------------------------------------------------------------------------
// Static schedule for the raw threads.
// ---------------------------------------------------------------------------

/// Longest-processing-time-first: hands the `(cost, piece)` pairs, largest
/// cost first, each to the thread with the least work so far. Returns each
/// thread's total cost and pieces.
fn lpt_schedule<P>(mut pieces: Vec<(u64, P)>, threads: usize) -> Vec<(u64, Vec<P>)> {
    pieces.sort_by_key(|piece| std::cmp::Reverse(piece.0));
    let mut bins: Vec<(u64, Vec<P>)> = (0..threads).map(|_| (0, Vec::new())).collect();
    for (cost, piece) in pieces {
        let bin = bins
            .iter_mut()
            .min_by_key(|bin| bin.0)
            .expect("at least one thread");
        bin.0 += cost;
        bin.1.push(piece);
    }
    bins
}

/// Describes a static schedule: piece count and the heaviest thread's load
/// relative to a perfectly even split.
fn describe_schedule(pieces: Vec<u64>, threads: usize) -> String {
    let count = pieces.len();
    let schedule = lpt_schedule(pieces.into_iter().map(|c| (c, ())).collect(), threads);
    let total: u64 = schedule.iter().map(|bin| bin.0).sum();
    let heaviest = schedule.iter().map(|bin| bin.0).max().unwrap_or(0);
    let imbalance = heaviest as f64 * threads as f64 / total.max(1) as f64;
    format!("{count} pieces, heaviest thread / even share = {imbalance:.4}")
}

// ---------------------------------------------------------------------------
// Inputs and the correctness check.
// ---------------------------------------------------------------------------

/// Inputs, built once outside all timing.
struct Data {
    tree_small: Node,
    tree_large: Node,
    unsorted: Vec<u32>,
    sorted: Vec<u32>,
}

impl Data {
    fn new() -> Data {
        let unsorted = random_u32s(SORT_LEN, SORT_SEED);
        let mut sorted = unsorted.clone();
        sorted.sort_unstable();
        Data {
            tree_small: Node::tree(TREE_SMALL_LEVELS),
            tree_large: Node::tree(TREE_LARGE_LEVELS),
            unsorted,
            sorted,
        }
    }
}

/// Runs every variant of every workload once and checks its result.
fn verify_all(pools: &Pools, data: &Data) {
    for variant in Variant::FINE {
        let who = variant.label();
        assert_eq!(
            fib_fine(pools, variant, FIB_FINE_N),
            fib_value(FIB_FINE_N),
            "{who}: fine fib"
        );
        assert_eq!(
            tree_sum(pools, variant, &data.tree_small),
            tree_expected_sum(TREE_SMALL_LEVELS),
            "{who}: small tree"
        );
        assert_eq!(
            tree_sum(pools, variant, &data.tree_large),
            tree_expected_sum(TREE_LARGE_LEVELS),
            "{who}: large tree"
        );
    }
    for variant in Variant::COARSE {
        let who = variant.label();
        assert_eq!(
            fib_coarse(pools, variant, FIB_COARSE_N),
            fib_value(FIB_COARSE_N),
            "{who}: coarse fib"
        );
        let mut v = data.unsorted.clone();
        quicksort(pools, variant, &mut v);
        assert!(v == data.sorted, "{who}: quicksort gave a wrong result");
    }
}

// ---------------------------------------------------------------------------
// Part 2: criterion groups.
// ---------------------------------------------------------------------------

/// Sample counts and windows of the criterion groups.
struct CriterionConfig {
    /// Samples for workloads of milliseconds per run.
    samples_ms: usize,
    /// Samples for the microsecond-scale small tree.
    samples_us: usize,
    warm_up: Duration,
    measurement: Duration,
    /// Measurement window of the slowest (coarse) groups.
    measurement_coarse: Duration,
}

impl CriterionConfig {
    fn new(quick: bool) -> Self {
        if quick {
            CriterionConfig {
                samples_ms: 10,
                samples_us: 10,
                warm_up: Duration::from_millis(100),
                measurement: Duration::from_millis(300),
                measurement_coarse: Duration::from_millis(300),
            }
        } else {
            CriterionConfig {
                samples_ms: 20,
                samples_us: 40,
                warm_up: Duration::from_secs(1),
                measurement: Duration::from_secs(3),
                measurement_coarse: Duration::from_secs(4),
            }
        }
    }
}

fn configure(
    group: &mut BenchmarkGroup<'_, WallTime>,
    cfg: &CriterionConfig,
    flat: bool,
    coarse: bool,
) {
    group.warm_up_time(cfg.warm_up).measurement_time(if coarse {
        cfg.measurement_coarse
    } else {
        cfg.measurement
    });
    if flat {
        // Runs of milliseconds: few iterations per sample, all samples alike.
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(cfg.samples_ms);
    } else {
        group.sample_size(cfg.samples_us);
    }
}

fn bench_criterion(c: &mut Criterion, pools: &Pools, data: &Data, cfg: &CriterionConfig) {
    let mut group = c.benchmark_group("fib30_fine");
    configure(&mut group, cfg, true, false);
    for variant in Variant::FINE {
        group.bench_function(variant.id(), |b| {
            b.iter(|| fib_fine(pools, variant, black_box(FIB_FINE_N)));
        });
    }
    group.finish();

    for (name, tree, flat) in [
        ("tree_sum_1k_fine", &data.tree_small, false),
        ("tree_sum_1m_fine", &data.tree_large, true),
    ] {
        let mut group = c.benchmark_group(name);
        configure(&mut group, cfg, flat, false);
        for variant in Variant::FINE {
            group.bench_function(variant.id(), |b| {
                b.iter(|| tree_sum(pools, variant, black_box(tree)));
            });
        }
        group.finish();
    }

    let mut group = c.benchmark_group("fib36_cutoff20");
    configure(&mut group, cfg, true, true);
    for variant in Variant::COARSE {
        group.bench_function(variant.id(), |b| {
            b.iter(|| fib_coarse(pools, variant, black_box(FIB_COARSE_N)));
        });
    }
    group.finish();

    let mut group = c.benchmark_group("quicksort_1m");
    configure(&mut group, cfg, true, true);
    for variant in Variant::COARSE {
        group.bench_function(variant.id(), |b| {
            // The copy is made, and the sorted vector freed, outside the timing.
            b.iter_batched(
                || data.unsorted.clone(),
                |mut v| {
                    quicksort(pools, variant, &mut v);
                    v
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------
// Part 3: the interleaved pass.
// ---------------------------------------------------------------------------

/// How much of the interleaved pass to run.
struct PassConfig {
    quick: bool,
    rounds: usize,
    /// Runs of the small tree per timed sample.
    small_tree_batch: u32,
}

impl PassConfig {
    fn new(quick: bool) -> Self {
        PassConfig {
            quick,
            rounds: if quick { 3 } else { 31 },
            small_tree_batch: if quick { 100 } else { 1_000 },
        }
    }
}

/// One workload of the pass: its criterion group name (its id in the JSON file) and its
/// name in the printed results.
struct Workload {
    id: &'static str,
    name: String,
}

/// Runs `rounds` rounds; in round `r` the variants run in `variants` order
/// rotated by `r`. `run` performs one run of a variant, checks its result and
/// returns the time of the part that counts; each timed run follows an
/// untimed one. Prints and returns the samples (ms) in `variants` order.
fn interleave(
    title: &str,
    variants: &[Variant],
    rounds: usize,
    mut run: impl FnMut(Variant) -> Duration,
) -> Vec<Samples> {
    let schedule = Rounds {
        rounds,
        order: Order::Rotating,
        warm_each: true,
    };
    let samples = schedule.run(variants.len(), |i| run(variants[i]).as_secs_f64() * 1e3);
    println!("\n== {title}: median of {rounds} interleaved rounds ==");
    variants
        .iter()
        .zip(samples)
        .map(|(variant, ms)| {
            let ms = Samples::new(ms);
            println!(
                "{:<12} median {:>10} ms   min {:>10} ms   max {:>10} ms",
                variant.label(),
                fmt_ms(ms.median()),
                fmt_ms(ms.min()),
                fmt_ms(ms.max())
            );
            ms
        })
        .collect()
}

/// Times `f`, which returns a result to check afterwards.
fn timed<R>(f: impl FnOnce() -> R) -> (Duration, R) {
    let start = Instant::now();
    let result = f();
    (start.elapsed(), result)
}

/// Results of the interleaved pass: per workload, each variant's samples in the order of
/// [`Variant::FINE`] or [`Variant::COARSE`].
struct PassResults {
    fine: Vec<(Workload, Vec<Samples>)>,
    coarse: Vec<(Workload, Vec<Samples>)>,
}

fn run_pass(pools: &Pools, data: &Data, cfg: &PassConfig) -> PassResults {
    let rounds = cfg.rounds;

    let fib_fine = interleave(
        &format!("fib({FIB_FINE_N}), join at every call"),
        &Variant::FINE,
        rounds,
        |variant| {
            let (time, result) = timed(|| fib_fine(pools, variant, black_box(FIB_FINE_N)));
            assert_eq!(result, fib_value(FIB_FINE_N), "{}", variant.label());
            time
        },
    );

    let batch = cfg.small_tree_batch;
    let small_expected = tree_expected_sum(TREE_SMALL_LEVELS);
    let tree_small = interleave(
        &format!(
            "tree sum, {} nodes, join at every node (time per run, batches of {batch})",
            tree_nodes(TREE_SMALL_LEVELS)
        ),
        &Variant::FINE,
        rounds,
        |variant| {
            let (time, wrong) = timed(|| {
                (0..batch)
                    .filter(|_| {
                        tree_sum(pools, variant, black_box(&data.tree_small)) != small_expected
                    })
                    .count()
            });
            assert_eq!(wrong, 0, "{}: wrong small-tree sums", variant.label());
            time / batch
        },
    );

    let tree_large = interleave(
        &format!(
            "tree sum, {} nodes, join at every node",
            tree_nodes(TREE_LARGE_LEVELS)
        ),
        &Variant::FINE,
        rounds,
        |variant| {
            let (time, result) = timed(|| tree_sum(pools, variant, black_box(&data.tree_large)));
            assert_eq!(
                result,
                tree_expected_sum(TREE_LARGE_LEVELS),
                "{}",
                variant.label()
            );
            time
        },
    );

    let fib_coarse = interleave(
        &format!("fib({FIB_COARSE_N}), sequential at n <= {FIB_CUTOFF}"),
        &Variant::COARSE,
        rounds,
        |variant| {
            let (time, result) = timed(|| fib_coarse(pools, variant, black_box(FIB_COARSE_N)));
            assert_eq!(result, fib_value(FIB_COARSE_N), "{}", variant.label());
            time
        },
    );

    let quicksort = interleave(
        &format!("quicksort of {SORT_LEN} u32, sort_unstable at <= {SORT_CUTOFF}"),
        &Variant::COARSE,
        rounds,
        |variant| {
            let mut v = data.unsorted.clone();
            let (time, ()) = timed(|| quicksort(pools, variant, &mut v));
            assert!(v == data.sorted, "{}: not sorted", variant.label());
            time
        },
    );

    let workload = |id, name| Workload { id, name };
    PassResults {
        fine: vec![
            (
                workload("fib30_fine", format!("fib({FIB_FINE_N})")),
                fib_fine,
            ),
            (
                workload(
                    "tree_sum_1k_fine",
                    format!("tree sum, {} nodes", tree_nodes(TREE_SMALL_LEVELS)),
                ),
                tree_small,
            ),
            (
                workload(
                    "tree_sum_1m_fine",
                    format!("tree sum, {} nodes", tree_nodes(TREE_LARGE_LEVELS)),
                ),
                tree_large,
            ),
        ],
        coarse: vec![
            (
                workload(
                    "fib36_cutoff20",
                    format!("fib({FIB_COARSE_N}), cutoff n <= {FIB_CUTOFF}"),
                ),
                fib_coarse,
            ),
            (
                workload(
                    "quicksort_1m",
                    format!("quicksort {SORT_LEN} u32, cutoff {SORT_CUTOFF}"),
                ),
                quicksort,
            ),
        ],
    }
}

// ---------------------------------------------------------------------------
// Part 4: tables.
// ---------------------------------------------------------------------------

/// The samples of `variant` in `stats`, which are in `variants` order.
fn of<'a>(variants: &[Variant], stats: &'a [Samples], variant: Variant) -> &'a Samples {
    let i = variants
        .iter()
        .position(|&v| v == variant)
        .expect("variant measured");
    &stats[i]
}

fn print_tables(
    threads: usize,
    nproc: &str,
    results: &PassResults,
    cfg: &PassConfig,
    out: &mut Results,
) {
    let fine = &Variant::FINE;
    let coarse = &Variant::COARSE;
    let t = threads;

    println!("\n## stealpool fork-join vs. peers ({t} threads per pool; nproc = {nproc})\n");
    println!(
        "Medians of {} interleaved rounds (each round runs every variant once, in rotating order).",
        cfg.rounds
    );
    if cfg.quick {
        println!("QUICK MODE: few rounds, figures not meaningful.");
    }

    println!("\n### Fine-grained: a join at every node, no cutoff\n");
    println!(
        "Times are medians over rounds; ratios are stealpool / peer, the median over rounds of the ratio within each round: below 1.00x means stealpool is faster. stealpool / sequential is the cost of the parallel version against plain sequential code on {t} threads.\n"
    );
    let mut table = Table::new("fine").left("workload", "workload");
    for variant in Variant::FINE {
        table = table.right(
            &format!("{}_ms", variant.id()),
            format!("{} (ms)", variant.label()),
        );
    }
    let ratio_peers = [Variant::Rayon, Variant::Chili, Variant::Sequential];
    for peer in ratio_peers {
        table = table.right(
            &format!("stealpool_over_{}", peer.id()),
            format!("stealpool / {}", peer.label()),
        );
    }
    for (workload, stats) in &results.fine {
        let ours = of(fine, stats, Variant::Stealpool);
        let mut cells = vec![Cell::text(workload.name.as_str())];
        for variant in Variant::FINE {
            cells.push(Cell::ms(of(fine, stats, variant).median()));
        }
        for peer in ratio_peers {
            cells.push(Cell::ratio(paired_ratio(ours, of(fine, stats, peer)), 2));
        }
        table.row(workload.id, cells);
    }
    out.print_table(&table);

    println!("\n### Coarse-grained: sequential below a cutoff\n");
    println!(
        "speedup = t_sequential / t_variant; efficiency = speedup / raw threads' speedup (= t_raw / t_variant), where raw threads run the same sequential code on {t} std::threads with a static longest-processing-time-first split. Both are medians over rounds of the ratio within each round.\n"
    );
    let mut table = Table::new("coarse").left("variant", "variant");
    for (workload, _) in &results.coarse {
        let (id, name) = (workload.id, &workload.name);
        table = table
            .right(&format!("{id}_ms"), format!("{name}: ms"))
            .right(&format!("{id}_speedup"), format!("{name}: speedup"))
            .right(&format!("{id}_efficiency"), format!("{name}: efficiency"));
    }
    for variant in Variant::COARSE {
        let mut cells = vec![Cell::text(variant.label())];
        for (_, stats) in &results.coarse {
            let of = |v| of(coarse, stats, v);
            let speedup = paired_ratio(of(Variant::Sequential), of(variant));
            let efficiency = match variant {
                Variant::Sequential => Cell::none("-"),
                Variant::RawThreads => Cell::num(1.0, "1.00 (reference)".to_owned()),
                _ => Cell::fixed(paired_ratio(of(Variant::RawThreads), of(variant)), 3),
            };
            cells.extend([
                Cell::ms(of(variant).median()),
                Cell::ratio(speedup, 2),
                efficiency,
            ]);
        }
        table.row(variant.id(), cells);
    }
    out.print_table(&table);

    println!("\n### Targets, on this run\n");
    let mut targets = Json::object();
    for (workload, stats) in &results.fine {
        let of = |v| of(fine, stats, v);
        let ratio = paired_ratio(of(Variant::Stealpool), of(Variant::Rayon));
        let chili = paired_ratio(of(Variant::Stealpool), of(Variant::Chili));
        println!(
            "- fine, {}: stealpool / rayon = {ratio:.2}x (target <= 1.00x): {}; stealpool / chili = {chili:.2}x (target: near 1.00x)",
            workload.name,
            verdict(ratio <= 1.0),
        );
        targets.set(
            workload.id,
            Json::object()
                .with("stealpool_over_rayon", ratio)
                .with("stealpool_over_rayon_met", ratio <= 1.0)
                .with("stealpool_over_chili", chili),
        );
    }
    for (workload, stats) in &results.coarse {
        let of = |v| of(coarse, stats, v);
        let ours = paired_ratio(of(Variant::RawThreads), of(Variant::Stealpool));
        let rayon = paired_ratio(of(Variant::RawThreads), of(Variant::Rayon));
        // Paired: stealpool's time over rayon's within each round.
        let versus_rayon = paired_ratio(of(Variant::Stealpool), of(Variant::Rayon));
        println!(
            "- coarse, {}: stealpool efficiency {ours:.3} (target >= 0.97): {}; rayon's {rayon:.3}, stealpool / rayon time {versus_rayon:.3}x (target: stealpool not below rayon): {}",
            workload.name,
            verdict(ours >= 0.97),
            verdict(versus_rayon <= 1.0)
        );
        targets.set(
            workload.id,
            Json::object()
                .with("stealpool_efficiency", ours)
                .with("stealpool_efficiency_met", ours >= 0.97)
                .with("rayon_efficiency", rayon)
                .with("stealpool_over_rayon", versus_rayon)
                .with("stealpool_over_rayon_met", versus_rayon <= 1.0),
        );
    }
    out.extra("targets", targets);
}

// ---------------------------------------------------------------------------
// main.
// ---------------------------------------------------------------------------

fn main() -> ExitCode {
    let cpus = num_cpus::get();
    let threads = cpus.max(2);
    let run = Run::from_args("fork_join", threads);
    let nproc = run.nproc();
    let pools = Pools::new(threads);
    let data = Data::new();

    if !run.list_only() {
        println!(
            "fork_join: {threads} threads per pool (num_cpus::get() = {cpus}, at least 2); nproc = {nproc}"
        );
        println!(
            "raw threads' static schedule, fib({FIB_COARSE_N}): {}",
            describe_schedule(
                fib_leaves(FIB_COARSE_N)
                    .into_iter()
                    .map(|m| fib_value(m + 1))
                    .collect(),
                threads
            )
        );
        let mut v = data.unsorted.clone();
        let (expansion, pieces) =
            timed(|| quicksort_pieces(&mut v, RAW_PIECES_PER_THREAD * threads));
        let pieces = pieces.iter().map(|p| p.len() as u64).collect();
        println!(
            "raw threads' static schedule, quicksort: {}; the sequential partitioning that makes the pieces took {} ms (one run)",
            describe_schedule(pieces, threads),
            fmt_ms(expansion.as_secs_f64() * 1e3)
        );
        let started = Instant::now();
        verify_all(&pools, &data);
        println!(
            "all variants give the right results ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }

    let mut criterion = Criterion::default().configure_from_args();
    bench_criterion(
        &mut criterion,
        &pools,
        &data,
        &CriterionConfig::new(run.quick()),
    );

    let written = run.pass("interleaved pass", |out| {
        let cfg = PassConfig::new(run.quick());
        out.config("num_cpus", cpus);
        out.config("rounds", cfg.rounds);
        out.config("small_tree_batch", cfg.small_tree_batch);
        let results = run_pass(&pools, &data, &cfg);
        print_tables(threads, nproc, &results, &cfg, out);
    });

    criterion.final_summary();
    written
}
