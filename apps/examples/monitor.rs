//! Monitor: a look inside a busy pool through `WorkerPool::metrics`.
//!
//! ```text
//! cargo run --release -p stealpool-apps --example monitor
//! cargo run --release -p stealpool-apps --example monitor -- --seconds 2 --threads 4
//! ```
//!
//! The program builds a pool that records timing (`record_timing(true)`), prints a line when
//! a worker thread starts or stops (`on_thread_start` / `on_thread_stop`, with the slot index
//! and the thread's name), reports tasks that run longer than 250 ms (`stall_threshold`,
//! `on_stall`) and replaces a worker after a panic (the default). Then, for a few seconds,
//! it keeps the pool busy with a mixed workload:
//!
//! - a steady stream of `Normal` tasks hashing for 10 µs to 5 ms (log-uniform), sized to
//!   keep about 45% of the workers busy; it holds back while 16 of its tasks per worker are
//!   unfinished, so that an overloaded machine still finishes on time (here and below,
//!   "workers" means those that can run at once: the pool's width, or the CPU count if that
//!   is smaller);
//! - every second, a burst of `Low` batch tasks (0.5 to 2 ms each, about 100 ms of work per
//!   worker), a few of which are cancelled with `JoinHandle::cancel` while still queued: the
//!   queue builds up, then drains;
//! - every 50 ms, a short `High` task that overtakes the queued work;
//! - every 100 ms, a task that sums a range with fork-join, alternately with recursive
//!   `pool.join` and with `pool.scope`, checked against the sequential result;
//! - every 300 ms, a task that panics (alternately joined, and detached so that the pool's
//!   `panic_handler` gets it); each panic retires the worker, and a fresh thread takes over;
//! - once, at a third of the run, a task that runs for 750 ms and is reported as stalled.
//!
//! Every half second it prints the `Display` table of `pool.metrics()`. At the end it waits
//! for every task, shuts the pool down gracefully and prints the final table, the wait
//! (spawn to start) and run time histograms of each lane, what the handles reported per kind
//! of task, and a check of the books: the pool's counts against what the program did
//! (submitted = completed + cancelled in every lane; the panics, cancellations, stalls and
//! thread starts and stops it caused; one replaced worker per thread a panic happened on).
//! It exits with 1 if they do not balance.
//!
//! Reading the tables: a task cancelled through its handle counts as `cancelled` once a
//! worker reaches it in the queue, and as `queued` until then; `completed` includes the tasks that
//! panicked; the halves of a `join` are not tasks (they show as `stolen` and busy time), the
//! tasks of a `scope` are.
//!
//! Options:
//! - `--seconds N`: how long to submit work (default 4; fractions allowed).
//! - `--threads N`: worker threads (default: the pool's default, one per CPU or
//!   `STEALPOOL_NUM_THREADS`).
//!
//! Timings vary from run to run and machine to machine; nothing here is a benchmark.

#[macro_use]
mod common;

use common::{Rng, install_quiet_panic_hook, panic_text, since_start};
use std::collections::HashSet;
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use stealpool::{BuildError, JoinHandle, Metrics, Priority, TaskError, WorkerPool};

/// Every panic this program causes on purpose starts with this word; the panic hook keeps
/// those quiet and lets any other panic through.
const PLANNED: &str = "simulated";

/// How often the metrics table is printed.
const TABLE_EVERY: Duration = Duration::from_millis(500);
/// How often the submitting loop wakes up.
const TICK: Duration = Duration::from_millis(1);

/// The share of the workers the steady `Normal` stream keeps busy.
const STEADY_LOAD: f64 = 0.45;
/// The steady stream holds back while this many of its tasks per worker are unfinished, as
/// a producer with backpressure would (so a slow or busy machine still finishes on time).
const STEADY_IN_FLIGHT_PER_THREAD: usize = 16;
const STEADY_MIN: Duration = Duration::from_micros(10);
const STEADY_MAX: Duration = Duration::from_millis(5);

const BATCH_FIRST: Duration = Duration::from_millis(400);
const BATCH_EVERY: Duration = Duration::from_secs(1);
/// Work in one burst of batch tasks, per worker.
const BATCH_WORK_PER_THREAD: Duration = Duration::from_millis(100);
const BATCH_MIN: Duration = Duration::from_micros(500);
const BATCH_MAX: Duration = Duration::from_millis(2);
/// One batch task in this many is cancelled right after its burst is submitted.
const CANCEL_ONE_IN: u64 = 20;

