//! The browser leg of the authorization-code flow (RFC 6749 §4.1.1, RFC 7636 §4.3).
//!
//! `GET {base}/oauth/authorize` is not an API call: the application sends the user's browser
//! there. [`AuthorizeUrl::builder`] makes that URL with a fresh `state` and PKCE S256 pair, and
//! hands both back: keep them (server side, or in the CLI's memory) until the browser returns,
//! then check `state` with [`verify_state`] and pass the verifier to
//! [`crate::OauthApi::exchange_code`].

use subtle::ConstantTimeEq;
use ucoauth_wire::paths;
use url::Url;

use crate::{
    error::SdkError,
    pkce::{PkceVerifier, PKCE_METHOD_S256},
    types::{ClientId, CsrfState, PkceChallenge, RedirectUrl, Scope},
};

/// A ready authorize URL and the secrets that belong to it.
#[derive(Debug)]
pub struct AuthorizeUrl {
    /// Where to send the browser.
    pub url: String,
    /// The `state` in the URL; the browser must bring it back unchanged.
    pub state: CsrfState,
    /// The PKCE verifier; redeem the code with it.
    pub pkce_verifier: PkceVerifier,
    /// The challenge in the URL (derived from the verifier).
    pub pkce_challenge: PkceChallenge,
}

impl AuthorizeUrl {
    /// Starts an authorize URL for `client_id` at `base_url` (the API base ending in `/rest/v2`;
    /// the page is `{base}/oauth/authorize`).
    ///
    /// ```
    /// use ucoauth_sdk::{verify_state, AuthorizeUrl, ClientId, RedirectUrl};
    ///
    /// let request = AuthorizeUrl::builder(
    ///     "https://secure.ultracart.com/rest/v2",
    ///     &ClientId::new("5e31ce86e17f02015a35257c47151544"),
    /// )
    /// .redirect_uri(RedirectUrl::new("http://127.0.0.1:9000/callback").unwrap())
    /// .scope("item_read")
    /// .scope("order_read")
    /// .build()?;
    /// assert!(request.url.starts_with("https://secure.ultracart.com/rest/v2/oauth/authorize?"));
    /// assert!(request.url.contains("scope=item_read+order_read"));
    /// // ... later, when the browser comes back with ?code=...&state=...
    /// let returned_state = request.state.secret().to_owned();
    /// assert!(verify_state(&request.state, &returned_state));
    /// # Ok::<(), ucoauth_sdk::SdkError>(())
    /// ```
    pub fn builder(base_url: impl Into<String>, client_id: &ClientId) -> AuthorizeUrlBuilder {
        AuthorizeUrlBuilder {
            base_url: base_url.into(),
            client_id: client_id.clone(),
            redirect_uri: None,
            scopes: Vec::new(),
            state: None,
        }
    }
}

/// Builds an [`AuthorizeUrl`].
#[derive(Debug)]
pub struct AuthorizeUrlBuilder {
    base_url: String,
    client_id: ClientId,
    redirect_uri: Option<RedirectUrl>,
    scopes: Vec<Scope>,
    state: Option<CsrfState>,
}

impl AuthorizeUrlBuilder {
    /// Where the browser should come back. Omit it when the application has one registered
    /// redirect URI and the server may use that.
    pub fn redirect_uri(mut self, redirect_uri: RedirectUrl) -> Self {
        self.redirect_uri = Some(redirect_uri);
        self
    }

    /// Adds one scope; the URL carries them space-delimited, in the order added. With none, the
    /// `scope` parameter is left out and the application's registered permissions apply.
    pub fn scope(mut self, scope: impl Into<Scope>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds several scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Scope>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Uses this `state` instead of a random one (for example one kept in a session cookie).
    pub fn state(mut self, state: CsrfState) -> Self {
        self.state = Some(state);
        self
    }

    /// Makes the URL: `response_type=code`, `client_id`, `redirect_uri`, `scope`, `state`,
    /// `code_challenge`, `code_challenge_method=S256`, form-encoded as RFC 6749 §4.1.1 asks.
    pub fn build(self) -> Result<AuthorizeUrl, SdkError> {
        let endpoint = format!(
            "{}{}",
            self.base_url.trim_end_matches('/'),
            paths::AUTHORIZE
        );
        let mut url = Url::parse(&endpoint).map_err(|source| SdkError::InvalidUrl {
            url: endpoint.clone(),
            source,
        })?;
        let state = self.state.unwrap_or_else(CsrfState::new_random);
        let (pkce_challenge, pkce_verifier) = PkceChallenge::new_random_s256();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", self.client_id.as_str());
            if let Some(redirect_uri) = &self.redirect_uri {
                query.append_pair("redirect_uri", redirect_uri.as_str());
            }
            if !self.scopes.is_empty() {
                let joined = self
                    .scopes
                    .iter()
                    .map(Scope::as_str)
                    .collect::<Vec<_>>()
                    .join(" ");
                query.append_pair("scope", &joined);
            }
            query
                .append_pair("state", state.secret())
                .append_pair("code_challenge", pkce_challenge.as_str())
                .append_pair("code_challenge_method", PKCE_METHOD_S256);
        }
        Ok(AuthorizeUrl {
            url: url.into(),
            state,
            pkce_verifier,
            pkce_challenge,
        })
    }
}

