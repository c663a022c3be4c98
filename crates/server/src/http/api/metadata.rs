//! `GET /.well-known/oauth-authorization-server`: authorization server metadata (RFC 8414).
//!
//! Endpoint URLs are absolute, built from the public URL (the issuer), so clients behind the
//! same proxy see the addresses they can reach. What the document advertises follows the
//! server profile; an application with its own profile override may be stricter or looser.

use axum::{extract::State, Json};
use ucoauth_wire::{
    params::grant_type, paths, scopes::CATALOGUE, standard::AuthorizationServerMetadata,
};

use crate::{domain::profile::Profile, http::AppState};

pub async fn get(State(state): State<AppState>) -> Json<AuthorizationServerMetadata> {
    Json(document(state.config.issuer(), state.config.profile))
}

/// The metadata document for `issuer` under `profile`.
pub fn document(issuer: String, profile: Profile) -> AuthorizationServerMetadata {
    let endpoint = |path: &str| Some(format!("{issuer}{}{path}", paths::API_BASE));
    let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let strict = profile == Profile::Strict;
    // In compat, UltraCart's SDKs send no secret at all: "none" is an accepted method.
    let token_auth: &[&str] = if strict {
        &["client_secret_basic", "client_secret_post"]
    } else {
        &["client_secret_basic", "client_secret_post", "none"]
    };
    let pkce: &[&str] = if strict {
        &["S256"]
    } else {
        &["S256", "plain"]
    };
    AuthorizationServerMetadata {
        authorization_endpoint: endpoint(paths::AUTHORIZE),
        token_endpoint: endpoint(paths::TOKEN),
        revocation_endpoint: endpoint(paths::REVOKE),
        introspection_endpoint: endpoint(paths::INTROSPECT),
        // RFC 8628 §4.
        device_authorization_endpoint: endpoint(paths::DEVICE_AUTHORIZE),
        scopes_supported: CATALOGUE.iter().map(|(s, _)| (*s).to_owned()).collect(),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        grant_types_supported: strings(&[
            grant_type::AUTHORIZATION_CODE,
            grant_type::REFRESH_TOKEN,
            grant_type::DEVICE_CODE,
        ]),
        token_endpoint_auth_methods_supported: strings(token_auth),
        revocation_endpoint_auth_methods_supported: strings(token_auth),
        introspection_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
        ]),
        code_challenge_methods_supported: strings(pkce),
        // The redirect back to the application carries `iss` (RFC 9207).
        authorization_response_iss_parameter_supported: true,
        service_documentation: None,
        issuer,
    }
}
