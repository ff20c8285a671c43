//! Chaos: a seeded random mix of everything a pool can be asked to do at once, checked
//! against the rule of issue 5: **no task is ever lost or run twice, and every handle learns
//! what became of its task.**
//!
//! Each test drives one pool width (1, 2 and 8 threads) through rounds. A round builds a pool
//! with random settings (a small `max_queued` bound or none, `replace_worker_on_panic` on or
//! off, a random `fairness_interval`, a panic handler that counts), starts 2 or 3 submitter
//! threads, and ends in one of four ways: submitters finish and then `shutdown()`; or, while
//! the submitters are still spawning, `shutdown()`, `shutdown_now()` or a short
//! `shutdown_timeout` (then `shutdown()`). The mix:
//! - `spawn`, `spawn_with` (random lane) and `try_spawn` from the submitters, and `spawn`,
//!   `spawn_with` and `try_spawn` from inside tasks; a refused closure comes back and is run
//!   by the test itself or dropped, and counted as such;
//! - nested `stealpool::join` trees and `stealpool::scope`s inside tasks, whose closures spawn
//!   tracked tasks too; a parent joins its children itself or hands the handles over;
//! - `cancel` right after spawning or later (also on finished and running tasks); some tasks
//!   poll `is_cancelled` for a while;
//! - about 0.5% of the tasks panic (at the top or deep inside a join or a scope), with a
//!   payload of their own type that the panic hook silences (other panics still print).
//!
//! Every task has an id. Checked at the end of each round, once the pool is shut down:
//! every id ran exactly once and its handle returned `Ok` (or `Err` with `is_panic` for the
//! ones meant to panic, with their own payload), or its handle returned `Err` with
//! `is_cancelled` and it never ran, or `try_spawn` gave it back and the test ran or dropped
//! it; `cancel() == true` implies it never ran; a cancellation nobody asked for happens only
//! when a round ends early; every handle is resolved once `shutdown` has returned (checked
//! without blocking, so a lost task fails the test instead of hanging it); every captured
//! value, output and panic payload is dropped exactly once; every `join`/`scope` closure ran
//! once; the panic handler saw nothing (every task kept its handle); spawns after the shutdown
//! resolve at once as cancelled.
//!
//! Knobs (environment variables):
//! - `STEALPOOL_CHAOS_TASKS`: the total number of tasks over the three widths (default
//!   1_000_000, a third per width; takes `_` separators). On a 2-core machine the default
//!   takes 2-4 s in a debug build and about 1.5 s with `--release`; 20_000_000 take about
//!   25 s with `--release`.
//! - `STEALPOOL_CHAOS_SEED`: the master seed (decimal or `0x` hex). By default it comes from
//!   the clock; it is printed with every failure, together with the round and its settings.
//!   The same seed and task count replay the same rounds and the same per-task plans (the
//!   thread interleavings differ, of course).

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Once, OnceLock, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Rng, splitmix};
use stealpool::{JoinHandle, SpawnError, TaskError, WorkerPool};

const DEFAULT_TASKS: usize = 1_000_000;
const TASKS_ENV: &str = "STEALPOOL_CHAOS_TASKS";
const SEED_ENV: &str = "STEALPOOL_CHAOS_SEED";

#[test]
fn chaos_one_thread() {
    chaos(1);
}

#[test]
fn chaos_two_threads() {
    chaos(2);
}

#[test]
fn chaos_eight_threads() {
    chaos(8);
}

// ---------------------------------------------------------------------------------------
// Seeds and random numbers (`common::Rng`, `common::splitmix`).

fn parse_number(value: &str) -> Option<u64> {
    let value = value.trim().replace('_', "");
    match value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => value.parse().ok(),
    }
}

/// One master seed per test process, shared by the three tests.
fn master_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var(SEED_ENV) {
        Ok(value) => {
            parse_number(&value).unwrap_or_else(|| panic!("{SEED_ENV}: not a number: {value:?}"))
        }
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            splitmix(nanos ^ u64::from(std::process::id()))
        }
    })
}

fn total_tasks() -> usize {
    match std::env::var(TASKS_ENV) {
        Ok(value) => parse_number(&value)
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{TASKS_ENV}: not a positive number: {value:?}"))
            as usize,
        Err(_) => DEFAULT_TASKS,
    }
}

// ---------------------------------------------------------------------------------------
// Silencing the expected panics.

