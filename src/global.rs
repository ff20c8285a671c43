//! The global pool and the free functions that find "the current pool".

use std::sync::OnceLock;

use crate::builder;
use crate::lane::Priority;
use crate::loom::sync::Arc;
use crate::pool::WorkerPool;
use crate::registry::Registry;
use crate::scope::{self, Scope};
use crate::task::JoinHandle;
use crate::worker::{WorkerThread, current_lane};
use crate::{join as join_mod, spawn as spawn_mod};

static GLOBAL: OnceLock<WorkerPool> = OnceLock::new();

/// The global pool, built with default settings on first use. It lives as long as the process.
fn global_pool() -> &'static WorkerPool {
    GLOBAL.get_or_init(builder::build_default)
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
