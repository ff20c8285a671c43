//! The pool's OS threads: starting the workers, replacing one that retires or dies, temporary
//! workers for stalled tasks, the stall watcher's loop, and waiting for them all to exit.
//!
//! [`Threads`] owns the thread handles and the count of live workers; the scheduler core
//! ([`Registry`]) knows nothing of them. A worker thread runs [`worker::run`], which says how
//! it ended ([`Exit`]), and the thread's body here acts on that:
//! - `Terminate`: the pool ended; the last worker to leave resolves stragglers and wakes the
//!   waiters of [`Threads::wait_for_exit`];
//! - `Replace(deques)`: another thread, with the same name function and stack size, takes
//!   over the slot and its deques with every job still in them (their stealers, which the
//!   other workers use, stay valid); if no thread can be started, the jobs move to the
//!   injectors and the slot counts as exited. The slot's live count is untouched, so shutdown
//!   still waits for the slot's thread.
//!
//! A slot that has been replaced once keeps a *standby*: a parked thread, named for the slot,
//! that the next replacement hands the deques to (a wake-up instead of a thread start on the
//! slot's critical path). The retiring thread then starts the standby's own successor before
//! it exits, off that path. Each replacement still costs one thread start of CPU, which
//! `restart_intensity` bounds (`crate::restart`). Standbys run no hooks and count as no
//! worker until they take over; when the pool ends they are woken and leave.
//!
//! Temporary workers (`PoolBuilder::compensate_stalls`) live in the extra slots after the
//! workers'. Their deques wait in [`Threads::temp_slots`] while unused, so nothing indexed by
//! slot changes size while the pool runs; a temporary worker's thread gives its deques back
//! (with any jobs moved to the injectors) before it stops counting as alive, so a closed pool
//! cannot end while a job is between its deque and an injector.

use std::io;
use std::sync::Arc as StdArc;
use std::time::Instant;

use crossbeam_deque::Worker;

use crate::job::JobRef;
use crate::lane::LANES;
use crate::loom::sync::Arc;
use crate::loom::sync::{Condvar, Mutex};
use crate::loom::thread;
use crate::registry::Registry;
use crate::sleep::GrowFn;
use crate::stall::StallWatch;
use crate::worker::{self, Exit};

/// One slot's deques, one per lane.
type Deques = [Worker<JobRef>; LANES];

/// What a new thread becomes when it takes its slot's deques.
#[derive(Clone, Copy)]
enum Role {
    /// The worker of its slot (a replacement).
    Worker,
    /// The worker of an empty slot of an elastic pool, started because work waits: it starts
    /// counted as searching, like a worker woken for work.
    Grown,
    /// A temporary worker (stall compensation).
    Temp,
}

/// The threads of one pool. [`WorkerPool`](crate::WorkerPool) holds it; every thread body
/// holds a clone of the `Arc`.
pub(crate) struct Threads {
    registry: Arc<Registry>,
    /// Worker threads still running their main loop (a slot whose thread is being replaced
    /// stays counted).
    live: Mutex<usize>,
    all_exited: Condvar,
    /// OS thread handles, taken and joined by the first `wait_for_exit` that gets to them.
    handles: Mutex<Vec<thread::JoinHandle<()>>>,
    /// Held by the caller of `wait_for_exit` that joins the threads.
    joining: Mutex<()>,
    /// The temporary workers' slots not in use, with their deques.
    temp_slots: Mutex<Vec<(usize, Deques)>>,
    /// Each worker slot's standby thread, once the slot has had a replacement.
    standbys: Mutex<Standbys>,
    /// The worker slots without a thread (an elastic pool), with their deques; held while a
    /// thread is started for one ([`grow`](Self::grow)).
    empty_slots: Mutex<Vec<(usize, Deques)>>,
}

#[derive(Default)]
struct Standbys {
    /// By slot index.
    slots: Vec<Option<StdArc<Handoff>>>,
    /// The pool has ended: no standby is kept any more.
    ended: bool,
}

/// Where a standby thread waits for its slot's deques.
#[derive(Default)]
struct Handoff {
    state: Mutex<HandoffState>,
    ready: Condvar,
}

#[derive(Default)]
struct HandoffState {
    deques: Option<Deques>,
    /// The pool ended: the standby leaves.
    ended: bool,
}

