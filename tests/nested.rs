//! Joins inside tasks (the worker helps instead of blocking), nesting, joins across pools, and
//! `install`.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};

use common::{assert_on_pool, location, named_pool, pool};

#[test]
fn a_one_thread_pool_task_can_join_its_child() {
    let _watchdog = common::guard("a_one_thread_pool_task_can_join_its_child");
    let pool = pool(1);
    let outer = pool.spawn(|| {
        let inner = stealpool::spawn(|| 20);
        inner.join().unwrap() + 1
    });
    assert_eq!(common::join_within(outer, "outer task").unwrap(), 21);

    // Several children, joined in the order they were spawned (the opposite of the order a
    // LIFO deque hands them out).
    let pool2 = pool.clone();
    let outer = pool.spawn(move || {
        let children: Vec<_> = (0..10u32).map(|i| pool2.spawn(move || i * i)).collect();
        children.into_iter().map(|c| c.join().unwrap()).sum::<u32>()
    });
    assert_eq!(common::join_within(outer, "outer task").unwrap(), 285);
    pool.shutdown();
}

fn chain(depth: u32) -> u32 {
    if depth == 0 {
        0
    } else {
        stealpool::spawn(move || chain(depth - 1)).join().unwrap() + 1
    }
}

#[test]
fn a_deep_chain_of_joins_on_one_thread() {
    let _watchdog = common::guard("a_deep_chain_of_joins_on_one_thread");
    let pool = pool(1);
    let handle = pool.spawn(|| chain(50));
    assert_eq!(common::join_within(handle, "chain").unwrap(), 50);
    pool.shutdown();
}

/// Each node spawns two children down to `depth` 0 and joins them; returns the sum of the
/// node values in its subtree (node `v` has children `2v` and `2v + 1`).
fn tree(value: u64, depth: u32) -> u64 {
    if depth == 0 {
        return value;
    }
    let left = stealpool::spawn(move || tree(2 * value, depth - 1));
    let right = stealpool::spawn(move || tree(2 * value + 1, depth - 1));
    value + left.join().unwrap() + right.join().unwrap()
}

fn tree_expected(value: u64, depth: u32) -> u64 {
    if depth == 0 {
        value
    } else {
        value + tree_expected(2 * value, depth - 1) + tree_expected(2 * value + 1, depth - 1)
    }
}

#[test]
fn eight_trees_three_deep_on_two_threads() {
    let _watchdog = common::guard("eight_trees_three_deep_on_two_threads");
    let pool = pool(2);
    let handles: Vec<_> = (1..=8u64)
        .map(|root| pool.spawn(move || tree(root, 3)))
        .collect();
    for (root, handle) in (1..=8u64).zip(handles) {
        let sum = common::join_within(handle, "tree").unwrap();
        assert_eq!(sum, tree_expected(root, 3), "tree rooted at {root}");
    }
    pool.shutdown();
}

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let a = stealpool::spawn(move || fib(n - 1));
    let b = fib(n - 2);
    a.join().unwrap() + b
}

#[test]
fn recursive_fork_join() {
    let _watchdog = common::guard("recursive_fork_join");
    let pool = pool(2);
    let handle = pool.spawn(|| fib(18));
    assert_eq!(common::join_within(handle, "fib").unwrap(), 2584);
    pool.shutdown();
}

#[test]
fn a_worker_joining_a_task_of_another_pool_keeps_helping_its_own() {
    let _watchdog = common::guard("a_worker_joining_a_task_of_another_pool_keeps_helping_its_own");
    // a's only worker waits for a task on b, which needs a task on a to finish first: a's
    // worker must run that task while it waits.
    let a = pool(1);
    let b = pool(1);
    let (a2, b2) = (a.clone(), b.clone());
    let outer = a.spawn(move || {
        let on_b = b2.spawn(move || a2.spawn(|| 7).join().unwrap() * 6);
        on_b.join().unwrap()
    });
    assert_eq!(
        common::join_within(outer, "ping-pong across pools").unwrap(),
        42
    );
    a.shutdown();
    b.shutdown();
}

#[test]
fn install_returns_values_and_borrows_from_the_stack() {
    let _watchdog = common::guard("install_returns_values_and_borrows_from_the_stack");
    let pool = named_pool(2, "inst-ret-");
    let data: Vec<u64> = (1..=100).collect();
    let sum = pool.install(|| data.iter().sum::<u64>());
    assert_eq!(sum, 5050);

    let mut out = Vec::new();
    pool.install(|| out.extend(data.iter().map(|x| x * 2)));
    assert_eq!(out.len(), 100);
    assert_eq!(out[99], 200);

    let text = String::from("borrowed");
    let len = pool.install(|| text.len());
    assert_eq!(len, 8);
    pool.shutdown();
}

