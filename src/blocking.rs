//! [`block_in_place`]: a task that is about to block says so, and the pool keeps its width.

use crate::worker::WorkerThread;

/// Runs `op`, which is about to block (file or network I/O, a lock, a sleep, a call into a
/// library that waits), while the pool keeps its CPU width: a spare worker takes the calling
/// worker's place until `op` returns. Off every pool it just runs `op`. This is the role of
/// tokio's `block_in_place` and of Java's `ForkJoinPool.ManagedBlocker`.
///
/// ```
/// use std::time::Duration;
///
/// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
/// let slow = pool.spawn(|| {
///     stealpool::block_in_place(|| std::thread::sleep(Duration::from_millis(50)));
///     "slept"
/// });
/// // Runs on a spare worker meanwhile, although the pool's only worker is asleep in `slow`.
/// let quick = pool.spawn(|| stealpool::current_thread_index());
/// assert_eq!(quick.join().unwrap(), Some(1)); // the spare's index: num_threads and up
/// assert_eq!(slow.join().unwrap(), "slept");
/// ```
///
/// # How
///
/// - On entry, the worker makes its pending join frames stealable and counts itself as
///   blocking. While fewer spare workers are alive than workers are blocking (up to
///   [`max_blocking_threads`](crate::PoolBuilder::max_blocking_threads), by default
///   `num_threads`), a spare thread is started. A spare is a temporary worker: it takes work
///   like any worker, and may take the jobs queued on the blocking worker's own deque.
/// - A spare with nothing to do sleeps while any worker is blocking (a new task wakes it as
///   it would wake a worker) and otherwise leaves.
/// - When `op` returns (or unwinds), the worker stops counting as blocking, and one spare
///   gives way: at once if it is asleep, else when the task it is running ends (a task is
///   never interrupted). For a moment the pool may then run one thread more than its width.
/// - Inside `op` the thread is still the pool's worker: `op` may spawn or join like any
///   task code, and a nested `block_in_place` just runs its closure.
/// - With `max_blocking_threads(0)`, or once that many spares run, it just runs `op`.
///
/// The spare thread is started per blocking episode (tens of microseconds), so
/// `block_in_place` suits operations that block for longer than that; for short waits the
/// pool's own width is the better bet. Stall detection
/// ([`stall_threshold`](crate::PoolBuilder::stall_threshold)) still sees a long `op` as a
/// stalled task.
pub fn block_in_place<OP, R>(op: OP) -> R
where
    OP: FnOnce() -> R,
{
    match WorkerThread::current() {
        Some(worker) => worker.block_in_place(op),
        None => op(),
    }
}
