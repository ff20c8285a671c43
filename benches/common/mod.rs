//! The bench harness, shared by the eight bench targets: `spawn`, `fork_join`, `priority`,
//! `panics`, `waits`, `iter`, `process` (feature `process`) and `nats` (feature `nats`). Each
//! includes it with `mod common;` (it lives in `benches/common/` rather than
//! `benches/common.rs` so that cargo does not take it for a bench target) and keeps only what
//! is its own: its workloads, and which figures it reports.
//!
//! | module | what | used by |
//! |---|---|---|
//! | [`peers`] | the pools under test, built the same way everywhere: stealpool's `WorkerPool`, rayon, chili, `threadpool`, a tokio runtime for `spawn_blocking`, a tokio runtime of async workers; [`peers::Pool`] to shut any of them down | seven (`panics`: stealpool only; `fork_join`: stealpool, rayon, chili; `waits`: stealpool, rayon, tokio's async workers; `iter`: stealpool, rayon; `process`: stealpool's `WorkerPool`, beside the process pools it builds itself); not `nats`, whose pools live in worker processes it starts itself |
//! | [`rounds`] | interleaved rounds: every variant once per round, in a fixed or rotating order, optionally after an untimed run | `spawn` (fixed), `fork_join`, `priority`, `waits`, `iter`, `process`, `nats` (rotating), `panics` ([`rounds::rotation`] only) |
//! | [`stats`] | [`stats::Samples`] (median, nearest-rank percentiles, min, max), paired ratios and differences (median over rounds of the per-round ratio) | all eight |
//! | [`table`] | Markdown tables whose columns, rows and cells also carry ids and values for JSON; `fmt_ms`, `verdict` | all eight |
//! | [`run`] | the command line (quick mode, `--list`), `nproc`, the bench's own pass and the JSON file; criterion groups of bursts ([`run::burst_group`]) | all eight (`burst_group`: `spawn`, `priority`, `panics`) |
//! | [`json`] | a small JSON value and writer (no dependency) | all eight, through `run` and `table` |
//! | [`clock`] | `CLOCK_MONOTONIC` and thread ids, which mean the same in every process | `process`, `nats` (their tasks run in other processes) |
//!
//! plus [`tiny_work`], the task body of `spawn`, `priority` and `panics`.
//!
//! # Quick mode
//!
//! `-- --test` (criterion's test mode; also `cargo test --benches`) or
//! `STEALPOOL_BENCH_QUICK=1` ([`run::is_quick`]): each bench shrinks its own pass, with figures
//! that mean nothing; the JSON file says `"quick": true`.
//!
//! # The JSON file
//!
//! After its Markdown tables, each bench writes `<bench>.json` (`spawn.json`, ...) to
//! `$STEALPOOL_BENCH_JSON_DIR` if set, else to `bench-results/` in the workspace's target
//! directory (`$CARGO_TARGET_DIR` if set, else `target/`), and prints the path on stderr
//! ([`run::json_dir`]). Not with `--list`. `scripts/pgzip-vs-pigz` writes
//! `pgzip-vs-pigz.json` to the same place, in the same layout, and `bench_report` (in `apps/`)
//! reads them all. The layout:
//!
//! ```text
//! {
//!   "format": 1,                      // run::JSON_FORMAT
//!   "bench": "spawn", "quick": false, "threads": 2, "nproc": 2,
//!   "date": "2026-12-05T07:40:45Z", "unix_time_s": 1796456445,
//!   "config": { "spawn_runs": 15, ... },          // the pass's settings
//!   "tables": {
//!     "<table id>": {
//!       "columns": { "<column id>": "<header as printed>", ... },
//!       "rows": { "<row id>": { "<column id>": <value>, ... }, ... }
//!     }
//!   },
//!   "extra": { ... }                  // figures printed outside the tables: targets, references
//! }
//! ```
//!
//! Every figure of every printed table is there, unrounded, under ids that stay put when a
//! header's wording changes; units are in the ids (`_ms`, `_us`, `_ns_per_task`, `_pct`, ...),
//! ratios are named `a_over_b` or `ratio_...`. A cell printed as `n/a`, `-` or left empty is
//! `null` (so is a ratio printed as `equal (both 0)`), a verdict (`met`/`NOT met`) is a
//! boolean, a label or description column is a string. Each bench's doc comment names its
//! tables and ids.

// Each bench is its own crate and uses only part of the harness (the table above), so an
// item that one bench leaves unused would be dead code in that crate. Every item is used by
// at least one bench (checked by building each bench without this line).
#![allow(dead_code)]

use std::hint::black_box;

pub mod clock;
pub mod json;
pub mod peers;
pub mod rounds;
pub mod run;
pub mod stats;
pub mod table;

/// The task body of the spawn benchmarks: a few arithmetic operations that
/// the optimiser cannot fold away.
pub fn tiny_work(i: usize) -> u64 {
    let x = black_box(i as u64);
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 7)).wrapping_add(13)
}
