//! Broadcasts: one run of a closure on every worker of a pool (`broadcast`,
//! `spawn_broadcast`, `Scope::spawn_broadcast`).
//!
//! Each worker slot has a broadcast queue in the registry (`Registry::push_broadcasts`); a
//! worker takes from it after its own deque's Normal work and before anybody else's
//! (`WorkerThread`'s `take`), so a broadcast reaches a worker after the work already queued
//! there, and broadcasts run in the order they were sent. Pushing wakes every sleeper, and a
//! worker's sleep probe looks at its own queue, with the fences of `crate::submit`; a pool that
//! ends with broadcasts queued aborts them (`Registry::drain_injector`).
//!
//! A worker that is waiting inside [`isolate`](fn@crate::isolate) or blocked in
//! [`block_in_place`](fn@crate::block_in_place) runs its broadcast when that ends.

use std::any::Any;
use std::marker::PhantomData;
use std::ptr::NonNull;

use crate::job::{JobMode, JobRef};
use crate::latch::CountLatch;
use crate::loom::cell::UnsafeCell;
use crate::loom::sync::Arc;
use crate::metrics::{Outcome, Tally};
use crate::registry::Registry;
use crate::worker::WorkerThread;

/// Where a run of a broadcast closure is: passed to each run of
/// [`WorkerPool::broadcast`](crate::WorkerPool::broadcast) and its relatives.
///
/// ```
/// let pool = stealpool::WorkerPool::builder().num_threads(3).build().unwrap();
/// let seen = pool.broadcast(|ctx| (ctx.index(), ctx.num_threads()));
/// assert_eq!(seen, [(0, 3), (1, 3), (2, 3)]);
/// ```
#[derive(Debug)]
pub struct BroadcastContext<'a> {
    index: usize,
    num_threads: usize,
    /// Tied to the worker's stack, as rayon's; neither `Send` nor `Sync`.
    _worker: PhantomData<&'a WorkerThread>,
}

impl BroadcastContext<'_> {
    /// The context of run `index` of a broadcast on a pool of `num_threads`.
    pub(crate) fn new(index: usize, num_threads: usize) -> Self {
        BroadcastContext {
            index,
            num_threads,
            _worker: PhantomData,
        }
    }

    /// The index of the worker this run is on (as
    /// [`current_thread_index`](crate::current_thread_index)), from 0 to `num_threads - 1`.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The number of workers the broadcast runs on: the pool's width.
    pub fn num_threads(&self) -> usize {
        self.num_threads
    }
}

type Payload = Box<dyn Any + Send>;

/// A run's slot: its outcome, `None` until it has run (or if the pool ended first).
type Slot<R> = UnsafeCell<Option<Result<R, Payload>>>;

/// A blocking broadcast's state, on the caller's stack.
struct Blocking<'op, OP, R> {
    op: &'op OP,
    /// Run `i`'s outcome.
    results: Box<[Slot<R>]>,
    pending: CountLatch,
    num_threads: usize,
}

/// One worker's run of a blocking broadcast: its job's address.
struct Run<'a, 'op, OP, R> {
    state: &'a Blocking<'op, OP, R>,
    index: usize,
}

