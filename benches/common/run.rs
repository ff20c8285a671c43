//! One run of a bench binary: its command line (quick mode, `--list`), the machine's `nproc`,
//! the bench's own pass after its criterion groups, and the JSON file of its figures.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};

use super::json::Json;
use super::table::Table;

/// Set (to anything but `0` or the empty string) for quick mode.
pub const QUICK_ENV: &str = "STEALPOOL_BENCH_QUICK";
/// Where the JSON files go, if set (and not empty); otherwise [`json_dir`]'s default.
pub const JSON_DIR_ENV: &str = "STEALPOOL_BENCH_JSON_DIR";
/// The layout of the JSON file; raised when a key changes meaning or goes away.
pub const JSON_FORMAT: u32 = 1;

/// Quick mode: criterion's test mode (`--test`, or no `--bench`, as with
/// `cargo test --benches`), or `STEALPOOL_BENCH_QUICK` set.
pub fn is_quick(args: &[String]) -> bool {
    let test_mode = args.iter().any(|a| a == "--test") || !args.iter().any(|a| a == "--bench");
    let env_quick = env::var(QUICK_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
    test_mode || env_quick
}

/// The machine's `nproc` (CPUs this process may run on), falling back to
/// `available_parallelism` where the command is missing.
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

/// The directory of the JSON files: `STEALPOOL_BENCH_JSON_DIR` if set, else
/// `bench-results/` in the workspace's target directory (`CARGO_TARGET_DIR` if set, relative
/// to the workspace root, where cargo runs the benches; else `target/`).
pub fn json_dir() -> PathBuf {
    let set = |name: &str| env::var_os(name).filter(|v: &OsString| !v.is_empty());
    if let Some(dir) = set(JSON_DIR_ENV) {
        return PathBuf::from(dir);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = set("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
    target.join("bench-results")
}

/// `secs` after the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC, proleptic Gregorian).
pub fn utc_date(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from a day count, with years starting on 1 March so that the leap day
    // comes last: eras of 400 years (146 097 days) from 0000-03-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = era * 400 + yoe + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem / 60 % 60,
        rem % 60
    )
}

/// What a bench binary was asked to do.
pub struct Run {
    bench: &'static str,
    threads: usize,
    quick: bool,
    list_only: bool,
    nproc: String,
}

impl Run {
    /// Reads the command line; `threads` is the worker count of the bench's pools.
    pub fn from_args(bench: &'static str, threads: usize) -> Run {
        let args: Vec<String> = env::args().collect();
        Run {
            bench,
            threads,
            quick: is_quick(&args),
            list_only: args.iter().any(|a| a == "--list"),
            nproc: nproc(),
        }
    }

    pub fn quick(&self) -> bool {
        self.quick
    }

    /// `--list`: criterion lists the benchmarks; nothing else runs.
    pub fn list_only(&self) -> bool {
        self.list_only
    }

    pub fn nproc(&self) -> &str {
        &self.nproc
    }

    /// The bench's own pass, after its criterion groups (skipped with `--list`): runs `pass`,
    /// which prints its tables through [`Results::print_table`], prints
    /// `(<what> took N s)`, and writes the JSON file. Fails (the bench's exit code) when
    /// the file cannot be written.
    pub fn pass(&self, what: &str, pass: impl FnOnce(&mut Results)) -> ExitCode {
        if self.list_only {
            return ExitCode::SUCCESS;
        }
        let started = Instant::now();
        let mut results = Results {
            config: Json::object(),
            tables: Json::object(),
            extra: Json::object(),
        };
        pass(&mut results);
        println!("\n({what} took {:.1} s)", started.elapsed().as_secs_f64());
        self.write(&results)
    }

    fn write(&self, results: &Results) -> ExitCode {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let nproc = self
            .nproc
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok());
        let json = Json::object()
            .with("format", JSON_FORMAT)
            .with("bench", self.bench)
            .with("quick", self.quick)
            .with("threads", self.threads)
            .with("nproc", nproc)
            .with("date", utc_date(secs))
            .with("unix_time_s", secs)
            .with("config", results.config.clone())
            .with("tables", results.tables.clone())
            .with("extra", results.extra.clone());
        let dir = json_dir();
        let path = dir.join(format!("{}.json", self.bench));
        match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, json.render())) {
            Ok(()) => {
                eprintln!("{}: figures written to {}", self.bench, path.display());
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{}: cannot write {}: {err}", self.bench, path.display());
                ExitCode::FAILURE
            }
        }
    }
}

/// What a bench's pass reports: the JSON file's `config`, `tables` and `extra`.
pub struct Results {
    config: Json,
    tables: Json,
    extra: Json,
}

impl Results {
    /// A setting of the pass (rounds, tasks per batch, ...): `config.<key>`.
    pub fn config(&mut self, key: &str, value: impl Into<Json>) {
        self.config.set(key, value);
    }

    /// Prints `table` as Markdown and keeps it for the file: `tables.<id>`.
    pub fn print_table(&mut self, table: &Table) {
        print!("{}", table.markdown());
        self.tables.set(table.id(), table.json());
    }

    /// A figure printed outside the tables (a target line, a reference): `extra.<key>`.
    pub fn extra(&mut self, key: &str, value: impl Into<Json>) {
        self.extra.set(key, value);
    }
}

/// A criterion group whose every iteration is one burst of `elements` tasks: throughput in
/// elements, and flat sampling with criterion's minimum of 10 samples, since an iteration
/// takes milliseconds.
pub fn burst_group<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: usize,
    warm_up: Duration,
    measurement: Duration,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(elements as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(warm_up)
        .measurement_time(measurement);
    group
}

/// criterion's (warm-up, measurement) windows of the priority and panics groups: 100 ms and
/// 300 ms in quick mode, 1 s and 3 s otherwise.
pub fn short_windows(quick: bool) -> (Duration, Duration) {
    if quick {
        (Duration::from_millis(100), Duration::from_millis(300))
    } else {
        (Duration::from_secs(1), Duration::from_secs(3))
    }
}
