//! The one door through which the scheduler reaches atomics, locks, cells and threads.
//!
//! In a normal build every item here is `std` (or `parking_lot` for the locks). Under
//! `RUSTFLAGS="--cfg loom"` the same names come from [`loom`](https://docs.rs/loom), so the
//! sleep/wake and task-state protocols can be model-checked by running the very code the pool
//! runs. Nothing in the scheduler may name `std::sync::atomic`, `parking_lot` or
//! `std::thread::park` directly; it goes through this module.
//!
//! The wrappers give both worlds one small API: `Mutex::lock` returns the guard (no poisoning),
//! `Condvar::wait` takes and returns the guard, and `UnsafeCell` is accessed through
//! `with`/`with_mut` closures as loom requires.

#[cfg(not(loom))]
mod imp {
    pub(crate) mod sync {
        pub(crate) use std::sync::Arc;

        pub(crate) mod atomic {
            pub(crate) use std::sync::atomic::{
                AtomicBool, AtomicU64, AtomicUsize, Ordering, fence,
            };
        }

        /// A mutex without poisoning (`parking_lot`).
        #[derive(Debug, Default)]
        pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

        pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Self {
                Mutex(parking_lot::Mutex::new(value))
            }

            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                self.0.lock()
            }
        }

        /// A condition variable paired with [`Mutex`].
        #[derive(Debug, Default)]
        pub(crate) struct Condvar(parking_lot::Condvar);

        impl Condvar {
            pub(crate) fn new() -> Self {
                Condvar(parking_lot::Condvar::new())
            }

            pub(crate) fn wait<'a, T>(&self, mut guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
                self.0.wait(&mut guard);
                guard
            }

            /// Waits until notified or `deadline`; true when the deadline passed.
            pub(crate) fn wait_until<'a, T>(
                &self,
                mut guard: MutexGuard<'a, T>,
                deadline: std::time::Instant,
            ) -> (MutexGuard<'a, T>, bool) {
                let timed_out = self.0.wait_until(&mut guard, deadline).timed_out();
                (guard, timed_out)
            }

            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }

            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    pub(crate) mod cell {
        /// `std::cell::UnsafeCell` with loom's closure-based access API.
        #[derive(Debug)]
        pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

        impl<T> UnsafeCell<T> {
            pub(crate) const fn new(value: T) -> Self {
                UnsafeCell(std::cell::UnsafeCell::new(value))
            }

            #[inline(always)]
            pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
                f(self.0.get())
            }

            #[inline(always)]
            pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
                f(self.0.get())
            }
        }
    }

    pub(crate) mod thread {
        pub(crate) use std::thread::{Builder, JoinHandle, Thread, current, park, yield_now};
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) mod sync {
        pub(crate) use loom::sync::Arc;

        pub(crate) mod atomic {
            pub(crate) use loom::sync::atomic::{
                AtomicBool, AtomicU64, AtomicUsize, Ordering, fence,
            };
        }

        /// loom's mutex, unwrapped (loom never poisons in a passing model).
        #[derive(Debug, Default)]
        pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

        pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

        impl<T> Mutex<T> {
            pub(crate) fn new(value: T) -> Self {
                Mutex(loom::sync::Mutex::new(value))
            }

            pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
                self.0.lock().unwrap()
            }
        }

        /// loom's condition variable.
        #[derive(Debug, Default)]
        pub(crate) struct Condvar(loom::sync::Condvar);

        impl Condvar {
            pub(crate) fn new() -> Self {
                Condvar(loom::sync::Condvar::new())
            }

            pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
                self.0.wait(guard).unwrap()
            }

            /// loom does not model time: waits until notified, never times out.
            pub(crate) fn wait_until<'a, T>(
                &self,
                guard: MutexGuard<'a, T>,
                _deadline: std::time::Instant,
            ) -> (MutexGuard<'a, T>, bool) {
                (self.0.wait(guard).unwrap(), false)
            }

            pub(crate) fn notify_one(&self) {
                self.0.notify_one();
            }

            pub(crate) fn notify_all(&self) {
                self.0.notify_all();
            }
        }
    }

    pub(crate) mod cell {
        pub(crate) use loom::cell::UnsafeCell;
    }

    pub(crate) mod thread {
        pub(crate) use loom::thread::{Thread, current, park, yield_now};
        // Pools are never built inside a loom model (the models drive the protocols
        // directly), so the OS-thread builder stays std's.
        pub(crate) use std::thread::{Builder, JoinHandle};
    }
}

pub(crate) use imp::*;