impl<OP, R> Run<'_, '_, OP, R>
where
    OP: Fn(BroadcastContext<'_>) -> R + Sync,
    R: Send,
{
    /// # Safety
    /// `pointer` is a live `Run` of this type whose state outlives the call (the caller of
    /// `broadcast` waits for every run), and this is the run's one execution.
    unsafe fn execute(pointer: NonNull<()>, mode: JobMode, _: Tally<'_>) -> Outcome {
        // SAFETY: as the contract says.
        let run = unsafe { pointer.cast::<Self>().as_ref() };
        let state = run.state;
        if mode == JobMode::Run {
            let ctx = BroadcastContext::new(run.index, state.num_threads);
            let outcome = crate::unwind::catch_user(|| (state.op)(ctx));
            // SAFETY: slot `index` is written by this run only, and read by the caller after
            // the latch, which the decrement below sets.
            state.results[run.index].with_mut(|slot| unsafe { *slot = Some(outcome) });
        }
        // The last touch: after it the caller may return and free the state.
        state.pending.decrement();
        Outcome::NotATask
    }
}

/// `broadcast` on `registry`'s pool (see [`WorkerPool::broadcast`](crate::WorkerPool::broadcast)).
pub(crate) fn broadcast_on<OP, R>(registry: &Registry, op: OP) -> Vec<R>
where
    OP: Fn(BroadcastContext<'_>) -> R + Sync,
    R: Send,
{
    let n = registry.num_threads();
    let state = Blocking {
        op: &op,
        results: (0..n).map(|_| UnsafeCell::new(None)).collect(),
        pending: CountLatch::new(),
        num_threads: n,
    };
    let runs: Vec<Run<'_, '_, OP, R>> = (0..n)
        .map(|index| Run {
            state: &state,
            index,
        })
        .collect();
    let caller = registry.current_worker();
    for _ in 0..n {
        state.pending.increment();
    }
    let mut jobs: Vec<(usize, JobRef)> = runs
        .iter()
        .map(|run| {
            // SAFETY: `runs` and `state` stay on this stack frame until `pending` is zero,
            // which every job's one execution (run or abort) counts down.
            let job = unsafe { JobRef::new(NonNull::from(run).cast(), Run::<OP, R>::execute) };
            (run.index, job)
        })
        .collect();
    if let Some(worker) = caller.filter(|w| w.is_isolated()) {
        // Waiting inside `isolate`, this worker would not take its own run from its queue:
        // it runs it now, ahead of any broadcast queued to it earlier.
        let (_, own) = jobs.remove(worker.index());
        // SAFETY: never queued; this is its one execution.
        let _ = unsafe { own.execute(JobMode::Run, Tally::Nowhere) };
    }
    if let Err(jobs) = registry.push_broadcasts(jobs, caller.is_some()) {
        // The pool no longer takes work: nothing was queued; the runs happen here below.
        for (_, job) in jobs {
            // SAFETY: never queued; this is its one execution.
            let _ = unsafe { job.execute(JobMode::Abort, Tally::Nowhere) };
        }
    }
    state.pending.decrement();
    state.pending.wait();
    let mut values = Vec::with_capacity(n);
    let mut panic = None;
    for (index, slot) in state.results.iter().enumerate() {
        // SAFETY: every run is over (the latch is set); the slots are ours.
        let outcome = slot.with_mut(|slot| unsafe { (*slot).take() });
        // A run the pool never got to (it had ended): on the calling thread, as `install`.
        let outcome = outcome
            .unwrap_or_else(|| crate::unwind::catch_user(|| op(BroadcastContext::new(index, n))));
        match outcome {
            Ok(value) => values.push(value),
            Err(payload) => {
                if panic.is_none() {
                    panic = Some(payload);
                } else {
                    crate::unwind::drop_quietly(payload);
                }
            }
        }
    }
    if let Some(payload) = panic {
        std::panic::resume_unwind(payload);
    }
    values
}

/// A detached broadcast's closure, shared by its runs; dropped with the last run.
struct Detached<OP> {
    op: OP,
    registry: Arc<Registry>,
}

/// One worker's run of a detached broadcast, boxed.
struct DetachedRun<OP> {
    shared: Arc<Detached<OP>>,
    index: usize,
}

impl<OP> DetachedRun<OP>
where
    OP: Fn(BroadcastContext<'_>) + Send + Sync + 'static,
{
    /// # Safety
    /// `pointer` comes from `Box::leak` of a `DetachedRun<OP>`, and this is its one execution.
    unsafe fn execute(pointer: NonNull<()>, mode: JobMode, _: Tally<'_>) -> Outcome {
        // SAFETY: as the contract says: the box is ours to free.
        let run = unsafe { Box::from_raw(pointer.cast::<Self>().as_ptr()) };
        if mode == JobMode::Run {
            let shared = &run.shared;
            let ctx = BroadcastContext::new(run.index, shared.registry.num_threads());
            if let Err(payload) = crate::unwind::catch_user(|| (shared.op)(ctx)) {
                shared.registry.panic_report().deliver(payload, |message| {
                    format!("a spawn_broadcast run panicked: {message}")
                });
            }
        }
        Outcome::NotATask
    }
}

/// `spawn_broadcast` on `registry`'s pool (see
/// [`WorkerPool::spawn_broadcast`](crate::WorkerPool::spawn_broadcast)).
pub(crate) fn spawn_broadcast_on<OP>(registry: &Arc<Registry>, op: OP)
where
    OP: Fn(BroadcastContext<'_>) + Send + Sync + 'static,
{
    let shared = Arc::new(Detached {
        op,
        registry: registry.clone(),
    });
    let jobs = (0..registry.num_threads())
        .map(|index| {
            let run = Box::new(DetachedRun {
                shared: shared.clone(),
                index,
            });
            let pointer = NonNull::from(Box::leak(run)).cast();
            // SAFETY: the box is freed by its one execution (run or abort).
            (index, unsafe {
                JobRef::new(pointer, DetachedRun::<OP>::execute)
            })
        })
        .collect();
    drop(shared);
    let owned = registry.current_worker().is_some();
    if let Err(jobs) = registry.push_broadcasts(jobs, owned) {
        // A closed pool runs nothing more: the runs are dropped, and the closure with them.
        for (_, job) in jobs {
            // SAFETY: never queued; this is its one execution.
            let _ = unsafe { job.execute(JobMode::Abort, Tally::Nowhere) };
        }
    }
}

/// The runs of [`Scope::spawn_broadcast`](crate::Scope::spawn_broadcast): `jobs(i)` makes
/// worker `i`'s, queued as a broadcast (a scope keeps its pool from ending, so this never
/// refuses).
pub(crate) fn push_scope_broadcast(registry: &Registry, mut job: impl FnMut(usize) -> JobRef) {
    let jobs = (0..registry.num_threads()).map(|i| (i, job(i))).collect();
    if registry.push_broadcasts(jobs, true).is_err() {
        unreachable!("an owned broadcast is never refused");
    }
}
