//! [`IntrospectionVerifier`]: checks bearer tokens by asking the authorization server
//! (`POST /rest/v2/oauth/introspect`, RFC 7662), authenticating as a resource server with its
//! own `client_id` and `client_secret` (HTTP Basic).
//!
//! # The cache, and how stale it can be
//! Answers are kept for a short time so a busy service does not ask once per request. The
//! cache is keyed by the SHA-256 of the token (tokens themselves are not kept), holds at most
//! `capacity` entries, and keeps an answer for `ttl` (default 10 s), never past the token's own
//! `exp`. Consequence: **a token revoked at the authorization server can still be accepted
//! here for up to `ttl`**. Inactive answers are cached too; that is safe, because a token
//! never becomes active again once it is unknown, expired or revoked. Set `ttl` to zero to
//! ask every time (revocation then takes effect at once). Failures (server unreachable,
//! refused credentials) are never cached.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use sha2::{Digest as _, Sha256};
use tokio::time::Instant;
use ucoauth_wire::standard::{IntrospectionResponse, INTROSPECTION_TYPE_ACCESS};

use crate::verify::{Principal, Scheme, TokenVerifier, VerifyError, VerifyFuture};

/// Default time an answer is kept.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10);
/// Default most answers kept.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Asks the authorization server whether a token is active. See the module docs.
pub struct IntrospectionVerifier {
    http: reqwest::Client,
    url: String,
    /// `Basic base64(urlencode(client_id) ":" urlencode(secret))`, built once.
    authorization: String,
    cache: Cache,
}

impl std::fmt::Debug for IntrospectionVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionVerifier")
            .field("url", &self.url)
            .field("cache_ttl", &self.cache.ttl)
            .finish_non_exhaustive()
    }
}

impl IntrospectionVerifier {
    /// A verifier calling `introspection_url` as the resource server `client_id`.
    pub fn new(introspection_url: &str, client_id: &str, client_secret: &str) -> Self {
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(client_id), encode(client_secret));
        Self {
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            url: introspection_url.to_owned(),
            authorization: format!("Basic {}", STANDARD.encode(pair)),
            cache: Cache::new(DEFAULT_CACHE_TTL, DEFAULT_CACHE_CAPACITY),
        }
    }

    /// Keeps answers for `ttl` (zero: no cache), at most `capacity` of them.
    pub fn with_cache(mut self, ttl: Duration, capacity: usize) -> Self {
        self.cache = Cache::new(ttl, capacity);
        self
    }

    /// Uses `client` for the calls (e.g. with other timeouts or TLS roots).
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self
    }

    async fn ask(&self, token: &str) -> Result<Option<Principal>, VerifyError> {
        let response = self
            .http
            .post(&self.url)
            .header(http::header::AUTHORIZATION, &self.authorization)
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("introspection request failed: {e}")))?;
        let status = response.status();
        if status == http::StatusCode::UNAUTHORIZED || status == http::StatusCode::FORBIDDEN {
            let why = response
                .headers()
                .get("uc-rest-error")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            return Err(VerifyError::Misconfigured(format!(
                "the authorization server refused this resource server's credentials ({status}): {why}"
            )));
        }
        if !status.is_success() {
            return Err(VerifyError::Unavailable(format!(
                "introspection answered {status}"
            )));
        }
        let body: IntrospectionResponse = response.json().await.map_err(|e| {
            VerifyError::Unavailable(format!("introspection answer is not RFC 7662 JSON: {e}"))
        })?;
        principal_of(body)
    }
}

/// The principal an introspection answer describes, if it describes a live access token.
fn principal_of(body: IntrospectionResponse) -> Result<Option<Principal>, VerifyError> {
    if !body.active {
        return Ok(None);
    }
    // A refresh token is active too, but it is not a credential for API calls.
    if let Some(kind) = &body.token_type {
        if !kind.eq_ignore_ascii_case(INTROSPECTION_TYPE_ACCESS) {
            return Ok(None);
        }
    }
    if body.exp.is_some_and(|exp| exp <= unix_now()) {
        return Ok(None);
    }
    let scopes = body.scopes().into_iter().map(str::to_owned).collect();
    let merchant_id = body.merchant_id.or(body.sub).ok_or_else(|| {
        VerifyError::Misconfigured("an active introspection answer names no merchant (sub)".into())
    })?;
    Ok(Some(Principal {
        merchant_id,
        client_id: body.client_id,
        scopes,
        expires_at: body.exp,
        scheme: Scheme::Bearer,
    }))
}

