//! `application/x-www-form-urlencoded` bodies and query strings, parsed strictly.
//!
//! The usual parsers are lenient: a broken `%zz` escape passes through as text and invalid UTF-8
//! is replaced. An authorization server should say "malformed" instead, so this parser refuses
//! bad escapes, invalid UTF-8 and NUL characters. It decodes `+` and `%20` alike (the Python and
//! JavaScript SDKs differ here) and accepts fields in any order.

use axum::{
    body::Body,
    extract::{FromRequest, Request},
    http::header,
};

/// Why a form could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// The body is not `application/x-www-form-urlencoded`.
    UnsupportedMediaType,
    /// The body exceeds the server's limit.
    TooLarge(usize),
    /// The encoding is broken; the message says where.
    Malformed(String),
}

impl FormError {
    pub fn message(&self) -> String {
        match self {
            Self::UnsupportedMediaType => {
                "Content-Type must be application/x-www-form-urlencoded".to_owned()
            }
            Self::TooLarge(limit) => format!("the request body is larger than {limit} bytes"),
            Self::Malformed(why) => format!("malformed form encoding: {why}"),
        }
    }
}

/// Decoded `name=value` pairs, in order, duplicates kept (checkbox lists repeat names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormParams(Vec<(String, String)>);

/// A parameter sent more than once (RFC 6749 §3.1: "MUST NOT be included more than once").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate(pub String);

impl FormParams {
    /// Parses `a=1&b=2`.
    pub fn parse(input: &[u8]) -> Result<Self, FormError> {
        let mut pairs = Vec::new();
        for part in input.split(|b| *b == b'&') {
            if part.is_empty() {
                continue;
            }
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            let name = decode(name)?;
            if name.is_empty() {
                return Err(FormError::Malformed("a field has an empty name".into()));
            }
            pairs.push((name, decode(value)?));
        }
        Ok(Self(pairs))
    }

    /// The one non-empty value of `name`; an empty value counts as absent.
    pub fn optional(&self, name: &str) -> Result<Option<&str>, Duplicate> {
        let mut found = self.0.iter().filter(|(n, _)| n == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(Duplicate(name.to_owned()));
        }
        Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|c| (*c as char).to_digit(16));
                let lo = raw.get(i + 2).and_then(|c| (*c as char).to_digit(16));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(FormError::Malformed(
                        "'%' must be followed by two hex digits".into(),
                    ));
                };
                // Two hex digits always fit in a byte.
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    if out.contains(&0) {
        return Err(FormError::Malformed(
            "NUL characters are not allowed".into(),
        ));
    }
    String::from_utf8(out).map_err(|_| FormError::Malformed("values must be UTF-8".into()))
}

/// Whether a Content-Type header names a urlencoded form (parameters such as charset allowed).
fn is_form_content_type(value: &str) -> bool {
    value.split(';').next().is_some_and(|m| {
        m.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

impl axum::response::IntoResponse for FormError {
    fn into_response(self) -> axum::response::Response {
        crate::http::api::form_error(&self).into_response()
    }
}

/// The body limit in force: the server config puts a [`BodyLimit`] in the request extensions.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

impl<S: Send + Sync> FromRequest<S> for FormParams {
    type Rejection = FormError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !is_form_content_type(content_type) {
            return Err(FormError::UnsupportedMediaType);
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(16 * 1024, |l| l.0);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(FormError::TooLarge(limit));
        }
        let body: Body = req.into_body();
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
            if std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            {
                FormError::TooLarge(limit)
            } else {
                FormError::Malformed("the body could not be read".into())
            }
        })?;
        Self::parse(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_and_percent_20_both_decode_to_space_in_any_order() {
        let f = FormParams::parse(b"b=x%20y&a=x+y").unwrap();
        assert_eq!(f.optional("a").unwrap(), Some("x y"));
        assert_eq!(f.optional("b").unwrap(), Some("x y"));
    }

    #[test]
    fn escapes_decode_to_utf8() {
        let f = FormParams::parse(b"r=https%3A%2F%2Fapp%2Fcb%3Fa%3D1%26b&n=%C3%BC").unwrap();
        assert_eq!(f.optional("r").unwrap(), Some("https://app/cb?a=1&b"));
        assert_eq!(f.optional("n").unwrap(), Some("ü"));
    }

    #[test]
    fn broken_escapes_invalid_utf8_and_nul_are_malformed() {
        for bad in [&b"a=%zz"[..], b"a=%4", b"a=%", b"a=%FF", b"a=%00", b"=x"] {
            assert!(
                matches!(FormParams::parse(bad), Err(FormError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn duplicates_are_reported_and_empty_values_are_absent() {
        let f = FormParams::parse(b"a=1&a=2&e=&s=x&s=y").unwrap();
        assert_eq!(f.optional("a"), Err(Duplicate("a".into())));
        assert_eq!(f.optional("e").unwrap(), None);
        assert_eq!(f.optional("missing").unwrap(), None);
        assert_eq!(f.all("s").collect::<Vec<_>>(), ["x", "y"]);
    }

    #[test]
    fn content_type_may_carry_a_charset() {
        assert!(is_form_content_type(
            "application/x-www-form-urlencoded; charset=UTF-8"
        ));
        assert!(is_form_content_type("Application/X-WWW-Form-Urlencoded"));
        assert!(!is_form_content_type("application/json"));
        assert!(!is_form_content_type(""));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = FormParams::parse(&input);
        }

        #[test]
        fn encoded_pairs_parse_back_to_themselves(
            pairs in proptest::collection::vec(("[^\u{0}]{1,20}", "[^\u{0}]{0,40}"), 0..8)
        ) {
            let encoded = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .finish();
            let parsed = FormParams::parse(encoded.as_bytes()).unwrap();
            let expected: Vec<(String, String)> = pairs.clone();
            prop_assert_eq!(parsed.pairs(), expected.as_slice());
        }
    }
}
