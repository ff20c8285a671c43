//! The consumers behind `for_each`, `sum`, `collect` and the others. Each is a [`Piecewise`]:
//! a piece starts from a value, folds its items into it (statically dispatched, so a piece's
//! loop is the sequential loop), and two pieces' values combine left before right.

use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicBool, Ordering};

use std::mem::MaybeUninit;

use super::ParallelIterator;
use super::adapters::ZipProducer;
use super::bridge::bridge;
use super::on_pool;
use super::plumbing::{Consumer, Folder, Producer, ProducerCallback};
use super::slice::IterMut;

/// A consumer described piece by piece.
trait Piecewise<T>: Sync {
    /// A piece's value.
    type Acc: Send;
    /// The value of a piece without items.
    fn start(&self) -> Self::Acc;
    /// Folds the next items of a piece into its value.
    fn fold<I: Iterator<Item = T>>(&self, acc: Self::Acc, items: I) -> Self::Acc;
    /// The value of two adjacent pieces, `left` first.
    fn combine(&self, left: Self::Acc, right: Self::Acc) -> Self::Acc;
    /// The answer is known: the rest need not be looked at.
    fn done(&self) -> bool {
        false
    }
}

/// A [`Piecewise`] as a [`Consumer`].
struct Pieces<'a, W>(&'a W);

/// The folder of [`Pieces`].
struct PieceFolder<'a, W, A> {
    what: &'a W,
    acc: A,
}

impl<'a, T, W: Piecewise<T>> Consumer<T> for Pieces<'a, W> {
    type Folder = PieceFolder<'a, W, W::Acc>;
    type Result = W::Acc;

    fn folder(&self) -> PieceFolder<'a, W, W::Acc> {
        PieceFolder {
            what: self.0,
            acc: self.0.start(),
        }
    }

    fn combine(&self, left: W::Acc, right: W::Acc) -> W::Acc {
        self.0.combine(left, right)
    }

    fn done(&self) -> bool {
        self.0.done()
    }
}

impl<T, W: Piecewise<T>> Folder<T> for PieceFolder<'_, W, W::Acc> {
    type Result = W::Acc;

    fn consume_iter<I: Iterator<Item = T>>(self, items: I) -> Self {
        PieceFolder {
            acc: self.what.fold(self.acc, items),
            what: self.what,
        }
    }

    fn complete(self) -> W::Acc {
        self.acc
    }
}

/// Runs `iter` into `what` on a worker and returns the whole's value.
fn run<I: ParallelIterator, W: Piecewise<I::Item>>(iter: I, what: W) -> W::Acc {
    let consumer = Pieces(&what);
    on_pool(|| iter.drive_unindexed(&consumer))
}

struct ForEach<F>(F);
impl<T, F: Fn(T) + Sync> Piecewise<T> for ForEach<F> {
    type Acc = ();
    fn start(&self) {}
    fn fold<I: Iterator<Item = T>>(&self, (): (), items: I) {
        items.for_each(&self.0);
    }
    fn combine(&self, (): (), (): ()) {}
}

pub(super) fn for_each<I: ParallelIterator, F: Fn(I::Item) + Sync + Send>(iter: I, f: F) {
    run(iter, ForEach(f));
}

struct Sum<S>(std::marker::PhantomData<fn() -> S>);
impl<T, S> Piecewise<T> for Sum<S>
where
    S: Send + std::iter::Sum<T> + std::iter::Sum<S>,
{
    type Acc = S;
    fn start(&self) -> S {
        std::iter::empty::<T>().sum()
    }
    fn fold<I: Iterator<Item = T>>(&self, acc: S, items: I) -> S {
        [acc, items.sum::<S>()].into_iter().sum()
    }
    fn combine(&self, left: S, right: S) -> S {
        [left, right].into_iter().sum()
    }
}