const URGENT_EVERY: Duration = Duration::from_millis(50);
const URGENT_MIN: Duration = Duration::from_micros(50);
const URGENT_MAX: Duration = Duration::from_micros(300);

const FORK_JOIN_EVERY: Duration = Duration::from_millis(100);
/// The range every fork-join task hashes, and the piece below which it stops splitting.
const FORK_JOIN_LEN: u64 = 1 << 18;
const FORK_JOIN_GRAIN: u64 = 1 << 13;
/// Scope tasks per `pool.scope`.
const SCOPE_PARTS: u64 = 8;

const PANIC_FIRST: Duration = Duration::from_millis(150);
const PANIC_EVERY: Duration = Duration::from_millis(300);
/// Work a panicking task does before it panics.
const PANIC_WORK: Duration = Duration::from_micros(100);

const STALL_THRESHOLD: Duration = Duration::from_millis(250);
/// The deliberately long task, started at a third of the run.
const LONG_TASK: Duration = Duration::from_millis(750);

const USAGE: &str = "usage: monitor [--seconds N] [--threads N]
  --seconds N   how long to submit work, in seconds (default 4)
  --threads N   worker threads (default: one per CPU, or STEALPOOL_NUM_THREADS)
  -h, --help    print this help";

struct Options {
    seconds: Duration,
    threads: Option<usize>,
}

impl Options {
    /// The options, or `None` when help was asked for.
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
        let mut options = Options {
            seconds: Duration::from_secs(4),
            threads: None,
        };
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or(format!("{arg} needs a value"));
            match arg.as_str() {
                "--seconds" => {
                    let text = value()?;
                    options.seconds = text
                        .parse::<f64>()
                        .ok()
                        .filter(|s| *s > 0.0)
                        .and_then(|s| Duration::try_from_secs_f64(s).ok())
                        .ok_or(format!(
                            "--seconds: expected a positive number, got {text:?}"
                        ))?;
                }
                "--threads" => {
                    let text = value()?;
                    let threads = text
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(format!(
                            "--threads: expected a positive whole number, got {text:?}"
                        ))?;
                    options.threads = Some(threads);
                }
                "-h" | "--help" => return Ok(None),
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(Some(options))
    }
}

