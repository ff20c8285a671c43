//! A first look at the parallel iterators (the full suite is `tests/iter.rs`).
use std::collections::HashMap;

use stealpool::prelude::*;

#[test]
fn smoke() {
    let pool = stealpool::WorkerPool::builder()
        .num_threads(2)
        .build()
        .unwrap();
    pool.install(|| {
        let s: u64 = (0..1_000_000u64).into_par_iter().map(|x| x * x % 7).sum();
        assert_eq!(s, (0..1_000_000u64).map(|x| x * x % 7).sum::<u64>());
        let v: Vec<u64> = (0..100_000u64)
            .into_par_iter()
            .filter(|x| x % 3 == 0)
            .collect();
        assert_eq!(
            v,
            (0..100_000u64).filter(|x| x % 3 == 0).collect::<Vec<_>>()
        );
        let mut w: Vec<u32> = (0..100_000).rev().collect();
        w.par_sort();
        assert!(w.windows(2).all(|p| p[0] <= p[1]));
        w.par_iter_mut().for_each(|x| *x += 1);
        assert_eq!(w[0], 1);
        let e: Vec<(usize, &u32)> = w
            .par_iter()
            .enumerate()
            .filter(|(i, _)| i % 1000 == 0)
            .collect();
        assert_eq!(e.len(), 100);
        let m: HashMap<u32, usize> = w.par_iter().map(|&x| (x % 10, 1)).collect();
        assert_eq!(m.len(), 10);
        let words = vec!["a", "b", "c"];
        let st: String = words.par_iter().copied().collect();
        assert_eq!(st, "abc");
        assert_eq!((0..1000).into_par_iter().max(), Some(999));
        assert!((0..1000).into_par_iter().any(|x| x == 999));
        assert_eq!((0..1000).into_par_iter().zip(0..500).count(), 500);
        let total: usize = w.par_chunks(7).map(|c| c.len()).sum();
        assert_eq!(total, w.len());
    });
    let s: i32 = (0..1000).into_par_iter().sum();
    assert_eq!(s, 499_500);
}
