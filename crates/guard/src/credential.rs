//! Reading the caller's credential from the request headers.
//!
//! Precedence, so that SDK quirks never turn a valid request into an error:
//! 1. `Authorization: Bearer <token>`, or a bare `Authorization: <token>` (UltraCart's
//!    TypeScript SDK omits the `Bearer ` prefix);
//! 2. `x-ultracart-simple-key`;
//! 3. `x-ultracart-browser-key` alone is refused by server-side routes. UltraCart's TypeScript SDK
//!    sends its API key in *both* key headers, so a browser key next to another credential is
//!    ignored.
//!
//! An `Authorization` header with another scheme (e.g. `Basic`) carries no bearer token and is
//! passed over.

use http::{header, HeaderMap};
use ucoauth_wire::params::header::{BROWSER_KEY, SIMPLE_KEY};

use crate::error::GuardError;

/// The credential a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'h> {
    Bearer(&'h str),
    SimpleKey(&'h str),
    /// Only a browser key was sent.
    BrowserKey,
}

/// Longest credential looked at; anything longer is malformed (ours are under 100 characters).
const MAX_CREDENTIAL_LEN: usize = 1024;

/// The credential of `headers`, or why there is none to check.
pub fn read(headers: &HeaderMap) -> Result<Credential<'_>, GuardError> {
    if let Some(token) = bearer(headers)? {
        return Ok(Credential::Bearer(token));
    }
    if let Some(key) = single(headers, SIMPLE_KEY)? {
        return Ok(Credential::SimpleKey(key));
    }
    if single(headers, BROWSER_KEY)?.is_some() {
        return Ok(Credential::BrowserKey);
    }
    Err(GuardError::Missing)
}

/// The value of a header sent at most once, trimmed; an empty value counts as absent.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, GuardError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(GuardError::InvalidRequest(format!(
            "the {name} header must be sent once"
        )));
    }
    let text = first
        .to_str()
        .map_err(|_| GuardError::InvalidRequest(format!("the {name} header is not ASCII text")))?
        .trim();
    if text.len() > MAX_CREDENTIAL_LEN {
        return Err(GuardError::InvalidRequest(format!(
            "the {name} header is too long"
        )));
    }
    Ok(Some(text).filter(|t| !t.is_empty()))
}

fn bearer(headers: &HeaderMap) -> Result<Option<&str>, GuardError> {
    let Some(value) = single(headers, header::AUTHORIZATION.as_str())? else {
        return Ok(None);
    };
    let malformed = || {
        GuardError::InvalidRequest(
            "the Authorization header must be `Bearer <access token>`".into(),
        )
    };
    if value.eq_ignore_ascii_case("bearer") {
        return Err(malformed());
    }
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() || token.contains(' ') {
                return Err(malformed());
            }
            Ok(Some(token))
        }
        // Another scheme: not ours to read.
        Some(_) => Ok(None),
        // A bare token (UltraCart's TypeScript SDK).
        None => Ok(Some(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_wins_over_keys_and_a_bare_token_is_accepted() {
        let h = headers(&[
            ("authorization", "Bearer abc"),
            ("x-ultracart-simple-key", "k"),
        ]);
        assert_eq!(read(&h).unwrap(), Credential::Bearer("abc"));
        let h = headers(&[("authorization", "abc")]);
        assert_eq!(read(&h).unwrap(), Credential::Bearer("abc"));
        let h = headers(&[("authorization", "bearer   abc ")]);
        assert_eq!(read(&h).unwrap(), Credential::Bearer("abc"));
    }

    #[test]
    fn a_browser_key_counts_only_when_it_is_alone() {
        let both = headers(&[
            ("x-ultracart-browser-key", "k"),
            ("x-ultracart-simple-key", "k"),
        ]);
        assert_eq!(read(&both).unwrap(), Credential::SimpleKey("k"));
        let alone = headers(&[("x-ultracart-browser-key", "k")]);
        assert_eq!(read(&alone).unwrap(), Credential::BrowserKey);
    }

    #[test]
    fn malformed_or_missing_credentials_are_told_apart() {
        assert!(matches!(read(&headers(&[])), Err(GuardError::Missing)));
        assert!(matches!(
            read(&headers(&[("authorization", "Basic dXNlcjpwdw==")])),
            Err(GuardError::Missing)
        ));
        assert!(matches!(
            read(&headers(&[("authorization", "Bearer ")])),
            Err(GuardError::InvalidRequest(_))
        ));
        assert!(matches!(
            read(&headers(&[("authorization", "Bearer a b")])),
            Err(GuardError::InvalidRequest(_))
        ));
        assert!(matches!(
            read(&headers(&[
                ("authorization", "Bearer a"),
                ("authorization", "Bearer b")
            ])),
            Err(GuardError::InvalidRequest(_))
        ));
    }
}
