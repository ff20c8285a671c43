//! The items of `../shared/API.md` delivered so far, written exactly as the contract shows
//! them. If a name or signature drifts, this file stops compiling.

use std::future::Future;
use std::time::Duration;

use stealpool::{
    BuildError, JoinHandle, Metrics, PoolBuilder, Priority, Scope, SpawnError, TaskError,
    WorkerPool,
};

fn assert_pool_traits<P: Clone + Send + Sync + std::fmt::Debug>() {}
fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
fn assert_task_error<E: std::error::Error + Send + 'static>() {}
fn assert_handle<H: Future<Output = Result<u32, TaskError>> + Unpin + Send>() {}

#[test]
fn contract_types_have_the_promised_traits() {
    assert_pool_traits::<WorkerPool>();
    assert_error::<BuildError>();
    assert_task_error::<TaskError>();
    assert_handle::<JoinHandle<u32>>();
}

#[test]
fn building_a_pool_as_the_contract_shows() -> Result<(), BuildError> {
    let pool: WorkerPool = WorkerPool::new();
    assert!(pool.num_threads() >= 1);
    let builder: PoolBuilder = WorkerPool::builder();
    let pool = builder
        .num_threads(4)
        .thread_name(|i| format!("render-{i}"))
        .stack_size(8 << 20)
        .build()?;
    assert_eq!(pool.num_threads(), 4);
    Ok(())
}

#[test]
fn running_work_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    let handle: JoinHandle<u64> = pool.spawn(|| 2u64 + 2);
    assert!(matches!(handle.join(), Ok(4)));

    let local = [1, 2, 3];
    let sum: i32 = pool.install(|| local.iter().sum());
    assert_eq!(sum, 6);

    let n: usize = pool.num_threads();
    assert_eq!(n, 2);

    let free: JoinHandle<&str> = stealpool::spawn(|| "global");
    assert_eq!(free.join().unwrap(), "global");

    let index: Option<usize> = stealpool::current_thread_index();
    assert_eq!(index, None);
    let inside = pool.install(stealpool::current_thread_index);
    assert!(inside.is_some_and(|i| i < 2));
}

/// `pool.scope(|s: &Scope<'scope>| { s.spawn(|s| ...); }) -> R` with
/// `Scope::spawn<BODY>(&self, body: BODY) where BODY: FnOnce(&Scope<'scope>) + Send + 'scope`.
fn spawn_body<'scope, BODY>(s: &Scope<'scope>, body: BODY)
where
    BODY: FnOnce(&Scope<'scope>) + Send + 'scope,
{
    s.spawn(body);
}

#[test]
fn fork_join_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(2).build().unwrap();

    let (ra, rb): (u8, &str) = pool.join(|| 1u8, || "b");
    assert_eq!((ra, rb), (1, "b"));

    let mut cells = [0u32; 4];
    let r: usize = pool.scope(|s: &Scope<'_>| {
        for (i, cell) in cells.iter_mut().enumerate() {
            spawn_body(s, move |_s: &Scope<'_>| *cell = i as u32 * 10);
        }
        7
    });
    assert_eq!(r, 7);
    assert_eq!(cells, [0, 10, 20, 30]);

    let (x, y): (u64, u64) = stealpool::join(|| 2, || 3);
    assert_eq!(x * y, 6);
    let total: u32 = stealpool::scope(|s| {
        s.spawn(|_| ());
        42
    });
    assert_eq!(total, 42);
}

#[test]
fn priorities_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    let urgent: JoinHandle<u8> = pool.spawn_with(Priority::High, || 1);
    let batch: JoinHandle<u8> = pool.spawn_with(Priority::Low, || 2);
    let normal: JoinHandle<u8> = pool.spawn_with(Priority::Normal, || 3);
    assert_eq!(Priority::default(), Priority::Normal);
    assert_eq!(
        (
            urgent.join().unwrap(),
            batch.join().unwrap(),
            normal.join().unwrap()
        ),
        (1, 2, 3)
    );
}

