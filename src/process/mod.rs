//! A pool of supervised worker **processes** (feature `process`, Linux): for code that can
//! crash, hang or leak, with the thread pool's handles, lanes, backpressure and metrics.
//!
//! # When to choose processes over threads
//! A thread is not isolation: a task that segfaults in a native library, calls `abort`,
//! overflows its stack, loops forever or eats all memory takes the whole program down, and
//! a thread cannot be killed. A worker process can: its crash fails one task
//! ([`TaskError::is_crash`](crate::TaskError::is_crash)), a task past its
//! [`task_timeout`](ProcessPoolBuilder::task_timeout) is killed
//! ([`is_timeout`](crate::TaskError::is_timeout)), and a process that leaks is retired
//! ([`max_resident_bytes`](ProcessPoolBuilder::max_resident_bytes)). The price: arguments
//! and results are copied through a pipe with serde (tens of microseconds per task, see
//! `docs/bench/process.md`), and the function cannot capture anything. Use
//! [`WorkerPool`] for trusted Rust code and this pool for the rest.
//!
//! # How it works
//! Worker processes are this program run again ([`init`] makes them serve tasks, as
//! procspawn does). Each has a *driver thread* in the parent: the pool is a
//! [`WorkerPool`] whose tasks send their arguments to the driver's process
//! and wait for the answer, so lanes, `max_queued`, cancellation of queued tasks and the
//! task counts are the thread pool's own. The frames on the pipe are in `wire`'s docs,
//! the child's side in `child`'s, and the supervision rules (crash, timeout, cancel,
//! retirement, heartbeat, restart intensity, reaping) in `supervisor`'s.
//!
//! ```
//! use stealpool::process::ProcessPool;
//!
//! fn fib(n: u64) -> u64 {
//!     if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
//! }
//!
//! fn main() -> Result<(), stealpool::BuildError> {
//!     stealpool::process::init(); // in a worker process, this serves tasks and never returns
//!     let pool = ProcessPool::builder().processes(2).build()?;
//!     let handle = pool.spawn(20u64, fib);
//!     assert_eq!(handle.join().unwrap(), 6765);
//!     let crash = pool.spawn((), |()| -> u8 { std::process::abort() });
//!     assert!(crash.join().unwrap_err().is_crash());
//!     Ok(())
//! }
//! ```

mod builder;
mod child;
pub(crate) mod supervisor;
pub(crate) mod wire;
mod worker;

pub use builder::ProcessPoolBuilder;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{TaskError, raise};
use crate::{JoinHandle, Metrics, Priority, SpawnError, WorkerPool};
use supervisor::Shared;

/// Makes this process a worker process if its pool started it, else returns at once.
///
/// Call it as the **first statement of `main`**: a worker process is this same program run
/// again, and `init` is where it turns off into serving tasks (it never returns there; it
/// exits when its pool closes its pipe or dies). Code before `init` runs in every worker
/// process too. A [`ProcessPool`] built without `init` in `main` fails to start its workers
/// with an error that says so.
///
/// Test binaries need a `main` of their own for this: a `[[test]]` target with
/// `harness = false`, whose `main` calls `init` and then runs the tests.
pub fn init() {
    if std::env::var_os(child::WORKER_ENV).is_some() {
        child::serve();
    }
}

/// A pool of supervised worker processes; see the [module docs](self).
///
/// Cheap to clone (clones share the pool). When the last clone is dropped, the queued tasks
/// still run, then every worker process exits and is reaped, as with
/// [`shutdown`](Self::shutdown).
#[derive(Clone)]
pub struct ProcessPool {
    inner: Arc<Inner>,
}

