//! Priority lanes: `spawn_with`, the order in which a worker picks queued work (highest lane
//! first, with one fairness pick in `fairness_interval` for the lower lanes), the starvation
//! bound that gives, inheritance of the running task's priority, `fairness_interval`
//! validation, shutdown with work in every lane, and a multi-thread stress.
//!
//! Orders are observed on pools whose workers are first blocked by a *gate* task, so that all
//! the work is queued before any of it is picked. No assertion depends on timing.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{DropCounter, Rng, join_within, recv_n, wait_for};
use stealpool::{DEFAULT_FAIRNESS_INTERVAL, JoinHandle, Priority, WorkerPool};

const HIGH: Priority = Priority::High;
const NORMAL: Priority = Priority::Normal;
const LOW: Priority = Priority::Low;

/// 0 for High, 1 for Normal, 2 for Low.
fn lane_index(priority: Priority) -> usize {
    match priority {
        Priority::High => 0,
        Priority::Normal => 1,
        Priority::Low => 2,
        other => panic!("a priority this test does not know: {other:?}"),
    }
}

fn letter(priority: Priority) -> char {
    ['H', 'N', 'L'][lane_index(priority)]
}

fn letters(order: &[(Priority, usize)]) -> String {
    order.iter().map(|&(p, _)| letter(p)).collect()
}

/// A pool of `threads` workers with the given fairness interval (the default when `None`).
fn lane_pool(threads: usize, interval: Option<u32>) -> WorkerPool {
    let builder = WorkerPool::builder().num_threads(threads);
    let builder = match interval {
        Some(n) => builder.fairness_interval(n),
        None => builder,
    };
    builder.build().expect("valid settings")
}