#[test]
fn results_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(1).build().unwrap();
    let handle = pool.spawn(|| 5u32);
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(futures::executor::block_on(handle).unwrap(), 5);

    let err: TaskError = pool
        .spawn(|| -> u32 { panic!("contract") })
        .join()
        .unwrap_err();
    assert!(err.is_panic());
    assert!(!err.is_cancelled());
    assert!(err.to_string().contains("contract"));
    let payload: Box<dyn std::any::Any + Send> = err.into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"contract"));

    pool.shutdown();
    let refused = pool.spawn(|| 1u32).join().unwrap_err();
    assert!(refused.is_cancelled());
    assert!(!refused.is_panic());
}

#[test]
fn cancellation_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(1).build().unwrap();
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let running: JoinHandle<bool> = pool.spawn(move || {
        started_tx.send(()).unwrap();
        gate.recv().unwrap();
        stealpool::is_cancelled()
    });
    started.recv().unwrap();
    let queued: JoinHandle<u32> = pool.spawn(|| 1);
    let cancelled_before_start: bool = queued.cancel();
    assert!(cancelled_before_start);
    assert!(queued.join().unwrap_err().is_cancelled());
    let cancelled_while_running: bool = running.cancel();
    assert!(!cancelled_while_running);
    release.send(()).unwrap();
    assert!(
        running.join().unwrap(),
        "is_cancelled() inside the running task"
    );
    assert!(!stealpool::is_cancelled());
}

#[test]
fn try_spawn_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(1).build().unwrap();
    let spawned: Result<JoinHandle<u32>, SpawnError<_>> = pool.try_spawn(|| 3u32);
    assert_eq!(spawned.ok().unwrap().join().unwrap(), 3);
    pool.shutdown();
    let refused: Result<JoinHandle<u32>, SpawnError<_>> = pool.try_spawn(|| 4u32);
    let closure = refused.err().unwrap().into_inner();
    assert_eq!(closure(), 4);
}

#[test]
fn shutting_down_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    let done: JoinHandle<u8> = pool.spawn(|| 1);
    let finished: bool = pool.shutdown_timeout(Duration::from_secs(60));
    assert!(finished);
    assert_eq!(done.join().unwrap(), 1);

    let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    pool.shutdown_now();
    assert!(pool.spawn(|| 1u8).join().unwrap_err().is_cancelled());
    pool.shutdown();
}

#[test]
fn metrics_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    let ok: JoinHandle<u8> = pool.spawn(|| 1);
    let failed: JoinHandle<u8> = pool.spawn(|| panic!("contract check"));
    assert_eq!(ok.join().unwrap(), 1);
    assert!(failed.join().unwrap_err().is_panic());
    let m: Metrics = pool.metrics();
    let completed: u64 = m.completed();
    let panicked: u64 = m.panicked();
    let cancelled: u64 = m.cancelled();
    let stolen: u64 = m.stolen();
    let queued: usize = m.queued();
    let workers_replaced: u64 = m.workers_replaced();
    assert_eq!((completed, panicked, cancelled, queued), (2, 1, 0, 0));
    let _ = stolen;
    // Replacement happens after the panicked task has completed: it is 0 or 1 here.
    assert!(workers_replaced <= 1);
    fn traits<M: std::fmt::Debug + Clone + std::fmt::Display>(m: &M) -> String {
        format!("{m:?}{}", m.clone())
    }
    assert!(!traits(&m).is_empty());
}

// Stage 2, "Isolated waits and the rest of rayon-core's surface".

