//! `PoolBuilder::on_thread_start` and `on_thread_stop`: called once per worker thread, on
//! that thread, in order (a retiring thread's stop before its replacement's start).

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::Duration;

use common::{Gate, join_within};
use stealpool::{PoolBuilder, WorkerPool};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Start,
    Stop,
}

/// One hook call: which hook, the slot index it was given, and the thread it ran on.
type Event = (Kind, usize, ThreadId);

/// A hook call, with what `current_thread_index` said inside the hook.
type Seen = (Event, Option<usize>);

/// Every hook call of a pool, in order.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<Seen>>>);

impl Events {
    /// `builder` with both hooks recording here.
    fn hooked(&self, builder: PoolBuilder) -> PoolBuilder {
        let (start, stop) = (self.clone(), self.clone());
        builder
            .on_thread_start(move |index| start.record(Kind::Start, index))
            .on_thread_stop(move |index| stop.record(Kind::Stop, index))
    }

    fn record(&self, kind: Kind, index: usize) {
        let event = (kind, index, std::thread::current().id());
        let seen = stealpool::current_thread_index();
        self.0.lock().unwrap().push((event, seen));
    }

    /// The events so far. Each hook ran as the worker of its slot: `current_thread_index`
    /// inside it was the index it was given.
    fn all(&self) -> Vec<Event> {
        let events = self.0.lock().unwrap().clone();
        for (event, seen) in &events {
            assert_eq!(
                *seen,
                Some(event.1),
                "{event:?}: the hook did not run as the worker of its slot"
            );
        }
        events.into_iter().map(|(event, _)| event).collect()
    }

    fn of(&self, kind: Kind) -> Vec<(usize, ThreadId)> {
        self.all()
            .into_iter()
            .filter(|e| e.0 == kind)
            .map(|(_, index, thread)| (index, thread))
            .collect()
    }
}

/// Asserts that each thread of `events` started once and stopped once, its stop after its
/// start, with the same index; returns the threads in order of start.
fn assert_one_start_and_stop_per_thread(events: &[Event]) -> Vec<(usize, ThreadId)> {
    let starts: Vec<(usize, usize, ThreadId)> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.0 == Kind::Start)
        .map(|(at, e)| (at, e.1, e.2))
        .collect();
    let threads: BTreeSet<_> = starts.iter().map(|s| format!("{:?}", s.2)).collect();
    assert_eq!(
        threads.len(),
        starts.len(),
        "a thread started twice: {events:?}"
    );
    for &(at, index, thread) in &starts {
        let stops: Vec<(usize, &Event)> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.0 == Kind::Stop && e.2 == thread)
            .collect();
        assert_eq!(
            stops.len(),
            1,
            "thread {thread:?} stopped {} times: {events:?}",
            stops.len()
        );
        let (stop_at, stop) = stops[0];
        assert!(
            stop_at > at,
            "thread {thread:?} stopped before it started: {events:?}"
        );
        assert_eq!(
            stop.1, index,
            "a thread's stop has its start's index: {events:?}"
        );
    }
    assert_eq!(
        events.len(),
        2 * starts.len(),
        "every event is a thread's start or its stop: {events:?}"
    );
    starts.into_iter().map(|(_, i, t)| (i, t)).collect()
}

/// Reports from a pool's `panic_handler`, as messages.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<String>>>);

