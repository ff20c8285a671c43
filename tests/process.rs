//! The process pool (feature `process`): crashes of every kind, timeouts, heartbeats,
//! recycling, restart intensity, cancellation, lanes, backpressure, shutdowns, bad input, and a
//! soak with crashes. Worker processes are re-executions of this binary, so it has its own
//! `main` (`harness = false` in Cargo.toml) that calls `stealpool::process::init()` first and
//! then runs the tests named below, one after another; arguments filter them by substring.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use stealpool::Priority;
use stealpool::process::ProcessPool;

/// Set when this binary is started as the "parent" of `parent_killed_children_exit`.
const ROLE_ENV: &str = "STEALPOOL_TEST_ROLE";

/// `(name, fn)` pairs for the test list, named after the functions.
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), $name as fn())),*]
    };
}

fn main() {
    stealpool::process::init();
    if std::env::var(ROLE_ENV).as_deref() == Ok("parent") {
        act_as_parent();
    }
    let tests: &[(&'static str, fn())] = tests![
        process_pool_as_the_contract_shows,
        round_trip_and_panics,
        abort_fails_one_task_and_the_rest_go_on,
        segfault_is_a_crash_named_by_its_signal,
        exit_code_is_a_crash_named_by_its_code,
        stack_overflow_is_a_crash,
        endless_loop_times_out_and_the_process_is_replaced,
        allocation_bomb_hits_the_address_space_limit,
        a_leaking_process_is_retired_past_the_memory_ceiling,
        max_tasks_per_process_recycles,
        niceness_applies_to_the_worker_processes,
        heartbeat_replaces_a_process_that_stopped_answering,
        restart_intensity_gives_up_with_a_clear_error,
        cancel_drops_a_queued_task_and_kills_a_running_one,
        high_lane_goes_first,
        try_spawn_gives_the_arguments_back_when_full,
        shutdowns_reap_every_child,
        shutdown_now_kills_running_tasks,
        handles_are_futures,
        bad_settings_are_build_errors,
        a_result_that_does_not_decode_is_a_codec_error,
        parent_killed_children_exit,
        soak_10000_tasks_with_1_percent_crashes,
    ];
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let start = Instant::now();
        // A hang fails the run (the process aborts) instead of stalling it.
        let _watchdog = common::watchdog(name, Duration::from_secs(120));
        let outcome = std::panic::catch_unwind(test);
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!(
            "test {name} ... {verdict} ({:.2} s)",
            start.elapsed().as_secs_f64()
        );
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(101);
    }
}

/// Does this run use AddressSanitizer? Told by `ASAN_OPTIONS`, which `.ci/run`'s ASan step
/// sets (the runtime's own symbols are not visible to `dlsym` in a static executable). ASan
/// owns SIGSEGV and stack overflows (it reports them and exits with code 1, where the tests
/// expect the signal), reserves terabytes of address space (no `RLIMIT_AS` leaves it room),
/// and CI fails on any ASan report: the tests that crash a worker that way skip themselves.
fn under_asan() -> bool {
    std::env::var_os("ASAN_OPTIONS").is_some()
}

/// Skips the calling test under ASan (see [`under_asan`]), saying so.
fn skip_under_asan(test: &str) -> bool {
    let skip = under_asan();
    if skip {
        println!("    ({test}: skipped under AddressSanitizer)");
    }
    skip
}

