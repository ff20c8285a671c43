//! A worker's join frames and its share-request flag: the data of the lazy-sharing protocol
//! described in the [module docs](super).

use std::cell::{Cell, UnsafeCell};
use std::collections::VecDeque;

use crossbeam_utils::CachePadded;

use crate::job::JobRef;
use crate::loom::sync::Arc;
use crate::loom::sync::atomic::{AtomicBool, Ordering};

/// A join records no frame while the worker holds this many unshared frames (and nobody has
/// asked it to share): a request takes the oldest frame, so deeper ones would only be shared
/// after these, by which time most of them are gone.
const SPARE_FRAMES: usize = 4;

/// A worker's "share a join frame" flag, on its own cache line: set by a worker that found
/// this one's deque empty, cleared by its owner when it shares.
#[derive(Debug, Default)]
pub(crate) struct ShareRequest(CachePadded<AtomicBool>);

impl ShareRequest {
    /// Asks the owner to share a frame at its next join. Writes only when the flag is clear,
    /// so the owner's line is not pulled away again and again while it stays set.
    pub(crate) fn ask(&self) {
        if !self.0.load(Ordering::Relaxed) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    /// Relaxed: a request seen late only delays sharing; the wake-up that follows a share is
    /// ordered by `notify_work`'s fence.
    #[inline]
    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// The `b` sides of the joins a worker is inside, oldest first: a prefix that has been
/// shared (pushed onto the worker's deque, where thieves can take it), then the frames only
/// this worker knows about. Only the owning thread touches it.
pub(crate) struct Frames {
    /// How many of the oldest frames have been shared. Their jobs are on the deque (or taken
    /// by a thief), so only their number is kept.
    shared: Cell<usize>,
    /// The frames not shared yet, oldest at the front, each with the lane its join ran in.
    private: UnsafeCell<VecDeque<(JobRef, usize)>>,
    /// Set by other workers: share the oldest private frame at the next join.
    request: Arc<ShareRequest>,
}

impl Frames {
    pub(crate) fn new(request: Arc<ShareRequest>) -> Self {
        Frames {
            shared: Cell::new(0),
            private: UnsafeCell::new(VecDeque::with_capacity(2 * SPARE_FRAMES)),
            request,
        }
    }

    /// Runs `f` on the private frames.
    #[inline]
    fn with_private<R>(&self, f: impl FnOnce(&mut VecDeque<(JobRef, usize)>) -> R) -> R {
        // SAFETY: only the owning thread calls this (a `WorkerThread` is not `Sync` and lives
        // on its thread's stack), `f` never calls back into `Frames`, and the reference does
        // not outlive the call.
        f(unsafe { &mut *self.private.get() })
    }

    /// Has another worker asked this one for work since it last shared a frame?
    #[inline]
    pub(crate) fn wanted(&self) -> bool {
        self.request.is_set()
    }

    /// True when this worker already holds enough private frames and nobody has asked it to
    /// share: then a new join need not record a frame at all.
    #[inline]
    pub(crate) fn has_spare(&self) -> bool {
        self.with_private(|private| private.len() >= SPARE_FRAMES) && !self.request.is_set()
    }

    /// True when the worker is inside no join that recorded a frame (shared or not): the
    /// next join is the outermost one of its task that records one.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.shared.get() == 0 && self.with_private(|private| private.is_empty())
    }

    /// Records the `b` side of a join the worker has entered. If another worker asked for
    /// work since the last join, the oldest private frame comes back, to be pushed onto the
    /// worker's deque with its lane.
    #[inline]
    pub(crate) fn push(&self, job: JobRef, lane: usize) -> Option<(JobRef, usize)> {
        self.with_private(|private| private.push_back((job, lane)));
        if self.request.is_set() {
            self.share_oldest()
        } else {
            None
        }
    }

    #[cold]
    fn share_oldest(&self) -> Option<(JobRef, usize)> {
        self.request.clear();
        let oldest = self.with_private(VecDeque::pop_front);
        if oldest.is_some() {
            self.shared.set(self.shared.get() + 1);
        }
        oldest
    }

    /// Forgets the newest frame (its join is finishing). True if it was never shared, so the
    /// joining thread still owns its job alone; false if it was pushed onto the deque.
    #[inline]
    pub(crate) fn pop(&self) -> bool {
        if self.with_private(|private| private.pop_back()).is_some() {
            return true;
        }
        let shared = self.shared.get();
        debug_assert!(shared > 0, "a frame is popped by the join that pushed it");
        self.shared.set(shared - 1);
        false
    }

    /// Shares every private frame, oldest first, handing each to `push` (which puts it on
    /// the worker's deque and must not touch the frames). True if there was any.
    pub(crate) fn share_all(&self, mut push: impl FnMut(JobRef, usize)) -> bool {
        let shared = self.with_private(|private| {
            let n = private.len();
            for (job, lane) in private.drain(..) {
                push(job, lane);
            }
            n
        });
        self.shared.set(self.shared.get() + shared);
        shared > 0
    }
}
