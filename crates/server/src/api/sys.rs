//! `/v1/sys`: health, readiness, the seal, and `/metrics`.

use super::keys::{ApiResult, Done};
use crate::extract::{Caller, JsonBody};
use crate::problem::ApiError;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use webqx_crypto::SecretBytes;
use webqx_kms::SealStatus;
use webqx_tokens::Operation;
use zeroize::Zeroize;

/// Liveness and state.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `sealed`, `uninitialized` or `storage-error`.
    pub status: String,
    /// Whether `init` has run.
    pub initialized: bool,
    /// Whether the root key is not loaded.
    pub sealed: bool,
    /// `ok` or `error`.
    pub storage: String,
    /// Server version.
    pub version: String,
    /// Scheduled backups' outcome, when `[backup] folder` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<crate::backups::BackupStatus>,
    /// Why the HSM (PKCS#11 seal) did not unseal the service, and what to fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_error: Option<String>,
    /// The monitoring pipeline, when on: events queued, capacity, and per input what
    /// was accepted, dropped (queue full, syslog), refused (queue full, the HTTP sender
    /// was told to send again) and deferred (read again later).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub monitor: Option<serde_json::Value>,
}

async fn health_of(s: &AppState) -> Health {
    let storage_ok = s.store.health().await.is_ok();
    let initialized = s.kms.is_initialized().await.unwrap_or(false);
    let sealed = s.kms.is_sealed();
    let status = match (storage_ok, initialized, sealed) {
        (false, _, _) => "storage-error",
        (true, false, _) => "uninitialized",
        (true, true, true) => "sealed",
        (true, true, false) => "ok",
    };
    Health {
        status: status.into(),
        initialized,
        sealed,
        storage: if storage_ok { "ok" } else { "error" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        backup: match s.config.backup.folder {
            Some(_) => Some(crate::backups::status(&s.store).await.unwrap_or_default()),
            None => None,
        },
        seal_error: if sealed { s.kms.last_hsm_error() } else { None },
        monitor: s.monitor.as_ref().map(crate::monitor::Monitor::status),
    }
}

#[utoipa::path(get, path = "/v1/sys/health", tag = "sys", responses((status = 200, body = Health)))]
/// Liveness: always 200 while the process serves; the body says whether it is sealed
/// and whether storage answers. No token needed.
pub async fn health(State(s): State<AppState>) -> Json<Health> {
    Json(health_of(&s).await)
}

#[utoipa::path(get, path = "/v1/sys/ready", tag = "sys", responses((status = 200, body = Health), (status = 503, body = Health)))]
/// Readiness: 200 only when unsealed with storage answering, else 503. No token needed.
pub async fn ready(State(s): State<AppState>) -> Response {
    let h = health_of(&s).await;
    let status = if h.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(h)).into_response()
}

#[utoipa::path(get, path = "/v1/sys/seal-status", tag = "sys", responses((status = 200, body = SealStatus)))]
/// The seal's state and unseal progress. No token needed.
pub async fn seal_status(State(s): State<AppState>) -> Result<Json<SealStatus>, ApiError> {
    Ok(Json(s.kms.seal_status().await?))
}

/// One unseal step: a Shamir share, the passphrase, or the key file's key; or a reset.
/// For a PKCS#11 (HSM) seal, an empty body `{}` asks the server to try the HSM now.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UnsealRequest {
    /// One Shamir share (`wqxs1-…`).
    pub share: Option<String>,
    /// The passphrase.
    pub passphrase: Option<String>,
    /// The key file's content.
    pub key: Option<String>,
    /// Forget shares given so far.
    #[serde(default)]
    pub reset: bool,
}

fn take_secret(s: &mut Option<String>) -> Option<SecretBytes> {
    s.as_mut().map(|text| {
        let secret = SecretBytes::from_slice(text.as_bytes());
        text.zeroize();
        secret
    })
}

