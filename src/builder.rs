//! [`PoolBuilder`]: the settings of a pool, checked when it is built.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc as StdArc;

use crossbeam_deque::Worker;

use crate::config::{
    HookFn, PanicHandlerFn, PoolConfig, StallFn, ThreadNameFn, default_thread_name,
};
use crate::job::JobRef;
use crate::lane::LANES;
use crate::loom::sync::Arc;
use crate::pool::WorkerPool;
use crate::registry::Registry;
use crate::threads::Threads;

/// The environment variable that sets the default number of worker threads: a whole number
/// from 0 to [`MAX_THREADS`], where 0 means "the default" (one per CPU), as with
/// `RAYON_NUM_THREADS`. [`PoolBuilder::build`] reports any other value as a [`BuildError`];
/// [`WorkerPool::new`] and the global pool print a one-line warning and use one thread per
/// CPU.
pub const NUM_THREADS_ENV: &str = "STEALPOOL_NUM_THREADS";

/// The most worker threads one pool may have.
pub const MAX_THREADS: usize = 1024;

/// The default [`PoolBuilder::fairness_interval`]: every 16th pick of a worker is a fairness
/// pick.
pub const DEFAULT_FAIRNESS_INTERVAL: u32 = 16;

/// The default [`PoolBuilder::timing_sample`]: with timing on, one task in 8 is timed.
pub const DEFAULT_TIMING_SAMPLE: u32 = 8;

/// The default [`PoolBuilder::restart_intensity`]: at most 10 worker replacements after a
/// panic within any [`DEFAULT_RESTART_PERIOD`].
pub const DEFAULT_RESTART_MAX: u32 = 10;

/// The default [`PoolBuilder::keep_alive`]: how long an idle worker above `min_threads` stays.
pub const DEFAULT_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(10);

/// The window of the default [`PoolBuilder::restart_intensity`]: one second.
pub const DEFAULT_RESTART_PERIOD: std::time::Duration = std::time::Duration::from_secs(1);

/// The smallest stack size, in bytes, a worker thread may be given.
pub const MIN_STACK_SIZE: usize = 64 * 1024;

/// Configures and builds a [`WorkerPool`].
///
/// Every setting is optional. Settings are checked by [`build`](Self::build), which returns a
/// [`BuildError`] naming the bad one instead of panicking.
///
/// ```
/// use stealpool::WorkerPool;
///
/// let pool = WorkerPool::builder()
///     .num_threads(4)
///     .thread_name(|i| format!("render-{i}"))
///     .stack_size(8 << 20)
///     .build()?;
/// assert_eq!(pool.num_threads(), 4);
/// # Ok::<(), stealpool::BuildError>(())
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct PoolBuilder {
    num_threads: Option<usize>,
    thread_name: Option<StdArc<ThreadNameFn>>,
    stack_size: Option<usize>,
    fairness_interval: Option<u32>,
    panic_handler: Option<StdArc<PanicHandlerFn>>,
    replace_worker_on_panic: Option<bool>,
    restart_intensity: Option<(u32, std::time::Duration)>,
    max_queued: Option<usize>,
    stall_threshold: Option<std::time::Duration>,
    on_stall: Option<StdArc<StallFn>>,
    compensate_stalls: Option<usize>,
    record_timing: bool,
    timing_sample: Option<u32>,
    on_thread_start: Option<StdArc<HookFn>>,
    on_thread_stop: Option<StdArc<HookFn>>,
    pin_threads: bool,
    max_blocking_threads: Option<usize>,
    min_threads: Option<usize>,
    keep_alive: Option<std::time::Duration>,
}

impl PoolBuilder {
    /// A builder with every setting at its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of worker threads: from 1 to [`MAX_THREADS`]. Unlike rayon's, where `0`
    /// means "the default", `0` is a [`BuildError`] here: a width of zero is more often a
    /// computed value gone wrong than a request for the default, which leaving the setting
    /// out already gives.
    ///
    /// Without this setting the width comes from the environment variable
    /// `STEALPOOL_NUM_THREADS` when it is set to a positive number (`0` means "the default",
    /// as with rayon's `RAYON_NUM_THREADS`), else from the number of CPUs this process may use.
    pub fn num_threads(mut self, num_threads: usize) -> Self {
        self.num_threads = Some(num_threads);
        self
    }

    /// Names the OS thread of worker `i` (as shown by `top -H`, debuggers and panic messages).
    /// The default is `stealpool-{i}`.
    pub fn thread_name<F>(mut self, name: F) -> Self
    where
        F: Fn(usize) -> String + Send + Sync + 'static,
    {
        self.thread_name = Some(StdArc::new(name));
        self
    }