/// Gate tasks holding every worker of a pool, so that work queued meanwhile waits behind them.
struct Gates {
    open: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Gates {
    /// Spawns one gate per worker (from outside, so at Normal) and waits until each has
    /// started: a gate never gives its worker back before `release`, so each worker holds
    /// exactly one. On a fresh pool the gate is each worker's first pick.
    fn block(pool: &WorkerPool) -> Gates {
        let open = Arc::new(AtomicBool::new(false));
        let (started_tx, started_rx) = mpsc::channel();
        let handles = (0..pool.num_threads())
            .map(|_| {
                let open = open.clone();
                let started_tx = started_tx.clone();
                pool.spawn(move || {
                    started_tx.send(()).unwrap();
                    wait_for("the gate to open", || open.load(Ordering::SeqCst));
                })
            })
            .collect();
        recv_n(&started_rx, pool.num_threads(), "gate tasks starting");
        Gates { open, handles }
    }

    /// Lets the workers go; fails the test if a gate task did not finish cleanly.
    fn release(self) {
        self.open.store(true, Ordering::SeqCst);
        for handle in self.handles {
            join_within(handle, "a gate task").expect("a gate task failed");
        }
    }
}

/// Blocks the (single) worker of `pool` with a gate, queues a task for every `(lane, id)` of
/// `queue` from this thread, in that order, opens the gate and returns the order in which the
/// tasks ran.
fn run_queued(pool: &WorkerPool, queue: &[(Priority, usize)]) -> Vec<(Priority, usize)> {
    assert_eq!(pool.num_threads(), 1, "orders are exact on one worker only");
    let order = Arc::new(Mutex::new(Vec::new()));
    let gates = Gates::block(pool);
    let handles: Vec<_> = queue
        .iter()
        .map(|&(lane, id)| {
            let order = order.clone();
            pool.spawn_with(lane, move || {
                assert_eq!(stealpool::current_priority(), Some(lane));
                order.lock().unwrap().push((lane, id));
            })
        })
        .collect();
    gates.release();
    for handle in handles {
        join_within(handle, "a queued task").expect("a queued task failed");
    }
    order.lock().unwrap().clone()
}

/// `counts[i]` tasks in lane `Priority::ALL[i]`, with ids `0..counts[i]` in the order they are
/// queued: one lane after the other, lowest first, or round-robin over the lanes when
/// `interleave`.
fn make_queue(counts: [usize; 3], interleave: bool) -> Vec<(Priority, usize)> {
    let mut queue = Vec::new();
    if interleave {
        let most = counts.iter().copied().max().unwrap_or(0);
        for id in 0..most {
            for (lane, &count) in Priority::ALL.iter().zip(&counts) {
                if id < count {
                    queue.push((*lane, id));
                }
            }
        }
    } else {
        // Lowest lane first, as in the documented example: L0.., then N0.., then H0...
        for (lane, &count) in Priority::ALL.iter().zip(&counts).rev() {
            queue.extend((0..count).map(|id| (*lane, id)));
        }
    }
    queue
}

/// One pick of the model: the task, and whether it was a fairness pick of a lower lane.
type Pick = ((Priority, usize), bool);

/// The documented pick order of one worker, as a simulator of three FIFO queues, starting
/// right after the gate (which passed over nothing, as nothing else was queued yet):
/// - a usual pick takes the highest lane with work; if it passed over queued work of a lower
///   lane it brings the next fairness pick one closer, else it starts the count again;
/// - after `interval - 1` counted picks in a row, the next pick is a fairness pick: the oldest
///   task of a lane below the highest lane with work, trying Low first, then Normal first at
///   the next fairness pick, and so on; one that finds no such task is not counted, and the
///   usual pick is made instead.
fn model_order(interval: u32, queue: &[(Priority, usize)]) -> Vec<Pick> {
    let mut lanes: [VecDeque<(Priority, usize)>; 3] = Default::default();
    for &task in queue {
        lanes[lane_index(task.0)].push_back(task);
    }
    // Picks in a row that passed over lower-lane work, since the last fairness pick.
    let mut passed_over = 0;
    let mut low_first = true;
    let mut order = Vec::new();
    while let Some(top) = (0..3).find(|&lane| !lanes[lane].is_empty()) {
        if passed_over + 1 >= interval {
            let tries = if low_first { [2, 1] } else { [1, 2] };
            if let Some(lane) = tries
                .into_iter()
                .find(|&lane| lane > top && !lanes[lane].is_empty())
            {
                order.push((lanes[lane].pop_front().unwrap(), true));
                low_first = !low_first;
                passed_over = 0;
                continue;
            }
        }
        order.push((lanes[top].pop_front().unwrap(), false));
        if (top + 1..3).any(|lane| !lanes[lane].is_empty()) {
            passed_over += 1;
        } else {
            passed_over = 0;
        }
    }
    order
}

/// Asserts that `order`, what a one-worker pool ran of `queue` after its gate, follows the
/// rules: the lane of every pick is the model's; every fairness pick took the oldest task of
/// its lane that had not run yet (ids grow in the order of submission within a lane); every
/// queued task ran exactly once. The order *within* a lane at the usual picks is not part of
/// the contract and is not checked.
fn assert_follows_model(
    order: &[(Priority, usize)],
    queue: &[(Priority, usize)],
    interval: u32,
    context: &str,
) {
    let model = model_order(interval, queue);
    let modelled: Vec<(Priority, usize)> = model.iter().map(|&(task, _)| task).collect();
    assert_eq!(
        letters(order),
        letters(&modelled),
        "{context}: the lanes ran in the wrong order\n  ran   {order:?}\n  model {modelled:?}"
    );
    for (pick, (&(lane, id), &(_, fair))) in order.iter().zip(&model).enumerate() {
        if fair {
            let oldest = queue
                .iter()
                .filter(|&&(l, i)| l == lane && !order[..pick].contains(&(l, i)))
                .map(|&(_, i)| i)
                .min();
            assert_eq!(
                Some(id),
                oldest,
                "{context}: the fairness pick at position {pick} (after the gate) took {lane:?} \
                 task {id}, not the oldest one\n  ran   {order:?}\n  model {modelled:?}"
            );
        }
    }
    let mut ran = order.to_vec();
    ran.sort_by_key(|&(p, id)| (lane_index(p), id));
    let mut queued = queue.to_vec();
    queued.sort_by_key(|&(p, id)| (lane_index(p), id));
    assert_eq!(ran, queued, "{context}: not every task ran exactly once");
}

#[test]
fn the_model_gives_the_documented_order_for_a_small_mix() {
    let _watchdog = common::guard("the_model_gives_the_documented_order_for_a_small_mix");
    // Checks the simulator itself, worked out by hand from the rules (interval 4; L0..L5, then
    // N0..N5, then H0..H5 queued behind the gate; `*` marks the fairness picks): three High
    // picks pass over lower work, then a fairness pick tries Low first; the next one tries
    // Normal first, but with High drained Normal is the highest lane, so it takes Low; Normal
    // picks pass over Low work and count; once only Low is left nothing is passed over.
    let order = model_order(4, &make_queue([6, 6, 6], false));
    let named: Vec<String> = order
        .iter()
        .map(|&((p, id), fair)| format!("{}{id}{}", letter(p), if fair { "*" } else { "" }))
        .collect();
    assert_eq!(
        named.join(" "),
        "H0 H1 H2 L0* H3 H4 H5 L1* N0 N1 N2 L2* N3 N4 N5 L3 L4 L5"
    );
    // Interval 2 with High and Normal only: every other pick is a fairness pick for Normal
    // while High work lasts.
    let order = model_order(2, &make_queue([3, 3, 0], false));
    assert_eq!(
        letters(&order.iter().map(|&(t, _)| t).collect::<Vec<_>>()),
        "HNHNHN"
    );
}

#[test]
fn one_worker_runs_high_then_normal_then_low_without_fairness_picks() {
    let _watchdog =
        common::guard("one_worker_runs_high_then_normal_then_low_without_fairness_picks");
    for (counts, interleave) in [
        ([20, 20, 20], false),
        ([20, 20, 20], true),
        ([7, 0, 30], true),
        ([0, 25, 9], false),
        ([1, 1, 1], true),
    ] {
        let pool = lane_pool(1, Some(1000));
        let queue = make_queue(counts, interleave);
        let order = run_queued(&pool, &queue);
        let expected_letters: String = Priority::ALL
            .iter()
            .zip(counts)
            .flat_map(|(&lane, count)| std::iter::repeat_n(letter(lane), count))
            .collect();
        assert_eq!(
            letters(&order),
            expected_letters,
            "counts {counts:?}: lanes out of order: {order:?}"
        );
        let mut ran = order.clone();
        ran.sort_by_key(|&(p, id)| (lane_index(p), id));
        let mut queued = queue.clone();
        queued.sort_by_key(|&(p, id)| (lane_index(p), id));
        assert_eq!(ran, queued, "counts {counts:?}: not every task ran once");
        pool.shutdown();
    }
}

#[test]
fn a_small_mix_runs_in_the_documented_order_on_one_worker() {
    let _watchdog = common::guard("a_small_mix_runs_in_the_documented_order_on_one_worker");
    // Lanes H H H L H H H L N N N L N N N L L L; the fairness picks take L0, L1 and L2.
    let pool = lane_pool(1, Some(4));
    let queue = make_queue([6, 6, 6], false);
    let order = run_queued(&pool, &queue);
    assert_eq!(letters(&order), "HHHLHHHLNNNLNNNLLL", "{order:?}");
    assert_eq!(
        (order[3], order[7], order[11]),
        ((LOW, 0), (LOW, 1), (LOW, 2))
    );
    assert_follows_model(&order, &queue, 4, "interval 4, six tasks per lane");
    pool.shutdown();
}

#[test]
fn one_worker_follows_the_fairness_model() {
    let _watchdog = common::guard("one_worker_follows_the_fairness_model");
    let mixes: [[usize; 3]; 11] = [
        [6, 6, 6],
        [40, 6, 6],
        [12, 4, 9],
        [20, 3, 3],
        [10, 0, 5],
        [10, 5, 0],
        [0, 10, 5],
        [1, 7, 3],
        [3, 0, 0],
        [0, 0, 4],
        [2, 2, 2],
    ];
    let mut intervals: Vec<Option<u32>> = [2, 3, 4, 8].into_iter().map(Some).collect();
    intervals.push(None);
    for interval in intervals {
        for (m, counts) in mixes.iter().enumerate() {
            let interleave = m % 2 == 1;
            let queue = make_queue(*counts, interleave);
            let n = interval.unwrap_or(DEFAULT_FAIRNESS_INTERVAL);
            let pool = lane_pool(1, interval);
            let order = run_queued(&pool, &queue);
            let context = format!(
                "fairness_interval {interval:?}, counts [H, N, L] = {counts:?} \
                 (interleaved: {interleave})"
            );
            assert_follows_model(&order, &queue, n, &context);
            pool.shutdown();
        }
    }
}

#[test]
fn default_fairness_interval_is_16() {
    let _watchdog = common::guard("default_fairness_interval_is_16");
    assert_eq!(DEFAULT_FAIRNESS_INTERVAL, 16);
    // With the default, 15 High picks that pass over the Low work, then a fairness pick.
    let pool = lane_pool(1, None);
    let queue = make_queue([30, 0, 3], false);
    let order = run_queued(&pool, &queue);
    let expected = ["H".repeat(15), "L".into(), "H".repeat(15), "LL".into()].concat();
    assert_eq!(letters(&order), expected);
    assert_follows_model(
        &order,
        &queue,
        DEFAULT_FAIRNESS_INTERVAL,
        "the default interval",
    );
    pool.shutdown();
}

/// Runs a chain of `chain` High tasks on a one-worker pool (each spawns the next with
/// `spawn_with(High, ..)` before it finishes) with `lower` tasks queued in the lower lanes,
/// and returns the log of every pick, the gate's included, as lane letters ('G' for the gate).
fn high_chain_with_lower_work(interval: u32, chain: usize, lower: &[(Priority, usize)]) -> String {
    fn link(pool: WorkerPool, log: Arc<Mutex<String>>, left: usize, done: mpsc::Sender<()>) {
        log.lock().unwrap().push('H');
        if left > 1 {
            let next_pool = pool.clone();
            drop(pool.spawn_with(HIGH, move || link(next_pool, log, left - 1, done)));
        } else {
            done.send(()).unwrap();
        }
    }

    let pool = lane_pool(1, Some(interval));
    let log = Arc::new(Mutex::new(String::new()));
    let gates = Gates::block(&pool);
    log.lock().unwrap().push('G');
    let handles: Vec<_> = lower
        .iter()
        .map(|&(lane, _)| {
            let log = log.clone();
            pool.spawn_with(lane, move || log.lock().unwrap().push(letter(lane)))
        })
        .collect();
    let (done_tx, done_rx) = mpsc::channel();
    {
        let log = log.clone();
        let next_pool = pool.clone();
        drop(pool.spawn_with(HIGH, move || link(next_pool, log, chain, done_tx)));
    }
    gates.release();
    recv_n(&done_rx, 1, "the end of the High chain");
    for handle in handles {
        join_within(handle, "a lower-lane task").expect("a lower-lane task failed");
    }
    pool.shutdown();
    log.lock().unwrap().clone()
}

#[test]
fn lower_lanes_are_not_starved_by_a_stream_of_high_work() {
    let _watchdog = common::guard("lower_lanes_are_not_starved_by_a_stream_of_high_work");
    const CHAIN: usize = 200;
    let mixes: [&[(Priority, usize)]; 3] = [&[(LOW, 5)], &[(NORMAL, 5)], &[(NORMAL, 4), (LOW, 4)]];
    for interval in [2u32, 3, 4, 8] {
        for mix in mixes {
            let lower: Vec<(Priority, usize)> = mix
                .iter()
                .flat_map(|&(lane, count)| (0..count).map(move |id| (lane, id)))
                .collect();
            let log = high_chain_with_lower_work(interval, CHAIN, &lower);
            let context = format!("fairness_interval {interval}, lower work {mix:?}: log {log}");
            assert_eq!(log.len(), 1 + CHAIN + lower.len(), "{context}");
            let last_high = log.rfind('H').expect("the chain ran");
            let bound = 2 * interval as usize;
            for &(lane, count) in mix {
                // Pick numbers, counted from 1 at the first pick after the gate (the lower
                // work was queued before it; the gate, at index 0, is pick 0).
                let picks: Vec<usize> = log
                    .char_indices()
                    .filter(|&(_, c)| c == letter(lane))
                    .map(|(i, _)| i)
                    .collect();
                assert_eq!(picks.len(), count, "{context}");
                assert!(
                    picks.iter().all(|&p| p < last_high),
                    "{lane:?} work waited for the High chain to end: {context}"
                );
                assert!(
                    picks[0] <= bound,
                    "the first {lane:?} pick came at pick {}, after more than 2n = {bound}: \
                     {context}",
                    picks[0]
                );
                for pair in picks.windows(2) {
                    assert!(
                        pair[1] - pair[0] <= bound,
                        "{lane:?} picks {} and {} are more than 2n = {bound} apart: {context}",
                        pair[0],
                        pair[1]
                    );
                }
            }
        }
    }
}

#[test]
fn a_fairness_pick_takes_the_oldest_of_the_tasks_spawned_on_the_worker() {
    let _watchdog =
        common::guard("a_fairness_pick_takes_the_oldest_of_the_tasks_spawned_on_the_worker");
    // A task on a one-worker pool spawns L0..L5 and then twelve High tasks, all onto the
    // worker's own deques (where the usual pick takes the newest first). The fairness picks
    // made among the High tasks must take the oldest Low tasks: L0, L1, ... in that order.
    for interval in [2u32, 3, 4] {
        let pool = lane_pool(1, Some(interval));
        let order = Arc::new(Mutex::new(Vec::new()));
        let root = {
            let (order, pool2) = (order.clone(), pool.clone());
            pool.spawn(move || {
                for (lane, count) in [(LOW, 6), (HIGH, 12)] {
                    for i in 0..count {
                        let order = order.clone();
                        drop(pool2.spawn_with(lane, move || order.lock().unwrap().push((lane, i))));
                    }
                }
            })
        };
        join_within(root, "the spawning task").unwrap();
        pool.shutdown();
        let order = order.lock().unwrap().clone();
        assert_eq!(order.len(), 18, "{order:?}");
        let last_high = order.iter().rposition(|&(p, _)| p == HIGH).unwrap();
        let low_during_high: Vec<usize> = order[..last_high]
            .iter()
            .filter(|&&(p, _)| p == LOW)
            .map(|&(_, id)| id)
            .collect();
        let oldest: Vec<usize> = (0..low_during_high.len()).collect();
        assert!(
            !low_during_high.is_empty() && low_during_high == oldest,
            "interval {interval}: the fairness picks took Low tasks {low_during_high:?}, not the \
             oldest ones {oldest:?} (lanes {}): {order:?}",
            letters(&order)
        );
    }
}

#[test]
fn a_fairness_pick_takes_the_oldest_queued_task_even_after_a_batch_was_taken() {
    let _watchdog =
        common::guard("a_fairness_pick_takes_the_oldest_queued_task_even_after_a_batch_was_taken");
    // One worker, interval 4. Only Low work is queued (L0..L7, from outside), so the worker's
    // first pick after the gate takes Low work; L0 then spawns twelve High tasks. From there
    // High is the highest lane, and every fairness pick must take the oldest Low task still
    // queued: the Low tasks that run among the High ones are L1, L2, ... in that order.
    let pool = lane_pool(1, Some(4));
    let order = Arc::new(Mutex::new(Vec::new()));
    let gates = Gates::block(&pool);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (order, pool2) = (order.clone(), pool.clone());
            pool.spawn_with(LOW, move || {
                order.lock().unwrap().push((LOW, i));
                if i == 0 {
                    for h in 0..12 {
                        let order = order.clone();
                        drop(pool2.spawn_with(HIGH, move || order.lock().unwrap().push((HIGH, h))));
                    }
                }
            })
        })
        .collect();
    gates.release();
    for handle in handles {
        join_within(handle, "a Low task").expect("a Low task failed");
    }
    pool.shutdown();
    let order = order.lock().unwrap().clone();
    assert_eq!(order.len(), 20, "{order:?}");
    assert_eq!(order[0], (LOW, 0), "{order:?}");
    let last_high = order.iter().rposition(|&(p, _)| p == HIGH).unwrap();
    let low_during_high: Vec<usize> = order[1..last_high]
        .iter()
        .filter(|&&(p, _)| p == LOW)
        .map(|&(_, id)| id)
        .collect();
    let oldest: Vec<usize> = (1..=low_during_high.len()).collect();
    assert!(
        !low_during_high.is_empty() && low_during_high == oldest,
        "the fairness picks made while High work was queued took Low tasks {low_during_high:?}, \
         not the oldest queued ones {oldest:?} (lanes {}): {order:?}",
        letters(&order)
    );
}

