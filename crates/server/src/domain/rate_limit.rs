//! Fixed-window counters against guessing and flooding (RFC 8628 §5.1 user-code brute force,
//! and abusive polling). The counts live in the database (`rate_limits`), so every node of a
//! PostgreSQL deployment sees the same ones; this module holds only the arithmetic.

use crate::clock::Millis;

/// At most `max` events per `window_ms` for one key (a client IP, a browser session, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: i64,
    pub window_ms: Millis,
}

/// The window a moment falls in: `[start, end)`, aligned to multiples of the window length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: Millis,
    pub end: Millis,
}

impl Limit {
    pub const fn new(max: i64, window_ms: Millis) -> Self {
        Self { max, window_ms }
    }

    /// The window `now` falls in.
    pub fn window(&self, now: Millis) -> Window {
        let len = self.window_ms.max(1);
        let start = now - now.rem_euclid(len);
        Window {
            start,
            end: start.saturating_add(len),
        }
    }

    /// Whether the `count`-th event of a window (counting from 1) is over the limit.
    pub fn exceeded_by(&self, count: i64) -> bool {
        count > self.max
    }

    /// Whole seconds until the window of `now` ends (at least 1), for `Retry-After`.
    pub fn retry_after_secs(&self, now: Millis) -> i64 {
        let left = self.window(now).end - now;
        ((left + 999) / 1000).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_half_open() {
        let l = Limit::new(3, 60_000);
        assert_eq!(
            l.window(125_000),
            Window {
                start: 120_000,
                end: 180_000
            }
        );
        assert_eq!(l.window(120_000).start, 120_000);
        assert_eq!(l.window(179_999).start, 120_000);
        assert_eq!(l.window(180_000).start, 180_000);
    }

    #[test]
    fn the_event_after_max_is_over_the_limit() {
        let l = Limit::new(3, 60_000);
        assert!(!l.exceeded_by(3));
        assert!(l.exceeded_by(4));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let l = Limit::new(3, 60_000);
        assert_eq!(l.retry_after_secs(120_000), 60);
        assert_eq!(l.retry_after_secs(179_001), 1);
        assert_eq!(l.retry_after_secs(179_999), 1);
        assert_eq!(l.retry_after_secs(150_500), 30);
    }
}
