//! `in_place_scope` and `in_place_scope_fifo`: the closure runs on the calling thread, the
//! tasks on the current pool (the global pool off every pool). One test, in its own binary,
//! because it shuts the global pool down.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Mutex;

#[test]
fn in_place_scope_on_and_off_the_pools() {
    // Off every pool: the closure here (it holds an Rc, which is not Send), the tasks on the
    // global pool's workers.
    let here = Rc::new(Cell::new(0));
    let places = Mutex::new(Vec::new());
    stealpool::in_place_scope(|s| {
        here.set(stealpool::current_thread_index().map_or(1, |_| 2));
        for _ in 0..4 {
            s.spawn(|_| {
                places
                    .lock()
                    .unwrap()
                    .push(stealpool::current_thread_index())
            });
        }
    });
    assert_eq!(here.get(), 1);
    let places = places.into_inner().unwrap();
    assert_eq!(places.len(), 4);
    assert!(places.iter().all(Option::is_some), "{places:?}");

    // On a worker of another pool: that pool runs the tasks.
    let pool = common::named_pool(2, "ips-");
    let on_pool = pool.install(|| {
        let seen = Mutex::new(Vec::new());
        stealpool::in_place_scope_fifo(|s| {
            for _ in 0..4 {
                s.spawn_fifo(|_| seen.lock().unwrap().push(common::on_thread_named("ips-")));
            }
        });
        seen.into_inner().unwrap()
    });
    assert_eq!(on_pool, [true; 4]);

    // After the global pool is shut down, the tasks run on the calling thread.
    assert!(stealpool::shutdown_global());
    let after = Mutex::new(Vec::new());
    stealpool::in_place_scope(|s| {
        for i in 0..3 {
            let after = &after;
            s.spawn(move |_| {
                after
                    .lock()
                    .unwrap()
                    .push((i, stealpool::current_thread_index()))
            });
        }
    });
    assert_eq!(
        after.into_inner().unwrap(),
        [(0, None), (1, None), (2, None)]
    );
}
