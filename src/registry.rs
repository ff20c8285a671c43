//! The state one pool's workers share: the global injectors, every worker's stealers, the sleep
//! module, and the bookkeeping of live threads.
//!
//! A [`WorkerPool`](crate::WorkerPool) handle and every worker thread hold an `Arc<Registry>`.
//! Closing the pool (shutdown, or the last handle dropped) does not free it: the workers keep
//! it until they have drained the queues and left.

use std::fmt;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc as StdArc;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::CachePadded;

use crate::backpressure::{Admitted, Limit, SpawnError};
use crate::builder::{HookFn, PanicHandlerFn, ThreadNameFn};
use crate::job::{JobMode, JobRef, StackJob, StackOutcome};
use crate::join;
use crate::lane::{LANES, NORMAL};
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use crate::loom::sync::{Condvar, Mutex};
use crate::loom::thread;
use crate::metrics::{Metrics, PoolCounters, Tally};
use crate::scope::{self, Scope};
use crate::sleep::Sleep;
use crate::stall::StallWatch;
use crate::submit::{self, Injectors};
use crate::task::{self, JoinHandle};
use crate::worker::WorkerThread;
use crate::worker::{self, current_lane};

/// How worker threads are started: kept so that a worker that dies can be replaced with a
/// thread like the one it had.
pub(crate) struct ThreadConfig {
    pub(crate) name: Option<StdArc<ThreadNameFn>>,
    pub(crate) stack_size: Option<usize>,
    /// Receives the panics of detached tasks (see `PoolBuilder::panic_handler`).
    pub(crate) panic_handler: Option<StdArc<PanicHandlerFn>>,
    /// Retire a worker after user code panicked on it (see
    /// `PoolBuilder::replace_worker_on_panic`).
    pub(crate) replace_on_panic: bool,
    /// `PoolBuilder::max_queued`.
    pub(crate) max_queued: Option<usize>,
    /// `PoolBuilder::stall_threshold` and `on_stall`.
    pub(crate) stall_threshold: Option<std::time::Duration>,
    pub(crate) on_stall: Option<StdArc<crate::stall::StallFn>>,
    /// `PoolBuilder::record_timing`: `Some(n)` to time one task in `n` (`timing_sample`).
    pub(crate) record_timing: Option<u32>,
    /// `PoolBuilder::on_thread_start` and `on_thread_stop`.
    pub(crate) on_thread_start: Option<StdArc<HookFn>>,
    pub(crate) on_thread_stop: Option<StdArc<HookFn>>,
}

/// What a newly started thread receives when it takes over a slot.
struct Handover {
    registry: Arc<Registry>,
    deques: [Worker<JobRef>; LANES],
}

/// What a new thread becomes when it takes its [`Handover`].
#[derive(Clone, Copy)]
enum Role {
    /// The worker of its slot (a replacement).
    Worker,
    /// A temporary worker (stall compensation).
    Temp,
}

/// A worker's "share a join frame" flag, on its own cache line.
pub(crate) type ShareRequest = CachePadded<AtomicBool>;

pub(crate) struct Registry {
    /// Work submitted from outside the pool.
    /// One per lane (see `crate::lane`).
    pub(crate) injectors: [Injector<JobRef>; LANES],
    /// One per slot, indexed like the workers (then the temporary workers' slots, if stall
    /// compensation is on). One per lane.
    pub(crate) stealers: Box<[[Stealer<JobRef>; LANES]]>,
    /// The number of workers (the slots after them are for temporary workers).
    width: usize,
    /// The temporary workers' slots not in use, with their deques (see `start_temp`).
    temp_slots: Mutex<Vec<(usize, [Worker<JobRef>; LANES])>>,
    /// Jobs queued anywhere (counted before the push, uncounted after being taken), for the
    /// High and Low lanes only. The High count is read at every task boundary, so that a
    /// worker busy with Normal work looks for urgent work only when there is some; it is
    /// written only when High work is pushed or taken, so the read normally hits the cache.
    /// The Normal lane, the busy one, is not counted.
    lane_queued: [CachePadded<AtomicUsize>; LANES],
    /// Every this many picks a worker makes a fairness pick (see `crate::lane`).
    pub(crate) fairness_interval: u32,
    pub(crate) sleep: Sleep,
    /// One flag per worker: "somebody found your deque empty; share a join frame at your next
    /// join" (see `crate::join`).
    share_requests: Box<[Arc<ShareRequest>]>,
    /// Worker threads still running their main loop.
    live: Mutex<usize>,
    all_exited: Condvar,
    /// OS thread handles, taken and joined by the first `shutdown` that waits.
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    /// Held by the caller of `wait_for_exit` that joins the threads.
    joining: Mutex<()>,
    thread_config: ThreadConfig,
    /// Worker threads started to replace one that died.
    workers_replaced: AtomicUsize,
    /// The bound on waiting tasks, if the builder set one.
    limit: Option<Limit>,
    /// Stall detection, if the builder set a threshold.
    stall_watch: Option<StallWatch>,
    /// What the pool counts about itself (see `crate::metrics`).
    counters: PoolCounters,
}

