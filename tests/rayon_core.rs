//! The parts of rayon-core's surface a rayon user reaches for first: `current_num_threads`,
//! `yield_now` and `yield_local`, and `join_context`. (The global pool's set-up and shutdown
//! are in `global_pool.rs`, a binary of its own, since they change process-wide state.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{join_within, pool};
use stealpool::{Priority, Yield};

#[test]
fn current_num_threads_is_the_width_of_the_pool_the_caller_runs_on() {
    let _watchdog =
        common::guard("current_num_threads_is_the_width_of_the_pool_the_caller_runs_on");
    for width in [1, 3] {
        let pool = pool(width);
        assert_eq!(pool.install(stealpool::current_num_threads), width);
        let from_a_task = pool.spawn(stealpool::current_num_threads);
        assert_eq!(join_within(from_a_task, "a task").unwrap(), width);
    }
}

#[test]
fn yield_now_lets_urgent_work_in_on_a_one_thread_pool() {
    let _watchdog = common::guard("yield_now_lets_urgent_work_in_on_a_one_thread_pool");
    let pool = pool(1);
    let done = Arc::new(AtomicBool::new(false));
    let seen = done.clone();
    let (started_tx, started) = std::sync::mpsc::channel();
    let long = pool.spawn_with(Priority::Low, move || {
        started_tx.send(()).unwrap();
        let mut executed = 0;
        while !seen.load(Ordering::SeqCst) {
            if stealpool::yield_now() == Some(Yield::Executed) {
                executed += 1;
            }
        }
        executed
    });
    started.recv().unwrap();
    // Queued behind the only worker's task: it can run only if that task yields.
    let urgent = pool.spawn_with(Priority::High, move || {
        done.store(true, Ordering::SeqCst);
        stealpool::current_priority()
    });
    assert_eq!(
        join_within(urgent, "the urgent task").unwrap(),
        Some(Priority::High)
    );
    assert_eq!(join_within(long, "the yielding task").unwrap(), 1);
}

#[test]
fn yield_now_and_yield_local_say_idle_with_nothing_queued_and_none_off_the_pool() {
    let _watchdog = common::guard(
        "yield_now_and_yield_local_say_idle_with_nothing_queued_and_none_off_the_pool",
    );
    assert_eq!(stealpool::yield_now(), None);
    assert_eq!(stealpool::yield_local(), None);
    let pool = pool(1);
    assert_eq!(pool.install(stealpool::yield_now), Some(Yield::Idle));
    assert_eq!(pool.install(stealpool::yield_local), Some(Yield::Idle));
}

#[test]
fn yield_local_runs_only_what_waits_in_the_workers_own_deques() {
    let _watchdog = common::guard("yield_local_runs_only_what_waits_in_the_workers_own_deques");
    let pool = Arc::new(pool(1));
    let outside = pool.clone();
    let results = pool.install(move || {
        // From outside: into the injector, which yield_local does not look at.
        let injected = std::thread::spawn(move || outside.spawn(|| "injected"))
            .join()
            .unwrap();
        let first = stealpool::yield_local();
        // Spawned here: onto this worker's own deque.
        let own = stealpool::spawn(|| "own");
        let second = stealpool::yield_local();
        let own_done = own.is_finished();
        (
            first,
            second,
            own_done,
            injected.is_finished(),
            own,
            injected,
        )
    });
    let (first, second, own_done, injected_done, own, injected) = results;
    assert_eq!(
        first,
        Some(Yield::Idle),
        "the injected task is not the worker's own"
    );
    assert_eq!(second, Some(Yield::Executed));
    assert!(own_done);
    assert!(!injected_done);
    assert_eq!(join_within(own, "own").unwrap(), "own");
    assert_eq!(join_within(injected, "injected").unwrap(), "injected");
}

#[test]
fn join_context_says_which_closure_migrated() {
    let _watchdog = common::guard("join_context_says_which_closure_migrated");
    // Off the pool: both count as migrated.
    assert_eq!(
        stealpool::join_context(|ctx| ctx.migrated(), |ctx| ctx.migrated()),
        (true, true)
    );
    // On a one-thread pool nothing can migrate.
    let single = pool(1);
    assert_eq!(
        single.install(|| stealpool::join_context(|ctx| ctx.migrated(), |ctx| ctx.migrated())),
        (false, false)
    );
    // On two threads, `b` migrates when the other worker takes it: `a` waits for that,
    // joining meanwhile so that the waiting worker shares `b` when asked.
    let pair = pool(2);
    let (a, b) = pair.install(|| {
        let taken = AtomicBool::new(false);
        stealpool::join_context(
            |ctx| {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !taken.load(Ordering::SeqCst) && Instant::now() < deadline {
                    stealpool::join(|| (), || ());
                }
                ctx.migrated()
            },
            |ctx| {
                taken.store(true, Ordering::SeqCst);
                ctx.migrated()
            },
        )
    });
    assert!(!a, "a runs on the caller");
    assert!(b, "b ran on the other worker");
}
