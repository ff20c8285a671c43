//! Driving a [`Producer`] into a [`Consumer`]: split on demand.
//!
//! A worker goes through its piece from the front, a *step* of items at a time. Between two
//! steps it looks at its share-request flag (set by a worker that found its deque empty, see
//! [`crate::join`](mod@crate::join)). When the flag is set and enough items are left, it splits
//! what is left in two and `join`s the halves: it keeps the left half, with the folder it was
//! filling, and the join's frame puts the right half where the asking worker finds it. Nobody
//! asking, nothing is split: a loop on a busy pool costs what the sequential loop costs, plus
//! one flag load per step, with no tuning (`with_min_len` only sets the smallest piece worth
//! giving away). This is lazy binary splitting (Tzannes, Caragea, Barua and Vishkin, PPoPP
//! 2010) driven by demand, as stealpool's `join` is.
//!
//! The step adapts to the cost of the items: it starts at the smallest piece and doubles
//! blindly up to [`UNTIMED_STEP`] items; from there each step is timed, and the next one grows
//! eightfold while a step takes under a quarter of the target (`step_target`), doubles while it
//! takes under the target, and halves when it takes more than four times the target. So, while
//! its piece is young, a worker answers a request within a few microseconds whether an item
//! costs a nanosecond or a millisecond (after at most `UNTIMED_STEP - 1` items), and a short
//! loop (a nested inner loop of a few thousand cheap items) reads the clock only a few times.
//! On entry the worker announces that it holds splittable work
//! (`WorkerThread::announce_splittable`).
//!
//! The target is [`STEP_TARGET`] until the piece has run for `STEP_TARGET * AGE_SHARE`; from
//! there it is the time the piece has run divided by [`AGE_SHARE`], so a request waits about a
//! sixteenth of the piece's age at most (four targets). A step's end is not free where the loop
//! writes fresh memory: with a page fault every 512 `u64`, each end cost 0.4-0.8 µs on the
//! 2-core machine, also in a plain chunked loop with no pool (1-thread `map` + `collect` of 5M
//! `u64`: 4 µs steps 19 ms, 65536-item steps 18; `docs/bench/history.md`). A loop of tens of
//! microseconds keeps its 4 µs steps; a long one stretches them as it goes, and each half of a
//! split starts short again.
//!
//! A step of at least [`GRID`] items ends on a multiple of `GRID` counted from the loop's
//! first item, wherever its piece began: the long steps, where the time goes, then start at
//! the same memory alignment as the loop's first item, as in the sequential loop. Off that
//! grid, a vectorized body straddles cache lines where the sequential one does not: the first
//! untimed steps (1 + 2 + 4 + 8 items) used to shift every later step by 15 items, and
//! `+= 1` over 1M `u32` took 86 µs on one worker against the sequential loop's 68. (A
//! consumer must then not peel items off the front of a step either: see `WriteSlots`.)

use std::time::{Duration, Instant};

use super::plumbing::{Consumer, Folder, Producer};
use crate::worker::WorkerThread;

/// How long one step should take while its piece is young.
const STEP_TARGET: Duration = Duration::from_micros(4);
/// Past `STEP_TARGET * AGE_SHARE` of running, a step should take this share of the time its
/// piece has run.
const AGE_SHARE: u32 = 64;
/// Steps below this many items are not timed (they double each time).
const UNTIMED_STEP: usize = 16;
/// The longest step, in items.
const MAX_STEP: usize = 1 << 16;
/// Steps of at least this many items end on multiples of it, counted from the loop's first
/// item.
const GRID: usize = 64;

/// Runs `producer` into `consumer` on the current worker (off every pool, sequentially: the
/// entry points run the iterator on a pool first, see `super::on_pool`).
pub(crate) fn bridge<P, C>(producer: P, consumer: &C) -> C::Result
where
    P: Producer,
    C: Consumer<P::Item>,
{
    continue_here(producer, consumer, consumer.folder(), 0)
}

