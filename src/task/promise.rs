//! A [`JoinHandle`] whose result comes from outside every pool: work that runs on another
//! machine (feature `nats`) resolves its handle through a [`Completer`].
//!
//! It is an ordinary task cell whose closure only hands over a result stored beforehand:
//! [`Completer::complete`] stores the result, then executes the cell's job on the calling
//! thread, which publishes it to the handle exactly as a worker would. So the handle's
//! blocking `join`, its `Future`, `is_finished` and `cancel` are the task cell's own. A
//! `cancel` before the result came wins: the later `complete` drops the result. A completer
//! dropped without completing resolves its handle as
//! [`is_unavailable`](crate::TaskError::is_unavailable).

use std::sync::Arc;

use parking_lot::Mutex;

use super::{JoinHandle, new_task};
use crate::error::{TaskError, raise};
use crate::job::{JobMode, JobRef};
use crate::metrics::Tally;

/// The writing end of a promised handle (see the module docs).
pub(crate) struct Completer<T> {
    job: Option<JobRef>,
    slot: Arc<Mutex<Option<Result<T, TaskError>>>>,
}

/// A handle and the completer that resolves it.
pub(crate) fn promise<T: Send + 'static>() -> (Completer<T>, JoinHandle<T>) {
    let slot = Arc::new(Mutex::new(None));
    let theirs = Arc::clone(&slot);
    let (job, handle) = new_task(move || {
        let result = theirs.lock().take();
        match result {
            Some(Ok(value)) => value,
            Some(Err(error)) => raise(error),
            None => unreachable!("a completer stores the result before it runs the job"),
        }
    });
    (
        Completer {
            job: Some(job),
            slot,
        },
        handle,
    )
}

impl<T> Completer<T> {
    /// Resolves the handle with `result` (or drops it, if the handle cancelled first).
    pub(crate) fn complete(mut self, result: Result<T, TaskError>) {
        self.finish(result);
    }

    fn finish(&mut self, result: Result<T, TaskError>) {
        let Some(job) = self.job.take() else { return };
        *self.slot.lock() = Some(result);
        // SAFETY: the job was made by `new_task` in `promise` and is executed only here, once
        // (`job` is taken out of the option).
        let _ = unsafe { job.execute(JobMode::Run, Tally::Nowhere) };
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.finish(Err(TaskError::unavailable(
            "the result will never come: whoever was to deliver it went away".into(),
        )));
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_completed_promise_resolves_its_handle() {
        let (completer, handle) = promise::<u32>();
        assert!(!handle.is_finished());
        completer.complete(Ok(7));
        assert_eq!(handle.join().unwrap(), 7);
    }

    #[test]
    fn an_error_and_a_dropped_completer_resolve_as_errors() {
        let (completer, handle) = promise::<u32>();
        completer.complete(Err(TaskError::crash("gone".into())));
        assert!(handle.join().unwrap_err().is_crash());
        let (completer, handle) = promise::<String>();
        drop(completer);
        assert!(handle.join().unwrap_err().is_unavailable());
        assert!(
            !crate::unwind::take_panicked(),
            "no panic note is left behind"
        );
    }

    #[test]
    fn a_cancel_before_the_result_wins() {
        let (completer, handle) = promise::<Vec<u8>>();
        assert!(handle.cancel());
        completer.complete(Ok(vec![1]));
        assert!(handle.join().unwrap_err().is_cancelled());
    }

    #[test]
    fn the_handle_is_a_future_completed_from_another_thread() {
        let (completer, handle) = promise::<u64>();
        let t = std::thread::spawn(move || completer.complete(Ok(42)));
        assert_eq!(futures::executor::block_on(handle).unwrap(), 42);
        t.join().unwrap();
    }
}
