//! [`WorkerPool`]: the user's handle to a pool.

use std::fmt;

use crate::backpressure::SpawnError;
use crate::broadcast::{self, BroadcastContext};
use crate::builder::{self, PoolBuilder};
use crate::lane::Priority;
use crate::loom::sync::Arc;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::scope::{self, Scope, ScopeFifo};
use crate::task::JoinHandle;
use crate::threads::Threads;
use crate::worker::current_lane;
use crate::{join, spawn};

/// A pool of worker threads with a work-stealing scheduler.
///
/// Cloning a `WorkerPool` is cheap and gives another handle to the same pool. When the last
/// handle is dropped the pool closes: work already queued still runs, then the threads exit on
/// their own (dropping does not block, as with rayon's and the threadpool crate's pools).
/// Call [`shutdown`](Self::shutdown) to wait for that.
///
/// ```
/// use stealpool::WorkerPool;
///
/// let pool = WorkerPool::builder().num_threads(2).build().unwrap();
/// let handles: Vec<_> = (0..10u64).map(|i| pool.spawn(move || i * i)).collect();
/// let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
/// assert_eq!(sum, 285);
/// pool.shutdown();
/// ```
#[derive(Clone)]
pub struct WorkerPool {
    inner: Arc<PoolInner>,
}

/// Shared by the clones of one `WorkerPool`; its drop closes the pool.
struct PoolInner {
    threads: Arc<Threads>,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        self.threads.registry().close();
    }
}

impl WorkerPool {
    /// A pool with the default settings: one worker per CPU this process may use, or
    /// `STEALPOOL_NUM_THREADS` workers when that variable holds a positive number. A bad value
    /// of the variable is reported on stderr and ignored (use [`builder`](Self::builder) to get
    /// it as an error instead).
    ///
    /// # Panics
    /// If the operating system refuses to start a thread.
    pub fn new() -> WorkerPool {
        builder::build_default()
    }

    /// A [`PoolBuilder`] to choose the settings.
    pub fn builder() -> PoolBuilder {
        PoolBuilder::new()
    }

    pub(crate) fn from_threads(threads: Arc<Threads>) -> WorkerPool {
        WorkerPool {
            inner: Arc::new(PoolInner { threads }),
        }
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        self.inner.threads.registry()
    }

    pub(crate) fn threads(&self) -> &Arc<Threads> {
        &self.inner.threads
    }

    /// Runs `func` on the pool and returns a handle to its result.
    ///
    /// Called from outside the pool, the task goes to the pool's global queue at
    /// [`Priority::Normal`]; called from one of its workers, to that worker's own deque at the
    /// priority of the task that spawns it (where it runs next unless another worker steals it
    /// first, or more urgent work arrives). Spawning never panics, and blocks only on a full
    /// pool ([`max_queued`](crate::PoolBuilder::max_queued)).
    ///
    /// After [`shutdown`](Self::shutdown), a spawn from outside the pool resolves at once to
    /// an error whose [`is_cancelled`](crate::TaskError::is_cancelled) is true. Tasks that are
    /// still running may go on spawning and joining children: that work belongs to work
    /// admitted before the shutdown, and runs.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let handle = pool.spawn(|| "hello from a worker");
    /// assert_eq!(handle.join().unwrap(), "hello from a worker");
    /// ```
    pub fn spawn<F, T>(&self, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn::spawn_in(self.registry(), current_lane(), func)
    }

    /// Like [`spawn`](Self::spawn), at the given priority.
    ///
    /// Workers take queued `High` work before `Normal` and `Normal` before `Low`, at every
    /// task boundary, apart from the *fairness picks*
    /// ([`fairness_interval`](crate::PoolBuilder::fairness_interval)) that keep lower lanes
    /// moving while higher ones stay busy. A running task is never interrupted, so a `High`
    /// task waits at most for each worker's current task to end. Work the task spawns, joins
    /// or scopes runs at the same priority unless it names another.
    ///
    /// ```
    /// use stealpool::{Priority, WorkerPool};
    ///
    /// let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    /// let report = pool.spawn_with(Priority::Low, || "nightly report");
    /// let click = pool.spawn_with(Priority::High, || "button click");
    /// assert_eq!(click.join().unwrap(), "button click");
    /// assert_eq!(report.join().unwrap(), "nightly report");
    /// ```
    pub fn spawn_with<F, T>(&self, priority: Priority, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn::spawn_in(self.registry(), priority.lane(), func)
    }