    /// The stack size of each worker thread, in bytes; at least [`MIN_STACK_SIZE`]. The default
    /// is the Rust standard library's (2 MiB unless `RUST_MIN_STACK` says otherwise).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// How often a worker makes a *fairness pick*: after `n - 1` picks in a row that passed
    /// over queued work of a lower lane, the `n`-th (at least 2; default
    /// [`DEFAULT_FAIRNESS_INTERVAL`]) takes the oldest queued task of a lower lane instead of
    /// the highest-priority one. Fairness picks alternate between the Low and the Normal lane
    /// (each falls back to the other when its lane is empty), so while higher lanes keep a
    /// worker busy, each lower lane that has work queued gets at least one of every `2 * n`
    /// of that worker's picks. A pick from the lowest lane that has work starts the count
    /// again, so urgent work that arrives while a worker runs batch work is never put behind
    /// a fairness pick. A smaller `n` shares more with the lower lanes; a larger one keeps
    /// urgent work more strictly first.
    ///
    /// ```
    /// use stealpool::{Priority, WorkerPool};
    ///
    /// let pool = WorkerPool::builder().num_threads(2).fairness_interval(8).build()?;
    /// let batch = pool.spawn_with(Priority::Low, || "still runs while urgent work keeps coming");
    /// assert!(batch.join().is_ok());
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn fairness_interval(mut self, n: u32) -> Self {
        self.fairness_interval = Some(n);
        self
    }

    /// What to do with a panic that nobody received through the task's
    /// [`JoinHandle`](crate::JoinHandle): the handle was dropped without
    /// [`join`](crate::JoinHandle::join) or `.await` having returned the panic, before the
    /// task finished (the handler then runs on the worker that ran the task) or after (on the
    /// thread that drops the handle). Without a handler, the pool writes one line to stderr
    /// (`stealpool: a detached task panicked: <message>`) and carries on. A handler that
    /// panics itself is contained: the pool carries on.
    ///
    /// A panic that a handle returns, as an `Err` whose
    /// [`is_panic`](crate::TaskError::is_panic) is true, is the caller's and is not reported
    /// again.
    ///
    /// ```
    /// use std::sync::mpsc;
    ///
    /// let (tx, rx) = mpsc::channel::<String>();
    /// let tx = std::sync::Mutex::new(tx);
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(1)
    ///     .panic_handler(move |payload| {
    ///         let message = payload.downcast_ref::<&str>().copied().unwrap_or("?");
    ///         tx.lock().unwrap().send(message.to_owned()).unwrap();
    ///     })
    ///     .build()?;
    /// drop(pool.spawn(|| panic!("nobody is listening")));
    /// assert_eq!(rx.recv().unwrap(), "nobody is listening");
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn panic_handler<H>(mut self, handler: H) -> Self
    where
        H: Fn(Box<dyn std::any::Any + Send>) + Send + Sync + 'static,
    {
        self.panic_handler = Some(StdArc::new(handler));
        self
    }

    /// Whether a worker retires after user code panics on it (default `true`). Its slot and
    /// its queued work pass to a fresh OS thread, so no thread-local state the panic may have
    /// left half-updated survives it, and no queued task is lost. The retirement happens
    /// between tasks: a panicking task nested inside another (run while that one waited)
    /// retires the worker once the outer task returns. With `false`, the worker carries on.
    ///
    /// Each retirement costs one OS thread start (54 to 121 µs on the project's 2-core
    /// machine), so with many panics among tasks of a few microseconds, `false` is much
    /// cheaper: see the panic benchmark in `docs/bench/history.md`.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(1)
    ///     .replace_worker_on_panic(true)
    ///     .build()?;
    /// let before = pool.spawn(|| std::thread::current().id()).join().unwrap();
    /// assert!(pool.spawn(|| -> () { panic!("boom") }).join().is_err());
    /// let after = pool.spawn(|| std::thread::current().id()).join().unwrap();
    /// assert_ne!(before, after); // a fresh thread took over
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn replace_worker_on_panic(mut self, replace: bool) -> Self {
        self.replace_worker_on_panic = Some(replace);
        self
    }