impl Registry {
    /// `stealers` has one entry per slot: the workers' first, then the temporary workers'
    /// (stall compensation), whose deques are `temp_deques`.
    pub(crate) fn new(
        stealers: Vec<[Stealer<JobRef>; LANES]>,
        temp_deques: Vec<[Worker<JobRef>; LANES]>,
        fairness_interval: u32,
        thread_config: ThreadConfig,
    ) -> Self {
        let slots = stealers.len();
        let workers = slots - temp_deques.len();
        Registry {
            width: workers,
            temp_slots: Mutex::new(
                temp_deques
                    .into_iter()
                    .enumerate()
                    .map(|(i, deques)| (workers + i, deques))
                    .rev()
                    .collect(),
            ),
            injectors: [Injector::new(), Injector::new(), Injector::new()],
            stealers: stealers.into_boxed_slice(),
            lane_queued: [
                CachePadded::new(AtomicUsize::new(0)),
                CachePadded::new(AtomicUsize::new(0)),
                CachePadded::new(AtomicUsize::new(0)),
            ],
            fairness_interval,
            sleep: Sleep::new(workers, slots - workers),
            share_requests: (0..slots)
                .map(|_| Arc::new(CachePadded::new(AtomicBool::new(false))))
                .collect(),
            live: Mutex::new(workers),
            all_exited: Condvar::new(),
            threads: Mutex::new(Vec::with_capacity(workers)),
            joining: Mutex::new(()),
            limit: thread_config.max_queued.map(Limit::new),
            stall_watch: thread_config.stall_threshold.map(|threshold| {
                StallWatch::new(
                    threshold,
                    slots,
                    slots - workers,
                    thread_config.on_stall.clone(),
                )
            }),
            counters: PoolCounters::new(slots, thread_config.record_timing),
            thread_config,
            workers_replaced: AtomicUsize::new(0),
        }
    }

    /// The pool's width: its workers, not counting temporary ones.
    pub(crate) fn num_threads(&self) -> usize {
        self.width
    }

    /// A thread builder with the pool's settings (name, stack size).
    fn thread_builder(&self, name: String) -> thread::Builder {
        let builder = thread::Builder::new().name(name);
        match self.thread_config.stack_size {
            Some(bytes) => builder.stack_size(bytes),
            None => builder,
        }
    }

    /// Starts the OS thread of worker `index`, which takes over `deques`. The handle is
    /// recorded before the thread can finish (the lock is held across the spawn), so that
    /// `wait_for_exit` never misses a thread.
    pub(crate) fn start_worker(
        this: &Arc<Registry>,
        index: usize,
        deques: [Worker<JobRef>; LANES],
        name: String,
    ) -> io::Result<()> {
        let registry = this.clone();
        this.spawn_thread(this.thread_builder(name), move || {
            worker::run(registry, index, deques)
        })
    }

    /// Starts a thread to take over the slot and the deques of worker `index`, whose thread
    /// is retiring or dying. If no thread can be started, the deques' jobs move to the
    /// injectors, where the other workers (or the final drain) find them, and the slot counts
    /// as exited.
    ///
    /// (Keeping a parked spare thread per slot, so that a replacement is a wake-up instead of
    /// a thread start, was measured and was slower on the panic benchmark: every replacement
    /// still starts one thread, and the hand-off adds a wake-up.)
    pub(crate) fn replace_worker(
        this: &Arc<Registry>,
        index: usize,
        deques: [Worker<JobRef>; LANES],
    ) {
        let handover = Handover {
            registry: this.clone(),
            deques,
        };
        let Err(refused) = Self::start_with(this, index, Role::Worker, handover) else {
            this.workers_replaced.fetch_add(1, Ordering::Relaxed);
            crate::trace::worker_replaced(index);
            return;
        };
        // No thread: the jobs go where the other workers (or the final drain) find them.
        this.move_to_injectors(&refused.deques);
        drop(refused.registry);
        this.sleep.worker_lost();
        this.worker_exited();
    }

