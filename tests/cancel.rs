//! `JoinHandle::cancel` and `stealpool::is_cancelled`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use common::{DropCounter, Gate, join_within};

/// A one-thread pool whose worker is held until the returned gate opens (or is dropped).
fn held_pool() -> (stealpool::WorkerPool, Gate, stealpool::JoinHandle<()>) {
    let pool = common::pool(1);
    let gate = Gate::new();
    let (holder, _) = common::hold_worker(&pool, &gate);
    (pool, gate, holder)
}

#[test]
fn a_task_cancelled_before_it_starts_never_runs_and_resolves_at_once() {
    let _watchdog =
        common::guard("a_task_cancelled_before_it_starts_never_runs_and_resolves_at_once");
    let (pool, gate, holder) = held_pool();
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
    gate.open();
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
    let (pool, gate, holder) = held_pool();
    let task = pool.spawn(|| ());
    assert!(task.cancel());
    assert!(!task.cancel());
    gate.open();
    join_within(holder, "the holder").unwrap();
    assert!(task.join().unwrap_err().is_cancelled());
    pool.shutdown();
}

#[test]
fn an_awaited_handle_sees_the_cancellation() {
    let _watchdog = common::guard("an_awaited_handle_sees_the_cancellation");
    let (pool, gate, holder) = held_pool();
    let task = pool.spawn(|| 1);
    assert!(task.cancel());
    let result = futures::executor::block_on(task);
    assert!(result.unwrap_err().is_cancelled());
    gate.open();
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

// Detached panics and the panic handler (issue 5) live here for now; they move to their own
// file when the rest of the fault-tolerance work lands.

#[test]
fn a_detached_panic_goes_to_the_handler_and_the_pool_carries_on() {
    let _watchdog = common::guard("a_detached_panic_goes_to_the_handler_and_the_pool_carries_on");
    let (tx, rx) = mpsc::channel::<String>();
    let tx = std::sync::Mutex::new(tx);
    let pool = stealpool::WorkerPool::builder()
        .num_threads(2)
        .panic_handler(move |payload| {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "?".into());
            tx.lock().unwrap().send(message).unwrap();
        })
        .build()
        .unwrap();
    // The tasks wait until their handles are gone, so that they are detached when they end.
    let go = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for i in 0..5 {
        let go = go.clone();
        drop(pool.spawn(move || -> () {
            while !go.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            panic!("detached {i}")
        }));
    }
    go.store(true, Ordering::SeqCst);
    let mut got: Vec<String> = (0..5)
        .map(|_| rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap())
        .collect();
    got.sort();
    assert_eq!(
        got,
        (0..5).map(|i| format!("detached {i}")).collect::<Vec<_>>()
    );
    // A panic whose handle is kept goes to the handle, not the handler.
    let err = join_within(pool.spawn(|| -> () { panic!("kept") }), "a kept panic").unwrap_err();
    assert!(err.is_panic());
    assert!(rx.try_recv().is_err());
    assert_eq!(
        join_within(pool.spawn(|| 1), "after the panics").unwrap(),
        1
    );
}

#[test]
fn a_panicking_panic_handler_does_not_take_the_pool_down() {
    let _watchdog = common::guard("a_panicking_panic_handler_does_not_take_the_pool_down");
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let pool = stealpool::WorkerPool::builder()
        .num_threads(1)
        .panic_handler(move |_payload| {
            seen.fetch_add(1, Ordering::SeqCst);
            panic!("the handler itself panics");
        })
        .build()
        .unwrap();
    let go = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for _ in 0..3 {
        let go = go.clone();
        drop(pool.spawn(move || -> () {
            while !go.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
            panic!("detached")
        }));
    }
    go.store(true, Ordering::SeqCst);
    common::wait_for("three handler calls", || calls.load(Ordering::SeqCst) == 3);
    assert_eq!(
        join_within(pool.spawn(|| 2), "after the handler panics").unwrap(),
        2
    );
    pool.shutdown();
}

