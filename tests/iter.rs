//! The parallel iterators (issue 15) against the sequential `std` results.
//!
//! Property tests (proptest) of every adapter and consumer on random inputs, empty, one item
//! and odd lengths included; each property runs on a 1-thread pool, on a 2-thread pool (both
//! through `pool.install`) and off every pool (on the global pool, which this binary builds
//! with 2 threads named `itg-*`). Then the sorts' stability, ranges of every integer type,
//! nesting, panics, and where the pieces run (pool, worker index, priority lane, `isolate`).
//!
//! Splitting happens only when another worker asks (see `src/iter/bridge.rs`), so a small
//! loop on a quiet pool may never be split. The closures under test call [`Spread::touch`],
//! which slows the items down a little while only one worker has run any, so that the loops
//! of the 2-thread pool are usually split and the combining of pieces is tested too;
//! `a_loop_is_split_between_two_workers` checks that this really happens.

mod common;

use std::collections::HashMap;
use std::fmt::Debug;
use std::num::Wrapping;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Once};
use std::time::{Duration, Instant};

use common::{
    DropCounter, assert_on_pool, expect_panic, guard, join_within, location, named_pool,
    panic_message,
};
use proptest::prelude::*;
use proptest::test_runner::Config;
use stealpool::prelude::*;
use stealpool::{Priority, WorkerPool};

// ---- Where the properties run -----------------------------------------------------------

/// A 1-thread and a 2-thread pool, shared by the properties.
static POOLS: LazyLock<[WorkerPool; 2]> =
    LazyLock::new(|| [named_pool(1, "it1-"), named_pool(2, "it2-")]);

static GLOBAL: Once = Once::new();

/// Builds the global pool (2 threads named `itg-*`) before any test of this binary uses it,
/// so that "off every pool" means a known pool.
fn global() {
    GLOBAL.call_once(|| {
        WorkerPool::builder()
            .num_threads(2)
            .thread_name(|i| format!("itg-{i}"))
            .build_global()
            .expect("no test builds the global pool before this");
    });
}

/// Runs `run` on the 1-thread pool, on the 2-thread pool and off every pool, and checks that
/// each gives `expected` (computed sequentially by the caller).
fn check<R: PartialEq + Debug + Send>(expected: R, run: impl Fn() -> R + Sync) {
    global();
    for pool in POOLS.iter() {
        let got = pool.install(&run);
        assert_eq!(
            got,
            expected,
            "on a {}-thread pool (left: parallel, right: sequential)",
            pool.num_threads()
        );
    }
    assert_eq!(
        run(),
        expected,
        "off every pool (left: parallel, right: sequential)"
    );
}

/// Proptest settings: `cases` cases, and no regression files (this suite owns no directory
/// to put them in; a failure prints its minimal input).
fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// How long an item spins while only one worker of a multi-worker pool has run any.
const SPIN_PER_ITEM: Duration = Duration::from_micros(20);
/// The most one loop spends spinning in all (keeps a loop that is never split cheap).
const SPIN_BUDGET: Duration = Duration::from_millis(5);

/// Makes a split likely without changing any result: see the file's doc.
struct Spread {
    seen: AtomicU64,
    spun_ns: AtomicU64,
}

impl Spread {
    fn new() -> Self {
        Spread {
            seen: AtomicU64::new(0),
            spun_ns: AtomicU64::new(0),
        }
    }

