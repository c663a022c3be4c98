//! Newtypes for the values the protocol passes around.
//!
//! Two kinds, kept apart on purpose:
//! - **public values** ([`ClientId`], [`Scope`], [`RedirectUrl`]): `Debug` and `Display` show them;
//! - **secrets** ([`AccessToken`], [`RefreshToken`], [`ClientSecret`], [`AuthorizationCode`],
//!   [`DeviceCode`], [`ApiKey`], [`CsrfState`]): `Debug` prints `Name([redacted])`, there is no
//!   `Display`, equality is constant-time, and the only way to read one is `.secret()`.
//!
//! The PKCE pair lives in [`crate::pkce`] because its verifier has one more rule (not `Clone`).

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use rand::{rngs::OsRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use url::Url;

/// Defines a newtype for a value that may be shown in logs.
macro_rules! public_type {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Wraps a value as a [`", stringify!($name), "`].")]
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The value as sent on the wire.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Unwraps the value.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }
    };
}

/// Defines a newtype for a credential: redacted `Debug`, no `Display`, constant-time `==`.
macro_rules! secret_type {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            #[doc = concat!("Wraps a value as a [`", stringify!($name), "`].")]
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret value itself.
            ///
            /// # Security warning
            ///
            /// Anyone holding this string can act with it. Send it only where the protocol says,
            /// and never log it, print it or put it in an error message.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Unwraps the secret value. The security warning of [`Self::secret`] applies.
            pub fn into_secret(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        /// Constant-time: comparing secrets must not leak how many leading bytes matched.
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
            }
        }

        impl Eq for $name {}
    };
}

public_type!(
    /// The application's `client_id` (RFC 6749 §2.2), as issued at registration.
    ClientId
);

public_type!(
    /// One permission name such as `item_read` (RFC 6749 §3.3). Several are joined with spaces.
    Scope
);

public_type!(
    /// A PKCE `code_challenge` (RFC 7636 §4.2): public, it travels in the browser's URL.
    PkceChallenge
);

secret_type!(
    /// A bearer access token (RFC 6749 §1.4), sent as `Authorization: Bearer ...`.
    AccessToken
);

secret_type!(
    /// A refresh token (RFC 6749 §1.5). It outlives the access token; guard it like a password.
    RefreshToken
);

secret_type!(
    /// The application's `client_secret` (RFC 6749 §2.3.1).
    ClientSecret
);

secret_type!(
    /// The one-time `code` the browser brings back from `/oauth/authorize` (RFC 6749 §4.1.2).
    AuthorizationCode
);

secret_type!(
    /// The `device_code` from `/oauth/device/authorize` (RFC 8628 §3.2); only the device sees it.
    DeviceCode
);

secret_type!(
    /// An UltraCart API key: the simple key (`x-ultracart-simple-key`) or the browser key
    /// (`x-ultracart-browser-key`).
    ApiKey
);

secret_type!(
    /// The `state` parameter that ties the browser's return to the request that started it
    /// (RFC 6749 §10.12). Compare it with [`crate::verify_state`].
    CsrfState
);

impl CsrfState {
    /// 32 bytes from the operating system's CSPRNG, base64url without padding (43 characters).
    pub fn new_random() -> Self {
        Self(random_base64url(32))
    }
}

/// `num_bytes` from the operating system's CSPRNG, base64url-encoded without padding.
pub(crate) fn random_base64url(num_bytes: usize) -> String {
    let mut bytes = vec![0u8; num_bytes];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An absolute `redirect_uri` (RFC 6749 §3.1.2).
///
/// It keeps the exact string it was made from: the server compares redirect URIs character for
/// character, and parsing would normalise (`https://app.example` becomes `https://app.example/`).
/// The string is still parsed once, so a malformed URI is refused early.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RedirectUrl {
    raw: String,
    parsed: Url,
}

impl RedirectUrl {
    /// Checks that `value` is an absolute URL and keeps it verbatim.
    pub fn new(value: impl Into<String>) -> Result<Self, url::ParseError> {
        let raw = value.into();
        let parsed = Url::parse(&raw)?;
        Ok(Self { raw, parsed })
    }

    /// The URI exactly as given; this is what is sent.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed form, for inspection (scheme, host, port).
    pub fn url(&self) -> &Url {
        &self.parsed
    }
}

impl fmt::Debug for RedirectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedirectUrl").field(&self.raw).finish()
    }
}

impl fmt::Display for RedirectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl AsRef<str> for RedirectUrl {
    fn as_ref(&self) -> &str {
        &self.raw
    }
}

impl Serialize for RedirectUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for RedirectUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::new(raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_but_readable_through_secret() {
        let token = AccessToken::new("tok-123");
        assert_eq!(format!("{token:?}"), "AccessToken([redacted])");
        assert_eq!(
            format!("{:?}", RefreshToken::new("r")),
            "RefreshToken([redacted])"
        );
        assert_eq!(
            format!("{:?}", ClientSecret::new("s")),
            "ClientSecret([redacted])"
        );
        assert_eq!(
            format!("{:?}", CsrfState::new("s")),
            "CsrfState([redacted])"
        );
        assert_eq!(format!("{:?}", ApiKey::new("k")), "ApiKey([redacted])");
        assert_eq!(token.secret(), "tok-123");
    }

    #[test]
    fn public_values_show_in_debug_and_display() {
        let id = ClientId::new("abc");
        assert_eq!(format!("{id:?}"), "ClientId(\"abc\")");
        assert_eq!(id.to_string(), "abc");
    }

    #[test]
    fn secrets_serialise_as_plain_strings_for_storage() {
        let token = RefreshToken::new("r1");
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"r1\"");
        let back: RefreshToken = serde_json::from_str("\"r1\"").unwrap();
        assert_eq!(back, token);
        assert_ne!(back, RefreshToken::new("r2"));
        assert_ne!(back, RefreshToken::new("r1x"));
    }

    #[test]
    fn random_state_is_43_base64url_characters_and_differs_each_time() {
        let a = CsrfState::new_random();
        let b = CsrfState::new_random();
        assert_eq!(a.secret().len(), 43);
        assert!(a
            .secret()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, b);
    }

    #[test]
    fn redirect_url_keeps_the_exact_string_and_refuses_relative_ones() {
        let url = RedirectUrl::new("https://app.example").unwrap();
        assert_eq!(url.as_str(), "https://app.example");
        assert_eq!(url.url().as_str(), "https://app.example/");
        assert!(RedirectUrl::new("/callback").is_err());
        let json = serde_json::to_string(&url).unwrap();
        assert_eq!(json, "\"https://app.example\"");
        assert!(serde_json::from_str::<RedirectUrl>("\"not a url\"").is_err());
    }
}
