//! Credentials: how they are minted and how they are stored.
//!
//! Every token, code and generated secret is 256 bits from the OS CSRNG. The store keeps only
//! `HMAC-SHA-256(pepper, purpose || 0x00 || value)`: a fast keyed hash is right for random
//! values (argon2 is for human passwords), and without the pepper, which never enters the
//! database, a dump of the database is useless. The purpose label keeps a value of one kind from
//! ever matching a row of another kind.
//!
//! # Keys in issue order
//! Access tokens, refresh tokens and authorization codes are minted by the thousand per second,
//! and a key made only of a hash lands on a random page of its table's index: one more page
//! written per credential, at commit and again at checkpoint. So these three are minted as 264
//! bits: the issue time in milliseconds (48 bits), then 216 random bits (44 characters; RFC 6749
//! §10.10 asks for at least 128 bits an attacker cannot guess). Their stored key keeps the
//! time in front of the keyed hash: `time || HMAC(...)[..26]`, so new keys sort after the
//! previous ones and every insert goes to the index's last page. The 208 bits of hash left are
//! as good a lookup key as 256: without the pepper nobody can produce a value that matches
//! one. A value of any other length (a 43-character credential minted before this scheme, or
//! a forgery) is keyed by the whole hash as before, and so keeps working or keeps failing.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;

use crate::clock::Millis;

/// What a hashed value is; part of the hash input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    AuthorizationCode,
    AccessToken,
    RefreshToken,
    ClientSecret,
    Session,
    LoginCsrf,
    SessionCsrf,
    /// The verification-page form before sign-in, bound to a nonce cookie.
    DeviceCsrf,
    DeviceCode,
    UserCode,
    SimpleKey,
}

impl Purpose {
    /// Whether credentials of this kind are keyed in issue order (see the module docs).
    fn ordered(self) -> bool {
        matches!(
            self,
            Self::AccessToken | Self::RefreshToken | Self::AuthorizationCode
        )
    }

    fn label(self) -> &'static [u8] {
        match self {
            Self::AuthorizationCode => b"code",
            Self::AccessToken => b"access",
            Self::RefreshToken => b"refresh",
            Self::ClientSecret => b"client-secret",
            Self::Session => b"session",
            Self::LoginCsrf => b"login-csrf",
            Self::SessionCsrf => b"session-csrf",
            Self::DeviceCsrf => b"device-csrf",
            Self::DeviceCode => b"device-code",
            Self::UserCode => b"user-code",
            Self::SimpleKey => b"simple-key",
        }
    }
}

/// A keyed hash of a credential, as stored.
pub type Digest = [u8; 32];

/// The server's secret key for credential hashes. Redacted in `Debug`.
#[derive(Clone)]
pub struct Pepper(Vec<u8>);

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

/// The shortest pepper accepted: 128 bits.
pub const MIN_PEPPER_BYTES: usize = 16;

impl Pepper {
    /// A pepper from raw key bytes; `None` if shorter than [`MIN_PEPPER_BYTES`].
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= MIN_PEPPER_BYTES).then_some(Self(bytes))
    }

    /// A new random 256-bit pepper.
    pub fn generate() -> Self {
        Self(random_bytes::<32>().to_vec())
    }

    /// The pepper as text, for writing to a key file.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }

    /// Parses the text form written by [`Pepper::to_hex`].
    pub fn from_hex(text: &str) -> Option<Self> {
        Self::from_bytes(hex::decode(text.trim()).ok()?)
    }

    /// The stored form of `value`.
    pub fn digest(&self, purpose: Purpose, value: &str) -> Digest {
        // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(purpose.label());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let hash: Digest = mac.finalize().into_bytes().into();
        match issue_time(purpose, value) {
            Some(time) => {
                let mut key = [0u8; 32];
                key[..TIME_BYTES].copy_from_slice(&time);
                key[TIME_BYTES..].copy_from_slice(&hash[..32 - TIME_BYTES]);
                key
            }
            None => hash,
        }
    }

    /// A deterministic token derived from `value` (used for CSRF tokens bound to a session).
    pub fn derive_token(&self, purpose: Purpose, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.digest(purpose, value))
    }

    /// Whether `presented` is the token [`Pepper::derive_token`] gives for `value`, in constant time.
    pub fn verify_derived(&self, purpose: Purpose, value: &str, presented: &str) -> bool {
        let expected = self.derive_token(purpose, value);
        expected.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

/// The current pepper and the peppers it replaced (rotation).
///
/// New credentials are always hashed with the current pepper. A presented credential is looked
/// up under the current pepper first, then under each previous one, so tokens issued before a
/// rotation keep working until they expire. Keep the previous list short (one or two): a
/// lookup that misses costs one indexed query per pepper.
#[derive(Debug, Clone, Copy)]
pub struct Peppers<'a> {
    current: &'a Pepper,
    previous: &'a [Pepper],
}

