//! The task cell: one heap allocation per spawned task.
//!
//! A cell holds, side by side, the [`Header`] (state word, vtable, join waker) and the
//! *stage*: first the closure, then the result. The queue holds a [`JobRef`] to the cell and
//! the caller holds a [`JoinHandle`]; the state word's reference count says when the last of
//! the two is gone and the cell is freed. See [`state`] for the bits, the transitions, and
//! who may touch what when.
//!
//! Lifecycle of a spawned task:
//!
//! ```text
//!  spawn ─► queued ──run──► RUNNING ──store result──► COMPLETE ──► handle takes output
//!             │     └─abort (pool gone): RUNNING, "cancelled"─┘ ▲
//!             └──cancel (handle): CANCELLED, "cancelled" ───────┘
//!                   (the worker that later pops it only drops the queue's reference)
//! ```

mod handle;
#[cfg(feature = "nats")]
pub(crate) mod promise;
pub(crate) mod state;
mod waker;

pub use handle::JoinHandle;
pub(crate) use waker::with_thread_waker;

use std::mem;
use std::ptr::NonNull;
use std::task::Waker;

use crate::config::PanicReport;
use crate::error::TaskError;
use crate::job::{JobMode, JobRef};
use crate::loom::cell::UnsafeCell;
use crate::metrics::{Outcome, Tally};
use crate::unwind;
use crate::worker::WorkerThread;
use state::{CancelOutcome, JOIN_INTEREST, JOIN_WAKER, State};