/// The payload of the panics the test means to happen.
struct ChaosPanic {
    id: usize,
    _count: DropCounter,
}

/// Installs (once) a panic hook that stays silent for [`ChaosPanic`] payloads and hands
/// every other panic (a failed assertion, a bug) to the previous hook, which prints it.
fn silence_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<ChaosPanic>().is_none() {
                previous(info);
            }
        }));
    });
}

// ---------------------------------------------------------------------------------------
// A round: its settings, and the record of what happened to each task id.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// The submitters finish, then `shutdown()`.
    Graceful,
    /// `shutdown()` while the submitters still spawn.
    RaceShutdown,
    /// `shutdown_now()` while the submitters still spawn.
    RaceShutdownNow,
    /// `shutdown_timeout(d)` while the submitters still spawn, then `shutdown()`.
    RaceShutdownTimeout(Duration),
}

#[derive(Clone, Debug)]
struct Settings {
    /// Task ids available to the round (the submitters stop when they run out).
    budget: usize,
    max_queued: Option<usize>,
    replace_worker_on_panic: bool,
    fairness_interval: u32,
    submitters: usize,
    end: End,
    /// For the racing ends: shut down once this many ids were handed out.
    shut_down_at: usize,
    /// How often (per mille) a spawn is a `try_spawn`.
    try_spawn_per_mille: u64,
}

impl Settings {
    fn draw(budget: usize, rng: &mut Rng) -> Settings {
        let max_queued = match rng.below(3) {
            0 => Some([2, 16, 64][rng.below(3) as usize]),
            _ => None,
        };
        let end = match rng.below(100) {
            0..40 => End::Graceful,
            40..60 => End::RaceShutdown,
            60..85 => End::RaceShutdownNow,
            _ => End::RaceShutdownTimeout(Duration::from_micros(rng.below(3000))),
        };
        Settings {
            budget,
            max_queued,
            replace_worker_on_panic: rng.below(2) == 0,
            fairness_interval: 2 + rng.below(15) as u32,
            submitters: 2 + rng.below(2) as usize,
            end,
            shut_down_at: budget * (10 + rng.below(86) as usize) / 100,
            try_spawn_per_mille: if max_queued.is_some() { 300 } else { 50 },
        }
    }
}

/// What became of a task id (its `outcome`).
const UNSETTLED: u8 = 0;
const RETURNED: u8 = 1;
const PANICKED: u8 = 2;
const CANCELLED: u8 = 3;
const REFUSED_RAN: u8 = 4;
const REFUSED_PANICKED: u8 = 5;
const REFUSED_DROPPED: u8 = 6;

fn outcome_name(outcome: u8) -> &'static str {
    match outcome {
        UNSETTLED => "unsettled",
        RETURNED => "returned Ok",
        PANICKED => "panicked",
        CANCELLED => "cancelled",
        REFUSED_RAN => "refused by try_spawn, run by the test",
        REFUSED_PANICKED => "refused by try_spawn, run by the test, panicked",
        REFUSED_DROPPED => "refused by try_spawn, dropped by the test",
        _ => "?",
    }
}

fn flags(n: usize) -> Box<[AtomicBool]> {
    (0..n).map(|_| AtomicBool::new(false)).collect()
}

fn counters(n: usize) -> Box<[AtomicU8]> {
    (0..n).map(|_| AtomicU8::new(0)).collect()
}

type Tracked = (usize, JoinHandle<Out>);

struct Round {
    seed: u64,
    settings: Settings,
    pool: WorkerPool,
    next_id: AtomicUsize,
    /// Per id: how often the closure started.
    runs: Box<[AtomicU8]>,
    /// Per id: how often the closure's capture was dropped.
    dropped: Box<[AtomicU8]>,
    /// Per id: what became of it (set once, by whoever learned it).
    outcome: Box<[AtomicU8]>,
    cancel_asked: Box<[AtomicBool]>,
    cancel_won: Box<[AtomicBool]>,
    saw_cancel: Box<[AtomicBool]>,
    run_by_test: Box<[AtomicBool]>,
    spawned_after_close: Box<[AtomicBool]>,
    /// All captures together, dropped (a `DropCounter` in each).
    captures_dropped: Arc<AtomicUsize>,
    outputs_made: AtomicUsize,
    outputs_dropped: Arc<AtomicUsize>,
    payloads_made: AtomicUsize,
    payloads_dropped: Arc<AtomicUsize>,
    forks_expected: AtomicUsize,
    forks_run: AtomicUsize,
    /// Set just before the main thread starts shutting the pool down.
    shutdown_started: AtomicBool,
    /// Set once the shutdown call has returned.
    closed: AtomicBool,
    /// Handles that tasks hand over instead of joining them.
    handed_over: Mutex<Vec<Tracked>>,
    errors: Mutex<Vec<String>>,
}

