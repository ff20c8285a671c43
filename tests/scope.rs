//! `scope`: tasks that borrow (and mutate) the caller's data, nested spawns and nested scopes,
//! waiting for everything, panics, drops, spawning from a plain OS thread, one-thread pools,
//! the free `stealpool::scope`, scopes on a pool that was shut down, and a randomized stress
//! that mixes `join`, scope spawns and `spawn` + `JoinHandle::join`.

mod common;

use std::panic;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{
    DropCounter, assert_on_pool, expect_panic, location, named_pool, on_thread_named,
    panic_message, pool,
};
use stealpool::{Scope, WorkerPool};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn fib_seq(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

/// Fibonacci with a free `stealpool::join` at every node.
fn fib_free(n: u32) -> u64 {
    if n < 2 {
        return n as u64;
    }
    let (a, b) = stealpool::join(|| fib_free(n - 1), || fib_free(n - 2));
    a + b
}

/// What element `i` should hold after [`fill`]: `value(i) + 1` for exactly one write.
fn value(i: usize) -> u64 {
    (i as u64).wrapping_mul(2_654_435_761) % 1_000_003
}

/// Adds `value(offset + i) + 1` to every element, halving the chunk into two tasks spawned into
/// the same scope until it is small.
fn fill<'s>(s: &Scope<'s>, chunk: &'s mut [u64], offset: usize) {
    if chunk.len() <= 64 {
        for (i, x) in chunk.iter_mut().enumerate() {
            *x += value(offset + i) + 1;
        }
        return;
    }
    let mid = chunk.len() / 2;
    let (lo, hi) = chunk.split_at_mut(mid);
    s.spawn(move |s| fill(s, lo, offset));
    s.spawn(move |s| fill(s, hi, offset + mid));
}

