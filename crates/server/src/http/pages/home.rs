//! `/`: who is signed in, with a sign-out button.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::{render, views::HomePage};
use crate::http::{session, AppState};

pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session::current_user(&state, &headers).await {
        Ok(Some(s)) => render(
            StatusCode::OK,
            &HomePage {
                csrf_token: s.csrf_token(&state),
                login: Some(s.user.login),
                merchant_id: s.user.merchant_id,
            },
        ),
        Ok(None) => render(
            StatusCode::OK,
            &HomePage {
                login: None,
                merchant_id: String::new(),
                csrf_token: String::new(),
            },
        ),
        Err(e) => e.into_response(),
    }
}
