//! Health checks: noticing tasks that run for too long (`PoolBuilder::stall_threshold`).
//!
//! When a threshold is set, each worker stamps the time it starts a top-level task and
//! clears the stamp when the task returns (two clock reads and two stores per task; without a
//! threshold, nothing at all). A watcher thread looks at the stamps a few times per threshold
//! and reports each task that has been running longer than the threshold once, through the
//! builder's `on_stall` callback (worker index, how long so far), and counts it. The watcher
//! sleeps between looks and leaves when the pool ends.

use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::registry::Registry;

/// The `on_stall` callback: worker index, how long its task has been running.
pub(crate) type StallFn = dyn Fn(usize, Duration) + Send + Sync + 'static;

/// What the watcher needs, kept in the registry.
pub(crate) struct StallWatch {
    threshold: Duration,
    epoch: Instant,
    /// Per worker: when its current top-level task started, in nanoseconds since `epoch`
    /// plus one (so that 0 means "no task").
    started: Box<[CachePadded<AtomicU64>]>,
    /// Stalls reported so far.
    stalls: AtomicUsize,
    on_stall: Option<StdArc<StallFn>>,
}

impl StallWatch {
    pub(crate) fn new(
        threshold: Duration,
        workers: usize,
        on_stall: Option<StdArc<StallFn>>,
    ) -> Self {
        StallWatch {
            threshold,
            epoch: Instant::now(),
            started: (0..workers)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            stalls: AtomicUsize::new(0),
            on_stall,
        }
    }

    fn stamp(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Worker `index` starts a top-level task.
    pub(crate) fn task_started(&self, index: usize) {
        self.started[index].store(self.stamp(), Ordering::Relaxed);
    }

    /// Worker `index` finished its top-level task.
    pub(crate) fn task_ended(&self, index: usize) {
        self.started[index].store(0, Ordering::Relaxed);
    }

    /// How often the watcher looks: a quarter of the threshold, between 1 ms and 1 s.
    fn period(&self) -> Duration {
        (self.threshold / 4).clamp(Duration::from_millis(1), Duration::from_secs(1))
    }
}

/// The watcher thread's body: looks at the stamps until the pool ends.
pub(crate) fn watch(registry: Arc<Registry>) {
    let Some(watch) = registry.stall_watch() else {
        return;
    };
    // The stamp each worker's current stall was reported for (one report per task).
    let mut reported = vec![0u64; watch.started.len()];
    let threshold_nanos = u64::try_from(watch.threshold.as_nanos()).unwrap_or(u64::MAX);
    while !registry.sleep.is_terminated() {
        std::thread::sleep(watch.period());
        let now = watch.stamp();
        for (index, started) in watch.started.iter().enumerate() {
            let started = started.load(Ordering::Relaxed);
            if started == 0 || started == reported[index] {
                continue;
            }
            let running = now.saturating_sub(started);
            if running > threshold_nanos {
                reported[index] = started;
                watch.stalls.fetch_add(1, Ordering::Relaxed);
                if let Some(on_stall) = &watch.on_stall {
                    let on_stall = on_stall.clone();
                    crate::unwind::call_quietly(move || {
                        on_stall(index, Duration::from_nanos(running));
                    });
                }
            }
        }
    }
}
