//! The task's state word: flags and a reference count in one `AtomicUsize`.
//!
//! | bit      | name            | set by                        | cleared by                      |
//! |----------|-----------------|-------------------------------|---------------------------------|
//! | 0        | `RUNNING`       | the worker that claims it     | the same worker on completion   |
//! | 1        | `COMPLETE`      | completion or abort (once)    | never                           |
//! | 2        | `JOIN_INTEREST` | spawn (a handle exists)       | dropping the handle early       |
//! | 3        | `JOIN_WAKER`    | the handle, after storing a waker | the handle, to swap wakers  |
//! | 4        | `CANCELLED`     | `JoinHandle::cancel` (once)   | never                           |
//! | 5..      | reference count | spawn (2: queue + handle)     | each owner once                 |
//!
//! Claiming: a task is claimed exactly once, by whoever first moves it out of the *queued*
//! state (no `RUNNING`, no `CANCELLED`, no `COMPLETE`) with one compare-and-swap: a worker
//! that runs it (or aborts it when the pool is gone) sets `RUNNING`; the handle's `cancel`
//! sets `CANCELLED`. The claimant owns the closure. A worker that finds `CANCELLED` already
//! set only drops the queue's reference. `cancel` on a task that is `RUNNING` sets
//! `CANCELLED` too, as a request the running closure can read
//! ([`crate::is_cancelled`]); the task then completes as usual.
//!
//! The transitions, and who makes each:
//!
//! | from | event | to | who |
//! | --- | --- | --- | --- |
//! | queued | worker claims | `RUNNING` | worker (`claim_for_run`, CAS) |
//! | queued | pool terminated or `shutdown_now` | `RUNNING`, then `COMPLETE` (cancelled) | whoever drains (`JobMode::Abort`) |
//! | queued | handle cancels | `CANCELLED`, then `COMPLETE` (cancelled) | handle (`cancel`, CAS; then `complete_cancelled`) |
//! | `CANCELLED`, not `RUNNING` | worker pops the job | refs−1 (claim refused) | worker |
//! | `RUNNING` | handle cancels | `+CANCELLED` (a request) | handle |
//! | `RUNNING` | closure returns or panics | `COMPLETE` | worker (`transition_to_complete`, or `try_complete_and_release` when no waker is set) |
//! | any, not complete | handle stores a waker | `+JOIN_WAKER` | handle (CAS, fails on `COMPLETE`) |
//! | `JOIN_WAKER`, not complete | handle swaps its waker | `-JOIN_WAKER`, then `+JOIN_WAKER` | handle |
//! | not complete | handle dropped | `-JOIN_INTEREST`, refs−1 | handle (one CAS) |
//! | `COMPLETE` | handle dropped or joined | refs−1 | handle |
//! | `COMPLETE` | completer done | refs−1 | worker |
//!
//! The loom models in `loom_tests.rs` race completion against a blocking join, a future's
//! waker (woken exactly once), a waker swap and a handle drop (output dropped exactly once),
//! and `cancel` against a worker starting the task and against an abort.
//!
//! Ownership rules that make the unsafe accesses in [`super`] sound:
//! - The closure/result slot belongs to the worker between `RUNNING` and `COMPLETE`, and after
//!   `COMPLETE` to the handle (or, when `JOIN_INTEREST` was already gone, to the completer).
//! - The waker slot may be written only by the handle and only while `JOIN_WAKER` is clear and
//!   `COMPLETE` is clear; while `JOIN_WAKER` is set the completer may read it.
//! - Whoever takes the reference count to zero frees the cell.

use crate::loom::sync::atomic::{AtomicUsize, Ordering};

pub(super) const RUNNING: usize = 1 << 0;
pub(super) const COMPLETE: usize = 1 << 1;
pub(super) const JOIN_INTEREST: usize = 1 << 2;
pub(super) const JOIN_WAKER: usize = 1 << 3;
pub(super) const CANCELLED: usize = 1 << 4;
const REF_SHIFT: u32 = 5;
pub(super) const REF_ONE: usize = 1 << REF_SHIFT;

/// What [`State::cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CancelOutcome {
    /// The task had not started: the caller now owns its closure and must complete it.
    Claimed,
    /// The task is running: it is asked to stop.
    Requested,
    /// The task has finished, or was cancelled already.
    TooLate,
}

/// A snapshot of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(pub(super) usize);

impl Snapshot {
    pub(super) fn has(self, flag: usize) -> bool {
        self.0 & flag != 0
    }

    pub(super) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.has(RUNNING))
            .field("complete", &self.has(COMPLETE))
            .field("join_interest", &self.has(JOIN_INTEREST))
            .field("join_waker", &self.has(JOIN_WAKER))
            .field("cancelled", &self.has(CANCELLED))
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// The bits that completion flips: `COMPLETE`, and `RUNNING` when the task ran (an aborted
/// task never set it).
fn completion_mask(was_running: bool) -> usize {
    if was_running {
        RUNNING | COMPLETE
    } else {
        COMPLETE
    }
}

pub(super) struct State(AtomicUsize);

