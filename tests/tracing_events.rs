//! The `tracing` events of the cargo feature `tracing` (see src/trace.rs): pool started,
//! shutdown requested, pool stopped, worker replaced, stall detected, panic caught.
//!
//! A minimal subscriber, installed once as the global default (the events come from worker
//! and watcher threads, which a thread-local default would not see), records every event
//! with the name of the thread it was emitted on. The tests of this binary run in parallel,
//! so each one picks out its own events by thread name: its test thread, or its pool's
//! worker threads, named with a prefix of its own.
#![cfg(feature = "tracing")]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::{Gate, join_within};
use stealpool::WorkerPool;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// One event as the subscriber saw it.
#[derive(Clone, Debug)]
struct Recorded {
    target: String,
    level: Level,
    /// Every field in the order recorded, `message` (the event's text) included.
    fields: Vec<(String, String)>,
    thread: Option<String>,
}

impl Recorded {
    /// The values recorded for field `name` (an event may record a name more than once).
    fn values(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of field `name`; fails the test if there is not exactly one.
    fn field(&self, name: &str) -> &str {
        match self.values(name)[..] {
            [value] => value,
            ref values => panic!("field {name}: expected one value, got {values:?} in {self:?}"),
        }
    }

    /// Is this the event whose text starts with `text`?
    fn says(&self, text: &str) -> bool {
        self.values("message").iter().any(|m| m.starts_with(text))
    }

    fn on_thread(&self, prefix: &str) -> bool {
        self.thread
            .as_deref()
            .is_some_and(|t| t.starts_with(prefix))
    }
}

#[derive(Default)]
struct FieldsVisitor(Vec<(String, String)>);

impl Visit for FieldsVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name().to_owned(), value.to_string()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name().to_owned(), value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

/// Every event recorded in this process, in order.
static EVENTS: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());

/// Records every event into [`EVENTS`]; spans are given ids and otherwise ignored.
struct RecordingSubscriber {
    next_span: AtomicU64,
}

impl Subscriber for RecordingSubscriber {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut visitor = FieldsVisitor::default();
        event.record(&mut visitor);
        let recorded = Recorded {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields: visitor.0,
            thread: std::thread::current().name().map(str::to_owned),
        };
        EVENTS.lock().unwrap().push(recorded);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Installs the subscriber as the global default, once; every test calls it before it
/// builds a pool.
fn install_subscriber() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let subscriber = RecordingSubscriber {
            next_span: AtomicU64::new(0),
        };
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in this test binary");
    });
}

/// The pool's events (target `stealpool`) recorded so far that `pick` selects.
fn events(pick: impl Fn(&Recorded) -> bool) -> Vec<Recorded> {
    EVENTS
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.target == "stealpool" && pick(e))
        .cloned()
        .collect()
}

/// Waits until an event that `pick` selects has been recorded, and returns the first one.
fn wait_for_event(what: &str, pick: impl Fn(&Recorded) -> bool) -> Recorded {
    common::wait_for(what, || !events(&pick).is_empty());
    events(pick).remove(0)
}

/// The name of the calling test's thread (libtest names it after the test).
fn this_thread() -> String {
    std::thread::current()
        .name()
        .expect("libtest names its test threads")
        .to_owned()
}

/// A pool of `n` workers named `{prefix}{i}`, built after the subscriber is installed.
fn traced_pool(n: usize, prefix: &'static str) -> WorkerPool {
    install_subscriber();
    common::named_pool(n, prefix)
}

/// Building a pool emits "pool started" (INFO, with its width) on the building thread; each
/// kind of shutdown emits "shutdown requested" with its mode; the last worker to leave emits
/// "pool stopped", once per pool.
#[test]
fn start_shutdown_and_stop_are_traced() {
    let _watchdog = common::guard("start_shutdown_and_stop_are_traced");
    let me = this_thread();
    for (mode, prefix) in [("graceful", "trg"), ("now", "trn"), ("timeout", "trt")] {
        let pool = traced_pool(3, prefix);
        let started =
            events(|e| e.thread.as_deref() == Some(me.as_str()) && e.says("pool started"));
        let started = started.last().expect("a pool-started event on this thread");
        assert_eq!(started.level, Level::INFO);
        assert_eq!(started.field("num_threads"), "3", "{started:?}");
        assert!(
            events(|e| e.on_thread(prefix)).is_empty(),
            "nothing from the workers yet"
        );
        join_within(pool.spawn(|| ()), "a task").unwrap();
        match mode {
            // On this thread (the watchdog turns a hang into a failure).
            "graceful" => pool.shutdown(),
            "now" => pool.shutdown_now(),
            _ => assert!(pool.shutdown_timeout(common::LIVENESS)),
        }
        let requested: Vec<Recorded> =
            events(|e| e.thread.as_deref() == Some(me.as_str()) && e.says("shutdown requested"));
        let requested = requested.last().expect("a shutdown-requested event");
        assert_eq!(requested.level, Level::INFO);
        assert_eq!(requested.field("mode"), mode, "{requested:?}");
        // Shutdown returned after the threads left: the last one has emitted its event.
        let stopped = events(|e| e.on_thread(prefix) && e.says("pool stopped"));
        assert_eq!(
            stopped.len(),
            1,
            "one pool-stopped event per pool: {stopped:?}"
        );
        assert_eq!(stopped[0].level, Level::INFO);
    }
}

