//! [`ProcessPoolBuilder`]: the process pool's settings, checked at [`build`](ProcessPoolBuilder::build).

use std::sync::Arc;
use std::time::Duration;

use super::child::WORKER_ENV;
use super::supervisor::Shared;
use super::worker::Launch;
use super::{Inner, ProcessPool};
use crate::BuildError;

/// The most worker processes a pool may have.
const MAX_PROCESSES: usize = 1024;
/// The smallest address-space limit accepted: below it the runtime cannot even start.
const MIN_ADDRESS_SPACE: u64 = 64 << 20;

/// Settings of a [`ProcessPool`]; made by [`ProcessPool::builder`].
///
/// Every setting is checked by [`build`](Self::build), which names the bad one in its
/// [`BuildError`]: zero processes, a zero timeout or period, a memory figure too small to run
/// anything, a niceness outside 0..=19.
///
/// ```
/// # fn main() -> Result<(), stealpool::BuildError> {
/// # stealpool::process::init();
/// use std::time::Duration;
/// let err = stealpool::process::ProcessPool::builder().processes(0).build().unwrap_err();
/// assert_eq!(err.setting(), "processes");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ProcessPoolBuilder {
    processes: Option<usize>,
    task_timeout: Option<Duration>,
    max_tasks_per_process: Option<u64>,
    max_resident_bytes: Option<u64>,
    address_space_limit: Option<u64>,
    niceness: Option<i32>,
    heartbeat: (Duration, Duration),
    restart_intensity: (u32, Duration),
    startup_timeout: Duration,
    max_queued: Option<usize>,
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        ProcessPoolBuilder {
            processes: None,
            task_timeout: None,
            max_tasks_per_process: None,
            max_resident_bytes: None,
            address_space_limit: None,
            niceness: None,
            heartbeat: (Duration::from_secs(1), Duration::from_secs(1)),
            restart_intensity: (10, Duration::from_secs(10)),
            startup_timeout: Duration::from_secs(10),
            max_queued: None,
        }
    }
}

/// The checked settings the supervisor works with.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) processes: usize,
    pub(super) task_timeout: Option<Duration>,
    pub(super) max_tasks_per_process: Option<u64>,
    pub(super) max_resident_bytes: Option<u64>,
    pub(super) heartbeat_every: Duration,
    pub(super) heartbeat_timeout: Duration,
    pub(super) restart_max: u32,
    pub(super) restart_period: Duration,
    pub(super) launch: Launch,
}

impl ProcessPoolBuilder {
    /// The number of worker processes, each with a driver thread in the parent. Default:
    /// one per CPU. 0, or more than 1024, is a [`BuildError`].
    pub fn processes(mut self, n: usize) -> Self {
        self.processes = Some(n);
        self
    }

    /// A task still running after `timeout` has its worker process killed (and replaced) and
    /// its handle fails with [`is_timeout`](crate::TaskError::is_timeout). Default: none.
    pub fn task_timeout(mut self, timeout: Duration) -> Self {
        self.task_timeout = Some(timeout);
        self
    }

    /// Retire a worker process after it has run `n` tasks (Celery's `max_tasks_per_child`):
    /// it leaves between tasks and a fresh one takes its place. Default: never.
    pub fn max_tasks_per_process(mut self, n: u64) -> Self {
        self.max_tasks_per_process = Some(n);
        self
    }

    /// Retire a worker process, between tasks, once its resident memory is above `bytes`
    /// (for code that leaks). Checked after each task. Default: never.
    pub fn max_resident_bytes(mut self, bytes: u64) -> Self {
        self.max_resident_bytes = Some(bytes);
        self
    }

    /// Limit each worker process's address space to `bytes` (`RLIMIT_AS`): an allocation past
    /// it fails in the child (a Rust program aborts, which fails that task as a crash)
    /// instead of growing until the OOM killer picks a victim. At least 64 MiB. Default: none.
    pub fn address_space_limit(mut self, bytes: u64) -> Self {
        self.address_space_limit = Some(bytes);
        self
    }

    /// Run the worker processes at this niceness (0 to 19; higher yields the CPU to other
    /// programs). Default: the parent's.
    pub fn niceness(mut self, nice: i32) -> Self {
        self.niceness = Some(nice);
        self
    }

    /// Health checks: a worker process idle for `every` is pinged, and one that does not
    /// answer within `timeout` is killed and replaced. Default: every 1 s, 1 s timeout.
    pub fn heartbeat(mut self, every: Duration, timeout: Duration) -> Self {
        self.heartbeat = (every, timeout);
        self
    }