/// `../shared/API.md`, "Process pool", as written there (with `fib`'s argument smaller).
fn process_pool_as_the_contract_shows() {
    fn run() -> Result<(), stealpool::BuildError> {
        let pool = stealpool::process::ProcessPool::builder() // -> ProcessPoolBuilder
            .processes(4)
            .task_timeout(Duration::from_secs(30))
            .build()?; // -> Result<ProcessPool, BuildError>
        let h: stealpool::JoinHandle<u64> = pool.spawn(25u64, |n: u64| fib(n));
        let args = 10u64;
        let h2 = pool.spawn_with(Priority::High, args, fib);
        assert_eq!(pool.num_processes(), 4);
        assert_eq!(h.join().unwrap(), 75_025);
        assert_eq!(h2.join().unwrap(), 55);
        let m: stealpool::Metrics = pool.metrics();
        assert_eq!(m.completed(), 2);
        assert_eq!(m.workers_replaced(), 0);
        let err = pool
            .spawn((), |()| -> u8 { std::process::abort() })
            .join()
            .unwrap_err();
        assert!(err.is_crash() && !err.is_timeout());
        assert!(pool.metrics().to_string().contains("1 crash"));
        assert!(pool.shutdown_timeout(Duration::from_secs(60)));
        pool.shutdown();
        pool.shutdown_now();
        Ok(())
    }
    fn assert_pool<P: Clone + Send + Sync + std::fmt::Debug>() {}
    assert_pool::<ProcessPool>();
    run().unwrap();
}

fn procs(processes: usize) -> stealpool::process::ProcessPoolBuilder {
    ProcessPool::builder().processes(processes)
}

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn sleep_ms(ms: u64) -> u32 {
    std::thread::sleep(Duration::from_millis(ms));
    std::process::id()
}

fn my_pid(_: ()) -> u32 {
    std::process::id()
}

/// True when `pid` no longer exists, or is a zombie (dead, waiting for its new parent).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn round_trip_and_panics() {
    let pool = procs(2).build().unwrap();
    let handles: Vec<_> = (0..20u64).map(|n| pool.spawn(n, fib)).collect();
    for (n, h) in handles.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), fib(n as u64));
    }
    let text = pool
        .spawn(String::from("héllo"), |s: String| s.to_uppercase())
        .join()
        .unwrap();
    assert_eq!(text, "HÉLLO");
    let err = pool
        .spawn(7u32, |n: u32| -> u32 { panic!("bad input {n}") })
        .join()
        .unwrap_err();
    assert!(err.is_panic() && !err.is_crash(), "{err:?}");
    assert!(err.to_string().contains("bad input 7"), "{err}");
    // A panic does not cost the process.
    assert_eq!(pool.metrics().workers_replaced(), 0);
    assert_eq!(pool.spawn(10u64, fib).join().unwrap(), 55);
    let pid = pool.spawn((), my_pid).join().unwrap();
    assert_ne!(pid, std::process::id(), "the task ran in another process");
    pool.shutdown();
}

fn abort_fails_one_task_and_the_rest_go_on() {
    let pool = procs(1).build().unwrap();
    let before = pool.spawn((), my_pid).join().unwrap();
    let crash = pool.spawn((), |()| -> u32 { std::process::abort() });
    let queued: Vec<_> = (0..5u64).map(|n| pool.spawn(n, fib)).collect();
    let err = crash.join().unwrap_err();
    assert!(
        err.is_crash() && !err.is_timeout() && !err.is_panic(),
        "{err:?}"
    );
    assert!(err.to_string().contains("SIGABRT"), "{err}");
    for (n, h) in queued.into_iter().enumerate() {
        assert_eq!(h.join().unwrap(), fib(n as u64));
    }
    let after = pool.spawn((), my_pid).join().unwrap();
    assert_ne!(before, after, "the crashed process was replaced");
    assert!(gone(before));
    let m = pool.metrics();
    assert_eq!((m.crashes(), m.workers_replaced()), (1, 1));
    assert!(m.to_string().contains("1 crash"), "{m}");
    pool.shutdown();
}

fn segfault_is_a_crash_named_by_its_signal() {
    if skip_under_asan("segfault_is_a_crash_named_by_its_signal") {
        return;
    }
    let pool = procs(1).build().unwrap();
    let err = pool
        .spawn(0usize, |addr: usize| -> u8 {
            // SAFETY: none: this test means to crash its worker process with an invalid read.
            unsafe { std::ptr::read_volatile(addr as *const u8) }
        })
        .join()
        .unwrap_err();
    assert!(err.is_crash(), "{err:?}");
    assert!(err.to_string().contains("SIGSEGV"), "{err}");
    assert_eq!(pool.spawn(3u64, fib).join().unwrap(), 2);
    pool.shutdown();
}

