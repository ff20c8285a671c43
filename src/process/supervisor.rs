//! Supervision: which worker process each driver thread owns, what happens when one dies,
//! times out, stops answering or has done enough, and when the pool gives up.
//!
//! Each driver thread `i` of the pool's [`WorkerPool`](crate::WorkerPool) owns slot `i`: one
//! worker process, behind a mutex that the driver holds for the whole of a task. The monitor
//! thread only ever `try_lock`s a slot, so it pings idle processes and never waits for a
//! busy one. The rules, in the order a task meets them:
//!
//! 1. **Start**: an empty slot gets a process when its driver next has a task (and at build).
//!    Starting fails the task with `is_unavailable` once the pool has given up (rule 5), or
//!    when the process cannot start.
//! 2. **Crash**: the process died while running the task: the task fails `is_crash` with the
//!    signal or exit code, and a new process is started at once, before the driver takes its
//!    next task. **Timeout**: past `task_timeout` the process is killed, the task fails
//!    `is_timeout`, and the process is replaced the same way.
//! 3. **Cancel and `shutdown_now`**: a driver waiting for a task's answer looks every 10 ms
//!    at the task's handle and at the pool; a cancelled task or a pool shutting down now has
//!    its process killed, and its handle fails `is_cancelled`. The process is replaced unless
//!    the pool is closing.
//! 4. **Retirement**: after a task, a process that reached `max_tasks_per_process`, or whose
//!    resident memory is above `max_resident_bytes`, is retired (its pipe closed, then
//!    reaped); its slot is filled when the next task comes.
//! 5. **Restart intensity**: every replacement after a crash, a timeout or a failed heartbeat
//!    asks the [`RestartBudget`]. Past it, the pool gives up for good: it says so once on
//!    stderr, starts no more processes, and fails every later task with `is_unavailable`.
//! 6. **Heartbeat**: every `heartbeat.every`, the monitor pings each process idle that long;
//!    one that does not answer in time is killed and replaced (rule 5 applies).
//!
//! Every process ends reaped: [`WorkerProcess`] kills and waits on drop, and the shutdowns
//! retire every slot after the driver threads have finished. A worker process whose pool
//! dies (even by SIGKILL) exits by itself: see [`super::child`]'s lifeline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::builder::Config;
use super::worker::{Answer, WorkerProcess};
use crate::error::{TaskError, raise};
use crate::metrics::ProcessFigures;
use crate::restart::{RestartBudget, Verdict};

/// How long a retired process may take to exit after its pipe is closed.
const RETIRE_GRACE: Duration = Duration::from_secs(1);

pub(crate) struct Shared {
    config: Config,
    slots: Box<[Mutex<Slot>]>,
    /// Each slot's process id (0: empty), readable while its driver holds the slot.
    pids: Box<[AtomicU32]>,
    budget: RestartBudget,
    /// Set when the pool gave up restarting (rule 5): why, for the tasks it fails.
    gave_up: Mutex<Option<String>>,
    /// `shutdown_now` (or a late `shutdown_timeout`): running tasks are to be killed.
    stop_now: AtomicBool,
    /// The pool is closing: a killed process is not replaced.
    closing: AtomicBool,
    /// Wakes the monitor early when the pool closes.
    monitor_stop: (Mutex<bool>, Condvar),
    figures: Figures,
}

#[derive(Default)]
struct Slot {
    process: Option<WorkerProcess>,
    /// A process has run in this slot before: the next start is a replacement.
    used: bool,
}

#[derive(Default)]
struct Figures {
    replaced: AtomicU64,
    crashes: AtomicU64,
    timeouts: AtomicU64,
    unresponsive: AtomicU64,
    retired: AtomicU64,
}

/// Why a process is being replaced: the restart budget applies to failures only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cause {
    Failure,
    Planned,
}

impl Shared {
    pub(super) fn new(config: Config) -> Shared {
        let slots = (0..config.processes).map(|_| Mutex::default()).collect();
        let pids = (0..config.processes).map(|_| AtomicU32::new(0)).collect();
        let budget = RestartBudget::new(config.restart_max, config.restart_period);
        Shared {
            config,
            slots,
            pids,
            budget,
            gave_up: Mutex::new(None),
            stop_now: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            monitor_stop: (Mutex::new(false), Condvar::new()),
            figures: Figures::default(),
        }
    }