#[utoipa::path(post, path = "/v1/sys/unseal", tag = "sys", request_body = UnsealRequest, responses((status = 200, body = SealStatus), (status = 400, body = crate::problem::Problem)))]
/// Feed one share (or the passphrase, or the key). The shares are the credential: no
/// token needed. Every attempt is audited, without its content.
pub async fn unseal(
    State(s): State<AppState>,
    meta: axum::Extension<crate::middleware::ReqMeta>,
    headers: axum::http::HeaderMap,
    JsonBody(mut req): JsonBody<UnsealRequest>,
) -> ApiResult<SealStatus> {
    let ctx = meta.context("unsealer");
    if req.reset {
        s.kms.reset_unseal(&ctx).await?;
    }
    let share = take_secret(&mut req.share);
    let passphrase = take_secret(&mut req.passphrase);
    let key = take_secret(&mut req.key);
    match (share, passphrase, key) {
        (Some(share), None, None) => {
            let text = std::str::from_utf8(share.expose()).unwrap_or("");
            s.kms.submit_share(&ctx, text).await?;
        }
        (None, Some(phrase), None) => s.kms.unseal_with_passphrase(&ctx, &phrase).await?,
        (None, None, Some(key)) => s.kms.unseal_with_key(&ctx, &key).await?,
        (None, None, None) if req.reset => {}
        (None, None, None) if s.kms.is_pkcs11_sealed().await? => {
            unseal_by_hsm(&s, &meta, &headers).await?;
        }
        _ => {
            return Err(ApiError::bad_request(
                "send exactly one of share, passphrase or key (or reset: true; or {} for an \
                 HSM seal)",
            ));
        }
    }
    let status = s.kms.seal_status().await?;
    Ok(Done(StatusCode::OK, status))
}

/// Asks the HSM now. Without a token this is what the scheduler would do; with a token
/// that has `sys`, it also lifts an operator's deliberate seal.
async fn unseal_by_hsm(
    s: &AppState,
    meta: &crate::middleware::ReqMeta,
    headers: &axum::http::HeaderMap,
) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    let principal = match token {
        Some(_) => s.tokens.authenticate(token).await.ok(),
        None => None,
    };
    let explicit = principal
        .as_ref()
        .is_some_and(|p| p.allows(Operation::Sys, None));
    let actor = principal.map_or_else(|| "unsealer".to_owned(), |p| p.actor());
    let ctx = meta.context(&actor);
    if !crate::hsm::try_unseal(&s.config, &s.kms, &ctx, explicit).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "sealed-on-purpose",
            "an operator sealed this service on purpose; unseal it with a token that has \
             `sys` (`webqx-sec unseal` sends the admin token), or restart it",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/sys/seal", tag = "sys", responses((status = 200, body = SealStatus)))]
/// Seal: drop the root key from memory. Every key operation is refused until unsealed.
pub async fn seal(State(s): State<AppState>, caller: Caller) -> ApiResult<SealStatus> {
    caller.require(&s, Operation::Sys, None, "sys.seal").await?;
    s.kms.seal(&caller.ctx).await?;
    s.pki.forget_keys();
    Ok(Done(StatusCode::OK, s.kms.seal_status().await?))
}

/// Rotation of the HSM key (PKCS#11 seal).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RewrapRequest {
    /// Label for the new key in the token (default: `seal.key_label`).
    pub key_label: Option<String>,
}

#[utoipa::path(post, path = "/v1/sys/seal/rewrap", tag = "sys", request_body = RewrapRequest, responses((status = 200, body = SealStatus), (status = 400, body = crate::problem::Problem), (status = 503, body = crate::problem::Problem)))]
/// Rotate the HSM key: a new key is generated in the token named by `[seal]` and the root
/// key is re-wrapped under it. Needs an unsealed service and a token with `sys`.
pub async fn rewrap_hsm(
    State(s): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<RewrapRequest>,
) -> ApiResult<SealStatus> {
    caller
        .require(&s, Operation::Sys, None, "sys.seal.rewrap")
        .await?;
    let login = crate::hsm::init_login(&s.config).map_err(ApiError::bad_request)?;
    let label = req
        .key_label
        .unwrap_or_else(|| s.config.seal.key_label.clone());
    s.kms.rewrap_pkcs11(&caller.ctx, login, label).await?;
    Ok(Done(StatusCode::OK, s.kms.seal_status().await?))
}

#[utoipa::path(get, path = "/metrics", tag = "sys", responses((status = 200, description = "Prometheus text format")))]
/// Prometheus metrics; needs a token with `metrics` unless `metrics.public` is set.
pub async fn metrics(State(s): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller
        .require(&s, Operation::Metrics, None, "sys.metrics")
        .await?;
    Ok(render_metrics(&s))
}

/// `/metrics` without a token, when `metrics.public` is set.
pub async fn metrics_public(State(s): State<AppState>) -> Response {
    render_metrics(&s)
}

fn render_metrics(s: &AppState) -> Response {
    metrics::gauge!("webqx_kms_sealed").set(if s.kms.is_sealed() { 1.0 } else { 0.0 });
    let mut r = (StatusCode::OK, s.metrics.render()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}
