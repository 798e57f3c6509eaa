//! `/v1/pki/inventory` and `/v1/pki/watch`: the certificate lifecycle (see
//! `crate::lifecycle`). Reading needs `pki-read`; changing the watches `pki-admin`.

use super::keys::{ApiResult, Done};
use crate::extract::{Caller, JsonBody, Path, audit_down};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde_json::{Value, json};
use webqx_pki::lifecycle::{NewWatch, Watch};
use webqx_tokens::Operation;

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/pki/inventory", get(inventory))
        .route("/v1/pki/watch", get(list).post(add))
        .route("/v1/pki/watch/{id}", delete(remove))
}

fn life(s: &AppState) -> webqx_pki::lifecycle::Lifecycle {
    crate::lifecycle::lifecycle(&s.store, &s.audit)
}

#[utoipa::path(get, path = "/v1/pki/inventory", tag = "pki", responses((status = 200, body = Object)))]
/// Every certificate issued by our CA (not revoked) or seen by a watch, soonest expiry
/// first, with days left.
pub async fn inventory(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::PkiRead, None, "pki.inventory")
        .await?;
    let items = crate::lifecycle::inventory(&life(&s)).await?;
    let mut rec = caller.ctx.record("pki.inventory", None);
    rec.detail("count", items.len());
    s.audit.record(rec).await.map_err(|_| audit_down())?;
    Ok(Done(StatusCode::OK, json!({ "certificates": items })))
}

#[utoipa::path(post, path = "/v1/pki/watch", tag = "pki", request_body = NewWatch,
    responses((status = 201, body = Watch), (status = 400, body = crate::problem::Problem)))]
/// Watch a certificate file on the server's host or a TLS endpoint for expiry.
pub async fn add(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewWatch>,
) -> ApiResult<Watch> {
    caller
        .require(&s, Operation::PkiAdmin, None, "pki.watch.add")
        .await?;
    let w = life(&s).add(&caller.ctx, &req, "api").await?;
    Ok(Done(StatusCode::CREATED, w))
}

#[utoipa::path(get, path = "/v1/pki/watch", tag = "pki", responses((status = 200, body = Object)))]
/// List the watches.
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::PkiRead, None, "pki.watch.list")
        .await?;
    let all = life(&s).watches().await?;
    s.audit
        .record(caller.ctx.record("pki.watch.list", None))
        .await
        .map_err(|_| audit_down())?;
    Ok(Done(StatusCode::OK, json!({ "watches": all })))
}

#[utoipa::path(delete, path = "/v1/pki/watch/{id}", tag = "pki",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// Stop watching.
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::PkiAdmin, None, "pki.watch.delete")
        .await?;
    life(&s).delete(&caller.ctx, &id).await?;
    Ok(Done(StatusCode::OK, json!({ "deleted": id })))
}
