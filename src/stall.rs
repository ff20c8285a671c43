//! Health checks: noticing tasks that run for too long (`PoolBuilder::stall_threshold`).
//!
//! When a threshold is set, each worker stamps the time it starts a top-level task and
//! clears the stamp when the task returns (two clock reads and two stores per task; without a
//! threshold, nothing at all). A watcher thread looks at the stamps a few times per threshold
//! and reports each task that has been running longer than the threshold once, through the
//! builder's `on_stall` callback (worker index, how long so far), and counts it. The watcher
//! sleeps between looks and leaves when the pool ends (the last worker to leave wakes it).
//!
//! With `compensate_stalls(max_extra)`, each look also publishes how many tasks are stalled
//! right now; while fewer temporary workers than that (and than `max_extra`) are alive and
//! work is queued, the watcher starts one (see `Registry::start_temp`). A temporary worker
//! checks the published count between tasks and leaves when it is above it, or when it finds
//! no work. It never sleeps, so the sleep protocol sees it only as one more thread that can
//! keep a closed pool from ending (`Sleep::temp_left`).

use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::loom::sync::{Condvar, Mutex};
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
    /// `compensate_stalls`: the most temporary workers at once (0: no compensation).
    max_extra: usize,
    /// Tasks stalled at the watcher's last look.
    stalled_now: AtomicUsize,
    /// Temporary workers started so far.
    temps_started: AtomicUsize,
    /// Set when the pool has ended: the watcher leaves at once instead of finishing its
    /// pause (so that `shutdown` does not wait for it).
    ended: Mutex<bool>,
    ended_signal: Condvar,
}

impl StallWatch {
    /// A watch over `slots` workers (temporary ones included), `max_extra` of which are
    /// temporary.
    pub(crate) fn new(
        threshold: Duration,
        slots: usize,
        max_extra: usize,
        on_stall: Option<StdArc<StallFn>>,
    ) -> Self {
        StallWatch {
            threshold,
            epoch: Instant::now(),
            started: (0..slots)
                .map(|_| CachePadded::new(AtomicU64::new(0)))
                .collect(),
            stalls: AtomicUsize::new(0),
            on_stall,
            max_extra,
            stalled_now: AtomicUsize::new(0),
            temps_started: AtomicUsize::new(0),
            ended: Mutex::new(false),
            ended_signal: Condvar::new(),
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

    /// How many temporary workers are wanted now: one per stalled task, up to `max_extra`.
    pub(crate) fn temps_wanted(&self) -> usize {
        self.stalled_now.load(Ordering::Relaxed).min(self.max_extra)
    }

    /// Stalls reported so far.
    pub(crate) fn stalls(&self) -> usize {
        self.stalls.load(Ordering::Relaxed)
    }

    /// Temporary workers started so far.
    #[cfg_attr(any(not(test), loom), allow(dead_code))]
    pub(crate) fn temps_started(&self) -> usize {
        self.temps_started.load(Ordering::Relaxed)
    }

    /// The pool has ended: the watcher leaves now.
    pub(crate) fn end(&self) {
        *self.ended.lock() = true;
        self.ended_signal.notify_all();
    }

    /// Waits one period; false if the pool ended meanwhile.
    fn pause(&self) -> bool {
        let deadline = Instant::now() + self.period();
        let mut ended = self.ended.lock();
        while !*ended {
            let (guard, timed_out) = self.ended_signal.wait_until(ended, deadline);
            ended = guard;
            if timed_out {
                break;
            }
        }
        !*ended
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
    while watch.pause() {
        let now = watch.stamp();
        let mut stalled = 0;
        for (index, started) in watch.started.iter().enumerate() {
            let started = started.load(Ordering::Relaxed);
            if started == 0 {
                continue;
            }
            let running = now.saturating_sub(started);
            if running > threshold_nanos {
                stalled += 1;
            }
            if running > threshold_nanos && started != reported[index] {
                reported[index] = started;
                watch.stalls.fetch_add(1, Ordering::Relaxed);
                crate::trace::stall_detected(index, Duration::from_nanos(running));
                if let Some(on_stall) = &watch.on_stall {
                    let on_stall = on_stall.clone();
                    crate::unwind::call_quietly(move || {
                        on_stall(index, Duration::from_nanos(running));
                    });
                }
            }
        }
        if watch.max_extra > 0 {
            compensate(&registry, watch, stalled);
        }
    }
}

/// Publishes the stalled count and starts temporary workers while fewer than wanted are
/// alive and work is waiting.
fn compensate(registry: &Arc<Registry>, watch: &StallWatch, stalled: usize) {
    watch.stalled_now.store(stalled, Ordering::Relaxed);
    let wanted = watch.temps_wanted();
    while registry.sleep.temps() < wanted && registry.has_work() {
        if !Registry::start_temp(registry) {
            break;
        }
        watch.temps_started.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use crate::PoolBuilder;

    fn wait_for(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "gave up waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A stuck worker gets a temporary stand-in while work is queued, the stand-in leaves
    /// once the stuck task ends, and the counts say so.
    #[test]
    fn temporary_workers_come_and_go_with_the_stall() {
        let pool = PoolBuilder::new()
            .num_threads(1)
            .stall_threshold(Duration::from_millis(5))
            .compensate_stalls(2)
            .build()
            .unwrap();
        let registry = pool.registry().clone();
        let watch = registry.stall_watch().unwrap();
        let (release, gate) = mpsc::channel::<()>();
        let stuck = pool.spawn(move || gate.recv().unwrap());
        wait_for("the stall", || watch.stalls() == 1);
        // Queued behind the stuck task, these can only run on a temporary worker.
        let indices: Vec<_> = (0..50)
            .map(|_| pool.spawn(crate::current_thread_index))
            .collect();
        for handle in indices {
            assert_eq!(handle.join().unwrap(), Some(1));
        }
        // One stalled task: one temporary worker at most, even with two allowed.
        assert!(watch.temps_started() >= 1);
        assert!(registry.sleep.temps() <= 1);
        release.send(()).unwrap();
        stuck.join().unwrap();
        // Once the watcher has seen the stall end, it starts no more, and the one there
        // leaves.
        wait_for("the watcher to see the end", || watch.temps_wanted() == 0);
        wait_for("the temporary worker to leave", || {
            registry.sleep.temps() == 0
        });
        assert_eq!(
            pool.spawn(crate::current_thread_index).join().unwrap(),
            Some(0)
        );
        pool.shutdown();
        assert!(registry.sleep.is_terminated());
        // The ended pool told the watcher, which would otherwise finish its pause first:
        // a pause now returns at once, saying "ended".
        assert!(!watch.pause());
    }
}