#[test]
fn a_worker_retires_after_a_panic_and_its_queued_work_still_runs() {
    let _watchdog = common::guard("a_worker_retires_after_a_panic_and_its_queued_work_still_runs");
    const PREFIX: &str = "retire-test-";
    let pool = stealpool::WorkerPool::builder()
        .num_threads(2)
        .thread_name(|i| format!("{PREFIX}{i}"))
        .build()
        .unwrap();
    let ids = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let mut handles = Vec::new();
    for round in 0..10u32 {
        let ids_in = ids.clone();
        handles.push(pool.spawn(move || {
            ids_in.lock().unwrap().insert(std::thread::current().id());
            if round % 2 == 0 {
                panic!("round {round}");
            }
            round
        }));
    }
    let mut ok = 0;
    for handle in handles {
        match join_within(handle, "a task of the panicking mix") {
            Ok(_) => ok += 1,
            Err(err) => assert!(err.is_panic()),
        }
    }
    assert_eq!(ok, 5);
    // Every panic retired the thread it happened on, so more than two threads took part.
    // Once the retired ones have exited, the pool has its two workers plus at most one
    // parked spare per slot that was replaced (ready for that slot's next replacement).
    assert!(ids.lock().unwrap().len() > 2, "no worker was replaced");
    common::wait_for("the retired threads to exit", || {
        common::threads_named(PREFIX) <= 4
    });
    assert_eq!(
        join_within(pool.spawn(|| 7), "after the panics").unwrap(),
        7
    );
    pool.shutdown();
    common::wait_for_threads_gone(PREFIX);
}

#[test]
fn without_replacement_the_worker_carries_on() {
    let _watchdog = common::guard("without_replacement_the_worker_carries_on");
    let pool = stealpool::WorkerPool::builder()
        .num_threads(1)
        .replace_worker_on_panic(false)
        .build()
        .unwrap();
    let before = join_within(pool.spawn(|| std::thread::current().id()), "before").unwrap();
    assert!(join_within(pool.spawn(|| -> () { panic!("boom") }), "the panic").is_err());
    let after = join_within(pool.spawn(|| std::thread::current().id()), "after").unwrap();
    assert_eq!(before, after);
}

