//! The admin JSON API under `/admin/api/v1`: the back office's operations for scripts. Every
//! answer is JSON; every error is UltraCart's `ErrorResponse` with `UC-REST-ERROR`.
//!
//! # Authentication
//! - A **simple key** in `x-ultracart-simple-key` acts for the key's merchant, limited by the
//!   key's permissions:
//!
//!   | operations | permission needed |
//!   |---|---|
//!   | list / show developer applications, list authorized applications | `configuration_read` or `configuration_write` |
//!   | create / update / rotate secret / delete applications, revoke authorizations | `configuration_write` |
//!   | list API keys and users, read the audit trail | `user_read` or `user_write` |
//!   | create / revoke API keys, add / remove users, set passwords | `user_write` |
//!
//!   A key may only create keys whose permissions it holds itself.
//! - A **back-office session** (the `ucoauth_session` cookie) acts for the signed-in user's
//!   merchant with every permission. Requests that change something must then also send the
//!   session's CSRF token in `X-CSRF-Token` (the pages carry it in `<meta name="csrf-token">`),
//!   so a cross-site page cannot use the cookie.
//!
//! # Lists
//! `?_offset=0&_limit=100` (UltraCart's paging parameters; `_limit` at most 200). The answer
//! carries `metadata.result_set` (`count`, `limit`, `offset`, `more`, `next_offset`,
//! `total_records`).

pub mod applications;
pub mod audit;
pub mod grants;
pub mod keys;
pub mod users;

use axum::{
    body::Body,
    extract::{FromRequest, FromRequestParts, Path, Request},
    http::{header, request::Parts, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post, put},
    Json, Router,
};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::{Map, Value};
use ucoauth_wire::{ResponseMetadata, ResultSet};

use super::{
    api::me::{key_principal, simple_key},
    client_ip::ClientIp,
    error::ApiError,
    form::{BodyLimit, FormParams},
    session, AppState,
};
use crate::{
    admin::{Listed, Paging, Within},
    domain::{audit::Actor, scope::ScopeSet, secret::Purpose},
};

/// Where the admin API lives.
pub const BASE: &str = "/admin/api/v1";

/// The CSRF header a session-authenticated change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The admin API's routes, relative to [`BASE`].
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/applications",
            get(applications::list).post(applications::create),
        )
        .route(
            "/applications/{client_id}",
            get(applications::show)
                .put(applications::update)
                .patch(applications::update)
                .delete(applications::delete),
        )
        .route(
            "/applications/{client_id}/rotate_secret",
            post(applications::rotate_secret),
        )
        .route("/audit", get(audit::list))
        .route("/grants", get(grants::list))
        .route("/grants/{grant_id}", delete(grants::revoke))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{key_id}", delete(keys::revoke))
        .route("/users", get(users::list).post(users::add))
        .route("/users/{user_id}", delete(users::remove))
        .route("/users/{user_id}/password", put(users::set_password))
}

/// What a request needs to be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ReadApplications,
    WriteApplications,
    ReadUsers,
    WriteUsers,
}

impl Permission {
    /// Any one of these scopes on a key suffices.
    fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::ReadApplications => &["configuration_read", "configuration_write"],
            Self::WriteApplications => &["configuration_write"],
            Self::ReadUsers => &["user_read", "user_write"],
            Self::WriteUsers => &["user_write"],
        }
    }
}

/// Who is calling: a merchant, through a session or a simple key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub merchant_id: String,
    /// The signed-in user (session callers).
    pub user_id: Option<String>,
    /// The hash of the session (so a password change can keep it).
    pub session_hash: Option<crate::domain::secret::Digest>,
    /// The key's permissions (key callers); `None` for sessions, which may do everything.
    pub key_scopes: Option<ScopeSet>,
    /// Who the audit trail names for the changes this caller makes, and from where.
    pub actor: Actor,
}

