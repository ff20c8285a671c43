//! CPU placement (`PoolBuilder::pin_threads`): the CPUs a pool pins its workers to, pinning
//! the calling thread, and keeping unpinned workers off each other's CPU ([`Spread`]). Linux
//! only (`sched_getaffinity`/`sched_setaffinity`/`sched_getcpu` through `libc`); elsewhere
//! the builder refuses pinning and nothing is spread.

use std::io;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;

use crate::loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The CPUs this process may run on (as the calling thread may), in increasing order:
/// worker `i` of a pinned pool runs on `cpus[i % cpus.len()]`.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    cpus_of(0)
}

/// A thread id (`gettid`) of this process; 0 stands for the calling thread.
type Tid = usize;

/// The id of the calling thread.
#[cfg(target_os = "linux")]
fn current_tid() -> Tid {
    // SAFETY: `gettid` takes nothing and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    Tid::try_from(tid).unwrap_or(0)
}

/// The CPUs thread `tid` may run on, in increasing order.
#[cfg(target_os = "linux")]
fn cpus_of(tid: Tid) -> io::Result<Vec<usize>> {
    let tid = libc::pid_t::try_from(tid).map_err(io::Error::other)?;
    // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; `tid` is 0 (the calling thread)
    // or a thread id, which the kernel checks.
    let status = unsafe { libc::sched_getaffinity(tid, size_of::<libc::cpu_set_t>(), &mut set) };
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
    set_cpus(0, &[cpu])
}

/// Elsewhere: not supported.
#[cfg(not(target_os = "linux"))]
fn cpus_of(_tid: Tid) -> io::Result<Vec<usize>> {
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

#[cfg(not(target_os = "linux"))]
fn current_tid() -> Tid {
    0
}

/// Lets thread `tid` (0: the calling thread) run on the CPUs of `cpus` only (each as
/// [`cpus_of`] listed them); the kernel moves it at once if it is elsewhere.
#[cfg(target_os = "linux")]
fn set_cpus(tid: Tid, cpus: &[usize]) -> io::Result<()> {
    let tid = libc::pid_t::try_from(tid).map_err(io::Error::other)?;
    // SAFETY: an all-zero `cpu_set_t` is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `cpu` came from `allowed_cpus`, so it is below `CPU_SETSIZE`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; `tid` is 0 (the calling thread)
    // or a thread id, which the kernel checks.
    let status = unsafe { libc::sched_setaffinity(tid, size_of::<libc::cpu_set_t>(), &set) };
    if status != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn set_cpus(_tid: Tid, _cpus: &[usize]) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "not supported"))
}

/// Where an unpinned pool's workers run, so that two of them found sharing one CPU while
/// another CPU has none of them are pulled apart (the behaviour users see is stated on
/// `PoolBuilder::pin_threads`).
///
/// The case it mends: the kernel places a waking thread on the CPU it last ran on. When two
/// workers last ran on the same CPU, however they came to, they wake there together and take
/// turns on that one CPU, and the kernel's load balancer does not move either while both
/// keep running ("cache hot"): the second worker gets no CPU time while the first runs a
/// loop, so a split loop runs on one CPU for as long as the pool stays busy. Measured on the
/// project's 2-core machine (`docs/bench/history.md`, "Yielding waits and Spread"): a
/// 1M-item `par_iter_mut` took 110-114 µs per install with both workers on one CPU (not one
/// share taken by the second) and 47-48 µs apart.
///
/// The rule: an awake worker notes its CPU when it starts, when it wakes and at each look
/// of its search for work (`sched_getcpu`, a few nanoseconds); going to sleep it clears its
/// note. A worker that finds another worker noted on its own CPU moves the one of the two in
/// the higher slot (itself or the other, by thread id: the other is then not running, since
/// this one is) to a CPU that thread may use and where no worker of the pool is noted: it
/// pins the thread there, which moves it at once, and gives it back every CPU it had, so the
/// kernel stays free to move it later. Always the higher slot, so that two workers that see
/// each other at once move the same one; a slot is moved at most once per [`HOP_EVERY`].
/// Only where the pool is no wider than the CPUs it may run on (otherwise sharing is
/// unavoidable) and its workers are not pinned (`PoolBuilder::pin_threads`). The notes are
/// hints, read and written relaxed: a stale one costs at most a needless move, never a wrong
/// result. A thread id read just as its thread exits could in principle name a new thread of
/// the process after the id is reused; the exiting worker clears its id first, so that needs
/// the kernel to recycle an id within microseconds.
#[derive(Debug)]
pub(crate) struct Spread {
    /// One per slot: where its worker runs, its thread, and when it was last moved.
    slots: Box<[CachePadded<Seen>]>,
    /// What the slots' times count from.
    start: Instant,
}

