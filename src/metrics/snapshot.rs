//! The snapshot types [`WorkerPool::metrics`](crate::WorkerPool::metrics) hands out:
//! [`Metrics`], [`LaneMetrics`] and [`WorkerMetrics`]. `counters.rs` fills them; `display.rs`
//! prints them.

use std::time::Duration;

use super::Histogram;
use crate::lane::{LANES, Priority};

/// A snapshot of a pool's counters, from [`WorkerPool::metrics`](crate::WorkerPool::metrics).
///
/// Taking one reads a few counters per worker and per lane; it takes no lock and does not
/// disturb the workers. Each figure is exact once the pool is quiet; while tasks are running,
/// figures read a moment apart may not add up exactly. Counting is always on and costs a
/// few plain instructions per task: each worker counts in a block of its own (no locked
/// instruction, no cache line shared with another writer), and threads outside the pool in
/// one shared block.
///
/// What counts as a task: a closure given to `spawn`, `spawn_with`, `try_spawn` or
/// [`Scope::spawn`](crate::Scope::spawn). The two halves of a `join` and the closure of an
/// `install` are not tasks: they show only in [`stolen`](Self::stolen) and in busy time. A
/// task's outcome is counted before its result is published, so a snapshot taken after its
/// `join()` returns (or a scope ends) includes it.
///
/// `Display` prints a short table for a log:
///
/// ```
/// use stealpool::WorkerPool;
///
/// let pool = WorkerPool::builder().num_threads(2).build()?;
/// let handles: Vec<_> = (0..10).map(|i| pool.spawn(move || i * 2)).collect();
/// let doomed = pool.spawn(|| panic!("bad input"));
/// for handle in handles {
///     handle.join().unwrap();
/// }
/// assert!(doomed.join().is_err());
///
/// let metrics = pool.metrics();
/// assert_eq!(metrics.completed(), 11);
/// assert_eq!(metrics.panicked(), 1);
/// assert_eq!(metrics.cancelled(), 0);
/// assert_eq!(metrics.queued(), 0);
/// println!("{metrics}");
/// # Ok::<(), stealpool::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Metrics {
    pub(super) num_threads: usize,
    pub(super) uptime: Duration,
    pub(super) lanes: [LaneMetrics; LANES],
    pub(super) workers: Vec<WorkerMetrics>,
    pub(super) workers_replaced: u64,
    pub(super) replacements_skipped: u64,
    pub(super) stalls: u64,
    /// A process pool's figures; `None` for a thread pool.
    pub(super) processes: Option<ProcessFigures>,
}

/// What a process pool adds to its metrics: the worker processes' fates.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcessFigures {
    /// Worker processes started to replace one that died, timed out, stopped answering,
    /// was cancelled with its task or was retired.
    pub(crate) replaced: u64,
    /// Worker processes that died while running a task.
    pub(crate) crashes: u64,
    /// Tasks that ran past the task timeout.
    pub(crate) timeouts: u64,
    /// Worker processes replaced because they stopped answering the heartbeat.
    pub(crate) unresponsive: u64,
    /// Worker processes retired between tasks (task count or memory ceiling).
    pub(crate) retired: u64,
}

impl Metrics {
    /// Tasks that finished running, including those that panicked.
    pub fn completed(&self) -> u64 {
        self.lanes.iter().map(|l| l.completed).sum()
    }

    /// Tasks that panicked.
    pub fn panicked(&self) -> u64 {
        self.lanes.iter().map(|l| l.panicked).sum()
    }

    /// Tasks resolved as cancelled without running: cancelled through their handle while
    /// queued, cancelled by [`shutdown_now`](crate::WorkerPool::shutdown_now), or refused
    /// because the pool was shut down.
    ///
    /// A task cancelled through its handle is counted when the pool drops it from its queue:
    /// when a worker reaches it, or at shutdown. Until then it is still [`queued`](Self::queued).
    pub fn cancelled(&self) -> u64 {
        self.lanes.iter().map(|l| l.cancelled).sum()
    }

