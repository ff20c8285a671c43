//! [`Scope`]: spawn tasks that borrow from the caller's stack; the scope returns once all of
//! them are done.
//!
//! The scope lives on the stack of the thread that called `scope`. Each spawned body is boxed
//! into a job that points back at the scope, and the scope counts the jobs still to finish
//! (plus one for the scope's own closure). The last job to finish sets the scope's latch; the
//! owner waits for that latch before it returns, running other work meanwhile, so no job can
//! outlive the stack data it borrows. A panic in a job is kept (the first one wins) and
//! re-raised by the owner once everything has finished.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic;
use std::ptr::NonNull;

use std::sync::Arc as StdArc;

use crate::broadcast::{self, BroadcastContext};
use crate::job::{JobMode, JobRef};
use crate::latch::CountLatch;
use crate::loom::sync::{Arc, Mutex};
use crate::metrics::{Outcome, Spawned, Tally};
use crate::registry::Registry;
use crate::worker::{WorkerThread, current_lane};

/// A scope for spawning tasks that may borrow data living outside the scope. Made by
/// [`WorkerPool::scope`](crate::WorkerPool::scope) and [`stealpool::scope`](fn@crate::scope).
///
/// `scope` returns only when every task spawned in it (and every task those spawned) has
/// finished, which is what lets them borrow from the caller's stack. If a task panics, the
/// first panic is re-raised by `scope` after all of them have finished.
///
/// ```
/// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
/// let mut words = vec!["apple", "kiwi", "banana"];
/// let mut lengths = vec![0; words.len()];
/// pool.scope(|s| {
///     for (word, len) in words.iter().zip(lengths.iter_mut()) {
///         s.spawn(move |_| *len = word.len());
///     }
/// });
/// assert_eq!(lengths, [5, 4, 6]);
/// words.push("plum"); // the borrows ended with the scope
/// ```
///
/// A task cannot borrow something that may be gone before the scope ends:
///
/// ```compile_fail,E0373
/// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
/// pool.scope(|s| {
///     let local = vec![1, 2, 3];
///     // error[E0373]: the task may outlive `local`, which is dropped when this closure returns
///     s.spawn(|_| println!("{:?}", local));
/// });
/// ```
///
/// Nor can it take a value that may not cross threads:
///
/// ```compile_fail,E0277
/// use std::rc::Rc;
/// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
/// pool.scope(|s| {
///     let shared = Rc::new(5);
///     // error[E0277]: `Rc<i32>` cannot be sent between threads safely
///     s.spawn(move |_| println!("{shared}"));
/// });
/// ```
///
/// And the scope itself cannot escape its closure:
///
/// ```compile_fail,E0521
/// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
/// let mut escaped = None;
/// pool.scope(|s| escaped = Some(s));
/// ```
pub struct Scope<'scope> {
    registry: Arc<Registry>,
    /// Jobs not yet finished, plus one for the scope's own closure until it returns; set when
    /// that reaches zero.
    pending: CountLatch,
    /// The first panic of a job or of the scope's closure.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
    /// The lane of the task that opened the scope: where spawns from outside the pool go.
    lane: usize,
    /// The pool runs the scope's tasks. False only when the pool was shut down and `install`
    /// (or `in_place_scope`) ran the scope on the calling thread; then the tasks run on the
    /// spot.
    on_pool: bool,
    /// The owner is one of the pool's workers, whose wait keeps the pool from ending until
    /// every task has run. False for `in_place_scope` off the pool: then a task the pool can
    /// no longer run runs where it is refused (see `ScopeJob::execute`).
    owner_on_pool: bool,
    /// Makes `'scope` invariant: a scope for a longer lifetime must not pass for one with a
    /// shorter one (or tasks could borrow what dies first).
    /// (`fn(T) -> T` is invariant in `T`, and is `Send + Sync`.)
    marker: PhantomData<fn(&'scope ()) -> &'scope ()>,
}