    /// Starts a thread, named for slot `index`, that takes over `handover` as that slot's
    /// worker (or, for `Role::Temp`, as a temporary worker). If no thread can be started, the
    /// hand-over comes back.
    ///
    /// The hand-over waits in a cell the new thread empties first thing, rather than in a
    /// channel: the thread never has to block for it (on a busy machine, a blocked start
    /// and the wake-up after it cost tens of microseconds per replacement).
    fn start_with(
        this: &Arc<Registry>,
        index: usize,
        role: Role,
        handover: Handover,
    ) -> Result<(), Handover> {
        let builder = this.thread_builder(this.thread_name(index));
        let cell = StdArc::new(Mutex::new(Some(handover)));
        let inside = cell.clone();
        let body = move || {
            let handover = inside.lock().take();
            drop(inside);
            if let Some(Handover { registry, deques }) = handover {
                match role {
                    Role::Worker => worker::run(registry, index, deques),
                    Role::Temp => worker::run_temp(registry, index, deques),
                }
            }
        };
        match this.spawn_thread(builder, body) {
            Ok(()) => Ok(()),
            // The thread never ran, so the hand-over is still in the cell.
            Err(_) => Err(cell
                .lock()
                .take()
                .expect("a thread that was never started took the hand-over")),
        }
    }

    /// Spawns one of the pool's OS threads and records its handle (under the lock, so that
    /// `wait_for_exit` never misses a thread). Then the handles of threads that have ended
    /// (retired workers, temporary workers) are joined, so that a pool that keeps replacing
    /// workers does not keep their stacks and memory mappings until it shuts down.
    ///
    /// The joins come after the spawn and outside the lock: a thread can count as finished
    /// before the OS has let it go, and `join` then waits for that, which must not delay the
    /// replacement that is being started.
    fn spawn_thread(
        &self,
        builder: thread::Builder,
        body: impl FnOnce() + Send + 'static,
    ) -> io::Result<()> {
        let ended: Vec<_> = {
            let mut threads = self.threads.lock();
            threads.push(builder.spawn(body)?);
            let (ended, running) = threads.drain(..).partition(|handle| handle.is_finished());
            *threads = running;
            ended
        };
        for handle in ended {
            let _ = handle.join();
        }
        Ok(())
    }

    /// The name of the thread for slot `index`: the builder's name function, or a plain name
    /// (also if that function panics now, having run fine at build time).
    fn thread_name(&self, index: usize) -> String {
        match &self.thread_config.name {
            Some(name) => panic::catch_unwind(AssertUnwindSafe(|| name(index)))
                .unwrap_or_else(|_| format!("stealpool-{index}")),
            None => format!("stealpool-{index}"),
        }
    }

    /// Starts a temporary worker (stall compensation) in a free temporary slot. False if every
    /// temporary slot is in use or no thread could be started.
    pub(crate) fn start_temp(this: &Arc<Registry>) -> bool {
        let Some((index, deques)) = this.temp_slots.lock().pop() else {
            return false;
        };
        // Counted before it starts, so that the pool cannot end while it is on its way.
        this.sleep.add_temp();
        let handover = Handover {
            registry: this.clone(),
            deques,
        };
        let Err(refused) = Self::start_with(this, index, Role::Temp, handover) else {
            return true;
        };
        this.temp_slots.lock().push((index, refused.deques));
        this.sleep.temp_left(true);
        false
    }

    /// Moves every job left in a slot's deques (its thread is gone) to the injectors, where
    /// the other workers, or the final drain, find them, and wakes a worker if there were
    /// any. The jobs stay counted in their lanes: they are still queued.
    fn move_to_injectors(&self, deques: &[Worker<JobRef>; LANES]) {
        let mut moved = false;
        for (lane, deque) in deques.iter().enumerate() {
            while let Some(job) = deque.pop() {
                self.injectors[lane].push(job);
                moved = true;
            }
        }
        if moved {
            self.sleep.notify_work();
        }
    }

