//! The submitting side: publish jobs, read results, resolve handles. The rules are in the
//! [module docs](super).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{JOB, KIND, MSG_ID, Names, NatsError, REPLY, STATUS, Status, header, next};
use crate::error::TaskError;
use crate::task::promise::{Completer, promise};
use crate::{JoinHandle, Priority};

/// Resolves one pending handle from a result's status and payload.
type Pending = Box<dyn FnOnce(Result<Vec<u8>, TaskError>) + Send>;

/// Settings of a [`NatsClient`]; made by [`NatsClient::builder`].
#[derive(Clone, Debug)]
pub struct NatsClientBuilder {
    url: String,
    prefix: String,
    publish_timeout: Duration,
}

impl NatsClientBuilder {
    /// The prefix of every subject and stream (default `stealpool`): the workers' prefix.
    pub fn prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_owned();
        self
    }

    /// How long a submit keeps trying to get its job stored while the server is away
    /// before its handle fails with [`is_unavailable`](TaskError::is_unavailable).
    /// Default 60 s.
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Connects (blocking the calling thread until the server answered), creates the
    /// streams if they are missing, and starts reading this client's results.
    pub fn connect(self) -> Result<NatsClient, NatsError> {
        let names = Names::new(&self.prefix)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stealpool-nats-client")
            .enable_all()
            .build()
            .map_err(|e| NatsError::server("starting the client's runtime", e))?;
        let id = client_id();
        let url = self.url.clone();
        let setup_names = names.clone();
        let setup_id = id.clone();
        // Counts the connections to the server: the results reader reopens its consumer
        // after a reconnection (see `read_results`).
        let (connects_tx, connects) = tokio::sync::watch::channel(0u64);
        let connects_tx = Arc::new(connects_tx);
        // The setup runs on the client's own runtime, so that `connect` works from inside an
        // async context too (it only blocks, never nests a runtime).
        let (tx, rx) = std::sync::mpsc::channel();
        runtime.spawn(async move {
            let setup = async {
                let client = async_nats::ConnectOptions::new()
                    .event_callback(move |event| {
                        if matches!(event, async_nats::Event::Connected) {
                            connects_tx.send_modify(|n| *n += 1);
                        }
                        std::future::ready(())
                    })
                    .connect(&url)
                    .await
                    .map_err(|e| NatsError::server(&format!("connecting to {url}"), e))?;
                let js = jetstream::new(client);
                setup_names.ensure_streams(&js).await?;
                let results = open_results(&js, &setup_names, &setup_id, 1).await?;
                Ok::<_, NatsError>((js, results))
            };
            let _ = tx.send(setup.await);
        });
        let (js, results) = rx
            .recv()
            .map_err(|_| NatsError::new("the client's runtime stopped during setup"))??;
        let shared = Arc::new(Shared {
            js,
            names,
            id,
            publish_timeout: self.publish_timeout,
            next_job: AtomicU64::new(0),
            pending: Mutex::new(HashMap::new()),
            duplicates: AtomicU64::new(0),
        });
        runtime.spawn(Shared::read_results(Arc::clone(&shared), results, connects));
        Ok(NatsClient {
            shared,
            runtime: Arc::new(RuntimeGuard(Some(runtime))),
        })
    }
}

/// Submits jobs to the work queue; each `submit` returns the [`JoinHandle`] its result will
/// resolve. See the [module docs](super) for how jobs travel and what "at least once" means.
///
/// ```no_run
/// let client = stealpool::nats::NatsClient::connect("nats://127.0.0.1:4222")?;
/// let handles: Vec<stealpool::JoinHandle<u64>> =
///     (0..10u64).map(|n| client.submit("fib", &(30 + n))).collect();
/// for handle in handles {
///     println!("{}", handle.join().unwrap());
/// }
/// # Ok::<(), stealpool::nats::NatsError>(())
/// ```
///
/// Cheap to clone. When the last clone is dropped, handles still waiting resolve as
/// [`is_unavailable`](TaskError::is_unavailable) (their jobs stay queued for the workers).
#[derive(Clone)]
pub struct NatsClient {
    shared: Arc<Shared>,
    runtime: Arc<RuntimeGuard>,
}

