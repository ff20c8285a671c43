//! Slices: `par_iter`, `par_iter_mut`, `par_chunks`, `par_chunks_mut`, and the parallel sorts.

use std::cmp::Ordering;

use super::IntoParallelIterator;
use super::plumbing::Producer;

/// A parallel iterator over references to a slice's items: `slice.par_iter()`.
#[derive(Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct Iter<'data, T> {
    slice: &'data [T],
}

impl<T> Clone for Iter<'_, T> {
    fn clone(&self) -> Self {
        Iter { slice: self.slice }
    }
}

/// A parallel iterator over mutable references to a slice's items: `slice.par_iter_mut()`.
#[derive(Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct IterMut<'data, T> {
    slice: &'data mut [T],
}

impl<'data, T> IterMut<'data, T> {
    pub(super) fn new(slice: &'data mut [T]) -> Self {
        IterMut { slice }
    }
}

/// A parallel iterator over a slice's chunks of `size` items (the last may be shorter):
/// `slice.par_chunks(size)`.
#[derive(Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct Chunks<'data, T> {
    slice: &'data [T],
    size: usize,
}

/// `slice.par_chunks_mut(size)`: like [`Chunks`], each chunk a mutable slice.
#[derive(Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct ChunksMut<'data, T> {
    slice: &'data mut [T],
    size: usize,
}

impl<'data, T: Sync> Producer for Iter<'data, T> {
    type Item = &'data T;
    type IntoIter = std::slice::Iter<'data, T>;
    fn len(&self) -> usize {
        self.slice.len()
    }
    fn split_at(self, index: usize) -> (Self, Self) {
        let (left, right) = self.slice.split_at(index);
        (Iter { slice: left }, Iter { slice: right })
    }
    fn into_iter(self) -> Self::IntoIter {
        self.slice.iter()
    }
}
own_producer!(['data, T: Sync + 'data] Iter<'data, T>, &'data T);

impl<'data, T: Send> Producer for IterMut<'data, T> {
    type Item = &'data mut T;
    type IntoIter = std::slice::IterMut<'data, T>;
    fn len(&self) -> usize {
        self.slice.len()
    }
    fn split_at(self, index: usize) -> (Self, Self) {
        let (left, right) = self.slice.split_at_mut(index);
        (IterMut { slice: left }, IterMut { slice: right })
    }
    fn into_iter(self) -> Self::IntoIter {
        self.slice.iter_mut()
    }
}
own_producer!(['data, T: Send + 'data] IterMut<'data, T>, &'data mut T);

impl<'data, T: Sync> Producer for Chunks<'data, T> {
    type Item = &'data [T];
    type IntoIter = std::slice::Chunks<'data, T>;
    fn len(&self) -> usize {
        self.slice.len().div_ceil(self.size)
    }
    fn split_at(self, index: usize) -> (Self, Self) {
        let at = (index * self.size).min(self.slice.len());
        let (left, right) = self.slice.split_at(at);
        let size = self.size;
        (Chunks { slice: left, size }, Chunks { slice: right, size })
    }
    fn into_iter(self) -> Self::IntoIter {
        self.slice.chunks(self.size)
    }
}
own_producer!(['data, T: Sync + 'data] Chunks<'data, T>, &'data [T]);

impl<'data, T: Send> Producer for ChunksMut<'data, T> {
    type Item = &'data mut [T];
    type IntoIter = std::slice::ChunksMut<'data, T>;
    fn len(&self) -> usize {
        self.slice.len().div_ceil(self.size)
    }
    fn split_at(self, index: usize) -> (Self, Self) {
        let at = (index * self.size).min(self.slice.len());
        let (left, right) = self.slice.split_at_mut(at);
        let size = self.size;
        (
            ChunksMut { slice: left, size },
            ChunksMut { slice: right, size },
        )
    }
    fn into_iter(self) -> Self::IntoIter {
        self.slice.chunks_mut(self.size)
    }
}
own_producer!(['data, T: Send + 'data] ChunksMut<'data, T>, &'data mut [T]);

impl<'data, T: Sync + 'data> IntoParallelIterator for &'data [T] {
    type Iter = Iter<'data, T>;
    type Item = &'data T;
    fn into_par_iter(self) -> Self::Iter {
        Iter { slice: self }
    }
}

impl<'data, T: Sync + 'data> IntoParallelIterator for &'data Vec<T> {
    type Iter = Iter<'data, T>;
    type Item = &'data T;
    fn into_par_iter(self) -> Self::Iter {
        Iter { slice: self }
    }
}

impl<'data, T: Sync + 'data, const N: usize> IntoParallelIterator for &'data [T; N] {
    type Iter = Iter<'data, T>;
    type Item = &'data T;
    fn into_par_iter(self) -> Self::Iter {
        Iter { slice: self }
    }
}

impl<'data, T: Send + 'data> IntoParallelIterator for &'data mut [T] {
    type Iter = IterMut<'data, T>;
    type Item = &'data mut T;
    fn into_par_iter(self) -> Self::Iter {
        IterMut { slice: self }
    }
}

impl<'data, T: Send + 'data> IntoParallelIterator for &'data mut Vec<T> {
    type Iter = IterMut<'data, T>;
    type Item = &'data mut T;
    fn into_par_iter(self) -> Self::Iter {
        IterMut { slice: self }
    }
}

/// Parallel methods on shared slices (and, through `Deref`, `Vec`s and arrays).
pub trait ParallelSlice<T: Sync> {
    /// The slice.
    fn as_parallel_slice(&self) -> &[T];

