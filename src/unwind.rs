//! Helpers for code that must not unwind: worker loops and completion paths.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

std::thread_local! {
    /// Set when user code panicked on this thread and the panic was caught (a task, a join
    /// side, a scope job, an installed closure). A worker retires after it, if the pool
    /// replaces workers on panic, so that no thread-local state outlives a panic.
    static PANICKED: Cell<bool> = const { Cell::new(false) };
    /// Set by [`crate::error::raise`] just before it unwinds: what unwinds is an error a
    /// driver ended its task with, not a panic, so the note it leaves in [`PANICKED`] does not
    /// count (see [`take_panicked`]).
    static RAISING: Cell<bool> = const { Cell::new(false) };
}

/// `catch_unwind` for user code: also notes that this thread saw a panic. An error a driver
/// ended its task with ([`crate::error::raise`]) unwinds the same way and is noted too, but
/// the note does not count ([`take_panicked`]), and the trace leaves it out.
///
/// `#[inline]` because it is on every join's path, and a generic function is inlined into
/// the user's code only if the compiler puts both in one codegen unit, which depends on the
/// size and shape of the user's crate. A bench crate split differently took `fib(30)` (a join
/// at every node) from 2.9 to 5.5 ms when this call was left out of line. Its body is kept
/// to these few lines on purpose: the compiler's choice of what to inline where on the join
/// path moves with them. Telling a raised error from a panic here (`7d6461e`) left this
/// function out of line in the fork-join bench (`perf`: 26% of `fib(30)`'s samples in it),
/// and forcing it inline made `WorkerThread::join` be inlined into `fib` instead: `fib(30)`
/// took 2.6 and 3.0 ms against 1.8 with this body (`docs/bench/history.md`, "Yielding
/// waits and Spread").
#[inline]
pub(crate) fn catch_user<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    if let Err(payload) = &result {
        PANICKED.with(|p| p.set(true));
        crate::trace::panic_caught(&**payload);
    }
    result
}

/// Did user code panic on this thread since the last call? Clears the note. A note left by
/// a raised error does not count (the raise flag is read, and cleared, only when a note is
/// there, so the task path pays one thread-local read as before).
pub(crate) fn take_panicked() -> bool {
    PANICKED.with(|p| p.replace(false)) && !RAISING.with(|r| r.replace(false))
}

/// Marks what is about to unwind on this thread as a raised error (see [`RAISING`]).
pub(crate) fn raising() {
    RAISING.with(|r| r.set(true));
}

/// Runs `f`, swallowing a panic from it. A panic payload whose own `Drop` panics is leaked
/// rather than dropped, so this never unwinds.
pub(crate) fn call_quietly(f: impl FnOnce()) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(f)) {
        forget_payload(payload);
    }
}

/// Drops `value` without letting a panic in its `Drop` escape.
pub(crate) fn drop_quietly<T>(value: T) {
    call_quietly(move || drop(value));
}

/// Drops a panic payload; if that `Drop` panics in turn, the nested payload is leaked.
fn forget_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(nested) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(nested);
    }
}
