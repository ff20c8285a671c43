//! examples/cluster under fire: requests keep flowing while one worker is killed with SIGKILL,
//! while SIGHUP replaces every worker, and until SIGTERM stops the cluster.
//!
//! Every request must get a correct answer or a clean connection error (refused, reset, or
//! closed before any byte of the answer), never a wrong answer and never a wait past the read
//! timeout. The killed worker must be back, serving; SIGHUP must replace both workers without
//! a single failed request; SIGTERM must end the supervisor with status 0 and leave no worker
//! process behind. The restart time (SIGKILL to the new worker's first answer) is measured and
//! printed, not asserted: run with `--nocapture` to see it.
//!
//! `cargo test --features process` builds the example before running the tests; this test
//! looks for it next to its own binary (`target/<profile>/examples/cluster`).

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Client threads, each with one request in flight at a time.
const CLIENTS: usize = 2;
/// How long a client waits for a connection or for the answer: past it, the request hung.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// The bound on every wait for the cluster (generous: the machine is shared).
const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn cluster_survives_sigkill_rolls_on_sighup_and_stops_on_sigterm() {
    let mut cluster = Cluster::start(2);
    let first = cluster.wait_workers(2);
    println!("cluster on port {}, workers {first:?}", cluster.port);

    let clients = Clients::start(cluster.port);
    clients.wait_answers(20, "requests answered before the kill");

    // SIGKILL one worker while requests flow.
    let victim = first[0];
    let killed_at = Instant::now();
    signal(victim, libc::SIGKILL);
    let crashed = cluster.wait_line(|l| l.starts_with("worker crashed"));
    assert!(
        crashed.contains(&victim.to_string()),
        "the crash names the killed worker {victim}: {crashed}"
    );
    let (replacement, announced_at) = cluster.wait_new_worker();
    let serving_at = clients.wait_answer_from(replacement);
    clients.wait_answers(20, "requests answered after the restart");
    let hup_at = Instant::now();
    let (answered, errors) = check(&clients.between(None, hup_at), "around the SIGKILL");
    // Only the requests the killed worker had accepted can fail: one per client at most.
    assert!(
        errors.len() <= CLIENTS,
        "more connection errors than requests in flight: {errors:?}"
    );
    assert!(answered > 0);
    println!(
        "SIGKILL of worker {victim}: replacement {replacement} announced after {:.1} ms, \
         first answer from it after {:.1} ms; {answered} requests answered, {} connection \
         errors {errors:?}",
        ms(announced_at - killed_at),
        ms(serving_at - killed_at),
        errors.len(),
    );

    // SIGHUP: both workers replaced one by one, every request answered.
    let before = [first[1], replacement];
    signal(cluster.pid(), libc::SIGHUP);
    let new = [cluster.wait_new_worker().0, cluster.wait_new_worker().0];
    cluster.wait_line(|l| l == "SIGHUP: every worker replaced");
    let rolled_at = Instant::now();
    assert!(
        !new.iter().any(|pid| before.contains(pid)),
        "new workers {new:?}, old {before:?}"
    );
    for pid in before {
        assert!(!runs_cluster(pid), "old worker {pid} still runs");
    }
    for pid in new {
        clients.wait_answer_from(pid);
    }
    let (answered, errors) = check(
        &clients.between(Some(hup_at), Instant::now()),
        "during the SIGHUP",
    );
    assert!(
        errors.is_empty(),
        "a request failed during the rolling replacement: {errors:?}"
    );
    println!(
        "SIGHUP: workers {before:?} replaced by {new:?} in {:.1} ms; {answered} requests \
         answered, none failed",
        ms(rolled_at - hup_at)
    );
    let totals = clients.stop();

    // SIGTERM: a graceful stop, status 0, no worker left.
    signal(cluster.pid(), libc::SIGTERM);
    let status = cluster.wait_exit();
    assert!(status.success(), "the cluster exited with {status}");
    assert_eq!(cluster.lines.last().map(String::as_str), Some("stopped"));
    for pid in cluster.workers() {
        assert!(!runs_cluster(pid), "worker {pid} outlived the cluster");
    }
    println!(
        "SIGTERM: exit status 0, none of the {} worker processes left; {} requests in all",
        cluster.workers().len(),
        totals
    );
}

