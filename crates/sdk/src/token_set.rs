//! [`TokenSet`]: the tokens of one grant, in a form a program can keep (serde) and reason about
//! (an absolute expiry instead of the wire's relative `expires_in`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use ucoauth_wire::{params::TOKEN_TYPE_BEARER, OauthTokenResponse};

use crate::{
    error::SdkError,
    types::{AccessToken, RefreshToken},
};

/// The usable part of a successful token response.
///
/// Serialises to JSON such as
/// `{"access_token":"...","refresh_token":"...","scope":"item_read","merchant_id":"DEMO","expires_at":1767225600}`
/// (`expires_at` in seconds since the Unix epoch), so it can be stored between runs. `Debug`
/// redacts both tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The bearer token for API calls.
    pub access_token: AccessToken,
    /// The token that gets the next access token; absent if the server issued none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// Space-delimited granted scopes, as the server reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The UltraCart merchant account that authorized the application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// When the access token expires: the moment the request was sent plus `expires_in`.
    /// `None` when the server did not say, in which case the token is used until refused.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "epoch_seconds"
    )]
    pub expires_at: Option<SystemTime>,
}

impl TokenSet {
    /// Reads a successful token response. `sent_at` is when the request left: measuring the
    /// lifetime from then, not from arrival, errs on the side of refreshing early.
    ///
    /// Fails when there is no `access_token`, or when `token_type` is present and not `bearer`
    /// (compared case-insensitively, as RFC 6749 §5.1 asks).
    pub fn from_response(
        response: OauthTokenResponse,
        sent_at: SystemTime,
    ) -> Result<Self, SdkError> {
        if let Some(token_type) = response.token_type.as_deref() {
            if !token_type.eq_ignore_ascii_case(TOKEN_TYPE_BEARER) {
                return Err(SdkError::InvalidTokenResponse {
                    reason: format!("token_type is {token_type:?}, not \"bearer\""),
                });
            }
        }
        let expires_at = response
            .expires_in_seconds()
            .and_then(|seconds| sent_at.checked_add(Duration::from_secs(seconds)));
        let access_token = match response.access_token {
            Some(token) if !token.is_empty() => AccessToken::new(token),
            _ => {
                return Err(SdkError::InvalidTokenResponse {
                    reason: "it has no access_token".to_owned(),
                })
            }
        };
        Ok(Self {
            access_token,
            refresh_token: response
                .refresh_token
                .filter(|token| !token.is_empty())
                .map(RefreshToken::new),
            scope: response.scope,
            merchant_id: response.merchant_id,
            expires_at,
        })
    }

    /// Time left before the access token expires at `now` (zero once expired); `None` when the
    /// expiry is unknown.
    pub fn expires_in(&self, now: SystemTime) -> Option<Duration> {
        let expires_at = self.expires_at?;
        Some(expires_at.duration_since(now).unwrap_or(Duration::ZERO))
    }

    /// True once the access token has expired. Unknown expiry counts as not expired.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        self.needs_refresh(Duration::ZERO, now)
    }

    /// True when the access token expires within `margin` of `now`.
    pub fn needs_refresh(&self, margin: Duration, now: SystemTime) -> bool {
        self.expires_in(now).is_some_and(|left| left <= margin)
    }

    /// The granted scopes one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or_default().split_whitespace()
    }

    /// After a refresh: keeps what the new response left out (RFC 6749 §6 lets the server omit
    /// the refresh token when it does not rotate it, and §5.1 the scope when it is unchanged).
    pub(crate) fn inherit_from(&mut self, previous: &TokenSet) {
        if self.refresh_token.is_none() {
            self.refresh_token.clone_from(&previous.refresh_token);
        }
        if self.scope.is_none() {
            self.scope.clone_from(&previous.scope);
        }
        if self.merchant_id.is_none() {
            self.merchant_id.clone_from(&previous.merchant_id);
        }
    }
}

/// `Option<SystemTime>` as whole seconds since the Unix epoch.
mod epoch_seconds {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<SystemTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(time) => serializer.serialize_u64(super::to_epoch_seconds(*time)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        Ok(Option::<u64>::deserialize(deserializer)?
            .and_then(|seconds| UNIX_EPOCH.checked_add(Duration::from_secs(seconds))))
    }
}

