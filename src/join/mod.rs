//! `join(a, b)`: run two closures, potentially in parallel, with almost no cost when they end
//! up running one after the other.
//!
//! # Lazy sharing ("heartbeat" scheduling, driven by demand)
//!
//! A rayon-style join pushes `b` onto the worker's deque at every call so that a thief could
//! take it, and pops it back afterwards; on fine-grained recursion (a join at every node of
//! `fib`) those deque operations, with their fences, cost several times the work itself.
//! Here a join pushes only a *frame* (a pointer to `b`, which lives on the joining stack) onto
//! a per-worker list that no other thread reads, runs `a`, pops the frame and runs `b` itself:
//! no atomic read-modify-write and no fence on that path.
//!
//! Frames become stealable only when somebody wants work. A worker that finds another
//! worker's deque empty while looking for work sets that worker's *share request* flag. The
//! busy worker reads its own flag (a relaxed load of a line nobody else writes while it stays
//! set) at every join; when it is set, the worker clears it and pushes its **oldest** unshared
//! frame onto its deque, where the thief finds it. The oldest frame is the one nearest the root
//! of the recursion, so a thief gets the largest piece of work there is, and one request
//! moves a large share of the work, as in heartbeat scheduling (Acar, Charguéraud and Rainey,
//! PLDI 2018; Spice; chili). The difference from those is what sets the flag: not a timer
//! thread but the workers that are out of work, so a pool whose workers are all busy never
//! shares a frame, and an idle pool has no timer to wake. A thief that does take a frame sets
//! the victim's flag again, so that the victim puts its next-oldest frame on its deque at its
//! next join: the next steal then finds work at once instead of waiting for a join (worth
//! about 1% on a coarse recursion, where joins are tens of microseconds apart).
//!
//! A sleeping worker does not look for work, so it never asks: the outermost join of a task
//! (one that finds the worker holding no frame) wakes one to ask
//! (`WorkerThread::announce_splittable`); it gets the oldest frame at the next join.
//!
//! A worker that already holds `SPARE_FRAMES` (4) unshared frames, with no request pending,
//! records no frame at all for a new join: it runs `a` then `b` like plain function calls
//! (still under the panic rules below). A request takes the oldest frame, so a deeper one
//! would be shared only after those four, and by then most deeper joins have long returned;
//! as soon as frames are shared or popped, joins record frames again. On `fib` this makes
//! nearly every join cost a thread-local load, two compares and a flag load (on `fib(30)` on
//! one thread, it took a join from about twice the cost of the sequential call to about one
//! and a half times). chili does something similar: it records a job only when it holds
//! fewer than three, or every 64th join. The frames and the flag are [`Frames`] and
//! [`ShareRequest`] (`frames.rs`).
//!
//! When the join's `a` returns, its frame is popped. A frame that was never shared is run on
//! the spot. A shared frame is looked for on top of the worker's own deque (it is there unless
//! a thief took it; anything above it was pushed later and is run first, unless a higher
//! priority lane has work, which then goes first); if it was taken, the worker waits for it
//! while running other work (see `WorkerThread::wait_until`, which also shares the worker's
//! remaining frames first, so that what it cannot get to is not stuck).
//!
//! Panics: if `a` panics, `b` still runs (or is waited for) before the panic is re-raised, so no
//! side is left running over stack memory that unwinding frees; if both panic, `a`'s panic is
//! the one re-raised. This matches `rayon::join`.

mod frames;

use std::any::Any;
use std::mem;
use std::panic;

pub(crate) use frames::{Frames, ShareRequest};

use crate::job::{JobId, StackJob, StackOutcome};
use crate::registry::Registry;
use crate::worker::WorkerThread;

type Payload = Box<dyn Any + Send>;

/// What a closure given to [`join_context`](crate::join_context) learns about where it runs.
///
/// ```
/// let pool = stealpool::WorkerPool::builder().num_threads(2).build().unwrap();
/// let (a, b) = pool.install(|| {
///     stealpool::join_context(|ctx| ctx.migrated(), |ctx| ctx.migrated())
/// });
/// assert!(!a); // `a` always runs on the worker that called join_context
/// let _ = b; // `b` migrated if another worker took it
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FnContext {
    migrated: bool,
}

impl FnContext {
    /// True when the closure runs on another thread than the one that called `join_context`:
    /// `b` taken by another worker, or either closure when `join_context` was called off
    /// the pool (as rayon's does).
    pub fn migrated(&self) -> bool {
        self.migrated
    }
}

