//! Stall detection: `stall_threshold` and `on_stall`; stall compensation:
//! `compensate_stalls` and its temporary workers.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Gate, join_within};
use stealpool::{JoinHandle, Priority, WorkerPool};

type Reports = Arc<Mutex<Vec<(usize, Duration)>>>;

fn watched_pool(threads: usize, threshold: Duration) -> (stealpool::WorkerPool, Reports) {
    let reports: Reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let pool = stealpool::WorkerPool::builder()
        .num_threads(threads)
        .stall_threshold(threshold)
        .on_stall(move |worker, running_for| sink.lock().unwrap().push((worker, running_for)))
        .build()
        .unwrap();
    (pool, reports)
}

#[test]
fn a_stuck_task_is_reported_once_with_its_worker_and_duration() {
    let _watchdog = common::guard("a_stuck_task_is_reported_once_with_its_worker_and_duration");
    let threshold = Duration::from_millis(10);
    let (pool, reports) = watched_pool(2, threshold);
    let gate = Gate::new();
    let (stuck, location) = common::hold_worker(&pool, &gate);
    let worker = location.1.expect("on a worker");
    common::wait_for("the stall report", || !reports.lock().unwrap().is_empty());
    // Stuck for many more thresholds: still one report for this task.
    std::thread::sleep(threshold * 8);
    open_and_join(&gate, stuck, "the stuck task");
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].0, worker);
    assert!(reports[0].1 > threshold);
    pool.shutdown();
}

#[test]
fn short_tasks_are_never_reported() {
    let _watchdog = common::guard("short_tasks_are_never_reported");
    // A generous threshold: nothing in this test comes close to it.
    let (pool, reports) = watched_pool(2, Duration::from_secs(20));
    let handles: Vec<_> = (0..1000u64).map(|i| pool.spawn(move || i * 2)).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 999_000);
    pool.shutdown();
    assert!(reports.lock().unwrap().is_empty());
}

#[test]
fn each_stalled_task_is_reported_and_a_panicking_callback_is_contained() {
    let _watchdog =
        common::guard("each_stalled_task_is_reported_and_a_panicking_callback_is_contained");
    let calls = Arc::new(Mutex::new(0usize));
    let seen = calls.clone();
    let pool = stealpool::WorkerPool::builder()
        .num_threads(2)
        .stall_threshold(Duration::from_millis(10))
        .on_stall(move |_, _| {
            *seen.lock().unwrap() += 1;
            panic!("the stall callback itself panics");
        })
        .build()
        .unwrap();
    for round in 1..=3 {
        let (release, gate) = mpsc::channel::<()>();
        let stuck = pool.spawn(move || gate.recv().unwrap());
        common::wait_for("a stall report", || *calls.lock().unwrap() == round);
        release.send(()).unwrap();
        join_within(stuck, "a stuck task").unwrap();
    }
    // The watcher survived its callback's panics, and the pool still ends (its watcher too:
    // shutdown joins it).
    common::shutdown_within(&pool, "a pool with a stall watcher");
}

// ---------------------------------------------------------------------------------------------
// compensate_stalls: temporary workers while tasks are stalled.
//
// Every test names its pool's threads with its own prefix, so that `common::threads_named`
// sees only that pool's threads (the tests of this binary run in parallel). Nothing here
// asserts how long anything takes: a test waits for what must happen (`common::wait_for`,
// bounded only to turn a hang into a failure), and a "this has not happened" check is made
// only where nothing but a bug could make it happen, after giving such a bug ample time.

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The worker indices the watcher reported stalled, in order.
type Stalled = Arc<Mutex<Vec<usize>>>;

/// A pool of `threads` workers named `{prefix}{i}`, with a stall `threshold`, and with
/// `compensate_stalls(extra)` when `extra` is given.
fn compensating_pool(
    threads: usize,
    threshold: Duration,
    extra: Option<usize>,
    prefix: &'static str,
) -> (WorkerPool, Stalled) {
    let stalled = Stalled::default();
    let sink = stalled.clone();
    let mut builder = WorkerPool::builder()
        .num_threads(threads)
        .thread_name(move |i| format!("{prefix}{i}"))
        .stall_threshold(threshold)
        .on_stall(move |worker, _| sink.lock().unwrap().push(worker));
    if let Some(extra) = extra {
        builder = builder.compensate_stalls(extra);
    }
    (builder.build().expect("valid settings"), stalled)
}

