//! A worker thread: its deques, its main loop, how it looks for work, and how it waits while
//! staying useful.
//!
//! A worker has one deque per priority lane (see [`crate::lane`]). At every task boundary its
//! [`Picker`] chooses the lane (the rule is on `PoolBuilder::fairness_interval`); within a
//! lane the worker looks, in order ([`WorkerThread::take`]):
//! 1. its own deque, newest first (LIFO: what it just spawned is hot in its cache);
//! 2. the lane's global injector, taking a batch into its own deque in the Normal lane (one
//!    synchronisation for many tasks submitted from outside), one task at a time in High and
//!    Low (so that the oldest stays at the front for fairness picks);
//! 3. the other workers' deques, oldest first (FIFO end), starting at a random victim so that
//!    thieves spread out instead of all hitting worker 0. Finding a victim's deque empty asks
//!    it to share a join frame (see [`crate::join`](mod@crate::join)).
//!
//! When nothing is found the worker counts itself as *searching* and looks again for up to
//! `SEARCH_TIME` (100 µs), with timed pauses between looks (see [`Pacer`] for why not a tight
//! loop), and then sleeps through [`crate::sleep`].
//!
//! A worker thread's life (start, retirement, replacement) is run by `crate::threads`:
//! [`run`] and [`run_temp`] are the bodies it gives its threads, and they say how the thread
//! ended.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc as StdArc;
use std::task::{Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crossbeam_deque::{Steal, Worker};

use crate::job::{JobMode, JobRef};
use crate::join::Frames;
use crate::lane::picker::{self, LaneQueues, Picker};
use crate::lane::{HIGH, LANES, LOW, NORMAL};
use crate::loom::sync::Arc;
use crate::metrics::{Running, SlotCounters, Spawned, Tally};
use crate::registry::Registry;
use crate::sleep::{SleepKind, Wakeup};

/// How long a worker keeps looking for work before it goes to sleep.
const SEARCH_TIME: Duration = Duration::from_micros(100);
/// The first pause between two looks; it doubles each round up to [`MAX_POLL_PAUSE`].
const FIRST_POLL_PAUSE: Duration = Duration::from_micros(4);
/// The longest pause between two looks.
const MAX_POLL_PAUSE: Duration = Duration::from_micros(16);

std::thread_local! {
    static CURRENT: Cell<*const WorkerThread> = const { Cell::new(ptr::null()) };
}

/// Something a worker can wait for while it keeps running other tasks.
pub(crate) trait Awaited {
    type Output;
    /// Cheap check, no side effects.
    fn is_done(&self) -> bool;
    /// Returns the output if done; otherwise arranges for `waker` to be woken once done.
    fn poll_done(&mut self, waker: &Waker) -> Poll<Self::Output>;
}

/// The per-thread state of a worker; lives on the worker thread's stack.
pub(crate) struct WorkerThread {
    index: usize,
    registry: Arc<Registry>,
    /// One deque per lane.
    deques: [Worker<JobRef>; LANES],
    /// The lane of the task this worker is running: what it spawns, joins or scopes goes
    /// there unless the call names another lane.
    lane: Cell<usize>,
    /// Which lane the next task comes from.
    picker: Picker,
    rng: Cell<u64>,
    /// Wakes this worker out of a join-wait sleep.
    waker: Waker,
    /// The `b` sides of the joins this worker is inside (see `crate::join`).
    frames: Frames,
    /// The main loop counts this worker as searching (see `crate::sleep`).
    searching: Cell<bool>,
    /// This slot's counters (see `crate::metrics`); only this thread writes them.
    counters: Arc<crossbeam_utils::CachePadded<SlotCounters>>,
    /// Per lane, this worker's pushes onto its own deque less its own pops (wrapping). Thieves
    /// take from the other end, so while it stands above a region's start the top of the
    /// deque is a job of that region (see [`isolate`](Self::isolate)).
    tops: [Cell<usize>; LANES],
    /// The worker is inside an isolated region.
    isolated: Cell<bool>,
    /// Where the innermost region began: `tops` at its entry.
    region_start: Cell<[usize; LANES]>,
    /// The worker is inside `block_in_place`.
    blocking: Cell<bool>,
}

/// Wakes one particular worker (the one waiting in a join).
struct WorkerWaker {
    registry: Arc<Registry>,
    index: usize,
}

impl Wake for WorkerWaker {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.registry.sleep.wake_worker(self.index);
    }
}

