//! `stealpool::block_in_place` and `PoolBuilder::max_blocking_threads`: while a task blocks,
//! a spare worker keeps the pool at its width, and gives way afterwards. Spare threads are
//! counted by name in `/proc/self/task` (`common::threads_named`); the spare's thread is
//! started before `op` runs, so a count taken inside `op` is exact.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};

use common::{Gate, join_within, threads_named, wait_for};
use stealpool::WorkerPool;

fn pool(threads: usize, max_blocking: Option<usize>, prefix: &'static str) -> WorkerPool {
    let mut builder = WorkerPool::builder()
        .num_threads(threads)
        .thread_name(move |i| format!("{prefix}{i}"));
    if let Some(n) = max_blocking {
        builder = builder.max_blocking_threads(n);
    }
    builder.build().unwrap()
}

/// How many threads are named `{prefix}*`, once at least `n` are: a new thread takes its name
/// a moment after it starts. When `n` is 1 (no spare expected), it also lets 20 ms pass first,
/// so that a spare started by mistake would have its name by then.
fn named_at_least(prefix: &str, n: usize) -> usize {
    wait_for("the threads to take their names", || {
        threads_named(prefix) >= n
    });
    if n == 1 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    threads_named(prefix)
}

/// The pool's only worker blocks until another task of the same pool opens the gate: that
/// task can only run on a spare. Without compensation this never finishes (the watchdog of
/// `join_within` fails the test).
#[test]
fn a_blocked_worker_is_replaced_while_it_blocks() {
    let pool = pool(1, None, "bip-a");
    let (tx, rx) = mpsc::channel::<()>();
    let blocked = pool.spawn(move || {
        stealpool::block_in_place(|| rx.recv().unwrap());
        stealpool::current_thread_index()
    });
    let opener = pool.spawn(move || {
        tx.send(()).unwrap();
        stealpool::current_thread_index()
    });
    assert_eq!(join_within(opener, "the opener").unwrap(), Some(1));
    assert_eq!(join_within(blocked, "the blocked task").unwrap(), Some(0));
    // The spare gives way once nobody blocks.
    wait_for("the spare to leave", || threads_named("bip-a") == 1);
}

/// Inside `op` the spare's thread exists already; with `max_blocking_threads(0)` there is
/// none, and `block_in_place` just runs `op`.
#[test]
fn max_blocking_threads_zero_turns_compensation_off() {
    for (max, expected) in [(None, 2), (Some(1), 2), (Some(0), 1)] {
        let prefix = match max {
            None => "bip-d",
            Some(1) => "bip-1",
            _ => "bip-0",
        };
        let pool = pool(1, max, prefix);
        let seen = pool.install(|| stealpool::block_in_place(|| named_at_least(prefix, expected)));
        assert_eq!(seen, expected, "max_blocking_threads {max:?}");
        wait_for("the spare to leave", || threads_named(prefix) == 1);
    }
}

/// Two workers block at once: with `max_blocking_threads(1)` one spare runs, with the default
/// (the width, 2) two.
#[test]
fn the_bound_holds_across_the_pool() {
    for (max, prefix, spares) in [(Some(1), "bip-b1", 1), (None, "bip-b2", 2)] {
        let pool = Arc::new(pool(2, max, prefix));
        let inside = Arc::new(Barrier::new(3));
        let release = Gate::new();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let inside = inside.clone();
                let wait = release.waiter();
                pool.spawn(move || {
                    stealpool::block_in_place(|| {
                        inside.wait();
                        wait.wait();
                    })
                })
            })
            .collect();
        inside.wait();
        // Both are inside `op`, so both have asked for their spare.
        assert_eq!(
            named_at_least(prefix, 2 + spares),
            2 + spares,
            "max {max:?}"
        );
        release.open();
        for h in handles {
            join_within(h, "a blocking task").unwrap();
        }
        wait_for("the spares to leave", || threads_named(prefix) == 2);
    }
}

/// A spare with nothing to do sleeps while its worker blocks, and takes work that arrives
/// later: the pool keeps its width for the whole of `op`, not only for what was queued when
/// it began.
#[test]
fn a_sleeping_spare_takes_work_that_arrives_later() {
    let pool = Arc::new(pool(1, None, "bip-l"));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let blocked = pool.spawn(move || {
        stealpool::block_in_place(|| {
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
    });
    entered_rx.recv().unwrap();
    // Let the spare run out of work and fall asleep (if it has not, the test still holds).
    std::thread::sleep(std::time::Duration::from_millis(20));
    let later: Vec<_> = (0..16)
        .map(|_| pool.spawn(stealpool::current_thread_index))
        .collect();
    for h in later {
        assert_eq!(join_within(h, "work that came later").unwrap(), Some(1));
    }
    release_tx.send(()).unwrap();
    join_within(blocked, "the blocked task").unwrap();
    wait_for("the spare to leave", || threads_named("bip-l") == 1);
}

/// A nested `block_in_place` just runs its closure; a panic inside `op` unwinds out of it and
/// still ends the blocking (the spare leaves).
#[test]
fn nesting_and_panics() {
    let pool = pool(1, None, "bip-n");
    let nested = pool.install(|| {
        stealpool::block_in_place(|| stealpool::block_in_place(|| named_at_least("bip-n", 2)))
    });
    assert_eq!(nested, 2);
    let caught = pool.install(|| {
        std::panic::catch_unwind(|| {
            stealpool::block_in_place(|| -> () { panic!("while blocking") })
        })
    });
    assert!(caught.is_err());
    wait_for("the spare to leave", || threads_named("bip-n") == 1);
    // Off every pool it just runs `op`.
    assert_eq!(stealpool::block_in_place(|| 7), 7);
}

/// A pool shut down while a worker blocks, with its spare asleep, still ends once `op`
/// returns, with every task run.
#[test]
fn shutdown_while_a_spare_sleeps() {
    let pool = pool(1, None, "bip-s");
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let ran = Arc::new(AtomicUsize::new(0));
    let blocked = pool.spawn(move || {
        stealpool::block_in_place(|| {
            entered_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
    });
    entered_rx.recv().unwrap();
    for _ in 0..8 {
        let ran = ran.clone();
        pool.spawn(move || ran.fetch_add(1, Ordering::SeqCst));
    }
    let stopper = std::thread::spawn(move || {
        pool.shutdown();
    });
    release_tx.send(()).unwrap();
    join_within(blocked, "the blocked task").unwrap();
    stopper.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 8);
    wait_for("every thread to leave", || threads_named("bip-s") == 0);
}

#[test]
fn too_many_spares_is_a_build_error() {
    let err = WorkerPool::builder()
        .num_threads(4)
        .max_blocking_threads(stealpool::MAX_THREADS)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "max_blocking_threads");
    assert!(err.to_string().contains("max_blocking_threads"), "{err}");
    // Exactly the room left is fine (the threads start only when needed).
    let roomy = WorkerPool::builder()
        .num_threads(4)
        .max_blocking_threads(stealpool::MAX_THREADS - 4)
        .build()
        .unwrap();
    assert_eq!(roomy.install(|| stealpool::block_in_place(|| 1)), 1);
}