#[test]
fn install_runs_on_a_worker_of_that_pool() {
    let _watchdog = common::guard("install_runs_on_a_worker_of_that_pool");
    let pool = named_pool(2, "inst-on-");
    let loc = pool.install(location);
    assert_on_pool(&loc, "inst-on-", 2);
    // Inside install, stealpool::spawn refers to this pool.
    let child = pool.install(|| stealpool::spawn(location).join().unwrap());
    assert_on_pool(&child, "inst-on-", 2);
    assert_eq!(stealpool::current_thread_index(), None);

    // From several outside threads at once.
    std::thread::scope(|s| {
        let joins: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..50).map(|_| pool.install(location)).collect::<Vec<_>>()))
            .collect();
        for join in joins {
            for loc in join.join().unwrap() {
                assert_on_pool(&loc, "inst-on-", 2);
            }
        }
    });
    pool.shutdown();
}

#[test]
fn install_re_raises_a_panic_in_the_caller() {
    let _watchdog = common::guard("install_re_raises_a_panic_in_the_caller");
    let pool = pool(2);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.install(|| -> u32 { panic!("install boom") })
    }))
    .expect_err("the panic must reach the caller");
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"install boom"));

    let n = 3;
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        pool.install(|| -> u32 { panic!("install boom {n}") })
    }))
    .expect_err("the panic must reach the caller");
    assert_eq!(
        caught.downcast_ref::<String>().map(String::as_str),
        Some("install boom 3")
    );

    // The pool is fine afterwards.
    assert_eq!(pool.install(|| 5), 5);
    assert_eq!(pool.spawn(|| 6).join().unwrap(), 6);
    pool.shutdown();
}

#[test]
fn install_from_one_of_the_pools_own_workers_runs_inline() {
    let _watchdog = common::guard("install_from_one_of_the_pools_own_workers_runs_inline");
    // On a one-thread pool anything but running inline would deadlock.
    for width in [1, 2] {
        let pool = pool(width);
        let inner_pool = pool.clone();
        let handle = pool.spawn(move || {
            let outer = (
                std::thread::current().id(),
                stealpool::current_thread_index(),
            );
            let inner = inner_pool.install(|| {
                (
                    std::thread::current().id(),
                    stealpool::current_thread_index(),
                )
            });
            (outer, inner)
        });
        let (outer, inner) = common::join_within(handle, "install inside a task").unwrap();
        assert_eq!(outer, inner, "install from a worker did not run inline");
        pool.shutdown();
    }
}

#[test]
fn install_from_a_worker_of_another_pool_runs_on_the_target_pool() {
    let _watchdog = common::guard("install_from_a_worker_of_another_pool_runs_on_the_target_pool");
    let a = named_pool(1, "inst-a-");
    let b = named_pool(2, "inst-b-");
    let b2 = b.clone();
    let (on_a, on_b) = a
        .spawn(move || (location(), b2.install(location)))
        .join()
        .unwrap();
    assert_on_pool(&on_a, "inst-a-", 1);
    assert_on_pool(&on_b, "inst-b-", 2);
    a.shutdown();
    b.shutdown();
}

#[test]
fn tasks_blocked_in_joins_do_not_lose_work() {
    let _watchdog = common::guard("tasks_blocked_in_joins_do_not_lose_work");
    // Parents that join children while other parents' children are being stolen: count every
    // leaf exactly once.
    let pool = pool(2);
    let leaves = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for _ in 0..20 {
        let leaves = leaves.clone();
        let tx = tx.clone();
        drop(pool.spawn(move || {
            let children: Vec<_> = (0..10)
                .map(|_| {
                    let leaves = leaves.clone();
                    stealpool::spawn(move || {
                        let grandchildren: Vec<_> = (0..5)
                            .map(|_| {
                                let leaves = leaves.clone();
                                stealpool::spawn(move || leaves.fetch_add(1, Ordering::SeqCst))
                            })
                            .collect();
                        for g in grandchildren {
                            g.join().unwrap();
                        }
                    })
                })
                .collect();
            for c in children {
                c.join().unwrap();
            }
            tx.send(()).unwrap();
        }));
    }
    drop(tx);
    common::recv_n(&rx, 20, "parents");
    assert_eq!(leaves.load(Ordering::SeqCst), 20 * 10 * 5);
    pool.shutdown();
}

/// A one-thread pool A whose only worker installs into pool B, where the op needs a task on
/// A to finish: A's worker must keep running A's jobs while it waits, or both pools hang.
#[test]
fn install_into_another_pool_keeps_the_calling_worker_helping() {
    let _watchdog = common::guard("install_into_another_pool_keeps_the_calling_worker_helping");
    let a = named_pool(1, "help-a-");
    let b = named_pool(1, "help-b-");
    let (a2, b2) = (a.clone(), b.clone());
    let handle = a.spawn(move || {
        b2.install(move || {
            // Runs on B; this task can only run on A, whose one worker is in `install`.
            let on_a = a2.spawn(location);
            on_a.join().unwrap()
        })
    });
    let ran_on = common::join_within(handle, "cross-pool install").unwrap();
    assert!(
        ran_on
            .0
            .as_deref()
            .is_some_and(|name| name.starts_with("help-a-")),
        "the task spawned on A ran on {ran_on:?}"
    );
    a.shutdown();
    b.shutdown();
}