impl<'a> Peppers<'a> {
    pub fn new(current: &'a Pepper, previous: &'a [Pepper]) -> Self {
        Self { current, previous }
    }

    /// The pepper new credentials are hashed with.
    pub fn current(self) -> &'a Pepper {
        self.current
    }

    /// Whether any previous pepper is configured (if not, lookups need no fallback).
    pub fn rotating(self) -> bool {
        !self.previous.is_empty()
    }

    /// The stored forms `value` may have: under the current pepper, then under each previous.
    pub fn digests(self, purpose: Purpose, value: &'a str) -> impl Iterator<Item = Digest> + 'a {
        std::iter::once(self.current)
            .chain(self.previous.iter())
            .map(move |p| p.digest(purpose, value))
    }

    /// Whether `value` hashes to `stored` under any of the peppers (constant time per pepper).
    pub fn verify(self, purpose: Purpose, value: &str, stored: &[u8]) -> bool {
        // Every pepper is tried, so the time taken does not say which one matched.
        self.digests(purpose, value)
            .fold(false, |found, d| digests_equal(&d, stored) | found)
    }
}

impl<'a> From<&'a Pepper> for Peppers<'a> {
    fn from(current: &'a Pepper) -> Self {
        Self::new(current, &[])
    }
}

/// `N` bytes from a CSPRNG: `rand`'s thread-local ChaCha12, seeded from the operating system
/// and reseeded from it every 64 KiB of output. A refresh mints two credentials; asking the
/// kernel for each (a `getrandom` call) was a visible share of the request threads' time.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// A new opaque credential: 256 random bits, base64url without padding (43 characters).
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Length of an ordered credential's bytes: the issue time, then random bytes.
const ORDERED_BYTES: usize = 33;
/// The issue time at the front of an ordered credential: milliseconds, 48 bits, big-endian.
const TIME_BYTES: usize = 6;

