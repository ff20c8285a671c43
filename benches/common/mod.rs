//! Helpers shared by the bench targets (`spawn`, `fork_join`, `priority`).
//!
//! Each bench is its own crate and includes this file with `mod common;`, so
//! an item that some bench does not use would be dead code in that crate:
//! such items carry `#[allow(dead_code)]`, with the benches that use them
//! named. This lives in `benches/common/mod.rs` rather than
//! `benches/common.rs` so that cargo does not take it for a bench target.

use std::env;
use std::hint::black_box;
use std::process::Command;
use std::thread;

/// Set (to anything but `0` or the empty string) for quick mode.
pub const QUICK_ENV: &str = "STEALPOOL_BENCH_QUICK";

/// Quick mode: criterion's test mode (`--test`, or no `--bench`, as with
/// `cargo test --benches`), or `STEALPOOL_BENCH_QUICK` set.
pub fn is_quick(args: &[String]) -> bool {
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let env_quick = env::var(QUICK_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    test_mode || env_quick
}

/// Median of a non-empty slice (sorted in place).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 0 {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of a sorted, non-empty slice.
#[allow(dead_code)] // used by `spawn` and `priority`, not by `fork_join`
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The task body of the spawn benchmarks: a few arithmetic operations that
/// the optimiser cannot fold away.
#[allow(dead_code)] // used by `spawn` and `priority`, not by `fork_join`
pub fn tiny_work(i: usize) -> u64 {
    let x = black_box(i as u64);
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 7)).wrapping_add(13)
}

/// Milliseconds with about three significant digits (chosen by magnitude,
/// so negative differences get the same precision as positive ones).
#[allow(dead_code)] // used by `fork_join` and `priority`, not by `spawn`
pub fn fmt_ms(ms: f64) -> String {
    if ms.abs() >= 100.0 {
        format!("{ms:.1}")
    } else if ms.abs() >= 10.0 {
        format!("{ms:.2}")
    } else if ms.abs() >= 1.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.4}")
    }
}

/// The word for a target line.
#[allow(dead_code)] // used by `fork_join` and `priority`, not by `spawn`
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The machine's `nproc` (CPUs this process may run on), falling back to
/// `available_parallelism` where the command is missing.
#[allow(dead_code)] // used by `fork_join` and `priority`, not by `spawn`
pub fn nproc() -> String {
    Command::new("nproc")
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| {
            thread::available_parallelism()
                .ok()
                .map(|n| format!("{n} (available_parallelism)"))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}