    pub(super) fn num_processes(&self) -> usize {
        self.slots.len()
    }

    /// Starts every slot's process (at build): the first error, if any.
    pub(super) fn start_all(&self) -> Result<(), String> {
        for (index, slot) in self.slots.iter().enumerate() {
            let mut slot = slot.lock();
            let process = WorkerProcess::start(&self.config.launch)?;
            self.put(index, &mut slot, process);
        }
        Ok(())
    }

    /// Runs one task on the calling driver's process; the encoded result, or the task's
    /// error raised through the task cell (see [`raise`]).
    pub(super) fn run(&self, offset: u64, args: &[u8]) -> Vec<u8> {
        let index = crate::current_thread_index()
            .expect("a process task runs on one of its pool's driver threads");
        let mut slot = self.slots[index].lock();
        if slot.process.is_none() {
            self.fill(index, &mut slot);
        }
        let Some(process) = slot.process.as_mut() else {
            raise(self.unavailable());
        };
        let deadline = self.config.task_timeout.map(|t| Instant::now() + t);
        let mut give_up = || crate::is_cancelled() || self.stop_now.load(Ordering::Relaxed);
        let answer = process.run(offset, args, deadline, &mut give_up);
        match answer {
            Answer::Done(result) => {
                self.after_task(index, &mut slot);
                result
            }
            Answer::Panicked(message) => {
                self.after_task(index, &mut slot);
                raise(TaskError::panic_message(message))
            }
            Answer::Failed(why) => {
                self.after_task(index, &mut slot);
                raise(TaskError::codec(why))
            }
            Answer::Died(how) => {
                self.figures.crashes.fetch_add(1, Ordering::Relaxed);
                self.replace(index, &mut slot, Cause::Failure);
                raise(TaskError::crash(how))
            }
            Answer::TimedOut => {
                self.figures.timeouts.fetch_add(1, Ordering::Relaxed);
                let timeout = self.config.task_timeout.unwrap_or_default();
                let pid = process.pid();
                self.replace(index, &mut slot, Cause::Failure);
                raise(TaskError::timeout(format!(
                    "still running after {timeout:?}; worker process {pid} was killed"
                )))
            }
            Answer::Stopped => {
                self.replace(index, &mut slot, Cause::Planned);
                raise(TaskError::cancelled())
            }
        }
    }

    /// Rule 4: retire the slot's process if it has done enough.
    fn after_task(&self, index: usize, slot: &mut Slot) {
        let Some(process) = slot.process.as_ref() else {
            return;
        };
        let by_count = self
            .config
            .max_tasks_per_process
            .is_some_and(|max| process.tasks_run >= max);
        let by_memory = !by_count
            && self
                .config
                .max_resident_bytes
                .is_some_and(|max| process.resident_bytes().is_some_and(|rss| rss > max));
        if by_count || by_memory {
            self.figures.retired.fetch_add(1, Ordering::Relaxed);
            if let Some(process) = self.take(index, slot) {
                process.retire(RETIRE_GRACE);
            }
        }
    }

    /// Drops the slot's (dead or killed) process and starts another at once, unless the pool
    /// is closing or, for a failure, the restart budget says no (rule 5).
    fn replace(&self, index: usize, slot: &mut Slot, cause: Cause) {
        drop(self.take(index, slot));
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        if cause == Cause::Failure {
            if let Verdict::CarryOn { .. } = self.budget.decide(Instant::now()) {
                self.give_up();
                return;
            }
        }
        self.fill(index, slot);
    }

    /// Puts a new process in slot `index`.
    fn put(&self, index: usize, slot: &mut Slot, process: WorkerProcess) {
        if slot.used {
            self.figures.replaced.fetch_add(1, Ordering::Relaxed);
        }
        slot.used = true;
        self.pids[index].store(process.pid(), Ordering::Relaxed);
        slot.process = Some(process);
    }

    /// Takes slot `index`'s process out.
    fn take(&self, index: usize, slot: &mut Slot) -> Option<WorkerProcess> {
        self.pids[index].store(0, Ordering::Relaxed);
        slot.process.take()
    }

