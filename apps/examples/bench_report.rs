//! Runs the project's benchmarks beside their peers and writes a Markdown report with SVG plots.
//!
//! ```text
//! cargo run --release -p stealpool-apps --example bench_report [-- [--quick] [--out DIR]]
//! ```
//!
//! It runs, one after another (never two at once, so the figures stay meaningful):
//!
//! - `cargo bench --bench spawn`: spawn cost and wake-up latency against rayon, threadpool and
//!   tokio;
//! - `cargo bench --bench fork_join`: fine-grained `fib(30)` and coarse-grained speedups
//!   (`fib(36)`, quicksort) against rayon, chili and raw threads;
//! - `cargo bench --bench priority`: how long an urgent task waits behind a saturated pool;
//! - `cargo bench --bench waits`: CPU tasks beside tasks that block (stealpool's and tokio's
//!   `block_in_place`, rayon sleeping plainly), and what `stealpool::isolate` costs;
//! - `cargo bench --bench iter`: parallel iterators (`prelude`'s `par_iter` and friends)
//!   against rayon's, the same loops on both;
//! - `scripts/pgzip-vs-pigz`: the pgzip example's throughput against pigz (skipped, with a
//!   note in the report, when pigz is not installed and cannot be installed).
//!
//! Their output streams to the terminal as they run. The figures come from the JSON file each
//! of them writes (`<bench>.json`, laid out as `benches/common/mod.rs` describes), read by key;
//! a missing file, or a figure missing from it, fails the report with a message naming the
//! bench and the key. The files go to `STEALPOOL_BENCH_JSON_DIR` if set, else to
//! `bench-results/` in the target directory (`CARGO_TARGET_DIR`, default `target/`); the report
//! passes that directory to every bench and removes a bench's old file before running it. The
//! printed tables are still captured, for the report's per-bench sections only.
//!
//! The report goes to `DIR` (default `docs/bench`, relative to the repository's root):
//!
//! - `report.md`: a summary table (one row per metric, stealpool beside each peer, with the
//!   ratio stealpool / peer), the date, the commit, the machine, then each bench's own tables;
//! - `fib_speedup.svg`, `spawn_cost.svg`, `urgent_latency.svg`, `gzip_throughput.svg`.
//!
//! `--quick` runs every bench in its shrunken mode (`-- --test`, and the gzip comparison with
//! `STEALPOOL_BENCH_QUICK=1`: one run on 8 MiB): it checks the whole pipeline in well under a
//! minute once the benches are built, with figures that mean nothing.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Parser;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

type Result<T, E = String> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(about = "Runs the benchmarks beside the peers; writes a Markdown report and SVG plots")]
struct Args {
    /// Shrunken benches: checks the pipeline in seconds, figures not meaningful.
    #[arg(long)]
    quick: bool,
    /// Output directory, relative to the repository's root unless absolute.
    #[arg(long, default_value = "docs/bench")]
    out: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_report: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let root = workspace_root();
    let out = root.join(&args.out);
    std::fs::create_dir_all(&out).map_err(|e| format!("creating {}: {e}", out.display()))?;
    // Read before anything is written: the report and plots may live in the repository.
    let source = Source::now(root);

    let json = json_dir(root);
    let bench = |name| Bench::run(root, &json, name, &bench_command(name, args.quick), &[]);
    let spawn = bench("spawn")?;
    let fork_join = bench("fork_join")?;
    let priority = bench("priority")?;
    let waits = bench("waits")?;
    let iter = bench("iter")?;
    let gzip = run_gzip(root, &json, args.quick)?;

    let gzip_results = match &gzip {
        Ok(gzip) => Some(Results::load(&json, gzip.name)?),
        Err(_) => None,
    };
    let figures = Figures::extract(
        &Results::load(&json, spawn.name)?,
        &Results::load(&json, fork_join.name)?,
        &Results::load(&json, priority.name)?,
        &Results::load(&json, waits.name)?,
        &Results::load(&json, iter.name)?,
        gzip_results.as_ref(),
    )?;
    figures.plot(&out)?;
    let report = write_report(
        args,
        &source,
        &figures,
        &[&spawn, &fork_join, &priority, &waits, &iter],
        &gzip,
    );
    let path = out.join("report.md");
    std::fs::write(&path, report).map_err(|e| format!("writing {}: {e}", path.display()))?;
    eprintln!(
        "bench_report: wrote {} and the plots beside it",
        path.display()
    );
    Ok(())
}

/// The repository's root (this program lives in its `apps/` member crate): where the benches
/// run, and what `--out` is relative to.
fn workspace_root() -> &'static Path {
    let apps = Path::new(env!("CARGO_MANIFEST_DIR"));
    apps.parent().unwrap_or(apps)
}

/// Where the benches write their JSON files: `STEALPOOL_BENCH_JSON_DIR` if set, else
/// `bench-results/` in the target directory, as the benches themselves default (relative
/// paths are taken from the repository's root, where the benches run).
fn json_dir(root: &Path) -> PathBuf {
    let set = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = set("STEALPOOL_BENCH_JSON_DIR") {
        return root.join(dir);
    }
    let target = set("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
    target.join("bench-results")
}

// ---------------------------------------------------------------------------
// Running the benches.
// ---------------------------------------------------------------------------

fn bench_command(bench: &str, quick: bool) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = vec![cargo, "bench".into(), "--bench".into(), bench.into()];
    if quick {
        cmd.extend(["--".into(), "--test".into()]);
    }
    cmd
}

/// One bench's captured standard output.
struct Bench {
    name: &'static str,
    stdout: String,
}

