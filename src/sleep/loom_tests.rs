//! Model checks of the sleep/wake protocol: run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`.
//!
//! The queues are stood in for by one loom-instrumented counter per model, accessed with the
//! same orderings the real deques use for their emptiness checks (SeqCst), so every
//! interleaving of "push, then notify" against "register, fence, re-check, park" is explored.

use super::*;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::AtomicUsize;
use loom::thread;

/// A stand-in queue: a count of items.
struct Queue(AtomicUsize);

impl Queue {
    fn new() -> Self {
        Queue(AtomicUsize::new(0))
    }

    fn push(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn try_pop(&self) -> bool {
        let mut n = self.0.load(Ordering::SeqCst);
        while n > 0 {
            match self
                .0
                .compare_exchange(n, n - 1, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
        false
    }

    fn is_empty(&self) -> bool {
        self.0.load(Ordering::SeqCst) == 0
    }
}

/// A worker's main loop, reduced to the protocol: take work, else search, else sleep.
/// Returns how many items it took before it was told to terminate, or once it took `quota`.
fn worker_loop(sleep: &Sleep, queue: &Queue, index: usize, quota: usize) -> usize {
    let mut taken = 0;
    let mut searching = false;
    loop {
        if taken == quota {
            return taken;
        }
        if queue.try_pop() {
            if searching {
                sleep.stop_searching(|| !queue.is_empty());
                searching = false;
            }
            taken += 1;
            continue;
        }
        if !searching {
            sleep.start_searching();
        }
        match sleep.sleep(index, SleepKind::Idle, true, &|| !queue.is_empty()) {
            Wakeup::Resumed => searching = true,
            Wakeup::Terminate => return taken,
            Wakeup::Expired => unreachable!("no deadline"),
        }
    }
}

/// Starts `count` workers running [`worker_loop`] with `quota` over one shared sleep state.
fn start_workers(
    sleep: &Arc<Sleep>,
    queue: &Arc<Queue>,
    count: usize,
    quota: usize,
) -> Vec<thread::JoinHandle<usize>> {
    (0..count)
        .map(|index| {
            let (sleep, queue) = (sleep.clone(), queue.clone());
            thread::spawn(move || worker_loop(&sleep, &queue, index, quota))
        })
        .collect()
}

/// Pushes one item and announces it, as a submitter does.
fn submit(sleep: &Sleep, queue: &Queue) {
    queue.push();
    sleep.notify_work();
}

/// One worker, one item pushed while the worker may be on its way to sleep: the worker must
/// take it. Nothing else ever wakes the worker, so a lost wake-up leaves it parked, which
/// loom reports as a deadlock.
#[test]
fn no_lost_wakeup_with_one_worker() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1, 0));
        let queue = Arc::new(Queue::new());
        let workers = start_workers(&sleep, &queue, 1, 1);
        submit(&sleep, &queue);
        let taken: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(taken, 1);
    });
}

/// Two workers each leave after one item; two items are pushed. Both must be taken without
/// any close or other rescue: the searching/sleeping hand-off alone has to wake the second
/// worker when the first one is busy or was the one woken.
#[test]
fn no_lost_wakeup_with_two_workers() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let sleep = Arc::new(Sleep::new(2, 0));
        let queue = Arc::new(Queue::new());
        let workers = start_workers(&sleep, &queue, 2, 1);
        submit(&sleep, &queue);
        submit(&sleep, &queue);
        let taken: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(taken, 2);
    });
}

/// Closing a pool whose worker may be anywhere in its loop: the queued item still runs, then
/// the worker terminates.
#[test]
fn close_runs_queued_work_then_terminates() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1, 0));
        let queue = Arc::new(Queue::new());
        let workers = start_workers(&sleep, &queue, 1, usize::MAX);
        submit(&sleep, &queue);
        sleep.close();
        let taken: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(taken, 1);
        assert!(sleep.is_terminated());
    });
}

/// Two workers, two items: both items run, and closing the pool ends both workers, whatever
/// the interleaving of pushes, searches, sleeps and the close.
#[test]
fn two_workers_take_all_work_then_terminate() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let sleep = Arc::new(Sleep::new(2, 0));
        let queue = Arc::new(Queue::new());
        let workers = start_workers(&sleep, &queue, 2, usize::MAX);
        submit(&sleep, &queue);
        submit(&sleep, &queue);
        sleep.close();
        let taken: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
        assert_eq!(taken, 2);
    });
}

/// A worker waiting for a join: the completer sets the flag, then wakes that worker. The
/// worker must not sleep through it, whether the wake comes before, during or after its
/// registration as a sleeper.
#[test]
fn specific_wakeup_reaches_a_joining_worker() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1, 0));
        let done = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (sleep, done) = (sleep.clone(), done.clone());
            thread::spawn(move || {
                let mut searching = false;
                while done.load(Ordering::Acquire) == 0 {
                    let probe = || done.load(Ordering::Acquire) != 0;
                    let wakeup = sleep.sleep(0, SleepKind::Join, searching, &probe);
                    assert_eq!(wakeup, Wakeup::Resumed);
                    searching = true;
                }
                if searching {
                    sleep.stop_searching(|| false);
                }
            })
        };
        done.store(1, Ordering::Release);
        sleep.wake_worker(0);
        waiter.join().unwrap();
        assert_eq!(searching(sleep.state.load(Ordering::SeqCst)), 0);
        assert_eq!(sleeping(sleep.state.load(Ordering::SeqCst)), 0);
    });
}

