//! A cluster of HTTP servers on one port, supervised by a [`ProcessPool`]: crashed workers
//! come back, SIGHUP replaces them one by one without closing the port, SIGTERM stops them
//! gracefully.
//!
//! ```text
//! cargo run --release --features process --example cluster -- --workers 2 --port 8099 --threads 2
//! ```
//!
//! The supervisor binds the listening socket and lets it be inherited (no `FD_CLOEXEC`), so
//! every worker process accepts on the same socket, and the port stays open as long as the
//! supervisor runs, whatever happens to the workers. A worker is a long-running task of the
//! process pool, [`serve`], which answers HTTP/1.1 requests with a [`WorkerPool`] of its own:
//!
//! - `GET /fib/N` (N up to 40): fib(N) by parallel recursion on the worker's pool; the
//!   `X-Worker` header names the worker process that answered;
//! - `GET /crash`: the worker aborts (to try the restart without `kill`);
//! - anything else: 404. Every answer closes its connection.
//!
//! The supervision is the pool's own: a worker that dies fails its serve task with
//! [`is_crash`](stealpool::TaskError::is_crash), the pool has already started a new process
//! in its place, and the supervisor hands that process a new serve task. With
//! `max_tasks_per_process(1)` a worker whose serve task returned is retired, so the next serve
//! task always gets a fresh process. Restarts are bounded by the pool's restart intensity
//! (10 within 10 s): past it the supervisor gives up and exits with status 1.
//!
//! Try it by hand (the supervisor prints its own pid and each worker's):
//!
//! ```text
//! curl -i localhost:8099/fib/30         # 200, and X-Worker: <pid>
//! kill -9 <a worker pid>                # "worker crashed: ...; restarting", then a new pid
//! curl localhost:8099/crash             # the same, from inside
//! kill -HUP <supervisor pid>            # each worker stops in turn and a new one takes over
//! kill -TERM <supervisor pid>           # (or Ctrl-C) finish the requests in flight, exit 0
//! ```
//!
//! Linux only, like the process pool.

use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stealpool::process::ProcessPool;
use stealpool::{JoinHandle, TaskError, WorkerPool};

/// How often the supervisor looks at its workers and at the signals it got.
const TICK: Duration = Duration::from_millis(5);
/// How long a worker waits for a connection before it looks at its stop flag again.
const ACCEPT_WAIT_MS: i32 = 50;
/// How long a stopping worker may take to finish its requests before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The largest N of `/fib/N` (the recursion is exponential).
const MAX_FIB: u64 = 40;

/// Set by SIGTERM or SIGINT (in the supervisor and in each worker, which are separate
/// processes with a copy each).
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGHUP in the supervisor.
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int) {
    match signal {
        libc::SIGHUP => RELOAD.store(true, Ordering::Relaxed),
        _ => STOP.store(true, Ordering::Relaxed),
    }
}

/// Sends `signals` to [`on_signal`], which only sets a flag (all a handler may safely do).
fn handle_signals(signals: &[libc::c_int]) {
    for &signal in signals {
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }
}

fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill takes no pointers; `pid` is one of our worker processes.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

// ---------------------------------------------------------------------------------------
// The worker process