    /// Jobs taken from another worker's deque: tasks, and the halves of `join`s shared by a
    /// busy worker.
    pub fn stolen(&self) -> u64 {
        self.workers.iter().map(|w| w.steals).sum()
    }

    /// Jobs waiting now, in every lane: tasks not yet started (including ones cancelled
    /// through their handle that no worker has reached yet) and shared `join` halves.
    pub fn queued(&self) -> usize {
        self.lanes.iter().map(|l| l.queued).sum()
    }

    /// Worker threads started to replace one that retired (after a panic) or died; on a
    /// process pool, worker processes started to replace one that crashed, timed out,
    /// stopped answering, was killed with a cancelled task, or was retired.
    pub fn workers_replaced(&self) -> u64 {
        match &self.processes {
            Some(figures) => figures.replaced,
            None => self.workers_replaced,
        }
    }

    /// Worker processes that died while running a task (each such task is
    /// [`is_crash`](crate::TaskError::is_crash)); 0 on a thread pool.
    pub fn crashes(&self) -> u64 {
        self.processes.map_or(0, |p| p.crashes)
    }

    /// Tasks stopped because they ran past the task timeout (each
    /// [`is_timeout`](crate::TaskError::is_timeout)); 0 on a thread pool.
    pub fn timeouts(&self) -> u64 {
        self.processes.map_or(0, |p| p.timeouts)
    }

    /// A process pool's metrics: this snapshot of its driver threads' pool, with the worker
    /// processes' figures.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn with_processes(mut self, figures: ProcessFigures) -> Self {
        self.processes = Some(figures);
        self
    }

    /// Panics after which the worker carried on instead of being replaced, because the pool
    /// had reached its [`restart_intensity`](crate::PoolBuilder::restart_intensity).
    pub fn replacements_skipped(&self) -> u64 {
        self.replacements_skipped
    }

    /// Tasks submitted: every `spawn`, `spawn_with`, successful `try_spawn` and
    /// `Scope::spawn`, including spawns refused after shutdown (those are also counted as
    /// cancelled). Once the pool is quiet, `submitted == completed + cancelled`.
    pub fn submitted(&self) -> u64 {
        self.lanes.iter().map(|l| l.submitted).sum()
    }

    /// Tasks reported as stalled (see [`stall_threshold`](crate::PoolBuilder::stall_threshold));
    /// 0 when stall detection is off.
    pub fn stalls(&self) -> u64 {
        self.stalls
    }

    /// The pool's width: its workers, not counting temporary ones.
    pub fn num_threads(&self) -> usize {
        self.num_threads
    }

    /// Time since the pool was built.
    pub fn uptime(&self) -> Duration {
        self.uptime
    }

    /// Per-worker figures: one entry per worker slot, then one per temporary worker slot
    /// that has been used (see [`compensate_stalls`](crate::PoolBuilder::compensate_stalls)).
    pub fn workers(&self) -> &[WorkerMetrics] {
        &self.workers
    }

    /// The figures of one priority lane.
    ///
    /// ```
    /// use stealpool::{Priority, WorkerPool};
    ///
    /// let pool = WorkerPool::builder().num_threads(1).build()?;
    /// pool.spawn_with(Priority::High, || ()).join().unwrap();
    /// let high = pool.metrics().lane(Priority::High).clone();
    /// assert_eq!((high.submitted(), high.completed()), (1, 1));
    /// assert_eq!(pool.metrics().lane(Priority::Low).submitted(), 0);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn lane(&self, priority: Priority) -> &LaneMetrics {
        &self.lanes[priority.lane()]
    }

    /// The three lanes' figures, `High` first.
    pub fn lanes(&self) -> &[LaneMetrics] {
        &self.lanes
    }

    /// How long tasks waited between their spawn and their start, all lanes merged; `None`
    /// unless the pool records timing ([`record_timing`](crate::PoolBuilder::record_timing)).
    pub fn wait_time(&self) -> Option<Histogram> {
        self.merged(|lane| lane.wait_time.as_ref())
    }

    /// How long tasks ran, all lanes merged; `None` unless the pool records timing.
    pub fn run_time(&self) -> Option<Histogram> {
        self.merged(|lane| lane.run_time.as_ref())
    }

    fn merged(&self, pick: impl Fn(&LaneMetrics) -> Option<&Histogram>) -> Option<Histogram> {
        let mut merged: Option<Histogram> = None;
        for lane in &self.lanes {
            if let Some(histogram) = pick(lane) {
                merged.get_or_insert_with(Histogram::new).merge(histogram);
            }
        }
        merged
    }
}