impl Handoff {
    /// Gives the standby the slot's deques, or gives them back if it has been told to leave.
    fn hand(&self, deques: Deques) -> Result<(), Deques> {
        let mut state = self.state.lock();
        if state.ended {
            return Err(deques);
        }
        state.deques = Some(deques);
        self.ready.notify_one();
        Ok(())
    }

    /// Tells the standby to leave.
    fn end(&self) {
        self.state.lock().ended = true;
        self.ready.notify_one();
    }

    /// The standby's wait: the deques it takes over, or `None` when it is to leave.
    fn wait(&self) -> Option<Deques> {
        let mut state = self.state.lock();
        loop {
            if let Some(deques) = state.deques.take() {
                return Some(deques);
            }
            if state.ended {
                return None;
            }
            state = self.ready.wait(state);
        }
    }
}

impl Threads {
    /// The threads of `registry`'s pool, none started yet: `workers` worker slots (whose
    /// threads the builder starts with [`start_worker`](Self::start_worker)), then the
    /// temporary workers' slots with `temp_deques`.
    pub(crate) fn new(registry: Arc<Registry>, workers: usize, temp_deques: Vec<Deques>) -> Self {
        Threads {
            registry,
            live: Mutex::new(workers),
            all_exited: Condvar::new(),
            handles: Mutex::new(Vec::with_capacity(workers)),
            joining: Mutex::new(()),
            temp_slots: Mutex::new(
                temp_deques
                    .into_iter()
                    .enumerate()
                    .map(|(i, deques)| (workers + i, deques))
                    .rev()
                    .collect(),
            ),
            standbys: Mutex::new(Standbys {
                slots: (0..workers).map(|_| None).collect(),
                ended: false,
            }),
            empty_slots: Mutex::new(Vec::new()),
        }
    }

    /// Leaves worker slot `index` without a thread for now (an elastic pool starts
    /// `min_threads` workers); the builder calls this instead of
    /// [`start_worker`](Self::start_worker) for the others.
    pub(crate) fn start_empty(&self, index: usize, deques: Deques) {
        *self.live.lock() -= 1;
        self.empty_slots.lock().push((index, deques));
    }

    /// Lets the sleep state start threads for empty slots (see `Sleep::notify_work`), if the
    /// pool is elastic. As with [`enable_spares`](Self::enable_spares), the last worker to
    /// exit takes the function back.
    pub(crate) fn enable_growth(this: &Arc<Self>) {
        if !this.registry.config().elastic() {
            return;
        }
        let threads = this.clone();
        this.registry
            .sleep
            .set_grow(Some(GrowFn(StdArc::new(move |all| {
                Self::grow(&threads, all)
            }))));
    }

    /// Starts a thread for one empty slot (`all`: for every one), unless the pool has ended.
    fn grow(this: &Arc<Self>, all: bool) {
        let mut empty = this.empty_slots.lock();
        loop {
            if this.registry.sleep.is_terminated() {
                return;
            }
            let Some((index, deques)) = empty.pop() else {
                return;
            };
            this.registry.sleep.slot_filled();
            *this.live.lock() += 1;
            if let Err(deques) = Self::start_with(this, index, Role::Grown, deques) {
                // No thread now; the next announcement of work tries again.
                empty.push((index, deques));
                *this.live.lock() -= 1;
                this.registry.sleep.slot_unfilled();
                return;
            }
            crate::trace::worker_started(index);
            if !all {
                return;
            }
        }
    }

    /// Worker `index` left an elastic pool, idle: its slot becomes empty, with its deques
    /// (and its standby, if it had one, leaves). If work showed up meanwhile, a thread is
    /// started again (the leaving worker may have been the one a submitter counted on).
    fn leave_slot(this: &Arc<Self>, index: usize, deques: Deques) {
        if let Some(standby) = this.standbys.lock().slots[index].take() {
            standby.end();
        }
        this.empty_slots.lock().push((index, deques));
        let registry = &this.registry;
        registry.sleep.slot_emptied();
        crate::loom::sync::atomic::fence(crate::loom::sync::atomic::Ordering::SeqCst);
        if registry.has_work() || registry.has_broadcast(index) {
            Self::grow(this, false);
        }
    }

    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// A thread builder with the pool's settings (name, stack size).
    fn thread_builder(&self, name: String) -> thread::Builder {
        let builder = thread::Builder::new().name(name);
        match self.registry.config().stack_size {
            Some(bytes) => builder.stack_size(bytes),
            None => builder,
        }
    }

