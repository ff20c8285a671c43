//! `WorkerPool::metrics`: every figure checked exactly against a workload whose outcome is
//! known (counts), or against bounds that cannot depend on the machine's speed (times).

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Gate, join_within};
use stealpool::{JoinHandle, Metrics, Priority, TaskError, WorkerPool};

/// The three lanes, in the order `Metrics::lanes` gives them.
const LANES: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

/// A pool of `n` workers with `record_timing` set to `timing`.
fn timed_pool(n: usize, timing: bool) -> WorkerPool {
    WorkerPool::builder()
        .num_threads(n)
        .record_timing(timing)
        // Every task, so that the histograms' counts are exact.
        .timing_sample(1)
        .build()
        .expect("valid settings")
}

/// Holds every worker of `pool` at `gate`; returns the holders' handles once all have started.
fn hold_all(pool: &WorkerPool, gate: &Gate) -> Vec<JoinHandle<()>> {
    (0..pool.num_threads())
        .map(|_| common::hold_worker(pool, gate).0)
        .collect()
}

/// Joins every handle (each within [`common::LIVENESS`]) and returns the results in order.
fn join_all<T: Send + 'static>(handles: Vec<JoinHandle<T>>) -> Vec<Result<T, TaskError>> {
    handles
        .into_iter()
        .map(|h| join_within(h, "a task of the workload"))
        .collect()
}

/// `(submitted, completed, panicked, cancelled)` of one lane.
fn lane_counts(metrics: &Metrics, priority: Priority) -> (u64, u64, u64, u64) {
    let lane = metrics.lane(priority);
    (
        lane.submitted(),
        lane.completed(),
        lane.panicked(),
        lane.cancelled(),
    )
}

/// The sum of `tasks_run` over every worker slot.
fn tasks_run(metrics: &Metrics) -> u64 {
    metrics.workers().iter().map(|w| w.tasks_run()).sum()
}

/// Asserts the identities that hold for any quiet pool: `submitted == completed + cancelled`,
/// totals equal the sums over lanes, and every task that finished ran on some slot.
fn assert_quiet_identities(metrics: &Metrics) {
    assert_eq!(
        metrics.submitted(),
        metrics.completed() + metrics.cancelled(),
        "submitted != completed + cancelled on a quiet pool:\n{metrics}"
    );
    assert_eq!(metrics.queued(), 0, "{metrics}");
    let lanes = metrics.lanes();
    assert_eq!(lanes.len(), 3);
    for (lane, priority) in lanes.iter().zip(LANES) {
        assert_eq!(lane.priority(), priority);
        assert_eq!(
            lane.submitted(),
            lane.completed() + lane.cancelled(),
            "lane {priority:?}:\n{metrics}"
        );
    }
    let sum = |f: fn(&stealpool::LaneMetrics) -> u64| lanes.iter().map(f).sum::<u64>();
    assert_eq!(metrics.submitted(), sum(|l| l.submitted()));
    assert_eq!(metrics.completed(), sum(|l| l.completed()));
    assert_eq!(metrics.panicked(), sum(|l| l.panicked()));
    assert_eq!(metrics.cancelled(), sum(|l| l.cancelled()));
    assert_eq!(tasks_run(metrics), metrics.completed(), "{metrics}");
}

/// Spawned from outside and joined, N tasks of which P panic are counted exactly: N submitted
/// and completed, P panicked, all in the Normal lane, spread over the workers' `tasks_run`.
#[test]
fn completed_and_panicked_tasks_are_counted_exactly() {
    let _watchdog = common::guard("completed_and_panicked_tasks_are_counted_exactly");
    const N: u64 = 40;
    let pool = common::pool(2);
    let handles: Vec<JoinHandle<u64>> = (0..N)
        .map(|i| {
            pool.spawn(move || {
                if i % 5 == 0 {
                    panic!("task {i} panics on purpose");
                }
                i
            })
        })
        .collect();
    let results = join_all(handles);
    let panicked = results.iter().filter(|r| r.is_err()).count() as u64;
    assert_eq!(panicked, N / 5);
    for (i, result) in (0..N).zip(&results) {
        assert_eq!(result.as_ref().ok(), (i % 5 != 0).then_some(&i));
    }
    // No waiting: a task's outcome is counted before its handle resolves.
    let metrics = pool.metrics();
    assert_eq!(metrics.submitted(), N, "{metrics}");
    assert_eq!(metrics.completed(), N, "{metrics}");
    assert_eq!(metrics.panicked(), N / 5, "{metrics}");
    assert_eq!(metrics.cancelled(), 0, "{metrics}");
    assert_eq!(
        lane_counts(&metrics, Priority::Normal),
        (N, N, N / 5, 0),
        "{metrics}"
    );
    assert_eq!(lane_counts(&metrics, Priority::High), (0, 0, 0, 0));
    assert_eq!(lane_counts(&metrics, Priority::Low), (0, 0, 0, 0));
    assert_eq!(metrics.num_threads(), 2);
    assert_eq!(metrics.workers().len(), 2);
    assert_quiet_identities(&metrics);
}

