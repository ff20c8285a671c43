//! Sources that own their items: integer ranges and `Vec`s.

use std::collections::VecDeque;
use std::ops::Range;

use super::IntoParallelIterator;
use super::plumbing::Producer;

/// A parallel iterator over a range of integers: `(0..n).into_par_iter()`.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct RangeIter<T> {
    range: Range<T>,
}

/// The integer types a range iterator works over. One generic set of impls over this trait
/// (rather than one per type) lets an untyped range take its type from how it is used, as
/// with rayon: `let total: u64 = (0..100).into_par_iter().sum();`.
pub trait RangeInteger: sealed::Sealed + Copy + PartialOrd + Send + Sync + 'static {
    /// The sequential iterator over a range of this type.
    type Iter: Iterator<Item = Self>;
    /// The range's items, in order.
    fn iter(range: Range<Self>) -> Self::Iter;
    /// The sequential iterator over an inclusive range of this type.
    type IterInclusive: Iterator<Item = Self>;
    /// The items of `start..=end`, in order.
    fn iter_inclusive(start: Self, end: Self) -> Self::IterInclusive;
    /// The number of items in `start..end` (0 if empty). A range longer than `usize::MAX`
    /// (only possible with 128-bit integers, or 64-bit ones on a 32-bit target) is refused
    /// with a panic that says so: its items could not be indexed.
    fn span(start: Self, end: Self) -> usize;
    /// `start + index`, for an index within the range.
    fn offset(start: Self, index: usize) -> Self;
}

mod sealed {
    /// Only this crate's integer types are range integers.
    pub trait Sealed {}
}

fn too_long() -> ! {
    panic!("a parallel iterator over a range of more than usize::MAX items")
}

/// Implements [`RangeInteger`] for each integer type.
macro_rules! range_integers {
    ($($t:ty),*) => {$(
        impl sealed::Sealed for $t {}

        impl RangeInteger for $t {
            type Iter = Range<$t>;
            fn iter(range: Range<$t>) -> Range<$t> {
                range
            }
            type IterInclusive = std::ops::RangeInclusive<$t>;
            fn iter_inclusive(start: $t, end: $t) -> std::ops::RangeInclusive<$t> {
                start..=end
            }
            fn span(start: $t, end: $t) -> usize {
                if start >= end {
                    return 0;
                }
                usize::try_from(end.abs_diff(start)).unwrap_or_else(|_| too_long())
            }
            fn offset(start: $t, index: usize) -> $t {
                // Within the range, so no overflow: `index` is below the span.
                start.wrapping_add(index as $t)
            }
        }
    )*};
}

range_integers!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

impl<T: RangeInteger> IntoParallelIterator for Range<T> {
    type Iter = RangeIter<T>;
    type Item = T;
    fn into_par_iter(self) -> RangeIter<T> {
        RangeIter { range: self }
    }
}

impl<T: RangeInteger> Producer for RangeIter<T> {
    type Item = T;
    type IntoIter = T::Iter;

    fn len(&self) -> usize {
        T::span(self.range.start, self.range.end)
    }

    fn split_at(self, index: usize) -> (Self, Self) {
        let mid = T::offset(self.range.start, index);
        (
            RangeIter {
                range: self.range.start..mid,
            },
            RangeIter {
                range: mid..self.range.end,
            },
        )
    }

    fn into_iter(self) -> T::Iter {
        T::iter(self.range)
    }
}

own_producer!([T: RangeInteger] RangeIter<T>, T);

/// A parallel iterator over an inclusive range of integers: `(1..=n).into_par_iter()`. It
/// holds its first item and its length, so that a range ending at the type's maximum needs
/// no item past it.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct RangeInclusiveIter<T> {
    start: T,
    len: usize,
}

impl<T: RangeInteger> IntoParallelIterator for std::ops::RangeInclusive<T> {
    type Iter = RangeInclusiveIter<T>;
    type Item = T;
    fn into_par_iter(self) -> RangeInclusiveIter<T> {
        let len = if self.is_empty() {
            0
        } else {
            T::span(*self.start(), *self.end())
                .checked_add(1)
                .unwrap_or_else(|| too_long())
        };
        RangeInclusiveIter {
            start: *self.start(),
            len,
        }
    }
}

impl<T: RangeInteger> Producer for RangeInclusiveIter<T> {
    type Item = T;
    type IntoIter = std::iter::Take<T::IterInclusive>;

    fn len(&self) -> usize {
        self.len
    }

    fn split_at(self, index: usize) -> (Self, Self) {
        (
            RangeInclusiveIter {
                start: self.start,
                len: index,
            },
            RangeInclusiveIter {
                start: T::offset(self.start, index),
                len: self.len - index,
            },
        )
    }

    fn into_iter(self) -> Self::IntoIter {
        // `start..=start` taken 0 times is empty; otherwise the last item is within the type.
        let last = T::offset(self.start, self.len.saturating_sub(1));
        T::iter_inclusive(self.start, last).take(self.len)
    }
}

own_producer!([T: RangeInteger] RangeInclusiveIter<T>, T);

/// A parallel iterator that owns the items of a `Vec`: `v.into_par_iter()`.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct VecIter<T> {
    items: VecDeque<T>,
}

impl<T: Send> IntoParallelIterator for Vec<T> {
    type Iter = VecIter<T>;
    type Item = T;
    fn into_par_iter(self) -> VecIter<T> {
        VecIter {
            items: VecDeque::from(self),
        }
    }
}

impl<T: Send> Producer for VecIter<T> {
    type Item = T;
    type IntoIter = std::collections::vec_deque::IntoIter<T>;

    fn len(&self) -> usize {
        self.items.len()
    }

    /// Moves the shorter side out: the bridge peels small steps off the front, and splits in
    /// the middle only when a worker asks for work, so the moves stay a small part of it.
    fn split_at(mut self, index: usize) -> (Self, Self) {
        if index <= self.items.len() / 2 {
            let head = self.items.drain(..index).collect();
            (VecIter { items: head }, self)
        } else {
            let tail = self.items.split_off(index);
            (self, VecIter { items: tail })
        }
    }

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

own_producer!([T: Send] VecIter<T>, T);
