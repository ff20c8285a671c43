//! CPU placement (`PoolBuilder::pin_threads`): the CPUs a pool pins its workers to, pinning
//! the calling thread, and keeping unpinned workers off each other's CPU ([`Spread`]). Linux
//! only (`sched_getaffinity`/`sched_setaffinity`/`sched_getcpu` through `libc`); elsewhere
//! the builder refuses pinning and nothing is spread.

use std::io;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The CPUs this process may run on, in increasing order: worker `i` of a pinned pool runs
/// on `cpus[i % cpus.len()]`.
#[cfg(target_os = "linux")]
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is the calling thread.
    let status = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the capacity of the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect();
    if cpus.is_empty() {
        return Err(io::Error::other("the process may run on no CPU"));
    }
    Ok(cpus)
}

/// Pins the calling thread to `cpu`.
pub(crate) fn pin_current(cpu: usize) -> io::Result<()> {
    allow_current(&[cpu])
}

/// Elsewhere: not supported.
#[cfg(not(target_os = "linux"))]
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "pinning threads to CPUs is supported on Linux only",
    ))
}

/// The CPU the calling thread is running on, if the OS says (`sched_getcpu`, a vDSO call).
#[cfg(target_os = "linux")]
fn current_cpu() -> Option<usize> {
    // SAFETY: `sched_getcpu` takes nothing and only reads the calling thread's CPU.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

#[cfg(not(target_os = "linux"))]
fn current_cpu() -> Option<usize> {
    None
}

/// Lets the calling thread run on the CPUs of `cpus` only (each as [`allowed_cpus`] listed
/// them); the kernel moves it at once if it runs elsewhere.
#[cfg(target_os = "linux")]
fn allow_current(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `cpu` came from `allowed_cpus`, so it is below `CPU_SETSIZE`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; pid 0 is the calling thread.
    let status = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn allow_current(_cpus: &[usize]) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "not supported"))
}

/// Where an unpinned pool's workers run, so that two of them found sharing one CPU while
/// another CPU has none of them are pulled apart (the behaviour users see is stated on
/// `PoolBuilder::pin_threads`).
///
/// The case it mends: the kernel places a waking thread on the CPU it last ran on. When two
/// workers last ran on the same CPU, however they came to, they wake there together and take turns on that one CPU, and the
/// kernel's load balancer does not move either while both keep running ("cache hot"): the
/// second worker gets no CPU time while the first runs a loop, so a split loop runs on one
/// CPU for as long as the pool stays busy. Measured on the project's 2-core machine
/// (`docs/bench/history.md`, "Yielding waits and Spread"): a 1M-item `par_iter_mut` took
/// 110-114 µs per install with both workers on one CPU (not one share taken by the second)
/// and 47-48 µs apart.
///
/// The rule: an awake worker notes its CPU when it starts, when it wakes and at each look
/// of its search for work (`sched_getcpu`, a few nanoseconds); going to sleep it clears its
/// note. A worker that finds a worker of a lower slot noted on its own CPU moves itself to a
/// CPU where no worker of the pool is noted: it pins itself there, which moves it at once,
/// and unpins itself again, so the kernel stays free to move it later. At most once per
/// [`HOP_EVERY`] per worker. Only where the pool is no wider than the CPUs it may run on
/// (otherwise sharing is unavoidable) and its workers are not pinned
/// (`PoolBuilder::pin_threads`). The notes are hints, read and written relaxed: a stale one
/// costs at most a needless move, never a wrong result.
#[derive(Debug)]
pub(crate) struct Spread {
    /// One per slot: where its worker runs, and when it last moved.
    slots: Box<[CachePadded<Seen>]>,
    /// What the slots' times count from.
    start: Instant,
}

/// One worker's notes.
#[derive(Debug)]
struct Seen {
    /// The CPU it was last noted on; [`NONE`] while asleep.
    cpu: AtomicUsize,
    /// When it last moved, in microseconds after `Spread::start`, plus one; 0 for never.
    hopped: AtomicU64,
}

/// The note of a worker that is asleep (or not started).
const NONE: usize = usize::MAX;

/// The shortest time between two moves of one worker.
const HOP_EVERY: Duration = Duration::from_millis(1);

impl Spread {
    /// For a pool of `width` workers in `slots` slots (temporary workers included), or
    /// `None` where there is nothing to mend.
    pub(crate) fn new(width: usize, slots: usize, pinned: bool) -> Option<Spread> {
        if pinned || cfg!(loom) || current_cpu().is_none() {
            return None;
        }
        let cpus = allowed_cpus().ok()?.len();
        if cpus < 2 || width > cpus {
            return None;
        }
        let slots = (0..slots)
            .map(|_| {
                CachePadded::new(Seen {
                    cpu: AtomicUsize::new(NONE),
                    hopped: AtomicU64::new(0),
                })
            })
            .collect();
        Some(Spread {
            slots,
            start: Instant::now(),
        })
    }

