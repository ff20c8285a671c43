//! [`JoinHandle`]: the caller's side of a task cell.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::Header;
use super::state::{COMPLETE, JOIN_WAKER};
use crate::error::TaskError;
use crate::worker::{Awaited, WorkerThread};

/// An owned permission to wait for a spawned task's result.
///
/// A handle is both a blocking handle ([`join`](Self::join)) and a [`Future`] that any executor
/// can await (tokio, `futures::executor::block_on`, ...); either way the result is
/// `Result<T, TaskError>`, with `Err` when the task panicked or never ran.
///
/// Dropping a handle *detaches* the task: it still runs, and its result is dropped; a panic
/// goes to the pool's [`panic_handler`](crate::PoolBuilder::panic_handler), since nobody can
/// receive it any more.
///
/// ```
/// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
/// let handle = pool.spawn(|| (1..=10u64).product::<u64>());
/// assert_eq!(handle.join().unwrap(), 3_628_800);
///
/// // The same handle type is a future.
/// let handle = pool.spawn(|| "done");
/// assert_eq!(futures::executor::block_on(handle).unwrap(), "done");
/// ```
pub struct JoinHandle<T> {
    raw: NonNull<Header>,
    _result: PhantomData<T>,
}

// SAFETY: the handle only moves a `T` out of the cell (and drops it); that needs `T: Send`.
// All shared state is reached through the atomic state word and its ownership protocol.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: the only `&self` method, `is_finished`, does an atomic load.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// `raw` points to a live task cell whose result type is `T`, and the caller hands over
    /// the handle's reference in its state word.
    pub(crate) unsafe fn from_raw(raw: NonNull<Header>) -> Self {
        JoinHandle {
            raw,
            _result: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle's reference keeps the cell alive for as long as `self` lives.
        unsafe { self.raw.as_ref() }
    }

    /// Cancels the task. If it had not started, it never will: its closure is dropped, the
    /// handle resolves at once to an error whose [`is_cancelled`](crate::TaskError::is_cancelled)
    /// is true, and `cancel` returns `true`. If it is running, `cancel` returns `false` and
    /// [`stealpool::is_cancelled`](crate::is_cancelled) becomes true inside it, so it can stop
    /// early; its result still comes back as usual. On a finished task it does nothing and
    /// returns `false`. A worker starting the task and its handle cancelling it race
    /// cleanly: exactly one of them wins, so a task is never both cancelled and run.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
    /// let (release, gate) = mpsc::channel::<()>();
    /// let busy = pool.spawn(move || gate.recv().unwrap());
    /// let queued = pool.spawn(|| "never printed");
    /// assert!(queued.cancel());
    /// assert!(queued.join().unwrap_err().is_cancelled());
    /// release.send(()).unwrap();
    /// busy.join().unwrap();
    /// ```
    pub fn cancel(&self) -> bool {
        // SAFETY: the handle's reference keeps the cell alive; the vtable matches the cell.
        unsafe { (self.header().vtable.cancel)(self.raw) }
    }

    /// True once the task has finished: it returned, panicked or was cancelled. A following
    /// [`join`](Self::join) returns without blocking.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
    /// let handle = pool.spawn(|| 7);
    /// while !handle.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(handle.join().unwrap(), 7);
    /// ```
    pub fn is_finished(&self) -> bool {
        self.header().state.load().has(COMPLETE)
    }

    /// Waits for the task and returns its result.
    ///
    /// On a thread outside any pool this parks the thread until the task completes (no
    /// spinning). On a worker thread it keeps the worker busy instead: while the task is not
    /// done the worker runs other queued tasks (its own deque first), and sleeps only when
    /// there is nothing to run. So a task may spawn a child and join it even on a one-thread
    /// pool.
    ///
    /// # Panics
    /// Only if the handle already returned its result through `Future::poll`.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
    /// let outer = pool.spawn(|| {
    ///     let inner = stealpool::spawn(|| 20);
    ///     inner.join().unwrap() + 1
    /// });
    /// assert_eq!(outer.join().unwrap(), 21);
    /// ```
    pub fn join(mut self) -> Result<T, TaskError> {
        if self.is_finished() {
            return self.take_output_and_release();
        }
        match WorkerThread::current() {
            Some(worker) => worker.wait_until(&mut self),
            None => super::with_thread_waker(|waker| {
                loop {
                    match self.poll_output(waker) {
                        Poll::Ready(result) => return result,
                        Poll::Pending => crate::loom::thread::park(),
                    }
                }
            }),
        }
    }

    /// Returns the result if the task is complete; otherwise registers `waker` to be woken
    /// (exactly once) on completion.
    fn poll_output(&mut self, waker: &Waker) -> Poll<Result<T, TaskError>> {
        let header = self.header();
        let snapshot = header.state.load();
        if !snapshot.has(COMPLETE) {
            let registered = if !snapshot.has(JOIN_WAKER) {
                // SAFETY: JOIN_WAKER and COMPLETE are clear and we are the handle.
                unsafe { header.set_waker(waker.clone()) };
                header.state.set_join_waker()
            } else {
                // SAFETY: JOIN_WAKER is set: the slot is read-only for everyone.
                if unsafe { header.will_wake(waker) } {
                    return Poll::Pending;
                }
                header.state.unset_join_waker().and_then(|()| {
                    // SAFETY: we just cleared JOIN_WAKER while not complete: the slot is ours.
                    unsafe { header.set_waker(waker.clone()) };
                    header.state.set_join_waker()
                })
            };
            match registered {
                Ok(()) => return Poll::Pending,
                Err(now) => debug_assert!(now.has(COMPLETE)),
            }
        }
        Poll::Ready(self.take_output())
    }

    /// # Panics
    /// If the output was already taken.
    fn take_output(&mut self) -> Result<T, TaskError> {
        let mut out: Option<Result<T, TaskError>> = None;
        let header = self.header();
        // SAFETY: COMPLETE was observed with Acquire, so the stage is ours; `out` has the
        // type the vtable expects for this `T`.
        unsafe {
            (header.vtable.take_output)(
                self.raw,
                (&mut out as *mut Option<Result<T, TaskError>>).cast(),
            )
        };
        out.expect("take_output fills the slot or panics")
    }
}

