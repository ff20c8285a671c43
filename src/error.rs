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
    /// The worker process died while it ran the task (process pool); how, in words.
    Crash(String),
    /// The task ran past its deadline and its process was killed (process pool).
    Timeout(String),
    /// The arguments or the result could not be encoded or decoded.
    Codec(String),
    /// The pool can no longer run tasks of this kind (it gave up restarting workers).
    Unavailable(String),
}

/// A [`TaskError`] on its way out of a task's closure: code that runs a task on the pool's
/// behalf (the process pool's driver) fails the task by unwinding with this payload, which
/// the task cell catches like any panic and [`TaskError::panic`] turns back into the error.
/// `resume_unwind` calls no panic hook, so nothing is printed.
pub(crate) struct Raised(pub(crate) TaskError);

/// Is `payload` an error [`raise`]d rather than a panic? Cold: asked only once something
/// unwound.
#[cold]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) fn is_raised(payload: &(dyn Any + Send)) -> bool {
    payload.is::<Raised>()
}

/// Ends the running task with `error` as its result (see [`Raised`]). The panic note that
/// catching it leaves does not count (`unwind::take_panicked`).
#[cfg_attr(not(feature = "process"), allow(dead_code))]
pub(crate) fn raise(error: TaskError) -> ! {
    crate::unwind::raising();
    std::panic::resume_unwind(Box::new(Raised(error)))
}

impl TaskError {
    /// The error for a closure that unwound with `payload`: a panic, or the error a driver
    /// [`raise`]d.
    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> Self {
        match payload.downcast::<Raised>() {
            Ok(raised) => raised.0,
            Err(payload) => TaskError {
                repr: Repr::Panic(payload),
            },
        }
    }

    /// A task whose worker process died while running it; `how` names the signal or the
    /// exit code.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn crash(how: String) -> Self {
        TaskError {
            repr: Repr::Crash(how),
        }
    }

    /// A task that ran past its deadline.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn timeout(what: String) -> Self {
        TaskError {
            repr: Repr::Timeout(what),
        }
    }

    /// Arguments or a result that could not cross to or from where the task runs.
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn codec(what: String) -> Self {
        TaskError {
            repr: Repr::Codec(what),
        }
    }

    /// A task the pool could not run at all (see [`is_unavailable`](Self::is_unavailable)).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn unavailable(why: String) -> Self {
        TaskError {
            repr: Repr::Unavailable(why),
        }
    }

    /// A panic carried as a message (a panic in a worker process, whose payload stays there).
    #[cfg_attr(not(feature = "process"), allow(dead_code))]
    pub(crate) fn panic_message(message: String) -> Self {
        TaskError {
            repr: Repr::Panic(Box::new(message)),
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
    /// it was queued, or it was refused because the pool had been shut down. On a process
    /// pool (feature `process`), also a running task whose worker process was killed by its
    /// handle's `cancel` or by `shutdown_now`.
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

    /// True when the worker *process* running the task died: killed by a signal (a segfault,
    /// an `abort`, a stack overflow, the OOM killer's `SIGKILL`) or exited. `Display` names the
    /// signal or the exit code. Only tasks of a process pool (feature `process`) crash; a
    /// timed-out task is [`is_timeout`](Self::is_timeout) instead.
    pub fn is_crash(&self) -> bool {
        matches!(self.repr, Repr::Crash(_))
    }

    /// True when the task ran longer than its pool's task timeout and was stopped (the process
    /// pool kills the worker process running it and starts another).
    pub fn is_timeout(&self) -> bool {
        matches!(self.repr, Repr::Timeout(_))
    }

    /// True when the task's arguments or its result could not be encoded or decoded on the
    /// way to or from the worker process; `Display` gives the codec's message.
    pub fn is_codec(&self) -> bool {
        matches!(self.repr, Repr::Codec(_))
    }

    /// True when the pool could not run the task at all: a process pool that gave up
    /// restarting worker processes (see its `restart_intensity`) fails every task this way.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.repr, Repr::Unavailable(_))
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
            Repr::Crash(how) => write!(f, "task crashed: {how}"),
            Repr::Timeout(what) => write!(f, "task timed out: {what}"),
            Repr::Codec(what) => write!(f, "task data could not cross: {what}"),
            Repr::Unavailable(why) => write!(f, "task could not run: {why}"),
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
            Repr::Crash(how) => f.debug_tuple("TaskError::Crash").field(how).finish(),
            Repr::Timeout(what) => f.debug_tuple("TaskError::Timeout").field(what).finish(),
            Repr::Codec(what) => f.debug_tuple("TaskError::Codec").field(what).finish(),
            Repr::Unavailable(why) => f.debug_tuple("TaskError::Unavailable").field(why).finish(),
        }
    }
}

impl std::error::Error for TaskError {}