    /// Records the worker that runs this item; while no other worker has run one (on a pool
    /// with two or more), spins up to [`SPIN_PER_ITEM`], within [`SPIN_BUDGET`].
    fn touch(&self) {
        let Some(index) = stealpool::current_thread_index() else {
            return;
        };
        let bit = 1u64 << (index % 64);
        if (self.seen.fetch_or(bit, Ordering::Relaxed) | bit).count_ones() >= 2
            || stealpool::current_num_threads() < 2
            || self.spun_ns.load(Ordering::Relaxed) >= SPIN_BUDGET.as_nanos() as u64
        {
            return;
        }
        let start = Instant::now();
        while start.elapsed() < SPIN_PER_ITEM && self.workers() < 2 {
            std::hint::spin_loop();
        }
        self.spun_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// How many workers ran items.
    fn workers(&self) -> u32 {
        self.seen.load(Ordering::Relaxed).count_ones()
    }
}

// ---- Inputs -----------------------------------------------------------------------------

/// Lengths: a third tiny (0, 1, 2), a third short, a third up to a few thousand.
fn lens(max: usize) -> impl Strategy<Value = usize> {
    prop_oneof![0..=2usize, 3..64usize, 64..max]
}

/// Integers small enough that sums of a few thousand do not overflow, with repeats.
fn ints() -> impl Strategy<Value = Vec<i64>> {
    lens(3000).prop_flat_map(|n| prop::collection::vec(-1000i64..1000, n))
}

/// Lengths for the sorts: also past the sequential cutoff (4096 items), where they split.
fn sort_lens() -> impl Strategy<Value = usize> {
    prop_oneof![0..=2usize, 3..4096usize, 4097..20_000usize]
}

/// Integers to sort, with many repeats.
fn sort_ints() -> impl Strategy<Value = Vec<i32>> {
    sort_lens().prop_flat_map(|n| prop::collection::vec(-500i32..500, n))
}

/// Sort keys with many repeats (for stability).
fn sort_keys() -> impl Strategy<Value = Vec<u8>> {
    sort_lens().prop_flat_map(|n| prop::collection::vec(0u8..16, n))
}

/// Ragged 2-D inputs for nested loops: up to 60 rows of up to 60 items.
fn matrices() -> impl Strategy<Value = Vec<Vec<i64>>> {
    prop::collection::vec(prop::collection::vec(-1000i64..1000, 0..60), 0..60)
}

/// An item ordered by its key only, carrying its original position: for stability checks.
#[derive(Clone, Copy, Debug)]
struct Keyed {
    key: u8,
    pos: usize,
}

impl PartialEq for Keyed {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Keyed {}
impl PartialOrd for Keyed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Keyed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

/// `keys` with their positions.
fn keyed(keys: &[u8]) -> Vec<Keyed> {
    keys.iter()
        .enumerate()
        .map(|(pos, &key)| Keyed { key, pos })
        .collect()
}

/// Both fields, for comparing what `Keyed`'s `==` ignores.
fn fields(v: &[Keyed]) -> Vec<(u8, usize)> {
    v.iter().map(|k| (k.key, k.pos)).collect()
}

// ---- Adapters ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn map_collect(xs in ints()) {
        let expected: Vec<i64> = xs.iter().map(|&x| x * 3 - 1).collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .map(|&x| {
                    s.touch();
                    x * 3 - 1
                })
                .collect::<Vec<_>>()
        });
    }

    #[test]
    fn filter_collect_keeps_order(xs in ints(), m in 1i64..5) {
        let expected: Vec<i64> = xs.iter().copied().filter(|x| x % m == 0).collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .filter(|&&x| {
                    s.touch();
                    x % m == 0
                })
                .copied()
                .collect::<Vec<_>>()
        });
    }

    #[test]
    fn filter_map_collect_keeps_order(xs in ints()) {
        let f = |x: i64| (x % 3 != 0).then(|| x.to_string());
        let expected: Vec<String> = xs.iter().filter_map(|&x| f(x)).collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .filter_map(|&x| {
                    s.touch();
                    f(x)
                })
                .collect::<Vec<_>>()
        });
    }

    #[test]
    fn flat_map_iter_collect_keeps_order(xs in ints()) {
        let f = |x: i64| (0..x.rem_euclid(4)).map(move |k| x * 10 + k);
        let expected: Vec<i64> = xs.iter().flat_map(|&x| f(x)).collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .flat_map_iter(|&x| {
                    s.touch();
                    f(x)
                })
                .collect::<Vec<_>>()
        });
    }

    #[test]
    fn enumerate_collect(xs in ints()) {
        let expected: Vec<(usize, i64)> = xs.iter().map(|&x| x - 7).enumerate().collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .map(|&x| {
                    s.touch();
                    x - 7
                })
                .enumerate()
                .collect::<Vec<_>>()
        });
        // enumerate before a filter: the indices are the source's.
        let expected: Vec<(usize, i64)> = xs
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, x)| x % 2 == 0)
            .collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .copied()
                .enumerate()
                .filter(|(_, x)| {
                    s.touch();
                    x % 2 == 0
                })
                .collect::<Vec<_>>()
        });
    }

    #[test]
    fn zip_collect_and_len(xs in ints(), ys in ints()) {
        let expected: Vec<(i64, i64)> = xs.iter().copied().zip(ys.iter().copied()).collect();
        check(expected.clone(), || {
            let s = Spread::new();
            xs.par_iter()
                .zip(&ys)
                .map(|(&a, &b)| {
                    s.touch();
                    (a, b)
                })
                .collect::<Vec<_>>()
        });
        check(expected.len(), || xs.par_iter().zip(ys.par_iter()).len());
        // With a range, then enumerated: indices, range items and slice items line up.
        let n = ys.len() as u32;
        let expected: Vec<(usize, (i64, u32))> = xs.iter().copied().zip(0..n).enumerate().collect();
        check(expected, || {
            xs.par_iter()
                .copied()
                .zip(0..n)
                .enumerate()
                .collect::<Vec<_>>()
        });
    }

    #[test]
    fn copied_and_cloned(xs in ints()) {
        let expected: Vec<i64> = xs.clone();
        check(expected, || xs.par_iter().copied().collect::<Vec<_>>());
        let strings: Vec<String> = xs.iter().map(|x| format!("s{x}")).collect();
        check(strings.clone(), || {
            strings.par_iter().cloned().collect::<Vec<String>>()
        });
        let sum: i64 = xs.iter().sum();
        check(sum, || xs.par_iter().copied().sum::<i64>());
    }

    #[test]
    fn inspect_sees_every_item_and_passes_it_on(xs in ints()) {
        let expected = (xs.clone(), xs.len(), xs.iter().sum::<i64>());
        check(expected, || {
            let seen = AtomicUsize::new(0);
            let total = AtomicU64::new(0);
            let s = Spread::new();
            let out: Vec<i64> = xs
                .par_iter()
                .copied()
                .inspect(|&x| {
                    s.touch();
                    seen.fetch_add(1, Ordering::Relaxed);
                    total.fetch_add(x as u64, Ordering::Relaxed);
                })
                .collect();
            (out, seen.into_inner(), total.into_inner() as i64)
        });
    }

    #[test]
    fn with_min_len_changes_no_result(xs in ints(), min in 0usize..200) {
        let expected: Vec<i64> = xs.iter().map(|x| x * 2).collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .with_min_len(min)
                .map(|x| {
                    s.touch();
                    x * 2
                })
                .collect::<Vec<_>>()
        });
        let sum: i64 = xs.iter().sum();
        check(sum, || {
            xs.par_iter().copied().with_min_len(min).sum::<i64>()
        });
    }

    #[test]
    fn chunks_and_chunks_mut(xs in ints(), k in 1usize..50) {
        let expected: Vec<i64> = xs.chunks(k).map(|c| c.iter().sum()).collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_chunks(k)
                .map(|c| {
                    s.touch();
                    c.iter().sum::<i64>()
                })
                .collect::<Vec<_>>()
        });
        check(xs.chunks(k).len(), || xs.par_chunks(k).len());
        let mut expected = xs.clone();
        for (i, c) in expected.chunks_mut(k).enumerate() {
            for x in c {
                *x = *x * 2 + i as i64;
            }
        }
        check(expected, || {
            let mut v = xs.clone();
            let s = Spread::new();
            v.par_chunks_mut(k).enumerate().for_each(|(i, c)| {
                s.touch();
                for x in c {
                    *x = *x * 2 + i as i64;
                }
            });
            v
        });
    }

    #[test]
    fn owned_vec_sources(xs in ints()) {
        let strings: Vec<String> = xs.iter().map(|x| x.to_string()).collect();
        let expected: Vec<usize> = strings.iter().map(String::len).collect();
        check(expected, || {
            strings
                .clone()
                .into_par_iter()
                .map(|s| s.len())
                .collect::<Vec<_>>()
        });
        let expected: Vec<String> = strings
            .iter()
            .filter(|s| s.starts_with('-'))
            .cloned()
            .collect();
        check(expected, || {
            let sp = Spread::new();
            strings
                .clone()
                .into_par_iter()
                .filter_map(|s| {
                    sp.touch();
                    s.starts_with('-').then_some(s)
                })
                .collect::<Vec<_>>()
        });
    }
}

