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
//! work is queued, the watcher starts one. A temporary worker checks the published count
//! between tasks and leaves when it is above it, or when it finds no work. It never sleeps,
//! so the sleep protocol sees it only as one more thread that can keep a closed pool from
//! ending (`Sleep::temp_left`).
//!
//! This module holds the data and what one look does; the watcher thread's loop, and the
//! starting of temporary workers, are in `crate::threads`.

use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::config::StallFn;
use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use crate::loom::sync::{Condvar, Mutex};

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

    /// Does the pool start temporary workers while tasks are stalled?
    pub(crate) fn compensates(&self) -> bool {
        self.max_extra > 0
    }

    /// Publishes how many tasks are stalled now (what temporary workers compare themselves
    /// with).
    pub(crate) fn publish_stalled(&self, stalled: usize) {
        self.stalled_now.store(stalled, Ordering::Relaxed);
    }

    /// A temporary worker was started.
    pub(crate) fn temp_started(&self) {
        self.temps_started.fetch_add(1, Ordering::Relaxed);
    }

    /// The pool has ended: the watcher leaves now.
    pub(crate) fn end(&self) {
        *self.ended.lock() = true;
        self.ended_signal.notify_all();
    }

    /// Waits one period; false if the pool ended meanwhile.
    pub(crate) fn pause(&self) -> bool {
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

/// What the watcher remembers between looks: the stamp each worker's current stall was
/// reported for (one report per task).
pub(crate) struct Reported(Vec<u64>);

impl StallWatch {
    /// A fresh memory of reports, for the watcher.
    pub(crate) fn reported(&self) -> Reported {
        Reported(vec![0; self.started.len()])
    }

    /// One look at the stamps: reports each task that has run longer than the threshold,
    /// once (through `on_stall`, counted), and returns how many are stalled right now.
    pub(crate) fn look(&self, reported: &mut Reported) -> usize {
        let threshold_nanos = u64::try_from(self.threshold.as_nanos()).unwrap_or(u64::MAX);
        let now = self.stamp();
        let mut stalled = 0;
        for (index, started) in self.started.iter().enumerate() {
            let started = started.load(Ordering::Relaxed);
            if started == 0 {
                continue;
            }
            let running = now.saturating_sub(started);
            if running <= threshold_nanos {
                continue;
            }
            stalled += 1;
            if started != reported.0[index] {
                reported.0[index] = started;
                self.stalls.fetch_add(1, Ordering::Relaxed);
                crate::trace::stall_detected(index, Duration::from_nanos(running));
                if let Some(on_stall) = &self.on_stall {
                    let on_stall = on_stall.clone();
                    crate::unwind::call_quietly(move || {
                        on_stall(index, Duration::from_nanos(running));
                    });
                }
            }
        }
        stalled
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
        let sleep = &registry.sleep;
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
        assert!(sleep.active_temps() <= 1);
        release.send(()).unwrap();
        stuck.join().unwrap();
        // Once the watcher has seen the stall end, it starts no more, and the one there
        // leaves.
        wait_for("the watcher to see the end", || watch.temps_wanted() == 0);
        wait_for("the temporary worker to leave", || {
            sleep.active_temps() == 0
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
