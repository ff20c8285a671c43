//! [`Picker`]: which lane a worker takes its next task from.
//!
//! The rule (highest lane first at every task boundary, a fairness pick after
//! `fairness_interval - 1` picks that passed over lower-lane work) is the one documented on
//! [`PoolBuilder::fairness_interval`](crate::PoolBuilder::fairness_interval); this type carries
//! it out over any [`LaneQueues`], so the policy is tested here without a pool. How it stays
//! cheap:
//! - [`LaneQueues::may_hold`] is a hint that costs one load: High and Low keep a count of
//!   their queued jobs (see `Registry::lane_hint`), so a pool that only uses `Normal` never
//!   touches the other lanes' queues, and a fairness pick there costs two loads;
//! - only a pick that passes over queued lower-lane work brings the next fairness pick
//!   closer; Normal work counts as queued when it is in the worker's own deque or the
//!   injector (cheap to look at, and enough: Normal work elsewhere reaches one of those or is
//!   taken by its own worker);
//! - a fairness pick takes the *oldest* task of its lane. Outside submissions wait in the
//!   lane's injector in order, tasks spawned on the worker at the old end of its own deque;
//!   which of the two is older is not recorded, so fairness picks look at them in turn
//!   (neither waits more than one fairness pick of its lane), then at the other workers'
//!   deques.

use std::cell::Cell;

use super::{HIGH, LANES, LOW, NORMAL};

/// The queues a worker takes work from, lane by lane, as the [`Picker`] sees them.
pub(crate) trait LaneQueues {
    /// What the queues hold.
    type Job;

    /// May `lane` hold work anywhere this worker looks? A cheap hint: false means nothing
    /// was queued there when it was read. Always true for `Normal`, which is not counted.
    fn may_hold(&self, lane: usize) -> bool;

    /// Is `Normal` work queued in this worker's own deque or in the injector?
    fn normal_nearby(&self) -> bool;

    /// The usual look at `lane`: own deque (newest first), then the lane's injector, then
    /// the other workers' deques (oldest first).
    fn take(&self, lane: usize) -> Option<Self::Job>;

    /// The oldest task of `lane` this worker can see: the front of the injector and the old
    /// end of its own deque, in the order `injector_first` says, then the other workers'
    /// deques.
    fn take_oldest(&self, lane: usize, injector_first: bool) -> Option<Self::Job>;
}

/// One worker's lane choice: the countdown to its next fairness pick and whose turn it is.
/// Only its own thread uses it.
#[derive(Debug)]
pub(crate) struct Picker {
    /// `fairness_interval`: every this many picks, at most, one is a fairness pick.
    interval: u32,
    /// Picks left before the next fairness pick.
    until_fair: Cell<u32>,
    /// Which lower lane the next fairness pick tries first: Low when true, Normal when false.
    low_first: Cell<bool>,
    /// Per lane, where the next look for its oldest task starts: the injector when true, the
    /// old end of this worker's own deque when false.
    injector_first: [Cell<bool>; LANES],
}

impl Picker {
    /// A picker for `fairness_interval` (at least 2; the builder checks it).
    pub(crate) fn new(interval: u32) -> Self {
        debug_assert!(interval >= 2);
        Picker {
            interval,
            until_fair: Cell::new(interval - 1),
            low_first: Cell::new(true),
            injector_first: Default::default(),
        }
    }

    /// The next task to run and its lane, or `None` when no queue shows any.
    #[inline]
    pub(crate) fn pick<Q: LaneQueues>(&self, queues: &Q) -> Option<(Q::Job, usize)> {
        if self.until_fair.get() == 0 {
            if let Some(found) = self.fair_pick(queues) {
                self.until_fair.set(self.interval - 1);
                return Some(found);
            }
            // Nothing below to be fair to: the next pick tries again.
        }
        let found = by_priority(queues);
        if let Some((_, lane)) = found {
            // A worker running the lowest lane that has work owes nobody, so urgent work
            // arriving there is never put behind a fairness pick.
            if lower_lane_waits(queues, lane) {
                self.until_fair.set(self.until_fair.get().saturating_sub(1));
            } else {
                self.until_fair.set(self.interval - 1);
            }
        }
        found
    }

