//! A waker that unparks a thread blocked in [`JoinHandle::join`](super::JoinHandle::join).

use std::task::{Wake, Waker};

use crate::loom::thread::{self, Thread};

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

fn new_thread_waker() -> Waker {
    Waker::from(std::sync::Arc::new(ThreadWaker(thread::current())))
}

/// Calls `f` with a waker that unparks the current thread. Outside loom the waker is made once
/// per thread and reused, so blocking joins do not allocate.
pub(crate) fn with_thread_waker<R>(f: impl FnOnce(&Waker) -> R) -> R {
    #[cfg(not(loom))]
    {
        std::thread_local! {
            static WAKER: Waker = new_thread_waker();
        }
        let mut f = Some(f);
        if let Ok(result) = WAKER.try_with(|waker| (f.take().expect("called once"))(waker)) {
            return result;
        }
        // Thread-local storage is being torn down: fall back to a fresh waker.
        (f.take().expect("not called yet"))(&new_thread_waker())
    }
    #[cfg(loom)]
    {
        f(&new_thread_waker())
    }
}
