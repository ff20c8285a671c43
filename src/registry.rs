//! The scheduler core one pool's workers share: the injectors, every worker's stealers, the
//! per-lane counts, the share-request flags, the sleep state, the counters and the settings.
//!
//! Features depend on the core, never the reverse: `spawn`, `join`, `scope`, the pool handle
//! and the thread lifecycle (`crate::threads`) call into the registry, and it imports none of
//! them. [`Registry::in_worker`] is how they get onto one of the pool's workers.
//!
//! A [`WorkerPool`](crate::WorkerPool) handle and every worker thread hold an `Arc<Registry>`.
//! Closing the pool (shutdown, or the last handle dropped) does not free it: the workers keep
//! it until they have drained the queues and left.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc as StdArc;

use crossbeam_deque::{Injector, Steal, Stealer};
use crossbeam_utils::CachePadded;

use crate::backpressure::Limit;
use crate::config::{HookFn, PanicReport, PoolConfig};
use crate::job::{JobMode, JobRef, StackJob, StackOutcome};
use crate::join::ShareRequest;
use crate::lane::{LANES, NORMAL};
use crate::latch::Spin;
use crate::loom::sync::atomic::{AtomicUsize, Ordering, fence};
use crate::loom::sync::{Arc, Mutex};
use crate::loom::thread;
use crate::metrics::{Metrics, PoolCounters, Tally};
use crate::restart::{RestartBudget, Verdict};
use crate::sleep::Sleep;
use crate::stall::StallWatch;
use crate::submit::{self, Injectors};
use crate::worker::{WorkerThread, current_lane};

pub(crate) struct Registry {
    /// Work submitted from outside the pool, one queue per lane (see `crate::lane`).
    pub(crate) injectors: [Injector<JobRef>; LANES],
    /// One entry per slot, indexed like the workers (then the temporary workers' slots, if
    /// stall compensation is on), each with one stealer per lane.
    pub(crate) stealers: Box<[[Stealer<JobRef>; LANES]]>,
    /// Per worker slot (not the temporary ones), the broadcasts it has still to run, oldest
    /// first (see `crate::broadcast`).
    broadcasts: Box<[Injector<JobRef>]>,
    /// Per slot and lane, the tasks of `spawn_fifo` waiting for their tickets (see
    /// `crate::spawn::spawn_fifo_in`).
    fifos: Box<[[Injector<JobRef>; LANES]]>,
    /// Jobs queued anywhere (counted before the push, uncounted after being taken), for the
    /// High and Low lanes only. The High count is read at every task boundary, so that a
    /// worker busy with Normal work looks for urgent work only when there is some; it is
    /// written only when High work is pushed or taken, so the read normally hits the cache.
    /// The Normal lane, the busy one, is not counted.
    lane_queued: [CachePadded<AtomicUsize>; LANES],
    pub(crate) sleep: Sleep,
    /// One flag per slot: "somebody found your deque empty; share a join frame at your next
    /// join" (see `crate::join`).
    share_requests: Box<[Arc<ShareRequest>]>,
    config: PoolConfig,
    /// The bound on waiting tasks, if the builder set one (see `crate::backpressure`).
    limit: Option<Arc<Limit>>,
    /// Stall detection, if the builder set a threshold.
    stall_watch: Option<StallWatch>,
    /// The bound on replacements after panics (see `crate::restart`).
    restarts: RestartBudget,
    /// What the pool counts about itself (see `crate::metrics`).
    counters: PoolCounters,
    /// Workers inside `block_in_place` right now.
    blocking: AtomicUsize,
    /// Threads outside the pool waiting in `in_worker` (an `install`, `join` or `scope` from
    /// outside), on its own cache line: searching workers look at it between their paced
    /// looks, and look again at once, yielding their CPU between looks, instead of finishing
    /// the pause (see `WorkerThread::search`).
    outside_waiting: CachePadded<AtomicUsize>,
    /// Where the workers were last seen running, to pull apart two that share a CPU
    /// (`None` where the pool is pinned or wider than the machine; see `affinity::Spread`).
    pub(crate) spread: Option<crate::affinity::Spread>,
    /// How a thread outside the pool spins on its job before it parks
    /// ([`outside_spin`](Self::outside_spin)).
    outside_spin: Spin,
    /// Starts temporary workers while fewer are alive than wanted (set by `crate::threads`,
    /// which owns the threads; the registry cannot name it).
    spare_starter: Mutex<Option<SpareStarter>>,
}

