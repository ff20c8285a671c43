//! The global pool and the free functions that find "the current pool".

use std::sync::OnceLock;

use crate::broadcast::{self, BroadcastContext};
use crate::builder::{self, BuildError, PoolBuilder};
use crate::join::FnContext;
use crate::lane::Priority;
use crate::loom::sync::Arc;
use crate::pool::WorkerPool;
use crate::registry::Registry;
use crate::scope::{self, Scope, ScopeFifo};
use crate::task::JoinHandle;
use crate::worker::{WorkerThread, current_lane};
use crate::{join as join_mod, spawn as spawn_mod};

static GLOBAL: OnceLock<WorkerPool> = OnceLock::new();

/// The global pool: the one [`PoolBuilder::build_global`] set up, else one built with default
/// settings on first use. It lives as long as the process ([`shutdown_global`] ends its
/// threads).
pub(crate) fn global_pool() -> &'static WorkerPool {
    GLOBAL.get_or_init(builder::build_default)
}

/// The global pool's registry (built on first use).
pub(crate) fn global_registry() -> &'static Arc<Registry> {
    global_pool().registry()
}

/// [`PoolBuilder::build_global`]: builds the pool and makes it the global one, unless there
/// is one already.
pub(crate) fn build_global(builder: PoolBuilder) -> Result<(), BuildError> {
    if GLOBAL.get().is_some() {
        return Err(BuildError::global_exists());
    }
    let pool = builder.build()?;
    // Another thread may have set one meanwhile: then this pool is not needed.
    GLOBAL.set(pool).map_err(|pool| {
        pool.shutdown();
        BuildError::global_exists()
    })
}

/// Shuts the global pool down, if one was built, and waits for its threads: what a library
/// that is about to be unloaded needs (rayon has no counterpart; its issue #1242 asks for
/// one). True if there was a global pool.
///
/// This is [`WorkerPool::shutdown`] on the global pool, with its rules: queued tasks still
/// run, and called from one of the global pool's own tasks it only closes the pool. The
/// global pool stays shut down for the rest of the process: afterwards
/// [`stealpool::spawn`](fn@spawn) from outside its workers resolves at once as cancelled, and
/// [`join`](fn@join) and [`scope`](fn@scope) run on the calling thread.
///
/// ```
/// let handle = stealpool::spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// assert!(stealpool::shutdown_global());
/// assert!(stealpool::spawn(|| 1).join().unwrap_err().is_cancelled());
/// assert_eq!(stealpool::join(|| 1, || 2), (1, 2)); // on this thread
/// ```
pub fn shutdown_global() -> bool {
    match GLOBAL.get() {
        Some(pool) => {
            pool.shutdown();
            true
        }
        None => false,
    }
}

/// The number of worker threads of the current pool: the pool whose worker calls it, else
/// the global pool (which, as with rayon's function of the same name, this builds if it does
/// not exist yet).
///
/// ```
/// let pool = stealpool::WorkerPool::builder().num_threads(3).build().unwrap();
/// assert_eq!(pool.install(stealpool::current_num_threads), 3);
/// ```
pub fn current_num_threads() -> usize {
    current_registry(|registry| registry.num_threads())
}

/// What [`yield_now`] and [`yield_local`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Yield {
    /// A queued task ran.
    Executed,
    /// There was nothing to run.
    Idle,
}

/// Inside a task: runs one queued task of the pool, if there is one, and returns; `None` off
/// the pool. The task is the one the worker would take next at a task boundary, so higher
/// lanes come first: a long `Low` task that yields now and then lets urgent work in, even on
/// a one-thread pool. Tasks run this way run nested in the caller's, as in a helping wait.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// use stealpool::{Priority, Yield};
///
/// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
/// let done = Arc::new(AtomicBool::new(false));
/// let seen = done.clone();
/// let long = pool.spawn_with(Priority::Low, move || {
///     // On the only worker: without yielding, the urgent task could not start before this
///     // one ends, and this one waits for it.
///     while !seen.load(Ordering::SeqCst) {
///         stealpool::yield_now();
///     }
/// });
/// pool.spawn_with(Priority::High, move || done.store(true, Ordering::SeqCst));
/// long.join().unwrap();
/// assert_eq!(stealpool::yield_now(), None); // not on a worker
/// assert_eq!(pool.install(stealpool::yield_now), Some(Yield::Idle));
/// ```
pub fn yield_now() -> Option<Yield> {
    WorkerThread::current().map(|worker| yield_result(worker.yield_once(false)))
}

