//! Spawning tasks and joining them: results, exactly-once execution, which pool a task lands
//! in, and `current_thread_index`.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, mpsc};

use common::{assert_on_pool, location, named_pool, pool};

#[test]
fn results_come_back() {
    let _watchdog = common::guard("results_come_back");
    let pool = pool(2);
    let squares: Vec<_> = (0..100u64).map(|i| pool.spawn(move || i * i)).collect();
    let text = pool.spawn(|| String::from("text from a worker"));
    let bytes = pool.spawn(|| vec![1u8, 2, 3]);
    let unit = pool.spawn(|| ());
    let boxed = pool.spawn(|| Box::new([7u64; 512]));

    let got: Vec<u64> = squares.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, (0..100u64).map(|i| i * i).collect::<Vec<_>>());
    assert_eq!(text.join().unwrap(), "text from a worker");
    assert_eq!(bytes.join().unwrap(), [1, 2, 3]);
    unit.join().unwrap();
    assert!(boxed.join().unwrap().iter().all(|&x| x == 7));
    pool.shutdown();
}

#[test]
fn fifty_thousand_tasks_each_run_exactly_once() {
    let _watchdog = common::guard("fifty_thousand_tasks_each_run_exactly_once");
    const N: usize = 50_000;
    let pool = pool(2);
    let runs: Arc<Vec<AtomicU32>> = Arc::new((0..N).map(|_| AtomicU32::new(0)).collect());
    let handles: Vec<_> = (0..N)
        .map(|i| {
            let runs = runs.clone();
            pool.spawn(move || {
                runs[i].fetch_add(1, Ordering::Relaxed);
                i
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        assert_eq!(
            handle.join().unwrap(),
            i,
            "task {i} returned another's value"
        );
    }
    let wrong: Vec<(usize, u32)> = runs
        .iter()
        .map(|r| r.load(Ordering::Relaxed))
        .enumerate()
        .filter(|&(_, n)| n != 1)
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "(task, times run) not run exactly once: {wrong:?}"
    );
    pool.shutdown();
}

#[test]
fn detached_tasks_each_run_exactly_once() {
    let _watchdog = common::guard("detached_tasks_each_run_exactly_once");
    const N: usize = 10_000;
    let pool = pool(2);
    let (tx, rx) = mpsc::channel();
    for i in 0..N {
        let tx = tx.clone();
        drop(pool.spawn(move || tx.send(i).unwrap()));
    }
    drop(tx);
    let mut seen = vec![false; N];
    for i in common::recv_n(&rx, N, "detached tasks") {
        assert!(!seen[i], "task {i} ran twice");
        seen[i] = true;
    }
    pool.shutdown();
    // Every task has finished and dropped its sender: nothing more can arrive.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
}

#[test]
fn current_thread_index_is_some_inside_tasks_and_none_outside() {
    let _watchdog = common::guard("current_thread_index_is_some_inside_tasks_and_none_outside");
    assert_eq!(stealpool::current_thread_index(), None);
    let pool = pool(3);
    let handles: Vec<_> = (0..300)
        .map(|_| pool.spawn(stealpool::current_thread_index))
        .collect();
    for handle in handles {
        let index = handle.join().unwrap().expect("a task runs on a worker");
        assert!(index < 3, "index {index} on a 3-thread pool");
    }
    assert_eq!(stealpool::current_thread_index(), None);
    // A thread that is not a worker of any pool, while pools exist.
    let other = std::thread::spawn(stealpool::current_thread_index)
        .join()
        .unwrap();
    assert_eq!(other, None);
    pool.shutdown();
}

#[test]
fn every_worker_index_is_used() {
    let _watchdog = common::guard("every_worker_index_is_used");
    // Three tasks that meet at a barrier must be on three different workers.
    let pool = pool(3);
    let barrier = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let barrier = barrier.clone();
            pool.spawn(move || {
                barrier.wait();
                stealpool::current_thread_index()
            })
        })
        .collect();
    let mut indices: Vec<usize> = handles
        .into_iter()
        .map(|h| {
            common::join_within(h, "barrier task")
                .unwrap()
                .expect("on a worker")
        })
        .collect();
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
    pool.shutdown();
}