/// Blocks each of the pool's `width` workers with a task that waits at `gate`, and returns
/// their handles (each resolves to its worker's index). A blocker that a temporary worker
/// takes instead (on a slow machine the watcher may see the first blocker stall before the
/// next worker woke up for its own) returns at once, and another is sent in its place.
fn block_workers(pool: &WorkerPool, width: usize, gate: &Gate) -> Vec<JoinHandle<usize>> {
    let (started_tx, started) = mpsc::channel();
    let mut blocked = BTreeSet::new();
    let mut handles = Vec::new();
    while blocked.len() < width {
        let started_tx = started_tx.clone();
        let gate = gate.waiter();
        let handle = pool.spawn(move || {
            let index = stealpool::current_thread_index().expect("on a worker");
            started_tx.send(index).unwrap();
            if index < width {
                gate.wait();
            }
            index
        });
        let index = started
            .recv_timeout(common::LIVENESS)
            .expect("a blocker never started");
        if index < width {
            assert!(blocked.insert(index), "worker {index} took two blockers");
            handles.push(handle);
        } else {
            let back = join_within(handle, "a blocker that a temporary worker took").unwrap();
            assert_eq!(back, index);
        }
    }
    handles
}

/// A [`compensating_pool`] whose `threads` workers are all stuck at the returned gate (see
/// [`block_workers`]), with the blockers' handles.
fn blocked_pool(
    threads: usize,
    threshold: Duration,
    extra: Option<usize>,
    prefix: &'static str,
) -> (WorkerPool, Stalled, Gate, Vec<JoinHandle<usize>>) {
    let (pool, stalled) = compensating_pool(threads, threshold, extra, prefix);
    let gate = Gate::new();
    let blockers = block_workers(&pool, threads, &gate);
    (pool, stalled, gate, blockers)
}

/// Opens `gate` and returns the indices the blockers ran on, sorted.
fn release(gate: &Gate, blockers: Vec<JoinHandle<usize>>) -> Vec<usize> {
    gate.open();
    let mut indices: Vec<usize> = blockers
        .into_iter()
        .map(|handle| join_within(handle, "a blocker").unwrap())
        .collect();
    indices.sort_unstable();
    indices
}

/// Opens `gate` and joins `task`, which waits at it; fails the test if the task fails or
/// does not end within `common::LIVENESS`.
fn open_and_join(gate: &Gate, task: JoinHandle<()>, what: &str) {
    gate.open();
    join_within(task, what).unwrap();
}

/// Shuts `pool` down, failing the test if that does not return (see
/// `common::shutdown_within`), and waits for its threads, named `{prefix}*`, to exit.
fn shut_down(pool: &WorkerPool, what: &str, prefix: &str) {
    common::shutdown_within(pool, what);
    common::wait_for_threads_gone(prefix);
}

/// Joins an OS thread, failing the test if it does not end within `common::LIVENESS`.
fn join_thread_within<T>(thread: std::thread::JoinHandle<T>, what: &str) -> T {
    common::wait_for(what, || thread.is_finished());
    thread.join().expect("the thread did not panic")
}

/// Calls `op(&pool)` on a new thread (for `shutdown` and `shutdown_now`, which wait for the
/// stuck tasks).
fn on_another_thread(pool: &WorkerPool, op: fn(&WorkerPool)) -> std::thread::JoinHandle<()> {
    let pool = pool.clone();
    std::thread::spawn(move || op(&pool))
}

fn run_counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