/// The client's runtime, shut down in the background when the last clone goes (a plain drop
/// would panic inside an async context). Its tasks hold the pending handles, which then
/// resolve as unavailable.
struct RuntimeGuard(Option<tokio::runtime::Runtime>);

impl RuntimeGuard {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.as_ref().expect("taken only on drop").handle()
    }
}

impl Drop for RuntimeGuard {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

struct Shared {
    js: jetstream::Context,
    names: Names,
    id: String,
    publish_timeout: Duration,
    next_job: AtomicU64,
    /// Jobs waiting for their result. A result for a job not in here was answered already
    /// (or given up): a duplicate.
    pending: Mutex<HashMap<String, Pending>>,
    duplicates: AtomicU64,
}

impl NatsClient {
    /// A builder for a client of the server at `url` (`nats://host:port`).
    pub fn builder(url: &str) -> NatsClientBuilder {
        NatsClientBuilder {
            url: url.to_owned(),
            prefix: "stealpool".into(),
            publish_timeout: Duration::from_secs(60),
        }
    }

    /// Connects with the default settings; see [`NatsClientBuilder::connect`].
    pub fn connect(url: &str) -> Result<NatsClient, NatsError> {
        NatsClient::builder(url).connect()
    }

    /// Queues a job of `kind` with `args` at `Normal` priority; see
    /// [`submit_with`](Self::submit_with).
    pub fn submit<A, R>(&self, kind: &str, args: &A) -> JoinHandle<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        self.submit_with(Priority::Normal, kind, args)
    }

    /// Queues a job of `kind` with `args` in the lane `priority` (workers run it in that
    /// lane of their pool). The handle resolves to the result, decoded as `R`, or to the
    /// error: [`is_panic`](TaskError::is_panic) (it panicked on every delivery),
    /// [`is_codec`](TaskError::is_codec) (arguments or result did not cross),
    /// [`is_unavailable`](TaskError::is_unavailable) (no worker serves `kind`, the job kept
    /// killing its workers, or the server could not be reached within the publish timeout).
    /// [`cancel`](JoinHandle::cancel) only stops waiting: the job stays queued.
    pub fn submit_with<A, R>(&self, priority: Priority, kind: &str, args: &A) -> JoinHandle<R>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned + Send + 'static,
    {
        let (completer, handle) = promise::<R>();
        let payload = match postcard::to_stdvec(args) {
            Ok(payload) => payload,
            Err(e) => {
                completer.complete(Err(TaskError::codec(format!(
                    "the arguments did not encode as {}: {e}",
                    std::any::type_name::<A>()
                ))));
                return handle;
            }
        };
        let job = format!(
            "{}-{}",
            self.shared.id,
            self.shared.next_job.fetch_add(1, Ordering::Relaxed)
        );
        self.shared
            .pending
            .lock()
            .insert(job.clone(), resolver(completer));
        let mut headers = HeaderMap::new();
        headers.insert(MSG_ID, job.as_str());
        headers.insert(KIND, kind);
        headers.insert(
            REPLY,
            self.shared.names.results_subject(&self.shared.id).as_str(),
        );
        let subject = self.shared.names.job_subject(priority);
        let shared = Arc::clone(&self.shared);
        self.runtime.handle().spawn(async move {
            if let Err(why) = shared.publish(subject, headers, payload).await {
                if let Some(pending) = shared.pending.lock().remove(&job) {
                    pending(Err(TaskError::unavailable(why)));
                }
            }
        });
        handle
    }

    /// Results that came for a job already answered (at-least-once delivery ran it twice),
    /// dropped.
    pub fn duplicates(&self) -> u64 {
        self.shared.duplicates.load(Ordering::Relaxed)
    }

    /// Jobs submitted whose result has not come yet.
    pub fn pending(&self) -> usize {
        self.shared.pending.lock().len()
    }