impl WorkerThread {
    fn new(registry: Arc<Registry>, index: usize, deques: [Worker<JobRef>; LANES]) -> Self {
        let waker = Waker::from(StdArc::new(WorkerWaker {
            registry: registry.clone(),
            index,
        }));
        WorkerThread {
            index,
            deques,
            lane: Cell::new(NORMAL),
            picker: Picker::new(registry.config().fairness_interval),
            // Any odd, thread-distinct seed will do.
            rng: Cell::new(0x9e37_79b9_7f4a_7c15 ^ ((index as u64 + 1) << 1 | 1)),
            waker,
            frames: Frames::new(registry.share_request(index)),
            counters: registry.counters().slot(index),
            searching: Cell::new(false),
            tops: Default::default(),
            isolated: Cell::new(false),
            region_start: Cell::new([0; LANES]),
            blocking: Cell::new(false),
            registry,
        }
    }

    /// The worker running on this thread, if it is one. The reference is valid only on this
    /// thread and while its main loop runs, which covers every caller: they are all called,
    /// directly or through tasks, from inside that loop.
    #[inline]
    pub(crate) fn current<'a>() -> Option<&'a WorkerThread> {
        let ptr = CURRENT.with(Cell::get);
        // SAFETY: `run_as` sets the pointer to a `WorkerThread` it owns and clears it before
        // giving that worker back; nothing outlives the loop on this thread.
        unsafe { ptr.as_ref() }
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// This slot's counters.
    #[inline]
    pub(crate) fn counters(&self) -> &SlotCounters {
        &self.counters
    }

    /// The lane of the task this worker is running.
    pub(crate) fn lane(&self) -> usize {
        self.lane.get()
    }

    /// The join frames of this worker (see `crate::join`).
    #[inline]
    pub(crate) fn frames(&self) -> &Frames {
        &self.frames
    }

    /// Announces work this worker holds that another could take but nobody has asked for: a
    /// loop it entered (`iter::bridge`), or the outermost join of its task (`crate::join`).
    /// Both split only when a worker asks, and a sleeping worker never asks, so a sleeper is
    /// woken to come and ask when no worker is searching (`Sleep::notify_work`: one fence and
    /// one load when a worker searches or none sleeps). Without it, a task on a pool whose
    /// other workers slept ran on one worker unless a request was left over from an earlier
    /// search, and, the pool waking its most recent sleeper first, so did the next tasks
    /// (`cargo bench --bench fork_join`: `fib(30)` at 3.5 ms instead of 1.8, a quicksort at
    /// sequential speed, in some passes).
    #[inline]
    pub(crate) fn announce_splittable(&self) {
        self.registry.sleep.notify_work();
    }

    /// Pushes a job onto this worker's deque for `lane`, and lets a sleeper know.
    pub(crate) fn push_lane(&self, job: JobRef, lane: usize) {
        self.push_quietly(job, lane);
        self.registry.sleep.notify_work();
    }

    /// Pushes a job onto this worker's deque for `lane` without telling anyone: the caller
    /// calls `notify_work` once it has pushed everything.
    pub(crate) fn push_quietly(&self, job: JobRef, lane: usize) {
        let job = if self.isolated.get() {
            job.mark_isolated()
        } else {
            job
        };
        // Counted before the push, so a count of zero means the lane is really empty.
        self.registry.note_queued(lane);
        self.tops[lane].set(self.tops[lane].get().wrapping_add(1));
        self.deques[lane].push(job);
    }

    /// Pops the newest job of `lane` from this worker's own deque, counted as taken.
    #[inline]
    fn pop_own(&self, lane: usize) -> Option<JobRef> {
        let job = self.deques[lane].pop()?;
        self.tops[lane].set(self.tops[lane].get().wrapping_sub(1));
        self.registry.note_taken(lane);
        Some(job)
    }

    /// Pops the newest job from this worker's own deque for the running task's lane; inside an
    /// isolated region, only a job of the region.
    pub(crate) fn pop_local(&self) -> Option<JobRef> {
        let lane = self.lane.get();
        if self.isolated.get() && !self.region_holds(lane) {
            return None;
        }
        self.pop_own(lane)
    }

    /// Runs one queued job, if there is one (see `stealpool::yield_now`): the next job the
    /// usual pick finds (`local` false), or the newest job of this worker's own deques,
    /// highest lane first (`local` true). Inside an isolated region, only a job of the
    /// region. True if a job ran.
    pub(crate) fn yield_once(&self, local: bool) -> bool {
        let found = if self.isolated.get() {
            self.pop_region()
        } else if local {
            [HIGH, NORMAL, LOW]
                .into_iter()
                .find_map(|lane| Some((self.pop_own(lane)?, lane)))
        } else {
            self.find_work()
        };
        match found {
            Some((job, lane)) => {
                self.execute(job, lane);
                true
            }
            None => false,
        }
    }

    /// Is there work this worker could take: queued anywhere, or a broadcast of its own?
    fn has_work_for_me(&self) -> bool {
        self.registry.has_work() || self.registry.has_broadcast(self.index)
    }

    /// Is work queued in a lane above `lane`, as far as this worker can tell cheaply?
    pub(crate) fn higher_lane_waits(&self, lane: usize) -> bool {
        picker::higher_lane_waits(self, lane)
    }

    /// The next job to run and its lane, or `None` when none is visible.
    fn find_work(&self) -> Option<(JobRef, usize)> {
        let found = self.picker.pick(self);
        if let Some((_, lane)) = &found {
            self.registry.note_taken(*lane);
        }
        found
    }

    /// Steals the oldest job of `lane` from another worker's deque.
    fn steal(&self, lane: usize) -> Option<JobRef> {
        let stealers = &self.registry.stealers;
        // The temporary workers' slots only while one is alive: a leaving one moves what is
        // left in its deques to the injectors.
        let n = if self.registry.sleep.temps() == 0 {
            self.registry.num_threads()
        } else {
            stealers.len()
        };
        if n <= 1 {
            return None;
        }
        let start = self.next_random() as usize % n;
        loop {
            let mut retry = false;
            for offset in 0..n {
                let victim = (start + offset) % n;
                if victim == self.index {
                    continue;
                }
                match stealers[victim][lane].steal() {
                    Steal::Success(job) => {
                        self.counters.stole();
                        // Ask the victim to put its next frame where the one just taken
                        // was, so that the next thief (or this one, when it runs out)
                        // finds work at once instead of waiting for the victim's next join.
                        self.registry.request_share(victim);
                        return Some(job);
                    }
                    // It may be busy inside joins whose frames it has not shared yet.
                    Steal::Empty => self.registry.request_share(victim),
                    Steal::Retry => retry = true,
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Notes the CPU this worker runs on, and pulls it and another worker found there apart
    /// (see `affinity::Spread`): when it wakes and at each look for work.
    fn note_cpu(&self) {
        if let Some(spread) = &self.registry.spread {
            spread.note(self.index);
        }
    }

    /// Every sleep of this worker goes through here: it counts the park, and holds no CPU
    /// meanwhile as far as `affinity::Spread` is concerned (noted again on waking).
    fn asleep<R>(&self, sleep: impl FnOnce() -> R) -> R {
        self.counters.parked();
        if let Some(spread) = &self.registry.spread {
            spread.forget(self.index);
        }
        let woken = sleep();
        self.note_cpu();
        woken
    }

    /// xorshift64*: a few cycles, good enough to pick a victim.
    fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Runs a job taken from `lane`'s queues, as a task of that lane; a job queued inside an
    /// isolated region runs in a region of its own.
    pub(crate) fn execute(&self, job: JobRef, lane: usize) {
        let outer = self.lane.replace(lane);
        let tally = Tally::Slot(&self.counters, lane);
        if job.is_isolated() {
            // SAFETY: a job taken from a queue is executed exactly once, here.
            let _ = self.isolate(|| unsafe { job.execute(JobMode::Run, tally) });
        } else {
            // SAFETY: as above.
            let _ = unsafe { job.execute(JobMode::Run, tally) };
        }
        self.lane.set(outer);
    }

    /// Runs `op` in an isolated region (see [`crate::isolate`](fn@crate::isolate) for the
    /// behaviour). How:
    /// - On entry the worker shares its unshared join frames: they belong to joins outside
    ///   the region, which it will not run before the region ends, so thieves should see them.
    ///   Then it notes its `tops`: every job it pushes from now on lies above that mark on its
    ///   own deque, and is marked isolated ([`JobRef::mark_isolated`]).
    /// - While it waits inside the region ([`wait_until`](Self::wait_until)), it pops only
    ///   while a lane's top stands above the mark ([`pop_region`](Self::pop_region)): only it
    ///   pushes onto its deque, and thieves take the oldest jobs first, so the newest job is
    ///   then one of the region's. It looks at no injector and steals from nobody, and when
    ///   it runs out it parks outside the sleepers' list (`Sleep::park_alone`), woken only by
    ///   what it waits for: a submitter's wake-up must go to a worker that can take the work.
    /// - A marked job run by any worker (a thief, or this one later) runs in a region of its
    ///   own, so a thief waiting inside it does not pick up unrelated work either.
    pub(crate) fn isolate<R>(&self, op: impl FnOnce() -> R) -> R {
        self.share_all_frames();
        let start = std::array::from_fn(|lane| self.tops[lane].get());
        let _region = RegionGuard {
            worker: self,
            isolated: self.isolated.replace(true),
            start: self.region_start.replace(start),
        };
        op()
    }

    /// Is the worker inside an isolated region?
    pub(crate) fn is_isolated(&self) -> bool {
        self.isolated.get()
    }

    /// Does `lane`'s top of this worker's deque stand above the region's start (see
    /// [`isolate`](Self::isolate))?
    #[inline]
    fn region_holds(&self, lane: usize) -> bool {
        let above = self.tops[lane]
            .get()
            .wrapping_sub(self.region_start.get()[lane]);
        (above as isize) > 0
    }

    /// The newest job of the current region on this worker's own deque, highest lane first.
    fn pop_region(&self) -> Option<(JobRef, usize)> {
        for lane in [HIGH, NORMAL, LOW] {
            if !self.region_holds(lane) {
                continue;
            }
            match self.pop_own(lane) {
                Some(job) => return Some((job, lane)),
                None => {
                    // Thieves took the rest of the region's jobs in this lane.
                    let mut start = self.region_start.get();
                    start[lane] = self.tops[lane].get();
                    self.region_start.set(start);
                }
            }
        }
        None
    }

    /// A marked job from an injector, once the pool is closed: `shutdown_now` moves a
    /// scope's queued jobs there, and the scope's owner may be waiting in a region (on a
    /// one-thread pool nobody else would run them). Unmarked jobs go back to the injector.
    fn take_requeued(&self) -> Option<(JobRef, usize)> {
        if !self.registry.sleep.is_closed() {
            return None;
        }
        for lane in [HIGH, NORMAL, LOW] {
            let injector = &self.registry.injectors[lane];
            if let Some(job) = steal_retrying(|| injector.steal()) {
                if job.is_isolated() {
                    self.registry.note_taken(lane);
                    return Some((job, lane));
                }
                injector.push(job);
            }
        }
        None
    }

    /// [`wait_until`](Self::wait_until) inside an isolated region (see
    /// [`isolate`](Self::isolate)).
    fn wait_isolated<A: Awaited>(&self, awaited: &mut A) -> A::Output {
        self.share_all_frames();
        loop {
            while !awaited.is_done() {
                let Some((job, lane)) = self.pop_region().or_else(|| self.take_requeued()) else {
                    break;
                };
                self.execute(job, lane);
            }
            // What is awaited runs on another worker (nothing of the region is left here, and
            // nothing new can come: only this worker pushes onto its deque). It may be about
            // to finish: look briefly before parking.
            let mut pacer = Pacer::new();
            while !awaited.is_done() && pacer.pause_unless(|| awaited.is_done()) {}
            if let Poll::Ready(output) = awaited.poll_done(&self.waker) {
                return output;
            }
            let counters = self.registry.counters();
            counters.idle(&self.counters);
            // A closed pool may requeue a scope's jobs into the injectors (`take_requeued`),
            // which wakes nobody: look again now and then.
            let closed = self.registry.sleep.is_closed();
            let timeout = closed.then_some(Duration::from_millis(1));
            self.asleep(|| {
                self.registry
                    .sleep
                    .park_alone(self.index, &|| awaited.is_done(), timeout)
            });
            counters.busy(&self.counters);
        }
    }

    /// A timed task starts here: records its wait, and returns the guard that records its
    /// run time (see `crate::metrics`).
    #[inline]
    pub(crate) fn start_timed(&self, spawned: Spawned) -> Option<Running<'_>> {
        let clock = self.registry.counters().clock()?;
        Some(self.counters.start_timed(clock, self.lane(), spawned))
    }

    fn stop_searching(&self) {
        self.registry
            .sleep
            .stop_searching(|| self.registry.has_work());
    }

    /// Looks for work for up to [`SEARCH_TIME`], pausing between looks (see [`Pacer`]).
    fn search(&self) -> Option<(JobRef, usize)> {
        let mut pacer = Pacer::new();
        // A thread outside the pool that waits for its job (an `install`) cuts the pauses
        // short, and the searcher yields its CPU between looks instead: that caller is
        // runnable (spinning, or just woken because its job is done) and on a pool as wide
        // as the machine the searcher's CPU is the one it needs; nothing else runnable, the
        // yield returns at once. Such callers are few, so this costs the spawn path nothing.
        // Measured: `Registry::outside_spin`.
        while pacer.pause_unless(|| self.registry.outside_waiting()) {
            self.note_cpu();
            if let Some(job) = self.find_work() {
                return Some(job);
            }
            if self.registry.outside_waiting() {
                crate::loom::thread::yield_now();
            }
        }
        None
    }

    /// The main loop: run work while there is any, sleep when there is none, leave when the
    /// pool is closed and quiescent, or retire after user code panicked here.
    fn main_loop(&self) -> LoopEnd {
        // `self.searching` rather than a local, so that `run` can set the count right if the
        // loop ever unwinds.
        let searching = &self.searching;
        loop {
            let job = match self.find_work() {
                Some(job) => Some(job),
                None => {
                    if !searching.get() {
                        self.registry.sleep.start_searching();
                        searching.set(true);
                        self.registry.counters().idle(&self.counters);
                    }
                    self.search()
                }
            };
            match job {
                Some((job, lane)) => {
                    if searching.get() {
                        self.stop_searching();
                        searching.set(false);
                        self.registry.counters().busy(&self.counters);
                    }
                    if self.run_top_level(job, lane) {
                        return LoopEnd::Retire;
                    }
                }
                None => {
                    let probe = || self.has_work_for_me();
                    let config = self.registry.config();
                    // An elastic pool's worker may leave after `keep_alive` asleep.
                    let deadline = config.elastic().then(|| Instant::now() + config.keep_alive);
                    let woken = self.asleep(|| {
                        self.registry.sleep.sleep_until(
                            self.index,
                            SleepKind::Idle,
                            true,
                            &probe,
                            deadline,
                        )
                    });
                    match woken {
                        Wakeup::Resumed => searching.set(true),
                        Wakeup::Terminate => return LoopEnd::Terminate,
                        Wakeup::Expired => {
                            searching.set(false);
                            if self.registry.sleep.try_leave(config.min_threads) {
                                return LoopEnd::Leave;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Keeps this worker useful until `awaited` is done: runs other jobs (own deque first),
    /// and sleeps only when there is nothing to run, to be woken by `awaited` or new work.
    pub(crate) fn wait_until<A: Awaited>(&self, awaited: &mut A) -> A::Output {
        if awaited.is_done() {
            return match awaited.poll_done(&self.waker) {
                Poll::Ready(output) => output,
                Poll::Pending => unreachable!("is_done() was true"),
            };
        }
        if self.isolated.get() {
            return self.wait_isolated(awaited);
        }
        // The joins this worker is inside may have work nobody else can see yet: share it, so
        // that this worker runs it now (own deque first) or a thief takes it.
        self.share_all_frames();
        let mut searching = false;
        while !awaited.is_done() {
            // Own deque, injector, victims; then a brief paced search, since the awaited job
            // may be finishing on another worker right now.
            let job = self.find_work().or_else(|| self.search_until(&*awaited));
            if let Some((job, lane)) = job {
                if searching {
                    self.stop_searching();
                    searching = false;
                }
                self.execute(job, lane);
                continue;
            }
            if awaited.is_done() {
                break;
            }
            if let Poll::Ready(output) = awaited.poll_done(&self.waker) {
                if searching {
                    self.stop_searching();
                }
                return output;
            }
            let probe = || awaited.is_done() || self.has_work_for_me();
            // Asleep inside a task: idle time, unlike the search before it.
            let counters = self.registry.counters();
            counters.idle(&self.counters);
            self.asleep(|| {
                self.registry
                    .sleep
                    .sleep(self.index, SleepKind::Join, searching, &probe)
            });
            counters.busy(&self.counters);
            searching = true;
        }
        if searching {
            self.stop_searching();
        }
        match awaited.poll_done(&self.waker) {
            Poll::Ready(output) => output,
            Poll::Pending => unreachable!("is_done() was true"),
        }
    }

    /// Like [`search`](Self::search), but stops early (with `None`) once `awaited` is done.
    fn search_until<A: Awaited>(&self, awaited: &A) -> Option<(JobRef, usize)> {
        let mut pacer = Pacer::new();
        // The awaited job's state is read often (it is cheap and nobody writes it but the
        // completer, once); the queues only once per pause.
        while pacer.pause_unless(|| awaited.is_done()) {
            if awaited.is_done() {
                return None;
            }
            self.note_cpu();
            if let Some(job) = self.find_work() {
                return Some(job);
            }
        }
        None
    }

    /// Runs a top-level task, stamping it for the stall watcher if there is one. True if
    /// user code panicked on this thread and the pool retires such threads.
    fn run_top_level(&self, job: JobRef, lane: usize) -> bool {
        match self.registry.stall_watch() {
            None => self.execute(job, lane),
            Some(watch) => {
                watch.task_started(self.index);
                self.execute(job, lane);
                watch.task_ended(self.index);
            }
        }
        crate::unwind::take_panicked()
            && self.registry.config().replace_on_panic
            && self.registry.may_replace_after_panic()
    }

    /// A temporary worker's loop (stall compensation, `block_in_place`'s spares): run work
    /// while there is some and while it is still wanted. Out of work, it leaves, unless a
    /// worker is inside `block_in_place`: then it sleeps like a worker in its main loop (a
    /// submitter's wake-up may reach it), and `block_in_place` wakes it when it ends. Returns
    /// whether it is still active (counted towards the number wanted).
    fn temp_loop(&self) -> bool {
        let registry = &self.registry;
        let sleep = &registry.sleep;
        // As in the main loop, so that `run` can set the count right if the loop unwinds.
        // Only a wake-up counts a temporary worker as searching: its paced search does not,
        // so submitters wake sleeping workers as if it were not there.
        let searching = &self.searching;
        let leave = |active: bool| {
            if searching.get() {
                self.stop_searching();
                searching.set(false);
            }
            active
        };
        loop {
            if sleep.retire_temp_above(registry.temps_wanted()) {
                return leave(false);
            }
            if let Some((job, lane)) = self.find_work().or_else(|| self.search()) {
                leave(true);
                if self.run_top_level(job, lane) {
                    return true;
                }
                continue;
            }
            if registry.blocking_spares() == 0 {
                return leave(true);
            }
            // Still wanted after `block_in_place` ends (read after registering) wakes it.
            let probe = || registry.has_work() || sleep.active_temps() > registry.temps_wanted();
            match self.asleep(|| sleep.sleep(self.index, SleepKind::Idle, searching.get(), &probe))
            {
                Wakeup::Resumed => searching.set(true),
                // Only with a deadline, which this sleep has not.
                Wakeup::Expired => searching.set(false),
                Wakeup::Terminate => return leave(true),
            }
        }
    }

    /// Runs `op`, which is about to block, while a spare worker keeps the pool at its width
    /// (see [`crate::block_in_place`](fn@crate::block_in_place) for the behaviour). Before
    /// `op`, the worker shares its pending join frames, so that the spare (or anyone) can
    /// take what it would otherwise have run; the count of blocking workers goes up and a
    /// spare is started if fewer are alive than wanted. After, the count goes down and the
    /// sleeping spares are woken to see that they are no longer wanted.
    pub(crate) fn block_in_place<R>(&self, op: impl FnOnce() -> R) -> R {
        if self.blocking.get() || self.registry.config().max_blocking == 0 {
            return op();
        }
        self.share_all_frames();
        self.blocking.set(true);
        self.registry.blocking_started();
        let _end = BlockingGuard(self);
        op()
    }
}

/// The queues as the [`Picker`] sees them.
impl LaneQueues for WorkerThread {
    type Job = JobRef;

    #[inline]
    fn may_hold(&self, lane: usize) -> bool {
        self.registry.lane_hint(lane)
    }

    fn normal_nearby(&self) -> bool {
        !self.deques[NORMAL].is_empty() || !self.registry.injectors[NORMAL].is_empty()
    }

    #[inline]
    fn take(&self, lane: usize) -> Option<JobRef> {
        if let Some(job) = self.deques[lane].pop() {
            self.tops[lane].set(self.tops[lane].get().wrapping_sub(1));
            return Some(job);
        }
        if lane == NORMAL {
            // Broadcasts run after the worker's own work, before anybody else's.
            if let Some(job) = self.registry.take_broadcast(self.index) {
                return Some(job);
            }
        }
        let injector = &self.registry.injectors[lane];
        steal_retrying(|| {
            if lane == NORMAL {
                injector.steal_batch_and_pop(&self.deques[lane])
            } else {
                injector.steal()
            }
        })
        .or_else(|| self.steal(lane))
    }

    fn take_oldest(&self, lane: usize, injector_first: bool) -> Option<JobRef> {
        let from_injector = || steal_retrying(|| self.registry.injectors[lane].steal());
        let from_own = || steal_retrying(|| self.registry.stealers[self.index][lane].steal());
        let found = if injector_first {
            from_injector().or_else(from_own)
        } else {
            from_own().or_else(from_injector)
        };
        found.or_else(|| self.steal(lane))
    }
}

/// Paces a searching worker's looks at the queues.
///
/// Every look at the injector reads its tail, which pulls that cache line away from the
/// thread pushing into it; a worker that looks in a tight loop makes each push of a slower
/// producer miss the cache (measured: about 25% of the spawn cost on 2 cores). So the pauses
/// start at [`FIRST_POLL_PAUSE`] and double up to [`MAX_POLL_PAUSE`]: an item pushed
/// meanwhile waits at most one pause, and a producer finds its line still in its cache for a
/// few pushes at a time. After [`SEARCH_TIME`] in all the worker gives up and sleeps. Pauses are timed, not counted, because a
/// `spin_loop` hint costs anything from a few to ~40 ns depending on the CPU.
struct Pacer {
    start: Instant,
    pause: Duration,
}

impl Pacer {
    fn new() -> Self {
        Pacer {
            start: Instant::now(),
            pause: FIRST_POLL_PAUSE,
        }
    }

    /// Waits out the next pause, cut short as soon as `stop` returns true; false once the
    /// search time is used up.
    fn pause_unless(&mut self, stop: impl Fn() -> bool) -> bool {
        let resume = Instant::now() + self.pause;
        if resume.duration_since(self.start) > SEARCH_TIME {
            return false;
        }
        while Instant::now() < resume && !stop() {
            for _ in 0..8 {
                std::hint::spin_loop();
            }
        }
        self.pause = (self.pause * 2).min(MAX_POLL_PAUSE);
        true
    }
}

/// Ends a `block_in_place`, also when `op` unwinds.
struct BlockingGuard<'a>(&'a WorkerThread);

impl Drop for BlockingGuard<'_> {
    fn drop(&mut self) {
        self.0.blocking.set(false);
        self.0.registry.blocking_ended();
    }
}

/// Restores the enclosing region (or none) when an isolated region ends, also by unwinding.
struct RegionGuard<'a> {
    worker: &'a WorkerThread,
    isolated: bool,
    start: [usize; LANES],
}

impl Drop for RegionGuard<'_> {
    fn drop(&mut self) {
        // The jobs the region left on the deque (detached spawns) stay above the enclosing
        // region's start, where they belong: they were queued inside it too.
        self.worker.isolated.set(self.isolated);
        self.worker.region_start.set(self.start);
    }
}

/// Why a worker's main loop returned.
enum LoopEnd {
    /// The pool is closed and quiescent.
    Terminate,
    /// User code panicked on this thread; a fresh thread takes over.
    Retire,
    /// An elastic pool's worker was idle for `keep_alive`, with more than `min_threads`
    /// running: the thread leaves and the slot becomes empty.
    Leave,
}

/// How a worker thread's body ended, for `crate::threads` to act on.
pub(crate) enum Exit {
    /// The pool ended: the thread leaves.
    Terminate,
    /// The thread retired after a panic, or something unwound out of its loop: a fresh
    /// thread takes over the slot and these deques, with every job still in them.
    Replace([Worker<JobRef>; LANES]),
    /// The worker left an elastic pool, idle: the slot becomes empty, keeping these deques
    /// for the next thread started for it.
    Leave([Worker<JobRef>; LANES]),
}

/// Runs `steal` until it gives a definite answer (crossbeam's `Retry` means a race with
/// another thread, not emptiness).
fn steal_retrying(steal: impl Fn() -> Steal<JobRef>) -> Option<JobRef> {
    loop {
        match steal() {
            Steal::Success(job) => return Some(job),
            Steal::Empty => return None,
            Steal::Retry => {}
        }
    }
}

/// A timed task starts on this thread: records its wait if the thread is a worker, and returns
/// the guard that records its run time (see `crate::metrics`). The wrappers that `spawn` and
/// `Scope::spawn` put around a sampled task call it first.
#[inline]
pub(crate) fn start_timed(spawned: Spawned) -> Option<Running<'static>> {
    WorkerThread::current().and_then(|worker| worker.start_timed(spawned))
}

/// The lane of the task running on this thread: what it spawns, joins or scopes goes there.
/// `Normal` outside the pools.
pub(crate) fn current_lane() -> usize {
    WorkerThread::current().map_or(NORMAL, WorkerThread::lane)
}

/// Runs `body` as `worker` on this thread (`WorkerThread::current` finds it meanwhile), with
/// the thread hooks around it, and gives the worker back with what `body` returned, or with
/// what unwound out of it.
fn run_as<R>(
    worker: WorkerThread,
    body: impl FnOnce(&WorkerThread) -> R,
) -> (std::thread::Result<R>, WorkerThread) {
    let registry = worker.registry.clone();
    let index = worker.index;
    let config = registry.config();
    if let Some(cpus) = &config.pin_cpus {
        // Best effort (see `PoolBuilder::pin_threads`): refused, the thread runs unpinned.
        let _ = crate::affinity::pin_current(cpus[index % cpus.len()]);
    }
    registry.counters().thread_started(&worker.counters);
    if let Some(spread) = &registry.spread {
        spread.started(index);
    }
    CURRENT.with(|c| c.set(&worker));
    registry.run_hook("on_thread_start", &config.on_thread_start, index);
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(&worker)));
    registry.run_hook("on_thread_stop", &config.on_thread_stop, index);
    if let Some(spread) = &registry.spread {
        spread.ended(index);
    }
    CURRENT.with(|c| c.set(ptr::null()));
    registry.counters().idle(&worker.counters);
    (outcome, worker)
}

/// The body of a temporary worker's thread (see `PoolBuilder::compensate_stalls`) in slot
/// `index`, with that slot's deques. Gives the deques back, with whether the worker was
/// still active (counted towards the number wanted) when it left.
pub(crate) fn run_temp(
    registry: Arc<Registry>,
    index: usize,
    deques: [Worker<JobRef>; LANES],
) -> ([Worker<JobRef>; LANES], bool) {
    let (outcome, worker) = run_as(
        WorkerThread::new(registry, index, deques),
        WorkerThread::temp_loop,
    );
    let active = outcome.unwrap_or_else(|payload| {
        // Something unwound out of the loop (not a task's panic: those are caught).
        crate::unwind::drop_quietly(payload);
        true
    });
    (worker.deques, active)
}

/// The body of worker thread `index`, which serves the slot until the pool ends or the
/// thread must be replaced.
pub(crate) fn run(
    registry: Arc<Registry>,
    index: usize,
    deques: [Worker<JobRef>; LANES],
    searching: bool,
) -> Exit {
    // Tasks catch their own panics, and hooks are caught where they run, so nothing should
    // unwind out of the loop; if something does (a bug), the worker is replaced rather than
    // lost: a new thread takes over its slot and its deques, with every job still in them.
    let worker = WorkerThread::new(registry, index, deques);
    // A worker started for work that waits is counted as searching already.
    worker.searching.set(searching);
    let (outcome, worker) = run_as(worker, WorkerThread::main_loop);
    match outcome {
        Ok(LoopEnd::Terminate) => Exit::Terminate,
        // Between tasks, not searching: the slot and the deques pass to a fresh thread.
        Ok(LoopEnd::Retire) => Exit::Replace(worker.deques),
        Ok(LoopEnd::Leave) => Exit::Leave(worker.deques),
        Err(payload) => {
            crate::unwind::drop_quietly(payload);
            if worker.searching.get() {
                // It died counted as searching; without this, submitters would keep relying
                // on a searcher that is gone and wake nobody.
                let registry = &worker.registry;
                registry.sleep.stop_searching(|| registry.has_work());
            }
            Exit::Replace(worker.deques)
        }
    }
}
