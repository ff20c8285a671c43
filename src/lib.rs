//! # stealpool
//!
//! A pool of OS threads with a work-stealing scheduler, for CPU-heavy work.
//!
//! - [`WorkerPool`]: one worker thread per core (or as many as you ask for), each with its own
//!   deque; a global queue for work submitted from outside; idle workers steal from busy ones
//!   and sleep, costing no CPU, when there is nothing to do.
//! - [`JoinHandle`]: the result of a spawned task, as a blocking handle *and* as a `Future`
//!   any executor can await.
//! - Fork-join: [`join`](fn@join) and [`scope`](fn@scope) (and [`WorkerPool::join`], [`WorkerPool::scope`]) run
//!   closures that borrow from the caller's stack, like rayon's. A join keeps its second
//!   closure in a private frame and shares it only when another worker is out of work, so a
//!   join at every node of a fine-grained recursion costs a few nanoseconds.
//! - Priority lanes: [`WorkerPool::spawn_with`] and [`Priority`]. Urgent work goes ahead of
//!   queued work at every task boundary; what a task spawns, joins or scopes inherits its
//!   priority; fairness picks keep lower lanes moving.
//! - Panics stay inside their task and come back as a [`TaskError`]; the pool carries on.
//! - [`WorkerPool::shutdown`] runs what is queued and joins the threads; later spawns are
//!   refused with an error, never a panic.
//!
//! ```
//! use stealpool::WorkerPool;
//!
//! let pool = WorkerPool::builder().num_threads(2).build()?;
//! let handles: Vec<_> = (1..=4u64)
//!     .map(|n| pool.spawn(move || (1..=n * 1000).sum::<u64>()))
//!     .collect();
//! let sums: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
//! assert_eq!(sums, [500_500, 2_001_000, 4_501_500, 8_002_000]);
//!
//! let failed = pool.spawn(|| -> u64 { panic!("bad input") }).join();
//! assert!(failed.unwrap_err().is_panic());
//! pool.shutdown();
//! # Ok::<(), stealpool::BuildError>(())
//! ```
//!
//! Fork-join and lanes:
//!
//! ```
//! use stealpool::{Priority, WorkerPool};
//!
//! fn fib(n: u64) -> u64 {
//!     if n < 2 {
//!         return n;
//!     }
//!     let (a, b) = stealpool::join(|| fib(n - 1), || fib(n - 2));
//!     a + b
//! }
//!
//! let pool = WorkerPool::builder().num_threads(2).build()?;
//! let batch = pool.spawn_with(Priority::Low, || fib(25));
//! let urgent = pool.spawn_with(Priority::High, || fib(10));
//! assert_eq!(urgent.join().unwrap(), 55);
//! assert_eq!(batch.join().unwrap(), 75_025);
//! # Ok::<(), stealpool::BuildError>(())
//! ```
//!
//! # Cargo features
//!
//! - `process` (off by default; Linux): `stealpool::process`, a pool of supervised worker
//!   processes with the same handles, for code that can crash, hang or leak. Adds `serde`
//!   and `postcard`.
//! - `nats` (off by default): `stealpool::nats`, workers on any number of machines fed by a
//!   NATS JetStream work queue, and a client whose jobs resolve the same `JoinHandle`. Adds
//!   `async-nats`, `tokio`, `futures-core`, `serde` and `postcard`.
//! - `tracing` (off by default): events through the [`tracing`](https://docs.rs/tracing)
//!   crate, each with target `stealpool`. Without the feature those calls are empty
//!   functions and compile away.
//!
//!   | event | level | fields |
//!   |---|---|---|
//!   | pool started | `INFO` | `num_threads` |
//!   | shutdown requested | `INFO` | `mode`: `graceful`, `now` or `timeout` |
//!   | pool stopped (its last worker left) | `INFO` | |
//!   | worker replaced | `WARN` | `worker` |
//!   | worker started, work waits (`min_threads`) | `DEBUG` | `worker` |
//!   | worker left, idle for `keep_alive` | `DEBUG` | `worker` |
//!   | restart intensity reached | `WARN` | `max`, `period_ms` |
//!   | stall detected | `WARN` | `worker`, `running_ms` |
//!   | panic caught in user code | `WARN` | `worker` (if on one), `panic` (its message) |
//!
//! `ARCHITECTURE.md` in the repository is the map of the source: its modules, and one task
//! followed from `spawn` to its result.

#![deny(missing_docs)]
#![deny(missing_debug_implementations)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod affinity;
mod backpressure;
mod blocking;
mod broadcast;
mod builder;
mod config;
mod error;
mod global;
mod isolate;
pub mod iter;
mod job;
mod join;
mod lane;
mod latch;
mod loom;
mod metrics;
#[cfg(feature = "nats")]
pub mod nats;
mod pool;
pub mod prelude;
#[cfg(all(feature = "process", target_os = "linux"))]
pub mod process;
mod registry;
mod restart;
mod scope;
mod sleep;
mod spawn;
mod stall;
mod submit;
mod task;
mod threads;
mod trace;
mod unwind;
mod worker;

pub use backpressure::SpawnError;
pub use blocking::block_in_place;
pub use broadcast::BroadcastContext;
pub use builder::{
    BuildError, DEFAULT_FAIRNESS_INTERVAL, DEFAULT_KEEP_ALIVE, DEFAULT_RESTART_MAX,
    DEFAULT_RESTART_PERIOD, DEFAULT_TIMING_SAMPLE, MAX_THREADS, MIN_STACK_SIZE, NUM_THREADS_ENV,
    PoolBuilder,
};
pub use error::TaskError;
pub use global::{
    Yield, broadcast, current_num_threads, current_priority, current_thread_index, in_place_scope,
    in_place_scope_fifo, is_cancelled, join, join_context, scope, scope_fifo, shutdown_global,
    spawn, spawn_broadcast, spawn_fifo, yield_local, yield_now,
};
pub use isolate::isolate;
pub use join::FnContext;
pub use lane::Priority;
pub use metrics::{Histogram, LaneMetrics, Metrics, WorkerMetrics};
pub use pool::WorkerPool;
pub use restart::RestartLimitReached;
pub use scope::{Scope, ScopeFifo};
pub use task::JoinHandle;

/// The examples in README.md, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