// ---- Consumers --------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn for_each_and_par_iter_mut(xs in ints()) {
        // Every item exactly once: the multiset of what for_each saw.
        let mut expected = xs.clone();
        expected.sort_unstable();
        check(expected, || {
            let seen = Mutex::new(Vec::new());
            let s = Spread::new();
            xs.par_iter().for_each(|&x| {
                s.touch();
                seen.lock().unwrap().push(x)
            });
            let mut seen = seen.into_inner().unwrap();
            seen.sort_unstable();
            seen
        });
        let expected: Vec<i64> = xs.iter().map(|x| x * x - 1).collect();
        check(expected, || {
            let mut v = xs.clone();
            let s = Spread::new();
            v.par_iter_mut().for_each(|x| {
                s.touch();
                *x = *x * *x - 1
            });
            v
        });
    }

    #[test]
    fn sum_and_product(xs in ints()) {
        let sum: i64 = xs.iter().sum();
        check(sum, || xs.par_iter().sum::<i64>());
        check(sum, || {
            let s = Spread::new();
            xs.par_iter()
                .map(|&x| {
                    s.touch();
                    x
                })
                .sum::<i64>()
        });
        let product: Wrapping<u64> = xs.iter().map(|&x| Wrapping(x as u64 | 1)).product();
        check(product, || {
            let s = Spread::new();
            xs.par_iter()
                .map(|&x| {
                    s.touch();
                    Wrapping(x as u64 | 1)
                })
                .product::<Wrapping<u64>>()
        });
        let signs: i64 = xs.iter().map(|&x| if x < 0 { -1 } else { 1 }).product();
        check(signs, || {
            xs.par_iter()
                .map(|&x| if x < 0 { -1i64 } else { 1 })
                .product::<i64>()
        });
    }

    #[test]
    fn count(xs in ints()) {
        check(xs.len(), || xs.par_iter().count());
        let odd = xs.iter().filter(|x| *x % 2 != 0).count();
        check(odd, || {
            let s = Spread::new();
            xs.par_iter()
                .filter(|x| {
                    s.touch();
                    *x % 2 != 0
                })
                .count()
        });
    }

    #[test]
    fn reduce_keeps_order(xs in ints()) {
        // Concatenation is associative but not commutative: a reordering shows.
        check(xs.clone(), || {
            let s = Spread::new();
            xs.par_iter()
                .map(|&x| {
                    s.touch();
                    vec![x]
                })
                .reduce(Vec::new, |mut a, b| {
                    a.extend(b);
                    a
                })
        });
        let max = xs.iter().copied().fold(i64::MIN, i64::max);
        check(max, || xs.par_iter().copied().reduce(|| i64::MIN, i64::max));
    }

    #[test]
    fn fold_then_sum_reduce_collect(xs in ints()) {
        let sum: i64 = xs.iter().sum();
        check(sum, || {
            let s = Spread::new();
            xs.par_iter()
                .fold(
                    || 0i64,
                    |acc, &x| {
                        s.touch();
                        acc + x
                    },
                )
                .sum::<i64>()
        });
        check(xs.clone(), || {
            let s = Spread::new();
            xs.par_iter()
                .fold(Vec::new, |mut v, &x| {
                    s.touch();
                    v.push(x);
                    v
                })
                .reduce(Vec::new, |mut a, b| {
                    a.extend(b);
                    a
                })
        });
        check(xs.clone(), || {
            let s = Spread::new();
            xs.par_iter()
                .fold(Vec::new, |mut v, &x| {
                    s.touch();
                    v.push(x);
                    v
                })
                .collect::<Vec<Vec<i64>>>()
                .concat()
        });
    }

    #[test]
    fn min_max_and_by_key_pick_first_and_last_of_equals(xs in ints()) {
        check(xs.iter().min().copied(), || xs.par_iter().copied().min());
        check(xs.iter().max().copied(), || xs.par_iter().copied().max());
        // Ties: `min` and `min_by_key` keep the first of equal items, `max` and
        // `max_by_key` the last, as std's do.
        let key = |x: &i64| x.rem_euclid(7);
        let expected = xs.iter().copied().enumerate().min_by_key(|(_, x)| key(x));
        check(expected, || {
            let s = Spread::new();
            xs.par_iter().copied().enumerate().min_by_key(|(_, x)| {
                s.touch();
                key(x)
            })
        });
        let expected = xs.iter().copied().enumerate().max_by_key(|(_, x)| key(x));
        check(expected, || {
            let s = Spread::new();
            xs.par_iter().copied().enumerate().max_by_key(|(_, x)| {
                s.touch();
                key(x)
            })
        });
        let keys: Vec<u8> = xs.iter().map(|x| x.rem_euclid(5) as u8).collect();
        let items = keyed(&keys);
        let expected = items.iter().copied().min().map(|k| (k.key, k.pos));
        check(expected, || {
            items.par_iter().copied().min().map(|k| (k.key, k.pos))
        });
        let expected = items.iter().copied().max().map(|k| (k.key, k.pos));
        check(expected, || {
            items.par_iter().copied().max().map(|k| (k.key, k.pos))
        });
    }

    #[test]
    fn any_all_find_any(xs in ints(), target in -1000i64..1000) {
        check(xs.contains(&target), || {
            let s = Spread::new();
            xs.par_iter().any(|&x| {
                s.touch();
                x == target
            })
        });
        check(xs.iter().all(|&x| x > target), || {
            xs.par_iter().all(|&x| x > target)
        });
        let pred = |x: i64| x.rem_euclid(97) == target.rem_euclid(97);
        check(xs.iter().any(|&x| pred(x)), || {
            let s = Spread::new();
            let hit = xs.par_iter().find_any(|&&x| {
                s.touch();
                pred(x)
            });
            if let Some(hit) = hit {
                assert!(
                    pred(*hit),
                    "find_any returned {hit}, for which the predicate is false"
                );
                assert!(
                    xs.as_ptr_range().contains(&(hit as *const i64)),
                    "find_any returned a reference outside the slice"
                );
            }
            hit.is_some()
        });
    }

    #[test]
    fn collect_hash_map_later_items_win(xs in ints()) {
        let pairs = |(i, &x): (usize, &i64)| (x.rem_euclid(50), i);
        let expected: HashMap<i64, usize> = xs.iter().enumerate().map(pairs).collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .enumerate()
                .map(|p| {
                    s.touch();
                    pairs(p)
                })
                .collect::<HashMap<_, _>>()
        });
    }

    #[test]
    fn collect_string(xs in ints()) {
        let ch = |x: i64| char::from(b'a' + x.rem_euclid(26) as u8);
        let expected: String = xs.iter().map(|&x| ch(x)).collect();
        check(expected, || {
            let s = Spread::new();
            xs.par_iter()
                .map(|&x| {
                    s.touch();
                    ch(x)
                })
                .collect::<String>()
        });
        let expected: String = xs.iter().map(|x| format!("{x},")).collect();
        check(expected, || {
            xs.par_iter().map(|x| format!("{x},")).collect::<String>()
        });
        let words: Vec<&str> = xs
            .iter()
            .map(|x| if x % 2 == 0 { "ab" } else { "c" })
            .collect();
        let expected: String = words.concat();
        check(expected, || words.par_iter().copied().collect::<String>());
    }

    #[test]
    fn nested_par_iter_2d(rows in matrices()) {
        let sum: i64 = rows.iter().map(|r| r.iter().sum::<i64>()).sum();
        check(sum, || {
            rows.par_iter()
                .map(|r| r.par_iter().sum::<i64>())
                .sum::<i64>()
        });
        let expected: Vec<Vec<i64>> = rows
            .iter()
            .map(|r| r.iter().map(|x| x * 2).collect())
            .collect();
        check(expected, || {
            let s = Spread::new();
            rows.par_iter()
                .map(|r| {
                    r.par_iter()
                        .map(|x| {
                            s.touch();
                            x * 2
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        });
    }
}

// ---- Sorts ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(16))]

    #[test]
    fn par_sort_and_par_sort_unstable_sort(xs in sort_ints()) {
        let mut expected = xs.clone();
        expected.sort();
        check(expected.clone(), || {
            let mut v = xs.clone();
            v.par_sort();
            v
        });
        // For plain integers the sorted order is unique: equal to std's means sorted and a
        // permutation.
        check(expected.clone(), || {
            let mut v = xs.clone();
            v.par_sort_unstable();
            v
        });
        expected.reverse();
        check(expected, || {
            let mut v = xs.clone();
            v.par_sort_unstable_by(|a, b| b.cmp(a));
            v
        });
    }

    #[test]
    fn par_sort_and_par_sort_by_key_are_stable(keys in sort_keys()) {
        let items = keyed(&keys);
        // std's sort is stable: equal keys keep their positions' order.
        let mut expected = items.clone();
        expected.sort();
        let expected = fields(&expected);
        check(expected.clone(), || {
            let mut v = items.clone();
            v.par_sort();
            fields(&v)
        });
        check(expected.clone(), || {
            let mut v = items.clone();
            v.par_sort_by_key(|k| k.key);
            fields(&v)
        });
        check(expected, || {
            let mut v = items.clone();
            v.par_sort_by(|a, b| a.key.cmp(&b.key));
            fields(&v)
        });
    }

    #[test]
    fn par_sort_unstable_by_sorts_a_permutation(keys in sort_keys()) {
        let items = keyed(&keys);
        let mut all = fields(&items);
        all.sort_unstable();
        // (the items sorted by key, the items as a multiset)
        let check_unstable = |sort: &(dyn Fn(&mut Vec<Keyed>) + Sync)| {
            check((true, all.clone()), || {
                let mut v = items.clone();
                sort(&mut v);
                let sorted = v.windows(2).all(|w| w[0].key <= w[1].key);
                let mut set = fields(&v);
                set.sort_unstable();
                (sorted, set)
            });
        };
        check_unstable(&|v| v.par_sort_unstable_by(|a, b| a.key.cmp(&b.key)));
        check_unstable(&|v| v.par_sort_unstable_by_key(|k| k.key));
        check_unstable(&|v| v.par_sort_unstable());
    }
}

// ---- Ranges of every integer type -------------------------------------------------------

/// A range property per integer type: random start (anywhere, or near the type's ends),
/// length up to 1500, sometimes reversed (empty).
macro_rules! range_props {
    ($($name:ident: $t:ty),* $(,)?) => {
        proptest! {
            #![proptest_config(config(32))]
            $(
                #[test]
                fn $name(
                    start in prop_oneof![
                        any::<$t>(),
                        <$t>::MIN..=<$t>::MIN.saturating_add(100),
                        <$t>::MAX.saturating_sub(<$t>::try_from(2000u16).unwrap_or(<$t>::MAX))
                            ..=<$t>::MAX,
                        <$t>::try_from(-100i32).unwrap_or(0)..=100,
                    ],
                    len in 0usize..1500,
                    reversed in any::<bool>(),
                ) {
                    let end = <$t>::try_from(len)
                        .ok()
                        .and_then(|len| start.checked_add(len))
                        .unwrap_or(<$t>::MAX);
                    let (a, b) = if reversed { (end, start) } else { (start, end) };
                    let expected: Vec<$t> = (a..b).collect();
                    check(expected.clone(), || {
                        let s = Spread::new();
                        (a..b)
                            .into_par_iter()
                            .map(|x| {
                                s.touch();
                                x
                            })
                            .collect::<Vec<$t>>()
                    });
                    check(expected.len(), || (a..b).into_par_iter().len());
                    check(expected.len(), || (a..b).into_par_iter().count());
                    let sum: Wrapping<u128> = expected.iter().map(|&x| Wrapping(x as u128)).sum();
                    check(sum, || {
                        (a..b)
                            .into_par_iter()
                            .map(|x| Wrapping(x as u128))
                            .sum::<Wrapping<u128>>()
                    });
                    check(expected.iter().max().copied(), || (a..b).into_par_iter().max());
                    let evens: Vec<(usize, $t)> =
                        (a..b).enumerate().filter(|(_, x)| x % 2 == 0).collect();
                    check(evens, || {
                        (a..b)
                            .into_par_iter()
                            .enumerate()
                            .filter(|(_, x)| x % 2 == 0)
                            .collect::<Vec<_>>()
                    });
                }
            )*
        }
    };
}

range_props!(
    range_u8: u8,
    range_i8: i8,
    range_u16: u16,
    range_i16: i16,
    range_u32: u32,
    range_i32: i32,
    range_u64: u64,
    range_i64: i64,
    range_u128: u128,
    range_i128: i128,
    range_usize: usize,
    range_isize: isize,
);

#[test]
#[allow(clippy::reversed_empty_ranges)] // on purpose: an empty range
fn untyped_range() {
    check(499_500, || (0..1000).into_par_iter().sum::<i32>());
    check((0..1000).collect::<Vec<_>>(), || {
        (0..1000).into_par_iter().collect::<Vec<_>>()
    });
    check(500, || {
        (0..1000).into_par_iter().filter(|x| x % 2 == 0).count()
    });
    check(Some(999), || (0..1000).into_par_iter().max());
    check(0, || (5..5).into_par_iter().count());
    check(0, || (10..-10).into_par_iter().count());
}

#[test]
fn whole_small_ranges_and_the_ends_of_wide_ones() {
    check((i8::MIN..i8::MAX).collect::<Vec<_>>(), || {
        (i8::MIN..i8::MAX).into_par_iter().collect::<Vec<_>>()
    });
    check((u8::MIN..u8::MAX).collect::<Vec<_>>(), || {
        (u8::MIN..u8::MAX).into_par_iter().collect::<Vec<_>>()
    });
    check((i16::MIN..i16::MAX).collect::<Vec<_>>(), || {
        let s = Spread::new();
        (i16::MIN..i16::MAX)
            .into_par_iter()
            .inspect(|_| s.touch())
            .collect::<Vec<_>>()
    });
    check((u16::MIN..u16::MAX).map(u64::from).sum::<u64>(), || {
        (u16::MIN..u16::MAX)
            .into_par_iter()
            .map(u64::from)
            .sum::<u64>()
    });
    check((-1000i64..1000).sum::<i64>(), || {
        (-1000i64..1000).into_par_iter().sum::<i64>()
    });
    check((i64::MIN..i64::MIN + 3000).collect::<Vec<_>>(), || {
        (i64::MIN..i64::MIN + 3000)
            .into_par_iter()
            .collect::<Vec<_>>()
    });
    check((i64::MAX - 3000..i64::MAX).collect::<Vec<_>>(), || {
        (i64::MAX - 3000..i64::MAX)
            .into_par_iter()
            .collect::<Vec<_>>()
    });
    check((u64::MAX - 3000..u64::MAX).collect::<Vec<_>>(), || {
        (u64::MAX - 3000..u64::MAX)
            .into_par_iter()
            .collect::<Vec<_>>()
    });
    check((i128::MIN..i128::MIN + 3000).collect::<Vec<_>>(), || {
        (i128::MIN..i128::MIN + 3000)
            .into_par_iter()
            .collect::<Vec<_>>()
    });
    check((i128::MAX - 3000..i128::MAX).collect::<Vec<_>>(), || {
        (i128::MAX - 3000..i128::MAX)
            .into_par_iter()
            .collect::<Vec<_>>()
    });
    check((u128::MAX - 3000..u128::MAX).collect::<Vec<_>>(), || {
        (u128::MAX - 3000..u128::MAX)
            .into_par_iter()
            .collect::<Vec<_>>()
    });
    check((-3000isize..3000).collect::<Vec<_>>(), || {
        (-3000isize..3000).into_par_iter().collect::<Vec<_>>()
    });
    // The longest ranges that still have indices: lengths only, and an early stop.
    check(u64::MAX as usize, || {
        (i64::MIN..i64::MAX).into_par_iter().len()
    });
    check(usize::MAX, || (0..usize::MAX).into_par_iter().len());
    check(u64::MAX as usize, || {
        (i128::MIN..i128::MIN + u64::MAX as i128)
            .into_par_iter()
            .len()
    });
}

/// `any` and `find_any` stop once one item matches: over a range of 2^64 - 1 items (which
/// nothing could go through) they return.
#[test]
fn any_and_find_any_stop_early_on_a_huge_range() {
    let _watchdog = guard("any_and_find_any_stop_early_on_a_huge_range");
    check(true, || (0..u64::MAX).into_par_iter().any(|x| x == 100_000));
    check(Some(100_000), || {
        (0..u64::MAX).into_par_iter().find_any(|&x| x == 100_000)
    });
    check(false, || (0..u64::MAX).into_par_iter().all(|x| x < 100_000));
}

/// A 128-bit range longer than `usize::MAX` is refused with a panic that says so (the
/// module's documented behaviour), in the caller, and the pool carries on.
#[test]
fn a_range_longer_than_usize_max_panics_in_the_caller() {
    let _watchdog = guard("a_range_longer_than_usize_max_panics_in_the_caller");
    global();
    for pool in POOLS.iter() {
        let payload = expect_panic("(0..u128::MAX).into_par_iter().count()", || {
            pool.install(|| (0..u128::MAX).into_par_iter().count())
        });
        let message = panic_message(&payload).unwrap_or_default();
        assert!(
            message.contains("usize::MAX"),
            "unexpected panic message {message:?}"
        );
        assert_eq!(pool.install(|| (0..100u128).into_par_iter().count()), 100);
    }
}

// ---- Empty inputs, one item, order under a forced split ---------------------------------

#[test]
fn empty_and_single_item_inputs() {
    let empty: Vec<i64> = Vec::new();
    check(0, || empty.par_iter().sum::<i64>());
    check(1, || empty.par_iter().product::<i64>());
    check(0, || empty.par_iter().count());
    check(None, || empty.par_iter().min());
    check(None, || empty.par_iter().max());
    check(None, || empty.par_iter().min_by_key(|x| **x));
    check(None, || empty.par_iter().max_by_key(|x| **x));
    check(false, || empty.par_iter().any(|_| true));
    check(true, || empty.par_iter().all(|_| false));
    check(None, || empty.par_iter().find_any(|_| true));
    check(-1, || empty.par_iter().copied().reduce(|| -1, |a, b| a + b));
    check(Vec::<i64>::new(), || empty.par_iter().copied().collect());
    check(String::new(), || {
        empty.par_iter().map(|_| 'x').collect::<String>()
    });
    check(0, || empty.par_iter().fold(|| 0, |a, b| a + b).sum::<i64>());
    check(0, || empty.par_chunks(3).count());
    let one = vec![42i64];
    check(42, || one.par_iter().sum::<i64>());
    check(42, || one.par_iter().product::<i64>());
    check(Some(&42), || one.par_iter().min());
    check(Some(&42), || one.par_iter().max_by_key(|x| **x));
    check(vec![(0, 42)], || {
        one.par_iter().copied().enumerate().collect()
    });
    check(vec![vec![42]], || {
        one.par_chunks(5).map(<[i64]>::to_vec).collect()
    });
}

#[test]
#[should_panic(expected = "chunk size must not be zero")]
fn par_chunks_of_zero_panics() {
    let v = [1, 2, 3];
    let _ = v.par_chunks(0);
}

/// The 2-thread pools do split loops: some loop of a few thousand items has items run by
/// both workers (a few tries, in case the machine is too busy for the second one to ask).
#[test]
fn a_loop_is_split_between_two_workers() {
    let _watchdog = guard("a_loop_is_split_between_two_workers");
    let pool = named_pool(2, "itsplit-");
    let split = (0..50).any(|_| {
        let s = Spread::new();
        let sum = pool.install(|| {
            (0..5000u64)
                .into_par_iter()
                .map(|x| {
                    s.touch();
                    x
                })
                .sum::<u64>()
        });
        assert_eq!(sum, 4999 * 5000 / 2);
        s.workers() == 2
    });
    assert!(
        split,
        "in 50 loops of 5000 items, the second worker never ran an item"
    );
}

/// A worker that becomes free in the middle of a long loop (it was running another task)
/// asks for, and gets, a share of the loop: it runs some of its items.
#[test]
fn a_worker_freed_mid_loop_gets_a_share() {
    let _watchdog = guard("a_worker_freed_mid_loop_gets_a_share");
    let pool = named_pool(2, "itfree-");
    for _ in 0..5 {
        let gate = common::Gate::new();
        let (held, (_, freed)) = common::hold_worker(&pool, &gate);
        let freed = freed.expect("the held task runs on a worker");
        let ran_on_freed = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(10));
                gate.open();
            });
            let n = pool.install(|| {
                (0..5000)
                    .into_par_iter()
                    .map(|_| {
                        if stealpool::current_thread_index() == Some(freed) {
                            ran_on_freed.fetch_add(1, Ordering::Relaxed);
                        }
                        let start = Instant::now();
                        while start.elapsed() < Duration::from_micros(20) {
                            std::hint::spin_loop();
                        }
                    })
                    .count()
            });
            assert_eq!(n, 5000);
        });
        join_within(held, "the task holding a worker").unwrap();
        if ran_on_freed.load(Ordering::Relaxed) > 0 {
            return;
        }
    }
    panic!("in 5 tries, the worker freed 10 ms into a 100 ms loop never ran one of its items");
}