/// The figures of one priority lane, in a [`Metrics`] snapshot.
#[derive(Debug, Clone)]
pub struct LaneMetrics {
    pub(super) priority: Priority,
    pub(super) queued: usize,
    pub(super) submitted: u64,
    pub(super) completed: u64,
    pub(super) panicked: u64,
    pub(super) cancelled: u64,
    pub(super) wait_time: Option<Histogram>,
    pub(super) run_time: Option<Histogram>,
}

impl LaneMetrics {
    /// Which lane.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// Jobs waiting in this lane now (see [`Metrics::queued`]).
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Tasks submitted to this lane (see [`Metrics::submitted`]).
    pub fn submitted(&self) -> u64 {
        self.submitted
    }

    /// Tasks of this lane that finished running, including those that panicked.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Tasks of this lane that panicked.
    pub fn panicked(&self) -> u64 {
        self.panicked
    }

    /// Tasks of this lane resolved as cancelled (see [`Metrics::cancelled`]).
    pub fn cancelled(&self) -> u64 {
        self.cancelled
    }

    /// How long this lane's tasks waited between spawn and start; `None` unless the pool
    /// records timing.
    pub fn wait_time(&self) -> Option<&Histogram> {
        self.wait_time.as_ref()
    }

    /// How long this lane's tasks ran; `None` unless the pool records timing.
    pub fn run_time(&self) -> Option<&Histogram> {
        self.run_time.as_ref()
    }
}

/// The figures of one worker slot, in a [`Metrics`] snapshot. A slot keeps its figures
/// across replacements of its thread.
#[derive(Debug, Clone)]
pub struct WorkerMetrics {
    pub(super) index: usize,
    pub(super) temporary: bool,
    pub(super) tasks_run: u64,
    pub(super) steals: u64,
    pub(super) parks: u64,
    pub(super) busy_time: Duration,
    pub(super) threads: u64,
}

impl WorkerMetrics {
    /// The slot's index, as [`current_thread_index`](crate::current_thread_index) gives it.
    pub fn index(&self) -> usize {
        self.index
    }

    /// True for a temporary worker's slot (stall compensation).
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// Tasks this slot ran (including those that panicked).
    pub fn tasks_run(&self) -> u64 {
        self.tasks_run
    }

    /// Jobs this slot took from other workers' deques.
    pub fn steals(&self) -> u64 {
        self.steals
    }

    /// Times this slot's thread went to sleep for want of work (in its main loop, or while
    /// waiting for a join or a scope).
    pub fn parks(&self) -> u64 {
        self.parks
    }

    /// Time this slot's thread spent busy: from finding work until it ran out and started
    /// searching (its short search before sleeping, and its sleep, are idle time). A thread
    /// waiting inside a task for a join counts as busy unless it sleeps.
    pub fn busy_time(&self) -> Duration {
        self.busy_time
    }

    /// OS threads that have served this slot: 1, plus one per replacement (for a temporary
    /// slot, one per temporary worker started in it).
    pub fn threads(&self) -> u64 {
        self.threads
    }
}