impl Bench {
    /// Runs `cmd` in `root`, streaming its stdout to ours while capturing it; stderr (cargo's
    /// build output) goes straight to the terminal. The bench writes its JSON file to
    /// `json_dir` (with `env` added to its environment); an old file of the same name is
    /// removed first, so that a bench that fails to write one cannot pass for fresh.
    fn run(
        root: &Path,
        json_dir: &Path,
        name: &'static str,
        cmd: &[String],
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let old = Results::path(json_dir, name);
        match std::fs::remove_file(&old) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(format!("{name}: removing {}: {e}", old.display()));
            }
            _ => {}
        }
        eprintln!("\nbench_report: running {}", cmd.join(" "));
        let mut child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .current_dir(root)
            .env("STEALPOOL_BENCH_JSON_DIR", json_dir)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: cannot start {}: {e}", cmd[0]))?;
        let mut stdout = String::new();
        let reader = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut term = std::io::stdout().lock();
        for line in reader.lines() {
            let line = line.map_err(|e| format!("{name}: reading its output: {e}"))?;
            // The terminal is a courtesy; a closed stdout must not stop the report.
            let _ = writeln!(term, "{line}");
            stdout.push_str(&line);
            stdout.push('\n');
        }
        drop(term);
        let status = child.wait().map_err(|e| format!("{name}: {e}"))?;
        if !status.success() {
            return Err(format!("{name}: `{}` failed ({status})", cmd.join(" ")));
        }
        Ok(Self { name, stdout })
    }

    /// The bench's Markdown part: from its first `## ` heading on, headings one level down so
    /// that they sit under the report's own.
    fn markdown(&self) -> Result<String> {
        let start = self
            .stdout
            .lines()
            .position(|l| l.starts_with("## "))
            .ok_or_else(|| format!("{}: no `## ` heading in its output", self.name))?;
        let mut md = String::new();
        for line in self.stdout.lines().skip(start) {
            if line.starts_with('#') {
                md.push('#');
            }
            md.push_str(line);
            md.push('\n');
        }
        Ok(md)
    }
}

/// Runs `scripts/pgzip-vs-pigz`. `Err` holds the note for the report when pigz is missing.
fn run_gzip(root: &Path, json_dir: &Path, quick: bool) -> Result<Result<Bench>> {
    let cmd = vec!["scripts/pgzip-vs-pigz".to_owned()];
    let env: &[(&str, &str)] = if quick {
        &[("STEALPOOL_BENCH_QUICK", "1")]
    } else {
        &[]
    };
    match Bench::run(root, json_dir, "pgzip-vs-pigz", &cmd, env) {
        Ok(bench) => Ok(Ok(bench)),
        Err(e) if !has_pigz() => {
            let note = "gzip comparison skipped: pigz is not installed and could not be \
                        installed (`apt-get install pigz`)";
            eprintln!("bench_report: {note} ({e})");
            Ok(Err(note.to_owned()))
        }
        Err(e) => Err(e),
    }
}

fn has_pigz() -> bool {
    Command::new("pigz")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

// ---------------------------------------------------------------------------
// The benches' JSON files.
// ---------------------------------------------------------------------------

/// One bench's figures: the JSON file it wrote, with errors that name the bench and the key.
struct Results {
    bench: String,
    path: PathBuf,
    json: Value,
}

impl Results {
    fn path(dir: &Path, bench: &str) -> PathBuf {
        dir.join(format!("{bench}.json"))
    }

    fn load(dir: &Path, bench: &str) -> Result<Self> {
        let path = Self::path(dir, bench);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{bench}: cannot read its figures from {}: {e}",
                path.display()
            )
        })?;
        Self::parse(bench, path, &text)
    }

    fn parse(bench: &str, path: PathBuf, text: &str) -> Result<Self> {
        let json: Value = serde_json::from_str(text)
            .map_err(|e| format!("{bench}: {} is not valid JSON: {e}", path.display()))?;
        let results = Self {
            bench: bench.to_owned(),
            path,
            json,
        };
        let named = results.text("bench")?;
        if named != bench {
            return Err(format!(
                "{bench}: {} holds the figures of `{named}`",
                results.path.display()
            ));
        }
        Ok(results)
    }

    /// The value at `key`, object keys joined by dots (`tables.fine.rows.fib30_fine.rayon_ms`).
    fn value(&self, key: &str) -> Result<&Value> {
        key.split('.')
            .try_fold(&self.json, |value, k| value.get(k))
            .ok_or_else(|| {
                format!(
                    "{}: no figure `{key}` in {} (format changed?)",
                    self.bench,
                    self.path.display()
                )
            })
    }

    fn number(&self, key: &str) -> Result<f64> {
        let value = self.value(key)?;
        value.as_f64().ok_or_else(|| {
            let what = if value.is_null() {
                "null (not measured)".to_owned()
            } else {
                format!("not a number: {value}")
            };
            format!(
                "{}: figure `{key}` in {} is {what}",
                self.bench,
                self.path.display()
            )
        })
    }

    fn text(&self, key: &str) -> Result<&str> {
        self.value(key)?.as_str().ok_or_else(|| {
            format!(
                "{}: `{key}` in {} is not a string",
                self.bench,
                self.path.display()
            )
        })
    }
}

// ---------------------------------------------------------------------------
// The figures.
// ---------------------------------------------------------------------------

/// The peers, in the summary table's column order. pgzip stands in the stealpool column.
const PEERS: [&str; 6] = [
    "rayon",
    "chili",
    "threadpool",
    "tokio",
    "raw threads",
    "pigz",
];

/// One summary row: stealpool's figure and each peer's, in `PEERS` order.
struct Metric {
    name: String,
    ours: f64,
    peers: [Option<f64>; PEERS.len()],
}

impl Metric {
    fn new(name: &str, ours: f64, peers: &[(&str, f64)]) -> Self {
        let mut row = [None; PEERS.len()];
        for (peer, value) in peers {
            let i = PEERS.iter().position(|p| p == peer).expect("a known peer");
            row[i] = Some(*value);
        }
        Self {
            name: name.to_owned(),
            ours,
            peers: row,
        }
    }
}

/// A bar chart: groups along the x axis, one bar per series in each group.
struct Chart {
    file: &'static str,
    title: String,
    y_desc: &'static str,
    groups: Vec<String>,
    /// Series name and its value in each group.
    series: Vec<(String, Vec<Option<f64>>)>,
    log: bool,
}

struct Figures {
    metrics: Vec<Metric>,
    charts: Vec<Chart>,
}