/// A new access token, refresh token or authorization code, issued at `now`: its stored key
/// sorts in issue order (see the module docs). 44 characters, base64url without padding.
pub fn new_ordered_token(now: Millis) -> String {
    let mut bytes = random_bytes::<ORDERED_BYTES>();
    let millis = u64::try_from(now).unwrap_or(0).to_be_bytes();
    bytes[..TIME_BYTES].copy_from_slice(&millis[8 - TIME_BYTES..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The issue time in front of `value`, if `purpose` is ordered and `value` has the shape
/// [`new_ordered_token`] gives.
fn issue_time(purpose: Purpose, value: &str) -> Option<[u8; TIME_BYTES]> {
    if !purpose.ordered() || value.len() != 44 {
        return None;
    }
    let mut bytes = [0u8; ORDERED_BYTES];
    let decoded = URL_SAFE_NO_PAD.decode_slice(value, &mut bytes).ok()?;
    (decoded == ORDERED_BYTES).then(|| {
        let mut time = [0u8; TIME_BYTES];
        time.copy_from_slice(&bytes[..TIME_BYTES]);
        time
    })
}

/// A new client_id in UltraCart's format: 32 lowercase hex characters.
pub fn new_client_id() -> String {
    hex::encode(random_bytes::<16>())
}

/// A new client secret: 64 lowercase hex characters (256 bits).
pub fn new_client_secret() -> String {
    hex::encode(random_bytes::<32>())
}

/// A new internal identifier (grants, users): 128 random bits as hex.
pub fn new_id() -> String {
    hex::encode(random_bytes::<16>())
}

/// Compares two digests in constant time.
pub fn digests_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// The last characters of a secret, for display after it has been shown once.
pub fn hint(secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_differ() {
        let a = new_token();
        let b = new_token();
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, b);
    }

    #[test]
    fn ordered_tokens_are_44_url_safe_characters_and_their_keys_sort_by_issue_time() {
        let pepper = Pepper::generate();
        let mut keys = Vec::new();
        for now in [1_790_000_000_000, 1_790_000_000_001, 1_790_000_060_000] {
            for _ in 0..20 {
                let token = new_ordered_token(now);
                assert_eq!(token.len(), 44);
                assert!(token
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
                let key = pepper.digest(Purpose::RefreshToken, &token);
                assert_eq!(key[..TIME_BYTES], now.to_be_bytes()[2..]);
                // The rest is the keyed hash, so the pepper still decides the key.
                assert_ne!(
                    key,
                    Pepper::generate().digest(Purpose::RefreshToken, &token)
                );
                keys.push((now, key));
            }
        }
        for pair in keys.windows(2) {
            if pair[0].0 < pair[1].0 {
                assert!(pair[0].1 < pair[1].1);
            }
        }
        // Unordered kinds, and values of another shape, keep the whole hash.
        let token = new_ordered_token(1_790_000_000_000);
        let whole = |purpose, value: &str| -> Digest {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&pepper.0).unwrap();
            mac.update(Purpose::label(purpose));
            mac.update(&[0]);
            mac.update(value.as_bytes());
            mac.finalize().into_bytes().into()
        };
        assert_eq!(
            pepper.digest(Purpose::Session, &token),
            whole(Purpose::Session, &token)
        );
        let legacy = new_token();
        assert_eq!(
            pepper.digest(Purpose::AccessToken, &legacy),
            whole(Purpose::AccessToken, &legacy)
        );
        let not_base64 = "*".repeat(44);
        assert_eq!(
            pepper.digest(Purpose::AccessToken, &not_base64),
            whole(Purpose::AccessToken, &not_base64)
        );
    }

    #[test]
    fn digest_depends_on_pepper_purpose_and_value() {
        let p1 = Pepper::generate();
        let p2 = Pepper::generate();
        let d = p1.digest(Purpose::AccessToken, "x");
        assert_eq!(d, p1.digest(Purpose::AccessToken, "x"));
        assert_ne!(d, p2.digest(Purpose::AccessToken, "x"));
        assert_ne!(d, p1.digest(Purpose::RefreshToken, "x"));
        assert_ne!(d, p1.digest(Purpose::AccessToken, "y"));
    }

    #[test]
    fn short_peppers_are_refused_and_hex_round_trips() {
        assert!(Pepper::from_bytes(vec![1; 8]).is_none());
        let p = Pepper::generate();
        let q = Pepper::from_hex(&p.to_hex()).unwrap();
        assert_eq!(
            p.digest(Purpose::Session, "s"),
            q.digest(Purpose::Session, "s")
        );
        assert_eq!(format!("{p:?}"), "Pepper([redacted])");
    }

    #[test]
    fn derived_tokens_verify_only_for_their_value() {
        let p = Pepper::generate();
        let t = p.derive_token(Purpose::SessionCsrf, "session-1");
        assert!(p.verify_derived(Purpose::SessionCsrf, "session-1", &t));
        assert!(!p.verify_derived(Purpose::SessionCsrf, "session-2", &t));
        assert!(!p.verify_derived(Purpose::LoginCsrf, "session-1", &t));
    }

    #[test]
    fn peppers_try_the_current_one_first_then_the_previous_ones() {
        let current = Pepper::generate();
        let old = [Pepper::generate()];
        let peppers = Peppers::new(&current, &old);
        let all: Vec<Digest> = peppers.digests(Purpose::AccessToken, "t").collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], current.digest(Purpose::AccessToken, "t"));
        assert_eq!(all[1], old[0].digest(Purpose::AccessToken, "t"));
        assert!(peppers.rotating());
        assert!(!Peppers::from(&current).rotating());
        assert_eq!(
            Peppers::from(&current)
                .digests(Purpose::AccessToken, "t")
                .count(),
            1
        );
    }

    #[test]
    fn a_secret_hashed_with_a_previous_pepper_still_verifies() {
        let current = Pepper::generate();
        let old = [Pepper::generate()];
        let stored = old[0].digest(Purpose::ClientSecret, "s");
        assert!(Peppers::new(&current, &old).verify(Purpose::ClientSecret, "s", &stored));
        assert!(!Peppers::from(&current).verify(Purpose::ClientSecret, "s", &stored));
        assert!(!Peppers::new(&current, &old).verify(Purpose::ClientSecret, "x", &stored));
    }

    #[test]
    fn hint_shows_the_last_four_characters() {
        assert_eq!(hint("abcdef123"), "…f123");
        assert_eq!(hint("ab"), "…ab");
    }
}