/// Whether the `state` the browser brought back is the one that was sent, compared in constant
/// time (RFC 6749 §10.12). An empty expected state never matches.
pub fn verify_state(expected: &CsrfState, received: &str) -> bool {
    let expected = expected.secret().as_bytes();
    !expected.is_empty() && bool::from(expected.ct_eq(received.as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn query_of(url: &str) -> HashMap<String, String> {
        Url::parse(url)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect()
    }

    #[test]
    fn url_has_every_parameter_and_a_matching_pkce_pair() {
        let request =
            AuthorizeUrl::builder("http://127.0.0.1:8080/rest/v2/", &ClientId::new("cid"))
                .redirect_uri(RedirectUrl::new("http://127.0.0.1:9000/callback").unwrap())
                .scopes(["item_read", "order_read"])
                .build()
                .unwrap();
        assert!(request.url.starts_with(
            "http://127.0.0.1:8080/rest/v2/oauth/authorize?response_type=code&client_id=cid&"
        ));
        let query = query_of(&request.url);
        assert_eq!(query["response_type"], "code");
        assert_eq!(query["client_id"], "cid");
        assert_eq!(query["redirect_uri"], "http://127.0.0.1:9000/callback");
        assert_eq!(query["scope"], "item_read order_read");
        assert_eq!(query["state"], request.state.secret());
        assert_eq!(query["code_challenge_method"], "S256");
        assert_eq!(
            query["code_challenge"],
            PkceChallenge::from_verifier_s256(&request.pkce_verifier).as_str()
        );
        assert_eq!(query["code_challenge"], request.pkce_challenge.as_str());
        assert_eq!(request.state.secret().len(), 43);
    }

    #[test]
    fn spaces_ampersands_and_unicode_are_encoded_and_round_trip() {
        let redirect = "https://app.example/cb?next=a b&x=ü#frag";
        let request = AuthorizeUrl::builder("https://h.example/rest/v2", &ClientId::new("c&d=e"))
            .redirect_uri(RedirectUrl::new(redirect).unwrap())
            .scope("item_read")
            .scope("spëcial&scope=x")
            .build()
            .unwrap();
        let raw_query = request.url.split_once('?').unwrap().1;
        // Nothing that would split or end the query survives unencoded.
        assert!(!raw_query.contains(' ') && !raw_query.contains('#') && !raw_query.contains('ü'));
        assert!(raw_query.contains("client_id=c%26d%3De&"), "{raw_query}");
        assert!(
            raw_query.contains(
                "redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fnext%3Da+b%26x%3D%C3%BC%23frag&"
            ),
            "{raw_query}"
        );
        assert!(
            raw_query.contains("scope=item_read+sp%C3%ABcial%26scope%3Dx&"),
            "{raw_query}"
        );
        let query = query_of(&request.url);
        assert_eq!(query["client_id"], "c&d=e");
        assert_eq!(query["redirect_uri"], redirect);
        assert_eq!(query["scope"], "item_read spëcial&scope=x");
        assert_eq!(query.len(), 7);
    }

    #[test]
    fn optional_parameters_are_left_out_and_a_given_state_is_used() {
        let request = AuthorizeUrl::builder("https://h.example/rest/v2", &ClientId::new("cid"))
            .state(CsrfState::new("my-state"))
            .build()
            .unwrap();
        let query = query_of(&request.url);
        assert!(!query.contains_key("redirect_uri"));
        assert!(!query.contains_key("scope"));
        assert_eq!(query["state"], "my-state");
    }

    #[test]
    fn every_build_gets_fresh_secrets() {
        let builder = || AuthorizeUrl::builder("https://h.example/rest/v2", &ClientId::new("c"));
        let a = builder().build().unwrap();
        let b = builder().build().unwrap();
        assert_ne!(a.state, b.state);
        assert_ne!(a.pkce_challenge, b.pkce_challenge);
    }

    #[test]
    fn a_bad_base_url_is_an_error() {
        let err = AuthorizeUrl::builder("not a url", &ClientId::new("c"))
            .build()
            .unwrap_err();
        assert!(matches!(err, SdkError::InvalidUrl { .. }));
    }

    #[test]
    fn state_comparison_needs_an_exact_match() {
        let state = CsrfState::new("abc123");
        assert!(verify_state(&state, "abc123"));
        assert!(!verify_state(&state, "abc124"));
        assert!(!verify_state(&state, "abc12"));
        assert!(!verify_state(&state, "abc1234"));
        assert!(!verify_state(&state, ""));
        assert!(!verify_state(&CsrfState::new(""), ""));
    }
}