/// A task's panic emits "panic caught in a task" (WARN) with the worker and the panic's
/// message; the worker's retirement then emits "worker replaced" (WARN) with its index.
#[test]
fn a_panic_and_the_replacement_it_causes_are_traced() {
    let _watchdog = common::guard("a_panic_and_the_replacement_it_causes_are_traced");
    let pool = traced_pool(1, "trp");
    let result = join_within(
        pool.spawn(|| -> u8 { panic!("traced boom") }),
        "a panicking task",
    );
    assert!(result.unwrap_err().is_panic());
    let caught = wait_for_event("the panic-caught event", |e| {
        e.on_thread("trp") && e.says("panic caught")
    });
    assert_eq!(caught.level, Level::WARN);
    assert_eq!(caught.field("worker"), "0", "{caught:?}");
    assert_eq!(
        caught.field("panic"),
        "traced boom",
        "the panic's message is recorded as `panic`: {caught:?}"
    );
    let replaced = wait_for_event("the worker-replaced event", |e| {
        e.on_thread("trp") && e.says("worker replaced")
    });
    assert_eq!(replaced.level, Level::WARN);
    assert_eq!(replaced.field("worker"), "0", "{replaced:?}");
    common::wait_for("the replacement to be counted", || {
        pool.metrics().workers_replaced() == 1
    });
    join_within(pool.spawn(|| ()), "a task on the replacement").unwrap();
    common::shutdown_within(&pool, "a traced pool");
    let replaced = events(|e| e.on_thread("trp") && e.says("worker replaced"));
    assert_eq!(
        replaced.len(),
        1,
        "one panic, one replacement: {replaced:?}"
    );
}

/// A stuck task emits "stalled task detected" (WARN) with its worker and how long it had run.
#[test]
fn a_stall_is_traced() {
    let _watchdog = common::guard("a_stall_is_traced");
    install_subscriber();
    let threshold = Duration::from_millis(10);
    let pool = WorkerPool::builder()
        .num_threads(2)
        .thread_name(|i| format!("trs{i}"))
        .stall_threshold(threshold)
        .build()
        .unwrap();
    let gate = Gate::new();
    let (stuck, location) = common::hold_worker(&pool, &gate);
    let worker = location.1.expect("on a worker");
    // Only this test's pool has a stall watcher.
    let stall = wait_for_event("the stall event", |e| e.says("stalled task detected"));
    gate.open();
    join_within(stuck, "the stuck task").unwrap();
    assert_eq!(stall.level, Level::WARN);
    assert_eq!(stall.field("worker"), worker.to_string(), "{stall:?}");
    let running_ms: u64 = stall.field("running_ms").parse().expect("a number");
    assert!(
        running_ms >= threshold.as_millis() as u64,
        "reported after {running_ms} ms, below the {threshold:?} threshold"
    );
    assert_eq!(pool.metrics().stalls(), 1);
    common::shutdown_within(&pool, "a traced pool with a stall watcher");
}

/// The panic event names each of its fields once: the panic's text must not share the name
/// `message` with the event's own text, or a subscriber that keys fields by name (a JSON
/// formatter, say) keeps only one of the two. (It did once; the panic's text is now `panic`.)
#[test]
fn the_panic_event_names_each_field_once() {
    let _watchdog = common::guard("the_panic_event_names_each_field_once");
    let pool = traced_pool(1, "trm");
    let result = join_within(
        pool.spawn(|| -> u8 { panic!("named once") }),
        "a panicking task",
    );
    assert!(result.unwrap_err().is_panic());
    let caught = wait_for_event("the panic-caught event", |e| {
        e.on_thread("trm") && e.says("panic caught")
    });
    common::shutdown_within(&pool, "a traced pool");
    let mut names: Vec<&str> = caught.fields.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    let before = names.len();
    names.dedup();
    assert_eq!(
        names.len(),
        before,
        "a field name recorded twice in the panic event: {caught:?}"
    );
}