/// Like [`yield_now`], but runs only a task from this worker's own deques (what the calling
/// task and its predecessors on this worker spawned), newest first, highest lane first; work
/// submitted from outside or queued on other workers is left alone. `None` off the pool.
///
/// ```
/// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
/// let ran = pool.install(|| {
///     let child = stealpool::spawn(|| 5); // onto this worker's own deque
///     assert_eq!(stealpool::yield_local(), Some(stealpool::Yield::Executed));
///     assert!(child.is_finished());
///     child.join().unwrap()
/// });
/// assert_eq!(ran, 5);
/// ```
pub fn yield_local() -> Option<Yield> {
    WorkerThread::current().map(|worker| yield_result(worker.yield_once(true)))
}

fn yield_result(ran: bool) -> Yield {
    if ran { Yield::Executed } else { Yield::Idle }
}

/// Like [`join`](fn@join), but each closure gets a [`FnContext`] that says whether it
/// [`migrated`](FnContext::migrated): ran on another thread than the caller of
/// `join_context`. On a worker, `a` never migrates and `b` migrates when another worker took
/// it; off the pool both count as migrated, as with rayon's `join_context`.
///
/// ```
/// let (a, b) = stealpool::join_context(|ctx| ctx.migrated(), |ctx| ctx.migrated());
/// assert!(a && b); // called off the pool
/// ```
pub fn join_context<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce(FnContext) -> RA + Send,
    B: FnOnce(FnContext) -> RB + Send,
    RA: Send,
    RB: Send,
{
    match WorkerThread::current() {
        Some(worker) => worker.join_context(a, b, false),
        None => join_mod::join_context_on(global_pool().registry(), a, b),
    }
}

/// The registry of the pool the calling thread works for, else the global pool's.
fn current_registry<R>(f: impl FnOnce(&Arc<Registry>) -> R) -> R {
    match WorkerThread::current() {
        Some(worker) => f(worker.registry()),
        None => f(global_pool().registry()),
    }
}

/// Spawns `func` on the current pool: the pool whose worker calls it, else the global pool
/// (built on first use with [`WorkerPool::new`]'s settings, `STEALPOOL_NUM_THREADS` included).
///
/// ```
/// let handle = stealpool::spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
/// ```
pub fn spawn<F, T>(func: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    current_registry(|registry| spawn_mod::spawn_in(registry, current_lane(), func))
}

/// [`WorkerPool::join`] on the current pool: the pool whose worker calls it, else the global
/// pool. On a worker this is the cheap path: no lookup beyond the thread's worker pointer.
///
/// ```
/// fn fib(n: u64) -> u64 {
///     if n < 2 {
///         return n;
///     }
///     let (a, b) = stealpool::join(|| fib(n - 1), || fib(n - 2));
///     a + b
/// }
/// assert_eq!(fib(20), 6765);
/// ```
#[inline]
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match WorkerThread::current() {
        Some(worker) => worker.join(a, b),
        None => join_mod::join_on(global_pool().registry(), a, b),
    }
}

/// [`WorkerPool::scope`] on the current pool: the pool whose worker calls it, else the global
/// pool.
///
/// ```
/// let mut counts = [0usize; 3];
/// let text = "one two three";
/// stealpool::scope(|s| {
///     let [words, bytes, vowels] = &mut counts;
///     s.spawn(|_| *words = text.split_whitespace().count());
///     s.spawn(|_| *bytes = text.len());
///     s.spawn(|_| *vowels = text.chars().filter(|c| "aeiou".contains(*c)).count());
/// });
/// assert_eq!(counts, [3, 13, 5]);
/// ```
pub fn scope<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R + Send,
    R: Send,
{
    current_registry(|registry| scope::scope_on(registry, op))
}

/// [`WorkerPool::scope_fifo`] on the current pool: the pool whose worker calls it, else the
/// global pool.
pub fn scope_fifo<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&ScopeFifo<'scope>) -> R + Send,
    R: Send,
{
    current_registry(|registry| scope::scope_fifo_on(registry, op))
}

/// A [`Scope`] whose closure runs on the calling thread (rayon's `in_place_scope`), so it
/// need not be `Send` and may borrow what is not `Sync`; the tasks it spawns run on the
/// current pool (the pool whose worker calls it, else the global pool).
///
/// On a worker this is [`scope`](fn@scope). Off every pool the calling thread is not one of the pool's
/// workers: it queues the tasks and then parks until they are done, without running any.
/// If the global pool was shut down ([`shutdown_global`]), the tasks run on the calling
/// thread, one after another; a task the pool refuses while it shuts down runs on the thread
/// that refused it, so none is lost and the call returns.
///
/// ```
/// use std::cell::Cell;
///
/// let not_send = std::rc::Rc::new(Cell::new(0)); // the closure may hold what is not Send
/// let mut counts = [0u32; 4];
/// stealpool::in_place_scope(|s| {
///     not_send.set(not_send.get() + 1);
///     for (i, c) in counts.iter_mut().enumerate() {
///         s.spawn(move |_| *c = i as u32 * 10);
///     }
/// });
/// assert_eq!(counts, [0, 10, 20, 30]);
/// assert_eq!(not_send.get(), 1);
/// ```
pub fn in_place_scope<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R,
{
    match WorkerThread::current() {
        Some(worker) => scope::in_place_scope_on(worker.registry(), op),
        None => scope::in_place_scope_on(global_pool().registry(), op),
    }
}