fn exit_code_is_a_crash_named_by_its_code() {
    let pool = procs(1).build().unwrap();
    let before = pool.pids()[0].unwrap();
    let err = pool
        .spawn(3i32, |code: i32| -> () { std::process::exit(code) })
        .join()
        .unwrap_err();
    assert!(err.is_crash(), "{err:?}");
    assert!(err.to_string().contains("exited with code 3"), "{err}");
    // Replaced at once, not when the next task comes.
    let after = pool.pids()[0].expect("a new process is in the slot already");
    assert_ne!(before, after);
    assert_eq!(pool.spawn(4u64, fib).join().unwrap(), 3);
    pool.shutdown();
}

fn stack_overflow_is_a_crash() {
    if skip_under_asan("stack_overflow_is_a_crash") {
        return;
    }
    fn deep(n: u64) -> u64 {
        let pad = [n; 64];
        std::hint::black_box(&pad);
        if n == 0 {
            0
        } else {
            deep(n - 1) + std::hint::black_box(pad[1])
        }
    }
    let pool = procs(1).build().unwrap();
    let err = pool.spawn(u64::MAX, deep).join().unwrap_err();
    assert!(err.is_crash(), "{err:?}");
    assert_eq!(pool.spawn(5u64, fib).join().unwrap(), 5);
    pool.shutdown();
}

fn endless_loop_times_out_and_the_process_is_replaced() {
    let pool = procs(1)
        .task_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = pool
        .spawn((), |()| -> u64 {
            let mut x = 0u64;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        })
        .join()
        .unwrap_err();
    assert!(err.is_timeout() && !err.is_crash(), "{err:?}");
    assert!(err.to_string().contains("300ms"), "{err}");
    assert_eq!(pool.spawn(6u64, fib).join().unwrap(), 8);
    let m = pool.metrics();
    assert_eq!((m.timeouts(), m.crashes(), m.workers_replaced()), (1, 0, 1));
    pool.shutdown();
}

fn allocation_bomb_hits_the_address_space_limit() {
    if skip_under_asan("allocation_bomb_hits_the_address_space_limit") {
        return;
    }
    let pool = procs(1).address_space_limit(512 << 20).build().unwrap();
    let err = pool
        .spawn(4usize << 30, |bytes: usize| -> usize {
            let v = vec![1u8; bytes];
            v.len()
        })
        .join()
        .unwrap_err();
    assert!(err.is_crash(), "{err:?}");
    // Small allocations still work in the fresh process.
    assert_eq!(
        pool.spawn(1usize << 20, |b: usize| vec![0u8; b].len())
            .join()
            .unwrap(),
        1 << 20
    );
    pool.shutdown();
}

fn a_leaking_process_is_retired_past_the_memory_ceiling() {
    let pool = procs(1).max_resident_bytes(64 << 20).build().unwrap();
    let leaker = pool
        .spawn(128usize << 20, |bytes: usize| -> u32 {
            let v = vec![7u8; bytes];
            std::mem::forget(v);
            std::process::id()
        })
        .join()
        .unwrap();
    let next = pool.spawn((), my_pid).join().unwrap();
    assert_ne!(
        leaker, next,
        "the leaking process was retired after its task"
    );
    assert!(gone(leaker));
    assert!(
        pool.metrics().to_string().contains("1 retired"),
        "{}",
        pool.metrics()
    );
    // A process under the ceiling stays.
    assert_eq!(pool.spawn((), my_pid).join().unwrap(), next);
    pool.shutdown();
}