    /// A fairness pick: the oldest task of a lower lane, Low and Normal taking turns to be
    /// tried first (the turn passes only when a pick is made). Normal is tried only when High
    /// work is queued (otherwise the usual order takes Normal anyway), Low only when Low work
    /// is queued.
    fn fair_pick<Q: LaneQueues>(&self, queues: &Q) -> Option<(Q::Job, usize)> {
        let low_first = self.low_first.get();
        let order = if low_first {
            [LOW, NORMAL]
        } else {
            [NORMAL, LOW]
        };
        for lane in order {
            let worth_it = match lane {
                LOW => queues.may_hold(LOW),
                _ => queues.may_hold(HIGH),
            };
            if !worth_it {
                continue;
            }
            let injector_first = !self.injector_first[lane].get();
            self.injector_first[lane].set(injector_first);
            if let Some(job) = queues.take_oldest(lane, injector_first) {
                self.low_first.set(!low_first);
                return Some((job, lane));
            }
        }
        None
    }
}

/// The usual pick: the highest lane with work.
#[inline]
fn by_priority<Q: LaneQueues>(queues: &Q) -> Option<(Q::Job, usize)> {
    [HIGH, NORMAL, LOW].into_iter().find_map(|lane| {
        if queues.may_hold(lane) {
            queues.take(lane).map(|job| (job, lane))
        } else {
            None
        }
    })
}

/// Is work queued in a lane above `lane`? High is counted; Normal (above Low) is judged from
/// the worker's own deque and the injector.
pub(crate) fn higher_lane_waits<Q: LaneQueues>(queues: &Q, lane: usize) -> bool {
    match lane {
        HIGH => false,
        NORMAL => queues.may_hold(HIGH),
        _ => queues.may_hold(HIGH) || queues.normal_nearby(),
    }
}