impl Figures {
    fn extract(
        spawn: &Results,
        fork_join: &Results,
        priority: &Results,
        waits: &Results,
        iter: &Results,
        gzip: Option<&Results>,
    ) -> Result<Self> {
        let mut figures = Self {
            metrics: Vec::new(),
            charts: Vec::new(),
        };
        figures.add_fork_join(fork_join)?;
        figures.add_spawn(spawn)?;
        figures.add_priority(priority)?;
        figures.add_waits(waits)?;
        figures.add_iter(iter)?;
        if let Some(gzip) = gzip {
            figures.add_gzip(gzip)?;
        }
        Ok(figures)
    }

    /// fork_join: coarse-grained speedups and fine-grained fib(30).
    fn add_fork_join(&mut self, fj: &Results) -> Result<()> {
        let Self { metrics, charts } = self;
        let variants = [
            ("stealpool", "stealpool"),
            ("rayon", "rayon"),
            ("chili", "chili"),
            ("raw_threads", "raw threads"),
        ];
        let mut speedups = Vec::new();
        for (workload, label) in [
            ("fib36_cutoff20", "fib(36)"),
            ("quicksort_1m", "quicksort 1M u32"),
        ] {
            let col = format!("{workload}_speedup");
            // The column's header, as printed: `fib(36), cutoff n <= 20: speedup`.
            let header = fj.text(&format!("tables.coarse.columns.{col}"))?;
            let values = variants
                .iter()
                .map(|(id, _)| fj.number(&format!("tables.coarse.rows.{id}.{col}")))
                .collect::<Result<Vec<_>>>()?;
            metrics.push(Metric::new(
                &format!("{header} over sequential (higher is better)"),
                values[0],
                &[
                    ("rayon", values[1]),
                    ("chili", values[2]),
                    ("raw threads", values[3]),
                ],
            ));
            speedups.push((label.to_owned(), values));
        }
        charts.push(Chart {
            file: "fib_speedup.svg",
            title: "Fork-join speedup over sequential (2 threads)".into(),
            y_desc: "speedup (x)",
            groups: speedups.iter().map(|(l, _)| l.clone()).collect(),
            series: variants
                .iter()
                .enumerate()
                .map(|(i, (_, label))| {
                    let values = speedups.iter().map(|(_, vals)| Some(vals[i])).collect();
                    (label.to_string(), values)
                })
                .collect(),
            log: false,
        });
        let fib30 = |variant: &str| fj.number(&format!("tables.fine.rows.fib30_fine.{variant}_ms"));
        metrics.push(Metric::new(
            "`fib(30)`, a join at every node: ms (lower is better)",
            fib30("stealpool")?,
            &[("rayon", fib30("rayon")?), ("chili", fib30("chili")?)],
        ));

        Ok(())
    }

    /// spawn: cost per task and idle wake-up latency.
    fn add_spawn(&mut self, spawn: &Results) -> Result<()> {
        let Self { metrics, charts } = self;
        let summary =
            |row: &str, peer: &str| spawn.number(&format!("tables.summary.rows.{row}.{peer}"));
        let pools = [
            ("stealpool", "stealpool"),
            ("stealpool, record_timing", "stealpool_timing"),
            ("rayon", "rayon_spawn"),
            ("rayon scope", "rayon_scope"),
            ("threadpool", "threadpool"),
            ("tokio", "tokio_spawn_blocking"),
        ];
        let cost = pools
            .iter()
            .map(|(_, id)| summary("spawn_ns_per_task", id))
            .collect::<Result<Vec<_>>>()?;
        metrics.push(Metric::new(
            "spawn tiny tasks from outside and wait: ns/task (lower is better)",
            cost[0],
            &[
                ("rayon", cost[2]),
                ("threadpool", cost[4]),
                ("tokio", cost[5]),
            ],
        ));
        let wake = |peer| summary("wake_p50_us", peer);
        metrics.push(Metric::new(
            "wake-up latency of an idle pool, p50: µs (lower is better)",
            wake("stealpool")?,
            &[
                ("rayon", wake("rayon_spawn")?),
                ("threadpool", wake("threadpool")?),
                ("tokio", wake("tokio_spawn_blocking")?),
            ],
        ));
        charts.push(Chart {
            file: "spawn_cost.svg",
            title: "Spawn cost: tiny tasks from outside the pool (2 threads)".into(),
            y_desc: "ns per task",
            groups: pools.iter().map(|(label, _)| label.to_string()).collect(),
            series: vec![("ns/task".into(), cost.into_iter().map(Some).collect())],
            log: false,
        });

        Ok(())
    }

    /// priority: urgent task's wait behind a saturated pool.
    fn add_priority(&mut self, priority: &Results) -> Result<()> {
        let Self { metrics, charts } = self;
        let lanes = [
            ("stealpool High", "stealpool_high"),
            ("stealpool Normal", "stealpool_normal_over_low"),
            ("stealpool, no lanes", "stealpool_no_lanes"),
            ("rayon", "rayon"),
            ("threadpool", "threadpool"),
            ("tokio", "tokio"),
        ];
        let mut waits = Vec::new();
        for (label, id) in lanes {
            let wait = |col| priority.number(&format!("tables.urgent_wait.rows.{id}.{col}"));
            waits.push((label, wait("p50_ms")?, wait("p99_ms")?));
        }
        for (i, pct) in ["p50", "p99"].iter().enumerate() {
            let pick = |w: &(&str, f64, f64)| if i == 0 { w.1 } else { w.2 };
            metrics.push(Metric::new(
                &format!(
                    "urgent task behind a saturated pool, wait {pct}: ms (lower is better; \
                     stealpool: High lane)"
                ),
                pick(&waits[0]),
                &[
                    ("rayon", pick(&waits[3])),
                    ("threadpool", pick(&waits[4])),
                    ("tokio", pick(&waits[5])),
                ],
            ));
        }
        charts.push(Chart {
            file: "urgent_latency.svg",
            title: "Urgent task's wait behind a saturated pool (log scale)".into(),
            y_desc: "wait before it starts (ms)",
            groups: waits.iter().map(|w| w.0.to_owned()).collect(),
            series: vec![
                ("p50".into(), waits.iter().map(|w| Some(w.1)).collect()),
                ("p99".into(), waits.iter().map(|w| Some(w.2)).collect()),
            ],
            log: true,
        });

        Ok(())
    }