/// [`in_place_scope`] with a [`ScopeFifo`].
pub fn in_place_scope_fifo<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&ScopeFifo<'scope>) -> R,
{
    match WorkerThread::current() {
        Some(worker) => scope::in_place_scope_fifo_on(worker.registry(), op),
        None => scope::in_place_scope_fifo_on(global_pool().registry(), op),
    }
}

/// [`WorkerPool::spawn_fifo`] on the current pool: the pool whose worker calls it, else the
/// global pool.
pub fn spawn_fifo<F, T>(func: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    current_registry(|registry| spawn_mod::spawn_fifo_in(registry, current_lane(), func))
}

/// [`WorkerPool::broadcast`] on the current pool: the pool whose worker calls it, else the
/// global pool.
///
/// ```
/// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
/// let indices = pool.install(|| stealpool::broadcast(|ctx| ctx.index()));
/// assert_eq!(indices, [0, 1]);
/// ```
pub fn broadcast<OP, R>(op: OP) -> Vec<R>
where
    OP: Fn(BroadcastContext<'_>) -> R + Sync,
    R: Send,
{
    current_registry(|registry| broadcast::broadcast_on(registry, op))
}

/// [`WorkerPool::spawn_broadcast`] on the current pool: the pool whose worker calls it, else
/// the global pool.
pub fn spawn_broadcast<OP>(op: OP)
where
    OP: Fn(BroadcastContext<'_>) + Send + Sync + 'static,
{
    current_registry(|registry| broadcast::spawn_broadcast_on(registry, op))
}

/// The priority of the task running the calling code, or `None` when the caller is not a
/// worker of any stealpool pool. Work the task spawns, joins or scopes without naming a
/// priority runs at this one.
///
/// ```
/// use stealpool::{Priority, WorkerPool};
///
/// assert_eq!(stealpool::current_priority(), None);
/// let pool = WorkerPool::builder().num_threads(2).build().unwrap();
/// let inherited = pool
///     .spawn_with(Priority::Low, || stealpool::spawn(stealpool::current_priority).join())
///     .join()
///     .unwrap()
///     .unwrap();
/// assert_eq!(inherited, Some(Priority::Low));
/// ```
pub fn current_priority() -> Option<Priority> {
    WorkerThread::current().map(|worker| Priority::from_lane(worker.lane()))
}

/// Inside a running task: has its [`JoinHandle`] been cancelled
/// ([`JoinHandle::cancel`])? A long task can check it now and then and stop early. False
/// outside tasks (and in the closures of `install`, `join` and `scope`, which have no handle).
///
/// ```
/// use std::sync::mpsc;
///
/// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
/// let (started_tx, started) = mpsc::channel();
/// let task = pool.spawn(move || {
///     started_tx.send(()).unwrap();
///     let mut rounds = 0u64;
///     while !stealpool::is_cancelled() {
///         rounds += 1;
///         std::hint::spin_loop();
///     }
///     rounds
/// });
/// started.recv().unwrap();
/// assert!(!task.cancel()); // running: asked to stop, not stopped
/// assert!(task.join().is_ok()); // it noticed and returned
/// assert!(!stealpool::is_cancelled());
/// ```
pub fn is_cancelled() -> bool {
    crate::task::current_task_cancelled()
}

/// The index of the worker running the calling code (`0..num_threads`), or `None` when the
/// caller is not a worker of any stealpool pool. A temporary worker (see
/// [`PoolBuilder::compensate_stalls`](crate::PoolBuilder::compensate_stalls)) has an index
/// from `num_threads` up; a replacement thread keeps the index of the worker it replaced.
///
/// ```
/// assert_eq!(stealpool::current_thread_index(), None);
/// let pool = stealpool::WorkerPool::builder().num_threads(3).build().unwrap();
/// let index = pool.install(stealpool::current_thread_index).unwrap();
/// assert!(index < 3);
/// ```
pub fn current_thread_index() -> Option<usize> {
    WorkerThread::current().map(WorkerThread::index)
}