/// Is work queued in a lane below `lane`? Low is counted; Normal (below High) is judged from
/// the worker's own deque and the injector.
fn lower_lane_waits<Q: LaneQueues>(queues: &Q, lane: usize) -> bool {
    match lane {
        HIGH => queues.may_hold(LOW) || queues.normal_nearby(),
        NORMAL => queues.may_hold(LOW),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use super::{LaneQueues, Picker, higher_lane_waits};
    use crate::lane::{HIGH, LANES, LOW, NORMAL};

    /// One worker's view: per lane, the injector (front is oldest) and the worker's own deque
    /// (back is newest). Jobs are numbers; `looked` records every lane whose queues were read.
    #[derive(Default)]
    struct Queues {
        injector: RefCell<[VecDeque<u32>; LANES]>,
        own: RefCell<[VecDeque<u32>; LANES]>,
        looked: RefCell<Vec<usize>>,
    }

    impl Queues {
        fn inject(&self, lane: usize, jobs: impl IntoIterator<Item = u32>) {
            self.injector.borrow_mut()[lane].extend(jobs);
        }

        fn spawn(&self, lane: usize, jobs: impl IntoIterator<Item = u32>) {
            self.own.borrow_mut()[lane].extend(jobs);
        }

        fn is_empty(&self, lane: usize) -> bool {
            self.injector.borrow()[lane].is_empty() && self.own.borrow()[lane].is_empty()
        }
    }

    impl LaneQueues for Queues {
        type Job = u32;

        fn may_hold(&self, lane: usize) -> bool {
            lane == NORMAL || !self.is_empty(lane)
        }

        fn normal_nearby(&self) -> bool {
            !self.is_empty(NORMAL)
        }

        fn take(&self, lane: usize) -> Option<u32> {
            self.looked.borrow_mut().push(lane);
            let own = self.own.borrow_mut()[lane].pop_back();
            own.or_else(|| self.injector.borrow_mut()[lane].pop_front())
        }

        fn take_oldest(&self, lane: usize, injector_first: bool) -> Option<u32> {
            self.looked.borrow_mut().push(lane);
            let injector = || self.injector.borrow_mut()[lane].pop_front();
            let own = || self.own.borrow_mut()[lane].pop_front();
            if injector_first {
                injector().or_else(own)
            } else {
                own().or_else(injector)
            }
        }
    }

    /// The lanes of the next `n` picks.
    fn lanes_of(picker: &Picker, queues: &Queues, n: usize) -> Vec<usize> {
        (0..n)
            .map(|_| picker.pick(queues).expect("work is queued").1)
            .collect()
    }

    #[test]
    fn the_highest_lane_with_work_goes_first() {
        let queues = Queues::default();
        queues.spawn(LOW, [1]);
        queues.spawn(NORMAL, [2]);
        queues.inject(HIGH, [3]);
        let picker = Picker::new(16);
        assert_eq!(picker.pick(&queues), Some((3, HIGH)));
        assert_eq!(picker.pick(&queues), Some((2, NORMAL)));
        assert_eq!(picker.pick(&queues), Some((1, LOW)));
        assert_eq!(picker.pick(&queues), None);
    }

    #[test]
    fn a_pool_that_uses_one_lane_never_reads_the_others() {
        let queues = Queues::default();
        queues.spawn(NORMAL, 0..100);
        let picker = Picker::new(2);
        assert_eq!(lanes_of(&picker, &queues, 100), vec![NORMAL; 100]);
        assert!(queues.looked.borrow().iter().all(|&lane| lane == NORMAL));
        // Newest first from the worker's own deque.
        queues.spawn(NORMAL, [7, 8]);
        assert_eq!(picker.pick(&queues), Some((8, NORMAL)));
    }

    #[test]
    fn every_nth_pick_takes_a_lower_lane_while_urgent_work_keeps_coming() {
        let queues = Queues::default();
        queues.inject(HIGH, 0..1000);
        queues.inject(LOW, 1000..2000);
        let picker = Picker::new(4);
        let lanes = lanes_of(&picker, &queues, 40);
        let expected: Vec<usize> = (1..=40)
            .map(|i| if i % 4 == 0 { LOW } else { HIGH })
            .collect();
        assert_eq!(lanes, expected);
    }

    #[test]
    fn fairness_picks_alternate_between_low_and_normal() {
        let queues = Queues::default();
        queues.inject(HIGH, 0..1000);
        queues.inject(NORMAL, 1000..2000);
        queues.inject(LOW, 2000..3000);
        let picker = Picker::new(4);
        let fair: Vec<usize> = lanes_of(&picker, &queues, 32)
            .into_iter()
            .skip(3)
            .step_by(4)
            .collect();
        assert_eq!(fair, [LOW, NORMAL, LOW, NORMAL, LOW, NORMAL, LOW, NORMAL]);
    }

    #[test]
    fn a_fairness_pick_falls_back_to_the_other_lower_lane() {
        let queues = Queues::default();
        queues.inject(HIGH, 0..1000);
        queues.inject(NORMAL, 1000..2000);
        let picker = Picker::new(2);
        // Low is tried first but is empty: Normal gets the pick, and every other pick is fair.
        assert_eq!(
            lanes_of(&picker, &queues, 6),
            [HIGH, NORMAL, HIGH, NORMAL, HIGH, NORMAL]
        );
    }

    #[test]
    fn the_lowest_lane_with_work_owes_nothing() {
        let queues = Queues::default();
        queues.inject(LOW, 0..1000);
        let picker = Picker::new(4);
        // Many picks of Low, the lowest lane with work: they pass over nothing.
        assert_eq!(lanes_of(&picker, &queues, 50), vec![LOW; 50]);
        // Urgent work arrives: it is not put behind a fairness pick that Low never earned.
        queues.inject(HIGH, 5000..6000);
        assert_eq!(lanes_of(&picker, &queues, 4), [HIGH, HIGH, HIGH, LOW]);
    }

    #[test]
    fn fairness_picks_take_the_oldest_task_from_the_injector_and_the_own_deque_in_turn() {
        let queues = Queues::default();
        queues.inject(HIGH, 100..200);
        queues.spawn(LOW, [1, 2, 3]); // 1 is the oldest spawned here, 3 the newest
        queues.inject(LOW, [10, 11]); // 10 is the oldest submitted from outside
        let picker = Picker::new(2);
        let fair: Vec<u32> = (0..8)
            .filter_map(|_| picker.pick(&queues))
            .filter(|&(_, lane)| lane == LOW)
            .map(|(job, _)| job)
            .collect();
        assert_eq!(fair, [10, 1, 11, 2]);
    }

    #[test]
    fn higher_lanes_wait_as_the_hints_say() {
        let queues = Queues::default();
        assert!(!higher_lane_waits(&queues, HIGH));
        assert!(!higher_lane_waits(&queues, NORMAL));
        assert!(!higher_lane_waits(&queues, LOW));
        queues.spawn(NORMAL, [1]);
        assert!(!higher_lane_waits(&queues, NORMAL));
        assert!(higher_lane_waits(&queues, LOW));
        queues.inject(HIGH, [2]);
        assert!(higher_lane_waits(&queues, NORMAL));
        assert!(!higher_lane_waits(&queues, HIGH));
    }
}