#[test]
fn shutdown_timeout_reports_whether_the_pool_finished() {
    let _watchdog = common::guard("shutdown_timeout_reports_whether_the_pool_finished");
    const PREFIX: &str = "timeout-test-";
    let pool = common::named_pool(2, PREFIX);
    let (release, gate) = mpsc::channel::<()>();
    let ran = Arc::new(AtomicUsize::new(0));
    let blocker = pool.spawn(move || gate.recv().unwrap());
    let queued: Vec<_> = (0..20)
        .map(|_| {
            let ran = ran.clone();
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    // The blocker cannot end: the pool cannot finish, whatever the timeout.
    assert!(!pool.shutdown_timeout(std::time::Duration::from_millis(20)));
    // Closed meanwhile: outside work is refused...
    assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
    // ...but nothing admitted is abandoned.
    release.send(()).unwrap();
    assert!(pool.shutdown_timeout(std::time::Duration::from_secs(60)));
    join_within(blocker, "the blocker").unwrap();
    for handle in queued {
        join_within(handle, "a queued task").unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 20);
    assert_eq!(
        common::threads_named(PREFIX),
        0,
        "true means the threads were joined"
    );
}

// Backpressure (max_queued, try_spawn, SpawnError).

#[test]
fn max_queued_zero_is_an_error() {
    let _watchdog = common::guard("max_queued_zero_is_an_error");
    let err = stealpool::WorkerPool::builder()
        .num_threads(1)
        .max_queued(0)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "max_queued");
    assert!(err.to_string().starts_with("max_queued"));
}

#[test]
fn a_full_pool_refuses_try_spawn_and_gives_the_closure_back() {
    let _watchdog = common::guard("a_full_pool_refuses_try_spawn_and_gives_the_closure_back");
    let pool = stealpool::WorkerPool::builder()
        .num_threads(1)
        .max_queued(3)
        .build()
        .unwrap();
    let gate = Gate::new();
    let (holder, _) = common::hold_worker(&pool, &gate);
    let waiting: Vec<_> = (0..3).map(|i| pool.try_spawn(move || i).unwrap()).collect();
    let refused = pool.try_spawn(|| 99).unwrap_err();
    assert!(refused.is_full() && !refused.is_shutdown());
    assert_eq!(refused.into_inner()(), 99);
    // A cancelled waiting task gives its place back at once.
    assert!(waiting[0].cancel());
    let again = pool.try_spawn(|| 3).expect("cancel made room");
    gate.open();
    join_within(holder, "the holder").unwrap();
    let results: Vec<_> = waiting.into_iter().map(|h| h.join().ok()).collect();
    assert_eq!(results, [None, Some(1), Some(2)]);
    assert_eq!(
        join_within(again, "the task that took the freed place").unwrap(),
        3
    );
    pool.shutdown();
    let refused = pool.try_spawn(|| ()).unwrap_err();
    assert!(refused.is_shutdown());
}

#[test]
fn spawn_on_a_full_pool_waits_outside_and_runs_inline_inside() {
    let _watchdog = common::guard("spawn_on_a_full_pool_waits_outside_and_runs_inline_inside");
    let pool = stealpool::WorkerPool::builder()
        .num_threads(2)
        .max_queued(4)
        .build()
        .unwrap();
    // From outside: many more spawns than places; every one runs, none is lost.
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..500)
        .map(|_| {
            let done = done.clone();
            pool.spawn(move || {
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    for handle in handles {
        join_within(handle, "a bounded spawn").unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 500);
    // From inside: a task spawning far more children than places does not deadlock.
    let pool2 = pool.clone();
    let total = join_within(
        pool.spawn(move || {
            let children: Vec<_> = (0..200u64).map(|i| pool2.spawn(move || i)).collect();
            children.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        }),
        "a task flooding the pool",
    )
    .unwrap();
    assert_eq!(total, 19_900);
}

#[test]
fn a_submitter_waiting_for_room_gives_up_when_the_pool_shuts_down() {
    let _watchdog = common::guard("a_submitter_waiting_for_room_gives_up_when_the_pool_shuts_down");
    let pool = stealpool::WorkerPool::builder()
        .num_threads(1)
        .max_queued(1)
        .build()
        .unwrap();
    let gate = Gate::new();
    let (holder, _) = common::hold_worker(&pool, &gate);
    let queued = pool.spawn(|| 1);
    let submitter = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.spawn(|| 2).join())
    };
    // The submitter is blocked (the one place is taken); closing the pool must free it.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let closer = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.shutdown())
    };
    let refused = submitter.join().unwrap();
    assert!(refused.unwrap_err().is_cancelled());
    gate.open();
    closer.join().unwrap();
    join_within(holder, "the holder").unwrap();
    assert_eq!(queued.join().unwrap(), 1, "admitted work still runs");
}

// shutdown_now

#[test]
fn shutdown_now_cancels_what_waits_and_lets_running_work_finish() {
    let _watchdog = common::guard("shutdown_now_cancels_what_waits_and_lets_running_work_finish");
    const PREFIX: &str = "now-test-";
    let pool = common::named_pool(2, PREFIX);
    let (release, gate) = mpsc::channel::<()>();
    let gate = Arc::new(std::sync::Mutex::new(gate));
    let (started_tx, started) = mpsc::channel::<()>();
    let borrowed_sum = Arc::new(AtomicUsize::new(0));
    // Two running tasks hold both workers; one of them runs a scope whose jobs are queued
    // when shutdown_now comes: they are admitted work and must all still run.
    let running: Vec<_> = (0..2)
        .map(|i| {
            let (gate, started_tx, sum) = (gate.clone(), started_tx.clone(), borrowed_sum.clone());
            pool.spawn(move || {
                if i == 0 {
                    stealpool::scope(|s| {
                        for k in 1..=10 {
                            let sum = sum.clone();
                            s.spawn(move |_| {
                                sum.fetch_add(k, Ordering::SeqCst);
                            });
                        }
                        started_tx.send(()).unwrap();
                        gate.lock().unwrap().recv().unwrap();
                    });
                } else {
                    started_tx.send(()).unwrap();
                    gate.lock().unwrap().recv().unwrap();
                }
                i
            })
        })
        .collect();
    started.recv().unwrap();
    started.recv().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..100)
        .map(|i| {
            let capture = DropCounter(drops.clone());
            let ran = ran.clone();
            let lane = [
                stealpool::Priority::High,
                stealpool::Priority::Normal,
                stealpool::Priority::Low,
            ][i % 3];
            pool.spawn_with(lane, move || {
                let _keep = &capture;
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let releaser = std::thread::spawn(move || {
        while !queued.iter().all(|h| h.is_finished()) {
            std::thread::yield_now();
        }
        release.send(()).unwrap();
        release.send(()).unwrap();
        queued
    });
    pool.shutdown_now();
    let queued = releaser.join().unwrap();
    for handle in queued {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "a queued task ran after shutdown_now"
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        100,
        "every cancelled closure dropped once"
    );
    for (i, handle) in running.into_iter().enumerate() {
        assert_eq!(handle.join().unwrap(), i);
    }
    assert_eq!(
        borrowed_sum.load(Ordering::SeqCst),
        55,
        "the scope's jobs all ran"
    );
    // Joined threads can linger in /proc for a moment: wait (bounded) for them to leave.
    common::wait_for_threads_gone(PREFIX);
    assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
}