impl Round {
    fn new(seed: u64, settings: Settings, pool: WorkerPool) -> Round {
        let n = settings.budget;
        Round {
            seed,
            settings,
            pool,
            next_id: AtomicUsize::new(0),
            runs: counters(n),
            dropped: counters(n),
            outcome: counters(n),
            cancel_asked: flags(n),
            cancel_won: flags(n),
            saw_cancel: flags(n),
            run_by_test: flags(n),
            spawned_after_close: flags(n),
            captures_dropped: Arc::new(AtomicUsize::new(0)),
            outputs_made: AtomicUsize::new(0),
            outputs_dropped: Arc::new(AtomicUsize::new(0)),
            payloads_made: AtomicUsize::new(0),
            payloads_dropped: Arc::new(AtomicUsize::new(0)),
            forks_expected: AtomicUsize::new(0),
            forks_run: AtomicUsize::new(0),
            shutdown_started: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            handed_over: Mutex::new(Vec::new()),
            errors: Mutex::new(Vec::new()),
        }
    }

    /// A fresh task id, or `None` once the budget is spent.
    fn new_id(&self) -> Option<usize> {
        let id = self.next_id.fetch_add(1, SeqCst);
        (id < self.settings.budget).then_some(id)
    }

    fn ids_used(&self) -> usize {
        self.next_id.load(SeqCst).min(self.settings.budget)
    }

    /// Records a violation. Code running on workers records instead of panicking, so that a
    /// violation cannot turn into a different outcome of some task.
    fn violation(&self, message: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() < 200 {
            errors.push(message);
        }
    }

    fn settle(&self, id: usize, outcome: u8) {
        let before = self.outcome[id].swap(outcome, SeqCst);
        if before != UNSETTLED {
            self.violation(format!(
                "task {id} settled twice: {} then {}",
                outcome_name(before),
                outcome_name(outcome)
            ));
        }
    }

    /// Records what a handle returned.
    fn settle_result(&self, id: usize, result: Result<Out, TaskError>) {
        match result {
            Ok(out) => {
                if out.id != id {
                    self.violation(format!(
                        "task {id}'s handle returned task {}'s value",
                        out.id
                    ));
                }
                self.settle(id, RETURNED);
            }
            Err(err) if err.is_panic() => {
                self.check_payload(id, err.into_panic());
                self.settle(id, PANICKED);
            }
            Err(err) if err.is_cancelled() => self.settle(id, CANCELLED),
            Err(err) => {
                self.violation(format!(
                    "task {id}: an error neither panic nor cancelled: {err}"
                ));
            }
        }
    }

    fn check_payload(&self, id: usize, payload: Box<dyn std::any::Any + Send>) {
        match payload.downcast_ref::<ChaosPanic>() {
            Some(p) if p.id == id => {}
            Some(p) => self.violation(format!("task {id} reported task {}'s panic", p.id)),
            None => self.violation(format!(
                "task {id} panicked with an unexpected payload: {:?}",
                common::panic_message(&payload)
            )),
        }
    }

    /// Cancels `id` through its handle, recording the request and the answer.
    fn cancel(&self, id: usize, handle: &JoinHandle<Out>) {
        self.cancel_asked[id].store(true, SeqCst);
        if handle.cancel() {
            if self.cancel_won[id].swap(true, SeqCst) {
                self.violation(format!("task {id}: cancel() returned true twice"));
            }
            if !handle.is_finished() {
                self.violation(format!(
                    "task {id}: cancel() returned true but the handle is not finished"
                ));
            }
        }
    }

