//! Model checks of shutdown racing with spawns from other threads: every spawn either runs or
//! is reported cancelled, exactly once. Run with
//! `LOOM_MAX_PREEMPTIONS=3 RUSTFLAGS="--cfg loom" cargo test --release --lib loom`.
//!
//! The models run the pool's own code: [`submit`] and [`drain`] from the parent module, the
//! real [`Sleep`], and real tasks from `task::new_task`. Only two things are stood in for:
//! - the worker, by a main loop reduced to the protocol (take work and run it, else search,
//!   else sleep; on `Terminate` leave as the last worker does, draining the queues);
//! - crossbeam's `Injector`, which is not loom-instrumented, by [`ModelQueue`].
//!
//! # Why the stand-in queue is faithful
//!
//! The protocol's guarantee rests on how a queue decides that it is empty (see
//! [`JobQueue`]), so the stand-in must decide it exactly as the `Injector` does, with the same
//! orderings, and must not synchronize more than it does: a queue that synchronized more
//! would hide a missing fence in the protocol. [`ModelQueue`] is therefore the `Injector`'s
//! algorithm cut down to one fixed block:
//! - `push` claims a slot by advancing `tail` with a SeqCst read-modify-write (the
//!   `Injector`'s compare-and-swap), then writes the job and marks the slot written (Release);
//! - `steal` loads `head` (Acquire), issues a SeqCst fence, loads `tail` (Relaxed) and reports
//!   empty if they are equal; otherwise it claims `head` with a SeqCst compare-and-swap
//!   (retrying if it loses the race, as the `Injector`'s `Steal::Retry` is retried) and waits
//!   for the slot to be written (Acquire);
//! - `is_empty` compares `head` and `tail`, both loaded SeqCst.
//!
//! A `Mutex<VecDeque>` would be simpler, but every push and emptiness check would then
//! synchronize through the lock, which orders them by itself: with such a queue the models
//! pass even without the SeqCst fence in `notify_work` (tried), which this stand-in catches.
//! Here an emptiness decision touches nothing but the two indices, as in the `Injector`.
//!
//! loom checks SeqCst fences exactly but treats SeqCst loads, stores and read-modify-writes
//! as AcqRel, so it may flag a missing fence that a SeqCst access would cover in the C++
//! memory model; it does not hide one.

use crate::job::{JobMode, JobRef};
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use crate::sleep::{Sleep, SleepKind, Wakeup};
use crate::task::{self, JoinHandle};
use loom::thread;

use super::{Injectors, JobQueue, any_queued, drain, submit};

/// More jobs than any model pushes.
const CAPACITY: usize = 4;

/// One slot of a [`ModelQueue`].
struct Slot {
    job: UnsafeCell<Option<JobRef>>,
    /// Set (Release) once `job` has been written; a stealer that claimed the slot waits for it.
    written: AtomicBool,
}

/// The stand-in for crossbeam's `Injector`: its algorithm over one block of [`CAPACITY`]
/// slots (see the module docs).
struct ModelQueue {
    /// The next slot to steal.
    head: AtomicUsize,
    /// The next slot to push into.
    tail: AtomicUsize,
    slots: [Slot; CAPACITY],
}

impl ModelQueue {
    fn new() -> Self {
        ModelQueue {
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            slots: std::array::from_fn(|_| Slot {
                job: UnsafeCell::new(None),
                written: AtomicBool::new(false),
            }),
        }
    }
}

impl JobQueue for ModelQueue {
    type Job = JobRef;

    fn push(&self, job: JobRef) {
        let index = self.tail.fetch_add(1, Ordering::SeqCst);
        assert!(index < CAPACITY, "the model pushed more than CAPACITY jobs");
        let slot = &self.slots[index];
        // SAFETY: the `fetch_add` gave this slot to this push alone, and no stealer reads it
        // before `written` is set below.
        slot.job
            .with_mut(|job_slot| unsafe { *job_slot = Some(job) });
        slot.written.store(true, Ordering::Release);
    }

    fn steal(&self) -> Option<JobRef> {
        loop {
            let head = self.head.load(Ordering::Acquire);
            fence(Ordering::SeqCst);
            let tail = self.tail.load(Ordering::Relaxed);
            if head == tail {
                return None;
            }
            if self
                .head
                .compare_exchange(head, head + 1, Ordering::SeqCst, Ordering::Acquire)
                .is_err()
            {
                continue;
            }
            let slot = &self.slots[head];
            while !slot.written.load(Ordering::Acquire) {
                thread::yield_now();
            }
            // SAFETY: the compare-and-swap gave this slot to this steal alone, and the Acquire
            // load of `written` orders the pusher's write before this read.
            let job = slot.job.with_mut(|job_slot| unsafe { (*job_slot).take() });
            return Some(job.expect("a written slot holds a job"));
        }
    }

    fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst) == self.tail.load(Ordering::SeqCst)
    }
}

/// A pool of one worker, as the submit protocol sees it, with one lane.
struct ModelPool {
    sleep: Sleep,
    queues: [ModelQueue; 1],
}

impl ModelPool {
    fn new() -> Self {
        ModelPool {
            sleep: Sleep::new(1, 0),
            queues: [ModelQueue::new()],
        }
    }
}

impl Injectors for ModelPool {
    type Queue = ModelQueue;

    fn sleep(&self) -> &Sleep {
        &self.sleep
    }

    fn queues(&self) -> &[ModelQueue] {
        &self.queues
    }

    fn on_queued(&self, _lane: usize) {}

    fn on_taken(&self, _lane: usize) {}

    /// # Safety
    /// As [`Injectors::abort`]: `job` is handed over for its one execution.
    unsafe fn abort(&self, job: JobRef, _lane: usize) {
        // SAFETY: the caller hands over the job for its one execution.
        let _ = unsafe { job.execute(JobMode::Abort, crate::metrics::Tally::Nowhere) };
    }
}