/// Goes through `producer` with `folder`, splitting when another worker asks. `at` is where
/// the producer starts on the grid (its first item's index in the loop, modulo [`GRID`]).
fn drive<P, C>(
    worker: &WorkerThread,
    mut producer: P,
    consumer: &C,
    mut folder: C::Folder,
    mut at: usize,
) -> C::Result
where
    P: Producer,
    C: Consumer<P::Item>,
{
    let min = producer.min_len().max(1);
    let mut step = min;
    // The time spent in this piece's timed steps.
    let mut ran = Duration::ZERO;
    if producer.len() >= 2 * min {
        worker.announce_splittable();
    }
    loop {
        let len = producer.len();
        if len == 0 || consumer.done() {
            return folder.complete();
        }
        if len >= 2 * min && worker.frames().wanted() {
            let mid = len / 2;
            let (left, right) = producer.split_at(mid);
            let right_at = (at + mid) % GRID;
            let (a, b) = worker.join(
                move || continue_here(left, consumer, folder, at),
                move || continue_here(right, consumer, consumer.folder(), right_at),
            );
            return consumer.combine(a, b);
        }
        let take = step_len(at, step).min(len);
        let (head, rest) = producer.split_at(take);
        producer = rest;
        at = (at + take) % GRID;
        if step < UNTIMED_STEP {
            folder = folder.consume_iter(head.into_iter());
            step *= 2;
            continue;
        }
        let started = Instant::now();
        folder = folder.consume_iter(head.into_iter());
        step = next_step(step, min, started.elapsed(), &mut ran);
    }
}

/// The length of the step after one of `step` items took `took`, in a piece that had run for
/// `ran` before it (updated); never below `min` (see the module docs). Out of line: it runs
/// once a step, and inline it changed how the compiler built the loops around it (the iter
/// bench's `filter` + `count` loop lost its twofold unrolling: 0.205 -> 0.256 ms a run).
#[inline(never)]
fn next_step(step: usize, min: usize, took: Duration, ran: &mut Duration) -> usize {
    *ran = ran.saturating_add(took);
    let target = step_target(*ran);
    if took < target / 4 {
        (step * 8).min(MAX_STEP)
    } else if took < target {
        (step * 2).min(MAX_STEP)
    } else if took > target * 4 {
        (step / 2).max(min)
    } else {
        step
    }
}

/// How long the next step should take, once the piece has run for `ran` (see the module
/// docs).
fn step_target(ran: Duration) -> Duration {
    STEP_TARGET.max(ran / AGE_SHARE)
}

/// How many items the next step takes, from `at` on the grid: `step`, lengthened to end on
/// the next grid line once it is at least [`GRID`] long.
fn step_len(at: usize, step: usize) -> usize {
    if step < GRID {
        return step;
    }
    (at + step).next_multiple_of(GRID) - at
}