impl WorkerThread {
    /// `join_context` on the calling worker; `injected`: the caller is not this worker (the
    /// call came from off the pool), so both closures count as migrated.
    pub(crate) fn join_context<A, B, RA, RB>(&self, a: A, b: B, injected: bool) -> (RA, RB)
    where
        A: FnOnce(FnContext) -> RA + Send,
        B: FnOnce(FnContext) -> RB + Send,
        RA: Send,
        RB: Send,
    {
        // The joining worker, by address: `b` migrated when another worker runs it.
        let origin = std::ptr::from_ref(self) as usize;
        self.join(
            move || a(FnContext { migrated: injected }),
            move || {
                let here = WorkerThread::current().map(|w| std::ptr::from_ref(w) as usize);
                b(FnContext {
                    migrated: injected || here != Some(origin),
                })
            },
        )
    }
}

/// `join_context` on `registry`'s pool from a thread that is no worker of any pool (a worker
/// calls [`WorkerThread::join_context`]): both closures count as migrated.
pub(crate) fn join_context_on<A, B, RA, RB>(registry: &Registry, a: A, b: B) -> (RA, RB)
where
    A: FnOnce(FnContext) -> RA + Send,
    B: FnOnce(FnContext) -> RB + Send,
    RA: Send,
    RB: Send,
{
    registry.in_worker(|worker| match worker {
        Some(worker) => worker.join_context(a, b, true),
        None => join_here(
            || a(FnContext { migrated: true }),
            || b(FnContext { migrated: true }),
        ),
    })
}

/// `join` on `registry`'s pool: on the calling worker when it is one of the pool's, else on
/// one of them through [`Registry::in_worker`] (on a pool that was shut down, on the calling
/// thread).
pub(crate) fn join_on<A, B, RA, RB>(registry: &Registry, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    registry.in_worker(|worker| match worker {
        Some(worker) => worker.join(a, b),
        None => join_here(a, b),
    })
}

impl WorkerThread {
    /// `join` on the calling worker (see the module docs). `#[inline]`, like the other
    /// functions on the fast path, so that it is inlined into the caller whatever its crate's
    /// codegen units (see `unwind::catch_user`).
    #[inline]
    pub(crate) fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let frames = self.frames();
        if frames.has_spare() {
            return join_here(a, b);
        }
        if frames.is_empty() {
            self.announce_splittable();
        }
        let job_b = StackJob::new(b);
        // SAFETY: `job_b` stays in this stack frame until it has been consumed: run below by
        // this thread (never shared, or taken back from the deque), or executed by a thief,
        // which `wait_for_shared` waits for before this function returns or unwinds.
        let job_ref = unsafe { job_b.as_job_ref() };
        let id = job_ref.id();
        if let Some((oldest, lane)) = frames.push(job_ref, self.lane()) {
            // Somebody asked for work: the oldest frame goes where thieves look.
            self.push_lane(oldest, lane);
        }
        let result_a = crate::unwind::catch_user(a);
        let kept = frames.pop();
        let result_b = if kept {
            // SAFETY: the frame was never shared, so no other thread has seen the job.
            run_b(&result_a, || unsafe { job_b.run_inline() })
        } else {
            self.wait_for_shared(&job_b, id, &result_a)
        };
        both(result_a, result_b)
    }

    /// Makes every unshared frame stealable, oldest first. Called before a worker waits, so
    /// that the work it cannot get to meanwhile is not stuck behind it.
    pub(crate) fn share_all_frames(&self) {
        if self
            .frames()
            .share_all(|job, lane| self.push_quietly(job, lane))
        {
            self.registry().sleep.notify_work();
        }
    }

    /// The slow path: `job_b` (whose id is `id`) was shared. Takes it back from the deque if
    /// it is still there, running newer jobs found above it first; otherwise waits until its
    /// thief is done.
    #[cold]
    fn wait_for_shared<F, RB, RA>(
        &self,
        job_b: &StackJob<F, RB>,
        id: JobId,
        result_a: &Result<RA, Payload>,
    ) -> Result<RB, Payload>
    where
        F: FnOnce() -> RB + Send,
        RB: Send,
    {
        // Until `b` is back or done, a thief may hold a pointer into this stack frame: an
        // unwind from here would free it under the thief. Jobs catch their own panics, so
        // only a bug in the scheduler could unwind here; the guard makes that a clean abort
        // instead of a use-after-free.
        let guard = AbortOnUnwind;
        while !job_b.is_done() {
            // Running what lies above `b` on the deque is a task boundary like any other: if
            // a higher lane has work, the usual pick (in `wait_until`) goes first.
            if self.higher_lane_waits(self.lane()) {
                break;
            }
            match self.pop_local() {
                Some(job) if job.id() == id => {
                    // Taken back: nobody else can reach `b` now, and its panic may unwind.
                    mem::forget(guard);
                    // SAFETY: popping it from our own deque took it back: nobody else can
                    // execute it any more.
                    return run_b(result_a, || unsafe { job_b.run_inline() });
                }
                Some(job) => self.execute(job, self.lane()),
                // A thief has it.
                None => break,
            }
        }
        let outcome = job_b.wait();
        mem::forget(guard);
        match outcome {
            StackOutcome::Ok(rb) => Ok(rb),
            StackOutcome::Panic(payload) => Err(payload),
            // Jobs on a worker's deque are not aborted, but if it happens, run it here.
            StackOutcome::Aborted(func) => run_b(result_a, func),
        }
    }
}

