//! Parallel iterators with rayon's names (`par_iter`, `map`, `sum`, `collect`, `par_sort`,
//! ...), split on demand: see [`prelude`](crate::prelude) for the traits, and the `bridge`
//! module doc for how a loop is split between workers only when one asks for work.
//!
//! Where they run: inside [`WorkerPool::install`](crate::WorkerPool::install) on that pool,
//! on a worker on its pool, elsewhere on the global pool. They run in the priority lane of the
//! task that runs them, and inside [`isolate`](fn@crate::isolate) their waits are isolated
//! like any join's. A panic in a closure ends the rest of its own piece; it is re-raised in the
//! caller once the other sides of the splits above it have finished, since a split is a
//! `join`, which runs or waits for its second side even when the first panicked (as rayon's
//! does), so nothing runs over memory that unwinding frees.
//!
//! The order of items: every consumer combines its pieces left before right, so `collect`
//! into a `Vec` (or a `String`) keeps the source order after every adapter, `filter` and
//! `flat_map_iter` included; `reduce` and `fold` may group items differently from run to run
//! (their operation should be associative), but never reorder them.

/// `ParallelIterator` for an indexed iterator that is driven through its producer (the
/// bridge), and hands that producer to `collect`: `[generics] Type, Item`.
macro_rules! drive_through_producer {
    ([$($gen:tt)*] $ty:ty, $item:ty) => {
        impl<$($gen)*> $crate::iter::ParallelIterator for $ty {
            type Item = $item;
            fn drive_unindexed<C: $crate::iter::plumbing::Consumer<$item>>(
                self,
                consumer: &C,
            ) -> C::Result {
                $crate::iter::IndexedParallelIterator::with_producer(
                    self,
                    $crate::iter::adapters::Bridge(consumer),
                )
            }
            fn with_producer_if_indexed<CB: $crate::iter::plumbing::ProducerCallback<$item>>(
                self,
                cb: CB,
            ) -> Result<CB::Output, (Self, CB)> {
                Ok($crate::iter::IndexedParallelIterator::with_producer(self, cb))
            }
        }
    };
}

/// For a source that is its own producer: `ParallelIterator` (see
/// [`drive_through_producer`]) and `IndexedParallelIterator`.
macro_rules! own_producer {
    ([$($gen:tt)*] $ty:ty, $item:ty) => {
        drive_through_producer!([$($gen)*] $ty, $item);

        impl<$($gen)*> $crate::iter::IndexedParallelIterator for $ty {
            fn len(&self) -> usize {
                $crate::iter::plumbing::Producer::len(self)
            }
            fn with_producer<CB: $crate::iter::plumbing::ProducerCallback<$item>>(
                self,
                cb: CB,
            ) -> CB::Output {
                cb.callback(self)
            }
        }
    };
}

mod adapters;
mod bridge;
mod consumers;
pub mod plumbing;
mod slice;
mod sources;

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

pub use adapters::{
    Cloned, Copied, Enumerate, Filter, FilterMap, FlatMapIter, Fold, Inspect, Map, MinLen, Zip,
};
use plumbing::{Consumer, ProducerCallback};
pub use slice::{Chunks, ChunksMut, Iter, IterMut, ParallelSlice, ParallelSliceMut};
pub use sources::{RangeInclusiveIter, RangeInteger, RangeIter, VecIter};

use crate::worker::WorkerThread;

/// Runs `op` on a worker: the calling one, else one of the global pool's.
fn on_pool<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    match WorkerThread::current() {
        Some(_) => op(),
        None => crate::global::global_registry().in_worker(|_| op()),
    }
}

/// A parallel iterator: its items are produced and consumed in pieces, on the pool's
/// workers. The methods have rayon's names and meaning; see the [module docs](self) for where
/// they run and in what order.
///
/// ```
/// use stealpool::prelude::*;
///
/// let squares: Vec<u64> = (0..1000u64).into_par_iter().map(|x| x * x).collect();
/// assert_eq!(squares[999], 998_001);
/// let evens = (0..1000).into_par_iter().filter(|x| x % 2 == 0).count();
/// assert_eq!(evens, 500);
/// ```
pub trait ParallelIterator: Sized + Send {
    /// The items.
    type Item: Send;