    /// waits: CPU tasks beside tasks that block, until the last CPU task ends. stealpool and
    /// tokio wrap the blocking in their `block_in_place`; rayon, which has none, blocks plainly.
    fn add_waits(&mut self, waits: &Results) -> Result<()> {
        let time =
            |row: &str| waits.number(&format!("tables.block_in_place.rows.{row}.cpu_done_ms"));
        let config = |key: &str| waits.number(&format!("config.{key}"));
        self.metrics.push(Metric::new(
            &format!(
                "{} CPU tasks of {} ms beside {} tasks blocking {} ms, until the last CPU task: ms \
                 (lower is better; stealpool and tokio: `block_in_place`, rayon: plain sleep)",
                config("cpu_tasks")?,
                config("cpu_task_ms")?,
                config("blockers")?,
                config("block_ms")?,
            ),
            time("stealpool_block_in_place")?,
            &[
                ("rayon", time("rayon_plain")?),
                ("tokio", time("tokio_block_in_place")?),
            ],
        ));
        Ok(())
    }

    /// iter: three of the parallel loops, stealpool's and rayon's medians per run (ms). The
    /// sizes in the rows' wording come from the file's `config`. As for `fib(30)`, the summary's
    /// ratio is the ratio of the two medians, like every summary cell; the bench's own table
    /// (in its section of the report) gives the paired ratio, `stealpool_over_rayon`. No plot.
    fn add_iter(&mut self, iter: &Results) -> Result<()> {
        let median =
            |row: &str, variant: &str| iter.number(&format!("tables.iter.rows.{row}.{variant}_ms"));
        let size = |key: &str| iter.number(&format!("config.{key}")).map(format_count);
        for (row, name) in [
            (
                "iter_mut",
                format!(
                    "`par_iter_mut`, add 1 to each of {} `u32` in place, per run: ms \
                     (lower is better)",
                    size("iter_mut_len")?
                ),
            ),
            (
                "map_collect",
                format!(
                    "`par_iter`, `map` and `collect` {} `u64` into a new `Vec`: ms \
                     (lower is better)",
                    size("collect_len")?
                ),
            ),
            (
                "sum",
                format!(
                    "`into_par_iter`, sum of `x * x % 7` over {} `u64`: ms (lower is better)",
                    size("sum_n")?
                ),
            ),
        ] {
            self.metrics.push(Metric::new(
                &name,
                median(row, "stealpool")?,
                &[("rayon", median(row, "rayon")?)],
            ));
        }
        Ok(())
    }

    /// pgzip-vs-pigz: MB/s of input, per tool.
    fn add_gzip(&mut self, gzip: &Results) -> Result<()> {
        let mbs = |tool: &str| gzip.number(&format!("tables.tools.rows.{tool}.mb_per_s"));
        let (pgzip, pigz) = (mbs("pgzip")?, mbs("pigz")?);
        self.metrics.push(Metric::new(
            "gzip throughput, stealpool column = pgzip: MB/s (higher is better)",
            pgzip,
            &[("pigz", pigz)],
        ));
        self.charts.push(Chart {
            file: "gzip_throughput.svg",
            title: "gzip throughput, level 6, 2 threads".into(),
            y_desc: "MB/s of input",
            groups: vec!["pgzip (stealpool)".into(), "pigz".into()],
            series: vec![("MB/s".into(), vec![Some(pgzip), Some(pigz)])],
            log: false,
        });
        Ok(())
    }

