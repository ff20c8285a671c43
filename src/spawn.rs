//! Spawning a task onto a pool: `spawn`, `spawn_with` and `try_spawn`, with the pool's bound on
//! waiting tasks ([`crate::backpressure`]) and timing ([`crate::metrics`]).

use std::ptr::NonNull;

use crossbeam_deque::{Injector, Steal};

use crate::backpressure::{Admitted, SpawnError};
use crate::job::{JobMode, JobRef};
use crate::metrics::{Outcome, Spawned, Tally};
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
    spawn_with_order(registry, lane, false, func)
}

/// `spawn_fifo`: like [`spawn_in`], but on one of the pool's workers the task goes through
/// the worker's FIFO queue ([`push_fifo`]), so that its own `spawn_fifo` tasks start oldest
/// first. From outside the pool it is [`spawn_in`]: the injector is FIFO already.
pub(crate) fn spawn_fifo_in<F, T>(registry: &Registry, lane: usize, func: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_with_order(registry, lane, true, func)
}

fn spawn_with_order<F, T>(registry: &Registry, lane: usize, fifo: bool, func: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let worker = registry.current_worker();
    let Some(limit) = registry.limit() else {
        return push_task(registry, worker, lane, fifo, func);
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
            return push_task(registry, worker, lane, fifo, func);
        }
    }
    let admitted = Admitted::new(func, limit.clone());
    push_task(registry, worker, lane, fifo, move || admitted.run())
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
        None => Ok(push_task(registry, worker, lane, false, func)),
        Some(limit) if !limit.try_acquire() => Err(SpawnError::full(func)),
        Some(limit) => {
            let admitted = Admitted::new(func, limit.clone());
            Ok(push_task(registry, worker, lane, false, move || {
                admitted.run()
            }))
        }
    }
}

/// Queues a new task for `func` in `lane`: on `worker`'s deque (the caller is that worker of
/// this pool; through its FIFO queue when `fifo`), else from outside.
fn push_task<F, T>(
    registry: &Registry,
    worker: Option<&WorkerThread>,
    lane: usize,
    fifo: bool,
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
            if fifo {
                push_fifo(worker, job, lane);
            } else {
                worker.push_lane(job, lane);
            }
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

/// Queues `job` so that `worker`'s FIFO spawns start oldest first (rayon's scheme): the job
/// goes to the back of the worker's FIFO queue for `lane` (in the registry, so it outlives a
/// replaced thread), and a *ticket* goes on the worker's deque like any job. Whoever runs a
/// ticket (the worker, newest ticket first, or a thief, oldest first) runs the oldest job of
/// that queue; there are as many tickets as jobs, so each job runs once. Inside an isolated
/// region the job goes on the deque directly: a ticket of the region could otherwise run an
/// older job queued outside it.
pub(crate) fn push_fifo(worker: &WorkerThread, job: JobRef, lane: usize) {
    if worker.is_isolated() {
        worker.push_lane(job, lane);
        return;
    }
    let queue = worker.registry().fifo(worker.index(), lane);
    queue.push(job);
    let pointer = NonNull::from(queue).cast::<()>();
    // SAFETY: the queue lives in the registry, which outlives every job queued in the pool
    // (whoever runs or aborts a job holds the registry); `run_ticket` consumes one job of
    // it per ticket, and there is one ticket per job.
    let ticket = unsafe { JobRef::new(pointer, run_ticket) };
    worker.push_lane(ticket, lane);
}

/// A ticket of [`push_fifo`]: runs (or aborts) the oldest job of its FIFO queue.
///
/// # Safety
/// `pointer` is a FIFO queue of a live registry, and this is the ticket's one execution.
unsafe fn run_ticket(pointer: NonNull<()>, mode: JobMode, tally: Tally<'_>) -> Outcome {
    // SAFETY: as the contract says.
    let queue = unsafe { pointer.cast::<Injector<JobRef>>().as_ref() };
    let job = loop {
        match queue.steal() {
            Steal::Success(job) => break job,
            Steal::Retry => {}
            // Each ticket is pushed after its job, and each ticket takes one job.
            Steal::Empty => unreachable!("a FIFO ticket without its job"),
        }
    };
    // SAFETY: taken from the queue, so ours to execute, once; in the ticket's mode.
    unsafe { job.execute(mode, tally) }
}
