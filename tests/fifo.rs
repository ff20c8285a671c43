//! `spawn_fifo`, `scope_fifo` and `ScopeFifo::spawn_fifo`: a worker's own FIFO spawns start
//! oldest first, on the same handles and rules as `spawn` and `scope`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{join_within, pool, wait_for};

/// On one worker, FIFO spawns start in spawn order and plain spawns in reverse.
#[test]
fn fifo_spawns_start_oldest_first() {
    let pool = pool(1);
    let run = |fifo: bool| {
        let order = Arc::new(Mutex::new(Vec::new()));
        let log = order.clone();
        pool.install(move || {
            let handles: Vec<_> = (0..5)
                .map(|i| {
                    let log = log.clone();
                    let task = move || log.lock().unwrap().push(i);
                    if fifo {
                        stealpool::spawn_fifo(task)
                    } else {
                        stealpool::spawn(task)
                    }
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
        });
        order.lock().unwrap().clone()
    };
    assert_eq!(run(true), [0, 1, 2, 3, 4]);
    assert_eq!(run(false), [4, 3, 2, 1, 0]);
}

#[test]
fn scope_fifo_orders_its_fifo_spawns() {
    let pool = pool(1);
    let order = Mutex::new(Vec::new());
    pool.scope_fifo(|s| {
        for i in 0..4 {
            let order = &order;
            s.spawn_fifo(move |s| {
                order.lock().unwrap().push(i);
                if i == 0 {
                    // Spawned later than 1..3: starts after them.
                    s.spawn_fifo(move |_| order.lock().unwrap().push(10));
                }
            });
        }
    });
    assert_eq!(order.into_inner().unwrap(), [0, 1, 2, 3, 10]);
    let in_place = Mutex::new(Vec::new());
    pool.install(|| {
        stealpool::in_place_scope_fifo(|s| {
            for i in 0..3 {
                let in_place = &in_place;
                s.spawn_fifo(move |_| in_place.lock().unwrap().push(i));
            }
        })
    });
    assert_eq!(in_place.into_inner().unwrap(), [0, 1, 2]);
}

/// Thieves take FIFO tasks too (through their tickets), and every task runs exactly once.
#[test]
fn fifo_tasks_spread_and_run_once() {
    let pool = pool(2);
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let total: usize = pool.install(move || {
        let handles: Vec<_> = (0..2000)
            .map(|i| {
                let c = c.clone();
                stealpool::spawn_fifo(move || {
                    c.fetch_add(1, Ordering::Relaxed);
                    i
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(total, (0..2000).sum::<usize>());
    assert_eq!(count.load(Ordering::SeqCst), 2000);
}

/// `shutdown_now` cancels queued FIFO tasks like any other: a ticket's abort resolves the task
/// its queue holds.
#[test]
fn shutdown_now_cancels_queued_fifo_tasks() {
    let pool = pool(1);
    let go = Arc::new(AtomicBool::new(false));
    let queued = Arc::new(AtomicBool::new(false));
    let (g, q) = (go.clone(), queued.clone());
    let outer = pool.spawn(move || {
        let handles: Vec<_> = (0..4).map(|i| stealpool::spawn_fifo(move || i)).collect();
        q.store(true, Ordering::SeqCst);
        while !g.load(Ordering::SeqCst) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        handles
    });
    wait_for("the FIFO tasks to be queued", || {
        queued.load(Ordering::SeqCst)
    });
    let stopper = {
        let pool = pool.clone();
        std::thread::spawn(move || pool.shutdown_now())
    };
    wait_for("the pool to close", || pool.try_spawn(|| ()).is_err());
    go.store(true, Ordering::SeqCst);
    let handles = join_within(outer, "the spawning task").unwrap();
    stopper.join().unwrap();
    for h in handles {
        // Cancelled by shutdown_now, or run before it took the queue: never lost.
        match h.join() {
            Ok(i) => assert!(i < 4),
            Err(err) => assert!(err.is_cancelled(), "{err}"),
        }
    }
}

/// Inside `isolate`, FIFO spawns go on the deque directly (a ticket of the region could run
/// an older task queued outside it); they still all run.
#[test]
fn fifo_inside_isolate() {
    let pool = pool(1);
    let sum: usize = pool.install(|| {
        let outside = stealpool::spawn_fifo(|| 100);
        let inside = stealpool::isolate(|| {
            let hs: Vec<_> = (0..4).map(|i| stealpool::spawn_fifo(move || i)).collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
        });
        inside + outside.join().unwrap()
    });
    assert_eq!(sum, 106);
}