    /// Bounds the replacements of [`replace_worker_on_panic`](Self::replace_worker_on_panic),
    /// as an Erlang/OTP supervisor bounds its restarts: at most `max` workers are replaced
    /// after a panic within any `period` (default [`DEFAULT_RESTART_MAX`] within
    /// [`DEFAULT_RESTART_PERIOD`]). Past the bound, a worker whose task panicked carries on
    /// instead of retiring, so that a storm of panics (bad input reaching every task, say)
    /// does not become a storm of thread starts, each costing tens of microseconds of CPU. The
    /// pool says so once per storm: the [`panic_handler`](Self::panic_handler) receives a
    /// [`RestartLimitReached`](crate::RestartLimitReached) (without a handler, one line goes
    /// to stderr), the `tracing` feature emits an event, and
    /// [`Metrics::replacements_skipped`](crate::Metrics::replacements_skipped) counts every
    /// panic let pass. Replacements resume as soon as the window has room. A worker whose
    /// loop dies (not a task's panic) is always replaced. `max` must be at least 1 and
    /// `period` not zero (a [`BuildError`] naming `restart_intensity` otherwise); to never
    /// replace, use `replace_worker_on_panic(false)`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(1)
    ///     .restart_intensity(2, Duration::from_secs(60))
    ///     .panic_handler(|_| {}) // quiet
    ///     .build()?;
    /// for _ in 0..5 {
    ///     assert!(pool.spawn(|| -> () { panic!("bad input") }).join().is_err());
    /// }
    /// pool.shutdown(); // every count is final once the threads are gone
    /// let metrics = pool.metrics();
    /// assert_eq!(metrics.workers_replaced(), 2);
    /// assert_eq!(metrics.replacements_skipped(), 3);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn restart_intensity(mut self, max: u32, period: std::time::Duration) -> Self {
        self.restart_intensity = Some((max, period));
        self
    }

    /// Bounds how many spawned tasks may wait (at least 1; default: no bound). Counted are
    /// the tasks of [`spawn`](crate::WorkerPool::spawn), [`spawn_with`](crate::WorkerPool::spawn_with)
    /// and [`try_spawn`](crate::WorkerPool::try_spawn) from submission until a worker takes
    /// them; join frames, scope jobs and installs belong to work already admitted and are never
    /// refused. On a full pool:
    /// - `try_spawn` gives the closure back in a [`SpawnError`](crate::SpawnError);
    /// - `spawn` from a thread outside the pool waits for room (and gives up, resolving the
    ///   handle as cancelled, if the pool is shut down meanwhile);
    /// - `spawn` from one of the pool's own workers runs the task right there, since a worker
    ///   that waited might be the one whose work would make room.
    ///
    /// No task is lost and nothing deadlocks either way.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).max_queued(64).build()?;
    /// let handles: Vec<_> = (0..1000u64).map(|i| pool.spawn(move || i)).collect();
    /// assert_eq!(handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>(), 499_500);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = Some(n);
        self
    }

    /// Reports tasks that run longer than `threshold`: each such task once, through
    /// [`on_stall`](Self::on_stall) if set, and counted. A watcher thread looks a few times
    /// per threshold (every quarter of it, between 1 ms and 1 s), so a stall is noticed
    /// between one and one and a quarter thresholds after the task started. Without a
    /// threshold there is no watcher and no per-task cost; with one, a worker reads the clock
    /// when it starts and ends each task.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = mpsc::channel();
    /// let tx = std::sync::Mutex::new(tx);
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(2)
    ///     .stall_threshold(Duration::from_millis(20))
    ///     .on_stall(move |worker, running_for| {
    ///         tx.lock().unwrap().send((worker, running_for)).unwrap();
    ///     })
    ///     .build()?;
    /// let (release, gate) = mpsc::channel::<()>();
    /// let stuck = pool.spawn(move || gate.recv().unwrap());
    /// let (worker, running_for) = rx.recv().unwrap(); // the watcher noticed
    /// assert!(worker < 2 && running_for > Duration::from_millis(20));
    /// release.send(()).unwrap();
    /// stuck.join().unwrap();
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn stall_threshold(mut self, threshold: std::time::Duration) -> Self {
        self.stall_threshold = Some(threshold);
        self
    }

    /// The callback for [`stall_threshold`](Self::stall_threshold): gets the index of the
    /// worker whose task has been running too long, and for how long so far. It runs on the
    /// watcher thread; a callback that panics is contained.
    pub fn on_stall<F>(mut self, on_stall: F) -> Self
    where
        F: Fn(usize, std::time::Duration) + Send + Sync + 'static,
    {
        self.on_stall = Some(StdArc::new(on_stall));
        self
    }

    /// While workers are stalled (see [`stall_threshold`](Self::stall_threshold), which this
    /// needs), starts up to `max_extra` temporary workers so that queued work keeps moving.
    ///
    /// At each look, the stall watcher counts the tasks running longer than the threshold;
    /// while there are fewer temporary workers than that count (and than `max_extra`) and
    /// work is queued, it starts one. A temporary worker takes work like any other (the
    /// queues, the other workers' deques) and may have its own deque stolen from. Between
    /// tasks it leaves if the watcher's last count of stalled tasks (its own, if stalled,
    /// included) is below the number of temporary workers, so one leaves soon after a stuck
    /// task ends; it also leaves when it finds no work. The watcher starts another if the
    /// need comes back. Its
    /// [`current_thread_index`](crate::current_thread_index) is from `num_threads` up to
    /// `num_threads + max_extra - 1`, and the [`thread_name`](Self::thread_name) function is
    /// asked for its name with that index. A pool never has more than `num_threads +
    /// max_extra` workers (at most [`MAX_THREADS`] in all), and
    /// [`num_threads`](crate::WorkerPool::num_threads) stays the width without them.
    ///
    /// Without this setting (or with 0), a stall is reported and counted, and nothing else.
    /// Setting it without a threshold is a [`BuildError`] naming `compensate_stalls`.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    ///
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(1)
    ///     .stall_threshold(Duration::from_millis(10))
    ///     .compensate_stalls(1)
    ///     .build()?;
    /// let (release, gate) = mpsc::channel::<()>();
    /// // The only worker gets stuck...
    /// let stuck = pool.spawn(move || gate.recv().unwrap());
    /// // ...but queued work still runs, on a temporary worker (index 1).
    /// let index = pool.spawn(|| stealpool::current_thread_index()).join().unwrap();
    /// assert_eq!(index, Some(1));
    /// release.send(()).unwrap();
    /// stuck.join().unwrap();
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn compensate_stalls(mut self, max_extra: usize) -> Self {
        self.compensate_stalls = Some(max_extra);
        self
    }

    /// Makes the pool elastic: it starts `n` workers, starts more (up to
    /// [`num_threads`](Self::num_threads)) while work waits and no worker is free to take it,
    /// and lets a worker above `n` go after it has been idle for
    /// [`keep_alive`](Self::keep_alive) (piscina's `minThreads`, tokio's blocking-pool
    /// keep-alive). Without this setting the pool keeps `num_threads` workers for its whole
    /// life, as before. `n` must be from 1 to `num_threads`; anything else is a
    /// [`BuildError`] naming `min_threads`.
    ///
    /// - **Growing.** Work pushed anywhere (a spawn from outside, a worker's own spawn or
    ///   join) is announced to the pool; when no worker is searching for work and none is
    ///   asleep to be woken, the announcement starts a thread for one of the empty slots
    ///   instead. The new worker looks for work at once, and if it finds some while the
    ///   others are still busy, it starts the next one, so a burst ramps the pool up one
    ///   thread at a time. A grown worker is an ordinary worker (an index below
    ///   `num_threads`, the thread hooks, pinning).
    /// - **Shrinking.** A worker asleep in its main loop with nothing to do wakes after
    ///   `keep_alive`; if more than `n` workers are running, it leaves, and its slot becomes
    ///   empty again (whichever slot it was). Its deques stay with the slot, and are empty:
    ///   it only leaves when it found no work. If work shows up while it leaves, it starts a
    ///   worker for the slot again, so nothing waits for a thread that is gone.
    ///   A waiting task (a join inside a task) never counts as idle.
    /// - [`num_threads`](crate::WorkerPool::num_threads) and
    ///   [`current_num_threads`](crate::current_num_threads) stay the maximum width, as do
    ///   [`broadcast`](crate::WorkerPool::broadcast)'s runs, which start any worker that is
    ///   missing.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(4)
    ///     .min_threads(1)
    ///     .keep_alive(Duration::from_millis(100))
    ///     .build()?;
    /// // One thread now; up to four while work waits; back to one after 100 ms idle.
    /// let sum: u64 = (0..8u64).map(|i| pool.spawn(move || i)).map(|h| h.join().unwrap()).sum();
    /// assert_eq!(sum, 28);
    /// assert!(stealpool::WorkerPool::builder().num_threads(2).min_threads(3).build().is_err());
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn min_threads(mut self, n: usize) -> Self {
        self.min_threads = Some(n);
        self
    }

    /// How long a worker above [`min_threads`](Self::min_threads) stays idle before it
    /// leaves; [`DEFAULT_KEEP_ALIVE`] (10 s, tokio's blocking-pool default) unless set. Zero
    /// is a [`BuildError`] naming `keep_alive`. Without `min_threads` the pool has a fixed
    /// width and this has no effect.
    pub fn keep_alive(mut self, idle: std::time::Duration) -> Self {
        self.keep_alive = Some(idle);
        self
    }

    /// The most spare workers [`block_in_place`](crate::block_in_place) runs at once: while
    /// `op` blocks, a spare worker keeps the pool at its width, up to `n` of them across the
    /// pool. The default is `num_threads` (every worker may block at once and the pool keeps
    /// its width); `0` turns compensation off, and `block_in_place` then just runs `op`.
    /// `num_threads`, [`compensate_stalls`](Self::compensate_stalls) and `n` may add up to at
    /// most [`MAX_THREADS`]; more is a [`BuildError`] naming `max_blocking_threads` (when the
    /// setting is left out, the default shrinks to fit).
    ///
    /// A spare worker is a temporary worker like those of `compensate_stalls`: its
    /// [`current_thread_index`](crate::current_thread_index) is at or above `num_threads`,
    /// and [`num_threads`](crate::WorkerPool::num_threads) does not count it.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(2)
    ///     .max_blocking_threads(1)
    ///     .build()?;
    /// let bytes = pool.install(|| {
    ///     stealpool::block_in_place(|| std::fs::read("Cargo.toml").map(|b| b.len()))
    /// });
    /// assert!(bytes.unwrap() > 0);
    /// assert!(stealpool::WorkerPool::builder().max_blocking_threads(usize::MAX).build().is_err());
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn max_blocking_threads(mut self, n: usize) -> Self {
        self.max_blocking_threads = Some(n);
        self
    }

    /// Records how long each task waited in its queue (from its spawn to its start) and how
    /// long it ran, per lane, in histograms that [`WorkerPool::metrics`] returns
    /// ([`LaneMetrics::wait_time`](crate::LaneMetrics::wait_time),
    /// [`Metrics::run_time`](crate::Metrics::run_time) and the others). Off by default.
    ///
    /// The histograms are built from a sample of the tasks: each thread that spawns times the
    /// first task it spawns into each lane and then every [`timing_sample`](Self::timing_sample)th
    /// one (every 8th by default). Percentiles of the sample estimate those of all tasks;
    /// [`Histogram::count`](crate::Histogram::count) is the number of tasks timed, and
    /// [`max`](crate::Histogram::max) the longest of those. `timing_sample(1)` times every
    /// task, exactly.
    ///
    /// A task's wait starts when it is queued: for a pool with [`max_queued`](Self::max_queued),
    /// after `spawn` found room. Each worker records into histograms of its own, with no
    /// lock, and a snapshot merges them. A timed task costs three readings of the clock (one
    /// at its spawn, two on the worker) and two records, about 40 ns in all on the project's
    /// machine (the clock is `quanta`'s time-stamp counter, about 12 ns a reading there); an
    /// untimed one costs a thread-local count. Off, nothing is read or recorded. The cost
    /// measured on the spawn benchmark is in `docs/bench/history.md`.
    ///
    /// ```
    /// use stealpool::{Priority, WorkerPool};
    ///
    /// let pool = WorkerPool::builder().num_threads(2).record_timing(true).build()?;
    /// // The first task a thread spawns into a lane is always timed.
    /// pool.spawn_with(Priority::High, || std::thread::sleep(std::time::Duration::from_millis(1)))
    ///     .join()
    ///     .unwrap();
    /// let metrics = pool.metrics();
    /// let high = metrics.lane(Priority::High);
    /// assert_eq!(high.wait_time().unwrap().count(), 1);
    /// assert!(high.run_time().unwrap().max() >= std::time::Duration::from_millis(1));
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn record_timing(mut self, on: bool) -> Self {
        self.record_timing = on;
        self
    }

    /// With [`record_timing`](Self::record_timing): time one task in `every` (per spawning
    /// thread and lane; the first always). 1 times every task, for exact counts and maximum;
    /// the default, [`DEFAULT_TIMING_SAMPLE`], keeps timing's cost on tiny tasks under 10%
    /// (timing every one cost about 20%; Go's runtime samples its scheduling latency the same
    /// way). 0 is a [`BuildError`] naming `timing_sample`.
    ///
    /// ```
    /// use stealpool::WorkerPool;
    ///
    /// let pool = WorkerPool::builder().record_timing(true).timing_sample(4).build()?;
    /// let handles: Vec<_> = (0..40).map(|i| pool.spawn(move || i)).collect();
    /// for handle in handles {
    ///     handle.join().unwrap();
    /// }
    /// // One thread spawned 40 tasks into one lane: the 1st, 5th, 9th, ... were timed.
    /// assert_eq!(pool.metrics().run_time().unwrap().count(), 10);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn timing_sample(mut self, every: u32) -> Self {
        self.timing_sample = Some(every);
        self
    }

    /// Called on every worker thread when it starts, before it runs any task, with the index
    /// of its slot: the pool's first threads, every thread that replaces a retired or dead
    /// one, and temporary workers (see [`compensate_stalls`](Self::compensate_stalls)). A
    /// hook that panics goes to the [`panic_handler`](Self::panic_handler) (without one, to a
    /// line on stderr) and the thread carries on. `build` does not wait for the hooks: it
    /// returns once the threads are started, and a worker runs its hook as it comes up.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let started = Arc::new(AtomicUsize::new(0));
    /// let seen = started.clone();
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(3)
    ///     .on_thread_start(move |_index| {
    ///         seen.fetch_add(1, Ordering::SeqCst);
    ///     })
    ///     .build()?;
    /// pool.shutdown();
    /// assert_eq!(started.load(Ordering::SeqCst), 3);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn on_thread_start<F>(mut self, hook: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.on_thread_start = Some(StdArc::new(hook));
        self
    }

    /// Called on every worker thread as it stops, after its last task, with the index of its
    /// slot: when the pool shuts down, when a worker retires after a panic (before its
    /// replacement starts, whose [`on_thread_start`](Self::on_thread_start) follows), when a
    /// worker thread dies, and when a temporary worker leaves. Panics are handled as for
    /// `on_thread_start`.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// let stopped = Arc::new(Mutex::new(Vec::new()));
    /// let seen = stopped.clone();
    /// let pool = stealpool::WorkerPool::builder()
    ///     .num_threads(2)
    ///     .on_thread_stop(move |index| seen.lock().unwrap().push(index))
    ///     .build()?;
    /// pool.shutdown();
    /// let mut stopped = stopped.lock().unwrap().clone();
    /// stopped.sort();
    /// assert_eq!(stopped, [0, 1]);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn on_thread_stop<F>(mut self, hook: F) -> Self
    where
        F: Fn(usize) + Send + Sync + 'static,
    {
        self.on_thread_stop = Some(StdArc::new(hook));
        self
    }

    /// Pins each worker thread to one CPU (default `false`): the thread of slot `i` runs only
    /// on the `i`-th CPU this process may run on (as `sched_getaffinity` lists them at
    /// build time), wrapping around when there are more slots than CPUs. A replacement or a
    /// temporary worker is pinned like its slot. Pinning keeps a worker's cache and memory
    /// local on a machine the pool has to itself; on a shared machine it can keep a worker
    /// waiting for its CPU while another is free, so leave it off there. Pinning a thread is
    /// best effort: if the system refuses it (the CPU left the process's set meanwhile), the
    /// thread runs unpinned.
    ///
    /// Unpinned (the default) on Linux, where the pool is no wider than the CPUs the process
    /// may run on, the workers still keep off each other's CPU: a worker that finds another
    /// worker of its pool on its CPU while a CPU of the process has none moves one of the two
    /// there (always the one of the higher slot: it is briefly pinned to that CPU, then may
    /// run anywhere again), each at most once a millisecond. The kernel can leave two busy threads sharing one CPU for a long time,
    /// and a loop split between them then runs at the speed of one CPU.
    ///
    /// Linux only: elsewhere, and when the process's CPU set cannot be read, `build` returns
    /// a [`BuildError`] naming `pin_threads`.
    ///
    /// ```
    /// # #[cfg(target_os = "linux")] {
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).pin_threads(true).build()?;
    /// assert_eq!(pool.spawn(|| 1 + 1).join().unwrap(), 2);
    /// # }
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn pin_threads(mut self, pin: bool) -> Self {
        self.pin_threads = pin;
        self
    }

    /// Builds the pool and makes it the global pool, the one [`stealpool::spawn`](fn@crate::spawn),
    /// [`join`](fn@crate::join) and the other free functions use off the pool. The global pool
    /// is otherwise built on first use with default settings; this sets it up first, with
    /// these settings. An error naming `build_global` once a global pool exists (built, or
    /// set by an earlier call), or the setting at fault.
    ///
    /// ```
    /// stealpool::WorkerPool::builder()
    ///     .num_threads(3)
    ///     .thread_name(|i| format!("global-{i}"))
    ///     .build_global()?;
    /// assert_eq!(stealpool::current_num_threads(), 3);
    /// let err = stealpool::WorkerPool::builder().build_global().unwrap_err();
    /// assert_eq!(err.setting(), "build_global");
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn build_global(self) -> Result<(), BuildError> {
        crate::global::build_global(self)
    }

    /// Checks the settings, starts the worker threads and returns the pool.
    ///
    /// ```
    /// let err = stealpool::WorkerPool::builder().num_threads(0).build().unwrap_err();
    /// assert!(err.to_string().contains("num_threads"));
    /// ```
    pub fn build(self) -> Result<WorkerPool, BuildError> {
        let num_threads = match self.num_threads {
            Some(n) => check_num_threads(n)?,
            None => match env_num_threads()? {
                Some(n) => n,
                None => default_num_threads(),
            },
        };
        if let Some(bytes) = self.stack_size {
            if bytes < MIN_STACK_SIZE {
                return Err(BuildError::new(ErrorKind::StackTooSmall(bytes)));
            }
        }
        if self.max_queued == Some(0) {
            return Err(BuildError::new(ErrorKind::ZeroQueue));
        }
        let timing_sample = self.timing_sample.unwrap_or(DEFAULT_TIMING_SAMPLE);
        if timing_sample == 0 {
            return Err(BuildError::new(ErrorKind::ZeroSample));
        }
        let restart_intensity = self
            .restart_intensity
            .unwrap_or((DEFAULT_RESTART_MAX, DEFAULT_RESTART_PERIOD));
        if restart_intensity.0 == 0 || restart_intensity.1.is_zero() {
            return Err(BuildError::new(ErrorKind::BadRestartIntensity(
                restart_intensity.0,
                restart_intensity.1,
            )));
        }
        let fairness_interval = self.fairness_interval.unwrap_or(DEFAULT_FAIRNESS_INTERVAL);
        if fairness_interval < 2 {
            return Err(BuildError::new(ErrorKind::FairnessTooSmall(
                fairness_interval,
            )));
        }
        let extra = self.compensate_stalls.unwrap_or(0);
        if extra > 0 && self.stall_threshold.is_none() {
            return Err(BuildError::new(ErrorKind::CompensateWithoutThreshold));
        }
        if extra > MAX_THREADS - num_threads {
            return Err(BuildError::new(ErrorKind::TooManyExtra(extra)));
        }
        let room = MAX_THREADS - num_threads - extra;
        let max_blocking = match self.max_blocking_threads {
            Some(n) if n > room => {
                return Err(BuildError::new(ErrorKind::TooManyBlocking(n, room)));
            }
            Some(n) => n,
            None => num_threads.min(room),
        };
        let min_threads = match self.min_threads {
            None => num_threads,
            Some(n) if n == 0 || n > num_threads => {
                return Err(BuildError::new(ErrorKind::MinThreads(n, num_threads)));
            }
            Some(n) => n,
        };
        let keep_alive = match self.keep_alive {
            None => DEFAULT_KEEP_ALIVE,
            Some(d) if d.is_zero() => return Err(BuildError::new(ErrorKind::KeepAlive)),
            Some(d) => d,
        };
        let pin_cpus = if self.pin_threads {
            let cpus = crate::affinity::allowed_cpus()
                .map_err(|err| BuildError::new(ErrorKind::Pin(err)))?;
            Some(cpus)
        } else {
            None
        };
        let config = PoolConfig {
            num_threads,
            thread_name: self.thread_name.clone(),
            stack_size: self.stack_size,
            fairness_interval,
            panic_handler: self.panic_handler.clone(),
            replace_on_panic: self.replace_worker_on_panic.unwrap_or(true),
            restart_intensity,
            max_queued: self.max_queued,
            stall_threshold: self.stall_threshold,
            on_stall: self.on_stall.clone(),
            compensate: extra,
            max_blocking,
            min_threads,
            keep_alive,
            record_timing: self.record_timing.then_some(timing_sample),
            on_thread_start: self.on_thread_start.clone(),
            on_thread_stop: self.on_thread_stop.clone(),
            pin_cpus,
        };
        // The temporary workers' slots (and deques) exist from the start, after the workers'.
        let mut deques: Vec<[Worker<JobRef>; LANES]> = (0..config.slots())
            .map(|_| [Worker::new_lifo(), Worker::new_lifo(), Worker::new_lifo()])
            .collect();
        let stealers = deques
            .iter()
            .map(|lanes| [lanes[0].stealer(), lanes[1].stealer(), lanes[2].stealer()])
            .collect();
        let temp_deques = deques.split_off(num_threads);
        let registry = Arc::new(Registry::new(stealers, config));
        let threads = Arc::new(Threads::new(registry, num_threads, temp_deques));
        let min_threads = threads.registry().config().min_threads;
        for (index, deque) in deques.into_iter().enumerate() {
            if index >= min_threads {
                // An elastic pool: a thread starts for this slot when work waits.
                threads.start_empty(index, deque);
                continue;
            }
            // The name function is the caller's code: if it panics, the threads already
            // started are ended before the panic goes on.
            let name = match &self.thread_name {
                Some(name) => match panic::catch_unwind(AssertUnwindSafe(|| name(index))) {
                    Ok(name) => name,
                    Err(payload) => {
                        threads.abandon(index);
                        panic::resume_unwind(payload);
                    }
                },
                None => default_thread_name(index),
            };
            if let Err(err) = Threads::start_worker(&threads, index, deque, name) {
                threads.abandon(index);
                return Err(BuildError::new(ErrorKind::Spawn(err)));
            }
        }
        if let Err(err) = Threads::start_stall_watcher(&threads) {
            threads.abandon(num_threads);
            return Err(BuildError::new(ErrorKind::Spawn(err)));
        }
        Threads::enable_spares(&threads);
        Threads::enable_growth(&threads);
        crate::trace::pool_started(num_threads);
        Ok(WorkerPool::from_threads(threads))
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("num_threads", &self.num_threads)
            .field("thread_name", &self.thread_name.as_ref().map(|_| "<fn>"))
            .field("stack_size", &self.stack_size)
            .field("fairness_interval", &self.fairness_interval)
            .field(
                "panic_handler",
                &self.panic_handler.as_ref().map(|_| "<fn>"),
            )
            .field("replace_worker_on_panic", &self.replace_worker_on_panic)
            .field("restart_intensity", &self.restart_intensity)
            .field("max_queued", &self.max_queued)
            .field("stall_threshold", &self.stall_threshold)
            .field("on_stall", &self.on_stall.as_ref().map(|_| "<fn>"))
            .field("compensate_stalls", &self.compensate_stalls)
            .field("record_timing", &self.record_timing)
            .field("timing_sample", &self.timing_sample)
            .field(
                "on_thread_start",
                &self.on_thread_start.as_ref().map(|_| "<fn>"),
            )
            .field(
                "on_thread_stop",
                &self.on_thread_stop.as_ref().map(|_| "<fn>"),
            )
            .field("pin_threads", &self.pin_threads)
            .field("max_blocking_threads", &self.max_blocking_threads)
            .field("min_threads", &self.min_threads)
            .field("keep_alive", &self.keep_alive)
            .finish()
    }
}

