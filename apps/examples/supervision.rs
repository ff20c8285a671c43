//! Supervision: what a stealpool pool does when tasks panic, when tasks get stuck, and when
//! the process is asked to stop.
//!
//! ```text
//! cargo run --release -p stealpool-apps --example supervision
//! cargo run --release -p stealpool-apps --example supervision -- --auto-interrupt-after 3
//! cargo run --release -p stealpool-apps --example supervision -- --auto-interrupt-after 3 --grace 0.5
//! ```
//!
//! It runs three parts, one pool each, and prints what happened with the time since start:
//!
//! 1. **Panics.** A pool of 2 workers runs 12 jobs, 4 of which panic: two whose handles are
//!    kept (`join` returns the panic as an error) and two detached ones (the pool's
//!    `panic_handler` gets them). Each panic retires the worker that ran it and a fresh OS
//!    thread takes its slot and its queue; the program shows which OS threads served slots 0
//!    and 1 before and after, and that every job that did not panic returned its value.
//! 2. **A stall.** Both workers of a 2-worker pool get stuck in tasks waiting for an outside
//!    event. The stall watcher reports them through `on_stall`, and with
//!    `compensate_stalls(2)` temporary workers (index 2 and up) run the jobs queued
//!    meanwhile. Then the stuck tasks are released and the temporary workers leave.
//! 3. **Graceful shutdown on Ctrl-C.** A stream of jobs (a few failing, now and then one that
//!    hangs on a "slow dependency") runs until SIGINT. On Ctrl-C the program stops
//!    submitting and calls `shutdown_timeout(grace)`: queued jobs still run, running ones
//!    finish. If the grace period runs out, or on a second Ctrl-C, it cancels the jobs still
//!    queued, asks the running ones to stop (`JoinHandle::cancel`, which they see through
//!    `stealpool::is_cancelled`) and calls `shutdown_now`. A third Ctrl-C exits at once. It
//!    ends with the counts: submitted, completed, panicked, cancelled.
//!
//! Options:
//! - `--grace SECS`: how long the graceful shutdown may take (default 5).
//! - `--auto-interrupt-after SECS`: for runs without a terminal, the program sends itself
//!   SIGINT (a real signal, through `kill(getpid(), SIGINT)`) this long after the job stream
//!   of part 3 starts. Unix only.
//!
//! Parts 1 and 2 take about 2 seconds; a Ctrl-C pressed during them is acted on when part 3
//! starts. Timings vary from run to run; nothing here is a benchmark.

#[macro_use]
mod common;

use common::{Rng, install_quiet_panic_hook, panic_text, since_start};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use stealpool::{JoinHandle, WorkerPool};

/// Every panic this program causes on purpose starts with this word; the panic hook keeps
/// those quiet and lets any other panic through.
const PLANNED: &str = "simulated";

