//! The adapters. Each wraps the consumer it is driven into: a piece's items pass through the
//! adapter on their way into the piece's folder ([`PieceOp`], [`Adapted`]). The indexed ones
//! (`map`, `inspect`, `copied`, `cloned`, `enumerate`, `zip`, `with_min_len`) also wrap the
//! producer, so that they stay indexed.

use super::bridge::bridge;
use super::plumbing::{Consumer, Folder, Producer, ProducerCallback};
use super::{IndexedParallelIterator, ParallelIterator};

/// Drives a producer through the bridge into a consumer: how an indexed iterator is driven.
pub(super) struct Bridge<'c, C>(pub(super) &'c C);

impl<T, C: Consumer<T>> ProducerCallback<T> for Bridge<'_, C> {
    type Output = C::Result;
    fn callback<P: Producer<Item = T>>(self, producer: P) -> C::Result {
        bridge(producer, self.0)
    }
}

/// What an adapter does to the items of one piece, as a sequential iterator adapter.
trait PieceOp<T>: Sync {
    type Out;
    fn apply<I: Iterator<Item = T>>(&self, items: I) -> impl Iterator<Item = Self::Out>;
}

/// A consumer whose folders pass each piece's items through `op` first.
struct Adapted<'a, C, A> {
    inner: &'a C,
    op: &'a A,
}

struct AdaptedFolder<'a, Fo, A> {
    inner: Fo,
    op: &'a A,
}

impl<'a, T, C, A> Consumer<T> for Adapted<'a, C, A>
where
    A: PieceOp<T>,
    C: Consumer<A::Out>,
{
    type Folder = AdaptedFolder<'a, C::Folder, A>;
    type Result = C::Result;

    fn folder(&self) -> Self::Folder {
        AdaptedFolder {
            inner: self.inner.folder(),
            op: self.op,
        }
    }

    fn combine(&self, left: C::Result, right: C::Result) -> C::Result {
        self.inner.combine(left, right)
    }

    fn done(&self) -> bool {
        self.inner.done()
    }
}

impl<T, Fo, A> Folder<T> for AdaptedFolder<'_, Fo, A>
where
    A: PieceOp<T>,
    Fo: Folder<A::Out>,
{
    type Result = Fo::Result;

    fn consume_iter<I: Iterator<Item = T>>(self, items: I) -> Self {
        AdaptedFolder {
            inner: self.inner.consume_iter(self.op.apply(items)),
            op: self.op,
        }
    }

    fn complete(self) -> Fo::Result {
        self.inner.complete()
    }
}

/// Declares an adapter struct over a base iterator, with its constructor.
macro_rules! adapter_struct {
    ($(#[$doc:meta])* $name:ident { $($field:ident: $ty:ident),* }) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        #[must_use = "parallel iterators do nothing until consumed"]
        pub struct $name<I, $($ty),*> {
            base: I,
            $($field: $ty,)*
        }

        impl<I, $($ty),*> $name<I, $($ty),*> {
            pub(super) fn new(base: I, $($field: $ty),*) -> Self {
                $name { base, $($field),* }
            }
        }
    };
}

adapter_struct!(
    /// [`ParallelIterator::map`]'s iterator.
    Map { f: F }
);
adapter_struct!(
    /// [`ParallelIterator::filter`]'s iterator.
    Filter { pred: P }
);
adapter_struct!(
    /// [`ParallelIterator::filter_map`]'s iterator.
    FilterMap { f: F }
);
adapter_struct!(
    /// [`ParallelIterator::flat_map_iter`]'s iterator.
    FlatMapIter { f: F }
);
adapter_struct!(
    /// [`ParallelIterator::inspect`]'s iterator.
    Inspect { f: F }
);
adapter_struct!(
    /// [`ParallelIterator::fold`]'s iterator: one accumulator per piece.
    Fold { identity: ID, op: F }
);
/// [`IndexedParallelIterator::with_min_len`]'s iterator.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct MinLen<I> {
    base: I,
    min: usize,
}