#[test]
fn queued_work_runs_on_temporary_workers_while_every_worker_is_stuck() {
    let _watchdog =
        common::guard("queued_work_runs_on_temporary_workers_while_every_worker_is_stuck");
    let (pool, _, gate, blockers) = blocked_pool(2, ms(10), Some(2), "cs-test-");
    let tasks: Vec<_> = (0..200u64)
        .map(|i| pool.spawn(move || (i, common::location())))
        .collect();
    for (i, handle) in (0..).zip(tasks) {
        let (value, location) = join_within(handle, "a task queued behind stuck workers").unwrap();
        assert_eq!(value, i);
        let index = location.1.expect("on a worker");
        assert!(
            index == 2 || index == 3,
            "task {i} ran at {location:?} while workers 0 and 1 were stuck"
        );
        // Named by the builder's function, with the temporary worker's index.
        assert_eq!(location.0, Some(format!("cs-test-{index}")));
    }
    // With no work left, the temporary workers leave, although the stall goes on.
    common::wait_for("the temporary workers to leave once out of work", || {
        common::threads_named("cs-test-") == 2
    });
    assert!(
        blockers.iter().all(|blocker| !blocker.is_finished()),
        "the blockers are still stuck: the work above ran beside them"
    );
    assert_eq!(release(&gate, blockers), [0, 1]);
    assert_eq!(
        pool.num_threads(),
        2,
        "the width does not count temporary workers"
    );
    shut_down(&pool, "a pool that had temporary workers", "cs-test-");
}

#[test]
fn the_cap_holds_when_the_temporary_worker_is_stuck_too() {
    let _watchdog = common::guard("the_cap_holds_when_the_temporary_worker_is_stuck_too");
    let threshold = ms(10);
    let (pool, stalled, gate0, blocker) = blocked_pool(1, threshold, Some(1), "ccap-");
    // A second stuck task: only a temporary worker can take it.
    let gate1 = Gate::new();
    let (stuck_temp, location) = common::hold_worker(&pool, &gate1);
    assert_eq!(location, (Some("ccap-1".to_owned()), Some(1)));
    let (ran, queued) = queue_counted(&pool, 20, stealpool::current_thread_index);
    // Two tasks stalled, one temporary worker allowed, and it is the one stuck.
    common::wait_for("the temporary worker's task to be reported stalled", || {
        stalled.lock().unwrap().contains(&1)
    });
    // Only a bug could run the queued work now; give one many watcher looks to show itself.
    for _ in 0..20 {
        std::thread::sleep(threshold);
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "queued work ran while the worker and the only temporary worker allowed were stuck"
        );
        assert_eq!(
            common::threads_named("ccap-"),
            2,
            "a third thread was started"
        );
    }
    // One stuck task ends: its worker takes the queued work (the temporary one is still stuck).
    assert_eq!(release(&gate0, blocker), [0]);
    for handle in queued {
        assert_eq!(join_within(handle, "queued work").unwrap(), Some(0));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 20);
    assert!(!stuck_temp.is_finished());
    open_and_join(&gate1, stuck_temp, "the temporary worker's stuck task");
    shut_down(&pool, "a pool whose temporary worker was stuck", "ccap-");
}

#[test]
fn each_stalled_task_may_get_its_own_temporary_worker_up_to_the_cap() {
    let _watchdog =
        common::guard("each_stalled_task_may_get_its_own_temporary_worker_up_to_the_cap");
    let (pool, _, gate0, blocker) = blocked_pool(1, ms(10), Some(2), "ctwo-");
    let gate1 = Gate::new();
    let (stuck_temp, location) = common::hold_worker(&pool, &gate1);
    // One task stalled: one temporary worker (the first temporary slot).
    assert_eq!(location, (Some("ctwo-1".to_owned()), Some(1)));
    // Once that one's task stalls too, a second one runs the queued work.
    let tasks: Vec<_> = (0..50).map(|_| pool.spawn(common::location)).collect();
    for handle in tasks {
        let location = join_within(handle, "work queued behind two stuck tasks").unwrap();
        assert_eq!(location, (Some("ctwo-2".to_owned()), Some(2)));
    }
    assert!(!stuck_temp.is_finished());
    assert_eq!(release(&gate0, blocker), [0]);
    open_and_join(&gate1, stuck_temp, "the temporary worker's stuck task");
    shut_down(&pool, "a pool with two temporary workers", "ctwo-");
}