fn main() -> ExitCode {
    since_start();
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("supervision: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    install_quiet_panic_hook(PLANNED);
    // Installed first, so that a Ctrl-C during parts 1 and 2 is not lost: part 3 acts on it.
    let interrupts = match install_ctrlc_handler() {
        Ok(interrupts) => interrupts,
        Err(err) => {
            eprintln!("supervision: could not install the Ctrl-C handler: {err}");
            return ExitCode::FAILURE;
        }
    };

    let mut consistent = panics_and_replacement();
    println!();
    consistent &= stall_and_compensation();
    println!();
    consistent &= shutdown_on_ctrl_c(&options, interrupts);

    if consistent {
        ExitCode::SUCCESS
    } else {
        say!("some counts above do not add up: see the lines marked UNEXPECTED");
        ExitCode::FAILURE
    }
}

const USAGE: &str = "usage: supervision [--grace SECS] [--auto-interrupt-after SECS]
  --grace SECS                 how long the graceful shutdown in part 3 may take (default 5)
  --auto-interrupt-after SECS  send this process SIGINT SECS after part 3's job stream starts";

struct Options {
    grace: Duration,
    auto_interrupt_after: Option<Duration>,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut options = Options {
            grace: Duration::from_secs(5),
            auto_interrupt_after: None,
        };
        while let Some(arg) = args.next() {
            let mut seconds = |name: &str| -> Result<Duration, String> {
                let value = args
                    .next()
                    .ok_or(format!("{name} needs a number of seconds"))?;
                value
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or(format!(
                        "{name}: expected a number of seconds, got {value:?}"
                    ))
            };
            match arg.as_str() {
                "--grace" => options.grace = seconds("--grace")?,
                "--auto-interrupt-after" => {
                    options.auto_interrupt_after = Some(seconds("--auto-interrupt-after")?);
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(options)
    }
}

/// What the Ctrl-C handler and the shutdown thread of part 3 tell the main thread.
enum Event {
    Interrupt,
    ShutdownReturned(bool),
}

/// Turns SIGINT into `Event::Interrupt`; the third one exits at once.
fn install_ctrlc_handler() -> Result<(mpsc::Sender<Event>, mpsc::Receiver<Event>), ctrlc::Error> {
    let (tx, rx) = mpsc::channel();
    let to_main = tx.clone();
    let mut count = 0;
    ctrlc::set_handler(move || {
        count += 1;
        if count >= 3 {
            eprintln!("supervision: third Ctrl-C, exiting without waiting");
            std::process::exit(130);
        }
        // The receiver only goes away when main returns.
        let _ = to_main.send(Event::Interrupt);
    })?;
    Ok((tx, rx))
}

/// "worker 1 (sv-panics-1, ThreadId(4))" for the calling thread.
fn here() -> String {
    let thread = thread::current();
    let index = stealpool::current_thread_index()
        .map_or_else(|| "not a worker".to_owned(), |i| format!("worker {i}"));
    format!(
        "{index} ({}, {:?})",
        thread.name().unwrap_or("unnamed"),
        thread.id()
    )
}

/// How many threads of this process have a name starting with `prefix` (Linux: from
/// `/proc/self/task`). `None` where that cannot be read.
fn live_threads(prefix: &str) -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let count = tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
        .filter(|name| name.trim_end().starts_with(prefix))
        .count();
    Some(count)
}

fn live_threads_text(prefix: &str) -> String {
    match live_threads(prefix) {
        Some(n) => format!("{n} threads named {prefix}* are alive"),
        None => "(live thread count not available on this system)".to_owned(),
    }
}

/// Busy work for about `how_long`: a CPU-heavy job stand-in.
fn spin(how_long: Duration) -> u64 {
    let start = Instant::now();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while start.elapsed() < how_long {
        for _ in 0..1000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
    }
    std::hint::black_box(x)
}

/// For each slot of `pool`, the OS thread serving it now (id and name): one task per worker,
/// each held at a barrier until all have started, so that every worker runs exactly one.
fn slot_threads(pool: &WorkerPool) -> BTreeMap<usize, (ThreadId, String)> {
    let n = pool.num_threads();
    let barrier = Arc::new(Barrier::new(n));
    let probes: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            pool.spawn(move || {
                barrier.wait();
                let thread = thread::current();
                let name = thread.name().unwrap_or("unnamed").to_owned();
                let index = stealpool::current_thread_index().expect("runs on a worker");
                (index, (thread.id(), name))
            })
        })
        .collect();
    probes
        .into_iter()
        .map(|probe| probe.join().expect("a probe does not panic"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Part 1

/// Part 1. Returns whether the counts add up.
fn panics_and_replacement() -> bool {
    say!("== 1. Panics: contained, reported, and the worker replaced ==");
    let (detached_tx, detached_rx) = mpsc::channel::<String>();
    let detached_tx = Mutex::new(detached_tx);
    let pool = WorkerPool::builder()
        .num_threads(2)
        .thread_name(|i| format!("sv-panics-{i}"))
        .replace_worker_on_panic(true)
        .panic_handler(move |payload| {
            let message = panic_text(&*payload).to_owned();
            say!(
                "  panic_handler, on {}: a detached job panicked: {message}",
                here()
            );
            let _ = detached_tx.lock().unwrap().send(message);
        })
        .build()
        .expect("valid settings");

    let before = slot_threads(&pool);
    for (slot, (id, name)) in &before {
        say!("  slot {slot} is served by OS thread {id:?}, named {name}");
    }

    // Jobs 3 and 8 panic with their handles kept; jobs 5 and 11 panic detached.
    const KEPT_PANICS: [u64; 2] = [3, 8];
    const DETACHED_PANICS: [u64; 2] = [5, 11];
    say!(
        "  spawning jobs 1..=12: jobs {KEPT_PANICS:?} will panic (handles kept), jobs \
         {DETACHED_PANICS:?} will panic (handles dropped)"
    );
    let mut kept = Vec::new();
    for job in 1..=12u64 {
        let handle = pool.spawn(move || {
            spin(Duration::from_millis(5));
            if KEPT_PANICS.contains(&job) || DETACHED_PANICS.contains(&job) {
                panic!("{PLANNED}: job {job} found a corrupt record");
            }
            (job * job, thread::current().id())
        });
        if DETACHED_PANICS.contains(&job) {
            drop(handle);
        } else {
            kept.push((job, handle));
        }
    }

    let mut returned = Vec::new();
    let mut threads_used = HashSet::new();
    let mut kept_panics = 0;
    let mut unexpected = 0;
    for (job, handle) in kept {
        match handle.join() {
            Ok((value, thread)) => {
                returned.push(job);
                threads_used.insert(thread);
                if value != job * job {
                    unexpected += 1;
                }
            }
            Err(err) if err.is_panic() => {
                say!("  job {job}: join() returned Err: {err}");
                kept_panics += 1;
            }
            Err(err) => {
                say!("  UNEXPECTED: job {job}: {err}");
                unexpected += 1;
            }
        }
    }
    let mut detached_panics = 0;
    while detached_panics < DETACHED_PANICS.len() {
        match detached_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(_) => detached_panics += 1,
            Err(_) => {
                say!(
                    "  UNEXPECTED: only {detached_panics} of {} detached panics reached the \
                     panic_handler within 10 s",
                    DETACHED_PANICS.len()
                );
                unexpected += 1;
                break;
            }
        }
    }
    let expected_values = 12 - KEPT_PANICS.len() - DETACHED_PANICS.len();
    say!(
        "  {} of {expected_values} jobs that did not panic returned their value (jobs {returned:?}), \
         on {} different OS threads",
        returned.len(),
        threads_used.len()
    );
    say!(
        "  panics: {kept_panics} came back through join(), {detached_panics} went to the \
         panic_handler; none reached this thread"
    );

    let after = slot_threads(&pool);
    for (slot, (id, name)) in &after {
        let was = before[slot].0;
        if *id == was {
            say!("  slot {slot} is still served by OS thread {id:?}, named {name}");
        } else {
            say!(
                "  slot {slot} is now served by OS thread {id:?}, named {name} (was {was:?}: replaced)"
            );
        }
    }
    say!("  {}", live_threads_text("sv-panics-"));
    pool.shutdown();
    say!("  pool shut down, threads joined");
    unexpected == 0 && returned.len() == expected_values && kept_panics == KEPT_PANICS.len()
}

// ---------------------------------------------------------------------------------------------
// Part 2

/// A gate that tasks wait at until it is opened.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

/// Part 2. Returns whether everything finished as it should.
fn stall_and_compensation() -> bool {
    const THRESHOLD: Duration = Duration::from_millis(300);
    const STUCK_FOR: Duration = Duration::from_millis(1500);
    const QUICK_JOBS: usize = 6;
    say!("== 2. A stall: detected after {THRESHOLD:?}, and compensated with temporary workers ==");
    let pool = WorkerPool::builder()
        .num_threads(2)
        .thread_name(|i| format!("sv-stall-{i}"))
        .stall_threshold(THRESHOLD)
        .on_stall(|worker, running_for| {
            say!(
                "  on_stall: the task on worker {worker} has been running for {:.0?}",
                running_for
            );
        })
        .compensate_stalls(2)
        .build()
        .expect("valid settings");

    let gate = Arc::new(Gate::default());
    let (started_tx, started_rx) = mpsc::channel();
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            let gate = gate.clone();
            let started_tx = started_tx.clone();
            pool.spawn(move || {
                let started = Instant::now();
                started_tx.send(here()).unwrap();
                gate.wait();
                (here(), started.elapsed())
            })
        })
        .collect();
    for _ in 0..2 {
        let who = started_rx.recv().unwrap();
        say!("  {who} is now stuck waiting for an outside event");
    }
    let stuck_since = Instant::now();

    say!("  both workers are stuck; queueing {QUICK_JOBS} quick jobs (30 ms of work each)");
    let quick: Vec<_> = (1..=QUICK_JOBS)
        .map(|job| {
            let queued = Instant::now();
            pool.spawn(move || {
                let waited = queued.elapsed();
                spin(Duration::from_millis(30));
                let index = stealpool::current_thread_index().expect("runs on a worker");
                let kind = if index >= 2 { "temporary" } else { "regular" };
                say!(
                    "  quick job {job} ran on {kind} {}, after {:.0?} in the queue",
                    here(),
                    waited
                );
                (index, live_threads("sv-stall-"))
            })
        })
        .collect();
    let mut on_temporary = 0;
    let mut most_alive = None;
    for handle in quick {
        let (index, alive) = handle.join().expect("a quick job does not panic");
        if index >= 2 {
            on_temporary += 1;
        }
        most_alive = most_alive.max(alive);
    }
    say!("  all {QUICK_JOBS} quick jobs are done, {on_temporary} of them on temporary workers");
    if let Some(most) = most_alive {
        say!("  while they ran, up to {most} threads named sv-stall-* were alive");
    }
    // With the queue empty, the temporary workers leave (the watcher starts new ones if work
    // comes while the stall lasts).
    let emptied = Instant::now();
    while live_threads("sv-stall-").is_some_and(|n| n > 2)
        && emptied.elapsed() < Duration::from_secs(5)
    {
        thread::sleep(Duration::from_millis(1));
    }
    match live_threads("sv-stall-") {
        Some(2) => say!(
            "  the queue is empty and the temporary workers have left after {:.0?}: 2 threads \
             named sv-stall-* are alive; the stuck tasks are still stuck",
            emptied.elapsed()
        ),
        _ => say!(
            "  the queue is empty: {}; the stuck tasks are still stuck",
            live_threads_text("sv-stall-")
        ),
    }

    thread::sleep(STUCK_FOR.saturating_sub(stuck_since.elapsed()));
    say!("  opening the gate: the stuck tasks can return");
    gate.open();
    let mut ok = true;
    for handle in stuck {
        match handle.join() {
            Ok((who, held)) => say!("  the task on {who} returned after {held:.2?}"),
            Err(err) => {
                say!("  UNEXPECTED: a stuck task failed: {err}");
                ok = false;
            }
        }
    }

    let probe = pool.spawn(here).join().expect("a probe does not panic");
    say!("  a job spawned now runs on {probe}");
    pool.shutdown();
    say!("  pool shut down, threads joined");
    ok && on_temporary > 0
}