/// See [`Registry::set_spare_starter`].
pub(crate) type SpareStarter = StdArc<dyn Fn() + Send + Sync>;

impl Registry {
    /// The core of a pool with `config`, whose slots (the workers', then the temporary
    /// workers') have these `stealers`.
    pub(crate) fn new(stealers: Vec<[Stealer<JobRef>; LANES]>, config: PoolConfig) -> Self {
        let slots = stealers.len();
        debug_assert_eq!(slots, config.slots());
        Registry {
            injectors: [Injector::new(), Injector::new(), Injector::new()],
            stealers: stealers.into_boxed_slice(),
            broadcasts: (0..config.num_threads).map(|_| Injector::new()).collect(),
            fifos: (0..slots)
                .map(|_| [Injector::new(), Injector::new(), Injector::new()])
                .collect(),
            lane_queued: [
                CachePadded::new(AtomicUsize::new(0)),
                CachePadded::new(AtomicUsize::new(0)),
                CachePadded::new(AtomicUsize::new(0)),
            ],
            sleep: {
                let sleep = Sleep::new(config.num_threads, config.max_extra());
                sleep.start_dormant(config.num_threads - config.min_threads);
                sleep
            },
            share_requests: (0..slots).map(|_| Arc::default()).collect(),
            limit: config.max_queued.map(|max| Arc::new(Limit::new(max))),
            stall_watch: config.stall_threshold.map(|threshold| {
                StallWatch::new(threshold, slots, config.compensate, config.on_stall.clone())
            }),
            counters: PoolCounters::new(slots, config.record_timing),
            restarts: RestartBudget::new(config.restart_intensity.0, config.restart_intensity.1),
            blocking: AtomicUsize::new(0),
            outside_waiting: CachePadded::new(AtomicUsize::new(0)),
            outside_spin: outside_spin(config.num_threads, num_cpus::get()),
            spread: crate::affinity::Spread::new(
                config.num_threads,
                slots,
                config.pin_cpus.is_some(),
            ),
            spare_starter: Mutex::new(None),
            config,
        }
    }

    /// The pool's width: its workers, not counting temporary ones.
    pub(crate) fn num_threads(&self) -> usize {
        self.config.num_threads
    }

    /// The pool's settings.
    pub(crate) fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// What the pool counts about itself.
    pub(crate) fn counters(&self) -> &PoolCounters {
        &self.counters
    }

    /// The bound on waiting tasks, if any.
    pub(crate) fn limit(&self) -> Option<&Arc<Limit>> {
        self.limit.as_ref()
    }

    /// Stall detection, if on.
    pub(crate) fn stall_watch(&self) -> Option<&StallWatch> {
        self.stall_watch.as_ref()
    }

    /// How many temporary workers are wanted now: one per stalled task (up to
    /// `compensate_stalls`) plus one per worker inside `block_in_place` (up to
    /// `max_blocking_threads`).
    pub(crate) fn temps_wanted(&self) -> usize {
        let stalls = self
            .stall_watch
            .as_ref()
            .map_or(0, StallWatch::temps_wanted);
        stalls + self.blocking_spares()
    }

    /// The spare workers `block_in_place` wants now.
    pub(crate) fn blocking_spares(&self) -> usize {
        self.blocking
            .load(Ordering::SeqCst)
            .min(self.config.max_blocking)
    }

    /// Lets `crate::threads` start temporary workers for `block_in_place`.
    pub(crate) fn set_spare_starter(&self, starter: SpareStarter) {
        *self.spare_starter.lock() = Some(starter);
    }

    /// Drops the function [`set_spare_starter`](Self::set_spare_starter) gave (the pool has
    /// ended).
    pub(crate) fn clear_spare_starter(&self) {
        let starter = self.spare_starter.lock().take();
        drop(starter);
    }

    /// A worker enters `block_in_place`: counts it, and starts a spare worker if fewer are
    /// alive than wanted.
    pub(crate) fn blocking_started(&self) {
        self.blocking.fetch_add(1, Ordering::SeqCst);
        let starter = self.spare_starter.lock().clone();
        if let Some(start) = starter {
            start();
        }
    }

