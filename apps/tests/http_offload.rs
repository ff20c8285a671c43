//! The `http_offload` example's service (`examples/http_offload/app.rs`), served on a free
//! port and driven over real HTTP: answers against an iterative fib, concurrent requests,
//! bad input, the metrics page, `/health` while the pool is saturated, a panicking task, a
//! request that times out, and graceful shutdown.
//!
//! Timing is printed (`--nocapture` shows it), never asserted: every wait polls a condition
//! with a generous deadline, so a slow or noisy machine makes the tests slower, not red.

#[path = "../examples/http_offload/app.rs"]
mod app;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use app::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use stealpool::{Priority, WorkerPool};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A bound on any single wait, far above what it needs: a hang fails the test instead of
/// stalling the run.
const DEADLINE: Duration = Duration::from_secs(60);

/// The request timeout of the servers under test, unless a test says otherwise.
const COMPUTE_TIMEOUT: Duration = Duration::from_secs(60);

/// Large enough to keep a worker busy for a while (tens to hundreds of milliseconds in a
/// debug build), small enough to keep the tests quick.
const BIG_N: u64 = 35;

fn fib_iterative(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

fn state(threads: usize, compute_timeout: Duration) -> AppState {
    let pool = WorkerPool::builder()
        .num_threads(threads)
        .build()
        .expect("valid pool settings");
    AppState {
        pool,
        compute_timeout,
    }
}

/// A server running on a free port of 127.0.0.1.
struct Server {
    addr: SocketAddr,
    signal: oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(app: Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        // A dropped sender stops the server too.
        let _ = stopped.await;
    };
    let serving = tokio::spawn(app::serve(listener, app, shutdown));
    Server {
        addr,
        signal: stop,
        serving,
    }
}

impl Server {
    /// Signals shutdown and waits for the server to stop.
    async fn stop(self) {
        let _ = self.signal.send(());
        within(self.serving)
            .await
            .expect("server task")
            .expect("server error");
    }
}

/// A plain HTTP/1 client (hyper's, on the same runtime).
struct HttpClient {
    client: Client<HttpConnector, Empty<Bytes>>,
    addr: SocketAddr,
}

impl HttpClient {
    fn new(addr: SocketAddr) -> Self {
        HttpClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
            addr,
        }
    }

    /// `GET path`: the status and the body as text.
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let uri = format!("http://{}{path}", self.addr)
            .parse()
            .expect("valid URI");
        within(async {
            let response = self.client.get(uri).await.expect("request");
            let status = response.status();
            let body = response.into_body().collect().await.expect("body");
            let text = String::from_utf8(body.to_bytes().to_vec()).expect("UTF-8 body");
            (status, text)
        })
        .await
    }
}

/// `future`'s output, or a test failure once `DEADLINE` has passed.
async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("no answer within the deadline")
}

