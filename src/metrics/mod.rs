//! What a pool counts about itself, and the [`Metrics`] snapshot it hands out.
//!
//! Every worker slot has its own block of counters on its own cache lines ([`SlotCounters`]),
//! written only by the thread serving that slot, with a relaxed load and a store: no locked
//! instruction and no line shared with another writer, so counting costs a few plain
//! instructions per task. What happens on threads outside the pool (a task submitted from
//! outside, one cancelled by `shutdown_now`, a spawn refused after shutdown) goes to one
//! shared block with `fetch_add`; none of that is on a worker's hot path.
//!
//! A snapshot reads every block with relaxed loads and adds them up. It is "consistent
//! enough": each figure is exact once the pool is quiet, and while it is busy two figures may
//! come from instants a few nanoseconds apart.
//!
//! What counts as a *task*: a closure given to `spawn`, `spawn_with`, `try_spawn` or
//! `Scope::spawn`. The halves of a `join` and the closures of `install` are not tasks (they
//! show in `stolen` and in busy time, not in the task counts).
//!
//! Timing (`PoolBuilder::record_timing`) wraps the closure of each task in the sample (see
//! `PoolCounters::clock_if_sampled`) when it is spawned: the wrapper carries the spawn tick
//! and, on the worker, records the wait (spawn to start) and, when the closure returns or
//! unwinds, the run time, into that worker's [`Recorder`]s for the lane the task was taken
//! from. Tasks outside the sample, and every task with timing off, are not wrapped.

mod display;
mod histogram;

use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

pub use histogram::Histogram;
pub(crate) use histogram::Recorder;
use histogram::bump_by;

use crate::job::Outcome;
use crate::lane::{LANES, Priority};
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::worker::WorkerThread;

/// Adds one to a counter only its owner thread writes.
#[inline]
fn bump(counter: &AtomicU64) {
    bump_by(counter, 1);
}

/// Per-lane task counts.
#[derive(Default)]
struct LaneCounts {
    submitted: AtomicU64,
    completed: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
}

impl LaneCounts {
    fn add_to(&self, lane: &mut LaneMetrics) {
        lane.submitted += self.submitted.load(Ordering::Relaxed);
        lane.completed += self.completed.load(Ordering::Relaxed);
        lane.panicked += self.panicked.load(Ordering::Relaxed);
        lane.cancelled += self.cancelled.load(Ordering::Relaxed);
    }
}

/// The wait and run recorders of one lane of one slot.
struct LaneTiming {
    wait: Recorder,
    run: Recorder,
}

/// The counters of one worker slot, written only by the thread serving it (one at a time: a
/// replacement starts after its predecessor's last write, a temporary worker's slot is
/// handed over under a lock).
pub(crate) struct SlotCounters {
    lanes: [LaneCounts; LANES],
    steals: AtomicU64,
    parks: AtomicU64,
    /// Busy time in one word, so that a snapshot never reads half an update (see
    /// [`BusyClock`]).
    busy: BusyClock,
    /// The largest busy time a snapshot has reported for this slot: snapshots never report
    /// less (see [`BusyClock::read`]).
    busy_reported: AtomicU64,
    /// Threads that have served this slot.
    threads: AtomicU64,
    timing: Option<Box<[LaneTiming; LANES]>>,
}

impl SlotCounters {
    fn new(timing: bool) -> Self {
        SlotCounters {
            lanes: Default::default(),
            steals: AtomicU64::new(0),
            parks: AtomicU64::new(0),
            busy: BusyClock::new(),
            busy_reported: AtomicU64::new(0),
            threads: AtomicU64::new(0),
            timing: timing.then(|| {
                Box::new(std::array::from_fn(|_| LaneTiming {
                    wait: Recorder::new(),
                    run: Recorder::new(),
                }))
            }),
        }
    }

    /// Counts what executing a job of `lane` did.
    #[inline]
    fn count(&self, lane: usize, outcome: Outcome) {
        let counts = &self.lanes[lane];
        match outcome {
            Outcome::Completed => bump(&counts.completed),
            Outcome::Panicked => {
                bump(&counts.completed);
                bump(&counts.panicked);
            }
            Outcome::Cancelled => bump(&counts.cancelled),
            Outcome::NotATask => {}
        }
    }

    /// A task was spawned into `lane` from this worker.
    #[inline]
    pub(crate) fn submitted(&self, lane: usize) {
        bump(&self.lanes[lane].submitted);
    }

    #[inline]
    pub(crate) fn stole(&self) {
        bump(&self.steals);
    }

    pub(crate) fn parked(&self) {
        bump(&self.parks);
    }