#[test]
fn tasks_spawned_inside_tasks_go_to_the_same_pool() {
    let _watchdog = common::guard("tasks_spawned_inside_tasks_go_to_the_same_pool");
    let pool = named_pool(2, "same-pool-");
    let handles: Vec<_> = (0..200)
        .map(|_| {
            pool.spawn(|| {
                let outer = location();
                let child = stealpool::spawn(location);
                let grandchild = stealpool::spawn(|| stealpool::spawn(location));
                (
                    outer,
                    child.join().unwrap(),
                    grandchild.join().unwrap().join().unwrap(),
                )
            })
        })
        .collect();
    for handle in handles {
        let (outer, child, grandchild) = handle.join().unwrap();
        assert_on_pool(&outer, "same-pool-", 2);
        assert_on_pool(&child, "same-pool-", 2);
        assert_on_pool(&grandchild, "same-pool-", 2);
    }

    // A child's handle may leave the pool and be joined outside it.
    let escaped = pool.spawn(|| stealpool::spawn(location)).join().unwrap();
    assert_on_pool(&escaped.join().unwrap(), "same-pool-", 2);

    // Detached children of detached tasks run too, on the same pool.
    let (tx, rx) = mpsc::channel();
    for _ in 0..50 {
        let tx = tx.clone();
        drop(pool.spawn(move || {
            for _ in 0..4 {
                let tx = tx.clone();
                drop(stealpool::spawn(move || tx.send(location()).unwrap()));
            }
        }));
    }
    drop(tx);
    for loc in common::recv_n(&rx, 200, "detached children") {
        assert_on_pool(&loc, "same-pool-", 2);
    }
    pool.shutdown();
}

#[test]
fn an_explicit_pool_wins_over_the_current_one() {
    let _watchdog = common::guard("an_explicit_pool_wins_over_the_current_one");
    let a = named_pool(2, "xpool-a-");
    let b = named_pool(2, "xpool-b-");
    let b2 = b.clone();
    let (on_a, on_b, b_child) = a
        .spawn(move || {
            let on_b = b2.spawn(|| (location(), stealpool::spawn(location).join().unwrap()));
            let (on_b, b_child) = on_b.join().unwrap();
            (location(), on_b, b_child)
        })
        .join()
        .unwrap();
    assert_on_pool(&on_a, "xpool-a-", 2);
    assert_on_pool(&on_b, "xpool-b-", 2);
    assert_on_pool(&b_child, "xpool-b-", 2);
    a.shutdown();
    b.shutdown();
}

#[test]
fn spawn_outside_any_pool_uses_the_global_pool() {
    let _watchdog = common::guard("spawn_outside_any_pool_uses_the_global_pool");
    // No STEALPOOL_NUM_THREADS games in this binary: the global pool has default names.
    let (loc, child) = stealpool::spawn(|| (location(), stealpool::spawn(location)))
        .join()
        .unwrap();
    let width = num_cpus::get();
    assert_on_pool(&loc, "stealpool-", width);
    assert_on_pool(&child.join().unwrap(), "stealpool-", width);
    assert_eq!(stealpool::current_thread_index(), None);
}

#[test]
fn is_finished_becomes_true() {
    let _watchdog = common::guard("is_finished_becomes_true");
    let pool = pool(2);
    let (release, gate) = mpsc::channel::<u32>();
    let handle = pool.spawn(move || gate.recv().unwrap() * 2);
    // The task cannot finish before it is released.
    assert!(!handle.is_finished());
    release.send(21).unwrap();
    common::wait_for("is_finished", || handle.is_finished());
    assert!(handle.is_finished(), "is_finished went back to false");
    assert_eq!(handle.join().unwrap(), 42);

    // Also for a task that panicked.
    let handle = pool.spawn(|| -> u32 { panic!("finished by panicking") });
    common::wait_for("is_finished after a panic", || handle.is_finished());
    assert!(handle.join().unwrap_err().is_panic());
    pool.shutdown();
}

#[test]
fn handles_can_be_joined_on_other_threads() {
    let _watchdog = common::guard("handles_can_be_joined_on_other_threads");
    let pool = pool(2);
    let handles: Vec<_> = (0..64u64).map(|i| pool.spawn(move || i + 1)).collect();
    let joiners: Vec<_> = handles
        .into_iter()
        .map(|h| std::thread::spawn(move || h.join().unwrap()))
        .collect();
    let sum: u64 = joiners.into_iter().map(|j| j.join().unwrap()).sum();
    assert_eq!(sum, (1..=64u64).sum::<u64>());
    pool.shutdown();
}