#[test]
fn one_stalled_task_gets_one_temporary_worker_even_when_more_are_allowed() {
    let _watchdog =
        common::guard("one_stalled_task_gets_one_temporary_worker_even_when_more_are_allowed");
    let (pool, stalled, gate, blocker) = blocked_pool(1, ms(10), Some(3), "cone-");
    // Queued at once, likely before the watcher sees the stall: plenty of work is waiting
    // when it decides how many workers to start.
    let tasks: Vec<_> = (0..300)
        .map(|_| pool.spawn(stealpool::current_thread_index))
        .collect();
    let indices: BTreeSet<usize> = tasks
        .into_iter()
        .map(|handle| {
            join_within(handle, "work queued behind a stuck worker")
                .unwrap()
                .expect("on a worker")
        })
        .collect();
    assert!(
        indices.iter().all(|&i| (1..4).contains(&i)),
        "indices {indices:?}: worker 0 was stuck"
    );
    // A second temporary worker is wanted only while two tasks are stalled, and then the
    // watcher has reported the second one (on a temporary worker: worker 0 is stuck). A task
    // here may stall on a slow machine; without such a report, only index 1 may appear.
    let stalled = stalled.lock().unwrap().clone();
    let second_stall = stalled.iter().any(|&worker| worker != 0);
    assert!(
        second_stall || indices == BTreeSet::from([1]),
        "temporary workers {indices:?} ran work while only one task was stalled (reports: \
         {stalled:?})"
    );
    assert_eq!(release(&gate, blocker), [0]);
    shut_down(&pool, "a pool that had a temporary worker", "cone-");
}

#[test]
fn temporary_workers_leave_once_the_stall_is_over() {
    let _watchdog = common::guard("temporary_workers_leave_once_the_stall_is_over");
    let (pool, _, gate, blockers) = blocked_pool(2, ms(20), Some(2), "cleave-");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            pool.spawn(|| {
                std::thread::sleep(ms(1));
                stealpool::current_thread_index()
            })
        })
        .collect();
    for handle in tasks {
        let index = join_within(handle, "work queued behind stuck workers").unwrap();
        assert!(matches!(index, Some(2 | 3)), "ran on {index:?}");
    }
    assert_eq!(release(&gate, blockers), [0, 1]);
    common::wait_for("the temporary workers' threads to exit", || {
        common::threads_named("cleave-2") == 0 && common::threads_named("cleave-3") == 0
    });
    // Later work runs on the pool's own workers. (A look the watcher took just before the
    // stuck tasks ended may still start one more temporary worker for work queued right
    // then; once the watcher has seen them end, it starts none. So this waits for a batch
    // that ran on the workers alone, rather than asserting it of the first batch; it fails
    // if temporary workers keep coming without a stall.)
    common::wait_for("a batch of later work to run on the workers alone", || {
        let batch: Vec<_> = (0..20)
            .map(|_| {
                pool.spawn(|| {
                    std::thread::sleep(ms(1));
                    stealpool::current_thread_index()
                })
            })
            .collect();
        let indices: Vec<_> = batch
            .into_iter()
            .map(|handle| join_within(handle, "later work").unwrap())
            .collect();
        indices.iter().all(|index| matches!(index, Some(0 | 1)))
    });
    common::wait_for("no temporary worker to be left", || {
        common::threads_named("cleave-") == 2
    });
    shut_down(&pool, "a pool whose temporary workers left", "cleave-");
}

/// Tasks that each spawn their successor until told to stop: the queues never run dry, so a
/// worker running them never leaves for want of work.
struct Chains {
    stop: AtomicBool,
    /// Chains still going.
    live: AtomicUsize,
    /// Links run by worker 0 and by the temporary worker 1.
    runs: [AtomicUsize; 2],
}