#[test]
fn rayon_core_surface_as_the_contract_shows() {
    let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    let width: usize = pool.install(stealpool::current_num_threads);
    assert_eq!(width, 2);
    let off_pool: Option<stealpool::Yield> = stealpool::yield_now();
    assert!(off_pool.is_none());
    let local: Option<stealpool::Yield> = pool.install(stealpool::yield_local);
    assert!(matches!(
        local,
        Some(stealpool::Yield::Executed | stealpool::Yield::Idle)
    ));
    let (a, b): (bool, u8) = stealpool::join_context(
        |ctx| ctx.migrated(),
        |ctx: stealpool::FnContext| u8::from(ctx.migrated()),
    );
    assert!(a && b == 1);
    // `build_global` is exercised in `global_pool.rs` (it changes the whole process); here only
    // its signature.
    let _: fn(PoolBuilder) -> Result<(), BuildError> = PoolBuilder::build_global;
    // isolate(op) -> R: on a worker, and on a thread outside any pool.
    let on_pool: u32 = pool.install(|| stealpool::isolate(|| stealpool::join(|| 1, || 2).1));
    assert_eq!(on_pool, 2);
    let off_pool: &str = stealpool::isolate(|| "just calls op");
    assert_eq!(off_pool, "just calls op");
    // block_in_place(op) -> R and PoolBuilder::max_blocking_threads(n).
    let blocking = WorkerPool::builder()
        .num_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let slept: u8 = blocking.install(|| stealpool::block_in_place(|| 3));
    assert_eq!(slept, 3);
    assert_eq!(stealpool::block_in_place(|| "off the pool"), "off the pool");
    // broadcast / spawn_broadcast / BroadcastContext, on a pool and on the current pool.
    let each: Vec<(usize, usize)> =
        pool.broadcast(|ctx: stealpool::BroadcastContext<'_>| (ctx.index(), ctx.num_threads()));
    assert_eq!(each, [(0, 2), (1, 2)]);
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    pool.spawn_broadcast(move |ctx| tx.lock().unwrap().send(ctx.index()).unwrap());
    assert_eq!(rx.iter().take(2).count(), 2);
    let current: Vec<usize> = pool.install(|| stealpool::broadcast(|ctx| ctx.index()));
    assert_eq!(current, [0, 1]);
    pool.install(|| stealpool::spawn_broadcast(|_| ()));
    // spawn_fifo / scope_fifo (ScopeFifo::spawn_fifo), on a pool and on the current pool.
    let fifo: JoinHandle<u8> = pool.spawn_fifo(|| 4);
    assert_eq!(fifo.join().unwrap(), 4);
    let fifo: JoinHandle<u8> = pool.install(|| stealpool::spawn_fifo(|| 5));
    assert_eq!(fifo.join().unwrap(), 5);
    let scoped: u8 = pool.scope_fifo(|s: &stealpool::ScopeFifo<'_>| {
        s.spawn_fifo(|_| ());
        6
    });
    assert_eq!(scoped, 6);
    pool.install(|| stealpool::scope_fifo(|s| s.spawn_fifo(|_| ())));
    // in_place_scope / in_place_scope_fifo: the body need not be Send.
    let local = std::rc::Rc::new(7);
    let in_place: i32 = pool.install(|| {
        let local = std::rc::Rc::new(1);
        stealpool::in_place_scope(|s| {
            s.spawn(|_| ());
            *local
        }) + stealpool::in_place_scope_fifo(|s| {
            s.spawn_fifo(|_| ());
            1
        })
    });
    assert_eq!(in_place + *local, 9);
    // scope.spawn_broadcast(op): op(&Scope, BroadcastContext) once per worker.
    let count = std::sync::atomic::AtomicUsize::new(0);
    pool.scope(|s| {
        s.spawn_broadcast(|_: &stealpool::Scope<'_>, _ctx| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        })
    });
    assert_eq!(count.into_inner(), 2);
    // min_threads(n) and keep_alive(d): an elastic pool (issue 14, item 5).
    let elastic = WorkerPool::builder()
        .num_threads(2)
        .min_threads(1)
        .keep_alive(Duration::from_millis(50))
        .build()
        .unwrap();
    assert_eq!(elastic.num_threads(), 2);
    assert_eq!(elastic.spawn(|| 1u8).join().unwrap(), 1);
}

// Stage 2, "Parallel iterators": every line of the contract's block.

#[test]
fn parallel_iterators_as_the_contract_shows() {
    use std::collections::HashMap;
    use stealpool::prelude::*;

    fn traits<I: ParallelIterator + IndexedParallelIterator>(_: &I) {}
    fn from<C: FromParallelIterator<u32>>() {}
    from::<Vec<u32>>();

    let n = 1000u32;
    let f = |x: u32| u64::from(x) * 2;
    let s = (0..n).into_par_iter().map(f).sum::<u64>();
    assert_eq!(s, 999_000);
    let v: Vec<u32> = (0..n).collect();
    let doubled = v.par_iter().map(|x| x * 2).collect::<Vec<_>>(); // order kept
    assert_eq!(doubled[999], 1998);
    let mut m = v.clone();
    m.par_iter_mut().for_each(|x| *x += 1);
    assert_eq!(m[0], 1);
    traits(&v.clone().into_par_iter());
    let _: usize = v.clone().into_par_iter().count();
    assert_eq!(v.par_chunks(10).count(), 100);
    m.par_chunks_mut(10).for_each(|c| c[0] = 0);
    assert_eq!(m[10], 0);
    // adapters
    let a: Vec<(usize, u32)> = v
        .par_iter()
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0)
        .filter_map(|x| (x % 4 == 0).then_some(x))
        .flat_map_iter(|x| [x, x])
        .inspect(|_| ())
        .collect::<Vec<_>>()
        .into_par_iter()
        .enumerate()
        .zip(v.par_iter().copied())
        .map(|((i, x), _)| (i, x))
        .with_min_len(4)
        .collect();
    assert_eq!(a.len(), 500);
    let c: Vec<u32> = v.par_iter().cloned().collect();
    assert_eq!(c, v);
    // consumers
    assert_eq!(
        (1..=10u64).product::<u64>(),
        (1..11u64).into_par_iter().product::<u64>()
    );
    assert_eq!(v.par_iter().count(), 1000);
    assert_eq!(v.par_iter().copied().reduce(|| 0, |a, b| a.max(b)), 999);
    let folded: u32 = v.par_iter().fold(|| 0u32, |acc, x| acc + x).sum();
    assert_eq!(folded, 499_500);
    let folded: u32 = v
        .par_iter()
        .fold(|| 0u32, |acc, x| acc + x)
        .reduce(|| 0, |a, b| a + b);
    assert_eq!(folded, 499_500);
    assert_eq!(v.par_iter().min(), Some(&0));
    assert_eq!(v.par_iter().max(), Some(&999));
    assert_eq!(v.par_iter().min_by_key(|x| 1000 - **x), Some(&999));
    assert_eq!(v.par_iter().max_by_key(|x| 1000 - **x), Some(&0));
    assert!(v.par_iter().any(|x| *x == 500));
    assert!(v.par_iter().all(|x| *x < 1000));
    assert!(v.par_iter().find_any(|x| **x == 7).is_some());
    let map: HashMap<u32, u32> = v.par_iter().map(|&x| (x, x)).collect();
    assert_eq!(map.len(), 1000);
    let text: String = vec!['a', 'b'].into_par_iter().collect();
    assert_eq!(text, "ab");
    // sorts
    let mut w = vec![3u32, 1, 2];
    w.par_sort();
    w.par_sort_unstable();
    w.par_sort_by_key(|x| *x);
    w.par_sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(w, [3, 2, 1]);
    // ranges of every primitive integer type, an untyped one included
    assert_eq!((0..1000).into_par_iter().count(), 1000);
    assert_eq!((0..10u8).into_par_iter().count(), 10);
    assert_eq!((0..10i8).into_par_iter().count(), 10);
    assert_eq!((0..10u16).into_par_iter().count(), 10);
    assert_eq!((0..10i16).into_par_iter().count(), 10);
    assert_eq!((0..10i32).into_par_iter().count(), 10);
    assert_eq!((0..10u64).into_par_iter().count(), 10);
    assert_eq!((0..10i64).into_par_iter().count(), 10);
    assert_eq!((0..10u128).into_par_iter().count(), 10);
    assert_eq!((0..10i128).into_par_iter().count(), 10);
    assert_eq!((0..10usize).into_par_iter().count(), 10);
    assert_eq!((0..10isize).into_par_iter().count(), 10);
    // inside pool.install they run on that pool
    let pool = WorkerPool::builder().num_threads(2).build().unwrap();
    let on: bool = pool.install(|| {
        (0..100)
            .into_par_iter()
            .all(|_| stealpool::current_thread_index().is_some())
    });
    assert!(on);
    fn refs<'a, T: IntoParallelRefIterator<'a> + IntoParallelRefMutIterator<'a> + ?Sized>() {}
    refs::<Vec<u32>>();
    fn slices<T: ParallelSlice<u32> + ParallelSliceMut<u32> + ?Sized>() {}
    slices::<[u32]>();
}