impl<I> MinLen<I> {
    pub(super) fn new(base: I, min: usize) -> Self {
        MinLen { base, min }
    }
}

/// [`ParallelIterator::copied`]'s iterator.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct Copied<I> {
    base: I,
}

impl<I> Copied<I> {
    pub(super) fn new(base: I) -> Self {
        Copied { base }
    }
}

/// [`ParallelIterator::cloned`]'s iterator.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct Cloned<I> {
    base: I,
}

impl<I> Cloned<I> {
    pub(super) fn new(base: I) -> Self {
        Cloned { base }
    }
}

/// [`IndexedParallelIterator::enumerate`]'s iterator.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct Enumerate<I> {
    base: I,
}

impl<I> Enumerate<I> {
    pub(super) fn new(base: I) -> Self {
        Enumerate { base }
    }
}

/// [`IndexedParallelIterator::zip`]'s iterator.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct Zip<A, B> {
    a: A,
    b: B,
}

impl<A, B> Zip<A, B> {
    pub(super) fn new(a: A, b: B) -> Self {
        Zip { a, b }
    }
}

// ---- The piece operations -------------------------------------------------------------

struct MapOp<F>(F);
impl<T, R, F: Fn(T) -> R + Sync> PieceOp<T> for MapOp<F> {
    type Out = R;
    fn apply<I: Iterator<Item = T>>(&self, items: I) -> impl Iterator<Item = R> {
        items.map(&self.0)
    }
}

struct FilterOp<P>(P);
impl<T, P: Fn(&T) -> bool + Sync> PieceOp<T> for FilterOp<P> {
    type Out = T;
    fn apply<I: Iterator<Item = T>>(&self, items: I) -> impl Iterator<Item = T> {
        items.filter(|item| (self.0)(item))
    }
}

struct FilterMapOp<F>(F);
impl<T, R, F: Fn(T) -> Option<R> + Sync> PieceOp<T> for FilterMapOp<F> {
    type Out = R;
    fn apply<I: Iterator<Item = T>>(&self, items: I) -> impl Iterator<Item = R> {
        items.filter_map(&self.0)
    }
}

struct FlatMapOp<F>(F);
impl<T, U: IntoIterator, F: Fn(T) -> U + Sync> PieceOp<T> for FlatMapOp<F> {
    type Out = U::Item;
    fn apply<I: Iterator<Item = T>>(&self, items: I) -> impl Iterator<Item = U::Item> {
        items.flat_map(&self.0)
    }
}

struct InspectOp<F>(F);
impl<T, F: Fn(&T) + Sync> PieceOp<T> for InspectOp<F> {
    type Out = T;
    fn apply<I: Iterator<Item = T>>(&self, items: I) -> impl Iterator<Item = T> {
        items.inspect(&self.0)
    }
}

struct CopiedOp;
impl<'a, T: Copy + 'a> PieceOp<&'a T> for CopiedOp {
    type Out = T;
    fn apply<I: Iterator<Item = &'a T>>(&self, items: I) -> impl Iterator<Item = T> {
        items.copied()
    }
}

struct ClonedOp;
impl<'a, T: Clone + 'a> PieceOp<&'a T> for ClonedOp {
    type Out = T;
    fn apply<I: Iterator<Item = &'a T>>(&self, items: I) -> impl Iterator<Item = T> {
        items.cloned()
    }
}

// ---- ParallelIterator for the consumer-wrapping adapters ------------------------------