fn chain_link(pool: WorkerPool, chains: Arc<Chains>) {
    let index = stealpool::current_thread_index().expect("on a worker");
    chains.runs[index].fetch_add(1, Ordering::SeqCst);
    if chains.stop.load(Ordering::SeqCst) {
        chains.live.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let next = pool.clone();
    drop(pool.spawn(move || chain_link(next, chains)));
}

#[test]
fn a_temporary_worker_leaves_between_tasks_once_the_stall_ends_although_work_remains() {
    let _watchdog = common::guard(
        "a_temporary_worker_leaves_between_tasks_once_the_stall_ends_although_work_remains",
    );
    const CHAINS: usize = 4;
    let (pool, _, gate, blocker) = blocked_pool(1, ms(50), Some(1), "cret-");
    let chains = Arc::new(Chains {
        stop: AtomicBool::new(false),
        live: AtomicUsize::new(CHAINS),
        runs: [AtomicUsize::new(0), AtomicUsize::new(0)],
    });
    for _ in 0..CHAINS {
        let (next, chains) = (pool.clone(), chains.clone());
        drop(pool.spawn(move || chain_link(next, chains)));
    }
    common::wait_for("the temporary worker to run the chains", || {
        chains.runs[1].load(Ordering::SeqCst) > 200
    });
    assert_eq!(
        chains.runs[0].load(Ordering::SeqCst),
        0,
        "worker 0 is stuck"
    );
    assert_eq!(release(&gate, blocker), [0]);
    // The temporary worker always has a next link in its own deque: only the end of the
    // stall can make it leave.
    common::wait_for(
        "the temporary worker to leave while the chains keep work queued",
        || common::threads_named("cret-1") == 0,
    );
    let before = chains.runs[0].load(Ordering::SeqCst);
    common::wait_for("the chains to go on on worker 0", || {
        chains.runs[0].load(Ordering::SeqCst) > before + 100
    });
    chains.stop.store(true, Ordering::SeqCst);
    // The links left in the temporary worker's deque went on elsewhere: no chain was lost.
    common::wait_for("every chain to end", || {
        chains.live.load(Ordering::SeqCst) == 0
    });
    shut_down(&pool, "a pool whose temporary worker retired", "cret-");
}

/// Queues `n` tasks that each count themselves in the returned counter when they run and
/// return `what()`.
fn queue_counted<T: Send + 'static>(
    pool: &WorkerPool,
    n: usize,
    what: fn() -> T,
) -> (Arc<AtomicUsize>, Vec<JoinHandle<T>>) {
    let ran = Arc::new(AtomicUsize::new(0));
    let queued = (0..n)
        .map(|_| {
            let ran = ran.clone();
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                what()
            })
        })
        .collect();
    (ran, queued)
}

/// Without compensation (no setting, or 0) a stuck worker's queued work waits for it.
fn nothing_extra_starts(extra: Option<usize>, prefix: &'static str) {
    let threshold = ms(10);
    let (pool, stalled, gate, blocker) = blocked_pool(1, threshold, extra, prefix);
    let (ran, queued) = queue_counted(&pool, 20, common::location);
    // The stall is still reported...
    common::wait_for("the stall report", || !stalled.lock().unwrap().is_empty());
    assert_eq!(*stalled.lock().unwrap(), [0]);
    // ...and nothing else happens: only a bug could run the queued work now.
    for _ in 0..20 {
        std::thread::sleep(threshold);
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "queued work ran beside a stuck worker"
        );
        assert_eq!(
            common::threads_named(prefix),
            1,
            "an extra thread was started"
        );
    }
    assert_eq!(release(&gate, blocker), [0]);
    let worker0 = (Some(format!("{prefix}0")), Some(0));
    for handle in queued {
        assert_eq!(join_within(handle, "queued work").unwrap(), worker0);
    }
    shut_down(&pool, "a pool without compensation", prefix);
}

#[test]
fn without_compensate_stalls_a_stall_starts_no_extra_worker() {
    let _watchdog = common::guard("without_compensate_stalls_a_stall_starts_no_extra_worker");
    nothing_extra_starts(None, "cnone-");
}

#[test]
fn compensate_stalls_zero_starts_no_extra_worker() {
    let _watchdog = common::guard("compensate_stalls_zero_starts_no_extra_worker");
    nothing_extra_starts(Some(0), "czero-");
}

#[test]
fn shutdown_runs_queued_work_on_temporary_workers_while_a_worker_is_stuck() {
    let _watchdog =
        common::guard("shutdown_runs_queued_work_on_temporary_workers_while_a_worker_is_stuck");
    const N: usize = 200;
    let (pool, _, gate, blocker) = blocked_pool(1, ms(10), Some(1), "cshut-");
    let runs = run_counters(N);
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let runs = runs.clone();
            pool.spawn(move || {
                runs[i].fetch_add(1, Ordering::SeqCst);
                stealpool::current_thread_index()
            })
        })
        .collect();
    let closer = on_another_thread(&pool, WorkerPool::shutdown);
    common::wait_for("the pool to close", || pool.try_spawn(|| ()).is_err());
    // Closed, its only worker stuck: the queued work still runs, on a temporary worker.
    common::wait_for("the queued work to run", || {
        runs.iter().all(|run| run.load(Ordering::SeqCst) > 0)
    });
    assert!(
        !closer.is_finished(),
        "shutdown returned while a task was still running"
    );
    assert_eq!(release(&gate, blocker), [0]);
    join_thread_within(closer, "shutdown to return once the stuck task ended");
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(join_within(handle, "queued work").unwrap(), Some(1));
        assert_eq!(runs[i].load(Ordering::SeqCst), 1, "task {i} ran twice");
    }
    common::wait_for_threads_gone("cshut-");
}