    /// A parallel iterator over chunks of `size` items (the last may be shorter).
    ///
    /// # Panics
    /// If `size` is 0, as `slice::chunks`.
    ///
    /// ```
    /// use stealpool::prelude::*;
    ///
    /// let sums: Vec<u32> = [1, 2, 3, 4, 5].par_chunks(2).map(|c| c.iter().sum()).collect();
    /// assert_eq!(sums, [3, 7, 5]);
    /// ```
    fn par_chunks(&self, size: usize) -> Chunks<'_, T> {
        assert!(size != 0, "par_chunks: the chunk size must not be zero");
        Chunks {
            slice: self.as_parallel_slice(),
            size,
        }
    }
}

impl<T: Sync> ParallelSlice<T> for [T] {
    fn as_parallel_slice(&self) -> &[T] {
        self
    }
}

/// Parallel methods on mutable slices: chunks and sorts.
pub trait ParallelSliceMut<T: Send> {
    /// The slice.
    fn as_parallel_slice_mut(&mut self) -> &mut [T];

    /// A parallel iterator over mutable chunks of `size` items (the last may be shorter).
    ///
    /// # Panics
    /// If `size` is 0, as `slice::chunks_mut`.
    fn par_chunks_mut(&mut self, size: usize) -> ChunksMut<'_, T> {
        assert!(size != 0, "par_chunks_mut: the chunk size must not be zero");
        ChunksMut {
            slice: self.as_parallel_slice_mut(),
            size,
        }
    }

    /// Sorts the slice, stably (equal items keep their order).
    ///
    /// ```
    /// use stealpool::prelude::*;
    ///
    /// let mut v = vec![5, 1, 4, 1, 3];
    /// v.par_sort();
    /// assert_eq!(v, [1, 1, 3, 4, 5]);
    /// ```
    fn par_sort(&mut self)
    where
        T: Ord,
    {
        merge_sort(self.as_parallel_slice_mut(), &T::cmp);
    }

    /// Sorts the slice stably with a comparator.
    fn par_sort_by<F>(&mut self, compare: F)
    where
        F: Fn(&T, &T) -> Ordering + Sync,
    {
        merge_sort(self.as_parallel_slice_mut(), &compare);
    }

    /// Sorts the slice stably by a key.
    fn par_sort_by_key<K, F>(&mut self, key: F)
    where
        K: Ord,
        F: Fn(&T) -> K + Sync,
    {
        merge_sort(self.as_parallel_slice_mut(), &|a: &T, b: &T| {
            key(a).cmp(&key(b))
        });
    }

    /// Sorts the slice; equal items may be reordered.
    fn par_sort_unstable(&mut self)
    where
        T: Ord,
    {
        quick_sort(self.as_parallel_slice_mut(), &T::cmp);
    }

    /// Sorts the slice with a comparator; equal items may be reordered.
    fn par_sort_unstable_by<F>(&mut self, compare: F)
    where
        F: Fn(&T, &T) -> Ordering + Sync,
    {
        quick_sort(self.as_parallel_slice_mut(), &compare);
    }

    /// Sorts the slice by a key; equal items may be reordered.
    fn par_sort_unstable_by_key<K, F>(&mut self, key: F)
    where
        K: Ord,
        F: Fn(&T) -> K + Sync,
    {
        quick_sort(self.as_parallel_slice_mut(), &|a: &T, b: &T| {
            key(a).cmp(&key(b))
        });
    }
}

impl<T: Send> ParallelSliceMut<T> for [T] {
    fn as_parallel_slice_mut(&mut self) -> &mut [T] {
        self
    }
}

/// Below this many items a sort runs sequentially.
const SORT_CUTOFF: usize = 4096;

/// Stable: sorts the two halves in parallel, then sorts the whole, which the standard
/// library's stable sort does in one merge pass (it finds the two sorted runs). Runs on the
/// current pool (see `super::on_pool`).
fn merge_sort<T: Send, F: Fn(&T, &T) -> Ordering + Sync>(v: &mut [T], compare: &F) {
    super::on_pool(|| merge_sort_here(v, compare));
}

fn merge_sort_here<T: Send, F: Fn(&T, &T) -> Ordering + Sync>(v: &mut [T], compare: &F) {
    if v.len() <= SORT_CUTOFF {
        v.sort_by(compare);
        return;
    }
    let mid = v.len() / 2;
    {
        let (left, right) = v.split_at_mut(mid);
        crate::join(
            || merge_sort_here(left, compare),
            || merge_sort_here(right, compare),
        );
    }
    v.sort_by(compare);
}

/// Unstable: partitions around the median (the standard library's selection, linear time),
/// then sorts the two sides in parallel. Balanced by construction, so no input makes it
/// quadratic.
fn quick_sort<T: Send, F: Fn(&T, &T) -> Ordering + Sync>(v: &mut [T], compare: &F) {
    super::on_pool(|| quick_sort_here(v, compare));
}

fn quick_sort_here<T: Send, F: Fn(&T, &T) -> Ordering + Sync>(v: &mut [T], compare: &F) {
    if v.len() <= SORT_CUTOFF {
        v.sort_unstable_by(compare);
        return;
    }
    let mid = v.len() / 2;
    let (left, _, right) = v.select_nth_unstable_by(mid, compare);
    crate::join(
        || quick_sort_here(left, compare),
        || quick_sort_here(right, compare),
    );
}