// ---------------------------------------------------------------------------------------------
// Part 3

/// How a job of the stream ended, as its handle reports it.
enum Outcome {
    Done,
    /// It noticed `stealpool::is_cancelled()` and stopped early.
    StoppedEarly,
}

/// Counts kept by the jobs themselves and by the handles.
#[derive(Default)]
struct Stats {
    submitted: AtomicU64,
    // Seen by the jobs:
    started: AtomicU64,
    finished: AtomicU64,
    unwound: AtomicU64,
    on_temporary: AtomicU64,
    /// Jobs that started on a thread where an earlier job had panicked (a worker is expected
    /// to retire after a panic, so this should stay 0).
    on_retired_thread: AtomicU64,
    // Reported through the handles:
    completed: AtomicU64,
    stopped_early: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
    // Reported elsewhere:
    detached_panics: AtomicU64,
    stalls: AtomicU64,
    threads: Mutex<Threads>,
}

/// OS threads that ran jobs.
#[derive(Default)]
struct Threads {
    regular: HashSet<ThreadId>,
    temporary: HashSet<ThreadId>,
    /// Threads on which a job panicked.
    panicked_on: HashSet<ThreadId>,
}

impl Stats {
    fn running(&self) -> u64 {
        let started = self.started.load(Ordering::Relaxed);
        started.saturating_sub(self.finished.load(Ordering::Relaxed))
    }