pub(super) fn sum<I, S>(iter: I) -> S
where
    I: ParallelIterator,
    S: Send + std::iter::Sum<I::Item> + std::iter::Sum<S>,
{
    run(iter, Sum(std::marker::PhantomData))
}

struct Product<P>(std::marker::PhantomData<fn() -> P>);
impl<T, P> Piecewise<T> for Product<P>
where
    P: Send + std::iter::Product<T> + std::iter::Product<P>,
{
    type Acc = P;
    fn start(&self) -> P {
        std::iter::empty::<T>().product()
    }
    fn fold<I: Iterator<Item = T>>(&self, acc: P, items: I) -> P {
        [acc, items.product::<P>()].into_iter().product()
    }
    fn combine(&self, left: P, right: P) -> P {
        [left, right].into_iter().product()
    }
}

pub(super) fn product<I, P>(iter: I) -> P
where
    I: ParallelIterator,
    P: Send + std::iter::Product<I::Item> + std::iter::Product<P>,
{
    run(iter, Product(std::marker::PhantomData))
}

struct Count;
impl<T> Piecewise<T> for Count {
    type Acc = usize;
    fn start(&self) -> usize {
        0
    }
    fn fold<I: Iterator<Item = T>>(&self, acc: usize, items: I) -> usize {
        // A fold rather than `count`: after `filter`, this is the loop shape the compiler
        // vectorizes (measured: `Filter::count` stayed scalar inside the bridge's loop).
        items.fold(acc, |n, _| n + 1)
    }
    fn combine(&self, left: usize, right: usize) -> usize {
        left + right
    }
}

pub(super) fn count<I: ParallelIterator>(iter: I) -> usize {
    run(iter, Count)
}

struct Reduce<ID, OP> {
    identity: ID,
    op: OP,
}
impl<T: Send, ID, OP> Piecewise<T> for Reduce<ID, OP>
where
    ID: Fn() -> T + Sync,
    OP: Fn(T, T) -> T + Sync,
{
    type Acc = T;
    fn start(&self) -> T {
        (self.identity)()
    }
    fn fold<I: Iterator<Item = T>>(&self, acc: T, items: I) -> T {
        items.fold(acc, &self.op)
    }
    fn combine(&self, left: T, right: T) -> T {
        (self.op)(left, right)
    }
}

pub(super) fn reduce<I, ID, OP>(iter: I, identity: ID, op: OP) -> I::Item
where
    I: ParallelIterator,
    ID: Fn() -> I::Item + Sync + Send,
    OP: Fn(I::Item, I::Item) -> I::Item + Sync + Send,
{
    run(iter, Reduce { identity, op })
}

/// The least (`last` false: the first of equal ones) or greatest (`last` true: the last of
/// equal ones) item by `cmp`.
struct Extreme<F> {
    cmp: F,
    greatest: bool,
}

impl<F> Extreme<F> {
    fn pick<T>(&self, kept: T, next: T) -> T
    where
        F: Fn(&T, &T) -> CmpOrdering,
    {
        let order = (self.cmp)(&next, &kept);
        let take_next = if self.greatest {
            order != CmpOrdering::Less
        } else {
            order == CmpOrdering::Less
        };
        if take_next { next } else { kept }
    }
}

impl<T: Send, F: Fn(&T, &T) -> CmpOrdering + Sync> Piecewise<T> for Extreme<F> {
    type Acc = Option<T>;
    fn start(&self) -> Option<T> {
        None
    }
    fn fold<I: Iterator<Item = T>>(&self, acc: Option<T>, items: I) -> Option<T> {
        items.fold(acc, |kept, next| match kept {
            None => Some(next),
            Some(kept) => Some(self.pick(kept, next)),
        })
    }
    fn combine(&self, left: Option<T>, right: Option<T>) -> Option<T> {
        match (left, right) {
            (Some(l), Some(r)) => Some(self.pick(l, r)),
            (l, r) => l.or(r),
        }
    }
}

