//! The HTTP side of the `http_offload` example: the routes, their handlers, and the bridge
//! from an async handler to the pool ([`offload`]).
//!
//! Shared by the binary (`examples/http_offload.rs`) and the integration test
//! (`tests/http_offload.rs`), which both include this file with `#[path]`. Everything that
//! only the binary needs (the port, the signals, the pool's shutdown) lives in the binary.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use stealpool::{JoinHandle, Priority, TaskError, WorkerPool};
use tokio::net::TcpListener;

/// The largest `n` served: fib(93) does not fit in a `u64`.
pub const MAX_N: u64 = 92;

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Where the CPU work runs.
    pub pool: WorkerPool,
    /// How long a request waits for its task (queueing included) before it gives up with 503
    /// and cancels the task.
    pub compute_timeout: Duration,
}

/// The service's routes: `GET /fib/{n}`, `GET /health` and `GET /metrics`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/fib/{n}", get(fib_handler))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting connections,
/// lets the requests in flight finish, and returns once every connection is closed.
pub async fn serve<S>(listener: TcpListener, app: Router, shutdown: S) -> std::io::Result<()>
where
    S: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// fib(n) by plain recursion: exponential on purpose, so that a large `n` is real CPU work.
pub fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

/// Below this `n` a subtree is a few milliseconds of work at most, and runs without looking
/// at the cancellation flag.
const CHECK_CANCEL_FROM: u64 = 30;

/// As [`fib`], but gives up with `None` once the task has been cancelled (its request timed
/// out or its client went away). Only the nodes near the root look at the flag, so checking
/// costs nothing measurable and a cancelled task stops within a few milliseconds.
fn fib_unless_cancelled(n: u64) -> Option<u64> {
    if n < CHECK_CANCEL_FROM {
        return Some(fib(n));
    }
    if stealpool::is_cancelled() {
        return None;
    }
    Some(fib_unless_cancelled(n - 1)? + fib_unless_cancelled(n - 2)?)
}

/// The lane for fib(n): the cheaper the task, the more urgent (see the binary's doc comment
/// for why). fib(30) is a few milliseconds of work, fib(40) about a second.
pub fn priority_for(n: u64) -> Priority {
    match n {
        0..=30 => Priority::High,
        31..=40 => Priority::Normal,
        _ => Priority::Low,
    }
}

async fn fib_handler(
    State(state): State<AppState>,
    Path(raw): Path<String>,
) -> Result<String, AppError> {
    let n = parse_n(&raw)?;
    let value = offload(&state, priority_for(n), move || fib_unless_cancelled(n)).await?;
    // `None` only comes from a task cancelled by its handle, and a cancelled handle is not
    // awaited any more; answer sensibly all the same.
    value
        .map(|value| value.to_string())
        .ok_or(AppError::Unavailable(
            "the computation was cancelled".into(),
        ))
}

fn parse_n(raw: &str) -> Result<u64, AppError> {
    let n: u64 = raw.parse().map_err(|_| {
        AppError::BadRequest(format!(
            "n must be a whole number from 0 to {MAX_N}, got {raw:?}"
        ))
    })?;
    if n > MAX_N {
        return Err(AppError::BadRequest(format!(
            "n must be at most {MAX_N} (fib({}) does not fit in 64 bits), got {n}",
            MAX_N + 1
        )));
    }
    Ok(n)
}

/// Answers at once: never touches the pool, so it stays fast however busy the pool is.
async fn health() -> &'static str {
    "ok"
}

/// The table, with a final newline for terminals.
async fn metrics(State(state): State<AppState>) -> String {
    format!("{}\n", state.pool.metrics())
}

/// Runs `job` on the pool at `priority` and waits for it without blocking the async runtime.
///
/// If the request goes away first (its client disconnects, so the server drops the handler's
/// future) or `state.compute_timeout` passes, the task is cancelled: a task still queued never
/// runs, and a running one sees `stealpool::is_cancelled()` and can stop early.
pub async fn offload<T, F>(state: &AppState, priority: Priority, job: F) -> Result<T, AppError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let task = CancelOnDrop(state.pool.spawn_with(priority, job));
    match tokio::time::timeout(state.compute_timeout, task).await {
        Ok(result) => result.map_err(AppError::Task),
        Err(_elapsed) => Err(AppError::Unavailable(format!(
            "gave up after {:?}: the pool is too busy or the job too large",
            state.compute_timeout
        ))),
    }
}

/// A [`JoinHandle`] that cancels its task when dropped before the task finished. (A plain
/// `JoinHandle` would detach it, and the work would go on for nobody.)
struct CancelOnDrop<T>(JoinHandle<T>);

impl<T> Future for CancelOnDrop<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        if !self.0.is_finished() {
            self.0.cancel();
        }
    }
}

/// Why a request failed, and the response that says so.
#[derive(Debug)]
pub enum AppError {
    /// 400: the request asked for something the service does not do.
    BadRequest(String),
    /// 500 when the task panicked; 503 when it was cancelled (the pool is shutting down).
    Task(TaskError),
    /// 503: no answer in time.
    Unavailable(String),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::BadRequest(message) => (StatusCode::BAD_REQUEST, message).into_response(),
            AppError::Task(err) if err.is_cancelled() => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            )
                .into_response(),
            AppError::Task(err) => {
                // The details go to the log, not to the client.
                eprintln!("http_offload: a task failed: {err}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error: the computation panicked",
                )
                    .into_response()
            }
            AppError::Unavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, message).into_response()
            }
        }
    }
}
