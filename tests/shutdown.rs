//! Shutting a pool down, explicitly or by dropping its last handle: queued work still runs,
//! later work is refused without panicking or hanging, and the threads go away.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::{
    DropCounter, LIVENESS, join_within, named_pool, pool, recv_n, shutdown_within, threads_named,
    wait_for, wait_for_threads_gone,
};
use stealpool::WorkerPool;

fn spawn_counters(pool: &WorkerPool, count: &Arc<AtomicUsize>, n: usize) {
    for _ in 0..n {
        let count = count.clone();
        drop(pool.spawn(move || {
            count.fetch_add(1, Ordering::SeqCst);
        }));
    }
}

#[test]
fn shutdown_runs_everything_queued() {
    let _watchdog = common::guard("shutdown_runs_everything_queued");
    let pool = pool(2);
    let count = Arc::new(AtomicUsize::new(0));
    spawn_counters(&pool, &count, 10_000);
    pool.shutdown();
    assert_eq!(count.load(Ordering::SeqCst), 10_000);
}

#[test]
fn shutdown_of_an_unused_pool_returns() {
    let _watchdog = common::guard("shutdown_of_an_unused_pool_returns");
    let pool = pool(2);
    pool.shutdown();
    pool.shutdown();
}

#[test]
fn shutdown_is_idempotent_and_can_be_called_from_several_threads_at_once() {
    let _watchdog =
        common::guard("shutdown_is_idempotent_and_can_be_called_from_several_threads_at_once");
    let pool = named_pool(2, "spconc-");
    wait_for("the workers to start", || threads_named("spconc-") == 2);
    let count = Arc::new(AtomicUsize::new(0));
    spawn_counters(&pool, &count, 2_000);

    let barrier = Arc::new(Barrier::new(4));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..4 {
        let pool = pool.clone();
        let barrier = barrier.clone();
        let done_tx = done_tx.clone();
        let count = count.clone();
        thread::spawn(move || {
            barrier.wait();
            pool.shutdown();
            // Every call returns only once the queued work has run.
            done_tx.send(count.load(Ordering::SeqCst)).unwrap();
        });
    }
    for seen in recv_n(&done_rx, 4, "concurrent shutdown calls") {
        assert_eq!(
            seen, 2_000,
            "a shutdown call returned before the queue was drained"
        );
    }
    shutdown_within(&pool, "a second shutdown");
    shutdown_within(&pool, "a third shutdown");
    assert_eq!(count.load(Ordering::SeqCst), 2_000);
    wait_for_threads_gone("spconc-");
}

#[test]
fn threads_exit_after_shutdown() {
    let _watchdog = common::guard("threads_exit_after_shutdown");
    let pool = named_pool(3, "spexit-");
    wait_for("the workers to start", || threads_named("spexit-") == 3);
    assert_eq!(pool.spawn(|| 1).join().unwrap(), 1);
    pool.shutdown();
    wait_for_threads_gone("spexit-");
}

#[test]
fn spawn_after_shutdown_is_cancelled() {
    let _watchdog = common::guard("spawn_after_shutdown_is_cancelled");
    let pool = pool(2);
    let clone = pool.clone();
    pool.shutdown();

    let ran = Arc::new(AtomicBool::new(false));
    let drops = Arc::new(AtomicUsize::new(0));
    let (r, d) = (ran.clone(), DropCounter(drops.clone()));
    let handle = pool.spawn(move || {
        let _keep = d;
        r.store(true, Ordering::SeqCst);
        1
    });
    // Resolved at once, and the closure was dropped without running.
    assert!(handle.is_finished());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let err = handle.join().unwrap_err();
    assert!(err.is_cancelled());
    assert!(!err.is_panic());
    assert!(!ran.load(Ordering::SeqCst));

    // From a clone, and from another thread.
    assert!(clone.spawn(|| 2).join().unwrap_err().is_cancelled());
    let from_thread = thread::spawn(move || clone.spawn(|| 3).join())
        .join()
        .unwrap();
    assert!(from_thread.unwrap_err().is_cancelled());

    // Awaited.
    let awaited = futures::executor::block_on(pool.spawn(|| 4));
    assert!(awaited.unwrap_err().is_cancelled());

    // Many, detached or not.
    for i in 0..1000 {
        let handle = pool.spawn(move || i);
        if i % 2 == 0 {
            drop(handle);
        } else {
            assert!(handle.join().unwrap_err().is_cancelled());
        }
    }
}