pub(super) fn min_by<I, F>(iter: I, cmp: F) -> Option<I::Item>
where
    I: ParallelIterator,
    F: Fn(&I::Item, &I::Item) -> CmpOrdering + Sync + Send,
{
    run(
        iter,
        Extreme {
            cmp,
            greatest: false,
        },
    )
}

pub(super) fn max_by<I, F>(iter: I, cmp: F) -> Option<I::Item>
where
    I: ParallelIterator,
    F: Fn(&I::Item, &I::Item) -> CmpOrdering + Sync + Send,
{
    run(
        iter,
        Extreme {
            cmp,
            greatest: true,
        },
    )
}

/// `any` and `find_any`: a piece stops at its first match, and tells the others to stop.
struct Find<P> {
    pred: P,
    found: AtomicBool,
}

impl<T: Send, P: Fn(&T) -> bool + Sync> Piecewise<T> for Find<P> {
    type Acc = Option<T>;
    fn start(&self) -> Option<T> {
        None
    }
    fn fold<I: Iterator<Item = T>>(&self, acc: Option<T>, mut items: I) -> Option<T> {
        if acc.is_some() || self.done() {
            return acc;
        }
        let hit = items.find(|item| (self.pred)(item));
        if hit.is_some() {
            self.found.store(true, Ordering::Relaxed);
        }
        hit
    }
    fn combine(&self, left: Option<T>, right: Option<T>) -> Option<T> {
        left.or(right)
    }
    fn done(&self) -> bool {
        self.found.load(Ordering::Relaxed)
    }
}

pub(super) fn find_any<I, P>(iter: I, pred: P) -> Option<I::Item>
where
    I: ParallelIterator,
    P: Fn(&I::Item) -> bool + Sync + Send,
{
    run(
        iter,
        Find {
            pred,
            found: AtomicBool::new(false),
        },
    )
}

pub(super) fn any<I, P>(iter: I, pred: P) -> bool
where
    I: ParallelIterator,
    P: Fn(I::Item) -> bool + Sync + Send,
{
    find_any(iter.map(pred), |hit| *hit).is_some()
}

/// Collects each piece into a `Vec`; the pieces' vectors stay in order.
struct CollectVec;
impl<T: Send> Piecewise<T> for CollectVec {
    type Acc = Vec<Vec<T>>;
    fn start(&self) -> Vec<Vec<T>> {
        Vec::new()
    }
    fn fold<I: Iterator<Item = T>>(&self, mut acc: Vec<Vec<T>>, items: I) -> Vec<Vec<T>> {
        match acc.last_mut() {
            Some(last) => last.extend(items),
            None => acc.push(items.collect()),
        }
        acc
    }
    fn combine(&self, mut left: Vec<Vec<T>>, right: Vec<Vec<T>>) -> Vec<Vec<T>> {
        left.extend(right);
        left
    }
}

/// Items one piece has written into a run of adjacent slots of a vector's spare capacity.
/// Dropped (when a panic unwinds through the collect), it drops those items, so that none is
/// leaked; the collect forgets it once every slot is written and the vector owns them.
struct Written<T> {
    start: *mut T,
    len: usize,
}

// SAFETY: a `Written` stands for `len` initialized items of type `T` that it may drop: moving
// it to another thread moves those items, which `T: Send` allows.
unsafe impl<T: Send> Send for Written<T> {}

impl<T> Drop for Written<T> {
    fn drop(&mut self) {
        // SAFETY: `start..start + len` are slots this piece initialized (one `write` each),
        // inside the vector's allocation, which outlives the collect; nobody else drops them:
        // the vector's length is still 0, and a successful collect forgets every `Written`.
        unsafe { std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.start, self.len)) }
    }
}

