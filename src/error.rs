//! Errors a task's handle can report.

use std::any::Any;
use std::fmt;

/// Why a task did not produce a value.
///
/// Returned by [`JoinHandle::join`](crate::JoinHandle::join) and by awaiting a
/// [`JoinHandle`](crate::JoinHandle). Ask it what happened rather than matching on it: the set
/// of reasons may grow, so the type is `#[non_exhaustive]` and its representation is private.
///
/// ```
/// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
/// let err = pool.spawn(|| -> u32 { panic!("boom") }).join().unwrap_err();
/// assert!(err.is_panic());
/// assert!(err.to_string().contains("boom"));
/// ```
#[non_exhaustive]
pub struct TaskError {
    repr: Repr,
}

enum Repr {
    Panic(Box<dyn Any + Send + 'static>),
    Cancelled,
}

impl TaskError {
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> Self {
        TaskError {
            repr: Repr::Panic(payload),
        }
    }

    pub(crate) fn cancelled() -> Self {
        TaskError {
            repr: Repr::Cancelled,
        }
    }

    /// True when the task panicked; the payload is available through
    /// [`into_panic`](Self::into_panic).
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// True when the task never ran: its handle cancelled it before it started
    /// ([`JoinHandle::cancel`](crate::JoinHandle::cancel)), `shutdown_now` cancelled it while
    /// it was queued, or it was refused because the pool had been shut down.
    ///
    /// ```
    /// let pool = stealpool::WorkerPool::builder().num_threads(1).build().unwrap();
    /// pool.shutdown();
    /// let err = pool.spawn(|| 1).join().unwrap_err();
    /// assert!(err.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// The panic payload, to re-raise with [`std::panic::resume_unwind`] or to inspect.
    ///
    /// # Panics
    /// When the error is not a panic (check [`is_panic`](Self::is_panic) first, or use
    /// [`try_into_panic`](Self::try_into_panic)).
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        match self.try_into_panic() {
            Ok(payload) => payload,
            Err(err) => {
                panic!("TaskError::into_panic called on an error that is not a panic: {err}")
            }
        }
    }

    /// The panic payload, or the error itself when it is not a panic.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, TaskError> {
        match self.repr {
            Repr::Panic(payload) => Ok(payload),
            repr => Err(TaskError { repr }),
        }
    }
}

/// The text of a panic payload when it is a string (as `panic!` makes it), else `None`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panic(payload) => match panic_message(payload.as_ref()) {
                Some(msg) => write!(f, "task panicked: {msg}"),
                None => f.write_str("task panicked (the payload is not a string)"),
            },
            Repr::Cancelled => f.write_str("task was cancelled before it ran"),
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Panic(payload) => f
                .debug_tuple("TaskError::Panic")
                .field(&panic_message(payload.as_ref()).unwrap_or("<non-string payload>"))
                .finish(),
            Repr::Cancelled => f.write_str("TaskError::Cancelled"),
        }
    }
}

impl std::error::Error for TaskError {}