    /// Drives the items into `consumer` (the plumbing every method is built on).
    fn drive_unindexed<C: Consumer<Self::Item>>(self, consumer: &C) -> C::Result;

    /// Plumbing: if this iterator is indexed, hands its producer to `callback`
    /// ([`IndexedParallelIterator::with_producer`]); otherwise gives both back. `collect`
    /// uses it to write an indexed iterator's items straight into place.
    fn with_producer_if_indexed<CB: ProducerCallback<Self::Item>>(
        self,
        callback: CB,
    ) -> Result<CB::Output, (Self, CB)> {
        Err((self, callback))
    }

    /// Applies `f` to each item.
    fn map<F, R>(self, f: F) -> Map<Self, F>
    where
        F: Fn(Self::Item) -> R + Sync + Send,
        R: Send,
    {
        Map::new(self, f)
    }

    /// Keeps the items for which `pred` is true.
    fn filter<P>(self, pred: P) -> Filter<Self, P>
    where
        P: Fn(&Self::Item) -> bool + Sync + Send,
    {
        Filter::new(self, pred)
    }

    /// Applies `f` and keeps the `Some` values.
    fn filter_map<F, R>(self, f: F) -> FilterMap<Self, F>
    where
        F: Fn(Self::Item) -> Option<R> + Sync + Send,
        R: Send,
    {
        FilterMap::new(self, f)
    }

    /// Replaces each item by the items of the sequential iterator `f` returns for it.
    fn flat_map_iter<F, U>(self, f: F) -> FlatMapIter<Self, F>
    where
        F: Fn(Self::Item) -> U + Sync + Send,
        U: IntoIterator,
        U::Item: Send,
    {
        FlatMapIter::new(self, f)
    }

    /// Calls `f` on each item as it passes.
    fn inspect<F>(self, f: F) -> Inspect<Self, F>
    where
        F: Fn(&Self::Item) + Sync + Send,
    {
        Inspect::new(self, f)
    }

    /// Copies each referenced item.
    fn copied<'a, T>(self) -> Copied<Self>
    where
        T: 'a + Copy + Send + Sync,
        Self: ParallelIterator<Item = &'a T>,
    {
        Copied::new(self)
    }

    /// Clones each referenced item.
    fn cloned<'a, T>(self) -> Cloned<Self>
    where
        T: 'a + Clone + Send + Sync,
        Self: ParallelIterator<Item = &'a T>,
    {
        Cloned::new(self)
    }

    /// Folds the items of each piece into one accumulator, starting from `identity()`: a
    /// parallel iterator of the accumulators (one per piece, in order), for `sum`, `reduce`
    /// or `collect`.
    ///
    /// ```
    /// use stealpool::prelude::*;
    ///
    /// let words = ["a", "bb", "a", "ccc"];
    /// let total: usize = words.par_iter().fold(|| 0, |n, w| n + w.len()).sum();
    /// assert_eq!(total, 7);
    /// ```
    fn fold<T, ID, F>(self, identity: ID, op: F) -> Fold<Self, ID, F>
    where
        F: Fn(T, Self::Item) -> T + Sync + Send,
        ID: Fn() -> T + Sync + Send,
        T: Send,
    {
        Fold::new(self, identity, op)
    }

    /// Calls `f` on every item.
    fn for_each<F>(self, f: F)
    where
        F: Fn(Self::Item) + Sync + Send,
    {
        consumers::for_each(self, f)
    }

    /// The sum of the items.
    fn sum<S>(self) -> S
    where
        S: Send + std::iter::Sum<Self::Item> + std::iter::Sum<S>,
    {
        consumers::sum(self)
    }

    /// The product of the items.
    fn product<P>(self) -> P
    where
        P: Send + std::iter::Product<Self::Item> + std::iter::Product<P>,
    {
        consumers::product(self)
    }