fn max_tasks_per_process_recycles() {
    let pool = procs(1).max_tasks_per_process(3).build().unwrap();
    let pids: Vec<u32> = (0..7)
        .map(|_| pool.spawn((), my_pid).join().unwrap())
        .collect();
    assert_eq!(pids[0], pids[1]);
    assert_eq!(pids[1], pids[2]);
    assert_ne!(pids[2], pids[3]);
    assert_eq!(pids[3], pids[5]);
    assert_ne!(pids[5], pids[6]);
    assert_eq!(pool.metrics().workers_replaced(), 2);
    pool.shutdown();
}

fn niceness_applies_to_the_worker_processes() {
    fn my_niceness(_: ()) -> i32 {
        // SAFETY: getpriority reads this process's niceness (who = 0); no memory is passed.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }
    // SAFETY: as above, for the test process itself.
    let mine = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let target = (mine + 7).min(19);
    let pool = procs(1).niceness(target).build().unwrap();
    assert_eq!(pool.spawn((), my_niceness).join().unwrap(), target);
    pool.shutdown();
}

fn heartbeat_replaces_a_process_that_stopped_answering() {
    let pool = procs(1)
        .heartbeat(Duration::from_millis(50), Duration::from_millis(200))
        .restart_intensity(100, Duration::from_secs(60))
        .build()
        .unwrap();
    // The task returns, and then its process freezes (SIGSTOP to itself): alive, silent.
    let frozen = pool
        .spawn((), |()| -> u32 {
            std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                // SAFETY: sends a signal to this very process; no memory is involved.
                unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) };
            });
            std::process::id()
        })
        .join()
        .unwrap();
    common::wait_for("the frozen process is replaced", || {
        pool.metrics().workers_replaced() >= 1
    });
    assert!(
        pool.metrics().to_string().contains("1 unresponsive"),
        "{}",
        pool.metrics()
    );
    assert!(gone(frozen));
    let next = pool.spawn((), my_pid).join().unwrap();
    assert_ne!(next, frozen);
    pool.shutdown();
}

fn restart_intensity_gives_up_with_a_clear_error() {
    let pool = procs(1)
        .restart_intensity(2, Duration::from_secs(3600))
        .build()
        .unwrap();
    for _ in 0..3 {
        let err = pool
            .spawn((), |()| -> () { std::process::abort() })
            .join()
            .unwrap_err();
        assert!(err.is_crash(), "{err:?}");
    }
    // The third crash was one too many: no process is started any more.
    let err = pool.spawn(1u64, fib).join().unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("restart_intensity"), "{err}");
    assert_eq!(pool.metrics().workers_replaced(), 2);
    pool.shutdown();
}

fn cancel_drops_a_queued_task_and_kills_a_running_one() {
    let pool = procs(1).build().unwrap();
    let running = pool.spawn(60_000u64, sleep_ms);
    let queued = pool.spawn(1u64, sleep_ms);
    common::wait_for("the sleeper runs", || pool.metrics().queued() == 1);
    assert!(queued.cancel(), "a queued task is dropped");
    assert!(queued.join().unwrap_err().is_cancelled());
    assert!(!running.cancel(), "a running task is not 'never run'");
    let err = running.join().unwrap_err();
    assert!(err.is_cancelled(), "{err:?}");
    // The killed process was replaced; the pool works on.
    assert_eq!(pool.spawn(7u64, fib).join().unwrap(), 13);
    assert_eq!(pool.metrics().workers_replaced(), 1);
    pool.shutdown();
}

fn high_lane_goes_first() {
    let pool = procs(1).build().unwrap();
    let blocker = pool.spawn(200u64, sleep_ms);
    common::wait_for("the blocker runs", || pool.metrics().queued() == 0);
    let low: Vec<_> = (0..3)
        .map(|_| pool.spawn_with(Priority::Low, (), |()| now_nanos()))
        .collect();
    let high = pool.spawn_with(Priority::High, (), |()| now_nanos());
    blocker.join().unwrap();
    let high = high.join().unwrap();
    for l in low {
        assert!(high < l.join().unwrap(), "High ran after a Low task");
    }
    pool.shutdown();
}

