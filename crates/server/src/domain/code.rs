//! Authorization-code redemption rules (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 9700 §2.1.1).

use super::{pkce, OauthError};
use crate::clock::Millis;

/// A stored code as the store read it, with the client its grant belongs to.
#[derive(Debug, Clone)]
pub struct StoredCode {
    pub client_id: String,
    pub redirect_uri: String,
    /// The authorize request named the redirect URI (rather than defaulting to the only one).
    pub redirect_uri_explicit: bool,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub expires_at: Millis,
    pub consumed_at: Option<Millis>,
    pub grant_revoked: bool,
}

/// What the client presented at the token endpoint.
#[derive(Debug, Clone)]
pub struct Presented {
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    /// `strict`: the redirect URI must be sent even if the authorize request omitted it.
    pub require_redirect_uri: bool,
}

/// The outcome of checking a presented code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid: consume it and issue tokens.
    Redeem,
    /// Used before: refuse and revoke the grant its first redemption created.
    Replay,
    /// Refuse without side effects.
    Refuse(OauthError),
}

pub fn check(code: &StoredCode, presented: &Presented, now: Millis) -> Verdict {
    // A code belongs to one client; another client learns nothing and changes nothing.
    if code.client_id != presented.client_id {
        return Verdict::Refuse(OauthError::invalid_grant(
            "the authorization code was not issued to this client_id",
        ));
    }
    if code.consumed_at.is_some() {
        return Verdict::Replay;
    }
    if code.grant_revoked {
        return Verdict::Refuse(OauthError::invalid_grant(
            "the authorization behind this code has been revoked",
        ));
    }
    if now >= code.expires_at {
        return Verdict::Refuse(OauthError::invalid_grant(
            "the authorization code has expired; start the authorization again",
        ));
    }
    let must_send = code.redirect_uri_explicit || presented.require_redirect_uri;
    match presented.redirect_uri.as_deref() {
        Some(uri) if uri != code.redirect_uri => {
            return Verdict::Refuse(OauthError::invalid_grant(
                "redirect_uri does not match the one used in the authorization request",
            ));
        }
        None if must_send => {
            return Verdict::Refuse(OauthError::invalid_request(
                "redirect_uri is required: send the same redirect_uri as in the authorization request",
            ));
        }
        _ => {}
    }
    match (&code.code_challenge, presented.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) => {
            let method = match pkce::Method::parse(code.code_challenge_method.as_deref()) {
                Ok(m) => m,
                Err(e) => return Verdict::Refuse(e),
            };
            if let Err(e) = pkce::verify(verifier, challenge, method) {
                return Verdict::Refuse(e);
            }
        }
        (Some(_), None) => {
            return Verdict::Refuse(OauthError::invalid_grant(
                "code_verifier is required: the authorization request carried a code_challenge",
            ));
        }
        // PKCE downgrade (RFC 9700 §2.1.1): a verifier without a challenge means the challenge
        // was stripped from the authorization request.
        (None, Some(_)) => {
            return Verdict::Refuse(OauthError::invalid_grant(
                "code_verifier was sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    Verdict::Redeem
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OauthErrorKind;

    fn code() -> StoredCode {
        StoredCode {
            client_id: "c1".into(),
            redirect_uri: "https://app/cb".into(),
            redirect_uri_explicit: true,
            code_challenge: None,
            code_challenge_method: None,
            expires_at: 1_000,
            consumed_at: None,
            grant_revoked: false,
        }
    }

    fn presented() -> Presented {
        Presented {
            client_id: "c1".into(),
            redirect_uri: Some("https://app/cb".into()),
            code_verifier: None,
            require_redirect_uri: false,
        }
    }

    fn refused_kind(v: Verdict) -> OauthErrorKind {
        match v {
            Verdict::Refuse(e) => e.kind,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_fresh_code_with_matching_parameters_redeems() {
        assert_eq!(check(&code(), &presented(), 999), Verdict::Redeem);
    }

    #[test]
    fn a_used_code_is_a_replay() {
        let c = StoredCode {
            consumed_at: Some(5),
            ..code()
        };
        assert_eq!(check(&c, &presented(), 10), Verdict::Replay);
    }

    #[test]
    fn expiry_is_enforced_at_the_boundary() {
        assert_eq!(
            refused_kind(check(&code(), &presented(), 1_000)),
            OauthErrorKind::InvalidGrant
        );
    }

    #[test]
    fn another_client_is_refused() {
        let p = Presented {
            client_id: "c2".into(),
            ..presented()
        };
        assert_eq!(
            refused_kind(check(&code(), &p, 1)),
            OauthErrorKind::InvalidGrant
        );
    }

    #[test]
    fn redirect_uri_rules() {
        let wrong = Presented {
            redirect_uri: Some("https://app/cb/".into()),
            ..presented()
        };
        assert_eq!(
            refused_kind(check(&code(), &wrong, 1)),
            OauthErrorKind::InvalidGrant
        );
        let missing = Presented {
            redirect_uri: None,
            ..presented()
        };
        assert_eq!(
            refused_kind(check(&code(), &missing, 1)),
            OauthErrorKind::InvalidRequest
        );
        // Omitted at authorize: may be omitted at the token endpoint (compat) ...
        let implicit = StoredCode {
            redirect_uri_explicit: false,
            ..code()
        };
        assert_eq!(check(&implicit, &missing, 1), Verdict::Redeem);
        // ... but not in strict.
        let strict = Presented {
            require_redirect_uri: true,
            ..missing
        };
        assert_eq!(
            refused_kind(check(&implicit, &strict, 1)),
            OauthErrorKind::InvalidRequest
        );
    }

    #[test]
    fn pkce_rules() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let with_challenge = StoredCode {
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            code_challenge_method: Some("S256".into()),
            ..code()
        };
        let good = Presented {
            code_verifier: Some(verifier.into()),
            ..presented()
        };
        assert_eq!(check(&with_challenge, &good, 1), Verdict::Redeem);
        assert_eq!(
            refused_kind(check(&with_challenge, &presented(), 1)),
            OauthErrorKind::InvalidGrant
        );
        assert_eq!(
            refused_kind(check(&code(), &good, 1)),
            OauthErrorKind::InvalidGrant
        );
    }
}