    fn plot(&self, out: &Path) -> Result<()> {
        for chart in &self.charts {
            let path = out.join(chart.file);
            chart
                .draw(&path)
                .map_err(|e| format!("drawing {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Plots.
// ---------------------------------------------------------------------------

const COLORS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

impl Chart {
    fn draw(&self, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::new(path, (900, 520)).into_drawing_area();
        root.fill(&WHITE)?;

        let values = self.series.iter().flat_map(|(_, v)| v.iter().flatten());
        let max = values.clone().fold(0f64, |a, &b| a.max(b));
        let min = values.fold(f64::INFINITY, |a, &b| a.min(b));
        // A log axis is a linear axis of log10(value), labelled with the values themselves.
        let (y_lo, y_hi) = if self.log {
            (min.log10().floor().min(-1.0), max.log10().ceil() + 0.3)
        } else if self.series.len() > 1 {
            (0.0, max * 1.4) // room for the legend above the bars
        } else {
            (0.0, max * 1.15)
        };
        let y = |v: f64| if self.log { v.log10() } else { v };

        let groups = self.groups.len() as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(&self.title, ("sans-serif", 22))
            .margin(15)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..groups, y_lo..y_hi)?;
        let log = self.log;
        let y_fmt = move |v: &f64| {
            let v = if log { 10f64.powf(*v) } else { *v };
            // Six decimals at most, without the float noise of 0.1 + 0.2.
            let text = format!("{v:.6}");
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(if log { WHITE } else { RGBColor(235, 235, 235) })
            .x_labels(0)
            .y_labels(if log { (y_hi - y_lo) as usize + 1 } else { 10 })
            .y_label_formatter(&y_fmt)
            .y_desc(self.y_desc)
            .axis_desc_style(("sans-serif", 16))
            .draw()?;

        // Group names under the axis, drawn on the root area (the plot area clips).
        for (g, name) in self.groups.iter().enumerate() {
            let (px, py) = chart.backend_coord(&(g as f64 + 0.5, y_lo));
            let style = ("sans-serif", 15)
                .into_font()
                .into_text_style(&root)
                .pos(Pos::new(HPos::Center, VPos::Top));
            root.draw(&Text::new(name.as_str(), (px, py + 8), style))?;
        }

        let n = self.series.len() as f64;
        let width = 0.8 / n;
        for (s, (name, values)) in self.series.iter().enumerate() {
            let color = COLORS[s % COLORS.len()];
            let bars = values.iter().enumerate().filter_map(|(g, v)| {
                let left = g as f64 + 0.1 + s as f64 * width;
                v.map(|v| (left, v))
            });
            let series = chart.draw_series(bars.clone().map(|(left, v)| {
                Rectangle::new(
                    [(left + 0.01, y_lo), (left + width - 0.01, y(v))],
                    color.filled(),
                )
            }))?;
            if n > 1.0 {
                series.label(name).legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
            }
            chart.draw_series(bars.map(|(left, v)| {
                let style = ("sans-serif", 14)
                    .into_font()
                    .into_text_style(&root)
                    .pos(Pos::new(HPos::Center, VPos::Bottom));
                Text::new(format_value(v), (left + width / 2.0, y(v)), style)
            }))?;
        }
        if n > 1.0 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .draw()?;
        }
        root.present()?;
        Ok(())
    }
}

/// Three significant digits or so, as the benches print them.
fn format_value(v: f64) -> String {
    match v.abs() {
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        a if a >= 0.01 => format!("{v:.3}"),
        _ => format!("{v:.4}"),
    }
}

/// A size for a row's wording: `20M`, `50k`, or the number itself when it is not a whole
/// number of thousands.
fn format_count(n: f64) -> String {
    if n >= 1e6 && n % 1e6 == 0.0 {
        format!("{}M", n / 1e6)
    } else if n >= 1e3 && n % 1e3 == 0.0 {
        format!("{}k", n / 1e3)
    } else {
        format!("{n}")
    }
}

// ---------------------------------------------------------------------------
// The report.
// ---------------------------------------------------------------------------

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn summary_table(metrics: &[Metric]) -> String {
    let mut md = String::from("| metric | stealpool |");
    for peer in PEERS {
        let _ = write!(md, " {peer} |");
    }
    md.push_str("\n|---|---:|");
    md.push_str(&"---:|".repeat(PEERS.len()));
    md.push('\n');
    for m in metrics {
        let _ = write!(md, "| {} | {} |", m.name, format_value(m.ours));
        for peer in &m.peers {
            match peer {
                Some(v) => {
                    let ratio = m.ours / v;
                    let ratio = if ratio < 0.1 {
                        format!("{ratio:.4}x")
                    } else {
                        format!("{ratio:.2}x")
                    };
                    let _ = write!(md, " {} ({ratio}) |", format_value(*v));
                }
                None => md.push_str(" |"),
            }
        }
        md.push('\n');
    }
    md
}

/// The commit the benches were built from, and whether the tree had changes then.
struct Source {
    commit: String,
    dirty: bool,
}

impl Source {
    fn now(root: &Path) -> Source {
        let root = root.to_str().unwrap_or(".");
        let git = |a: &[&str]| {
            let mut full = vec!["-C", root];
            full.extend_from_slice(a);
            command_output("git", &full)
        };
        Source {
            commit: git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into()),
            dirty: git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty()),
        }
    }
}

fn write_report(
    args: &Args,
    source: &Source,
    figures: &Figures,
    benches: &[&Bench],
    gzip: &Result<Bench>,
) -> String {
    let Source { commit, dirty } = source;
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    let nproc = command_output("nproc", &[]).unwrap_or_else(|| "?".into());

    let mut md = String::from("# stealpool benchmark report\n\n");
    let _ = writeln!(
        md,
        "Generated by `cargo run --release -p stealpool-apps --example bench_report{}` on {date}, commit `{commit}`{}; \
         machine: {nproc} CPUs (`nproc`), {}.\n",
        if args.quick { " -- --quick" } else { "" },
        if *dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        cpu_model()
    );
    if args.quick {
        md.push_str("**QUICK MODE: shrunken benches, figures not meaningful.**\n\n");
    }
    md.push_str("## Summary\n\n");
    md.push_str(
        "Each peer's cell is its figure and, in brackets, stealpool / peer. For times, below \
         1.00x means stealpool is faster; for speedup and throughput, above 1.00x means \
         stealpool is ahead. Every pool runs 2 worker threads. rayon's spawn figures are \
         `ThreadPool::spawn` (its `scope` is in the spawn bench's table below).\n\n",
    );
    md.push_str(&summary_table(&figures.metrics));
    md.push_str("\nPlots: ");
    let links: Vec<String> = figures
        .charts
        .iter()
        .map(|c| format!("[{}]({})", c.file, c.file))
        .collect();
    md.push_str(&links.join(", "));
    md.push_str(".\n");
    if let Err(note) = gzip {
        let _ = writeln!(md, "\n{note}.");
    }

    for bench in benches {
        let _ = writeln!(md, "\n## `cargo bench --bench {}`\n", bench.name);
        match bench.markdown() {
            Ok(text) => md.push_str(&text),
            Err(e) => md.push_str(&e),
        }
    }
    if let Ok(gzip) = gzip {
        md.push_str("\n## `scripts/pgzip-vs-pigz`\n\n```text\n");
        let tail: Vec<&str> = gzip
            .stdout
            .lines()
            .skip_while(|l| !l.starts_with("input:"))
            .collect();
        md.push_str(&tail.join("\n"));
        md.push_str("\n```\n");
    }
    md
}

// The benches' JSON writer (`benches/common/json.rs`, which uses nothing else of the bench
// harness): the tests check what it writes against serde_json. The benches cannot run unit tests
// of their own (they have `harness = false`).
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../benches/common/json.rs"]
mod harness_json;

#[cfg(test)]
mod tests {
    use super::harness_json::Json;
    use super::*;

    /// A fork_join file, cut down to what the tests look up.
    const FORK_JOIN: &str = r#"{
        "format": 1, "bench": "fork_join", "quick": true, "threads": 2,
        "tables": {"coarse": {
            "columns": {"variant": "variant", "fib36_cutoff20_speedup": "fib(36), cutoff n <= 20: speedup"},
            "rows": {
                "sequential": {"variant": "sequential", "fib36_cutoff20_speedup": 1.0},
                "stealpool": {"variant": "stealpool", "fib36_cutoff20_speedup": 1.98},
                "raw_threads": {"variant": "raw threads", "fib36_cutoff20_speedup": null}
            }
        }}
    }"#;

    /// An `iter.json` as `benches/iter.rs` writes it: a full run's file (every key, in the
    /// writer's order and layout), except that `sort_len` and `filter_n` (and their rows'
    /// descriptions) were changed so that no two sizes in `config` are equal and a size read
    /// from the wrong key shows. Every figure in the table differs from every other.
    const ITER: &str = r#"{
      "format": 1,
      "bench": "iter",
      "quick": false,
      "threads": 2,
      "nproc": 2,
      "date": "2026-12-05T18:23:21Z",
      "unix_time_s": 1796495001,
      "config": {
        "rounds": 15,
        "sum_n": 20000000,
        "collect_len": 5000000,
        "sort_len": 4000000,
        "iter_mut_len": 1000000,
        "filter_n": 2000000,
        "nested_outer": 1000,
        "nested_inner": 2000,
        "batch": 10,
        "target_coarse_max": 1.05,
        "target_fine_max": 0.7
      },
      "tables": {
        "iter": {
          "columns": {
            "workload": "workload",
            "grain": "grain",
            "sequential_ms": "sequential (ms)",
            "stealpool_ms": "stealpool (ms)",
            "rayon_ms": "rayon (ms)",
            "stealpool_over_rayon": "stealpool / rayon",
            "target_max_stealpool_over_rayon": "target",
            "met": "verdict",
            "perfect_split_over_rayon": "(sequential / 2) / rayon"
          },
          "rows": {
            "sum": {
              "workload": "1. sum of `x * x % 7` over `0..20000000u64`",
              "grain": "fine",
              "sequential_ms": 21.982861999999997,
              "stealpool_ms": 11.862950000000001,
              "rayon_ms": 12.161173000000002,
              "stealpool_over_rayon": 0.9684745878740797,
              "target_max_stealpool_over_rayon": 0.7,
              "met": false,
              "perfect_split_over_rayon": 0.9049996246250258
            },
            "map_collect": {
              "workload": "2. `map` to `x * 3 + 1`, `collect` of 5000000 `u64`",
              "grain": "coarse-ish",
              "sequential_ms": 16.835936999999998,
              "stealpool_ms": 10.074784,
              "rayon_ms": 10.370223,
              "stealpool_over_rayon": 0.9730067521209524,
              "target_max_stealpool_over_rayon": 1.05,
              "met": true,
              "perfect_split_over_rayon": 0.7999897398037596
            },
            "sort_unstable": {
              "workload": "3. `par_sort_unstable` of 4000000 random `u64`",
              "grain": "sort",
              "sequential_ms": 78.12495999999999,
              "stealpool_ms": 67.00334099999999,
              "rayon_ms": 63.645101999999994,
              "stealpool_over_rayon": 1.0530444458263368,
              "target_max_stealpool_over_rayon": 1.05,
              "met": false,
              "perfect_split_over_rayon": 0.6230790777568758
            },
            "iter_mut": {
              "workload": "4. `par_iter_mut`, `+= 1` on 1000000 `u32` (per run, batches of 10)",
              "grain": "fine",
              "sequential_ms": 0.0687041,
              "stealpool_ms": 0.0435857,
              "rayon_ms": 0.096247,
              "stealpool_over_rayon": 0.4561929202988144,
              "target_max_stealpool_over_rayon": 0.7,
              "met": true,
              "perfect_split_over_rayon": 0.37198203256597423
            },
            "filter_count": {
              "workload": "5. `filter` on `x % 3 == 0`, `count` over `0..2000000u64` (per run, batches of 10)",
              "grain": "fine",
              "sequential_ms": 0.6834532,
              "stealpool_ms": 0.20587980000000003,
              "rayon_ms": 0.30129259999999997,
              "stealpool_over_rayon": 0.6829180339931081,
              "target_max_stealpool_over_rayon": 0.7,
              "met": true,
              "perfect_split_over_rayon": 1.1338853579893033
            },
            "nested": {
              "workload": "6. nested: 1000 outer x 2000 inner, `sum` of `(i * j) % 7`",
              "grain": "fine",
              "sequential_ms": 2.137505,
              "stealpool_ms": 1.199772,
              "rayon_ms": 1.267923,
              "stealpool_over_rayon": 0.9337073308079433,
              "target_max_stealpool_over_rayon": 0.7,
              "met": false,
              "perfect_split_over_rayon": 0.8337621336386328
            }
          }
        }
      },
      "extra": {
        "targets": {
          "sum": {
            "stealpool_over_rayon": 0.9684745878740797,
            "limit": 0.7,
            "met": false,
            "perfect_split_over_rayon": 0.9049996246250258,
            "stealpool": {
              "min_ms": 11.125404999999999,
              "max_ms": 14.706784
            },
            "rayon": {
              "min_ms": 11.570616000000001,
              "max_ms": 15.242831
            },
            "sequential": {
              "min_ms": 21.815953999999998,
              "max_ms": 22.581861
            }
          },
          "map_collect": {
            "stealpool_over_rayon": 0.9730067521209524,
            "limit": 1.05,
            "met": true,
            "perfect_split_over_rayon": 0.7999897398037596,
            "stealpool": {
              "min_ms": 9.545257999999999,
              "max_ms": 14.288573000000001
            },
            "rayon": {
              "min_ms": 9.049771,
              "max_ms": 18.537765
            },
            "sequential": {
              "min_ms": 16.436122,
              "max_ms": 18.584143
            }
          },
          "sort_unstable": {
            "stealpool_over_rayon": 1.0530444458263368,
            "limit": 1.05,
            "met": false,
            "perfect_split_over_rayon": 0.6230790777568758,
            "stealpool": {
              "min_ms": 64.032748,
              "max_ms": 71.364148
            },
            "rayon": {
              "min_ms": 60.926595,
              "max_ms": 74.87021100000001
            },
            "sequential": {
              "min_ms": 76.964977,
              "max_ms": 86.937499
            }
          },
          "iter_mut": {
            "stealpool_over_rayon": 0.4561929202988144,
            "limit": 0.7,
            "met": true,
            "perfect_split_over_rayon": 0.37198203256597423,
            "stealpool": {
              "min_ms": 0.043102,
              "max_ms": 0.0442548
            },
            "rayon": {
              "min_ms": 0.045650800000000005,
              "max_ms": 0.1005784
            },
            "sequential": {
              "min_ms": 0.0678999,
              "max_ms": 0.0735442
            }
          },
          "filter_count": {
            "stealpool_over_rayon": 0.6829180339931081,
            "limit": 0.7,
            "met": true,
            "perfect_split_over_rayon": 1.1338853579893033,
            "stealpool": {
              "min_ms": 0.20330499999999999,
              "max_ms": 0.36742369999999996
            },
            "rayon": {
              "min_ms": 0.2843634,
              "max_ms": 0.5826294
            },
            "sequential": {
              "min_ms": 0.6800551,
              "max_ms": 0.7526849999999999
            }
          },
          "nested": {
            "stealpool_over_rayon": 0.9337073308079433,
            "limit": 0.7,
            "met": false,
            "perfect_split_over_rayon": 0.8337621336386328,
            "stealpool": {
              "min_ms": 1.178531,
              "max_ms": 1.334742
            },
            "rayon": {
              "min_ms": 1.226411,
              "max_ms": 3.417626
            },
            "sequential": {
              "min_ms": 2.106399,
              "max_ms": 2.438893
            }
          }
        },
        "iter_mut_floor": {
          "median_ms": 0.0387135,
          "min_ms": 0.037093100000000004,
          "max_ms": 0.0653781,
          "over_rayon_median": 0.4022307188795495
        }
      }
    }
"#;

