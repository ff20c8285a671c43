//! Backpressure: a bound on how many spawned tasks may wait (`PoolBuilder::max_queued`).
//!
//! Only tasks made by `spawn`, `spawn_with` and `try_spawn` are counted, from their
//! submission until a worker takes them (or they are cancelled or aborted): join frames,
//! scope jobs and installs are part of work already admitted, and never refused. Each
//! counted task's closure is wrapped in an [`Admitted`], which gives its place back when the
//! closure starts or is dropped unrun. A pool without a bound has no `Limit` and pays
//! nothing.
//!
//! When the pool is full, `spawn` from a thread outside the pool waits for room; from one of
//! the pool's own workers it runs the task right there (a worker that waited could be the
//! one whose work would make room, and the pool would deadlock). `try_spawn` gives the
//! closure back instead.

use std::fmt;

use crossbeam_utils::CachePadded;

use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Arc, Condvar, Mutex};

/// The bound and the count of tasks waiting under it.
#[derive(Debug)]
pub(crate) struct Limit {
    max: usize,
    queued: CachePadded<AtomicUsize>,
    /// Submitters blocked in `acquire_blocking`.
    waiters: AtomicUsize,
    space: Mutex<()>,
    freed: Condvar,
}

impl Limit {
    pub(crate) fn new(max: usize) -> Self {
        Limit {
            max,
            queued: CachePadded::new(AtomicUsize::new(0)),
            waiters: AtomicUsize::new(0),
            space: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Takes a place if one is free.
    pub(crate) fn try_acquire(&self) -> bool {
        let mut cur = self.queued.load(Ordering::SeqCst);
        loop {
            if cur >= self.max {
                return false;
            }
            match self.queued.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Waits until a place is free and takes it; false if `closed` turns true first.
    ///
    /// No lost wake-up: a waiter counts itself in `waiters` and then tries once more under
    /// the lock; a releaser gives its place back and then reads `waiters` (both SeqCst), so
    /// either the waiter's try sees the freed place or the releaser sees the waiter and
    /// notifies under the lock, which the waiter holds until it waits.
    pub(crate) fn acquire_blocking(&self, closed: impl Fn() -> bool) -> bool {
        let mut guard = self.space.lock();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let acquired = loop {
            if self.try_acquire() {
                break true;
            }
            if closed() {
                break false;
            }
            guard = self.freed.wait(guard);
        };
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        acquired
    }

    /// Gives a place back, waking one blocked submitter if there is one.
    pub(crate) fn release(&self) {
        self.queued.fetch_sub(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.space.lock();
            self.freed.notify_one();
        }
    }

    /// Wakes every blocked submitter (the pool is closing: they give up).
    pub(crate) fn wake_all(&self) {
        let _guard = self.space.lock();
        self.freed.notify_all();
    }
}

/// A counted task's closure, holding its place under the limit: gives it back when the
/// closure starts, or when it is dropped without running (cancelled, or aborted by a pool
/// that ended).
pub(crate) struct Admitted<F> {
    func: Option<F>,
    limit: Arc<Limit>,
}

impl<F> Admitted<F> {
    /// `func` took a place in `limit` (`try_acquire` or `acquire_blocking` returned true).
    pub(crate) fn new(func: F, limit: Arc<Limit>) -> Self {
        Admitted {
            func: Some(func),
            limit,
        }
    }

    pub(crate) fn run<T>(mut self) -> T
    where
        F: FnOnce() -> T,
    {
        let func = self.func.take().expect("an admitted task runs once");
        self.limit.release();
        func()
    }
}

impl<F> Drop for Admitted<F> {
    fn drop(&mut self) {
        if self.func.is_some() {
            self.limit.release();
        }
    }
}

/// Why [`WorkerPool::try_spawn`](crate::WorkerPool::try_spawn) refused a task; holds the
/// closure, which [`into_inner`](Self::into_inner) gives back.
///
/// ```
/// use std::sync::mpsc;
///
/// let pool = stealpool::WorkerPool::builder().num_threads(1).max_queued(1).build()?;
/// let (release, gate) = mpsc::channel::<()>();
/// let (started_tx, started) = mpsc::channel::<()>();
/// let busy = pool.spawn(move || {
///     started_tx.send(()).unwrap();
///     gate.recv().unwrap();
/// });
/// started.recv().unwrap();
/// let waiting = pool.try_spawn(|| 1).unwrap(); // takes the one place
/// let refused = pool.try_spawn(|| 2).unwrap_err(); // no room
/// assert!(refused.is_full());
/// assert_eq!(refused.into_inner()(), 2); // the closure comes back, unrun
/// release.send(()).unwrap();
/// busy.join().unwrap();
/// assert_eq!(waiting.join().unwrap(), 1);
/// # Ok::<(), stealpool::BuildError>(())
/// ```
pub struct SpawnError<F> {
    kind: SpawnErrorKind,
    func: F,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SpawnErrorKind {
    Full,
    ShutDown,
}

impl<F> SpawnError<F> {
    pub(crate) fn full(func: F) -> Self {
        SpawnError {
            kind: SpawnErrorKind::Full,
            func,
        }
    }

    pub(crate) fn shut_down(func: F) -> Self {
        SpawnError {
            kind: SpawnErrorKind::ShutDown,
            func,
        }
    }

    /// The pool already holds `max_queued` waiting tasks.
    pub fn is_full(&self) -> bool {
        self.kind == SpawnErrorKind::Full
    }

    /// The pool was shut down.
    pub fn is_shutdown(&self) -> bool {
        self.kind == SpawnErrorKind::ShutDown
    }

    /// The closure, unrun.
    pub fn into_inner(self) -> F {
        self.func
    }

    /// The same refusal, holding `f` of what it held (the process pool gives back the
    /// arguments instead of its own closure).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn map<G>(self, f: impl FnOnce(F) -> G) -> SpawnError<G> {
        SpawnError {
            kind: self.kind,
            func: f(self.func),
        }
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnError")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SpawnErrorKind::Full => f.write_str("the pool is full: max_queued tasks are waiting"),
            SpawnErrorKind::ShutDown => f.write_str("the pool is shut down"),
        }
    }
}

impl<F> std::error::Error for SpawnError<F> {}