    /// What the test does with a closure `try_spawn` gave back: runs it or drops it.
    fn refused<F>(&self, id: usize, refused: SpawnError<F>, rng: &mut Rng, closed_before: bool)
    where
        F: FnOnce() -> Out,
    {
        if refused.is_full() == refused.is_shutdown() {
            self.violation(format!(
                "task {id}: a SpawnError that is full={} shutdown={}",
                refused.is_full(),
                refused.is_shutdown()
            ));
        }
        if refused.is_full() && self.settings.max_queued.is_none() {
            self.violation(format!("task {id}: an unbounded pool said it was full"));
        }
        if refused.is_shutdown() && !self.shutdown_started.load(SeqCst) {
            self.violation(format!(
                "task {id}: refused as shut down before any shutdown"
            ));
        }
        if closed_before && !refused.is_shutdown() {
            self.violation(format!(
                "task {id}: try_spawn after the shutdown refused as full, not as shut down"
            ));
        }
        let func = refused.into_inner();
        if rng.below(2) == 0 {
            self.run_by_test[id].store(true, SeqCst);
            match panic::catch_unwind(AssertUnwindSafe(func)) {
                Ok(out) => {
                    if out.id != id {
                        self.violation(format!("refused task {id} returned {}'s value", out.id));
                    }
                    self.settle(id, REFUSED_RAN);
                }
                Err(payload) => {
                    self.check_payload(id, payload);
                    self.settle(id, REFUSED_PANICKED);
                }
            }
        } else {
            drop(func);
            self.settle(id, REFUSED_DROPPED);
        }
    }
}

/// A task's closure captures this: counts its drops per id (and in total).
struct Capture {
    round: Arc<Round>,
    id: usize,
    _count: DropCounter,
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.round.dropped[self.id].fetch_add(1, SeqCst);
    }
}

/// A task's value.
struct Out {
    id: usize,
    _count: DropCounter,
}

// ---------------------------------------------------------------------------------------
// What a task does.

#[derive(Clone, Copy, Debug)]
enum Kind {
    Leaf,
    /// Spawns this many tracked children.
    Spawn(u64),
    /// Runs a tree of `stealpool::join`s this many levels deep.
    Join(u32),
    /// Runs a `stealpool::scope` with this many tasks.
    Scope(u64),
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    kind: Kind,
    panics: bool,
    /// Rounds of polling `is_cancelled` before returning.
    spin: u64,
}

impl Plan {
    /// A task's plan depends only on the round's seed, its id and its depth.
    fn of(seed: u64, id: usize, depth: u32) -> Plan {
        let mut rng = Rng::new(seed ^ splitmix(id as u64));
        let panics = rng.per_mille(5);
        let roll = rng.below(100);
        let kind = if depth >= 3 {
            Kind::Leaf
        } else {
            match roll {
                0..80 => Kind::Leaf,
                80..88 => Kind::Spawn(1 + rng.below(3)),
                88..94 => Kind::Join(1 + rng.below(3) as u32),
                _ => Kind::Scope(2 + rng.below(4)),
            }
        };
        let spin = if rng.below(10) == 0 {
            rng.below(200)
        } else {
            0
        };
        Plan { kind, panics, spin }
    }
}

fn task(round: &Arc<Round>, id: usize, depth: u32) -> impl FnOnce() -> Out + Send + 'static {
    let capture = Capture {
        round: round.clone(),
        id,
        _count: DropCounter(round.captures_dropped.clone()),
    };
    move || {
        let capture = capture;
        body(&capture.round, id, depth)
    }
}

fn chaos_panic(round: &Round, id: usize) -> ! {
    round.payloads_made.fetch_add(1, SeqCst);
    panic::panic_any(ChaosPanic {
        id,
        _count: DropCounter(round.payloads_dropped.clone()),
    })
}

fn body(round: &Arc<Round>, id: usize, depth: u32) -> Out {
    round.runs[id].fetch_add(1, SeqCst);
    let plan = Plan::of(round.seed, id, depth);
    let mut rng = Rng::new(round.seed ^ splitmix(!(id as u64)));
    // Children, joins and scopes only on a worker: a closure that try_spawn gave back and the
    // test runs on a submitter thread would send them to the global pool.
    let on_pool = stealpool::current_thread_index().is_some();
    if on_pool {
        match plan.kind {
            Kind::Leaf => {}
            Kind::Spawn(n) => spawn_children(round, &mut rng, depth, n),
            // These two raise a planned panic inside the join or the scope.
            Kind::Join(levels) => {
                let panic_leaf = plan.panics.then(|| rng.below(1 << levels));
                join_tree(round, id, depth, levels, panic_leaf, rng.next());
            }
            Kind::Scope(n) => {
                let panic_at = plan.panics.then(|| rng.below(n));
                scope_fan(round, id, depth, n, panic_at, rng.next());
            }
        }
    }
    for _ in 0..plan.spin {
        if stealpool::is_cancelled() {
            break;
        }
        std::hint::spin_loop();
    }
    if stealpool::is_cancelled() {
        round.saw_cancel[id].store(true, SeqCst);
    }
    if plan.panics {
        // Reached when the plan did not raise the panic inside a join or a scope.
        chaos_panic(round, id);
    }
    round.outputs_made.fetch_add(1, SeqCst);
    Out {
        id,
        _count: DropCounter(round.outputs_dropped.clone()),
    }
}