    /// Records a task's wait (from `spawned`, in `clock`'s raw ticks) and returns the tick
    /// it started running at.
    #[inline]
    fn record_wait(&self, clock: &Clock, lane: usize, spawned: u64) -> u64 {
        let now = clock.raw();
        if let Some(timing) = &self.timing {
            timing[lane].wait.record(clock.delta_as_nanos(spawned, now));
        }
        now
    }

    #[inline]
    fn record_run(&self, clock: &Clock, lane: usize, started: u64) {
        if let Some(timing) = &self.timing {
            let nanos = clock.delta_as_nanos(started, clock.raw());
            timing[lane].run.record(nanos);
        }
    }
}

/// A worker slot's busy time, in one word written only by the thread serving the slot.
///
/// While the worker is idle the word holds [`BusyClock::IDLE`] plus the busy nanoseconds of
/// the intervals that have ended. While it is busy it holds the *virtual start* of the
/// current interval: the stamp at which it would have begun had all earlier busy time been
/// one interval ending now, so that busy time is `now - word`. Each transition is one
/// store, so a reader sees the whole state before or after it, never a mix (two words, a
/// total and a start, could be read half-updated and count an interval twice or not at
/// all).
///
/// A reader takes `now` from its own clock, so a snapshot that reads "busy" just after the
/// worker read the clock to go idle, but before its store landed, counts a few nanoseconds
/// too many; the next snapshot, reading the idle total, would then report a little less.
/// `PoolCounters::snapshot` keeps the largest value reported per slot and never reports
/// less, so busy time never goes backwards.
struct BusyClock(AtomicU64);

impl BusyClock {
    /// The flag of an idle worker's word.
    const IDLE: u64 = 1 << 63;

    fn new() -> Self {
        BusyClock(AtomicU64::new(Self::IDLE))
    }

    /// Busy from `now` (a stamp); nothing if already busy.
    fn start(&self, now: u64) {
        let word = self.0.load(Ordering::Relaxed);
        if word & Self::IDLE != 0 {
            let total = word & !Self::IDLE;
            // Busy time never exceeds the time elapsed, so this does not underflow.
            self.0.store(now.saturating_sub(total), Ordering::Relaxed);
        }
    }

    /// Idle from `now`; nothing if already idle.
    fn stop(&self, now: u64) {
        let word = self.0.load(Ordering::Relaxed);
        if word & Self::IDLE == 0 {
            let total = now.saturating_sub(word);
            self.0.store(Self::IDLE | total, Ordering::Relaxed);
        }
    }

    /// Busy nanoseconds up to `now`.
    fn read(&self, now: u64) -> u64 {
        let word = self.0.load(Ordering::Relaxed);
        if word & Self::IDLE != 0 {
            word & !Self::IDLE
        } else {
            now.saturating_sub(word)
        }
    }
}

/// Counts of work done by threads outside the pool, shared by all of them.
#[derive(Default)]
struct SharedCounters {
    lanes: [LaneCounts; LANES],
}

/// Everything a pool counts. Lives in the registry.
pub(crate) struct PoolCounters {
    epoch: Instant,
    slots: Box<[Arc<CachePadded<SlotCounters>>]>,
    shared: CachePadded<SharedCounters>,
    /// The clock of the timing histograms, when timing is on.
    clock: Option<Clock>,
    /// One task in this many is timed (`timing_sample`).
    sample_every: u32,
}

impl PoolCounters {
    /// Counters for `slots` worker slots (temporary ones included).
    /// `timing`: `Some(n)` to time one task in `n`.
    pub(crate) fn new(slots: usize, timing: Option<u32>) -> Self {
        PoolCounters {
            epoch: Instant::now(),
            slots: (0..slots)
                .map(|_| Arc::new(CachePadded::new(SlotCounters::new(timing.is_some()))))
                .collect(),
            shared: CachePadded::new(SharedCounters::default()),
            clock: timing.map(|_| Clock::new()),
            sample_every: timing.unwrap_or(1).max(1),
        }
    }

    /// Slot `index`'s counters, for the thread serving it to keep at hand.
    pub(crate) fn slot(&self, index: usize) -> Arc<CachePadded<SlotCounters>> {
        self.slots[index].clone()
    }

    /// Is timing on (`record_timing`)?
    #[inline]
    pub(crate) fn timing(&self) -> bool {
        self.clock.is_some()
    }

    /// The timing clock, when timing is on.
    #[inline]
    pub(crate) fn clock(&self) -> Option<&Clock> {
        self.clock.as_ref()
    }