/// A panic payload that is not a string, and counts its drops.
struct Tagged(usize, #[allow(dead_code)] DropCounter);

#[test]
fn tasks_write_disjoint_borrowed_chunks_and_spawn_into_the_same_scope() {
    let _watchdog =
        common::guard("tasks_write_disjoint_borrowed_chunks_and_spawn_into_the_same_scope");
    for width in [1, 2, 8] {
        let pool = pool(width);
        let mut data = vec![0u64; 10_000];
        let chunk_len = 1_000;
        pool.scope(|s| {
            for (c, chunk) in data.chunks_mut(chunk_len).enumerate() {
                // Each task spawns sub-tasks into the same scope on halves of its chunk.
                s.spawn(move |s| fill(s, chunk, c * chunk_len));
            }
        });
        for (i, &x) in data.iter().enumerate() {
            assert_eq!(
                x,
                value(i) + 1,
                "element {i} on a pool of {width} (0: never written; more: written twice)"
            );
        }
        // The borrows ended with the scope: the vector is ours again.
        data.push(1);
        data.iter_mut().for_each(|x| *x = 0);
        pool.scope(|s| fill(s, &mut data, 0));
        assert!(data.iter().enumerate().all(|(i, &x)| x == value(i) + 1));
        pool.shutdown();
    }
}

#[test]
fn nested_scopes_borrow_data_owned_by_the_task() {
    let _watchdog = common::guard("nested_scopes_borrow_data_owned_by_the_task");
    for width in [1, 2, 8] {
        let pool = pool(width);
        let mut rows = vec![vec![0u64; 64]; 16];
        let mut row_sums = vec![0u64; rows.len()];
        pool.scope(|s| {
            for (r, (row, sum)) in rows.iter_mut().zip(row_sums.iter_mut()).enumerate() {
                s.spawn(move |_| {
                    // Owned by this task, borrowed mutably by the tasks of an inner scope.
                    let mut scratch = vec![0u64; row.len()];
                    stealpool::scope(|inner| {
                        for (i, (x, y)) in row.iter_mut().zip(scratch.iter_mut()).enumerate() {
                            inner.spawn(move |_| {
                                *x = (r * 100 + i) as u64;
                                *y = *x * 2;
                            });
                        }
                    });
                    // The inner scope is over: all its writes are visible here.
                    *sum = scratch.iter().sum();
                    scratch.clear();
                });
            }
        });
        for (r, (row, &sum)) in rows.iter().zip(&row_sums).enumerate() {
            let expected_row: Vec<u64> = (0..64).map(|i| (r * 100 + i) as u64).collect();
            assert_eq!(row, &expected_row, "row {r} on a pool of {width}");
            assert_eq!(sum, 2 * expected_row.iter().sum::<u64>(), "row {r}");
        }
        pool.shutdown();
    }
}

#[test]
fn scope_returns_the_value_of_its_closure() {
    let _watchdog = common::guard("scope_returns_the_value_of_its_closure");
    for width in [1, 2] {
        let pool = pool(width);
        assert_eq!(pool.scope(|_| 42), 42);
        // No spawns at all, from outside and from a worker.
        pool.scope(|_| ());
        assert_eq!(pool.install(|| stealpool::scope(|_| 5)), 5);
        let text = String::from("borrowed");
        assert_eq!(pool.scope(|_| text.len()), 8);
        // A non-Copy value, returned once the tasks spawned before it are done.
        let hits = AtomicUsize::new(0);
        let owned = pool.scope(|s| {
            for _ in 0..10 {
                s.spawn(|_| {
                    hits.fetch_add(1, Ordering::SeqCst);
                });
            }
            vec![String::from("a"), String::from("b")]
        });
        assert_eq!(owned, ["a", "b"]);
        assert_eq!(hits.load(Ordering::SeqCst), 10);
        pool.shutdown();
    }
}

#[test]
fn scope_waits_for_every_task_and_every_nested_spawn() {
    let _watchdog = common::guard("scope_waits_for_every_task_and_every_nested_spawn");
    for width in [1, 2, 8] {
        let pool = pool(width);
        let done = AtomicUsize::new(0);
        const N: usize = 12;
        pool.scope(|s| {
            for i in 0..N {
                let done = &done;
                s.spawn(move |s| {
                    thread::sleep(ms(1 + (i % 3) as u64));
                    // A nested spawn after the parent slept: the scope must not have ended
                    // when the parent's own count went away.
                    s.spawn(move |s| {
                        thread::sleep(ms(2));
                        s.spawn(move |_| {
                            thread::sleep(ms(1));
                            done.fetch_add(1, Ordering::SeqCst);
                        });
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(
            done.load(Ordering::SeqCst),
            3 * N,
            "scope returned before all its tasks finished (pool of {width})"
        );
        pool.shutdown();
    }
}

#[test]
fn a_task_panic_is_re_raised_after_all_other_tasks_finished() {
    let _watchdog = common::guard("a_task_panic_is_re_raised_after_all_other_tasks_finished");
    for width in [1, 2, 8] {
        let pool = pool(width);
        let done = AtomicUsize::new(0);
        let payload = expect_panic("a scope whose task panics", || {
            pool.scope(|s| {
                s.spawn(|_| panic!("task boom"));
                for _ in 0..10 {
                    s.spawn(|s| {
                        thread::sleep(ms(3));
                        s.spawn(|_| {
                            thread::sleep(ms(1));
                            done.fetch_add(1, Ordering::SeqCst);
                        });
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        });
        assert_eq!(panic_message(&payload), Some("task boom"));
        assert_eq!(
            done.load(Ordering::SeqCst),
            20,
            "the panic came out before every task finished (pool of {width})"
        );
        // The pool works afterwards.
        assert_eq!(
            pool.scope(|s| {
                s.spawn(|_| ());
                7
            }),
            7
        );
        assert_eq!(pool.install(|| fib_free(10)), fib_seq(10));
        pool.shutdown();
    }
}

#[test]
fn a_panic_in_the_scope_closure_waits_for_all_spawned_tasks() {
    let _watchdog = common::guard("a_panic_in_the_scope_closure_waits_for_all_spawned_tasks");
    for width in [1, 2, 8] {
        let pool = pool(width);
        let done = AtomicUsize::new(0);
        let payload = expect_panic("a scope whose closure panics", || {
            pool.scope(|s| -> u32 {
                for i in 0..10u64 {
                    let done = &done;
                    s.spawn(move |s| {
                        thread::sleep(ms(1 + i % 4));
                        s.spawn(move |_| {
                            done.fetch_add(1, Ordering::SeqCst);
                        });
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                }
                panic!("closure boom")
            })
        });
        assert_eq!(panic_message(&payload), Some("closure boom"));
        assert_eq!(
            done.load(Ordering::SeqCst),
            20,
            "the closure's panic came out before every task finished (pool of {width})"
        );
        assert_eq!(pool.scope(|_| 1), 1);
        pool.shutdown();
    }
}

#[test]
fn several_panics_re_raise_exactly_one_of_them_and_drop_the_rest() {
    let _watchdog = common::guard("several_panics_re_raise_exactly_one_of_them_and_drop_the_rest");
    for width in [1, 2, 8] {
        let pool = pool(width);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = AtomicUsize::new(0);
        const TASKS: usize = 24;
        let payload = expect_panic("a scope where many tasks panic", || {
            pool.scope(|s| {
                for i in 0..TASKS {
                    let drops = drops.clone();
                    let ran = &ran;
                    s.spawn(move |s| {
                        ran.fetch_add(1, Ordering::SeqCst);
                        if i % 3 == 0 {
                            // Panics from nested tasks count too.
                            s.spawn(move |_| {
                                ran.fetch_add(1, Ordering::SeqCst);
                                panic::panic_any(Tagged(1000 + i, DropCounter(drops)));
                            });
                        } else if i % 3 == 1 {
                            panic::panic_any(Tagged(i, DropCounter(drops)));
                        }
                    });
                }
            })
        });
        let tag = payload
            .downcast_ref::<Tagged>()
            .unwrap_or_else(|| panic!("the payload is not one of the panics"))
            .0;
        let panicked = |t: usize| (t < TASKS && t % 3 == 1) || (t >= 1000 && (t - 1000) % 3 == 0);
        assert!(panicked(tag), "payload {tag} is not one of the panics");
        assert_eq!(ran.load(Ordering::SeqCst), TASKS + TASKS / 3);
        let panics = TASKS / 3 * 2;
        assert_eq!(
            drops.load(Ordering::SeqCst),
            panics - 1,
            "every payload but the re-raised one should have been dropped, once"
        );
        drop(payload);
        assert_eq!(drops.load(Ordering::SeqCst), panics);
        assert_eq!(pool.install(|| fib_free(8)), fib_seq(8));
        pool.shutdown();
    }
}

/// A scope where the closure and several tasks panic, each logging its tag right before; on
/// one thread nothing runs between a log entry and its panic, so the first entry is the first
/// panic in time, which must be the one re-raised.
fn check_first_panic_wins(pool: &WorkerPool, closure_waits: bool) {
    let log = Mutex::new(Vec::new());
    let payload = expect_panic("a scope with several panics", || {
        pool.scope(|s| -> u32 {
            // Spawned before the tasks, so that waiting for it runs (some of) them first.
            let early = closure_waits.then(|| stealpool::spawn(|| ()));
            for i in 0..3usize {
                let log = &log;
                s.spawn(move |s| {
                    if i == 1 {
                        s.spawn(move |_| {
                            log.lock().unwrap().push(10 + i);
                            panic::panic_any(10 + i)
                        });
                    }
                    log.lock().unwrap().push(i);
                    panic::panic_any(i)
                });
            }
            if let Some(early) = early {
                // Waiting is work: some of the tasks may run (and panic) in here.
                let _ = early.join();
            }
            log.lock().unwrap().push(99);
            panic::panic_any(99usize)
        })
    });
    let tag = *payload.downcast_ref::<usize>().expect("a usize payload");
    let log = log.into_inner().unwrap();
    assert_eq!(log.len(), 5, "not everything ran: {log:?}");
    assert_eq!(
        tag, log[0],
        "the re-raised panic is not the first: log {log:?}"
    );
}

#[test]
fn on_one_thread_the_first_panic_in_time_wins() {
    let _watchdog = common::guard("on_one_thread_the_first_panic_in_time_wins");
    let pool = pool(1);
    check_first_panic_wins(&pool, false);
    check_first_panic_wins(&pool, true);
    pool.shutdown();
    // After shutdown everything runs on the calling thread: the same holds.
    check_first_panic_wins(&pool, false);
    check_first_panic_wins(&pool, true);
}

#[test]
fn values_moved_into_tasks_are_dropped_exactly_once() {
    let _watchdog = common::guard("values_moved_into_tasks_are_dropped_exactly_once");
    fn run(pool: &WorkerPool, drops: &Arc<AtomicUsize>) -> Box<dyn std::any::Any + Send> {
        expect_panic("a scope with panicking tasks", || {
            pool.scope(|s| {
                let in_closure = DropCounter(drops.clone());
                for i in 0..50usize {
                    let value = DropCounter(drops.clone());
                    let inner = DropCounter(drops.clone());
                    let drops = drops.clone();
                    s.spawn(move |s| {
                        let _value = value;
                        if i % 7 == 3 {
                            // `inner` is dropped with the unwinding closure.
                            panic::panic_any(Tagged(i, DropCounter(drops)));
                        }
                        s.spawn(move |_| drop(inner));
                    });
                }
                drop(in_closure);
            })
        })
    }
    // 50 values + 50 inner values + 1 in the closure; 7 panics, each with a counted payload.
    const VALUES: usize = 101;
    const PANICS: usize = 7;
    for width in [1, 2, 8] {
        let pool = pool(width);
        let drops = Arc::new(AtomicUsize::new(0));
        let payload = run(&pool, &drops);
        assert!(payload.downcast_ref::<Tagged>().is_some());
        assert_eq!(
            drops.load(Ordering::SeqCst),
            VALUES + PANICS - 1,
            "width {width}"
        );
        drop(payload);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            VALUES + PANICS,
            "width {width}"
        );
        pool.shutdown();
        // And on the calling thread after shutdown.
        let drops = Arc::new(AtomicUsize::new(0));
        drop(run(&pool, &drops));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            VALUES + PANICS,
            "after shutdown"
        );
    }
}

#[test]
fn tasks_spawned_from_a_plain_os_thread_run_on_the_pool() {
    let _watchdog = common::guard("tasks_spawned_from_a_plain_os_thread_run_on_the_pool");
    for (width, prefix) in [(1, "sos1-"), (2, "sos2-")] {
        let pool = named_pool(width, prefix);
        let locations = Mutex::new(Vec::new());
        let mut slots = vec![0u32; 40];
        pool.scope(|s| {
            // The scope is handed to OS threads, which spawn into it (also nested spawns).
            thread::scope(|ts| {
                for (t, part) in slots.chunks_mut(10).enumerate() {
                    let locations = &locations;
                    ts.spawn(move || {
                        assert_eq!(stealpool::current_thread_index(), None);
                        for (i, slot) in part.iter_mut().enumerate() {
                            s.spawn(move |s| {
                                thread::sleep(ms(1));
                                locations.lock().unwrap().push(location());
                                s.spawn(move |_| {
                                    locations.lock().unwrap().push(location());
                                    *slot = (t * 10 + i) as u32 + 1;
                                });
                            });
                        }
                    });
                }
            });
            // A task that hands the scope to an OS thread of its own.
            s.spawn(|s| {
                thread::scope(|ts| {
                    ts.spawn(|| {
                        s.spawn(|_| locations.lock().unwrap().push(location()));
                    });
                });
            });
        });
        let locations = locations.into_inner().unwrap();
        assert_eq!(
            locations.len(),
            81,
            "not every task ran before scope returned"
        );
        for loc in &locations {
            assert_on_pool(loc, prefix, width);
        }
        assert_eq!(slots, (1..=40).collect::<Vec<u32>>());
        pool.shutdown();
    }
}

#[test]
fn tasks_spawned_from_an_os_thread_after_shutdown_began_still_run_on_the_pool() {
    let _watchdog =
        common::guard("tasks_spawned_from_an_os_thread_after_shutdown_began_still_run_on_the_pool");
    for (width, prefix) in [(1, "sosd1-"), (2, "sosd2-")] {
        let pool = named_pool(width, prefix);
        let locations = Mutex::new(Vec::new());
        let closer = pool.scope(|s| {
            // shutdown() from outside closes the pool and then waits for it to end, which it
            // cannot before this scope is over.
            let to_close = pool.clone();
            let closer = thread::spawn(move || to_close.shutdown());
            thread::scope(|ts| {
                ts.spawn(|| {
                    // Never wait for a pool task here: on one thread the worker is blocked
                    // in this closure. After the close a spawn is cancelled at once.
                    common::wait_for("the pool to close", || {
                        let probe = pool.spawn(|| ());
                        probe.is_finished() && probe.join().is_err_and(|err| err.is_cancelled())
                    });
                    for _ in 0..20 {
                        s.spawn(|s| {
                            locations.lock().unwrap().push(location());
                            s.spawn(|_| locations.lock().unwrap().push(location()));
                        });
                    }
                });
            });
            closer
        });
        let locations = locations.into_inner().unwrap();
        assert_eq!(locations.len(), 40);
        for loc in &locations {
            assert_on_pool(loc, prefix, width);
        }
        common::wait_for("shutdown() to return", || closer.is_finished());
        closer.join().unwrap();
        common::wait_for_threads_gone(prefix);
    }
}

#[test]
fn a_scope_whose_closure_shuts_the_pool_down_still_runs_all_its_tasks() {
    let _watchdog =
        common::guard("a_scope_whose_closure_shuts_the_pool_down_still_runs_all_its_tasks");
    for width in [1, 2] {
        let pool = pool(width);
        let done = AtomicUsize::new(0);
        let value = pool.scope(|s| {
            // From a worker, shutdown only closes the pool.
            pool.shutdown();
            for _ in 0..20 {
                s.spawn(|s| {
                    s.spawn(|_| {
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                    let (a, b) = stealpool::join(|| fib_free(8), || fib_free(7));
                    assert_eq!(a + b, fib_seq(9));
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
            "closed"
        });
        assert_eq!(value, "closed");
        assert_eq!(done.load(Ordering::SeqCst), 40);
        common::shutdown_within(&pool, "shutdown after a scope that closed the pool");
        assert!(pool.spawn(|| ()).join().unwrap_err().is_cancelled());
    }
}

#[test]
fn a_one_thread_pool_runs_a_thousand_tasks_that_each_join() {
    let _watchdog = common::guard("a_one_thread_pool_runs_a_thousand_tasks_that_each_join");
    let pool = pool(1);
    let total = AtomicUsize::new(0);
    let mut results = vec![0u64; 1000];
    pool.scope(|s| {
        for (i, result) in results.iter_mut().enumerate() {
            let total = &total;
            s.spawn(move |_| {
                *result = fib_free(6 + (i % 4) as u32);
                total.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    assert_eq!(total.load(Ordering::SeqCst), 1000);
    for (i, &r) in results.iter().enumerate() {
        assert_eq!(r, fib_seq(6 + (i % 4) as u32), "task {i}");
    }
    pool.shutdown();
}

#[test]
fn scopes_inside_spawned_tasks_inside_joins_on_one_thread() {
    let _watchdog = common::guard("scopes_inside_spawned_tasks_inside_joins_on_one_thread");
    let pool = pool(1);
    // join -> spawn + JoinHandle::join -> scope -> (spawns that join, and a nested scope)
    fn task_with_scope(n: usize) -> u64 {
        let mut out = vec![0u64; n];
        stealpool::scope(|s| {
            for (i, slot) in out.iter_mut().enumerate() {
                s.spawn(move |s| {
                    let (a, b) = stealpool::join(|| fib_free(i as u32), || fib_free(3));
                    *slot = a + b;
                    s.spawn(|_| {
                        let mut inner = [0u64; 2];
                        stealpool::scope(|s2| {
                            let [x, y] = &mut inner;
                            s2.spawn(|_| *x = 1);
                            s2.spawn(|_| *y = 2);
                        });
                        assert_eq!(inner, [1, 2]);
                    });
                });
            }
        });
        out.iter().sum()
    }
    let expected = |n: usize| (0..n).map(|i| fib_seq(i as u32) + fib_seq(3)).sum::<u64>();
    let (a, b) = pool.join(
        || stealpool::spawn(|| task_with_scope(8)).join().unwrap(),
        || {
            let handle = stealpool::spawn(|| task_with_scope(5));
            let here = task_with_scope(6);
            here + handle.join().unwrap()
        },
    );
    assert_eq!(a, expected(8));
    assert_eq!(b, expected(6) + expected(5));

    // A scope task waiting on a JoinHandle of a task spawned onto the same one-thread pool.
    let got = pool.scope(|s| {
        let seen = AtomicUsize::new(0);
        stealpool::scope(|inner| {
            for i in 0..10 {
                let seen = &seen;
                inner.spawn(move |_| {
                    let v = stealpool::spawn(move || i * 2).join().unwrap();
                    seen.fetch_add(v, Ordering::SeqCst);
                });
            }
        });
        s.spawn(|_| ());
        seen.into_inner()
    });
    assert_eq!(got, 90);
    pool.shutdown();
}

#[test]
fn a_one_thread_pool_in_a_scope_on_another_pool_keeps_running_its_own_jobs() {
    let _watchdog =
        common::guard("a_one_thread_pool_in_a_scope_on_another_pool_keeps_running_its_own_jobs");
    // A's only worker waits in B.scope; B's tasks need tasks on A.
    let a = named_pool(1, "sxa-");
    let b = named_pool(1, "sxb-");
    let mut out = [0u32; 4];
    let from_a = Mutex::new(None);
    let results = a.install(|| {
        b.scope(|s| {
            for (i, slot) in out.iter_mut().enumerate() {
                let a = &a;
                s.spawn(move |_| {
                    let on_a = a.spawn(move || (location(), i as u32 * 3)).join().unwrap();
                    assert!(on_thread_named("sxb-"), "a scope task ran off pool B");
                    assert_on_pool(&on_a.0, "sxa-", 1);
                    *slot = on_a.1 + a.install(|| 1);
                });
            }
            // A worker of A spawns into this scope on B: the task runs on B, and the scope
            // waits for it.
            let from_a = &from_a;
            a.install(|| {
                s.spawn(move |_| *from_a.lock().unwrap() = Some(location()));
            });
            location()
        })
    });
    assert_on_pool(&results, "sxb-", 1);
    assert_eq!(out, [1, 4, 7, 10]);
    let from_a = from_a
        .into_inner()
        .unwrap()
        .expect("the task spawned from A ran");
    assert_on_pool(&from_a, "sxb-", 1);
    a.shutdown();
    b.shutdown();
}

#[test]
fn free_scope_outside_any_pool_uses_the_global_pool() {
    let _watchdog = common::guard("free_scope_outside_any_pool_uses_the_global_pool");
    let locations = Mutex::new(Vec::new());
    let op_location = stealpool::scope(|s| {
        for _ in 0..8 {
            s.spawn(|s| {
                locations.lock().unwrap().push(location());
                s.spawn(|_| locations.lock().unwrap().push(location()));
            });
        }
        location()
    });
    let locations = locations.into_inner().unwrap();
    assert_eq!(locations.len(), 16);
    for loc in locations.iter().chain([&op_location]) {
        assert!(loc.1.is_some(), "ran off the pool: {loc:?}");
        assert!(
            loc.0
                .as_deref()
                .is_some_and(|n| n.starts_with("stealpool-")),
            "not on the global pool: {loc:?}"
        );
    }
    assert_eq!(stealpool::current_thread_index(), None);
}

#[test]
fn free_scope_on_a_worker_uses_that_workers_pool() {
    let _watchdog = common::guard("free_scope_on_a_worker_uses_that_workers_pool");
    let pool = named_pool(2, "sfree-");
    let locations = Mutex::new(Vec::new());
    let op_location = pool.install(|| {
        stealpool::scope(|s| {
            for _ in 0..8 {
                s.spawn(|s| {
                    locations.lock().unwrap().push(location());
                    s.spawn(|_| locations.lock().unwrap().push(location()));
                });
            }
            location()
        })
    });
    assert_on_pool(&op_location, "sfree-", 2);
    let locations = locations.into_inner().unwrap();
    assert_eq!(locations.len(), 16);
    for loc in &locations {
        assert_on_pool(loc, "sfree-", 2);
    }
    // From a spawned task (a 'static body owning its data).
    let handle = pool.spawn(|| {
        let mut locs = vec![(None, None); 4];
        stealpool::scope(|s| {
            for slot in locs.iter_mut() {
                s.spawn(move |_| *slot = location());
            }
        });
        locs
    });
    for loc in common::join_within(handle, "scope in a task").unwrap() {
        assert_on_pool(&loc, "sfree-", 2);
    }
    pool.shutdown();
}

#[test]
fn after_shutdown_scope_runs_everything_on_the_calling_thread() {
    let _watchdog = common::guard("after_shutdown_scope_runs_everything_on_the_calling_thread");
    let pool = named_pool(2, "sshut-");
    assert_eq!(pool.scope(|_| 1), 1);
    pool.shutdown();

    let me = thread::current().id();
    let here = || (thread::current().id(), stealpool::current_thread_index());
    let places = Mutex::new(Vec::new());
    let mut data = vec![0u64; 1_000];
    let returned = pool.scope(|s| {
        places.lock().unwrap().push(here());
        for chunk in data.chunks_mut(100) {
            let places = &places;
            s.spawn(move |s| {
                places.lock().unwrap().push(here());
                let (lo, hi) = chunk.split_at_mut(50);
                s.spawn(move |_| {
                    places.lock().unwrap().push(here());
                    lo.fill(1);
                });
                s.spawn(move |s| {
                    places.lock().unwrap().push(here());
                    s.spawn(move |_| {
                        places.lock().unwrap().push(here());
                        hi.fill(2);
                    });
                });
            });
        }
        "value"
    });
    assert_eq!(returned, "value");
    let places = places.into_inner().unwrap();
    assert_eq!(places.len(), 1 + 10 * 4, "not everything ran");
    assert!(
        places.iter().all(|&p| p == (me, None)),
        "something ran off the calling thread: {places:?}"
    );
    for (c, chunk) in data.chunks(100).enumerate() {
        assert!(chunk[..50].iter().all(|&x| x == 1), "chunk {c}");
        assert!(chunk[50..].iter().all(|&x| x == 2), "chunk {c}");
    }
    // Fill through the recursive helper too, and a panic still comes out.
    data.iter_mut().for_each(|x| *x = 0);
    pool.scope(|s| fill(s, &mut data, 0));
    assert!(data.iter().enumerate().all(|(i, &x)| x == value(i) + 1));
    let done = AtomicBool::new(false);
    let payload = expect_panic("a task panics after shutdown", || {
        pool.scope(|s| {
            s.spawn(|_| panic!("late boom"));
            s.spawn(|_| done.store(true, Ordering::SeqCst));
        })
    });
    assert_eq!(panic_message(&payload), Some("late boom"));
    assert!(done.load(Ordering::SeqCst));
}

// ---------------------------------------------------------------------------------------
// Randomized stress: random trees mixing join, scope spawns and spawn + JoinHandle::join.

/// xorshift64.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Sequentially, or in parallel on a pool.
#[derive(Clone, Copy)]
enum Mode<'p> {
    Seq,
    Par(&'p WorkerPool),
}

/// A little work for a leaf.
fn leaf(r: u64) -> u64 {
    let mut x = r;
    for _ in 0..32 {
        x = x.rotate_left(9).wrapping_mul(0x2545_f491_4f6c_dd1d) ^ 0x5851;
    }
    x
}

/// The value of the random tree rooted at `seed`: its children are computed by a randomly
/// chosen fork-join construct (or one after the other in `Mode::Seq`) and combined in an
/// order-dependent way, so a result in the wrong slot, a lost one or a duplicate shows.
fn node(seed: u64, depth: u32, mode: Mode<'_>) -> u64 {
    let mut rng = XorShift::new(seed);
    let r = rng.next();
    if depth == 0 || r % 5 == 0 {
        return leaf(r);
    }
    let n = 2 + (rng.next() % 3) as usize;
    let seeds: Vec<u64> = (0..n).map(|_| rng.next()).collect();
    let kind = rng.next() % 6;
    let d = depth - 1;
    let results: Vec<u64> = match mode {
        Mode::Seq => seeds.iter().map(|&s| node(s, d, mode)).collect(),
        Mode::Par(pool) => match kind {
            // Halving joins, on the pool handle.
            0 => join_all(pool, false, &seeds, d),
            // Halving joins, free.
            1 => join_all(pool, true, &seeds, d),
            // One scope task per child, writing into its slot.
            2 => {
                let mut out = vec![0; n];
                stealpool::scope(|s| {
                    for (slot, &seed) in out.iter_mut().zip(&seeds) {
                        s.spawn(move |_| *slot = node(seed, d, mode));
                    }
                });
                out
            }
            // A chain: each scope task spawns the next child's task into the same scope.
            3 => {
                let mut out = vec![0; n];
                pool.scope(|s| chain(s, &seeds, &mut out, d, pool));
                out
            }
            // spawn + JoinHandle::join.
            4 => {
                let handles: Vec<_> = seeds
                    .iter()
                    .map(|&seed| {
                        let p = pool.clone();
                        pool.spawn(move || node(seed, d, Mode::Par(&p)))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            }
            // A mix: the first child in a spawned task, the rest in a join with a scope.
            _ => {
                let p = pool.clone();
                let first_seed = seeds[0];
                let first = stealpool::spawn(move || node(first_seed, d, Mode::Par(&p)));
                let mut rest = vec![0; n - 1];
                let ((), ()) = stealpool::join(
                    || {
                        stealpool::scope(|s| {
                            for (slot, &seed) in rest.iter_mut().zip(&seeds[1..]) {
                                s.spawn(move |_| *slot = node(seed, d, mode));
                            }
                        })
                    },
                    || (),
                );
                let mut out = vec![first.join().unwrap()];
                out.extend(rest);
                out
            }
        },
    };
    results.iter().enumerate().fold(r, |acc, (i, &v)| {
        acc.rotate_left(7) ^ v.wrapping_mul(2 * i as u64 + 1)
    })
}

/// The children's values through halving joins: `pool.join`, or the free `stealpool::join`.
fn join_all(pool: &WorkerPool, free: bool, seeds: &[u64], depth: u32) -> Vec<u64> {
    if seeds.len() == 1 {
        return vec![node(seeds[0], depth, Mode::Par(pool))];
    }
    let (l, r) = seeds.split_at(seeds.len() / 2);
    let left = || join_all(pool, free, l, depth);
    let right = || join_all(pool, free, r, depth);
    let (mut a, b) = if free {
        stealpool::join(left, right)
    } else {
        pool.join(left, right)
    };
    a.extend(b);
    a
}

/// Spawns the task for `seeds[0]`, which first spawns the one for `seeds[1]`, and so on.
fn chain<'s>(
    s: &Scope<'s>,
    seeds: &'s [u64],
    out: &'s mut [u64],
    depth: u32,
    pool: &'s WorkerPool,
) {
    if let Some((slot, rest)) = out.split_first_mut() {
        s.spawn(move |s| {
            chain(s, &seeds[1..], rest, depth, pool);
            *slot = node(seeds[0], depth, Mode::Par(pool));
        });
    }
}

fn stress_pool(width: usize, seed: u64) {
    const TREES: usize = 16;
    const DEPTH: u32 = 8;
    let pool = pool(width);
    let mut rng = XorShift::new(seed);
    let roots: Vec<u64> = (0..TREES).map(|_| rng.next()).collect();
    let expected: Vec<u64> = roots.iter().map(|&r| node(r, DEPTH, Mode::Seq)).collect();
    let got = Mutex::new(vec![None; TREES]);
    thread::scope(|ts| {
        for t in 0..2 {
            let (pool, roots, got) = (&pool, &roots, &got);
            ts.spawn(move || {
                for (i, &root) in roots.iter().enumerate().filter(|(i, _)| i % 2 == t) {
                    let par = Mode::Par(pool);
                    let value = match i % 4 {
                        0 => pool.install(|| node(root, DEPTH, par)),
                        1 => pool.join(|| node(root, DEPTH, par), || ()).0,
                        2 => pool.scope(|_| node(root, DEPTH, par)),
                        _ => {
                            let p = pool.clone();
                            pool.spawn(move || node(root, DEPTH, Mode::Par(&p)))
                                .join()
                                .unwrap()
                        }
                    };
                    got.lock().unwrap()[i] = Some(value);
                }
            });
        }
    });
    let got: Vec<u64> = got
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|v| v.expect("every tree ran"))
        .collect();
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(g, e, "tree {i} (root {:#x}) on a pool of {width}", roots[i]);
    }
    let checksum = |v: &[u64]| v.iter().fold(0u64, |acc, &x| acc.rotate_left(3) ^ x);
    assert_eq!(checksum(&got), checksum(&expected));
    pool.shutdown();
}

#[test]
fn randomized_fork_join_trees_match_the_sequential_result() {
    let _watchdog = common::guard("randomized_fork_join_trees_match_the_sequential_result");
    for (width, seed) in [(1, 0x5eed_0001), (2, 0x5eed_0002), (8, 0x5eed_0008)] {
        stress_pool(width, seed);
    }
}