    /// Starts the OS thread of worker `index`, named `name`, which takes over `deques`.
    /// (Associated functions take `this: &Arc<Threads>` where the threads they start keep a
    /// clone: loom's `Arc` cannot be a method receiver.)
    pub(crate) fn start_worker(
        this: &Arc<Self>,
        index: usize,
        deques: Deques,
        name: String,
    ) -> io::Result<()> {
        let threads = this.clone();
        this.spawn_thread(this.thread_builder(name), move || {
            Self::worker_body(&threads, index, deques, false)
        })
    }

    /// The body of worker `index`'s thread.
    fn worker_body(this: &Arc<Self>, index: usize, deques: Deques, searching: bool) {
        match worker::run(this.registry.clone(), index, deques, searching) {
            Exit::Terminate => this.worker_exited(),
            Exit::Replace(deques) => Self::replace_worker(this, index, deques),
            Exit::Leave(deques) => {
                crate::trace::worker_left(index);
                Self::leave_slot(this, index, deques);
                this.worker_exited();
            }
        }
    }

    /// The body of a temporary worker's thread in slot `index`.
    fn temp_body(&self, index: usize, deques: Deques) {
        let (deques, active) = worker::run_temp(self.registry.clone(), index, deques);
        // Whatever is left moves to the injectors, the slot becomes free, and only then does
        // it stop counting as alive (which may end a closed pool).
        self.move_to_injectors(&deques);
        self.temp_slots.lock().push((index, deques));
        self.registry.sleep.temp_left(active);
    }

    /// Hands the slot and the deques of worker `index`, whose thread is retiring or dying, to
    /// the slot's standby, or to a new thread when there is none; then starts the slot's next
    /// standby (the caller is the retiring thread: this is off the slot's critical path). If
    /// no thread can be started, the deques' jobs move to the injectors, where the other
    /// workers (or the final drain) find them, and the slot counts as exited.
    fn replace_worker(this: &Arc<Self>, index: usize, deques: Deques) {
        let standby = this.standbys.lock().slots[index].take();
        let handed = match standby {
            Some(standby) => standby.hand(deques),
            None => Err(deques),
        };
        let replaced = match handed {
            Ok(()) => Ok(()),
            Err(deques) => Self::start_with(this, index, Role::Worker, deques),
        };
        match replaced {
            Ok(()) => {
                this.registry.counters().worker_replaced();
                crate::trace::worker_replaced(index);
                Self::start_standby(this, index);
            }
            Err(deques) => {
                this.move_to_injectors(&deques);
                this.registry.sleep.worker_lost();
                this.worker_exited();
            }
        }
    }

    /// Starts a standby thread for slot `index` and keeps it, unless the pool has ended (then
    /// it is told to leave at once). Without a thread, the next replacement starts one.
    fn start_standby(this: &Arc<Self>, index: usize) {
        let handoff = StdArc::new(Handoff::default());
        let waiting = handoff.clone();
        let threads = this.clone();
        let builder = this.thread_builder(this.registry.config().thread_name(index));
        let body = move || {
            if let Some(deques) = waiting.wait() {
                Self::worker_body(&threads, index, deques, false);
            }
        };
        if this.spawn_thread(builder, body).is_err() {
            return;
        }
        // Kept only once it exists, so that a replacement never hands deques to nothing; and
        // only if the slot has none, which it may have by now: the standby this thread handed
        // the slot to may already have retired in turn and started one of its own.
        let mut standbys = this.standbys.lock();
        if standbys.ended || standbys.slots[index].is_some() {
            drop(standbys);
            handoff.end();
        } else {
            standbys.slots[index] = Some(handoff);
        }
    }

