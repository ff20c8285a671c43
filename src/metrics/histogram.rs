//! Latency histograms: a recorder each worker writes alone, and the [`Histogram`] snapshot
//! that merges them.
//!
//! Buckets are log-linear, as in HdrHistogram: values below 16 ns get a bucket each; above,
//! every power of two is cut into 16 equal buckets, so a bucket is never wider than 1/16 of
//! its lower edge (a reported percentile is at most 6.25% above the true value). Values are
//! nanoseconds up to 2^41 (about 37 minutes); longer ones land in the last bucket, and the
//! exact maximum is kept aside.
//!
//! Why not the `hdrhistogram` crate: recording there takes `&mut self`, so a histogram that
//! another thread may read at any time needs a lock around every record (or its `sync`
//! recorders, whose `refresh` waits for every recorder to check in, which a sleeping worker
//! never does). Here each worker owns its recorder and records with plain relaxed loads and
//! stores to its own buckets; a snapshot reads the buckets of all workers and adds them up.

use std::fmt;
use std::time::Duration;

use crate::loom::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two, as a number of bits.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// The largest power of two with buckets of its own.
const TOP_EXPONENT: u32 = 40;
/// Buckets in all: 16 for values below 16, then 16 per exponent from 4 to 40.
pub(crate) const BUCKETS: usize = ((TOP_EXPONENT - SUB_BITS + 2) as usize) << SUB_BITS;

/// The bucket that counts `nanos`.
#[inline]
fn bucket_of(nanos: u64) -> usize {
    if nanos < SUB {
        return nanos as usize;
    }
    let exponent = (63 - nanos.leading_zeros()).min(TOP_EXPONENT);
    if exponent == TOP_EXPONENT && nanos >> TOP_EXPONENT > 1 {
        return BUCKETS - 1;
    }
    let mantissa = (nanos >> (exponent - SUB_BITS)) & (SUB - 1);
    (((exponent - SUB_BITS + 1) as usize) << SUB_BITS) | mantissa as usize
}

/// The largest value bucket `index` counts.
fn bucket_high(index: usize) -> u64 {
    if index < SUB as usize {
        return index as u64;
    }
    let exponent = (index >> SUB_BITS) as u32 + SUB_BITS - 1;
    let mantissa = (index as u64) & (SUB - 1);
    let width = 1u64 << (exponent - SUB_BITS);
    ((SUB + mantissa) << (exponent - SUB_BITS)) + width - 1
}

/// Adds `by` to a counter only its owner thread writes: a load and a store, no locked
/// instruction (a racing reader sees the old or the new value, never a torn one).
#[inline]
pub(super) fn bump_by(counter: &AtomicU64, by: u64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(by),
        Ordering::Relaxed,
    );
}

/// The histogram one worker records into. Written by that worker's thread only (the one
/// serving its slot); read by anyone taking a snapshot.
pub(crate) struct Recorder {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value, in nanoseconds. Only the owner thread may call this.
    #[inline]
    pub(crate) fn record(&self, nanos: u64) {
        bump_by(&self.buckets[bucket_of(nanos)], 1);
        bump_by(&self.count, 1);
        bump_by(&self.sum, nanos);
        if nanos > self.max.load(Ordering::Relaxed) {
            self.max.store(nanos, Ordering::Relaxed);
        }
        if nanos < self.min.load(Ordering::Relaxed) {
            self.min.store(nanos, Ordering::Relaxed);
        }
    }

    /// Adds what this recorder holds to `into`.
    pub(crate) fn add_to(&self, into: &mut Histogram) {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return;
        }
        for (total, bucket) in into.buckets.iter_mut().zip(self.buckets.iter()) {
            *total += bucket.load(Ordering::Relaxed);
        }
        into.count += count;
        into.sum = into.sum.saturating_add(self.sum.load(Ordering::Relaxed));
        into.min = into.min.min(self.min.load(Ordering::Relaxed));
        into.max = into.max.max(self.max.load(Ordering::Relaxed));
    }
}