#[test]
fn a_queued_low_task_is_not_starved_by_newer_low_work_under_high_pressure() {
    let _watchdog =
        common::guard("a_queued_low_task_is_not_starved_by_newer_low_work_under_high_pressure");
    // As above, but the High work is a long chain, and each link also submits one more Low
    // task from outside the pool (from a plain thread, so it goes to the Low lane's global
    // queue). The fairness picks give the Low lane one pick in 2n or better, far more than
    // enough for the six Low tasks queued first: each of them must run before the chain ends.
    const CHAIN: usize = 200;
    fn link(pool: WorkerPool, order: Arc<Mutex<Vec<(Priority, usize)>>>, i: usize) {
        order.lock().unwrap().push((HIGH, i));
        thread::scope(|s| {
            s.spawn(|| {
                let order = order.clone();
                drop(pool.spawn_with(LOW, move || order.lock().unwrap().push((LOW, 100 + i))));
            });
        });
        if i + 1 < CHAIN {
            let next = pool.clone();
            drop(pool.spawn_with(HIGH, move || link(next, order, i + 1)));
        }
    }

    let pool = lane_pool(1, Some(4));
    let order = Arc::new(Mutex::new(Vec::new()));
    let gates = Gates::block(&pool);
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let (order, pool2) = (order.clone(), pool.clone());
            pool.spawn_with(LOW, move || {
                order.lock().unwrap().push((LOW, i));
                if i == 0 {
                    let next = pool2.clone();
                    drop(pool2.spawn_with(HIGH, move || link(next, order, 0)));
                }
            })
        })
        .collect();
    gates.release();
    for handle in handles {
        join_within(handle, "a Low task").expect("a Low task failed");
    }
    pool.shutdown();
    let order = order.lock().unwrap().clone();
    let end_of_chain = order.iter().position(|&t| t == (HIGH, CHAIN - 1)).unwrap();
    let late: Vec<usize> = (0..6)
        .filter(|&i| order.iter().position(|&t| t == (LOW, i)).unwrap() > end_of_chain)
        .collect();
    assert!(
        late.is_empty(),
        "Low tasks {late:?} (queued first) ran only after the whole High chain of {CHAIN}, \
         while {} newer Low tasks ran before its end: lanes {}",
        order[..end_of_chain]
            .iter()
            .filter(|&&(p, id)| p == LOW && id >= 100)
            .count(),
        letters(&order)
    );
}