/// What became of one request.
#[derive(Clone, Debug)]
enum Outcome {
    /// A correct answer, from this worker.
    Answered(u32),
    /// A clean connection error: refused, reset, or closed before the answer began.
    Dropped(ErrorKind),
    /// Anything else: a wrong or partial answer, a hang, an unexpected error.
    Bad(String),
}

/// One GET /fib/20 on a new connection.
fn request(addr: SocketAddr) -> Outcome {
    let mut stream = match TcpStream::connect_timeout(&addr, CLIENT_TIMEOUT) {
        Ok(stream) => stream,
        Err(e) => return failed(e),
    };
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    if let Err(e) = stream.write_all(b"GET /fib/20 HTTP/1.1\r\nHost: test\r\n\r\n") {
        return failed(e);
    }
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        if answer.is_empty() {
            return failed(e);
        }
        return Outcome::Bad(format!("{e} after {} bytes", answer.len()));
    }
    if answer.is_empty() {
        return Outcome::Dropped(ErrorKind::UnexpectedEof);
    }
    let text = String::from_utf8_lossy(&answer);
    let worker = text
        .lines()
        .find_map(|l| l.strip_prefix("X-Worker: "))
        .and_then(|pid| pid.trim().parse().ok());
    match worker {
        Some(pid)
            if text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("\r\n\r\n6765\n") =>
        {
            Outcome::Answered(pid)
        }
        _ => Outcome::Bad(format!("wrong answer: {text:?}")),
    }
}

fn failed(e: std::io::Error) -> Outcome {
    match e.kind() {
        ErrorKind::ConnectionRefused
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe
        | ErrorKind::UnexpectedEof => Outcome::Dropped(e.kind()),
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            Outcome::Bad(format!("no answer within {CLIENT_TIMEOUT:?}: {e}"))
        }
        _ => Outcome::Bad(format!("unexpected error: {e}")),
    }
}

/// Panics on a bad outcome; the count of answers and the connection errors.
fn check(outcomes: &[Outcome], phase: &str) -> (usize, Vec<ErrorKind>) {
    let mut answered = 0;
    let mut errors = Vec::new();
    for outcome in outcomes {
        match outcome {
            Outcome::Answered(_) => answered += 1,
            Outcome::Dropped(kind) => errors.push(*kind),
            Outcome::Bad(why) => panic!("a request {phase}: {why}"),
        }
    }
    (answered, errors)
}

/// The client threads and every request's outcome, with the times it was sent and ended.
struct Clients {
    outcomes: Arc<Mutex<Vec<(Instant, Instant, Outcome)>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Clients {
    fn start(port: u16) -> Clients {
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let threads = (0..CLIENTS)
            .map(|_| {
                let (outcomes, stop) = (Arc::clone(&outcomes), Arc::clone(&stop));
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let outcome = request(addr);
                        let dropped = matches!(outcome, Outcome::Dropped(_));
                        outcomes
                            .lock()
                            .unwrap()
                            .push((sent, Instant::now(), outcome));
                        if dropped {
                            // No busy loop while no worker accepts.
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                })
            })
            .collect();
        Clients {
            outcomes,
            stop,
            threads,
        }
    }

    /// Waits for `n` more correct answers.
    fn wait_answers(&self, n: usize, what: &str) {
        let answered = || {
            let outcomes = self.outcomes.lock().unwrap();
            let bad = outcomes
                .iter()
                .find(|(_, _, o)| matches!(o, Outcome::Bad(_)));
            assert!(bad.is_none(), "{bad:?}");
            outcomes
                .iter()
                .filter(|(_, _, o)| matches!(o, Outcome::Answered(_)))
                .count()
        };
        let target = answered() + n;
        wait_for(what, || answered() >= target);
    }

