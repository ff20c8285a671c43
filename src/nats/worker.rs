//! The worker side: a durable pull consumer feeding a [`WorkerPool`]. The rules are in the
//! [module docs](super); this file is their code.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind, consumer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{
    ERROR, JOB, KIND, MSG_ID, Names, NatsError, REPLY, STATUS, Status, header, lane_of, next,
};
use crate::WorkerPool;

/// How long one fetch waits for jobs before the worker looks at its shutdown signal again.
const FETCH_WAIT: Duration = Duration::from_millis(500);
/// How long a worker keeps trying to store a result or an ack while the server is away.
const PERSIST: Duration = Duration::from_secs(120);

/// A job's handler: the encoded arguments in, the encoded result out (or why not).
type Handler = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// Settings of a [`NatsWorker`]; made by [`NatsWorker::builder`].
///
/// ```no_run
/// use stealpool::nats::NatsWorker;
///
/// fn fib(n: u64) -> u64 {
///     if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
/// }
///
/// let pool = stealpool::WorkerPool::builder().num_threads(4).build().unwrap();
/// let report = NatsWorker::builder("nats://127.0.0.1:4222")
///     .pool(pool)
///     .handle("fib", fib)
///     .run(async { tokio::signal::ctrl_c().await.unwrap() })
///     .unwrap();
/// println!("{report:?}");
/// ```
pub struct NatsWorkerBuilder {
    url: String,
    prefix: String,
    pool: Option<WorkerPool>,
    in_flight: Option<usize>,
    max_deliver: u32,
    retry_delay: Duration,
    ack_wait: Duration,
    handlers: HashMap<String, Handler>,
}

/// A worker serving jobs from the work queue; see [`NatsWorkerBuilder::run`].
#[derive(Debug)]
pub struct NatsWorker;

impl std::fmt::Debug for NatsWorkerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kinds: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        kinds.sort_unstable();
        f.debug_struct("NatsWorkerBuilder")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("in_flight", &self.in_flight)
            .field("max_deliver", &self.max_deliver)
            .field("retry_delay", &self.retry_delay)
            .field("ack_wait", &self.ack_wait)
            .field("kinds", &kinds)
            .finish_non_exhaustive()
    }
}

/// What a worker did, returned when it stops.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Jobs whose result was stored and which were acked.
    pub completed: u64,
    /// Deliveries handed back with a delay after a panic.
    pub retried: u64,
    /// Jobs given up (terminated and copied to the dead-letter subject).
    pub dead_lettered: u64,
}

impl NatsWorker {
    /// A builder for a worker connecting to `url` (`nats://host:port`).
    pub fn builder(url: &str) -> NatsWorkerBuilder {
        NatsWorkerBuilder {
            url: url.to_owned(),
            prefix: "stealpool".into(),
            pool: None,
            in_flight: None,
            max_deliver: 5,
            retry_delay: Duration::from_secs(1),
            ack_wait: Duration::from_secs(30),
            handlers: HashMap::new(),
        }
    }
}

impl NatsWorkerBuilder {
    /// The pool that runs the jobs. Default: the global pool.
    pub fn pool(mut self, pool: WorkerPool) -> Self {
        self.pool = Some(pool);
        self
    }

    /// The prefix of every subject and stream (default `stealpool`); workers and clients
    /// meet where their prefixes match.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// At most `n` jobs running or waiting in the pool at once; a job whose result is being
    /// stored and acked no longer counts, so storing does not hold up the next fetch.
    /// Default: four times the pool's threads (few enough that the rest of the queue stays
    /// with the server for other machines, enough that the pool never waits on a fetch:
    /// `docs/bench/nats.md`), lowered to the threads plus `max_queued` when the pool has
    /// that bound.
    pub fn in_flight(mut self, n: usize) -> Self {
        self.in_flight = Some(n);
        self
    }

    /// Deliveries a panicking job gets before it is given up (default 5).
    pub fn max_deliver(mut self, n: u32) -> Self {
        self.max_deliver = n;
        self
    }