    /// Starts a thread, named for slot `index`, that takes over `deques` as that slot's worker
    /// (or, for `Role::Temp`, as a temporary worker). If no thread can be started, the deques
    /// come back.
    ///
    /// The deques wait in a cell the new thread empties first thing, rather than in a
    /// channel: the thread never has to block for them (on a busy machine, a blocked start
    /// and the wake-up after it cost tens of microseconds per replacement).
    fn start_with(
        this: &Arc<Self>,
        index: usize,
        role: Role,
        deques: Deques,
    ) -> Result<(), Deques> {
        let builder = this.thread_builder(this.registry.config().thread_name(index));
        let cell = StdArc::new(Mutex::new(Some(deques)));
        let inside = cell.clone();
        let threads = this.clone();
        let body = move || {
            let deques = inside.lock().take();
            drop(inside);
            if let Some(deques) = deques {
                match role {
                    Role::Worker => Self::worker_body(&threads, index, deques, false),
                    Role::Grown => Self::worker_body(&threads, index, deques, true),
                    Role::Temp => threads.temp_body(index, deques),
                }
            }
        };
        match this.spawn_thread(builder, body) {
            Ok(()) => Ok(()),
            // The thread never ran, so the deques are still in the cell.
            Err(_) => Err(cell
                .lock()
                .take()
                .expect("a thread that was never started took the deques")),
        }
    }