impl<T> Awaited for JoinHandle<T> {
    type Output = Result<T, TaskError>;

    fn is_done(&self) -> bool {
        self.is_finished()
    }

    fn poll_done(&mut self, waker: &Waker) -> Poll<Self::Output> {
        self.poll_output(waker)
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, TaskError>;

    /// # Panics
    /// If polled again after it returned `Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_output(cx.waker())
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let header = self.header();
        match header.state.drop_join_interest() {
            // Not complete yet: the completer will drop the output and free the cell.
            Ok(()) => {}
            Err(snapshot) => {
                // SAFETY: the task is complete, so the output is ours to drop.
                unsafe { (header.vtable.drop_output)(self.raw) };
                // SAFETY: as `release_complete` requires, the task is complete and this is
                // the handle's one release.
                unsafe { self.release_complete(snapshot) };
            }
        }
    }
}

impl<T> JoinHandle<T> {
    /// Takes the output of a complete task and releases the handle's reference, without the
    /// handle's `Drop` (which would look at the state and the stage once more).
    fn take_output_and_release(self) -> Result<T, TaskError> {
        let mut this = std::mem::ManuallyDrop::new(self);
        let output = this.take_output();
        let snapshot = this.header().state.load();
        // SAFETY: `take_output` succeeded, so the task is complete; `this` is never dropped,
        // so this is the handle's one release.
        unsafe { this.release_complete(snapshot) };
        output
    }

    /// Drops the handle's reference to a complete task, freeing the cell if it is the last.
    ///
    /// # Safety
    /// The task is complete (`snapshot` was loaded after `COMPLETE` was seen) and the handle
    /// releases its reference only this once.
    unsafe fn release_complete(&self, snapshot: super::state::Snapshot) {
        let header = self.header();
        // A count of one is our own reference: the completer already dropped its own (with
        // Release, paired with our Acquire load), nobody else can reach the cell, and the
        // atomic decrement can be skipped.
        let last = snapshot.ref_count() == 1 || header.state.ref_dec();
        if last {
            // SAFETY: no reference is left besides ours, which ends here.
            unsafe { (header.vtable.dealloc)(self.raw) };
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}
