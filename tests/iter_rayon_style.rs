//! The parallel iterators as a rayon user writes them: apart from the `use` line (rayon's is
//! `use rayon::prelude::*;`) and the pool set-up, which rayon spells
//! `rayon::ThreadPoolBuilder::new().num_threads(2).build()`, the code below would compile
//! unchanged against rayon. Each snippet checks its result against the sequential one.

use std::collections::HashMap;

use stealpool::prelude::*;

const TEXT: &str = "the quick brown fox jumps over the lazy dog \
                    the dog barks and the fox runs away over the hill";

fn word_count(text: &str) -> HashMap<&str, usize> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .par_iter()
        .fold(HashMap::new, |mut counts, word| {
            *counts.entry(*word).or_insert(0) += 1;
            counts
        })
        .reduce(HashMap::new, |mut a, b| {
            for (word, n) in b {
                *a.entry(word).or_insert(0) += n;
            }
            a
        })
}

#[test]
fn word_count_with_fold_and_reduce() {
    let counts = word_count(TEXT);
    assert_eq!(counts["the"], 5);
    assert_eq!(counts["fox"], 2);
    assert_eq!(counts["over"], 2);
    assert_eq!(counts["hill"], 1);
    assert_eq!(
        counts.values().sum::<usize>(),
        TEXT.split_whitespace().count()
    );
    // A larger text, so that the words are split between workers.
    let big = TEXT.repeat(500);
    let counts = word_count(&big);
    let mut expected: HashMap<&str, usize> = HashMap::new();
    for word in big.split_whitespace() {
        *expected.entry(word).or_insert(0) += 1;
    }
    assert_eq!(counts, expected);
}

#[test]
fn map_collect() {
    let v: Vec<u32> = (0..10_000).collect();
    let squares: Vec<u64> = v.par_iter().map(|&x| u64::from(x) * u64::from(x)).collect();
    assert_eq!(squares.len(), 10_000);
    assert_eq!(squares[0], 0);
    assert_eq!(squares[9_999], 99_980_001);
    assert!(squares.windows(2).all(|w| w[0] < w[1]), "order kept");
}

#[test]
fn fill_a_buffer_with_par_chunks_mut() {
    const WIDTH: usize = 640;
    const HEIGHT: usize = 480;
    let mut image = vec![0u8; WIDTH * HEIGHT];
    image
        .par_chunks_mut(WIDTH)
        .enumerate()
        .for_each(|(y, row)| {
            for (x, pixel) in row.iter_mut().enumerate() {
                *pixel = ((x ^ y) & 0xff) as u8;
            }
        });
    for (i, &pixel) in image.iter().enumerate() {
        let (y, x) = (i / WIDTH, i % WIDTH);
        assert_eq!(pixel, ((x ^ y) & 0xff) as u8, "pixel ({x}, {y})");
    }
}

#[test]
fn dot_product_with_zip() {
    let a: Vec<f64> = (0..5000).map(|i| i as f64).collect();
    let b: Vec<f64> = (0..5000).map(|i| (i % 7) as f64).collect();
    let dot: f64 = a.par_iter().zip(&b).map(|(x, y)| x * y).sum();
    let expected: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    // Exact: every product and partial sum is an integer far below 2^53.
    assert_eq!(dot, expected);

    let mut c = vec![0i64; 1000];
    let d: Vec<i64> = (0..1000).collect();
    c.par_iter_mut()
        .zip(d.par_iter())
        .for_each(|(c, &d)| *c = d * 3);
    assert_eq!(c, (0..1000).map(|d| d * 3).collect::<Vec<i64>>());
}

#[test]
fn enumerate_for_each() {
    let mut v = vec![0usize; 3000];
    v.par_iter_mut().enumerate().for_each(|(i, x)| *x = i * 2);
    assert!(v.iter().enumerate().all(|(i, &x)| x == i * 2));

    let names = vec!["ada", "brian", "carol"];
    let seen = std::sync::Mutex::new(Vec::new());
    names
        .par_iter()
        .enumerate()
        .for_each(|(i, name)| seen.lock().unwrap().push(format!("{i}:{name}")));
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    assert_eq!(seen, ["0:ada", "1:brian", "2:carol"]);
}

