//! `JoinHandle` as a future (futures' `block_on`, tokio) and as a hand-polled future; what it
//! does with wakers, results and its own drop.

mod common;

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Waker};

use common::{CountingWaker, DropCounter, LIVENESS, pool};
use stealpool::{JoinHandle, TaskError, WorkerPool};

fn poll_once<T>(handle: &mut JoinHandle<T>, waker: &Waker) -> Poll<Result<T, TaskError>> {
    Pin::new(handle).poll(&mut Context::from_waker(waker))
}

#[test]
fn handles_pools_and_errors_are_send_and_sync() {
    let _watchdog = common::guard("handles_pools_and_errors_are_send_and_sync");
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send + 'static>() {}
    send_sync::<JoinHandle<u32>>();
    send_sync::<JoinHandle<String>>();
    send_sync::<WorkerPool>();
    send::<TaskError>();
    fn error<E: std::error::Error + Send + 'static>() {}
    error::<TaskError>();
    error::<stealpool::BuildError>();
}

#[test]
fn block_on_a_handle() {
    let _watchdog = common::guard("block_on_a_handle");
    let pool = pool(2);
    let handle = pool.spawn(|| (1..=10u64).product::<u64>());
    assert_eq!(futures::executor::block_on(handle).unwrap(), 3_628_800);

    let handles: Vec<_> = (0..32u64).map(|i| pool.spawn(move || i * 2)).collect();
    let all = futures::executor::block_on(futures::future::join_all(handles));
    let all: Vec<u64> = all.into_iter().map(Result::unwrap).collect();
    assert_eq!(all, (0..32u64).map(|i| i * 2).collect::<Vec<_>>());

    let failed = futures::executor::block_on(pool.spawn(|| -> u8 { panic!("awaited panic") }));
    let err = failed.unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("awaited panic"), "{err}");
    pool.shutdown();
}

#[test]
fn block_on_a_handle_that_is_pending_first() {
    let _watchdog = common::guard("block_on_a_handle_that_is_pending_first");
    let pool = pool(2);
    let (release, gate) = mpsc::channel::<u32>();
    let result = futures::executor::block_on(async move {
        let mut handle = pool.spawn(move || gate.recv().unwrap() + 1);
        // The task waits for `release`, so the first poll is certainly pending.
        assert!(futures::poll!(&mut handle).is_pending());
        release.send(41).unwrap();
        handle.await
    });
    assert_eq!(result.unwrap(), 42);
}

#[test]
fn the_last_registered_waker_is_woken() {
    let _watchdog = common::guard("the_last_registered_waker_is_woken");
    let pool = pool(2);
    let (release, gate) = mpsc::channel::<u32>();
    let mut handle = pool.spawn(move || gate.recv().unwrap() + 1);

    let first = CountingWaker::new();
    assert!(poll_once(&mut handle, &first.waker()).is_pending());
    // The same waker again (already registered), then a different one (replaces it).
    assert!(poll_once(&mut handle, &first.waker()).is_pending());
    let second = CountingWaker::new();
    assert!(poll_once(&mut handle, &second.waker()).is_pending());
    assert!(!handle.is_finished());

    release.send(41).unwrap();
    common::wait_for("the second waker to be woken", || second.wakes() > 0);
    assert!(handle.is_finished(), "woken before the task finished");
    match poll_once(&mut handle, &second.waker()) {
        Poll::Ready(result) => assert_eq!(result.unwrap(), 42),
        Poll::Pending => panic!("woken, yet still pending"),
    }
    // Completion wakes the registered waker exactly once.
    assert_eq!(second.wakes(), 1);
    drop(handle);
    pool.shutdown();
    // The handle and the task are gone: nobody may still hold our wakers.
    assert_eq!(Arc::strong_count(&first), 1, "first waker leaked");
    assert_eq!(Arc::strong_count(&second), 1, "second waker leaked");
}

#[test]
fn polling_after_ready_panics() {
    let _watchdog = common::guard("polling_after_ready_panics");
    let pool = pool(1);
    let mut handle = pool.spawn(|| 5);
    common::wait_for("is_finished", || handle.is_finished());
    let waker = CountingWaker::new().waker();
    assert!(matches!(poll_once(&mut handle, &waker), Poll::Ready(Ok(5))));
    let again = panic::catch_unwind(AssertUnwindSafe(|| poll_once(&mut handle, &waker)));
    assert!(again.is_err(), "a second poll after Ready must panic");
    drop(handle);
    // The pool does not care.
    assert_eq!(pool.spawn(|| 6).join().unwrap(), 6);
    pool.shutdown();
}