/// A distribution of durations: how long tasks waited in the queue, or ran, as recorded by
/// a pool built with [`record_timing(true)`](crate::PoolBuilder::record_timing).
///
/// Percentiles come from log-linear buckets (as in HdrHistogram): a reported percentile is
/// the top of the bucket the true value fell into, at most 6.25% above it (and never above
/// [`max`](Self::max), which is exact, as are [`min`](Self::min), [`count`](Self::count) and
/// [`mean`](Self::mean)). Histograms of different workers, lanes or snapshots merge with
/// [`merge`](Self::merge).
///
/// ```
/// use std::time::Duration;
/// use stealpool::WorkerPool;
///
/// let pool = WorkerPool::builder()
///     .num_threads(2)
///     .record_timing(true)
///     .timing_sample(1) // every task, not one in 8
///     .build()?;
/// let handles: Vec<_> = (0..100)
///     .map(|_| pool.spawn(|| std::thread::sleep(Duration::from_micros(200))))
///     .collect();
/// for handle in handles {
///     handle.join().unwrap();
/// }
/// let run = pool.metrics().run_time().expect("timing is on");
/// assert_eq!(run.count(), 100);
/// assert!(run.min() >= Duration::from_micros(200));
/// assert!(run.percentile(50.0) <= run.percentile(99.0));
/// assert!(run.percentile(99.0) <= run.max());
/// # Ok::<(), stealpool::BuildError>(())
/// ```
#[derive(Clone)]
pub struct Histogram {
    buckets: Box<[u64]>,
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            buckets: vec![0; BUCKETS].into_boxed_slice(),
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The shortest duration recorded (zero when empty).
    pub fn min(&self) -> Duration {
        if self.count == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(self.min)
        }
    }

    /// The longest duration recorded (zero when empty).
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The mean duration (zero when empty).
    pub fn mean(&self) -> Duration {
        match self.count {
            0 => Duration::ZERO,
            n => Duration::from_nanos(self.sum / n),
        }
    }

    /// The duration below or at which `percent` percent of the recorded ones fall (`percent`
    /// is clamped to 0..=100; zero when empty). `percentile(100.0)` is the maximum.
    pub fn percentile(&self, percent: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let percent = if percent.is_nan() {
            0.0
        } else {
            percent.clamp(0.0, 100.0)
        };
        // The rank of the value sought, 1-based: at least the first, at most the last.
        let rank = ((percent / 100.0 * self.count as f64).ceil() as u64).clamp(1, self.count);
        // The first and the last value are known exactly.
        if rank == 1 {
            return self.min();
        }
        if rank == self.count {
            return self.max();
        }
        let mut seen = 0;
        for (index, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let high = bucket_high(index).min(self.max).max(self.min);
                return Duration::from_nanos(high);
            }
        }
        // A snapshot can see a count ahead of the buckets it read; the maximum is safe.
        self.max()
    }

    /// The median.
    pub fn p50(&self) -> Duration {
        self.percentile(50.0)
    }

    /// The 90th percentile.
    pub fn p90(&self) -> Duration {
        self.percentile(90.0)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.percentile(99.0)
    }

    /// Adds everything `other` recorded to this histogram.
    ///
    /// ```
    /// # use stealpool::{Priority, WorkerPool};
    /// let pool = WorkerPool::builder().num_threads(1).record_timing(true).build()?;
    /// pool.spawn_with(Priority::High, || ()).join().unwrap();
    /// pool.spawn_with(Priority::Low, || ()).join().unwrap();
    /// let metrics = pool.metrics();
    /// let mut both = metrics.lane(Priority::High).run_time().unwrap().clone();
    /// both.merge(metrics.lane(Priority::Low).run_time().unwrap());
    /// assert_eq!(both.count(), 2);
    /// # Ok::<(), stealpool::BuildError>(())
    /// ```
    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *mine += theirs;
        }
        self.count += other.count;
        self.sum = self.sum.saturating_add(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count)
            .field("min", &self.min())
            .field("p50", &self.p50())
            .field("p90", &self.p90())
            .field("p99", &self.p99())
            .field("max", &self.max())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut previous_high = None;
        for index in 0..BUCKETS {
            let high = bucket_high(index);
            if let Some(previous) = previous_high {
                assert_eq!(
                    bucket_of(previous + 1),
                    index,
                    "bucket {index} starts after the last"
                );
            }
            assert_eq!(bucket_of(high), index);
            previous_high = Some(high);
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_of(0), 0);
    }

    #[test]
    fn a_bucket_is_never_wider_than_a_sixteenth_of_its_values() {
        for value in [
            16u64,
            17,
            31,
            32,
            100,
            1_000,
            65_537,
            1 << 30,
            (1 << 40) + 5,
        ] {
            let high = bucket_high(bucket_of(value));
            assert!(high >= value);
            assert!((high - value) * 16 <= value, "{value} reported as {high}");
        }
    }

    #[test]
    fn percentiles_of_a_known_set() {
        let recorder = Recorder::new();
        for micros in 1..=1000u64 {
            recorder.record(micros * 1000);
        }
        let mut histogram = Histogram::new();
        recorder.add_to(&mut histogram);
        assert_eq!(histogram.count(), 1000);
        assert_eq!(histogram.min(), Duration::from_micros(1));
        assert_eq!(histogram.max(), Duration::from_micros(1000));
        assert_eq!(histogram.mean(), Duration::from_nanos(500_500));
        for (percent, exact) in [(50.0, 500u64), (90.0, 900), (99.0, 990), (100.0, 1000)] {
            let got = histogram.percentile(percent).as_nanos() as u64;
            let exact = exact * 1000;
            assert!(
                got >= exact && (got - exact) * 16 <= exact,
                "p{percent}: {got} vs {exact}"
            );
        }
        assert_eq!(histogram.percentile(0.0), Duration::from_micros(1));
    }

    #[test]
    fn merging_adds_counts_and_keeps_extremes() {
        let (a, b) = (Recorder::new(), Recorder::new());
        a.record(3_000_000);
        b.record(7);
        b.record(5_000_000_000_000);
        let (mut left, mut right) = (Histogram::new(), Histogram::new());
        a.add_to(&mut left);
        b.add_to(&mut right);
        left.merge(&right);
        assert_eq!(left.count(), 3);
        assert_eq!(left.min(), Duration::from_nanos(7));
        assert_eq!(left.max(), Duration::from_secs(5000));
        assert_eq!(
            left.p50(),
            Duration::from_millis(3)
                + Duration::from_nanos(bucket_high(bucket_of(3_000_000)) - 3_000_000)
        );
        assert_eq!(Histogram::new().p99(), Duration::ZERO);
    }
}
