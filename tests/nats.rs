//! The NATS work queue (feature `nats`) against a real server, with its faults (issue 17,
//! item 3): a round trip, lanes included; a worker killed with SIGKILL mid-run (its unacked
//! jobs go to another worker); a worker killed while it cannot store a result (the job was not
//! acked, so it is not lost); a poison job (dead-lettered after its deliveries, holding up
//! nothing); the server stopped mid-run, by SIGKILL and then by SIGTERM, and started again on
//! the same file store (nothing lost); a payload that does not decode (terminated,
//! dead-lettered, the worker carries on); a duplicate result (dropped and counted by the
//! client); clients that connect at once and race to create the streams.
//!
//! Each test starts its own `nats-server -js` on a free port with a temporary store directory
//! and stops it at the end; a missing `nats-server` fails the test (`apt-get install
//! nats-server`). Workers are processes of examples/nats_worker, which `cargo test --features
//! nats` builds before the tests (`cargo test --features nats --test nats` alone does not:
//! build it first, `cargo build --features nats --example nats_worker`, or the tests run an
//! old one); this test looks for it next to its own binary
//! (`target/<profile>/examples/nats_worker`). The submitter is a `NatsClient` in the test
//! process; the test also talks to the server directly with async-nats (raw jobs and results,
//! dead letters, the streams' and the consumer's state). Times and counts are printed, not
//! asserted: run with `--nocapture` to see them.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, message::StreamMessage};
use stealpool::nats::NatsClient;
use stealpool::{JoinHandle, Priority, TaskError};

/// The bound on every wait (generous: the machine is shared).
const DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn round_trip_and_lanes() {
    let server = Server::start("round-trip");
    let prefix = "roundtrip";
    let mut worker = Worker::start("worker", &server, prefix, &["--threads", "2"]);
    let client = client(&server, prefix);

    let start = Instant::now();
    let jobs: Vec<(u64, JoinHandle<u64>)> = (0..100u64)
        .map(|i| {
            let n = 10 + i % 16;
            (n, client.submit("fib", &n))
        })
        .collect();
    let high: JoinHandle<u64> = client.submit_with(Priority::High, "fib", &30u64);
    let low: JoinHandle<u64> = client.submit_with(Priority::Low, "sleep", &1u64);
    let deadline = Instant::now() + DEADLINE;
    for (n, handle) in jobs {
        assert_eq!(join_within(handle, deadline, "a fib job").unwrap(), fib(n));
    }
    assert_eq!(
        join_within(high, deadline, "the High job").unwrap(),
        fib(30)
    );
    assert_eq!(join_within(low, deadline, "the Low job").unwrap(), 1);
    let took = start.elapsed();
    assert_eq!(client.duplicates(), 0);
    assert_eq!(client.pending(), 0);

    let report = worker.stop();
    assert_eq!(
        report,
        Report {
            completed: 102,
            retried: 0,
            dead_lettered: 0
        }
    );
    println!(
        "round trip: 100 fib jobs + 1 High + 1 Low in {:.1} ms on one worker (2 threads); \
         duplicates 0; worker: {report:?}",
        ms(took)
    );
}

