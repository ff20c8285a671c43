//! NATS work-queue benchmark (feature `nats`; issue 17, item 5): jobs per second through
//! stealpool's `NatsWorker` beside a plain `async-nats` pull loop that computes each job
//! inline, against a real `nats-server` on this machine.
//!
//! Run with `cargo bench --features nats --bench nats` (about 2 minutes on 2 cores once
//! built). `cargo bench --features nats --bench nats -- --test` (or
//! `STEALPOOL_BENCH_QUICK=1`) shrinks the pass so that it finishes in seconds, with figures
//! that mean nothing.
//!
//! # The server
//!
//! The bench starts its own `nats-server -js` (`$NATS_SERVER` if set, else `nats-server` on
//! the `PATH`, else `/usr/sbin/nats-server`) on `127.0.0.1` and a free port, with its store in
//! a fresh temporary directory, and stops it (SIGTERM, then SIGKILL after 5 s) and removes the
//! directory at the end, also when the bench panics. Its version (`nats-server --version`)
//! is printed and written to the JSON file.
//!
//! # The processes
//!
//! Every worker process, stealpool's and the plain loop's, is this bench binary run again with
//! `STEALPOOL_NATS_BENCH_ROLE` set (`worker` or `plain`): `main` looks at it first. So the
//! bench depends on no separate build of `examples/nats_worker`, and the workers run exactly
//! the code this bench was built with. A worker process stops when its stdin closes (the
//! bench closes it; if the bench dies, the pipe closes too), then prints what it did.
//!
//! - **stealpool** (`role=worker`): a `WorkerPool` of N threads and a `NatsWorker` on it with
//!   the defaults (in flight: twice the threads), serving the kinds `tiny` and `fib`.
//! - **plain loop** (`role=plain`): one thread (a current-thread tokio runtime) running
//!   `consumer.messages()` (async-nats's continuous pull: 200 messages per pull request) on
//!   the same stream and durable consumer that the `NatsWorker` uses (`<PREFIX>_JOBS`,
//!   `<prefix>-workers`, explicit acks, the same ack wait), and for each message, in turn:
//!   decode the argument with postcard, compute the job inline, encode the result with
//!   postcard, publish it to the job's `Stealpool-Reply` subject with the `Stealpool-Job` and
//!   `Stealpool-Status: ok` headers through JetStream and wait for the server's ack (the
//!   result is stored), then `double_ack` the job (the ack is confirmed). These are the steps
//!   and the guarantees of the `NatsWorker` (result stored before the ack, ack confirmed),
//!   without the pool, so the same `NatsClient` measures both.
//!
//! # Workloads and variants
//!
//! - `tiny`: 4 000 jobs (quick mode: 200) of kind `tiny`, each returning its `u64` argument
//!   + 1 (argument: the job's index).
//! - `fib`: 1 000 jobs (quick mode: 40) of kind `fib` with argument 25, each computing
//!   `fib(25)` = 75 025 recursively (the same function as `examples/nats_worker`).
//! - `fib30`: 200 jobs (quick mode: 6) of `fib(30)`, about 11 times the work of `fib(25)`;
//!   no target: it shows how the variants compare once the job outweighs the messaging.
//!
//! The variants (rows), each with its own processes:
//!
//! | id | what |
//! |---|---|
//! | `sp_1x2` | stealpool, 1 worker process with a 2-thread pool: the targets' configuration |
//! | `sp_2x1` | stealpool, 2 worker processes with a 1-thread pool each: one thread per core |
//! | `sp_2x2` | stealpool, 2 worker processes with a 2-thread pool each: the 1-process setup run twice (4 pool threads on 2 cores) |
//! | `plain_1` | the plain loop, 1 process: the reference |
//! | `plain_2` | the plain loop, 2 processes: what running it once per core gives |
//!
//! The machine has 2 cores, and the server and the submitting client run on them too; so
//! one process of 2 threads and two processes of 1 thread use the same cores, and the row
//! of 2 processes of 2 threads shows what doubling the processes costs when they compete.
//!
//! # One sample
//!
//! For each sample, a fresh prefix (`nb<pid>-<workload>-<variant>-<n>`, so no sample sees
//! another's streams, consumer or leftovers): connect a `NatsClient` (it creates the three
//! streams), start the variant's processes, wait until the consumer has as many waiting pull
//! requests as there are processes (every process is connected and fetching), run a warm-up
//! batch of a twentieth of the jobs (not timed), then the timed batch: from just before the
//! first `submit` until the last handle has been joined and its value checked, all `N` jobs
//! submitted at once from the main thread, then joined in order. Then the client is dropped,
//! the processes are stopped and their counts checked (they completed warm-up + N jobs
//! between them, no duplicate result came), and the streams are deleted.
//!
//! Beside the time, each sample reads what the timed batch cost: the CPU time that the
//! server, the worker processes (main thread and other threads apart) and the bench process
//! itself (the client) used, from every thread's `/proc/<pid>/task/<tid>/schedstat`; and the
//! messages the server received and sent, from its monitoring endpoint's `/varz`.
//!
//! Each workload runs 11 rounds (quick mode: 2), every variant once per round in an order
//! that rotates from round to round, after one untimed run of every variant. Ratios are the
//! median over rounds of the per-round ratio (`benches/common/stats.rs`).
//!
//! # Targets (issue 17)
//!
//! - `tiny`: stealpool (1 process, 2-thread pool) at least 0.9x the plain loop's jobs/s.
//! - `fib`: stealpool (1 process, 2-thread pool) at least 1.8x the plain loop's jobs/s.
//!
//! # Output
//!
//! Two Markdown tables per workload, then the target lines; the same figures, unrounded, go
//! to `nats.json` (see `benches/common/mod.rs`). Rows of every table: `sp_1x2`, `sp_2x1`,
//! `sp_2x2`, `plain_1`, `plain_2`.
//!
//! - `tables.<workload>` (`tiny`, `fib`, `fib30`): columns `variant`, `jobs_per_s` (median),
//!   `min_jobs_per_s`, `max_jobs_per_s`, `ms` (median time of the batch), `over_plain`
//!   (paired ratio of jobs/s to `plain_1`'s).
//! - `tables.<workload>_cost`: where the time goes, per job of the timed batch (medians over
//!   rounds): `cpu_server_us`, `cpu_worker_main_us` (the worker processes' main threads: the
//!   tokio runtime), `cpu_worker_pool_us` (their other threads: the pool), `cpu_bench_us`
//!   (the bench process: the client), `cpu_total_us`; `cores_busy` (all that CPU over the
//!   batch's wall time); `msgs_in_per_job`, `msgs_out_per_job` (the server's counters).
//! - `tables.<workload>_breakdown`, only with `STEALPOOL_NATS_BENCH_OBSERVE=1` (below).
//! - `extra.targets.tiny`, `extra.targets.fib`: `sp_1x2_over_plain_1`, `limit`, `met`;
//!   `extra.server_version`; `extra.fib25_ms`, `extra.fib30_ms`: one `fib(n)` alone on the
//!   bench's main thread (median of 21), for scale.
//!
//! # Diagnostics
//!
//! - `STEALPOOL_NATS_BENCH_WORKLOADS=tiny` (or `fib`; comma-separated) and
//!   `STEALPOOL_NATS_BENCH_VARIANTS=sp_1x2,plain_1` run only those.
//! - `STEALPOOL_NATS_BENCH_WRAP='strace -c -f -o /tmp/w{i}.txt'` runs every worker process
//!   under that command (`{i}` becomes a counter): for a profiler or `strace -c -f` to look
//!   at the workers. The CPU columns then count the wrapper's process only.
//! - `STEALPOOL_NATS_BENCH_TRACE=1`: each sample also prints the processes' own counts.
//! - `STEALPOOL_NATS_BENCH_OBSERVE=1`: a per-job breakdown. The jobs are of traced kinds
//!   (`tiny_traced`, `fib_traced`: the same work, returning also their start and end on
//!   `CLOCK_MONOTONIC` and their thread), and the bench subscribes to copies of the jobs, the
//!   results, the pull requests and the acks of each sample, timing each copy as it arrives.
//!   Each workload then gets a third table, `<workload>_breakdown`: the jobs held at once
//!   (`concurrency`: stealpool, processes x in flight; the plain loop, processes), how long
//!   each job is held by Little's law (`hold_us`), its run (`run_us`), a job thread's idle gap
//!   between two jobs (`gap_median_us`, `gap_mean_us`), from a job's end to its result's copy
//!   (`end_to_result_us`), from there to its ack's copy (`result_to_ack_us`), pull requests
//!   per job (`pulls_per_job`) and their mean batch size (`mean_batch`), the share of acks
//!   asking for a confirmation (`confirmed_share`). The copies cost the server three more
//!   messages out per job: every other figure of such a run is perturbed.
//! - `STEALPOOL_NATS_BENCH_IN_FLIGHT=n`: stealpool's workers get `in_flight(n)` instead of
//!   the default (twice the pool's threads).

