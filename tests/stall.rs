//! Stall detection: `stall_threshold` and `on_stall`.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::join_within;

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
    let (release, gate) = mpsc::channel::<()>();
    let (index_tx, index_rx) = mpsc::channel();
    let stuck = pool.spawn(move || {
        index_tx
            .send(stealpool::current_thread_index().unwrap())
            .unwrap();
        gate.recv().unwrap();
    });
    let worker = index_rx.recv().unwrap();
    common::wait_for("the stall report", || !reports.lock().unwrap().is_empty());
    // Stuck for many more thresholds: still one report for this task.
    std::thread::sleep(threshold * 8);
    release.send(()).unwrap();
    join_within(stuck, "the stuck task").unwrap();
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