/// `collect` into a `Vec` keeps the source order after filter, filter_map and flat_map_iter,
/// in runs known to have been split (each checked against std's result, retried until a
/// split is seen).
#[test]
fn collect_keeps_order_after_a_split() {
    let _watchdog = guard("collect_keeps_order_after_a_split");
    let pool = named_pool(2, "itorder-");
    let xs: Vec<u32> = (0..20_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % 1000)
        .collect();
    let filtered: Vec<u32> = xs.iter().copied().filter(|x| x % 3 != 0).collect();
    let filter_mapped: Vec<u64> = xs
        .iter()
        .filter_map(|&x| (x % 5 != 0).then_some(u64::from(x) * 7))
        .collect();
    let flat: Vec<u32> = xs.iter().flat_map(|&x| 0..x % 3).collect();
    let (mut split_filter, mut split_filter_map, mut split_flat) = (false, false, false);
    for _ in 0..50 {
        let s = Spread::new();
        let got: Vec<u32> = pool.install(|| {
            xs.par_iter()
                .copied()
                .filter(|x| {
                    s.touch();
                    x % 3 != 0
                })
                .collect()
        });
        assert_eq!(got, filtered, "filter + collect");
        split_filter |= s.workers() == 2;
        let s = Spread::new();
        let got: Vec<u64> = pool.install(|| {
            xs.par_iter()
                .filter_map(|&x| {
                    s.touch();
                    (x % 5 != 0).then_some(u64::from(x) * 7)
                })
                .collect()
        });
        assert_eq!(got, filter_mapped, "filter_map + collect");
        split_filter_map |= s.workers() == 2;
        let s = Spread::new();
        let got: Vec<u32> = pool.install(|| {
            xs.par_iter()
                .flat_map_iter(|&x| {
                    s.touch();
                    0..x % 3
                })
                .collect()
        });
        assert_eq!(got, flat, "flat_map_iter + collect");
        split_flat |= s.workers() == 2;
        if split_filter && split_filter_map && split_flat {
            return;
        }
    }
    panic!(
        "no split seen in 50 tries (filter {split_filter}, filter_map {split_filter_map}, \
         flat_map_iter {split_flat})"
    );
}