#[test]
fn a_joined_result_is_moved_out_not_dropped() {
    let _watchdog = common::guard("a_joined_result_is_moved_out_not_dropped");
    let pool = pool(2);
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let value = pool.spawn(move || DropCounter(d)).join().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(value);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    pool.shutdown();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_result_nobody_takes_is_dropped_exactly_once() {
    let _watchdog = common::guard("a_result_nobody_takes_is_dropped_exactly_once");
    let pool = pool(2);

    // Handle dropped after the task finished: the handle drops the result.
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let handle = pool.spawn(move || DropCounter(d));
    common::wait_for("is_finished", || handle.is_finished());
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(handle);
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    // Handle dropped before the task finished: the worker drops the result.
    let late_drops = Arc::new(AtomicUsize::new(0));
    let d = late_drops.clone();
    let (release, gate) = mpsc::channel::<()>();
    let handle = pool.spawn(move || {
        gate.recv().unwrap();
        DropCounter(d)
    });
    drop(handle);
    release.send(()).unwrap();

    // A pending future dropped after it registered a waker: same, and the waker is freed.
    let waker = CountingWaker::new();
    let polled_drops = Arc::new(AtomicUsize::new(0));
    let d = polled_drops.clone();
    let (release2, gate2) = mpsc::channel::<()>();
    let mut handle = pool.spawn(move || {
        gate2.recv().unwrap();
        DropCounter(d)
    });
    assert!(poll_once(&mut handle, &waker.waker()).is_pending());
    drop(handle);
    release2.send(()).unwrap();

    pool.shutdown(); // every task has completed now
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(late_drops.load(Ordering::SeqCst), 1);
    assert_eq!(polled_drops.load(Ordering::SeqCst), 1);
    assert_eq!(
        Arc::strong_count(&waker),
        1,
        "the dropped handle's waker leaked"
    );
}

#[tokio::test]
async fn awaited_on_a_tokio_current_thread_runtime() {
    let _watchdog = common::guard("awaited_on_a_tokio_current_thread_runtime");
    let pool = pool(2);
    assert_eq!(pool.spawn(|| 6 * 7).await.unwrap(), 42);
    let err = pool
        .spawn(|| -> u8 { panic!("panic seen by tokio") })
        .await
        .unwrap_err();
    assert!(err.is_panic());
    assert!(err.to_string().contains("panic seen by tokio"), "{err}");
    assert_eq!(pool.spawn(|| "still works").await.unwrap(), "still works");
}

#[tokio::test]
async fn tokio_join_of_several_handles() {
    let _watchdog = common::guard("tokio_join_of_several_handles");
    let pool = pool(2);
    let (a, b, c, d) = tokio::join!(
        pool.spawn(|| 1u32),
        pool.spawn(|| String::from("two")),
        pool.spawn(|| vec![3u8; 3]),
        pool.spawn(|| -> u8 { panic!("the fourth one fails") }),
    );
    assert_eq!(a.unwrap(), 1);
    assert_eq!(b.unwrap(), "two");
    assert_eq!(c.unwrap(), [3, 3, 3]);
    assert!(d.unwrap_err().is_panic());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaited_from_tokio_spawn_on_a_multi_thread_runtime() {
    let _watchdog = common::guard("awaited_from_tokio_spawn_on_a_multi_thread_runtime");
    let pool = pool(2);
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            // The handle itself is the tokio task's future.
            tokio::spawn(pool.spawn(move || i * 3))
        })
        .collect();
    for (i, task) in (0u64..).zip(tasks) {
        let result = tokio::time::timeout(LIVENESS, task)
            .await
            .expect("the handle resolved in time")
            .expect("the tokio task did not panic");
        assert_eq!(result.unwrap(), i * 3);
    }

    // A handle that is certainly pending when the tokio task first polls it: the pool task
    // waits for a value that is sent only after that poll.
    let (release, gate) = mpsc::channel::<u64>();
    let handle = pool.spawn(move || gate.recv().unwrap() * 2);
    let (polled_tx, polled_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut handle = handle;
        let pending = futures::poll!(&mut handle).is_pending();
        polled_tx.send(()).unwrap();
        (pending, handle.await)
    });
    polled_rx.await.unwrap();
    release.send(21).unwrap();
    let (pending, result) = tokio::time::timeout(LIVENESS, task)
        .await
        .expect("the handle woke its tokio task")
        .unwrap();
    assert!(pending);
    assert_eq!(result.unwrap(), 42);
}

/// A waker whose `wake` panics (a broken executor) must not take down the worker that
/// completes the task: the pool keeps all its workers and still shuts down.
#[test]
fn a_panicking_waker_does_not_kill_the_worker() {
    use std::sync::Arc;
    use std::task::Wake;

    struct PanickingWaker;
    impl Wake for PanickingWaker {
        fn wake(self: Arc<Self>) {
            panic!("broken executor");
        }
    }

    let _watchdog = common::guard("a_panicking_waker_does_not_kill_the_worker");
    let pool = stealpool::WorkerPool::builder()
        .num_threads(1)
        .build()
        .unwrap();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let mut handle = pool.spawn(move || {
        gate.recv().unwrap();
        3u32
    });
    let waker = Waker::from(Arc::new(PanickingWaker));
    assert!(poll_once(&mut handle, &waker).is_pending());
    release.send(()).unwrap();
    // The only worker survived its waker's panic if it can still run this.
    assert_eq!(pool.spawn(|| 4u32).join().unwrap(), 4);
    assert_eq!(handle.join().unwrap(), 3);
    pool.shutdown();
}