    /// This client's id: the last token of the subject its results come on.
    pub fn id(&self) -> &str {
        &self.shared.id
    }
}

impl std::fmt::Debug for NatsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsClient")
            .field("id", &self.shared.id)
            .field("pending", &self.pending())
            .field("duplicates", &self.duplicates())
            .finish()
    }
}

/// The typed end of a pending job: decodes the result as `R`.
fn resolver<R: DeserializeOwned + Send + 'static>(completer: Completer<R>) -> Pending {
    Box::new(move |result: Result<Vec<u8>, TaskError>| {
        let decoded = result.and_then(|bytes| {
            postcard::from_bytes::<R>(&bytes).map_err(|e| {
                TaskError::codec(format!(
                    "the result did not decode as {}: {e}",
                    std::any::type_name::<R>()
                ))
            })
        });
        completer.complete(decoded);
    })
}

impl Shared {
    /// Publishes a job and waits until the server stored it, trying again (same
    /// `Nats-Msg-Id`, so never twice in the stream) while it is away.
    async fn publish(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + self.publish_timeout;
        loop {
            let error = match self
                .js
                .publish_with_headers(subject.clone(), headers.clone(), payload.clone().into())
                .await
            {
                Ok(ack) => match ack.await {
                    Ok(_) => return Ok(()),
                    Err(e) => e.to_string(),
                },
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "the job could not be stored within {:?}: {error}",
                    self.publish_timeout
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Reads this client's results for as long as the client lives.
    ///
    /// The ordered consumer's server side lives in the server's memory: a server restart
    /// deletes it. async-nats notices only 15 s after the reconnection (its check gives up
    /// after five tries) or after two missed idle heartbeats (30 s each), and meanwhile no
    /// result comes. So after every reconnection, and after any error, this opens a new
    /// consumer from the next result on: none is missed, none is read twice.
    async fn read_results(
        shared: Arc<Shared>,
        mut results: consumer::pull::Ordered,
        mut connects: tokio::sync::watch::Receiver<u64>,
    ) {
        connects.borrow_and_update();
        // The stream sequence of the next result to read.
        let mut from = 1;
        loop {
            let message = tokio::select! {
                message = next(&mut results) => message,
                // (Err: the connection is gone for good; only the results are read then.)
                Ok(()) = connects.changed() => None,
            };
            let Some(Ok(message)) = message else {
                results = loop {
                    match open_results(&shared.js, &shared.names, &shared.id, from).await {
                        Ok(results) => break results,
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                };
                continue;
            };
            if let Ok(info) = message.info() {
                from = info.stream_sequence + 1;
            }
            let header = |name: &str| header(&message, name);
            let Some(job) = header(JOB) else { continue };
            let status = header(STATUS).and_then(|s| Status::parse(&s));
            let payload = message.payload.to_vec();
            let text = || String::from_utf8_lossy(&payload).into_owned();
            let result = match status {
                Some(Status::Ok) => Ok(payload.clone()),
                Some(Status::Panic) => Err(TaskError::panic_message(text())),
                Some(Status::Codec) => Err(TaskError::codec(text())),
                Some(Status::Unavailable) | None => Err(TaskError::unavailable(text())),
            };
            let pending = shared.pending.lock().remove(&job);
            match pending {
                Some(resolve) => resolve(result),
                None => {
                    shared.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// An ordered consumer of client `id`'s results, from stream sequence `from` on.
async fn open_results(
    js: &jetstream::Context,
    names: &Names,
    id: &str,
    from: u64,
) -> Result<consumer::pull::Ordered, NatsError> {
    js.get_stream(names.stream("RESULTS"))
        .await
        .map_err(|e| NatsError::server("opening the results stream", e))?
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: names.results_subject(id),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: from,
            },
            ..Default::default()
        })
        .await
        .map_err(|e| NatsError::server("reading the results", e))?
        .messages()
        .await
        .map_err(|e| NatsError::server("reading the results", e))
}

/// An id unique enough among the clients of one server: time, process and a counter.
fn client_id() -> String {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{:x}{:x}{:x}",
        nanos,
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}
