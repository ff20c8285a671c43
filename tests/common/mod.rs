//! Helpers shared by the integration tests: bounded waits for liveness (never timing
//! assertions), a process-aborting watchdog, a look at this process's threads, and a gate
//! for holding workers.

// Every test binary compiles this module but uses only some of it.
#![allow(dead_code)]

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::task::{Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use stealpool::{JoinHandle, TaskError, WorkerPool};

/// How long a liveness wait may take before the test fails. Generous on purpose: the machine
/// is shared and slow; this only turns a hang into a failure.
pub const LIVENESS: Duration = Duration::from_secs(30);

/// A pool of `n` threads with default names.
pub fn pool(n: usize) -> WorkerPool {
    WorkerPool::builder()
        .num_threads(n)
        .build()
        .expect("valid settings")
}

/// A pool of `n` threads named `{prefix}{i}`. Keep `prefix` short (Linux shows 15 bytes of a
/// thread name) and unique within the test binary.
pub fn named_pool(n: usize, prefix: &'static str) -> WorkerPool {
    WorkerPool::builder()
        .num_threads(n)
        .thread_name(move |i| format!("{prefix}{i}"))
        .build()
        .expect("valid settings")
}

/// Polls `cond` until it holds; fails the test after [`LIVENESS`].
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIVENESS;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "gave up after {LIVENESS:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Joins `handle` on a helper thread and fails the test if that takes longer than
/// [`LIVENESS`] (a stuck pool then fails the test instead of hanging it).
pub fn join_within<T: Send + 'static>(handle: JoinHandle<T>, what: &str) -> Result<T, TaskError> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(handle.join());
    });
    match rx.recv_timeout(LIVENESS) {
        Ok(result) => result,
        Err(_) => panic!("{what}: the task did not finish within {LIVENESS:?}"),
    }
}

/// Receives exactly `n` messages, failing the test if one takes longer than [`LIVENESS`].
pub fn recv_n<T>(rx: &mpsc::Receiver<T>, n: usize, what: &str) -> Vec<T> {
    (0..n)
        .map(|i| match rx.recv_timeout(LIVENESS) {
            Ok(value) => value,
            Err(err) => panic!("{what}: got only {i} of {n} messages ({err})"),
        })
        .collect()
}

/// How long one test may run before its [`watchdog`] aborts the process.
pub const WATCHDOG_LIMIT: Duration = Duration::from_secs(60);

/// Aborts the whole process with a message if it is not dropped within `limit`. Turns a hang
/// that no bounded wait can reach (a lost wake-up, a deadlock) into a clear failure.
#[must_use = "the watchdog stops watching when dropped"]
pub struct Watchdog {
    _alive: mpsc::Sender<()>,
}

pub fn watchdog(test: &'static str, limit: Duration) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
            // Straight to the stderr file descriptor: `eprintln!` would go to the test
            // harness's capture buffer, which the abort throws away.
            let _ = writeln!(
                std::io::stderr(),
                "WATCHDOG: test `{test}` did not finish within {limit:?}: the pool hung \
                 (lost wake-up or deadlock). Aborting the test process."
            );
            std::process::abort();
        }
    });
    Watchdog { _alive: tx }
}

/// A [`watchdog`] with the default limit.
pub fn guard(test: &'static str) -> Watchdog {
    watchdog(test, WATCHDOG_LIMIT)
}

/// The names (`comm`) of this process's live threads, from `/proc/self/task` (Linux).
pub fn thread_names() -> Vec<String> {
    let dir = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    dir.flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("comm")).ok())
        .map(|comm| comm.trim_end().to_owned())
        .collect()
}

/// How many of this process's threads have a name starting with `prefix`.
pub fn threads_named(prefix: &str) -> usize {
    thread_names()
        .iter()
        .filter(|name| name.starts_with(prefix))
        .count()
}

/// Waits until no thread of this process is named `{prefix}*`; fails after [`LIVENESS`].
pub fn wait_for_threads_gone(prefix: &str) {
    wait_for(&format!("the threads named {prefix}* to exit"), || {
        threads_named(prefix) == 0
    });
}

