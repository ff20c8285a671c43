//! `stealpool::isolate`: a worker waiting inside a region runs only the region's work (rayon
//! issue #592). Each test either counts "a task ran on a thread that holds the lock" (the
//! mechanism of the deadlock, counted without deadlocking) or holds a real `Mutex` under a
//! watchdog (`common::join_within`), so a regression fails instead of hanging.

mod common;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{join_within, pool, wait_for};
use stealpool::{Priority, WorkerPool};

std::thread_local! {
    /// This thread runs a task that "holds the lock".
    static HOLDS: Cell<bool> = const { Cell::new(false) };
}

/// Runs `body` as if holding a lock: a task that starts on this thread meanwhile is the
/// #592 deadlock.
fn holding<R>(body: impl FnOnce() -> R) -> R {
    HOLDS.with(|h| h.set(true));
    let r = body();
    HOLDS.with(|h| h.set(false));
    r
}

/// An unrelated task: counts a violation if it starts on a thread that holds the lock.
fn unrelated(
    violations: &Arc<AtomicUsize>,
    ran: &Arc<AtomicUsize>,
) -> impl FnOnce() + Send + use<> {
    let violations = violations.clone();
    let ran = ran.clone();
    move || {
        if HOLDS.with(Cell::get) {
            violations.fetch_add(1, Ordering::SeqCst);
        }
        ran.fetch_add(1, Ordering::SeqCst);
    }
}

/// Spin-work that takes a little while, so that waits really happen.
fn work(micros: u64) {
    let end = Instant::now() + Duration::from_micros(micros);
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// Spins until `started`, joining as it goes: a join is where a worker shares its pending
/// join frames with a worker that asked for work (see the lazy sharing in `stealpool::join`).
fn wait_for_thief(started: &AtomicBool) {
    while !started.load(Ordering::SeqCst) {
        stealpool::join(|| (), || ());
    }
}

/// One worker. A task "holds the lock" and waits for a scope of 16 jobs while unrelated
/// `High` and `Normal` tasks are queued from outside. Returns how many unrelated tasks ran
/// on the holder's thread while it held the lock.
fn one_thread_pattern(isolated: bool) -> usize {
    let pool = pool(1);
    let violations = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let queued = Arc::new(AtomicBool::new(false));
    let holder = {
        let queued = queued.clone();
        pool.spawn(move || {
            // Wait until the unrelated work is queued behind this task.
            while !queued.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            holding(|| {
                let scope = || {
                    stealpool::scope(|s| {
                        for _ in 0..16 {
                            s.spawn(|_| work(20));
                        }
                    })
                };
                if isolated {
                    stealpool::isolate(scope)
                } else {
                    scope()
                }
            })
        })
    };
    let mut others = Vec::new();
    for i in 0..32 {
        let lane = if i % 2 == 0 {
            Priority::High
        } else {
            Priority::Normal
        };
        others.push(pool.spawn_with(lane, unrelated(&violations, &ran)));
    }
    queued.store(true, Ordering::SeqCst);
    join_within(holder, "the lock holder").unwrap();
    for h in others {
        join_within(h, "an unrelated task").unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), 32);
    violations.load(Ordering::SeqCst)
}

#[test]
fn one_thread_an_isolated_wait_runs_no_unrelated_task() {
    assert_eq!(one_thread_pattern(true), 0);
}

/// The bug `isolate` is for, and the decision that waits are not isolated by default: the
/// same pattern without `isolate` starts unrelated tasks on the holder's thread (the `High`
/// ones go first at every task boundary, waits included).
#[test]
fn one_thread_a_plain_wait_runs_unrelated_tasks() {
    assert!(one_thread_pattern(false) > 0);
}

/// Two workers. Worker A holds the lock and joins; worker B takes the join's other side and
/// keeps it busy until unrelated `High` tasks are queued from outside and A has had the
/// chance to pick them up while it waits (or 200 ms passed). Returns the violations.
fn two_thread_pattern(isolated: bool) -> usize {
    let pool = Arc::new(pool(2));
    let violations = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let b_started = Arc::new(AtomicBool::new(false));
    let submitted = Arc::new(AtomicBool::new(false));
    let holder = {
        let (b_started, submitted, ran) = (b_started.clone(), submitted.clone(), ran.clone());
        pool.spawn(move || {
            let a_thread = std::thread::current().id();
            holding(|| {
                let body = || {
                    stealpool::join(
                        || {
                            // Until the other side has moved to worker B.
                            wait_for_thief(&b_started);
                        },
                        || {
                            if std::thread::current().id() == a_thread {
                                return; // not taken by B: nothing to wait for
                            }
                            b_started.store(true, Ordering::SeqCst);
                            while !submitted.load(Ordering::SeqCst) {
                                std::hint::spin_loop();
                            }
                            let end = Instant::now() + Duration::from_millis(200);
                            while ran.load(Ordering::SeqCst) == 0 && Instant::now() < end {
                                std::hint::spin_loop();
                            }
                        },
                    )
                };
                if isolated {
                    stealpool::isolate(body)
                } else {
                    body()
                }
            })
        })
    };
    wait_for("worker B to take the join's other side", || {
        b_started.load(Ordering::SeqCst)
    });
    let others: Vec<_> = (0..8)
        .map(|_| pool.spawn_with(Priority::High, unrelated(&violations, &ran)))
        .collect();
    submitted.store(true, Ordering::SeqCst);
    join_within(holder, "the lock holder").unwrap();
    for h in others {
        join_within(h, "an unrelated task").unwrap();
    }
    violations.load(Ordering::SeqCst)
}