impl Reports {
    fn handled(&self, builder: PoolBuilder) -> PoolBuilder {
        let sink = self.clone();
        builder.panic_handler(move |payload| {
            let message = common::panic_message(&payload).unwrap_or("?").to_owned();
            sink.0.lock().unwrap().push(message);
        })
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A pool of three threads: three starts with indices {0, 1, 2} once built (each on its own
/// thread), and after shutdown three stops, one on each of those threads.
#[test]
fn each_thread_starts_and_stops_once() {
    let _watchdog = common::guard("each_thread_starts_and_stops_once");
    let events = Events::default();
    let pool = events
        .hooked(WorkerPool::builder().num_threads(3))
        .build()
        .unwrap();
    common::wait_for("three starts", || events.of(Kind::Start).len() >= 3);
    let indices: BTreeSet<usize> = events.of(Kind::Start).iter().map(|s| s.0).collect();
    assert_eq!(indices, BTreeSet::from([0, 1, 2]));
    assert!(events.of(Kind::Stop).is_empty(), "no stop before shutdown");
    // Some work meanwhile starts no thread.
    let handles: Vec<_> = (0..50).map(|i| pool.spawn(move || i)).collect();
    for handle in handles {
        join_within(handle, "a task").unwrap();
    }
    common::shutdown_within(&pool, "a hooked pool");
    // shutdown joins the threads, so every stop has run when it returns.
    let all = events.all();
    let threads = assert_one_start_and_stop_per_thread(&all);
    assert_eq!(threads.len(), 3, "{all:?}");
    let stopped: BTreeSet<usize> = events.of(Kind::Stop).iter().map(|s| s.0).collect();
    assert_eq!(stopped, BTreeSet::from([0, 1, 2]));
}

/// The start hook runs on the worker thread that then runs the tasks: the thread a task sees
/// is one whose start hook ran with the index the task sees.
#[test]
fn the_start_hook_runs_on_the_worker_thread() {
    let _watchdog = common::guard("the_start_hook_runs_on_the_worker_thread");
    let events = Events::default();
    let pool = events
        .hooked(WorkerPool::builder().num_threads(2))
        .build()
        .unwrap();
    let gate = Gate::new();
    // Hold both workers, so that each runs one of these tasks.
    let seen: Vec<(Option<usize>, ThreadId)> = (0..2)
        .map(|_| {
            let (tx, rx) = std::sync::mpsc::channel();
            let waiter = gate.waiter();
            let handle = pool.spawn(move || {
                tx.send((
                    stealpool::current_thread_index(),
                    std::thread::current().id(),
                ))
                .unwrap();
                waiter.wait();
            });
            (
                rx.recv_timeout(common::LIVENESS).expect("a task started"),
                handle,
            )
        })
        .map(|(seen, handle)| {
            drop(handle); // detached: the gate still ends it
            seen
        })
        .collect();
    let starts = events.of(Kind::Start);
    for (index, thread) in &seen {
        let index = index.expect("on a worker");
        assert!(
            starts.contains(&(index, *thread)),
            "worker {index} on {thread:?} never ran the start hook there: {starts:?}"
        );
    }
    assert_ne!(seen[0].1, seen[1].1);
    gate.open();
    common::shutdown_within(&pool, "a hooked pool");
}

/// With K panics on one worker (replacing workers), K + 1 threads start and, after shutdown,
/// K + 1 stop, all in slot 0; each retiring thread stops before its replacement starts.
#[test]
fn replacement_threads_run_the_hooks_and_stop_comes_before_the_next_start() {
    let _watchdog =
        common::guard("replacement_threads_run_the_hooks_and_stop_comes_before_the_next_start");
    const K: usize = 4;
    let events = Events::default();
    let pool = events
        .hooked(WorkerPool::builder().num_threads(1))
        .build()
        .unwrap();
    for i in 0..K {
        let result = join_within(
            pool.spawn(move || -> u8 { panic!("panic {i}, on purpose") }),
            "a panicking task",
        );
        assert!(result.unwrap_err().is_panic());
    }
    common::wait_for("the K replacements to start", || {
        events.of(Kind::Start).len() > K
    });
    join_within(pool.spawn(|| ()), "a task after the panics").unwrap();
    common::shutdown_within(&pool, "a pool that replaced its worker");
    let all = events.all();
    let threads = assert_one_start_and_stop_per_thread(&all);
    assert_eq!(threads.len(), K + 1, "{all:?}");
    assert!(all.iter().all(|e| e.1 == 0), "one slot, index 0: {all:?}");
    // One thread at a time in the slot: start, stop, start, stop, ...
    let kinds: Vec<Kind> = all.iter().map(|e| e.0).collect();
    let alternating: Vec<Kind> = (0..2 * (K + 1))
        .map(|i| if i % 2 == 0 { Kind::Start } else { Kind::Stop })
        .collect();
    assert_eq!(kinds, alternating, "{all:?}");
    for pair in all.chunks(2) {
        assert_eq!(
            pair[0].2, pair[1].2,
            "each stop is the thread just started: {all:?}"
        );
    }
    assert_eq!(pool.metrics().workers_replaced(), K as u64);
}

/// A start hook that panics is reported to the `panic_handler`, once per thread, and the
/// pool still runs tasks (and its threads still stop).
#[test]
fn a_panicking_start_hook_is_reported_and_the_pool_carries_on() {
    let _watchdog = common::guard("a_panicking_start_hook_is_reported_and_the_pool_carries_on");
    let reports = Reports::default();
    let stops = Events::default();
    let stop_sink = stops.clone();
    let pool = reports
        .handled(WorkerPool::builder().num_threads(2))
        .on_thread_start(|index| panic!("start hook of {index} panics"))
        .on_thread_stop(move |index| stop_sink.record(Kind::Stop, index))
        .build()
        .unwrap();
    common::wait_for("both hook panics to be reported", || {
        reports.all().len() >= 2
    });
    let handles: Vec<_> = (0..20u64).map(|i| pool.spawn(move || i * 2)).collect();
    let sum: u64 = handles
        .into_iter()
        .map(|h| join_within(h, "a task").unwrap())
        .sum();
    assert_eq!(sum, 380);
    common::shutdown_within(&pool, "a pool whose start hook panics");
    let mut messages = reports.all();
    messages.sort();
    assert_eq!(
        messages,
        ["start hook of 0 panics", "start hook of 1 panics"]
    );
    let stopped: BTreeSet<usize> = stops.of(Kind::Stop).iter().map(|s| s.0).collect();
    assert_eq!(stopped, BTreeSet::from([0, 1]), "both threads still stop");
    assert_eq!(
        pool.metrics().workers_replaced(),
        0,
        "a panicking hook does not retire its thread"
    );
}

/// A stop hook that panics is reported too, and shutdown still completes.
#[test]
fn a_panicking_stop_hook_is_reported_and_shutdown_completes() {
    let _watchdog = common::guard("a_panicking_stop_hook_is_reported_and_shutdown_completes");
    let reports = Reports::default();
    let pool = reports
        .handled(WorkerPool::builder().num_threads(2))
        .on_thread_stop(|index| panic!("stop hook of {index} panics"))
        .build()
        .unwrap();
    assert_eq!(join_within(pool.spawn(|| 7), "a task").unwrap(), 7);
    common::shutdown_within(&pool, "a pool whose stop hook panics");
    let mut messages = reports.all();
    messages.sort();
    assert_eq!(messages, ["stop hook of 0 panics", "stop hook of 1 panics"]);
}

/// Temporary workers (stall compensation) run both hooks, with an index from `num_threads`
/// on, on their own thread.
#[test]
fn temporary_workers_run_the_hooks_with_their_own_index() {
    let _watchdog = common::guard("temporary_workers_run_the_hooks_with_their_own_index");
    let events = Events::default();
    let pool = events
        .hooked(
            WorkerPool::builder()
                .num_threads(1)
                .stall_threshold(Duration::from_millis(10))
                .compensate_stalls(1),
        )
        .build()
        .unwrap();
    let gate = Gate::new();
    let (stuck, _) = common::hold_worker(&pool, &gate);
    let (index, thread) = join_within(
        pool.spawn(|| {
            (
                stealpool::current_thread_index(),
                std::thread::current().id(),
            )
        }),
        "a task behind the stuck one",
    )
    .unwrap();
    assert_eq!(index, Some(1), "only a temporary worker can run it");
    assert!(
        events.of(Kind::Start).contains(&(1, thread)),
        "the temporary worker ran the start hook on its thread: {:?}",
        events.all()
    );
    gate.open();
    join_within(stuck, "the stuck task").unwrap();
    common::shutdown_within(&pool, "a compensating pool");
    let all = events.all();
    let threads = assert_one_start_and_stop_per_thread(&all);
    assert!(threads.len() >= 2, "{all:?}");
    assert!(all.iter().all(|e| e.1 <= 1), "{all:?}");
    assert_eq!(
        threads.iter().filter(|t| t.0 == 0).count(),
        1,
        "slot 0 kept its one thread: {all:?}"
    );
}