use std::collections::HashMap;
use std::env;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer};
use criterion::Criterion;
use futures::StreamExt;
use stealpool::WorkerPool;
use stealpool::nats::{NatsClient, NatsWorker};

mod common;

use common::clock::{gettid, monotonic_ns};
use common::json::Json;
use common::rounds::{Order, Rounds};
use common::run::{Results, Run};
use common::stats::{Samples, paired_ratio};
use common::table::{Cell, Table, verdict};

/// Which process this is: unset in the bench, `worker` or `plain` in a worker process.
const ROLE_ENV: &str = "STEALPOOL_NATS_BENCH_ROLE";
/// A worker process's server URL, prefix, and (stealpool) pool threads.
const URL_ENV: &str = "STEALPOOL_NATS_BENCH_URL";
const PREFIX_ENV: &str = "STEALPOOL_NATS_BENCH_PREFIX";
const THREADS_ENV: &str = "STEALPOOL_NATS_BENCH_THREADS";
/// Diagnostics (see the module doc).
const WORKLOADS_ENV: &str = "STEALPOOL_NATS_BENCH_WORKLOADS";
const VARIANTS_ENV: &str = "STEALPOOL_NATS_BENCH_VARIANTS";
const WRAP_ENV: &str = "STEALPOOL_NATS_BENCH_WRAP";
const TRACE_ENV: &str = "STEALPOOL_NATS_BENCH_TRACE";
const OBSERVE_ENV: &str = "STEALPOOL_NATS_BENCH_OBSERVE";
const IN_FLIGHT_ENV: &str = "STEALPOOL_NATS_BENCH_IN_FLIGHT";

/// The wire protocol of `stealpool::nats` (its headers), which the plain loop speaks.
const KIND: &str = "Stealpool-Kind";
const REPLY: &str = "Stealpool-Reply";
const JOB: &str = "Stealpool-Job";
const STATUS: &str = "Stealpool-Status";
const MSG_ID: &str = "Nats-Msg-Id";
/// `NatsWorker`'s default ack wait, which the plain loop's consumer gets too.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// How long a worker process may take to be ready, or to stop.
const PROCESS_LIMIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// The jobs (both kinds of worker process run these).
// ---------------------------------------------------------------------------

/// Kind `tiny`.
fn plus_one(x: u64) -> u64 {
    x + 1
}

/// Kind `fib`: the recursive one, as in `examples/nats_worker`.
fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

/// `fib(n)` the quick way, to check results.
fn fib_iter(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

// ---------------------------------------------------------------------------
// Workloads and variants.
// ---------------------------------------------------------------------------

/// A batch of jobs of one kind.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Workload {
    /// The table's id.
    id: &'static str,
    /// `tiny` (argument: the job's index; result: + 1) or `fib` (argument: `fib`).
    kind: &'static str,
    fib: u64,
    /// Jobs per batch, and in quick mode.
    jobs: u64,
    quick_jobs: u64,
    /// The target's least ratio of `sp_1x2` to `plain_1` (issue 17), if any.
    target: Option<f64>,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        id: "tiny",
        kind: "tiny",
        fib: 0,
        jobs: 4_000,
        quick_jobs: 200,
        target: Some(0.9),
    },
    Workload {
        id: "fib",
        kind: "fib",
        fib: 25,
        jobs: 1_000,
        quick_jobs: 40,
        target: Some(1.8),
    },
    Workload {
        id: "fib30",
        kind: "fib",
        fib: 30,
        jobs: 200,
        quick_jobs: 6,
        target: None,
    },
];

impl Workload {
    /// The argument of job `x`.
    fn arg(&self, x: u64) -> u64 {
        if self.kind == "tiny" { x } else { self.fib }
    }