    /// The number of items.
    fn count(self) -> usize {
        consumers::count(self)
    }

    /// Combines the items with `op`, starting each piece from `identity()` (which must be a
    /// neutral element of `op`, and `op` associative); `identity()` for no items.
    fn reduce<ID, OP>(self, identity: ID, op: OP) -> Self::Item
    where
        OP: Fn(Self::Item, Self::Item) -> Self::Item + Sync + Send,
        ID: Fn() -> Self::Item + Sync + Send,
    {
        consumers::reduce(self, identity, op)
    }

    /// The smallest item (the first of equal ones), or `None` for no items.
    fn min(self) -> Option<Self::Item>
    where
        Self::Item: Ord,
    {
        consumers::min_by(self, |a, b| a.cmp(b))
    }

    /// The largest item (the last of equal ones), or `None` for no items.
    fn max(self) -> Option<Self::Item>
    where
        Self::Item: Ord,
    {
        consumers::max_by(self, |a, b| a.cmp(b))
    }

    /// The item with the smallest key (the first of equal ones).
    fn min_by_key<K, F>(self, f: F) -> Option<Self::Item>
    where
        K: Ord + Send,
        F: Fn(&Self::Item) -> K + Sync + Send,
    {
        consumers::min_by(self, |a, b| f(a).cmp(&f(b)))
    }

    /// The item with the largest key (the last of equal ones).
    fn max_by_key<K, F>(self, f: F) -> Option<Self::Item>
    where
        K: Ord + Send,
        F: Fn(&Self::Item) -> K + Sync + Send,
    {
        consumers::max_by(self, |a, b| f(a).cmp(&f(b)))
    }

    /// True if `pred` holds for some item; stops looking once one is found.
    fn any<P>(self, pred: P) -> bool
    where
        P: Fn(Self::Item) -> bool + Sync + Send,
    {
        consumers::any(self, pred)
    }

    /// True if `pred` holds for every item; stops looking at the first that fails.
    fn all<P>(self, pred: P) -> bool
    where
        P: Fn(Self::Item) -> bool + Sync + Send,
    {
        !consumers::any(self, |item| !pred(item))
    }

    /// Some item for which `pred` holds (not necessarily the first), or `None`.
    fn find_any<P>(self, pred: P) -> Option<Self::Item>
    where
        P: Fn(&Self::Item) -> bool + Sync + Send,
    {
        consumers::find_any(self, pred)
    }

    /// Collects the items into `C` (a `Vec` keeps their order; also `HashMap`, `String`).
    fn collect<C>(self) -> C
    where
        C: FromParallelIterator<Self::Item>,
    {
        C::from_par_iter(self)
    }
}

/// A parallel iterator whose items have indices: it knows its length, and can be split at an
/// index (which `enumerate` and `zip` need).
pub trait IndexedParallelIterator: ParallelIterator {
    /// The number of items.
    fn len(&self) -> usize;

    /// True for no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands the iterator's [`Producer`](plumbing::Producer) to `callback` (plumbing).
    fn with_producer<CB: ProducerCallback<Self::Item>>(self, callback: CB) -> CB::Output;

    /// Pairs each item with its index.
    fn enumerate(self) -> Enumerate<Self> {
        Enumerate::new(self)
    }

    /// Pairs the items of two indexed iterators; as long as the shorter.
    fn zip<Z>(self, other: Z) -> Zip<Self, Z::Iter>
    where
        Z: IntoParallelIterator,
        Z::Iter: IndexedParallelIterator,
    {
        Zip::new(self, other.into_par_iter())
    }

    /// Never gives another worker fewer than `min` items. For rayon compatibility: splitting
    /// happens only on demand here, so fine-grained loops need no such setting.
    fn with_min_len(self, min: usize) -> MinLen<Self> {
        MinLen::new(self, min)
    }
}