/// One worker's notes.
#[derive(Debug)]
struct Seen {
    /// The CPU it was last noted on; [`NONE`] while asleep.
    cpu: AtomicUsize,
    /// Its thread's id; 0 before it starts and after it ends.
    tid: AtomicUsize,
    /// When it was last moved, in microseconds after `Spread::start`, plus one; 0 for never.
    moved: AtomicU64,
}

/// The note of a worker that is asleep (or not started).
const NONE: usize = usize::MAX;

/// The shortest time between two moves of one slot's worker.
const HOP_EVERY: Duration = Duration::from_millis(1);

impl Spread {
    /// For a pool of `width` workers in `slots` slots (temporary workers included), or
    /// `None` where there is nothing to mend.
    pub(crate) fn new(width: usize, slots: usize, pinned: bool) -> Option<Spread> {
        if pinned || cfg!(loom) || current_cpu().is_none() || current_tid() == 0 {
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
                    tid: AtomicUsize::new(0),
                    moved: AtomicU64::new(0),
                })
            })
            .collect();
        Some(Spread {
            slots,
            start: Instant::now(),
        })
    }

    /// The worker of `slot` starts on the calling thread.
    pub(crate) fn started(&self, slot: usize) {
        self.slots[slot].tid.store(current_tid(), Ordering::Relaxed);
        self.note(slot);
    }

    /// The worker of `slot` ends: it holds no CPU and its thread id goes stale.
    pub(crate) fn ended(&self, slot: usize) {
        self.slots[slot].tid.store(0, Ordering::Relaxed);
        self.forget(slot);
    }

    /// Notes where the awake worker of `slot` runs (on the calling thread), and pulls it and
    /// a worker it shares that CPU with apart (see the type's doc).
    pub(crate) fn note(&self, slot: usize) {
        let Some(here) = current_cpu() else { return };
        let seen = &self.slots[slot];
        // Written only when it changed: the other workers read this line at each look.
        if seen.cpu.load(Ordering::Relaxed) != here {
            seen.cpu.store(here, Ordering::Relaxed);
        }
        let Some(other) = (0..self.slots.len())
            .find(|&i| i != slot && self.slots[i].cpu.load(Ordering::Relaxed) == here)
        else {
            return;
        };
        let mover = slot.max(other);
        let moving = &self.slots[mover];
        let now = self.micros();
        let moved = moving.moved.load(Ordering::Relaxed);
        if moved != 0 && now.saturating_sub(moved - 1) < HOP_EVERY.as_micros() as u64 {
            return;
        }
        let tid = if mover == slot {
            0
        } else {
            match moving.tid.load(Ordering::Relaxed) {
                0 => return,
                tid => tid,
            }
        };
        moving.moved.store(now + 1, Ordering::Relaxed);
        // The CPUs that thread may use now (a hook or the program may have narrowed them
        // since the pool was built): it moves within them and gets them all back after.
        let Ok(allowed) = cpus_of(tid) else { return };
        let notes: Vec<usize> = self
            .slots
            .iter()
            .map(|s| s.cpu.load(Ordering::Relaxed))
            .collect();
        let Some(free) = free_cpu(&allowed, &notes) else {
            return;
        };
        if set_cpus(tid, &[free]).is_ok() {
            let _ = set_cpus(tid, &allowed);
            moving.cpu.store(free, Ordering::Relaxed);
        }
    }

    /// The worker of `slot` goes to sleep: it holds no CPU.
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
    use super::{
        Ordering, Spread, allowed_cpus, cpus_of, current_cpu, current_tid, free_cpu, pin_current,
        set_cpus,
    };

    /// The CPUs of this process and a spread for two workers, or `None` (with a note) on a
    /// machine where there is nothing to spread.
    #[cfg(target_os = "linux")]
    fn two_workers() -> Option<(Vec<usize>, Spread)> {
        let cpus = allowed_cpus().unwrap();
        if cpus.len() < 2 {
            eprintln!("skipped: this process may run on one CPU only");
            return None;
        }
        let spread = Spread::new(2, 2, false).expect("an unpinned pool of 2 on 2+ CPUs");
        Some((cpus, spread))
    }

    /// Moves the calling thread onto `cpu` and lets it run on every CPU of `cpus` again
    /// (which moves nothing): where the kernel can leave a thread.
    #[cfg(target_os = "linux")]
    fn leave_on(cpu: usize, cpus: &[usize]) {
        pin_current(cpu).unwrap();
        set_cpus(0, cpus).unwrap();
    }

    /// Two workers noted on one CPU: the one of the higher slot moves to another CPU when it
    /// notes where it runs, and is free to run anywhere again after.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_worker_noted_on_the_cpu_of_a_lower_slot_moves_off_it() {
        let Some((cpus, spread)) = two_workers() else {
            return;
        };
        let first = cpus[0];
        std::thread::scope(|s| {
            s.spawn(|| {
                // Slot 0 ran on the first CPU and went on elsewhere: its note stays.
                pin_current(first).unwrap();
                spread.note(0);
                set_cpus(0, &cpus).unwrap();
            })
            .join()
            .unwrap();
            s.spawn(|| {
                leave_on(first, &cpus);
                assert_eq!(current_cpu(), Some(first));
                spread.started(1);
                let now = current_cpu().unwrap();
                assert_ne!(now, first, "slot 1 stayed on the CPU slot 0 was noted on");
                assert_eq!(
                    allowed_cpus().unwrap(),
                    cpus,
                    "slot 1 may run anywhere again"
                );
                // A second note so soon moves nothing, even where it shares a CPU again. Read
                // from the slot's last-move stamp, which a move rewrites (where the thread runs
                // is no proof: with every CPU allowed again, the kernel may move it at any time);
                // the stamp is set to now first, so that a slow machine cannot let HOP_EVERY
                // pass between the two moves.
                let stamp = spread.micros() + 1;
                spread.slots[1].moved.store(stamp, Ordering::Relaxed);
                leave_on(first, &cpus);
                spread.note(1);
                assert_eq!(
                    spread.slots[1].moved.load(Ordering::Relaxed),
                    stamp,
                    "moved twice within HOP_EVERY"
                );
            })
            .join()
            .unwrap();
        });
        // A worker that ends holds no CPU and no thread.
        spread.ended(1);
        assert_eq!(spread.slots[1].cpu.load(Ordering::Relaxed), super::NONE);
        assert_eq!(spread.slots[1].tid.load(Ordering::Relaxed), 0);
    }

    /// The worker of the lower slot, finding the higher slot's worker noted on its CPU,
    /// moves that other thread (by its id) and gives it back every CPU it had.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_worker_moves_a_higher_slot_found_on_its_cpu() {
        let Some((cpus, spread)) = two_workers() else {
            return;
        };
        let first = cpus[0];
        let (tell, told) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            // Dropped when an assertion below fails, which ends the other thread too.
            let (release, released) = std::sync::mpsc::channel::<()>();
            let (spread, cpus) = (&spread, &cpus);
            let other = s.spawn(move || {
                leave_on(first, cpus);
                spread.started(1);
                tell.send(current_tid()).unwrap();
                released.recv().unwrap();
                cpus_of(0).unwrap()
            });
            let other_tid = told.recv().unwrap();
            // Slot 1 is noted on the first CPU (it may have gone to sleep there since).
            spread.slots[1].cpu.store(first, Ordering::Relaxed);
            pin_current(first).unwrap();
            spread.note(0);
            set_cpus(0, cpus).unwrap();
            assert_eq!(
                current_cpu(),
                Some(first),
                "slot 0 moved rather than slot 1"
            );
            assert_ne!(
                spread.slots[1].cpu.load(Ordering::Relaxed),
                first,
                "slot 1 was not moved off the first CPU"
            );
            assert!(spread.slots[1].moved.load(Ordering::Relaxed) != 0);
            assert_eq!(&cpus_of(other_tid).unwrap(), cpus);
            release.send(()).unwrap();
            assert_eq!(
                &other.join().unwrap(),
                cpus,
                "slot 1 may run anywhere again"
            );
        });
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
