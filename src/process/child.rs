//! The worker process's side: [`init`](super::init) turns a re-executed copy of the program
//! into a worker that serves tasks until its pool goes away.
//!
//! A worker process is the same executable as its pool's, so a function's address is at the
//! same distance from any other function of the program in both (the load address may
//! differ). A task names its function by that distance from [`anchor`]: the pool computes it
//! from the monomorphized [`entry`] of the task's types, the child adds it back. The child's
//! [`HELLO`](super::wire::HELLO) carries the distance of [`probe`]; the pool refuses a child
//! whose distance differs from its own (another executable, or another build of it).

use std::any::type_name;
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::wire;

/// Set in a worker process's environment: `init` serves tasks when it finds it.
pub(super) const WORKER_ENV: &str = "STEALPOOL_PROCESS_WORKER";
/// Resource limits for the worker process: `as=<bytes>`, `nice=<n>`, separated by commas.
pub(super) const LIMITS_ENV: &str = "STEALPOOL_PROCESS_LIMITS";
/// The exit code of a worker process that could not set itself up (the pool reports it).
pub(super) const SETUP_FAILED: i32 = 70;

/// How a task's function is run in the child: arguments in, result out, both encoded.
pub(super) type Entry = fn(&[u8]) -> Result<Vec<u8>, String>;

/// The point the entry offsets are measured from.
#[inline(never)]
fn anchor() {}

/// A function whose offset the child reports in its hello, to prove it is the same build.
#[inline(never)]
pub(super) fn probe(_: &[u8]) -> Result<Vec<u8>, String> {
    Err(String::from("the probe is not a task"))
}

/// The distance of `entry` from [`anchor`] in this executable.
pub(super) fn offset_of(entry: Entry) -> u64 {
    (entry as usize).wrapping_sub(anchor as fn() as usize) as u64
}

/// The entry at `offset` from [`anchor`].
///
/// # Safety
/// `offset` was computed by [`offset_of`] in a process running this same executable (the pool
/// checked the child's [`probe`] offset against its own before sending any task).
unsafe fn entry_at(offset: u64) -> Entry {
    let address = (anchor as fn() as usize).wrapping_add(offset as usize);
    // SAFETY: by the contract above, `address` is where an `Entry` function lies in this
    // process, as it was in the pool's.
    unsafe { std::mem::transmute::<usize, Entry>(address) }
}

/// A task's function for its types: decodes the arguments, calls `F`, encodes the result.
/// `F` is zero-sized (checked at compile time where the task is spawned), so no bytes of it
/// need to travel: the value is made again here.
pub(super) fn entry<F, A, R>(args: &[u8]) -> Result<Vec<u8>, String>
where
    F: FnOnce(A) -> R + Copy,
    A: DeserializeOwned,
    R: Serialize,
{
    let args: A = postcard::from_bytes(args).map_err(|e| {
        format!(
            "the arguments did not decode as {} in the worker process: {e}",
            type_name::<A>()
        )
    })?;
    const { assert!(size_of::<F>() == 0) };
    // SAFETY: `F` is zero-sized, so it has no bytes to be valid or invalid, and a dangling
    // aligned pointer is a valid place to read a zero-sized value from. `F` is `Copy` and the
    // pool held a value of it, so making another is what copying it would do.
    let func: F = unsafe { std::ptr::NonNull::<F>::dangling().as_ptr().read() };
    let result = func(args);
    postcard::to_stdvec(&result).map_err(|e| {
        format!(
            "the result did not encode as {} in the worker process: {e}",
            type_name::<R>()
        )
    })
}

/// Serves tasks on the pool's pipes until the pool closes them; never returns.
pub(super) fn serve() -> ! {
    let (commands, mut replies) = match take_pipes() {
        Ok(pipes) => pipes,
        Err(err) => setup_failed(&format!("cannot take the pool's pipes: {err}")),
    };
    if let Err(err) = apply_limits() {
        setup_failed(&err);
    }
    watch_lifeline(&commands);
    // Buffered: one `read` takes a whole frame that has arrived (the pool sends one at a time).
    let mut commands = std::io::BufReader::with_capacity(64 << 10, commands);
    let hello_offset = offset_of(probe).to_le_bytes();
    let pid = std::process::id().to_le_bytes();
    if wire::write_frame(&mut replies, wire::HELLO, &[&hello_offset, &pid]).is_err() {
        std::process::exit(0);
    }
    loop {
        let (tag, payload) = match wire::read_frame(&mut commands) {
            Ok(frame) => frame,
            // The pool closed the pipe (retirement, shutdown) or is gone.
            Err(_) => std::process::exit(0),
        };
        let sent = match tag {
            wire::PING => wire::write_frame(&mut replies, wire::PONG, &[]),
            wire::TASK => {
                let (tag, body) = run_task(&payload);
                wire::write_frame(&mut replies, tag, &[&body])
            }
            other => setup_failed(&format!("unknown frame tag {other} from the pool")),
        };
        if sent.is_err() {
            std::process::exit(0);
        }
    }
}

