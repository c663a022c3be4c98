//! PKCE (RFC 7636): the verifier the client keeps, and the S256 challenge it sends ahead.
//!
//! ```
//! use ucoauth_sdk::{PkceChallenge, PkceVerifier};
//!
//! let verifier = PkceVerifier::new_random();
//! let challenge = PkceChallenge::from_verifier_s256(&verifier);
//! assert_eq!(challenge.as_str().len(), 43);
//! ```

use std::fmt;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::types::{random_base64url, PkceChallenge};

/// The only `code_challenge_method` this SDK sends (RFC 7636 §4.2); `plain` is not offered.
pub const PKCE_METHOD_S256: &str = "S256";

/// A PKCE `code_verifier` (RFC 7636 §4.1): 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
///
/// Deliberately **not `Clone`**. The verifier is what proves that whoever redeems the
/// authorization code is whoever started the flow, so it should exist once, travel in exactly
/// one token request, and be gone afterwards. [`crate::OauthApi::exchange_code`] takes it by
/// value; a copy kept around "just in case" is a copy that can end up in a log or a second request.
#[derive(Deserialize)]
#[serde(try_from = "String")]
pub struct PkceVerifier(String);

impl PkceVerifier {
    /// A fresh verifier: 32 bytes from the operating system's CSPRNG, base64url (43 characters,
    /// the RFC 7636 §4.1 recommendation).
    pub fn new_random() -> Self {
        Self(random_base64url(32))
    }

    /// Accepts a verifier made elsewhere (for example read back from the session that started
    /// the flow), if it has the RFC 7636 §4.1 length and alphabet.
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidPkceVerifier> {
        let value = value.into();
        let well_formed = (43..=128).contains(&value.len())
            && value
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~'));
        if well_formed {
            Ok(Self(value))
        } else {
            Err(InvalidPkceVerifier)
        }
    }

    /// The verifier itself.
    ///
    /// # Security warning
    ///
    /// Send it only in the token request that redeems the code; never log it.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Unwraps the verifier. The security warning of [`Self::secret`] applies.
    pub fn into_secret(self) -> String {
        self.0
    }
}

impl fmt::Debug for PkceVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PkceVerifier([redacted])")
    }
}

impl TryFrom<String> for PkceVerifier {
    type Error = InvalidPkceVerifier;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

/// Written by hand: `#[serde(into = ..)]` would need the `Clone` this type must not have.
impl Serialize for PkceVerifier {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A string that is not a valid RFC 7636 `code_verifier`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a PKCE code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)")]
pub struct InvalidPkceVerifier;

impl PkceChallenge {
    /// `BASE64URL(SHA256(ASCII(code_verifier)))`, RFC 7636 §4.2.
    pub fn from_verifier_s256(verifier: &PkceVerifier) -> Self {
        let digest = Sha256::digest(verifier.secret().as_bytes());
        Self::new(URL_SAFE_NO_PAD.encode(digest))
    }

    /// A fresh verifier and its S256 challenge.
    pub fn new_random_s256() -> (Self, PkceVerifier) {
        let verifier = PkceVerifier::new_random();
        (Self::from_verifier_s256(&verifier), verifier)
    }

    /// The `code_challenge_method` to send with this challenge: always `S256`.
    pub fn method(&self) -> &'static str {
        PKCE_METHOD_S256
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_7636_appendix_b_vector() {
        // RFC 7636 Appendix B, verbatim (also checked with `openssl dgst -sha256 | base64url`).
        let verifier = PkceVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            PkceChallenge::from_verifier_s256(&verifier).as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_verifiers_are_valid_and_unique() {
        let (challenge, verifier) = PkceChallenge::new_random_s256();
        assert_eq!(verifier.secret().len(), 43);
        assert!(PkceVerifier::parse(verifier.secret()).is_ok());
        assert_eq!(challenge, PkceChallenge::from_verifier_s256(&verifier));
        assert_ne!(
            PkceVerifier::new_random().into_secret(),
            verifier.into_secret()
        );
    }

    #[test]
    fn parse_refuses_wrong_lengths_and_characters() {
        assert!(PkceVerifier::parse("a".repeat(42)).is_err());
        assert!(PkceVerifier::parse("a".repeat(43)).is_ok());
        assert!(PkceVerifier::parse("a".repeat(128)).is_ok());
        assert!(PkceVerifier::parse("a".repeat(129)).is_err());
        assert!(PkceVerifier::parse(format!("{}+", "a".repeat(43))).is_err());
        assert!(PkceVerifier::parse(format!("{}é", "a".repeat(43))).is_err());
        assert!(PkceVerifier::parse(format!("{}~._-", "a".repeat(43))).is_ok());
    }

    #[test]
    fn verifier_is_redacted_and_deserialisation_validates() {
        let verifier = PkceVerifier::new_random();
        assert_eq!(format!("{verifier:?}"), "PkceVerifier([redacted])");
        let json = serde_json::to_string(&verifier).unwrap();
        let back: PkceVerifier = serde_json::from_str(&json).unwrap();
        assert_eq!(back.secret(), verifier.secret());
        assert!(serde_json::from_str::<PkceVerifier>("\"short\"").is_err());
    }
}