#[test]
fn sort_descending_with_par_sort_unstable_by() {
    let mut v: Vec<i32> = (0..20_000).map(|i| (i * 7919) % 10_007).collect();
    let mut expected = v.clone();
    expected.sort_by(|a, b| b.cmp(a));
    v.par_sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(v, expected);
}

#[test]
fn par_sort_and_par_sort_by_key() {
    let mut people = vec![
        ("dave", 40),
        ("alice", 30),
        ("carol", 40),
        ("bob", 30),
        ("eve", 25),
    ];
    people.par_sort_by_key(|&(_, age)| age);
    // Stable: equal ages keep their order.
    assert_eq!(
        people,
        [
            ("eve", 25),
            ("alice", 30),
            ("bob", 30),
            ("dave", 40),
            ("carol", 40)
        ]
    );
    let mut words: Vec<String> = TEXT.split_whitespace().map(String::from).collect();
    let mut expected = words.clone();
    expected.sort();
    words.par_sort();
    assert_eq!(words, expected);
}

#[test]
fn into_par_iter_filter_map_collect() {
    let inputs: Vec<String> = vec!["1", "two", "3", "", "5", "6x", "-7"]
        .into_iter()
        .map(String::from)
        .collect();
    let numbers: Vec<i32> = inputs
        .into_par_iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    assert_eq!(numbers, [1, 3, 5, -7]);
}

#[test]
fn min_by_key_and_max_by_key() {
    let points: Vec<(i32, i32)> = (0..2000).map(|i| (i % 97 - 48, i % 89 - 44)).collect();
    let closest = points
        .par_iter()
        .min_by_key(|&&(x, y)| x * x + y * y)
        .unwrap();
    let expected = points.iter().min_by_key(|&&(x, y)| x * x + y * y).unwrap();
    let nearest = points.iter().map(|&(x, y)| x * x + y * y).min().unwrap();
    assert_eq!(closest.0 * closest.0 + closest.1 * closest.1, nearest);
    assert_eq!(closest, expected);
    let longest = TEXT
        .split_whitespace()
        .collect::<Vec<_>>()
        .par_iter()
        .copied()
        .max_by_key(|w| w.len());
    assert_eq!(longest.map(str::len), Some(5));
}

#[test]
fn range_sum() {
    let n = 1_000_000u64;
    let total = (0..n).into_par_iter().sum::<u64>();
    assert_eq!(total, n * (n - 1) / 2);
    let sum_of_squares: u64 = (1..=100u64).map(|x| x * x).sum();
    assert_eq!(
        (1..101u64).into_par_iter().map(|x| x * x).sum::<u64>(),
        sum_of_squares
    );
}

