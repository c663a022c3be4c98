//! Redirect URIs: what may be registered, and how a requested one is matched.
//!
//! Matching is exact string comparison (RFC 9700 §4.1.3): no normalisation, no prefix or
//! wildcard rules, so `https://app/cb/`, `https://app/CB` and `https://app/cb?x=1` are all
//! different from `https://app/cb`.

use url::{Host, Url};

/// Longest redirect URI accepted.
const MAX_LEN: usize = 2000;

/// Why a redirect URI cannot be registered. The message says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RedirectUriError(pub String);

/// Whether `host` is a loopback host (RFC 8252 §7.3), where plain `http` is allowed.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks a redirect URI at registration: absolute, no fragment, no userinfo, `https` (or `http`
/// on a loopback host, or a private-use scheme with a dot as RFC 8252 §7.1 describes).
pub fn validate_for_registration(uri: &str) -> Result<(), RedirectUriError> {
    let fail = |why: &str| Err(RedirectUriError(format!("redirect URI {uri:?} {why}")));
    if uri.is_empty() {
        return Err(RedirectUriError("redirect URI must not be empty".into()));
    }
    if uri.len() > MAX_LEN {
        return fail("is longer than 2000 characters");
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return fail("contains whitespace or control characters");
    }
    let Ok(url) = Url::parse(uri) else {
        return fail("is not an absolute URI (expected e.g. https://app.example/callback)");
    };
    if url.fragment().is_some() || uri.contains('#') {
        return fail("must not contain a fragment (#...)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return fail("must not contain user information");
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&url) => Ok(()),
        "http" => fail("must use https (plain http is allowed only for loopback hosts)"),
        scheme if scheme.contains('.') => Ok(()),
        _ => fail("must use https, http on a loopback host, or a reverse-domain private scheme"),
    }
}

/// Picks the redirect URI for an authorization request (RFC 6749 §3.1.2.3): the requested one if
/// it is registered verbatim; the only registered one when none is requested.
pub fn resolve<'a>(requested: Option<&'a str>, registered: &'a [String]) -> Option<&'a str> {
    match requested {
        Some(uri) => registered.iter().any(|r| r == uri).then_some(uri),
        None if registered.len() == 1 => registered.first().map(String::as_str),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg() -> Vec<String> {
        vec!["https://app.example/cb".to_owned()]
    }

    #[test]
    fn exact_match_only() {
        let r = reg();
        assert_eq!(
            resolve(Some("https://app.example/cb"), &r),
            Some("https://app.example/cb")
        );
        for near in [
            "https://app.example/cb/",
            "https://app.example/CB",
            "https://APP.example/cb",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://app.example/cb.evil",
            "https://app.example/cb/../x",
            "https://app.example:443/cb",
            "https://user@app.example/cb",
            "http://app.example/cb",
        ] {
            assert_eq!(resolve(Some(near), &r), None, "{near}");
        }
    }

    #[test]
    fn the_only_registered_uri_is_used_when_none_is_requested() {
        assert_eq!(resolve(None, &reg()), Some("https://app.example/cb"));
        let two = vec![
            "https://a.example/1".to_owned(),
            "https://a.example/2".to_owned(),
        ];
        assert_eq!(resolve(None, &two), None);
    }

    #[test]
    fn registration_rules() {
        assert!(validate_for_registration("https://app.example/cb").is_ok());
        assert!(validate_for_registration("http://127.0.0.1:8080/cb").is_ok());
        assert!(validate_for_registration("http://localhost/cb").is_ok());
        assert!(validate_for_registration("http://[::1]/cb").is_ok());
        assert!(validate_for_registration("com.example.app:/oauth").is_ok());
        assert!(validate_for_registration("http://app.example/cb").is_err());
        assert!(validate_for_registration("https://app.example/cb#x").is_err());
        assert!(validate_for_registration("/cb").is_err());
        assert!(validate_for_registration("https://u:p@app.example/cb").is_err());
        assert!(validate_for_registration("javascript:alert(1)").is_err());
        assert!(validate_for_registration("").is_err());
    }
}