/// Tasks cancelled through their handles while every worker is held stay `queued` (and are
/// not yet `cancelled`) until the pool drops them; then they count as cancelled, exactly.
#[test]
fn tasks_cancelled_while_queued_are_counted_when_dropped_from_the_queue() {
    let _watchdog =
        common::guard("tasks_cancelled_while_queued_are_counted_when_dropped_from_the_queue");
    const N: usize = 12;
    let pool = common::pool(2);
    let gate = Gate::new();
    let holders = hold_all(&pool, &gate);
    let tasks: Vec<JoinHandle<usize>> = (0..N).map(|i| pool.spawn(move || i)).collect();
    let metrics = pool.metrics();
    // The holders are running, not queued; the N tasks cannot start.
    assert_eq!(metrics.queued(), N, "{metrics}");
    assert_eq!(metrics.lane(Priority::Normal).queued(), N);
    assert_eq!(metrics.submitted(), N as u64 + 2);
    assert_eq!(metrics.completed(), 0);
    let cancelled: Vec<usize> = (0..N).filter(|i| i % 3 == 1).collect();
    for &i in &cancelled {
        assert!(
            tasks[i].cancel(),
            "task {i} was queued: cancel must claim it"
        );
    }
    let metrics = pool.metrics();
    assert_eq!(
        metrics.queued(),
        N,
        "cancelled tasks stay queued until the pool drops them"
    );
    assert_eq!(
        metrics.cancelled(),
        0,
        "cancelled tasks are counted when dropped from the queue, not before"
    );
    gate.open();
    join_all(holders);
    for (i, result) in join_all(tasks).into_iter().enumerate() {
        match result {
            Ok(value) => assert!(!cancelled.contains(&i) && value == i),
            Err(err) => assert!(cancelled.contains(&i) && err.is_cancelled()),
        }
    }
    // The cancelled entries may still sit in a queue after the last live task ran: the
    // workers drop them when they reach them.
    let c = cancelled.len() as u64;
    common::wait_for("the cancelled tasks to be dropped from the queues", || {
        let m = pool.metrics();
        m.queued() == 0 && m.cancelled() >= c
    });
    let metrics = pool.metrics();
    assert_eq!(metrics.cancelled(), c, "{metrics}");
    assert_eq!(metrics.completed(), N as u64 - c + 2, "{metrics}");
    assert_eq!(metrics.panicked(), 0);
    assert_eq!(metrics.submitted(), N as u64 + 2);
    assert_eq!(
        lane_counts(&metrics, Priority::Normal),
        (N as u64 + 2, N as u64 - c + 2, 0, c)
    );
    assert_quiet_identities(&metrics);
}

/// A task's outcome is counted before its handle resolves: right after each `join`, the
/// counts already include it (no waiting, on a pool whose workers keep being busy).
#[test]
fn a_joined_task_is_already_counted() {
    let _watchdog = common::guard("a_joined_task_is_already_counted");
    let pool = common::pool(2);
    let mut panicked = 0;
    for i in 1..=300u64 {
        let result = if i % 10 == 0 {
            panicked += 1;
            pool.spawn(move || -> u64 { panic!("task {i} panics on purpose") })
                .join()
        } else {
            pool.spawn(move || i).join()
        };
        assert_eq!(result.is_err(), i % 10 == 0);
        let metrics = pool.metrics();
        assert_eq!(metrics.completed(), i, "after joining task {i}:\n{metrics}");
        assert_eq!(metrics.panicked(), panicked, "after joining task {i}");
        assert_eq!(metrics.submitted(), i);
    }
}

