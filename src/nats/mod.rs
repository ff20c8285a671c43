//! Work across machines (feature `nats`): [`NatsWorker`]s pull jobs from a NATS JetStream work
//! queue and run them on their [`WorkerPool`](crate::WorkerPool); a [`NatsClient`] publishes
//! jobs and gets back the same [`JoinHandle`](crate::JoinHandle) as a local `spawn`.
//!
//! # How a job travels
//! ```text
//!  NatsClient::submit("fib", &30)                       NatsWorker (any machine)
//!     │ publish  <prefix>.jobs.<lane>                       │ pull consumer "<prefix>-workers":
//!     │   Nats-Msg-Id: <job id>, Stealpool-Kind: fib        │   fetch at most its free capacity
//!     ▼   Stealpool-Reply: <prefix>.results.<client>        │   run the handler on the pool, in <lane>
//!  stream <PREFIX>_JOBS (work queue, file storage) ───────►│   publish the result, then ack
//!                                                           ▼
//!  NatsClient's reader ◄── stream <PREFIX>_RESULTS ◄── <prefix>.results.<client>
//!     resolves the handle (a duplicate result is dropped and counted)
//! ```
//! Arguments and results are encoded with serde in postcard's format, as the process pool's.
//!
//! # The mapping onto JetStream
//! - **Capacity**: a worker fetches at most `in_flight` minus the jobs its pool is running or
//!   holding ([`NatsWorkerBuilder::in_flight`]), so each machine pulls only what it can run,
//!   and the rest waits in the stream for whoever is free.
//! - **Ack** after the result is stored in the results stream: a job is never acked before
//!   its result is safe.
//! - **Nak with a delay** when the job panicked and has deliveries left
//!   ([`NatsWorkerBuilder::max_deliver`], [`NatsWorkerBuilder::retry_delay`]).
//! - **Term** for a poison job: one that panicked on its last delivery, whose payload does not
//!   decode, whose kind no handler serves, or that was delivered more than `max_deliver`
//!   times without an answer (it may crash its worker). A copy goes to
//!   `<prefix>.dead.<kind>` (stream `<PREFIX>_DEAD`) with the error in `Stealpool-Error`,
//!   and the client gets the error.
//! - **In progress**: while a job runs longer than half the ack wait, the worker sends
//!   in-progress acks, so the server does not hand it to someone else meanwhile.
//!
//! # At least once
//! A job whose worker dies (or loses the server) before its ack is delivered again after the
//! ack wait, possibly to another machine: it may run twice, and its result may be published
//! twice. The client keeps the first result for each job and counts the others
//! ([`NatsClient::duplicates`]). So a handler should be safe to run again: a pure function, or
//! one whose side effects are idempotent (keyed by the job, say). Publishing is deduplicated
//! by the server within its duplicate window (two minutes) by `Nats-Msg-Id`, so a client that
//! retries a publish does not queue a job twice.

mod client;
mod worker;

pub use client::{NatsClient, NatsClientBuilder};
pub use worker::{NatsWorker, NatsWorkerBuilder, WorkerReport};

use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::Priority;

/// The header that names a job's handler.
const KIND: &str = "Stealpool-Kind";
/// The subject a job's result goes to.
const REPLY: &str = "Stealpool-Reply";
/// On a result: the job it answers.
const JOB: &str = "Stealpool-Job";
/// On a result: `ok`, `panic`, `codec` or `unavailable` (see [`Status`]).
const STATUS: &str = "Stealpool-Status";
/// On a dead letter: why the job was given up.
const ERROR: &str = "Stealpool-Error";
/// JetStream's deduplication header.
const MSG_ID: &str = "Nats-Msg-Id";

/// How long the server remembers a `Nats-Msg-Id`.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// How long results and dead letters are kept.
const KEEP_RESULTS: Duration = Duration::from_secs(24 * 3600);

/// What went wrong talking to the server, or with a setting.
#[derive(Debug)]
#[non_exhaustive]
pub struct NatsError {
    what: String,
}

impl NatsError {
    fn new(what: impl Into<String>) -> Self {
        NatsError { what: what.into() }
    }

    fn server(doing: &str, err: impl fmt::Display) -> Self {
        NatsError::new(format!("{doing}: {err}"))
    }
}

impl fmt::Display for NatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

impl std::error::Error for NatsError {}

/// The names of the streams, subjects and consumer, all from one prefix.
#[derive(Clone, Debug)]
struct Names {
    prefix: String,
}

impl Names {
    /// Checks the prefix: letters, digits, `_` and `-` only (it is part of subjects and
    /// stream names).
    fn new(prefix: &str) -> Result<Names, NatsError> {
        let fine = !prefix.is_empty()
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !fine {
            return Err(NatsError::new(format!(
                "prefix: letters, digits, '_' and '-' only, not empty (got {prefix:?})"
            )));
        }
        Ok(Names {
            prefix: prefix.to_owned(),
        })
    }