/// `collect` straight into place from indexed iterators of unusual items: zero-sized ones,
/// mutable references, chunks, and a long loop split between workers.
#[test]
fn collect_of_indexed_iterators_edge_cases() {
    check(vec![(); 1000], || {
        (0..1000).into_par_iter().map(|_| ()).collect::<Vec<()>>()
    });
    // Zero-sized items that count their drops: each collected one dropped once.
    static ZST_DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Zst;
    impl Drop for Zst {
        fn drop(&mut self) {
            ZST_DROPS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let zsts: Vec<Zst> = POOLS[1].install(|| (0..5000).into_par_iter().map(|_| Zst).collect());
    assert_eq!(zsts.len(), 5000);
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 0);
    drop(zsts);
    assert_eq!(ZST_DROPS.load(Ordering::SeqCst), 5000);

    let data: Vec<u32> = (0..3001).collect();
    check(
        data.chunks(7).map(<[u32]>::to_vec).collect::<Vec<_>>(),
        || {
            data.par_chunks(7)
                .map(<[u32]>::to_vec)
                .collect::<Vec<Vec<u32>>>()
        },
    );
    let mut owned = data.clone();
    POOLS[1].install(|| {
        let refs: Vec<&mut u32> = owned.par_iter_mut().collect();
        assert_eq!(refs.len(), 3001);
        refs.into_par_iter().for_each(|r| *r *= 3);
    });
    assert_eq!(owned, data.iter().map(|x| x * 3).collect::<Vec<_>>());
    let expected: Vec<(usize, String)> =
        (0..100_000u64).map(|x| x.to_string()).enumerate().collect();
    check(expected, || {
        let s = Spread::new();
        (0..100_000u64)
            .into_par_iter()
            .map(|x| {
                s.touch();
                x.to_string()
            })
            .enumerate()
            .collect::<Vec<_>>()
    });
}

#[test]
fn collect_hash_map_and_string_examples() {
    let words = [
        "apple", "banana", "cherry", "apple", "date", "banana", "apple",
    ];
    let expected: HashMap<&str, usize> = words.iter().map(|w| (*w, w.len())).collect();
    check(expected, || {
        words
            .par_iter()
            .map(|w| (*w, w.len()))
            .collect::<HashMap<_, _>>()
    });
    // Later items win over earlier ones with the same key.
    let expected: HashMap<&str, usize> = words.iter().enumerate().map(|(i, w)| (*w, i)).collect();
    assert_eq!(expected["apple"], 6);
    check(expected, || {
        words
            .par_iter()
            .enumerate()
            .map(|(i, w)| (*w, i))
            .collect::<HashMap<_, _>>()
    });
    check("applebananacherryappledatebananaapple".to_owned(), || {
        words.par_iter().copied().collect::<String>()
    });
    check("APPLE BANANA ".to_owned(), || {
        words[..2]
            .par_iter()
            .map(|w| format!("{} ", w.to_uppercase()))
            .collect::<String>()
    });
    let text: String = (0..5000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    check(text.clone(), || {
        text.as_bytes()
            .par_iter()
            .map(|&b| char::from(b))
            .collect::<String>()
    });
}

// ---- Nesting ----------------------------------------------------------------------------

#[test]
fn nested_par_iters() {
    let _watchdog = guard("nested_par_iters");
    let matrix: Vec<Vec<u64>> = (0..200u64)
        .map(|i| (0..300u64).map(|j| i * 1000 + j).collect())
        .collect();
    let expected: u64 = matrix.iter().flatten().sum();
    check(expected, || {
        matrix
            .par_iter()
            .map(|row| row.par_iter().sum::<u64>())
            .sum::<u64>()
    });
    // Three levels, from ranges.
    let expected: u64 = (0..40u64)
        .map(|i| (0..i).map(|j| (0..j).sum::<u64>()).sum::<u64>())
        .sum();
    check(expected, || {
        (0..40u64)
            .into_par_iter()
            .map(|i| {
                (0..i)
                    .into_par_iter()
                    .map(|j| (0..j).into_par_iter().sum::<u64>())
                    .sum::<u64>()
            })
            .sum::<u64>()
    });
    // A par_sort inside a par_iter_mut.
    let mut rows: Vec<Vec<i32>> = (0..64)
        .map(|i| (0..5000).map(|j| (j * 7919 + i) % 1013).collect())
        .collect();
    let mut expected = rows.clone();
    expected.iter_mut().for_each(|r| r.sort());
    POOLS[1].install(|| rows.par_iter_mut().for_each(|r| r.par_sort()));
    assert_eq!(rows, expected);
}

// ---- Panics -----------------------------------------------------------------------------

/// Counts the items running at a time; its drop (also when an item unwinds) ends one.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Running(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where a panicking loop is run: on one of `POOLS`, or off every pool.
fn run_on<R: Send>(pool: Option<&WorkerPool>, op: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(pool) => pool.install(op),
        None => op(),
    }
}

/// One panicking item `k` of `n`: the payload reaches the caller once no item runs any
/// more; no item ran twice; item `k` ran; no item starts afterwards; the pool still works.
fn panicking_for_each(pool: Option<&WorkerPool>, n: usize, k: usize) {
    global();
    let ran: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(0)).collect();
    let running = AtomicUsize::new(0);
    let payload = expect_panic("a for_each with a panicking item", || {
        run_on(pool, || {
            let s = Spread::new();
            (0..n).into_par_iter().for_each(|i| {
                let _running = Running::start(&running);
                ran[i].fetch_add(1, Ordering::SeqCst);
                s.touch();
                if i == k {
                    panic!("item {i} failed");
                }
            })
        })
    });
    let expected_message = format!("item {k} failed");
    assert_eq!(panic_message(&payload), Some(expected_message.as_str()));
    assert_eq!(
        running.load(Ordering::SeqCst),
        0,
        "items still running when the panic reached the caller"
    );
    let counts: Vec<u8> = ran.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(counts[k], 1, "the panicking item ran {} times", counts[k]);
    if let Some(i) = counts.iter().position(|&c| c > 1) {
        panic!("item {i} ran {} times", counts[i]);
    }
    std::thread::sleep(Duration::from_millis(10));
    let later: Vec<u8> = ran.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(
        counts, later,
        "items ran after the panic reached the caller"
    );
    // The pool still works.
    let sum = run_on(pool, || (0..10_000u64).into_par_iter().sum::<u64>());
    assert_eq!(sum, 9999 * 10_000 / 2);
}