impl TokenVerifier for IntrospectionVerifier {
    fn verify_bearer<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(async move {
            let key = Cache::key(token);
            if let Some(answer) = self.cache.get(&key) {
                return Ok(answer);
            }
            let answer = self.ask(token).await?;
            self.cache.put(key, answer.clone());
            Ok(answer)
        })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

type Key = [u8; 32];

struct Entry {
    answer: Option<Principal>,
    until: Instant,
}

/// A bounded map from token hash to answer, each valid until a deadline.
struct Cache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<Key, Entry>>,
}

impl Cache {
    fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(token: &str) -> Key {
        Sha256::digest(token.as_bytes()).into()
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.capacity > 0
    }

    fn get(&self, key: &Key) -> Option<Option<Principal>> {
        if !self.enabled() {
            return None;
        }
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key) {
            Some(entry) if entry.until > now => Some(entry.answer.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: Key, answer: Option<Principal>) {
        if !self.enabled() {
            return;
        }
        let now = Instant::now();
        let mut until = now + self.ttl;
        // Never past the token's own expiry.
        if let Some(exp) = answer.as_ref().and_then(|p| p.expires_at) {
            let left = u64::try_from(exp - unix_now()).unwrap_or(0);
            until = until.min(now + Duration::from_secs(left));
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.until > now);
        }
        while entries.len() >= self.capacity {
            let Some(victim) = entries.keys().next().copied() else {
                break;
            };
            entries.remove(&victim);
        }
        entries.insert(key, Entry { answer, until });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(exp: Option<i64>) -> Principal {
        Principal {
            merchant_id: "DEMO".into(),
            client_id: Some("c".into()),
            scopes: vec!["item_read".into()],
            expires_at: exp,
            scheme: Scheme::Bearer,
        }
    }

    #[test]
    fn only_active_access_tokens_with_a_merchant_become_principals() {
        let active = IntrospectionResponse {
            active: true,
            scope: Some("item_read order_read".into()),
            client_id: Some("c".into()),
            token_type: Some("bearer".into()),
            exp: Some(unix_now() + 60),
            sub: Some("DEMO".into()),
            ..Default::default()
        };
        let p = principal_of(active.clone()).unwrap().unwrap();
        assert_eq!(p.merchant_id, "DEMO");
        assert_eq!(p.scopes, ["item_read", "order_read"]);

        let refresh = IntrospectionResponse {
            token_type: Some("refresh_token".into()),
            ..active.clone()
        };
        assert_eq!(principal_of(refresh).unwrap(), None);
        let expired = IntrospectionResponse {
            exp: Some(unix_now() - 1),
            ..active.clone()
        };
        assert_eq!(principal_of(expired).unwrap(), None);
        assert_eq!(
            principal_of(IntrospectionResponse::inactive()).unwrap(),
            None
        );
        let anonymous = IntrospectionResponse {
            sub: None,
            merchant_id: None,
            ..active
        };
        assert!(principal_of(anonymous).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn cached_answers_last_the_ttl_and_never_past_the_token_expiry() {
        let cache = Cache::new(Duration::from_secs(10), 100);
        let key = Cache::key("t");
        cache.put(key, Some(principal(None)));
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(cache.get(&key).is_some(), "still fresh after 9 s");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(cache.get(&key).is_none(), "stale after 11 s");

        let short = Cache::key("short");
        cache.put(short, Some(principal(Some(unix_now() + 3))));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(cache.get(&short).is_none(), "not kept past exp");
    }

    #[tokio::test(start_paused = true)]
    async fn the_cache_is_bounded_and_a_zero_ttl_disables_it() {
        let cache = Cache::new(Duration::from_secs(10), 3);
        for i in 0..10 {
            cache.put(Cache::key(&i.to_string()), None);
        }
        assert_eq!(cache.len(), 3);

        let off = Cache::new(Duration::ZERO, 3);
        off.put(Cache::key("t"), None);
        assert!(off.get(&Cache::key("t")).is_none());
    }
}