#[test]
fn two_threads_an_isolated_wait_runs_no_unrelated_task() {
    assert_eq!(two_thread_pattern(true), 0);
}

#[test]
fn two_threads_a_plain_wait_runs_unrelated_tasks() {
    assert!(two_thread_pattern(false) > 0);
}

/// The same isolation holds for the worker that took a region's job: worker B runs the
/// join's other side, which waits on another pool, while unrelated `High` tasks are queued;
/// B must not start them inside that wait.
#[test]
fn a_thief_waits_in_isolation_inside_a_regions_job() {
    let pool = Arc::new(pool(2));
    let other = Arc::new(common::pool(1));
    let violations = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let b_started = Arc::new(AtomicBool::new(false));
    let submitted = Arc::new(AtomicBool::new(false));
    let holder = {
        let (b_started, submitted, ran) = (b_started.clone(), submitted.clone(), ran.clone());
        let other = other.clone();
        pool.spawn(move || {
            let a_thread = std::thread::current().id();
            stealpool::isolate(|| {
                stealpool::join(
                    || wait_for_thief(&b_started),
                    || {
                        if std::thread::current().id() == a_thread {
                            return;
                        }
                        holding(|| {
                            b_started.store(true, Ordering::SeqCst);
                            // B waits here for the other pool: a wait inside the region.
                            other.install(|| {
                                while !submitted.load(Ordering::SeqCst) {
                                    std::hint::spin_loop();
                                }
                                let end = Instant::now() + Duration::from_millis(200);
                                while ran.load(Ordering::SeqCst) == 0 && Instant::now() < end {
                                    std::hint::spin_loop();
                                }
                            })
                        })
                    },
                )
            })
        })
    };
    wait_for("worker B to take the join's other side", || {
        b_started.load(Ordering::SeqCst)
    });
    let others: Vec<_> = (0..8)
        .map(|_| pool.spawn_with(Priority::High, unrelated(&violations, &ran)))
        .collect();
    submitted.store(true, Ordering::SeqCst);
    join_within(holder, "the region").unwrap();
    for h in others {
        join_within(h, "an unrelated task").unwrap();
    }
    assert_eq!(violations.load(Ordering::SeqCst), 0);
}

/// rayon #592 itself, with a real `Mutex`: every task holds one lock across a join and a
/// scope. Without `isolate`, a waiting worker may start another of these tasks, which then
/// blocks on the lock its own thread holds; the watchdog turns that into a failure.
fn real_mutex(threads: usize) {
    let pool = pool(threads);
    let lock = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..64)
        .map(|i| {
            let lock = lock.clone();
            let priority = if i % 3 == 0 {
                Priority::High
            } else {
                Priority::Normal
            };
            pool.spawn_with(priority, move || {
                let mut guard = lock.lock().unwrap();
                let (a, b) = stealpool::isolate(|| {
                    stealpool::join(
                        || {
                            work(50);
                            1
                        },
                        || {
                            stealpool::scope(|s| {
                                for _ in 0..4 {
                                    s.spawn(|_| work(20));
                                }
                            });
                            2
                        },
                    )
                });
                *guard += a + b;
            })
        })
        .collect();
    for h in handles {
        join_within(h, "a task holding the lock across a join").unwrap();
    }
    assert_eq!(*lock.lock().unwrap(), 64 * 3);
}

#[test]
fn a_mutex_held_across_isolated_joins_does_not_deadlock_on_one_thread() {
    real_mutex(1);
}

#[test]
fn a_mutex_held_across_isolated_joins_does_not_deadlock_on_two_threads() {
    real_mutex(2);
}

/// Inside an inner region the worker does not run the outer region's queued jobs; once back
/// in the outer region, it runs what the inner one left queued.
#[test]
fn regions_nest() {
    let pool = pool(1);
    let result = pool.install(|| {
        stealpool::isolate(|| {
            let outer_ran = Arc::new(AtomicBool::new(false));
            let outer_job = {
                let outer_ran = outer_ran.clone();
                stealpool::spawn(move || outer_ran.store(true, Ordering::SeqCst))
            };
            let leftover = stealpool::isolate(|| {
                stealpool::scope(|s| {
                    for _ in 0..8 {
                        s.spawn(|_| {
                            assert!(
                                !outer_ran.load(Ordering::SeqCst),
                                "the inner region's wait ran the outer region's job"
                            );
                            work(10);
                        });
                    }
                });
                stealpool::spawn(|| 5) // left queued by the inner region
            });
            assert!(!outer_ran.load(Ordering::SeqCst));
            // In the outer region: both are the region's work and run on this worker.
            let five = leftover.join().unwrap();
            outer_job.join().unwrap();
            five
        })
    });
    assert_eq!(result, 5);
}

