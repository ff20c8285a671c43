//! Model checks of the task cell: completion racing with a blocking join, with a future's
//! waker, with a waker swap and with the handle being dropped. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use super::*;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::metrics::Tally;
use loom::thread;

/// Runs a queued job on another thread.
fn run_elsewhere(job: JobRef) -> thread::JoinHandle<Outcome> {
    // SAFETY: the job was just made by `new_task` and is executed only here, once.
    thread::spawn(move || unsafe { job.execute(JobMode::Run, Tally::Nowhere) })
}

/// A waker that counts its wake-ups and unparks the thread that made it.
struct CountingWaker {
    wakes: Arc<AtomicUsize>,
    thread: loom::thread::Thread,
}

impl Wake for CountingWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn counting_waker() -> (Waker, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    let waker = Waker::from(StdArc::new(CountingWaker {
        wakes: wakes.clone(),
        thread: loom::thread::current(),
    }));
    (waker, wakes)
}

/// Polls `handle` with `waker` until it is ready, parking between polls until `wakes` says
/// the waker fired. A lost wake-up leaves this thread parked, which loom reports as a
/// deadlock.
fn poll_until_ready<T>(
    handle: &mut JoinHandle<T>,
    waker: &Waker,
    wakes: &AtomicUsize,
) -> Result<T, crate::TaskError> {
    let mut cx = Context::from_waker(waker);
    loop {
        match Pin::new(&mut *handle).poll(&mut cx) {
            Poll::Ready(result) => return result,
            Poll::Pending => {
                while wakes.load(Ordering::SeqCst) == 0 {
                    loom::thread::park();
                }
            }
        }
    }
}

#[test]
fn completion_races_blocking_join() {
    loom::model(|| {
        let (job, handle) = new_task(|| 42);
        let worker = run_elsewhere(job);
        assert_eq!(handle.join().unwrap(), 42);
        assert_eq!(worker.join().unwrap(), Outcome::Completed);
    });
}

#[test]
fn completion_races_future_waker_which_fires_exactly_once() {
    loom::model(|| {
        let (job, mut handle) = new_task(|| 7);
        let worker = run_elsewhere(job);
        let (waker, wakes) = counting_waker();
        let result = poll_until_ready(&mut handle, &waker, &wakes);
        assert_eq!(result.unwrap(), 7);
        assert_eq!(worker.join().unwrap(), Outcome::Completed);
        assert!(wakes.load(Ordering::SeqCst) <= 1);
    });
}

#[test]
fn waker_swap_races_completion() {
    loom::model(|| {
        let (job, mut handle) = new_task(|| 1);
        let (first, first_wakes) = counting_waker();
        let (second, second_wakes) = counting_waker();
        // Register the first waker before the task can run, then race the swap.
        let registered = Pin::new(&mut handle).poll(&mut Context::from_waker(&first));
        assert!(registered.is_pending());
        let worker = run_elsewhere(job);
        let result = poll_until_ready(&mut handle, &second, &second_wakes);
        assert_eq!(result.unwrap(), 1);
        assert_eq!(worker.join().unwrap(), Outcome::Completed);
        let total = first_wakes.load(Ordering::SeqCst) + second_wakes.load(Ordering::SeqCst);
        assert!(total <= 1, "woken {total} times");
    });
}

/// Counts drops of the task's output.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn handle_drop_races_completion_and_output_is_dropped_once() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let output_drops = drops.clone();
        let (job, handle) = new_task(move || Tracked(output_drops));
        let worker = run_elsewhere(job);
        drop(handle);
        assert_eq!(worker.join().unwrap(), Outcome::Completed);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn abort_resolves_the_handle_as_cancelled() {
    loom::model(|| {
        let (job, handle) = new_task(|| 3);
        // SAFETY: the job was just made by `new_task` and is executed only here, once.
        let aborter = thread::spawn(move || unsafe { job.execute(JobMode::Abort, Tally::Nowhere) });
        assert!(handle.join().unwrap_err().is_cancelled());
        assert_eq!(aborter.join().unwrap(), Outcome::Cancelled);
    });
}

/// Counts drops of the value it wraps (the closure's capture).
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `cancel` racing a worker that starts the task: exactly one of them claims it. If
/// `cancel` returns true the closure never ran and the handle reports cancelled; if false,
/// the closure ran and its result comes back. Either way the closure's capture is dropped
/// exactly once and the cell is freed (loom checks for leaks).
#[test]
fn cancel_races_a_worker_starting_the_task() {
    loom::model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let capture = Dropped(drops.clone());
        let ran_in_task = ran.clone();
        let (job, handle) = new_task(move || {
            let _keep = &capture;
            ran_in_task.fetch_add(1, Ordering::SeqCst);
            7u32
        });
        let worker = run_elsewhere(job);
        let cancelled = handle.cancel();
        let result = handle.join();
        // The metrics count what the worker reports: cancelled exactly when cancel won.
        let outcome = worker.join().unwrap();
        let expected = if cancelled {
            Outcome::Cancelled
        } else {
            Outcome::Completed
        };
        assert_eq!(outcome, expected);
        if cancelled {
            assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled task ran");
            assert!(result.unwrap_err().is_cancelled());
        } else {
            assert_eq!(ran.load(Ordering::SeqCst), 1);
            assert_eq!(result.unwrap(), 7);
        }
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the capture was not dropped exactly once"
        );
    });
}

/// `cancel` racing the pool's abort of a queued task (the pool terminated): one of them
/// claims it; the handle reports cancelled either way and the capture is dropped once.
#[test]
fn cancel_races_an_abort() {
    loom::model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let capture = Dropped(drops.clone());
        let (job, handle) = new_task(move || {
            let _keep = &capture;
        });
        // SAFETY: executed once, here.
        let aborter = thread::spawn(move || unsafe { job.execute(JobMode::Abort, Tally::Nowhere) });
        handle.cancel();
        assert!(handle.join().unwrap_err().is_cancelled());
        // Either way the task counts as cancelled, once (the aborter reports it).
        assert_eq!(aborter.join().unwrap(), Outcome::Cancelled);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
    });
}

/// `cancel` on a task being awaited as a future: the waiting poll is woken (a lost wake-up
/// leaves it parked, which loom reports) and sees the cancelled result.
#[test]
fn cancel_wakes_an_awaiting_future() {
    loom::model(|| {
        let (job, mut handle) = new_task(|| 1u8);
        let (waker, wakes) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(Pin::new(&mut handle).poll(&mut cx).is_pending());
        let cancelled = handle.cancel();
        let worker = run_elsewhere(job);
        let result = poll_until_ready(&mut handle, &waker, &wakes);
        assert_eq!(worker.join().unwrap(), Outcome::Cancelled);
        assert!(cancelled);
        assert!(result.unwrap_err().is_cancelled());
    });
}
