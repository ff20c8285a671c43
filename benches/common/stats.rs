//! Medians, nearest-rank percentiles and paired ratios of samples.

use std::time::Duration;

/// Median of a non-empty slice (sorted in place); the mean of the two middle values when
/// the count is even.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    median_of_sorted(values)
}

fn median_of_sorted(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    } else {
        sorted[mid]
    }
}

/// Nearest-rank percentile (`p` in 0..=100) of a sorted, non-empty slice.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One variant's samples (at least one): in the order they were taken, which for
/// interleaved rounds is round order, and sorted, for medians and percentiles.
#[derive(Clone, Debug)]
pub struct Samples {
    taken: Vec<f64>,
    sorted: Vec<f64>,
}

impl Samples {
    /// Panics on an empty vector: a figure of no samples is a bug in the bench.
    pub fn new(taken: Vec<f64>) -> Samples {
        assert!(!taken.is_empty(), "no samples");
        let mut sorted = taken.clone();
        sorted.sort_by(f64::total_cmp);
        Samples { taken, sorted }
    }

    /// Durations, as milliseconds.
    pub fn ms(durations: &[Duration]) -> Samples {
        Samples::new(durations.iter().map(|d| d.as_secs_f64() * 1e3).collect())
    }

    /// In the order taken.
    pub fn taken(&self) -> &[f64] {
        &self.taken
    }

    pub fn len(&self) -> usize {
        self.taken.len()
    }

    pub fn median(&self) -> f64 {
        median_of_sorted(&self.sorted)
    }

    /// Nearest-rank percentile, `p` in 0..=100.
    pub fn pct(&self, p: f64) -> f64 {
        percentile(&self.sorted, p)
    }

    pub fn min(&self) -> f64 {
        self.sorted[0]
    }

    pub fn max(&self) -> f64 {
        self.sorted[self.sorted.len() - 1]
    }

    /// How many samples exceed `limit`.
    pub fn over(&self, limit: f64) -> usize {
        self.sorted.iter().filter(|&&x| x > limit).count()
    }
}

/// `f(a, b)` sample by sample, in the order taken: for two variants measured in the same
/// interleaved rounds, one value per round.
pub fn paired(a: &Samples, b: &Samples, f: impl Fn(f64, f64) -> f64) -> Samples {
    assert_eq!(a.len(), b.len(), "paired samples of different counts");
    Samples::new(
        a.taken
            .iter()
            .zip(&b.taken)
            .map(|(&x, &y)| f(x, y))
            .collect(),
    )
}

/// The median over rounds of `a`'s sample divided by `b`'s in the same round. The machine's
/// speed drifts during a run (it is shared), and a ratio taken within one round cancels
/// most of that drift, which a ratio of two medians does not.
pub fn paired_ratio(a: &Samples, b: &Samples) -> f64 {
    paired(a, b, |x, y| x / y).median()
}