#[test]
fn a_worker_killed_mid_run_has_its_jobs_redelivered() {
    let server = Server::start("sigkill");
    let prefix = "sigkill";
    let args = ["--threads", "2", "--ack-wait-ms", "1500"];
    let mut a = Worker::start("A", &server, prefix, &args);
    let client = client(&server, prefix);
    let raw = Raw::connect(&server);

    let handles: Vec<JoinHandle<u64>> = (0..20).map(|_| client.submit("sleep", &300u64)).collect();
    let finished = |handles: &[JoinHandle<u64>]| handles.iter().filter(|h| h.is_finished()).count();
    common::wait_for("two results from worker A", || finished(&handles) >= 2);
    let before = finished(&handles);
    a.kill();
    let killed_at = Instant::now();
    let at_kill = raw.consumer(prefix, "JOBS");
    println!(
        "A killed after {before} results; the consumer then: {} delivered and unacked (A's), \
         {} not yet delivered",
        at_kill.num_ack_pending, at_kill.num_pending
    );

    let mut b = Worker::start("B", &server, prefix, &args);
    let deadline = Instant::now() + DEADLINE;
    while finished(&handles) < handles.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        finished(&handles),
        handles.len(),
        "jobs lost: results missing {DEADLINE:?} after A was killed (A held {} jobs unacked \
         then, by the consumer's count)",
        at_kill.num_ack_pending
    );
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 300);
    }
    let all_done = killed_at.elapsed();
    let report = b.stop();
    let end = raw.consumer(prefix, "JOBS");
    // The jobs are stream messages 1..=20; the consumer's sequence counts every delivery.
    let redelivered = end.delivered.consumer_sequence - end.delivered.stream_sequence;
    println!(
        "every one of the 20 results came {:.1} ms after the kill (ack wait 1500 ms); \
         deliveries past the first: {redelivered}; duplicate results dropped by the client: \
         {}; B: {report:?}",
        ms(all_done),
        client.duplicates()
    );
    assert_eq!(end.delivered.stream_sequence, 20);
    assert!(redelivered > 0, "A's unacked jobs were not delivered again");
    assert_eq!((end.num_ack_pending, end.num_pending), (0, 0));
    // B ran what A had not acked: at most the jobs without a result at the kill, plus those
    // whose result A stored but did not ack (B's result for them is a duplicate).
    assert!(report.completed > 0);
    assert!(report.completed <= 20 - before as u64 + client.duplicates());
    assert_eq!((report.retried, report.dead_lettered), (0, 0));
}

#[test]
fn a_job_is_acked_only_once_its_result_is_stored() {
    let server = Server::start("ack-after-store");
    let prefix = "ackafterstore";
    let args = ["--threads", "1", "--ack-wait-ms", "1500"];
    let mut a = Worker::start("A", &server, prefix, &args);
    let client = client(&server, prefix);
    let raw = Raw::connect(&server);
    let deadline = Instant::now() + DEADLINE;
    let first: JoinHandle<u64> = client.submit("fib", &10u64);
    assert_eq!(join_within(first, deadline, "the first job").unwrap(), 55);

    // The results stream takes no more messages: A runs the next job, then keeps trying to
    // store its result, and must not ack it meanwhile.
    raw.limit_results(prefix, Some(1));
    let handle: JoinHandle<u64> = client.submit("sleep", &50u64);
    common::wait_for("the job's delivery to A", || {
        raw.consumer(prefix, "JOBS").delivered.stream_sequence == 2
    });
    std::thread::sleep(Duration::from_millis(1000));
    let at_kill = raw.consumer(prefix, "JOBS");
    a.kill();
    let killed_at = Instant::now();
    raw.limit_results(prefix, None);

    let mut b = Worker::start("B", &server, prefix, &args);
    while !handle.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        handle.is_finished(),
        "the job is lost: no result {DEADLINE:?} after A, which could not store its result, \
         was killed (A held {} jobs unacked then, by the consumer's count)",
        at_kill.num_ack_pending
    );
    assert_eq!(handle.join().unwrap(), 50);
    let took = killed_at.elapsed();
    let report = b.stop();
    assert_eq!(report.completed, 1);
    println!(
        "A killed while it could not store a result (the job unacked: {}); B ran the job \
         again, its result came {:.1} ms after the kill; B: {report:?}",
        at_kill.num_ack_pending,
        ms(took)
    );
}

