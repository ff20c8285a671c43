//! `PoolBuilder`: settings are checked by `build`, errors name the setting, and the settings
//! take effect. (STEALPOOL_NUM_THREADS has its own test binary: env_num_threads.rs.)

mod common;

use std::collections::BTreeSet;
use std::error::Error;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use stealpool::{MAX_THREADS, MIN_STACK_SIZE, WorkerPool};

#[test]
fn zero_threads_is_an_error_naming_num_threads() {
    let _watchdog = common::guard("zero_threads_is_an_error_naming_num_threads");
    let err = WorkerPool::builder().num_threads(0).build().unwrap_err();
    assert_eq!(err.setting(), "num_threads");
    assert!(err.to_string().contains("num_threads"), "Display: {err}");
    assert!(err.source().is_none());
    assert!(!format!("{err:?}").is_empty());
}

#[test]
fn too_many_threads_is_an_error_naming_num_threads() {
    let _watchdog = common::guard("too_many_threads_is_an_error_naming_num_threads");
    let err = WorkerPool::builder()
        .num_threads(MAX_THREADS + 1)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "num_threads");
    assert!(err.to_string().contains("num_threads"), "Display: {err}");

    let err = WorkerPool::builder()
        .num_threads(usize::MAX)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "num_threads");
}

#[test]
fn a_tiny_stack_is_an_error_naming_stack_size() {
    let _watchdog = common::guard("a_tiny_stack_is_an_error_naming_stack_size");
    for bytes in [0, 1024, MIN_STACK_SIZE - 1] {
        let err = WorkerPool::builder()
            .num_threads(1)
            .stack_size(bytes)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "stack_size", "stack_size({bytes})");
        assert!(err.to_string().contains("stack_size"), "Display: {err}");
        assert!(err.source().is_none());
    }
}

#[test]
fn the_smallest_allowed_stack_builds_and_runs_a_task() {
    let _watchdog = common::guard("the_smallest_allowed_stack_builds_and_runs_a_task");
    let pool = WorkerPool::builder()
        .num_threads(2)
        .stack_size(MIN_STACK_SIZE)
        .build()
        .expect("MIN_STACK_SIZE is allowed");
    let handle = pool.spawn(|| (1..=100u64).sum::<u64>());
    assert_eq!(handle.join().unwrap(), 5050);
    pool.shutdown();
}

#[test]
fn a_large_stack_is_usable() {
    let _watchdog = common::guard("a_large_stack_is_usable");
    // 8 MiB stacks; a task puts 1 MiB on its stack (the default 2 MiB would also hold it,
    // so this checks the setting is accepted and works, not that it is exact).
    let pool = WorkerPool::builder()
        .num_threads(1)
        .stack_size(8 << 20)
        .build()
        .unwrap();
    let handle = pool.spawn(|| {
        let buf = [1u8; 1 << 20];
        std::hint::black_box(&buf)
            .iter()
            .map(|&b| u64::from(b))
            .sum::<u64>()
    });
    assert_eq!(handle.join().unwrap(), 1 << 20);
    pool.shutdown();
}

#[test]
fn num_threads_reports_the_width() {
    let _watchdog = common::guard("num_threads_reports_the_width");
    for width in [1, 2, 3, 5] {
        let pool = WorkerPool::builder().num_threads(width).build().unwrap();
        assert_eq!(pool.num_threads(), width);
        assert_eq!(pool.clone().num_threads(), width);
        pool.shutdown();
        assert_eq!(pool.num_threads(), width, "after shutdown");
    }
}

