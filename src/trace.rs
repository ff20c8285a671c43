//! Events for the `tracing` crate, with the cargo feature `tracing` on; the crate docs
//! ("Cargo features") list them with their levels and fields.
//!
//! Every function here is an empty `#[inline(always)]` body without the feature, so a build
//! without it carries no trace of them. With it, each emits one event.

#[cfg(feature = "tracing")]
mod imp {
    pub(crate) fn pool_started(num_threads: usize) {
        tracing::info!(target: "stealpool", num_threads, "pool started");
    }

    pub(crate) fn shutdown(mode: &'static str) {
        tracing::info!(target: "stealpool", mode, "shutdown requested");
    }

    pub(crate) fn pool_stopped() {
        tracing::info!(target: "stealpool", "pool stopped: every worker has left");
    }

    pub(crate) fn worker_replaced(worker: usize) {
        tracing::warn!(target: "stealpool", worker, "worker replaced by a fresh thread");
    }

    pub(crate) fn worker_started(worker: usize) {
        tracing::debug!(target: "stealpool", worker, "worker started: work waits (min_threads)");
    }

    pub(crate) fn worker_left(worker: usize) {
        tracing::debug!(target: "stealpool", worker, "worker left: idle for keep_alive");
    }

    pub(crate) fn restart_limit_reached(max: u32, period: std::time::Duration) {
        let period_ms = period.as_millis() as u64;
        tracing::warn!(
            target: "stealpool",
            max,
            period_ms,
            "restart intensity reached: workers carry on after panics"
        );
    }

    pub(crate) fn stall_detected(worker: usize, running: std::time::Duration) {
        let running_ms = running.as_millis() as u64;
        tracing::warn!(target: "stealpool", worker, running_ms, "stalled task detected");
    }

    pub(crate) fn panic_caught(payload: &(dyn std::any::Any + Send)) {
        if crate::error::is_raised(payload) {
            return;
        }
        let message = crate::error::panic_message(payload).unwrap_or("(a non-string payload)");
        let worker = crate::current_thread_index();
        // `panic`, not `message`: tracing names the event's own text `message`.
        tracing::warn!(target: "stealpool", worker, panic = message, "panic caught in a task");
    }
}

#[cfg(not(feature = "tracing"))]
mod imp {
    #[inline(always)]
    pub(crate) fn pool_started(_: usize) {}

    #[inline(always)]
    pub(crate) fn shutdown(_: &'static str) {}

    #[inline(always)]
    pub(crate) fn pool_stopped() {}

    #[inline(always)]
    pub(crate) fn worker_replaced(_: usize) {}

    #[inline(always)]
    pub(crate) fn worker_started(_: usize) {}

    #[inline(always)]
    pub(crate) fn worker_left(_: usize) {}

    #[inline(always)]
    pub(crate) fn restart_limit_reached(_: u32, _: std::time::Duration) {}

    #[inline(always)]
    pub(crate) fn stall_detected(_: usize, _: std::time::Duration) {}

    #[inline(always)]
    pub(crate) fn panic_caught(_: &(dyn std::any::Any + Send)) {}
}

pub(crate) use imp::*;
