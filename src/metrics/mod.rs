//! What a pool counts about itself, and the [`Metrics`] snapshot it hands out.
//!
//! Every worker slot has its own block of counters on its own cache lines ([`SlotCounters`]),
//! written only by the thread serving that slot, with a relaxed load and a store: no locked
//! instruction and no line shared with another writer, so counting costs a few plain
//! instructions per task. What happens on threads outside the pool (a task submitted from
//! outside, one cancelled by `shutdown_now`, a spawn refused after shutdown) goes to one
//! shared block with `fetch_add`; none of that is on a worker's hot path.
//!
//! A snapshot reads every block with relaxed loads and adds them up. It is "consistent
//! enough": each figure is exact once the pool is quiet, and while it is busy two figures may
//! come from instants a few nanoseconds apart.
//!
//! What counts as a task, and what a snapshot promises, is documented on [`Metrics`]. A task
//! counts its outcome through the [`Tally`] its executor passes in, before its result is
//! published.
//!
//! Timing (`PoolBuilder::record_timing`) wraps the closure of each task in the sample (see
//! `PoolCounters::clock_if_sampled`) when it is spawned: the wrapper carries the spawn tick
//! and, on the worker, records the wait (spawn to start) and, when the closure returns or
//! unwinds, the run time, into that worker's recorders for the lane the task was taken from
//! (`SlotCounters::start_timed`). Tasks outside the sample, and every task with timing off,
//! are not wrapped.
//!
//! Files: `counters.rs` (the blocks, the clock, what a job's execution counts), `snapshot.rs`
//! (the public snapshot types), `histogram.rs` (the recorders and [`Histogram`]), `display.rs`
//! (the table).

mod counters;
mod display;
mod histogram;
mod snapshot;

pub(crate) use counters::{Outcome, PoolCounters, Running, SlotCounters, Spawned, Tally};
pub use histogram::Histogram;
#[cfg_attr(not(feature = "process"), allow(unused_imports))]
pub(crate) use snapshot::ProcessFigures;
pub use snapshot::{LaneMetrics, Metrics, WorkerMetrics};

#[cfg(all(test, loom))]
mod loom_tests;
