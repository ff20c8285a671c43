//! Latches: one-shot "it is done" signals that a thread can wait for.

use std::task::{Poll, Waker};

use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::thread;
use crate::task::with_thread_waker;
use crate::worker::{Awaited, WorkerThread};

/// A latch whose waiter is woken through a [`Waker`], so that the same latch serves a thread
/// that parks and a worker that keeps running other jobs while it waits.
///
/// Lifetime rule: the latch may live on the waiter's stack. `set` does all its work on the
/// latch under the mutex (flip the flag, take the waker) and wakes only after unlocking, with
/// a waker it then owns; the waiter returns only after it has seen the flag *under the
/// mutex*. So once the waiter returns, the setter no longer touches the latch.
#[derive(Debug)]
pub(crate) struct WakeLatch {
    /// A cheap hint for polling loops; the decision is taken under `state`.
    done_hint: AtomicBool,
    state: Mutex<LatchState>,
}

#[derive(Debug, Default)]
struct LatchState {
    done: bool,
    waker: Option<Waker>,
}

impl WakeLatch {
    pub(crate) fn new() -> Self {
        WakeLatch {
            done_hint: AtomicBool::new(false),
            state: Mutex::new(LatchState::default()),
        }
    }

    /// Marks the latch done and wakes the waiter, if one registered.
    pub(crate) fn set(&self) {
        let mut state = self.state.lock();
        state.done = true;
        self.done_hint.store(true, Ordering::Release);
        let waker = state.waker.take();
        drop(state);
        // The latch may be gone from here on; the waker is ours.
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// True once [`set`](Self::set) has been called (a hint: [`wait`](Self::wait) still takes
    /// the lock before the owner may free the latch).
    pub(crate) fn is_set(&self) -> bool {
        self.done_hint.load(Ordering::Acquire)
    }

    /// Blocks until the latch is set: a worker thread (of any pool) runs other jobs of its
    /// own pool meanwhile; any other thread parks.
    pub(crate) fn wait(&self) {
        self.wait_spinning(SPIN_BEFORE_PARK);
    }

    /// [`wait`](Self::wait), where a thread outside every pool spins as `spin` says before it
    /// parks.
    pub(crate) fn wait_spinning(&self, spin: Spin) {
        let mut waiter = LatchWaiter(self);
        match WorkerThread::current() {
            Some(worker) => worker.wait_until(&mut waiter),
            None => {
                spin_briefly(|| waiter.is_done(), spin);
                with_thread_waker(|waker| {
                    while waiter.poll_done(waker).is_pending() {
                        thread::park();
                    }
                })
            }
        }
    }
}

/// A latch set when a count of outstanding jobs drops to zero: the end of a scope.
///
/// It starts at one, the owner's own count, so it cannot be set before the owner has
/// finished adding jobs and called [`decrement`](Self::decrement) itself. Ordering: each
/// decrement is a release, and the last one (an acquire-release read-modify-write) sets the
/// inner [`WakeLatch`]; so everything every job did happens before the owner's
/// [`wait`](Self::wait) returns.
#[derive(Debug)]
pub(crate) struct CountLatch {
    pending: AtomicUsize,
    done: WakeLatch,
}

impl CountLatch {
    pub(crate) fn new() -> Self {
        CountLatch {
            pending: AtomicUsize::new(1),
            done: WakeLatch::new(),
        }
    }

    /// One more job to wait for. Relaxed: the caller holds a count of its own (it is the
    /// owner, or a job not yet finished), so the count cannot reach zero meanwhile, and the
    /// job is published to other threads by the queue it goes through.
    pub(crate) fn increment(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    /// One job finished. The last one sets the latch; from then on the owner may free it, so
    /// nothing touches it after that call.
    pub(crate) fn decrement(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.set();
        }
    }

    /// Blocks until the count is zero (see [`WakeLatch::wait`]).
    pub(crate) fn wait(&self) {
        self.done.wait();
    }

