//! [`isolate`]: waits that run only the work they are waiting for.

use crate::worker::WorkerThread;

/// Runs `op` so that, while the calling worker waits anywhere inside it (in a
/// [`join`](fn@crate::join), a [`scope`](fn@crate::scope), an
/// [`install`](crate::WorkerPool::install), or [`JoinHandle::join`](crate::JoinHandle::join)),
/// it runs only work spawned inside `op`, directly or transitively, never an unrelated queued
/// task. Off every pool it just calls `op`. oneTBB calls this `this_task_arena::isolate`.
///
/// # Why
///
/// A worker that waits normally keeps itself busy with whatever is queued. If the waiting
/// task holds a lock, and the task it picks up needs the same lock, that task blocks forever
/// on the worker that holds the lock (rayon issue #592). Inside `isolate` the waiting worker
/// takes only the region's own jobs, so a task that holds a lock across a `join` (or a scope,
/// or a parallel loop) cannot deadlock on unrelated work:
///
/// ```
/// use std::sync::Mutex;
///
/// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
/// let cache = Mutex::new(Vec::new());
/// pool.scope(|s| {
///     for i in 0..4 {
///         let cache = &cache;
///         s.spawn(move |_| {
///             let mut guard = cache.lock().unwrap();
///             // Without `isolate`, this join's wait could start one of the other three
///             // spawned tasks on this thread, which would block on `cache` for ever.
///             let (a, b) = stealpool::isolate(|| stealpool::join(|| i * 2, || i * 3));
///             guard.push(a + b);
///         });
///     }
/// });
/// assert_eq!(cache.into_inner().unwrap().len(), 4);
/// ```
///
/// # What it guarantees
///
/// - A job queued inside the region (a join's other side, a scope's task, a spawned task,
///   and whatever those queue in turn) carries the region with it: whichever worker runs it
///   also waits in isolation inside it. Priority lanes still apply: a waiting worker takes
///   the region's `High` jobs before its `Normal` ones.
/// - Regions nest: inside an inner region the worker runs only the inner region's work;
///   what an inner region leaves queued (a detached `spawn`) belongs to the outer one too.
/// - A panic in `op` ends the region and unwinds out of `isolate` as usual.
/// - On a one-thread pool the region's work all runs on the waiting worker itself, so the
///   region still finishes.
/// - Other workers are not held back: they steal the region's jobs as usual, and the joins
///   the caller was inside when it entered the region are made stealable at the entry (the
///   caller will not get to them before the region ends).
///
/// # Costs and limits
///
/// - A waiting worker does not help with unrelated work, so while it waits for a job that
///   another worker is running it sleeps; it also does not steal the region's jobs back from
///   other workers. Isolation trades some parallelism for the guarantee.
/// - Waiting inside a region for work queued outside it (a [`JoinHandle`](crate::JoinHandle)
///   of a task spawned before the region) leaves that work to the other workers: on a
///   one-thread pool it would never run, and the wait would not return.
/// - Isolation is per pool: a worker of this pool that `install`s into another pool waits in
///   isolation, but the other pool's workers do not.
///
/// # Not the default
///
/// No wait is isolated unless it is inside `isolate`, not even [`JoinHandle::join`] inside a
/// task, the candidate the question was asked about (a join that helps can pick up
/// anything). Decided on two grounds:
/// - An isolated `JoinHandle::join` cannot run the very task it waits for when that task still
///   sits on the worker's own deque, below the region (the usual case right after `spawn`): on
///   a one-thread pool it would never return where the helping join works, and on more threads
///   it waits for a thief instead of running the task itself.
/// - It is not free where isolation is possible. Measured on 2 threads
///   (`benches/waits.rs`, `docs/bench/history.md`, "waits (block_in_place, isolate)"): a
///   spawn tree whose nodes spawn and join inside `isolate` takes 1.22x the plain tree; a
///   `join` wrapped in `isolate` at every node of `fib(25)` takes 5.5x (entering a region at
///   every node); one `isolate` around a whole computation, or around scopes whose waits
///   have their own work to run, costs nothing measurable (0.99x, 1.00x).
///
/// So isolation is opt-in: wrap the waits that hold a lock (or anything else a stolen task
/// might need) in `isolate`, at the coarsest level that covers them.
///
/// [`JoinHandle::join`]: crate::JoinHandle::join
pub fn isolate<OP, R>(op: OP) -> R
where
    OP: FnOnce() -> R,
{
    match WorkerThread::current() {
        Some(worker) => worker.isolate(op),
        None => op(),
    }
}