    /// Spawns one of the pool's OS threads and records its handle, under the lock, so that
    /// `wait_for_exit` never misses a thread. Then the handles of threads that have ended
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
            let mut handles = self.handles.lock();
            handles.push(builder.spawn(body)?);
            let (ended, running) = handles.drain(..).partition(|handle| handle.is_finished());
            *handles = running;
            ended
        };
        for handle in ended {
            let _ = handle.join();
        }
        Ok(())
    }

    /// Starts a temporary worker in a free temporary slot. False if every temporary slot is in
    /// use or no thread could be started.
    fn start_temp(this: &Arc<Self>) -> bool {
        let Some((index, deques)) = this.temp_slots.lock().pop() else {
            return false;
        };
        // Counted before it starts, so that the pool cannot end while it is on its way.
        this.registry.sleep.add_temp();
        let Err(deques) = Self::start_with(this, index, Role::Temp, deques) else {
            return true;
        };
        this.temp_slots.lock().push((index, deques));
        this.registry.sleep.temp_left(true);
        false
    }

    /// Moves every job left in a slot's deques (its thread is gone) to the injectors, where
    /// the other workers, or the final drain, find them, and wakes a worker if there were
    /// any. The jobs stay counted in their lanes: they are still queued.
    fn move_to_injectors(&self, deques: &Deques) {
        let mut moved = false;
        for (lane, deque) in deques.iter().enumerate() {
            while let Some(job) = deque.pop() {
                self.registry.injectors[lane].push(job);
                moved = true;
            }
        }
        if moved {
            self.registry.sleep.notify_work();
        }
    }

    /// A worker left its main loop for good (or, counted as live, could not be started). The
    /// last one resolves stragglers and tells the waiters in
    /// [`wait_for_exit`](Self::wait_for_exit).
    pub(crate) fn worker_exited(&self) {
        let mut live = self.live.lock();
        *live -= 1;
        if *live == 0 {
            let registry = &self.registry;
            // Normally the pool has terminated already; not if every slot was lost (no thread
            // could be started to replace the last one): then nothing could run what a
            // submitter would queue, so the pool ends here.
            if !registry.sleep.is_terminated() {
                registry.sleep.terminate_now();
            }
            registry.drain_injector();
            if let Some(watch) = registry.stall_watch() {
                watch.end();
            }
            self.end_standbys();
            registry.clear_spare_starter();
            registry.sleep.set_grow(None);
            crate::trace::pool_stopped();
            self.all_exited.notify_all();
        }
    }

    /// The pool has ended: every standby leaves, and none is kept from now on.
    fn end_standbys(&self) {
        let waiting: Vec<_> = {
            let mut standbys = self.standbys.lock();
            standbys.ended = true;
            standbys.slots.iter_mut().filter_map(Option::take).collect()
        };
        for handoff in waiting {
            handoff.end();
        }
    }

    /// Ends a pool whose build failed after `started` workers were started: the ones that
    /// never started are not waited for.
    pub(crate) fn abandon(&self, started: usize) {
        for _ in started..self.registry.num_threads() {
            self.worker_exited();
        }
        self.registry.sleep.terminate_now();
        self.wait_for_exit();
    }

    /// Blocks until every worker has left, then joins the OS threads (if nobody else did).
    pub(crate) fn wait_for_exit(&self) {
        self.wait_for_exit_until(None);
    }

    /// Like [`wait_for_exit`](Self::wait_for_exit), giving up at `deadline`; false then (the
    /// workers keep going and the threads are not joined).
    pub(crate) fn wait_for_exit_until(&self, deadline: Option<Instant>) -> bool {
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
        // in batches and joined without holding `handles`: the stall watcher, which is joined
        // here too, may still be starting a temporary worker (which finds the pool ended and
        // leaves at once); its handle is then in the next batch.
        let _joining = self.joining.lock();
        loop {
            let batch: Vec<_> = self.handles.lock().drain(..).collect();
            if batch.is_empty() {
                return true;
            }
            for handle in batch {
                // A worker thread catches everything that unwinds, so join cannot fail.
                let _ = handle.join();
            }
        }
    }

    /// Lets `block_in_place` start spare workers (if `max_blocking_threads` allows any): the
    /// registry gets a function that starts temporary workers while fewer are alive than it
    /// wants. That function holds the threads, which hold the registry: the last worker to
    /// exit takes it back ([`worker_exited`](Self::worker_exited)).
    pub(crate) fn enable_spares(this: &Arc<Self>) {
        if this.registry.config().max_blocking == 0 {
            return;
        }
        let threads = this.clone();
        this.registry.set_spare_starter(StdArc::new(move || {
            let registry = &threads.registry;
            while registry.sleep.active_temps() < registry.temps_wanted() {
                if !Self::start_temp(&threads) {
                    break;
                }
            }
        }));
    }

    /// Starts the stall watcher thread, if stall detection is on. Its handle joins the
    /// workers' (it leaves once the pool has ended).
    pub(crate) fn start_stall_watcher(this: &Arc<Self>) -> io::Result<()> {
        if this.registry.stall_watch().is_none() {
            return Ok(());
        }
        let threads = this.clone();
        let builder = thread::Builder::new().name("stealpool-stall-watch".into());
        this.spawn_thread(builder, move || Self::watch(&threads))
    }

    /// The watcher thread's body: looks at the stamps until the pool ends (see
    /// `crate::stall`).
    fn watch(this: &Arc<Self>) {
        let Some(watch) = this.registry.stall_watch() else {
            return;
        };
        let mut reported = watch.reported();
        while watch.pause() {
            let stalled = watch.look(&mut reported);
            if watch.compensates() {
                Self::compensate(this, watch, stalled);
            }
        }
    }

    /// Publishes the stalled count and starts temporary workers while fewer than wanted are
    /// alive and work is waiting.
    fn compensate(this: &Arc<Self>, watch: &StallWatch, stalled: usize) {
        watch.publish_stalled(stalled);
        let wanted = this.registry.temps_wanted();
        while this.registry.sleep.active_temps() < wanted && this.registry.has_work() {
            if !Self::start_temp(this) {
                break;
            }
            watch.temp_started();
        }
    }

    /// OS thread handles kept (not yet joined).
    #[cfg(all(test, not(loom)))]
    fn handles_kept(&self) -> usize {
        self.handles.lock().len()
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
    use crate::metrics::{Outcome, Tally};

    /// Panics outside any task's `catch_unwind`: the worker loop itself unwinds, as it would
    /// if a bug panicked there.
    ///
    /// # Safety
    /// None needed: it touches nothing (the signature is that of a job's entry).
    unsafe fn explode(_: NonNull<()>, _: JobMode, _: Tally<'_>) -> Outcome {
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

    /// Waits (at most 30 s) until `pool` counts `n` replaced workers.
    fn wait_for_replacements(pool: &crate::WorkerPool, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while pool.metrics().workers_replaced() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.metrics().workers_replaced(), n);
    }

    fn exploding_job() -> JobRef {
        // SAFETY: `explode` never reads the pointer, so a dangling one is fine (aligned, since a
        // job's address must be even: see `JobRef`).
        unsafe { JobRef::new(NonNull::<u64>::dangling().cast(), explode) }
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
        wait_for_replacements(&pool, 1);
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
            wait_for_replacements(&pool, round);
            assert_eq!(join_within(pool.spawn(move || round)), round);
        }
        // Each replacement joins the threads that have ended before it; what remains is the
        // current worker and the few retired ones that may still be finishing (without the
        // pruning, all 41 would be kept).
        let kept = pool.threads().handles_kept();
        assert!(
            kept <= 5,
            "{kept} thread handles kept after 40 replacements"
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
        wait_for_replacements(&pool, 3);
        pool.shutdown();
    }
}
