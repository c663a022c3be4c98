//! Client authentication at the token and revoke endpoints (RFC 6749 §2.3.1).
//!
//! UltraCart's SDKs send only `client_id` in the form; generic OAuth clients add `client_secret`
//! to the form or use HTTP Basic. The SDKs also attach `Authorization: Bearer ...` or API-key
//! headers to these calls, which must not turn a valid request into an error, so an
//! `Authorization` header that is not Basic is ignored here.

use axum::http::{header, HeaderMap};
use base64::{engine::general_purpose::STANDARD, Engine as _};

use super::form::{Duplicate, FormParams};
use crate::domain::{
    model::Application,
    profile::Policy,
    secret::{Peppers, Purpose},
    OauthError,
};

/// What the client presented about itself.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: Option<String>,
}

impl ClientCredentials {
    /// Reads `client_id` / `client_secret` from the form and HTTP Basic.
    pub fn extract(headers: &HeaderMap, form: &FormParams) -> Result<Self, OauthError> {
        let dup = |Duplicate(name): Duplicate| {
            OauthError::invalid_request(format!("{name} must not be sent more than once"))
        };
        let form_id = form.optional("client_id").map_err(dup)?;
        let form_secret = form.optional("client_secret").map_err(dup)?;
        let basic = basic_credentials(headers)?;

        let (client_id, secret) = match (basic, form_id, form_secret) {
            (Some(_), _, Some(_)) => {
                return Err(OauthError::invalid_request(
                    "send the client secret either in the Authorization header or in the form, not both",
                ))
            }
            (Some((basic_id, _)), Some(form_id), None) if basic_id != form_id => {
                return Err(OauthError::invalid_request(
                    "client_id in the form differs from the one in the Authorization header",
                ))
            }
            (Some((id, secret)), _, None) => (id, Some(secret)),
            (None, Some(id), secret) => (id.to_owned(), secret.map(str::to_owned)),
            (None, None, _) => {
                return Err(OauthError::invalid_request("client_id is required"));
            }
        };
        Ok(Self { client_id, secret })
    }

    /// Checks the secret against the application (constant-time on the keyed hashes). With a
    /// rotated pepper, a secret hashed under a previous pepper still verifies.
    pub fn authenticate<'p>(
        &self,
        app: &Application,
        policy: &Policy,
        peppers: impl Into<Peppers<'p>>,
    ) -> Result<(), OauthError> {
        match &self.secret {
            Some(secret) => {
                if peppers
                    .into()
                    .verify(Purpose::ClientSecret, secret, &app.secret_hash)
                {
                    Ok(())
                } else {
                    Err(OauthError::invalid_client("client authentication failed"))
                }
            }
            None if policy.require_secret => Err(OauthError::invalid_client(
                "this application requires client authentication: send client_secret (form or HTTP Basic)",
            )),
            None => Ok(()),
        }
    }
}

/// `(client_id, secret)` from `Authorization: Basic`, form-urldecoded per RFC 6749 §2.3.1.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OauthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let Ok(value) = value.to_str() else {
        return Ok(None);
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let malformed = || OauthError::invalid_client("the Basic Authorization header is malformed");
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let text = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
    let unescape = |s: &str| {
        FormParams::parse(format!("v={s}").as_bytes())
            .ok()
            .and_then(|f| f.optional("v").ok().flatten().map(str::to_owned))
            .unwrap_or_default()
    };
    let id = unescape(id);
    if id.is_empty() {
        return Err(malformed());
    }
    Ok(Some((id, unescape(secret))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn form_client_id_alone_is_enough() {
        let f = FormParams::parse(b"client_id=abc").unwrap();
        let c = ClientCredentials::extract(&HeaderMap::new(), &f).unwrap();
        assert_eq!(c.client_id, "abc");
        assert!(c.secret.is_none());
    }

    #[test]
    fn basic_credentials_are_read_and_a_bearer_header_is_ignored() {
        let f = FormParams::parse(b"client_id=abc").unwrap();
        let basic = format!("Basic {}", STANDARD.encode("abc:s%3Acret"));
        let c = ClientCredentials::extract(&headers(&basic), &f).unwrap();
        assert_eq!(c.secret.as_deref(), Some("s:cret"));
        let c = ClientCredentials::extract(&headers("Bearer xyz"), &f).unwrap();
        assert!(c.secret.is_none());
    }

    #[test]
    fn conflicting_or_missing_ids_are_refused() {
        let f = FormParams::parse(b"client_id=other").unwrap();
        let basic = format!("Basic {}", STANDARD.encode("abc:s"));
        assert!(ClientCredentials::extract(&headers(&basic), &f).is_err());
        let none = FormParams::parse(b"").unwrap();
        assert!(ClientCredentials::extract(&HeaderMap::new(), &none).is_err());
        let both = FormParams::parse(b"client_secret=s").unwrap();
        assert!(ClientCredentials::extract(&headers(&basic), &both).is_err());
    }
}