/// The worker's main loop (`WorkerThread::main_loop`), reduced to the protocol: run work
/// while there is some, else search, else sleep; on `Terminate` leave as the last worker
/// does (`Threads::worker_exited`), draining what is left.
fn worker_loop(pool: &ModelPool) {
    let sleep = pool.sleep();
    let probe = || any_queued(pool);
    let mut searching = false;
    loop {
        if let Some(job) = pool.queues()[0].steal() {
            if searching {
                sleep.stop_searching(probe);
                searching = false;
            }
            // SAFETY: a job stolen from the queue is ours to execute, once.
            let _ = unsafe { job.execute(JobMode::Run, crate::metrics::Tally::Nowhere) };
            continue;
        }
        if !searching {
            sleep.start_searching();
            searching = true;
        }
        match sleep.sleep(0, SleepKind::Idle, true, &probe) {
            Wakeup::Resumed => {}
            Wakeup::Expired => unreachable!("no deadline"),
            Wakeup::Terminate => {
                drain(pool);
                return;
            }
        }
    }
}

fn start_worker(pool: &Arc<ModelPool>) -> thread::JoinHandle<()> {
    let pool = pool.clone();
    thread::spawn(move || worker_loop(&pool))
}

/// Counts drops of the value it wraps (the task closure's capture).
struct Dropped(Arc<AtomicUsize>);

impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What became of one spawned task's closure.
#[derive(Clone)]
struct Tally {
    /// How many times the closure ran.
    ran: Arc<AtomicUsize>,
    /// How many times its capture was dropped.
    dropped: Arc<AtomicUsize>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            ran: Arc::new(AtomicUsize::new(0)),
            dropped: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Spawns a task into `pool` from this thread, as `spawn::spawn_in` does from outside the
    /// pool: a real task cell, submitted through the real `submit`.
    fn spawn(&self, pool: &ModelPool) -> JoinHandle<u32> {
        let capture = Dropped(self.dropped.clone());
        let ran = self.ran.clone();
        let (job, handle) = task::new_task(move || {
            let _keep = &capture;
            ran.fetch_add(1, Ordering::SeqCst);
            7
        });
        submit(pool, job, 0);
        handle
    }

    /// Once every thread is joined: the handle has resolved, to the result if the closure
    /// ran (once), to "cancelled" if it did not; the capture was dropped exactly once.
    fn check(&self, handle: JoinHandle<u32>) {
        assert!(
            handle.is_finished(),
            "a spawn neither ran nor was cancelled: its handle never resolved"
        );
        let ran = self.ran.load(Ordering::SeqCst);
        match handle.join() {
            Ok(value) => {
                assert_eq!(value, 7);
                assert_eq!(ran, 1, "the handle has a result, so the closure ran once");
            }
            Err(error) => {
                assert!(error.is_cancelled(), "the task failed other than cancelled");
                assert_eq!(ran, 0, "a task reported cancelled, yet its closure ran");
            }
        }
        assert_eq!(
            self.dropped.load(Ordering::SeqCst),
            1,
            "the closure's capture was not dropped exactly once"
        );
    }
}

/// Spawns one task on a new thread, returning its handle on join.
fn spawn_elsewhere(pool: &Arc<ModelPool>, tally: &Tally) -> thread::JoinHandle<JoinHandle<u32>> {
    let (pool, tally) = (pool.clone(), tally.clone());
    thread::spawn(move || tally.spawn(&pool))
}

/// A worker anywhere in its loop, a spawner on another thread, and the pool closed from a
/// third: the task runs or is cancelled, and the worker terminates (a hang is a deadlock,
/// which loom reports).
#[test]
fn shutdown_races_a_spawn() {
    loom::model(|| {
        let pool = Arc::new(ModelPool::new());
        let tally = Tally::new();
        let worker = start_worker(&pool);
        let spawner = spawn_elsewhere(&pool, &tally);
        pool.sleep.close();
        let handle = spawner.join().unwrap();
        worker.join().unwrap();
        assert!(pool.sleep.is_terminated());
        tally.check(handle);
    });
}

/// Two spawners on two threads race the close: each task, independently, runs or is
/// cancelled, and a drain that finds both jobs aborts both.
///
/// Four threads: with three preemptions this takes about a minute, with two a few seconds.
#[test]
fn shutdown_races_two_spawns() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let pool = Arc::new(ModelPool::new());
        let (first, second) = (Tally::new(), Tally::new());
        let worker = start_worker(&pool);
        let spawners = [
            spawn_elsewhere(&pool, &first),
            spawn_elsewhere(&pool, &second),
        ];
        pool.sleep.close();
        let [a, b] = spawners.map(|spawner| spawner.join().unwrap());
        worker.join().unwrap();
        assert!(pool.sleep.is_terminated());
        first.check(a);
        second.check(b);
    });
}

/// The worker is already idle (registered as a sleeper, maybe parked) when a spawn and the
/// close race: the spawn's wake-up, the close's wake-all and the worker's last look at the
/// queue interleave in every way, with the whole preemption budget spent on that race.
#[test]
fn shutdown_races_a_spawn_to_an_idle_worker() {
    loom::model(|| {
        let pool = Arc::new(ModelPool::new());
        let tally = Tally::new();
        let worker = start_worker(&pool);
        while pool.sleep.sleepers() == 0 {
            thread::yield_now();
        }
        let spawner = spawn_elsewhere(&pool, &tally);
        pool.sleep.close();
        let handle = spawner.join().unwrap();
        worker.join().unwrap();
        assert!(pool.sleep.is_terminated());
        tally.check(handle);
    });
}
