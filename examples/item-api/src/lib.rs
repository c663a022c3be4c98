//! An example resource server: a sliver of UltraCart's item API behind `ucoauth-guard`.
//!
//! It is the last step of the OAuth guide's story, "Load my item information from UltraCart":
//! the application got an access token from ucoauth (authorize → consent → token) and now calls
//! `GET /rest/v2/item/items` with `Authorization: Bearer <token>`. This service asks ucoauth
//! whether the token is live (introspection) and whether it carries `item_read`, then answers
//! with the items of the merchant the token speaks for, in UltraCart's `ItemsResponse` shape.
//!
//! | route | scope | answer |
//! |---|---|---|
//! | `GET /rest/v2/item/items` | `item_read` | `ItemsResponse` with the merchant's items |
//! | `GET /rest/v2/item/items/{merchant_item_id}` | `item_read` | `ItemResponse`, or 404 |
//! | `PUT /rest/v2/item/items/{merchant_item_id}` | `item_write` | `ItemResponse` with the new description |
//!
//! The catalogue is in memory and seeded with a few items for the merchant `DEMO`.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use axum::{
    extract::{FromRef, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::{Deserialize, Serialize};
use ucoauth_guard::{Guard, Principal};
use ucoauth_wire::{params::header::UC_REST_ERROR, ErrorResponse, ResponseMetadata, ResultSet};

/// An item, as a subset of UltraCart's `Item` model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub merchant_id: String,
    pub merchant_item_id: String,
    pub description: String,
    pub pricing: ItemPricing,
}

/// `ItemPricing`, reduced to the cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemPricing {
    pub cost: f64,
}

/// UltraCart's `ItemsResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemsResponse {
    pub items: Vec<Item>,
    pub metadata: ResponseMetadata,
    pub success: bool,
}

/// UltraCart's `ItemResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemResponse {
    pub item: Item,
    pub metadata: ResponseMetadata,
    pub success: bool,
}

/// The body of an item update: only the description may change here.
#[derive(Debug, Deserialize)]
pub struct ItemUpdate {
    pub description: String,
}

/// Items by merchant. Cheap to clone; clones share the data.
#[derive(Debug, Clone, Default)]
pub struct Catalogue(Arc<RwLock<HashMap<String, Vec<Item>>>>);

impl Catalogue {
    /// Three items for the merchant `DEMO`.
    pub fn demo() -> Self {
        let item = |id: &str, description: &str, cost: f64| Item {
            merchant_id: "DEMO".into(),
            merchant_item_id: id.into(),
            description: description.into(),
            pricing: ItemPricing { cost },
        };
        let catalogue = Self::default();
        catalogue.write().insert(
            "DEMO".into(),
            vec![
                item("BONE", "Dog bone", 4.99),
                item("LEASH", "Leather leash", 19.5),
                item("BOWL", "Steel water bowl", 12.0),
            ],
        );
        catalogue
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Vec<Item>>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Vec<Item>>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The items of `merchant_id`.
    pub fn items(&self, merchant_id: &str) -> Vec<Item> {
        self.read().get(merchant_id).cloned().unwrap_or_default()
    }
}

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub guard: Guard,
    pub catalogue: Catalogue,
}

impl FromRef<ApiState> for Guard {
    fn from_ref(state: &ApiState) -> Guard {
        state.guard.clone()
    }
}

/// The item API, every route guarded by `guard`.
pub fn router(guard: Guard, catalogue: Catalogue) -> Router {
    let read = guard.require(["item_read"]);
    let write = guard.require(["item_write"]);
    Router::new()
        .route("/rest/v2/item/items", get(list).route_layer(read.clone()))
        .route(
            "/rest/v2/item/items/{merchant_item_id}",
            get(one)
                .route_layer(read)
                .merge(axum::routing::put(update).route_layer(write)),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(ApiState { guard, catalogue })
}

fn metadata(count: usize) -> ResponseMetadata {
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    ResponseMetadata {
        payload_name: None,
        result_set: Some(ResultSet {
            count: Some(count),
            limit: Some(count.max(1)),
            more: Some(false),
            next_offset: None,
            offset: Some(0),
            total_records: Some(count),
        }),
    }
}

/// `GET /rest/v2/item/items`: the caller's merchant's items.
async fn list(principal: Principal, State(state): State<ApiState>) -> Json<ItemsResponse> {
    let items = state.catalogue.items(&principal.merchant_id);
    tracing::info!(merchant_id = %principal.merchant_id, count = items.len(), "items listed");
    Json(ItemsResponse {
        metadata: metadata(items.len()),
        items,
        success: true,
    })
}

/// `GET /rest/v2/item/items/{merchant_item_id}`.
async fn one(
    principal: Principal,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Response {
    match state
        .catalogue
        .items(&principal.merchant_id)
        .into_iter()
        .find(|i| i.merchant_item_id == id)
    {
        Some(item) => Json(ItemResponse {
            item,
            metadata: metadata(1),
            success: true,
        })
        .into_response(),
        None => error(StatusCode::NOT_FOUND, "no item with that merchant_item_id"),
    }
}

/// `PUT /rest/v2/item/items/{merchant_item_id}`: changes the description.
async fn update(
    principal: Principal,
    State(state): State<ApiState>,
    Path(id): Path<String>,
    body: Result<Json<ItemUpdate>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(update)) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "send a JSON body {\"description\": \"...\"}",
        );
    };
    let mut all = state.catalogue.write();
    let Some(item) = all
        .get_mut(&principal.merchant_id)
        .and_then(|items| items.iter_mut().find(|i| i.merchant_item_id == id))
    else {
        return error(StatusCode::NOT_FOUND, "no item with that merchant_item_id");
    };
    item.description = update.description;
    Json(ItemResponse {
        item: item.clone(),
        metadata: metadata(1),
        success: true,
    })
    .into_response()
}

/// An `ErrorResponse` with `UC-REST-ERROR`.
fn error(status: StatusCode, message: &'static str) -> Response {
    let mut response = (
        status,
        Json(ErrorResponse::new(status.as_u16(), message, message)),
    )
        .into_response();
    response
        .headers_mut()
        .insert(UC_REST_ERROR, HeaderValue::from_static(message));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