fn check_num_threads(n: usize) -> Result<usize, BuildError> {
    match n {
        0 => Err(BuildError::new(ErrorKind::ZeroThreads)),
        n if n > MAX_THREADS => Err(BuildError::new(ErrorKind::TooManyThreads(n))),
        n => Ok(n),
    }
}

/// The width the environment asks for: `Ok(None)` when unset or `0`.
fn env_num_threads() -> Result<Option<usize>, BuildError> {
    let value = match std::env::var(NUM_THREADS_ENV) {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(raw)) => {
            return Err(BuildError::new(ErrorKind::BadEnv(
                raw.to_string_lossy().into_owned(),
            )));
        }
    };
    match value.trim().parse::<usize>() {
        Ok(0) => Ok(None),
        Ok(n) if n <= MAX_THREADS => Ok(Some(n)),
        _ => Err(BuildError::new(ErrorKind::BadEnv(value))),
    }
}

/// One worker per CPU this process may run on.
pub(crate) fn default_num_threads() -> usize {
    num_cpus::get().clamp(1, MAX_THREADS)
}

/// Builds a pool with default settings for [`WorkerPool::new`] and the global pool. A bad
/// `STEALPOOL_NUM_THREADS` is reported on stderr and ignored (the CPU count is used instead).
///
/// # Panics
/// If the operating system refuses to start a thread.
pub(crate) fn build_default() -> WorkerPool {
    let builder = match env_num_threads() {
        Ok(_) => PoolBuilder::new(),
        Err(err) => {
            eprintln!(
                "stealpool: {err}; using {} threads instead",
                default_num_threads()
            );
            PoolBuilder::new().num_threads(default_num_threads())
        }
    };
    match builder.build() {
        Ok(pool) => pool,
        Err(err) => panic!("stealpool: could not start the worker threads: {err}"),
    }
}