#[test]
fn a_join_waiting_for_its_second_side_does_not_start_normal_work_before_queued_high_work() {
    let _watchdog = common::guard(
        "a_join_waiting_for_its_second_side_does_not_start_normal_work_before_queued_high_work",
    );
    // One worker. A Normal task joins (a, b). Inside `a`: joining a High child makes the
    // worker wait, so `b` is made stealable (put on the worker's Normal deque); then `a` queues
    // a Normal task X and a High task Z and returns. At the next task the worker starts, Z is
    // queued and X is too: Z must start first (running `b` itself, the rest of the joining
    // task, may come before either).
    let pool = lane_pool(1, Some(1000));
    let log = Arc::new(Mutex::new(Vec::new()));
    let task = {
        let (pool2, log) = (pool.clone(), log.clone());
        pool.spawn(move || {
            stealpool::join(
                || {
                    let l = log.clone();
                    let child =
                        pool2.spawn_with(HIGH, move || l.lock().unwrap().push("high child"));
                    child.join().unwrap();
                    let l = log.clone();
                    drop(pool2.spawn(move || l.lock().unwrap().push("X (Normal)")));
                    let l = log.clone();
                    drop(pool2.spawn_with(HIGH, move || l.lock().unwrap().push("Z (High)")));
                },
                || log.lock().unwrap().push("b"),
            );
            log.lock().unwrap().push("end of the joining task");
        })
    };
    join_within(task, "the joining task").unwrap();
    pool.shutdown();
    let log = log.lock().unwrap().clone();
    let position = |name: &str| log.iter().position(|&entry| entry == name).unwrap();
    assert!(
        position("Z (High)") < position("X (Normal)"),
        "the worker started a Normal task while a High one was queued: {log:?}"
    );
}

