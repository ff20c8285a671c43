//! `Display` for [`Metrics`] (a short table a person can read in a log, at most 80 columns
//! wide) and for [`Histogram`] (one line). For example:
//!
//! ```text
//! stealpool: 2 workers, up 4.00s; 13 workers replaced; 1 stall
//! tasks: 4811 completed (13 panicked), 34 cancelled, 0 queued; 39 stolen
//! lane        queued  submitted  completed  panicked  cancelled
//! high             0         80         80         0          0
//! normal           0       4121       4121        13          0
//! low              0        644        610         0         34
//! wait         p50     p90     p99     max  run  p50     p90     p99     max
//! high       492µs  4.72ms  11.2ms  11.2ms     188µs   279µs  8.19ms  8.19ms
//! ...
//! worker       tasks     steals      parks       busy  share
//! 0             2372         21        277      3.37s    84%
//! 1             2439         18        255      3.42s    86%
//! ```
//!
//! The timing rows appear only when the pool records timing; a temporary worker's row is
//! marked `temp`.

use std::fmt::{self, Write as _};
use std::time::Duration;

use super::{Histogram, Metrics};

/// A duration in at most four significant characters and a unit: `950ns`, `12µs`, `1.5ms`,
/// `3.20s`.
pub(crate) struct Short(pub(crate) Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos() as f64;
        let (value, unit) = if nanos < 1e3 {
            (nanos, "ns")
        } else if nanos < 1e6 {
            (nanos / 1e3, "µs")
        } else if nanos < 1e9 {
            (nanos / 1e6, "ms")
        } else {
            (nanos / 1e9, "s")
        };
        let text = if value >= 100.0 || unit == "ns" {
            format!("{value:.0}{unit}")
        } else if value >= 10.0 {
            format!("{value:.1}{unit}")
        } else {
            format!("{value:.2}{unit}")
        };
        f.pad(&text)
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Four columns of a histogram (p50, p90, p99, max), or dashes when it is empty.
fn percentiles(out: &mut String, histogram: &Histogram) {
    if histogram.is_empty() {
        let _ = write!(out, "{:>8}{:>8}{:>8}{:>8}", "-", "-", "-", "-");
    } else {
        let _ = write!(
            out,
            "{:>8}{:>8}{:>8}{:>8}",
            Short(histogram.p50()),
            Short(histogram.p90()),
            Short(histogram.p99()),
            Short(histogram.max())
        );
    }
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let _ = write!(
            out,
            "stealpool: {}, up {}",
            plural(
                self.num_threads as u64,
                if self.processes.is_some() {
                    "worker process"
                } else {
                    "worker"
                },
                if self.processes.is_some() {
                    "worker processes"
                } else {
                    "workers"
                },
            ),
            Short(self.uptime),
        );
        if let Some(p) = &self.processes {
            let _ = write!(
                out,
                "; {}, {}, {}, {} unresponsive, {} retired",
                plural(p.replaced, "process replaced", "processes replaced"),
                plural(p.crashes, "crash", "crashes"),
                plural(p.timeouts, "timeout", "timeouts"),
                p.unresponsive,
                p.retired,
            );
        } else if self.workers_replaced > 0 {
            let _ = write!(
                out,
                "; {}",
                plural(self.workers_replaced, "worker replaced", "workers replaced")
            );
            if self.replacements_skipped > 0 {
                let _ = write!(out, " ({} skipped)", self.replacements_skipped);
            }
        }
        if self.stalls > 0 {
            let _ = write!(out, "; {}", plural(self.stalls, "stall", "stalls"));
        }
        let _ = writeln!(
            out,
            "\ntasks: {} completed ({} panicked), {} cancelled, {} queued; {} stolen",
            self.completed(),
            self.panicked(),
            self.cancelled(),
            self.queued(),
            self.stolen(),
        );
        let _ = writeln!(
            out,
            "{:<8}{:>10}{:>11}{:>11}{:>10}{:>11}",
            "lane", "queued", "submitted", "completed", "panicked", "cancelled"
        );
        for lane in &self.lanes {
            let _ = writeln!(
                out,
                "{:<8}{:>10}{:>11}{:>11}{:>10}{:>11}",
                lane_name(lane.priority),
                lane.queued,
                lane.submitted,
                lane.completed,
                lane.panicked,
                lane.cancelled
            );
        }
        if self.lanes.iter().any(|l| l.wait_time.is_some()) {
            let _ = writeln!(
                out,
                "{:<8}{:>8}{:>8}{:>8}{:>8}  {:<3}{:>5}{:>8}{:>8}{:>8}",
                "wait", "p50", "p90", "p99", "max", "run", "p50", "p90", "p99", "max"
            );
            for lane in &self.lanes {
                if let (Some(wait), Some(run)) = (&lane.wait_time, &lane.run_time) {
                    let _ = write!(out, "{:<8}", lane_name(lane.priority));
                    percentiles(&mut out, wait);
                    out.push_str("  ");
                    percentiles(&mut out, run);
                    out.push('\n');
                }
            }
        }
        let _ = writeln!(
            out,
            "{:<10}{:>8}{:>11}{:>11}{:>11}{:>7}",
            "worker", "tasks", "steals", "parks", "busy", "share"
        );
        let uptime = self.uptime.as_secs_f64();
        for worker in &self.workers {
            let share = if uptime > 0.0 {
                (worker.busy_time.as_secs_f64() / uptime * 100.0).min(100.0)
            } else {
                0.0
            };
            let name = if worker.temporary {
                format!("{} temp", worker.index)
            } else {
                worker.index.to_string()
            };
            let _ = writeln!(
                out,
                "{:<10}{:>8}{:>11}{:>11}{:>11}{:>6.0}%",
                name,
                worker.tasks_run,
                worker.steals,
                worker.parks,
                Short(worker.busy_time),
                share
            );
        }
        // No trailing newline: the caller's `println!` adds one.
        f.write_str(out.trim_end())
    }
}

fn lane_name(priority: crate::Priority) -> &'static str {
    match priority {
        crate::Priority::High => "high",
        crate::Priority::Normal => "normal",
        crate::Priority::Low => "low",
    }
}

/// One line: `count 4811, min 10.3µs, p50 344µs, p90 3.67ms, p99 11.5ms, max 750ms, mean
/// 1.42ms` (or `count 0` when empty).
impl fmt::Display for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("count 0");
        }
        write!(
            f,
            "count {}, min {}, p50 {}, p90 {}, p99 {}, max {}, mean {}",
            self.count(),
            Short(self.min()),
            Short(self.p50()),
            Short(self.p90()),
            Short(self.p99()),
            Short(self.max()),
            Short(self.mean())
        )
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Short;
    use std::time::Duration;

    #[test]
    fn short_durations() {
        let cases = [
            (Duration::from_nanos(950), "950ns"),
            (Duration::from_nanos(12_345), "12.3µs"),
            (Duration::from_micros(1_500), "1.50ms"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_millis(3_200), "3.20s"),
        ];
        for (duration, text) in cases {
            assert_eq!(Short(duration).to_string(), text);
        }
    }
}
