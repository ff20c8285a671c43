//! Loom models of the counting protocol: a task counts its outcome before its result is
//! published, so whoever sees the result (a `join`) also sees the count.

use super::{PoolCounters, Tally};
use crate::job::JobMode;
use crate::lane::{LANES, NORMAL};
use crate::loom::sync::Arc;
use crate::task::new_task;
use loom::thread;

/// Reads the pool's completed and cancelled counts.
fn counts(counters: &PoolCounters) -> (u64, u64) {
    let metrics = counters.snapshot(1, [0; LANES], 0);
    (metrics.completed(), metrics.cancelled())
}

/// A worker runs a task while its handle is joined: once `join` returns, a snapshot counts
/// the task as completed (with the count moved after the completion, loom finds a snapshot
/// that misses it).
#[test]
fn a_task_is_counted_before_its_join_returns() {
    loom::model(|| {
        let counters = Arc::new(PoolCounters::new(1, None));
        let (job, handle) = new_task(|| 5u8);
        let worker_counters = counters.clone();
        let worker = thread::spawn(move || {
            let slot = worker_counters.slot(0);
            // SAFETY: the job was just made and is executed only here, once.
            let _ = unsafe { job.execute(JobMode::Run, Tally::Slot(&slot, NORMAL)) };
        });
        assert_eq!(handle.join().unwrap(), 5);
        assert_eq!(counts(&counters), (1, 0));
        worker.join().unwrap();
    });
}

/// The pool aborts a queued task from a thread outside the pool (shutdown): once the handle
/// reports cancelled, the shared block counts it.
#[test]
fn an_aborted_task_is_counted_before_its_handle_resolves() {
    loom::model(|| {
        let counters = Arc::new(PoolCounters::new(1, None));
        let (job, handle) = new_task(|| 5u8);
        let outside = counters.clone();
        let aborter = thread::spawn(move || {
            // SAFETY: the job was just made and is executed only here, once.
            let _ = unsafe { job.execute(JobMode::Abort, Tally::Pool(&outside, NORMAL)) };
        });
        assert!(handle.join().unwrap_err().is_cancelled());
        assert_eq!(counts(&counters), (0, 1));
        aborter.join().unwrap();
    });
}