/// The slots one call of [`WriteSlots::fold`] wrote: `count` adjacent slots ending at `last`.
/// Dropped, also by unwinding, it adds them to the piece's runs: the loop that writes the
/// items keeps only the last slot and the count, so that it runs from the step's first item
/// as the sequential loop would (peeling the first item off to learn where the run starts
/// shifted the vectorized loop by one item, off the alignment the steps keep; see `bridge`).
struct RunEnd<'r, T> {
    runs: &'r mut Vec<Written<T>>,
    last: *mut T,
    count: usize,
}

impl<T> Drop for RunEnd<'_, T> {
    fn drop(&mut self) {
        if self.count == 0 {
            return;
        }
        let start = self.last.wrapping_sub(self.count - 1);
        match self.runs.last_mut() {
            Some(run) if run.start.wrapping_add(run.len) == start => run.len += self.count,
            _ => self.runs.push(Written {
                start,
                len: self.count,
            }),
        }
    }
}

/// Writes each item into its slot, keeping the runs of written slots.
struct WriteSlots;
impl<'s, T: Send + 's> Piecewise<(T, &'s mut MaybeUninit<T>)> for WriteSlots {
    type Acc = Vec<Written<T>>;
    fn start(&self) -> Vec<Written<T>> {
        Vec::new()
    }
    fn fold<I: Iterator<Item = (T, &'s mut MaybeUninit<T>)>>(
        &self,
        mut runs: Vec<Written<T>>,
        items: I,
    ) -> Vec<Written<T>> {
        // One call's slots are adjacent (one step of one piece), so the last slot and the
        // count say which were written.
        let mut end = RunEnd {
            runs: &mut runs,
            last: std::ptr::null_mut(),
            count: 0,
        };
        for (item, slot) in items {
            end.last = slot.write(item);
            end.count += 1;
        }
        drop(end);
        runs
    }
    fn combine(&self, mut left: Vec<Written<T>>, right: Vec<Written<T>>) -> Vec<Written<T>> {
        left.extend(right);
        left
    }
}

/// `collect` of an indexed iterator: each item goes straight into its place in the `Vec`
/// (the producer zipped with the vector's spare capacity), with no intermediate vectors.
struct CollectInPlace;

impl<T: Send> ProducerCallback<T> for CollectInPlace {
    type Output = Vec<T>;

    fn callback<P: Producer<Item = T>>(self, producer: P) -> Vec<T> {
        let len = producer.len();
        let mut vec: Vec<T> = Vec::with_capacity(len);
        let runs = {
            let slots = IterMut::new(&mut vec.spare_capacity_mut()[..len]);
            let pairs = ZipProducer::new(producer, slots);
            let consumer = Pieces(&WriteSlots);
            on_pool(|| bridge(pairs, &consumer))
        };
        // A producer that yields fewer items than its length leaves slots unwritten: refuse
        // it (the runs drop what was written).
        let written: usize = runs.iter().map(|run| run.len).sum();
        assert_eq!(
            written, len,
            "an indexed parallel iterator produced fewer items than its length"
        );
        // The vector takes the items over.
        for run in runs {
            std::mem::forget(run);
        }
        // SAFETY: the slots `0..len` are the spare capacity of `vec`, and the runs, which
        // cover `written == len` slots written once each (the zip hands out each slot once),
        // initialized all of them; the runs were forgotten, so nothing else drops them.
        unsafe { vec.set_len(len) };
        vec
    }
}

/// The items in order, in one `Vec`.
pub(super) fn collect_vec<I: ParallelIterator>(iter: I) -> Vec<I::Item> {
    let iter = match iter.with_producer_if_indexed(CollectInPlace) {
        Ok(vec) => return vec,
        Err((iter, _)) => iter,
    };
    let mut pieces = run(iter, CollectVec);
    if pieces.len() == 1 {
        return pieces.pop().unwrap_or_default();
    }
    let mut all = Vec::with_capacity(pieces.iter().map(Vec::len).sum());
    for mut piece in pieces {
        all.append(&mut piece);
    }
    all
}
