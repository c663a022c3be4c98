//! `/`: the back-office landing page (its areas, and sign-out), or a sign-in link.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::backoffice::{self, views::HomePage, Area, Chrome};
use crate::http::{session, AppState};

pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session::current_user(&state, &headers).await {
        Ok(signed_in) => backoffice::page(
            StatusCode::OK,
            &HomePage {
                chrome: signed_in.map(|s| Chrome::new(&state, &s, Area::Home)),
            },
        ),
        Err(e) => e.into_response(),
    }
}
