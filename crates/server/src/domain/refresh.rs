//! Refresh-token rotation with reuse detection (product.md §3, RFC 9700 §4.14.2).
//!
//! Every use of a refresh token consumes it and mints a successor. Presenting a consumed token
//! again is a sign that it leaked, so the whole grant is revoked — with one exception: a client
//! whose refresh response was lost in transit retries with the same token. Within a short grace
//! window, and only while the successor has never been used, the retry is answered with a fresh
//! pair and the unused successor is retired, so one grant never has two live refresh tokens.

use crate::clock::Millis;

/// The state of a presented refresh token, as the store read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentedState {
    pub expires_at: Millis,
    pub consumed_at: Option<Millis>,
    /// Retired as the unused successor of a grace-window retry.
    pub retired_at: Option<Millis>,
    /// The successor exists and was neither used nor retired.
    pub successor_unused: bool,
}

/// What to do with a presented refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Live: consume it and mint a successor.
    Rotate,
    /// A retry of the immediate predecessor within the grace window: retire the unused
    /// successor and mint a replacement.
    GraceRetry,
    /// Reuse of a rotated-out token: revoke the whole grant.
    Reuse,
    /// Expired and never used: refuse, without revoking anything.
    Expired,
}

pub fn decide(state: PresentedState, now: Millis, grace_ms: Millis) -> Decision {
    if state.retired_at.is_some() {
        return Decision::Reuse;
    }
    match state.consumed_at {
        None if now >= state.expires_at => Decision::Expired,
        None => Decision::Rotate,
        Some(consumed) if state.successor_unused && now - consumed <= grace_ms => {
            Decision::GraceRetry
        }
        Some(_) => Decision::Reuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Millis = 10_000;

    fn live() -> PresentedState {
        PresentedState {
            expires_at: 1_000_000,
            consumed_at: None,
            retired_at: None,
            successor_unused: false,
        }
    }

    #[test]
    fn a_live_token_rotates() {
        assert_eq!(decide(live(), 500, GRACE), Decision::Rotate);
    }

    #[test]
    fn an_expired_unused_token_is_refused_without_reuse() {
        assert_eq!(decide(live(), 1_000_000, GRACE), Decision::Expired);
    }

    #[test]
    fn a_retry_within_the_grace_window_with_an_unused_successor_is_accepted() {
        let s = PresentedState {
            consumed_at: Some(100),
            successor_unused: true,
            ..live()
        };
        assert_eq!(decide(s, 100 + GRACE, GRACE), Decision::GraceRetry);
    }

    #[test]
    fn a_retry_after_the_grace_window_is_reuse() {
        let s = PresentedState {
            consumed_at: Some(100),
            successor_unused: true,
            ..live()
        };
        assert_eq!(decide(s, 101 + GRACE, GRACE), Decision::Reuse);
    }

    #[test]
    fn a_retry_after_the_successor_was_used_is_reuse_even_within_the_window() {
        let s = PresentedState {
            consumed_at: Some(100),
            successor_unused: false,
            ..live()
        };
        assert_eq!(decide(s, 200, GRACE), Decision::Reuse);
    }

    #[test]
    fn a_retired_successor_is_reuse() {
        let s = PresentedState {
            retired_at: Some(150),
            ..live()
        };
        assert_eq!(decide(s, 200, GRACE), Decision::Reuse);
    }
}