#[test]
fn urgent_work_arriving_during_batch_work_is_taken_next() {
    let _watchdog = common::guard("urgent_work_arriving_during_batch_work_is_taken_next");
    // One worker running a backlog of one lane only: its picks pass over nothing, so it owes
    // no fairness pick, and a High task spawned by backlog task `at` must be the very next
    // task to start, whatever the interval and wherever it arrives.
    const BACKLOG: usize = 24;
    for lane in [LOW, NORMAL] {
        for interval in [2u32, 3, 4, 16] {
            for at in [0, 1, 2, 3, 5, 8, 15, 16, 17] {
                let pool = lane_pool(1, Some(interval));
                let order = Arc::new(Mutex::new(Vec::new()));
                let gates = Gates::block(&pool);
                let handles: Vec<_> = (0..BACKLOG)
                    .map(|i| {
                        let (order, pool2) = (order.clone(), pool.clone());
                        pool.spawn_with(lane, move || {
                            order.lock().unwrap().push((lane, i));
                            if i == at {
                                let order = order.clone();
                                drop(pool2.spawn_with(HIGH, move || {
                                    order.lock().unwrap().push((HIGH, 0));
                                }));
                            }
                        })
                    })
                    .collect();
                gates.release();
                for handle in handles {
                    join_within(handle, "a backlog task").expect("a backlog task failed");
                }
                pool.shutdown();
                let order = order.lock().unwrap().clone();
                let spawner = order.iter().position(|&t| t == (lane, at)).unwrap();
                assert_eq!(
                    order.get(spawner + 1),
                    Some(&(HIGH, 0)),
                    "{lane:?} backlog, interval {interval}, High spawned by task {at}: \
                     lanes {}",
                    letters(&order)
                );
            }
        }
    }
}

#[test]
fn urgent_work_overtakes_queued_low_work_on_two_workers() {
    let _watchdog = common::guard("urgent_work_overtakes_queued_low_work_on_two_workers");
    const LOWS: usize = 50;
    for round in 0..5 {
        let pool = lane_pool(2, Some(1000));
        let log = Arc::new(Mutex::new(Vec::new()));
        let high_ran = Arc::new(AtomicBool::new(false));
        let stuck = Arc::new(AtomicUsize::new(0));
        let gates = Gates::block(&pool);
        let mut handles: Vec<_> = (0..LOWS)
            .map(|i| {
                let (log, high_ran, stuck) = (log.clone(), high_ran.clone(), stuck.clone());
                pool.spawn_with(LOW, move || {
                    log.lock().unwrap().push(format!("L{i}"));
                    // Holds this worker until the High task has started, so that the order of
                    // the log is the order of the picks: only one Low task can start before
                    // it. Bounded: if no worker picks the High task, the test fails instead
                    // of hanging (after one wait: later Low tasks do not wait once one gave
                    // up).
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while !high_ran.load(Ordering::SeqCst) {
                        if Instant::now() > deadline || stuck.load(Ordering::SeqCst) > 0 {
                            stuck.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        thread::sleep(Duration::from_millis(1));
                    }
                })
            })
            .collect();
        {
            let (log, high_ran) = (log.clone(), high_ran.clone());
            handles.push(pool.spawn_with(HIGH, move || {
                log.lock().unwrap().push("H".to_owned());
                high_ran.store(true, Ordering::SeqCst);
            }));
        }
        gates.release();
        for handle in handles {
            join_within(handle, "a queued task").expect("a queued task failed");
        }
        let log = log.lock().unwrap().clone();
        assert_eq!(log.len(), LOWS + 1);
        let position = log.iter().position(|name| name == "H").unwrap();
        assert!(
            position < 2,
            "round {round}: the High task started only after {position} Low tasks \
             ({} Low tasks gave up waiting for it): {log:?}",
            stuck.load(Ordering::SeqCst)
        );
        assert_eq!(stuck.load(Ordering::SeqCst), 0);
        pool.shutdown();
    }
}

/// Collects what `current_priority` reported where a given priority was expected.
#[derive(Clone, Default)]
struct Probe {
    failures: Arc<Mutex<Vec<String>>>,
    checks: Arc<AtomicUsize>,
}

impl Probe {
    fn expect(&self, expected: Priority, what: &str) {
        self.checks.fetch_add(1, Ordering::SeqCst);
        let seen = stealpool::current_priority();
        if seen != Some(expected) {
            self.failures.lock().unwrap().push(format!(
                "{what}: expected {expected:?}, saw {seen:?} (worker {:?})",
                stealpool::current_thread_index()
            ));
        }
    }

    fn assert_clean(&self, min_checks: usize) {
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "wrong priorities:\n{}",
            failures.join("\n")
        );
        let checks = self.checks.load(Ordering::SeqCst);
        assert!(
            checks >= min_checks,
            "only {checks} checks ran (expected at least {min_checks})"
        );
    }
}

/// A recursive `stealpool::join` of the given depth, checking the priority on both sides at
/// every level; near the root it pauses a little, so that the other worker asks for a frame
/// and some sides run there. Returns the number of leaves.
fn join_tree(depth: u32, expected: Priority, probe: &Probe, where_ran: &Mutex<Vec<usize>>) -> u64 {
    probe.expect(expected, "join side");
    if depth == 0 {
        where_ran
            .lock()
            .unwrap()
            .push(stealpool::current_thread_index().unwrap_or(usize::MAX));
        return 1;
    }
    if depth >= 6 {
        for _ in 0..2 {
            stealpool::join(|| thread::sleep(Duration::from_micros(200)), || ());
        }
    }
    let (a, b) = stealpool::join(
        || join_tree(depth - 1, expected, probe, where_ran),
        || join_tree(depth - 1, expected, probe, where_ran),
    );
    a + b
}

/// Asserts that every leaf recorded by [`join_tree`] ran on a worker of a pool of `width`.
fn assert_on_workers(where_ran: &Mutex<Vec<usize>>, width: usize) {
    let where_ran = where_ran.lock().unwrap();
    assert!(
        where_ran.iter().all(|&index| index < width),
        "join leaves ran off the pool: {where_ran:?}"
    );
}

