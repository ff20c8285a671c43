//! Panics stay inside their task: they come back as a `TaskError`, and the pool (every one of
//! its workers) carries on.

mod common;

use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};

use common::{join_within, pool};
use stealpool::WorkerPool;

#[test]
fn a_literal_panic_message_comes_back() {
    let _watchdog = common::guard("a_literal_panic_message_comes_back");
    let pool = pool(2);
    let err = pool
        .spawn(|| -> u32 { panic!("literal boom") })
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert!(err.to_string().contains("literal boom"), "Display: {err}");
    assert!(
        format!("{err:?}").contains("literal boom"),
        "Debug: {err:?}"
    );
    let payload = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"literal boom"));
    pool.shutdown();
}

#[test]
fn a_formatted_panic_message_comes_back() {
    let _watchdog = common::guard("a_formatted_panic_message_comes_back");
    let pool = pool(2);
    let n = 42;
    let err = pool
        .spawn(move || -> u32 { panic!("formatted boom {n} {}", "end") })
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert!(
        err.to_string().contains("formatted boom 42 end"),
        "Display: {err}"
    );
    let payload = err.into_panic();
    let message = payload
        .downcast::<String>()
        .expect("a formatted panic carries a String");
    assert_eq!(*message, "formatted boom 42 end");
    pool.shutdown();
}

#[test]
fn a_non_string_payload_comes_back() {
    let _watchdog = common::guard("a_non_string_payload_comes_back");
    let pool = pool(1);
    let err = pool
        .spawn(|| std::panic::panic_any(7u32))
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert!(!err.to_string().is_empty());
    let payload = err.try_into_panic().expect("it is a panic");
    assert_eq!(payload.downcast_ref::<u32>(), Some(&7));
    pool.shutdown();
}

#[test]
fn a_panic_payload_can_be_resumed() {
    let _watchdog = common::guard("a_panic_payload_can_be_resumed");
    let pool = pool(1);
    let err = pool
        .spawn(|| -> () { panic!("resume me") })
        .join()
        .unwrap_err();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        panic::resume_unwind(err.into_panic());
    }))
    .unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"resume me"));
    pool.shutdown();
}

#[test]
fn into_panic_on_a_cancelled_error() {
    let _watchdog = common::guard("into_panic_on_a_cancelled_error");
    let pool = pool(1);
    pool.shutdown();
    let err = pool.spawn(|| 1).join().unwrap_err();
    assert!(!err.is_panic());
    let err = err
        .try_into_panic()
        .expect_err("a cancelled error has no payload");
    assert!(err.is_cancelled());
    // Documented: into_panic panics on an error that is not a panic.
    assert!(panic::catch_unwind(AssertUnwindSafe(move || err.into_panic())).is_err());
}

/// Runs rounds of two tasks that meet at a `Barrier(2)`: on a 2-thread pool each round needs
/// both workers, so this fails (instead of hanging) if one of them is gone. Returns the
/// worker indices seen.
fn both_workers_take_part(pool: &WorkerPool, rounds: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    for round in 0..rounds {
        let barrier = Arc::new(Barrier::new(2));
        let pair: Vec<_> = (0..2)
            .map(|_| {
                let barrier = barrier.clone();
                pool.spawn(move || {
                    barrier.wait();
                    stealpool::current_thread_index().expect("on a worker")
                })
            })
            .collect();
        let indices: Vec<usize> = pair
            .into_iter()
            .map(|h| join_within(h, "barrier round").unwrap())
            .collect();
        assert_ne!(indices[0], indices[1], "round {round}: one worker ran both");
        seen.extend(indices);
    }
    seen
}

#[test]
fn the_pool_keeps_working_after_panics() {
    let _watchdog = common::guard("the_pool_keeps_working_after_panics");
    let pool = pool(2);
    for i in 0..10 {
        let err = pool
            .spawn(move || -> u32 { panic!("panic number {i}") })
            .join()
            .unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains(&format!("panic number {i}")));
    }
    let handles: Vec<_> = (0..1000u64).map(|i| pool.spawn(move || i)).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 999 * 1000 / 2);

    let seen = both_workers_take_part(&pool, 50);
    assert_eq!(seen, BTreeSet::from([0, 1]), "a worker went missing");
    pool.shutdown();
}

#[test]
fn panics_mixed_with_normal_tasks() {
    let _watchdog = common::guard("panics_mixed_with_normal_tasks");
    let pool = pool(2);
    let handles: Vec<_> = (0..1000u32)
        .map(|i| {
            pool.spawn(move || {
                if i % 7 == 3 {
                    panic!("task {i} fails");
                }
                i
            })
        })
        .collect();
    for (i, handle) in (0u32..).zip(handles) {
        match handle.join() {
            Ok(value) => {
                assert_ne!(i % 7, 3, "task {i} should have panicked");
                assert_eq!(value, i);
            }
            Err(err) => {
                assert_eq!(i % 7, 3, "task {i} should not have panicked: {err}");
                assert!(err.to_string().contains(&format!("task {i} fails")));
            }
        }
    }
    assert_eq!(
        both_workers_take_part(&pool, 10),
        BTreeSet::from([0, 1]),
        "a worker went missing"
    );
    pool.shutdown();
}