    /// Like [`spawn`](Self::spawn), but never waits and never runs the task inline: when the
    /// pool already holds [`max_queued`](crate::PoolBuilder::max_queued) waiting tasks, or was
    /// shut down, the closure comes back in a [`SpawnError`] that says which. (If a shutdown
    /// races with the call, the task may instead be accepted and resolve as cancelled.)
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
    /// let handle = pool.try_spawn(|| 6 * 7).unwrap();
    /// assert_eq!(handle.join().unwrap(), 42);
    /// pool.shutdown();
    /// let refused = pool.try_spawn(|| 0).unwrap_err();
    /// assert!(refused.is_shutdown());
    /// ```
    pub fn try_spawn<F, T>(&self, func: F) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn::try_spawn_in(self.registry(), current_lane(), func)
    }

    /// Runs `op` on one of the pool's workers, blocks until it returns, and returns its value.
    /// `op` may borrow from the caller's stack. Inside `op`, [`stealpool::spawn`](fn@crate::spawn)
    /// and [`current_thread_index`](crate::current_thread_index) refer to this pool.
    ///
    /// Called from one of this pool's own workers, `op` runs right there. Called from a
    /// worker of *another* pool, that worker keeps running its own pool's jobs while it
    /// waits, so two pools that install into each other do not deadlock. A panic in `op` is
    /// re-raised in the caller. On a pool that was shut down, `op` runs on the calling thread
    /// (there is no worker left to run it, and `install` has no error to report).
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let data = vec![1, 2, 3];
    /// let (sum, on_worker) = pool.install(|| (data.iter().sum::<i32>(), stealpool::current_thread_index().is_some()));
    /// assert_eq!(sum, 6);
    /// assert!(on_worker);
    /// ```
    pub fn install<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce() -> R + Send,
        R: Send,
    {
        self.registry().in_worker(|_| op())
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results. Both closures may
    /// borrow from the caller's stack.
    ///
    /// On a worker of this pool, `a` runs at once on the calling worker and `b` waits in a
    /// private frame that costs a few nanoseconds; only when another worker is out of work is
    /// the oldest such frame made stealable (see `ARCHITECTURE.md`, "join"). So a `join` at
    /// every level of a fine-grained recursion is cheap, and parallelism comes from the frames
    /// nearest the root, which hold the most work. From outside the pool, the join runs on one
    /// of its workers and the caller blocks; from a worker of *another* pool, that worker keeps
    /// running its own pool's jobs while it waits, so neither pool can deadlock.
    ///
    /// Both sides run at the [`Priority`] of the calling task (`Normal` from outside the
    /// pool). If `a` or `b` panics, the panic is re-raised here once both have finished (`a`'s
    /// if both panic), as with `rayon::join`. On a pool that was shut down, `a` then `b` run on the
    /// calling thread.
    ///
    /// ```
    /// fn sum(pool: &stealpool::WorkerPool, xs: &[u64]) -> u64 {
    ///     if xs.len() <= 1024 {
    ///         return xs.iter().sum();
    ///     }
    ///     let (left, right) = xs.split_at(xs.len() / 2);
    ///     let (a, b) = pool.join(|| sum(pool, left), || sum(pool, right));
    ///     a + b
    /// }
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let xs: Vec<u64> = (1..=100_000).collect();
    /// assert_eq!(sum(&pool, &xs), 5_000_050_000);
    /// ```
    ///
    /// Both closures run on other threads, so what they capture must be `Send`:
    ///
    /// ```compile_fail,E0277
    /// use std::rc::Rc;
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let shared = Rc::new(1);
    /// pool.join(|| *shared + 1, || 2);
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        join::join_on(self.registry(), a, b)
    }

    /// Creates a [`Scope`] on this pool, runs `op` in it on one of the pool's workers, and
    /// returns `op`'s result once every task spawned in the scope has finished. The tasks may
    /// borrow anything that outlives the call (see [`Scope`] for what does not compile).
    ///
    /// The calling thread blocks (a worker of this pool or of another keeps running other work
    /// meanwhile). A panic in `op` or in any task is re-raised here after all tasks have
    /// finished; if several panic, the first to do so wins. On a pool that was shut down, `op`
    /// and its tasks run on the calling thread, one after another.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let mut halves = [vec![3, 1, 2], vec![9, 7, 8]];
    /// let total: i32 = halves.iter().flatten().sum();
    /// pool.scope(|s| {
    ///     for half in halves.iter_mut() {
    ///         s.spawn(move |_| half.sort());
    ///     }
    /// });
    /// assert_eq!(halves, [vec![1, 2, 3], vec![7, 8, 9]]);
    /// assert_eq!(total, 30);
    /// ```
    pub fn scope<'scope, OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&Scope<'scope>) -> R + Send,
        R: Send,
    {
        scope::scope_on(self.registry(), op)
    }

    /// Like [`scope`](Self::scope), with a [`ScopeFifo`]: the tasks it spawns with
    /// [`ScopeFifo::spawn_fifo`] start oldest first on each worker (as rayon's `scope_fifo`).
    pub fn scope_fifo<'scope, OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&ScopeFifo<'scope>) -> R + Send,
        R: Send,
    {
        scope::scope_fifo_on(self.registry(), op)
    }

    /// Like [`spawn`](Self::spawn), but on one of the pool's workers the tasks it spawns this
    /// way start oldest first (rayon's `spawn_fifo`); see [`ScopeFifo::spawn_fifo`] for how.
    /// From outside the pool it is `spawn`: outside submissions start oldest first already.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
    /// let order = Arc::new(Mutex::new(Vec::new()));
    /// let inner = pool.clone();
    /// let log = order.clone();
    /// pool.install(move || {
    ///     let handles: Vec<_> = (0..3)
    ///         .map(|i| {
    ///             let log = log.clone();
    ///             inner.spawn_fifo(move || log.lock().unwrap().push(i))
    ///         })
    ///         .collect();
    ///     for h in handles {
    ///         h.join().unwrap();
    ///     }
    /// });
    /// assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
    /// ```
    pub fn spawn_fifo<F, T>(&self, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn::spawn_fifo_in(self.registry(), current_lane(), func)
    }

    /// Runs `op` once on every worker of the pool and returns the results in worker-index
    /// order (rayon's `broadcast`): for per-thread setup, or a look at each thread.
    ///
    /// - Each worker runs its call after the `Normal` work already queued on its own deque,
    ///   before taking anybody else's; broadcasts reach each worker in the order they were
    ///   sent. The calling thread waits (a worker keeps running other work meanwhile; a
    ///   caller inside [`isolate`](fn@crate::isolate) on this pool runs its own call at
    ///   once). A worker waiting inside `isolate` or blocked in
    ///   [`block_in_place`](fn@crate::block_in_place) runs its call when that ends.
    /// - If calls panic, the first panic (by worker index) is re-raised here once every
    ///   worker has run.
    /// - On a pool that was shut down, `op` runs on the calling thread once per index, as
    ///   [`install`](Self::install) runs its closure there.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let names = pool.broadcast(|ctx| {
    ///     assert_eq!(stealpool::current_thread_index(), Some(ctx.index()));
    ///     format!("worker {} of {}", ctx.index(), ctx.num_threads())
    /// });
    /// assert_eq!(names, ["worker 0 of 2", "worker 1 of 2"]);
    /// ```
    pub fn broadcast<OP, R>(&self, op: OP) -> Vec<R>
    where
        OP: Fn(BroadcastContext<'_>) -> R + Sync,
        R: Send,
    {
        broadcast::broadcast_on(self.registry(), op)
    }

    /// Like [`broadcast`](Self::broadcast), without waiting: `op` runs once on every worker,
    /// and is dropped after its last run. A run that panics goes to the
    /// [`panic_handler`](crate::PoolBuilder::panic_handler) (or a line on stderr). On a pool
    /// that was shut down nothing runs, and `op` is dropped at once.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// pool.spawn_broadcast(move |ctx| tx.lock().unwrap().send(ctx.index()).unwrap());
    /// let mut seen: Vec<usize> = rx.iter().take(2).collect();
    /// seen.sort();
    /// assert_eq!(seen, [0, 1]);
    /// ```
    pub fn spawn_broadcast<OP>(&self, op: OP)
    where
        OP: Fn(BroadcastContext<'_>) + Send + Sync + 'static,
    {
        broadcast::spawn_broadcast_on(self.registry(), op)
    }

    /// The number of worker threads.
    pub fn num_threads(&self) -> usize {
        self.registry().num_threads()
    }

    /// The bound on waiting tasks set by
    /// [`PoolBuilder::max_queued`](crate::PoolBuilder::max_queued), if any.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).max_queued(8).build().unwrap();
    /// assert_eq!(pool.max_queued(), Some(8));
    /// ```
    pub fn max_queued(&self) -> Option<usize> {
        self.registry().limit().map(|limit| limit.max())
    }

    /// A snapshot of what the pool has counted: tasks completed, panicked, cancelled and
    /// queued, steals, replaced workers, per-worker and per-lane figures, and (with
    /// [`record_timing`](crate::PoolBuilder::record_timing)) wait and run time histograms.
    /// Cheap to take: no lock, a few loads per worker and lane. See [`Metrics`] for what each
    /// figure means; `Display` prints it as a short table.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build()?;
    /// let handles: Vec<_> = (0..8).map(|i| pool.spawn(move || i)).collect();
    /// for handle in handles {
    ///     handle.join().unwrap();
    /// }
    /// let metrics = pool.metrics();
    /// assert_eq!(metrics.completed(), 8);
    /// assert_eq!(metrics.workers().len(), 2);
    /// assert_eq!(metrics.workers().iter().map(|w| w.tasks_run()).sum::<u64>(), 8);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.registry().metrics()
    }

    /// Shuts the pool down gracefully: refuses new work from outside the pool, runs everything
    /// already queued (including what those tasks spawn), then joins the worker threads.
    ///
    /// Later spawns resolve at once to a cancelled error. Calling it again, or from several
    /// clones, is fine: every call returns once the threads are gone.
    ///
    /// Called from inside one of the pool's own tasks it cannot wait for the threads (the
    /// caller is one of them), so it only closes the pool and returns; the queued work still
    /// runs and the threads exit after the calling task returns.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let done = Arc::new(AtomicUsize::new(0));
    /// for _ in 0..100 {
    ///     let done = done.clone();
    ///     pool.spawn(move || done.fetch_add(1, Ordering::Relaxed));
    /// }
    /// pool.shutdown();
    /// assert_eq!(done.load(Ordering::Relaxed), 100);
    /// assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
    /// ```
    pub fn shutdown(&self) {
        let registry = self.registry();
        crate::trace::shutdown("graceful");
        registry.close();
        if registry.current_worker().is_none() {
            self.threads().wait_for_exit();
        }
    }

    /// Shuts the pool down without running what is queued: refuses new work from outside, cancels
    /// every task waiting in the queues (their handles resolve to an error whose
    /// [`is_cancelled`](crate::TaskError::is_cancelled) is true, and their closures are
    /// dropped unrun), waits for the tasks already running to finish, and joins the threads.
    ///
    /// Work that belongs to a running task is not cancelled: a join's other side, a scope's
    /// tasks, and an `install` waiting to start (that one runs on its caller, as `install` does
    /// on a closed pool). Tasks that running tasks spawn after the call still run. Called from
    /// inside one of the pool's own tasks it cancels and closes, and returns without waiting.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
    /// let (release, gate) = mpsc::channel::<()>();
    /// let (started_tx, started) = mpsc::channel::<()>();
    /// let running = pool.spawn(move || {
    ///     started_tx.send(()).unwrap();
    ///     gate.recv().unwrap();
    ///     "finished"
    /// });
    /// started.recv().unwrap();
    /// let queued = pool.spawn(|| "never runs");
    /// // Let the running task end once the queued one is resolved (by the cancellation).
    /// let releaser = std::thread::spawn(move || {
    ///     while !queued.is_finished() {
    ///         std::thread::yield_now();
    ///     }
    ///     release.send(()).unwrap();
    ///     queued
    /// });
    /// pool.shutdown_now();
    /// assert_eq!(running.join().unwrap(), "finished");
    /// assert!(releaser.join().unwrap().join().unwrap_err().is_cancelled());
    /// ```
    pub fn shutdown_now(&self) {
        let registry = self.registry();
        crate::trace::shutdown("now");
        registry.close();
        registry.cancel_queued();
        if registry.current_worker().is_none() {
            self.threads().wait_for_exit();
        }
    }

    /// Like [`shutdown`](Self::shutdown), but gives up waiting after `timeout`: `true` when
    /// the queued work ran and the threads were joined in time, `false` otherwise. On `false`
    /// nothing is abandoned: the pool stays closed to outside work, what is running keeps
    /// running, what is queued still runs, and the threads exit when they are done (a later
    /// `shutdown` can wait for them). Called from inside one of the pool's own tasks it can
    /// only close the pool, and returns `false`.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
    /// let (release, gate) = mpsc::channel::<()>();
    /// pool.spawn(move || gate.recv().unwrap());
    /// assert!(!pool.shutdown_timeout(Duration::from_millis(10))); // the task cannot end yet
    /// release.send(()).unwrap();
    /// assert!(pool.shutdown_timeout(Duration::from_secs(60))); // done, threads joined
    /// ```
    pub fn shutdown_timeout(&self, timeout: std::time::Duration) -> bool {
        let registry = self.registry();
        crate::trace::shutdown("timeout");
        registry.close();
        if registry.current_worker().is_some() {
            return false;
        }
        let deadline = std::time::Instant::now().checked_add(timeout);
        self.threads().wait_for_exit_until(deadline)
    }
}

impl Default for WorkerPool {
    fn default() -> Self {
        WorkerPool::new()
    }
}

impl fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.registry();
        f.debug_struct("WorkerPool")
            .field("num_threads", &registry.num_threads())
            .field("closed", &registry.sleep.is_closed())
            .finish()
    }
}