#[test]
fn a_closed_pool_does_not_end_while_a_temporary_worker_runs() {
    let _watchdog = common::guard("a_closed_pool_does_not_end_while_a_temporary_worker_runs");
    let (pool, _, gate0, blocker) = blocked_pool(1, ms(10), Some(1), "cend-");
    // A task on the temporary worker that, once let go, hands work to the pool and waits for
    // it (on a channel, not a join, which would run it right here), reports, and then waits
    // once more before it returns.
    let (gate_t, gate_end) = (Gate::new(), Gate::new());
    let (wait_t, wait_end) = (gate_t.waiter(), gate_end.waiter());
    let (started_tx, started) = mpsc::channel();
    let (handed_tx, handed) = mpsc::channel();
    let inner = pool.clone();
    let on_temp = pool.spawn(move || {
        started_tx.send(stealpool::current_thread_index()).unwrap();
        wait_t.wait();
        let (done_tx, done) = mpsc::channel();
        drop(inner.spawn(move || done_tx.send(stealpool::current_thread_index()).unwrap()));
        handed_tx
            .send(done.recv_timeout(common::LIVENESS / 2).ok())
            .unwrap();
        wait_end.wait();
    });
    assert_eq!(started.recv_timeout(common::LIVENESS).unwrap(), Some(1));
    let closer = on_another_thread(&pool, WorkerPool::shutdown);
    common::wait_for("the pool to close", || pool.try_spawn(|| ()).is_err());
    // Worker 0 runs what was queued meanwhile, then has nothing to do in a closed pool: it
    // goes to sleep, and must not end the pool while the temporary worker runs a task.
    assert_eq!(release(&gate0, blocker), [0]);
    let worker0_asleep_and_the_pool_open = || {
        common::wait_for("worker 0 to go to sleep", || {
            common::thread_stats("cend-0")
                .iter()
                .all(|&(state, _)| state == 'S')
        });
        std::thread::sleep(ms(50));
        assert!(
            !closer.is_finished(),
            "shutdown returned while a task was running"
        );
    };
    worker0_asleep_and_the_pool_open();
    gate_t.open();
    assert_eq!(
        handed.recv_timeout(common::LIVENESS).unwrap(),
        Some(Some(0)),
        "the work handed over by the temporary worker's task never ran: the pool ended under it"
    );
    // Worker 0 goes back to sleep; the temporary worker's task ends after that, and the
    // temporary worker, leaving last, must end the pool.
    worker0_asleep_and_the_pool_open();
    open_and_join(&gate_end, on_temp, "the temporary worker's task");
    join_thread_within(closer, "shutdown to return after the temporary worker left");
    common::wait_for_threads_gone("cend-");
}

