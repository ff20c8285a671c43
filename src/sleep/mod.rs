//! Sleeping and waking workers, and the quiescence that ends a closed pool.
//!
//! The protocol, its counters and the races it closes are described in `README.md` beside
//! this file; read it before changing anything here. In short:
//! - `state` packs how many workers are *searching* (looking for work, not yet asleep) and how
//!   many are *sleeping* (registered in `sleepers`), so a submitter can decide with one load
//!   whether anybody needs waking.
//! - A submitter wakes a sleeper only when no worker is searching.
//! - A worker going to sleep registers first, then looks for work once more, then parks; a
//!   submitter pushes first, then looks at `state`. Sequentially consistent fences on both
//!   sides make it impossible for both to miss each other (no lost wake-up).
//! - Each worker parks on its own [`Slot`], so a specific worker can be woken (a join it waits
//!   on has finished) and a stale wake-up is never taken by the wrong worker.

use crossbeam_utils::CachePadded;

use crate::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use crate::loom::sync::{Condvar, Mutex};

const SEARCHING_ONE: usize = 1;
const SLEEPING_SHIFT: u32 = 16;
const SLEEPING_ONE: usize = 1 << SLEEPING_SHIFT;
const FIELD_MASK: usize = SLEEPING_ONE - 1;
/// Moves one worker from sleeping to searching (subtract) or back (add).
const SLEEPING_TO_SEARCHING: usize = SLEEPING_ONE - SEARCHING_ONE;

/// The most workers the packed counters can hold.
pub(crate) const MAX_WORKERS: usize = FIELD_MASK;

/// Takes one from `count` if it is above `floor`; true if it did.
fn decrement_above(count: &AtomicUsize, floor: usize) -> bool {
    let mut now = count.load(Ordering::SeqCst);
    while now > floor {
        match count.compare_exchange(now, now - 1, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return true,
            Err(actual) => now = actual,
        }
    }
    false
}

fn searching(state: usize) -> usize {
    state & FIELD_MASK
}

fn sleeping(state: usize) -> usize {
    (state >> SLEEPING_SHIFT) & FIELD_MASK
}

/// Why a worker sleeps, which decides whether it can take part in ending the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SleepKind {
    /// In the main loop with nothing to do.
    Idle,
    /// Inside a task, waiting for something (a join) to finish.
    Join,
}

/// How a sleep ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wakeup {
    /// Look for work again; the worker now counts as searching.
    Resumed,
    /// The pool is closed and quiescent: leave the main loop.
    Terminate,
    /// The deadline of [`Sleep::sleep_until`] passed and nobody woke the worker: it is no
    /// longer registered, nor counted as searching.
    Expired,
}

#[derive(Debug)]
struct Sleeper {
    index: usize,
    kind: SleepKind,
}

/// One worker's parking place.
#[derive(Debug)]
struct Slot {
    notified: Mutex<bool>,
    cond: Condvar,
}

impl Slot {
    fn notify(&self) {
        let mut notified = self.notified.lock();
        *notified = true;
        self.cond.notify_one();
    }

    /// Waits until notified, or until `deadline` has passed (then false).
    fn wait(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut notified = self.notified.lock();
        while !*notified {
            match deadline {
                None => notified = self.cond.wait(notified),
                Some(deadline) => {
                    let (guard, timed_out) = self.cond.wait_until(notified, deadline);
                    notified = guard;
                    if timed_out && !*notified {
                        return false;
                    }
                }
            }
        }
        true
    }
}

/// The sleep/wake state of one pool.
#[derive(Debug)]
pub(crate) struct Sleep {
    /// `searching | sleeping << 16`.
    state: CachePadded<AtomicUsize>,
    /// The registered sleepers, most recent last (woken first: its cache is warmest).
    sleepers: Mutex<Vec<Sleeper>>,
    slots: Box<[CachePadded<Slot>]>,
    /// No new work from outside the pool is accepted.
    closed: AtomicBool,
    /// All workers have been told to leave.
    terminated: AtomicBool,
    /// The pool's workers (the slots after them belong to temporary workers), less any slot
    /// lost because no replacement thread could be started.
    workers: AtomicUsize,
    /// Temporary workers (stall compensation) alive, until each has moved any leftover work
    /// to the injectors. While there is one, the pool cannot end: it may be running a task,
    /// or moving a job, either of which adds work.
    temps: AtomicUsize,
    /// Temporary workers that count towards the number wanted: those alive, less those that
    /// have decided to leave.
    temps_active: AtomicUsize,
    /// Worker slots without a thread (an elastic pool, `PoolBuilder::min_threads`).
    dormant: AtomicUsize,
    /// Starts a thread for empty slots: one (`false`), or every one (`true`); set by
    /// `crate::threads`, which owns the threads.
    grow: Mutex<Option<GrowFn>>,
}