#[test]
fn a_panic_reaches_the_caller_on_a_one_thread_pool() {
    let _watchdog = guard("a_panic_reaches_the_caller_on_a_one_thread_pool");
    for (n, k) in [(1, 0), (1000, 0), (1000, 500), (1000, 999), (4001, 2000)] {
        panicking_for_each(Some(&POOLS[0]), n, k);
    }
}

#[test]
fn a_panic_reaches_the_caller_on_a_two_thread_pool() {
    let _watchdog = guard("a_panic_reaches_the_caller_on_a_two_thread_pool");
    for (n, k) in [(1, 0), (1000, 0), (1000, 500), (1000, 999), (4001, 3999)] {
        panicking_for_each(Some(&POOLS[1]), n, k);
    }
}

#[test]
fn a_panic_reaches_the_caller_off_every_pool() {
    let _watchdog = guard("a_panic_reaches_the_caller_off_every_pool");
    for (n, k) in [(1, 0), (1000, 0), (1000, 999), (4001, 2500)] {
        panicking_for_each(None, n, k);
    }
}

/// Collects 3000 owned items through a `map` (or, `indexed` false, a `filter` then a
/// `map`) whose item `k` panics (with a `u32` payload, from `panic_any`); returns the
/// payload and how many of the 3000 items were dropped by the time the panic reached the
/// caller.
fn panicking_collect(pool: Option<&WorkerPool>, k: usize, indexed: bool) -> (u32, usize) {
    global();
    let drops = Arc::new(AtomicUsize::new(0));
    let items: Vec<(usize, DropCounter)> =
        (0..3000).map(|i| (i, DropCounter(drops.clone()))).collect();
    let payload = expect_panic("a collect with a panicking map", || {
        run_on(pool, move || {
            let s = Spread::new();
            let f = |(i, counter): (usize, DropCounter)| {
                s.touch();
                if i == k {
                    std::panic::panic_any(i as u32);
                }
                counter
            };
            if indexed {
                items.into_par_iter().map(f).collect::<Vec<DropCounter>>()
            } else {
                items
                    .into_par_iter()
                    .filter(|_| true)
                    .map(f)
                    .collect::<Vec<DropCounter>>()
            }
        })
    });
    let payload = *payload
        .downcast_ref::<u32>()
        .expect("the payload reaches the caller unchanged (a u32)");
    (payload, drops.load(Ordering::SeqCst))
}

