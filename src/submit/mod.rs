//! Submitting work from outside a pool, racing with the pool's end.
//!
//! The protocol, written once here and used by [`Registry`](crate::registry::Registry) (and
//! by the loom models in `loom_tests.rs`, over a stand-in queue):
//!
//! ```text
//! submit(job):                         the pool ends (the last worker leaves):
//!   if closed: abort job; return         terminated = true      (Sleep, earlier)
//!   count, push job                      drain:
//!   fence(SeqCst)  (in notify_work)        fence(SeqCst)
//!   wake a sleeper if nobody searches      steal and abort every job left
//!   if terminated: drain
//! ```
//!
//! A submitter that passed the `closed` check just before the pool closed may push after the
//! workers' last look. Then either the submitter sees `terminated` after its push, or the
//! last drain (after `terminated` was set) sees the job: the two SeqCst fences are ordered one
//! way or the other, and whichever comes second sees what the other thread did before its
//! fence. Both may drain at once; each job is stolen, so resolved, by exactly one of them.
//! So every submitted job either runs, or is aborted (a task reports cancelled) exactly once.
//!
//! The sleep protocol makes the submitter's side alone enough. A worker's last look at the
//! queues follows its registration as a sleeper and a SeqCst fence, so if that look missed
//! the job, the submitter's `state` load in `notify_work` sees the registration or a later
//! value. Either it finds a sleeper to wake, under the `sleepers` lock that `try_terminate`
//! also holds (so the worker is woken before it can end the pool and finds the job, or the
//! pool already terminated and the submitter sees it), or it reads a value written after
//! the terminating wake-all, which makes `terminated` visible. The last worker's drain is
//! therefore a backstop for `submit`'s jobs (the models pass without it), kept for anything
//! else that reaches an injector late.
//!
//! The functions here are generic over the queue and the job so that the models can run them
//! as they are. [`JobQueue`] names what the protocol needs of a queue; crossbeam's `Injector`
//! is the one the pool uses.

use crossbeam_deque::{Injector, Steal};

use crate::loom::sync::atomic::{Ordering, fence};
use crate::loom::thread;
use crate::sleep::Sleep;

/// A queue that many threads push into and steal from, as the submit protocol uses it.
///
/// What the protocol relies on (crossbeam's `Injector` does this; a stand-in in a model must
/// do it too, and no more):
/// - `push` makes the job visible with a SeqCst read-modify-write (the `Injector` advances
///   its tail index with a SeqCst compare-and-swap);
/// - `steal` decides that the queue is empty only after a SeqCst fence (the `Injector` loads
///   the tail index after one), and returns each pushed job to exactly one caller;
/// - `is_empty` reads with SeqCst loads.
pub(crate) trait JobQueue {
    /// What the queue holds.
    type Job;
    /// Adds a job at the back.
    fn push(&self, job: Self::Job);
    /// Takes a job from the front; `None` when the queue is empty.
    fn steal(&self) -> Option<Self::Job>;
    /// A snapshot: is the queue empty?
    fn is_empty(&self) -> bool;
}

impl<T> JobQueue for Injector<T> {
    type Job = T;

    #[inline]
    fn push(&self, job: T) {
        Injector::push(self, job);
    }

    fn steal(&self) -> Option<T> {
        loop {
            match Injector::steal(self) {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                // A race with another thread, not emptiness.
                Steal::Retry => thread::yield_now(),
            }
        }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        Injector::is_empty(self)
    }
}

/// A pool as the submit protocol sees it: its sleep state and its queues for outside work,
/// one per lane.
pub(crate) trait Injectors {
    /// The queue type of each lane.
    type Queue: JobQueue;

    /// The pool's sleep state, which says whether it is closed or terminated.
    fn sleep(&self) -> &Sleep;

    /// The queues, indexed by lane.
    fn queues(&self) -> &[Self::Queue];

    /// A job is about to be pushed into `lane`.
    fn on_queued(&self, lane: usize);

    /// A job was taken out of `lane` (to be aborted).
    fn on_taken(&self, lane: usize);

    /// Resolves a job of `lane` without running it (a task reports cancelled; a stack job
    /// gets its closure back), counting it in the pool's metrics.
    ///
    /// # Safety
    /// `job` was handed to [`submit`] or taken from one of the queues, and is consumed here
    /// as its one execution.
    unsafe fn abort(&self, job: QueueJob<Self>, lane: usize);
}

/// The job type of a pool's queues.
pub(crate) type QueueJob<P> = <<P as Injectors>::Queue as JobQueue>::Job;

/// Queues `job` in `lane` from outside the pool. If the pool no longer takes work the job is
/// aborted (a task reports cancelled; a stack job gets its closure back); if it ended while
/// the job was being pushed, whatever is left in the queues is aborted here.
///
/// `job` must not have been queued or executed: it is handed over here.
#[inline]
pub(crate) fn submit<P: Injectors>(pool: &P, job: QueueJob<P>, lane: usize) {
    let sleep = pool.sleep();
    if sleep.is_closed() {
        // SAFETY: the job was never queued, so this is its one execution.
        unsafe { pool.abort(job, lane) };
        return;
    }
    pool.on_queued(lane);
    pool.queues()[lane].push(job);
    // `notify_work` begins with a SeqCst fence, which orders the push before the
    // `terminated` load below (see `drain`).
    sleep.notify_work();
    if sleep.is_terminated() {
        // The workers may have left without seeing our job: resolve it ourselves.
        drain(pool);
    }
}

/// Aborts every job left in the queues. Called by the last worker to leave (after the pool
/// terminated) and by a submitter that finds the pool terminated after its push: with SeqCst
/// fences on both sides, whichever runs last sees the job, so no job is left unresolved.
pub(crate) fn drain<P: Injectors>(pool: &P) {
    fence(Ordering::SeqCst);
    for (lane, queue) in pool.queues().iter().enumerate() {
        while let Some(job) = queue.steal() {
            pool.on_taken(lane);
            // SAFETY: a job stolen from the queue is ours to execute, once.
            unsafe { pool.abort(job, lane) };
        }
    }
}

/// Does any of the pool's outside queues hold work? (A snapshot.)
#[inline]
pub(crate) fn any_queued<P: Injectors>(pool: &P) -> bool {
    pool.queues().iter().any(|queue| !queue.is_empty())
}

#[cfg(all(test, loom))]
mod loom_tests;
