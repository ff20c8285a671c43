//! A worker thread: its deques, its main loop, and how it looks for work.
//!
//! A worker has one deque per priority lane (see [`crate::lane`]). At every task boundary it
//! takes the highest lane that has work anywhere it can reach ([`WorkerThread::find_work`]):
//! High (looked at only when the pool's count of queued High jobs is not zero), then Normal,
//! then Low (looked at only when its count is not zero). Within a lane the order is:
//! 1. its own deque, newest first (LIFO: what it just spawned is hot in its cache);
//! 2. the lane's global injector, taking a batch into its own deque (one synchronisation for
//!    many tasks submitted from outside);
//! 3. the other workers' deques, oldest first (FIFO end), starting at a random victim so that
//!    thieves spread out instead of all hitting worker 0.
//!
//! After `fairness_interval - 1` picks in a row that passed over queued lower-lane work, the
//! next pick is a *fairness pick*: it takes the oldest task of a lower lane, alternating
//! between Low and Normal, so that a busy higher lane cannot starve them (see
//! `WorkerThread::fair_pick`).
//!
//! When nothing is found the worker counts itself as *searching* and looks again
//! for up to `SEARCH_TIME` (100 µs), with timed pauses between looks that start at 4 µs and
//! double up to 16 µs (see `Pacer` for why looking in a tight loop slows the producers), and
//! then goes to sleep through [`crate::sleep`].