fn try_spawn_gives_the_arguments_back_when_full() {
    let pool = procs(1).max_queued(1).build().unwrap();
    let busy = pool.spawn(300u64, sleep_ms);
    common::wait_for("the first task runs", || pool.metrics().queued() == 0);
    let waiting = pool.try_spawn(5u64, fib).unwrap();
    let refused = pool.try_spawn(9u64, fib).unwrap_err();
    assert!(refused.is_full());
    assert_eq!(refused.into_inner(), 9, "the arguments come back");
    busy.join().unwrap();
    assert_eq!(waiting.join().unwrap(), 5);
    pool.shutdown();
    let refused = pool.try_spawn(1u64, fib).unwrap_err();
    assert!(refused.is_shutdown());
}

fn shutdowns_reap_every_child() {
    let pool = procs(2).build().unwrap();
    let pids: Vec<u32> = pool.pids().into_iter().map(Option::unwrap).collect();
    let h = pool.spawn(20u64, fib);
    pool.shutdown();
    assert_eq!(
        h.join().unwrap(),
        6765,
        "queued work ran before the shutdown ended"
    );
    for pid in pids {
        // Reaped by us: no zombie left behind.
        assert!(
            std::fs::metadata(format!("/proc/{pid}")).is_err(),
            "worker process {pid} still exists"
        );
    }
    assert!(pool.spawn(1u64, fib).join().unwrap_err().is_cancelled());

    let pool = procs(1).build().unwrap();
    let pid = pool.pids()[0].unwrap();
    let slow = pool.spawn(60_000u64, sleep_ms);
    assert!(!pool.shutdown_timeout(Duration::from_millis(200)));
    assert!(slow.join().unwrap_err().is_cancelled());
    assert!(std::fs::metadata(format!("/proc/{pid}")).is_err());

    // Dropping the last clone shuts down the same way.
    let pool = procs(1).build().unwrap();
    let pid = pool.pids()[0].unwrap();
    let h = pool.spawn(10u64, fib);
    drop(pool);
    assert_eq!(h.join().unwrap(), 55);
    assert!(std::fs::metadata(format!("/proc/{pid}")).is_err());
}

fn shutdown_now_kills_running_tasks() {
    let pool = procs(1).build().unwrap();
    let running = pool.spawn(60_000u64, sleep_ms);
    let queued = pool.spawn(1u64, fib);
    common::wait_for("the sleeper runs", || pool.metrics().queued() == 1);
    let start = Instant::now();
    pool.shutdown_now();
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "shutdown_now waited for the sleeper"
    );
    assert!(running.join().unwrap_err().is_cancelled());
    assert!(queued.join().unwrap_err().is_cancelled());
}

fn handles_are_futures() {
    let pool = procs(1).build().unwrap();
    let h = pool.spawn(12u64, fib);
    assert_eq!(futures::executor::block_on(h).unwrap(), 144);
    pool.shutdown();
}

fn bad_settings_are_build_errors() {
    let cases: Vec<(stealpool::process::ProcessPoolBuilder, &str)> = vec![
        (procs(0), "processes"),
        (procs(100_000), "processes"),
        (procs(1).task_timeout(Duration::ZERO), "task_timeout"),
        (procs(1).max_tasks_per_process(0), "max_tasks_per_process"),
        (procs(1).max_resident_bytes(10), "max_resident_bytes"),
        (procs(1).address_space_limit(4096), "address_space_limit"),
        (procs(1).niceness(-5), "niceness"),
        (procs(1).niceness(40), "niceness"),
        (
            procs(1).heartbeat(Duration::ZERO, Duration::from_secs(1)),
            "heartbeat",
        ),
        (
            procs(1).restart_intensity(0, Duration::from_secs(1)),
            "restart_intensity",
        ),
        (procs(1).startup_timeout(Duration::ZERO), "startup_timeout"),
        (procs(1).max_queued(0), "max_queued"),
    ];
    for (builder, setting) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.setting(), setting, "{err}");
        assert!(err.to_string().starts_with(setting), "{err}");
    }
}