#[test]
fn a_poison_job_is_dead_lettered_and_holds_up_nothing() {
    let server = Server::start("poison");
    let prefix = "poison";
    let mut worker = Worker::start(
        "worker",
        &server,
        prefix,
        &[
            "--threads",
            "2",
            "--max-deliver",
            "3",
            "--retry-delay-ms",
            "100",
        ],
    );
    let client = client(&server, prefix);
    let raw = Raw::connect(&server);

    let start = Instant::now();
    let poison: JoinHandle<u64> = client.submit("fail", "poison");
    let fibs: Vec<(u64, JoinHandle<u64>)> = (0..50u64)
        .map(|i| {
            let n = 15 + i % 10;
            (n, client.submit("fib", &n))
        })
        .collect();
    let deadline = Instant::now() + DEADLINE;
    for (n, handle) in fibs {
        assert_eq!(join_within(handle, deadline, "a fib job").unwrap(), fib(n));
    }
    let fibs_done = start.elapsed();
    let error = join_within(poison, deadline, "the poison job").unwrap_err();
    let poison_done = start.elapsed();
    let message = error.to_string();
    assert!(error.is_panic(), "{message}");
    assert!(
        message.contains("always panics") && message.contains("on delivery 3 of at most 3"),
        "{message}"
    );

    let dead = raw
        .last(&format!("{prefix}.dead.fail"))
        .expect("a dead letter for the poison job");
    let why = header(&dead, "Stealpool-Error");
    assert!(why.contains("on delivery 3 of at most 3"), "{why}");
    assert_eq!(header(&dead, "Stealpool-Job"), format!("{}-0", client.id()));
    assert_eq!(header(&dead, "Stealpool-Kind"), "fail");
    assert_eq!(&dead.payload[..], postcard::to_stdvec("poison").unwrap());
    assert_eq!(raw.messages(prefix, "DEAD"), 1);
    common::wait_for("the jobs stream to empty", || {
        raw.messages(prefix, "JOBS") == 0
    });

    let report = worker.stop();
    assert_eq!(
        report,
        Report {
            completed: 50,
            retried: 2,
            dead_lettered: 1
        }
    );
    println!(
        "50 fib jobs done in {:.1} ms beside the poison job, given up after {:.1} ms: \
         {message:?}; dead letter: Stealpool-Error {why:?}; worker: {report:?}",
        ms(fibs_done),
        ms(poison_done)
    );
}

/// Clients and workers each create the streams they need when they connect, and a fleet
/// starts them together: a create that loses the race to another (nats-server refused it with
/// "subjects overlap with an existing stream", once in CI) must take the stream that won.
/// Eight clients connect at once on a fresh prefix, 200 rounds; every one must connect (without
/// the fallback in `ensure_streams`, one failed within 20 to 78 rounds, three runs of three).
#[test]
fn clients_that_create_the_streams_at_once_all_connect() {
    let server = Server::start("create-race");
    all_at_once(
        &server,
        "race",
        200,
        "a client failed to connect",
        |url, prefix| NatsClient::builder(url).prefix(prefix).connect().map(drop),
    );
}

/// The same race for workers: eight start at once on a fresh prefix, each creating the
/// streams and the workers' durable consumer, 100 rounds; every one must start (each stops at
/// once: its shutdown future is ready). Without the fallback in `ensure_streams` one failed
/// at round 20 and at round 39 (two runs of two).
#[test]
fn workers_that_start_at_once_all_start() {
    let server = Server::start("worker-race");
    all_at_once(
        &server,
        "wrace",
        100,
        "a worker failed to start",
        |url, prefix| {
            stealpool::nats::NatsWorker::builder(url)
                .prefix(prefix)
                .handle("fib", fib)
                .run(std::future::ready(()))
                .map(drop)
        },
    );
}

/// `rounds` rounds, each on a fresh prefix `<stem><round>`: eight threads released together
/// run `start(url, prefix)`, and every one must succeed (else the test fails with `failed`
/// and the error).
fn all_at_once<E: std::fmt::Display + Send + 'static>(
    server: &Server,
    stem: &str,
    rounds: usize,
    failed: &str,
    start: fn(&str, &str) -> Result<(), E>,
) {
    for round in 0..rounds {
        let prefix = format!("{stem}{round}");
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (url, prefix, barrier) = (server.url(), prefix.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    start(&url, &prefix)
                })
            })
            .collect();
        for thread in threads {
            let outcome = thread.join().expect("a starting thread panicked");
            if let Err(e) = outcome {
                panic!("round {round}: {failed}: {e}");
            }
        }
    }
}