/// Submits task `id` with a random method; `None` when `try_spawn` refused it (then it has
/// been run or dropped, and settled).
fn submit(round: &Arc<Round>, rng: &mut Rng, id: usize, depth: u32) -> Option<JoinHandle<Out>> {
    let inside = stealpool::current_thread_index().is_some();
    let closed_before = !inside && round.closed.load(SeqCst);
    if closed_before {
        round.spawned_after_close[id].store(true, SeqCst);
    }
    let func = task(round, id, depth);
    let roll = rng.below(1000);
    let handle = if roll < round.settings.try_spawn_per_mille {
        match round.pool.try_spawn(func) {
            Ok(handle) => handle,
            Err(refused) => {
                round.refused(id, refused, rng, closed_before);
                return None;
            }
        }
    } else if roll < 600 {
        if inside {
            stealpool::spawn(func)
        } else {
            round.pool.spawn(func)
        }
    } else {
        round.pool.spawn_with(rng.lane(), func)
    };
    if closed_before && !handle.is_finished() {
        round.violation(format!(
            "task {id}: spawned after shutdown() returned, but its handle is not resolved at once"
        ));
    }
    if rng.per_mille(50) {
        round.cancel(id, &handle);
    }
    Some(handle)
}

/// Spawns `n` tracked children; joins them here or hands the handles to the round.
fn spawn_children(round: &Arc<Round>, rng: &mut Rng, depth: u32, n: u64) {
    let mut children = Vec::new();
    for _ in 0..n {
        let Some(child) = round.new_id() else { break };
        if let Some(handle) = submit(round, rng, child, depth + 1) {
            children.push((child, handle));
        }
    }
    if rng.below(2) == 0 {
        for (child, handle) in children {
            round.settle_result(child, handle.join());
        }
    } else {
        round.handed_over.lock().unwrap().extend(children);
    }
}

/// Spawns one tracked child and hands its handle over (from inside a join or a scope).
fn spawn_handed_over(round: &Arc<Round>, salt: u64, depth: u32) {
    let mut rng = Rng::new(round.seed ^ salt);
    if let Some(child) = round.new_id() {
        if let Some(handle) = submit(round, &mut rng, child, depth + 1) {
            round.handed_over.lock().unwrap().push((child, handle));
        }
    }
}

/// A tree of `stealpool::join`s `levels` deep; the leaf numbered `panic_leaf` panics.
fn join_tree(
    round: &Arc<Round>,
    id: usize,
    depth: u32,
    levels: u32,
    panic_leaf: Option<u64>,
    salt: u64,
) {
    // Every node but the root is a closure of some join: 2 + 4 + ... + 2^levels.
    round
        .forks_expected
        .fetch_add((1 << (levels + 1)) - 2, SeqCst);
    fn node(
        round: &Arc<Round>,
        id: usize,
        depth: u32,
        level: u32,
        leaf: u64,
        p: Option<u64>,
        salt: u64,
    ) {
        round.forks_run.fetch_add(1, SeqCst);
        if level == 0 {
            let salt = splitmix(salt ^ leaf);
            if salt % 8 == 0 {
                spawn_handed_over(round, salt, depth);
            }
            if p == Some(leaf) {
                chaos_panic(round, id);
            }
            return;
        }
        stealpool::join(
            || node(round, id, depth, level - 1, leaf * 2, p, salt),
            || node(round, id, depth, level - 1, leaf * 2 + 1, p, salt),
        );
    }
    stealpool::join(
        || node(round, id, depth, levels - 1, 0, panic_leaf, salt),
        || node(round, id, depth, levels - 1, 1, panic_leaf, salt),
    );
}

