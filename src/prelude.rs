//! The parallel-iterator traits, as `rayon::prelude` names them: `use stealpool::prelude::*;`
//! makes `par_iter()`, `into_par_iter()`, `par_sort()` and the adapters available. See
//! [`ParallelIterator`] for the methods and the [`iter`](crate::iter) module for where they run.
//!
//! ```
//! use stealpool::prelude::*;
//!
//! let v: Vec<u64> = (0..10_000).collect();
//! let sum: u64 = v.par_iter().map(|x| x * 2).sum();
//! assert_eq!(sum, 99_990_000);
//! ```

pub use crate::iter::{
    FromParallelIterator, IndexedParallelIterator, IntoParallelIterator, IntoParallelRefIterator,
    IntoParallelRefMutIterator, ParallelIterator, ParallelSlice, ParallelSliceMut,
};
