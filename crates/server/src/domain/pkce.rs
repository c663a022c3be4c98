//! PKCE (RFC 7636): validating challenges at authorize time and verifiers at the token endpoint.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

use super::OauthError;

/// `code_challenge_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    /// Parses the wire value. RFC 7636 §4.3: absent means `plain`.
    pub fn parse(value: Option<&str>) -> Result<Self, OauthError> {
        match value {
            None | Some("plain") => Ok(Self::Plain),
            Some("S256") => Ok(Self::S256),
            Some(other) => Err(OauthError::invalid_request(format!(
                "code_challenge_method {other:?} is not supported; use S256"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }
}

/// RFC 7636 §4.1: 43 to 128 characters from `[A-Za-z0-9-._~]`. Challenges share the rule.
fn is_well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Checks a `code_challenge` received at authorize time.
pub fn validate_challenge(challenge: &str, method: Method) -> Result<(), OauthError> {
    let ok = match method {
        // BASE64URL(SHA-256) is always exactly 43 characters.
        Method::S256 => challenge.len() == 43 && is_well_formed(challenge),
        Method::Plain => is_well_formed(challenge),
    };
    if ok {
        Ok(())
    } else {
        Err(OauthError::invalid_request(
            "code_challenge is malformed (RFC 7636 §4.2: 43-128 characters of [A-Za-z0-9-._~])",
        ))
    }
}

/// The S256 challenge for `verifier`.
pub fn s256_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The S256 challenge a well-formed `verifier` answers, or `None` if the verifier is malformed
/// (which [`verify`] refuses whatever the challenge).
pub fn s256_challenge_of_well_formed(verifier: &str) -> Option<String> {
    is_well_formed(verifier).then(|| s256_challenge(verifier))
}

/// Checks a `code_verifier` against the stored challenge (RFC 7636 §4.6).
pub fn verify(verifier: &str, challenge: &str, method: Method) -> Result<(), OauthError> {
    if !is_well_formed(verifier) {
        return Err(OauthError::invalid_grant(
            "code_verifier is malformed (RFC 7636 §4.1: 43-128 characters of [A-Za-z0-9-._~])",
        ));
    }
    let computed = match method {
        Method::S256 => s256_challenge(verifier),
        Method::Plain => verifier.to_owned(),
    };
    if bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
        Ok(())
    } else {
        Err(OauthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_matches_the_rfc_7636_appendix_b_vector() {
        assert_eq!(s256_challenge(VERIFIER), CHALLENGE);
        assert!(verify(VERIFIER, CHALLENGE, Method::S256).is_ok());
    }

    #[test]
    fn a_wrong_verifier_is_invalid_grant() {
        let other = "A".repeat(43);
        let err = verify(&other, CHALLENGE, Method::S256).unwrap_err();
        assert_eq!(err.kind, super::super::OauthErrorKind::InvalidGrant);
    }

    #[test]
    fn verifiers_of_wrong_length_or_charset_are_refused() {
        assert!(verify("short", "short", Method::Plain).is_err());
        assert!(verify(&"a".repeat(129), &"a".repeat(129), Method::Plain).is_err());
        let spaced = format!("{} ", "a".repeat(43));
        assert!(verify(&spaced, &spaced, Method::Plain).is_err());
    }

    #[test]
    fn plain_compares_verbatim() {
        let v = "a".repeat(50);
        assert!(verify(&v, &v, Method::Plain).is_ok());
    }

    #[test]
    fn methods_parse_with_plain_as_the_default() {
        assert_eq!(Method::parse(None).unwrap(), Method::Plain);
        assert_eq!(Method::parse(Some("S256")).unwrap(), Method::S256);
        assert!(Method::parse(Some("s256")).is_err());
    }

    #[test]
    fn s256_challenges_must_be_43_characters() {
        assert!(validate_challenge(CHALLENGE, Method::S256).is_ok());
        assert!(validate_challenge(&"a".repeat(44), Method::S256).is_err());
        assert!(validate_challenge(&"a".repeat(44), Method::Plain).is_ok());
    }
}