impl<'scope> Scope<'scope> {
    /// Spawns `body` into the scope. It runs on one of the pool's workers (at once on the
    /// calling worker's deque, where idle workers can steal it) and gets the scope, so it can
    /// spawn more. `body` may borrow anything that outlives the scope. It runs at the
    /// [`Priority`](crate::Priority) of the task that spawns it (for a spawn from a thread
    /// outside the pool, that of the task that opened the scope).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
    /// let visited = AtomicUsize::new(0);
    /// pool.scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|s| {
    ///             visited.fetch_add(1, Ordering::Relaxed);
    ///             s.spawn(|_| {
    ///                 visited.fetch_add(1, Ordering::Relaxed);
    ///             });
    ///         });
    ///     }
    /// });
    /// assert_eq!(visited.into_inner(), 8);
    /// ```
    pub fn spawn<BODY>(&self, body: BODY)
    where
        BODY: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        if !self.on_pool {
            // The pool is shut down and the scope runs on the caller: the task runs here and
            // now, and is not the pool's work, so not counted in its metrics.
            self.spawn_job(None, self.lane, false, body);
            return;
        }
        self.spawn_timed(body, false);
    }

    /// [`spawn`](Self::spawn), FIFO among the calling worker's spawns when `fifo`.
    fn spawn_timed<BODY>(&self, body: BODY, fifo: bool)
    where
        BODY: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        let worker = self.registry.current_worker();
        let lane = worker.map_or(self.lane, WorkerThread::lane);
        match self.registry.counters().clock_if_sampled(lane) {
            Some(clock) => {
                let spawned = Spawned::now(clock);
                self.spawn_job(worker, lane, fifo, move |scope: &Scope<'scope>| {
                    let _running = crate::worker::start_timed(spawned);
                    body(scope)
                });
            }
            None => self.spawn_job(worker, lane, fifo, body),
        }
    }

    /// Spawns `body` once on every worker of the pool, as a broadcast (see
    /// [`WorkerPool::broadcast`](crate::WorkerPool::broadcast) for when each worker runs it);
    /// each run gets the scope and its [`BroadcastContext`], and the scope waits for all of
    /// them. Runs at the `Normal` priority.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// let pool = stealpool::WorkerPool::builder().num_threads(3).build().unwrap();
    /// let sum = AtomicUsize::new(0);
    /// pool.scope(|s| {
    ///     s.spawn_broadcast(|_, ctx| {
    ///         sum.fetch_add(ctx.index() + 1, Ordering::Relaxed);
    ///     });
    /// });
    /// assert_eq!(sum.into_inner(), 1 + 2 + 3);
    /// ```
    pub fn spawn_broadcast<BODY>(&self, body: BODY)
    where
        BODY: Fn(&Scope<'scope>, BroadcastContext<'_>) + Send + Sync + 'scope,
    {
        let n = self.registry.num_threads();
        if !self.on_pool {
            // The pool is shut down: each run happens here and now, as `spawn`'s tasks do.
            for index in 0..n {
                if let Err(payload) =
                    crate::unwind::catch_user(|| body(self, BroadcastContext::new(index, n)))
                {
                    self.record_panic(payload);
                }
            }
            return;
        }
        let body = StdArc::new(body);
        broadcast::push_scope_broadcast(&self.registry, |index| {
            let body = body.clone();
            self.make_job(false, move |scope: &Scope<'scope>| {
                body(scope, BroadcastContext::new(index, n))
            })
        });
    }

    /// Boxes `body` into a job counted by the scope.
    fn make_job<BODY>(&self, isolated: bool, body: BODY) -> JobRef
    where
        BODY: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        // The caller is inside the scope (its closure or a running job), which holds a count
        // of its own, so `pending` cannot reach zero meanwhile.
        self.pending.increment();
        let job = Box::new(ScopeJob {
            scope: self,
            isolated,
            body,
        });
        let pointer = NonNull::from(Box::leak(job)).cast::<()>();
        // SAFETY: the box is freed by `ScopeJob::execute`, called exactly once by whoever
        // takes the `JobRef` from a queue (or right away). The scope it points to stays alive
        // until `pending` is zero, which needs that call.
        unsafe { JobRef::new(pointer, ScopeJob::<'scope, BODY>::execute) }
    }

    /// Boxes `body` into a job and queues it in `lane`: on `worker`'s deque when the caller
    /// is one of the pool's workers (through its FIFO queue when `fifo`), else in the
    /// injector. With the pool shut down (`on_pool` false) the job runs at once on the
    /// calling thread.
    fn spawn_job<BODY>(&self, worker: Option<&WorkerThread>, lane: usize, fifo: bool, body: BODY)
    where
        BODY: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        let isolated = worker.is_some_and(WorkerThread::is_isolated);
        let job = self.make_job(isolated, body);
        if !self.on_pool {
            // SAFETY: the job was never queued; this is its one execution.
            let _ = unsafe { job.execute(JobMode::Run, Tally::Nowhere) };
            return;
        }
        match worker {
            Some(worker) => {
                worker.counters().submitted(lane);
                if fifo {
                    crate::spawn::push_fifo(worker, job, lane);
                } else {
                    worker.push_lane(job, lane);
                }
            }
            // A thread outside the pool (the scope was handed to it): if the owner is a
            // worker, its wait keeps the pool from terminating until this job has run, so the
            // injector is safe even after shutdown; otherwise the submit protocol decides,
            // and a refused job runs here (see `ScopeJob::execute`).
            None => {
                self.registry.counters().submitted_outside(lane);
                if self.owner_on_pool {
                    self.registry.inject_owned(job, lane);
                } else {
                    self.registry.inject(job, lane);
                }
            }
        }
    }

    fn record_panic(&self, payload: Box<dyn Any + Send>) {
        let mut slot = self.panic.lock();
        if slot.is_none() {
            *slot = Some(payload);
        } else {
            drop(slot);
            crate::unwind::drop_quietly(payload);
        }
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("on_pool", &self.on_pool)
            .finish_non_exhaustive()
    }
}