impl<I, F, R> ParallelIterator for Map<I, F>
where
    I: ParallelIterator,
    F: Fn(I::Item) -> R + Sync + Send,
    R: Send,
{
    type Item = R;
    fn drive_unindexed<C: Consumer<R>>(self, consumer: &C) -> C::Result {
        let op = MapOp(self.f);
        self.base.drive_unindexed(&Adapted {
            inner: consumer,
            op: &op,
        })
    }
    fn with_producer_if_indexed<CB: ProducerCallback<R>>(
        self,
        cb: CB,
    ) -> Result<CB::Output, (Self, CB)> {
        match self
            .base
            .with_producer_if_indexed(MapCallback { cb, f: self.f })
        {
            Ok(out) => Ok(out),
            Err((base, MapCallback { cb, f })) => Err((Map { base, f }, cb)),
        }
    }
}

impl<I, P> ParallelIterator for Filter<I, P>
where
    I: ParallelIterator,
    P: Fn(&I::Item) -> bool + Sync + Send,
{
    type Item = I::Item;
    fn drive_unindexed<C: Consumer<I::Item>>(self, consumer: &C) -> C::Result {
        let op = FilterOp(self.pred);
        self.base.drive_unindexed(&Adapted {
            inner: consumer,
            op: &op,
        })
    }
}

impl<I, F, R> ParallelIterator for FilterMap<I, F>
where
    I: ParallelIterator,
    F: Fn(I::Item) -> Option<R> + Sync + Send,
    R: Send,
{
    type Item = R;
    fn drive_unindexed<C: Consumer<R>>(self, consumer: &C) -> C::Result {
        let op = FilterMapOp(self.f);
        self.base.drive_unindexed(&Adapted {
            inner: consumer,
            op: &op,
        })
    }
}

impl<I, F, U> ParallelIterator for FlatMapIter<I, F>
where
    I: ParallelIterator,
    F: Fn(I::Item) -> U + Sync + Send,
    U: IntoIterator,
    U::Item: Send,
{
    type Item = U::Item;
    fn drive_unindexed<C: Consumer<U::Item>>(self, consumer: &C) -> C::Result {
        let op = FlatMapOp(self.f);
        self.base.drive_unindexed(&Adapted {
            inner: consumer,
            op: &op,
        })
    }
}

impl<I, F> ParallelIterator for Inspect<I, F>
where
    I: ParallelIterator,
    F: Fn(&I::Item) + Sync + Send,
{
    type Item = I::Item;
    fn drive_unindexed<C: Consumer<I::Item>>(self, consumer: &C) -> C::Result {
        let op = InspectOp(self.f);
        self.base.drive_unindexed(&Adapted {
            inner: consumer,
            op: &op,
        })
    }
}

impl<'a, I, T> ParallelIterator for Copied<I>
where
    I: ParallelIterator<Item = &'a T>,
    T: 'a + Copy + Send + Sync,
{
    type Item = T;
    fn drive_unindexed<C: Consumer<T>>(self, consumer: &C) -> C::Result {
        self.base.drive_unindexed(&Adapted {
            inner: consumer,
            op: &CopiedOp,
        })
    }
    fn with_producer_if_indexed<CB: ProducerCallback<T>>(
        self,
        cb: CB,
    ) -> Result<CB::Output, (Self, CB)> {
        let copy = |item: &T| *item;
        match self
            .base
            .with_producer_if_indexed(MapCallback { cb, f: copy })
        {
            Ok(out) => Ok(out),
            Err((base, MapCallback { cb, .. })) => Err((Copied { base }, cb)),
        }
    }
}

impl<'a, I, T> ParallelIterator for Cloned<I>
where
    I: ParallelIterator<Item = &'a T>,
    T: 'a + Clone + Send + Sync,
{
    type Item = T;
    fn drive_unindexed<C: Consumer<T>>(self, consumer: &C) -> C::Result {
        self.base.drive_unindexed(&Adapted {
            inner: consumer,
            op: &ClonedOp,
        })
    }
    fn with_producer_if_indexed<CB: ProducerCallback<T>>(
        self,
        cb: CB,
    ) -> Result<CB::Output, (Self, CB)> {
        match self
            .base
            .with_producer_if_indexed(MapCallback { cb, f: T::clone })
        {
            Ok(out) => Ok(out),
            Err((base, MapCallback { cb, .. })) => Err((Cloned { base }, cb)),
        }
    }
}