/// Runs one task frame; the reply's tag and payload.
fn run_task(payload: &[u8]) -> (u8, Vec<u8>) {
    let Some((offset, args)) = wire::take_u64(payload) else {
        return (wire::FAILED, b"a task frame without its entry".to_vec());
    };
    // SAFETY: the offset comes from the pool, which computed it with `offset_of` and checked
    // our hello's probe offset against its own: same executable.
    let entry = unsafe { entry_at(offset) };
    match std::panic::catch_unwind(|| entry(args)) {
        Ok(Ok(result)) => (wire::DONE, result),
        Ok(Err(why)) => (wire::FAILED, why.into_bytes()),
        Err(payload) => {
            let message = crate::error::panic_message(payload.as_ref())
                .unwrap_or("a panic whose payload is not a string")
                .to_owned();
            // Dropping a payload can panic in turn; it stays in this process, which carries on.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload)));
            (wire::PANICKED, message.into_bytes())
        }
    }
}

/// Moves the pool's pipes (standard input and output) to new descriptors, and points
/// standard input at `/dev/null` and standard output at standard error, so that the task's
/// own reads and prints cannot touch the protocol.
fn take_pipes() -> std::io::Result<(File, File)> {
    let commands = dup_above_stdio(0)?;
    let replies = dup_above_stdio(1)?;
    let null = File::open("/dev/null")?;
    redirect(std::os::fd::AsRawFd::as_raw_fd(&null), 0)?;
    redirect(2, 1)?;
    // SAFETY: both descriptors were just made by `dup_above_stdio` and nothing else owns them.
    Ok(unsafe { (File::from_raw_fd(commands), File::from_raw_fd(replies)) })
}

fn dup_above_stdio(fd: RawFd) -> std::io::Result<RawFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd` and returns a new descriptor (or -1).
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(new)
}

fn redirect(from: RawFd, to: RawFd) -> std::io::Result<()> {
    // SAFETY: dup2 on descriptors this process owns; `to` is a standard stream we replace.
    if unsafe { libc::dup2(from, to) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Applies the limits the pool passed in [`LIMITS_ENV`].
fn apply_limits() -> Result<(), String> {
    let Ok(spec) = std::env::var(LIMITS_ENV) else {
        return Ok(());
    };
    for item in spec.split(',').filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("bad limit {item:?}"))?;
        match key {
            "as" => {
                let bytes: libc::rlim_t = value
                    .parse()
                    .map_err(|_| format!("bad address-space limit {value:?}"))?;
                let limit = libc::rlimit {
                    rlim_cur: bytes,
                    rlim_max: bytes,
                };
                // SAFETY: setrlimit reads the struct we pass; it changes only this process.
                if unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) } != 0 {
                    return Err(format!(
                        "cannot limit the address space to {bytes} bytes: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            "nice" => {
                let nice: libc::c_int = value
                    .parse()
                    .map_err(|_| format!("bad niceness {value:?}"))?;
                // SAFETY: setpriority on this process (who = 0); no memory is passed.
                if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
                    return Err(format!(
                        "cannot set niceness {nice}: {}",
                        std::io::Error::last_os_error()
                    ));
                }
            }
            _ => return Err(format!("unknown limit {key:?}")),
        }
    }
    Ok(())
}

/// Exits the process as soon as the pool's end of the command pipe is closed, even while a
/// task runs: the pool is gone (killed, say) and nobody will read the result. A thread
/// polls the pipe for hang-up only (it never reads), so it does not race the serving loop.
fn watch_lifeline(commands: &File) {
    let fd = std::os::fd::AsRawFd::as_raw_fd(commands);
    let spawned = std::thread::Builder::new()
        .name("stealpool-lifeline".into())
        .stack_size(64 << 10)
        .spawn(move || {
            loop {
                let mut pollfd = libc::pollfd {
                    fd,
                    events: 0,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; `fd` stays open for the life of the process
                // (the serving loop owns it and never returns).
                let n = unsafe { libc::poll(&mut pollfd, 1, -1) };
                if n > 0 && pollfd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                    // SAFETY: _exit ends the process at once, without running destructors
                    // that could race the task still running on the main thread.
                    unsafe { libc::_exit(0) };
                }
            }
        });
    if let Err(err) = spawned {
        setup_failed(&format!("cannot start the lifeline thread: {err}"));
    }
}

fn setup_failed(why: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "stealpool worker process: {why}");
    std::process::exit(SETUP_FAILED)
}