/// `spawn_with` counts each task in its own lane; `spawn` from outside counts in Normal.
#[test]
fn each_lane_counts_its_own_tasks() {
    let _watchdog = common::guard("each_lane_counts_its_own_tasks");
    let pool = common::pool(2);
    let mut handles = Vec::new();
    for _ in 0..3 {
        handles.push(pool.spawn_with(Priority::High, || ()));
    }
    handles.push(pool.spawn_with(Priority::High, || panic!("a high task panics")));
    for _ in 0..5 {
        handles.push(pool.spawn(|| ()));
    }
    for _ in 0..2 {
        handles.push(pool.spawn_with(Priority::Low, || ()));
    }
    handles.push(pool.spawn_with(Priority::Low, || panic!("a low task panics")));
    handles.push(pool.spawn_with(Priority::Low, || panic!("another low task panics")));
    let panics = join_all(handles).iter().filter(|r| r.is_err()).count();
    assert_eq!(panics, 3);
    let metrics = pool.metrics();
    assert_eq!(
        lane_counts(&metrics, Priority::High),
        (4, 4, 1, 0),
        "{metrics}"
    );
    assert_eq!(
        lane_counts(&metrics, Priority::Normal),
        (5, 5, 0, 0),
        "{metrics}"
    );
    assert_eq!(
        lane_counts(&metrics, Priority::Low),
        (4, 4, 2, 0),
        "{metrics}"
    );
    assert_eq!(metrics.submitted(), 13);
    assert_eq!(metrics.panicked(), 3);
    assert_quiet_identities(&metrics);
}