/// See [`Sleep::set_grow`].
#[derive(Clone)]
pub(crate) struct GrowFn(pub(crate) std::sync::Arc<dyn Fn(bool) + Send + Sync>);

impl std::fmt::Debug for GrowFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GrowFn")
    }
}

impl Sleep {
    /// Sleep state for `workers` workers and `extra` temporary ones.
    pub(crate) fn new(workers: usize, extra: usize) -> Self {
        assert!(workers + extra <= MAX_WORKERS);
        Sleep {
            state: CachePadded::new(AtomicUsize::new(0)),
            sleepers: Mutex::new(Vec::with_capacity(workers + extra)),
            slots: (0..workers + extra)
                .map(|_| {
                    CachePadded::new(Slot {
                        notified: Mutex::new(false),
                        cond: Condvar::new(),
                    })
                })
                .collect(),
            closed: AtomicBool::new(false),
            terminated: AtomicBool::new(false),
            workers: AtomicUsize::new(workers),
            temps: AtomicUsize::new(0),
            temps_active: AtomicUsize::new(0),
            dormant: AtomicUsize::new(0),
            grow: Mutex::new(None),
        }
    }

    /// `n` of the worker slots start without a thread (an elastic pool).
    pub(crate) fn start_dormant(&self, n: usize) {
        self.workers.fetch_sub(n, Ordering::SeqCst);
        self.dormant.fetch_add(n, Ordering::SeqCst);
    }

    /// Lets submitters start threads for empty slots (see [`notify_work`](Self::notify_work));
    /// `None` takes the function back (the pool has ended).
    pub(crate) fn set_grow(&self, grow: Option<GrowFn>) {
        let old = std::mem::replace(&mut *self.grow.lock(), grow);
        drop(old);
    }

    /// Starts a thread for one empty slot (`all`: for every one), if the pool has any.
    pub(crate) fn grow(&self, all: bool) {
        if self.dormant.load(Ordering::SeqCst) == 0 {
            return;
        }
        let grow = self.grow.lock().clone();
        if let Some(grow) = grow {
            (grow.0)(all);
        }
    }

    /// A worker whose idle sleep expired asks to leave: true (and it no longer counts as one
    /// of the workers) if more than `min` are running.
    pub(crate) fn try_leave(&self, min: usize) -> bool {
        decrement_above(&self.workers, min)
    }