    fn expected(&self, x: u64) -> u64 {
        if self.kind == "tiny" {
            x + 1
        } else {
            fib_iter(self.fib)
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Engine {
    /// `NatsWorker` on a pool of this many threads.
    Stealpool { threads: usize },
    /// The plain loop.
    Plain,
}

#[derive(Clone, Copy, Debug)]
struct Variant {
    id: &'static str,
    label: &'static str,
    engine: Engine,
    processes: usize,
}

const VARIANTS: [Variant; 5] = [
    Variant {
        id: "sp_1x2",
        label: "stealpool `NatsWorker`, 1 process x 2-thread pool",
        engine: Engine::Stealpool { threads: 2 },
        processes: 1,
    },
    Variant {
        id: "sp_2x1",
        label: "stealpool `NatsWorker`, 2 processes x 1-thread pool",
        engine: Engine::Stealpool { threads: 1 },
        processes: 2,
    },
    Variant {
        id: "sp_2x2",
        label: "stealpool `NatsWorker`, 2 processes x 2-thread pool",
        engine: Engine::Stealpool { threads: 2 },
        processes: 2,
    },
    Variant {
        id: "plain_1",
        label: "plain async-nats loop, 1 process",
        engine: Engine::Plain,
        processes: 1,
    },
    Variant {
        id: "plain_2",
        label: "plain async-nats loop, 2 processes",
        engine: Engine::Plain,
        processes: 2,
    },
];

/// The reference row of the ratios.
const REFERENCE: &str = "plain_1";
/// The row the targets are about.
const TARGET_ROW: &str = "sp_1x2";

struct PassConfig {
    quick: bool,
    rounds: usize,
    workloads: Vec<Workload>,
    variants: Vec<Variant>,
    trace: bool,
    observe: bool,
}

impl PassConfig {
    fn new(quick: bool) -> PassConfig {
        let selected = |name: &str| -> Option<Vec<String>> {
            env::var(name)
                .ok()
                .filter(|s| !s.trim().is_empty())
                .map(|s| s.split(',').map(|p| p.trim().to_owned()).collect())
        };
        let workloads = match selected(WORKLOADS_ENV) {
            Some(ids) => WORKLOADS
                .into_iter()
                .filter(|w| ids.iter().any(|id| id == w.id))
                .collect(),
            None => WORKLOADS.to_vec(),
        };
        let variants = match selected(VARIANTS_ENV) {
            Some(ids) => VARIANTS
                .into_iter()
                .filter(|v| ids.iter().any(|id| id == v.id))
                .collect(),
            None => VARIANTS.to_vec(),
        };
        let flag = |name: &str| env::var(name).is_ok_and(|v| !v.is_empty() && v != "0");
        PassConfig {
            quick,
            rounds: if quick { 2 } else { 11 },
            workloads,
            variants,
            trace: flag(TRACE_ENV),
            observe: flag(OBSERVE_ENV),
        }
    }

    fn jobs(&self, workload: &Workload) -> u64 {
        if self.quick {
            workload.quick_jobs
        } else {
            workload.jobs
        }
    }
}

// ---------------------------------------------------------------------------
// The server.
// ---------------------------------------------------------------------------

/// A `nats-server -js` of our own; stopped, and its store removed, on drop.
struct Server {
    child: Child,
    store: PathBuf,
    url: String,
    /// The HTTP monitoring port (`/varz`).
    monitor: u16,
    version: String,
}

fn server_binary() -> String {
    if let Some(path) = env::var_os("NATS_SERVER").filter(|p| !p.is_empty()) {
        return path.to_string_lossy().into_owned();
    }
    let on_path = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if on_path {
        "nats-server".to_owned()
    } else {
        "/usr/sbin/nats-server".to_owned()
    }
}

impl Server {
    fn start() -> Server {
        let binary = server_binary();
        let version = Command::new(&binary)
            .arg("--version")
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let store = env::temp_dir().join(format!(
            "stealpool-nats-bench-{}-{nanos:x}",
            std::process::id()
        ));
        std::fs::create_dir_all(&store).expect("creating the server's store directory");
        // Free ports: bind port 0, read the port, let it go (the server binds it next).
        let free_port = || {
            TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("finding a free port")
                .port()
        };
        let (port, monitor) = (free_port(), free_port());
        let log = std::fs::File::create(store.join("server.log")).expect("server log");
        let child = Command::new(&binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &monitor.to_string(), "-sd"])
            .arg(&store)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("server log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let mut server = Server {
            child,
            store,
            url: format!("nats://127.0.0.1:{port}"),
            monitor,
            version,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                let log =
                    std::fs::read_to_string(server.store.join("server.log")).unwrap_or_default();
                panic!("nats-server exited ({status}) before listening:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on port {port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's message counters from `/varz`: messages in and out (every connection's,
    /// the server's own internal ones included).
    fn messages(&self) -> Option<Traffic> {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.monitor)).ok()?;
        conn.write_all(b"GET /varz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        conn.read_to_string(&mut body).ok()?;
        let field = |name: &str| -> Option<f64> {
            let at = body.find(&format!("\"{name}\":"))? + name.len() + 3;
            let rest = body[at..].trim_start();
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            rest[..end].parse().ok()
        };
        Some(Traffic {
            msgs_in: field("in_msgs")?,
            msgs_out: field("out_msgs")?,
        })
    }
}

/// Messages the server received and sent, from `/varz`.
#[derive(Clone, Copy, Debug, Default)]
struct Traffic {
    msgs_in: f64,
    msgs_out: f64,
}

impl Drop for Server {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// SIGTERM, then SIGKILL if it has not exited within `grace`; reaps it.
fn stop_child(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    // SAFETY: kill(2) on our own child's pid, which is not reaped yet (so not reused).
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

// ---------------------------------------------------------------------------
// The bench's own connection, for the streams and the consumer.
// ---------------------------------------------------------------------------

struct Admin {
    runtime: tokio::runtime::Runtime,
    client: async_nats::Client,
    js: jetstream::Context,
}

impl Admin {
    fn connect(url: &str) -> Admin {
        // One worker thread, so the connection answers the server's pings between samples.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("the bench's runtime");
        let (client, js) = runtime.block_on(async {
            let client = async_nats::connect(url)
                .await
                .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
            // In the runtime: the context spawns a task of its own.
            let js = jetstream::new(client.clone());
            (client, js)
        });
        Admin {
            runtime,
            client,
            js,
        }
    }

    /// Starts watching the prefix's traffic (see [`Observed`]).
    fn observe(&self, prefix: &str) -> Observer {
        let (stream, consumer) = (jobs_stream(prefix), consumer_name(prefix));
        let client = self.client.clone();
        let subjects = [
            format!("{prefix}.jobs.>"),
            format!("{prefix}.results.>"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"),
            format!("$JS.ACK.{stream}.{consumer}.>"),
        ];
        let [mut jobs, mut results, mut pulls, mut acks] = self.runtime.block_on(async {
            let mut subs = Vec::new();
            for subject in subjects {
                subs.push(
                    client
                        .subscribe(subject.clone())
                        .await
                        .unwrap_or_else(|e| panic!("subscribing to {subject}: {e}")),
                );
            }
            client.flush().await.expect("flushing the subscriptions");
            <[async_nats::Subscriber; 4]>::try_from(subs).unwrap_or_else(|_| unreachable!())
        });
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = self.runtime.spawn(async move {
            let mut seen = Observed::default();
            let header = |m: &async_nats::Message, name: &str| {
                m.headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_owned())
            };
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    Some(job) = jobs.next() => {
                        seen.jobs.push(header(&job, MSG_ID).unwrap_or_default());
                    }
                    Some(result) = results.next() => {
                        let now = monotonic_ns();
                        if let Some(job) = header(&result, JOB) {
                            seen.results.entry(job).or_insert(now);
                        }
                    }
                    Some(pull) = pulls.next() => {
                        let now = monotonic_ns();
                        let body = String::from_utf8_lossy(&pull.payload);
                        let batch = body
                            .split("\"batch\":")
                            .nth(1)
                            .and_then(|rest| {
                                let end = rest
                                    .find(|c: char| !c.is_ascii_digit())
                                    .unwrap_or(rest.len());
                                rest[..end].parse::<u64>().ok()
                            })
                            .unwrap_or(0);
                        seen.pulls.push((now, batch));
                    }
                    Some(ack) = acks.next() => {
                        let now = monotonic_ns();
                        // $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>...
                        let seq = ack.subject.split('.').nth(5).and_then(|t| t.parse().ok());
                        if let Some(seq) = seq {
                            seen.acks.push((seq, now, ack.reply.is_some()));
                        }
                    }
                }
            }
            seen
        });
        Observer { stop, task }
    }

    fn stop_observing(&self, observer: Observer) -> Observed {
        self.runtime.block_on(async {
            // Let the copies of the last messages arrive first.
            self.client.flush().await.expect("flushing");
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = observer.stop.send(());
            observer.task.await.expect("the observer")
        })
    }

    /// The consumer's waiting pull requests (0 while it does not exist yet).
    fn waiting(&self, prefix: &str) -> usize {
        self.runtime.block_on(async {
            let Ok(stream) = self.js.get_stream(jobs_stream(prefix)).await else {
                return 0;
            };
            let Ok(consumer) = stream
                .get_consumer::<consumer::pull::Config>(&consumer_name(prefix))
                .await
            else {
                return 0;
            };
            consumer.get_info().await.map_or(0, |info| info.num_waiting)
        })
    }

    fn delete_streams(&self, prefix: &str) {
        self.runtime.block_on(async {
            for what in ["JOBS", "RESULTS", "DEAD"] {
                let name = stream_name(prefix, what);
                if let Err(e) = self.js.delete_stream(&name).await {
                    eprintln!("nats bench: deleting stream {name}: {e}");
                }
            }
        });
    }
}

/// The names `stealpool::nats` derives from a prefix.
fn stream_name(prefix: &str, what: &str) -> String {
    format!("{}_{what}", prefix.to_uppercase().replace('-', "_"))
}

fn jobs_stream(prefix: &str) -> String {
    stream_name(prefix, "JOBS")
}

fn consumer_name(prefix: &str) -> String {
    format!("{prefix}-workers")
}

// ---------------------------------------------------------------------------
// Worker processes (this binary, run again).
// ---------------------------------------------------------------------------

/// A variant's worker processes; killed on drop if still running.
struct Workers {
    children: Vec<Child>,
}

static SPAWNED: AtomicUsize = AtomicUsize::new(0);

impl Workers {
    fn start(variant: &Variant, url: &str, prefix: &str) -> Workers {
        let exe = env::current_exe().expect("the bench binary's path");
        let wrap: Vec<String> = env::var(WRAP_ENV)
            .map(|w| w.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let children = (0..variant.processes)
            .map(|_| {
                let n = SPAWNED.fetch_add(1, Ordering::Relaxed);
                let mut command = match wrap.split_first() {
                    Some((program, args)) => {
                        let mut c = Command::new(program);
                        c.args(args.iter().map(|a| a.replace("{i}", &n.to_string())));
                        c.arg(&exe);
                        c
                    }
                    None => Command::new(&exe),
                };
                let (role, threads) = match variant.engine {
                    Engine::Stealpool { threads } => ("worker", threads),
                    Engine::Plain => ("plain", 1),
                };
                command
                    .env(ROLE_ENV, role)
                    .env(URL_ENV, url)
                    .env(PREFIX_ENV, prefix)
                    .env(THREADS_ENV, threads.to_string())
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .unwrap_or_else(|e| panic!("cannot start a worker process: {e}"))
            })
            .collect();
        Workers { children }
    }

    fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }

    /// Panics if a worker process has exited already.
    fn check_alive(&mut self) {
        for child in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("a worker process exited early ({status})");
            }
        }
    }

    /// Closes their stdin (they stop), waits for them, returns each one's completed count.
    fn stop(mut self) -> Vec<u64> {
        for child in &mut self.children {
            drop(child.stdin.take());
        }
        let deadline = Instant::now() + PROCESS_LIMIT;
        let mut counts = Vec::new();
        for child in &mut self.children {
            loop {
                match child.try_wait() {
                    Ok(Some(status)) => {
                        assert!(status.success(), "a worker process failed: {status}");
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    _ => panic!("a worker process did not stop within {PROCESS_LIMIT:?}"),
                }
            }
            let mut out = String::new();
            child
                .stdout
                .take()
                .expect("piped")
                .read_to_string(&mut out)
                .expect("reading a worker's report");
            let count = out
                .lines()
                .find_map(|l| l.strip_prefix("completed "))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or_else(|| panic!("a worker process printed no count: {out:?}"));
            counts.push(count);
        }
        counts
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.children {
            drop(child.stdin.take());
            stop_child(child, Duration::from_secs(2));
        }
    }
}

/// The `in_flight` of stealpool's workers: `STEALPOOL_NATS_BENCH_IN_FLIGHT`, else the
/// default (twice the pool's threads; the pool has no `max_queued`).
fn in_flight(threads: usize) -> usize {
    env::var(IN_FLIGHT_ENV)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2 * threads)
}

/// A worker process's `main`: serves until stdin closes, then prints `completed N`.
fn child_main(role: &str) -> ExitCode {
    let var = |name: &str| env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let (url, prefix) = (var(URL_ENV), var(PREFIX_ENV));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = stop_tx.send(());
    });
    let completed = match role {
        "worker" => {
            let threads: usize = var(THREADS_ENV).parse().expect("threads");
            let pool = WorkerPool::builder()
                .num_threads(threads)
                .build()
                .expect("the worker's pool");
            let mut worker = NatsWorker::builder(&url).pool(pool).prefix(&prefix);
            if env::var_os(IN_FLIGHT_ENV).is_some() {
                worker = worker.in_flight(in_flight(threads));
            }
            let report = worker
                .handle("tiny", plus_one)
                .handle("fib", fib)
                .handle("tiny_traced", |x: u64| traced(|| plus_one(x)))
                .handle("fib_traced", |n: u64| traced(|| fib(n)))
                .run(async {
                    let _ = stop_rx.await;
                });
            match report {
                Ok(report) => report.completed,
                Err(e) => {
                    eprintln!("nats bench worker: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        "plain" => match plain_loop(&url, &prefix, stop_rx) {
            Ok(completed) => completed,
            Err(e) => {
                eprintln!("nats bench plain loop: {e}");
                return ExitCode::FAILURE;
            }
        },
        other => {
            eprintln!("nats bench: unknown {ROLE_ENV} {other:?}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "completed {completed}");
    let _ = out.flush();
    ExitCode::SUCCESS
}

/// The plain loop (see the module doc): one thread, each job computed inline, result stored,
/// then the job acked. Returns the jobs it completed.
fn plain_loop(
    url: &str,
    prefix: &str,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Result<u64, async_nats::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let client = async_nats::connect(url).await?;
        let js = jetstream::new(client);
        let stream = js.get_stream(jobs_stream(prefix)).await?;
        let durable = consumer_name(prefix);
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                &durable,
                consumer::pull::Config {
                    durable_name: Some(durable.clone()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    max_deliver: -1,
                    ..Default::default()
                },
            )
            .await?;
        let mut messages = consumer.messages().await?;
        tokio::pin!(stop);
        let mut completed = 0u64;
        loop {
            let message = tokio::select! {
                biased;
                _ = &mut stop => break,
                next = messages.next() => match next {
                    Some(message) => message?,
                    None => break,
                },
            };
            let header = |name: &str| {
                message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_owned())
                    .ok_or_else(|| format!("a job without the {name} header"))
            };
            let (kind, job, reply) = (header(KIND)?, header(MSG_ID)?, header(REPLY)?);
            let x: u64 = postcard::from_bytes(&message.payload)?;
            let encoded = match kind.as_str() {
                "tiny" => postcard::to_stdvec(&plus_one(x))?,
                "fib" => postcard::to_stdvec(&fib(x))?,
                "tiny_traced" => postcard::to_stdvec(&traced(|| plus_one(x)))?,
                "fib_traced" => postcard::to_stdvec(&traced(|| fib(x)))?,
                other => return Err(format!("no handler for kind {other:?}").into()),
            };
            let mut headers = HeaderMap::new();
            headers.insert(JOB, job.as_str());
            headers.insert(STATUS, "ok");
            js.publish_with_headers(reply, headers, encoded.into())
                .await?
                .await?;
            message.double_ack().await?;
            completed += 1;
        }
        Ok(completed)
    })
}

// ---------------------------------------------------------------------------
// What a sample costs: CPU, messages, and (diagnostic) the workers' pulls and acks.
// ---------------------------------------------------------------------------

/// A process's CPU time so far split by thread: (its main thread, its other threads), ms;
/// zeros once it is gone. From each thread's `/proc/<pid>/task/<tid>/schedstat` (its first
/// field: nanoseconds on a CPU, user and system; not the 10 ms ticks of `stat`). In a worker
/// process the main thread runs the tokio runtime (the `NatsWorker`'s, or the plain loop,
/// jobs included); the others are the pool's threads (and the thread waiting on stdin, which
/// uses nothing).
fn thread_cpu_ms(pid: u32) -> (f64, f64) {
    let (mut main, mut others) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0.0, 0.0);
    };
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().into_owned();
        let ns: f64 = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        if tid == pid.to_string() {
            main += ns / 1e6;
        } else {
            others += ns / 1e6;
        }
    }
    (main, others)
}