struct Inner {
    threads: WorkerPool,
    shared: Arc<Shared>,
    monitor: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Inner {
    fn new(threads: WorkerPool, shared: Arc<Shared>, monitor: std::thread::JoinHandle<()>) -> Self {
        Inner {
            threads,
            shared,
            monitor: Mutex::new(Some(monitor)),
        }
    }

    /// After the driver threads are done: retire every process and stop the monitor.
    fn close(&self) {
        self.shared.close();
        if let Some(monitor) = self.monitor.lock().take() {
            let _ = monitor.join();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.threads.shutdown();
        self.close();
    }
}

impl ProcessPool {
    /// A builder with the defaults: one process per CPU, no timeout, no recycling.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// Runs `func(args)` in a worker process, at the calling task's priority (`Normal`
    /// outside tasks); the handle resolves to its result.
    ///
    /// `func` is a `fn` item or a closure that captures nothing: the worker process runs
    /// its own copy of the program and finds the function there, so no captured value could
    /// travel. A closure that captures is refused at compile time. `args` is encoded with
    /// serde on the driver thread and the result decoded there; either failing fails the task
    /// with [`is_codec`](TaskError::is_codec). A panic in `func` comes back as
    /// [`is_panic`](TaskError::is_panic) with its message; the death of the process as
    /// [`is_crash`](TaskError::is_crash).
    ///
    /// [`cancel`](JoinHandle::cancel) on the handle drops a queued task (`true`); for a
    /// running one it returns `false`, kills its worker process within about 10 ms, and the
    /// handle then fails with [`is_cancelled`](TaskError::is_cancelled). After a shutdown
    /// the handle resolves at once as cancelled.
    ///
    /// ```compile_fail
    /// # stealpool::process::init();
    /// let pool = stealpool::process::ProcessPool::builder().processes(1).build().unwrap();
    /// let offset = 1u64;
    /// pool.spawn(1u64, move |x: u64| x + offset); // captures `offset`: refused
    /// ```
    pub fn spawn<F, A, R>(&self, args: A, func: F) -> JoinHandle<R>
    where
        F: FnOnce(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.spawn_with(current_priority(), args, func)
    }

    /// Like [`spawn`](Self::spawn), at the given priority: lanes work as on
    /// [`WorkerPool::spawn_with`].
    pub fn spawn_with<F, A, R>(&self, priority: Priority, args: A, func: F) -> JoinHandle<R>
    where
        F: FnOnce(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let task = Task::<F, A, R>::new(&self.inner.shared, func);
        self.inner
            .threads
            .spawn_with(priority, move || task.run(args))
    }

    /// Like [`spawn`](Self::spawn), but never waits: when the pool holds
    /// [`max_queued`](ProcessPoolBuilder::max_queued) waiting tasks, or was shut down, the
    /// arguments come back in the [`SpawnError`].
    pub fn try_spawn<F, A, R>(&self, args: A, func: F) -> Result<JoinHandle<R>, SpawnError<A>>
    where
        F: FnOnce(A) -> R + Copy + Send + 'static,
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let task = Task::<F, A, R>::new(&self.inner.shared, func);
        // The closure is given back on refusal, and a closure cannot be taken apart: the
        // arguments wait beside it, for whichever side ends up with them.
        let held = Arc::new(Mutex::new(Some(args)));
        let theirs = Arc::clone(&held);
        self.inner
            .threads
            .try_spawn(move || {
                let args = theirs.lock().take();
                match args {
                    Some(args) => task.run(args),
                    None => unreachable!("the arguments are taken once"),
                }
            })
            .map_err(|refused| {
                refused.map(|closure| {
                    drop(closure);
                    held.lock()
                        .take()
                        .expect("a refused task's arguments are still there")
                })
            })
    }

    /// The number of worker processes (the pool's width; each slot is refilled after a
    /// crash or a retirement).
    pub fn num_processes(&self) -> usize {
        self.inner.shared.num_processes()
    }

    /// The pid of each slot's worker process, busy or idle (`None` for a slot that is empty
    /// for now: its process was retired, or could not be replaced): for monitoring, and to
    /// signal a process (a long-running task can be asked to stop with a signal it handles).
    pub fn pids(&self) -> Vec<Option<u32>> {
        self.inner.shared.pids()
    }

    /// A snapshot of the task counts (the driver threads' pool's), with the processes'
    /// figures: [`workers_replaced`](Metrics::workers_replaced) counts replaced processes,
    /// and [`crashes`](Metrics::crashes), [`timeouts`](Metrics::timeouts) and the `Display`
    /// show the rest.
    pub fn metrics(&self) -> Metrics {
        self.inner
            .threads
            .metrics()
            .with_processes(self.inner.shared.figures())
    }

    /// Refuses new tasks, runs every queued one, then retires every worker process and reaps
    /// it. Returns when all are gone.
    pub fn shutdown(&self) {
        self.inner.threads.shutdown();
        self.inner.close();
    }

    /// As [`shutdown`](Self::shutdown), for at most about `timeout`: if the queued and
    /// running tasks are not done by then, the running ones have their processes killed
    /// (their handles fail as cancelled), the rest are dropped, and it returns `false`.
    /// Every worker process is reaped either way.
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        let finished = self.inner.threads.shutdown_timeout(timeout);
        if !finished {
            self.inner.shared.stop_running();
            self.inner.threads.shutdown_now();
        }
        self.inner.close();
        finished
    }

    /// Refuses new tasks, cancels every queued one, and kills the processes of the running
    /// ones (their handles fail as cancelled): unlike threads, a process can be stopped, so
    /// this does not wait for running tasks to end. Every worker process is reaped.
    pub fn shutdown_now(&self) {
        self.inner.shared.stop_running();
        self.inner.threads.shutdown_now();
        self.inner.close();
    }
}

impl fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessPool")
            .field("processes", &self.num_processes())
            .finish_non_exhaustive()
    }
}

/// The priority of the task calling, so that work spawned from a task inherits it.
fn current_priority() -> Priority {
    Priority::from_lane(crate::worker::current_lane())
}

/// What a driver thread needs to run one task: the pool's state and the entry offset of
/// the task's function (see `child`).
struct Task<F, A, R> {
    shared: Arc<Shared>,
    offset: u64,
    _types: std::marker::PhantomData<fn(F, A) -> R>,
}

impl<F, A, R> Task<F, A, R>
where
    F: FnOnce(A) -> R + Copy + Send + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn new(shared: &Arc<Shared>, _func: F) -> Self {
        const {
            assert!(
                size_of::<F>() == 0,
                "ProcessPool::spawn takes a fn item or a closure that captures nothing: the \
                 worker process runs its own copy of the program, where captured values do \
                 not exist (pass them in `args`)"
            )
        };
        Task {
            shared: Arc::clone(shared),
            offset: child::offset_of(child::entry::<F, A, R>),
            _types: std::marker::PhantomData,
        }
    }

    /// On a driver thread: encode, run in the process, decode.
    fn run(self, args: A) -> R {
        let encoded = match postcard::to_stdvec(&args) {
            Ok(bytes) => bytes,
            Err(e) => raise(TaskError::codec(format!(
                "the arguments did not encode as {}: {e}",
                std::any::type_name::<A>()
            ))),
        };
        drop(args);
        let result = self.shared.run(self.offset, &encoded);
        match postcard::from_bytes::<R>(&result) {
            Ok(value) => value,
            Err(e) => raise(TaskError::codec(format!(
                "the result did not decode as {}: {e}",
                std::any::type_name::<R>()
            ))),
        }
    }
}