    /// A slot became empty (its worker left after [`try_leave`](Self::try_leave), or a
    /// thread for it could not be started).
    pub(crate) fn slot_emptied(&self) {
        self.dormant.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            // The workers left may all be asleep now, with nobody to end the pool.
            self.try_terminate();
        }
    }

    /// A thread could not be started for a slot after [`slot_filled`](Self::slot_filled):
    /// the slot is empty again.
    pub(crate) fn slot_unfilled(&self) {
        self.state.fetch_sub(SEARCHING_ONE, Ordering::SeqCst);
        self.workers.fetch_sub(1, Ordering::SeqCst);
        self.slot_emptied();
    }

    /// A thread is being started for an empty slot: it counts as a worker from now on, and
    /// as searching (it was started for work that waits, like a woken sleeper, and hands
    /// the search on when it finds some: see [`stop_searching`](Self::stop_searching)).
    pub(crate) fn slot_filled(&self) {
        self.workers.fetch_add(1, Ordering::SeqCst);
        self.dormant.fetch_sub(1, Ordering::SeqCst);
        self.state.fetch_add(SEARCHING_ONE, Ordering::SeqCst);
    }

    /// A temporary worker is about to start: it counts as alive and active from now on.
    pub(crate) fn add_temp(&self) {
        self.temps.fetch_add(1, Ordering::SeqCst);
        self.temps_active.fetch_add(1, Ordering::SeqCst);
    }

    /// How many temporary workers are active: alive and counted towards the number wanted.
    pub(crate) fn active_temps(&self) -> usize {
        self.temps_active.load(Ordering::SeqCst)
    }

    /// Makes one temporary worker inactive if more than `wanted` are active; true if the
    /// caller (a temporary worker between tasks) was, and should leave. It still counts as
    /// alive until [`temp_left`](Self::temp_left).
    pub(crate) fn retire_temp_above(&self, wanted: usize) -> bool {
        decrement_above(&self.temps_active, wanted)
    }

    /// A worker's slot is lost (its thread died and no new one could be started): the pool
    /// ends without it. If it is closed and every remaining worker is asleep in its main
    /// loop, this ends it now, since they could not while they counted the lost one.
    pub(crate) fn worker_lost(&self) {
        self.workers.fetch_sub(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.try_terminate();
        }
    }

    /// A temporary worker has left, after moving any leftover work to the injectors (`active`:
    /// it had not been made inactive by `retire_temp_above`). If the pool is closed and every
    /// worker is asleep in its main loop, this ends the pool: the workers could not, while
    /// the temporary worker was alive.
    pub(crate) fn temp_left(&self, active: bool) {
        if active {
            self.temps_active.fetch_sub(1, Ordering::SeqCst);
        }
        self.temps.fetch_sub(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.try_terminate();
        }
    }

    /// A worker that ran out of local work starts looking elsewhere.
    pub(crate) fn start_searching(&self) {
        self.state.fetch_add(SEARCHING_ONE, Ordering::SeqCst);
    }

    /// A searching worker found work. If it was the last searcher and work is still visible
    /// (`has_work`), it wakes a sleeper to take over the search: submitters that saw it
    /// searching relied on it and woke nobody.
    pub(crate) fn stop_searching(&self, has_work: impl Fn() -> bool) {
        let prev = self.state.fetch_sub(SEARCHING_ONE, Ordering::SeqCst);
        debug_assert!(searching(prev) >= 1);
        if searching(prev) == 1 {
            if sleeping(prev) > 0 {
                fence(Ordering::SeqCst);
                if has_work() {
                    self.wake_one();
                }
            } else if self.dormant.load(Ordering::SeqCst) > 0 {
                // Nobody to wake, but an empty slot: the search carries on in a new worker.
                fence(Ordering::SeqCst);
                if has_work() {
                    self.grow(false);
                }
            }
        }
    }

    /// Called after new work was pushed anywhere a worker looks: wakes a sleeper when no
    /// worker is searching. The fast path is one fence and one load.
    pub(crate) fn notify_work(&self) {
        fence(Ordering::SeqCst);
        let state = self.state.load(Ordering::SeqCst);
        if searching(state) == 0 {
            if sleeping(state) > 0 {
                self.wake_one();
            } else if self.dormant.load(Ordering::SeqCst) > 0 {
                // Every worker is busy and a slot is empty: start a worker for it.
                self.grow(false);
            }
        }
    }

    /// Wakes the most recent sleeper as a searcher. False when nobody was asleep.
    fn wake_one(&self) -> bool {
        let mut sleepers = self.sleepers.lock();
        let Some(sleeper) = sleepers.pop() else {
            return false;
        };
        self.state
            .fetch_sub(SLEEPING_TO_SEARCHING, Ordering::SeqCst);
        drop(sleepers);
        self.slots[sleeper.index].notify();
        true
    }

    /// Wakes worker `index` (something it waits for has happened), whether it is asleep,
    /// about to sleep, or awake (then its next sleep returns at once).
    pub(crate) fn wake_worker(&self, index: usize) {
        self.unregister(index);
        self.slots[index].notify();
    }

    /// Removes `index` from the sleepers if it is there, without counting it as searching.
    /// True if it was there.
    fn unregister_idle(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|s| s.index == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_sub(SLEEPING_ONE, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Removes `index` from the sleepers if it is there, counting it as searching.
    fn unregister(&self, index: usize) {
        let mut sleepers = self.sleepers.lock();
        if let Some(pos) = sleepers.iter().position(|s| s.index == index) {
            sleepers.swap_remove(pos);
            self.state
                .fetch_sub(SLEEPING_TO_SEARCHING, Ordering::SeqCst);
        }
    }

    /// Wakes every sleeper, after a SeqCst fence (work was pushed that every worker must see:
    /// a broadcast). The fence pairs with the sleeper's, as in `notify_work`.
    pub(crate) fn wake_every(&self) {
        fence(Ordering::SeqCst);
        self.wake_all();
    }

    /// Wakes every sleeper in a slot from `first` on: the temporary workers, so that each
    /// checks whether it is still wanted (see `WorkerThread::temp_loop`).
    pub(crate) fn wake_from(&self, first: usize) {
        let mut sleepers = self.sleepers.lock();
        let mut woken = Vec::new();
        sleepers.retain(|s| {
            let keep = s.index < first;
            if !keep {
                woken.push(s.index);
            }
            keep
        });
        if !woken.is_empty() {
            self.state
                .fetch_sub(woken.len() * SLEEPING_TO_SEARCHING, Ordering::SeqCst);
        }
        drop(sleepers);
        for index in woken {
            self.slots[index].notify();
        }
    }

    /// How many temporary workers are alive.
    pub(crate) fn temps(&self) -> usize {
        self.temps.load(Ordering::SeqCst)
    }

    /// Wakes every sleeper.
    fn wake_all(&self) {
        self.wake_from(0);
    }

    /// Puts worker `index` to sleep until it is woken, unless `probe` (checked after the
    /// worker has registered as a sleeper) says there is a reason to stay awake.
    ///
    /// `searching` says whether the worker counted itself as searching; on return with
    /// [`Wakeup::Resumed`] it always counts as searching.
    pub(crate) fn sleep(
        &self,
        index: usize,
        kind: SleepKind,
        searching: bool,
        probe: &dyn Fn() -> bool,
    ) -> Wakeup {
        self.sleep_until(index, kind, searching, probe, None)
    }

    /// [`sleep`](Self::sleep), but with a `deadline` the sleep may also end with
    /// [`Wakeup::Expired`]: nobody woke the worker by then, and it is no longer registered
    /// (nor counted as searching). If a waker took it off the list just as the deadline
    /// passed, that wake-up wins: [`Wakeup::Resumed`].
    pub(crate) fn sleep_until(
        &self,
        index: usize,
        kind: SleepKind,
        searching: bool,
        probe: &dyn Fn() -> bool,
        deadline: Option<std::time::Instant>,
    ) -> Wakeup {
        let slot = &self.slots[index];
        *slot.notified.lock() = false;
        {
            let mut sleepers = self.sleepers.lock();
            sleepers.push(Sleeper { index, kind });
            let delta = if searching {
                SLEEPING_TO_SEARCHING
            } else {
                SLEEPING_ONE
            };
            self.state.fetch_add(delta, Ordering::SeqCst);
        }
        // Pairs with the fence in `notify_work`: either we see the pushed work below, or the
        // submitter sees us in `state` and wakes us.
        fence(Ordering::SeqCst);

        if kind == SleepKind::Idle && self.terminated.load(Ordering::SeqCst) {
            self.unregister(index);
            return Wakeup::Terminate;
        }
        if probe() {
            self.unregister(index);
            return Wakeup::Resumed;
        }
        if kind == SleepKind::Idle && self.closed.load(Ordering::SeqCst) && self.try_terminate() {
            return Wakeup::Terminate;
        }

        if !slot.wait(deadline) {
            if self.unregister_idle(index) {
                return Wakeup::Expired;
            }
            // A waker took us off the list: its notification is on its way.
            return Wakeup::Resumed;
        }
        // A wake-up that raced with our registration may have left us listed.
        self.unregister(index);
        if kind == SleepKind::Idle && self.terminated.load(Ordering::SeqCst) {
            Wakeup::Terminate
        } else {
            Wakeup::Resumed
        }
    }

    /// Parks worker `index` inside an isolated wait (see `WorkerThread::isolate`) until
    /// [`wake_worker`](Self::wake_worker) is called for it, unless `probe` ("is the awaited
    /// job done?") is already true; with a `timeout`, also when it has passed.
    ///
    /// The worker does not register as a sleeper: a submitter's wake-up must reach a worker
    /// that can take the new work, which this one will not, and a pool must not end under
    /// it. The completer sets its job done and then calls `wake_worker`, whose notification
    /// takes the slot's mutex; this resets the flag under the same mutex before the probe, so
    /// either the probe sees the job done or the flag is set after the reset.
    pub(crate) fn park_alone(
        &self,
        index: usize,
        probe: &dyn Fn() -> bool,
        timeout: Option<std::time::Duration>,
    ) {
        let slot = &self.slots[index];
        *slot.notified.lock() = false;
        if probe() {
            return;
        }
        slot.wait(timeout.map(|t| std::time::Instant::now() + t));
    }

    /// Ends the pool if every worker is asleep in its main loop and no temporary worker is
    /// counted: then no thread runs a task, so none can add work, and each worker checked for
    /// work after registering. Called by a worker that is itself registered and found no
    /// work, or by a temporary worker that has left.
    fn try_terminate(&self) -> bool {
        let sleepers = self.sleepers.lock();
        // With no temporary worker counted, every sleeper is one of the workers.
        let everyone_idle = self.temps.load(Ordering::SeqCst) == 0
            && sleepers.len() == self.workers.load(Ordering::SeqCst)
            && sleepers.iter().all(|s| s.kind == SleepKind::Idle);
        if !everyone_idle {
            return false;
        }
        self.terminated.store(true, Ordering::SeqCst);
        drop(sleepers);
        self.wake_all();
        true
    }

    /// Refuses new outside work from now on and wakes everyone so that the workers, once out
    /// of work, find the pool closed and end it. False if it was already closed.
    pub(crate) fn close(&self) -> bool {
        if self.closed.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.wake_all();
        true
    }

    /// Ends the pool at once (used when the pool could not be built completely, before any
    /// work was accepted).
    pub(crate) fn terminate_now(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.terminated.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.terminated.load(Ordering::SeqCst)
    }

    /// How many workers are registered as sleepers (for tests and models that start from an
    /// idle pool).
    #[cfg(test)]
    pub(crate) fn sleepers(&self) -> usize {
        sleeping(self.state.load(Ordering::SeqCst))
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