    /// Temporary worker `index` has left its loop: whatever is still in its deques moves to
    /// the injectors, the slot becomes free, and then it stops counting as alive (`active`:
    /// it was still counted towards the number wanted), which may end a closed pool. Until
    /// then the pool cannot end, so a job on its way to an injector is never missed by the
    /// final drain.
    pub(crate) fn temp_exited(&self, index: usize, deques: [Worker<JobRef>; LANES], active: bool) {
        self.move_to_injectors(&deques);
        self.temp_slots.lock().push((index, deques));
        self.sleep.temp_left(active);
    }

    /// Hands the panic of a detached task to the builder's handler, or writes one line to
    /// stderr. Never unwinds: a panicking handler (or payload `Drop`) is contained.
    pub(crate) fn report_detached_panic(&self, payload: Box<dyn std::any::Any + Send>) {
        match &self.thread_config.panic_handler {
            Some(handler) => crate::unwind::call_quietly(|| handler(payload)),
            None => report_to_stderr(payload),
        }
    }

    /// Does a worker retire after user code panicked on it?
    pub(crate) fn replaces_on_panic(&self) -> bool {
        self.thread_config.replace_on_panic
    }

    /// OS thread handles kept (not yet joined).
    #[cfg(all(test, not(loom)))]
    pub(crate) fn thread_handles(&self) -> usize {
        self.threads.lock().len()
    }