    fn stream(&self, what: &str) -> String {
        format!("{}_{what}", self.prefix.to_uppercase().replace('-', "_"))
    }

    fn job_subject(&self, priority: Priority) -> String {
        format!("{}.jobs.{}", self.prefix, lane_name(priority))
    }

    fn results_subject(&self, client: &str) -> String {
        format!("{}.results.{client}", self.prefix)
    }

    fn dead_subject(&self, kind: &str) -> String {
        format!("{}.dead.{}", self.prefix, subject_token(kind))
    }

    fn consumer(&self) -> String {
        format!("{}-workers", self.prefix)
    }

    /// Creates the three streams if they are missing (idempotent; both sides call it).
    async fn ensure_streams(&self, js: &jetstream::Context) -> Result<(), NatsError> {
        let streams = [
            (
                self.stream("JOBS"),
                "jobs",
                stream::RetentionPolicy::WorkQueue,
            ),
            (
                self.stream("RESULTS"),
                "results",
                stream::RetentionPolicy::Limits,
            ),
            (self.stream("DEAD"), "dead", stream::RetentionPolicy::Limits),
        ];
        for (name, what, retention) in streams {
            let config = stream::Config {
                name: name.clone(),
                subjects: vec![format!("{}.{what}.>", self.prefix)],
                retention,
                storage: stream::StorageType::File,
                duplicate_window: DUPLICATE_WINDOW,
                max_age: if retention == stream::RetentionPolicy::Limits {
                    KEEP_RESULTS
                } else {
                    Duration::ZERO
                },
                ..Default::default()
            };
            if let Err(e) = js.get_or_create_stream(config).await {
                // A fleet's clients and workers connect at once, and each creates what is
                // missing. nats-server may refuse a create that lost that race with "subjects
                // overlap with an existing stream" (10065), though the winner made this very
                // stream: take the stream if it is there by now.
                if !stream_appears(js, &name).await {
                    return Err(NatsError::server(&format!("creating stream {name}"), e));
                }
            }
        }
        Ok(())
    }
}

/// True once stream `name` exists, looking a few times within about 100 ms.
async fn stream_appears(js: &jetstream::Context, name: &str) -> bool {
    for _ in 0..5 {
        if js.get_stream(name).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

fn lane_name(priority: Priority) -> &'static str {
    match priority {
        Priority::High => "high",
        Priority::Normal => "normal",
        Priority::Low => "low",
    }
}

/// The lane a job subject names (its last token); `Normal` for anything else.
fn lane_of(subject: &str) -> Priority {
    match subject.rsplit('.').next() {
        Some("high") => Priority::High,
        Some("low") => Priority::Low,
        _ => Priority::Normal,
    }
}

/// The next item of a stream (a fetch's batch, the results), without naming its type.
async fn next<S>(stream: &mut S) -> Option<S::Item>
where
    S: futures_core::Stream + Unpin,
{
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *stream).poll_next(cx)).await
}

/// A header of a received message, as text.
fn header(message: &async_nats::Message, name: &str) -> Option<String> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
}

/// `kind` made safe as one subject token.
fn subject_token(kind: &str) -> String {
    let token: String = kind
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if token.is_empty() { "_".into() } else { token }
}

/// What a result message says about its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    /// The payload is the encoded result.
    Ok,
    /// The job panicked on its last delivery; the payload is the message.
    Panic,
    /// The arguments did not decode, or the result did not encode; the payload says which.
    Codec,
    /// No worker could run it (no handler for its kind, or it kept killing its worker).
    Unavailable,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Panic => "panic",
            Status::Codec => "codec",
            Status::Unavailable => "unavailable",
        }
    }

    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "ok" => Status::Ok,
            "panic" => Status::Panic,
            "codec" => Status::Codec,
            "unavailable" => Status::Unavailable,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_prefix() {
        let names = Names::new("work-1").unwrap();
        assert_eq!(names.stream("JOBS"), "WORK_1_JOBS");
        assert_eq!(names.job_subject(Priority::High), "work-1.jobs.high");
        assert_eq!(names.dead_subject("a.b c"), "work-1.dead.a_b_c");
        assert!(Names::new("has.dot").is_err());
        assert!(Names::new("").is_err());
    }

    #[test]
    fn lanes_and_statuses_read_back() {
        for p in [Priority::High, Priority::Normal, Priority::Low] {
            assert_eq!(lane_of(&format!("x.jobs.{}", lane_name(p))), p);
        }
        for s in [
            Status::Ok,
            Status::Panic,
            Status::Codec,
            Status::Unavailable,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("?"), None);
    }
}