std::thread_local! {
    /// The task whose closure this thread is running, for [`crate::is_cancelled`].
    static CURRENT_TASK: std::cell::Cell<*const Header> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Has the handle of the task running on this thread been cancelled? False outside tasks.
pub(crate) fn current_task_cancelled() -> bool {
    let header = CURRENT_TASK.with(std::cell::Cell::get);
    // SAFETY: the pointer is set by `execute` for exactly as long as the task's closure runs,
    // during which the queue's reference keeps the cell alive.
    unsafe { header.as_ref() }.is_some_and(|header| header.state.is_cancelled())
}

/// The type-independent front of every task cell.
#[repr(C)]
pub(crate) struct Header {
    state: State,
    vtable: &'static Vtable,
    /// The waker of whoever waits on the handle; see the ownership rules in [`state`].
    waker: UnsafeCell<Option<Waker>>,
}

/// The operations a handle needs that depend on the closure's and result's types.
struct Vtable {
    /// Moves the result into `*dst`, which is an `Option<Result<T, TaskError>>`.
    take_output: unsafe fn(NonNull<Header>, dst: *mut ()),
    /// Drops the result the handle never took (it went away after completion), reporting a
    /// panic in it.
    drop_output: unsafe fn(NonNull<Header>),
    /// Frees the cell.
    dealloc: unsafe fn(NonNull<Header>),
    /// Cancels the task (see [`JoinHandle::cancel`]).
    cancel: unsafe fn(NonNull<Header>) -> bool,
}

impl Header {
    /// # Safety
    /// The caller owns the waker slot: `JOIN_WAKER` and `COMPLETE` are clear and it is the
    /// task's handle.
    unsafe fn set_waker(&self, waker: Waker) {
        // SAFETY: exclusive access per the caller's contract.
        self.waker.with_mut(|slot| unsafe { *slot = Some(waker) });
    }

    /// # Safety
    /// `JOIN_WAKER` is set (the slot is shared read-only) or the caller owns the slot.
    unsafe fn will_wake(&self, waker: &Waker) -> bool {
        // SAFETY: read-only access while no one may write, per the caller's contract.
        self.waker
            .with(|slot| unsafe { (*slot).as_ref().is_some_and(|w| w.will_wake(waker)) })
    }

    /// # Safety
    /// Called by the completer after it saw `JOIN_WAKER` set in the state before `COMPLETE`.
    unsafe fn wake_join(&self) {
        self.waker.with(|slot| {
            // SAFETY: `JOIN_WAKER` was set when we completed, so the handle can no longer
            // write the slot (its unset would fail on `COMPLETE`); shared reads are fine.
            if let Some(waker) = unsafe { &*slot } {
                waker.wake_by_ref();
            }
        });
    }
}

/// Where the task is in its life; lives beside the header in the same allocation.
enum Stage<F, T> {
    Pending(F),
    Running,
    Finished(Result<T, TaskError>),
    /// The task panicked; the panic goes to `PanicReport` unless the handle takes it.
    Panicked(TaskError, PanicReport),
    Consumed,
}

impl<F, T> Stage<F, T> {
    /// The stage of a task that ended with `result`. A panic keeps where to report it should
    /// nobody receive it: the pool whose worker ran the task (a task panics only there).
    fn finished(result: Result<T, TaskError>) -> Self {
        match result {
            Err(error) if error.is_panic() => {
                let report = match WorkerThread::current() {
                    Some(worker) => worker.registry().panic_report(),
                    None => PanicReport::to(None),
                };
                Stage::Panicked(error, report)
            }
            result => Stage::Finished(result),
        }
    }

    /// Drops what the stage holds; a panic nobody received is reported. Never unwinds.
    fn discard(self) {
        match self {
            Stage::Panicked(error, report) => report.report(error.into_panic()),
            other => unwind::drop_quietly(other),
        }
    }
}

#[repr(C)]
struct Cell<F, T> {
    header: Header,
    stage: UnsafeCell<Stage<F, T>>,
}

/// Allocates a task cell for `func` and returns the reference to queue and the caller's handle.
pub(crate) fn new_task<F, T>(func: F) -> (JobRef, JoinHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let cell = Box::new(Cell {
        header: Header {
            state: State::new_spawned(),
            vtable: Cell::<F, T>::vtable(),
            waker: UnsafeCell::new(None),
        },
        stage: UnsafeCell::new(Stage::<F, T>::Pending(func)),
    });
    let header = NonNull::from(Box::leak(cell)).cast::<Header>();
    // SAFETY: the cell stays allocated while the queue's reference is held, which is released
    // only inside `execute`; `execute` is sound from any thread since `F: Send`.
    let job = unsafe { JobRef::new(header.cast(), Cell::<F, T>::execute) };
    // SAFETY: the handle's reference was counted in `new_spawned`, and `T` matches the cell.
    let handle = unsafe { JoinHandle::from_raw(header) };
    (job, handle)
}

impl<F, T> Cell<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn vtable() -> &'static Vtable {
        &Vtable {
            take_output: Self::take_output,
            drop_output: Self::drop_output,
            dealloc: Self::dealloc,
            cancel: Self::cancel,
        }
    }

    /// The queue's entry point: runs or aborts the task, then completes it; or, if its handle
    /// cancelled it first, only drops the queue's reference.
    ///
    /// # Safety
    /// `ptr` is the cell of a `Cell<F, T>` made by [`new_task`], and this call consumes the
    /// queue's reference: it is the job's one execution.
    unsafe fn execute(ptr: NonNull<()>, mode: JobMode, tally: Tally<'_>) -> Outcome {
        // SAFETY: the queue's reference keeps the cell alive until `complete` drops it.
        let cell = unsafe { ptr.cast::<Self>().as_ref() };
        if !cell.header.state.claim_for_run() {
            // The handle claimed it and stored "cancelled"; the queue's reference is all that
            // is left to us.
            if cell.header.state.ref_dec() {
                // SAFETY: that was the last reference.
                unsafe { Self::dealloc(ptr.cast()) };
            }
            tally.count(Outcome::Cancelled);
            return Outcome::Cancelled;
        }
        // SAFETY: we claimed the task (RUNNING): nobody else touches the stage until COMPLETE,
        // and the handle reads it only after COMPLETE.
        let stage = cell
            .stage
            .with_mut(|s| unsafe { mem::replace(&mut *s, Stage::Running) });
        let Stage::Pending(func) = stage else {
            unreachable!("a queued task is executed once")
        };
        let result = match mode {
            JobMode::Run => {
                let outer = CURRENT_TASK.with(|c| c.replace(ptr.cast::<Header>().as_ptr()));
                let result = crate::unwind::catch_user(func).map_err(TaskError::panic);
                CURRENT_TASK.with(|c| c.set(outer));
                result
            }
            JobMode::Abort => {
                unwind::drop_quietly(func);
                Err(TaskError::cancelled())
            }
        };
        let outcome = match &result {
            Err(error) if error.is_panic() => Outcome::Panicked,
            Err(error) if error.is_cancelled() => Outcome::Cancelled,
            // A value, or an error a driver raised (a crash, a timeout): the task ran.
            _ => Outcome::Completed,
        };
        // Counted before `complete` publishes the result.
        tally.count(outcome);
        // SAFETY: we hold the queue's reference.
        unsafe { Self::complete(ptr.cast(), result, true) };
        outcome
    }

    /// The handle's `cancel`: claims a task that has not started, drops its closure and
    /// completes it as cancelled; marks a running one. True in the first case.
    ///
    /// # Safety
    /// `header` is a live `Cell<F, T>`'s, and the caller holds the handle's reference.
    unsafe fn cancel(header: NonNull<Header>) -> bool {
        // SAFETY: the handle's reference keeps the cell alive.
        let cell = unsafe { header.cast::<Self>().as_ref() };
        match cell.header.state.cancel() {
            CancelOutcome::Claimed => {}
            CancelOutcome::Requested | CancelOutcome::TooLate => return false,
        }
        // SAFETY: `cancel` claimed the task: the stage is ours until COMPLETE.
        let stage = cell.stage.with_mut(|s| unsafe {
            mem::replace(&mut *s, Stage::Finished(Err(TaskError::cancelled())))
        });
        let Stage::Pending(func) = stage else {
            unreachable!("a task claimed by cancel had not started")
        };
        unwind::drop_quietly(func);
        let prev = cell.header.state.complete_cancelled();
        if prev.has(JOIN_WAKER) {
            // An executor may be waiting on this handle's future: it should look again.
            // SAFETY: JOIN_WAKER was set before our COMPLETE.
            unwind::call_quietly(|| unsafe { cell.header.wake_join() });
        }
        true
    }

    /// Stores the result, publishes `COMPLETE`, wakes the joiner and drops the queue's reference.
    ///
    /// # Safety
    /// The caller holds the queue's reference and has taken the closure out of the stage.
    unsafe fn complete(header: NonNull<Header>, result: Result<T, TaskError>, was_running: bool) {
        // SAFETY: the cell is alive (our reference) and the stage is ours until COMPLETE.
        let cell = unsafe { header.cast::<Self>().as_ref() };
        // SAFETY: between our claim (or abort) and COMPLETE nobody else touches the stage.
        cell.stage
            .with_mut(|s| unsafe { *s = Stage::finished(result) });
        if cell.header.state.try_complete_and_release(was_running) {
            // Nobody waits yet and the handle owns the rest: one atomic step and we are done.
            return;
        }
        let prev = cell.header.state.transition_to_complete(was_running);
        if !prev.has(JOIN_INTEREST) {
            // The handle is gone (and took its reference with it): the output and the last
            // reference are ours. A panic nobody can receive goes to the pool's handler.
            debug_assert_eq!(prev.ref_count(), 1);
            // SAFETY: nobody else can reach the cell any more.
            let stage = cell
                .stage
                .with_mut(|s| unsafe { mem::replace(&mut *s, Stage::Consumed) });
            stage.discard();
            // SAFETY: as above.
            unsafe { Self::dealloc(header) };
            return;
        }
        if prev.has(JOIN_WAKER) {
            // A waker is the caller's code (an executor's); one that panics must not unwind
            // the worker loop. SAFETY: JOIN_WAKER was set before our COMPLETE.
            unwind::call_quietly(|| unsafe { cell.header.wake_join() });
        }
        if cell.header.state.ref_dec() {
            // SAFETY: that was the last reference.
            unsafe { Self::dealloc(header) };
        }
    }

    /// Moves the result into `*dst`.
    ///
    /// # Safety
    /// The caller is the task's handle and has observed `COMPLETE` (with Acquire), and `dst`
    /// points to an `Option<Result<T, TaskError>>`.
    unsafe fn take_output(header: NonNull<Header>, dst: *mut ()) {
        // SAFETY: called by the handle after it observed COMPLETE (with Acquire), so the stage
        // is the handle's; `dst` points to an `Option<Result<T, TaskError>>` on its stack.
        unsafe {
            let cell = header.cast::<Self>().as_ref();
            let stage = cell
                .stage
                .with_mut(|s| mem::replace(&mut *s, Stage::Consumed));
            let result = match stage {
                Stage::Finished(result) => result,
                // The handle receives the panic: it is not reported anywhere else.
                Stage::Panicked(error, _) => Err(error),
                _ => panic!("JoinHandle polled again after it returned its result"),
            };
            *dst.cast::<Option<Result<T, TaskError>>>() = Some(result);
        }
    }

    /// Drops the result the handle never took; a panic in it is reported (see
    /// [`PanicReport`]), since nobody received it.
    ///
    /// # Safety
    /// The caller owns the output: it is the handle and has observed `COMPLETE`.
    unsafe fn drop_output(header: NonNull<Header>) {
        // SAFETY: called by the owner of the output (the handle after COMPLETE).
        let stage = unsafe {
            let cell = header.cast::<Self>().as_ref();
            cell.stage
                .with_mut(|s| mem::replace(&mut *s, Stage::Consumed))
        };
        match stage {
            Stage::Panicked(error, report) => report.report(error.into_panic()),
            other => drop(other),
        }
    }

    /// Frees the cell.
    ///
    /// # Safety
    /// The reference count has reached zero, and `header` is a `Cell<F, T>`'s made by
    /// [`new_task`] with these very types.
    unsafe fn dealloc(header: NonNull<Header>) {
        // SAFETY: the reference count reached zero: this is the only pointer left, and the
        // cell was made by `Box::new` in `new_task` with these very types.
        drop(unsafe { Box::from_raw(header.cast::<Self>().as_ptr()) });
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