#[test]
fn work_resumes_after_a_server_restart() {
    let mut server = Server::start("restart");
    let prefix = "restart";
    let mut worker = Worker::start(
        "worker",
        &server,
        prefix,
        &["--threads", "2", "--ack-wait-ms", "3000"],
    );
    let client = client(&server, prefix);
    let raw = Raw::connect(&server);
    // The harsh case first, then a clean stop.
    for (signal, name) in [(libc::SIGKILL, "SIGKILL"), (libc::SIGTERM, "SIGTERM")] {
        restart_mid_run(&mut server, &client, &raw, prefix, signal, name);
    }
    let report = worker.stop();
    println!("worker: {report:?}");
    assert!(report.completed >= 600);
    assert_eq!((report.retried, report.dead_lettered), (0, 0));
}

/// 250 `sleep` jobs of 5 ms; after 50 results the server is stopped with `signal`, 50 more
/// jobs are submitted while it is away, and it is started again on the same port and store:
/// every one of the 300 jobs must come back right.
fn restart_mid_run(
    server: &mut Server,
    client: &NatsClient,
    raw: &Raw,
    prefix: &str,
    signal: libc::c_int,
    name: &str,
) {
    let finished = |handles: &[JoinHandle<u64>]| handles.iter().filter(|h| h.is_finished()).count();
    let duplicates = client.duplicates();
    let left_before = raw.messages(prefix, "JOBS");
    let start = Instant::now();
    let mut handles: Vec<JoinHandle<u64>> =
        (0..250).map(|_| client.submit("sleep", &5u64)).collect();
    common::wait_for("50 results before the restart", || finished(&handles) >= 50);
    let before = finished(&handles);
    server.kill(signal);
    let killed_at = Instant::now();
    // 50 more while the server is away: their publishes are retried until it is back.
    handles.extend((0..50).map(|_| client.submit("sleep", &5u64)));
    std::thread::sleep(Duration::from_millis(500));
    server.run();
    let restarted_at = Instant::now();
    let at_restart = finished(&handles);

    let total = handles.len();
    let deadline = Instant::now() + DEADLINE;
    let mut first_after = None;
    loop {
        let done = finished(&handles);
        if done > at_restart && first_after.is_none() {
            first_after = Some(restarted_at.elapsed());
        }
        if done == total || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let all_after = restarted_at.elapsed();
    let left = raw.messages(prefix, "JOBS");
    if finished(&handles) < total {
        let info = raw.consumer(prefix, "JOBS");
        panic!(
            "{name}: after the restart, {} of {total} results came within {DEADLINE:?}; the \
             client waits for {}; jobs stream: {left} messages; results stream: {} \
             messages; the workers' consumer: {} undelivered, {} delivered and unacked, \
             delivered {:?}, ack floor {:?}",
            finished(&handles),
            client.pending(),
            raw.messages(prefix, "RESULTS"),
            info.num_pending,
            info.num_ack_pending,
            info.delivered,
            info.ack_floor,
        );
    }
    for handle in handles {
        assert_eq!(handle.join().unwrap(), 5);
    }
    assert_eq!(client.pending(), 0);
    println!(
        "server stopped with {name} {:.1} ms in, after {before} of the first 250 results; down \
         {:.1} ms, 50 jobs submitted meanwhile; {at_restart} results by the restart; the first \
         new one {:.1} ms after it, all {total} {:.1} ms after it; duplicate results {}; jobs \
         left in the work queue though done: {left_before} before, {left} after",
        ms(killed_at - start),
        ms(restarted_at - killed_at),
        ms(first_after.unwrap_or_default()),
        ms(all_after),
        client.duplicates() - duplicates,
    );
}

#[test]
fn a_payload_that_does_not_decode_is_terminated_and_the_worker_carries_on() {
    let server = Server::start("bad-payload");
    let prefix = "badpayload";
    let mut worker = Worker::start("worker", &server, prefix, &["--threads", "2"]);
    // The client creates the streams (so the raw jobs below have somewhere to go).
    let client = client(&server, prefix);
    let raw = Raw::connect(&server);

    let reply = format!("{prefix}.results.raw");
    let bad: [(&str, Vec<u8>); 2] = [("raw-ff", vec![0xff; 12]), ("raw-empty", Vec::new())];
    for (id, payload) in &bad {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", *id);
        headers.insert("Stealpool-Kind", "fib");
        headers.insert("Stealpool-Reply", reply.as_str());
        raw.publish(&format!("{prefix}.jobs.normal"), headers, payload.clone());
    }
    common::wait_for("two dead letters", || raw.messages(prefix, "DEAD") == 2);
    for seq in [1, 2] {
        let dead = raw.message(prefix, "DEAD", seq);
        let id = header(&dead, "Stealpool-Job");
        let (_, payload) = bad.iter().find(|(i, _)| *i == id).expect("a known job");
        assert_eq!(&dead.payload[..], &payload[..]);
        assert_eq!(dead.subject.to_string(), format!("{prefix}.dead.fib"));
        let why = header(&dead, "Stealpool-Error");
        assert!(why.contains("did not decode as u64"), "{why}");
        println!("dead letter for {id}: Stealpool-Error {why:?}");
    }
    let answer = raw
        .last(&reply)
        .expect("the error sent to the reply subject");
    assert_eq!(header(&answer, "Stealpool-Status"), "codec");
    common::wait_for("the jobs stream to empty (terminated)", || {
        raw.messages(prefix, "JOBS") == 0
    });

    let start = Instant::now();
    let handle: JoinHandle<u64> = client.submit("fib", &20u64);
    let value = join_within(handle, Instant::now() + DEADLINE, "the good job");
    assert_eq!(value.unwrap(), 6765);
    let took = start.elapsed();
    let report = worker.stop();
    assert_eq!(
        report,
        Report {
            completed: 1,
            retried: 0,
            dead_lettered: 2
        }
    );
    assert_eq!(raw.messages(prefix, "DEAD"), 2);
    println!(
        "the next good job completed on the same worker in {:.1} ms; worker: {report:?}",
        ms(took)
    );
}

#[test]
fn a_duplicate_result_is_dropped_and_counted() {
    let server = Server::start("duplicates");
    let prefix = "duplicates";
    let mut worker = Worker::start("worker", &server, prefix, &["--threads", "1"]);
    let client = client(&server, prefix);
    let raw = Raw::connect(&server);

    let handle: JoinHandle<u64> = client.submit("fib", &10u64);
    let deadline = Instant::now() + DEADLINE;
    assert_eq!(join_within(handle, deadline, "the job").unwrap(), 55);
    assert_eq!(client.duplicates(), 0);

    // A second result for job 0, as a worker that ran it again would publish it.
    let mut headers = HeaderMap::new();
    headers.insert("Stealpool-Job", format!("{}-0", client.id()).as_str());
    headers.insert("Stealpool-Status", "ok");
    let subject = format!("{prefix}.results.{}", client.id());
    let published = Instant::now();
    raw.publish(&subject, headers, postcard::to_stdvec(&55u64).unwrap());
    common::wait_for("the duplicate to be counted", || client.duplicates() == 1);
    let counted = published.elapsed();
    assert_eq!(client.pending(), 0);

    // Nothing else changed: the next job is job 1 and resolves with its own value.
    let handle: JoinHandle<u64> = client.submit("fib", &11u64);
    assert_eq!(join_within(handle, deadline, "the next job").unwrap(), 89);
    assert_eq!(client.duplicates(), 1);
    assert_eq!(client.pending(), 0);
    let report = worker.stop();
    assert_eq!(report.completed, 2);
    println!(
        "the copied result was counted as a duplicate {:.1} ms after it was published; \
         worker: {report:?}",
        ms(counted)
    );
}

// ---- helpers ----

fn fib(n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a + b);
    }
    a
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn client(server: &Server, prefix: &str) -> NatsClient {
    NatsClient::builder(&server.url())
        .prefix(prefix)
        .connect()
        .unwrap_or_else(|e| panic!("connecting a client to {}: {e}", server.url()))
}

