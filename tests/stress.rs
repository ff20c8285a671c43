//! Stress: many submitters at once, and pools that keep going idle and being woken. A lost
//! task or a lost wake-up shows up as a hang, so these tests run under a watchdog that aborts
//! the process with a message instead.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::Duration;

use common::pool;

#[test]
fn concurrent_submitters_lose_nothing() {
    let _watchdog = common::guard("concurrent_submitters_lose_nothing");
    const ROUNDS: usize = 20;
    const SUBMITTERS: usize = 4;
    const PER_SUBMITTER: usize = 5_000;
    for round in 0..ROUNDS {
        let pool = pool(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(SUBMITTERS));
        let submitters: Vec<_> = (0..SUBMITTERS)
            .map(|s| {
                let (pool, ran, start) = (pool.clone(), ran.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let handles: Vec<_> = (0..PER_SUBMITTER)
                        .map(|i| {
                            let ran = ran.clone();
                            pool.spawn(move || {
                                ran.fetch_add(1, Ordering::Relaxed);
                                s * PER_SUBMITTER + i
                            })
                        })
                        .collect();
                    for (i, handle) in handles.into_iter().enumerate() {
                        assert_eq!(handle.join().unwrap(), s * PER_SUBMITTER + i);
                    }
                })
            })
            .collect();
        for submitter in submitters {
            submitter.join().expect("a submitter failed");
        }
        pool.shutdown();
        assert_eq!(
            ran.load(Ordering::Relaxed),
            SUBMITTERS * PER_SUBMITTER,
            "round {round}"
        );
    }
}

#[test]
fn an_idle_pool_always_wakes_up() {
    // A lost wake-up hangs a join; the watchdog turns that into an abort with a message.
    let _watchdog = common::guard("an_idle_pool_always_wakes_up");
    for width in [1, 2] {
        let pool = pool(width);
        for i in 0..2_000u32 {
            if i % 100 == 0 {
                // Long enough for every worker to give up searching and go to sleep.
                thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(pool.spawn(move || i).join().unwrap(), i);
        }
        pool.shutdown();
    }
}

#[test]
fn an_idle_pool_wakes_up_for_tasks_spawned_by_tasks() {
    let _watchdog = common::guard("an_idle_pool_wakes_up_for_tasks_spawned_by_tasks");
    // A chain where every task spawns the next one and returns at once: each spawn comes from
    // a worker that is about to go idle, and nobody joins.
    fn link(left: u32, done: mpsc::Sender<()>) {
        if left == 0 {
            done.send(()).unwrap();
        } else {
            drop(stealpool::spawn(move || link(left - 1, done)));
        }
    }
    let pool = pool(2);
    for _ in 0..20 {
        let (tx, rx) = mpsc::channel();
        drop(pool.spawn(move || link(200, tx)));
        rx.recv().expect("the chain finished");
        thread::sleep(Duration::from_millis(1));
    }
    pool.shutdown();
}

#[test]
fn joins_from_many_threads_while_workers_sleep_and_wake() {
    let _watchdog = common::guard("joins_from_many_threads_while_workers_sleep_and_wake");
    // External threads each spawn-and-join one task at a time with pauses, so workers keep
    // falling asleep and being woken by different submitters.
    let pool = pool(2);
    thread::scope(|s| {
        for t in 0..4u32 {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..300u32 {
                    if i % 50 == 0 {
                        thread::sleep(Duration::from_millis(1));
                    }
                    let value = t * 1000 + i;
                    assert_eq!(pool.spawn(move || value).join().unwrap(), value);
                }
            });
        }
    });
    pool.shutdown();
}

#[test]
fn an_idle_pool_burns_no_cpu() {
    let _watchdog = common::guard("an_idle_pool_burns_no_cpu");
    let pool = common::named_pool(2, "spidle-");
    let handles: Vec<_> = (0..1_000u64).map(|i| pool.spawn(move || i)).collect();
    for handle in handles {
        handle.join().unwrap();
    }
    // Once out of work, both workers block in the kernel ...
    common::wait_for("both workers to fall asleep", || {
        let stats = common::thread_stats("spidle-");
        stats.len() == 2 && stats.iter().all(|&(state, _)| state == 'S')
    });
    // ... and stay there: no CPU time at all while nothing is submitted. (Not a timing
    // assertion: a correct pool uses nothing however long we look.)
    let cpu = |stats: Vec<(char, u64)>| stats.iter().map(|&(_, ticks)| ticks).sum::<u64>();
    let before = cpu(common::thread_stats("spidle-"));
    thread::sleep(Duration::from_millis(300));
    let after = cpu(common::thread_stats("spidle-"));
    assert_eq!(before, after, "idle workers used CPU time");
    // And they still wake up for new work.
    assert_eq!(pool.spawn(|| 7).join().unwrap(), 7);
    pool.shutdown();
}

/// Tree of spawn-and-join under `root`, `depth` levels deep with `fanout` children per node;
/// returns the number of nodes.
fn spawn_tree(depth: u32, fanout: usize) -> usize {
    if depth == 0 {
        return 1;
    }
    let children: Vec<_> = (0..fanout)
        .map(|_| stealpool::spawn(move || spawn_tree(depth - 1, fanout)))
        .collect();
    1 + children
        .into_iter()
        .map(|child| child.join().unwrap())
        .sum::<usize>()
}

/// More workers than cores (8 on this 2-core machine), so workers are preempted at every
/// point of the protocols: outside submitters, nested spawn/join trees, installs and a
/// shutdown at the end of each round. Every tree must count all its nodes and every round
/// must end.
#[test]
fn oversubscribed_pool_with_nested_joins_and_installs() {
    let _watchdog = common::guard("oversubscribed_pool_with_nested_joins_and_installs");
    for _round in 0..50 {
        let pool = pool(8);
        let submitters: Vec<_> = (0..3)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || {
                    let trees: Vec<_> = (0..4).map(|_| pool.spawn(|| spawn_tree(3, 4))).collect();
                    let installed = pool.install(|| spawn_tree(2, 5));
                    let nodes: usize = trees.into_iter().map(|t| t.join().unwrap()).sum();
                    (nodes, installed)
                })
            })
            .collect();
        for submitter in submitters {
            // 4 trees of 1 + 4 + 16 + 64 nodes; an installed tree of 1 + 5 + 25 nodes.
            assert_eq!(submitter.join().unwrap(), (4 * 85, 31));
        }
        pool.shutdown();
    }
}