/// Inside a task of priority `expected` on `pool`: checks that everything the task spawns,
/// joins or scopes without naming a priority runs at `expected`; and, when `override_depth` is
/// not zero, that `spawn_with` another lane runs there, with the same inheritance below it.
fn exercise_inheritance(pool: &WorkerPool, expected: Priority, probe: &Probe, override_depth: u32) {
    probe.expect(expected, "task body");

    // Spawned children and grandchildren.
    let child = {
        let probe = probe.clone();
        pool.spawn(move || {
            probe.expect(expected, "pool.spawn child");
            let inner = probe.clone();
            stealpool::spawn(move || inner.expect(expected, "grandchild of pool.spawn"))
                .join()
                .unwrap();
        })
    };
    child.join().unwrap();
    let child = {
        let probe = probe.clone();
        stealpool::spawn(move || probe.expect(expected, "stealpool::spawn child"))
    };
    child.join().unwrap();
    // Joining a child on the worker runs other work meanwhile; the task's own priority is
    // back once the join returns.
    probe.expect(expected, "task body after joining its children");

    // Joins: deep enough that the other worker steals some sides.
    let where_ran = Mutex::new(Vec::new());
    let leaves = join_tree(8, expected, probe, &where_ran);
    assert_eq!(leaves, 256);
    assert_on_workers(&where_ran, pool.num_threads());
    pool.join(
        || probe.expect(expected, "pool.join a"),
        || probe.expect(expected, "pool.join b"),
    );

    // Scopes: the closure, its tasks, and tasks those spawn; also tasks spawned into the
    // scope from a plain thread, which run at the lane of the task that opened the scope.
    pool.scope(|s| {
        probe.expect(expected, "pool.scope closure");
        for _ in 0..4 {
            s.spawn(|s| {
                probe.expect(expected, "scope task");
                s.spawn(|_| probe.expect(expected, "nested scope task"));
            });
        }
        thread::scope(|ts| {
            ts.spawn(|| {
                assert_eq!(stealpool::current_priority(), None);
                s.spawn(|_| probe.expect(expected, "scope task spawned from a plain thread"));
            });
        });
    });
    stealpool::scope(|s| {
        probe.expect(expected, "stealpool::scope closure");
        s.spawn(|s| {
            probe.expect(expected, "stealpool::scope task");
            s.spawn(|_| probe.expect(expected, "nested stealpool::scope task"));
        });
    });
    pool.install(|| probe.expect(expected, "install from a task"));
    probe.expect(expected, "task body at the end");

    // Naming another priority overrides; what that task starts inherits the new one.
    if override_depth > 0 {
        for other in Priority::ALL.into_iter().filter(|&p| p != expected) {
            let handle = {
                let (pool2, probe) = (pool.clone(), probe.clone());
                pool.spawn_with(other, move || {
                    exercise_inheritance(&pool2, other, &probe, override_depth - 1);
                })
            };
            handle.join().unwrap();
            probe.expect(expected, "task body after a spawn_with child");
        }
    }
}

#[test]
fn work_started_inside_a_task_inherits_its_priority() {
    let _watchdog = common::guard("work_started_inside_a_task_inherits_its_priority");
    let pool = lane_pool(2, None);
    for root in Priority::ALL {
        let probe = Probe::default();
        let handle = {
            let (pool2, probe) = (pool.clone(), probe.clone());
            pool.spawn_with(root, move || exercise_inheritance(&pool2, root, &probe, 1))
        };
        join_within(handle, "the root task").unwrap();
        // 3 exercises (the root and its two overrides), each with well over 500 checks.
        probe.assert_clean(3 * 500);
    }
    pool.shutdown();
}

#[test]
fn inheritance_holds_on_one_worker_where_children_run_nested() {
    let _watchdog = common::guard("inheritance_holds_on_one_worker_where_children_run_nested");
    // On one worker, joining a child runs it (and everything else queued) inside the joining
    // task's stack; the priority must switch for each and come back afterwards.
    let pool = lane_pool(1, Some(2));
    for root in Priority::ALL {
        let probe = Probe::default();
        let handle = {
            let (pool2, probe) = (pool.clone(), probe.clone());
            pool.spawn_with(root, move || exercise_inheritance(&pool2, root, &probe, 1))
        };
        join_within(handle, "the root task").unwrap();
        probe.assert_clean(3 * 500);
    }
    pool.shutdown();
}

#[test]
fn the_priority_of_a_task_does_not_leak_into_the_next_one() {
    let _watchdog = common::guard("the_priority_of_a_task_does_not_leak_into_the_next_one");
    let pool = lane_pool(1, None);
    for lane in [HIGH, LOW, NORMAL, LOW, HIGH] {
        let seen = pool.spawn_with(lane, stealpool::current_priority).join();
        assert_eq!(seen.unwrap(), Some(lane));
        // The same worker, the next task: from outside, so Normal.
        assert_eq!(
            pool.spawn(stealpool::current_priority).join().unwrap(),
            Some(NORMAL)
        );
        assert_eq!(pool.install(stealpool::current_priority), Some(NORMAL));
    }
    pool.shutdown();
}

#[test]
fn submissions_from_outside_any_pool_run_at_normal() {
    let _watchdog = common::guard("submissions_from_outside_any_pool_run_at_normal");
    assert_eq!(stealpool::current_priority(), None);
    let pool = lane_pool(2, None);
    let probe = Probe::default();
    assert_eq!(pool.install(stealpool::current_priority), Some(NORMAL));
    assert_eq!(
        pool.spawn(stealpool::current_priority).join().unwrap(),
        Some(NORMAL)
    );
    assert_eq!(
        pool.join(stealpool::current_priority, stealpool::current_priority),
        (Some(NORMAL), Some(NORMAL))
    );
    let where_ran = Mutex::new(Vec::new());
    let leaves = pool.install(|| join_tree(7, NORMAL, &probe, &where_ran));
    assert_eq!(leaves, 128);
    assert_on_workers(&where_ran, 2);
    pool.scope(|s| {
        probe.expect(NORMAL, "scope closure from outside");
        for _ in 0..4 {
            s.spawn(|s| {
                probe.expect(NORMAL, "scope task from outside");
                s.spawn(|_| probe.expect(NORMAL, "nested scope task from outside"));
            });
        }
    });
    // The free functions from a plain thread use the global pool, also at Normal.
    assert_eq!(
        stealpool::spawn(stealpool::current_priority)
            .join()
            .unwrap(),
        Some(NORMAL)
    );
    assert_eq!(
        stealpool::join(stealpool::current_priority, stealpool::current_priority),
        (Some(NORMAL), Some(NORMAL))
    );
    stealpool::scope(|s| {
        probe.expect(NORMAL, "global scope closure");
        s.spawn(|_| probe.expect(NORMAL, "global scope task"));
    });
    // `Priority::default()` is Normal, and so is `spawn_with(default)`.
    assert_eq!(Priority::default(), NORMAL);
    assert_eq!(
        pool.spawn_with(Priority::default(), stealpool::current_priority)
            .join()
            .unwrap(),
        Some(NORMAL)
    );
    // Still nothing on this thread.
    assert_eq!(stealpool::current_priority(), None);
    probe.assert_clean(255 + 9 + 2);
    pool.shutdown();
}

