//! Reconnect delays: exponential, capped, with jitter so that many cameras
//! behind one failed switch do not reconnect in lockstep.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, cap: Duration) -> Self {
        Backoff {
            initial,
            cap,
            attempt: 0,
        }
    }

    /// The delay before the next attempt: `initial * 2^n` capped, then
    /// scaled by a random factor in [0.5, 1.0] ("equal jitter").
    pub fn next_delay(&mut self) -> Duration {
        let factor = rand::rng().random_range(0.5..=1.0);
        self.next_delay_with(factor)
    }

    fn next_delay_with(&mut self, jitter: f64) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << self.attempt.min(16));
        self.attempt = self.attempt.saturating_add(1);
        exp.min(self.cap).mul_f64(jitter)
    }

    /// A connection that delivered frames resets the backoff.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_then_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let delays: Vec<_> = (0..10)
            .map(|_| b.next_delay_with(1.0).as_millis())
            .collect();
        assert_eq!(
            delays,
            [
                500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000
            ]
        );
        b.reset();
        assert_eq!(b.next_delay_with(0.5).as_millis(), 250);
    }

    #[test]
    fn jitter_stays_within_half_to_full() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..50 {
            let d = b.next_delay();
            assert!(d <= Duration::from_secs(30) && d >= Duration::from_millis(500));
        }
    }
}