/// Why a pool could not be built. Its message names the setting at fault.
///
/// ```
/// let err = stealpool::WorkerPool::builder().stack_size(1024).build().unwrap_err();
/// assert!(err.to_string().starts_with("stack_size"));
/// ```
#[derive(Debug)]
pub struct BuildError {
    kind: ErrorKind,
}

#[derive(Debug)]
#[non_exhaustive]
enum ErrorKind {
    ZeroThreads,
    TooManyThreads(usize),
    StackTooSmall(usize),
    FairnessTooSmall(u32),
    ZeroQueue,
    ZeroSample,
    BadRestartIntensity(u32, std::time::Duration),
    Pin(io::Error),
    GlobalExists,
    CompensateWithoutThreshold,
    TooManyExtra(usize),
    TooManyBlocking(usize, usize),
    MinThreads(usize, usize),
    KeepAlive,
    BadEnv(String),
    Spawn(io::Error),
    /// A setting of another builder (the process pool's): its name and what is wrong.
    Invalid(&'static str, String),
}

impl BuildError {
    fn new(kind: ErrorKind) -> Self {
        BuildError { kind }
    }

    /// `build_global` found a global pool already there.
    pub(crate) fn global_exists() -> Self {
        BuildError::new(ErrorKind::GlobalExists)
    }