/// Joins `handle`, failing the test if it has not resolved by `deadline`.
fn join_within<T>(handle: JoinHandle<T>, deadline: Instant, what: &str) -> Result<T, TaskError> {
    while !handle.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{what}: no result by the deadline"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    handle.join()
}

fn header(message: &StreamMessage, name: &str) -> String {
    message
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header on {:?}", message.subject))
        .as_str()
        .to_owned()
}

/// The stream name for `what` (`JOBS`, `RESULTS`, `DEAD`) under `prefix`, as the crate makes
/// it.
fn stream_name(prefix: &str, what: &str) -> String {
    format!("{}_{what}", prefix.to_uppercase().replace('-', "_"))
}

/// `nats-server` from `PATH`, or from `/usr/sbin` (where Debian puts it, often not in a
/// user's `PATH`).
fn nats_server_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "nats-server not found (in PATH, /usr/sbin or /usr/local/sbin): these tests \
                 need it; `apt-get install nats-server` (Debian, Ubuntu), or a release from \
                 https://github.com/nats-io/nats-server/releases"
            )
        })
}

/// `target/<profile>/examples/nats_worker` (see `common::example_binary`).
fn worker_binary() -> PathBuf {
    common::example_binary("nats_worker", "nats")
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill takes no pointers; `pid` is a child of this test, not yet waited for.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
}

