//! `join`: both results, borrowed data, recursion at every node, panics (re-raised only after
//! both sides finished), where the sides run, joins across pools, fork-join nested on a
//! one-thread pool, and `join` on a pool that was shut down.

mod common;

use std::panic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{
    DropCounter, assert_on_pool, expect_panic, location, named_pool, on_thread_named,
    panic_message, pool,
};
use stealpool::WorkerPool;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `pool.join` when `pool` is given, else the free `stealpool::join`.
fn join_on<A, B, RA, RB>(pool: Option<&WorkerPool>, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match pool {
        Some(pool) => pool.join(a, b),
        None => stealpool::join(a, b),
    }
}

fn fib_seq(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

/// Fibonacci with a `pool.join` at every node.
fn fib_with(pool: &WorkerPool, n: u32) -> u64 {
    if n < 2 {
        return n as u64;
    }
    let (a, b) = pool.join(|| fib_with(pool, n - 1), || fib_with(pool, n - 2));
    a + b
}

/// Fibonacci with a free `stealpool::join` at every node.
fn fib_free(n: u32) -> u64 {
    if n < 2 {
        return n as u64;
    }
    let (a, b) = stealpool::join(|| fib_free(n - 1), || fib_free(n - 2));
    a + b
}

/// Like [`fib_free`], counting the leaves that did not run on a thread named `prefix*`.
fn fib_free_on(n: u32, prefix: &str, off_pool: &AtomicUsize) -> u64 {
    if n < 2 {
        if !on_thread_named(prefix) {
            off_pool.fetch_add(1, Ordering::Relaxed);
        }
        return n as u64;
    }
    let (a, b) = stealpool::join(
        || fib_free_on(n - 1, prefix, off_pool),
        || fib_free_on(n - 2, prefix, off_pool),
    );
    a + b
}

/// A parallel sum with a `pool.join` at every node, down to a few elements.
fn sum_with(pool: &WorkerPool, xs: &[u64]) -> u64 {
    if xs.len() <= 8 {
        return xs.iter().sum();
    }
    let (left, right) = xs.split_at(xs.len() / 2);
    let (a, b) = pool.join(|| sum_with(pool, left), || sum_with(pool, right));
    a + b
}

/// Adds one to every element, splitting the slice with `split_at_mut` at every level.
fn bump_all(xs: &mut [u8]) {
    if xs.len() <= 4 {
        for x in xs {
            *x += 1;
        }
        return;
    }
    let mid = xs.len() / 2;
    let (left, right) = xs.split_at_mut(mid);
    stealpool::join(|| bump_all(left), || bump_all(right));
}

/// A few short joins with a pause each: a worker looking for work asks this one to share its
/// join frames, and the next join answers by making the oldest one (the enclosing join's `b`)
/// stealable. Makes it likely that `b` runs on another worker, in parallel with this side.
fn invite_thieves() {
    for _ in 0..3 {
        stealpool::join(|| thread::sleep(ms(1)), || ());
    }
}

/// A panic payload that is not a string, and counts its drops.
struct Tagged(&'static str, #[allow(dead_code)] DropCounter);

#[test]
fn join_returns_the_results_of_both_sides() {
    let _watchdog = common::guard("join_returns_the_results_of_both_sides");
    for width in [1, 2, 8] {
        let pool = pool(width);
        let (a, b) = pool.join(|| 6 * 7, || String::from("b side"));
        assert_eq!(a, 42);
        assert_eq!(b, "b side");

        // Both sides borrow from this stack.
        let words = ["apple", "kiwi", "banana"];
        let (count, letters) = pool.join(
            || words.len(),
            || words.iter().map(|w| w.len()).sum::<usize>(),
        );
        assert_eq!((count, letters), (3, 15));

        // Unit and non-Copy results, nested joins as sides.
        let ((), (x, y)) = pool.join(|| (), || pool.join(|| vec![1u8; 3], || Some('y')));
        assert_eq!((x, y), (vec![1, 1, 1], Some('y')));
        pool.shutdown();
    }
}

#[test]
fn join_sides_mutate_disjoint_borrowed_data() {
    let _watchdog = common::guard("join_sides_mutate_disjoint_borrowed_data");
    for width in [1, 2, 8] {
        let pool = pool(width);
        let mut data = vec![0u32; 1000];
        let (left, right) = data.split_at_mut(400);
        let (a, b) = pool.join(
            || {
                for (i, x) in left.iter_mut().enumerate() {
                    *x = i as u32 + 1;
                }
                left.len()
            },
            || {
                for (i, x) in right.iter_mut().enumerate() {
                    *x = 10_000 + i as u32;
                }
                right.len()
            },
        );
        assert_eq!((a, b), (400, 600));
        for (i, &x) in data.iter().enumerate() {
            let expected = if i < 400 {
                i as u32 + 1
            } else {
                10_000 + (i as u32 - 400)
            };
            assert_eq!(x, expected, "element {i} on a pool of {width}");
        }
        data.push(7); // the borrows ended with the join

        // Split at every level of a recursion: every element is bumped exactly once.
        let mut counts = vec![0u8; 5_000];
        pool.install(|| bump_all(&mut counts));
        assert!(
            counts.iter().all(|&c| c == 1),
            "some element was bumped {:?} times on a pool of {width}",
            counts.iter().find(|&&c| c != 1)
        );
        // The same from outside the pool, through pool.join at the top.
        let (left, right) = counts.split_at_mut(2_500);
        pool.join(|| bump_all(left), || bump_all(right));
        assert!(counts.iter().all(|&c| c == 2));
        pool.shutdown();
    }
}

#[test]
fn recursive_joins_compute_the_right_answer_on_pools_of_1_2_and_8_threads() {
    let _watchdog =
        common::guard("recursive_joins_compute_the_right_answer_on_pools_of_1_2_and_8_threads");
    let xs: Vec<u64> = (1..=20_000).collect();
    for (width, prefix) in [(1, "jfib1-"), (2, "jfib2-"), (8, "jfib8-")] {
        let pool = named_pool(width, prefix);
        // pool.join at every node, entered from outside the pool.
        assert_eq!(fib_with(&pool, 20), fib_seq(20), "fib on a pool of {width}");
        assert_eq!(
            sum_with(&pool, &xs),
            20_000 * 20_001 / 2,
            "sum on a pool of {width}"
        );
        // The free join at every node, inside install: every leaf runs on this pool.
        let off_pool = AtomicUsize::new(0);
        let fib = pool.install(|| fib_free_on(20, prefix, &off_pool));
        assert_eq!(fib, fib_seq(20), "free-join fib on a pool of {width}");
        assert_eq!(
            off_pool.load(Ordering::Relaxed),
            0,
            "leaves ran off the pool"
        );
        // From a spawned task.
        let handle = pool.spawn(|| fib_free(18));
        assert_eq!(
            common::join_within(handle, "fib task").unwrap(),
            fib_seq(18)
        );
        pool.shutdown();
    }
}

#[test]
fn recursive_joins_from_several_outside_threads_at_once() {
    let _watchdog = common::guard("recursive_joins_from_several_outside_threads_at_once");
    let pool = pool(2);
    thread::scope(|s| {
        let callers: Vec<_> = (0..4u32)
            .map(|i| {
                let pool = &pool;
                s.spawn(move || fib_with(pool, 14 + i))
            })
            .collect();
        for (i, caller) in (0..4u32).zip(callers) {
            assert_eq!(caller.join().unwrap(), fib_seq(14 + i));
        }
    });
    pool.shutdown();
}

/// `a` panics (possibly while `b` runs on another worker): the caller gets `a`'s payload, and
/// only after `b` has finished.
fn check_a_panics(pool: Option<&WorkerPool>, invite: bool) {
    let b_done = AtomicBool::new(false);
    let payload = expect_panic("join whose a panics", || {
        join_on(
            pool,
            || -> u32 {
                if invite {
                    invite_thieves();
                }
                panic!("a failed")
            },
            || {
                thread::sleep(ms(5));
                b_done.store(true, Ordering::SeqCst);
                2u32
            },
        )
    });
    assert_eq!(panic_message(&payload), Some("a failed"));
    assert!(
        b_done.load(Ordering::SeqCst),
        "join re-raised a's panic before b had finished"
    );
}

/// `b` panics (possibly on another worker, early): the caller gets `b`'s payload, and only
/// after `a` has finished.
fn check_b_panics(pool: Option<&WorkerPool>, invite: bool) {
    let a_done = AtomicBool::new(false);
    let payload = expect_panic("join whose b panics", || {
        join_on(
            pool,
            || {
                if invite {
                    invite_thieves();
                }
                thread::sleep(ms(3));
                a_done.store(true, Ordering::SeqCst);
                1u32
            },
            || -> u32 { panic!("b failed {}", 2) },
        )
    });
    assert_eq!(panic_message(&payload), Some("b failed 2"));
    assert!(
        a_done.load(Ordering::SeqCst),
        "join re-raised b's panic before a had finished"
    );
}

/// Both panic: `a`'s payload comes out, `b`'s is dropped (each exactly once).
fn check_both_panic(pool: Option<&WorkerPool>, invite: bool, b_first: bool) {
    let drops = Arc::new(AtomicUsize::new(0));
    let (for_a, for_b) = (drops.clone(), drops.clone());
    let payload = expect_panic("join whose sides both panic", || {
        join_on(
            pool,
            move || -> u32 {
                if invite {
                    invite_thieves();
                }
                if b_first {
                    thread::sleep(ms(3));
                }
                panic::panic_any(Tagged("a", DropCounter(for_a)))
            },
            move || -> u32 {
                if !b_first {
                    thread::sleep(ms(3));
                }
                panic::panic_any(Tagged("b", DropCounter(for_b)))
            },
        )
    });
    let tagged = payload
        .downcast_ref::<Tagged>()
        .expect("the payload is one of the two panics");
    assert_eq!(tagged.0, "a", "join re-raised b's panic, not a's");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "b's payload should have been dropped (once), a's kept"
    );
    drop(payload);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

fn check_pool_still_works(pool: &WorkerPool) {
    assert_eq!(pool.join(|| 1, || 2), (1, 2));
    assert_eq!(fib_with(pool, 12), fib_seq(12));
    assert_eq!(pool.install(|| fib_free(12)), fib_seq(12));
    assert_eq!(pool.spawn(|| 5).join().unwrap(), 5);
}

#[test]
fn a_panic_in_a_is_re_raised_after_b_has_finished() {
    let _watchdog = common::guard("a_panic_in_a_is_re_raised_after_b_has_finished");
    for width in [1, 2, 8] {
        let pool = pool(width);
        for round in 0..4 {
            let invite = round % 2 == 0;
            // From outside the pool, and from one of its workers.
            check_a_panics(Some(&pool), invite);
            pool.install(|| check_a_panics(None, invite));
            pool.install(|| check_a_panics(Some(&pool), invite));
        }
        check_pool_still_works(&pool);
        pool.shutdown();
    }
}

#[test]
fn a_panic_in_b_is_re_raised_after_a_has_finished() {
    let _watchdog = common::guard("a_panic_in_b_is_re_raised_after_a_has_finished");
    for width in [1, 2, 8] {
        let pool = pool(width);
        for round in 0..4 {
            let invite = round % 2 == 0;
            check_b_panics(Some(&pool), invite);
            pool.install(|| check_b_panics(None, invite));
        }
        check_pool_still_works(&pool);
        pool.shutdown();
    }
}

#[test]
fn when_both_sides_panic_a_s_payload_wins() {
    let _watchdog = common::guard("when_both_sides_panic_a_s_payload_wins");
    for width in [1, 2, 8] {
        let pool = pool(width);
        for round in 0..4 {
            let invite = round % 2 == 0;
            let b_first = round / 2 == 0;
            check_both_panic(Some(&pool), invite, b_first);
            pool.install(|| check_both_panic(None, invite, b_first));
        }
        check_pool_still_works(&pool);
        pool.shutdown();
    }
}

#[test]
fn a_panic_deep_inside_recursive_joins_reaches_the_caller() {
    let _watchdog = common::guard("a_panic_deep_inside_recursive_joins_reaches_the_caller");
    // One leaf of a recursive join panics; every other leaf still runs (both sides of every
    // join finish before the panic goes up), and the payload arrives intact.
    fn walk(lo: u32, hi: u32, bad: u32, leaves: &AtomicUsize) {
        if hi - lo == 1 {
            leaves.fetch_add(1, Ordering::SeqCst);
            if lo == bad {
                panic!("leaf {lo} failed");
            }
            return;
        }
        let mid = lo + (hi - lo) / 2;
        stealpool::join(|| walk(lo, mid, bad, leaves), || walk(mid, hi, bad, leaves));
    }
    for width in [1, 2, 8] {
        let pool = pool(width);
        for bad in [0, 77, 255] {
            let leaves = AtomicUsize::new(0);
            let payload = expect_panic("recursive join with a failing leaf", || {
                pool.install(|| walk(0, 256, bad, &leaves))
            });
            assert_eq!(
                panic_message(&payload),
                Some(format!("leaf {bad} failed").as_str())
            );
            assert_eq!(leaves.load(Ordering::SeqCst), 256, "width {width}");
        }
        check_pool_still_works(&pool);
        pool.shutdown();
    }
}

#[test]
fn join_closures_are_dropped_exactly_once() {
    let _watchdog = common::guard("join_closures_are_dropped_exactly_once");
    for width in [1, 2] {
        let pool = pool(width);
        let drops = Arc::new(AtomicUsize::new(0));
        let (a, b) = (DropCounter(drops.clone()), DropCounter(drops.clone()));
        pool.join(move || drop(a), move || drop(b));
        assert_eq!(drops.load(Ordering::SeqCst), 2);

        // a panics: b still runs and both captures are dropped once.
        let (a, b) = (DropCounter(drops.clone()), DropCounter(drops.clone()));
        let b_ran = AtomicBool::new(false);
        let payload = expect_panic("a panics", || {
            pool.join(
                move || {
                    let _a = a;
                    panic!("boom")
                },
                || {
                    let _b = b;
                    b_ran.store(true, Ordering::SeqCst);
                },
            )
        });
        assert_eq!(panic_message(&payload), Some("boom"));
        assert!(
            b_ran.load(Ordering::SeqCst),
            "b did not run after a panicked"
        );
        assert_eq!(drops.load(Ordering::SeqCst), 4);
        pool.shutdown();
    }
}

#[test]
fn join_from_outside_the_pool_runs_both_sides_on_its_workers() {
    let _watchdog = common::guard("join_from_outside_the_pool_runs_both_sides_on_its_workers");
    let pool = named_pool(2, "jout-");
    for round in 0..20 {
        let (a, b) = pool.join(
            || {
                if round % 2 == 0 {
                    invite_thieves();
                }
                location()
            },
            location,
        );
        assert_on_pool(&a, "jout-", 2);
        assert_on_pool(&b, "jout-", 2);
    }
    assert_eq!(stealpool::current_thread_index(), None);

    // From several outside threads at once.
    thread::scope(|s| {
        let callers: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    (0..25)
                        .map(|_| pool.join(location, location))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for caller in callers {
            for (a, b) in caller.join().unwrap() {
                assert_on_pool(&a, "jout-", 2);
                assert_on_pool(&b, "jout-", 2);
            }
        }
    });
    pool.shutdown();
}

#[test]
fn free_join_outside_any_pool_uses_the_global_pool() {
    let _watchdog = common::guard("free_join_outside_any_pool_uses_the_global_pool");
    assert_eq!(stealpool::current_thread_index(), None);
    let (a, b) = stealpool::join(location, location);
    for loc in [&a, &b] {
        assert!(loc.1.is_some(), "a side did not run on a worker: {loc:?}");
        assert!(
            loc.0
                .as_deref()
                .is_some_and(|n| n.starts_with("stealpool-")),
            "a side did not run on the global pool: {loc:?}"
        );
    }
    // Recursion from outside: the top join goes to the global pool, the rest stay there.
    assert_eq!(fib_free(16), fib_seq(16));
    let off_pool = AtomicUsize::new(0);
    let ((), fib) = stealpool::join(|| (), || fib_free_on(12, "stealpool-", &off_pool));
    assert_eq!(fib, fib_seq(12));
    assert_eq!(off_pool.load(Ordering::Relaxed), 0);
    assert_eq!(stealpool::current_thread_index(), None);
}

#[test]
fn free_join_on_a_worker_uses_that_workers_pool() {
    let _watchdog = common::guard("free_join_on_a_worker_uses_that_workers_pool");
    let pool = named_pool(2, "jfree-");
    let (a, b) = pool.install(|| stealpool::join(location, location));
    assert_on_pool(&a, "jfree-", 2);
    assert_on_pool(&b, "jfree-", 2);

    // From a spawned task, with the b side likely stolen.
    let handle = pool.spawn(|| {
        stealpool::join(
            || {
                invite_thieves();
                location()
            },
            location,
        )
    });
    let (a, b) = common::join_within(handle, "free join in a task").unwrap();
    assert_on_pool(&a, "jfree-", 2);
    assert_on_pool(&b, "jfree-", 2);

    // Inside a worker of pool Q that runs inside an install on P from a worker of Q: the
    // free join follows the worker it is called on.
    let other = named_pool(1, "jfrq-");
    let (on_other, on_pool) = other.install(|| {
        let here = stealpool::join(location, location);
        let there = pool.install(|| stealpool::join(location, location));
        (here, there)
    });
    assert_on_pool(&on_other.0, "jfrq-", 1);
    assert_on_pool(&on_other.1, "jfrq-", 1);
    assert_on_pool(&on_pool.0, "jfree-", 2);
    assert_on_pool(&on_pool.1, "jfree-", 2);
    other.shutdown();
    pool.shutdown();
}

#[test]
fn a_one_thread_pool_joining_on_another_pool_keeps_running_its_own_jobs() {
    let _watchdog =
        common::guard("a_one_thread_pool_joining_on_another_pool_keeps_running_its_own_jobs");
    // A's only worker calls B.join; both sides (on B) spawn tasks onto A and wait for them.
    // Only A's worker can run those, and it is inside B.join: it must run A's jobs while it
    // waits.
    let a = named_pool(1, "jxa-");
    let b = named_pool(1, "jxb-");
    let (a2, b2) = (a.clone(), b.clone());
    let handle = a.spawn(move || {
        let outer = location();
        let ((side_a, task_a), (side_b, task_b)) = b2.join(
            || (location(), a2.spawn(location).join().unwrap()),
            || (location(), a2.spawn(location).join().unwrap()),
        );
        (outer, side_a, task_a, side_b, task_b)
    });
    let (outer, side_a, task_a, side_b, task_b) =
        common::join_within(handle, "cross-pool join").unwrap();
    assert_on_pool(&outer, "jxa-", 1);
    assert_on_pool(&side_a, "jxb-", 1);
    assert_on_pool(&side_b, "jxb-", 1);
    assert_on_pool(&task_a, "jxa-", 1);
    assert_on_pool(&task_b, "jxa-", 1);

    // The same through install, with the calling worker inside a join of its own pool, and
    // the sides waiting for A with A.join and A.install.
    let r = a.install(|| {
        stealpool::join(
            || {
                b.join(
                    || a.join(|| fib_free(10), || a.spawn(|| fib_seq(9)).join().unwrap()),
                    || a.install(|| fib_free(8)),
                )
            },
            || fib_free(7),
        )
    });
    assert_eq!(r, (((fib_seq(10), fib_seq(9)), fib_seq(8)), fib_seq(7)));
    a.shutdown();
    b.shutdown();
}

/// Runs on `pools[side]`: joins two calls on the other pool, down to `depth` 0. Returns the
/// number of nodes; counts those that ran on the wrong pool.
fn ping_pong(
    pools: [&WorkerPool; 2],
    names: [&str; 2],
    side: usize,
    depth: u32,
    wrong: &AtomicUsize,
) -> u64 {
    if !on_thread_named(names[side]) {
        wrong.fetch_add(1, Ordering::SeqCst);
    }
    if depth == 0 {
        return 1;
    }
    let other = 1 - side;
    let (x, y) = pools[other].join(
        || ping_pong(pools, names, other, depth - 1, wrong),
        || ping_pong(pools, names, other, depth - 1, wrong),
    );
    x + y + 1
}

#[test]
fn two_pools_joining_into_each_other_recursively_finish() {
    let _watchdog = common::guard("two_pools_joining_into_each_other_recursively_finish");
    for (wa, wb, na, nb) in [
        (1, 1, "jpp11a-", "jpp11b-"),
        (1, 2, "jpp12a-", "jpp12b-"),
        (2, 2, "jpp22a-", "jpp22b-"),
    ] {
        let a = named_pool(wa, na);
        let b = named_pool(wb, nb);
        for depth in [1, 4, 6] {
            let wrong = AtomicUsize::new(0);
            let nodes = a.install(|| ping_pong([&a, &b], [na, nb], 0, depth, &wrong));
            assert_eq!(
                nodes,
                (1 << (depth + 1)) - 1,
                "pools {wa}/{wb}, depth {depth}"
            );
            assert_eq!(
                wrong.load(Ordering::SeqCst),
                0,
                "a node ran on the wrong pool"
            );
        }
        // Both pools are fine afterwards.
        check_pool_still_works(&a);
        check_pool_still_works(&b);
        a.shutdown();
        b.shutdown();
    }
}

#[test]
fn nested_fork_join_on_a_one_thread_pool_finishes() {
    let _watchdog = common::guard("nested_fork_join_on_a_one_thread_pool_finishes");
    let pool = pool(1);
    let total = AtomicUsize::new(0);
    // join -> scope -> spawned scope task -> join -> (join | spawn + JoinHandle::join)
    let (left, right) = pool.join(
        || {
            pool.scope(|s| {
                for i in 0..4u32 {
                    let total = &total;
                    s.spawn(move |_| {
                        let (p, q) = stealpool::join(
                            || fib_free(8 + i),
                            || stealpool::spawn(move || fib_seq(6 + i)).join().unwrap(),
                        );
                        total.fetch_add((p + q) as usize, Ordering::SeqCst);
                    });
                }
                fib_free(5)
            })
        },
        || {
            // join -> spawned task -> scope -> join
            let handle = stealpool::spawn(|| {
                let mut parts = [0u64; 3];
                stealpool::scope(|s| {
                    for (i, part) in parts.iter_mut().enumerate() {
                        s.spawn(move |_| {
                            let (x, y) = stealpool::join(|| fib_free(6), || fib_free(i as u32));
                            *part = x + y;
                        });
                    }
                });
                parts
            });
            handle.join().unwrap()
        },
    );
    let expected_total: u64 = (0..4).map(|i| fib_seq(8 + i) + fib_seq(6 + i)).sum();
    assert_eq!(total.load(Ordering::SeqCst) as u64, expected_total);
    assert_eq!(left, fib_seq(5));
    assert_eq!(
        right,
        [fib_seq(6), fib_seq(6) + 1, fib_seq(6) + 1],
        "fib(0), fib(1), fib(2) = 0, 1, 1"
    );
    pool.shutdown();
}

#[test]
fn a_join_side_waiting_for_a_task_on_the_same_one_thread_pool_finishes() {
    let _watchdog =
        common::guard("a_join_side_waiting_for_a_task_on_the_same_one_thread_pool_finishes");
    let pool = pool(1);
    // Each side spawns onto the pool's only worker (which runs the join) and waits.
    let (a, b) = pool.join(
        || stealpool::spawn(|| 7).join().unwrap(),
        || pool.spawn(|| 8).join().unwrap(),
    );
    assert_eq!((a, b), (7, 8));

    // A task spawned before the join, below the join's frame on the deque; the other side
    // waits for a task of its own meanwhile.
    let (a, b) = pool.install(|| {
        let early = stealpool::spawn(|| 3);
        stealpool::join(
            || early.join().unwrap(),
            || stealpool::spawn(|| 4).join().unwrap(),
        )
    });
    assert_eq!((a, b), (3, 4));

    // b waits for a task that a spawned (and a waits for another one first). On one thread
    // b can only start once a waits or returns, both after the handle is in the slot.
    let slot = Mutex::new(None);
    let (a, b) = pool.install(|| {
        stealpool::join(
            || {
                let first = stealpool::spawn(|| 10);
                *slot.lock().unwrap() = Some(stealpool::spawn(|| 20));
                first.join().unwrap()
            },
            || {
                let handle = slot.lock().unwrap().take().expect("a filled the slot");
                handle.join().unwrap()
            },
        )
    });
    assert_eq!((a, b), (10, 20));

    // Both sides wait for a chain of tasks, each of which joins its own child.
    fn chain(depth: u32) -> u32 {
        if depth == 0 {
            0
        } else {
            stealpool::spawn(move || chain(depth - 1)).join().unwrap() + 1
        }
    }
    let (a, b) = pool.join(|| chain(20), || chain(30));
    assert_eq!((a, b), (20, 30));
    pool.shutdown();
}

#[test]
fn a_join_that_shuts_its_own_pool_down_still_finishes() {
    let _watchdog = common::guard("a_join_that_shuts_its_own_pool_down_still_finishes");
    for width in [1, 2] {
        let pool = pool(width);
        let (a, b) = pool.join(
            || {
                // From a worker, shutdown only closes the pool; the join still finishes.
                pool.shutdown();
                invite_thieves();
                fib_free(14)
            },
            || stealpool::spawn(|| fib_seq(12)).join().unwrap() + fib_free(12),
        );
        assert_eq!((a, b), (fib_seq(14), 2 * fib_seq(12)));
        common::shutdown_within(&pool, "shutdown after a join that closed the pool");
        assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
    }
}

#[test]
fn after_shutdown_join_runs_a_then_b_on_the_calling_thread() {
    let _watchdog = common::guard("after_shutdown_join_runs_a_then_b_on_the_calling_thread");
    let pool = named_pool(2, "jshut-");
    assert_eq!(pool.join(|| 1, || 2), (1, 2));
    pool.shutdown();

    let me = thread::current().id();
    let order = Mutex::new(Vec::new());
    let (a, b) = pool.join(
        || {
            order.lock().unwrap().push('a');
            (thread::current().id(), stealpool::current_thread_index())
        },
        || {
            order.lock().unwrap().push('b');
            (thread::current().id(), stealpool::current_thread_index())
        },
    );
    assert_eq!(a, (me, None), "a did not run on the calling thread");
    assert_eq!(b, (me, None), "b did not run on the calling thread");
    assert_eq!(*order.lock().unwrap(), ['a', 'b']);

    // Results, borrowed mutable data, recursion.
    let mut data = [0u32; 8];
    let (left, right) = data.split_at_mut(4);
    let (x, y) = pool.join(
        || {
            left.fill(1);
            "left"
        },
        || {
            right.fill(2);
            "right"
        },
    );
    assert_eq!((x, y), ("left", "right"));
    assert_eq!(data, [1, 1, 1, 1, 2, 2, 2, 2]);
    assert_eq!(fib_with(&pool, 15), fib_seq(15));

    // Panics still propagate, with the same rules.
    let b_ran = AtomicBool::new(false);
    let payload = expect_panic("a panics after shutdown", || {
        pool.join(
            || -> u32 { panic!("a after shutdown") },
            || b_ran.store(true, Ordering::SeqCst),
        )
    });
    assert_eq!(panic_message(&payload), Some("a after shutdown"));
    assert!(
        b_ran.load(Ordering::SeqCst),
        "b did not run after a panicked"
    );

    let a_ran = AtomicBool::new(false);
    let payload = expect_panic("b panics after shutdown", || {
        pool.join(
            || a_ran.store(true, Ordering::SeqCst),
            || -> u32 { panic!("b after shutdown") },
        )
    });
    assert_eq!(panic_message(&payload), Some("b after shutdown"));
    assert!(a_ran.load(Ordering::SeqCst));

    let payload = expect_panic("both panic after shutdown", || {
        pool.join(
            || -> u32 { panic!("a wins") },
            || -> u32 { panic!("b loses") },
        )
    });
    assert_eq!(panic_message(&payload), Some("a wins"));

    // Called from a worker of another, live pool: the sides run right there.
    let other = named_pool(1, "jshot-");
    let (a, b) = other.install(|| pool.join(location, location));
    assert_on_pool(&a, "jshot-", 1);
    assert_on_pool(&b, "jshot-", 1);
    other.shutdown();
}
