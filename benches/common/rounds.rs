//! Interleaved rounds: every variant of a comparison runs once per round, so that a passing
//! disturbance on the (shared) machine, another build say, is spread over all variants
//! instead of skewing one of them. The pools stay alive across rounds; only one has work at
//! a time.

/// The order of the variants within a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// The same order every round.
    Fixed,
    /// The order rotates by one from round to round ([`rotation`]), so no variant always
    /// runs right after the same one.
    Rotating,
}

/// `0..n` rotated left by `shift`: `shift % n, shift % n + 1, ..., n - 1, 0, ...`. Round
/// `r` of a rotating schedule runs the variants in the order `rotation(n, r)`.
pub fn rotation(n: usize, shift: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (shift + k) % n)
}

/// How a comparison's rounds run.
#[derive(Clone, Copy, Debug)]
pub struct Rounds {
    pub rounds: usize,
    pub order: Order,
    /// Each sampled run directly follows an unsampled run of the same variant, so that it
    /// finds its pool warm and the previous variant's threads gone quiet.
    pub warm_each: bool,
}

impl Rounds {
    /// Runs the rounds over variants `0..n`; `run(i)` runs variant `i` once and returns its
    /// sample. Returns the samples of each variant, in round order.
    pub fn run<S>(&self, n: usize, mut run: impl FnMut(usize) -> S) -> Vec<Vec<S>> {
        let mut samples: Vec<Vec<S>> = (0..n).map(|_| Vec::with_capacity(self.rounds)).collect();
        for round in 0..self.rounds {
            let shift = match self.order {
                Order::Fixed => 0,
                Order::Rotating => round,
            };
            for i in rotation(n, shift) {
                if self.warm_each {
                    run(i);
                }
                samples[i].push(run(i));
            }
        }
        samples
    }
}
