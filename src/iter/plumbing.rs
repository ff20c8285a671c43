//! The traits the parallel iterators are built from, for implementing a new source or
//! consumer. Programs that only use the iterators never name them.
//!
//! A parallel iterator is driven into a [`Consumer`]: the source hands pieces of its items to
//! the consumer's [`Folder`]s, one piece after another on the worker that runs it, and the
//! consumer [`combine`](Consumer::combine)s the pieces' results, always the left piece's before
//! the right one's, so that order-keeping results (a `collect` into a `Vec`) come out in the
//! source's order. Indexed sources also offer a [`Producer`], which can be split at an index;
//! the driver splits one only when another worker asks for work (see `bridge`).

/// An indexed source of items that can be split at an index.
pub trait Producer: Send + Sized {
    /// The items.
    type Item;
    /// The items of a piece, in order.
    type IntoIter: Iterator<Item = Self::Item>;

    /// How many items are left.
    fn len(&self) -> usize;

    /// True when no item is left.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `index` items, and the rest.
    fn split_at(self, index: usize) -> (Self, Self);

    /// The items, in order, for one worker to go through.
    fn into_iter(self) -> Self::IntoIter;

    /// The fewest items worth giving to another worker (`with_min_len`).
    fn min_len(&self) -> usize {
        1
    }
}

/// Receives the [`Producer`] of an indexed iterator, whose type only the iterator knows.
pub trait ProducerCallback<T> {
    /// What the callback returns.
    type Output;
    /// Called once with the producer.
    fn callback<P: Producer<Item = T>>(self, producer: P) -> Self::Output;
}

/// Where the items of a parallel iterator go: it makes one [`Folder`] per piece and combines
/// the pieces' results, left before right. Shared by the workers that run the pieces.
pub trait Consumer<T>: Sync {
    /// Goes through one piece.
    type Folder: Folder<T, Result = Self::Result>;
    /// What a piece, and the whole, produces.
    type Result: Send;

    /// A folder for a new piece.
    fn folder(&self) -> Self::Folder;

    /// The result of two adjacent pieces, `left` coming first in the source.
    fn combine(&self, left: Self::Result, right: Self::Result) -> Self::Result;

    /// True once the result is known and the rest need not be looked at (`any`, `find_any`).
    fn done(&self) -> bool {
        false
    }
}

/// Goes through the items of one piece, on one worker.
pub trait Folder<T>: Send + Sized {
    /// What the piece produces.
    type Result;

    /// Takes the next items of the piece, in order.
    fn consume_iter<I: Iterator<Item = T>>(self, items: I) -> Self;

    /// The piece's result.
    fn complete(self) -> Self::Result;
}
