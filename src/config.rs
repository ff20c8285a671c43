//! [`PoolConfig`]: the settings a built pool runs with, as [`PoolBuilder`](crate::PoolBuilder)
//! checked them. Each field is documented on the builder method that sets it.

use std::sync::Arc as StdArc;
use std::time::Duration;

/// `PoolBuilder::thread_name`.
pub(crate) type ThreadNameFn = dyn Fn(usize) -> String + Send + Sync + 'static;
/// `PoolBuilder::on_thread_start` and `on_thread_stop`.
pub(crate) type HookFn = dyn Fn(usize) + Send + Sync + 'static;
/// `PoolBuilder::panic_handler`.
pub(crate) type PanicHandlerFn = dyn Fn(Box<dyn std::any::Any + Send>) + Send + Sync + 'static;
/// `PoolBuilder::on_stall`: worker index, how long its task has been running.
pub(crate) type StallFn = dyn Fn(usize, Duration) + Send + Sync + 'static;

/// Everything the builder decided, kept for the life of the pool (a worker that is replaced
/// gets a thread like the one it had).
pub(crate) struct PoolConfig {
    /// The workers (the pool's width); temporary workers come on top.
    pub(crate) num_threads: usize,
    pub(crate) thread_name: Option<StdArc<ThreadNameFn>>,
    pub(crate) stack_size: Option<usize>,
    pub(crate) fairness_interval: u32,
    pub(crate) panic_handler: Option<StdArc<PanicHandlerFn>>,
    pub(crate) replace_on_panic: bool,
    /// `restart_intensity`: at most `.0` replacements after a panic within `.1`.
    pub(crate) restart_intensity: (u32, Duration),
    pub(crate) max_queued: Option<usize>,
    pub(crate) stall_threshold: Option<Duration>,
    pub(crate) on_stall: Option<StdArc<StallFn>>,
    /// `compensate_stalls`: the most temporary workers at once for stalls (0: none).
    pub(crate) compensate: usize,
    /// `max_blocking_threads`: the most spare workers at once for `block_in_place`.
    pub(crate) max_blocking: usize,
    /// `min_threads`: the workers started at first and kept (`num_threads` when not elastic).
    pub(crate) min_threads: usize,
    /// `keep_alive`: how long an idle worker above `min_threads` stays.
    pub(crate) keep_alive: Duration,
    /// `record_timing`: `Some(n)` to time one task in `n` (`timing_sample`).
    pub(crate) record_timing: Option<u32>,
    pub(crate) on_thread_start: Option<StdArc<HookFn>>,
    pub(crate) on_thread_stop: Option<StdArc<HookFn>>,
    /// `pin_threads`: the CPUs slot `i` is pinned to `cpus[i % cpus.len()]` of; `None` when
    /// threads are not pinned.
    pub(crate) pin_cpus: Option<Vec<usize>>,
}

impl PoolConfig {
    /// Worker slots, the temporary workers' included.
    pub(crate) fn slots(&self) -> usize {
        self.num_threads + self.max_extra()
    }

    /// Does the pool's width change (`min_threads` below `num_threads`)?
    pub(crate) fn elastic(&self) -> bool {
        self.min_threads < self.num_threads
    }

    /// Slots for temporary workers: for stalls, then for `block_in_place`.
    pub(crate) fn max_extra(&self) -> usize {
        self.compensate + self.max_blocking
    }

    /// The name of the thread for slot `index`: the builder's name function, or a plain name
    /// (also if that function panics now, having run fine at build time).
    pub(crate) fn thread_name(&self, index: usize) -> String {
        self.thread_name
            .as_ref()
            .and_then(|name| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| name(index))).ok()
            })
            .unwrap_or_else(|| default_thread_name(index))
    }
}

/// Where a panic nobody received through its task's handle goes: the builder's
/// `panic_handler`, else one line on stderr. Kept with a panicked task's result (a clone of
/// the handler, made only when a task panics), so that the panic can be reported wherever
/// its handle is dropped unread.
pub(crate) struct PanicReport(Option<StdArc<PanicHandlerFn>>);

impl PanicReport {
    /// Reports to `handler`, or to stderr without one.
    pub(crate) fn to(handler: Option<StdArc<PanicHandlerFn>>) -> Self {
        PanicReport(handler)
    }

    /// Hands a task's panic over (without a handler: `stealpool: a detached task panicked:
    /// <message>`). Never unwinds: a panicking handler (or payload `Drop`) is contained.
    pub(crate) fn report(self, payload: Box<dyn std::any::Any + Send>) {
        self.deliver(payload, |message| {
            format!("a detached task panicked: {message}")
        });
    }

    /// Hands `payload` to the handler; without one, writes `stealpool: ` and `line(message)`
    /// to stderr, `message` being the payload's text. The one place the pool calls its
    /// handler; never unwinds.
    pub(crate) fn deliver(
        self,
        payload: Box<dyn std::any::Any + Send>,
        line: impl FnOnce(&str) -> String,
    ) {
        match self.0 {
            Some(handler) => crate::unwind::call_quietly(|| handler(payload)),
            None => {
                let message =
                    crate::error::panic_message(&*payload).unwrap_or("(a non-string payload)");
                eprintln!("stealpool: {}", line(message));
                crate::unwind::drop_quietly(payload);
            }
        }
    }
}

/// `stealpool-{index}`, the name of a worker thread when the builder names none.
pub(crate) fn default_thread_name(index: usize) -> String {
    format!("stealpool-{index}")
}