/// A `stealpool::scope` with `n` tasks (some spawning one more) that borrow a local counter;
/// task `panic_at` panics.
fn scope_fan(round: &Arc<Round>, id: usize, depth: u32, n: u64, panic_at: Option<u64>, salt: u64) {
    let started = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    stealpool::scope(|s| {
        for k in 0..n {
            let (started, finished) = (&started, &finished);
            round.forks_expected.fetch_add(1, SeqCst);
            started.fetch_add(1, SeqCst);
            s.spawn(move |s| {
                round.forks_run.fetch_add(1, SeqCst);
                let salt = splitmix(salt ^ k);
                if salt % 3 == 0 {
                    round.forks_expected.fetch_add(1, SeqCst);
                    started.fetch_add(1, SeqCst);
                    s.spawn(move |_| {
                        round.forks_run.fetch_add(1, SeqCst);
                        finished.fetch_add(1, SeqCst);
                    });
                }
                if salt % 5 == 0 {
                    spawn_handed_over(round, salt, depth);
                }
                finished.fetch_add(1, SeqCst);
                if panic_at == Some(k) {
                    chaos_panic(round, id);
                }
            });
        }
    });
    let (started, finished) = (started.into_inner(), finished.into_inner());
    if started != finished {
        round.violation(format!(
            "task {id}: scope returned with {finished} of its {started} tasks finished"
        ));
    }
}

// ---------------------------------------------------------------------------------------
// The submitters and the round.

fn submitter(round: Arc<Round>, index: usize) -> Vec<Tracked> {
    let mut rng = Rng::new(round.seed ^ splitmix(0x5EED_0000 + index as u64));
    let mut mine: Vec<Tracked> = Vec::new();
    let mut after_close = 0;
    loop {
        if round.closed.load(SeqCst) {
            // A few spawns after the shutdown returned: each must be refused at once.
            after_close += 1;
            if after_close > 16 {
                break;
            }
        }
        let Some(id) = round.new_id() else { break };
        if let Some(handle) = submit(&round, &mut rng, id, 0) {
            mine.push((id, handle));
        }
        if !mine.is_empty() && rng.per_mille(30) {
            let (id, handle) = &mine[rng.below(mine.len() as u64) as usize];
            round.cancel(*id, handle);
        }
    }
    mine
}

/// Runs the round's shutdown on a helper thread; fails the test if it does not return.
fn shut_down(round: &Round, context: &str) {
    round.shutdown_started.store(true, SeqCst);
    let pool = round.pool.clone();
    let end = round.settings.end;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        match end {
            End::Graceful | End::RaceShutdown => pool.shutdown(),
            End::RaceShutdownNow => pool.shutdown_now(),
            End::RaceShutdownTimeout(timeout) => {
                if !pool.shutdown_timeout(timeout) {
                    pool.shutdown();
                }
            }
        }
        let _ = tx.send(());
    });
    match rx.recv_timeout(common::LIVENESS) {
        Ok(()) => {}
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{context}: the shutdown ({end:?}) did not return within {:?}; a task that a \
             running task waits for may be lost",
            common::LIVENESS
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{context}: the shutdown call ({end:?}) itself panicked (see above)")
        }
    }
    round.closed.store(true, SeqCst);
}

/// What the rounds of one test did, for the summary line.
#[derive(Debug, Default)]
struct Tally {
    rounds: usize,
    tasks: usize,
    outcomes: [usize; 7],
    cancel_won: usize,
    forks: usize,
    graceful: usize,
    racing: usize,
}

impl Tally {
    fn add(&mut self, round: &Round) {
        let used = round.ids_used();
        self.rounds += 1;
        self.tasks += used;
        for id in 0..used {
            self.outcomes[round.outcome[id].load(SeqCst) as usize] += 1;
            self.cancel_won += usize::from(round.cancel_won[id].load(SeqCst));
        }
        self.forks += round.forks_run.load(SeqCst);
        if round.settings.end == End::Graceful {
            self.graceful += 1;
        } else {
            self.racing += 1;
        }
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.outcomes;
        write!(
            f,
            "{} tasks in {} rounds ({} graceful, {} racing a shutdown): {} returned, {} \
             panicked, {} cancelled ({} by a winning cancel()), try_spawn refused {} (run by \
             the test {} + {} panicked, dropped {}); {} join/scope closures",
            self.tasks,
            self.rounds,
            self.graceful,
            self.racing,
            o[RETURNED as usize],
            o[PANICKED as usize],
            o[CANCELLED as usize],
            self.cancel_won,
            o[REFUSED_RAN as usize] + o[REFUSED_PANICKED as usize] + o[REFUSED_DROPPED as usize],
            o[REFUSED_RAN as usize],
            o[REFUSED_PANICKED as usize],
            o[REFUSED_DROPPED as usize],
            self.forks,
        )
    }
}

