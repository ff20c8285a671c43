//! What the queues hold: a type-erased pointer to a job plus the function that runs it.
//!
//! Three kinds of job sit behind a [`JobRef`]:
//! - a heap task cell ([`crate::task`]), made by `spawn`, owned jointly by the queue and the
//!   handle;
//! - a [`StackJob`], made by `install` and `join` on the caller's stack, which the caller keeps
//!   alive by blocking on its latch until the job has run (or been aborted), or takes back
//!   unrun (see [`StackJob::run_inline`]);
//! - a scope job ([`crate::scope`](mod@crate::scope)), boxed on the heap and counted by its scope.
//!
//! A job in a queue is executed exactly once, in one of two modes: [`JobMode::Run`] runs it;
//! [`JobMode::Abort`] is used when the pool has terminated and the job can no longer run, and
//! resolves it without running user code (a task reports "cancelled"; a stack job hands its
//! closure back to the caller).

use std::any::Any;
use std::mem;
use std::ptr::NonNull;

use crate::latch::WakeLatch;
use crate::loom::cell::UnsafeCell;
use crate::metrics::{Outcome, Tally};

/// How a queued job is to be consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JobMode {
    /// Run the job's closure.
    Run,
    /// Resolve the job without running its closure (the pool is gone).
    Abort,
}

/// A pointer to a queued job and the function that consumes it.
///
/// Deliberately neither `Clone` nor `Copy`: a job is executed exactly once, so there is one
/// `JobRef` per job, moved from queue to queue and consumed by [`execute`](Self::execute).
/// Code that needs to recognise a job it has handed out keeps its [`JobId`].
///
/// The lowest bit of `pointer` is the job's *isolated* mark: the job was queued inside an
/// isolated region, so whoever runs it runs it in a region of its own (see
/// [`crate::isolate`](fn@crate::isolate) and `WorkerThread::isolate`). Every job type holds a
/// pointer-sized field, so its address is even and the bit is free; it is masked off before
/// the pointer is used.
#[derive(Debug)]
pub(crate) struct JobRef {
    pointer: NonNull<()>,
    execute_fn: unsafe fn(NonNull<()>, JobMode, Tally<'_>) -> Outcome,
}

// SAFETY: a JobRef is only created for jobs whose closures are `Send` (see `JobRef::new`'s
// callers), so handing the pointer to another thread hands over `Send` data.
unsafe impl Send for JobRef {}

impl JobRef {
    /// # Safety
    /// `pointer` must stay valid until `execute_fn` has been called on it once, and
    /// `execute_fn(pointer, mode)` must be sound to call from any thread exactly once.
    pub(crate) unsafe fn new(
        pointer: NonNull<()>,
        execute_fn: unsafe fn(NonNull<()>, JobMode, Tally<'_>) -> Outcome,
    ) -> Self {
        debug_assert_eq!(pointer.addr().get() & ISOLATED, 0, "jobs are aligned");
        JobRef {
            pointer,
            execute_fn,
        }
    }

    /// The job's address, without the mark.
    #[inline]
    fn address(&self) -> NonNull<()> {
        // The mark is the lowest bit of an even address, so the rest is never zero.
        self.pointer
            .map_addr(|a| std::num::NonZeroUsize::new(a.get() & !ISOLATED).unwrap_or(a))
    }

    /// The same job, marked as queued inside an isolated region.
    #[inline]
    pub(crate) fn mark_isolated(self) -> Self {
        JobRef {
            pointer: self.pointer.map_addr(|a| a | ISOLATED),
            execute_fn: self.execute_fn,
        }
    }

    /// Was the job queued inside an isolated region?
    #[inline]
    pub(crate) fn is_isolated(&self) -> bool {
        self.pointer.addr().get() & ISOLATED != 0
    }

    /// What identifies this job while it is alive (its address).
    #[inline]
    pub(crate) fn id(&self) -> JobId {
        JobId(self.address())
    }

    /// Consumes the job and says what became of it. A task counts its outcome in `tally`
    /// before anyone waiting for it can see it finish (so a metrics snapshot taken after a
    /// `join` returns includes that task).
    ///
    /// # Safety
    /// Called at most once per job (the queues hand each `JobRef` out exactly once).
    pub(crate) unsafe fn execute(self, mode: JobMode, tally: Tally<'_>) -> Outcome {
        // SAFETY: the caller guarantees a single call; `new`'s contract keeps the pointer valid.
        unsafe { (self.execute_fn)(self.address(), mode, tally) }
    }
}

/// The mark bit of an isolated job in [`JobRef::pointer`].
const ISOLATED: usize = 1;

/// Identifies a job while it is alive, without the right to execute it (see [`JobRef`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct JobId(NonNull<()>);

/// The outcome of a [`StackJob`].
enum JobResult<R> {
    Pending,
    Ok(R),
    Panic(Box<dyn Any + Send>),
    Aborted,
}

/// A job that lives on the stack of a thread which blocks until it has been consumed.
pub(crate) struct StackJob<F, R> {
    func: UnsafeCell<Option<F>>,
    result: UnsafeCell<JobResult<R>>,
    latch: WakeLatch,
}

/// What became of a [`StackJob`] once its latch is set.
pub(crate) enum StackOutcome<F, R> {
    /// It ran and returned.
    Ok(R),
    /// It ran and panicked; the caller re-raises.
    Panic(Box<dyn Any + Send>),
    /// It was aborted; the closure comes back unrun.
    Aborted(F),
}

impl<F, R> StackJob<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    pub(crate) fn new(func: F) -> Self {
        StackJob {
            func: UnsafeCell::new(Some(func)),
            result: UnsafeCell::new(JobResult::Pending),
            latch: WakeLatch::new(),
        }
    }