    /// Starts a process in an empty slot (not after the pool gave up or while it closes).
    fn fill(&self, index: usize, slot: &mut Slot) {
        if self.gave_up.lock().is_some() || self.closing.load(Ordering::Relaxed) {
            return;
        }
        match WorkerProcess::start(&self.config.launch) {
            Ok(process) => self.put(index, slot, process),
            Err(why) => {
                // Counted against the budget like a crash: a program whose workers cannot
                // start must not be restarted in a tight loop either.
                eprintln!("stealpool process pool: {why}");
                if let Verdict::CarryOn { .. } = self.budget.decide(Instant::now()) {
                    self.give_up();
                }
            }
        }
    }

    fn give_up(&self) {
        let mut gave_up = self.gave_up.lock();
        if gave_up.is_none() {
            let why = format!(
                "the process pool gave up: more than {} worker processes had to be replaced \
                 within {:?} (restart_intensity); build a new pool",
                self.config.restart_max, self.config.restart_period
            );
            eprintln!("stealpool: {why}");
            *gave_up = Some(why);
        }
    }

    fn unavailable(&self) -> TaskError {
        let why = self.gave_up.lock().clone();
        TaskError::unavailable(why.unwrap_or_else(|| {
            "no worker process could be started for this task (see stderr)".into()
        }))
    }

    /// The figures for `Metrics`.
    pub(super) fn figures(&self) -> ProcessFigures {
        let f = &self.figures;
        ProcessFigures {
            replaced: f.replaced.load(Ordering::Relaxed),
            crashes: f.crashes.load(Ordering::Relaxed),
            timeouts: f.timeouts.load(Ordering::Relaxed),
            unresponsive: f.unresponsive.load(Ordering::Relaxed),
            retired: f.retired.load(Ordering::Relaxed),
        }
    }

    /// The pid of each slot's process now, busy or idle (`None`: the slot is empty).
    pub(super) fn pids(&self) -> Vec<Option<u32>> {
        self.pids
            .iter()
            .map(|pid| match pid.load(Ordering::Relaxed) {
                0 => None,
                pid => Some(pid),
            })
            .collect()
    }

    /// Kill running tasks' processes from now on (`shutdown_now`).
    pub(super) fn stop_running(&self) {
        self.closing.store(true, Ordering::Relaxed);
        self.stop_now.store(true, Ordering::Relaxed);
    }

    /// After the driver threads are gone: stop the monitor and retire every process.
    pub(super) fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
        {
            let (stopped, wake) = &self.monitor_stop;
            *stopped.lock() = true;
            wake.notify_all();
        }
        for (index, slot) in self.slots.iter().enumerate() {
            if let Some(process) = self.take(index, &mut slot.lock()) {
                process.retire(RETIRE_GRACE);
            }
        }
    }

    /// Starts the monitor thread (rule 6); it holds the shared state until [`close`](Self::close).
    pub(super) fn start_monitor(
        shared: &Arc<Shared>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let shared = Arc::clone(shared);
        std::thread::Builder::new()
            .name("stealpool-process-monitor".into())
            .spawn(move || shared.monitor())
    }

    fn monitor(&self) {
        let every = self.config.heartbeat_every;
        let (stopped, wake) = &self.monitor_stop;
        loop {
            {
                let mut stopped = stopped.lock();
                if !*stopped {
                    wake.wait_for(&mut stopped, every);
                }
                if *stopped {
                    return;
                }
            }
            for (index, slot) in self.slots.iter().enumerate() {
                // A busy slot (its driver holds the lock) is not checked: its task's own
                // deadline and the pipe watch it.
                let Some(mut slot) = slot.try_lock() else {
                    continue;
                };
                let Some(process) = slot.process.as_mut() else {
                    continue;
                };
                if process.idle_since.elapsed() < every {
                    continue;
                }
                if !process.ping(self.config.heartbeat_timeout) {
                    self.figures.unresponsive.fetch_add(1, Ordering::Relaxed);
                    self.replace(index, &mut slot, Cause::Failure);
                }
            }
        }
    }
}
