//! Latches: one-shot "it is done" signals a thread can block on.

use crate::loom::sync::{Condvar, Mutex};

/// A latch that blocks the waiting thread on a mutex and condition variable.
///
/// `set` holds the mutex while it flips the flag and notifies, and the waiter reads the flag
/// only under the mutex: once `wait` has returned, `set` has released the mutex and no longer
/// touches the latch, so the latch may live on the waiter's stack and be freed right away.
#[derive(Debug)]
pub(crate) struct LockLatch {
    done: Mutex<bool>,
    cond: Condvar,
}

impl LockLatch {
    pub(crate) fn new() -> Self {
        LockLatch {
            done: Mutex::new(false),
            cond: Condvar::new(),
        }
    }

    pub(crate) fn set(&self) {
        let mut done = self.done.lock();
        *done = true;
        self.cond.notify_all();
        drop(done);
    }

    pub(crate) fn wait(&self) {
        let mut done = self.done.lock();
        while !*done {
            done = self.cond.wait(done);
        }
    }
}
