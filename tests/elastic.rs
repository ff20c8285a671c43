//! Elastic width (`PoolBuilder::min_threads`, `keep_alive`): a pool starts `min` workers,
//! grows toward `num_threads` while work waits, and shrinks back after `keep_alive` idle.
//! Threads are counted by name in `/proc/self/task` (`common::threads_named`); every wait is
//! a bounded liveness wait, never a timing assertion.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{join_within, threads_named, wait_for};
use stealpool::WorkerPool;

fn elastic(num: usize, min: usize, keep_alive_ms: u64, prefix: &'static str) -> WorkerPool {
    WorkerPool::builder()
        .num_threads(num)
        .min_threads(min)
        .keep_alive(Duration::from_millis(keep_alive_ms))
        .thread_name(move |i| format!("{prefix}{i}"))
        .build()
        .unwrap()
}

/// Starts with `min` (the count is waited for: a new thread takes its name a moment after it
/// starts, and no work means no growth); four tasks that can only finish together (a barrier of four) make it
/// grow to four; then it shrinks back to `min`.
#[test]
fn grows_while_work_waits_and_shrinks_when_idle() {
    let pool = elastic(4, 1, 50, "el-a");
    wait_for("the first workers to start", || threads_named("el-a") == 1);
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let barrier = barrier.clone();
            pool.spawn(move || {
                barrier.wait();
                stealpool::current_thread_index().unwrap()
            })
        })
        .collect();
    let mut indices: Vec<usize> = handles
        .into_iter()
        .map(|h| join_within(h, "a task of the barrier").unwrap())
        .collect();
    indices.sort();
    assert_eq!(indices, [0, 1, 2, 3]);
    assert!(threads_named("el-a") <= 4);
    wait_for("the pool to shrink to min_threads", || {
        threads_named("el-a") == 1
    });
    // And it grows again on the next burst.
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            pool.spawn(move || {
                barrier.wait();
            })
        })
        .collect();
    for h in handles {
        join_within(h, "a task of the second barrier").unwrap();
    }
    assert_eq!(pool.num_threads(), 4);
    pool.shutdown();
    wait_for("every thread to exit", || threads_named("el-a") == 0);
}

/// Without `min_threads` the width is fixed, whatever `keep_alive` says.
#[test]
fn fixed_width_by_default() {
    let pool = WorkerPool::builder()
        .num_threads(3)
        .keep_alive(Duration::from_millis(1))
        .thread_name(|i| format!("el-f{i}"))
        .build()
        .unwrap();
    wait_for("the first workers to start", || threads_named("el-f") == 3);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(threads_named("el-f"), 3);
    drop(pool);
}

/// Growth also starts from a worker's own spawns, and every task runs exactly once while
/// workers come and go (keep-alive of 1 ms, bursts with pauses between them).
#[test]
fn churn_loses_nothing() {
    let pool = elastic(4, 1, 1, "el-c");
    let ran = Arc::new(AtomicUsize::new(0));
    for round in 0..30 {
        let ran2 = ran.clone();
        let total: usize = pool.install(move || {
            let handles: Vec<_> = (0..64)
                .map(|i| {
                    let ran = ran2.clone();
                    stealpool::spawn(move || {
                        ran.fetch_add(1, Ordering::Relaxed);
                        i
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(total, (0..64).sum::<usize>());
        if round % 3 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    assert_eq!(ran.load(Ordering::SeqCst), 30 * 64);
    assert!(threads_named("el-c") <= 4);
}

/// A broadcast reaches every slot, starting the workers that are missing.
#[test]
fn broadcast_starts_missing_workers() {
    // `broadcast` blocks: a broadcast that never reaches a missing worker aborts the test.
    let _watchdog = common::guard("broadcast_starts_missing_workers");
    let pool = elastic(3, 1, 20, "el-b");
    wait_for("the first workers to start", || threads_named("el-b") == 1);
    assert_eq!(pool.broadcast(|ctx| ctx.index()), [0, 1, 2]);
    wait_for("the pool to shrink", || threads_named("el-b") == 1);
    assert_eq!(pool.broadcast(|ctx| ctx.index()), [0, 1, 2]);
}

/// A pool shut down while some slots are empty ends normally.
#[test]
fn shutdown_with_empty_slots() {
    let pool = elastic(4, 2, 10_000, "el-s");
    wait_for("the first workers to start", || threads_named("el-s") == 2);
    let h = pool.spawn(|| 5);
    assert_eq!(join_within(h, "a task").unwrap(), 5);
    common::shutdown_within(&pool, "an elastic pool");
    wait_for("every thread to exit", || threads_named("el-s") == 0);
}

#[test]
fn bad_settings_are_build_errors() {
    for min in [0, 5] {
        let err = WorkerPool::builder()
            .num_threads(4)
            .min_threads(min)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "min_threads", "{err}");
    }
    let err = WorkerPool::builder()
        .num_threads(2)
        .min_threads(1)
        .keep_alive(Duration::ZERO)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "keep_alive", "{err}");
    assert_eq!(stealpool::DEFAULT_KEEP_ALIVE, Duration::from_secs(10));
}
