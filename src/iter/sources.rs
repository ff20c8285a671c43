//! Sources that own their items: integer ranges and `Vec`s.

use std::collections::VecDeque;
use std::ops::Range;

use super::adapters::Bridge;
use super::plumbing::{Consumer, Producer, ProducerCallback};
use super::{IndexedParallelIterator, IntoParallelIterator, ParallelIterator};

/// A parallel iterator over a range of integers: `(0..n).into_par_iter()`.
#[derive(Clone, Debug)]
#[must_use = "parallel iterators do nothing until consumed"]
pub struct RangeIter<T> {
    range: Range<T>,
}

/// One impl for every `Range<T>`, so that an untyped `(0..n)` still infers (as `i32`); the
/// items' types come from the `ParallelIterator` impls below.
impl<T> IntoParallelIterator for Range<T>
where
    RangeIter<T>: ParallelIterator<Item = T>,
    T: Send,
{
    type Iter = RangeIter<T>;
    type Item = T;
    fn into_par_iter(self) -> RangeIter<T> {
        RangeIter { range: self }
    }
}

/// Implements the range iterator for each integer type. A range longer than `usize::MAX`
/// (only possible with 128-bit integers, or 64-bit ones on a 32-bit target) is refused with a
/// panic that says so: its items could not be indexed.
macro_rules! ranges {
    ($($t:ty),*) => {$(
        impl Producer for RangeIter<$t> {
            type Item = $t;
            type IntoIter = Range<$t>;

            fn len(&self) -> usize {
                if self.range.start >= self.range.end {
                    return 0;
                }
                let span = (self.range.end as i128).wrapping_sub(self.range.start as i128) as u128;
                usize::try_from(span).unwrap_or_else(|_| {
                    panic!("a parallel iterator over a range of more than usize::MAX items")
                })
            }

            fn split_at(self, index: usize) -> (Self, Self) {
                let mid = (self.range.start as i128 + index as i128) as $t;
                (
                    RangeIter { range: self.range.start..mid },
                    RangeIter { range: mid..self.range.end },
                )
            }

            fn into_iter(self) -> Range<$t> {
                self.range
            }
        }

        impl ParallelIterator for RangeIter<$t> {
            type Item = $t;
            fn drive_unindexed<C: Consumer<$t>>(self, consumer: &C) -> C::Result {
                self.with_producer(Bridge(consumer))
            }
            fn with_producer_if_indexed<CB: ProducerCallback<$t>>(
                self,
                cb: CB,
            ) -> Result<CB::Output, (Self, CB)> {
                Ok(cb.callback(self))
            }
        }

        impl IndexedParallelIterator for RangeIter<$t> {
            fn len(&self) -> usize {
                Producer::len(self)
            }
            fn with_producer<CB: ProducerCallback<$t>>(self, cb: CB) -> CB::Output {
                cb.callback(self)
            }
        }
    )*};
}

ranges!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// 128-bit ranges: the same, with the span computed without overflow.
macro_rules! wide_ranges {
    ($($t:ty),*) => {$(
        impl Producer for RangeIter<$t> {
            type Item = $t;
            type IntoIter = Range<$t>;

            fn len(&self) -> usize {
                if self.range.start >= self.range.end {
                    return 0;
                }
                let span = self.range.end.abs_diff(self.range.start);
                usize::try_from(span).unwrap_or_else(|_| {
                    panic!("a parallel iterator over a range of more than usize::MAX items")
                })
            }

            fn split_at(self, index: usize) -> (Self, Self) {
                let mid = self.range.start.wrapping_add(index as $t);
                (
                    RangeIter { range: self.range.start..mid },
                    RangeIter { range: mid..self.range.end },
                )
            }

            fn into_iter(self) -> Range<$t> {
                self.range
            }
        }

        impl ParallelIterator for RangeIter<$t> {
            type Item = $t;
            fn drive_unindexed<C: Consumer<$t>>(self, consumer: &C) -> C::Result {
                self.with_producer(Bridge(consumer))
            }
            fn with_producer_if_indexed<CB: ProducerCallback<$t>>(
                self,
                cb: CB,
            ) -> Result<CB::Output, (Self, CB)> {
                Ok(cb.callback(self))
            }
        }

        impl IndexedParallelIterator for RangeIter<$t> {
            fn len(&self) -> usize {
                Producer::len(self)
            }
            fn with_producer<CB: ProducerCallback<$t>>(self, cb: CB) -> CB::Output {
                cb.callback(self)
            }
        }
    )*};
}

wide_ranges!(u128, i128);

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

impl<T: Send> ParallelIterator for VecIter<T> {
    type Item = T;
    fn drive_unindexed<C: Consumer<T>>(self, consumer: &C) -> C::Result {
        self.with_producer(Bridge(consumer))
    }
    fn with_producer_if_indexed<CB: ProducerCallback<T>>(
        self,
        cb: CB,
    ) -> Result<CB::Output, (Self, CB)> {
        Ok(cb.callback(self))
    }
}

impl<T: Send> IndexedParallelIterator for VecIter<T> {
    fn len(&self) -> usize {
        self.items.len()
    }
    fn with_producer<CB: ProducerCallback<T>>(self, cb: CB) -> CB::Output {
        cb.callback(self)
    }
}
