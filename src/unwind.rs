//! Helpers for code that must not unwind: worker loops and completion paths.

use std::panic::{self, AssertUnwindSafe};

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
