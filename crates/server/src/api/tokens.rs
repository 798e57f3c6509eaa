//! `/v1/tokens`: scoped API tokens.

use super::keys::{ApiResult, Done};
use crate::extract::Path;
use crate::extract::{Caller, JsonBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use webqx_tokens::{NewToken, Operation, TokenInfo};

/// A new token: the secret is shown here once and never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token to send as `Authorization: Bearer …`.
    pub token: String,
    /// Its metadata.
    pub info: TokenInfo,
}

#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = NewToken, responses((status = 201, body = CreatedToken)))]
/// Create a scoped token.
pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewToken>,
) -> ApiResult<CreatedToken> {
    caller
        .require(&s, Operation::Sys, None, "token.create")
        .await?;
    let (info, secret) = s
        .tokens
        .create(&caller.ctx, &caller.principal, &req)
        .await?;
    let token = String::from_utf8_lossy(secret.expose()).into_owned();
    Ok(Done(StatusCode::CREATED, CreatedToken { token, info }))
}

#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", responses((status = 200, body = Object)))]
/// List tokens (never their secrets).
pub async fn list(State(s): State<AppState>, caller: Caller) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "token.list")
        .await?;
    let tokens = s.tokens.list(&caller.ctx, &caller.principal).await?;
    Ok(Done(StatusCode::OK, json!({"tokens": tokens})))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "tokens", responses((status = 200, body = Object), (status = 404, body = crate::problem::Problem)))]
/// Revoke a token at once.
pub async fn revoke(
    State(s): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    caller
        .require(&s, Operation::Sys, None, "token.revoke")
        .await?;
    s.tokens.revoke(&caller.ctx, &caller.principal, &id).await?;
    Ok(Done(StatusCode::OK, json!({"revoked": id})))
}
