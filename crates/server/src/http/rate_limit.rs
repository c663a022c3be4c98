//! Rate limits: sign-in attempts (per client IP and per account), and the token and revoke
//! endpoints (per application, and failed attempts per client IP).
//!
//! # What they guarantee
//! Counters live in each node's memory (GCRA token buckets). With N nodes behind a load balancer
//! a client can get up to N times each limit; limits reset when a node restarts. They exist to
//! make brute force slow and to keep one application from starving the others, not as quotas.
//! A refused request gets 429 with `Retry-After` (whole seconds) and an `ErrorResponse`.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::{header, StatusCode};
use governor::{clock::Clock as _, DefaultKeyedRateLimiter, Quota};

use super::error::ApiError;
pub use crate::config::RateLimits;

type Keyed = DefaultKeyedRateLimiter<String>;

/// Counts failures per key in fixed windows, and can be asked before a request whether the key
/// is blocked — which a token bucket cannot answer without spending a unit.
struct FailureWindow {
    limit: u32,
    window: Duration,
    counts: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureWindow {
    fn new(window: Duration, limit: u32) -> Option<Arc<Self>> {
        (limit > 0).then(|| {
            Arc::new(Self {
                limit,
                window,
                counts: Mutex::new(HashMap::new()),
            })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u32, Instant)>> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Seconds until `key` may try again, if it is blocked now.
    fn blocked(&self, key: &str) -> Option<u64> {
        let counts = self.lock();
        let (count, started) = counts.get(key)?;
        let elapsed = started.elapsed();
        (*count >= self.limit && elapsed < self.window)
            .then(|| (self.window - elapsed).as_secs() + 1)
    }

    fn record(&self, key: &str) {
        let mut counts = self.lock();
        let entry = counts.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    fn prune(&self) {
        let window = self.window;
        self.lock()
            .retain(|_, (_, started)| started.elapsed() < window);
    }
}

/// The limiters of one node.
#[derive(Clone)]
pub struct Limiters {
    login_ip: Option<Arc<Keyed>>,
    login_account: Option<Arc<FailureWindow>>,
    token_client: Option<Arc<Keyed>>,
    token_failures_ip: Option<Arc<FailureWindow>>,
}

fn keyed(per: Duration, count: u32) -> Option<Arc<Keyed>> {
    let n = NonZeroU32::new(count)?;
    let quota = Quota::with_period(per / count)?.allow_burst(n);
    Some(Arc::new(Keyed::keyed(quota)))
}

/// A request-rate limit (token bucket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Sign-in attempts per client IP.
    LoginIp,
    /// Token and revoke requests per application.
    TokenClient,
}

/// A failure limit (fixed window, checked before the request is processed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failures {
    /// Failed sign-ins per account.
    LoginAccount,
    /// Failed token/revoke requests per client IP.
    TokenIp,
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Self {
        if !limits.enabled {
            return Self {
                login_ip: None,
                login_account: None,
                token_client: None,
                token_failures_ip: None,
            };
        }
        let minute = Duration::from_secs(60);
        Self {
            login_ip: keyed(minute, limits.login_per_ip_per_minute),
            login_account: FailureWindow::new(minute, limits.login_failures_per_account_per_minute),
            token_client: keyed(Duration::from_secs(1), limits.token_per_client_per_second),
            token_failures_ip: FailureWindow::new(minute, limits.token_failures_per_ip_per_minute),
        }
    }

    fn limiter(&self, limit: Limit) -> Option<&Arc<Keyed>> {
        match limit {
            Limit::LoginIp => self.login_ip.as_ref(),
            Limit::TokenClient => self.token_client.as_ref(),
        }
    }

    fn window(&self, kind: Failures) -> Option<&Arc<FailureWindow>> {
        match kind {
            Failures::LoginAccount => self.login_account.as_ref(),
            Failures::TokenIp => self.token_failures_ip.as_ref(),
        }
    }

    /// Seconds to wait if `key` has used up its failures.
    pub fn blocked(&self, kind: Failures, key: &str) -> Option<u64> {
        self.window(kind)?.blocked(key)
    }

    pub fn record_failure(&self, kind: Failures, key: &str) {
        if let Some(w) = self.window(kind) {
            w.record(key);
        }
    }

    /// Forgets the failures of `key` (a successful sign-in ends the back-off).
    pub fn clear_failures(&self, kind: Failures, key: &str) {
        if let Some(w) = self.window(kind) {
            w.clear(key);
        }
    }

    /// Takes one unit for `key`; on refusal, the whole seconds to wait.
    pub fn check(&self, limit: Limit, key: &str) -> Result<(), u64> {
        let Some(limiter) = self.limiter(limit) else {
            return Ok(());
        };
        limiter.check_key(&key.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    /// Forgets idle keys so memory stays bounded.
    pub fn prune(&self) {
        for limiter in [&self.login_ip, &self.token_client].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for window in [&self.login_account, &self.token_failures_ip]
            .into_iter()
            .flatten()
        {
            window.prune();
        }
    }
}

/// The 429 answer.
pub fn too_many(retry_after_secs: u64, what: &str) -> ApiError {
    let secs = retry_after_secs.max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        format!("too many {what}; retry after {secs} s"),
    )
    .with_header(header::RETRY_AFTER, &secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_allowance_is_refused_with_a_wait() {
        let limiters = Limiters::new(RateLimits {
            login_per_ip_per_minute: 3,
            ..RateLimits::default()
        });
        for _ in 0..3 {
            assert!(limiters.check(Limit::LoginIp, "10.0.0.1").is_ok());
        }
        let wait = limiters.check(Limit::LoginIp, "10.0.0.1").unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        // Other keys are unaffected.
        assert!(limiters.check(Limit::LoginIp, "10.0.0.2").is_ok());
    }

    #[test]
    fn failures_block_only_once_the_limit_is_reached_and_success_clears_them() {
        let limiters = Limiters::new(RateLimits {
            login_failures_per_account_per_minute: 2,
            ..RateLimits::default()
        });
        assert_eq!(limiters.blocked(Failures::LoginAccount, "demo"), None);
        limiters.record_failure(Failures::LoginAccount, "demo");
        assert_eq!(limiters.blocked(Failures::LoginAccount, "demo"), None);
        limiters.record_failure(Failures::LoginAccount, "demo");
        let wait = limiters.blocked(Failures::LoginAccount, "demo").unwrap();
        assert!((1..=61).contains(&wait));
        assert_eq!(limiters.blocked(Failures::LoginAccount, "other"), None);
        limiters.clear_failures(Failures::LoginAccount, "demo");
        assert_eq!(limiters.blocked(Failures::LoginAccount, "demo"), None);
    }

    #[test]
    fn disabled_or_zero_limits_never_refuse() {
        let off = Limiters::new(RateLimits {
            enabled: false,
            ..RateLimits::default()
        });
        let zero = Limiters::new(RateLimits {
            login_per_ip_per_minute: 0,
            ..RateLimits::default()
        });
        for _ in 0..100 {
            assert!(off.check(Limit::LoginIp, "k").is_ok());
            assert!(zero.check(Limit::LoginIp, "k").is_ok());
        }
    }
}