/// A task spawned into a scope, boxed; `execute` frees it.
struct ScopeJob<'scope, BODY> {
    scope: *const Scope<'scope>,
    /// Spawned inside an isolated region: a requeued job keeps its mark (see
    /// `WorkerThread::isolate`).
    isolated: bool,
    body: BODY,
}

impl<'scope, BODY> ScopeJob<'scope, BODY>
where
    BODY: FnOnce(&Scope<'scope>) + Send + 'scope,
{
    /// Runs the body, records a panic, and counts the job done; in `Abort` mode, requeues the
    /// job instead.
    ///
    /// # Safety
    /// `pointer` comes from `Box::leak` of a `ScopeJob<'scope, BODY>` in
    /// [`Scope::spawn_job`], and a `Run` is the job's one execution (an `Abort` leaves the job
    /// queued again).
    unsafe fn execute(pointer: NonNull<()>, mode: JobMode, tally: Tally<'_>) -> Outcome {
        // SAFETY: the job is alive until its one `Run`; only the scope's fields are read.
        let this = unsafe { &*pointer.cast::<Self>().as_ptr() };
        // SAFETY: as above.
        let scope = unsafe { &*this.scope };
        if mode == JobMode::Abort && scope.owner_on_pool {
            // A scope job is part of work already admitted (its scope's owner is waiting for
            // it), so `shutdown_now` does not cancel it: it goes back to the queue it came
            // from. (A pool that terminates has no scope with a worker as owner left
            // waiting, so the final drain never sees one. An owner off the pool, of
            // `in_place_scope`, does not keep the pool alive: its refused job runs below, on
            // the thread that refused it.)
            // SAFETY: as in `Scope::spawn`: the same pointer and function, executed once later.
            let job = unsafe { JobRef::new(pointer, Self::execute) };
            let job = if this.isolated {
                job.mark_isolated()
            } else {
                job
            };
            scope.registry.inject_owned(job, scope.lane);
            return Outcome::NotATask;
        }
        // SAFETY: `pointer` came from `Box::leak` of this type in `Scope::spawn`, and this is
        // its one execution.
        let job = unsafe { Box::from_raw(pointer.cast::<Self>().as_ptr()) };
        let ScopeJob { scope, body, .. } = *job;
        // SAFETY: the scope outlives its jobs: its owner waits until `pending` is zero, and
        // this job's count is still held.
        let scope = unsafe { &*scope };
        let outcome = match crate::unwind::catch_user(|| body(scope)) {
            Ok(()) => Outcome::Completed,
            Err(payload) => {
                scope.record_panic(payload);
                Outcome::Panicked
            }
        };
        // Counted before the scope can end.
        tally.count(outcome);
        // The last touch: after it the owner may return and free the scope.
        scope.pending.decrement();
        outcome
    }
}

/// `scope` on `registry`'s pool: the scope's closure runs on one of its workers (on a pool
/// that was shut down, on the calling thread; see [`Registry::in_worker`]).
pub(crate) fn scope_on<'scope, OP, R>(registry: &Arc<Registry>, op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R + Send,
    R: Send,
{
    registry.in_worker(|worker| {
        let on_pool = worker.is_some();
        run_scope(registry, on_pool, on_pool, op)
    })
}

/// `in_place_scope`: the scope's closure runs on the calling thread, whose pool (or else
/// `registry`, the global pool) runs the tasks; on a pool that was shut down, the tasks run
/// on the spot.
pub(crate) fn in_place_scope_on<'scope, OP, R>(registry: &Arc<Registry>, op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R,
{
    match WorkerThread::current() {
        Some(worker) => run_scope(worker.registry(), true, true, op),
        None => run_scope(registry, !registry.sleep.is_closed(), false, op),
    }
}

/// Runs `op` as the body of a new scope and waits for every task spawned in it. `on_pool`:
/// the pool runs the tasks; `owner_on_pool`: the calling thread is one of its workers.
fn run_scope<'scope, OP, R>(
    registry: &Arc<Registry>,
    on_pool: bool,
    owner_on_pool: bool,
    op: OP,
) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R,
{
    let scope = Scope {
        registry: registry.clone(),
        pending: CountLatch::new(),
        panic: Mutex::new(None),
        lane: current_lane(),
        on_pool,
        owner_on_pool,
        marker: PhantomData,
    };
    let value = match crate::unwind::catch_user(|| op(&scope)) {
        Ok(value) => Some(value),
        Err(payload) => {
            scope.record_panic(payload);
            None
        }
    };
    scope.pending.decrement();
    scope.pending.wait();
    let panic = scope.panic.lock().take();
    if let Some(payload) = panic {
        panic::resume_unwind(payload);
    }
    value.expect("a closure that did not panic returned a value")
}

