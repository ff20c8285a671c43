//! `broadcast`, `spawn_broadcast`, `Scope::spawn_broadcast` and `BroadcastContext`: once on
//! every worker, in order, with panics handled as rayon does.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use common::{DropCounter, join_within, pool, recv_n, wait_for};
use stealpool::WorkerPool;

#[test]
fn once_on_every_worker_in_index_order() {
    for threads in [1, 2, 4] {
        let pool = pool(threads);
        let runs = pool.broadcast(|ctx| {
            (
                ctx.index(),
                ctx.num_threads(),
                stealpool::current_thread_index(),
            )
        });
        let expected: Vec<_> = (0..threads).map(|i| (i, threads, Some(i))).collect();
        assert_eq!(runs, expected);
    }
}

/// A broadcast wakes a pool whose workers are all asleep, and one sent from a worker (which
/// then waits while running other work) finishes too.
#[test]
fn from_outside_and_from_a_worker() {
    let pool = pool(3);
    std::thread::sleep(std::time::Duration::from_millis(20)); // let every worker fall asleep
    assert_eq!(pool.broadcast(|ctx| ctx.index()), [0, 1, 2]);
    let inner = pool.clone();
    let from_worker = pool.spawn(move || inner.broadcast(|ctx| ctx.index() * 10));
    assert_eq!(
        join_within(from_worker, "a broadcast from a worker").unwrap(),
        [0, 10, 20]
    );
    let nested = pool.install(|| stealpool::broadcast(|ctx| ctx.num_threads()));
    assert_eq!(nested, [3, 3, 3]);
}

/// A worker runs a broadcast after the work already queued on its own deque.
#[test]
fn after_the_work_already_queued_on_the_worker() {
    let pool = pool(1);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (done_tx, done_rx) = mpsc::channel();
    let log = order.clone();
    pool.install(move || {
        for name in ["first", "second"] {
            let log = log.clone();
            stealpool::spawn(move || log.lock().unwrap().push(name));
        }
        let log = log.clone();
        let done = Mutex::new(done_tx);
        stealpool::spawn_broadcast(move |_| {
            log.lock().unwrap().push("broadcast");
            done.lock().unwrap().send(()).unwrap();
        });
    });
    recv_n(&done_rx, 1, "the broadcast");
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 3);
    assert_eq!(order[2], "broadcast", "{order:?}");
}

/// Broadcasts reach each worker in the order they were sent.
#[test]
fn in_the_order_sent() {
    let pool = pool(2);
    let seen = Arc::new(Mutex::new(vec![Vec::new(), Vec::new()]));
    let (tx, rx) = mpsc::channel();
    for k in 0..5 {
        let seen = seen.clone();
        let tx = Mutex::new(tx.clone());
        pool.spawn_broadcast(move |ctx| {
            seen.lock().unwrap()[ctx.index()].push(k);
            tx.lock().unwrap().send(()).unwrap();
        });
    }
    recv_n(&rx, 10, "every run");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen, [vec![0, 1, 2, 3, 4], vec![0, 1, 2, 3, 4]]);
}

/// `broadcast` re-raises the first panic once every worker has run.
#[test]
fn a_panic_is_re_raised_after_every_run() {
    let pool = pool(3);
    let ran = AtomicUsize::new(0);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.broadcast(|ctx| {
            ran.fetch_add(1, Ordering::SeqCst);
            if ctx.index() >= 1 {
                panic!("run {} failed", ctx.index());
            }
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    assert_eq!(common::panic_message(&payload), Some("run 1 failed"));
    // The pool is fine afterwards.
    assert_eq!(pool.broadcast(|ctx| ctx.index()), [0, 1, 2]);
}

/// `spawn_broadcast`: each panicking run goes to the panic handler; the closure is dropped
/// after its last run.
#[test]
fn spawn_broadcast_panics_go_to_the_handler_and_the_closure_is_dropped() {
    let (tx, rx) = mpsc::channel::<String>();
    let tx = Mutex::new(tx);
    let pool = WorkerPool::builder()
        .num_threads(2)
        .panic_handler(move |payload| {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_default();
            tx.lock().unwrap().send(message).unwrap();
        })
        .build()
        .unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = DropCounter(drops.clone());
    pool.spawn_broadcast(move |ctx| {
        let _keep = &counter;
        panic!("broadcast run {}", ctx.index());
    });
    let mut messages = recv_n(&rx, 2, "the handler's reports");
    messages.sort();
    assert_eq!(messages, ["broadcast run 0", "broadcast run 1"]);
    wait_for("the closure to be dropped", || {
        drops.load(Ordering::SeqCst) == 1
    });
}

/// On a pool that was shut down, `broadcast` runs on the calling thread once per index and
/// `spawn_broadcast` runs nothing (its closure is dropped at once).
#[test]
fn after_shutdown() {
    let pool = pool(2);
    pool.shutdown();
    let runs = pool.broadcast(|ctx| (ctx.index(), stealpool::current_thread_index()));
    assert_eq!(runs, [(0, None), (1, None)]);
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = DropCounter(drops.clone());
    let ran = Arc::new(AtomicUsize::new(0));
    let ran2 = ran.clone();
    pool.spawn_broadcast(move |_| {
        let _keep = &counter;
        ran2.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

/// `Scope::spawn_broadcast` runs once per worker inside the scope, which waits for every run;
/// a run's panic is re-raised by the scope.
#[test]
fn scope_spawn_broadcast() {
    let pool = pool(3);
    let mut hits = [0u32; 3];
    let cells: Vec<_> = hits.iter_mut().map(Mutex::new).collect();
    pool.scope(|s| {
        s.spawn_broadcast(|_, ctx| {
            assert_eq!(stealpool::current_thread_index(), Some(ctx.index()));
            **cells[ctx.index()].lock().unwrap() += 1;
        });
    });
    drop(cells);
    assert_eq!(hits, [1, 1, 1]);
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.scope(|s| s.spawn_broadcast(|_, ctx| assert_ne!(ctx.index(), 2, "index 2")))
    }));
    assert!(caught.is_err());
    // ScopeFifo has it too.
    let count = AtomicUsize::new(0);
    pool.scope_fifo(|s| {
        s.spawn_broadcast(|_, _| {
            count.fetch_add(1, Ordering::SeqCst);
        })
    });
    assert_eq!(count.into_inner(), 3);
}

/// A broadcast sent from inside `isolate` on a one-thread pool: the only worker runs its own
/// run at once (waiting in isolation, it would not take it from its queue).
#[test]
fn a_broadcast_inside_isolate() {
    for threads in [1, 2] {
        let pool = pool(threads);
        let task =
            pool.spawn(|| stealpool::isolate(|| stealpool::broadcast(|ctx| ctx.index() + 1)));
        let expected: Vec<usize> = (1..=threads).collect();
        assert_eq!(
            join_within(task, "a broadcast inside isolate").unwrap(),
            expected
        );
    }
}