    /// How many worker threads were started to replace one that died.
    pub(crate) fn workers_replaced(&self) -> usize {
        self.workers_replaced.load(Ordering::Relaxed)
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

    /// Counts a job about to be pushed into `lane` (before the push: a count of zero then
    /// means the lane holds nothing that was pushed before the count was read).
    #[inline]
    pub(crate) fn queued(&self, lane: usize) {
        if lane != NORMAL {
            self.lane_queued[lane].fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Uncounts a job taken out of `lane` to run (or to be aborted).
    #[inline]
    pub(crate) fn taken(&self, lane: usize) {
        if lane != NORMAL {
            self.lane_queued[lane].fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// May `lane` hold work? Always true for Normal, which is not counted.
    #[inline]
    pub(crate) fn lane_hint(&self, lane: usize) -> bool {
        lane == NORMAL || self.lane_queued[lane].load(Ordering::SeqCst) != 0
    }

    /// Asks worker `index` to share a join frame. Writes only when the flag is clear, so the
    /// worker's line is not pulled away again and again while it stays set.
    pub(crate) fn request_share(&self, index: usize) {
        let flag = &self.share_requests[index];
        if !flag.load(Ordering::Relaxed) {
            flag.store(true, Ordering::Relaxed);
        }
    }

    /// Worker `index`'s share-request flag, which the worker keeps at hand (it reads it at every
    /// join).
    pub(crate) fn share_request(&self, index: usize) -> Arc<ShareRequest> {
        self.share_requests[index].clone()
    }

    /// Pushes a job into the injector even if the pool is closed. Only for work that belongs
    /// to something a worker of this pool is still waiting for (a scope), which keeps the pool
    /// from terminating until the job has run.
    pub(crate) fn inject_owned(&self, job: JobRef, lane: usize) {
        self.queued(lane);
        self.injectors[lane].push(job);
        self.sleep.notify_work();
    }

    /// Is the calling thread one of this pool's workers?
    pub(crate) fn current_worker(&self) -> Option<&WorkerThread> {
        WorkerThread::current().filter(|w| std::ptr::eq(&**w.registry(), self))
    }

    /// Stall detection, if on.
    pub(crate) fn stall_watch(&self) -> Option<&StallWatch> {
        self.stall_watch.as_ref()
    }

    /// Starts the stall watcher thread, if stall detection is on. Its handle joins the
    /// workers' (it leaves once the pool has ended).
    pub(crate) fn start_stall_watcher(this: &Arc<Registry>) -> io::Result<()> {
        if this.stall_watch.is_none() {
            return Ok(());
        }
        let registry = this.clone();
        let builder = thread::Builder::new().name("stealpool-stall-watch".into());
        this.spawn_thread(builder, move || crate::stall::watch(registry))
    }

    /// The bound on waiting tasks, if any.
    pub(crate) fn limit(&self) -> Option<&Limit> {
        self.limit.as_ref()
    }

    /// Spawns a task at `lane` (see `crate::backpressure` for a bounded pool): onto the
    /// calling worker's own deque when called from this pool, else into the lane's injector;
    /// a closed pool resolves the handle at once as cancelled.
    pub(crate) fn spawn<F, T>(this: &Arc<Registry>, lane: usize, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let Some(limit) = &this.limit else {
            return this.spawn_unbounded(lane, func);
        };
        if !limit.try_acquire() {
            if let Some(worker) = this.current_worker() {
                // Full, and called by one of our own workers: waiting could deadlock the
                // pool, so the task runs here and now.
                let (job, handle) = this.new_task(lane, func);
                worker.counters().submitted(lane);
                worker.execute(job, lane);
                return handle;
            }
            if !limit.acquire_blocking(|| this.sleep.is_closed()) {
                // Closed while we waited: the task is refused (its handle says cancelled).
                return this.spawn_unbounded(lane, func);
            }
        }
        let admitted = Admitted::new(func, this.clone());
        this.spawn_unbounded(lane, move || admitted.run())
    }

    /// Like `spawn`, but gives the closure back instead of waiting or running it inline when
    /// the pool is full, or when it was shut down (for a caller outside the pool).
    pub(crate) fn try_spawn<F, T>(
        this: &Arc<Registry>,
        lane: usize,
        func: F,
    ) -> Result<JoinHandle<T>, SpawnError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if this.sleep.is_closed() && this.current_worker().is_none() {
            return Err(SpawnError::shut_down(func));
        }
        match &this.limit {
            None => Ok(this.spawn_unbounded(lane, func)),
            Some(limit) if !limit.try_acquire() => Err(SpawnError::full(func)),
            Some(_) => {
                let admitted = Admitted::new(func, this.clone());
                Ok(this.spawn_unbounded(lane, move || admitted.run()))
            }
        }
    }

    fn spawn_unbounded<F, T>(&self, lane: usize, func: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, handle) = self.new_task(lane, func);
        match self.current_worker() {
            Some(worker) => {
                worker.counters().submitted(lane);
                worker.push_lane(job, lane);
            }
            None => {
                self.counters.submitted_outside(lane);
                self.inject(job, lane);
            }
        }
        handle
    }

    /// A task cell for `func`, to be queued in `lane`; if timing is on and this task is in the
    /// sample, the closure is wrapped to record its wait and run times (see `crate::metrics`).
    #[inline]
    fn new_task<F, T>(&self, lane: usize, func: F) -> (JobRef, JoinHandle<T>)
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        match self.counters.clock_if_sampled(lane) {
            Some(clock) => task::new_task(crate::metrics::timed(clock, func)),
            None => task::new_task(func),
        }
    }

    /// What the pool counts about itself.
    pub(crate) fn counters(&self) -> &PoolCounters {
        &self.counters
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
        self.counters
            .snapshot(self.width, queued, self.workers_replaced() as u64, stalls)
    }

    /// Runs the thread hook `name` (`on_thread_start`/`on_thread_stop`) for slot `index`. A
    /// hook that panics goes to the panic handler (or, without one, to one line on stderr
    /// naming the hook); the thread carries on.
    pub(crate) fn run_hook(&self, name: &str, hook: &Option<StdArc<HookFn>>, index: usize) {
        let Some(hook) = hook else {
            return;
        };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| hook(index))) {
            match &self.thread_config.panic_handler {
                Some(handler) => crate::unwind::call_quietly(|| handler(payload)),
                None => {
                    let message =
                        crate::error::panic_message(&*payload).unwrap_or("(a non-string payload)");
                    eprintln!("stealpool: the {name} hook panicked on worker {index}: {message}");
                    crate::unwind::drop_quietly(payload);
                }
            }
        }
    }

    /// The pool's settings for its threads.
    pub(crate) fn thread_config(&self) -> &ThreadConfig {
        &self.thread_config
    }

    /// Queues a job from outside the pool. If the pool no longer takes work the job is
    /// aborted (a task reports cancelled; a stack job gets its closure back). The protocol
    /// against the pool's end is in `crate::submit`.
    pub(crate) fn inject(&self, job: JobRef, lane: usize) {
        submit::submit(self, job, lane);
    }

    /// Aborts every job left in the injectors. Called by the last worker to leave and by a
    /// submitter that finds the pool terminated (see `crate::submit`).
    pub(crate) fn drain_injector(&self) {
        submit::drain(self);
    }