/// Tasks spawned by a task (into the spawning task's lane) and `Scope::spawn` tasks count as
/// tasks; the halves of a `join` and the closures of `install` and `scope` do not.
#[test]
fn worker_side_and_scope_spawns_count_but_joins_and_installs_do_not() {
    let _watchdog =
        common::guard("worker_side_and_scope_spawns_count_but_joins_and_installs_do_not");
    let pool = common::pool(2);
    // A High task spawning three children: they inherit its lane.
    let inner = pool.clone();
    let children = join_within(
        pool.spawn_with(Priority::High, move || {
            (0..3u32)
                .map(|i| inner.spawn(move || i))
                .collect::<Vec<_>>()
        }),
        "the spawning task",
    )
    .unwrap();
    let values: Vec<u32> = join_all(children).into_iter().map(Result::unwrap).collect();
    assert_eq!(values, [0, 1, 2]);
    let metrics = pool.metrics();
    assert_eq!(
        lane_counts(&metrics, Priority::High),
        (4, 4, 0, 0),
        "{metrics}"
    );
    assert_eq!(metrics.submitted(), 4);

    // Joins and installs, nested and from outside: no task among them.
    let (a, b) = pool.join(|| 1, || 2);
    assert_eq!((a, b), (1, 2));
    let sum = pool.install(|| {
        let (x, (y, z)) = stealpool::join(|| 10, || stealpool::join(|| 20, || 30));
        x + y + z
    });
    assert_eq!(sum, 60);
    let metrics = pool.metrics();
    assert_eq!(metrics.submitted(), 4, "joins and installs are not tasks");
    assert_eq!(metrics.completed(), 4, "{metrics}");

    // A scope with five tasks, each spawning one more: ten tasks, in Normal.
    let visited = std::sync::atomic::AtomicUsize::new(0);
    pool.scope(|s| {
        for _ in 0..5 {
            s.spawn(|s| {
                visited.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                s.spawn(|_| {
                    visited.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            });
        }
    });
    assert_eq!(visited.into_inner(), 10);
    // No waiting: the scope returns after its tasks were counted.
    let metrics = pool.metrics();
    assert_eq!(
        lane_counts(&metrics, Priority::Normal),
        (10, 10, 0, 0),
        "{metrics}"
    );
    assert_eq!(
        lane_counts(&metrics, Priority::High),
        (4, 4, 0, 0),
        "{metrics}"
    );
    assert_eq!(metrics.submitted(), 14);
    assert_quiet_identities(&metrics);
}

/// `shutdown_now` counts the queued tasks it cancels; a spawn after shutdown counts as
/// submitted and cancelled; a `try_spawn` refused after shutdown is not counted at all.
#[test]
fn shutdown_now_and_spawns_after_shutdown_are_counted_as_cancelled() {
    let _watchdog =
        common::guard("shutdown_now_and_spawns_after_shutdown_are_counted_as_cancelled");
    const N: usize = 6;
    let pool = common::pool(1);
    let gate = Gate::new();
    let holders = hold_all(&pool, &gate);
    let queued: Vec<JoinHandle<()>> = (0..N)
        .map(|i| {
            if i % 2 == 0 {
                pool.spawn(|| ())
            } else {
                pool.spawn_with(Priority::Low, || ())
            }
        })
        .collect();
    assert_eq!(pool.metrics().queued(), N);
    // shutdown_now waits for the held worker; it cancels the queued tasks first.
    let (done_tx, done) = mpsc::channel();
    let closer = pool.clone();
    std::thread::spawn(move || {
        closer.shutdown_now();
        let _ = done_tx.send(());
    });
    common::wait_for("shutdown_now to cancel the queued tasks", || {
        queued.iter().all(JoinHandle::is_finished)
    });
    gate.open();
    done.recv_timeout(common::LIVENESS)
        .expect("shutdown_now did not return");
    join_all(holders).into_iter().for_each(Result::unwrap);
    for result in join_all(queued) {
        assert!(result.unwrap_err().is_cancelled());
    }
    let metrics = pool.metrics();
    assert_eq!(metrics.cancelled(), N as u64, "{metrics}");
    assert_eq!(metrics.completed(), 1, "only the holder ran");
    assert_eq!(metrics.submitted(), N as u64 + 1);
    assert_eq!(lane_counts(&metrics, Priority::Normal), (4, 1, 0, 3));
    assert_eq!(lane_counts(&metrics, Priority::Low), (3, 0, 0, 3));
    assert_quiet_identities(&metrics);

    // After shutdown: spawn is refused as cancelled, and counted both ways.
    let late = pool.spawn_with(Priority::High, || ());
    assert!(late.join().unwrap_err().is_cancelled());
    let after = pool.metrics();
    assert_eq!(after.submitted(), metrics.submitted() + 1);
    assert_eq!(after.cancelled(), metrics.cancelled() + 1);
    assert_eq!(lane_counts(&after, Priority::High), (1, 0, 0, 1));
    // A refused try_spawn hands its closure back: not submitted.
    assert!(pool.try_spawn(|| ()).unwrap_err().is_shutdown());
    let last = pool.metrics();
    assert_eq!(last.submitted(), after.submitted(), "{last}");
    assert_eq!(last.cancelled(), after.cancelled(), "{last}");
    assert_quiet_identities(&last);
}

/// On a full pool (`max_queued`), a `try_spawn` that gives its closure back is not counted;
/// the accepted ones are.
#[test]
fn try_spawn_refused_on_a_full_pool_is_not_submitted() {
    let _watchdog = common::guard("try_spawn_refused_on_a_full_pool_is_not_submitted");
    let pool = WorkerPool::builder()
        .num_threads(1)
        .max_queued(2)
        .build()
        .unwrap();
    let gate = Gate::new();
    let mut handles = hold_all(&pool, &gate);
    for _ in 0..2 {
        handles.push(pool.try_spawn(|| ()).expect("room for two"));
    }
    let refused = pool.try_spawn(|| ()).unwrap_err();
    assert!(refused.is_full());
    let metrics = pool.metrics();
    assert_eq!(
        metrics.submitted(),
        3,
        "the refused closure is not submitted"
    );
    assert_eq!(metrics.queued(), 2);
    gate.open();
    join_all(handles).into_iter().for_each(Result::unwrap);
    // The refused closure can still run: it is an ordinary closure, unrelated to the pool.
    refused.into_inner()();
    let metrics = pool.metrics();
    assert_eq!(metrics.submitted(), 3, "{metrics}");
    assert_eq!(metrics.completed(), 3, "{metrics}");
    assert_eq!(metrics.cancelled(), 0);
    assert_quiet_identities(&metrics);
}

/// Each panic on a one-worker pool (replacing workers, the default) starts a fresh thread in
/// slot 0: `workers_replaced` counts them, and the slot has served K + 1 threads.
#[test]
fn workers_replaced_counts_each_replacement_after_a_panic() {
    let _watchdog = common::guard("workers_replaced_counts_each_replacement_after_a_panic");
    const K: u64 = 4;
    let pool = common::pool(1);
    for i in 0..K {
        let result = join_within(
            pool.spawn(move || -> u8 { panic!("panic {i}, on purpose") }),
            "a panicking task",
        );
        assert!(result.unwrap_err().is_panic());
    }
    common::wait_for("the K replacements", || {
        let m = pool.metrics();
        m.workers_replaced() >= K && m.workers()[0].threads() > K
    });
    // A later task runs on the last replacement, which starts no other.
    join_within(pool.spawn(|| ()), "a task after the panics").unwrap();
    let metrics = pool.metrics();
    assert_eq!(metrics.workers_replaced(), K, "{metrics}");
    assert_eq!(metrics.workers().len(), 1);
    let slot = &metrics.workers()[0];
    assert_eq!(slot.threads(), K + 1, "{metrics}");
    assert_eq!(slot.index(), 0);
    assert!(!slot.is_temporary());
    assert_eq!(
        slot.tasks_run(),
        K + 1,
        "a slot keeps its figures across threads"
    );
    assert_eq!(metrics.panicked(), K);
    assert_quiet_identities(&metrics);
}

/// A child that its parent's worker cannot run (the parent blocks until the child has run
/// elsewhere) must be stolen by the other worker: `stolen` and that worker's `steals` say so.
#[test]
fn a_child_run_by_the_other_worker_is_counted_as_stolen() {
    let _watchdog = common::guard("a_child_run_by_the_other_worker_is_counted_as_stolen");
    let pool = common::pool(2);
    let parent = pool.spawn(|| {
        let parent_index = stealpool::current_thread_index().expect("on a worker");
        let (ran_tx, ran) = mpsc::channel();
        // Goes to this worker's own deque; this worker stays inside the parent (blocked in
        // `recv`, not in a join), so only the other worker can take the child: by stealing.
        let child = stealpool::spawn(move || {
            ran_tx.send(stealpool::current_thread_index()).unwrap();
        });
        let child_index = ran
            .recv_timeout(common::LIVENESS)
            .expect("the child was never stolen by the other worker")
            .expect("the child ran on a worker");
        (parent_index, child_index, child)
    });
    let (parent_index, child_index, child) = join_within(parent, "the parent").unwrap();
    // The child may still be finishing after its message: wait for its end too.
    join_within(child, "the child").unwrap();
    assert_ne!(parent_index, child_index);
    let metrics = pool.metrics();
    assert!(metrics.stolen() >= 1, "{metrics}");
    assert!(
        metrics.workers()[child_index].steals() >= 1,
        "the thief's slot counts the steal:\n{metrics}"
    );
    assert_eq!(metrics.submitted(), 2);
    assert_eq!(metrics.completed(), 2);
}

/// Busy time and parks: a worker that ran a 50 ms task was busy at least 50 ms; no worker is
/// busy longer than the pool's uptime; an idle pool's workers have all parked.
#[test]
fn busy_time_and_parks_are_bounded_by_what_the_workers_did() {
    let _watchdog = common::guard("busy_time_and_parks_are_bounded_by_what_the_workers_did");
    let pool = common::pool(2);
    let index = join_within(
        pool.spawn(|| {
            std::thread::sleep(Duration::from_millis(50));
            stealpool::current_thread_index().expect("on a worker")
        }),
        "the sleeping task",
    )
    .unwrap();
    common::wait_for("every worker to park", || {
        pool.metrics().workers().iter().all(|w| w.parks() >= 1)
    });
    let metrics = pool.metrics();
    assert_eq!(metrics.workers().len(), 2);
    for (i, worker) in metrics.workers().iter().enumerate() {
        assert_eq!(worker.index(), i);
        assert!(!worker.is_temporary());
        assert_eq!(worker.threads(), 1);
        assert!(
            worker.busy_time() <= metrics.uptime(),
            "worker {i} busy {:?} > uptime {:?}",
            worker.busy_time(),
            metrics.uptime()
        );
    }
    let busy = metrics.workers()[index].busy_time();
    assert!(
        busy >= Duration::from_millis(50),
        "worker {index} ran a 50 ms task but was busy only {busy:?}"
    );
    assert_eq!(metrics.workers()[index].tasks_run(), 1);
    // Uptime grows; a quiet pool's busy time does not (every worker is asleep).
    std::thread::sleep(Duration::from_millis(5));
    let later = pool.metrics();
    assert!(later.uptime() > metrics.uptime());
}

/// A worker's busy time is a running total: no snapshot shows less than an earlier one,
/// even while workers keep going from busy to idle and back (many short tasks, joined one at
/// a time, each starting a busy interval and ending one).
///
/// It did go back once, when a slot kept its busy time in two words (a total and the start
/// of the current interval) that a snapshot could read half-updated. The workload runs for
/// a few seconds at most, and stops at the first jump back.
#[test]
fn busy_time_never_goes_backwards() {
    let _watchdog = common::guard("busy_time_never_goes_backwards");
    let pool = common::pool(2);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let driver = {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let task = pool.spawn(|| {
                    let begun = Instant::now();
                    while begun.elapsed() < Duration::from_micros(300) {
                        std::hint::spin_loop();
                    }
                });
                join_within(task, "a short task").unwrap();
            }
        })
    };
    let mut last = [Duration::ZERO; 2];
    let mut backwards = None;
    let begun = Instant::now();
    while backwards.is_none() && begun.elapsed() < Duration::from_secs(5) {
        let metrics = pool.metrics();
        for (worker, last) in metrics.workers().iter().zip(&mut last) {
            if worker.busy_time() < *last {
                backwards = Some((worker.index(), *last, worker.busy_time()));
            }
            *last = worker.busy_time();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    driver.join().unwrap();
    if let Some((index, before, after)) = backwards {
        panic!("worker {index}'s busy time went back from {before:?} to {after:?}");
    }
}

/// With `record_timing`, each lane's wait and run histograms hold one value per task that
/// ran in it; tasks held behind busy workers waited at least as long as they were held, and
/// a 30 ms task ran at least 30 ms.
#[test]
fn timing_histograms_count_every_task_and_bound_its_wait_and_run() {
    let _watchdog = common::guard("timing_histograms_count_every_task_and_bound_its_wait_and_run");
    let held_for = Duration::from_millis(20);
    let pool = timed_pool(2, true);
    let gate = Gate::new();
    let holders = hold_all(&pool, &gate);
    let mut handles = Vec::new();
    for _ in 0..3 {
        handles.push(pool.spawn_with(Priority::High, || ()));
    }
    for _ in 0..2 {
        handles.push(pool.spawn_with(Priority::Low, || ()));
    }
    handles.push(pool.spawn_with(Priority::Low, || panic!("a timed task panics")));
    // Every task is held at least `held_for` after its spawn (a lower bound, however slow
    // the machine).
    let spawned = Instant::now();
    while spawned.elapsed() < held_for {
        std::thread::sleep(held_for - spawned.elapsed());
    }
    gate.open();
    join_all(holders).into_iter().for_each(Result::unwrap);
    assert_eq!(join_all(handles).iter().filter(|r| r.is_err()).count(), 1);
    let sleeper = Duration::from_millis(30);
    join_within(
        pool.spawn(move || std::thread::sleep(sleeper)),
        "the 30 ms task",
    )
    .unwrap();

    let metrics = pool.metrics();
    let expected = [
        (Priority::High, 3),
        (Priority::Normal, 3),
        (Priority::Low, 3),
    ];
    for (priority, n) in expected {
        let lane = metrics.lane(priority);
        assert_eq!(lane.completed(), n, "{metrics}");
        let wait = lane.wait_time().expect("timing is on");
        let run = lane.run_time().expect("timing is on");
        assert_eq!(wait.count(), n, "{priority:?} wait count");
        assert_eq!(
            run.count(),
            n,
            "{priority:?} run count (a panicking task included)"
        );
        assert!(wait.min() <= wait.p50() && wait.p50() <= wait.max());
    }
    for priority in [Priority::High, Priority::Low] {
        let wait = metrics.lane(priority).wait_time().unwrap();
        assert!(
            wait.min() >= held_for,
            "{priority:?} tasks were held {held_for:?} but waited only {:?}",
            wait.min()
        );
    }
    let normal_run = metrics.lane(Priority::Normal).run_time().unwrap();
    assert!(
        normal_run.max() >= sleeper,
        "a {sleeper:?} task ran only {:?}",
        normal_run.max()
    );
    // The holders ran at least as long as they were held, too.
    assert!(normal_run.percentile(100.0) >= held_for);
    let all_wait = metrics.wait_time().expect("timing is on");
    let all_run = metrics.run_time().expect("timing is on");
    assert_eq!(all_wait.count(), 9);
    assert_eq!(all_run.count(), 9);
    assert_eq!(all_run.max(), normal_run.max());
}

/// With `record_timing`, scope tasks are timed too (tasks in the histograms = tasks counted).
#[test]
fn timing_histograms_include_scope_and_worker_side_tasks() {
    let _watchdog = common::guard("timing_histograms_include_scope_and_worker_side_tasks");
    let pool = timed_pool(2, true);
    pool.scope(|s| {
        for _ in 0..4 {
            s.spawn(|_| ());
        }
    });
    let inner = pool.clone();
    let children = join_within(
        pool.spawn_with(Priority::Low, move || {
            (0..3).map(|_| inner.spawn(|| ())).collect::<Vec<_>>()
        }),
        "the spawning task",
    )
    .unwrap();
    join_all(children).into_iter().for_each(Result::unwrap);
    pool.install(|| stealpool::join(|| (), || ()));
    let metrics = pool.metrics();
    assert_eq!(metrics.completed(), 8, "{metrics}");
    for priority in LANES {
        let lane = metrics.lane(priority);
        assert_eq!(lane.wait_time().unwrap().count(), lane.completed());
        assert_eq!(lane.run_time().unwrap().count(), lane.completed());
    }
    assert_eq!(metrics.run_time().unwrap().count(), 8);
}

/// By default timing samples: each spawning thread times its first task in each lane, then
/// one in `DEFAULT_TIMING_SAMPLE`; `timing_sample(0)` is refused by name.
#[test]
fn timing_samples_one_task_in_n_per_thread_and_lane() {
    let _watchdog = common::guard("timing_samples_one_task_in_n_per_thread_and_lane");
    let every = stealpool::DEFAULT_TIMING_SAMPLE as usize;
    let pool = WorkerPool::builder()
        .num_threads(2)
        .record_timing(true)
        .build()
        .unwrap();
    // A fresh thread, so that no earlier spawn of this test thread shifts the count.
    let spawner = pool.clone();
    std::thread::spawn(move || {
        let mut handles: Vec<JoinHandle<()>> =
            (0..5 * every).map(|_| spawner.spawn(|| ())).collect();
        handles.push(spawner.spawn_with(Priority::High, || ()));
        join_all(handles).into_iter().for_each(Result::unwrap);
    })
    .join()
    .unwrap();
    let metrics = pool.metrics();
    assert_eq!(metrics.completed(), 5 * every as u64 + 1);
    let normal = metrics.lane(Priority::Normal);
    assert_eq!(normal.wait_time().unwrap().count(), 5, "{metrics}");
    assert_eq!(normal.run_time().unwrap().count(), 5, "{metrics}");
    let high = metrics.lane(Priority::High);
    assert_eq!(
        high.run_time().unwrap().count(),
        1,
        "the first of a lane is timed"
    );
    let refused = WorkerPool::builder()
        .record_timing(true)
        .timing_sample(0)
        .build();
    assert_eq!(refused.unwrap_err().setting(), "timing_sample");
}

/// Without `record_timing` there are no histograms at all.
#[test]
fn without_timing_there_are_no_histograms() {
    let _watchdog = common::guard("without_timing_there_are_no_histograms");
    let pool = timed_pool(1, false);
    join_within(pool.spawn(|| ()), "a task").unwrap();
    let metrics = pool.metrics();
    assert_eq!(metrics.completed(), 1);
    assert!(metrics.wait_time().is_none());
    assert!(metrics.run_time().is_none());
    for lane in metrics.lanes() {
        assert!(lane.wait_time().is_none() && lane.run_time().is_none());
    }
}

/// `Display` shows the figures of the workload: the task counts, a row per lane and per
/// worker, and the timing columns only when timing is on.
#[test]
fn display_shows_the_figures() {
    let _watchdog = common::guard("display_shows_the_figures");
    for timing in [false, true] {
        let pool = timed_pool(2, timing);
        let mut handles: Vec<JoinHandle<()>> = (0..6).map(|_| pool.spawn(|| ())).collect();
        handles.push(pool.spawn(|| panic!("one panics")));
        handles.push(pool.spawn_with(Priority::High, || ()));
        join_all(handles);
        let text = pool.metrics().to_string();
        assert!(text.starts_with("stealpool: 2 workers,"), "{text}");
        assert!(text.contains("tasks: 8 completed (1 panicked)"), "{text}");
        assert!(text.contains("0 cancelled, 0 queued"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let row = |name: &str| -> Vec<&str> {
            let rows: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| l.split_whitespace().next() == Some(name))
                .collect();
            // A lane also names its timing row, which comes after the counts.
            let lane = ["high", "normal", "low"].contains(&name);
            let expected = if lane && timing { 2 } else { 1 };
            assert_eq!(rows.len(), expected, "rows named {name}:\n{text}");
            rows[0].split_whitespace().collect()
        };
        // lane, queued, submitted, completed, panicked, cancelled.
        assert_eq!(row("high")[1..6], ["0", "1", "1", "0", "0"], "{text}");
        assert_eq!(row("normal")[1..6], ["0", "7", "7", "1", "0"], "{text}");
        assert_eq!(row("low")[1..6], ["0", "0", "0", "0", "0"], "{text}");
        // One row per worker, whose task counts add up to the total.
        let tasks: u64 = ["0", "1"]
            .iter()
            .map(|w| row(w)[1].parse::<u64>().unwrap())
            .sum();
        assert_eq!(tasks, 8, "{text}");
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("2 ")).count(),
            0,
            "no third worker row:\n{text}"
        );
        // The timing header row (wait p50 p90 p99 max, run p50 p90 p99 max), then a row
        // per lane that starts with the lane name: so "high" heads two rows with timing.
        let header = lines.iter().find(|l| l.starts_with("wait "));
        assert_eq!(
            header.is_some(),
            timing,
            "timing rows iff timing is on:\n{text}"
        );
        if let Some(header) = header {
            let words: Vec<&str> = header.split_whitespace().collect();
            assert_eq!(
                words,
                [
                    "wait", "p50", "p90", "p99", "max", "run", "p50", "p90", "p99", "max"
                ]
            );
        }
    }
}