impl Caller {
    pub fn within(&self) -> Within<'_> {
        Within::Merchant(&self.merchant_id)
    }

    /// 403 unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        match &self.key_scopes {
            None => Ok(()),
            Some(scopes) if permission.scopes().iter().any(|s| scopes.contains(s)) => Ok(()),
            Some(_) => Err(ApiError::forbidden(format!(
                "this simple key lacks the permission for this operation; it needs {}",
                permission.scopes().join(" or ")
            ))),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Ok(ip) = ClientIp::from_request_parts(parts, state).await;
        if let Some(key) = simple_key(&parts.headers) {
            let principal = key_principal(state, key).await?;
            return Ok(Self {
                actor: Actor::key(principal.key_id, ip.audit_ip()),
                merchant_id: principal.merchant_id,
                user_id: None,
                session_hash: None,
                key_scopes: Some(principal.scopes),
            });
        }
        let Some(signed_in) = session::current_user(state, &parts.headers).await? else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "authentication required: send a simple key in x-ultracart-simple-key, \
                 or use a signed-in back-office session",
            ));
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD);
        if !safe {
            let presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !signed_in.csrf_ok(state, presented) {
                return Err(ApiError::forbidden(
                    "a change made with a session cookie must carry the session's CSRF token \
                     in X-CSRF-Token",
                ));
            }
        }
        Ok(Self {
            session_hash: Some(
                state
                    .config
                    .pepper
                    .digest(Purpose::Session, &signed_in.session_id),
            ),
            actor: Actor::user(signed_in.user.user_id.as_str(), ip.audit_ip()),
            merchant_id: signed_in.user.merchant_id,
            user_id: Some(signed_in.user.user_id),
            key_scopes: None,
        })
    }
}

/// A path segment (an id), refusing undecodable ones in the `ErrorResponse` shape.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|e| ApiError::bad_request(format!("bad path: {e}")))
    }
}

/// A JSON request body: `Content-Type: application/json`, within the body limit, and matching
/// the input type exactly (unknown fields are refused, so typos do not pass silently).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ));
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(16 * 1024, |l| l.0);
        let body: Body = req.into_body();
        let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {limit} bytes"),
            )
        })?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// `_offset` and `_limit` from the query string.
pub fn paging(query: Option<&str>) -> Result<Paging, ApiError> {
    let params = FormParams::parse(query.unwrap_or_default().as_bytes())
        .map_err(|e| ApiError::bad_request(e.message()))?;
    let number = |name: &str, default: i64| -> Result<i64, ApiError> {
        match params.optional(name) {
            Ok(None) => Ok(default),
            Ok(Some(v)) => v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("{name} must be a whole number"))),
            Err(_) => Err(ApiError::bad_request(format!(
                "{name} must not be sent more than once"
            ))),
        }
    };
    let offset = number("_offset", 0)?;
    let limit = number("_limit", Paging::DEFAULT_LIMIT)?;
    Ok(Paging::new(offset, limit)?)
}

fn int32(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `{"<payload>": [...], "metadata": {"result_set": ...}, "success": true}`.
pub fn list_response<T: Serialize>(payload: &str, listed: Listed<T>) -> Response {
    let count = i64::try_from(listed.items.len()).unwrap_or(i64::MAX);
    let more = listed.more();
    let result_set = ResultSet {
        count: Some(int32(count)),
        limit: Some(int32(listed.paging.limit)),
        more: Some(more),
        next_offset: more.then(|| int32(listed.paging.offset + count)),
        offset: Some(int32(listed.paging.offset)),
        total_records: Some(int32(listed.total)),
    };
    respond(
        StatusCode::OK,
        payload,
        &listed.items,
        ResponseMetadata {
            payload_name: None,
            result_set: Some(result_set),
        },
    )
}

/// `{"<payload>": value, "metadata": {}, "success": true}` with `status`.
pub fn one_response<T: Serialize>(status: StatusCode, payload: &str, value: &T) -> Response {
    respond(status, payload, value, ResponseMetadata::default())
}

/// `{"metadata": {}, "success": true}` plus `extra` fields.
pub fn done_response(extra: &[(&str, Value)]) -> Response {
    let mut body = Map::new();
    for (k, v) in extra {
        body.insert((*k).to_owned(), v.clone());
    }
    body.insert("metadata".into(), Value::Object(Map::new()));
    body.insert("success".into(), Value::Bool(true));
    Json(Value::Object(body)).into_response()
}

fn respond<T: Serialize>(
    status: StatusCode,
    payload: &str,
    value: &T,
    metadata: ResponseMetadata,
) -> Response {
    let (value, metadata) = match (serde_json::to_value(value), serde_json::to_value(metadata)) {
        (Ok(v), Ok(m)) => (v, m),
        (Err(e), _) | (_, Err(e)) => return ApiError::internal(&e).into_response(),
    };
    let mut body = Map::new();
    body.insert(payload.to_owned(), value);
    body.insert("metadata".into(), metadata);
    body.insert("success".into(), Value::Bool(true));
    (status, Json(Value::Object(body))).into_response()
}
