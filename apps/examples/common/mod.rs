//! Helpers shared by the examples (not an example itself): time-stamped lines, quiet planned
//! panics, and a small seeded random number generator. Each example uses only some of them.
#![allow(dead_code)]

use std::any::Any;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static START: OnceLock<Instant> = OnceLock::new();

/// Time since the program's first call (call it once at the start of `main`).
pub fn since_start() -> Duration {
    START.get_or_init(Instant::now).elapsed()
}

/// Prints one line stamped with the time since the program started.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("[{:>7.3}s] {}", common::since_start().as_secs_f64(), format_args!($($arg)*))
    };
}

/// The panic's message, when it is a string.
pub fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text
    } else {
        "<not a string>"
    }
}

/// The default panic hook prints a message for every panic, including the ones the pool
/// catches. This one keeps quiet about panics whose message starts with `planned` (the ones
/// an example causes on purpose); anything else is a real problem and shows.
pub fn install_quiet_panic_hook(planned: &'static str) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !panic_text(info.payload()).starts_with(planned) {
            default(info);
        }
    }));
}

/// A small deterministic random number generator (xorshift64*), so runs look alike.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform between `low` and `high`.
    pub fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        low + (high - low).mul_f64(self.unit())
    }

    /// Log-uniform between `low` and `high`: as many short values per decade as long ones.
    pub fn log_uniform(&mut self, low: Duration, high: Duration) -> Duration {
        let ratio = high.as_secs_f64() / low.as_secs_f64();
        low.mul_f64(ratio.powf(self.unit()))
    }
}