/// Priority lanes apply inside a region: waiting on the oldest `Low` task, the worker runs
/// the region's `High` tasks first.
#[test]
fn lanes_apply_inside_a_region() {
    let pool = Arc::new(pool(1));
    let order = Arc::new(Mutex::new(Vec::new()));
    let inner = pool.clone();
    let order2 = order.clone();
    pool.install(move || {
        stealpool::isolate(|| {
            let mut handles = Vec::new();
            for lane in [Priority::Low, Priority::Low, Priority::High, Priority::High] {
                let order = order2.clone();
                handles.push(inner.spawn_with(lane, move || order.lock().unwrap().push(lane)));
            }
            for h in handles {
                h.join().unwrap();
            }
        })
    });
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order,
        [Priority::High, Priority::High, Priority::Low, Priority::Low]
    );
}

/// A panic ends the region: it unwinds out of `isolate`, and afterwards the worker's waits
/// help with any work again.
#[test]
fn a_panic_ends_the_region() {
    let pool = pool(1);
    let queued = Arc::new(AtomicBool::new(false));
    let after = {
        let queued = queued.clone();
        pool.spawn(move || {
            let caught = std::panic::catch_unwind(|| {
                stealpool::isolate(|| -> () { panic!("inside the region") })
            });
            assert!(caught.is_err());
            while !queued.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            // Not in a region any more: yielding runs the task queued from outside.
            stealpool::yield_now()
        })
    };
    let outside = pool.spawn(|| 1);
    queued.store(true, Ordering::SeqCst);
    assert_eq!(
        join_within(after, "the task").unwrap(),
        Some(stealpool::Yield::Executed)
    );
    assert!(outside.is_finished());
}

/// Inside a region `yield_now` runs only the region's work.
#[test]
fn yield_inside_a_region_runs_only_the_regions_work() {
    let pool = pool(1);
    let queued = Arc::new(AtomicBool::new(false));
    let task = {
        let queued = queued.clone();
        pool.spawn(move || {
            while !queued.load(Ordering::SeqCst) {
                std::hint::spin_loop();
            }
            stealpool::isolate(|| {
                let first = stealpool::yield_now();
                let child = stealpool::spawn(|| 3);
                let second = stealpool::yield_now();
                (first, second, child.join().unwrap())
            })
        })
    };
    let outside = pool.spawn(|| 1);
    queued.store(true, Ordering::SeqCst);
    let (first, second, three) = join_within(task, "the task").unwrap();
    assert_eq!(first, Some(stealpool::Yield::Idle));
    assert_eq!(second, Some(stealpool::Yield::Executed));
    assert_eq!(three, 3);
    assert_eq!(join_within(outside, "the outside task").unwrap(), 1);
}

/// Off every pool `isolate` just calls its closure; a deep recursion of isolated joins
/// finishes on a one-thread pool.
#[test]
fn off_the_pool_and_recursive() {
    assert_eq!(stealpool::isolate(|| 7), 7);
    fn fib(n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        let (a, b) = stealpool::isolate(|| stealpool::join(|| fib(n - 1), || fib(n - 2)));
        a + b
    }
    for threads in [1, 2] {
        let pool: WorkerPool = pool(threads);
        assert_eq!(pool.install(|| fib(20)), 6765);
    }
}

/// `shutdown_now` moves a scope's queued jobs to the injector; the scope's owner, waiting in
/// a region on the only worker, still runs them.
#[test]
fn shutdown_now_under_an_isolated_scope_on_one_thread() {
    let pool = pool(1);
    let started = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let task = {
        let (started, release, done) = (started.clone(), release.clone(), done.clone());
        pool.spawn(move || {
            stealpool::isolate(|| {
                stealpool::scope(|s| {
                    for _ in 0..8 {
                        let done = done.clone();
                        s.spawn(move |_| {
                            done.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    started.store(true, Ordering::SeqCst);
                    while !release.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                })
            })
        })
    };
    wait_for("the scope to queue its jobs", || {
        started.load(Ordering::SeqCst)
    });
    let stopper = std::thread::spawn(move || pool.shutdown_now());
    // Let shutdown_now take the queued jobs before the scope's closure returns.
    std::thread::sleep(Duration::from_millis(50));
    release.store(true, Ordering::SeqCst);
    join_within(task, "the isolated scope").unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 8);
    stopper.join().unwrap();
}