#[test]
fn shutdown_now_while_temporary_workers_run_cancels_or_runs_each_task_once() {
    let _watchdog =
        common::guard("shutdown_now_while_temporary_workers_run_cancels_or_runs_each_task_once");
    const N: usize = 400;
    // Each round must hold; rounds repeat only until one cancelled some tasks and ran others
    // (a very slow machine may let the temporary workers run everything before the call).
    let mut mixed = false;
    for _round in 0..10 {
        let (pool, _, gate, blockers) = blocked_pool(2, ms(10), Some(2), "cnow-");
        let runs = run_counters(N);
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let runs = runs.clone();
                pool.spawn(move || {
                    runs[i].fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_micros(200));
                    stealpool::current_thread_index()
                })
            })
            .collect();
        common::wait_for("the temporary workers to take work", || {
            runs.iter().any(|run| run.load(Ordering::SeqCst) > 0)
        });
        let closer = on_another_thread(&pool, WorkerPool::shutdown_now);
        // Cancelled tasks resolve at once and running ones finish: every handle resolves
        // while the workers are still stuck.
        common::wait_for("every task to resolve", || {
            handles.iter().all(JoinHandle::is_finished)
        });
        assert!(
            !closer.is_finished(),
            "shutdown_now returned while tasks were running"
        );
        assert_eq!(release(&gate, blockers), [0, 1]);
        join_thread_within(closer, "shutdown_now to return");
        let (mut ran, mut cancelled) = (0, 0);
        for (i, handle) in handles.into_iter().enumerate() {
            let runs = runs[i].load(Ordering::SeqCst);
            match handle.join() {
                Ok(index) => {
                    assert_eq!(runs, 1, "task {i} reported done but ran {runs} times");
                    assert!(matches!(index, Some(2 | 3)), "task {i} ran on {index:?}");
                    ran += 1;
                }
                Err(err) => {
                    assert!(err.is_cancelled(), "task {i}: {err:?}");
                    assert_eq!(runs, 0, "task {i} reported cancelled but ran {runs} times");
                    cancelled += 1;
                }
            }
        }
        assert_eq!(ran + cancelled, N);
        common::wait_for_threads_gone("cnow-");
        if ran > 0 && cancelled > 0 {
            mixed = true;
            break;
        }
    }
    assert!(mixed, "no round had both cancelled and finished tasks");
}