// ---- fold: one accumulator per piece --------------------------------------------------

struct FoldConsumer<'a, C, ID, F> {
    inner: &'a C,
    identity: &'a ID,
    op: &'a F,
}

struct FoldFolder<'a, Fo, T, F> {
    inner: Fo,
    acc: T,
    op: &'a F,
}

impl<'a, Item, T, C, ID, F> Consumer<Item> for FoldConsumer<'a, C, ID, F>
where
    C: Consumer<T>,
    ID: Fn() -> T + Sync,
    F: Fn(T, Item) -> T + Sync,
    T: Send,
{
    type Folder = FoldFolder<'a, C::Folder, T, F>;
    type Result = C::Result;

    fn folder(&self) -> Self::Folder {
        FoldFolder {
            inner: self.inner.folder(),
            acc: (self.identity)(),
            op: self.op,
        }
    }

    fn combine(&self, left: C::Result, right: C::Result) -> C::Result {
        self.inner.combine(left, right)
    }

    fn done(&self) -> bool {
        self.inner.done()
    }
}

impl<Item, T, Fo, F> Folder<Item> for FoldFolder<'_, Fo, T, F>
where
    Fo: Folder<T>,
    F: Fn(T, Item) -> T + Sync,
    T: Send,
{
    type Result = Fo::Result;

    fn consume_iter<I: Iterator<Item = Item>>(self, items: I) -> Self {
        FoldFolder {
            acc: items.fold(self.acc, self.op),
            inner: self.inner,
            op: self.op,
        }
    }

    fn complete(self) -> Fo::Result {
        self.inner
            .consume_iter(std::iter::once(self.acc))
            .complete()
    }
}

impl<I, T, ID, F> ParallelIterator for Fold<I, ID, F>
where
    I: ParallelIterator,
    F: Fn(T, I::Item) -> T + Sync + Send,
    ID: Fn() -> T + Sync + Send,
    T: Send,
{
    type Item = T;
    fn drive_unindexed<C: Consumer<T>>(self, consumer: &C) -> C::Result {
        self.base.drive_unindexed(&FoldConsumer {
            inner: consumer,
            identity: &self.identity,
            op: &self.op,
        })
    }
}

// ---- Indexed adapters: they wrap the producer -----------------------------------------

struct MapProducer<'f, P, F> {
    base: P,
    f: &'f F,
}

impl<'f, P, F, R> Producer for MapProducer<'f, P, F>
where
    P: Producer,
    F: Fn(P::Item) -> R + Sync,
{
    type Item = R;
    type IntoIter = std::iter::Map<P::IntoIter, &'f F>;

    fn len(&self) -> usize {
        self.base.len()
    }

    fn split_at(self, index: usize) -> (Self, Self) {
        let (left, right) = self.base.split_at(index);
        let f = self.f;
        (
            MapProducer { base: left, f },
            MapProducer { base: right, f },
        )
    }

    fn into_iter(self) -> Self::IntoIter {
        self.base.into_iter().map(self.f)
    }

    fn min_len(&self) -> usize {
        self.base.min_len()
    }
}

struct MapCallback<CB, F> {
    cb: CB,
    f: F,
}

impl<T, R, CB, F> ProducerCallback<T> for MapCallback<CB, F>
where
    CB: ProducerCallback<R>,
    F: Fn(T) -> R + Sync,
{
    type Output = CB::Output;
    fn callback<P: Producer<Item = T>>(self, base: P) -> CB::Output {
        self.cb.callback(MapProducer { base, f: &self.f })
    }
}