#[test]
fn spawn_with_names_the_lane_from_outside_and_from_inside() {
    let _watchdog = common::guard("spawn_with_names_the_lane_from_outside_and_from_inside");
    for width in [1, 2] {
        let pool = lane_pool(width, None);
        for lane in Priority::ALL {
            let pool2 = pool.clone();
            let (seen, inherited, named) = pool
                .spawn_with(lane, move || {
                    let inherited = stealpool::spawn(stealpool::current_priority);
                    let named = Priority::ALL.map(|other| {
                        pool2
                            .spawn_with(other, stealpool::current_priority)
                            .join()
                            .unwrap()
                    });
                    (
                        stealpool::current_priority(),
                        inherited.join().unwrap(),
                        named,
                    )
                })
                .join()
                .unwrap();
            assert_eq!(seen, Some(lane), "width {width}");
            assert_eq!(inherited, Some(lane), "width {width}");
            assert_eq!(
                named,
                Priority::ALL.map(Some),
                "width {width}, from a {lane:?} task"
            );
        }
        pool.shutdown();
    }
}

#[test]
fn work_sent_to_another_pool_from_a_task_keeps_the_task_priority() {
    let _watchdog = common::guard("work_sent_to_another_pool_from_a_task_keeps_the_task_priority");
    let first = lane_pool(1, None);
    let second = lane_pool(2, None);
    for lane in Priority::ALL {
        let other = second.clone();
        let seen = first
            .spawn_with(lane, move || {
                [
                    other.spawn(stealpool::current_priority).join().unwrap(),
                    other.install(stealpool::current_priority),
                    other.join(stealpool::current_priority, || ()).0,
                    other.join(|| (), stealpool::current_priority).1,
                    other.scope(|_| stealpool::current_priority()),
                ]
            })
            .join()
            .unwrap();
        assert_eq!(
            seen,
            [Some(lane); 5],
            "from a {lane:?} task of another pool"
        );
    }
    first.shutdown();
    second.shutdown();
}

#[test]
fn fairness_interval_below_two_is_an_error() {
    let _watchdog = common::guard("fairness_interval_below_two_is_an_error");
    for n in [0, 1] {
        let err = WorkerPool::builder()
            .num_threads(1)
            .fairness_interval(n)
            .build()
            .unwrap_err();
        assert_eq!(err.setting(), "fairness_interval", "n = {n}");
        let message = err.to_string();
        assert!(
            message.starts_with("fairness_interval"),
            "n = {n}: Display: {message}"
        );
    }
    // Also with no explicit width and every other setting fine; no thread is left behind.
    let err = WorkerPool::builder()
        .fairness_interval(1)
        .thread_name(|i| format!("fairbad-{i}"))
        .build()
        .unwrap_err();
    assert_eq!(err.setting(), "fairness_interval");
    assert!(err.to_string().starts_with("fairness_interval"), "{err}");
    assert_eq!(common::threads_named("fairbad-"), 0, "threads left behind");

    // 2 is the smallest valid interval; such pools work in every lane.
    for n in [2, 3, u32::MAX] {
        let pool = WorkerPool::builder()
            .num_threads(2)
            .fairness_interval(n)
            .build()
            .unwrap_or_else(|err| panic!("fairness_interval({n}) was refused: {err}"));
        for lane in Priority::ALL {
            let seen = pool.spawn_with(lane, stealpool::current_priority).join();
            assert_eq!(seen.unwrap(), Some(lane), "fairness_interval({n})");
        }
        pool.shutdown();
    }
}

#[test]
fn shutdown_runs_the_work_queued_in_every_lane_and_refuses_new_work_in_every_lane() {
    let _watchdog = common::guard(
        "shutdown_runs_the_work_queued_in_every_lane_and_refuses_new_work_in_every_lane",
    );
    const PER_LANE: usize = 20;
    let pool = lane_pool(1, Some(4));
    let ran: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let children: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let gates = Gates::block(&pool);
    let mut handles = Vec::new();
    for lane in Priority::ALL {
        for i in 0..PER_LANE {
            let (ran, children, pool2) = (ran.clone(), children.clone(), pool.clone());
            handles.push(pool.spawn_with(lane, move || {
                assert_eq!(stealpool::current_priority(), Some(lane));
                ran[lane_index(lane)].fetch_add(1, Ordering::SeqCst);
                // What queued work spawns after the close still runs, in any lane.
                let child_lane = Priority::ALL[i % 3];
                drop(pool2.spawn_with(child_lane, move || {
                    assert_eq!(stealpool::current_priority(), Some(child_lane));
                    children[lane_index(child_lane)].fetch_add(1, Ordering::SeqCst);
                }));
            }));
        }
    }

    // Close the pool from another thread while its worker is still held by the gate.
    let closer = {
        let pool = pool.clone();
        thread::spawn(move || pool.shutdown())
    };
    // Once closed, a spawn from outside resolves at once as cancelled. (Probes sent before the
    // close are queued like the rest, and run.)
    wait_for("the pool to close", || {
        let probe = pool.spawn_with(LOW, || ());
        probe.is_finished() && probe.join().is_err_and(|err| err.is_cancelled())
    });
    let refuse_all = |when: &str| {
        for lane in Priority::ALL {
            let drops = Arc::new(AtomicUsize::new(0));
            let ran = Arc::new(AtomicBool::new(false));
            let handle = {
                let (counter, ran) = (DropCounter(drops.clone()), ran.clone());
                pool.spawn_with(lane, move || {
                    let _counter = &counter;
                    ran.store(true, Ordering::SeqCst);
                })
            };
            assert!(
                handle.is_finished(),
                "{when}: a {lane:?} spawn was not resolved at once"
            );
            let err = handle.join().expect_err("a spawn after shutdown ran");
            assert!(err.is_cancelled(), "{when}, {lane:?}: {err:?}");
            assert!(!ran.load(Ordering::SeqCst));
            assert_eq!(
                drops.load(Ordering::SeqCst),
                1,
                "{when}: the closure was not dropped"
            );
        }
        let err = pool
            .spawn(|| ())
            .join()
            .expect_err("a spawn after shutdown ran");
        assert!(err.is_cancelled());
    };
    refuse_all("after the close, with work still queued");
    // shutdown() cannot return while the worker is held.
    assert!(
        !closer.is_finished(),
        "shutdown() returned with the worker still blocked"
    );

    gates.release();
    for handle in handles {
        join_within(handle, "a task queued before shutdown").expect("a queued task failed");
    }
    wait_for("shutdown() to return", || closer.is_finished());
    closer.join().unwrap();
    let counts =
        |counters: &[AtomicUsize; 3]| counters.each_ref().map(|c| c.load(Ordering::SeqCst));
    assert_eq!(
        counts(&ran),
        [PER_LANE; 3],
        "queued tasks per lane that ran"
    );
    // Parents i = 0..20 in each lane spawn a child in lane i % 3: 7, 7 and 6 per parent lane.
    assert_eq!(
        counts(&children),
        [21, 21, 18],
        "children per lane that ran"
    );
    refuse_all("after shutdown returned");
}