/// With a stall threshold, a stuck task is counted in `stalls` (and shown by `Display`).
#[test]
fn a_stuck_task_counts_as_a_stall() {
    let _watchdog = common::guard("a_stuck_task_counts_as_a_stall");
    let pool = WorkerPool::builder()
        .num_threads(2)
        .stall_threshold(Duration::from_millis(10))
        .build()
        .unwrap();
    assert_eq!(pool.metrics().stalls(), 0);
    let gate = Gate::new();
    let (stuck, _) = common::hold_worker(&pool, &gate);
    common::wait_for("the stall to be counted", || pool.metrics().stalls() >= 1);
    gate.open();
    join_within(stuck, "the stuck task").unwrap();
    let metrics = pool.metrics();
    assert_eq!(metrics.stalls(), 1, "one stuck task, one stall:\n{metrics}");
    assert!(metrics.to_string().contains("; 1 stall"), "{metrics}");
    // Without a threshold nothing is ever counted as a stall.
    let plain = common::pool(1);
    let gate = Gate::new();
    let (held, _) = common::hold_worker(&plain, &gate);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(plain.metrics().stalls(), 0);
    gate.open();
    join_within(held, "the held task").unwrap();
}

/// A temporary worker (stall compensation) gets its own row, marked temporary, with an index
/// from `num_threads` on, and its tasks count in the totals.
#[test]
fn a_temporary_worker_has_its_own_slot_in_the_metrics() {
    let _watchdog = common::guard("a_temporary_worker_has_its_own_slot_in_the_metrics");
    let pool = WorkerPool::builder()
        .num_threads(1)
        .stall_threshold(Duration::from_millis(10))
        .compensate_stalls(1)
        .build()
        .unwrap();
    assert_eq!(
        pool.metrics().workers().len(),
        1,
        "an unused temporary slot is not shown"
    );
    let gate = Gate::new();
    let (stuck, _) = common::hold_worker(&pool, &gate);
    let index = join_within(
        pool.spawn(stealpool::current_thread_index),
        "a task behind the stuck one",
    )
    .unwrap();
    assert_eq!(index, Some(1), "only a temporary worker can run it");
    let metrics = pool.metrics();
    assert_eq!(metrics.num_threads(), 1);
    assert_eq!(metrics.workers().len(), 2, "{metrics}");
    let temp = &metrics.workers()[1];
    assert_eq!(temp.index(), 1);
    assert!(temp.is_temporary());
    assert!(temp.threads() >= 1);
    assert_eq!(temp.tasks_run(), 1, "{metrics}");
    assert!(metrics.to_string().contains("\n1 temp "), "{metrics}");
    gate.open();
    join_within(stuck, "the stuck task").unwrap();
    let metrics = pool.metrics();
    assert_eq!(metrics.completed(), 2);
    assert_eq!(tasks_run(&metrics), 2);
}