    fn queued(&self) -> u64 {
        let submitted = self.submitted.load(Ordering::Relaxed);
        submitted.saturating_sub(self.started.load(Ordering::Relaxed) + self.cancelled())
    }

    fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Records the result of a finished job's handle.
    fn reap(&self, id: u64, handle: JoinHandle<Outcome>) {
        let counter = match handle.join() {
            Ok(Outcome::Done) => &self.completed,
            Ok(Outcome::StoppedEarly) => &self.stopped_early,
            Err(err) if err.is_panic() => &self.panicked,
            Err(err) if err.is_cancelled() => &self.cancelled,
            Err(err) => {
                say!("  UNEXPECTED: job #{id}: {err}");
                return;
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn status(&self) -> String {
        format!(
            "{} submitted, {} finished ({} panicked), {} running, {} queued",
            self.submitted.load(Ordering::Relaxed),
            self.finished.load(Ordering::Relaxed),
            self.unwound.load(Ordering::Relaxed),
            self.running(),
            self.queued(),
        )
    }
}

/// Counts a job as started, and as finished when dropped (also when the job panics).
struct Running<'a>(&'a Stats);

impl<'a> Running<'a> {
    fn new(stats: &'a Stats, width: usize) -> Self {
        stats.started.fetch_add(1, Ordering::Relaxed);
        let index = stealpool::current_thread_index().expect("runs on a worker");
        let id = thread::current().id();
        let mut threads = stats.threads.lock().unwrap();
        if index < width {
            threads.regular.insert(id);
        } else {
            threads.temporary.insert(id);
            stats.on_temporary.fetch_add(1, Ordering::Relaxed);
        }
        if threads.panicked_on.contains(&id) {
            stats.on_retired_thread.fetch_add(1, Ordering::Relaxed);
            say!(
                "  UNEXPECTED: {} runs a job after a job panicked on it",
                here()
            );
        }
        Running(stats)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.unwound.fetch_add(1, Ordering::Relaxed);
            let mut threads = self.0.threads.lock().unwrap();
            threads.panicked_on.insert(thread::current().id());
        }
        self.0.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// One job of the stream.
#[derive(Clone, Copy)]
enum Job {
    /// CPU work for this long.
    Work(Duration),
    /// Some work, then a panic.
    Fail,
    /// Waits this long for a slow dependency, unless cancelled.
    Hang(Duration),
}

fn run_job(id: u64, job: Job, stats: &Stats, width: usize) -> Outcome {
    let _running = Running::new(stats, width);
    match job {
        Job::Work(how_long) => {
            spin(how_long);
            Outcome::Done
        }
        Job::Fail => {
            spin(Duration::from_millis(5));
            panic!("{PLANNED}: job #{id} found a corrupt record");
        }
        Job::Hang(how_long) => {
            let start = Instant::now();
            while start.elapsed() < how_long {
                if stealpool::is_cancelled() {
                    say!(
                        "  job #{id} saw is_cancelled() after {:.2?} of waiting, and stops",
                        start.elapsed()
                    );
                    return Outcome::StoppedEarly;
                }
                thread::sleep(Duration::from_millis(10));
            }
            Outcome::Done
        }
    }
}

/// Submits bursts of jobs every 100 ms until told to stop (or the sender goes away); reaps
/// the finished handles as it goes and returns the ones still outstanding.
fn submit_stream(
    pool: WorkerPool,
    stats: Arc<Stats>,
    stop: mpsc::Receiver<()>,
) -> VecDeque<(u64, JoinHandle<Outcome>)> {
    const FIRST_HANG: Duration = Duration::from_millis(1500);
    const HANG_EVERY: Duration = Duration::from_secs(4);
    const HANG_FOR: Duration = Duration::from_millis(2500);
    let width = pool.num_threads();
    let mut rng = Rng(0x5EED_1234_ABCD_0042);
    let mut outstanding: VecDeque<(u64, JoinHandle<Outcome>)> = VecDeque::new();
    let started = Instant::now();
    let mut next_hang = FIRST_HANG;
    let mut next_burst = Duration::ZERO;
    let mut id = 0;
    loop {
        let wait = next_burst.saturating_sub(started.elapsed());
        if stop.recv_timeout(wait) != Err(mpsc::RecvTimeoutError::Timeout) {
            break;
        }
        next_burst += Duration::from_millis(100);
        let mut burst = Vec::new();
        if started.elapsed() >= next_hang {
            burst.push(Job::Hang(HANG_FOR));
            next_hang += HANG_EVERY;
        }
        for _ in 0..1 + rng.below(8) {
            burst.push(if rng.below(25) == 0 {
                Job::Fail
            } else {
                Job::Work(Duration::from_millis(20 + rng.below(100)))
            });
        }
        for job in burst {
            id += 1;
            let stats_for_job = stats.clone();
            let this = id;
            if let Job::Hang(how_long) = job {
                say!("  job #{this} will wait {how_long:.1?} on a slow dependency");
            }
            let handle = pool.spawn(move || run_job(this, job, &stats_for_job, width));
            stats.submitted.fetch_add(1, Ordering::Relaxed);
            outstanding.push_back((this, handle));
        }
        for _ in 0..outstanding.len() {
            let (id, handle) = outstanding.pop_front().unwrap();
            if handle.is_finished() {
                stats.reap(id, handle);
            } else {
                outstanding.push_back((id, handle));
            }
        }
    }
    outstanding
}

/// "1 running job", "3 queued jobs".
fn jobs(n: u64, what: &str) -> String {
    format!("{n} {what} job{}", if n == 1 { "" } else { "s" })
}

/// The escalation: cancel what has not started, ask what runs to stop, `shutdown_now`.
fn force_stop(pool: &WorkerPool, outstanding: &VecDeque<(u64, JoinHandle<Outcome>)>) {
    let mut never_started = 0u64;
    let mut asked = 0u64;
    for (_, handle) in outstanding {
        if handle.cancel() {
            never_started += 1;
        } else if !handle.is_finished() {
            asked += 1;
        }
    }
    say!(
        "  cancelled {} (they will never run); asked {} to stop",
        jobs(never_started, "queued"),
        jobs(asked, "running")
    );
    say!("  calling shutdown_now(): cancels anything else queued, waits for running jobs");
    pool.shutdown_now();
    say!("  shutdown_now() returned");
}

/// Part 3. Returns whether the counts add up.
fn shutdown_on_ctrl_c(
    options: &Options,
    (events_tx, events): (mpsc::Sender<Event>, mpsc::Receiver<Event>),
) -> bool {
    const WIDTH: usize = 4;
    say!("== 3. A stream of jobs until Ctrl-C, then a graceful shutdown ==");
    let stats = Arc::new(Stats::default());
    let pool = {
        let (panic_stats, stall_stats) = (stats.clone(), stats.clone());
        WorkerPool::builder()
            .num_threads(WIDTH)
            .thread_name(|i| format!("sv-jobs-{i}"))
            .replace_worker_on_panic(true)
            .panic_handler(move |payload| {
                // Every job here keeps its handle, so this is not expected to run.
                panic_stats.detached_panics.fetch_add(1, Ordering::Relaxed);
                say!(
                    "  UNEXPECTED: a detached task panicked: {}",
                    panic_text(&*payload)
                );
            })
            .stall_threshold(Duration::from_secs(1))
            .on_stall(move |worker, running_for| {
                stall_stats.stalls.fetch_add(1, Ordering::Relaxed);
                say!(
                    "  on_stall: the job on worker {worker} has been running for {running_for:.2?}"
                );
            })
            .compensate_stalls(2)
            .build()
            .expect("valid settings")
    };
    say!(
        "  {WIDTH} workers; stall threshold 1 s, up to 2 temporary workers; a burst of 1 to 8 \
         jobs every 100 ms (20-120 ms of work each, 1 in 25 fails), and every 4 s one that hangs"
    );
    match options.auto_interrupt_after {
        Some(after) => auto_interrupt(after),
        None => say!(
            "  press Ctrl-C to stop (graceful shutdown for up to {:.1?}; Ctrl-C again to cancel \
             the rest, a third time to exit at once)",
            options.grace
        ),
    }

    let (stop, stop_rx) = mpsc::channel();
    let stream_started = Instant::now();
    let submitter = {
        let (pool, stats) = (pool.clone(), stats.clone());
        thread::Builder::new()
            .name("sv-submitter".into())
            .spawn(move || submit_stream(pool, stats, stop_rx))
            .expect("the submitter thread starts")
    };

    // Wait for Ctrl-C, with a status line every second.
    if let Ok(Event::Interrupt) = events.try_recv() {
        say!("  a Ctrl-C arrived during parts 1 and 2: stopping the stream right away");
    } else {
        loop {
            match events.recv_timeout(Duration::from_secs(1)) {
                Ok(Event::Interrupt) => break,
                Ok(Event::ShutdownReturned(_)) => unreachable!("no shutdown has started yet"),
                Err(mpsc::RecvTimeoutError::Timeout) => say!("  status: {}", stats.status()),
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("main holds a sender"),
            }
        }
        say!("  Ctrl-C (SIGINT) received: no new jobs from now on");
    }
    let _ = stop.send(());
    let mut outstanding = submitter.join().expect("the submitter does not panic");
    let streamed_for = stream_started.elapsed();
    say!("  submitter stopped; {}", stats.status());

    say!(
        "  calling shutdown_timeout({:.1?}): queued jobs still run, running ones finish",
        options.grace
    );
    let shutdown_started = Instant::now();
    let shutter = {
        let (pool, grace) = (pool.clone(), options.grace);
        thread::spawn(move || {
            let finished = pool.shutdown_timeout(grace);
            let _ = events_tx.send(Event::ShutdownReturned(finished));
        })
    };
    // Why the shutdown was forced, if it was.
    let mut forced: Option<&str> = None;
    loop {
        match events.recv_timeout(Duration::from_secs(1)) {
            Ok(Event::Interrupt) if forced.is_none() => {
                say!("  second Ctrl-C: not waiting for the rest");
                force_stop(&pool, &outstanding);
                forced = Some("by a second Ctrl-C");
            }
            Ok(Event::Interrupt) => say!("  Ctrl-C again: already stopping"),
            Ok(Event::ShutdownReturned(true)) => {
                say!(
                    "  shutdown_timeout returned true after {:.2?}: all workers have exited",
                    shutdown_started.elapsed()
                );
                break;
            }
            Ok(Event::ShutdownReturned(false)) => {
                say!(
                    "  shutdown_timeout returned false: the grace period of {:.1?} is over and \
                     work is still running; {}",
                    options.grace,
                    stats.status()
                );
                if forced.is_none() {
                    force_stop(&pool, &outstanding);
                    forced = Some("when the grace period ran out");
                }
                break;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                say!("  shutting down: {}", stats.status());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("main holds a sender"),
        }
    }
    shutter.join().expect("the shutdown thread does not panic");
    let took = shutdown_started.elapsed();
    let shutdown = match forced {
        None => format!(
            "graceful: every queued job ran; took {took:.2?} (grace period {:.1?})",
            options.grace
        ),
        Some(why) => format!(
            "forced {why}: queued jobs cancelled, running ones asked to stop; took {took:.2?}"
        ),
    };

    let refused = pool.spawn(|| ()).join();
    match refused {
        Err(err) if err.is_cancelled() => {
            say!("  a spawn after the shutdown resolves at once: {err}");
        }
        other => say!("  UNEXPECTED: a spawn after the shutdown gave {other:?}"),
    }

    for (id, handle) in outstanding.drain(..) {
        if !handle.is_finished() {
            say!("  UNEXPECTED: job #{id} is not finished after the shutdown");
        }
        stats.reap(id, handle);
    }
    summary(&stats, streamed_for, &shutdown, WIDTH)
}

/// Sends this process SIGINT after `after`, from a thread of its own.
fn auto_interrupt(after: Duration) {
    say!("  --auto-interrupt-after: this program will send itself SIGINT in {after:.1?}");
    thread::spawn(move || {
        thread::sleep(after);
        send_sigint();
    });
}

#[cfg(unix)]
fn send_sigint() {
    say!(
        "  sending SIGINT to this process (pid {})",
        std::process::id()
    );
    // SAFETY: `kill` and `getpid` have no memory-safety preconditions.
    let sent = unsafe { libc::kill(libc::getpid(), libc::SIGINT) };
    if sent != 0 {
        say!(
            "  kill(getpid(), SIGINT) failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(unix))]
fn send_sigint() {
    say!("  --auto-interrupt-after works on Unix only; press Ctrl-C instead");
}

fn summary(stats: &Stats, streamed_for: Duration, shutdown: &str, width: usize) -> bool {
    let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    let submitted = count(&stats.submitted);
    let completed = count(&stats.completed);
    let stopped_early = count(&stats.stopped_early);
    let panicked = count(&stats.panicked);
    let cancelled = count(&stats.cancelled);
    let (regular_threads, temporary_threads, panicked_on) = {
        let threads = stats.threads.lock().unwrap();
        (
            threads.regular.len(),
            threads.temporary.len(),
            threads.panicked_on.len(),
        )
    };
    say!("  summary of part 3:");
    say!("    submitted      {submitted:>5}  jobs, over {streamed_for:.1?}");
    say!("    completed      {completed:>5}");
    say!("    stopped early  {stopped_early:>5}  (running when cancelled; they returned early)");
    say!("    panicked       {panicked:>5}  (each reported through its JoinHandle)");
    say!("    cancelled      {cancelled:>5}  (never started)");
    say!("    shutdown: {shutdown}");
    let after_panic = count(&stats.on_retired_thread);
    say!(
        "    workers: {regular_threads} OS threads ran jobs in slots 0-{} ({width} at the start, \
         then replacements); jobs panicked on {panicked_on} of them, {}",
        width - 1,
        if after_panic == 0 {
            "and none of those ran another job (each panic retires its worker)".to_owned()
        } else {
            format!(
                "and UNEXPECTED: {} ran on those threads afterwards",
                jobs(after_panic, "more")
            )
        }
    );
    say!(
        "    stalls: {} reported; {} ran on {temporary_threads} temporary worker thread{}",
        count(&stats.stalls),
        jobs(count(&stats.on_temporary), "queued"),
        if temporary_threads == 1 { "" } else { "s" }
    );
    let mut consistent = count(&stats.on_retired_thread) == 0 && count(&stats.detached_panics) == 0;
    let accounted = completed + stopped_early + panicked + cancelled;
    if accounted != submitted {
        say!("    UNEXPECTED: {accounted} jobs accounted for, {submitted} submitted");
        consistent = false;
    }
    let ran = count(&stats.started);
    if ran != completed + stopped_early + panicked || ran != count(&stats.finished) {
        say!(
            "    UNEXPECTED: {ran} jobs started, {} finished, but the handles report {} ran",
            count(&stats.finished),
            completed + stopped_early + panicked
        );
        consistent = false;
    }
    if panicked != count(&stats.unwound) {
        say!(
            "    UNEXPECTED: {} jobs panicked, but the handles report {panicked}",
            count(&stats.unwound)
        );
        consistent = false;
    }
    if consistent {
        say!(
            "    every submitted job is accounted for: {completed} + {stopped_early} + {panicked} + {cancelled} = {submitted}"
        );
    }
    consistent
}