    fn fork_join() -> Results {
        Results::parse("fork_join", PathBuf::from("dir/fork_join.json"), FORK_JOIN).unwrap()
    }

    #[test]
    fn finds_figures_by_key() {
        let fj = fork_join();
        let speedup = fj.number("tables.coarse.rows.stealpool.fib36_cutoff20_speedup");
        assert_eq!(speedup, Ok(1.98));
        let header = fj.text("tables.coarse.columns.fib36_cutoff20_speedup");
        assert_eq!(header, Ok("fib(36), cutoff n <= 20: speedup"));
    }

    #[test]
    fn names_the_bench_and_the_missing_key() {
        let err = fork_join()
            .number("tables.coarse.rows.rayon.fib36_cutoff20_speedup")
            .unwrap_err();
        assert_eq!(
            err,
            "fork_join: no figure `tables.coarse.rows.rayon.fib36_cutoff20_speedup` in \
             dir/fork_join.json (format changed?)"
        );
        let err = fork_join().number("tables.fine").unwrap_err();
        assert!(err.contains("no figure `tables.fine`"), "{err}");
    }

    #[test]
    fn a_figure_that_is_not_a_number_is_an_error() {
        let fj = fork_join();
        let err = fj
            .number("tables.coarse.rows.raw_threads.fib36_cutoff20_speedup")
            .unwrap_err();
        assert!(
            err.starts_with("fork_join: figure `tables.coarse.rows.raw_threads.")
                && err.ends_with("is null (not measured)"),
            "{err}"
        );
        let err = fj
            .number("tables.coarse.rows.stealpool.variant")
            .unwrap_err();
        assert!(err.ends_with("is not a number: \"stealpool\""), "{err}");
    }

