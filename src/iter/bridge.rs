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
//! eightfold while a step takes under a quarter of [`STEP_TARGET`], doubles while it takes
//! under that, and halves when it takes more than four times that. So a worker answers a
//! request within a few microseconds whether an item costs a nanosecond or a millisecond
//! (after at most `UNTIMED_STEP - 1` items), and a short loop (a nested inner loop of a few
//! thousand cheap items) reads the clock only a few times. On entry the worker also
//! announces that it holds splittable work (`Sleep::notify_work`, one fence and one load when
//! nobody sleeps): a sleeping worker is woken to ask for it, since a sleeper never asks.

use std::time::{Duration, Instant};

use super::plumbing::{Consumer, Folder, Producer};
use crate::worker::WorkerThread;

/// How long one step should take.
const STEP_TARGET: Duration = Duration::from_micros(4);
/// Steps below this many items are not timed (they double each time).
const UNTIMED_STEP: usize = 16;
/// The longest step, in items.
const MAX_STEP: usize = 1 << 16;

/// Runs `producer` into `consumer` on the current worker (off every pool, sequentially: the
/// entry points run the iterator on a pool first, see `super::on_pool`).
pub(crate) fn bridge<P, C>(producer: P, consumer: &C) -> C::Result
where
    P: Producer,
    C: Consumer<P::Item>,
{
    match WorkerThread::current() {
        Some(worker) => drive(worker, producer, consumer, consumer.folder()),
        None => consumer
            .folder()
            .consume_iter(producer.into_iter())
            .complete(),
    }
}

/// Goes through `producer` with `folder`, splitting when another worker asks.
fn drive<P, C>(
    worker: &WorkerThread,
    mut producer: P,
    consumer: &C,
    mut folder: C::Folder,
) -> C::Result
where
    P: Producer,
    C: Consumer<P::Item>,
{
    let min = producer.min_len().max(1);
    let mut step = min;
    if producer.len() >= 2 * min {
        worker.registry().sleep.notify_work();
    }
    loop {
        let len = producer.len();
        if len == 0 || consumer.done() {
            return folder.complete();
        }
        if len >= 2 * min && worker.frames().wanted() {
            let (left, right) = producer.split_at(len / 2);
            let (a, b) = worker.join(
                move || continue_here(left, consumer, folder),
                move || continue_here(right, consumer, consumer.folder()),
            );
            return consumer.combine(a, b);
        }
        let (head, rest) = producer.split_at(step.min(len));
        producer = rest;
        if step < UNTIMED_STEP {
            folder = folder.consume_iter(head.into_iter());
            step *= 2;
            continue;
        }
        let started = Instant::now();
        folder = folder.consume_iter(head.into_iter());
        let took = started.elapsed();
        if took < STEP_TARGET / 4 {
            step = (step * 8).min(MAX_STEP);
        } else if took < STEP_TARGET {
            step = (step * 2).min(MAX_STEP);
        } else if took > STEP_TARGET * 4 {
            step = (step / 2).max(min);
        }
    }
}

/// One half of a split, on whichever worker runs it.
fn continue_here<P, C>(producer: P, consumer: &C, folder: C::Folder) -> C::Result
where
    P: Producer,
    C: Consumer<P::Item>,
{
    match WorkerThread::current() {
        Some(worker) => drive(worker, producer, consumer, folder),
        // A join off the pool (it was shut down): the rest runs here.
        None => folder.consume_iter(producer.into_iter()).complete(),
    }
}