impl<I, F, R> IndexedParallelIterator for Map<I, F>
where
    I: IndexedParallelIterator,
    F: Fn(I::Item) -> R + Sync + Send,
    R: Send,
{
    fn len(&self) -> usize {
        self.base.len()
    }

    fn with_producer<CB: ProducerCallback<R>>(self, cb: CB) -> CB::Output {
        self.base.with_producer(MapCallback { cb, f: self.f })
    }
}

impl<I, F> IndexedParallelIterator for Inspect<I, F>
where
    I: IndexedParallelIterator,
    F: Fn(&I::Item) + Sync + Send,
{
    fn len(&self) -> usize {
        self.base.len()
    }

    fn with_producer<CB: ProducerCallback<I::Item>>(self, cb: CB) -> CB::Output {
        let f = self.f;
        // The same items, passed to `f` on the way: a map that returns its item.
        self.base.with_producer(MapCallback {
            cb,
            f: move |item| {
                f(&item);
                item
            },
        })
    }
}

impl<'a, I, T> IndexedParallelIterator for Copied<I>
where
    I: IndexedParallelIterator<Item = &'a T>,
    T: 'a + Copy + Send + Sync,
{
    fn len(&self) -> usize {
        self.base.len()
    }

    fn with_producer<CB: ProducerCallback<T>>(self, cb: CB) -> CB::Output {
        self.base.with_producer(MapCallback {
            cb,
            f: |item: &T| *item,
        })
    }
}

impl<'a, I, T> IndexedParallelIterator for Cloned<I>
where
    I: IndexedParallelIterator<Item = &'a T>,
    T: 'a + Clone + Send + Sync,
{
    fn len(&self) -> usize {
        self.base.len()
    }

    fn with_producer<CB: ProducerCallback<T>>(self, cb: CB) -> CB::Output {
        self.base.with_producer(MapCallback { cb, f: T::clone })
    }
}

// ---- enumerate, zip, with_min_len ------------------------------------------------------

struct EnumerateProducer<P> {
    base: P,
    offset: usize,
}

impl<P: Producer> Producer for EnumerateProducer<P> {
    type Item = (usize, P::Item);
    type IntoIter = std::iter::Zip<std::ops::RangeFrom<usize>, P::IntoIter>;

    fn len(&self) -> usize {
        self.base.len()
    }

    fn split_at(self, index: usize) -> (Self, Self) {
        let (left, right) = self.base.split_at(index);
        (
            EnumerateProducer {
                base: left,
                offset: self.offset,
            },
            EnumerateProducer {
                base: right,
                offset: self.offset + index,
            },
        )
    }

    fn into_iter(self) -> Self::IntoIter {
        (self.offset..).zip(self.base.into_iter())
    }

    fn min_len(&self) -> usize {
        self.base.min_len()
    }
}

struct EnumerateCallback<CB>(CB);

impl<T, CB: ProducerCallback<(usize, T)>> ProducerCallback<T> for EnumerateCallback<CB> {
    type Output = CB::Output;
    fn callback<P: Producer<Item = T>>(self, base: P) -> CB::Output {
        self.0.callback(EnumerateProducer { base, offset: 0 })
    }
}

drive_through_producer!([I: IndexedParallelIterator] Enumerate<I>, (usize, I::Item));

impl<I: IndexedParallelIterator> IndexedParallelIterator for Enumerate<I> {
    fn len(&self) -> usize {
        self.base.len()
    }

    fn with_producer<CB: ProducerCallback<Self::Item>>(self, cb: CB) -> CB::Output {
        self.base.with_producer(EnumerateCallback(cb))
    }
}

pub(super) struct ZipProducer<A, B> {
    a: A,
    b: B,
}

impl<A, B> ZipProducer<A, B> {
    pub(super) fn new(a: A, b: B) -> Self {
        ZipProducer { a, b }
    }
}

impl<A: Producer, B: Producer> Producer for ZipProducer<A, B> {
    type Item = (A::Item, B::Item);
    type IntoIter = std::iter::Zip<A::IntoIter, B::IntoIter>;