#[test]
fn shutdown_now_cancels_work_queued_behind_stuck_temporary_workers() {
    let _watchdog =
        common::guard("shutdown_now_cancels_work_queued_behind_stuck_temporary_workers");
    let (pool, _, gate0, blocker) = blocked_pool(1, ms(10), Some(1), "ccan-");
    let gate1 = Gate::new();
    let (stuck_temp, location) = common::hold_worker(&pool, &gate1);
    assert_eq!(location.1, Some(1));
    let runs = run_counters(50);
    let queued: Vec<_> = (0..50)
        .map(|i| {
            let runs = runs.clone();
            pool.spawn(move || {
                runs[i].fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let closer = on_another_thread(&pool, WorkerPool::shutdown_now);
    common::wait_for("the queued tasks to be cancelled", || {
        queued.iter().all(JoinHandle::is_finished)
    });
    for handle in queued {
        assert!(handle.join().unwrap_err().is_cancelled());
    }
    assert!(runs.iter().all(|run| run.load(Ordering::SeqCst) == 0));
    // The running tasks are not cancelled: shutdown_now waits for them.
    assert!(!closer.is_finished());
    assert!(!stuck_temp.is_finished());
    assert_eq!(release(&gate0, blocker), [0]);
    open_and_join(&gate1, stuck_temp, "the temporary worker's running task");
    join_thread_within(closer, "shutdown_now to return");
    common::wait_for_threads_gone("ccan-");
}

#[test]
fn a_task_that_panics_on_a_temporary_worker_is_reported_and_work_goes_on() {
    let _watchdog =
        common::guard("a_task_that_panics_on_a_temporary_worker_is_reported_and_work_goes_on");
    let (pool, _, gate, blocker) = blocked_pool(1, ms(10), Some(1), "cpan-");
    let boom = pool.spawn(|| -> usize {
        panic!("a task on a temporary worker panics (expected by this test)");
    });
    let after: Vec<_> = (0..50)
        .map(|_| pool.spawn(stealpool::current_thread_index))
        .collect();
    let err = join_within(boom, "the panicking task").unwrap_err();
    assert!(err.is_panic());
    for handle in after {
        assert_eq!(
            join_within(handle, "work after the panic").unwrap(),
            Some(1)
        );
    }
    assert_eq!(release(&gate, blocker), [0]);
    shut_down(&pool, "a pool whose temporary worker saw a panic", "cpan-");
}

fn tree_sum(lo: u64, hi: u64) -> u64 {
    if hi - lo <= 64 {
        return (lo..hi).sum();
    }
    let mid = lo + (hi - lo) / 2;
    let (a, b) = stealpool::join(|| tree_sum(lo, mid), || tree_sum(mid, hi));
    a + b
}

#[test]
fn joins_and_scopes_run_on_temporary_workers() {
    let _watchdog = common::guard("joins_and_scopes_run_on_temporary_workers");
    let (pool, _, gate, blocker) = blocked_pool(1, ms(10), Some(2), "cnest-");
    let outer = pool.spawn(|| {
        let sum = tree_sum(0, 100_000);
        let seen = Mutex::new(Vec::new());
        stealpool::scope(|s| {
            for _ in 0..64 {
                s.spawn(|_| {
                    std::thread::sleep(Duration::from_micros(100));
                    seen.lock().unwrap().push(stealpool::current_thread_index());
                });
            }
        });
        (
            stealpool::current_thread_index(),
            sum,
            seen.into_inner().unwrap(),
        )
    });
    let (index, sum, seen) = join_within(outer, "a task that joins and scopes").unwrap();
    assert_eq!(index, Some(1));
    assert_eq!(sum, 4_999_950_000);
    assert_eq!(seen.len(), 64);
    assert!(
        seen.iter().all(|index| matches!(index, Some(1 | 2))),
        "scope tasks ran at {seen:?} while worker 0 was stuck"
    );
    assert_eq!(release(&gate, blocker), [0]);
    shut_down(
        &pool,
        "a pool that nested work on temporary workers",
        "cnest-",
    );
}

#[test]
fn a_temporary_worker_gets_the_default_name_when_the_name_function_panics_for_it() {
    let _watchdog = common::guard(
        "a_temporary_worker_gets_the_default_name_when_the_name_function_panics_for_it",
    );
    let pool = WorkerPool::builder()
        .num_threads(1)
        .thread_name(|i| {
            assert!(i < 1, "no name for thread {i} (expected by this test)");
            format!("cfb-{i}")
        })
        .stall_threshold(ms(10))
        .compensate_stalls(1)
        .build()
        .expect("the name function works for the workers");
    let gate = Gate::new();
    let blocker = block_workers(&pool, 1, &gate);
    let location = join_within(pool.spawn(common::location), "work behind a stuck worker").unwrap();
    assert_eq!(location, (Some("stealpool-1".to_owned()), Some(1)));
    assert_eq!(release(&gate, blocker), [0]);
    shut_down(&pool, "a pool whose name function panicked", "cfb-");
}

#[test]
fn a_task_waiting_for_work_it_queued_is_unblocked_by_a_temporary_worker() {
    let _watchdog =
        common::guard("a_task_waiting_for_work_it_queued_is_unblocked_by_a_temporary_worker");
    let (pool, _) = compensating_pool(1, ms(10), Some(1), "cdead-");
    let inner = pool.clone();
    // The only worker waits (not with a join, which would run the work itself) for a task
    // it queued on its own deque: without compensation this never ends.
    let waiter = pool.spawn(move || {
        let (tx, rx) = mpsc::channel();
        drop(inner.spawn(move || tx.send(common::location()).unwrap()));
        (
            stealpool::current_thread_index(),
            rx.recv_timeout(common::LIVENESS / 2).ok(),
        )
    });
    let (waiter_index, helped) = join_within(waiter, "the waiting task").unwrap();
    assert_eq!(waiter_index, Some(0));
    assert_eq!(
        helped,
        Some((Some("cdead-1".to_owned()), Some(1))),
        "the queued task should have run on a temporary worker"
    );
    shut_down(&pool, "a pool that compensated a waiting task", "cdead-");
}

#[test]
fn queued_work_of_every_priority_runs_on_a_temporary_worker() {
    let _watchdog = common::guard("queued_work_of_every_priority_runs_on_a_temporary_worker");
    let (pool, _, gate, blocker) = blocked_pool(1, ms(10), Some(1), "cprio-");
    let tasks: Vec<_> = [Priority::Low, Priority::Normal, Priority::High]
        .into_iter()
        .flat_map(|priority| {
            let pool = &pool;
            (0..20).map(move |_| {
                pool.spawn_with(priority, move || {
                    (
                        stealpool::current_priority(),
                        stealpool::current_thread_index(),
                    )
                })
            })
        })
        .collect();
    for (i, handle) in tasks.into_iter().enumerate() {
        let (priority, index) = join_within(handle, "work queued behind a stuck worker").unwrap();
        let expected = [Priority::Low, Priority::Normal, Priority::High][i / 20];
        assert_eq!(priority, Some(expected));
        assert_eq!(index, Some(1));
    }
    assert_eq!(release(&gate, blocker), [0]);
    shut_down(
        &pool,
        "a pool with prioritised work on a temporary worker",
        "cprio-",
    );
}
