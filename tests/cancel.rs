//! `JoinHandle::cancel` and `stealpool::is_cancelled`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use common::{DropCounter, join_within};

/// A one-thread pool whose worker is held until the returned sender sends (or is dropped).
fn held_pool() -> (
    stealpool::WorkerPool,
    mpsc::Sender<()>,
    stealpool::JoinHandle<()>,
) {
    let pool = common::pool(1);
    let (release, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let holder = pool.spawn(move || {
        started_tx.send(()).unwrap();
        let _ = gate.recv();
    });
    started.recv().unwrap();
    (pool, release, holder)
}

#[test]
fn a_task_cancelled_before_it_starts_never_runs_and_resolves_at_once() {
    let _watchdog =
        common::guard("a_task_cancelled_before_it_starts_never_runs_and_resolves_at_once");
    let (pool, release, holder) = held_pool();
    let ran = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let capture = DropCounter(drops.clone());
    let ran_in_task = ran.clone();
    let task = pool.spawn(move || {
        let _keep = &capture;
        ran_in_task.fetch_add(1, Ordering::SeqCst);
    });
    assert!(task.cancel());
    assert!(task.is_finished(), "a cancelled task resolves at once");
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the closure is dropped by cancel"
    );
    // Resolved while the only worker is still held: nothing waited for the queue.
    assert!(task.join().unwrap_err().is_cancelled());
    release.send(()).unwrap();
    join_within(holder, "the holder").unwrap();
    // The worker pops the cancelled job later and must neither run nor drop it again.
    assert_eq!(join_within(pool.spawn(|| 5), "a later task").unwrap(), 5);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn cancelling_a_running_task_asks_it_to_stop() {
    let _watchdog = common::guard("cancelling_a_running_task_asks_it_to_stop");
    let pool = common::pool(2);
    let (started_tx, started) = mpsc::channel();
    let task = pool.spawn(move || {
        assert!(!stealpool::is_cancelled());
        started_tx.send(()).unwrap();
        let mut polls = 0u64;
        while !stealpool::is_cancelled() {
            polls += 1;
            std::thread::yield_now();
        }
        polls
    });
    started.recv().unwrap();
    assert!(
        !task.cancel(),
        "a running task is not cancelled, only asked"
    );
    assert!(!task.cancel(), "asking twice changes nothing");
    assert!(join_within(task, "the running task").is_ok());
}

#[test]
fn cancel_after_the_end_does_nothing() {
    let _watchdog = common::guard("cancel_after_the_end_does_nothing");
    let pool = common::pool(1);
    let task = pool.spawn(|| 3);
    common::wait_for("the task to finish", || task.is_finished());
    assert!(!task.cancel());
    assert_eq!(task.join().unwrap(), 3);
}

#[test]
fn a_second_cancel_returns_false() {
    let _watchdog = common::guard("a_second_cancel_returns_false");
    let (pool, release, holder) = held_pool();
    let task = pool.spawn(|| ());
    assert!(task.cancel());
    assert!(!task.cancel());
    drop(release);
    join_within(holder, "the holder").unwrap();
    assert!(task.join().unwrap_err().is_cancelled());
    pool.shutdown();
}

#[test]
fn an_awaited_handle_sees_the_cancellation() {
    let _watchdog = common::guard("an_awaited_handle_sees_the_cancellation");
    let (pool, release, holder) = held_pool();
    let task = pool.spawn(|| 1);
    assert!(task.cancel());
    let result = futures::executor::block_on(task);
    assert!(result.unwrap_err().is_cancelled());
    drop(release);
    join_within(holder, "the holder").unwrap();
}

#[test]
fn is_cancelled_is_false_outside_tasks() {
    let _watchdog = common::guard("is_cancelled_is_false_outside_tasks");
    assert!(!stealpool::is_cancelled());
    let pool = common::pool(1);
    assert!(!pool.install(stealpool::is_cancelled));
}

#[test]
fn every_task_either_runs_once_or_is_cancelled() {
    let _watchdog = common::guard("every_task_either_runs_once_or_is_cancelled");
    for threads in [1, 2, 8] {
        let pool = common::pool(threads);
        let runs = Arc::new((0..2000).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let drops = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2000)
            .map(|i| {
                let runs = runs.clone();
                let capture = DropCounter(drops.clone());
                pool.spawn(move || {
                    let _keep = &capture;
                    runs[i].fetch_add(1, Ordering::SeqCst);
                    i
                })
            })
            .collect();
        let mut cancelled = vec![false; 2000];
        for (i, handle) in handles.iter().enumerate() {
            if i % 3 != 0 {
                cancelled[i] = handle.cancel();
            }
        }
        for (i, handle) in handles.into_iter().enumerate() {
            match join_within(handle, "a task of the mix") {
                Ok(value) => {
                    assert_eq!(value, i);
                    assert!(!cancelled[i], "task {i}: cancel said true but it ran");
                    assert_eq!(runs[i].load(Ordering::SeqCst), 1);
                }
                Err(err) => {
                    assert!(err.is_cancelled());
                    assert!(cancelled[i], "task {i}: cancelled without cancel saying so");
                    assert_eq!(runs[i].load(Ordering::SeqCst), 0);
                }
            }
        }
        pool.shutdown();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            2000,
            "each capture dropped exactly once"
        );
    }
}