    /// The restart-intensity bound (as Erlang/OTP supervisors have): when more than `max`
    /// worker processes had to be replaced after a crash, a timeout or a failed heartbeat
    /// within `period`, the pool stops starting processes, says so once on stderr, and fails
    /// every later task with [`is_unavailable`](crate::TaskError::is_unavailable) instead of
    /// restarting in a tight loop. It does not recover: build a new pool. Retirements
    /// (task count, memory) and cancellations do not count. Default: 10 within 10 s.
    pub fn restart_intensity(mut self, max: u32, period: Duration) -> Self {
        self.restart_intensity = (max, period);
        self
    }

    /// How long a new worker process may take to be ready. Default: 10 s.
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// At most `n` tasks wait in the queue; as [`PoolBuilder::max_queued`](crate::PoolBuilder::max_queued)
    /// (`spawn` waits for room, [`try_spawn`](ProcessPool::try_spawn) gives the arguments back).
    pub fn max_queued(mut self, n: usize) -> Self {
        self.max_queued = Some(n);
        self
    }

    /// Checks the settings, starts the driver threads and the worker processes, and waits
    /// until every worker process is ready.
    ///
    /// A [`BuildError`] names the bad setting; `"init"` when called inside a worker process
    /// (its `main` did not call [`init`](super::init) first), `"processes"` also when a
    /// worker process could not be started.
    pub fn build(self) -> Result<ProcessPool, BuildError> {
        if std::env::var_os(WORKER_ENV).is_some() {
            return Err(BuildError::invalid(
                "init",
                "this is a worker process: stealpool::process::init() must be the first \
                 statement of main, before any pool is built"
                    .into(),
            ));
        }
        let config = self.check()?;
        let mut threads = crate::WorkerPool::builder()
            .num_threads(config.processes)
            .thread_name(|i| format!("stealpool-process-{i}"))
            .max_blocking_threads(0);
        if let Some(n) = self.max_queued {
            threads = threads.max_queued(n);
        }
        let threads = threads.build()?;
        let shared = Arc::new(Shared::new(config));
        shared
            .start_all()
            .map_err(|why| BuildError::invalid("processes", why))?;
        let monitor = Shared::start_monitor(&shared).map_err(|e| {
            BuildError::invalid("processes", format!("cannot start the monitor: {e}"))
        })?;
        Ok(ProcessPool {
            inner: Arc::new(Inner::new(threads, shared, monitor)),
        })
    }

    fn check(&self) -> Result<Config, BuildError> {
        let bad =
            |setting: &'static str, message: String| Err(BuildError::invalid(setting, message));
        let processes = self.processes.unwrap_or_else(num_cpus::get);
        if processes == 0 || processes > MAX_PROCESSES {
            return bad(
                "processes",
                format!("from 1 to {MAX_PROCESSES} worker processes (got {processes})"),
            );
        }
        if self.task_timeout.is_some_and(|t| t.is_zero()) {
            return bad("task_timeout", "must be longer than zero".into());
        }
        if self.max_tasks_per_process == Some(0) {
            return bad("max_tasks_per_process", "at least 1 task (got 0)".into());
        }
        if self.max_resident_bytes.is_some_and(|b| b < 1 << 20) {
            return bad(
                "max_resident_bytes",
                format!(
                    "at least 1 MiB (got {} bytes)",
                    self.max_resident_bytes.unwrap_or(0)
                ),
            );
        }
        let mut limits = Vec::new();
        if let Some(bytes) = self.address_space_limit {
            if bytes < MIN_ADDRESS_SPACE {
                return bad(
                    "address_space_limit",
                    format!("at least {MIN_ADDRESS_SPACE} bytes (got {bytes})"),
                );
            }
            limits.push(format!("as={bytes}"));
        }
        if let Some(nice) = self.niceness {
            if !(0..=19).contains(&nice) {
                return bad("niceness", format!("from 0 to 19 (got {nice})"));
            }
            limits.push(format!("nice={nice}"));
        }
        let (every, timeout) = self.heartbeat;
        if every.is_zero() || timeout.is_zero() {
            return bad(
                "heartbeat",
                format!(
                    "both durations longer than zero (got every {every:?}, timeout {timeout:?})"
                ),
            );
        }
        let (restart_max, restart_period) = self.restart_intensity;
        if restart_max == 0 || restart_period.is_zero() {
            return bad(
                "restart_intensity",
                format!(
                    "at least 1 restart within a period longer than zero (got {restart_max} \
                     within {restart_period:?})"
                ),
            );
        }
        if self.startup_timeout.is_zero() {
            return bad("startup_timeout", "must be longer than zero".into());
        }
        Ok(Config {
            processes,
            task_timeout: self.task_timeout,
            max_tasks_per_process: self.max_tasks_per_process,
            max_resident_bytes: self.max_resident_bytes,
            heartbeat_every: every,
            heartbeat_timeout: timeout,
            restart_max,
            restart_period,
            launch: Launch {
                limits: limits.join(","),
                startup_timeout: self.startup_timeout,
            },
        })
    }
}