    /// A worker leaves `block_in_place`: the spares asleep are woken to see whether they are
    /// still wanted (those running a task look at their next task boundary).
    pub(crate) fn blocking_ended(&self) {
        self.blocking.fetch_sub(1, Ordering::SeqCst);
        self.sleep.wake_from(self.num_threads());
    }

    /// Is a thread outside the pool waiting for a job it handed in (`in_worker`)?
    #[inline]
    pub(crate) fn outside_waiting(&self) -> bool {
        self.outside_waiting.load(Ordering::Relaxed) > 0
    }

    /// Is the calling thread one of this pool's workers?
    pub(crate) fn current_worker(&self) -> Option<&WorkerThread> {
        WorkerThread::current().filter(|w| std::ptr::eq(&**w.registry(), self))
    }

    /// Counts a job about to be pushed into `lane` (before the push: a count of zero then
    /// means the lane holds nothing that was pushed before the count was read).
    #[inline]
    pub(crate) fn note_queued(&self, lane: usize) {
        if lane != NORMAL {
            self.lane_queued[lane].fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Uncounts a job taken out of `lane` to run (or to be aborted).
    #[inline]
    pub(crate) fn note_taken(&self, lane: usize) {
        if lane != NORMAL {
            self.lane_queued[lane].fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// May `lane` hold work? Always true for Normal, which is not counted.
    #[inline]
    pub(crate) fn lane_hint(&self, lane: usize) -> bool {
        lane == NORMAL || self.lane_queued[lane].load(Ordering::SeqCst) != 0
    }

    /// True when some queue a worker can reach holds work (a snapshot; used as the final
    /// check before sleeping, after the sleeper registered).
    pub(crate) fn has_work(&self) -> bool {
        submit::any_queued(self)
            || self
                .stealers
                .iter()
                .any(|lanes| lanes.iter().any(|s| !s.is_empty()))
    }

    /// Asks worker `index` to share a join frame.
    pub(crate) fn request_share(&self, index: usize) {
        self.share_requests[index].ask();
    }

    /// Worker `index`'s share-request flag, which the worker keeps at hand (it reads it at
    /// every join).
    pub(crate) fn share_request(&self, index: usize) -> Arc<ShareRequest> {
        self.share_requests[index].clone()
    }

    /// Queues a job from outside the pool. If the pool no longer takes work the job is
    /// aborted (a task reports cancelled; a stack job gets its closure back). The protocol
    /// against the pool's end is in `crate::submit`.
    pub(crate) fn inject(&self, job: JobRef, lane: usize) {
        submit::submit(self, job, lane);
    }

    /// Pushes a job into the injector even if the pool is closed. Only for work that belongs
    /// to something a worker of this pool is still waiting for (a scope), which keeps the pool
    /// from terminating until the job has run.
    pub(crate) fn inject_owned(&self, job: JobRef, lane: usize) {
        self.note_queued(lane);
        self.injectors[lane].push(job);
        self.sleep.notify_work();
    }

    /// Aborts every job left in the injectors and the broadcast queues. Called by the last
    /// worker to leave and by a submitter that finds the pool terminated (see
    /// `crate::submit`).
    pub(crate) fn drain_injector(&self) {
        submit::drain(self);
        self.drain_broadcasts();
    }

    /// Queues each `(i, job)` in worker `i`'s broadcast queue, and wakes every sleeper (each
    /// must run its own). Without `owned` (the caller is not one of the
    /// pool's workers, whose running keeps the pool from ending), a closed pool refuses: the
    /// jobs come back. The race with the pool's end is `crate::submit`'s: push, fence (in
    /// `wake_every`), look at `terminated`, and drain if it is set.
    pub(crate) fn push_broadcasts(
        &self,
        jobs: Vec<(usize, JobRef)>,
        owned: bool,
    ) -> Result<(), Vec<(usize, JobRef)>> {
        if !owned && self.sleep.is_closed() {
            return Err(jobs);
        }
        for (index, job) in jobs {
            self.broadcasts[index].push(job);
        }
        self.sleep.wake_every();
        // Every worker must run its own: in an elastic pool, start the missing ones (a worker
        // that leaves meanwhile looks at its queue once more, see `Threads::leave_slot`).
        self.sleep.grow(true);
        if self.sleep.is_terminated() {
            self.drain_broadcasts();
        }
        Ok(())
    }

    /// The next broadcast worker `index` has to run.
    #[inline]
    pub(crate) fn take_broadcast(&self, index: usize) -> Option<JobRef> {
        let queue = self.broadcasts.get(index)?;
        if queue.is_empty() {
            return None;
        }
        submit::JobQueue::steal(queue)
    }

    /// Does worker `index` have a broadcast to run?
    #[inline]
    pub(crate) fn has_broadcast(&self, index: usize) -> bool {
        self.broadcasts.get(index).is_some_and(|q| !q.is_empty())
    }

    /// Aborts every broadcast job left (the pool has ended).
    fn drain_broadcasts(&self) {
        fence(Ordering::SeqCst);
        for queue in self.broadcasts.iter() {
            while let Some(job) = submit::JobQueue::steal(queue) {
                // SAFETY: a job stolen from the queue is ours to execute, once.
                let _ = unsafe { job.execute(JobMode::Abort, Tally::Nowhere) };
            }
        }
    }

    /// Slot `index`'s queue of `spawn_fifo` tasks for `lane`.
    pub(crate) fn fifo(&self, index: usize, lane: usize) -> &Injector<JobRef> {
        &self.fifos[index][lane]
    }

    /// Runs `op` on one of the pool's workers, blocking the caller, and returns its result:
    /// `op` gets the worker it runs on. On a worker of this pool it runs inline. Otherwise it
    /// is injected as a job on the caller's stack; a worker of another pool keeps running its
    /// own pool's jobs while it waits (so pools that wait on each other do not deadlock), any
    /// other thread parks. On a pool that no longer takes work, `op` runs on the calling
    /// thread and gets `None`. A panic in `op` is re-raised here.
    pub(crate) fn in_worker<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(Option<&WorkerThread>) -> R + Send,
        R: Send,
    {
        if let Some(worker) = self.current_worker() {
            return op(Some(worker));
        }
        let job = StackJob::new(|| op(self.current_worker()));
        self.outside_waiting.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `job` stays on this stack frame until `wait` below returns, which is after
        // the job was executed; `inject` executes or queues it exactly once.
        self.inject(unsafe { job.as_job_ref() }, current_lane());
        let outcome = job.wait_spinning(self.outside_spin);
        self.outside_waiting.fetch_sub(1, Ordering::Relaxed);
        match outcome {
            StackOutcome::Ok(value) => value,
            StackOutcome::Panic(payload) => std::panic::resume_unwind(payload),
            StackOutcome::Aborted(op) => op(),
        }
    }

    /// Cancels every job queued right now, in every lane and every worker's deque: tasks
    /// resolve as cancelled, stack jobs hand their closures back to their waiters, scope jobs
    /// go back to the queue (their scope's owner is waiting for them). The jobs are first all
    /// taken, then resolved, so that requeued scope jobs are not taken again.
    pub(crate) fn cancel_queued(&self) {
        let mut taken = Vec::new();
        let mut take_all = |lane: usize, steal: &dyn Fn() -> Steal<JobRef>| loop {
            match steal() {
                Steal::Success(job) => taken.push((job, lane)),
                Steal::Empty => break,
                Steal::Retry => thread::yield_now(),
            }
        };
        for (lane, injector) in self.injectors.iter().enumerate() {
            take_all(lane, &|| injector.steal());
        }
        for lanes in self.stealers.iter() {
            for (lane, stealer) in lanes.iter().enumerate() {
                take_all(lane, &|| stealer.steal());
            }
        }
        for (job, lane) in taken {
            self.note_taken(lane);
            // SAFETY: a job stolen from a queue is ours to execute, once.
            let _ = unsafe { job.execute(JobMode::Abort, Tally::Pool(&self.counters, lane)) };
        }
    }

    /// Closes the pool to outside work; the workers finish what is queued and leave.
    pub(crate) fn close(&self) {
        self.sleep.close();
        if let Some(limit) = &self.limit {
            // Submitters waiting for room give up: the pool takes no more outside work.
            limit.wake_all();
        }
    }

    /// A snapshot of the pool's counters (see `WorkerPool::metrics`).
    pub(crate) fn metrics(&self) -> Metrics {
        let queued = std::array::from_fn(|lane| {
            self.injectors[lane].len()
                + self
                    .stealers
                    .iter()
                    .map(|lanes| lanes[lane].len())
                    .sum::<usize>()
        });
        let stalls = self.stall_watch.as_ref().map_or(0, |w| w.stalls() as u64);
        self.counters.snapshot(self.num_threads(), queued, stalls)
    }

    /// Where this pool reports a panic nobody received through its task's handle.
    pub(crate) fn panic_report(&self) -> PanicReport {
        PanicReport::to(self.config.panic_handler.clone())
    }

    /// A task panicked on a worker of this pool, which replaces such workers: may the worker
    /// retire now (see `crate::restart`)? If not, the panic is counted as let pass, and the
    /// first of a storm is reported.
    pub(crate) fn may_replace_after_panic(&self) -> bool {
        match self.restarts.decide(std::time::Instant::now()) {
            Verdict::Replace => true,
            Verdict::CarryOn { first } => {
                self.counters.replacement_skipped();
                if first {
                    let limit = self.restarts.limit_reached();
                    crate::trace::restart_limit_reached(limit.max(), limit.period());
                    self.panic_report()
                        .deliver(Box::new(limit), |_| limit.to_string());
                }
                false
            }
        }
    }

    /// Runs the thread hook `name` (`on_thread_start`/`on_thread_stop`) for slot `index`. A
    /// hook that panics goes to the panic handler (or, without one, to one line on stderr
    /// naming the hook); the thread carries on.
    pub(crate) fn run_hook(&self, name: &str, hook: &Option<StdArc<HookFn>>, index: usize) {
        let Some(hook) = hook else {
            return;
        };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| hook(index))) {
            self.panic_report().deliver(payload, |message| {
                format!("the {name} hook panicked on worker {index}: {message}")
            });
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Every worker has left (they hold the registry); resolve anything still queued.
        self.drain_injector();
    }
}

/// The submit protocol (`crate::submit`) over the pool's injectors.
impl Injectors for Registry {
    type Queue = Injector<JobRef>;

    #[inline]
    fn sleep(&self) -> &Sleep {
        &self.sleep
    }

    #[inline]
    fn queues(&self) -> &[Injector<JobRef>] {
        &self.injectors
    }

    #[inline]
    fn on_queued(&self, lane: usize) {
        self.note_queued(lane);
    }

    #[inline]
    fn on_taken(&self, lane: usize) {
        self.note_taken(lane);
    }

    /// # Safety
    /// As [`Injectors::abort`]: `job` is handed over for its one execution.
    unsafe fn abort(&self, job: JobRef, lane: usize) {
        // SAFETY: the caller hands over the job for its one execution.
        let _ = unsafe { job.execute(JobMode::Abort, Tally::Pool(&self.counters, lane)) };
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("num_threads", &self.num_threads())
            .field("closed", &self.sleep.is_closed())
            .field("terminated", &self.sleep.is_terminated())
            .finish_non_exhaustive()
    }
}

/// How a thread outside a pool of `width` workers spins on the job it handed to the pool (an
/// `install`, a `join` or `scope` from outside) before it parks, on a machine of `cpus`.
///
/// Spinning saves the park and the wake-up (about 16 µs on the project's 2-core machine), but
/// while it spins the caller holds a CPU. Where the pool is narrower than the machine that
/// CPU is spare, and the caller busy-waits up to 100 µs. Where the pool is as wide as the
/// machine (the default), every CPU the caller spins on is one a busy worker of its own job
/// needs, so the caller spins 5 µs and yields its CPU between looks; the searching workers
/// yield theirs to it in turn (`WorkerThread::search`), so that the caller, once woken, runs
/// without waiting for a busy CPU. Measured on 2 cores with a 2-thread pool
/// (`docs/bench/history.md`, "Outside spin" and "Yielding waits and Spread"): a 47 µs
/// parallel loop took 78-86 µs per install while the caller busy-waited 100 µs, 70-99 µs
/// with a 5 µs busy wait, and 51-74 µs with the 5 µs yielding wait and yielding searchers
/// (the exit from the loop to the caller went from 18-20 µs to 3); a longer yielding wait
/// (20 µs to 1 ms) made a 3M-item loop slower (154-297 µs against 145-150).
fn outside_spin(width: usize, cpus: usize) -> Spin {
    if width < cpus {
        Spin {
            limit: std::time::Duration::from_micros(100),
            yielding: false,
        }
    } else {
        Spin {
            limit: std::time::Duration::from_micros(5),
            yielding: true,
        }
    }
}