fn main() -> ExitCode {
    since_start();
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("monitor: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    install_quiet_panic_hook(PLANNED);

    say!("building the pool: timing on, stall threshold {STALL_THRESHOLD:?}");
    let events = Arc::new(Events::default());
    let pool = match build_pool(options.threads, &events) {
        Ok(pool) => pool,
        Err(err) => {
            eprintln!("monitor: could not build the pool: {err}");
            // A bad setting (from --threads or STEALPOOL_NUM_THREADS) is a usage error.
            let usage = err.setting() != "thread spawn";
            return ExitCode::from(if usage { 2 } else { 1 });
        }
    };
    say!(
        "{} workers; submitting work for {:.1}s, a metrics table every {TABLE_EVERY:?}",
        pool.num_threads(),
        options.seconds.as_secs_f64()
    );

    let mut driver = Driver::new(pool.clone(), events.clone());
    driver.run(options.seconds);
    let outstanding = driver.outstanding.len() as u64;
    say!(
        "stopped submitting; waiting for {}",
        plural(outstanding, "outstanding task", "outstanding tasks")
    );
    driver.reap(true);
    say!("all handles resolved; shutting the pool down");
    pool.shutdown();
    say!("shutdown returned");

    let metrics = pool.metrics();
    println!();
    say!("final metrics");
    println!("{metrics}");
    println!();
    print_histograms(&metrics);
    println!();
    print_kinds(&driver.tally);
    println!();
    if check_books(&metrics, &driver, &events) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// ---------------------------------------------------------------------------------------------
// The pool and what its callbacks see

/// What the pool's callbacks (thread hooks, stall and panic handlers) and the tasks report.
#[derive(Default)]
struct Events {
    threads_started: AtomicU64,
    threads_stopped: AtomicU64,
    stalls: AtomicU64,
    detached_panics: AtomicU64,
    /// Tasks spawned through `Scope::spawn` (they count as tasks too).
    scope_spawns: AtomicU64,
    /// The threads on which a planned panic happened.
    panicked_on: Mutex<HashSet<ThreadId>>,
}

fn build_pool(threads: Option<usize>, events: &Arc<Events>) -> Result<WorkerPool, BuildError> {
    let mut builder = WorkerPool::builder();
    if let Some(threads) = threads {
        builder = builder.num_threads(threads);
    }
    let (on_start, on_stop, on_stall, on_panic) = (
        events.clone(),
        events.clone(),
        events.clone(),
        events.clone(),
    );
    builder
        .thread_name(|index| format!("monitor-{index}"))
        .record_timing(true)
        .on_thread_start(move |index| {
            on_start.threads_started.fetch_add(1, Ordering::Relaxed);
            say!("thread start: slot {index} on {}", this_thread());
        })
        .on_thread_stop(move |index| {
            on_stop.threads_stopped.fetch_add(1, Ordering::Relaxed);
            say!("thread stop:  slot {index} on {}", this_thread());
        })
        .stall_threshold(STALL_THRESHOLD)
        .on_stall(move |index, running_for| {
            on_stall.stalls.fetch_add(1, Ordering::Relaxed);
            say!("on_stall: worker {index} has been running one task for {running_for:.0?}");
        })
        .panic_handler(move |payload| {
            on_panic.detached_panics.fetch_add(1, Ordering::Relaxed);
            say!(
                "panic_handler: a detached task panicked: {}",
                panic_text(payload.as_ref())
            );
        })
        .build()
}

/// "monitor-1 (ThreadId(5))" for the calling thread.
fn this_thread() -> String {
    let thread = thread::current();
    format!("{} ({:?})", thread.name().unwrap_or("unnamed"), thread.id())
}

// ---------------------------------------------------------------------------------------------
// The work

/// A 64-bit mix (splitmix64's finaliser): the unit of CPU work.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hashes for about `how_long` and returns the hash.
fn crunch(how_long: Duration) -> u64 {
    let start = Instant::now();
    let mut hash = 0;
    while start.elapsed() < how_long {
        for _ in 0..64 {
            hash = mix(black_box(hash));
        }
    }
    hash
}

/// The sum of `mix(i)` over `range`, sequentially.
fn hash_range(range: std::ops::Range<u64>) -> u64 {
    range.map(mix).fold(0, u64::wrapping_add)
}

/// [`hash_range`] by recursive halving with `pool.join`.
fn fork_join_sum(pool: &WorkerPool, range: std::ops::Range<u64>) -> u64 {
    if range.end - range.start <= FORK_JOIN_GRAIN {
        return hash_range(range);
    }
    let middle = range.start + (range.end - range.start) / 2;
    let (left, right) = pool.join(
        || fork_join_sum(pool, range.start..middle),
        || fork_join_sum(pool, middle..range.end),
    );
    left.wrapping_add(right)
}

/// [`hash_range`] over `0..FORK_JOIN_LEN` in `SCOPE_PARTS` scope tasks.
fn scoped_sum(pool: &WorkerPool, spawns: &AtomicU64) -> u64 {
    let part_len = FORK_JOIN_LEN / SCOPE_PARTS;
    let mut parts = [0u64; SCOPE_PARTS as usize];
    pool.scope(|scope| {
        for (start, part) in (0..FORK_JOIN_LEN)
            .step_by(part_len as usize)
            .zip(&mut parts)
        {
            spawns.fetch_add(1, Ordering::Relaxed);
            scope.spawn(move |_| *part = hash_range(start..start + part_len));
        }
    });
    parts.into_iter().fold(0, u64::wrapping_add)
}

// ---------------------------------------------------------------------------------------------
// Submitting and collecting

/// The kinds of task this program submits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Steady,
    Batch,
    Urgent,
    ForkJoin,
    Scoped,
    Panicking,
    Detached,
    Long,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::Steady,
        Kind::Batch,
        Kind::Urgent,
        Kind::ForkJoin,
        Kind::Scoped,
        Kind::Panicking,
        Kind::Detached,
        Kind::Long,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Steady => "steady",
            Kind::Batch => "batch",
            Kind::Urgent => "urgent",
            Kind::ForkJoin => "fork-join (join)",
            Kind::Scoped => "fork-join (scope)",
            Kind::Panicking => "panicking, joined",
            Kind::Detached => "panicking, detached",
            Kind::Long => "long (stalls)",
        }
    }

    fn priority(self) -> Priority {
        match self {
            Kind::Batch => Priority::Low,
            Kind::Urgent => Priority::High,
            _ => Priority::Normal,
        }
    }
}