    /// Runs `op` on one of the pool's workers and returns its result, blocking the caller.
    /// On a worker of this pool it runs inline; on a closed pool, on the calling thread.
    pub(crate) fn install<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce() -> R + Send,
        R: Send,
    {
        if self.current_worker().is_some() {
            return op();
        }
        let job = StackJob::new(op);
        // SAFETY: `job` stays on this stack frame until `wait` below returns, which is after
        // the job was executed; `inject` executes or queues it exactly once.
        self.inject(unsafe { job.as_job_ref() }, current_lane());
        match job.wait() {
            StackOutcome::Ok(value) => value,
            StackOutcome::Panic(payload) => std::panic::resume_unwind(payload),
            StackOutcome::Aborted(op) => op(),
        }
    }

    /// `join` on this pool: on the calling worker when it is one of ours, else through
    /// `install` (which falls back to the calling thread on a pool that was shut down).
    pub(crate) fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        if let Some(worker) = self.current_worker() {
            return worker.join(a, b);
        }
        self.install(|| match self.current_worker() {
            Some(worker) => worker.join(a, b),
            None => join::join_here(a, b),
        })
    }

    /// `scope` on this pool: the scope's closure runs on one of its workers (see `join`).
    /// (An associated function: the scope keeps a clone of the `Arc`.)
    pub(crate) fn scope<'scope, OP, R>(this: &Arc<Self>, op: OP) -> R
    where
        OP: FnOnce(&Scope<'scope>) -> R + Send,
        R: Send,
    {
        this.install(|| {
            let on_pool = this.current_worker().is_some();
            scope::run_scope(this, on_pool, op)
        })
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
            self.taken(lane);
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

    /// A worker left its main loop for good (or, counted as live, could not be started). The
    /// last one resolves stragglers and tells the waiters in
    /// [`wait_for_exit`](Self::wait_for_exit).
    pub(crate) fn worker_exited(&self) {
        let mut live = self.live.lock();
        *live -= 1;
        if *live == 0 {
            // Normally the pool has terminated already; not if every slot was lost (no thread
            // could be started to replace the last one): then nothing could run what a
            // submitter would queue, so the pool ends here.
            if !self.sleep.is_terminated() {
                self.sleep.terminate_now();
            }
            self.drain_injector();
            if let Some(watch) = &self.stall_watch {
                watch.end();
            }
            crate::trace::pool_stopped();
            self.all_exited.notify_all();
        }
    }

    /// Blocks until every worker has left, then joins the OS threads (if nobody else did).
    pub(crate) fn wait_for_exit(&self) {
        self.wait_for_exit_until(None);
    }

    /// Like [`wait_for_exit`](Self::wait_for_exit), giving up at `deadline`; false then (the
    /// workers keep going and the threads are not joined).
    pub(crate) fn wait_for_exit_until(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut live = self.live.lock();
        while *live > 0 {
            match deadline {
                None => live = self.all_exited.wait(live),
                Some(deadline) => {
                    let (guard, timed_out) = self.all_exited.wait_until(live, deadline);
                    live = guard;
                    if timed_out && *live > 0 {
                        return false;
                    }
                }
            }
        }
        drop(live);
        // One caller joins at a time, so that a concurrent caller returns only once the
        // threads are really gone, not merely out of their loops. The handles are taken out
        // in batches and joined without holding `threads`: the stall watcher, which is joined
        // here too, may still be starting a temporary worker (which finds the pool ended and
        // leaves at once); its handle is then in the next batch.
        let _joining = self.joining.lock();
        loop {
            let batch: Vec<_> = self.threads.lock().drain(..).collect();
            if batch.is_empty() {
                return true;
            }
            for handle in batch {
                // A worker thread catches everything that unwinds, so join cannot fail.
                let _ = handle.join();
            }
        }
    }
}

/// The default for a detached task's panic: one line on stderr, then carry on.
pub(crate) fn report_to_stderr(payload: Box<dyn std::any::Any + Send>) {
    let message = crate::error::panic_message(&*payload).unwrap_or("(a non-string payload)");
    eprintln!("stealpool: a detached task panicked: {message}");
    crate::unwind::drop_quietly(payload);
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
        self.queued(lane);
    }

    #[inline]
    fn on_taken(&self, lane: usize) {
        self.taken(lane);
    }

    fn tally(&self, lane: usize) -> Tally<'_> {
        Tally::Pool(&self.counters, lane)
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