#[test]
fn detached_panicking_tasks_break_nothing() {
    let _watchdog = common::guard("detached_panicking_tasks_break_nothing");
    let pool = pool(2);
    let ran = Arc::new(AtomicUsize::new(0));
    for i in 0..20 {
        let ran = ran.clone();
        drop(pool.spawn(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            panic!("detached panic {i}");
        }));
    }
    assert_pool_healthy(&pool);
    pool.shutdown();
    assert_eq!(ran.load(Ordering::SeqCst), 20);
}

/// A 2-thread pool still runs tasks correctly, on both of its workers.
fn assert_pool_healthy(pool: &WorkerPool) {
    let handles: Vec<_> = (0..100u32).map(|i| pool.spawn(move || i)).collect();
    for (i, handle) in (0u32..).zip(handles) {
        assert_eq!(handle.join().unwrap(), i);
    }
    assert_eq!(
        both_workers_take_part(pool, 10),
        BTreeSet::from([0, 1]),
        "a worker went missing"
    );
}

#[test]
fn a_child_panic_is_an_error_for_the_parent_only() {
    let _watchdog = common::guard("a_child_panic_is_an_error_for_the_parent_only");
    let pool = pool(1);
    let (child_failed, rest) = pool
        .spawn(|| {
            let child = stealpool::spawn(|| -> u32 { panic!("child fails") });
            let err = child.join().unwrap_err();
            let sibling = stealpool::spawn(|| 5u32);
            (
                err.is_panic() && err.to_string().contains("child fails"),
                sibling.join().unwrap(),
            )
        })
        .join()
        .unwrap();
    assert!(child_failed);
    assert_eq!(rest, 5);
    pool.shutdown();
}

/// Panics when dropped.
struct DropBomb;

impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("DropBomb went off");
    }
}

#[test]
fn a_panicking_drop_of_an_unclaimed_result_or_payload_breaks_nothing() {
    let _watchdog =
        common::guard("a_panicking_drop_of_an_unclaimed_result_or_payload_breaks_nothing");
    let pool = pool(2);
    // Detached: the worker drops the result (or the panic payload) itself.
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    for i in 0..4 {
        let gate = gate.clone();
        drop(pool.spawn(move || {
            gate.lock().unwrap().recv().unwrap();
            if i % 2 == 0 {
                std::panic::panic_any(DropBomb);
            }
            DropBomb
        }));
    }
    for _ in 0..4 {
        release.send(()).unwrap();
    }
    assert_pool_healthy(&pool);
    pool.shutdown();
}

/// A pool whose `panic_handler` sends each panic's message, with the name of the thread that
/// reported it, down a channel.
fn reporting_pool() -> (WorkerPool, mpsc::Receiver<(String, Option<String>)>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let pool = WorkerPool::builder()
        .num_threads(2)
        .thread_name(|i| format!("reporting-{i}"))
        .panic_handler(move |payload| {
            let message = common::panic_message(&payload).unwrap_or("?").to_owned();
            let thread = std::thread::current().name().map(str::to_owned);
            let _ = tx.lock().unwrap().send((message, thread));
        })
        .build()
        .unwrap();
    (pool, rx)
}

#[test]
fn an_unread_panic_reaches_the_handler_when_its_handle_is_dropped_after_the_task_ended() {
    let _watchdog = common::guard(
        "an_unread_panic_reaches_the_handler_when_its_handle_is_dropped_after_the_task_ended",
    );
    let (pool, reports) = reporting_pool();
    let late = pool.spawn(|| -> () { panic!("dropped after it ended") });
    common::wait_for("the panicking task to end", || late.is_finished());
    assert!(
        reports.try_recv().is_err(),
        "reported while the handle could still read it"
    );
    drop(late);
    // Reported by the thread that dropped the handle.
    let (message, thread) = reports
        .try_recv()
        .expect("the dropped handle reported the panic");
    assert_eq!(message, "dropped after it ended");
    assert_eq!(thread, std::thread::current().name().map(str::to_owned));
    // Dropped before it ended: reported on the worker that ran it, as before.
    let (go, gate) = mpsc::channel::<()>();
    drop(pool.spawn(move || -> () {
        gate.recv().unwrap();
        panic!("dropped before it ended")
    }));
    go.send(()).unwrap();
    let (message, thread) = reports
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the worker reported the detached panic");
    assert_eq!(message, "dropped before it ended");
    assert!(thread.is_some_and(|name| name.starts_with("reporting-")));
    pool.shutdown();
    assert!(reports.try_recv().is_err());
}