/// What became of the tasks of one kind, as their handles told.
#[derive(Default, Clone, Copy)]
struct Outcomes {
    submitted: u64,
    ok: u64,
    /// Fork-join results that differ from the sequential sum.
    wrong: u64,
    panicked: u64,
    cancelled: u64,
}

impl Outcomes {
    /// Submitted, and not collected yet.
    fn unfinished(&self) -> usize {
        (self.submitted - self.ok - self.wrong - self.panicked - self.cancelled) as usize
    }
}

/// Outcomes per kind, plus the cancellations asked for.
#[derive(Default)]
struct Tally {
    kinds: [Outcomes; Kind::ALL.len()],
    cancel_attempts: u64,
    cancel_succeeded: u64,
}

impl Tally {
    fn of(&mut self, kind: Kind) -> &mut Outcomes {
        &mut self.kinds[kind as usize]
    }

    fn get(&self, kind: Kind) -> Outcomes {
        self.kinds[kind as usize]
    }

    fn record(&mut self, kind: Kind, result: Result<u64, TaskError>, expected_sum: u64) {
        let outcomes = self.of(kind);
        match result {
            Ok(sum) if matches!(kind, Kind::ForkJoin | Kind::Scoped) && sum != expected_sum => {
                outcomes.wrong += 1;
            }
            Ok(_) => outcomes.ok += 1,
            Err(err) if err.is_panic() => outcomes.panicked += 1,
            Err(_) => outcomes.cancelled += 1,
        }
    }

    /// Tasks submitted per lane, `High` first (as `Metrics::lanes`), scope tasks included.
    fn submitted_per_lane(&self, scope_spawns: u64) -> [u64; 3] {
        let mut lanes = [0; 3];
        for kind in Kind::ALL {
            lanes[lane_index(kind.priority())] += self.get(kind).submitted;
        }
        lanes[lane_index(Priority::Normal)] += scope_spawns;
        lanes
    }
}

/// The position of a lane in `Metrics::lanes` (the order of `Priority::ALL`).
fn lane_index(priority: Priority) -> usize {
    Priority::ALL
        .iter()
        .position(|p| *p == priority)
        .expect("Priority::ALL names every priority")
}

fn lane_name(priority: Priority) -> String {
    format!("{priority:?}").to_lowercase()
}

/// A recurring event of the workload.
struct Every {
    next: Duration,
    period: Duration,
}

impl Every {
    fn new(first: Duration, period: Duration) -> Self {
        Every {
            next: first,
            period,
        }
    }

    /// True once each period, from `first` on.
    fn due(&mut self, now: Duration) -> bool {
        let due = now >= self.next;
        if due {
            self.next += self.period;
        }
        due
    }
}

/// Submits the workload and collects the handles.
struct Driver {
    pool: WorkerPool,
    /// The workers that can run at once: the pool's width, or the CPU count if smaller. The
    /// workload is sized to it.
    capacity: usize,
    events: Arc<Events>,
    rng: Rng,
    /// The handles of the tasks not collected yet.
    outstanding: Vec<(Kind, JoinHandle<u64>)>,
    tally: Tally,
    expected_sum: u64,
    /// Microseconds of steady work owed to the pool.
    steady_budget: f64,
    /// Panicking tasks submitted so far (they alternate between joined and detached).
    panics: u64,
}

impl Driver {
    fn new(pool: WorkerPool, events: Arc<Events>) -> Self {
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        Driver {
            capacity: pool.num_threads().min(cpus),
            pool,
            events,
            rng: Rng(0x2545_F491_4F6C_DD1D),
            outstanding: Vec::new(),
            tally: Tally::default(),
            expected_sum: hash_range(0..FORK_JOIN_LEN),
            steady_budget: 0.0,
            panics: 0,
        }
    }