use std::cell::{Cell, UnsafeCell};
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc as StdArc;
use std::task::{Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crossbeam_deque::{Steal, Worker};

use crate::job::{JobMode, JobRef};
use crate::lane::{HIGH, LANES, LOW, NORMAL};
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::Ordering;
use crate::metrics::{SlotCounters, Tally};
use crate::registry::{Registry, ShareRequest};
use crate::sleep::{SleepKind, Wakeup};

/// A join records no frame while the worker holds this many unshared frames (and nobody has
/// asked it to share): a request takes the oldest frame, so deeper ones would only be shared
/// after these, by which time most of them are gone.
const SPARE_FRAMES: usize = 4;

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
    /// Picks left before the next fairness pick.
    until_fair: Cell<u32>,
    /// Which lower lane the next fairness pick tries first: Low when true, Normal when false.
    fair_low_first: Cell<bool>,
    /// Where the next fairness pick looks first in its lane: the injector when true, the old
    /// end of this worker's own deque when false.
    fair_injector_first: Cell<bool>,
    rng: Cell<u64>,
    /// Wakes this worker out of a join-wait sleep.
    waker: Waker,
    /// The `b` sides of the joins this worker is inside, oldest first (see `crate::join`),
    /// with the lane each join ran in. Only this thread touches it.
    frames: UnsafeCell<Vec<(JobRef, usize)>>,
    /// `frames[..shared]` have been pushed onto the deque, where thieves can take them.
    shared: Cell<usize>,
    /// Set by a worker that found this one's deque empty: share a frame at the next join.
    share_request: Arc<ShareRequest>,
    /// The main loop counts this worker as searching (see `crate::sleep`).
    searching: Cell<bool>,
    /// This slot's counters (see `crate::metrics`); only this thread writes them.
    counters: Arc<crossbeam_utils::CachePadded<SlotCounters>>,
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
    /// The worker running on this thread, if it is one. The reference is valid only on this
    /// thread and while its main loop runs, which covers every caller: they are all called,
    /// directly or through tasks, from inside that loop.
    #[inline]
    pub(crate) fn current<'a>() -> Option<&'a WorkerThread> {
        let ptr = CURRENT.with(Cell::get);
        // SAFETY: `run` sets the pointer to a `WorkerThread` on its own stack and clears it
        // before that frame ends; nothing outlives the loop on this thread.
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

    /// Pushes a job onto this worker's deque for the lane of the running task, and lets a
    /// sleeper know.
    pub(crate) fn push(&self, job: JobRef) {
        self.push_lane(job, self.lane.get());
    }

    /// Pushes a job onto this worker's deque for `lane`, and lets a sleeper know.
    pub(crate) fn push_lane(&self, job: JobRef, lane: usize) {
        // Counted before the push, so a count of zero means the lane is really empty.
        self.registry.queued(lane);
        self.deques[lane].push(job);
        self.registry.sleep.notify_work();
    }

    /// Pops the newest job from this worker's own deque for the running task's lane.
    pub(crate) fn pop_local(&self) -> Option<JobRef> {
        let lane = self.lane.get();
        let job = self.deques[lane].pop();
        if job.is_some() {
            self.registry.taken(lane);
        }
        job
    }

    /// True when this worker already holds [`SPARE_FRAMES`] unshared frames and nobody has
    /// asked it to share: then a new join need not record a frame at all (see `crate::join`).
    #[inline]
    pub(crate) fn has_spare_frames(&self) -> bool {
        // SAFETY: as in `push_frame`.
        let len = unsafe { (*self.frames.get()).len() };
        len >= self.shared.get() + SPARE_FRAMES && !self.share_request.load(Ordering::Relaxed)
    }

    /// Records the `b` side of a join this worker has entered. If another worker asked for
    /// work since the last join, the oldest frame not yet shared is shared now.
    #[inline]
    pub(crate) fn push_frame(&self, job: JobRef) {
        // SAFETY: only this thread touches `frames`, and no reference to it outlives this
        // call (nothing here calls back into user code).
        let frames = unsafe { &mut *self.frames.get() };
        frames.push((job, self.lane.get()));
        // Relaxed: a request seen late only delays sharing; the wake-up that follows a share
        // is ordered by `notify_work`'s fence.
        if self.share_request.load(Ordering::Relaxed) {
            self.share_oldest_frame();
        }
    }

    /// Forgets the newest frame (its join is finishing). True if it was never shared, so the
    /// joining thread still owns it alone; false if it was pushed onto the deque.
    #[inline]
    pub(crate) fn pop_frame(&self) -> bool {
        // SAFETY: as in `push_frame`.
        let frames = unsafe { &mut *self.frames.get() };
        frames.pop();
        let len = frames.len();
        if self.shared.get() > len {
            self.shared.set(len);
            false
        } else {
            true
        }
    }

    /// Answers a request for work: makes the oldest unshared frame stealable.
    #[cold]
    fn share_oldest_frame(&self) {
        self.share_request.store(false, Ordering::Relaxed);
        // SAFETY: as in `push_frame`.
        let frames = unsafe { &*self.frames.get() };
        let shared = self.shared.get();
        if let Some(&(job, lane)) = frames.get(shared) {
            self.shared.set(shared + 1);
            self.push_lane(job, lane);
        }
    }

    /// Makes every unshared frame stealable, oldest first. Called before a worker waits, so
    /// that the work it cannot get to meanwhile is not stuck behind it.
    fn share_all_frames(&self) {
        // SAFETY: as in `push_frame`.
        let frames = unsafe { &*self.frames.get() };
        let shared = self.shared.get();
        if shared < frames.len() {
            for &(job, lane) in &frames[shared..] {
                self.registry.queued(lane);
                self.deques[lane].push(job);
            }
            self.shared.set(frames.len());
            self.registry.sleep.notify_work();
        }
    }

    /// The next job to run and its lane, in the documented order, or `None` when none is
    /// visible.
    fn find_work(&self) -> Option<(JobRef, usize)> {
        let found = self.find_any();
        if let Some((_, lane)) = found {
            self.registry.taken(lane);
        }
        found
    }

    fn find_any(&self) -> Option<(JobRef, usize)> {
        if self.until_fair.get() == 0 {
            if let Some(found) = self.fair_pick() {
                self.until_fair.set(self.registry.fairness_interval - 1);
                return Some(found);
            }
            // Nothing below to be fair to: the next pick tries again.
        }
        let found = self.find_by_priority();
        if let Some((_, lane)) = found {
            // Only a pick that passes over queued lower-lane work brings the next fairness
            // pick closer. A worker running the lowest lane that has work owes nobody, so
            // urgent work arriving there is never put behind a fairness pick.
            if self.lower_lane_waits(lane) {
                self.until_fair.set(self.until_fair.get().saturating_sub(1));
            } else {
                self.until_fair.set(self.registry.fairness_interval - 1);
            }
        }
        found
    }

    /// Is Normal work queued in this worker's own deque or the injector? (Normal is not
    /// counted; these two are cheap to look at and enough for the lane rules.)
    fn normal_work_nearby(&self) -> bool {
        !self.deques[NORMAL].is_empty() || !self.registry.injectors[NORMAL].is_empty()
    }

    /// Is work queued in a lane above `lane`? High is counted; Normal (above Low) is judged
    /// from this worker's own deque and the injector.
    pub(crate) fn higher_lane_waits(&self, lane: usize) -> bool {
        match lane {
            HIGH => false,
            NORMAL => self.registry.lane_hint(HIGH),
            _ => self.registry.lane_hint(HIGH) || self.normal_work_nearby(),
        }
    }

    /// Is work queued in a lane below `lane`? Low is counted; for Normal (below High) the
    /// worker looks at its own deque and the injector, which is cheap and enough: a worker
    /// that passes over Normal work elsewhere still takes its share when that work reaches
    /// it or the injector.
    fn lower_lane_waits(&self, lane: usize) -> bool {
        match lane {
            HIGH => self.registry.lane_hint(LOW) || self.normal_work_nearby(),
            NORMAL => self.registry.lane_hint(LOW),
            _ => false,
        }
    }

    /// The usual pick: the highest lane with work.
    fn find_by_priority(&self) -> Option<(JobRef, usize)> {
        for lane in [HIGH, NORMAL, LOW] {
            if self.registry.lane_hint(lane) {
                if let Some(job) = self.find_in_lane(lane) {
                    return Some((job, lane));
                }
            }
        }
        None
    }

    /// A fairness pick: the oldest task of a lower lane, Low and Normal taking turns to be
    /// tried first. Normal is tried only when High work is queued (otherwise the usual order
    /// takes Normal anyway), Low only when Low work is queued; so in a pool that uses one lane
    /// a fairness pick costs two loads.
    fn fair_pick(&self) -> Option<(JobRef, usize)> {
        let low_first = self.fair_low_first.get();
        let order = if low_first {
            [LOW, NORMAL]
        } else {
            [NORMAL, LOW]
        };
        for lane in order {
            let worth_it = match lane {
                LOW => self.registry.lane_hint(LOW),
                _ => self.registry.lane_hint(HIGH),
            };
            if worth_it {
                if let Some(job) = self.oldest_in_lane(lane) {
                    // Turn by turn, counted only when a pick was made.
                    self.fair_low_first.set(!low_first);
                    return Some((job, lane));
                }
            }
        }
        None
    }

    /// The oldest task of `lane` this worker can see. Outside submissions wait in the
    /// injector, in order; tasks spawned on this worker wait at the old end of its own deque.
    /// Which of the two holds the older task is not known, so fairness picks take them in
    /// turn: neither can be passed over for more than one fairness pick of its lane. Then the
    /// other workers' deques, old end first.
    fn oldest_in_lane(&self, lane: usize) -> Option<JobRef> {
        let injector_first = self.fair_injector_first.get();
        self.fair_injector_first.set(!injector_first);
        let from_injector = || steal_retrying(|| self.registry.injectors[lane].steal());
        let from_own = || steal_retrying(|| self.registry.stealers[self.index][lane].steal());
        let found = if injector_first {
            from_injector().or_else(from_own)
        } else {
            from_own().or_else(from_injector)
        };
        found.or_else(|| self.steal(lane))
    }

    /// The usual look at one lane: own deque, injector, other workers. Only the Normal lane
    /// takes a batch from its injector: in the High and Low lanes, outside submissions stay
    /// in the injector, in order, until they are taken one by one, so a fairness pick there
    /// finds the oldest at the front.
    fn find_in_lane(&self, lane: usize) -> Option<JobRef> {
        if let Some(job) = self.deques[lane].pop() {
            return Some(job);
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

    fn steal(&self, lane: usize) -> Option<JobRef> {
        let stealers = &self.registry.stealers;
        let n = stealers.len();
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

    /// xorshift64*: a few cycles, good enough to pick a victim.
    fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Runs a job taken from `lane`'s queues, as a task of that lane.
    pub(crate) fn execute(&self, job: JobRef, lane: usize) {
        let outer = self.lane.replace(lane);
        // SAFETY: a job taken from a queue is executed exactly once, here.
        let _ = unsafe { job.execute(JobMode::Run, Tally::Slot(&self.counters, lane)) };
        self.lane.set(outer);
    }

    fn stop_searching(&self) {
        self.registry
            .sleep
            .stop_searching(|| self.registry.has_work());
    }

    /// Looks for work for up to [`SEARCH_TIME`], pausing between looks (see [`Pacer`]).
    fn search(&self) -> Option<(JobRef, usize)> {
        let mut pacer = Pacer::new();
        while pacer.pause() {
            if let Some(job) = self.find_work() {
                return Some(job);
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
                    let probe = || self.registry.has_work();
                    self.counters.parked();
                    match self
                        .registry
                        .sleep
                        .sleep(self.index, SleepKind::Idle, true, &probe)
                    {
                        Wakeup::Resumed => searching.set(true),
                        Wakeup::Terminate => return LoopEnd::Terminate,
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
            let probe = || awaited.is_done() || self.registry.has_work();
            // Asleep inside a task: idle time, unlike the search before it.
            let counters = self.registry.counters();
            counters.idle(&self.counters);
            self.counters.parked();
            self.registry
                .sleep
                .sleep(self.index, SleepKind::Join, searching, &probe);
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
            if let Some(job) = self.find_work() {
                return Some(job);
            }
        }
        None
    }
}

/// Paces a searching worker's looks at the queues.
///
/// Every look at the injector reads its tail, which pulls that cache line away from the
/// thread pushing into it; a worker that looks in a tight loop makes each push of a slower
/// producer miss the cache. So the pauses start at [`FIRST_POLL_PAUSE`] and double up to
/// [`MAX_POLL_PAUSE`]: an item pushed meanwhile waits at most one pause, and a producer
/// finds its line still in its cache for a few pushes at a time. After [`SEARCH_TIME`] in
/// all the worker gives up and sleeps. Pauses are timed, not counted, because a
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

    /// Waits out the next pause; false once the search time is used up.
    fn pause(&mut self) -> bool {
        self.pause_unless(|| false)
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

/// Why a worker's main loop returned.
enum LoopEnd {
    /// The pool is closed and quiescent.
    Terminate,
    /// User code panicked on this thread; a fresh thread takes over.
    Retire,
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

/// The lane of the task running on this thread: what it spawns, joins or scopes goes there.
/// `Normal` outside the pools.
pub(crate) fn current_lane() -> usize {
    WorkerThread::current().map_or(NORMAL, WorkerThread::lane)
}

impl WorkerThread {
    fn new(registry: Arc<Registry>, index: usize, deques: [Worker<JobRef>; LANES]) -> Self {
        let waker = Waker::from(StdArc::new(WorkerWaker {
            registry: registry.clone(),
            index,
        }));
        let share_request = registry.share_request(index);
        let counters = registry.counters().slot(index);
        WorkerThread {
            index,
            deques,
            lane: Cell::new(NORMAL),
            until_fair: Cell::new(registry.fairness_interval - 1),
            fair_low_first: Cell::new(true),
            fair_injector_first: Cell::new(true),
            registry,
            // Any odd, thread-distinct seed will do.
            rng: Cell::new(0x9e37_79b9_7f4a_7c15 ^ ((index as u64 + 1) << 1 | 1)),
            waker,
            frames: UnsafeCell::new(Vec::with_capacity(64)),
            share_request,
            counters,
            shared: Cell::new(0),
            searching: Cell::new(false),
        }
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
        crate::unwind::take_panicked() && self.registry.replaces_on_panic()
    }

    /// A temporary worker's loop (stall compensation): run work while there is some and
    /// while it is still wanted; never sleep. Returns whether it is still active (counted
    /// towards the number wanted).
    fn temp_loop(&self) -> bool {
        let sleep = &self.registry.sleep;
        loop {
            let wanted = self.registry.stall_watch().map_or(0, |w| w.temps_wanted());
            if sleep.retire_temp_above(wanted) {
                return false;
            }
            // Not counted as searching: submitters keep waking sleeping workers as if this
            // thread were not there.
            let Some((job, lane)) = self.find_work().or_else(|| self.search()) else {
                return true;
            };
            if self.run_top_level(job, lane) {
                return true;
            }
        }
    }
}

/// Runs `body` as `worker` on this thread (`WorkerThread::current` finds it meanwhile) and
/// gives the worker back with what `body` returned, or with what unwound out of it.
fn run_as<R>(
    worker: WorkerThread,
    body: impl FnOnce(&WorkerThread) -> R,
) -> (std::thread::Result<R>, WorkerThread) {
    let registry = worker.registry.clone();
    let index = worker.index;
    registry.counters().thread_started(&worker.counters);
    CURRENT.with(|c| c.set(&worker));
    registry.run_hook(
        "on_thread_start",
        &registry.thread_config().on_thread_start,
        index,
    );
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| body(&worker)));
    registry.run_hook(
        "on_thread_stop",
        &registry.thread_config().on_thread_stop,
        index,
    );
    CURRENT.with(|c| c.set(ptr::null()));
    registry.counters().idle(&worker.counters);
    (outcome, worker)
}

/// The body of a temporary worker's thread (see `PoolBuilder::compensate_stalls`) in slot
/// `index`, with that slot's deques.
pub(crate) fn run_temp(registry: Arc<Registry>, index: usize, deques: [Worker<JobRef>; LANES]) {
    let (outcome, worker) = run_as(
        WorkerThread::new(registry, index, deques),
        WorkerThread::temp_loop,
    );
    let active = outcome.unwrap_or_else(|payload| {
        // Something unwound out of the loop (not a task's panic: those are caught).
        crate::unwind::drop_quietly(payload);
        true
    });
    let WorkerThread {
        registry, deques, ..
    } = worker;
    registry.temp_exited(index, deques, active);
}

/// The body of worker thread `index`.
pub(crate) fn run(registry: Arc<Registry>, index: usize, deques: [Worker<JobRef>; LANES]) {
    // Tasks catch their own panics, so nothing should unwind out of the loop; if something
    // does (a bug, or in future a user hook), the worker is replaced rather than lost: a new
    // thread takes over its slot and its deques, with every job still in them.
    let (outcome, worker) = run_as(
        WorkerThread::new(registry, index, deques),
        WorkerThread::main_loop,
    );
    let WorkerThread {
        registry,
        deques,
        searching,
        ..
    } = worker;
    match outcome {
        Ok(LoopEnd::Terminate) => registry.worker_exited(),
        // Between tasks, not searching: the slot and the deques pass to a fresh thread.
        Ok(LoopEnd::Retire) => Registry::replace_worker(&registry, index, deques),
        Err(payload) => {
            crate::unwind::drop_quietly(payload);
            if searching.get() {
                // It died counted as searching; without this, submitters would keep relying
                // on a searcher that is gone and wake nobody.
                registry.sleep.stop_searching(|| registry.has_work());
            }
            Registry::replace_worker(&registry, index, deques);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::ptr::NonNull;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use crate::PoolBuilder;
    use crate::job::{JobMode, JobRef};
    use crate::lane::NORMAL;

    /// Panics outside any task's `catch_unwind`: the worker loop itself unwinds, as it would
    /// if a bug (or a user hook) panicked there.
    unsafe fn explode(
        _: NonNull<()>,
        _: JobMode,
        _: crate::metrics::Tally<'_>,
    ) -> crate::job::Outcome {
        panic!("injected worker fault (expected by this test)");
    }

    /// Joins with a deadline, so that a lost job fails the test instead of hanging it.
    fn join_within<T: Send + 'static>(handle: crate::JoinHandle<T>) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(handle.join());
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("a task was lost: its handle did not resolve within 30 s")
            .expect("the task did not panic")
    }

    /// Waits (at most 30 s) until `registry` counts `n` replaced workers.
    fn wait_for_replacements(registry: &crate::registry::Registry, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while registry.workers_replaced() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(registry.workers_replaced(), n);
    }

    fn exploding_job() -> JobRef {
        // SAFETY: `explode` never reads the pointer, so a dangling one is fine.
        unsafe { JobRef::new(NonNull::dangling(), explode) }
    }

    #[test]
    fn a_worker_that_dies_is_replaced_and_keeps_its_queued_jobs() {
        let pool = PoolBuilder::new()
            .num_threads(1)
            .thread_name(|i| format!("replaced-{i}"))
            .build()
            .unwrap();
        let registry = pool.registry().clone();
        // Hold the only worker so that the fault and the tasks behind it queue up together
        // (the worker takes them as one batch into its own deque).
        let (release, gate) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel::<()>();
        let holder = pool.spawn(move || {
            started_tx.send(()).unwrap();
            gate.recv().unwrap();
        });
        started.recv().unwrap();
        let before: Vec<_> = (0..5u32).map(|i| pool.spawn(move || i)).collect();
        registry.inject(exploding_job(), NORMAL);
        let after: Vec<_> = (5..10u32).map(|i| pool.spawn(move || i)).collect();
        release.send(()).unwrap();
        join_within(holder);
        let results: Vec<u32> = before.into_iter().chain(after).map(join_within).collect();
        assert_eq!(results, (0..10).collect::<Vec<_>>());
        wait_for_replacements(&registry, 1);
        // The replacement is a full worker: it runs new work, on a thread of the same name.
        let name = join_within(pool.spawn(|| std::thread::current().name().map(str::to_owned)));
        assert_eq!(name.as_deref(), Some("replaced-0"));
        // And the pool still ends: the slot's live count and the sleep state are intact.
        pool.shutdown();
        assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
    }

    #[test]
    fn replaced_threads_do_not_pile_up() {
        let pool = PoolBuilder::new().num_threads(1).build().unwrap();
        let registry = pool.registry().clone();
        for round in 1..=40 {
            registry.inject(exploding_job(), NORMAL);
            wait_for_replacements(&registry, round);
            assert_eq!(join_within(pool.spawn(move || round)), round);
        }
        // Each replacement joins the threads that have ended before it; what remains is the
        // current worker and the few retired ones that may still be finishing (without the
        // pruning, all 41 would be kept).
        assert!(
            registry.thread_handles() <= 5,
            "{} thread handles kept after 40 replacements",
            registry.thread_handles()
        );
        pool.shutdown();
    }

    #[test]
    fn a_dying_worker_of_a_busy_pool_loses_nothing() {
        let pool = PoolBuilder::new().num_threads(2).build().unwrap();
        let registry = pool.registry().clone();
        let mut handles = Vec::new();
        for round in 0..3u64 {
            handles.extend((0..200u64).map(|i| pool.spawn(move || round * 1000 + i)));
            registry.inject(exploding_job(), NORMAL);
        }
        let sum: u64 = handles.into_iter().map(join_within).sum();
        let expected: u64 = (0..3u64)
            .map(|round| (0..200u64).map(|i| round * 1000 + i).sum::<u64>())
            .sum();
        assert_eq!(sum, expected);
        wait_for_replacements(&registry, 3);
        pool.shutdown();
    }
}
