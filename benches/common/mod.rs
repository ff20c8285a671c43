//! The bench harness, shared by the four bench targets (`spawn`, `fork_join`, `priority`,
//! `panics`). DRAFT

// Each bench is its own crate and uses only part of the harness (the table above), so an
// item that one bench leaves unused would be dead code in that crate.
#![allow(dead_code)]

use std::hint::black_box;

pub mod json;
pub mod peers;
pub mod rounds;
pub mod run;
pub mod stats;
pub mod table;

/// The task body of the spawn benchmarks: a few arithmetic operations that
/// the optimiser cannot fold away.
pub fn tiny_work(i: usize) -> u64 {
    let x = black_box(i as u64);
    (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (x >> 7)).wrapping_add(13)
}
