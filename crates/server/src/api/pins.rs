//! `/v1/pki/pins/{service}`: RFC 7469 pin sets per service, for mobile apps and partner
//! clients. Setting and deleting need the `sys` operation; any valid caller may read.

use super::keys::{ApiResult, Done};
use crate::extract::{Caller, JsonBody, Path};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use webqx_pki::pinstore::{PinSets, SetPins, StoredPins};
use webqx_tokens::Operation;

fn sets(s: &AppState) -> PinSets {
    PinSets::new(s.store.clone(), s.audit.clone())
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/pki/pins/{service}", get(show).put(set).delete(remove))
}

#[utoipa::path(put, path = "/v1/pki/pins/{service}", tag = "pki", request_body = SetPins,
    responses((status = 200, body = StoredPins), (status = 400, body = crate::problem::Problem)))]
/// Set a service's pin set (two or more pins, one of them a backup pin).
pub async fn set(
    State(s): State<AppState>,
    caller: Caller,
    Path(service): Path<String>,
    JsonBody(req): JsonBody<SetPins>,
) -> ApiResult<StoredPins> {
    caller
        .require(&s, Operation::Sys, None, "pki.pins.set")
        .await?;
    let stored = sets(&s).put(&caller.ctx, &service, &req).await?;
    Ok(Done(StatusCode::OK, stored))
}

#[utoipa::path(get, path = "/v1/pki/pins/{service}", tag = "pki",
    responses((status = 200, body = StoredPins), (status = 404, body = crate::problem::Problem)))]
/// Read a service's pin set.
pub async fn show(
    State(s): State<AppState>,
    caller: Caller,
    Path(service): Path<String>,
) -> ApiResult<StoredPins> {
    let stored = sets(&s).get(&caller.ctx, &service).await?;
    Ok(Done(StatusCode::OK, stored))
}

#[utoipa::path(delete, path = "/v1/pki/pins/{service}", tag = "pki",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// Delete a service's pin set.
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(service): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "pki.pins.delete")
        .await?;
    sets(&s).delete(&caller.ctx, &service).await?;
    Ok(Done(StatusCode::OK, json!({ "deleted": service })))
}
