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
//! - `scripts/pgzip-vs-pigz`: the pgzip example's throughput against pigz (skipped, with a
//!   note in the report, when pigz is not installed and cannot be installed).
//!
//! Their output streams to the terminal as they run. The figures are read from the Markdown
//! tables the benches print, by row and column headers; if a bench's format changed, the
//! report fails with a message naming the bench and the missing row or column.
//!
//! The report goes to `DIR` (default `docs/bench`, relative to the repository's root):
//!
//! - `report.md`: a summary table (one row per metric, stealpool beside each peer, with the
//!   ratio stealpool / peer), the date, the commit, the machine, then each bench's own tables;
//! - `fib_speedup.svg`, `spawn_cost.svg`, `urgent_latency.svg`, `gzip_throughput.svg`.
//!
//! `--quick` runs every bench in its shrunken mode (`-- --test`, and a small single-run
//! gzip comparison): it checks the whole pipeline in well under a minute once the benches
//! are built, with figures that mean nothing.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use clap::Parser;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

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

    let spawn = Bench::run(root, "spawn", &bench_command("spawn", args.quick))?;
    let fork_join = Bench::run(root, "fork_join", &bench_command("fork_join", args.quick))?;
    let priority = Bench::run(root, "priority", &bench_command("priority", args.quick))?;
    let gzip = run_gzip(root, args.quick)?;

    let figures = Figures::extract(&spawn, &fork_join, &priority, gzip.as_ref().ok())?;
    figures.plot(&out)?;
    let report = write_report(args, &figures, &[&spawn, &fork_join, &priority], &gzip);
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
    /// build output) goes straight to the terminal.
    fn run(root: &Path, name: &'static str, cmd: &[String]) -> Result<Self> {
        eprintln!("\nbench_report: running {}", cmd.join(" "));
        let mut child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .current_dir(root)
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

    fn tables(&self) -> Vec<Table> {
        Table::parse_all(&self.stdout)
    }
}

/// Runs `scripts/pgzip-vs-pigz`. `Err` holds the note for the report when pigz is missing.
fn run_gzip(root: &Path, quick: bool) -> Result<Result<Bench>> {
    let mut cmd = vec!["scripts/pgzip-vs-pigz".to_owned()];
    if quick {
        cmd.extend(["-n", "1", "-s", "8"].map(String::from));
    }
    match Bench::run(root, "pgzip-vs-pigz", &cmd) {
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
// Markdown tables.
// ---------------------------------------------------------------------------

/// A Markdown table as printed: header cells and body rows, cells trimmed.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Every table in `text`: runs of lines starting with `|` whose second line is a rule.
    fn parse_all(text: &str) -> Vec<Self> {
        let cells = |line: &str| -> Vec<String> {
            let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
            inner.split('|').map(|c| c.trim().to_owned()).collect()
        };
        let is_rule = |line: &str| {
            line.contains("---") && line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
        };
        let lines: Vec<&str> = text.lines().collect();
        let mut tables = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            if lines[i].trim_start().starts_with('|')
                && lines.get(i + 1).is_some_and(|l| is_rule(l.trim()))
            {
                let header = cells(lines[i]);
                let mut rows = Vec::new();
                i += 2;
                while i < lines.len() && lines[i].trim_start().starts_with('|') {
                    rows.push(cells(lines[i]));
                    i += 1;
                }
                tables.push(Self { header, rows });
            } else {
                i += 1;
            }
        }
        tables
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }
}

/// Looks figures up in one bench's tables, with errors that name the bench.
struct Lookup<'a> {
    bench: &'a str,
    tables: Vec<Table>,
}

impl<'a> Lookup<'a> {
    fn new(bench: &'a Bench) -> Self {
        Self {
            bench: bench.name,
            tables: bench.tables(),
        }
    }

    /// The table whose first header cell is `first`.
    fn table(&self, first: &str) -> Result<&Table> {
        self.tables
            .iter()
            .find(|t| t.header.first().is_some_and(|h| h == first))
            .ok_or_else(|| {
                format!(
                    "{}: no table with first column `{first}` in its output (format changed?)",
                    self.bench
                )
            })
    }