/// A worker parked alone in an isolated wait (`park_alone`) is woken by the completion it
/// waits for, whenever that comes, and never takes a submitter's wake-up: work pushed
/// meanwhile reaches the idle worker, which would otherwise sleep through it (loom reports
/// the deadlock).
#[test]
fn an_isolated_waiter_neither_misses_its_wakeup_nor_takes_a_submitters() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2, 0));
        let queue = Arc::new(Queue::new());
        let done = Arc::new(AtomicUsize::new(0));
        let idle = {
            let (sleep, queue) = (sleep.clone(), queue.clone());
            thread::spawn(move || worker_loop(&sleep, &queue, 1, 1))
        };
        let isolated = {
            let (sleep, done) = (sleep.clone(), done.clone());
            thread::spawn(move || {
                while done.load(Ordering::Acquire) == 0 {
                    sleep.park_alone(0, &|| done.load(Ordering::Acquire) != 0, None);
                }
            })
        };
        submit(&sleep, &queue);
        done.store(1, Ordering::Release);
        sleep.wake_worker(0);
        assert_eq!(idle.join().unwrap(), 1);
        isolated.join().unwrap();
    });
}

/// A spare worker of `block_in_place` asleep while a worker blocks: the end of the blocking
/// (`blocking` back to 0, then `wake_from` over the spares' slots) reaches it whether it comes
/// before, during or after the spare's registration, so the spare leaves (a missed wake-up
/// leaves it parked, which loom reports as a deadlock).
#[test]
fn the_end_of_a_blocking_call_reaches_a_sleeping_spare() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1, 1));
        let blocking = Arc::new(AtomicUsize::new(1));
        let spare = {
            let (sleep, blocking) = (sleep.clone(), blocking.clone());
            thread::spawn(move || {
                let mut searching = false;
                while blocking.load(Ordering::SeqCst) > 0 {
                    let probe = || blocking.load(Ordering::SeqCst) == 0;
                    let wakeup = sleep.sleep(1, SleepKind::Idle, searching, &probe);
                    assert_eq!(wakeup, Wakeup::Resumed);
                    searching = true;
                }
                if searching {
                    sleep.stop_searching(|| false);
                }
            })
        };
        blocking.fetch_sub(1, Ordering::SeqCst);
        sleep.wake_from(1);
        spare.join().unwrap();
        assert_eq!(sleep.state.load(Ordering::SeqCst), 0);
    });
}

/// A broadcast (`Registry::push_broadcasts`): push into a worker's own queue, then
/// `wake_every`; the worker's sleep probe looks at its own queue. Whether the push comes
/// before, during or after the worker's registration, the worker runs the broadcast (a
/// missed one leaves it parked, which loom reports as a deadlock).
#[test]
fn a_broadcast_reaches_a_worker_going_to_sleep() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1, 0));
        let own = Arc::new(Queue::new());
        let worker = {
            let (sleep, own) = (sleep.clone(), own.clone());
            thread::spawn(move || {
                let mut searching = false;
                loop {
                    if own.try_pop() {
                        if searching {
                            sleep.stop_searching(|| false);
                        }
                        return;
                    }
                    let probe = || !own.is_empty();
                    let wakeup = sleep.sleep(0, SleepKind::Idle, searching, &probe);
                    assert_eq!(wakeup, Wakeup::Resumed);
                    searching = true;
                }
            })
        };
        own.push();
        sleep.wake_every();
        worker.join().unwrap();
    });
}

/// An elastic pool's worker leaves (`try_leave`, `slot_emptied`, a fence, one more look at
/// the queues, as `Threads::leave_slot` does) while a submitter pushes with every other worker
/// busy: either the leaving worker sees the job and starts a worker for its slot again, or
/// the submitter sees the empty slot and does; the job is never left without a worker.
#[test]
fn a_job_pushed_while_a_worker_leaves_gets_a_worker() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2, 0));
        let queue = Arc::new(Queue::new());
        let grown = Arc::new(AtomicUsize::new(0));
        {
            let grown = grown.clone();
            sleep.set_grow(Some(GrowFn(std::sync::Arc::new(move |_| {
                grown.fetch_add(1, Ordering::SeqCst);
            }))));
        }
        let leaving = {
            let (sleep, queue) = (sleep.clone(), queue.clone());
            thread::spawn(move || {
                assert!(sleep.try_leave(1));
                sleep.slot_emptied();
                fence(Ordering::SeqCst);
                if !queue.is_empty() {
                    sleep.grow(false);
                }
            })
        };
        submit(&sleep, &queue);
        leaving.join().unwrap();
        assert!(
            grown.load(Ordering::SeqCst) >= 1,
            "the job was left without a worker"
        );
        sleep.set_grow(None);
    });
}
