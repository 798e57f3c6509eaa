//! `/v1/pki/mtls/bindings`: which client certificate names authenticate with which
//! token policy (see `crate::mtls`). Managing bindings needs the `sys` operation, as
//! managing tokens does.

use super::keys::{ApiResult, Done};
use crate::extract::{Caller, JsonBody, Path};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use serde_json::{Value, json};
use webqx_pki::mtls::{Binding, NewBinding};
use webqx_pki::stored::RecordError;
use webqx_tokens::Operation;

impl From<RecordError> for ApiError {
    fn from(e: RecordError) -> ApiError {
        if let RecordError::Audit(webqx_audit::AuditError::SpoolFull(message)) = &e {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-spool-full",
                message.clone(),
            )
            .audited();
        }
        let status = match &e {
            RecordError::Invalid(_) => StatusCode::BAD_REQUEST,
            RecordError::NotFound(_) => StatusCode::NOT_FOUND,
            RecordError::Forbidden(_) => StatusCode::FORBIDDEN,
            RecordError::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let detail = match &e {
            RecordError::Audit(_) | RecordError::Store(_) => {
                tracing::error!(error = %e, "PKI record request failed inside the service");
                "the service cannot reach its store or audit trail; retry later".into()
            }
            other => other.to_string(),
        };
        ApiError::new(status, e.kind(), detail).audited()
    }
}

/// The routes of this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/pki/mtls/bindings", get(list).post(create))
        .route("/v1/pki/mtls/bindings/{id}", delete(remove))
}

#[utoipa::path(post, path = "/v1/pki/mtls/bindings", tag = "pki", request_body = NewBinding,
    responses((status = 201, body = Binding), (status = 409, body = crate::problem::Problem)))]
/// Bind a client certificate name (CN, SAN DNS or SAN URI) to a token's live policy
/// (`policy_of`) or to an explicit policy.
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewBinding>,
) -> ApiResult<Binding> {
    caller
        .require(&s, Operation::Sys, None, "pki.mtls.bind")
        .await?;
    let b = crate::mtls::bindings(&s)
        .create(&caller.ctx, &caller.principal.policy, &req)
        .await?;
    Ok(Done(StatusCode::CREATED, b))
}

#[utoipa::path(get, path = "/v1/pki/mtls/bindings", tag = "pki", responses((status = 200, body = Object)))]
/// List the certificate bindings.
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "pki.mtls.list")
        .await?;
    let all = crate::mtls::bindings(&s).list(&caller.ctx).await?;
    Ok(Done(StatusCode::OK, json!({ "bindings": all })))
}

#[utoipa::path(delete, path = "/v1/pki/mtls/bindings/{id}", tag = "pki",
    responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// Delete a binding (by id or by subject); the certificate stops authenticating at once.
pub async fn remove(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "pki.mtls.unbind")
        .await?;
    crate::mtls::bindings(&s).delete(&caller.ctx, &id).await?;
    Ok(Done(StatusCode::OK, json!({ "deleted": id })))
}