/// A process's CPU time so far, all threads, ms.
fn cpu_ms(pid: u32) -> f64 {
    let (main, others) = thread_cpu_ms(pid);
    main + others
}

/// CPU of everything involved, ms so far.
#[derive(Clone, Copy, Debug, Default)]
struct Cpu {
    server: f64,
    worker_main: f64,
    worker_others: f64,
    bench: f64,
}

fn cpu_now(server: u32, workers: &[u32]) -> Cpu {
    let mut cpu = Cpu {
        server: cpu_ms(server),
        bench: cpu_ms(std::process::id()),
        ..Cpu::default()
    };
    for &pid in workers {
        let (main, others) = thread_cpu_ms(pid);
        cpu.worker_main += main;
        cpu.worker_others += others;
    }
    cpu
}

/// Diagnostic (`STEALPOOL_NATS_BENCH_OBSERVE=1`): a sample's traffic, seen through core
/// subscriptions of the bench's own connection (which cost the server a copy of each
/// message), each message timed (`CLOCK_MONOTONIC`) when its copy reached the bench.
#[derive(Clone, Debug, Default)]
struct Observed {
    /// Job ids in the order the server received the jobs: a job's stream sequence is its
    /// position + 1 (one publisher, one stream).
    jobs: Vec<String>,
    /// Job id -> when its (first) result went by.
    results: HashMap<String, u64>,
    /// (when, requested batch size) of each pull request.
    pulls: Vec<(u64, u64)>,
    /// (stream sequence, when, confirmation asked for) of each ack.
    acks: Vec<(u64, u64, bool)>,
}