/// Polls `condition` every few milliseconds until it holds; fails the test at `DEADLINE`.
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Tasks running on the pool now (neither queued nor finished).
fn running(pool: &WorkerPool) -> u64 {
    let m = pool.metrics();
    m.submitted()
        .saturating_sub(m.completed() + m.cancelled() + m.queued() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_match_an_iterative_fib() {
    let state = state(2, COMPUTE_TIMEOUT);
    let server = start(app::router(state.clone())).await;
    let client = HttpClient::new(server.addr);
    for n in [0, 1, 2, 3, 10, 20, 25, 30] {
        let (status, body) = client.get(&format!("/fib/{n}")).await;
        assert_eq!(status, StatusCode::OK, "fib({n}): {body}");
        assert_eq!(body, fib_iterative(n).to_string(), "fib({n})");
    }
    server.stop().await;
    assert!(state.pool.shutdown_timeout(DEADLINE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_requests_all_get_their_answer() {
    let state = state(2, COMPUTE_TIMEOUT);
    let server = start(app::router(state.clone())).await;
    let client = HttpClient::new(server.addr);
    // Every lane: n up to 30 is High, up to 40 Normal (see app::priority_for).
    let ns: Vec<u64> = (0..20).map(|i| 12 + i).collect();
    let client = &client;
    let requests = ns
        .iter()
        .map(|&n| async move { (n, client.get(&format!("/fib/{n}")).await) });
    let answers = futures::future::join_all(requests).await;
    for (n, (status, body)) in answers {
        assert_eq!(status, StatusCode::OK, "fib({n}): {body}");
        assert_eq!(body, fib_iterative(n).to_string(), "fib({n})");
    }
    let metrics = state.pool.metrics();
    assert_eq!(metrics.completed(), 20);
    assert_eq!(metrics.lane(Priority::High).completed(), 19); // n = 12..=30
    assert_eq!(metrics.lane(Priority::Normal).completed(), 1); // n = 31
    server.stop().await;
    assert!(state.pool.shutdown_timeout(DEADLINE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_400_with_a_message() {
    let state = state(1, COMPUTE_TIMEOUT);
    let server = start(app::router(state.clone())).await;
    let client = HttpClient::new(server.addr);
    for (path, expected) in [
        (
            "/fib/abc",
            "n must be a whole number from 0 to 92, got \"abc\"",
        ),
        (
            "/fib/-1",
            "n must be a whole number from 0 to 92, got \"-1\"",
        ),
        (
            "/fib/4.5",
            "n must be a whole number from 0 to 92, got \"4.5\"",
        ),
        ("/fib/99999999999999999999999", "n must be a whole number"),
        (
            "/fib/93",
            "n must be at most 92 (fib(93) does not fit in 64 bits), got 93",
        ),
        ("/fib/100", "n must be at most 92"),
    ] {
        let (status, body) = client.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body.contains(expected), "{path}: {body:?}");
    }
    // Nothing reached the pool.
    assert_eq!(state.pool.metrics().submitted(), 0);
    server.stop().await;
    assert!(state.pool.shutdown_timeout(DEADLINE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_the_completed_tasks() {
    let state = state(2, COMPUTE_TIMEOUT);
    let server = start(app::router(state.clone())).await;
    let client = HttpClient::new(server.addr);
    for n in [5, 10, 15, 20, 35] {
        let (status, _) = client.get(&format!("/fib/{n}")).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, table) = client.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    eprintln!("/metrics after 5 requests:\n{table}");
    assert!(table.starts_with("stealpool: 2 workers"), "{table}");
    assert!(
        table.contains("tasks: 5 completed"),
        "no '5 completed' in:\n{table}"
    );
    server.stop().await;
    assert!(state.pool.shutdown_timeout(DEADLINE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_while_the_pool_is_saturated() {
    let state = state(2, COMPUTE_TIMEOUT);
    let pool = state.pool.clone();
    let server = start(app::router(state)).await;
    let client = HttpClient::new(server.addr);

    // Four big jobs on two workers: two run, two wait.
    let big: Vec<_> = (0..4)
        .map(|_| {
            let client = HttpClient::new(server.addr);
            tokio::spawn(async move { client.get(&format!("/fib/{BIG_N}")).await })
        })
        .collect();
    wait_until("both workers run a big job", || running(&pool) == 2).await;

    let mut latencies = Vec::new();
    let mut while_saturated = 0;
    for _ in 0..10 {
        let started = Instant::now();
        let (status, body) = client.get("/health").await;
        latencies.push(started.elapsed());
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
        if running(&pool) == 2 {
            while_saturated += 1;
        }
    }
    latencies.sort();
    eprintln!(
        "/health latency with the pool saturated by fib({BIG_N}) jobs: min {:?}, median {:?}, \
         max {:?} ({while_saturated} of 10 answers saw both workers still busy)",
        latencies[0], latencies[5], latencies[9]
    );

    for job in big {
        let (status, body) = within(job).await.expect("client task");
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, fib_iterative(BIG_N).to_string());
    }
    server.stop().await;
    assert!(pool.shutdown_timeout(DEADLINE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_task_gets_500_and_the_server_carries_on() {
    let state = state(1, COMPUTE_TIMEOUT);
    // The test's own route runs a task that panics, through the same `offload` as /fib.
    let panicking = {
        let state = state.clone();
        get(move || async move {
            app::offload(&state, Priority::Normal, || -> u64 {
                panic!("planned panic in a task")
            })
            .await
            .map(|value| value.to_string())
        })
    };
    let server = start(app::router(state.clone()).route("/panic", panicking)).await;
    let client = HttpClient::new(server.addr);

    let (status, body) = client.get("/panic").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body, "internal error: the computation panicked");

    // The server and the pool carry on.
    let (status, body) = client.get("/fib/20").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, fib_iterative(20).to_string())
    );
    assert_eq!(client.get("/health").await.0, StatusCode::OK);
    let metrics = state.pool.metrics();
    assert_eq!((metrics.completed(), metrics.panicked()), (2, 1));
    server.stop().await;
    assert!(state.pool.shutdown_timeout(DEADLINE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_takes_too_long_gets_503_and_its_task_stops() {
    // One worker, so the next request can only be served once the first task has stopped.
    let state = state(1, Duration::from_millis(200));
    let server = start(app::router(state.clone())).await;
    let client = HttpClient::new(server.addr);

    // fib(92) by plain recursion would take centuries: only the cancellation ends it.
    let (status, body) = client.get("/fib/92").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.starts_with("gave up after 200ms"), "{body}");

    // Its task sees the cancellation and returns, which frees the only worker.
    wait_until("the cancelled task has returned", || {
        state.pool.metrics().completed() == 1
    })
    .await;
    let (status, body) = client.get("/fib/20").await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, fib_iterative(20).to_string())
    );
    server.stop().await;
    assert!(state.pool.shutdown_timeout(DEADLINE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let state = state(1, COMPUTE_TIMEOUT);
    let pool = state.pool.clone();
    let server = start(app::router(state)).await;
    let addr = server.addr;
    let client = HttpClient::new(addr);

    let in_flight = tokio::spawn(async move { client.get(&format!("/fib/{BIG_N}")).await });
    wait_until("the request's task is running", || running(&pool) == 1).await;

    let signalled = Instant::now();
    let _ = server.signal.send(());
    let (status, body) = within(in_flight).await.expect("client task");
    eprintln!(
        "in-flight fib({BIG_N}) answered {:?} after the shutdown signal",
        signalled.elapsed()
    );
    assert_eq!(
        (status, body),
        (StatusCode::OK, fib_iterative(BIG_N).to_string())
    );

    // The server future completes, and the port no longer takes connections.
    within(server.serving)
        .await
        .expect("server task")
        .expect("server error");
    eprintln!("server stopped {:?} after the signal", signalled.elapsed());
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    // Then the pool: nothing left to run, so it stops at once.
    assert!(pool.shutdown_timeout(DEADLINE));
    let metrics = pool.metrics();
    assert_eq!((metrics.completed(), metrics.queued()), (1, 0));
}
