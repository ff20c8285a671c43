//! Priority lanes: [`Priority`], how lanes are numbered inside the scheduler, and the
//! [`Picker`](picker::Picker) that chooses a worker's next lane.
//!
//! Each lane has its own global injector and its own deque on every worker, so a task keeps
//! its priority wherever it waits.

pub(crate) mod picker;

/// How urgent a task is. Workers always take work from the highest lane that has some,
/// except for a bounded share of *fairness picks* that keep lower lanes moving (see
/// [`PoolBuilder::fairness_interval`](crate::PoolBuilder::fairness_interval)).
///
/// Work spawned, joined or scoped from inside a task runs at that task's priority unless the
/// call names another one ([`WorkerPool::spawn_with`](crate::WorkerPool::spawn_with)). Work
/// submitted from outside any pool runs at [`Priority::Normal`].
///
/// ```
/// use stealpool::{Priority, WorkerPool};
///
/// let pool = WorkerPool::builder().num_threads(2).build().unwrap();
/// let urgent = pool.spawn_with(Priority::High, || stealpool::current_priority());
/// assert_eq!(urgent.join().unwrap(), Some(Priority::High));
/// assert_eq!(Priority::default(), Priority::Normal);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Priority {
    /// Urgent work: taken before anything else at every task boundary.
    High,
    /// The default.
    #[default]
    Normal,
    /// Batch work: runs when nothing more urgent is queued, and at the fairness picks.
    Low,
}

/// The number of lanes.
pub(crate) const LANES: usize = 3;
/// Lane indices, highest priority first.
pub(crate) const HIGH: usize = 0;
pub(crate) const NORMAL: usize = 1;
pub(crate) const LOW: usize = 2;

impl Priority {
    /// Every priority, highest first: the order of [`Metrics::lanes`](crate::Metrics::lanes).
    ///
    /// ```
    /// use stealpool::Priority;
    ///
    /// assert_eq!(Priority::ALL, [Priority::High, Priority::Normal, Priority::Low]);
    /// ```
    pub const ALL: [Priority; 3] = [Priority::High, Priority::Normal, Priority::Low];

    /// The lane index of this priority: 0 for `High`, 1 for `Normal`, 2 for `Low`.
    pub(crate) fn lane(self) -> usize {
        match self {
            Priority::High => HIGH,
            Priority::Normal => NORMAL,
            Priority::Low => LOW,
        }
    }

    pub(crate) fn from_lane(lane: usize) -> Priority {
        match lane {
            HIGH => Priority::High,
            NORMAL => Priority::Normal,
            _ => Priority::Low,
        }
    }
}