/// Waits for `child` to exit, failing the test after [`DEADLINE`].
fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `nats-server -js` of this test's own, on a free port with a temporary store directory;
/// killed and its directory removed on drop.
struct Server {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn start(name: &str) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!(
            "stealpool-nats-test-{name}-{}-{port}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut server = Server {
            port,
            dir,
            child: None,
        };
        server.run();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again: same port, same store) and waits until it accepts
    /// connections.
    fn run(&mut self) {
        assert!(self.child.is_none(), "the server runs already");
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut child = Command::new(nats_server_binary())
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.join("store"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting nats-server");
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + DEADLINE;
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "nats-server exited ({status}) before accepting connections:\n{}",
                    self.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not accept connections on {address} within {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Sends `signal` to the server and waits for it to exit.
    fn kill(&mut self, sig: libc::c_int) {
        let mut child = self.child.take().expect("the server runs");
        signal(child.id(), sig);
        wait_exit(&mut child, "nats-server");
    }

    fn log(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn log_tail(&self) -> String {
        let mut text = String::new();
        let _ = File::open(self.log()).and_then(|mut f| f.read_to_string(&mut text));
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            println!(
                "nats-server on port {}, the end of its log:\n{}",
                self.port,
                self.log_tail()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a worker printed when it stopped.
#[derive(Debug, PartialEq, Eq)]
struct Report {
    completed: u64,
    retried: u64,
    dead_lettered: u64,
}

/// A process of examples/nats_worker; its output is collected (and printed when it stops,
/// or when the test fails); killed on drop.
struct Worker {
    name: String,
    child: Child,
    exited: bool,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Worker {
    fn start(name: &str, server: &Server, prefix: &str, args: &[&str]) -> Worker {
        let mut child = Command::new(worker_binary())
            .args(["--server", &server.url(), "--prefix", prefix])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting nats_worker");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        collect(stdout, Arc::clone(&lines), "");
        collect(stderr, Arc::clone(&lines), "stderr: ");
        let worker = Worker {
            name: name.to_owned(),
            child,
            exited: false,
            lines,
        };
        worker.wait_line("its start", |l| l.contains(" serving "));
        worker
    }

    /// Waits for a line of the worker's output to match; returns it.
    fn wait_line(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let mut found = None;
        common::wait_for(&format!("worker {}: {what}", self.name), || {
            found = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| matches(l))
                .cloned();
            found.is_some()
        });
        found.unwrap()
    }

    /// SIGKILL, and waits for it.
    fn kill(&mut self) {
        signal(self.child.id(), libc::SIGKILL);
        wait_exit(&mut self.child, "the killed worker");
        self.exited = true;
        self.print("killed");
    }

    /// SIGTERM: the worker finishes what it holds and prints its report; checks it exited 0.
    fn stop(&mut self) -> Report {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "worker {} exited before it was told to stop",
            self.name
        );
        signal(self.child.id(), libc::SIGTERM);
        let status = wait_exit(&mut self.child, "the stopped worker");
        self.exited = true;
        let line = self.wait_line("its report", |l| l.contains("done: completed"));
        self.print("stopped");
        assert!(
            status.success(),
            "worker {} exited with {status}",
            self.name
        );
        let numbers: Vec<u64> = line
            .split_whitespace()
            .filter_map(|word| word.parse().ok())
            .collect();
        let [completed, retried, dead_lettered] = numbers[..] else {
            panic!("not a report: {line:?}")
        };
        Report {
            completed,
            retried,
            dead_lettered,
        }
    }

    fn print(&self, how: &str) {
        println!("--- worker {} ({how}), its output:", self.name);
        for line in self.lines.lock().unwrap().iter() {
            println!("    {line}");
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
            if std::thread::panicking() {
                self.print("killed at the end of a failed test");
            }
        }
    }
}

/// Reads `from` line by line into `lines`, on a thread of its own.
fn collect(from: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>, tag: &'static str) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap().push(format!("{tag}{line}"));
        }
    });
}

/// The test's own connection to the server, beside the crate's: raw jobs and results,
/// dead letters, the streams' and the consumer's state.
struct Raw {
    runtime: tokio::runtime::Runtime,
    js: jetstream::Context,
}

impl Raw {
    fn connect(server: &Server) -> Raw {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let url = server.url();
        let js = runtime.block_on(async {
            let client = async_nats::connect(&url)
                .await
                .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
            jetstream::new(client)
        });
        Raw { runtime, js }
    }

    /// Publishes and waits until the server stored it.
    fn publish(&self, subject: &str, headers: HeaderMap, payload: Vec<u8>) {
        self.runtime.block_on(async {
            self.js
                .publish_with_headers(subject.to_owned(), headers, payload.into())
                .await
                .unwrap_or_else(|e| panic!("publishing to {subject}: {e}"))
                .await
                .unwrap_or_else(|e| panic!("storing on {subject}: {e}"));
        })
    }

    fn stream(&self, prefix: &str, what: &str) -> jetstream::stream::Stream {
        let name = stream_name(prefix, what);
        self.runtime
            .block_on(self.js.get_stream(&name))
            .unwrap_or_else(|e| panic!("opening stream {name}: {e}"))
    }

    /// The messages stream `what` holds now.
    fn messages(&self, prefix: &str, what: &str) -> u64 {
        let mut stream = self.stream(prefix, what);
        self.runtime
            .block_on(stream.info())
            .expect("stream info")
            .state
            .messages
    }

    /// Limits the results stream to `max` messages, refusing new ones past it (`None`: no
    /// limit, the crate's setting).
    fn limit_results(&self, prefix: &str, max: Option<i64>) {
        let mut stream = self.stream(prefix, "RESULTS");
        let mut config = self.runtime.block_on(stream.info()).unwrap().config.clone();
        config.max_messages = max.unwrap_or(-1);
        config.discard = match max {
            Some(_) => jetstream::stream::DiscardPolicy::New,
            None => jetstream::stream::DiscardPolicy::Old,
        };
        self.runtime
            .block_on(self.js.update_stream(&config))
            .unwrap_or_else(|e| panic!("limiting the results stream: {e}"));
    }

    /// The workers' consumer of stream `what`, as the server sees it now.
    fn consumer(&self, prefix: &str, what: &str) -> consumer::Info {
        let stream = self.stream(prefix, what);
        self.runtime
            .block_on(stream.consumer_info(format!("{prefix}-workers")))
            .expect("consumer info")
    }

    /// Message `seq` of stream `what`.
    fn message(&self, prefix: &str, what: &str, seq: u64) -> StreamMessage {
        let stream = self.stream(prefix, what);
        self.runtime
            .block_on(stream.get_raw_message(seq))
            .unwrap_or_else(|e| panic!("message {seq} of {what}: {e}"))
    }

    /// The last message on `subject` (in whichever of the prefix's streams holds it), waiting
    /// up to [`DEADLINE`] for one to come; `None` if none came.
    fn last(&self, subject: &str) -> Option<StreamMessage> {
        let mut tokens = subject.split('.');
        let prefix = tokens.next().unwrap();
        let what = tokens.next().unwrap().to_uppercase();
        let stream = self.stream(prefix, &what);
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self
                .runtime
                .block_on(stream.get_last_raw_message_by_subject(subject))
            {
                Ok(message) => return Some(message),
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(_) => return None,
            }
        }
    }
}
