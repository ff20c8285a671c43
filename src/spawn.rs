//! Spawning a task onto a pool: `spawn`, `spawn_with` and `try_spawn`, with the pool's bound on
//! waiting tasks ([`crate::backpressure`]) and timing ([`crate::metrics`]).

use crate::backpressure::{Admitted, SpawnError};
use crate::job::JobRef;
use crate::metrics::Spawned;
use crate::registry::Registry;
use crate::task::{self, JoinHandle};
use crate::worker::WorkerThread;

/// Spawns a task at `lane` on `registry`'s pool: onto the calling worker's own deque when
/// called from this pool, else into the lane's injector; a closed pool resolves the handle at
/// once as cancelled. On a full pool (`max_queued`), a thread outside the pool waits for room
/// and one of the pool's workers runs the task right here (see `PoolBuilder::max_queued`).
pub(crate) fn spawn_in<F, T>(registry: &Registry, lane: usize, func: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let worker = registry.current_worker();
    let Some(limit) = registry.limit() else {
        return push_task(registry, worker, lane, func);
    };
    if !limit.try_acquire() {
        if let Some(worker) = worker {
            // Full, and called by one of our own workers: waiting could deadlock the pool,
            // so the task runs here and now.
            let (job, handle) = new_task(registry, lane, func);
            worker.counters().submitted(lane);
            worker.execute(job, lane);
            return handle;
        }
        if !limit.acquire_blocking(|| registry.sleep.is_closed()) {
            // Closed while we waited: the task is refused (its handle says cancelled).
            return push_task(registry, worker, lane, func);
        }
    }
    let admitted = Admitted::new(func, limit.clone());
    push_task(registry, worker, lane, move || admitted.run())
}

/// Like [`spawn_in`], but gives the closure back instead of waiting or running it inline when
/// the pool is full, or when it was shut down (for a caller outside the pool).
pub(crate) fn try_spawn_in<F, T>(
    registry: &Registry,
    lane: usize,
    func: F,
) -> Result<JoinHandle<T>, SpawnError<F>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let worker = registry.current_worker();
    if registry.sleep.is_closed() && worker.is_none() {
        return Err(SpawnError::shut_down(func));
    }
    match registry.limit() {
        None => Ok(push_task(registry, worker, lane, func)),
        Some(limit) if !limit.try_acquire() => Err(SpawnError::full(func)),
        Some(limit) => {
            let admitted = Admitted::new(func, limit.clone());
            Ok(push_task(registry, worker, lane, move || admitted.run()))
        }
    }
}

/// Queues a new task for `func` in `lane`: on `worker`'s deque (the caller is that worker of
/// this pool), else from outside.
fn push_task<F, T>(
    registry: &Registry,
    worker: Option<&WorkerThread>,
    lane: usize,
    func: F,
) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let (job, handle) = new_task(registry, lane, func);
    match worker {
        Some(worker) => {
            worker.counters().submitted(lane);
            worker.push_lane(job, lane);
        }
        None => {
            registry.counters().submitted_outside(lane);
            registry.inject(job, lane);
        }
    }
    handle
}

/// A task cell for `func`, to be queued in `lane`; if timing is on and this task is in the
/// sample, the closure is wrapped to record its wait and run times (see `crate::metrics`).
#[inline]
fn new_task<F, T>(registry: &Registry, lane: usize, func: F) -> (JobRef, JoinHandle<T>)
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match registry.counters().clock_if_sampled(lane) {
        Some(clock) => {
            let spawned = Spawned::now(clock);
            task::new_task(move || {
                let _running = crate::worker::start_timed(spawned);
                func()
            })
        }
        None => task::new_task(func),
    }
}