    #[cfg(all(test, loom))]
    fn is_set(&self) -> bool {
        self.done.is_set()
    }
}

/// How a thread outside every pool waits on a latch before it parks: for how long, and
/// whether it gives its CPU away between looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Spin {
    /// The longest spin before parking.
    pub(crate) limit: std::time::Duration,
    /// Yield the CPU between looks (to a runnable worker, if any) rather than busy-wait.
    pub(crate) yielding: bool,
}

/// How a thread outside the pool waits on a latch before it parks, unless its caller says
/// otherwise: the wait of a broadcast. A job handed over by `install`, `join` or `scope` from
/// outside waits as `Registry::outside_spin` says, which weighs the park it saves against the
/// CPU it holds.
const SPIN_BEFORE_PARK: Spin = Spin {
    limit: std::time::Duration::from_micros(100),
    yielding: false,
};

/// Spins until `done` or the spin's limit has passed.
fn spin_briefly(done: impl Fn() -> bool, spin: Spin) {
    if cfg!(loom) {
        return;
    }
    let start = std::time::Instant::now();
    while !done() && start.elapsed() < spin.limit {
        if spin.yielding {
            thread::yield_now();
        } else {
            for _ in 0..16 {
                std::hint::spin_loop();
            }
        }
    }
}

/// [`WakeLatch`] seen as something a worker can wait for.
struct LatchWaiter<'a>(&'a WakeLatch);

impl Awaited for LatchWaiter<'_> {
    type Output = ();

    fn is_done(&self) -> bool {
        self.0.done_hint.load(Ordering::Acquire)
    }

    fn poll_done(&mut self, waker: &Waker) -> Poll<()> {
        let mut state = self.0.state.lock();
        if state.done {
            return Poll::Ready(());
        }
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        Poll::Pending
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::{CountLatch, WakeLatch};
    use crate::loom::sync::Arc;

    /// `set` racing the waiter's poll-then-park: the waiter must always wake (a lost
    /// wake-up leaves it parked, which loom reports as a deadlock).
    #[test]
    fn set_races_a_parking_waiter() {
        loom::model(|| {
            let latch = Arc::new(WakeLatch::new());
            let setter = {
                let latch = latch.clone();
                loom::thread::spawn(move || latch.set())
            };
            latch.wait();
            setter.join().unwrap();
        });
    }

    /// Two jobs finishing on other threads while the owner drops its own count and waits:
    /// the owner always wakes, only after both jobs, and their plain (non-atomic) writes
    /// happen before its reads (loom reports a data race otherwise).
    #[test]
    fn count_latch_waits_for_every_job() {
        use crate::loom::cell::UnsafeCell;

        struct Slots([UnsafeCell<usize>; 2]);
        // SAFETY: each job writes only its own slot, and the owner reads them only after the
        // latch; loom checks exactly that.
        unsafe impl Sync for Slots {}

        loom::model(|| {
            let latch = Arc::new(CountLatch::new());
            let slots = Arc::new(Slots([UnsafeCell::new(0), UnsafeCell::new(0)]));
            let jobs: Vec<_> = (0..2)
                .map(|i| {
                    latch.increment();
                    let latch = latch.clone();
                    let slots = slots.clone();
                    loom::thread::spawn(move || {
                        // SAFETY: slot `i` belongs to this job until the latch is set.
                        slots.0[i].with_mut(|p| unsafe { *p = i + 1 });
                        latch.decrement();
                    })
                })
                .collect();
            latch.decrement();
            latch.wait();
            assert!(latch.is_set());
            // SAFETY: the latch is set: both jobs are done with their slots.
            let sum: usize = slots.0.iter().map(|s| s.with(|p| unsafe { *p })).sum();
            assert_eq!(sum, 3);
            for job in jobs {
                job.join().unwrap();
            }
        });
    }
}