    /// The timing clock, if timing is on and the task the calling thread is about to spawn
    /// into `lane` is in the sample: the thread's first task in the lane, then every
    /// `sample_every`th. The count is per thread and lane, so a rare lane is timed as often,
    /// in proportion, as a busy one.
    #[inline]
    pub(crate) fn clock_if_sampled(&self, lane: usize) -> Option<&Clock> {
        let clock = self.clock.as_ref()?;
        if self.sample_every == 1 {
            return Some(clock);
        }
        let due = SAMPLE_COUNTDOWN.with(|countdown| {
            let mut left = countdown.get();
            let due = left[lane] == 0;
            left[lane] = if due {
                self.sample_every - 1
            } else {
                left[lane] - 1
            };
            countdown.set(left);
            due
        });
        due.then_some(clock)
    }

    /// Counts what executing a job of `lane` did, on a thread outside the pool.
    fn count_outside(&self, lane: usize, outcome: Outcome) {
        let counts = &self.shared.lanes[lane];
        let counter = match outcome {
            Outcome::Completed => &counts.completed,
            Outcome::Panicked => {
                counts.panicked.fetch_add(1, Ordering::Relaxed);
                &counts.completed
            }
            Outcome::Cancelled => &counts.cancelled,
            Outcome::NotATask => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A task was spawned into `lane` by a thread outside the pool.
    #[inline]
    pub(crate) fn submitted_outside(&self, lane: usize) {
        self.shared.lanes[lane]
            .submitted
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Nanoseconds since the epoch, plus one (so that it is never 0).
    fn stamp(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    /// The thread serving `slot` (one of this pool's, which it holds) starts or resumes
    /// doing work.
    pub(crate) fn busy(&self, slot: &SlotCounters) {
        slot.busy.start(self.stamp());
    }

    /// The thread serving `slot` has run out of work (or is leaving).
    pub(crate) fn idle(&self, slot: &SlotCounters) {
        slot.busy.stop(self.stamp());
    }

    /// A thread starts serving `slot`.
    pub(crate) fn thread_started(&self, slot: &SlotCounters) {
        bump(&slot.threads);
        self.busy(slot);
    }

    /// Reads every counter into a snapshot. `queued` is the number of jobs in each lane's
    /// queues right now; `width` the number of (non-temporary) workers.
    pub(crate) fn snapshot(
        &self,
        width: usize,
        queued: [usize; LANES],
        workers_replaced: u64,
        stalls: u64,
    ) -> Metrics {
        let now = self.stamp();
        let mut lanes: [LaneMetrics; LANES] = std::array::from_fn(|lane| LaneMetrics {
            priority: Priority::from_lane(lane),
            queued: queued[lane],
            submitted: 0,
            completed: 0,
            panicked: 0,
            cancelled: 0,
            wait_time: self.timing().then(Histogram::new),
            run_time: self.timing().then(Histogram::new),
        });
        for (lane, counts) in lanes.iter_mut().zip(&self.shared.lanes) {
            counts.add_to(lane);
        }
        let mut workers = Vec::with_capacity(self.slots.len());
        for (index, slot) in self.slots.iter().enumerate() {
            let mut tasks_run = 0;
            for (lane, (metrics, counts)) in lanes.iter_mut().zip(&slot.lanes).enumerate() {
                counts.add_to(metrics);
                tasks_run += counts.completed.load(Ordering::Relaxed);
                if let Some(timing) = &slot.timing {
                    let timing = &timing[lane];
                    if let Some(wait) = &mut metrics.wait_time {
                        timing.wait.add_to(wait);
                    }
                    if let Some(run) = &mut metrics.run_time {
                        timing.run.add_to(run);
                    }
                }
            }
            let threads = slot.threads.load(Ordering::Relaxed);
            if index >= width && threads == 0 {
                // A temporary slot never used.
                continue;
            }
            let busy = slot.busy.read(now);
            // Never less than an earlier snapshot reported (see `BusyClock::read`).
            let busy = slot
                .busy_reported
                .fetch_max(busy, Ordering::Relaxed)
                .max(busy);
            workers.push(WorkerMetrics {
                index,
                temporary: index >= width,
                tasks_run,
                steals: slot.steals.load(Ordering::Relaxed),
                parks: slot.parks.load(Ordering::Relaxed),
                busy_time: Duration::from_nanos(busy.min(now - 1)),
                threads,
            });
        }
        Metrics {
            num_threads: width,
            uptime: Duration::from_nanos(now - 1),
            lanes,
            workers,
            workers_replaced,
            stalls,
        }
    }
}

/// Where the thread executing a job counts what became of it (see `JobRef::execute`).
#[derive(Clone, Copy)]
pub(crate) enum Tally<'a> {
    /// A worker: its own slot's counters, and the lane the job was taken from.
    Slot(&'a SlotCounters, usize),
    /// Any other thread: the pool's shared counters.
    Pool(&'a PoolCounters, usize),
    /// Not counted (a scope running on its caller after shutdown; model tests).
    Nowhere,
}

impl Tally<'_> {
    #[inline]
    pub(crate) fn count(self, outcome: Outcome) {
        match self {
            Tally::Slot(slot, lane) => slot.count(lane, outcome),
            Tally::Pool(pool, lane) => pool.count_outside(lane, outcome),
            Tally::Nowhere => {}
        }
    }
}

/// The clock of the timing histograms: `quanta`'s, read raw. Where the CPU's time-stamp
/// counter is reliable (invariant), a reading is the counter itself (about 12 ns here,
/// against 32 ns for `std::time::Instant`, at three readings per task); elsewhere it falls
/// back to the OS clock. Ticks become nanoseconds only when a difference is recorded.
/// Its `new` calibrates the counter, once per pool, at build time.
type Clock = quanta::Clock;

std::thread_local! {
    /// Per lane: tasks this thread spawns before it times the next one (see
    /// `PoolCounters::clock_if_sampled`).
    static SAMPLE_COUNTDOWN: std::cell::Cell<[u32; LANES]> = const { std::cell::Cell::new([0; LANES]) };
}

/// The tick a task was spawned at, carried by its closure when timing is on.
pub(crate) struct Spawned(u64);

impl Spawned {
    pub(crate) fn now(clock: &Clock) -> Self {
        Spawned(clock.raw())
    }

    /// The task starts on this thread: records its wait, and returns a guard that records
    /// its run time when dropped (also if the task unwinds).
    #[inline]
    pub(crate) fn start(self) -> Running {
        let Some(worker) = WorkerThread::current() else {
            return Running(None);
        };
        let Some(clock) = worker.registry().counters().clock() else {
            return Running(None);
        };
        let lane = worker.lane();
        let started = worker.counters().record_wait(clock, lane, self.0);
        Running(Some((lane, started)))
    }
}

/// Records a task's run time when dropped.
pub(crate) struct Running(Option<(usize, u64)>);

impl Drop for Running {
    fn drop(&mut self) {
        let Some((lane, started)) = self.0 else {
            return;
        };
        if let Some(worker) = WorkerThread::current() {
            if let Some(clock) = worker.registry().counters().clock() {
                worker.counters().record_run(clock, lane, started);
            }
        }
    }
}

/// Wraps a task's closure so that it records its wait and run times.
pub(crate) fn timed<F, T>(clock: &Clock, func: F) -> impl FnOnce() -> T + Send + 'static
where
    F: FnOnce() -> T + Send + 'static,
{
    let spawned = Spawned::now(clock);
    move || {
        let _running = spawned.start();
        func()
    }
}

/// A snapshot of a pool's counters, from [`WorkerPool::metrics`](crate::WorkerPool::metrics).
///
/// Taking one reads a few counters per worker and per lane; it takes no lock and does not
/// disturb the workers. Each figure is exact once the pool is quiet; while tasks are running,
/// figures read a moment apart may not add up exactly.
///
/// What counts as a task: a closure given to `spawn`, `spawn_with`, `try_spawn` or
/// [`Scope::spawn`](crate::Scope::spawn). The two halves of a `join` and the closure of an
/// `install` are not tasks.
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
    num_threads: usize,
    uptime: Duration,
    lanes: [LaneMetrics; LANES],
    workers: Vec<WorkerMetrics>,
    workers_replaced: u64,
    stalls: u64,
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

    /// Worker threads started to replace one that retired (after a panic) or died.
    pub fn workers_replaced(&self) -> u64 {
        self.workers_replaced
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
    priority: Priority,
    queued: usize,
    submitted: u64,
    completed: u64,
    panicked: u64,
    cancelled: u64,
    wait_time: Option<Histogram>,
    run_time: Option<Histogram>,
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
    index: usize,
    temporary: bool,
    tasks_run: u64,
    steals: u64,
    parks: u64,
    busy_time: Duration,
    threads: u64,
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

#[cfg(all(test, loom))]
mod loom_tests;

#[cfg(all(test, not(loom)))]
mod tests {
    use super::BusyClock;

    #[test]
    fn busy_clock_adds_up_intervals_and_reads_the_current_one() {
        let clock = BusyClock::new();
        assert_eq!(clock.read(50), 0);
        clock.start(100);
        clock.start(120); // already busy: no change
        assert_eq!(clock.read(130), 30);
        clock.stop(150);
        clock.stop(170); // already idle: no change
        assert_eq!(clock.read(1_000), 50);
        clock.start(200);
        assert_eq!(clock.read(210), 60);
        clock.stop(260);
        assert_eq!(clock.read(10_000), 110);
    }
}