    /// How long a job that panicked waits before its next delivery (default 1 s).
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// The consumer's ack wait: a job not acked within it (its worker died) is delivered
    /// again; a running job's worker sends in-progress acks at half of it. Default 30 s. The
    /// consumer is durable and shared: the first worker to create it sets this.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// Serves jobs of `kind` with `handler`: the job's arguments decode as `A`, the result
    /// is encoded from `R`. A panic in `handler` is retried (see
    /// [`max_deliver`](Self::max_deliver)).
    pub fn handle<A, R, F>(mut self, kind: &str, handler: F) -> Self
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        let handler: Handler = Arc::new(move |payload: &[u8]| {
            let args: A = postcard::from_bytes(payload).map_err(|e| {
                format!(
                    "the arguments did not decode as {}: {e}",
                    std::any::type_name::<A>()
                )
            })?;
            let result = handler(args);
            postcard::to_stdvec(&result).map_err(|e| {
                format!(
                    "the result did not encode as {}: {e}",
                    std::any::type_name::<R>()
                )
            })
        });
        self.handlers.insert(kind.to_owned(), handler);
        self
    }

    /// Connects, then serves jobs until `shutdown` resolves; then stops fetching, finishes
    /// and acks (or hands back) every job it holds, and returns what it did. Blocks the
    /// calling thread (it runs its own tokio runtime; `shutdown` is polled there, so
    /// `tokio::signal` works in it).
    ///
    /// While the server is away the worker keeps trying: fetching, storing results and
    /// acking resume when it is back.
    pub fn run<S>(self, shutdown: S) -> Result<WorkerReport, NatsError>
    where
        S: Future<Output = ()>,
    {
        let names = Names::new(&self.prefix)?;
        if self.max_deliver == 0 {
            return Err(NatsError::new("max_deliver: at least 1 delivery (got 0)"));
        }
        if self.ack_wait < Duration::from_millis(100) {
            return Err(NatsError::new(format!(
                "ack_wait: at least 100 ms (got {:?})",
                self.ack_wait
            )));
        }
        if self.in_flight == Some(0) {
            return Err(NatsError::new("in_flight: at least 1 job (got 0)"));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| NatsError::server("starting the worker's runtime", e))?;
        runtime.block_on(self.serve(names, shutdown))
    }

    async fn serve<S: Future<Output = ()>>(
        self,
        names: Names,
        shutdown: S,
    ) -> Result<WorkerReport, NatsError> {
        let pool = match self.pool {
            Some(pool) => pool,
            None => crate::global::global_pool().clone(),
        };
        let in_flight = self.in_flight.unwrap_or_else(|| {
            let threads = pool.num_threads();
            match pool.max_queued() {
                Some(queued) => (threads * 4).min(threads + queued),
                None => threads * 4,
            }
        });
        let client = async_nats::connect(&self.url)
            .await
            .map_err(|e| NatsError::server(&format!("connecting to {}", self.url), e))?;
        let js = jetstream::new(client);
        names.ensure_streams(&js).await?;
        let stream = js
            .get_stream(names.stream("JOBS"))
            .await
            .map_err(|e| NatsError::server("opening the jobs stream", e))?;
        let durable = names.consumer();
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &durable,
                consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    // Poison jobs are given up by the worker (see the module docs), never by
                    // the server: a job stuck at the server's limit would stay in the stream.
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| NatsError::server("creating the workers' consumer", e))?;
        let shared = Arc::new(Shared {
            js,
            names,
            pool,
            handlers: self.handlers,
            max_deliver: self.max_deliver,
            retry_delay: self.retry_delay,
            progress_every: self.ack_wait / 2,
            completed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            dead: AtomicU64::new(0),
        });
        let permits = Arc::new(Semaphore::new(in_flight));
        tokio::pin!(shutdown);
        let mut jobs = tokio::task::JoinSet::new();
        'serve: loop {
            // Wait for room (a job finishing) or the end.
            let first = tokio::select! {
                biased;
                () = &mut shutdown => break 'serve,
                permit = Arc::clone(&permits).acquire_owned() => permit.expect("never closed"),
            };
            let free = permits.available_permits() + 1;
            let batch = tokio::select! {
                biased;
                () = &mut shutdown => break 'serve,
                batch = consumer.fetch().max_messages(free).expires(FETCH_WAIT).messages() => batch,
            };
            let mut messages = match batch {
                Ok(messages) => messages,
                Err(_) => {
                    // The server is away: try again shortly.
                    drop(first);
                    tokio::time::sleep(FETCH_WAIT).await;
                    continue;
                }
            };
            let mut first = Some(first);
            loop {
                let next = tokio::select! {
                    biased;
                    () = &mut shutdown => break 'serve,
                    next = next(&mut messages) => next,
                };
                let Some(Ok(message)) = next else { break };
                let permit = match first.take() {
                    Some(permit) => permit,
                    None => Arc::clone(&permits)
                        .acquire_owned()
                        .await
                        .expect("never closed"),
                };
                let shared = Arc::clone(&shared);
                jobs.spawn(async move {
                    shared.run_job(message, permit).await;
                });
            }
            while jobs.try_join_next().is_some() {}
        }
        // Stop fetching; finish what we hold.
        while jobs.join_next().await.is_some() {}
        Ok(WorkerReport {
            completed: shared.completed.load(Ordering::Relaxed),
            retried: shared.retried.load(Ordering::Relaxed),
            dead_lettered: shared.dead.load(Ordering::Relaxed),
        })
    }
}

struct Shared {
    js: jetstream::Context,
    names: Names,
    pool: WorkerPool,
    handlers: HashMap<String, Handler>,
    max_deliver: u32,
    retry_delay: Duration,
    progress_every: Duration,
    completed: AtomicU64,
    retried: AtomicU64,
    dead: AtomicU64,
}

