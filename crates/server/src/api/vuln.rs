//! `/v1/vuln`: scheduled vulnerability scan targets, their results, the current
//! findings, and the server's advisory database.
//!
//! Reads need `vuln-read`; adding, removing and running targets and ad-hoc scans
//! (`POST /v1/vuln/scan`: one path now, nothing stored) `vuln-write`; importing
//! advisories `sys` (an administrator's call: it changes what every scan reports).

use super::keys::{ApiResult, Done};
use crate::extract::{Caller, JsonBody, Path, Query};
use crate::problem::ApiError;
use crate::state::AppState;
use crate::vulnscans::{self, NewTarget, VulnError};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use webqx_tokens::Operation;

/// The problem for `e`; `audited` when the capability already wrote the failed record
/// (errors returned from inside its audited transaction).
fn problem(e: VulnError, audited: bool) -> ApiError {
    let err = match e {
        VulnError::Invalid(m) => ApiError::bad_request(m),
        VulnError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not-found", e.to_string()),
        VulnError::Exists(_) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
        VulnError::TooMany(_) => {
            ApiError::new(StatusCode::CONFLICT, "vuln-target-limit", e.to_string())
        }
        VulnError::Database(m) => {
            tracing::warn!(error = %m, "the vulnerability database cannot be used");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "vuln-database", m)
        }
        other => {
            tracing::error!(error = %other, "vulnerability scan request failed inside the service");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service cannot reach its store or audit trail; retry later",
            );
        }
    };
    if audited { err.audited() } else { err }
}

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/vuln/targets", post(create).get(list))
        .route("/v1/vuln/targets/{id}", delete(remove))
        .route("/v1/vuln/targets/{id}/run", post(run))
        .route("/v1/vuln/targets/{id}/results", get(results))
        .route("/v1/vuln/findings", get(findings))
        .route("/v1/vuln/scan", post(scan))
        .route("/v1/vuln/db/status", get(db_status))
        .route("/v1/vuln/db/import", post(db_import))
}

#[utoipa::path(post, path = "/v1/vuln/targets", tag = "vuln", request_body = NewTarget,
    responses((status = 201, body = vulnscans::Target), (status = 400, body = crate::problem::Problem),
        (status = 409, description = "a target of that name exists, or [vuln] max_targets are kept", body = crate::problem::Problem)))]
/// Add lockfiles or folders (under `[vuln] allowed_roots`) to scan on a schedule.
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewTarget>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::VulnWrite, None, "vuln.target.create")
        .await?;
    let id = vulnscans::create(&s.audit, &s.config.vuln, &caller.ctx, &req)
        .await
        .map_err(|e| problem(e, true))?;
    let target = vulnscans::get(&s.store, &id)
        .await
        .map_err(|e| problem(e, true))?;
    Ok(Done(StatusCode::CREATED, json!(target)))
}

#[utoipa::path(get, path = "/v1/vuln/targets", tag = "vuln", responses((status = 200, body = Object)))]
/// List the targets, by name.
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::VulnRead, None, "vuln.target.list")
        .await?;
    caller.audit_read(&s, "vuln.target.list", None).await?;
    let targets = vulnscans::list(&s.store)
        .await
        .map_err(|e| problem(e, true))?;
    Ok(Done(StatusCode::OK, json!({"targets": targets})))
}

#[utoipa::path(delete, path = "/v1/vuln/targets/{id}", tag = "vuln",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// Remove a target (by id or name) and its results.
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::VulnWrite, None, "vuln.target.delete")
        .await?;
    let target = vulnscans::get(&s.store, &id)
        .await
        .map_err(|e| problem(e, false))?;
    vulnscans::delete(&s.audit, &caller.ctx, &target.id)
        .await
        .map_err(|e| problem(e, true))?;
    Ok(Done(StatusCode::OK, json!({"deleted": target.id})))
}

#[utoipa::path(post, path = "/v1/vuln/targets/{id}/run", tag = "vuln",
    responses((status = 200, body = vulnscans::ScanResult), (status = 404, body = crate::problem::Problem)))]
/// Scan a target (by id or name) now; stored and compared like a scheduled run.
pub async fn run(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::VulnWrite, None, "vuln.scan")
        .await?;
    let target = vulnscans::get(&s.store, &id)
        .await
        .map_err(|e| problem(e, false))?;
    let result = vulnscans::run(&s.store, &s.audit, &s.config, &caller.ctx, &target)
        .await
        .map_err(|e| problem(e, true))?;
    Ok(Done(StatusCode::OK, json!(result)))
}

