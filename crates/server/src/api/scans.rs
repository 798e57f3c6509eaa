//! `/v1/pki/scans`: scheduled TLS scan targets, their history, and scans on demand.

use super::keys::{ApiResult, Done};
use crate::extract::{Caller, JsonBody, Path};
use crate::problem::ApiError;
use crate::scans::{self, NewTarget, ScansError};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use webqx_tokens::Operation;

impl From<ScansError> for ApiError {
    fn from(e: ScansError) -> ApiError {
        match e {
            ScansError::Invalid(m) => ApiError::bad_request(m).audited(),
            ScansError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string()).audited()
            }
            other => {
                tracing::error!(error = %other, "TLS scan request failed inside the service");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service cannot reach its store or audit trail; retry later",
                )
            }
        }
    }
}

#[utoipa::path(post, path = "/v1/pki/scans", tag = "pki", request_body = NewTarget,
    responses((status = 201, body = Object), (status = 400, body = crate::problem::Problem)))]
/// Add a TLS endpoint to scan on a schedule.
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewTarget>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "pki.scan.target.create")
        .await?;
    let id = scans::create(&s.audit, &caller.ctx, &req).await?;
    let target = scans::get(&s.store, &id).await?;
    Ok(Done(StatusCode::CREATED, json!(target)))
}

#[utoipa::path(get, path = "/v1/pki/scans", tag = "pki", responses((status = 200, body = Object)))]
/// List scan targets (from the API and from `[[scan.tls]]`).
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "pki.scan.target.list")
        .await?;
    caller.audit_read(&s, "pki.scan.target.list", None).await?;
    let targets = scans::list(&s.store).await?;
    Ok(Done(StatusCode::OK, json!({"targets": targets})))
}

#[utoipa::path(delete, path = "/v1/pki/scans/{id}", tag = "pki",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// Remove a scan target and its history.
pub async fn delete(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "pki.scan.target.delete")
        .await?;
    scans::delete(&s.audit, &caller.ctx, &id).await?;
    Ok(Done(StatusCode::OK, json!({"deleted": id})))
}

#[utoipa::path(get, path = "/v1/pki/scans/{id}/results", tag = "pki",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// A target's results, newest first (the last 100).
pub async fn results(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "pki.scan.results")
        .await?;
    caller
        .audit_read(&s, "pki.scan.results", Some(format!("scan:{id}")))
        .await?;
    let target = scans::get(&s.store, &id).await?;
    let results = scans::history(&s.store, &id, 100).await?;
    Ok(Done(
        StatusCode::OK,
        json!({"target": target, "results": results}),
    ))
}

#[utoipa::path(post, path = "/v1/pki/scans/{id}/run", tag = "pki",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// Scan a target now; stored and compared like a scheduled scan.
pub async fn run(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "pki.scan.tls")
        .await?;
    let target = scans::get(&s.store, &id).await?;
    let result = scans::run(&s.store, &s.audit, &caller.ctx, &target).await?;
    Ok(Done(StatusCode::OK, result))
}
