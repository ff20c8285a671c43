//! The global pool set up with `build_global` and shut down with `shutdown_global`: one test
//! in a binary of its own, since both change state for the whole process.

mod common;

use stealpool::WorkerPool;

#[test]
fn build_global_sets_up_the_global_pool_once_and_shutdown_global_ends_it() {
    let _watchdog =
        common::guard("build_global_sets_up_the_global_pool_once_and_shutdown_global_ends_it");
    assert!(!stealpool::shutdown_global(), "no global pool yet");
    WorkerPool::builder()
        .num_threads(3)
        .thread_name(|i| format!("my-global-{i}"))
        .build_global()
        .unwrap();
    assert_eq!(stealpool::current_num_threads(), 3);
    let name = stealpool::spawn(|| std::thread::current().name().map(str::to_owned));
    let name = common::join_within(name, "a task on the global pool").unwrap();
    assert!(name.is_some_and(|n| n.starts_with("my-global-")));
    // Only once.
    let err = WorkerPool::builder().build_global().unwrap_err();
    assert_eq!(err.setting(), "build_global");
    assert!(err.to_string().contains("exists already"), "{err}");
    // Shut down: the threads are gone when it returns, and the free functions keep working
    // without them (spawns refused, joins and scopes on the calling thread).
    assert!(stealpool::shutdown_global());
    assert_eq!(common::threads_named("my-global-"), 0);
    let refused = stealpool::spawn(|| 1);
    assert!(
        common::join_within(refused, "a refused spawn")
            .unwrap_err()
            .is_cancelled()
    );
    assert_eq!(stealpool::join(|| 1, || 2), (1, 2));
    let mut written = 0;
    stealpool::scope(|s| s.spawn(|_| written = 7));
    assert_eq!(written, 7);
    assert!(
        stealpool::shutdown_global(),
        "shutting down again is harmless"
    );
}