struct Observer {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Observed>,
}

/// Where and when a traced job ran (the kinds `tiny_traced`, `fib_traced`): its value, its
/// start and end on `CLOCK_MONOTONIC` (the same clock in every process), its thread.
type Traced = (u64, u64, u64, i32);

fn traced(job: impl FnOnce() -> u64) -> Traced {
    let start = monotonic_ns();
    let value = job();
    (value, start, monotonic_ns(), gettid())
}

/// A sample's per-job breakdown, from [`Observed`] and the traced jobs' spans (µs; medians
/// over the timed batch's jobs).
#[derive(Clone, Copy, Debug, Default)]
struct Breakdown {
    /// Jobs held at once (stealpool: processes x in flight; the plain loop: processes).
    concurrency: f64,
    /// How long each job is held, by Little's law: concurrency x batch time / jobs.
    hold_us: f64,
    /// The job's own run (start to end, in the job).
    run_us: f64,
    /// A job thread's idle time between the end of one job and the start of its next.
    gap_median_us: f64,
    gap_mean_us: f64,
    /// From the job's end until its result reached the bench's copy of the results subject.
    end_to_result_us: f64,
    /// From the result's copy until the ack's copy.
    result_to_ack_us: f64,
    pulls_per_job: f64,
    /// Mean batch size asked for.
    mean_batch: f64,
    /// Share of the acks that asked for a confirmation.
    confirmed_share: f64,
}