/// Whole seconds since the Unix epoch, rounded down; 0 for earlier times.
fn to_epoch_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn response(expires_in: Option<&str>) -> OauthTokenResponse {
        OauthTokenResponse {
            access_token: Some("at".into()),
            refresh_token: Some("rt".into()),
            expires_in: expires_in.map(str::to_owned),
            scope: Some("item_read order_read".into()),
            merchant_id: Some("DEMO".into()),
            token_type: Some("bearer".into()),
            ..OauthTokenResponse::default()
        }
    }

    #[test]
    fn expiry_is_the_send_time_plus_expires_in() {
        let tokens = TokenSet::from_response(response(Some("3600")), at(1_000)).unwrap();
        assert_eq!(tokens.expires_at, Some(at(4_600)));
        assert_eq!(
            tokens.expires_in(at(1_000)),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(tokens.expires_in(at(5_000)), Some(Duration::ZERO));
        assert!(!tokens.is_expired(at(4_599)));
        assert!(tokens.is_expired(at(4_600)));
        assert!(!tokens.needs_refresh(Duration::from_secs(60), at(4_539)));
        assert!(tokens.needs_refresh(Duration::from_secs(60), at(4_540)));
        assert_eq!(
            tokens.scopes().collect::<Vec<_>>(),
            ["item_read", "order_read"]
        );
    }

    #[test]
    fn unknown_or_garbled_expiry_means_no_expiry() {
        for expires_in in [None, Some("soon"), Some("-5")] {
            let tokens = TokenSet::from_response(response(expires_in), at(0)).unwrap();
            assert_eq!(tokens.expires_at, None);
            assert!(!tokens.needs_refresh(Duration::from_secs(60), at(u32::MAX.into())));
        }
    }

    #[test]
    fn a_response_without_access_token_or_with_another_token_type_is_refused() {
        let mut no_token = response(Some("60"));
        no_token.access_token = None;
        assert!(matches!(
            TokenSet::from_response(no_token, at(0)),
            Err(SdkError::InvalidTokenResponse { .. })
        ));
        let mut mac = response(Some("60"));
        mac.token_type = Some("mac".into());
        assert!(TokenSet::from_response(mac, at(0)).is_err());
        let mut shouting = response(Some("60"));
        shouting.token_type = Some("Bearer".into());
        assert!(TokenSet::from_response(shouting, at(0)).is_ok());
    }

    #[test]
    fn round_trips_through_json_with_epoch_seconds() {
        let tokens = TokenSet::from_response(response(Some("3600")), at(1_000)).unwrap();
        let json = serde_json::to_value(&tokens).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "access_token": "at",
                "refresh_token": "rt",
                "scope": "item_read order_read",
                "merchant_id": "DEMO",
                "expires_at": 4600
            })
        );
        let back: TokenSet = serde_json::from_value(json).unwrap();
        assert_eq!(back, tokens);
        let minimal: TokenSet = serde_json::from_str(r#"{"access_token":"a"}"#).unwrap();
        assert_eq!(minimal.expires_at, None);
    }

    #[test]
    fn debug_redacts_both_tokens() {
        let tokens = TokenSet::from_response(response(Some("3600")), at(0)).unwrap();
        let shown = format!("{tokens:?}");
        assert!(shown.contains("AccessToken([redacted])"), "{shown}");
        assert!(shown.contains("RefreshToken([redacted])"), "{shown}");
        assert!(
            !shown.contains("\"at\"") && !shown.contains("\"rt\""),
            "{shown}"
        );
    }

    #[test]
    fn a_refresh_keeps_what_the_new_response_left_out() {
        let old = TokenSet::from_response(response(Some("60")), at(0)).unwrap();
        let mut new = TokenSet::from_response(
            OauthTokenResponse {
                access_token: Some("at2".into()),
                ..OauthTokenResponse::default()
            },
            at(10),
        )
        .unwrap();
        new.inherit_from(&old);
        assert_eq!(new.refresh_token, Some(RefreshToken::new("rt")));
        assert_eq!(new.scope.as_deref(), Some("item_read order_read"));
        assert_eq!(new.merchant_id.as_deref(), Some("DEMO"));
        assert_eq!(new.access_token, AccessToken::new("at2"));
    }
}