    /// Notes where the awake worker in `slot` runs, and moves it if a worker of a lower slot
    /// runs there too (see the type's doc). Only that worker's thread calls it for `slot`.
    pub(crate) fn note(&self, slot: usize) {
        let Some(here) = current_cpu() else { return };
        let seen = &self.slots[slot];
        // Written only when it changed: the other workers read this line at each look.
        if seen.cpu.load(Ordering::Relaxed) != here {
            seen.cpu.store(here, Ordering::Relaxed);
        }
        let lower_here = self.slots[..slot]
            .iter()
            .any(|s| s.cpu.load(Ordering::Relaxed) == here);
        if !lower_here {
            return;
        }
        let now = self.micros();
        let hopped = seen.hopped.load(Ordering::Relaxed);
        if hopped != 0 && now.saturating_sub(hopped - 1) < HOP_EVERY.as_micros() as u64 {
            return;
        }
        seen.hopped.store(now + 1, Ordering::Relaxed);
        // The CPUs this thread may use now (a hook or the program may have narrowed them
        // since the pool was built): it moves within them and gets them all back after.
        let Ok(allowed) = allowed_cpus() else { return };
        let notes: Vec<usize> = self
            .slots
            .iter()
            .map(|s| s.cpu.load(Ordering::Relaxed))
            .collect();
        let Some(free) = free_cpu(&allowed, &notes) else {
            return;
        };
        if pin_current(free).is_ok() {
            let _ = allow_current(&allowed);
            if let Some(cpu) = current_cpu() {
                seen.cpu.store(cpu, Ordering::Relaxed);
            }
        }
    }

    /// The worker in `slot` goes to sleep: it holds no CPU.
    pub(crate) fn forget(&self, slot: usize) {
        self.slots[slot].cpu.store(NONE, Ordering::Relaxed);
    }

    /// Microseconds since the spread was made.
    fn micros(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX - 1)
    }
}

/// The first CPU of `allowed` on which no worker is noted in `notes`.
fn free_cpu(allowed: &[usize], notes: &[usize]) -> Option<usize> {
    allowed.iter().copied().find(|cpu| !notes.contains(cpu))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Spread, allow_current, allowed_cpus, current_cpu, free_cpu, pin_current};

    /// Two workers noted on one CPU: the one of the higher slot moves to another CPU when it
    /// notes where it runs, and is free to run anywhere again after.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_worker_noted_on_the_cpu_of_a_lower_slot_moves_off_it() {
        let cpus = allowed_cpus().unwrap();
        if cpus.len() < 2 {
            eprintln!("skipped: this process may run on one CPU only");
            return;
        }
        let spread = Spread::new(2, 2, false).expect("an unpinned pool of 2 on 2+ CPUs");
        let first = cpus[0];
        std::thread::scope(|s| {
            s.spawn(|| {
                // Slot 0 runs on the first CPU (the kernel may move it later; its note stays).
                pin_current(first).unwrap();
                spread.note(0);
                allow_current(&cpus).unwrap();
            })
            .join()
            .unwrap();
            s.spawn(|| {
                pin_current(first).unwrap();
                allow_current(&cpus).unwrap();
                assert_eq!(current_cpu(), Some(first));
                spread.note(1);
                let now = current_cpu().unwrap();
                assert_ne!(now, first, "slot 1 stayed on the CPU slot 0 was noted on");
                assert_eq!(
                    allowed_cpus().unwrap(),
                    cpus,
                    "slot 1 may run anywhere again"
                );
                // A second note so soon moves nothing, even where it shares a CPU again.
                pin_current(first).unwrap();
                allow_current(&cpus).unwrap();
                spread.note(1);
                assert_eq!(current_cpu(), Some(first), "moved twice within HOP_EVERY");
            })
            .join()
            .unwrap();
        });
        // A sleeping worker holds no CPU.
        spread.forget(0);
        assert!(spread.slots[0].cpu.load(super::Ordering::Relaxed) == super::NONE);
    }

    #[test]
    fn a_worker_moves_only_to_a_cpu_no_worker_is_on() {
        const NONE: usize = super::NONE;
        assert_eq!(free_cpu(&[0, 1], &[0, 0]), Some(1));
        assert_eq!(free_cpu(&[0, 1], &[1, 1]), Some(0));
        assert_eq!(free_cpu(&[0, 1, 2], &[0, 0, 1]), Some(2));
        // Every CPU has a worker: nowhere to go.
        assert_eq!(free_cpu(&[0, 1], &[0, 1, 1]), None);
        // A sleeping worker holds no CPU.
        assert_eq!(free_cpu(&[4, 7], &[4, 4, NONE]), Some(7));
        // Only within the CPUs the thread may use.
        assert_eq!(free_cpu(&[3], &[3, 3]), None);
    }
}