/// Encodes as a `u8`, and refuses to decode one above 10.
#[derive(Debug)]
struct Picky(u8);

impl Serialize for Picky {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.0)
    }
}

impl<'de> Deserialize<'de> for Picky {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u8::deserialize(d)?;
        if v > 10 {
            return Err(serde::de::Error::custom(format!("{v} is above 10")));
        }
        Ok(Picky(v))
    }
}

fn a_result_that_does_not_decode_is_a_codec_error() {
    let pool = procs(1).build().unwrap();
    let err = pool.spawn(200u8, Picky).join().unwrap_err();
    assert!(err.is_codec(), "{err:?}");
    // postcard keeps the failing type, not a custom error's text.
    assert!(
        err.to_string().contains("did not decode as process::Picky"),
        "{err}"
    );
    // Arguments that do not decode in the child: the same error, and the process lives on.
    let err = pool.spawn(Picky(50), |p: Picky| p.0).join().unwrap_err();
    assert!(err.is_codec(), "{err:?}");
    assert!(err.to_string().contains("in the worker process"), "{err}");
    assert_eq!(pool.spawn(Picky(3), |p: Picky| p.0).join().unwrap(), 3);
    assert_eq!(pool.metrics().workers_replaced(), 0);
    pool.shutdown();
}

/// The other side of `parent_killed_children_exit`: a pool whose pids go to stdout, then a
/// long sleep while the test kills us.
fn act_as_parent() -> ! {
    let pool = procs(2).build().unwrap();
    let _running = pool.spawn(60_000u64, sleep_ms);
    std::thread::sleep(Duration::from_millis(100));
    // The workers are children of the driver threads that started them.
    let me = std::process::id();
    let mut pids = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{me}/task"))
        .unwrap()
        .flatten()
    {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            pids.extend(list.split_whitespace().map(String::from));
        }
    }
    println!("{}", pids.join(" "));
    std::thread::sleep(Duration::from_secs(60));
    std::process::exit(0)
}

fn parent_killed_children_exit() {
    let mut parent = Command::new(std::env::current_exe().unwrap())
        .env(ROLE_ENV, "parent")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pids: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(
        pids.len(),
        2,
        "the parent has two worker processes: {line:?}"
    );
    assert!(pids.iter().all(|&p| !gone(p)));
    parent.kill().unwrap(); // SIGKILL: no destructor, no shutdown
    parent.wait().unwrap();
    let killed = Instant::now();
    common::wait_for("the orphaned workers exit", || {
        pids.iter().all(|&p| gone(p))
    });
    println!(
        "    (the workers were gone {:.0} ms after the parent's SIGKILL)",
        killed.elapsed().as_secs_f64() * 1e3
    );
}

fn soak_10000_tasks_with_1_percent_crashes() {
    let pool = procs(2)
        .restart_intensity(1000, Duration::from_secs(1))
        .build()
        .unwrap();
    let handles: Vec<_> = (0..10_000u64)
        .map(|i| {
            pool.spawn(i, |i: u64| -> u64 {
                if i % 100 == 42 {
                    std::process::abort();
                }
                i * 2
            })
        })
        .collect();
    let (mut ok, mut crashed) = (0, 0);
    for (i, h) in handles.into_iter().enumerate() {
        let i = i as u64;
        match h.join() {
            Ok(v) => {
                assert_eq!(v, i * 2);
                assert_ne!(i % 100, 42);
                ok += 1;
            }
            Err(e) => {
                assert!(e.is_crash(), "task {i}: {e:?}");
                assert_eq!(i % 100, 42, "task {i} failed but should not have");
                crashed += 1;
            }
        }
    }
    assert_eq!((ok, crashed), (9_900, 100));
    let m = pool.metrics();
    assert_eq!(m.crashes(), 100);
    assert_eq!(m.workers_replaced(), 100);
    assert_eq!(m.completed(), 10_000);
    pool.shutdown();
}