    /// `setting` (of another builder: the process pool's) is wrong; `message` says how,
    /// with the value that was given.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn invalid(setting: &'static str, message: String) -> Self {
        BuildError::new(ErrorKind::Invalid(setting, message))
    }

    /// The name of the setting at fault: `"num_threads"`, `"stack_size"`,
    /// `"fairness_interval"`, `"max_queued"`, `"timing_sample"`, `"compensate_stalls"`,
    /// `"restart_intensity"`, `"pin_threads"`, `"STEALPOOL_NUM_THREADS"`, `"build_global"`
    /// (a global pool exists already), `"thread spawn"` when the OS refused a thread, or the
    /// name of a setting of the process pool's builder (feature `process`).
    pub fn setting(&self) -> &'static str {
        match self.kind {
            ErrorKind::ZeroThreads | ErrorKind::TooManyThreads(_) => "num_threads",
            ErrorKind::StackTooSmall(_) => "stack_size",
            ErrorKind::FairnessTooSmall(_) => "fairness_interval",
            ErrorKind::ZeroQueue => "max_queued",
            ErrorKind::ZeroSample => "timing_sample",
            ErrorKind::BadRestartIntensity(..) => "restart_intensity",
            ErrorKind::Pin(_) => "pin_threads",
            ErrorKind::GlobalExists => "build_global",
            ErrorKind::CompensateWithoutThreshold | ErrorKind::TooManyExtra(_) => {
                "compensate_stalls"
            }
            ErrorKind::TooManyBlocking(..) => "max_blocking_threads",
            ErrorKind::MinThreads(..) => "min_threads",
            ErrorKind::KeepAlive => "keep_alive",
            ErrorKind::BadEnv(_) => NUM_THREADS_ENV,
            ErrorKind::Spawn(_) => "thread spawn",
            ErrorKind::Invalid(setting, _) => setting,
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::ZeroThreads => {
                f.write_str("num_threads: a pool needs at least 1 thread (got 0)")
            }
            ErrorKind::TooManyThreads(n) => {
                write!(
                    f,
                    "num_threads: at most {MAX_THREADS} threads are allowed (got {n})"
                )
            }
            ErrorKind::StackTooSmall(n) => {
                write!(
                    f,
                    "stack_size: at least {MIN_STACK_SIZE} bytes are needed (got {n})"
                )
            }
            ErrorKind::ZeroQueue => {
                f.write_str("max_queued: at least 1 task must be allowed to wait (got 0)")
            }
            ErrorKind::ZeroSample => {
                f.write_str("timing_sample: time one task in n, with n at least 1 (got 0)")
            }
            ErrorKind::Pin(err) => write!(f, "pin_threads: cannot pin threads to CPUs: {err}"),
            ErrorKind::GlobalExists => f.write_str(
                "build_global: the global pool exists already (built on first use, or set by \
                 an earlier build_global)",
            ),
            ErrorKind::BadRestartIntensity(max, period) => write!(
                f,
                "restart_intensity: at least 1 replacement within a period longer than zero \
                 (got {max} within {period:?}; replace_worker_on_panic(false) never replaces)"
            ),
            ErrorKind::CompensateWithoutThreshold => f.write_str(
                "compensate_stalls: needs stall_threshold, which decides what a stall is",
            ),
            ErrorKind::TooManyExtra(n) => write!(
                f,
                "compensate_stalls: num_threads plus the extra workers may be at most \
                 {MAX_THREADS} (got {n} extra)"
            ),
            ErrorKind::MinThreads(n, width) => write!(
                f,
                "min_threads: must be from 1 to num_threads ({width}) (got {n})"
            ),
            ErrorKind::KeepAlive => f.write_str("keep_alive: must be longer than zero"),
            ErrorKind::TooManyBlocking(n, room) => write!(
                f,
                "max_blocking_threads: num_threads, compensate_stalls and the spare workers \
                 may be at most {MAX_THREADS} together, which leaves room for {room} \
                 (got {n})"
            ),
            ErrorKind::FairnessTooSmall(n) => write!(
                f,
                "fairness_interval: one pick in n with n at least 2 (got {n})"
            ),
            ErrorKind::BadEnv(value) => write!(
                f,
                "{NUM_THREADS_ENV}: expected a whole number from 0 to {MAX_THREADS} (got {value:?})"
            ),
            ErrorKind::Spawn(err) => write!(
                f,
                "thread spawn: the OS refused to start a worker thread: {err}"
            ),
            ErrorKind::Invalid(setting, message) => write!(f, "{setting}: {message}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Spawn(err) | ErrorKind::Pin(err) => Some(err),
            _ => None,
        }
    }
}