/// Runs `width` tasks that meet at a barrier (so every worker runs one) and returns what each
/// saw as (thread name, worker index).
fn one_task_per_worker(pool: &WorkerPool, width: usize) -> Vec<(Option<String>, Option<usize>)> {
    let barrier = Arc::new(Barrier::new(width));
    let handles: Vec<_> = (0..width)
        .map(|_| {
            let barrier = barrier.clone();
            pool.spawn(move || {
                barrier.wait();
                common::location()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| common::join_within(h, "barrier task").unwrap())
        .collect()
}

#[test]
fn thread_names_come_from_the_builder() {
    let _watchdog = common::guard("thread_names_come_from_the_builder");
    let pool = WorkerPool::builder()
        .num_threads(3)
        .thread_name(|i| format!("tn-test-{i}"))
        .build()
        .unwrap();
    let names: BTreeSet<String> = one_task_per_worker(&pool, 3)
        .iter()
        .map(|loc| {
            common::assert_on_pool(loc, "tn-test-", 3);
            loc.0.clone().unwrap()
        })
        .collect();
    let expected: BTreeSet<String> = (0..3).map(|i| format!("tn-test-{i}")).collect();
    assert_eq!(names, expected);

    // Plain tasks see one of those names too.
    for _ in 0..50 {
        let name = pool
            .spawn(|| std::thread::current().name().map(str::to_owned))
            .join()
            .unwrap()
            .expect("workers are named");
        assert!(expected.contains(&name), "unexpected thread name {name:?}");
    }
    pool.shutdown();
}

#[test]
fn default_thread_names() {
    let _watchdog = common::guard("default_thread_names");
    let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    for loc in one_task_per_worker(&pool, 2) {
        common::assert_on_pool(&loc, "stealpool-", 2);
    }
    pool.shutdown();
}

#[test]
fn the_largest_width_builds() {
    let _watchdog = common::guard("the_largest_width_builds");
    // MAX_THREADS threads with the smallest stacks: all start, run work, and shut down.
    let pool = WorkerPool::builder()
        .num_threads(MAX_THREADS)
        .stack_size(MIN_STACK_SIZE)
        .build()
        .expect("MAX_THREADS is allowed");
    assert_eq!(pool.num_threads(), MAX_THREADS);
    let handles: Vec<_> = (0..100)
        .map(|_| pool.spawn(stealpool::current_thread_index))
        .collect();
    for handle in handles {
        let index = handle.join().unwrap().expect("on a worker");
        assert!(index < MAX_THREADS);
    }
    pool.shutdown();
}

#[test]
fn builder_and_pool_implement_debug() {
    let _watchdog = common::guard("builder_and_pool_implement_debug");
    let builder = WorkerPool::builder()
        .num_threads(2)
        .thread_name(|i| format!("dbg-{i}"));
    assert!(format!("{builder:?}").contains("PoolBuilder"));
    let pool = builder.build().unwrap();
    assert!(format!("{pool:?}").contains("WorkerPool"));
    pool.shutdown();
}

/// A `thread_name` function that panics on the third worker: the panic reaches the caller of
/// `build`, and the two workers already started are ended, not leaked.
#[test]
fn a_panicking_thread_name_leaks_no_threads() {
    let result = std::panic::catch_unwind(|| {
        WorkerPool::builder()
            .num_threads(4)
            .thread_name(|i| {
                assert!(i < 2, "no name for worker {i}");
                format!("name-panic-{i}")
            })
            .build()
    });
    assert!(
        result.is_err(),
        "the name function's panic reaches the caller"
    );
    // `build` joined the started workers before the panic went on; the kernel may take a
    // moment longer to drop their /proc entries.
    common::wait_for_threads_gone("name-panic-");
}

#[test]
fn compensate_stalls_without_a_stall_threshold_is_an_error_naming_compensate_stalls() {
    let _watchdog = common::guard(
        "compensate_stalls_without_a_stall_threshold_is_an_error_naming_compensate_stalls",
    );
    for extra in [1, 4] {
        let err = WorkerPool::builder()
            .num_threads(2)
            .compensate_stalls(extra)
            .build()
            .unwrap_err();
        assert_eq!(
            err.setting(),
            "compensate_stalls",
            "compensate_stalls({extra})"
        );
        let message = err.to_string();
        assert!(
            message.starts_with("compensate_stalls"),
            "Display: {message}"
        );
        assert!(
            message.contains("stall_threshold"),
            "the message says what is missing: {message}"
        );
        assert!(err.source().is_none());
    }
    // With a threshold, the same setting builds.
    let pool = WorkerPool::builder()
        .num_threads(2)
        .stall_threshold(Duration::from_secs(5))
        .compensate_stalls(1)
        .build()
        .expect("compensate_stalls with a stall_threshold is valid");
    assert_eq!(pool.num_threads(), 2);
    assert_eq!(pool.spawn(|| 6 * 7).join().unwrap(), 42);
    pool.shutdown();
}

#[test]
fn compensate_stalls_zero_needs_no_stall_threshold() {
    let _watchdog = common::guard("compensate_stalls_zero_needs_no_stall_threshold");
    let pool = WorkerPool::builder()
        .num_threads(2)
        .compensate_stalls(0)
        .build()
        .expect("compensate_stalls(0) means no compensation, which needs no threshold");
    assert_eq!(pool.num_threads(), 2);
    let handles: Vec<_> = (0..50)
        .map(|_| pool.spawn(stealpool::current_thread_index))
        .collect();
    for handle in handles {
        let index = handle.join().unwrap();
        assert!(matches!(index, Some(0 | 1)), "ran on {index:?}");
    }
    pool.shutdown();
}

#[test]
fn compensate_stalls_may_not_take_the_pool_past_max_threads() {
    let _watchdog = common::guard("compensate_stalls_may_not_take_the_pool_past_max_threads");
    for (threads, extra) in [
        (MAX_THREADS, 1),
        (2, MAX_THREADS - 1),
        (1, MAX_THREADS),
        (1, usize::MAX),
    ] {
        let err = WorkerPool::builder()
            .num_threads(threads)
            .stall_threshold(Duration::from_secs(5))
            .compensate_stalls(extra)
            .build()
            .unwrap_err();
        let what = format!("num_threads({threads}) with compensate_stalls({extra})");
        assert_eq!(err.setting(), "compensate_stalls", "{what}");
        assert!(
            err.to_string().starts_with("compensate_stalls"),
            "{what}: {err}"
        );
        assert!(err.source().is_none());
    }
    // Without a threshold it is an error naming the same setting.
    let err = WorkerPool::builder()
        .num_threads(MAX_THREADS)
        .compensate_stalls(1)
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "compensate_stalls");
    // Right at the limit it builds (the temporary workers' threads start only on a stall).
    let pool = WorkerPool::builder()
        .num_threads(2)
        .stall_threshold(Duration::from_millis(40))
        .compensate_stalls(MAX_THREADS - 2)
        .build()
        .expect("num_threads plus compensate_stalls may reach MAX_THREADS");
    assert_eq!(pool.num_threads(), 2);
    assert_eq!(pool.spawn(|| 6 * 7).join().unwrap(), 42);
    pool.shutdown();
}

#[test]
fn a_restart_intensity_that_allows_nothing_is_an_error_naming_restart_intensity() {
    let _watchdog = common::guard(
        "a_restart_intensity_that_allows_nothing_is_an_error_naming_restart_intensity",
    );
    for (max, period) in [(0, Duration::from_secs(1)), (1, Duration::ZERO)] {
        let err = WorkerPool::builder()
            .restart_intensity(max, period)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "restart_intensity", "({max}, {period:?})");
        assert!(err.to_string().starts_with("restart_intensity"), "{err}");
    }
    assert!(
        WorkerPool::builder()
            .num_threads(1)
            .restart_intensity(1, Duration::from_nanos(1))
            .build()
            .is_ok()
    );
}

/// The CPUs the calling thread may run on (Linux).
#[cfg(target_os = "linux")]
fn cpus_of_this_thread() -> Vec<usize> {
    // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` has the size passed; pid 0 is the calling thread.
    let status = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(status, 0, "{}", std::io::Error::last_os_error());
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below the set's capacity.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// The CPUs each worker of a pool built by `builder` may run on, by slot, as its start hook
/// saw them.
#[cfg(target_os = "linux")]
fn worker_cpus(builder: stealpool::PoolBuilder) -> Vec<(usize, Vec<usize>)> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let pool = builder
        .on_thread_start(move |index| sink.lock().unwrap().push((index, cpus_of_this_thread())))
        .build()
        .unwrap();
    pool.shutdown();
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    seen
}

#[cfg(target_os = "linux")]
#[test]
fn pinned_workers_each_run_on_one_cpu_of_the_process_in_turn() {
    let _watchdog = common::guard("pinned_workers_each_run_on_one_cpu_of_the_process_in_turn");
    let process = cpus_of_this_thread();
    let width = process.len() + 1; // one more than the CPUs, to see the wrap-around
    let pinned = worker_cpus(WorkerPool::builder().num_threads(width).pin_threads(true));
    let expected: Vec<(usize, Vec<usize>)> = (0..width)
        .map(|i| (i, vec![process[i % process.len()]]))
        .collect();
    assert_eq!(pinned, expected);
    // Off by default: a worker may run on every CPU of the process.
    let unpinned = worker_cpus(WorkerPool::builder().num_threads(1));
    assert_eq!(unpinned, [(0, process)]);
}