#[tokio::test]
async fn awaiting_a_handle_spawned_after_shutdown() {
    let _watchdog = common::guard("awaiting_a_handle_spawned_after_shutdown");
    let pool = pool(2);
    pool.shutdown();
    let err = tokio::time::timeout(LIVENESS, pool.spawn(|| 1))
        .await
        .expect("a cancelled handle resolves at once")
        .unwrap_err();
    assert!(err.is_cancelled());
}

#[test]
fn install_after_shutdown_runs_on_the_calling_thread() {
    let _watchdog = common::guard("install_after_shutdown_runs_on_the_calling_thread");
    let pool = pool(2);
    pool.shutdown();
    let me = thread::current().id();
    let data = [1, 2, 3];
    let (thread_id, index, sum) = pool.install(|| {
        (
            thread::current().id(),
            stealpool::current_thread_index(),
            data.iter().sum::<i32>(),
        )
    });
    assert_eq!(thread_id, me);
    assert_eq!(index, None);
    assert_eq!(sum, 6);

    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.install(|| -> u8 { panic!("after shutdown") })
    }))
    .expect_err("the op's panic reaches the caller");
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"after shutdown"));
}

/// Observed and documented behaviour: `shutdown()` from one of the pool's own tasks closes the
/// pool and returns at once (it cannot wait for its own thread). Work queued before still
/// runs, tasks the closing task spawns afterwards still run, and a later `shutdown()` from
/// outside returns once all that is done.
#[test]
fn shutdown_from_inside_a_task_does_not_deadlock() {
    let _watchdog = common::guard("shutdown_from_inside_a_task_does_not_deadlock");
    const QUEUED: usize = 2_000;
    for width in [1, 2] {
        let pool = pool(width);
        let count = Arc::new(AtomicUsize::new(0));
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let inner_pool = pool.clone();
        let c = count.clone();
        let closer = pool.spawn(move || {
            go_rx.recv().unwrap();
            inner_pool.shutdown();
            // The pool is closed; what this task spawns still runs.
            for _ in 0..100 {
                let c = c.clone();
                drop(stealpool::spawn(move || {
                    c.fetch_add(1, Ordering::SeqCst);
                }));
            }
            let c2 = c.clone();
            let via_clone = inner_pool.spawn(move || {
                c2.fetch_add(1, Ordering::SeqCst);
                7
            });
            via_clone.join().unwrap() + stealpool::spawn(|| 3).join().unwrap()
        });
        spawn_counters(&pool, &count, QUEUED);
        go_tx.send(()).unwrap();
        assert_eq!(join_within(closer, "the closing task").unwrap(), 10);

        // Closed for outside work now.
        assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
        shutdown_within(&pool, "shutdown from outside after one from inside");
        assert_eq!(
            count.load(Ordering::SeqCst),
            QUEUED + 101,
            "width {width}: queued work or work spawned after the inner shutdown was lost"
        );
    }
}

#[test]
fn tasks_spawned_by_running_tasks_during_shutdown_still_run() {
    let _watchdog = common::guard("tasks_spawned_by_running_tasks_during_shutdown_still_run");
    let pool = pool(2);
    let count = Arc::new(AtomicUsize::new(0));
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let probe_pool = pool.clone();
    let c = count.clone();
    let parent = pool.spawn(move || {
        started_tx.send(()).unwrap();
        // Wait until the pool is closed: a spawn from outside it is then refused.
        wait_for("the pool to close", || {
            let p = probe_pool.clone();
            thread::spawn(move || p.spawn(|| ()).join())
                .join()
                .unwrap()
                .is_err_and(|e| e.is_cancelled())
        });
        for _ in 0..50 {
            let c = c.clone();
            drop(stealpool::spawn(move || {
                c.fetch_add(1, Ordering::SeqCst);
                // and grandchildren
                for _ in 0..2 {
                    let c = c.clone();
                    drop(stealpool::spawn(move || {
                        c.fetch_add(1, Ordering::SeqCst);
                    }));
                }
            }));
        }
        stealpool::spawn(|| 1).join().unwrap()
    });
    started_rx.recv_timeout(LIVENESS).unwrap();
    shutdown_within(&pool, "shutdown while a task spawns");
    assert_eq!(count.load(Ordering::SeqCst), 150);
    assert_eq!(parent.join().unwrap(), 1);
}