/// A worker: the listening socket's descriptor (inherited from the supervisor) and the size
/// of its thread pool. Serves until SIGTERM (or SIGINT), then returns its pid.
fn serve((fd, threads): (RawFd, usize)) -> u32 {
    handle_signals(&[libc::SIGTERM, libc::SIGINT]);
    // SAFETY: `fd` is the supervisor's listening socket, open in this process because the
    // supervisor cleared its FD_CLOEXEC; this process's copy is ours to own and close.
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    // Every worker polls the same socket and all wake for one connection: the losers' accept
    // must fail with WouldBlock instead of waiting (the flag is shared by all, which is fine).
    listener
        .set_nonblocking(true)
        .expect("the listening socket can be made nonblocking");
    let pool = WorkerPool::builder()
        .num_threads(threads)
        .thread_name(|i| format!("http-{i}"))
        .build()
        .expect("the worker's thread pool starts");
    while !STOP.load(Ordering::Relaxed) {
        if !readable(fd, ACCEPT_WAIT_MS) {
            continue;
        }
        match listener.accept() {
            // The handle is dropped: the task runs detached, and `shutdown` waits for it.
            Ok((stream, _)) => drop(pool.spawn(move || answer(stream))),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => {
                eprintln!("worker {}: accept: {e}", std::process::id());
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // Stop accepting (connections still waiting go to the other workers), finish ours.
    drop(listener);
    pool.shutdown();
    std::process::id()
}

/// Waits up to `timeout_ms` for a connection to accept (false also when a signal came).
fn readable(fd: RawFd, timeout_ms: i32) -> bool {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, for a descriptor this process holds open.
    unsafe { libc::poll(&mut pollfd, 1, timeout_ms) > 0 }
}

/// Reads one request and answers it (on one of the worker's threads).
fn answer(stream: TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // The headers are read and ignored, up to the blank line.
    let mut header = String::new();
    while matches!(reader.read_line(&mut header), Ok(n) if n > 0 && !header.trim().is_empty()) {
        header.clear();
    }
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let fib_of = path
        .strip_prefix("/fib/")
        .and_then(|n| n.parse::<u64>().ok());
    let (status, body) = match (method, path, fib_of) {
        ("GET", _, Some(n)) if n <= MAX_FIB => ("200 OK", format!("{}\n", fib(n))),
        ("GET", "/crash", _) => std::process::abort(),
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         X-Worker: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        std::process::id(),
    );
    let _ = (&stream).write_all(response.as_bytes());
}

/// Fibonacci by plain recursion, the two halves joined on the worker's pool.
fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    if n < 15 {
        return fib(n - 1) + fib(n - 2);
    }
    let (a, b) = stealpool::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

// ---------------------------------------------------------------------------------------
// The supervisor

struct Supervisor {
    pool: ProcessPool,
    /// What every serve task gets: the listening socket and the thread count.
    args: (RawFd, usize),
    /// One serve task per worker.
    serving: Vec<JoinHandle<u32>>,
    /// Every worker pid announced so far.
    seen: HashSet<u32>,
}

impl Supervisor {
    fn start_worker(&mut self) {
        self.serving.push(self.pool.spawn(self.args, serve));
    }

    /// The serve tasks that ended, and how: a pid for a worker that stopped, an error for one
    /// that crashed.
    fn ended(&mut self) -> Vec<Result<u32, TaskError>> {
        let (done, running) = std::mem::take(&mut self.serving)
            .into_iter()
            .partition::<Vec<_>, _>(JoinHandle::is_finished);
        self.serving = running;
        done.into_iter().map(JoinHandle::join).collect()
    }

    /// Gives a new serve task for every one that ended (the pool has a process ready for
    /// it). An error when the pool gave up restarting.
    fn restart_ended(&mut self) -> Result<(), TaskError> {
        for outcome in self.ended() {
            match outcome {
                Ok(pid) => println!("worker {pid} stopped; starting another"),
                Err(e) if e.is_unavailable() => return Err(e),
                Err(e) if e.is_crash() => println!("worker crashed: {e}; restarting"),
                Err(e) => println!("worker failed: {e}; restarting"),
            }
            self.start_worker();
        }
        Ok(())
    }

    /// The pids of the worker processes now.
    fn pids(&self) -> Vec<u32> {
        self.pool.pids().into_iter().flatten().collect()
    }

    /// Prints a line for each worker process not seen before.
    fn announce(&mut self) {
        for pid in self.pids() {
            if self.seen.insert(pid) {
                println!("worker {pid} started");
            }
        }
    }

    /// Whether `old` is gone and every slot has a worker again (its replacement serves).
    fn replaced(&self, old: u32) -> bool {
        let pids = self.pool.pids();
        !pids.contains(&Some(old)) && pids.iter().all(Option::is_some)
    }

    /// Asks every worker to stop, waits for them to finish their requests, and closes the
    /// pool. Workers still busy after [`STOP_GRACE`] are killed.
    fn stop(mut self) {
        println!("stopping {} workers", self.serving.len());
        let deadline = Instant::now() + STOP_GRACE;
        let mut asked = HashSet::new();
        while !self.serving.is_empty() && Instant::now() < deadline {
            // Each round, as a serve task just handed out may only now have its process.
            for pid in self.pids() {
                if asked.insert(pid) {
                    send_signal(pid, libc::SIGTERM);
                }
            }
            for outcome in self.ended() {
                match outcome {
                    Ok(pid) => println!("worker {pid} stopped"),
                    Err(e) => println!("worker ended: {e}"),
                }
            }
            std::thread::sleep(TICK);
        }
        if self.serving.is_empty() {
            self.pool.shutdown();
        } else {
            println!("workers still busy after {STOP_GRACE:?}: killing them");
            self.pool.shutdown_now();
        }
    }
}

fn main() -> ExitCode {
    // A worker process starts here too, and turns off into serving the pool's tasks.
    stealpool::process::init();
    let (workers, port, threads) = match options() {
        Ok(options) => options,
        Err(why) => {
            eprintln!("{why}\nusage: cluster [--workers N] [--port P] [--threads T]");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = inheritable(listener.as_raw_fd()) {
        eprintln!("cannot share the listening socket: {e}");
        return ExitCode::FAILURE;
    }
    handle_signals(&[libc::SIGHUP, libc::SIGTERM, libc::SIGINT]);
    let port = listener.local_addr().map_or(port, |a| a.port());
    println!("supervisor {}", std::process::id());
    println!("listening on 127.0.0.1:{port}");
    let _ = std::io::stdout().flush();

    let pool = match ProcessPool::builder()
        .processes(workers)
        .max_tasks_per_process(1)
        .build()
    {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("cannot start the workers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut supervisor = Supervisor {
        pool,
        args: (listener.as_raw_fd(), threads),
        serving: Vec::new(),
        seen: HashSet::new(),
    };
    for _ in 0..workers {
        supervisor.start_worker();
    }

    // A rolling replacement: the workers still to replace, and the one being replaced.
    let mut to_replace = VecDeque::new();
    let mut replacing = None;
    let status = loop {
        std::thread::sleep(TICK);
        if STOP.load(Ordering::Relaxed) {
            break ExitCode::SUCCESS;
        }
        if let Err(e) = supervisor.restart_ended() {
            println!("giving up: {e}");
            break ExitCode::FAILURE;
        }
        supervisor.announce();
        if RELOAD.swap(false, Ordering::Relaxed) {
            to_replace = supervisor.pids().into();
            println!("SIGHUP: replacing workers {to_replace:?} one by one");
        }
        match replacing {
            Some(old) if supervisor.replaced(old) => {
                replacing = None;
                if to_replace.is_empty() {
                    println!("SIGHUP: every worker replaced");
                }
            }
            Some(_) => {}
            None => {
                // One that crashed in the meantime has been replaced already.
                if let Some(old) = to_replace
                    .pop_front()
                    .filter(|p| supervisor.pids().contains(p))
                {
                    send_signal(old, libc::SIGTERM);
                    replacing = Some(old);
                }
            }
        }
    };
    supervisor.stop();
    drop(listener);
    println!("stopped");
    status
}

/// Clears `FD_CLOEXEC`, so that the worker processes inherit the descriptor.
fn inheritable(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: fcntl reads and sets the descriptor flags of a descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `--workers N` (default 2), `--port P` (default 0: any free port), `--threads T` (default 2).
fn options() -> Result<(usize, u16, usize), String> {
    let (mut workers, mut port, mut threads) = (2, 0, 2);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |_| format!("bad value {value:?} for {flag}");
        match flag.as_str() {
            "--workers" => workers = value.parse().map_err(bad)?,
            "--port" => port = value.parse().map_err(bad)?,
            "--threads" => threads = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if workers == 0 || threads == 0 {
        return Err("--workers and --threads must be at least 1".into());
    }
    Ok((workers, port, threads))
}
