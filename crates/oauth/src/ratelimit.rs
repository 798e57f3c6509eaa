//! In-process limits for the token endpoint: token buckets per client and per address
//! ([`RateLimiter`]), and a sliding count of authentication failures that says when to
//! raise a security alert ([`FailureWatch`]).
//!
//! Both are per node: with several nodes the effective limit is the sum. Both bound
//! their memory: past [`MAX_TRACKED`] keys the oldest state is dropped (a flood of
//! distinct keys then loses history, which only ever loosens a limit for a moment).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most keys tracked by one limiter or watch.
pub const MAX_TRACKED: usize = 100_000;

/// A token bucket per key: `rate` requests per second, bursts up to `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// `rate` per second, bursts of `burst` (both at least 1).
    #[must_use]
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request for `key` at `now`: `Ok` when allowed, else `Err(seconds)`
    /// until one would be (at least 1, for Retry-After).
    ///
    /// # Errors
    /// The seconds to wait.
    pub fn check_at(&self, key: &str, now: Instant) -> Result<(), u64> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(key) {
            let horizon = Duration::from_secs_f64(self.burst / self.rate);
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < horizon);
            if buckets.len() >= MAX_TRACKED {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - bucket.tokens) / self.rate;
        // The wait is at most 1/rate seconds, so the cast cannot overflow.
        Err((wait.ceil() as u64).max(1))
    }

    /// As [`RateLimiter::check_at`], now.
    ///
    /// # Errors
    /// The seconds to wait.
    pub fn check(&self, key: &str) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }
}

/// Counts failures per key within a window and says when a key reaches the threshold,
/// once per window.
#[derive(Debug)]
pub struct FailureWatch {
    threshold: u32,
    window: Duration,
    seen: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
    raised: bool,
}

impl FailureWatch {
    /// Raise when `threshold` failures fall within `window`.
    #[must_use]
    pub fn new(threshold: u32, window: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failure for `key` at `now`; returns the count when this failure
    /// reaches the threshold (the first time in this window), else `None`.
    pub fn failure_at(&self, key: &str, now: Instant) -> Option<u32> {
        let mut seen = self.seen.lock().ok()?;
        if seen.len() >= MAX_TRACKED && !seen.contains_key(key) {
            let window = self.window;
            seen.retain(|_, w| now.saturating_duration_since(w.start) < window);
            if seen.len() >= MAX_TRACKED {
                seen.clear();
            }
        }
        let entry = seen.entry(key.to_owned()).or_insert(Window {
            start: now,
            count: 0,
            raised: false,
        });
        if now.saturating_duration_since(entry.start) >= self.window {
            *entry = Window {
                start: now,
                count: 0,
                raised: false,
            };
        }
        entry.count = entry.count.saturating_add(1);
        if entry.count >= self.threshold && !entry.raised {
            entry.raised = true;
            return Some(entry.count);
        }
        None
    }

    /// As [`FailureWatch::failure_at`], now.
    pub fn failure(&self, key: &str) -> Option<u32> {
        self.failure_at(key, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_waits() {
        let limiter = RateLimiter::new(2, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("c", t0).is_ok());
        }
        assert_eq!(limiter.check_at("c", t0), Err(1));
        assert!(limiter.check_at("other", t0).is_ok(), "keys are apart");
        let later = t0 + Duration::from_millis(500);
        assert!(limiter.check_at("c", later).is_ok(), "refilled at 2/s");
        assert!(limiter.check_at("c", later).is_err());
    }

    #[test]
    fn watch_raises_once_per_window() {
        let watch = FailureWatch::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(watch.failure_at("ip", t0), None);
        assert_eq!(watch.failure_at("ip", t0), None);
        assert_eq!(watch.failure_at("ip", t0), Some(3));
        assert_eq!(watch.failure_at("ip", t0), None, "once per window");
        let next = t0 + Duration::from_secs(61);
        assert_eq!(watch.failure_at("ip", next), None);
        assert_eq!(watch.failure_at("ip", next), None);
        assert_eq!(watch.failure_at("ip", next), Some(3));
    }
}