/// A scope whose tasks start in the order they were spawned, as far as each worker's own
/// spawns go (rayon's `ScopeFifo`). Made by [`WorkerPool::scope_fifo`](crate::WorkerPool::scope_fifo),
/// [`stealpool::scope_fifo`](fn@crate::scope_fifo) and
/// [`in_place_scope_fifo`](fn@crate::in_place_scope_fifo). Everything else is [`Scope`]'s.
///
/// ```
/// use std::sync::Mutex;
///
/// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
/// let order = Mutex::new(Vec::new());
/// pool.scope_fifo(|s| {
///     for i in 0..4 {
///         let order = &order;
///         s.spawn_fifo(move |_| order.lock().unwrap().push(i));
///     }
/// });
/// assert_eq!(order.into_inner().unwrap(), [0, 1, 2, 3]); // `scope` would give 3, 2, 1, 0
/// ```
#[repr(transparent)]
pub struct ScopeFifo<'scope> {
    inner: Scope<'scope>,
}

impl<'scope> ScopeFifo<'scope> {
    /// The FIFO view of `scope`.
    fn of<'a>(scope: &'a Scope<'scope>) -> &'a ScopeFifo<'scope> {
        // SAFETY: `ScopeFifo` is a `repr(transparent)` wrapper of `Scope`, so the two have
        // the same layout, and the reference keeps `scope`'s lifetime.
        unsafe { &*std::ptr::from_ref(scope).cast::<ScopeFifo<'scope>>() }
    }

    /// Spawns `body` into the scope, as [`Scope::spawn`] does, except that on a worker the
    /// tasks it spawns this way start oldest first: each spawn queues the task in the
    /// worker's FIFO queue and a ticket on its deque, and whoever runs a ticket (the worker,
    /// or a thief) runs the oldest task of that queue. Inside
    /// [`isolate`](fn@crate::isolate) it spawns as [`Scope::spawn`] does.
    pub fn spawn_fifo<BODY>(&self, body: BODY)
    where
        BODY: FnOnce(&ScopeFifo<'scope>) + Send + 'scope,
    {
        self.inner.spawn_timed(
            move |scope: &Scope<'scope>| body(ScopeFifo::of(scope)),
            true,
        );
    }

    /// [`Scope::spawn_broadcast`], with the FIFO scope.
    pub fn spawn_broadcast<BODY>(&self, body: BODY)
    where
        BODY: Fn(&ScopeFifo<'scope>, BroadcastContext<'_>) + Send + Sync + 'scope,
    {
        self.inner
            .spawn_broadcast(move |scope, ctx| body(ScopeFifo::of(scope), ctx));
    }
}

impl fmt::Debug for ScopeFifo<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScopeFifo").field(&self.inner).finish()
    }
}

/// `scope_fifo` on `registry`'s pool (see [`scope_on`]).
pub(crate) fn scope_fifo_on<'scope, OP, R>(registry: &Arc<Registry>, op: OP) -> R
where
    OP: FnOnce(&ScopeFifo<'scope>) -> R + Send,
    R: Send,
{
    scope_on(registry, move |scope| op(ScopeFifo::of(scope)))
}

/// `in_place_scope_fifo` (see [`in_place_scope_on`]).
pub(crate) fn in_place_scope_fifo_on<'scope, OP, R>(registry: &Arc<Registry>, op: OP) -> R
where
    OP: FnOnce(&ScopeFifo<'scope>) -> R,
{
    in_place_scope_on(registry, move |scope| op(ScopeFifo::of(scope)))
}
