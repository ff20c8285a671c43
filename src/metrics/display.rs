//! `Display` for [`Metrics`]: a short table a person can read in a log.
//!
//! ```text
//! stealpool: 2 workers, up 3.20s; tasks: 1204 done (5 panicked), 3 cancelled, 17 queued; 40 stolen; 5 workers replaced; 1 stall
//! lane       queued  submitted       done  panicked  cancelled   wait p50/p90/p99/max           run p50/p90/p99/max
//! high            0        100        100         0          0   12µs/40µs/80µs/95µs            1.1ms/1.9ms/2.0ms/2.0ms
//! normal         17       1107       1087         5          3   ...
//! low             0         17         17         0          0   ...
//! worker      tasks     steals      parks       busy
//! 0             600         20         12   1.52s  47%
//! 1             604         20          9   1.60s  50%
//! ```
//!
//! The timing columns appear only when the pool records timing; a temporary worker's row is
//! marked `(temp)`.

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

fn quartet(histogram: Option<&Histogram>) -> String {
    match histogram {
        Some(h) if !h.is_empty() => format!(
            "{}/{}/{}/{}",
            Short(h.p50()),
            Short(h.p90()),
            Short(h.p99()),
            Short(h.max())
        ),
        Some(_) => "-".to_owned(),
        None => String::new(),
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let _ = write!(
            out,
            "stealpool: {}, up {}; tasks: {} done ({} panicked), {} cancelled, {} queued; {} stolen",
            plural(self.num_threads as u64, "worker", "workers"),
            Short(self.uptime),
            self.completed(),
            self.panicked(),
            self.cancelled(),
            self.queued(),
            self.stolen(),
        );
        if self.workers_replaced > 0 {
            let _ = write!(
                out,
                "; {}",
                plural(self.workers_replaced, "worker replaced", "workers replaced")
            );
        }
        if self.stalls > 0 {
            let _ = write!(out, "; {}", plural(self.stalls, "stall", "stalls"));
        }
        out.push('\n');
        let timing = self.lanes.iter().any(|l| l.wait_time.is_some());
        let _ = write!(
            out,
            "{:<8}{:>9}{:>11}{:>11}{:>10}{:>11}",
            "lane", "queued", "submitted", "done", "panicked", "cancelled"
        );
        if timing {
            let _ = write!(out, "   {:<30} run p50/p90/p99/max", "wait p50/p90/p99/max");
        }
        out.push('\n');
        for lane in &self.lanes {
            let name = format!("{:?}", lane.priority).to_lowercase();
            let _ = write!(
                out,
                "{:<8}{:>9}{:>11}{:>11}{:>10}{:>11}",
                name, lane.queued, lane.submitted, lane.completed, lane.panicked, lane.cancelled
            );
            if timing {
                let _ = write!(
                    out,
                    "   {:<30} {}",
                    quartet(lane.wait_time.as_ref()),
                    quartet(lane.run_time.as_ref())
                );
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "{:<8}{:>9}{:>11}{:>11}{:>11}",
            "worker", "tasks", "steals", "parks", "busy"
        );
        let uptime = self.uptime.as_secs_f64();
        for worker in &self.workers {
            let share = if uptime > 0.0 {
                (worker.busy_time.as_secs_f64() / uptime * 100.0).min(100.0)
            } else {
                0.0
            };
            let name = if worker.temporary {
                format!("{} (temp)", worker.index)
            } else {
                worker.index.to_string()
            };
            let _ = writeln!(
                out,
                "{:<8}{:>9}{:>11}{:>11}{:>11} {:>3.0}%",
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
