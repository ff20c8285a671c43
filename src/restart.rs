//! The restart-intensity bound on worker replacements (`PoolBuilder::restart_intensity`), as
//! Erlang/OTP supervisors bound their restarts: at most `max` replacements after a panic
//! within any `period`. Past it, a worker whose task panicked carries on instead of retiring,
//! so that a storm of panics does not become a storm of thread starts; the pool says so once
//! per storm ([`RestartLimitReached`]) and counts each panic it let pass
//! (`Metrics::replacements_skipped`). The bound applies again as soon as the window has room.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::loom::sync::Mutex;

/// What a worker whose task panicked should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Retire: a fresh thread takes over the slot.
    Replace,
    /// Carry on without a replacement. `first`: the first such verdict of this storm, which
    /// the pool reports.
    CarryOn { first: bool },
}

/// The window of recent replacements. Only the slow path (a task panicked) touches it.
#[derive(Debug)]
pub(crate) struct RestartBudget {
    max: usize,
    period: Duration,
    state: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// When the replacements still inside the window were granted, oldest first.
    granted: VecDeque<Instant>,
    /// The limit was reached and the window has not had room since.
    exhausted: bool,
}

impl RestartBudget {
    /// At most `max` replacements within any `period` (both checked by the builder: `max`
    /// at least 1, `period` not zero).
    pub(crate) fn new(max: u32, period: Duration) -> Self {
        RestartBudget {
            max: max as usize,
            period,
            state: Mutex::new(Window::default()),
        }
    }

    /// A worker's task panicked at `now`: may the worker be replaced?
    pub(crate) fn decide(&self, now: Instant) -> Verdict {
        let mut window = self.state.lock();
        while window
            .granted
            .front()
            .is_some_and(|&at| now.saturating_duration_since(at) >= self.period)
        {
            window.granted.pop_front();
        }
        if window.granted.len() < self.max {
            window.granted.push_back(now);
            window.exhausted = false;
            return Verdict::Replace;
        }
        let first = !window.exhausted;
        window.exhausted = true;
        Verdict::CarryOn { first }
    }

    /// The report for the start of a storm.
    pub(crate) fn limit_reached(&self) -> RestartLimitReached {
        RestartLimitReached {
            max: self.max as u32,
            period: self.period,
        }
    }
}

/// What the pool hands its [`panic_handler`](crate::PoolBuilder::panic_handler) once per
/// storm of panics, when it stops replacing workers because more than `max` were replaced
/// within `period` ([`restart_intensity`](crate::PoolBuilder::restart_intensity)). The
/// handler receives it as a payload; `downcast_ref::<RestartLimitReached>()` tells it from a
/// task's panic.
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
///
/// let (tx, rx) = mpsc::channel::<String>();
/// let tx = std::sync::Mutex::new(tx);
/// let pool = stealpool::WorkerPool::builder()
///     .num_threads(1)
///     .restart_intensity(1, Duration::from_secs(3600))
///     .panic_handler(move |payload| {
///         if let Some(limit) = payload.downcast_ref::<stealpool::RestartLimitReached>() {
///             tx.lock().unwrap().send(limit.to_string()).unwrap();
///         }
///     })
///     .build()?;
/// for _ in 0..3 {
///     assert!(pool.spawn(|| -> () { panic!("boom") }).join().is_err());
/// }
/// // The first panic replaced the worker; the second reached the limit, said once.
/// assert!(rx.recv().unwrap().contains("at most 1 worker replacement"));
/// pool.shutdown(); // the counts are final once the threads are gone
/// assert_eq!(pool.metrics().workers_replaced(), 1);
/// assert_eq!(pool.metrics().replacements_skipped(), 2);
/// # Ok::<(), stealpool::BuildError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartLimitReached {
    max: u32,
    period: Duration,
}

impl RestartLimitReached {
    /// The most replacements allowed within [`period`](Self::period).
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The window the bound applies to.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl fmt::Display for RestartLimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "restart intensity reached (at most {} worker replacement{} within {:?}): workers \
             carry on after a panic until the window has room again",
            self.max,
            if self.max == 1 { "" } else { "s" },
            self.period
        )
    }
}

impl std::error::Error for RestartLimitReached {}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::{Duration, Instant};

    use super::{RestartBudget, Verdict};

    #[test]
    fn at_most_max_replacements_within_the_period_then_one_report_per_storm() {
        let budget = RestartBudget::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(budget.decide(at(0)), Verdict::Replace);
        assert_eq!(budget.decide(at(1)), Verdict::Replace);
        assert_eq!(budget.decide(at(2)), Verdict::CarryOn { first: true });
        assert_eq!(budget.decide(at(3)), Verdict::CarryOn { first: false });
        // The first grant leaves the window at 10 s: room for one more.
        assert_eq!(budget.decide(at(10)), Verdict::Replace);
        assert_eq!(budget.decide(at(10)), Verdict::CarryOn { first: true });
        // Long after, the window is empty again.
        assert_eq!(budget.decide(at(100)), Verdict::Replace);
        assert_eq!(budget.decide(at(100)), Verdict::Replace);
        assert_eq!(budget.decide(at(100)), Verdict::CarryOn { first: true });
    }
}