/// Plays one round and adds it to `tally`.
fn play_round(width: usize, seed: u64, budget: usize, note: &str, tally: &mut Tally) {
    let mut rng = Rng::new(seed);
    let settings = Settings::draw(budget, &mut rng);
    let context = format!("{note}, round seed {seed:#x}, {settings:?}");
    let _watchdog = common::guard_noting("chaos", context.clone());

    let handler_calls = Arc::new(AtomicUsize::new(0));
    let calls = handler_calls.clone();
    let mut builder = WorkerPool::builder()
        .num_threads(width)
        .replace_worker_on_panic(settings.replace_worker_on_panic)
        .fairness_interval(settings.fairness_interval)
        .panic_handler(move |payload| {
            // Every handle is joined, so no task's panic may arrive here. The pool's own
            // notice that it stopped replacing workers (restart intensity) may.
            if !payload.is::<stealpool::RestartLimitReached>() {
                calls.fetch_add(1, SeqCst);
            }
        });
    if let Some(max) = settings.max_queued {
        builder = builder.max_queued(max);
    }
    let pool = builder.build().expect("valid settings");
    let round = Arc::new(Round::new(seed, settings.clone(), pool));

    let submitters: Vec<_> = (0..settings.submitters)
        .map(|index| {
            let round = round.clone();
            thread::spawn(move || submitter(round, index))
        })
        .collect();

    let mut handles: Vec<Tracked> = Vec::new();
    let mut join_submitters = |submitters: Vec<thread::JoinHandle<Vec<Tracked>>>| {
        for submitter in submitters {
            match submitter.join() {
                Ok(mine) => handles.extend(mine),
                Err(_) => panic!("{context}: a submitter thread panicked"),
            }
        }
    };
    if settings.end == End::Graceful {
        join_submitters(submitters);
        // Late cancels, while much may still wait in the queues.
        let mut late = Rng::new(seed ^ 0x1A7E);
        for (id, handle) in &handles {
            if late.per_mille(20) {
                round.cancel(*id, handle);
            }
        }
        shut_down(&round, &context);
    } else {
        let deadline = Instant::now() + common::LIVENESS;
        while round.next_id.load(SeqCst) < settings.shut_down_at
            && !submitters.iter().all(|s| s.is_finished())
        {
            assert!(
                Instant::now() < deadline,
                "{context}: the submitters made no progress for {:?}",
                common::LIVENESS
            );
            thread::yield_now();
        }
        shut_down(&round, &context);
        join_submitters(submitters);
    }
    handles.append(&mut round.handed_over.lock().unwrap());

    // The pool is shut down (its threads joined) and every spawn call has returned: nobody
    // is left to resolve a handle later, so an unresolved one is a lost task.
    let lost: Vec<usize> = handles
        .iter()
        .filter(|(_, handle)| !handle.is_finished())
        .map(|(id, _)| *id)
        .collect();
    if !lost.is_empty() {
        let described: Vec<String> = lost
            .iter()
            .take(20)
            .map(|&id| describe(&round, id))
            .collect();
        panic!(
            "{context}: {} handles unresolved after the shutdown returned (lost tasks):\n  {}",
            lost.len(),
            described.join("\n  ")
        );
    }
    for (i, (id, handle)) in handles.into_iter().enumerate() {
        // Both ways of learning the result: the blocking join and the future.
        let result = if i % 4 == 0 {
            futures::executor::block_on(handle)
        } else {
            handle.join()
        };
        round.settle_result(id, result);
    }

    check_round(&round, &handler_calls);
    let errors = round.errors.lock().unwrap();
    if !errors.is_empty() {
        panic!(
            "{context}: {} violations (first ones):\n  {}",
            errors.len(),
            errors
                .iter()
                .take(30)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    tally.add(&round);
}

fn describe(round: &Round, id: usize) -> String {
    format!(
        "task {id}: {:?} (plan at depth 0), runs {}, drops {}, outcome {}, cancel asked {}, cancel won {}, \
         spawned after close {}, run by test {}",
        Plan::of(round.seed, id, 0),
        round.runs[id].load(SeqCst),
        round.dropped[id].load(SeqCst),
        outcome_name(round.outcome[id].load(SeqCst)),
        round.cancel_asked[id].load(SeqCst),
        round.cancel_won[id].load(SeqCst),
        round.spawned_after_close[id].load(SeqCst),
        round.run_by_test[id].load(SeqCst),
    )
}

/// The checks, once every handle was joined.
fn check_round(round: &Round, handler_calls: &AtomicUsize) {
    let used = round.ids_used();
    let graceful = round.settings.end == End::Graceful;
    for id in 0..used {
        let runs = round.runs[id].load(SeqCst);
        let drops = round.dropped[id].load(SeqCst);
        let outcome = round.outcome[id].load(SeqCst);
        let won = round.cancel_won[id].load(SeqCst);
        let after_close = round.spawned_after_close[id].load(SeqCst);
        let panics = Plan::of(round.seed, id, 0).panics;
        let bad = |what: &str| round.violation(format!("{what}: {}", describe(round, id)));
        if drops != 1 {
            bad("capture not dropped exactly once");
        }
        match outcome {
            UNSETTLED => bad("no handle ever reported this task"),
            RETURNED | PANICKED | REFUSED_RAN | REFUSED_PANICKED => {
                if runs != 1 {
                    bad("reported as run, but did not run exactly once");
                }
                if won {
                    bad("cancel() returned true, but it ran");
                }
                let reported_panic = outcome == PANICKED || outcome == REFUSED_PANICKED;
                if reported_panic != panics {
                    bad("panic reported for a task not meant to panic, or missing");
                }
                if after_close && (outcome == RETURNED || outcome == PANICKED) {
                    bad("spawned after shutdown() returned, but it ran on the pool");
                }
            }
            CANCELLED => {
                if runs != 0 {
                    bad("reported cancelled, but it ran");
                }
                if graceful && !won && !after_close {
                    bad("cancelled though no cancel() succeeded and the pool was not cut short");
                }
            }
            REFUSED_DROPPED => {
                if runs != 0 {
                    bad("dropped by the test after try_spawn refused it, but it ran");
                }
            }
            _ => bad("bad outcome code"),
        }
        if round.saw_cancel[id].load(SeqCst)
            && !round.cancel_asked[id].load(SeqCst)
            && !round.run_by_test[id].load(SeqCst)
        {
            bad("is_cancelled() was true inside a task whose handle nobody cancelled");
        }
    }
    let pairs = [
        (
            "captures dropped",
            used,
            round.captures_dropped.load(SeqCst),
        ),
        (
            "outputs dropped",
            round.outputs_made.load(SeqCst),
            round.outputs_dropped.load(SeqCst),
        ),
        (
            "panic payloads dropped",
            round.payloads_made.load(SeqCst),
            round.payloads_dropped.load(SeqCst),
        ),
        (
            "join/scope closures run",
            round.forks_expected.load(SeqCst),
            round.forks_run.load(SeqCst),
        ),
        ("panic handler calls", 0, handler_calls.load(SeqCst)),
    ];
    for (what, expected, got) in pairs {
        if expected != got {
            round.violation(format!("{what}: expected {expected}, got {got}"));
        }
    }
}

/// Prints the replay line if the test fails by a panic that carries no context.
struct SeedOnFailure(String);

impl Drop for SeedOnFailure {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("chaos failed: {}", self.0);
        }
    }
}

fn chaos(width: usize) {
    silence_expected_panics();
    let seed = master_seed();
    let total = total_tasks();
    let note = format!(
        "width {width}, master seed {seed:#x} (replay: {SEED_ENV}={seed:#x} {TASKS_ENV}={total})"
    );
    let _print = SeedOnFailure(note.clone());
    let target = total.div_ceil(3);
    let mut rng = Rng::new(seed ^ splitmix(width as u64));
    let mut tally = Tally::default();
    while tally.tasks < target {
        let budget = (2_000 + rng.below(30_000) as usize)
            .min(target - tally.tasks)
            .max(100);
        let round_seed = rng.next();
        let note = format!("{note}, round {}", tally.rounds);
        play_round(width, round_seed, budget, &note, &mut tally);
    }
    eprintln!("chaos, width {width}, seed {seed:#x}: {tally}");
}