    #[test]
    fn a_file_of_another_bench_or_not_json_is_an_error() {
        let err = Results::parse("spawn", PathBuf::from("spawn.json"), FORK_JOIN)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(err, "spawn: spawn.json holds the figures of `fork_join`");
        let err = Results::parse("spawn", PathBuf::from("spawn.json"), "{\"bench\": ")
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.starts_with("spawn: spawn.json is not valid JSON"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_names_the_bench_and_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = Results::load(dir.path(), "priority")
            .map(|_| ())
            .unwrap_err();
        let path = dir.path().join("priority.json");
        assert!(
            err.starts_with(&format!(
                "priority: cannot read its figures from {}",
                path.display()
            )),
            "{err}"
        );
    }

    /// A spawn file on disk, as the harness writes it, that lacks one figure the report needs.
    #[test]
    fn a_file_that_lacks_a_key_fails_the_report_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = Json::object();
        for (row, value) in [("spawn_ns_per_task", 130.0), ("wake_p99_us", 50.0)] {
            let mut cells = Json::object();
            for peer in [
                "stealpool",
                "stealpool_timing",
                "rayon_spawn",
                "rayon_scope",
            ] {
                cells.set(peer, value);
            }
            for peer in ["threadpool", "tokio_spawn_blocking"] {
                cells.set(peer, value * 2.0);
            }
            rows.set(row, cells);
        }
        let file = Json::object().with("bench", "spawn").with(
            "tables",
            Json::object().with("summary", Json::object().with("rows", rows)),
        );
        std::fs::write(dir.path().join("spawn.json"), file.render()).unwrap();

        let spawn = Results::load(dir.path(), "spawn").unwrap();
        assert_eq!(
            spawn.number("tables.summary.rows.spawn_ns_per_task.tokio_spawn_blocking"),
            Ok(260.0)
        );
        // The report also needs the wake-up p50 row, which this file lacks.
        let mut figures = Figures {
            metrics: Vec::new(),
            charts: Vec::new(),
        };
        let err = figures.add_spawn(&spawn).unwrap_err();
        let path = dir.path().join("spawn.json");
        assert_eq!(
            err,
            format!(
                "spawn: no figure `tables.summary.rows.wake_p50_us.stealpool` in {} \
                 (format changed?)",
                path.display()
            )
        );
    }