/// One task of the stress: checks its priority, counts its run, starts two children (one
/// inheriting, one in a random lane; the second is sometimes left to run detached) and a
/// recursive join.
struct Stress {
    pool: WorkerPool,
    probe: Probe,
    root_runs: Vec<AtomicUsize>,
    child_runs: Vec<AtomicUsize>,
    leaves: AtomicUsize,
    seed: u64,
}

impl Stress {
    fn root(self: &Arc<Self>, id: usize, expected: Priority) -> usize {
        self.probe.expect(expected, "stress root");
        self.root_runs[id].fetch_add(1, Ordering::SeqCst);
        let mut rng = Rng::new(self.seed ^ ((id as u64 + 1) << 8));
        let inherit = {
            let this = self.clone();
            let run = move || this.child(2 * id, expected);
            if rng.below(2) == 0 {
                stealpool::spawn(run)
            } else {
                self.pool.spawn(run)
            }
        };
        let lane = rng.lane();
        let named = {
            let this = self.clone();
            self.pool
                .spawn_with(lane, move || this.child(2 * id + 1, lane))
        };
        let depth = 3 + rng.below(2) as u32;
        let where_ran = Mutex::new(Vec::new());
        let leaves = join_tree(depth, expected, &self.probe, &where_ran);
        assert_eq!(leaves, 1 << depth);
        assert_eq!(
            where_ran.lock().unwrap().len(),
            1 << depth,
            "join leaves ran"
        );
        assert_on_workers(&where_ran, self.pool.num_threads());
        self.leaves.fetch_add(1 << depth, Ordering::SeqCst);
        assert_eq!(inherit.join().expect("an inheriting child failed"), 2 * id);
        if rng.below(3) == 0 {
            drop(named); // runs detached; counted after shutdown
        } else {
            assert_eq!(
                named.join().expect("a child in a named lane failed"),
                2 * id + 1
            );
        }
        self.probe.expect(expected, "stress root after its joins");
        id
    }

    fn child(&self, id: usize, expected: Priority) -> usize {
        self.probe.expect(expected, "stress child");
        self.child_runs[id].fetch_add(1, Ordering::SeqCst);
        let (a, b) = stealpool::join(
            || {
                self.probe.expect(expected, "stress child join a");
                id
            },
            || {
                self.probe.expect(expected, "stress child join b");
                id
            },
        );
        assert_eq!(a, b);
        a
    }
}

fn stress(width: usize, seed: u64) {
    const SUBMITTERS: usize = 3;
    const ROOTS: usize = 150;
    let pool = lane_pool(width, Some(4));
    let total = SUBMITTERS * ROOTS;
    let stress = Arc::new(Stress {
        pool: pool.clone(),
        probe: Probe::default(),
        root_runs: (0..total).map(|_| AtomicUsize::new(0)).collect(),
        child_runs: (0..2 * total).map(|_| AtomicUsize::new(0)).collect(),
        leaves: AtomicUsize::new(0),
        seed,
    });
    thread::scope(|s| {
        for t in 0..SUBMITTERS {
            let (stress, pool) = (stress.clone(), pool.clone());
            s.spawn(move || {
                let mut rng = Rng::new(seed * 131 + t as u64);
                let handles: Vec<_> = (0..ROOTS)
                    .map(|r| {
                        let id = t * ROOTS + r;
                        let this = stress.clone();
                        if rng.below(4) == 0 {
                            (id, pool.spawn(move || this.root(id, NORMAL)))
                        } else {
                            let lane = rng.lane();
                            (id, pool.spawn_with(lane, move || this.root(id, lane)))
                        }
                    })
                    .collect();
                for (id, handle) in handles {
                    assert_eq!(handle.join().expect("a root task failed"), id);
                }
            });
        }
    });
    pool.shutdown();
    for (what, runs) in [("root", &stress.root_runs), ("child", &stress.child_runs)] {
        let wrong: Vec<(usize, usize)> = runs
            .iter()
            .map(|c| c.load(Ordering::SeqCst))
            .enumerate()
            .filter(|&(_, n)| n != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "width {width}, seed {seed}: {what} tasks that did not run exactly once \
             (id, runs): {wrong:?}"
        );
    }
    let leaves = stress.leaves.load(Ordering::SeqCst);
    assert!(
        (8 * total..=16 * total).contains(&leaves),
        "width {width}: {leaves} join leaves in all"
    );
    // Root (1), children (2 + 2 join sides each), join sides (2 per join, 1 for the root):
    // far more than 10 checks per root.
    stress.probe.assert_clean(10 * total);
}

#[test]
fn stress_random_lanes_from_outside_and_inside() {
    let _watchdog = common::guard("stress_random_lanes_from_outside_and_inside");
    for (width, seed) in [(2, 1), (8, 2), (2, 3), (8, 4)] {
        stress(width, seed);
    }
}