fn breakdown(
    observed: &Observed,
    spans: &[(String, Traced)],
    t0: u64,
    n: u64,
    secs: f64,
    concurrency: f64,
) -> Breakdown {
    let seq_of: HashMap<&str, u64> = observed
        .jobs
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i as u64 + 1))
        .collect();
    let ack_at: HashMap<u64, u64> = observed
        .acks
        .iter()
        .map(|&(seq, at, _)| (seq, at))
        .collect();
    let us = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e3;
    let median = |v: Vec<f64>| {
        if v.is_empty() {
            f64::NAN
        } else {
            Samples::new(v).median()
        }
    };
    let run = spans.iter().map(|(_, (_, s, e, _))| us(*s, *e)).collect();
    let end_to_result = spans
        .iter()
        .filter_map(|(id, (_, _, e, _))| Some(us(*e, *observed.results.get(id)?)))
        .collect();
    let result_to_ack = spans
        .iter()
        .filter_map(|(id, _)| {
            let result = *observed.results.get(id)?;
            let ack = *ack_at.get(seq_of.get(id.as_str())?)?;
            Some(us(result, ack))
        })
        .collect();
    let mut by_thread: Vec<(i32, u64, u64)> = spans
        .iter()
        .map(|(_, (_, s, e, tid))| (*tid, *s, *e))
        .collect();
    by_thread.sort_unstable();
    let gaps: Vec<f64> = by_thread
        .windows(2)
        .filter(|w| w[0].0 == w[1].0)
        .map(|w| us(w[0].2, w[1].1))
        .collect();
    let gap_mean_us = gaps.iter().sum::<f64>() / gaps.len().max(1) as f64;
    let pulls: Vec<u64> = observed
        .pulls
        .iter()
        .filter(|(at, _)| *at >= t0)
        .map(|(_, b)| *b)
        .collect();
    let acks = observed.acks.len().max(1) as f64;
    Breakdown {
        concurrency,
        hold_us: concurrency * secs * 1e6 / n as f64,
        run_us: median(run),
        gap_median_us: median(gaps),
        gap_mean_us,
        end_to_result_us: median(end_to_result),
        result_to_ack_us: median(result_to_ack),
        pulls_per_job: pulls.len() as f64 / n as f64,
        mean_batch: pulls.iter().sum::<u64>() as f64 / pulls.len().max(1) as f64,
        confirmed_share: observed.acks.iter().filter(|a| a.2).count() as f64 / acks,
    }
}

// ---------------------------------------------------------------------------
// One sample.
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Sample {
    ms: f64,
    jobs_per_s: f64,
    /// CPU per job during the timed batch, µs.
    cpu: Cpu,
    /// CPU of everything over the batch's wall time: cores kept busy.
    cores: f64,
    /// Server messages per job during the timed batch.
    traffic: Traffic,
    /// Diagnostic (`STEALPOOL_NATS_BENCH_OBSERVE=1`).
    breakdown: Option<Breakdown>,
}

struct Env<'a> {
    server: &'a Server,
    admin: &'a Admin,
    cfg: &'a PassConfig,
    samples_taken: usize,
}

/// Submits `n` jobs at once (job indexes from `first`), joins them all, checks every value.
/// With `traced`, the jobs are of the traced kind: returns each one's id and span.
fn batch(
    client: &NatsClient,
    workload: &Workload,
    first: u64,
    n: u64,
    traced: bool,
) -> Vec<(String, Traced)> {
    let check = |x: u64, value: u64| {
        assert_eq!(
            value,
            workload.expected(x),
            "{}: wrong result for job {x}",
            workload.id
        );
    };
    let fail =
        |x: u64, e: stealpool::TaskError| -> ! { panic!("{}: job {x} failed: {e}", workload.id) };
    if !traced {
        let handles: Vec<(u64, stealpool::JoinHandle<u64>)> = (first..first + n)
            .map(|x| (x, client.submit(workload.kind, &workload.arg(x))))
            .collect();
        for (x, handle) in handles {
            check(x, handle.join().unwrap_or_else(|e| fail(x, e)));
        }
        return Vec::new();
    }
    let kind = format!("{}_traced", workload.kind);
    let handles: Vec<(u64, stealpool::JoinHandle<Traced>)> = (first..first + n)
        .map(|x| (x, client.submit(&kind, &workload.arg(x))))
        .collect();
    // The client numbers its jobs from 0: job x is `<client id>-x`.
    handles
        .into_iter()
        .map(|(x, handle)| {
            let span = handle.join().unwrap_or_else(|e| fail(x, e));
            check(x, span.0);
            (format!("{}-{x}", client.id()), span)
        })
        .collect()
}