/// Aborts the process if dropped while the thread unwinds (see `wait_for_shared`).
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "stealpool: a panic unwound out of a join while its frame was shared \
                 (a bug in stealpool); aborting rather than freeing memory a thief may use"
            );
            std::process::abort();
        }
    }
}

/// Runs `b` on this thread. When `a` has already panicked, `b`'s own panic is caught (and
/// later dropped in favour of `a`'s); otherwise it unwinds straight through the join.
#[inline]
fn run_b<RA, RB>(result_a: &Result<RA, Payload>, b: impl FnOnce() -> RB) -> Result<RB, Payload> {
    if result_a.is_ok() {
        Ok(b())
    } else {
        crate::unwind::catch_user(b)
    }
}

/// `a`, then `b`, on this thread, with the same panic rules: for a join that records no frame
/// (the worker has spare frames), or that no worker of the pool can run (the pool was shut
/// down and `in_worker` fell back to the calling thread).
#[inline]
pub(crate) fn join_here<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA,
    B: FnOnce() -> RB,
{
    let result_a = crate::unwind::catch_user(a);
    let result_b = run_b(&result_a, b);
    both(result_a, result_b)
}

/// Both results, or the panic to re-raise: `a`'s when both panicked.
#[inline]
fn both<RA, RB>(result_a: Result<RA, Payload>, result_b: Result<RB, Payload>) -> (RA, RB) {
    match (result_a, result_b) {
        (Ok(ra), Ok(rb)) => (ra, rb),
        (Err(payload), _) | (Ok(_), Err(payload)) => panic::resume_unwind(payload),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use crate::WorkerPool;
    use crate::worker::WorkerThread;

    /// `fib(n)` with a join at every node, setting in `ran` the bit of each worker that ran a
    /// leaf.
    fn fib_noting(n: u32, ran: &AtomicUsize) -> u64 {
        if n < 2 {
            if let Some(i) = crate::current_thread_index() {
                if ran.load(Ordering::Relaxed) & 1 << i == 0 {
                    ran.fetch_or(1 << i, Ordering::Relaxed);
                }
            }
            return u64::from(n);
        }
        let (a, b) = crate::join(|| fib_noting(n - 1, ran), || fib_noting(n - 2, ran));
        a + b
    }

    /// A join shares nothing until a worker asks, and a sleeping worker never asks. With both
    /// workers asleep and no request pending (no stale flag left by an earlier search), a
    /// join-heavy `install` must still wake the other worker: it used to run on one worker
    /// to the end, and, since the pool wakes its most recent sleeper first, every `install`
    /// after it too.
    #[test]
    fn the_first_join_of_a_task_wakes_a_sleeping_worker() {
        let pool = WorkerPool::builder().num_threads(2).build().unwrap();
        let registry = pool.install(|| WorkerThread::current().unwrap().registry().clone());
        let mut both = false;
        for _ in 0..5 {
            // Both asleep (nothing wakes an idle pool), then every request withdrawn.
            let deadline = Instant::now() + Duration::from_secs(30);
            while registry.sleep.sleepers() < 2 {
                assert!(Instant::now() < deadline, "the idle workers never slept");
                std::thread::sleep(Duration::from_millis(1));
            }
            for i in 0..2 {
                registry.share_request(i).clear();
            }
            let ran = AtomicUsize::new(0);
            assert_eq!(pool.install(|| fib_noting(25, &ran)), 75_025);
            if ran.load(Ordering::Relaxed) == 0b11 {
                both = true;
                break;
            }
        }
        assert!(both, "the sleeping worker never took a share, in 5 tries");
        pool.shutdown();
    }
}