/// Paging of results.
#[derive(Debug, Deserialize, IntoParams, ToSchema)]
pub struct ResultsPage {
    /// `next_cursor` of the previous page: results older than it.
    pub cursor: Option<String>,
    /// Page size, 1-1000 (default 50).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/v1/vuln/targets/{id}/results", tag = "vuln", params(ResultsPage),
    responses((status = 200, body = Object), (status = 400, description = "a cursor that is not a next_cursor", body = crate::problem::Problem),
        (status = 404, body = crate::problem::Problem)))]
/// A target's results (by id or name), newest first, with a cursor for older ones.
pub async fn results(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<ResultsPage>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::VulnRead, None, "vuln.results")
        .await?;
    caller
        .audit_read(&s, "vuln.results", Some(format!("vuln:{id}")))
        .await?;
    let target = vulnscans::get(&s.store, &id)
        .await
        .map_err(|e| problem(e, true))?;
    let (results, next) = vulnscans::history(
        &s.store,
        &target.id,
        page.cursor.as_deref(),
        page.limit.unwrap_or(50),
    )
    .await
    .map_err(|e| problem(e, true))?;
    let mut body = json!({"target": target, "results": results});
    if let (Some(c), Value::Object(m)) = (next, &mut body) {
        m.insert("next_cursor".into(), json!(c));
    }
    Ok(Done(StatusCode::OK, body))
}

#[utoipa::path(get, path = "/v1/vuln/findings", tag = "vuln", responses((status = 200, body = Object)))]
/// The current findings: the latest successful result of every target.
pub async fn findings(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::VulnRead, None, "vuln.findings")
        .await?;
    caller.audit_read(&s, "vuln.findings", None).await?;
    let list = vulnscans::current(&s.store)
        .await
        .map_err(|e| problem(e, true))?;
    Ok(Done(StatusCode::OK, json!({"findings": list})))
}

#[utoipa::path(get, path = "/v1/vuln/db/status", tag = "vuln", responses((status = 200, body = Object)))]
/// The advisory database: counts per ecosystem, age, staleness.
pub async fn db_status(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::VulnRead, None, "vuln.db.status")
        .await?;
    let status = vulnscans::db_status(vulnscans::db_dir(&s.config))
        .await
        .map_err(|e| problem(e, false))?;
    let body = match status {
        Some(st) => json!({"present": true, "warning": st.warning(), "status": st}),
        None => json!({"present": false,
            "warning": "no advisory database yet; import one (POST /v1/vuln/db/import)"}),
    };
    Ok(Done(StatusCode::OK, body))
}

/// An ad-hoc scan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanRequest {
    /// A lockfile, SBOM, or folder searched for them; absolute, under
    /// `[vuln] allowed_roots`.
    pub path: String,
}

#[utoipa::path(post, path = "/v1/vuln/scan", tag = "vuln", request_body = ScanRequest,
    responses((status = 200, body = Object), (status = 400, body = crate::problem::Problem),
        (status = 503, description = "no usable advisory database, or none for an ecosystem of the inputs", body = crate::problem::Problem)))]
/// Scan a path now and return the findings, storing nothing (no target, no result).
pub async fn scan(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<ScanRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::VulnWrite, None, "vuln.scan.adhoc")
        .await?;
    let body = vulnscans::scan_now(&s.audit, &s.config, &caller.ctx, &req.path)
        .await
        .map_err(|e| problem(e, false))?;
    Ok(Done(StatusCode::OK, body))
}

/// Advisory sources to import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// OSV JSON/YAML files, folders, zip archives; absolute, under
    /// `[vuln] allowed_roots`.
    pub paths: Vec<String>,
}

#[utoipa::path(post, path = "/v1/vuln/db/import", tag = "vuln", request_body = ImportRequest,
    responses((status = 200, body = Object), (status = 400, body = crate::problem::Problem)))]
/// Import OSV advisories into the server's database (administrators: `sys`).
pub async fn db_import(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<ImportRequest>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "vuln.db.import")
        .await?;
    let body = vulnscans::db_import(&s.audit, &s.config, &caller.ctx, &req.paths)
        .await
        .map_err(|e| problem(e, false))?;
    Ok(Done(StatusCode::OK, body))
}