impl Shared {
    /// Runs one job; `permit` (its place among `in_flight`) is given back as soon as the
    /// pool is done with it.
    async fn run_job(&self, message: jetstream::Message, permit: OwnedSemaphorePermit) {
        let header = |name: &str| header(&message, name);
        let kind = header(KIND).unwrap_or_default();
        let job = header(MSG_ID).unwrap_or_default();
        let reply = header(REPLY);
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        if delivered > i64::from(self.max_deliver) {
            let why = format!(
                "delivered {delivered} times without an answer (max_deliver is {}): it may \
                 crash or hang its worker",
                self.max_deliver
            );
            return self
                .give_up(&message, &kind, &job, reply, Status::Unavailable, why)
                .await;
        }
        let Some(handler) = self.handlers.get(&kind).cloned() else {
            let why = format!("no worker serves jobs of kind {kind:?}");
            return self
                .give_up(&message, &kind, &job, reply, Status::Unavailable, why)
                .await;
        };
        let payload = message.payload.to_vec();
        let mut handle = self
            .pool
            .spawn_with(lane_of(&message.subject), move || handler(&payload));
        let result = loop {
            tokio::select! {
                result = &mut handle => break result,
                () = tokio::time::sleep(self.progress_every) => {
                    let _ = message.ack_with(AckKind::Progress).await;
                }
            }
        };
        drop(permit);
        match result {
            Ok(Ok(encoded)) => {
                if let Some(reply) = reply {
                    let mut headers = HeaderMap::new();
                    headers.insert(JOB, job.as_str());
                    headers.insert(STATUS, Status::Ok.as_str());
                    if !self.publish(reply, headers, encoded).await {
                        // Not stored: leave the job unacked, to be delivered again.
                        return;
                    }
                }
                if self.ack(&message, AckKind::Ack).await {
                    self.completed.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(Err(why)) => {
                self.give_up(&message, &kind, &job, reply, Status::Codec, why)
                    .await
            }
            Err(error) if error.is_panic() && delivered < i64::from(self.max_deliver) => {
                if self
                    .ack(&message, AckKind::Nak(Some(self.retry_delay)))
                    .await
                {
                    self.retried.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(error) if error.is_panic() => {
                // The message alone: the client makes it a panic again.
                let message_text = match error.try_into_panic() {
                    Ok(payload) => crate::error::panic_message(payload.as_ref())
                        .unwrap_or("a panic whose payload is not a string")
                        .to_owned(),
                    Err(error) => error.to_string(),
                };
                let why = format!(
                    "{message_text} (on delivery {delivered} of at most {})",
                    self.max_deliver
                );
                self.give_up(&message, &kind, &job, reply, Status::Panic, why)
                    .await
            }
            Err(_) => {
                // The pool was shut down under us: someone else should run it.
                let _ = self.ack(&message, AckKind::Nak(None)).await;
            }
        }
    }

    /// Gives a job up: a copy to the dead-letter subject, the error to its client, then Term.
    async fn give_up(
        &self,
        message: &jetstream::Message,
        kind: &str,
        job: &str,
        reply: Option<String>,
        status: Status,
        why: String,
    ) {
        let mut headers = HeaderMap::new();
        headers.insert(JOB, job);
        headers.insert(KIND, kind);
        headers.insert(ERROR, why.replace(['\r', '\n'], " ").as_str());
        if !self
            .publish(
                self.names.dead_subject(kind),
                headers,
                message.payload.to_vec(),
            )
            .await
        {
            return;
        }
        if let Some(reply) = reply {
            let mut headers = HeaderMap::new();
            headers.insert(JOB, job);
            headers.insert(STATUS, status.as_str());
            if !self.publish(reply, headers, why.into_bytes()).await {
                return;
            }
        }
        if self.ack(message, AckKind::Term).await {
            self.dead.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Publishes to JetStream and waits for the server to store it, trying again while the
    /// server is away, for up to [`PERSIST`]. False if it never got through.
    async fn publish(&self, subject: String, headers: HeaderMap, payload: Vec<u8>) -> bool {
        let deadline = Instant::now() + PERSIST;
        loop {
            let sent = self
                .js
                .publish_with_headers(subject.clone(), headers.clone(), payload.clone().into())
                .await;
            if let Ok(ack) = sent {
                if ack.await.is_ok() {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                eprintln!("stealpool nats worker: could not store a message on {subject}");
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Acks with `kind` and waits for the server's confirmation, trying again while the
    /// server is away. False if it never got through (the job will be delivered again).
    async fn ack(&self, message: &jetstream::Message, kind: AckKind) -> bool {
        let deadline = Instant::now() + PERSIST;
        loop {
            if message.double_ack_with(kind).await.is_ok() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
