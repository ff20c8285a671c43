//! Latches: one-shot "it is done" signals that a thread can wait for.

use std::task::{Poll, Waker};

use crate::loom::sync::Mutex;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
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
        let mut waiter = LatchWaiter(self);
        match WorkerThread::current() {
            Some(worker) => worker.wait_until(&mut waiter),
            None => with_thread_waker(|waker| {
                while waiter.poll_done(waker).is_pending() {
                    thread::park();
                }
            }),
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
    use super::WakeLatch;
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
}