    /// # Safety
    /// The job must not move or be dropped until [`wait`](Self::wait) has returned, and the
    /// returned `JobRef` must be executed exactly once.
    pub(crate) unsafe fn as_job_ref(&self) -> JobRef {
        let pointer = NonNull::from(self).cast::<()>();
        // SAFETY: the caller keeps `self` alive and in place until the latch is set, which
        // `execute` does last.
        unsafe { JobRef::new(pointer, Self::execute) }
    }

    /// The job's entry in its [`JobRef`].
    ///
    /// # Safety
    /// `pointer` comes from [`as_job_ref`](Self::as_job_ref) on a `StackJob<F, R>` that is
    /// still alive, and this is the job's one execution.
    unsafe fn execute(pointer: NonNull<()>, mode: JobMode, _: Tally<'_>) -> Outcome {
        // SAFETY: `pointer` came from `as_job_ref` on a live `StackJob<F, R>`.
        let this = unsafe { pointer.cast::<Self>().as_ref() };
        let outcome = match mode {
            JobMode::Run => {
                // SAFETY: until the latch is set only the executing thread touches `func`.
                let func = this.func.with_mut(|f| unsafe { (*f).take() });
                let func = func.expect("a stack job runs once");
                match crate::unwind::catch_user(func) {
                    Ok(value) => JobResult::Ok(value),
                    Err(payload) => JobResult::Panic(payload),
                }
            }
            JobMode::Abort => JobResult::Aborted,
        };
        // SAFETY: as above; the caller reads `result` only after the latch is set.
        this.result.with_mut(|r| unsafe { *r = outcome });
        // After this call the owner may return and free the job: touch nothing afterwards.
        this.latch.set();
        Outcome::NotATask
    }

    /// Runs the closure on the calling thread, bypassing the latch. For the owner of a job
    /// that was never handed out, or that it took back from its own deque before anybody
    /// else could execute it.
    ///
    /// # Safety
    /// No other thread may execute the job, now or later.
    pub(crate) unsafe fn run_inline(&self) -> R {
        // SAFETY: the caller guarantees that no other thread touches the job.
        let func = self.func.with_mut(|f| unsafe { (*f).take() });
        func.expect("a stack job runs once")()
    }

    /// True once the job has been consumed and [`wait`](Self::wait) will not block.
    pub(crate) fn is_done(&self) -> bool {
        self.latch.is_set()
    }

    /// Waits until the job has been consumed and returns what became of it. On a worker
    /// thread (of another pool) the wait runs that pool's other jobs meanwhile.
    ///
    /// Takes `&self`: the job must stay where its `JobRef` points until the latch is set
    /// (moving it into a by-value call before that would leave the executor writing to a
    /// stale address).
    pub(crate) fn wait(&self) -> StackOutcome<F, R> {
        self.latch.wait();
        self.take_outcome()
    }

    /// [`wait`](Self::wait), for a thread outside every pool that spins as `spin` says
    /// before it parks (see `Registry::outside_spin`).
    pub(crate) fn wait_spinning(&self, spin: crate::latch::Spin) -> StackOutcome<F, R> {
        self.latch.wait_spinning(spin);
        self.take_outcome()
    }

    fn take_outcome(&self) -> StackOutcome<F, R> {
        let result = self.result.with_mut(|r| {
            // SAFETY: the latch is set, so the executing thread is done with the job.
            unsafe { mem::replace(&mut *r, JobResult::Pending) }
        });
        match result {
            JobResult::Ok(value) => StackOutcome::Ok(value),
            JobResult::Panic(payload) => StackOutcome::Panic(payload),
            JobResult::Aborted => {
                // SAFETY: as above.
                let func = self.func.with_mut(|f| unsafe { (*f).take() });
                StackOutcome::Aborted(func.expect("an aborted job keeps its closure"))
            }
            JobResult::Pending => unreachable!("latch set before the result was written"),
        }
    }
}
