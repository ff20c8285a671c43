//! HTTP offload: an async web service (tokio + axum) whose handlers hand their CPU-heavy work
//! to a stealpool `WorkerPool` and `.await` the `JoinHandle`, so the async runtime's threads
//! never run long computations and stay free to answer everything else.
//!
//! ```text
//! cargo run --release -p stealpool-apps --example http_offload            # listens on 127.0.0.1:3000
//! PORT=8080 cargo run --release -p stealpool-apps --example http_offload
//!
//! curl http://127.0.0.1:3000/fib/30       # 832040
//! curl http://127.0.0.1:3000/fib/abc      # 400: n must be a whole number from 0 to 92, ...
//! curl http://127.0.0.1:3000/fib/100      # 400: n must be at most 92 ...
//! curl http://127.0.0.1:3000/health       # ok, at once, however busy the pool is
//! curl http://127.0.0.1:3000/metrics      # the pool's metrics table
//! ```
//!
//! Endpoints:
//! - `GET /fib/{n}`: fib(n) for `n` from 0 to 92, computed on the pool by plain (exponential)
//!   recursion, as decimal text. fib(40) takes about a second, fib(45) several, and each
//!   step up multiplies the work by 1.6. A bad `n` (not a number, or above 92, as fib(93)
//!   overflows 64 bits) gets 400 with a message. A task that panics gets 500 and the
//!   service carries on. A request that waits more than 30 s for its task gets 503, and its
//!   task is cancelled; so is the task of a client that disconnects (the recursion checks
//!   `stealpool::is_cancelled()` near its root and stops within milliseconds).
//! - `GET /health`: `ok`, without touching the pool.
//! - `GET /metrics`: `pool.metrics()` as a table: tasks per lane and per worker, and the
//!   wait (queueing) and run time percentiles per lane (the pool times every task).
//!
//! Priority lanes: a request's lane follows what it costs. `n <= 30` (a few ms of work at
//! most) goes to `High`, `31..=40` (up to about a second) to `Normal`, larger to `Low`.
//! Workers take queued `High` work first at every task boundary, so a cheap request does not
//! queue behind a backlog of expensive ones: cheapest-first keeps the mean latency low, and
//! a big job hardly notices a few milliseconds more. Two limits: a running task is never
//! interrupted, so while every worker runs a big job a small one still waits for the first
//! to end; and the pool's fairness picks keep the `Low` lane moving under a steady stream of
//! cheap requests, so big jobs are delayed, never starved.
//!
//! Shutdown: on Ctrl-C (SIGINT) or SIGTERM the server stops accepting connections and lets
//! the requests in flight finish (axum's `with_graceful_shutdown`; the 30 s limit above
//! bounds the wait), then the pool shuts down with a 10 s timeout, and the program prints
//! what happened and the final metrics.
//!
//! Environment: `PORT` (default 3000); `STEALPOOL_NUM_THREADS` sets the pool's width
//! (default: one worker per CPU).

#[path = "http_offload/app.rs"]
mod app;

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use stealpool::WorkerPool;
use tokio::net::TcpListener;

/// How long a request may wait for its computation.
const COMPUTE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the pool may take to finish its work once the server has stopped.
const POOL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let port = match std::env::var("PORT") {
        Err(_) => 3000,
        Ok(text) => match text.parse::<u16>() {
            Ok(port) => port,
            Err(err) => {
                eprintln!("http_offload: PORT={text:?} is not a port number: {err}");
                return ExitCode::FAILURE;
            }
        },
    };
    // Timing for every task: a request's task is at least microseconds of work behind an
    // HTTP round trip, so the few nanoseconds of timing it costs do not show.
    let pool = match WorkerPool::builder()
        .record_timing(true)
        .timing_sample(1)
        .build()
    {
        Ok(pool) => pool,
        Err(err) => {
            eprintln!("http_offload: cannot build the pool: {err}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("http_offload: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };

    let state = app::AppState {
        pool: pool.clone(),
        compute_timeout: COMPUTE_TIMEOUT,
    };
    let served = runtime.block_on(async {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        println!(
            "http_offload: listening on http://{} ({} pool workers)",
            listener.local_addr()?,
            pool.num_threads()
        );
        app::serve(listener, app::router(state), shutdown_signal(pool.clone())).await
    });
    drop(runtime);
    let failed = match served {
        Ok(()) => {
            println!("http_offload: server stopped; every request in flight was answered");
            false
        }
        Err(err) => {
            eprintln!("http_offload: server error: {err}");
            true
        }
    };

    let started = Instant::now();
    if pool.shutdown_timeout(POOL_SHUTDOWN_TIMEOUT) {
        println!(
            "http_offload: pool shut down in {:.1?}, threads joined",
            started.elapsed()
        );
    } else {
        let metrics = pool.metrics();
        println!(
            "http_offload: pool still busy after {POOL_SHUTDOWN_TIMEOUT:?} ({} queued); exiting anyway",
            metrics.queued()
        );
    }
    println!("final metrics:\n{}", pool.metrics());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM, after saying which and what is still running.
async fn shutdown_signal(pool: WorkerPool) {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            eprintln!("http_offload: cannot listen for Ctrl-C: {err}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                eprintln!("http_offload: cannot listen for SIGTERM: {err}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    let which = tokio::select! {
        () = ctrl_c => "SIGINT (Ctrl-C)",
        () = terminate => "SIGTERM",
    };
    let metrics = pool.metrics();
    // Figures read a moment apart may not add up exactly while tasks run: saturate.
    let on_pool = metrics
        .submitted()
        .saturating_sub(metrics.completed() + metrics.cancelled());
    println!(
        "http_offload: {which} received; no new connections, finishing the requests in flight \
         (tasks running or queued on the pool: {on_pool})"
    );
}