    /// Submits the workload for `seconds`, printing the metrics table every `TABLE_EVERY`.
    fn run(&mut self, seconds: Duration) {
        let mut table = Every::new(TABLE_EVERY, TABLE_EVERY);
        let mut batch = Every::new(BATCH_FIRST, BATCH_EVERY);
        let mut urgent = Every::new(URGENT_EVERY / 2, URGENT_EVERY);
        let mut fork_join = Every::new(FORK_JOIN_EVERY / 2, FORK_JOIN_EVERY);
        let mut panic = Every::new(PANIC_FIRST, PANIC_EVERY);
        let mut long = Some(seconds / 3);
        let started = Instant::now();
        let mut last = Duration::ZERO;
        loop {
            let now = started.elapsed();
            if now >= seconds {
                break;
            }
            let in_flight = self.tally.get(Kind::Steady).unfinished();
            if in_flight < self.capacity * STEADY_IN_FLIGHT_PER_THREAD {
                self.steady_budget +=
                    (now - last).as_secs_f64() * 1e6 * self.capacity as f64 * STEADY_LOAD;
            }
            last = now;
            self.submit_steady();
            if urgent.due(now) {
                let work = self.rng.uniform(URGENT_MIN, URGENT_MAX);
                self.submit(Kind::Urgent, move || crunch(work));
            }
            if batch.due(now) {
                self.submit_batch();
            }
            if fork_join.due(now) {
                self.submit_fork_join();
            }
            if panic.due(now) {
                self.submit_panicking();
            }
            if long.is_some_and(|at| now >= at) {
                long = None;
                say!(
                    "submitting the long task ({LONG_TASK:?}; the stall threshold is {STALL_THRESHOLD:?})"
                );
                self.submit(Kind::Long, || crunch(LONG_TASK));
            }
            self.reap(false);
            if table.due(now) {
                say!("---- pool.metrics() ----");
                println!("{}", self.pool.metrics());
            }
            thread::sleep(TICK);
        }
    }

    /// Spawns `task` at its kind's priority and keeps the handle.
    fn submit(&mut self, kind: Kind, task: impl FnOnce() -> u64 + Send + 'static) {
        let handle = self.pool.spawn_with(kind.priority(), task);
        self.tally.of(kind).submitted += 1;
        self.outstanding.push((kind, handle));
    }

    /// Steady tasks for the work owed since the last tick.
    fn submit_steady(&mut self) {
        while self.steady_budget > 0.0 {
            let work = self.rng.log_uniform(STEADY_MIN, STEADY_MAX);
            self.steady_budget -= work.as_secs_f64() * 1e6;
            self.submit(Kind::Steady, move || crunch(work));
        }
    }

    /// A burst of batch tasks, then cancels one in `CANCEL_ONE_IN` of them at random.
    fn submit_batch(&mut self) {
        let mut budget = BATCH_WORK_PER_THREAD * self.capacity as u32;
        let mut count = 0;
        while !budget.is_zero() {
            let work = self.rng.uniform(BATCH_MIN, BATCH_MAX).min(budget);
            budget -= work;
            count += 1;
            self.submit(Kind::Batch, move || crunch(work));
        }
        let burst = self.outstanding.len() - count..self.outstanding.len();
        let (mut attempts, mut cancelled) = (0, 0);
        for index in burst {
            if self.rng.below(CANCEL_ONE_IN) == 0 {
                attempts += 1;
                cancelled += u64::from(self.outstanding[index].1.cancel());
            }
        }
        self.tally.cancel_attempts += attempts;
        self.tally.cancel_succeeded += cancelled;
        say!(
            "batch burst: {count} low-priority tasks; cancelled {cancelled} of {attempts} \
             while queued"
        );
    }

    /// A fork-join task, alternately with `pool.join` and with `pool.scope`.
    fn submit_fork_join(&mut self) {
        let pool = self.pool.clone();
        if self.tally.get(Kind::ForkJoin).submitted <= self.tally.get(Kind::Scoped).submitted {
            self.submit(Kind::ForkJoin, move || {
                fork_join_sum(&pool, 0..FORK_JOIN_LEN)
            });
        } else {
            let events = self.events.clone();
            self.submit(Kind::Scoped, move || {
                scoped_sum(&pool, &events.scope_spawns)
            });
        }
    }

