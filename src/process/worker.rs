//! One worker process as its pool sees it: start it, hand it a task and wait for the answer
//! (with a deadline, and with a way to give up early), ping it, retire it, kill it, and say
//! how it died. A `WorkerProcess` always ends reaped: dropping one kills and waits for it.

use std::io::{self, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::child::{self, LIMITS_ENV, SETUP_FAILED, WORKER_ENV};
use super::wire;

/// How often a waiting driver looks up from the pipe to check for a cancel or a shutdown.
const TICK: Duration = Duration::from_millis(10);

/// What became of a task sent to a worker process.
pub(super) enum Answer {
    /// It returned: the encoded result.
    Done(Vec<u8>),
    /// It panicked: the message.
    Panicked(String),
    /// Its arguments or result could not cross: why.
    Failed(String),
    /// The process died (it has been reaped): how.
    Died(String),
    /// The deadline passed (the process has been killed and reaped).
    TimedOut,
    /// `give_up` asked to stop (the process has been killed and reaped).
    Stopped,
}

/// What a worker process is started with.
#[derive(Clone, Debug, Default)]
pub(super) struct Launch {
    /// `LIMITS_ENV`'s value.
    pub(super) limits: String,
    /// How long the child may take to say hello.
    pub(super) startup_timeout: Duration,
}

pub(super) struct WorkerProcess {
    child: Child,
    commands: Option<ChildStdin>,
    /// Buffered: a frame usually arrives whole, and one `read` then takes it all. The child
    /// sends one frame per request, so the buffer is empty again once a frame is read.
    replies: BufReader<ChildStdout>,
    /// Tasks this process has run.
    pub(super) tasks_run: u64,
    /// When it last finished something (a task, a ping).
    pub(super) idle_since: Instant,
    /// Reaped already: nothing left to do on drop.
    reaped: bool,
    /// The exit code, once reaped after an exit (not a signal).
    exit_code: Option<i32>,
}

impl WorkerProcess {
    /// Starts a worker process (this executable again) and waits for its hello.
    pub(super) fn start(launch: &Launch) -> Result<WorkerProcess, String> {
        let mut command = Command::new("/proc/self/exe");
        // `ps` then shows the program's own name, not the path it was started through.
        if let Some(name) = std::env::args_os().next() {
            command.arg0(name);
        }
        command
            .env(WORKER_ENV, "1")
            .env(LIMITS_ENV, &launch.limits)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut spawned = command
            .spawn()
            .map_err(|e| format!("cannot start a worker process: {e}"))?;
        let (Some(commands), Some(replies)) = (spawned.stdin.take(), spawned.stdout.take()) else {
            unreachable!("both pipes were asked for")
        };
        let mut worker = WorkerProcess {
            child: spawned,
            commands: Some(commands),
            replies: BufReader::with_capacity(64 << 10, replies),
            tasks_run: 0,
            idle_since: Instant::now(),
            reaped: false,
            exit_code: None,
        };
        let deadline = Instant::now() + launch.startup_timeout;
        match worker.wait_frame(Some(deadline), &mut || false) {
            Ok((wire::HELLO, payload)) => {
                let mine = child::offset_of(child::probe);
                match wire::take_u64(&payload) {
                    Some((theirs, _)) if theirs == mine => Ok(worker),
                    _ => Err(format!(
                        "worker process {} is not this program's build (its functions lie \
                         elsewhere): was the executable replaced on disk?",
                        worker.pid()
                    )),
                }
            }
            Ok((tag, _)) => Err(format!(
                "worker process {} sent frame {tag} before its hello",
                worker.pid()
            )),
            Err(Wait::TimedOut) => {
                worker.kill();
                Err(format!(
                    "worker process did not start within {:?}: does `main` call \
                     stealpool::process::init() as its first statement?",
                    launch.startup_timeout
                ))
            }
            Err(Wait::Died(how)) => Err(if worker.exit_code == Some(SETUP_FAILED) {
                format!("worker process could not set itself up ({how}); its stderr says why")
            } else {
                format!(
                    "worker process ended before it was ready ({how}): does `main` call \
                     stealpool::process::init() as its first statement?"
                )
            }),
            Err(Wait::Stopped) => unreachable!("nothing asks a start to stop"),
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a task and waits for its answer, until `deadline` (if any); `give_up` is asked
    /// every [`TICK`] while waiting and stops the wait (killing the process) when true.
    pub(super) fn run(
        &mut self,
        offset: u64,
        args: &[u8],
        deadline: Option<Instant>,
        give_up: &mut dyn FnMut() -> bool,
    ) -> Answer {
        self.tasks_run += 1;
        if let Err(err) = self.send(wire::TASK, &[&offset.to_le_bytes(), args]) {
            if err.kind() == io::ErrorKind::InvalidInput {
                // Too big to send: the process is fine and did not see it.
                return Answer::Failed(err.to_string());
            }
            return Answer::Died(self.reap_after_error());
        }
        let answer = match self.wait_frame(deadline, give_up) {
            Ok((wire::DONE, result)) => Answer::Done(result),
            Ok((wire::PANICKED, message)) => {
                Answer::Panicked(String::from_utf8_lossy(&message).into_owned())
            }
            Ok((wire::FAILED, why)) => Answer::Failed(String::from_utf8_lossy(&why).into_owned()),
            Ok((tag, _)) => {
                let pid = self.pid();
                self.kill();
                Answer::Died(format!(
                    "worker process {pid} answered a task with frame {tag}; it was killed"
                ))
            }
            Err(Wait::Died(how)) => Answer::Died(how),
            Err(Wait::TimedOut) => {
                self.kill();
                Answer::TimedOut
            }
            Err(Wait::Stopped) => {
                self.kill();
                Answer::Stopped
            }
        };
        self.idle_since = Instant::now();
        answer
    }

    /// A heartbeat: true if the process answered within `timeout`. One that did not is
    /// killed (and reaped) before this returns.
    pub(super) fn ping(&mut self, timeout: Duration) -> bool {
        if self.send(wire::PING, &[]).is_err() {
            self.reap_after_error();
            return false;
        }
        match self.wait_frame(Some(Instant::now() + timeout), &mut || false) {
            Ok((wire::PONG, _)) => {
                self.idle_since = Instant::now();
                true
            }
            Ok(_) | Err(Wait::TimedOut) | Err(Wait::Stopped) => {
                self.kill();
                false
            }
            Err(Wait::Died(_)) => false,
        }
    }

    /// Resident memory, in bytes, from `/proc/<pid>/statm`.
    pub(super) fn resident_bytes(&self) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.pid())).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf only reads a system setting.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Some(pages * u64::try_from(page).ok()?)
    }

    /// Ends the process the polite way: closes its command pipe (it exits on the end of
    /// input, or its lifeline does if a task still runs), waits up to `grace`, then kills it.
    pub(super) fn retire(mut self, grace: Duration) {
        drop(self.commands.take());
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => {
                    self.reaped = true;
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        self.kill();
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub(super) fn kill(&mut self) {
        if self.reaped {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }

    fn send(&mut self, tag: u8, parts: &[&[u8]]) -> io::Result<()> {
        match self.commands.as_mut() {
            Some(commands) => wire::write_frame(commands, tag, parts),
            None => Err(io::Error::from(io::ErrorKind::BrokenPipe)),
        }
    }

    /// Waits for the next frame until `deadline`, asking `give_up` every [`TICK`].
    fn wait_frame(
        &mut self,
        deadline: Option<Instant>,
        give_up: &mut dyn FnMut() -> bool,
    ) -> Result<(u8, Vec<u8>), Wait> {
        let fd = self.replies.get_ref().as_raw_fd();
        loop {
            if !self.replies.buffer().is_empty() {
                // Bytes already read are not in the pipe any more: poll would not see them.
                return wire::read_frame(&mut self.replies)
                    .map_err(|_| Wait::Died(self.reap_after_error()));
            }
            let mut wait = TICK;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Wait::TimedOut);
                }
                wait = wait.min(left);
            }
            let mut pollfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd on a descriptor `self.replies` keeps open.
            let ready = unsafe { libc::poll(&mut pollfd, 1, wait.as_millis().max(1) as i32) };
            if ready > 0 {
                return match wire::read_frame(&mut self.replies) {
                    Ok(frame) => Ok(frame),
                    Err(_) => Err(Wait::Died(self.reap_after_error())),
                };
            }
            if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return Err(Wait::Died(self.reap_after_error()));
            }
            if give_up() {
                return Err(Wait::Stopped);
            }
        }
    }

    /// The pipe broke: the process is dying or dead. Reaps it (killing it if it lingers)
    /// and says how it ended.
    fn reap_after_error(&mut self) -> String {
        let pid = self.pid();
        // A process whose pipe closed is exiting; give it a moment to finish.
        let deadline = Instant::now() + Duration::from_secs(1);
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    break self.child.wait().ok();
                }
                Err(_) => break None,
            }
        };
        self.reaped = true;
        self.exit_code = status.and_then(|s| s.code());
        match status {
            Some(status) => describe(pid, status),
            None => format!("worker process {pid} was lost (its status could not be read)"),
        }
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Why no frame came.
enum Wait {
    TimedOut,
    Stopped,
    Died(String),
}

/// How a worker process ended, in words: the signal (with its name) or the exit code.
pub(super) fn describe(pid: u32, status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let name = signal_name(signal);
        let hint = match signal {
            libc::SIGKILL => " (from outside the pool, or the OOM killer)",
            libc::SIGSEGV => " (an invalid memory access, or a stack overflow)",
            libc::SIGABRT => " (abort: a Rust abort, an allocation failure, or a C assert)",
            _ => "",
        };
        format!(
            "worker process {pid} was killed by signal {signal} ({name}){hint}{}",
            if status.core_dumped() {
                ", core dumped"
            } else {
                ""
            }
        )
    } else {
        match status.code() {
            Some(code) => format!("worker process {pid} exited with code {code}"),
            None => format!("worker process {pid} ended ({status})"),
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => "another signal",
    }
}