/// Something that can become a parallel iterator: ranges, `Vec`s, slices and their
/// references, and every parallel iterator.
pub trait IntoParallelIterator {
    /// The parallel iterator.
    type Iter: ParallelIterator<Item = Self::Item>;
    /// Its items.
    type Item: Send;
    /// Makes the parallel iterator.
    fn into_par_iter(self) -> Self::Iter;
}

impl<I: ParallelIterator> IntoParallelIterator for I {
    type Iter = I;
    type Item = I::Item;
    fn into_par_iter(self) -> I {
        self
    }
}

/// `par_iter()`: a parallel iterator over references to a collection's items.
pub trait IntoParallelRefIterator<'data> {
    /// The parallel iterator.
    type Iter: ParallelIterator<Item = Self::Item>;
    /// Its items (references).
    type Item: Send + 'data;
    /// Makes the parallel iterator.
    fn par_iter(&'data self) -> Self::Iter;
}

impl<'data, I: 'data + ?Sized> IntoParallelRefIterator<'data> for I
where
    &'data I: IntoParallelIterator,
{
    type Iter = <&'data I as IntoParallelIterator>::Iter;
    type Item = <&'data I as IntoParallelIterator>::Item;
    fn par_iter(&'data self) -> Self::Iter {
        self.into_par_iter()
    }
}

/// `par_iter_mut()`: a parallel iterator over mutable references to a collection's items.
pub trait IntoParallelRefMutIterator<'data> {
    /// The parallel iterator.
    type Iter: ParallelIterator<Item = Self::Item>;
    /// Its items (mutable references).
    type Item: Send + 'data;
    /// Makes the parallel iterator.
    fn par_iter_mut(&'data mut self) -> Self::Iter;
}

impl<'data, I: 'data + ?Sized> IntoParallelRefMutIterator<'data> for I
where
    &'data mut I: IntoParallelIterator,
{
    type Iter = <&'data mut I as IntoParallelIterator>::Iter;
    type Item = <&'data mut I as IntoParallelIterator>::Item;
    fn par_iter_mut(&'data mut self) -> Self::Iter {
        self.into_par_iter()
    }
}

/// A collection that a parallel iterator can be collected into.
pub trait FromParallelIterator<T: Send> {
    /// Collects `iter`'s items.
    fn from_par_iter<I: IntoParallelIterator<Item = T>>(iter: I) -> Self;
}

impl<T: Send> FromParallelIterator<T> for Vec<T> {
    fn from_par_iter<I: IntoParallelIterator<Item = T>>(iter: I) -> Self {
        consumers::collect_vec(iter.into_par_iter())
    }
}

impl<K, V, S> FromParallelIterator<(K, V)> for HashMap<K, V, S>
where
    K: Eq + Hash + Send,
    V: Send,
    S: BuildHasher + Default,
{
    /// Later items win over earlier ones with the same key, as with `Iterator::collect`.
    fn from_par_iter<I: IntoParallelIterator<Item = (K, V)>>(iter: I) -> Self {
        consumers::collect_vec(iter.into_par_iter())
            .into_iter()
            .collect()
    }
}

impl<'a> FromParallelIterator<&'a char> for String {
    fn from_par_iter<I: IntoParallelIterator<Item = &'a char>>(iter: I) -> Self {
        consumers::collect_vec(iter.into_par_iter())
            .into_iter()
            .collect()
    }
}

impl FromParallelIterator<char> for String {
    fn from_par_iter<I: IntoParallelIterator<Item = char>>(iter: I) -> Self {
        consumers::collect_vec(iter.into_par_iter())
            .into_iter()
            .collect()
    }
}

impl<'a> FromParallelIterator<&'a str> for String {
    fn from_par_iter<I: IntoParallelIterator<Item = &'a str>>(iter: I) -> Self {
        consumers::collect_vec(iter.into_par_iter()).concat()
    }
}

impl FromParallelIterator<String> for String {
    fn from_par_iter<I: IntoParallelIterator<Item = String>>(iter: I) -> Self {
        consumers::collect_vec(iter.into_par_iter()).concat()
    }
}