/// Counts its drops; for checking that values are dropped exactly once.
#[derive(Debug)]
pub struct DropCounter(pub Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that counts its wake-ups and unparks the thread that made it.
#[derive(Debug)]
pub struct CountingWaker {
    wakes: AtomicUsize,
    thread: Thread,
}

impl CountingWaker {
    pub fn new() -> Arc<Self> {
        Arc::new(CountingWaker {
            wakes: AtomicUsize::new(0),
            thread: thread::current(),
        })
    }

    pub fn wakes(&self) -> usize {
        self.wakes.load(Ordering::SeqCst)
    }

    pub fn waker(self: &Arc<Self>) -> Waker {
        Waker::from(self.clone())
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Where code runs: the OS thread's name and the worker index (see [`location`]).
pub type Location = (Option<String>, Option<usize>);

/// Where the calling code runs: the OS thread's name and the worker index.
pub fn location() -> Location {
    (
        thread::current().name().map(str::to_owned),
        stealpool::current_thread_index(),
    )
}

/// Asserts that `loc` is worker `i` of a pool named `{prefix}{i}` with `width` workers, and
/// returns `i`.
pub fn assert_on_pool(loc: &(Option<String>, Option<usize>), prefix: &str, width: usize) -> usize {
    let index = loc.1.unwrap_or_else(|| panic!("not on a worker: {loc:?}"));
    assert!(
        index < width,
        "index out of range for width {width}: {loc:?}"
    );
    assert_eq!(
        loc.0.as_deref(),
        Some(format!("{prefix}{index}").as_str()),
        "thread name does not match pool {prefix}* / worker index"
    );
    index
}

/// Calls `pool.shutdown()` on a helper thread and fails the test if it does not return within
/// [`LIVENESS`].
pub fn shutdown_within(pool: &WorkerPool, what: &str) {
    let pool = pool.clone();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        pool.shutdown();
        let _ = tx.send(());
    });
    if rx.recv_timeout(LIVENESS).is_err() {
        panic!("{what}: shutdown() did not return within {LIVENESS:?}");
    }
}

/// For each of this process's threads named `{prefix}*`: its scheduler state letter (`R`,
/// `S`, ...) and the CPU time it has used so far, in clock ticks (utime + stime), from
/// `/proc/self/task/*/stat` (Linux).
pub fn thread_stats(prefix: &str) -> Vec<(char, u64)> {
    let dir = std::fs::read_dir("/proc/self/task").expect("/proc/self/task is readable");
    let mut stats = Vec::new();
    for entry in dir.flatten() {
        let Ok(comm) = std::fs::read_to_string(entry.path().join("comm")) else {
            continue; // the thread just exited
        };
        if !comm.starts_with(prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
        let rest = &stat[stat.rfind(')').expect("stat has (comm)") + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let state = fields[0].chars().next().expect("a state letter");
        let utime: u64 = fields[11].parse().expect("utime");
        let stime: u64 = fields[12].parse().expect("stime");
        stats.push((state, utime + stime));
    }
    stats
}

/// Runs `f`, which must panic, and returns the panic's payload; fails the test if `f` returns.
pub fn expect_panic<R>(what: &str, f: impl FnOnce() -> R) -> Box<dyn std::any::Any + Send> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(_) => panic!("{what}: expected a panic, but the call returned"),
        Err(payload) => payload,
    }
}

/// The message of a `panic!` payload (a `&str` or a `String`), if it is one.
#[allow(clippy::borrowed_box)] // on purpose: see below
pub fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> Option<&str> {
    // Through `**`: a `&Box<dyn Any>` would otherwise coerce to a `&dyn Any` of the box.
    let payload: &(dyn std::any::Any + Send) = &**payload;
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// True when the calling code runs on an OS thread whose name starts with `prefix`.
pub fn on_thread_named(prefix: &str) -> bool {
    thread::current()
        .name()
        .is_some_and(|name| name.starts_with(prefix))
}

/// A [`watchdog`] with the default limit whose abort message also prints `note` (say, the
/// seed and settings that replay the run): an abort throws away the captured test output,
/// so this is the only way such a note reaches the log when the pool hangs.
pub fn guard_noting(test: &'static str, note: String) -> Watchdog {
    let (tx, rx) = mpsc::channel::<()>();
    thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG_LIMIT) {
            let _ = writeln!(
                std::io::stderr(),
                "WATCHDOG: test `{test}` did not finish within {WATCHDOG_LIMIT:?}: the pool hung \
                 (lost wake-up or deadlock). {note}. Aborting the test process."
            );
            std::process::abort();
        }
    });
    Watchdog { _alive: tx }
}

/// Where tasks wait until the test opens it. It opens when dropped too, so that a failing
/// test does not leave the pool's threads blocked.
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

/// A task's side of a [`Gate`].
pub struct GateWait(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Self {
        Gate(Arc::new((Mutex::new(false), Condvar::new())))
    }

    pub fn waiter(&self) -> GateWait {
        GateWait(self.0.clone())
    }

    /// Lets every task waiting at the gate go, and any that comes to it later.
    pub fn open(&self) {
        let (open, cond) = &*self.0;
        *open.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cond.notify_all();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.open();
    }
}

impl GateWait {
    /// Blocks until the gate opens.
    pub fn wait(&self) {
        let (open, cond) = &*self.0;
        let mut open = open.lock().unwrap();
        while !*open {
            open = cond.wait(open).unwrap();
        }
    }
}

/// Holds a worker of `pool`: spawns a task that waits at `gate`, and returns its handle once
/// it has started, with where it runs. Fails the test if it does not start within
/// [`LIVENESS`].
pub fn hold_worker(pool: &WorkerPool, gate: &Gate) -> (JoinHandle<()>, Location) {
    let (started_tx, started) = mpsc::channel();
    let gate = gate.waiter();
    let handle = pool.spawn(move || {
        started_tx.send(location()).unwrap();
        gate.wait();
    });
    let location = started
        .recv_timeout(LIVENESS)
        .expect("the task holding a worker never started");
    (handle, location)
}

/// SplitMix64's finaliser: spreads a seed (or any number) over all 64 bits.
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small seeded generator (xorshift64*), so that tests need no extra crate and a seed
/// replays a run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True `per_mille` times in a thousand.
    pub fn per_mille(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// One of the three lanes, evenly.
    pub fn lane(&mut self) -> stealpool::Priority {
        stealpool::Priority::ALL[self.below(3) as usize]
    }
}

/// An example program of this package, built by `cargo test` beside the test binaries:
/// `target/<profile>/examples/<name>`, found from this test's `target/<profile>/deps/`.
/// Fails with how to build it when it is missing (`feature`: the one it needs).
pub fn example_binary(name: &str, feature: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --features {feature}` builds it, or `cargo build \
         --features {feature} --example {name}`",
        binary.display()
    );
    binary
}