    /// The number in `column` of the first row of table `first` that `row` accepts;
    /// `what` names the row in errors.
    fn number(
        &self,
        first: &str,
        what: &str,
        row: impl Fn(&[String]) -> bool,
        column: &str,
    ) -> Result<f64> {
        let table = self.table(first)?;
        let col = table.column(column).ok_or_else(|| {
            format!(
                "{}: table `{first}` has no column `{column}` (format changed?)",
                self.bench
            )
        })?;
        let cells = table.rows.iter().find(|r| row(r)).ok_or_else(|| {
            format!(
                "{}: table `{first}` has no row `{what}` (format changed?)",
                self.bench
            )
        })?;
        let cell = cells.get(col).map_or("", String::as_str);
        parse_number(cell).ok_or_else(|| {
            format!(
                "{}: table `{first}`, row `{what}`, column `{column}`: `{cell}` is not a number",
                self.bench
            )
        })
    }
}

/// `1.98x`, `104.9`, `0.0126` → a number.
fn parse_number(cell: &str) -> Option<f64> {
    cell.trim().trim_end_matches('x').trim().parse().ok()
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
        spawn: &Bench,
        fork_join: &Bench,
        priority: &Bench,
        gzip: Option<&Bench>,
    ) -> Result<Self> {
        let mut metrics = Vec::new();
        let mut charts = Vec::new();

        // fork_join: coarse-grained speedups and fine-grained fib(30).
        let fj = Lookup::new(fork_join);
        let coarse = fj.table("variant")?;
        let speedup_col = |prefix: &str| -> Result<String> {
            coarse
                .header
                .iter()
                .find(|h| h.starts_with(prefix) && h.ends_with(": speedup"))
                .cloned()
                .ok_or_else(|| {
                    format!("fork_join: table `variant` has no column `{prefix}…: speedup`")
                })
        };
        let variants = ["stealpool", "rayon", "chili", "raw threads"];
        let mut speedups = Vec::new();
        for (workload, label) in [("fib(36)", "fib(36)"), ("quicksort", "quicksort 1M u32")] {
            let col = speedup_col(workload)?;
            let values = variants
                .iter()
                .map(|v| fj.number("variant", v, |r| r[0] == *v, &col))
                .collect::<Result<Vec<_>>>()?;
            metrics.push(Metric::new(
                &format!("{col} over sequential (higher is better)"),
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
                .map(|(i, v)| {
                    let values = speedups.iter().map(|(_, vals)| Some(vals[i])).collect();
                    (v.to_string(), values)
                })
                .collect(),
            log: false,
        });
        let fib30 = |col: &str| fj.number("workload", "fib(30)", |r| r[0] == "fib(30)", col);
        metrics.push(Metric::new(
            "`fib(30)`, a join at every node: ms (lower is better)",
            fib30("stealpool (ms)")?,
            &[
                ("rayon", fib30("rayon (ms)")?),
                ("chili", fib30("chili (ms)")?),
            ],
        ));

        // spawn: cost per task and idle wake-up latency.
        let sp = Lookup::new(spawn);
        let first = "metric (lower is better)";
        let spawn_row = |r: &[String]| r[0].starts_with("spawn ") && r[0].contains("ns/task");
        let wake_row = |r: &[String]| r[0].starts_with("wake-up latency p50");
        let pools = [
            ("stealpool", "stealpool"),
            ("stealpool, record_timing", "stealpool, record_timing"),
            ("rayon", "rayon (ThreadPool::spawn)"),
            ("rayon scope", "rayon (scope)"),
            ("threadpool", "threadpool"),
            ("tokio", "tokio (spawn_blocking)"),
        ];
        let cost = pools
            .iter()
            .map(|(_, col)| sp.number(first, "spawn … ns/task", spawn_row, col))
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
        let wake = |col| sp.number(first, "wake-up latency p50", wake_row, col);
        metrics.push(Metric::new(
            "wake-up latency of an idle pool, p50: µs (lower is better)",
            wake("stealpool")?,
            &[
                ("rayon", wake("rayon (ThreadPool::spawn)")?),
                ("threadpool", wake("threadpool")?),
                ("tokio", wake("tokio (spawn_blocking)")?),
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

        // priority: urgent task's wait behind a saturated pool.
        let pr = Lookup::new(priority);
        let lanes = [
            ("stealpool High", "stealpool", "`spawn_with(High)`"),
            ("stealpool Normal", "stealpool", "`spawn` (Normal)"),
            ("stealpool, no lanes", "stealpool, no lanes", ""),
            ("rayon", "rayon", ""),
            ("threadpool", "threadpool", ""),
            ("tokio", "tokio", ""),
        ];
        let mut waits = Vec::new();
        for (label, pool, urgent) in lanes {
            let row =
                |r: &[String]| r[0] == pool && r.get(1).is_some_and(|how| how.ends_with(urgent));
            let wait = |col| pr.number("pool", label, row, col);
            waits.push((label, wait("p50 (ms)")?, wait("p99 (ms)")?));
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

        // gzip: the script prints a plain-text table, `tool median s MB/s size ...`.
        if let Some(gzip) = gzip {
            let mbs = |tool: &str| -> Result<f64> {
                let header = gzip
                    .stdout
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some("tool"))
                    .ok_or("pgzip-vs-pigz: no `tool … MB/s` header line in its output")?;
                let col = header
                    .split_whitespace()
                    .filter(|w| *w != "median") // `median s` is one column
                    .position(|w| w == "MB/s")
                    .ok_or("pgzip-vs-pigz: no `MB/s` column in its output")?;
                let line = gzip
                    .stdout
                    .lines()
                    .find(|l| l.split_whitespace().next() == Some(tool))
                    .ok_or_else(|| format!("pgzip-vs-pigz: no row `{tool}` in its output"))?;
                line.split_whitespace()
                    .nth(col)
                    .and_then(parse_number)
                    .ok_or_else(|| format!("pgzip-vs-pigz: row `{tool}` has no MB/s figure"))
            };
            let (pgzip, pigz) = (mbs("pgzip")?, mbs("pigz")?);
            metrics.push(Metric::new(
                "gzip throughput, stealpool column = pgzip: MB/s (higher is better)",
                pgzip,
                &[("pigz", pigz)],
            ));
            charts.push(Chart {
                file: "gzip_throughput.svg",
                title: "gzip throughput, level 6, 2 threads".into(),
                y_desc: "MB/s of input",
                groups: vec!["pgzip (stealpool)".into(), "pigz".into()],
                series: vec![("MB/s".into(), vec![Some(pgzip), Some(pigz)])],
                log: false,
            });
        }

        Ok(Self { metrics, charts })
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

fn write_report(
    args: &Args,
    figures: &Figures,
    benches: &[&Bench],
    gzip: &Result<Bench>,
) -> String {
    let root = workspace_root();
    let root = root.to_str().unwrap_or(".");
    let git = |a: &[&str]| {
        let mut full = vec!["-C", root];
        full.extend_from_slice(a);
        command_output("git", &full)
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_default();
    let nproc = command_output("nproc", &[]).unwrap_or_else(|| "?".into());

    let mut md = String::from("# stealpool benchmark report\n\n");
    let _ = writeln!(
        md,
        "Generated by `cargo run --release -p stealpool-apps --example bench_report{}` on {date}, commit `{commit}`{}; \
         machine: {nproc} CPUs (`nproc`), {}.\n",
        if args.quick { " -- --quick" } else { "" },
        if dirty {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(stdout: &str) -> Bench {
        Bench {
            name: "fork_join",
            stdout: stdout.to_owned(),
        }
    }

    const OUTPUT: &str = "noise | not a table\n\n## Title\n\n\
        | variant | fib(36): speedup |\n|---|---:|\n\
        | sequential | 1.00x |\n| stealpool | 1.98x |\n\ntrailing text\n";

    #[test]
    fn finds_cells_by_headers() {
        let b = bench(OUTPUT);
        let lookup = Lookup::new(&b);
        let row = |r: &[String]| r[0] == "stealpool";
        let v = lookup.number("variant", "stealpool", row, "fib(36): speedup");
        assert_eq!(v, Ok(1.98));
    }

    #[test]
    fn names_the_bench_and_the_missing_row() {
        let b = bench(OUTPUT);
        let lookup = Lookup::new(&b);
        let err = lookup
            .number("variant", "rayon", |r| r[0] == "rayon", "fib(36): speedup")
            .unwrap_err();
        assert!(
            err.starts_with("fork_join:") && err.contains("no row `rayon`"),
            "{err}"
        );
        let err = lookup.table("workload").map(|_| ()).unwrap_err();
        assert!(
            err.contains("no table with first column `workload`"),
            "{err}"
        );
    }

    #[test]
    fn markdown_starts_at_the_first_heading_one_level_down() {
        assert!(bench(OUTPUT).markdown().unwrap().starts_with("### Title\n"));
    }
}