/// A piece of the loop (all of it, or one half of a split), on whichever worker runs it;
/// `at` as for [`drive`].
fn continue_here<P, C>(producer: P, consumer: &C, folder: C::Folder, at: usize) -> C::Result
where
    P: Producer,
    C: Consumer<P::Item>,
{
    match WorkerThread::current() {
        Some(worker) => drive(worker, producer, consumer, folder, at),
        // A join off the pool (it was shut down): the rest runs here.
        None => folder.consume_iter(producer.into_iter()).complete(),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::time::Duration;

    use super::{AGE_SHARE, GRID, STEP_TARGET, bridge, next_step, step_len, step_target};
    use crate::WorkerPool;
    use crate::iter::plumbing::{Consumer, Folder, Producer};

    /// The loop's length: long enough for the steps to grow to their longest.
    const N: usize = 3_000_000;

    /// The indices `start..end` of a loop, as a producer.
    struct Indices(usize, usize);

    impl Producer for Indices {
        type Item = usize;
        type IntoIter = std::ops::Range<usize>;
        fn len(&self) -> usize {
            self.1 - self.0
        }
        fn split_at(self, index: usize) -> (Self, Self) {
            let mid = self.0 + index;
            (Indices(self.0, mid), Indices(mid, self.1))
        }
        fn into_iter(self) -> Self::IntoIter {
            self.0..self.1
        }
    }

    /// Records the steps of each piece, as (first index, items); pieces in loop order. Spins a
    /// little per item so that the other worker has time to ask for a share.
    struct Steps;

    struct StepFolder(Vec<(usize, usize)>);

    impl Folder<usize> for StepFolder {
        type Result = Vec<Vec<(usize, usize)>>;
        fn consume_iter<I: Iterator<Item = usize>>(mut self, items: I) -> Self {
            let mut first = None;
            let mut count = 0;
            for i in items {
                first.get_or_insert(i);
                count += 1;
                std::hint::black_box((0..8).sum::<usize>());
            }
            if let Some(first) = first {
                self.0.push((first, count));
            }
            self
        }
        fn complete(self) -> Self::Result {
            vec![self.0]
        }
    }

    impl Consumer<usize> for Steps {
        type Folder = StepFolder;
        type Result = Vec<Vec<(usize, usize)>>;
        fn folder(&self) -> StepFolder {
            StepFolder(Vec::new())
        }
        fn combine(&self, mut left: Self::Result, right: Self::Result) -> Self::Result {
            left.extend(right);
            left
        }
    }

    /// Within each piece, every step of at least `GRID` items but the piece's last ends on a
    /// grid line counted from the loop's first item, on one worker and on two (where the loop
    /// is split); the steps cover the loop once, in order.
    #[test]
    fn long_steps_end_on_the_grid() {
        // Two workers run until the loop is split at least once (each run checked); a split
        // needs the second worker to ask in time, which a loaded machine may delay.
        for (threads, runs) in [(1, 1), (2, 5)] {
            let pool = WorkerPool::builder().num_threads(threads).build().unwrap();
            for run in 1..=runs {
                let pieces = pool.install(|| bridge(Indices(0, N), &Steps));
                check_steps(threads, &pieces);
                if threads == 1 || pieces.len() > 1 {
                    break;
                }
                assert!(run < runs, "the loop was never split over {runs} runs");
            }
        }
    }

    /// The steps of one run of the loop over `0..N`, piece by piece.
    fn check_steps(threads: usize, pieces: &[Vec<(usize, usize)>]) {
        let mut next = 0;
        let mut long = 0;
        for piece in pieces {
            for (k, &(first, count)) in piece.iter().enumerate() {
                assert_eq!(first, next, "steps cover the loop in order");
                next += count;
                if count >= GRID && k + 1 < piece.len() {
                    long += 1;
                    assert_eq!(
                        next % GRID,
                        0,
                        "{threads} threads: a step of {count} items from {first} ends off the grid"
                    );
                }
            }
        }
        assert_eq!(next, N);
        assert!(
            long > 10,
            "the steps grew past the grid ({long} long steps)"
        );
    }

    #[test]
    fn steps_stretch_as_a_piece_ages() {
        // Young pieces answer within microseconds; a piece that ran 10 ms may take 156 µs a
        // step; in between, the target never falls as the piece ages.
        assert_eq!(step_target(Duration::ZERO), STEP_TARGET);
        assert_eq!(step_target(Duration::from_micros(200)), STEP_TARGET);
        assert_eq!(
            step_target(Duration::from_millis(10)),
            Duration::from_nanos(156_250)
        );
        let mut last = Duration::ZERO;
        for ran in (0..100).map(|k| Duration::from_micros(k * 37)) {
            let target = step_target(ran);
            assert!(target >= last && target >= STEP_TARGET && target >= ran / AGE_SHARE);
            last = target;
        }
    }

    #[test]
    fn an_old_piece_keeps_a_step_a_young_one_halves() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        // 100 µs is more than four targets for a young piece, inside the band for one that
        // has run 10 ms (target 156 µs; 100 µs is under it, so the step doubles).
        let mut young = us(40);
        assert_eq!(next_step(4096, 1, us(100), &mut young), 2048);
        assert_eq!(young, us(140));
        let mut old = ms(10);
        assert_eq!(next_step(4096, 1, us(100), &mut old), 8192);
        // Within the band the step stays; far over it, it halves, not below `min`.
        let mut old = ms(20);
        assert_eq!(next_step(4096, 1, us(400), &mut old), 4096);
        let mut old = ms(20);
        assert_eq!(next_step(3, 2, ms(5), &mut old), 2);
    }

    #[test]
    fn step_lengths() {
        // Short steps as asked; longer ones end on the next grid line.
        assert_eq!(step_len(15, 8), 8);
        assert_eq!(step_len(31, 128), 161);
        assert_eq!(step_len(0, 128), 128);
        assert_eq!(step_len(63, 64), 65);
    }
}