    fn len(&self) -> usize {
        self.a.len().min(self.b.len())
    }

    fn split_at(self, index: usize) -> (Self, Self) {
        let (a1, a2) = self.a.split_at(index);
        let (b1, b2) = self.b.split_at(index);
        (ZipProducer { a: a1, b: b1 }, ZipProducer { a: a2, b: b2 })
    }

    fn into_iter(self) -> Self::IntoIter {
        self.a.into_iter().zip(self.b.into_iter())
    }

    fn min_len(&self) -> usize {
        self.a.min_len().max(self.b.min_len())
    }
}

/// Gets `a`'s producer, then asks `b` for its own.
struct ZipCallbackA<CB, B> {
    cb: CB,
    b: B,
}

struct ZipCallbackB<CB, PA> {
    cb: CB,
    a: PA,
}

impl<TA, CB, B> ProducerCallback<TA> for ZipCallbackA<CB, B>
where
    B: IndexedParallelIterator,
    CB: ProducerCallback<(TA, B::Item)>,
{
    type Output = CB::Output;
    fn callback<PA: Producer<Item = TA>>(self, a: PA) -> CB::Output {
        self.b.with_producer(ZipCallbackB { cb: self.cb, a })
    }
}

impl<TB, CB, PA> ProducerCallback<TB> for ZipCallbackB<CB, PA>
where
    PA: Producer,
    CB: ProducerCallback<(PA::Item, TB)>,
{
    type Output = CB::Output;
    fn callback<PB: Producer<Item = TB>>(self, b: PB) -> CB::Output {
        // Both cut to the shorter, so that their pieces line up.
        let len = self.a.len().min(b.len());
        let (a, _) = self.a.split_at(len);
        let (b, _) = b.split_at(len);
        self.cb.callback(ZipProducer { a, b })
    }
}

drive_through_producer!(
    [A: IndexedParallelIterator, B: IndexedParallelIterator] Zip<A, B>,
    (A::Item, B::Item)
);

impl<A, B> IndexedParallelIterator for Zip<A, B>
where
    A: IndexedParallelIterator,
    B: IndexedParallelIterator,
{
    fn len(&self) -> usize {
        self.a.len().min(self.b.len())
    }

    fn with_producer<CB: ProducerCallback<Self::Item>>(self, cb: CB) -> CB::Output {
        self.a.with_producer(ZipCallbackA { cb, b: self.b })
    }
}

struct MinLenProducer<P> {
    base: P,
    min: usize,
}

impl<P: Producer> Producer for MinLenProducer<P> {
    type Item = P::Item;
    type IntoIter = P::IntoIter;

    fn len(&self) -> usize {
        self.base.len()
    }

    fn split_at(self, index: usize) -> (Self, Self) {
        let (left, right) = self.base.split_at(index);
        let min = self.min;
        (
            MinLenProducer { base: left, min },
            MinLenProducer { base: right, min },
        )
    }

    fn into_iter(self) -> P::IntoIter {
        self.base.into_iter()
    }

    fn min_len(&self) -> usize {
        self.base.min_len().max(self.min)
    }
}

struct MinLenCallback<CB> {
    cb: CB,
    min: usize,
}

impl<T, CB: ProducerCallback<T>> ProducerCallback<T> for MinLenCallback<CB> {
    type Output = CB::Output;
    fn callback<P: Producer<Item = T>>(self, base: P) -> CB::Output {
        self.cb.callback(MinLenProducer {
            base,
            min: self.min,
        })
    }
}

drive_through_producer!([I: IndexedParallelIterator] MinLen<I>, I::Item);

impl<I: IndexedParallelIterator> IndexedParallelIterator for MinLen<I> {
    fn len(&self) -> usize {
        self.base.len()
    }

    fn with_producer<CB: ProducerCallback<Self::Item>>(self, cb: CB) -> CB::Output {
        self.base
            .with_producer(MinLenCallback { cb, min: self.min })
    }
}