#[test]
fn the_usual_consumers() {
    let v: Vec<i64> = (1..=20).collect();
    assert_eq!(v.par_iter().count(), 20);
    assert_eq!(v.par_iter().product::<i64>(), 2_432_902_008_176_640_000);
    assert_eq!(v.par_iter().max(), Some(&20));
    assert_eq!(v.par_iter().min(), Some(&1));
    assert!(v.par_iter().any(|&x| x == 13));
    assert!(v.par_iter().all(|&x| x > 0));
    assert_eq!(v.par_iter().find_any(|&&x| x % 19 == 0), Some(&19));
    assert_eq!(v.par_iter().cloned().reduce(|| 0, |a, b| a + b), 210);
    let evens: Vec<i64> = v.par_iter().filter(|&&x| x % 2 == 0).cloned().collect();
    assert_eq!(evens, [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    let pairs: Vec<i64> = v.par_iter().flat_map_iter(|&x| vec![x; 2]).collect();
    assert_eq!(pairs.len(), 40);
    assert_eq!(&pairs[..4], [1, 1, 2, 2]);
    let lengths: HashMap<i64, usize> = v.par_iter().map(|&x| (x, x.to_string().len())).collect();
    assert_eq!(lengths[&9], 1);
    assert_eq!(lengths[&10], 2);
    let s: String = (0..26u8)
        .into_par_iter()
        .map(|i| (b'a' + i) as char)
        .collect();
    assert_eq!(s, "abcdefghijklmnopqrstuvwxyz");
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let total: i64 = v
        .par_iter()
        .inspect(|_| {
            checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .with_min_len(4)
        .sum();
    assert_eq!(total, 210);
    assert_eq!(checked.into_inner(), 20);
}

#[test]
fn chunked_sums() {
    let data: Vec<u32> = (0..10_001).collect();
    let sums: Vec<u32> = data.par_chunks(1000).map(|c| c.iter().sum()).collect();
    assert_eq!(sums.len(), 11);
    assert_eq!(sums[0], 499_500);
    assert_eq!(sums[10], 10_000);
    assert_eq!(sums.iter().map(|&s| u64::from(s)).sum::<u64>(), 50_005_000);
}

#[test]
fn nested_matrix_multiply() {
    let n = 48;
    let a: Vec<Vec<i64>> = (0..n)
        .map(|i| (0..n).map(|j| (i * n + j) as i64 % 11 - 5).collect())
        .collect();
    let b: Vec<Vec<i64>> = (0..n)
        .map(|i| (0..n).map(|j| (i + 2 * j) as i64 % 7 - 3).collect())
        .collect();
    let c: Vec<Vec<i64>> = a
        .par_iter()
        .map(|row| {
            (0..n)
                .into_par_iter()
                .map(|j| row.iter().zip(&b).map(|(x, b_row)| x * b_row[j]).sum())
                .collect()
        })
        .collect();
    for i in 0..n {
        for j in 0..n {
            let expected: i64 = (0..n).map(|k| a[i][k] * b[k][j]).sum();
            assert_eq!(c[i][j], expected, "c[{i}][{j}]");
        }
    }
}

#[test]
fn on_a_custom_pool() {
    // rayon: rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap()
    let pool = stealpool::WorkerPool::builder()
        .num_threads(2)
        .build()
        .unwrap();
    let (total, max) = pool.install(|| {
        // The range's type (u64) comes from the `Vec<u64>`, as with rayon.
        let v: Vec<u64> = (0..100_000).into_par_iter().map(|x| x % 1000).collect();
        (v.par_iter().sum::<u64>(), v.par_iter().max().copied())
    });
    assert_eq!(total, 100 * 499_500);
    assert_eq!(max, Some(999));
    assert_eq!(
        pool.install(|| (0..100).into_par_iter().map(|_| 1).sum::<i32>()),
        100
    );
}

#[test]
fn untyped_ranges_take_their_type_from_the_context() {
    let a: Vec<u64> = (0..100).into_par_iter().collect();
    assert_eq!(a.len(), 100);
    let b: u64 = (0..100).into_par_iter().sum();
    assert_eq!(b, 4950);
    let e: u64 = (0..100).into_par_iter().map(|x| x * 2).sum();
    assert_eq!(e, 9900);
    let chars = vec!['s', 't', 'e', 'a', 'l'];
    let s: String = chars.par_iter().collect();
    assert_eq!(s, "steal");
}

#[test]
fn inclusive_ranges() {
    assert_eq!((1..=100u64).into_par_iter().sum::<u64>(), 5050);
    assert_eq!((0..=255u8).into_par_iter().count(), 256);
    let sum: i64 = (i8::MIN..=i8::MAX).into_par_iter().map(i64::from).sum();
    assert_eq!(sum, -128);
    #[allow(clippy::reversed_empty_ranges)]
    let empty = (5..=4).into_par_iter().count();
    assert_eq!(empty, 0);
    let v: Vec<u32> = (1..=10).into_par_iter().collect();
    assert_eq!(v, (1..=10).collect::<Vec<u32>>());
    let top = (u64::MAX - 9..=u64::MAX).into_par_iter().max();
    assert_eq!(top, Some(u64::MAX));
    let big: u64 = (0..=2_000_000u64)
        .into_par_iter()
        .filter(|x| x % 2 == 0)
        .count() as u64;
    assert_eq!(big, 1_000_001);
}