    /// A task that panics: every other one joined, the others detached (their handle is
    /// dropped before they start, so the pool's `panic_handler` gets the panic).
    fn submit_panicking(&mut self) {
        self.panics += 1;
        let number = self.panics;
        let events = self.events.clone();
        let fail = move || -> u64 {
            crunch(PANIC_WORK);
            let thread = thread::current();
            events.panicked_on.lock().unwrap().insert(thread.id());
            panic!(
                "{PLANNED} failure #{number} on {}",
                thread.name().unwrap_or("?")
            );
        };
        if number % 2 == 1 {
            self.submit(Kind::Panicking, fail);
        } else {
            let (release, released) = mpsc::channel::<()>();
            let handle = self.pool.spawn(move || {
                // Starts only once its handle is gone, so that it is surely detached.
                let _ = released.recv();
                fail()
            });
            drop(handle);
            let _ = release.send(());
            self.tally.of(Kind::Detached).submitted += 1;
        }
    }

    /// Joins the handles of finished tasks, or of all tasks when `all`.
    fn reap(&mut self, all: bool) {
        let mut index = 0;
        while index < self.outstanding.len() {
            if all || self.outstanding[index].1.is_finished() {
                let (kind, handle) = self.outstanding.swap_remove(index);
                self.tally.record(kind, handle.join(), self.expected_sum);
            } else {
                index += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The report

/// The wait and run histograms of every lane, and of all lanes together.
fn print_histograms(metrics: &Metrics) {
    say!("timing per lane: wait = spawn to start, run = start to end");
    let lanes = metrics.lanes().iter().map(|lane| {
        (
            lane_name(lane.priority()),
            lane.wait_time().cloned(),
            lane.run_time().cloned(),
        )
    });
    let all = std::iter::once(("all".to_owned(), metrics.wait_time(), metrics.run_time()));
    for (name, wait, run) in lanes.chain(all) {
        for (what, histogram) in [("wait", wait), ("run", run)] {
            // `Histogram`'s `Display`: count, min, p50, p90, p99, max, mean.
            let row = histogram.map_or_else(|| "timing off".to_owned(), |h| h.to_string());
            println!("  {name:<7}{what:<5}{row}");
        }
    }
}

/// What the program saw through the handles, per kind of task.
fn print_kinds(tally: &Tally) {
    say!("what this program submitted, and what the handles said");
    println!(
        "{:<21}{:<8}{:>10}{:>8}{:>10}{:>11}",
        "kind", "lane", "submitted", "ok", "panicked", "cancelled"
    );
    for kind in Kind::ALL {
        let outcomes = tally.get(kind);
        let panicked = if kind == Kind::Detached {
            "(handler)".to_owned()
        } else {
            outcomes.panicked.to_string()
        };
        let wrong = if outcomes.wrong > 0 {
            format!("  {} WRONG RESULTS", outcomes.wrong)
        } else {
            String::new()
        };
        println!(
            "{:<21}{:<8}{:>10}{:>8}{:>10}{:>11}{wrong}",
            kind.name(),
            lane_name(kind.priority()),
            outcomes.submitted,
            outcomes.ok,
            panicked,
            outcomes.cancelled,
        );
    }
    println!(
        "cancel() on {} queued batch tasks: {} cancelled, {} had already started",
        tally.cancel_attempts,
        tally.cancel_succeeded,
        tally.cancel_attempts - tally.cancel_succeeded
    );
}

/// "1 time", "3 times".
fn times(n: u64) -> String {
    plural(n, "time", "times")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Prints one line per check of the pool's counts against the program's; true if all hold.
fn check_books(metrics: &Metrics, driver: &Driver, events: &Events) -> bool {
    let tally = &driver.tally;
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let mut checks: Vec<(bool, String)> = Vec::new();

    let scope_spawns = load(&events.scope_spawns);
    let ours = tally.submitted_per_lane(scope_spawns);
    for lane in metrics.lanes() {
        let (submitted, completed, cancelled) =
            (lane.submitted(), lane.completed(), lane.cancelled());
        let program = ours[lane_index(lane.priority())];
        checks.push((
            submitted == completed + cancelled && submitted == program,
            format!(
                "{:<7} submitted {submitted} = completed {completed} + cancelled {cancelled}; \
                 the program submitted {program}",
                lane_name(lane.priority())
            ),
        ));
    }
    let (submitted, completed, cancelled) = (
        metrics.submitted(),
        metrics.completed(),
        metrics.cancelled(),
    );
    checks.push((
        submitted == completed + cancelled,
        format!(
            "all     submitted {submitted} = completed {completed} + cancelled {cancelled} \
             ({scope_spawns} of them scope tasks)"
        ),
    ));

    let joined = tally.get(Kind::Panicking);
    let detached = tally.get(Kind::Detached);
    let planned = joined.submitted + detached.submitted;
    let handled = load(&events.detached_panics);
    checks.push((
        metrics.panicked() == planned
            && joined.panicked == joined.submitted
            && handled == detached.submitted,
        format!(
            "panics: {} counted; the program submitted {} ({} of {} joined ones reported a \
             panic, the panic_handler got {handled} of {} detached ones)",
            metrics.panicked(),
            plural(planned, "panicking task", "panicking tasks"),
            joined.panicked,
            joined.submitted,
            detached.submitted
        ),
    ));

    // One replacement per panic, with one exception (`PoolBuilder::replace_worker_on_panic`):
    // a worker retires when its top-level task returns, so a panicking task that ran nested
    // inside another on the same thread (while that one waited in a join or a scope) shares
    // its retirement. What must match is the number of distinct threads that panicked.
    let panic_threads = events.panicked_on.lock().unwrap().len() as u64;
    let replaced = metrics.workers_replaced();
    let nested = if panic_threads < planned {
        format!(
            " ({} panics shared a thread with another, run nested in a task waiting in a \
             join or scope; a thread retires once)",
            planned - panic_threads
        )
    } else {
        String::new()
    };
    checks.push((
        replaced == panic_threads,
        format!(
            "workers replaced: {replaced}; panics {planned}, on {}{nested}",
            plural(panic_threads, "thread", "distinct threads")
        ),
    ));

    let (started, stopped) = (load(&events.threads_started), load(&events.threads_stopped));
    let width = metrics.num_threads() as u64;
    let served: u64 = metrics.workers().iter().map(|w| w.threads()).sum();
    checks.push((
        started == width + replaced && stopped == started && served == started,
        format!(
            "threads: on_thread_start ran {}, on_thread_stop {}; {width} workers + {}; the \
             slots count {served} threads",
            times(started),
            times(stopped),
            plural(replaced, "replacement", "replacements")
        ),
    ));

    checks.push((
        metrics.cancelled() == tally.cancel_succeeded,
        format!(
            "cancelled: {} counted; cancel() succeeded {}",
            metrics.cancelled(),
            times(tally.cancel_succeeded)
        ),
    ));

    let stall_reports = load(&events.stalls);
    checks.push((
        metrics.stalls() == stall_reports && stall_reports >= 1,
        format!(
            "stalls: {} counted; on_stall ran {} (the long task should make one)",
            metrics.stalls(),
            times(stall_reports)
        ),
    ));

    let wrong: u64 = Kind::ALL.iter().map(|&k| tally.get(k).wrong).sum();
    let fork_joins = tally.get(Kind::ForkJoin).submitted + tally.get(Kind::Scoped).submitted;
    checks.push((
        wrong == 0,
        format!("fork-join: {wrong} wrong sums in {fork_joins} tasks"),
    ));

    // Timing samples one task in DEFAULT_TIMING_SAMPLE per spawning thread and lane (the
    // first always), so at least that share of the completed tasks was timed.
    let timed = metrics.run_time().map_or(0, |h| h.count());
    let every = u64::from(stealpool::DEFAULT_TIMING_SAMPLE);
    checks.push((
        completed / every <= timed && timed <= completed,
        format!(
            "timing: {timed} run times recorded for {completed} completed tasks (one in {every} is timed)"
        ),
    ));

    say!("the books");
    for (ok, line) in &checks {
        println!("  {} {line}", if *ok { "ok  " } else { "FAIL" });
    }
    let failed = checks.iter().filter(|(ok, _)| !ok).count();
    if failed == 0 {
        say!("books balance");
    } else {
        say!(
            "books do NOT balance: {failed} of {} checks failed (marked FAIL)",
            checks.len()
        );
    }
    failed == 0
}