impl State {
    /// A freshly spawned task: two references (the queue's and the handle's) and a handle.
    pub(super) fn new_spawned() -> Self {
        State(AtomicUsize::new((2 * REF_ONE) | JOIN_INTEREST))
    }

    pub(super) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Ordering::Acquire))
    }

    /// A worker claims the task to run (or abort) it: sets `RUNNING` unless `cancel` claimed
    /// it first, in which case nothing changes and `false` comes back. Acquire keeps the later
    /// slot accesses after the claim.
    pub(super) fn claim_for_run(&self) -> bool {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            // A task its handle cancelled is COMPLETE already when a worker pops its entry.
            if cur & CANCELLED != 0 {
                return false;
            }
            debug_assert!(cur & (RUNNING | COMPLETE) == 0, "{:?}", Snapshot(cur));
            match self.0.compare_exchange_weak(
                cur,
                cur | RUNNING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// The handle cancels: claims a queued task (`Claimed`: the closure is the caller's now),
    /// or marks a running one (`Requested`), or does nothing to a finished or already
    /// cancelled one (`TooLate`).
    pub(super) fn cancel(&self) -> CancelOutcome {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if cur & (COMPLETE | CANCELLED) != 0 {
                return CancelOutcome::TooLate;
            }
            match self.0.compare_exchange_weak(
                cur,
                cur | CANCELLED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if cur & RUNNING != 0 => return CancelOutcome::Requested,
                Ok(_) => return CancelOutcome::Claimed,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Completes a task its handle cancelled before it ran: sets `COMPLETE`, leaving the
    /// references alone (the queue's is dropped by the worker that later pops the job, the
    /// handle's by the handle). Release publishes the "cancelled" result.
    pub(super) fn complete_cancelled(&self) -> Snapshot {
        let prev = Snapshot(self.0.fetch_or(COMPLETE, Ordering::AcqRel));
        debug_assert!(prev.has(CANCELLED) && !prev.has(RUNNING) && !prev.has(COMPLETE));
        prev
    }

    /// Has the task's handle asked it to stop?
    pub(super) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed) & CANCELLED != 0
    }

    /// Sets `COMPLETE` (and clears `RUNNING` when `was_running`). Release publishes the result
    /// slot to the handle; Acquire makes the handle's waker write visible to us.
    pub(super) fn transition_to_complete(&self, was_running: bool) -> Snapshot {
        let prev = Snapshot(
            self.0
                .fetch_xor(completion_mask(was_running), Ordering::AcqRel),
        );
        debug_assert!(!prev.has(COMPLETE), "{prev:?}");
        debug_assert_eq!(prev.has(RUNNING), was_running, "{prev:?}");
        prev
    }

    /// The common case of completion in one step: when a handle still exists and nobody has
    /// registered a waker, set `COMPLETE` (clearing `RUNNING` when `was_running`) and drop the
    /// completer's reference together, since nothing is left to do afterwards. Returns `false`
    /// without changing anything when a waker must be woken or the handle is gone; the caller
    /// then takes the two-step path ([`transition_to_complete`](Self::transition_to_complete),
    /// wake, [`ref_dec`](Self::ref_dec)).
    pub(super) fn try_complete_and_release(&self, was_running: bool) -> bool {
        let mask = completion_mask(was_running);
        // Guess the usual state (queue + handle references, a handle, no waker) so that the
        // usual case is a single compare-and-swap with no load before it.
        let mut cur = (2 * REF_ONE) | JOIN_INTEREST | (mask & RUNNING);
        loop {
            if cur & JOIN_WAKER != 0 || cur & JOIN_INTEREST == 0 {
                return false;
            }
            debug_assert!(
                cur >> REF_SHIFT >= 2,
                "the handle holds the other reference"
            );
            let next = (cur ^ mask) - REF_ONE;
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Drops one reference; true when it was the last one.
    pub(super) fn ref_dec(&self) -> bool {
        let prev = Snapshot(self.0.fetch_sub(REF_ONE, Ordering::AcqRel));
        debug_assert!(prev.ref_count() >= 1, "{prev:?}");
        prev.ref_count() == 1
    }

    /// The handle goes away before completion: clear `JOIN_INTEREST` and drop the handle's
    /// reference in one step. Fails (returning the current state) once the task is complete,
    /// in which case the handle owns the output and must drop it.
    pub(super) fn drop_join_interest(&self) -> Result<(), Snapshot> {
        self.update_unless_complete(|s| {
            debug_assert!(
                s >> REF_SHIFT >= 2,
                "the queue reference is alive until completion"
            );
            (s & !JOIN_INTEREST) - REF_ONE
        })
    }

    /// The handle publishes the waker it just stored. Fails once the task is complete.
    pub(super) fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.update_unless_complete(|s| s | JOIN_WAKER)
    }

    /// The handle takes the waker slot back to replace its content. Fails once complete.
    pub(super) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.update_unless_complete(|s| s & !JOIN_WAKER)
    }

    fn update_unless_complete(&self, f: impl Fn(usize) -> usize) -> Result<(), Snapshot> {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            if cur & COMPLETE != 0 {
                return Err(Snapshot(cur));
            }
            match self
                .0
                .compare_exchange_weak(cur, f(cur), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }
}
