//! The hot-path counters: one block per worker slot with a single writer, one shared block
//! for threads outside the pool, the timing recorders and clock. The protocol is in the
//! [module docs](super); the snapshot types they fill are in `snapshot.rs`.

use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use super::histogram::{Recorder, bump_by};
use super::{Histogram, LaneMetrics, Metrics, WorkerMetrics};
use crate::lane::{LANES, Priority};
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// What executing a job did, for the pool's metrics. Only spawned tasks and scope tasks count
/// as tasks; join halves and installed closures do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the caller counts what became of the job"]
pub(crate) enum Outcome {
    /// A task ran and returned.
    Completed,
    /// A task ran and panicked.
    Panicked,
    /// A task was resolved as cancelled without running: its handle cancelled it while it
    /// was queued, or the pool aborted it.
    Cancelled,
    /// Not a task (a join half, an installed closure), or a scope task sent back to its
    /// queue (it is counted when it runs).
    NotATask,
}

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

/// Counts of work done by threads outside the pool, shared by all of them, and of events of
/// the pool as a whole.
#[derive(Default)]
struct SharedCounters {
    lanes: [LaneCounts; LANES],
    /// Worker threads started to replace one that retired or died.
    workers_replaced: AtomicU64,
    /// Panics after which a worker carried on because of the restart-intensity bound.
    replacements_skipped: AtomicU64,
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

    /// A worker thread was started to replace one that retired or died.
    pub(crate) fn worker_replaced(&self) {
        self.shared.workers_replaced.fetch_add(1, Ordering::Relaxed);
    }

    /// Worker threads started so far to replace one that retired or died.
    pub(crate) fn workers_replaced(&self) -> u64 {
        self.shared.workers_replaced.load(Ordering::Relaxed)
    }

    /// A worker carried on after a panic, because of the restart-intensity bound.
    pub(crate) fn replacement_skipped(&self) {
        self.shared
            .replacements_skipped
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
    pub(crate) fn snapshot(&self, width: usize, queued: [usize; LANES], stalls: u64) -> Metrics {
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
            workers_replaced: self.workers_replaced(),
            replacements_skipped: self.shared.replacements_skipped.load(Ordering::Relaxed),
            processes: None,
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
    /// Not counted (a scope running on its caller after shutdown; a promise's result; model
    /// tests).
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
pub(crate) type Clock = quanta::Clock;

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
}

impl SlotCounters {
    /// A timed task of `lane` starts on the thread serving this slot: records its wait, and
    /// returns a guard that records its run time when dropped (also if the task unwinds).
    #[inline]
    pub(crate) fn start_timed<'a>(
        &'a self,
        clock: &'a Clock,
        lane: usize,
        spawned: Spawned,
    ) -> Running<'a> {
        let started = self.record_wait(clock, lane, spawned.0);
        Running {
            slot: self,
            clock,
            lane,
            started,
        }
    }
}

/// Records a task's run time when dropped.
pub(crate) struct Running<'a> {
    slot: &'a SlotCounters,
    clock: &'a Clock,
    lane: usize,
    started: u64,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.slot.record_run(self.clock, self.lane, self.started);
    }
}
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