#[test]
fn a_panic_read_through_the_handle_is_not_reported_again() {
    let _watchdog = common::guard("a_panic_read_through_the_handle_is_not_reported_again");
    let (pool, reports) = reporting_pool();
    let joined = pool.spawn(|| -> () { panic!("joined") });
    common::wait_for("the joined task to end", || joined.is_finished());
    assert!(joined.join().unwrap_err().is_panic());
    let awaited = pool.spawn(|| -> () { panic!("awaited") });
    assert!(futures::executor::block_on(awaited).unwrap_err().is_panic());
    // A task that returned, dropped unread after it ended: nothing to report.
    let returned = pool.spawn(|| 7);
    common::wait_for("the returning task to end", || returned.is_finished());
    drop(returned);
    pool.shutdown();
    assert_eq!(reports.try_recv().ok(), None);
}

/// The thread each task ran on, recorded before the task panics.
fn thread_of_each(
    pool: &WorkerPool,
    tasks: usize,
) -> (Vec<std::thread::ThreadId>, Vec<stealpool::TaskError>) {
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let errors = (0..tasks)
        .map(|i| {
            let ids = ids.clone();
            let handle = pool.spawn(move || -> () {
                ids.lock().unwrap().push(std::thread::current().id());
                panic!("storm {i}")
            });
            join_within(handle, "a panicking task").unwrap_err()
        })
        .collect();
    let ids = ids.lock().unwrap().clone();
    (ids, errors)
}

#[test]
fn a_storm_of_panics_replaces_workers_up_to_the_restart_intensity_then_they_carry_on() {
    let _watchdog = common::guard(
        "a_storm_of_panics_replaces_workers_up_to_the_restart_intensity_then_they_carry_on",
    );
    let (tx, notices) = mpsc::channel::<stealpool::RestartLimitReached>();
    let tx = std::sync::Mutex::new(tx);
    let task_panics = Arc::new(AtomicUsize::new(0));
    let counted = task_panics.clone();
    let pool = WorkerPool::builder()
        .num_threads(1)
        .restart_intensity(2, std::time::Duration::from_secs(3600))
        .panic_handler(
            move |payload| match payload.downcast::<stealpool::RestartLimitReached>() {
                Ok(notice) => tx.lock().unwrap().send(*notice).unwrap(),
                Err(_) => {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
            },
        )
        .build()
        .unwrap();
    let (ids, errors) = thread_of_each(&pool, 6);
    assert!(errors.iter().all(stealpool::TaskError::is_panic));
    // Task 0 on the first thread; tasks 1 and 2 each on a replacement; then no more threads.
    let distinct: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(distinct.len(), 3, "{ids:?}");
    assert!(ids[0] != ids[1] && ids[1] != ids[2], "{ids:?}");
    assert!(ids[2..].iter().all(|id| *id == ids[2]), "{ids:?}");
    common::shutdown_within(&pool, "the pool after the storm");
    let metrics = pool.metrics();
    assert_eq!(metrics.workers_replaced(), 2, "{metrics}");
    assert_eq!(metrics.replacements_skipped(), 4, "{metrics}");
    assert!(
        metrics
            .to_string()
            .contains("2 workers replaced (4 skipped)"),
        "{metrics}"
    );
    // Said once, with the bound; no task's panic reached the handler (all were joined).
    let notice = notices
        .try_recv()
        .expect("the pool said it stopped replacing");
    assert_eq!((notice.max(), notice.period().as_secs()), (2, 3600));
    assert!(notices.try_recv().is_err(), "said more than once");
    assert_eq!(task_panics.load(Ordering::SeqCst), 0);
}

/// The OS thread ids of this process's threads named `{prefix}*` (Linux).
fn tids_named(prefix: &str) -> BTreeSet<i32> {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task is readable")
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm"))
                .is_ok_and(|comm| comm.starts_with(prefix))
        })
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .collect()
}

#[test]
fn after_its_first_replacement_a_slot_is_taken_over_by_a_standby_thread_started_beforehand() {
    let _watchdog = common::guard(
        "after_its_first_replacement_a_slot_is_taken_over_by_a_standby_thread_started_beforehand",
    );
    const PREFIX: &str = "standby-test-";
    let pool = common::named_pool(1, PREFIX);
    let tid = || {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() }
    };
    let panic_once = |what: &'static str| {
        let err = join_within(pool.spawn(move || -> () { panic!("{what}") }), what).unwrap_err();
        assert!(err.is_panic());
    };
    panic_once("the first panic");
    // The first replacement started a thread, and then the slot's standby: two threads.
    common::wait_for("the worker and its standby", || {
        tids_named(PREFIX).len() == 2
    });
    let worker = join_within(pool.spawn(tid), "the worker's tid").unwrap();
    let before = tids_named(PREFIX);
    assert!(before.contains(&worker));
    panic_once("the second panic");
    // The slot's next thread is the standby, which existed before the panic.
    let after = join_within(pool.spawn(tid), "the next worker's tid").unwrap();
    assert_ne!(after, worker, "the worker was not replaced");
    assert!(
        before.contains(&after),
        "the slot went to a thread started after the panic ({after}), not to the standby \
         ({before:?})"
    );
    common::shutdown_within(&pool, "the pool with a standby");
    common::wait_for_threads_gone(PREFIX);
    assert_eq!(pool.metrics().workers_replaced(), 2);
}
