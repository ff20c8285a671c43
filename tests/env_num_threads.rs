//! STEALPOOL_NUM_THREADS. The environment is process-global, so this binary holds exactly one
//! test, which runs the cases one after the other.

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use stealpool::{NUM_THREADS_ENV, WorkerPool};

fn set_env(value: Option<&str>) {
    // SAFETY: this test binary has a single #[test], so no other test thread exists; the only
    // other threads are pool workers and the global pool's, which run nothing but the closures
    // in this file, none of which reads or writes the environment. The pools are built on
    // this thread. So nothing reads the environment while it is changed.
    unsafe {
        match value {
            Some(value) => std::env::set_var(NUM_THREADS_ENV, value),
            None => std::env::remove_var(NUM_THREADS_ENV),
        }
    }
}

fn width_of_builder() -> Result<usize, stealpool::BuildError> {
    let pool = WorkerPool::builder().build()?;
    let width = pool.num_threads();
    pool.shutdown();
    Ok(width)
}

fn width_of_new() -> usize {
    let pool = WorkerPool::new();
    let width = pool.num_threads();
    pool.shutdown();
    width
}

#[test]
fn stealpool_num_threads_env_var() {
    assert_eq!(NUM_THREADS_ENV, "STEALPOOL_NUM_THREADS");
    let default = num_cpus::get();

    set_env(None);
    assert_eq!(width_of_builder().unwrap(), default, "unset");
    assert_eq!(width_of_new(), default, "unset");

    set_env(Some("3"));
    assert_eq!(width_of_builder().unwrap(), 3, "\"3\"");
    assert_eq!(width_of_new(), 3, "\"3\"");
    assert_eq!(WorkerPool::default().num_threads(), 3, "Default, \"3\"");

    set_env(Some("1"));
    assert_eq!(width_of_builder().unwrap(), 1, "\"1\"");

    set_env(Some("0"));
    assert_eq!(
        width_of_builder().unwrap(),
        default,
        "\"0\" means the default"
    );
    assert_eq!(width_of_new(), default, "\"0\" means the default");

    for bad in ["abc", "99999", "-1", "1025", "2.5"] {
        set_env(Some(bad));
        let err = width_of_builder().expect_err(bad);
        assert_eq!(err.setting(), "STEALPOOL_NUM_THREADS", "{bad:?}");
        assert!(
            err.to_string().contains("STEALPOOL_NUM_THREADS"),
            "{bad:?}: {err}"
        );
        // `new` reports the bad value and falls back to the default instead of failing.
        assert_eq!(width_of_new(), default, "WorkerPool::new() with {bad:?}");
        // An explicit width does not look at the variable.
        let pool = WorkerPool::builder().num_threads(2).build().expect(bad);
        assert_eq!(pool.num_threads(), 2);
        pool.shutdown();
    }

    // The global pool, built on first use, honours the variable too: three tasks meeting at a
    // barrier occupy three distinct workers, all with indices below 3.
    set_env(Some("3"));
    let barrier = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        let (barrier, tx) = (barrier.clone(), tx.clone());
        drop(stealpool::spawn(move || {
            barrier.wait();
            tx.send(stealpool::current_thread_index()).unwrap();
        }));
    }
    let mut seen = BTreeSet::new();
    for _ in 0..3 {
        let index = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the global pool ran three tasks at once")
            .expect("on a worker");
        seen.insert(index);
    }
    assert_eq!(seen, BTreeSet::from([0, 1, 2]));
    for _ in 0..100 {
        let index = stealpool::spawn(stealpool::current_thread_index)
            .join()
            .unwrap()
            .unwrap();
        assert!(index < 3, "the global pool has more than 3 workers");
    }
    set_env(None);
}