/// A panic in a `map` feeding `collect`, over owned items: the payload (not a `&str`: a
/// `u32`) reaches the caller unchanged, every item is dropped exactly once (the ones
/// already collected, the one that panicked and the ones never reached), and the pool
/// carries on. Both ways of collecting: straight into place (an indexed iterator) and piece
/// by piece (after a `filter`).
#[test]
fn a_panic_in_collect_drops_each_item_once() {
    let _watchdog = guard("a_panic_in_collect_drops_each_item_once");
    for pool in [Some(&POOLS[0]), Some(&POOLS[1]), None] {
        for k in [0, 1500, 2999] {
            for indexed in [true, false] {
                let (payload, drops) = panicking_collect(pool, k, indexed);
                assert_eq!(payload, k as u32);
                assert_eq!(
                    drops, 3000,
                    "drops of 3000 items, panic at item {k} (indexed: {indexed})"
                );
            }
            let sum = run_on(pool, || (0..3000u64).into_par_iter().sum::<u64>());
            assert_eq!(sum, 2999 * 3000 / 2);
        }
    }
}

/// Two items panic (likely on both workers): one payload reaches the caller, no hang.
#[test]
fn two_panicking_items_give_one_payload() {
    let _watchdog = guard("two_panicking_items_give_one_payload");
    for pool in POOLS.iter() {
        let payload = expect_panic("two panicking items", || {
            pool.install(|| {
                let s = Spread::new();
                (0..4000).into_par_iter().for_each(|i| {
                    s.touch();
                    if i == 10 || i == 3990 {
                        panic!("item {i}");
                    }
                })
            })
        });
        let message = panic_message(&payload).unwrap_or_default();
        assert!(
            message == "item 10" || message == "item 3990",
            "{message:?}"
        );
        assert_eq!(pool.install(|| (0..100).into_par_iter().count()), 100);
    }
}

/// A panic in an inner par_iter of a nested loop reaches the outer caller.
#[test]
fn a_panic_in_a_nested_par_iter_reaches_the_caller() {
    let _watchdog = guard("a_panic_in_a_nested_par_iter_reaches_the_caller");
    for pool in POOLS.iter() {
        let payload = expect_panic("a nested panicking par_iter", || {
            pool.install(|| {
                (0..50u64)
                    .into_par_iter()
                    .map(|i| {
                        (0..100u64)
                            .into_par_iter()
                            .map(|j| {
                                if i == 37 && j == 63 {
                                    panic!("inner 37/63");
                                }
                                j
                            })
                            .sum::<u64>()
                    })
                    .sum::<u64>()
            })
        });
        assert_eq!(panic_message(&payload), Some("inner 37/63"));
        assert_eq!(
            pool.install(|| (0..100u64).into_par_iter().map(|_| 1u64).sum::<u64>()),
            100
        );
    }
}

/// A panicking comparator: the panic reaches the caller and the slice is still a
/// permutation of its items (as std's sorts guarantee), for the stable and unstable sorts.
#[test]
fn a_panicking_comparator_leaves_a_permutation() {
    let _watchdog = guard("a_panicking_comparator_leaves_a_permutation");
    let input: Vec<u32> = (0..20_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761) % 5000)
        .collect();
    let mut sorted_input = input.clone();
    sorted_input.sort_unstable();
    for pool in POOLS.iter() {
        for stable in [true, false] {
            let mut v = input.clone();
            let calls = AtomicUsize::new(0);
            let cmp = |a: &u32, b: &u32| {
                if calls.fetch_add(1, Ordering::Relaxed) == 30_000 {
                    panic!("comparator");
                }
                a.cmp(b)
            };
            let payload = expect_panic("a sort with a panicking comparator", || {
                pool.install(|| {
                    if stable {
                        v.par_sort_by(cmp);
                    } else {
                        v.par_sort_unstable_by(cmp);
                    }
                })
            });
            assert_eq!(panic_message(&payload), Some("comparator"));
            v.sort_unstable();
            assert_eq!(v, sorted_input, "not a permutation (stable: {stable})");
        }
    }
}

// ---- Where the pieces run ---------------------------------------------------------------