#[test]
fn shutdown_waits_for_a_task_blocked_in_a_join() {
    let _watchdog = common::guard("shutdown_waits_for_a_task_blocked_in_a_join");
    let pool = pool(2);
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<u32>();
    let parent = pool.spawn(move || {
        let child = stealpool::spawn(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap()
        });
        child.join().unwrap() + 1
    });
    started_rx.recv_timeout(LIVENESS).unwrap();

    let closer = pool.clone();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        closer.shutdown();
        done_tx.send(()).unwrap();
    });
    // Not a timing assertion: shutdown may never return while the child is blocked, however
    // long we look; looking briefly can only miss a bug, not invent one.
    thread::sleep(Duration::from_millis(20));
    assert!(
        done_rx.try_recv().is_err(),
        "shutdown returned while a task was still running"
    );
    release_tx.send(10).unwrap();
    done_rx
        .recv_timeout(LIVENESS)
        .expect("shutdown returned after the task finished");
    assert_eq!(parent.join().unwrap(), 11);
}

#[test]
fn spawning_while_another_thread_shuts_down() {
    let _watchdog = common::guard("spawning_while_another_thread_shuts_down");
    for _round in 0..10 {
        let pool = pool(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(5));
        let spawners: Vec<_> = (0..4)
            .map(|_| {
                let (pool, ran, start) = (pool.clone(), ran.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let handles: Vec<_> = (0..500usize)
                        .map(|i| {
                            let ran = ran.clone();
                            pool.spawn(move || {
                                ran.fetch_add(1, Ordering::SeqCst);
                                i
                            })
                        })
                        .collect();
                    let mut ok = 0;
                    let mut cancelled_from = None;
                    for (i, handle) in handles.into_iter().enumerate() {
                        match handle.join() {
                            Ok(value) => {
                                assert_eq!(value, i);
                                assert!(
                                    cancelled_from.is_none(),
                                    "spawn {i} ran after spawn {cancelled_from:?} was refused"
                                );
                                ok += 1;
                            }
                            Err(err) => {
                                assert!(err.is_cancelled(), "{err}");
                                cancelled_from.get_or_insert(i);
                            }
                        }
                    }
                    ok
                })
            })
            .collect();
        start.wait();
        pool.shutdown();
        let ok: usize = spawners.into_iter().map(|s| s.join().unwrap()).sum();
        assert_eq!(
            ok,
            ran.load(Ordering::SeqCst),
            "Ok results vs tasks that ran"
        );
    }
}

#[test]
fn dropping_the_last_handle_lets_queued_tasks_finish_and_the_threads_exit() {
    let _watchdog =
        common::guard("dropping_the_last_handle_lets_queued_tasks_finish_and_the_threads_exit");
    const N: usize = 2_000;
    let pool = named_pool(2, "spdrop-");
    wait_for("the workers to start", || threads_named("spdrop-") == 2);
    let clone = pool.clone();
    let (tx, rx) = mpsc::channel();
    for i in 0..N {
        let tx = tx.clone();
        drop(pool.spawn(move || tx.send(i).unwrap()));
    }
    drop(tx);
    // A task still blocked when the pool is dropped; its handle outlives the pool.
    let (release, gate) = mpsc::channel::<u32>();
    let blocked = pool.spawn(move || gate.recv().unwrap() + 1);

    // Dropping does not block (else this would hang: the blocked task waits for us).
    drop(pool);
    drop(clone);
    release.send(1).unwrap();

    let mut seen = vec![false; N];
    for i in recv_n(&rx, N, "tasks queued before the drop") {
        assert!(!seen[i], "task {i} ran twice");
        seen[i] = true;
    }
    assert_eq!(join_within(blocked, "the blocked task").unwrap(), 2);
    wait_for_threads_gone("spdrop-");
    // All tasks are gone, and with them every sender.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
}

#[test]
fn the_last_handle_dropped_inside_a_task() {
    let _watchdog = common::guard("the_last_handle_dropped_inside_a_task");
    let pool = named_pool(2, "spself-");
    wait_for("the workers to start", || threads_named("spself-") == 2);
    let inner = pool.clone();
    let (release, gate) = mpsc::channel::<()>();
    let handle = pool.spawn(move || {
        gate.recv().unwrap();
        drop(inner); // the last handle: the pool closes from one of its own workers
        stealpool::spawn(|| 5).join().unwrap()
    });
    drop(pool);
    release.send(()).unwrap();
    assert_eq!(
        join_within(handle, "the task holding the last handle").unwrap(),
        5
    );
    wait_for_threads_gone("spself-");
}