    /// Waits for an answer from worker `pid`; when the first one came.
    fn wait_answer_from(&self, pid: u32) -> Instant {
        let mut when = None;
        wait_for(&format!("an answer from worker {pid}"), || {
            let outcomes = self.outcomes.lock().unwrap();
            when = outcomes
                .iter()
                .filter_map(|(_, done, o)| match o {
                    Outcome::Answered(p) if *p == pid => Some(*done),
                    _ => None,
                })
                .min();
            when.is_some()
        });
        when.unwrap()
    }

    /// The outcomes of the requests sent from `start` on (or all, without one), until `end`.
    fn between(&self, start: Option<Instant>, end: Instant) -> Vec<Outcome> {
        let outcomes = self.outcomes.lock().unwrap();
        outcomes
            .iter()
            .filter(|(sent, _, _)| start.is_none_or(|start| *sent >= start) && *sent < end)
            .map(|(_, _, outcome)| outcome.clone())
            .collect()
    }

    /// Stops the clients; the number of requests sent.
    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().unwrap();
        }
        self.outcomes.lock().unwrap().len()
    }
}

/// The cluster's supervisor process, and what it printed.
struct Cluster {
    child: Child,
    port: u16,
    lines: Vec<String>,
    incoming: Receiver<(Instant, String)>,
}

impl Cluster {
    fn start(workers: usize) -> Cluster {
        let binary = example_binary();
        let mut child = Command::new(&binary)
            .args(["--workers", &workers.to_string(), "--port", "0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stdout = child.stdout.take().unwrap();
        let (send, incoming) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut cluster = Cluster {
            child,
            port: 0,
            lines: Vec::new(),
            incoming,
        };
        let listening = cluster.wait_line(|l| l.starts_with("listening on 127.0.0.1:"));
        cluster.port = listening.rsplit(':').next().unwrap().parse().unwrap();
        cluster
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the next line that `wanted` accepts; that line.
    fn wait_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        self.wait_line_at(wanted).1
    }

    fn wait_line_at(&mut self, wanted: impl Fn(&str) -> bool) -> (Instant, String) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok((at, line)) => {
                    self.lines.push(line.clone());
                    if wanted(&line) {
                        return (at, line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "the cluster did not print the line awaited: {:#?}",
                        self.lines
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("the cluster ended: {:#?}", self.lines)
                }
            }
        }
    }

    /// Waits for the next "worker PID started" line: the pid, and when the line came.
    fn wait_new_worker(&mut self) -> (u32, Instant) {
        let (at, line) = self.wait_line_at(|l| worker_started(l).is_some());
        (worker_started(&line).unwrap(), at)
    }

    /// Waits for the first `n` workers.
    fn wait_workers(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.wait_new_worker().0).collect()
    }

    /// Every worker pid announced.
    fn workers(&self) -> Vec<u32> {
        self.lines
            .iter()
            .filter_map(|l| worker_started(l))
            .collect()
    }

    /// Waits for the supervisor to exit, reading the rest of its output.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            while let Ok((_, line)) = self.incoming.try_recv() {
                self.lines.push(line);
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                // The reader thread sees the end of the pipe: take its last lines.
                while let Ok((_, line)) = self.incoming.recv_timeout(Duration::from_secs(5)) {
                    self.lines.push(line);
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not exit after SIGTERM: {:#?}",
                self.lines
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A failed test must not leave the cluster running (its workers follow it).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn worker_started(line: &str) -> Option<u32> {
    line.strip_prefix("worker ")?
        .strip_suffix(" started")?
        .parse()
        .ok()
}

/// `target/<profile>/examples/cluster` (see `common::example_binary`).
fn example_binary() -> PathBuf {
    common::example_binary("cluster", "process")
}

/// Whether process `pid` exists and runs the cluster's binary (a reused pid does not count).
fn runs_cluster(pid: u32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|exe| exe.to_string_lossy().contains("examples/cluster"))
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill takes no pointers; `pid` is the cluster or one of its workers.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "waited {DEADLINE:?} for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