fn sample(env: &mut Env<'_>, workload: &Workload, variant: &Variant) -> Sample {
    env.samples_taken += 1;
    let prefix = format!(
        "nb{}-{}-{}-{}",
        std::process::id(),
        workload.id,
        variant.id.replace('_', "-"),
        env.samples_taken
    );
    let url = &env.server.url;
    let n = env.cfg.jobs(workload);
    let warm = (n / 20).max(1);
    let client = NatsClient::builder(url)
        .prefix(&prefix)
        .connect()
        .unwrap_or_else(|e| panic!("the bench's client: {e}"));
    let mut workers = Workers::start(variant, url, &prefix);
    let deadline = Instant::now() + PROCESS_LIMIT;
    while env.admin.waiting(&prefix) < variant.processes {
        workers.check_alive();
        assert!(
            Instant::now() < deadline,
            "{}: the worker processes were not fetching within {PROCESS_LIMIT:?}",
            variant.id
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let observe = env.cfg.observe;
    let observer = observe.then(|| env.admin.observe(&prefix));
    batch(&client, workload, 0, warm, observe);

    let pids = workers.pids();
    let traffic_before = env.server.messages().unwrap_or_default();
    let before = cpu_now(env.server.pid(), &pids);
    let t0 = monotonic_ns();
    let start = Instant::now();
    let spans = batch(&client, workload, warm, n, observe);
    let elapsed = start.elapsed();
    let after = cpu_now(env.server.pid(), &pids);
    let traffic_after = env.server.messages().unwrap_or_default();
    let observed = observer.map(|o| env.admin.stop_observing(o));

    let duplicates = client.duplicates();
    assert_eq!(client.pending(), 0, "handles still pending after the batch");
    drop(client);
    let counts = workers.stop();
    let total: u64 = counts.iter().sum();
    let breakdown = observed.as_ref().map(|o| {
        let concurrency = match variant.engine {
            Engine::Stealpool { threads } => (variant.processes * in_flight(threads)) as f64,
            Engine::Plain => variant.processes as f64,
        };
        breakdown(o, &spans, t0, n, elapsed.as_secs_f64(), concurrency)
    });
    if env.cfg.trace || observed.is_some() {
        let mut batches = std::collections::BTreeMap::<u64, u64>::new();
        for (_, b) in observed.iter().flat_map(|o| &o.pulls).filter(|p| p.0 >= t0) {
            *batches.entry(*b).or_default() += 1;
        }
        eprintln!(
            "nats bench: {prefix}: {:.1} ms, completed per process {counts:?}, duplicates {duplicates}{}",
            elapsed.as_secs_f64() * 1e3,
            breakdown
                .map(|b| format!(", pull requests' batch sizes (size: count) {batches:?}, {b:?}"))
                .unwrap_or_default()
        );
    }
    assert_eq!(duplicates, 0, "{}: duplicate results", variant.id);
    assert_eq!(
        total,
        warm + n,
        "{}: the worker processes completed {total} jobs, not {}",
        variant.id,
        warm + n
    );
    env.admin.delete_streams(&prefix);

    let secs = elapsed.as_secs_f64();
    let per_job = |a: f64, b: f64| (b - a) * 1e3 / n as f64;
    let cpu = Cpu {
        server: per_job(before.server, after.server),
        worker_main: per_job(before.worker_main, after.worker_main),
        worker_others: per_job(before.worker_others, after.worker_others),
        bench: per_job(before.bench, after.bench),
    };
    let total_cpu_ms = (after.server + after.worker_main + after.worker_others + after.bench)
        - (before.server + before.worker_main + before.worker_others + before.bench);
    Sample {
        breakdown,
        ms: secs * 1e3,
        jobs_per_s: n as f64 / secs,
        cpu,
        cores: total_cpu_ms / (secs * 1e3),
        traffic: Traffic {
            msgs_in: (traffic_after.msgs_in - traffic_before.msgs_in) / n as f64,
            msgs_out: (traffic_after.msgs_out - traffic_before.msgs_out) / n as f64,
        },
    }
}

// ---------------------------------------------------------------------------
// The pass.
// ---------------------------------------------------------------------------

/// One `fib(n)` on this thread, ms (median of 21).
fn fib_alone_ms(n: u64) -> f64 {
    let times: Vec<f64> = (0..21)
        .map(|_| {
            let start = Instant::now();
            let v = fib(std::hint::black_box(n));
            let ms = start.elapsed().as_secs_f64() * 1e3;
            assert_eq!(v, fib_iter(n));
            ms
        })
        .collect();
    Samples::new(times).median()
}

/// Runs one workload's rounds and prints its tables; returns the target row's ratio to the
/// reference, if both ran.
fn workload_pass(
    env: &mut Env<'_>,
    workload: &Workload,
    nproc: &str,
    out: &mut Results,
) -> Option<f64> {
    let cfg = env.cfg;
    let variants = &cfg.variants;
    for v in variants {
        sample(env, workload, v);
    }
    let started = Instant::now();
    let rounds = Rounds {
        rounds: cfg.rounds,
        order: Order::Rotating,
        warm_each: false,
    };
    let samples = rounds.run(variants.len(), |i| sample(env, workload, &variants[i]));
    let n = cfg.jobs(workload);
    println!(
        "\n== {}: {} rounds ({:.1} s) ==",
        workload.id,
        cfg.rounds,
        started.elapsed().as_secs_f64()
    );
    let of =
        |i: usize, f: &dyn Fn(&Sample) -> f64| Samples::new(samples[i].iter().map(f).collect());
    let rates: Vec<Samples> = (0..variants.len())
        .map(|i| of(i, &|s| s.jobs_per_s))
        .collect();
    let reference = variants.iter().position(|v| v.id == REFERENCE);

    if workload.kind == "tiny" {
        println!("\n## Tiny jobs: {n} jobs, each returning its argument + 1 (nproc = {nproc})\n");
    } else {
        let f = workload.fib;
        let alone = fib_alone_ms(f);
        out.extra(&format!("fib{f}_ms"), alone);
        println!(
            "\n## fib({f}) jobs: {n} jobs, each `fib({f})` computed recursively (nproc = {nproc}){}\n",
            if workload.target.is_none() {
                " (no target: for scale)"
            } else {
                ""
            }
        );
        println!(
            "One `fib({f})` alone on the bench's main thread takes {alone:.3} ms (median of 21): at most {:.0} jobs/s on one thread, {:.0} on two.\n",
            1e3 / alone,
            2e3 / alone
        );
    }
    println!(
        "All {n} jobs submitted at once by a `NatsClient` in the bench process, timed until every result has arrived and been checked; jobs/s = {n} / that time. Medians of {} rounds (variants interleaved, rotating order; each sample with fresh processes and a fresh prefix, after an untimed warm-up batch of {}). The ratio is the median over rounds of this row's jobs/s / the plain loop's (1 process) in the same round.",
        cfg.rounds,
        (n / 20).max(1)
    );
    if cfg.quick {
        println!("QUICK MODE: few rounds, small batches, figures not meaningful.");
    }
    println!();
    let mut table = Table::new(workload.id)
        .left("variant", "variant")
        .right("jobs_per_s", "jobs/s, median")
        .right("min_jobs_per_s", "min")
        .right("max_jobs_per_s", "max")
        .right("ms", "batch (ms)")
        .right("over_plain", "/ plain loop");
    let mut target_ratio = None;
    for (i, v) in variants.iter().enumerate() {
        let over = match reference {
            Some(r) if r == i => Cell::num(1.0, "1.00x (reference)".to_owned()),
            Some(r) => {
                let ratio = paired_ratio(&rates[i], &rates[r]);
                if v.id == TARGET_ROW {
                    target_ratio = Some(ratio);
                }
                Cell::ratio(ratio, 3)
            }
            None => Cell::none("n/a"),
        };
        let rate = &rates[i];
        table.row(
            v.id,
            vec![
                Cell::text(v.label),
                Cell::fixed(rate.median(), 0),
                Cell::fixed(rate.min(), 0),
                Cell::fixed(rate.max(), 0),
                Cell::ms(of(i, &|s| s.ms).median()),
                over,
            ],
        );
    }
    out.print_table(&table);

    println!(
        "\nWhere the time goes, per job during the timed batch (medians over rounds): CPU in µs (from each thread's `/proc/.../schedstat`, over the whole batch / {n}) of the server, of the worker processes' main threads (the tokio runtime: the `NatsWorker`'s protocol, or the whole plain loop, jobs included), of their other threads (the pool's: the jobs, and their search for work before sleeping), and of the bench process (the client); the cores all of it kept busy (CPU / wall time; the machine has {nproc}); the server's messages in and out (`/varz`, every connection, the server's internal ones included).\n"
    );
    let mut cost = Table::new(&format!("{}_cost", workload.id))
        .left("variant", "variant")
        .right("cpu_server_us", "server (µs)")
        .right("cpu_worker_main_us", "worker main thread (µs)")
        .right("cpu_worker_pool_us", "worker pool threads (µs)")
        .right("cpu_bench_us", "bench/client (µs)")
        .right("cpu_total_us", "total (µs)")
        .right("cores_busy", "cores busy")
        .right("msgs_in_per_job", "msgs in / job")
        .right("msgs_out_per_job", "msgs out / job");
    for (i, v) in variants.iter().enumerate() {
        let us = |f: &dyn Fn(&Sample) -> f64| Cell::fixed(of(i, f).median(), 0);
        cost.row(
            v.id,
            vec![
                Cell::text(v.label),
                us(&|s| s.cpu.server),
                us(&|s| s.cpu.worker_main),
                us(&|s| s.cpu.worker_others),
                us(&|s| s.cpu.bench),
                us(&|s| s.cpu.server + s.cpu.worker_main + s.cpu.worker_others + s.cpu.bench),
                Cell::fixed(of(i, &|s| s.cores).median(), 2),
                Cell::fixed(of(i, &|s| s.traffic.msgs_in).median(), 2),
                Cell::fixed(of(i, &|s| s.traffic.msgs_out).median(), 2),
            ],
        );
    }
    out.print_table(&cost);

    if cfg.observe {
        println!(
            "\nDIAGNOSTIC (`{OBSERVE_ENV}=1`: the jobs are of the traced kinds, and the bench subscribes to copies of the jobs, results, pull requests and acks, which perturbs every figure above). Per job, medians over the batch's jobs, then medians over rounds: the jobs held at once (stealpool: processes x `in_flight`), how long each is held by Little's law (held x batch time / jobs), its run, a job thread's idle gap between two jobs (median, mean), from the job's end to its result's copy reaching the bench, from that to the ack's copy; pull requests per job and their mean batch size; the share of acks that asked for a confirmation.\n"
        );
        let mut table = Table::new(&format!("{}_breakdown", workload.id))
            .left("variant", "variant")
            .right("concurrency", "held at once")
            .right("hold_us", "held (µs)")
            .right("run_us", "run (µs)")
            .right("gap_median_us", "thread idle gap, median (µs)")
            .right("gap_mean_us", "mean (µs)")
            .right("end_to_result_us", "end -> result (µs)")
            .right("result_to_ack_us", "result -> ack (µs)")
            .right("pulls_per_job", "pull requests / job")
            .right("mean_batch", "batch asked, mean")
            .right("confirmed_share", "acks confirmed (share)");
        for (i, v) in variants.iter().enumerate() {
            let b = |f: &dyn Fn(&Breakdown) -> f64, decimals: usize| {
                let values: Vec<f64> = samples[i]
                    .iter()
                    .filter_map(|s| s.breakdown.as_ref().map(f))
                    .filter(|x| x.is_finite())
                    .collect();
                if values.is_empty() {
                    Cell::none("n/a")
                } else {
                    Cell::fixed(Samples::new(values).median(), decimals)
                }
            };
            table.row(
                v.id,
                vec![
                    Cell::text(v.label),
                    b(&|b| b.concurrency, 0),
                    b(&|b| b.hold_us, 0),
                    b(&|b| b.run_us, 0),
                    b(&|b| b.gap_median_us, 0),
                    b(&|b| b.gap_mean_us, 0),
                    b(&|b| b.end_to_result_us, 0),
                    b(&|b| b.result_to_ack_us, 0),
                    b(&|b| b.pulls_per_job, 2),
                    b(&|b| b.mean_batch, 2),
                    b(&|b| b.confirmed_share, 2),
                ],
            );
        }
        out.print_table(&table);
    }
    target_ratio
}

fn main() -> ExitCode {
    if let Ok(role) = env::var(ROLE_ENV) {
        return child_main(&role);
    }
    let run = Run::from_args("nats", 2);
    // No groups: the variants are compared within rounds; criterion still reads the command
    // line, so `--test`, `--list` and the rest behave as in the other benches.
    let criterion = Criterion::default().configure_from_args();

    let written = run.pass("nats pass", |out| {
        let cfg = PassConfig::new(run.quick());
        let server = Server::start();
        let admin = Admin::connect(&server.url);
        println!(
            "nats-server: {} at {} (store in {})",
            server.version,
            server.url,
            server.store.display()
        );
        out.config("rounds", cfg.rounds);
        out.config(
            "workloads",
            cfg.workloads.iter().map(|w| w.id).collect::<Vec<_>>(),
        );
        for w in &cfg.workloads {
            out.config(&format!("{}_jobs", w.id), cfg.jobs(w));
        }
        out.config(
            "variants",
            cfg.variants.iter().map(|v| v.id).collect::<Vec<_>>(),
        );
        out.extra("server_version", server.version.as_str());

        let mut env = Env {
            server: &server,
            admin: &admin,
            cfg: &cfg,
            samples_taken: 0,
        };
        let mut targets = Json::object();
        let mut lines = Vec::new();
        for workload in &cfg.workloads {
            let ratio = workload_pass(&mut env, workload, run.nproc(), out);
            if let (Some(ratio), Some(limit)) = (ratio, workload.target) {
                let met = ratio >= limit;
                lines.push(format!(
                    "- {}: stealpool (1 process, 2-thread pool) / plain loop {ratio:.3}x (target >= {limit:.1}x): {}",
                    workload.id,
                    verdict(met)
                ));
                targets.set(
                    workload.id,
                    Json::object()
                        .with("sp_1x2_over_plain_1", ratio)
                        .with("limit", limit)
                        .with("met", met),
                );
            }
        }
        if !lines.is_empty() {
            println!("\n### Targets, on this run\n");
            for line in &lines {
                println!("{line}");
            }
        }
        out.extra("targets", targets);
        drop(admin);
        drop(server);
    });

    criterion.final_summary();
    written
}