/// Inside `pool.install`, every item runs on a worker of that pool:
/// `current_thread_index()` is `Some(i)` with `i < num_threads`, on the thread named for `i`.
#[test]
fn items_run_on_the_installing_pool() {
    let _watchdog = guard("items_run_on_the_installing_pool");
    for (pool, prefix) in POOLS.iter().zip(["it1-", "it2-"]) {
        let width = pool.num_threads();
        let s = Spread::new();
        let locations = pool.install(|| {
            (0..3000)
                .into_par_iter()
                .map(|_| {
                    s.touch();
                    location()
                })
                .collect::<Vec<_>>()
        });
        assert_eq!(locations.len(), 3000);
        for loc in &locations {
            assert_on_pool(loc, prefix, width);
        }
        // Also from a par_iter over a slice, the index alone.
        let data: Vec<u8> = vec![0; 3000];
        let indices: Vec<Option<usize>> = pool.install(|| {
            data.par_iter()
                .map(|_| stealpool::current_thread_index())
                .collect()
        });
        assert!(
            indices.iter().all(|i| matches!(i, Some(i) if *i < width)),
            "{indices:?}"
        );
    }
}

/// A par_iter in a task spawned on a pool runs on that pool; one called off every pool runs
/// on the global pool.
#[test]
fn items_run_on_the_callers_pool_or_the_global_pool() {
    let _watchdog = guard("items_run_on_the_callers_pool_or_the_global_pool");
    global();
    let pool = named_pool(2, "itspawn-");
    let task = pool.spawn(|| {
        let s = Spread::new();
        (0..3000)
            .into_par_iter()
            .map(|_| {
                s.touch();
                location()
            })
            .collect::<Vec<_>>()
    });
    let locations = join_within(task, "a par_iter in a spawned task").unwrap();
    for loc in &locations {
        assert_on_pool(loc, "itspawn-", 2);
    }
    let locations: Vec<_> = (0..3000).into_par_iter().map(|_| location()).collect();
    for loc in &locations {
        assert_on_pool(loc, "itg-", 2);
    }
}

/// A par_iter run by a `Low` (or `High`) task runs in that lane: every item, on whichever
/// worker, sees `current_priority() == Some(lane)`; tried until a run is seen split.
#[test]
fn items_inherit_the_priority_lane_of_the_task() {
    let _watchdog = guard("items_inherit_the_priority_lane_of_the_task");
    let pool = named_pool(2, "itprio-");
    for lane in [Priority::Low, Priority::High] {
        let mut split = false;
        for _ in 0..30 {
            let task = pool.spawn_with(lane, || {
                let s = Spread::new();
                let lanes: Vec<Option<Priority>> = (0..4000)
                    .into_par_iter()
                    .map(|_| {
                        s.touch();
                        stealpool::current_priority()
                    })
                    .collect();
                (lanes, s.workers())
            });
            let (lanes, workers) = join_within(task, "a par_iter in a prioritized task").unwrap();
            assert_eq!(lanes.len(), 4000);
            if let Some(other) = lanes.iter().find(|l| **l != Some(lane)) {
                panic!("an item of a {lane:?} task ran as {other:?}");
            }
            if workers == 2 {
                split = true;
                break;
            }
        }
        assert!(split, "no {lane:?} run was split in 30 tries");
    }
}

#[test]
fn a_par_iter_inside_isolate_on_a_one_thread_pool() {
    let _watchdog = guard("a_par_iter_inside_isolate_on_a_one_thread_pool");
    let pool = common::pool(1);
    let expected: u64 = (0..10_000u64).map(|x| x * x % 101).sum();
    let got = pool.install(|| {
        stealpool::isolate(|| {
            (0..10_000u64)
                .into_par_iter()
                .map(|x| x * x % 101)
                .sum::<u64>()
        })
    });
    assert_eq!(got, expected);
    // Holding a lock across an isolated par_iter, with other tasks that need the lock
    // queued on the same (only) worker: no deadlock.
    let lock = Mutex::new(Vec::new());
    pool.scope(|s| {
        for i in 0..4u64 {
            let lock = &lock;
            s.spawn(move |_| {
                let mut guard = lock.lock().unwrap();
                let v: Vec<u64> =
                    stealpool::isolate(|| (0..1000u64).into_par_iter().map(|x| x * i).collect());
                guard.push(v.iter().sum::<u64>());
            });
        }
    });
    let mut sums = lock.into_inner().unwrap();
    sums.sort_unstable();
    assert_eq!(sums, [0, 499_500, 999_000, 1_498_500]);
}

/// The same on two workers, where the loops are split (`Spread`) and the worker holding the
/// lock waits for a stolen piece: inside `isolate` it takes none of the other tasks (which
/// would block on the lock it holds).
#[test]
fn a_lock_held_across_an_isolated_par_iter_on_two_threads() {
    let _watchdog = guard("a_lock_held_across_an_isolated_par_iter_on_two_threads");
    let pool = common::pool(2);
    let lock = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let task = {
        let (lock, done) = (lock.clone(), done.clone());
        let pool2 = pool.clone();
        pool.spawn(move || {
            pool2.scope(|s| {
                for i in 0..8u64 {
                    let lock = &lock;
                    s.spawn(move |_| {
                        let mut guard = lock.lock().unwrap();
                        let sum = stealpool::isolate(|| {
                            let sp = Spread::new();
                            (0..5000u64)
                                .into_par_iter()
                                .map(|x| {
                                    sp.touch();
                                    x * i
                                })
                                .sum::<u64>()
                        });
                        guard.push(sum);
                    });
                }
            });
            done.store(true, Ordering::SeqCst);
        })
    };
    join_within(task, "tasks holding a lock across isolated par_iters").unwrap();
    assert!(done.load(Ordering::SeqCst));
    let mut sums = lock.lock().unwrap().clone();
    sums.sort_unstable();
    let expected: Vec<u64> = (0..8u64).map(|i| i * 4999 * 5000 / 2).collect();
    assert_eq!(sums, expected);
}

/// On a 1-thread pool every item runs on worker 0, nested loops included, and a long loop
/// is never split (nobody asks).
#[test]
fn a_one_thread_pool_runs_everything_on_its_worker() {
    let _watchdog = guard("a_one_thread_pool_runs_everything_on_its_worker");
    let pool = &POOLS[0];
    let indices: Vec<Option<usize>> = pool.install(|| {
        (0..100)
            .into_par_iter()
            .flat_map_iter(|_| {
                (0..10)
                    .into_par_iter()
                    .map(|_| stealpool::current_thread_index())
                    .collect::<Vec<_>>()
            })
            .collect()
    });
    assert_eq!(indices.len(), 1000);
    assert!(indices.iter().all(|i| *i == Some(0)), "{indices:?}");
    let pieces = pool.install(|| {
        (0..100_000u32)
            .into_par_iter()
            .fold(|| 0u32, |n, _| n + 1)
            .collect::<Vec<u32>>()
    });
    assert_eq!(pieces, [100_000], "a 1-thread pool split a loop");
}