    /// The waits bench's summary row: its figures and its wording come from the file.
    #[test]
    fn the_waits_row_reads_its_figures_and_settings() {
        let mut rows = Json::object();
        for (row, ms) in [
            ("stealpool_block_in_place", 66.5),
            ("rayon_plain", 364.0),
            ("tokio_block_in_place", 70.25),
        ] {
            rows.set(row, Json::object().with("cpu_done_ms", ms));
        }
        let config = Json::object()
            .with("cpu_tasks", 64usize)
            .with("cpu_task_ms", 2.0)
            .with("blockers", 2usize)
            .with("block_ms", 300.0);
        let file = Json::object()
            .with("bench", "waits")
            .with("config", config)
            .with(
                "tables",
                Json::object().with("block_in_place", Json::object().with("rows", rows)),
            );
        let waits = Results::parse("waits", PathBuf::from("waits.json"), &file.render()).unwrap();
        let mut figures = Figures {
            metrics: Vec::new(),
            charts: Vec::new(),
        };
        figures.add_waits(&waits).unwrap();
        let [metric] = &figures.metrics[..] else {
            panic!("one summary row");
        };
        assert!(
            metric
                .name
                .starts_with("64 CPU tasks of 2 ms beside 2 tasks blocking 300 ms"),
            "{}",
            metric.name
        );
        assert_eq!(metric.ours, 66.5);
        let peer = |name| metric.peers[PEERS.iter().position(|p| *p == name).unwrap()];
        assert_eq!(peer("rayon"), Some(364.0));
        assert_eq!(peer("tokio"), Some(70.25));
        assert_eq!(peer("chili"), None);
    }

    /// The iter bench's rows: stealpool's and rayon's medians of the right workloads, sizes
    /// from `config`, and the ratio stealpool / rayon of the medians in the rendered table.
    #[test]
    fn the_iter_rows_read_the_medians_of_their_workloads() {
        let iter = Results::parse("iter", PathBuf::from("iter.json"), ITER).unwrap();
        let mut figures = Figures {
            metrics: Vec::new(),
            charts: Vec::new(),
        };
        figures.add_iter(&iter).unwrap();
        assert!(figures.charts.is_empty(), "no plot for the iter rows");
        let rayon = PEERS.iter().position(|p| *p == "rayon").unwrap();
        let expected = [
            (
                "`par_iter_mut`, add 1 to each of 1M `u32` in place, per run: ms \
                 (lower is better)",
                0.0435857,
                0.096247,
            ),
            (
                "`par_iter`, `map` and `collect` 5M `u64` into a new `Vec`: ms \
                 (lower is better)",
                10.074784,
                10.370223,
            ),
            (
                "`into_par_iter`, sum of `x * x % 7` over 20M `u64`: ms (lower is better)",
                11.862950000000001,
                12.161173000000002,
            ),
        ];
        assert_eq!(figures.metrics.len(), expected.len());
        // serde_json (without its `float_roundtrip` feature) may read a float one ulp off.
        let close = |a: f64, b: f64| (a - b).abs() <= b.abs() * 1e-12;
        for (m, (name, ours, theirs)) in figures.metrics.iter().zip(expected) {
            assert_eq!(m.name, name);
            assert!(close(m.ours, ours), "{name}: stealpool {}", m.ours);
            let peer = m.peers[rayon].unwrap_or_else(|| panic!("{name}: no rayon figure"));
            assert!(close(peer, theirs), "{name}: rayon {peer}");
            let mut peers = m.peers.iter().enumerate();
            assert!(
                peers.all(|(i, v)| i == rayon || v.is_none()),
                "{name}: rayon only"
            );
        }
        let table = summary_table(&figures.metrics);
        assert!(
            table.contains(
                "| `par_iter_mut`, add 1 to each of 1M `u32` in place, per run: ms \
                 (lower is better) | 0.044 | 0.096 (0.45x) | | | | | |\n"
            ),
            "{table}"
        );
        assert!(
            table.contains("over 20M `u64`: ms (lower is better) | 11.9 | 12.2 (0.98x) |"),
            "{table}"
        );
    }

    /// The harness's JSON writer against a real parser: escaping, non-finite numbers, nesting.
    #[test]
    fn the_harness_json_reads_back() {
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} nul \u{0} µs ✓";
        let json = Json::object()
            .with("text", tricky)
            .with(tricky, "as a key")
            .with("count", 42usize)
            .with("big", u64::MAX)
            .with("ratio", 0.1 + 0.2)
            .with("tiny", 1e-7)
            .with("negative", -3.5)
            .with("nan", f64::NAN)
            .with("inf", f64::INFINITY)
            .with("none", None::<f64>)
            .with("flag", true)
            .with("list", vec![1.5, f64::NEG_INFINITY])
            .with("empty", Json::object())
            .with("nested", vec![Json::object().with("a", vec![Json::Null])]);
        let text = json.render();
        let back: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        assert_eq!(back["text"], tricky);
        assert_eq!(back[tricky], "as a key");
        assert_eq!(back["count"], 42);
        assert_eq!(back["big"].as_f64(), Some(u64::MAX as f64));
        assert_eq!(back["ratio"].as_f64(), Some(0.1 + 0.2));
        assert_eq!(back["tiny"].as_f64(), Some(1e-7));
        assert_eq!(back["negative"].as_f64(), Some(-3.5));
        assert!(back["nan"].is_null() && back["inf"].is_null() && back["none"].is_null());
        assert_eq!(back["flag"], true);
        assert_eq!(back["list"], serde_json::json!([1.5, null]));
        assert_eq!(back["empty"], serde_json::json!({}));
        assert_eq!(back["nested"], serde_json::json!([{"a": [null]}]));
        // Setting a key again replaces its value in place.
        let json = Json::object()
            .with("a", 1usize)
            .with("b", 2usize)
            .with("a", 3usize);
        assert_eq!(json.render(), "{\n  \"a\": 3,\n  \"b\": 2\n}\n");
    }

    #[test]
    fn markdown_starts_at_the_first_heading_one_level_down() {
        let bench = Bench {
            name: "fork_join",
            stdout: "noise | not a table\n\n## Title\n\n| a | b |\n|---|---:|\n".to_owned(),
        };
        assert!(bench.markdown().unwrap().starts_with("### Title\n"));
    }
}
