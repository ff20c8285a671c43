//! The pools under test, built as the benches have always built them: stealpool's
//! `WorkerPool`, a rayon `ThreadPool`, a chili `ThreadPool`, a `threadpool::ThreadPool`, a
//! tokio runtime whose blocking pool runs `spawn_blocking` tasks, and a tokio runtime whose
//! worker threads run async tasks.

use std::num::NonZero;
use std::time::Duration;

use stealpool::{PoolBuilder, WorkerPool};

/// Thread names of the pools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Names {
    /// `sp-{i}`, `rayon-{i}`, `threadpool`, `tokio` (spawn, priority).
    Named,
    /// Each library's default (fork_join).
    Default,
}

/// A stealpool builder for `threads` workers, for a bench to add its own settings to before
/// [`build_stealpool`].
pub fn stealpool_builder(threads: usize, names: Names) -> PoolBuilder {
    let builder = WorkerPool::builder().num_threads(threads);
    match names {
        Names::Named => builder.thread_name(|i| format!("sp-{i}")),
        Names::Default => builder,
    }
}

/// Builds the pool; `what` names it if that fails.
pub fn build_stealpool(builder: PoolBuilder, what: &str) -> WorkerPool {
    builder
        .build()
        .unwrap_or_else(|err| panic!("failed to build the {what} pool: {err}"))
}

/// stealpool with `threads` workers and nothing else set.
pub fn stealpool(threads: usize, names: Names) -> WorkerPool {
    build_stealpool(stealpool_builder(threads, names), "stealpool")
}

pub fn rayon(threads: usize, names: Names) -> rayon::ThreadPool {
    let builder = rayon::ThreadPoolBuilder::new().num_threads(threads);
    let builder = match names {
        Names::Named => builder.thread_name(|i| format!("rayon-{i}")),
        Names::Default => builder,
    };
    builder.build().expect("failed to build the rayon pool")
}

/// chili counts the calling thread among its `thread_count`: `threads - 1` worker threads
/// plus the thread that enters a scope (its heartbeat thread only ticks while a scope is
/// alive).
pub fn chili(threads: usize) -> chili::ThreadPool {
    chili::ThreadPool::with_config(chili::Config {
        thread_count: Some(NonZero::new(threads).expect("at least one thread")),
        ..Default::default()
    })
}

/// threadpool's threads are all named `threadpool`.
pub fn threadpool(threads: usize) -> threadpool::ThreadPool {
    threadpool::Builder::new()
        .num_threads(threads)
        .thread_name("threadpool".to_owned())
        .build()
}

/// A tokio runtime for `spawn_blocking`: blocking tasks run on its blocking pool, capped at
/// `threads` threads. The runtime also needs at least one (async) worker thread, which stays
/// idle apart from driving `block_on` wake-ups. Threads are named `tokio`.
pub fn tokio_blocking(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(threads)
        .thread_name("tokio")
        .build()
        .expect("failed to build the tokio runtime")
}

/// A tokio runtime whose `threads` worker threads run async tasks (`tokio::spawn`, or
/// `Runtime::spawn` from outside), as the `waits` bench needs for `tokio::task::block_in_place`
/// (which hands the worker's place to another thread while the closure blocks). Threads are
/// named `tokio`.
pub fn tokio_workers(threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("tokio")
        .build()
        .expect("failed to build the tokio runtime")
}

/// One pool of any of the kinds the spawn and priority benches compare.
pub enum Pool {
    Stealpool(WorkerPool),
    Rayon(rayon::ThreadPool),
    Threadpool(threadpool::ThreadPool),
    Tokio(tokio::runtime::Runtime),
}

impl Pool {
    /// Stops the pool and waits for its threads where the API allows it.
    pub fn shutdown(self) {
        match self {
            Pool::Stealpool(pool) => pool.shutdown(),
            // Dropping a rayon pool tells its threads to exit.
            Pool::Rayon(pool) => drop(pool),
            Pool::Threadpool(pool) => {
                pool.join();
                drop(pool);
            }
            Pool::Tokio(rt) => rt.shutdown_timeout(Duration::from_secs(5)),
        }
    }
}
