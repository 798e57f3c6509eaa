//! The Vault-KV-version-2-compatible subset that MariaDB's `hashicorp_key_management`
//! plugin reads its data-at-rest keys from (`[[tde.mounts]]`):
//!
//! - `GET /v1/sys/mounts/<mount>/tune`: the plugin's start-up check, answered
//!   `{"options":{"version":"2"}}`.
//! - `GET /v1/<mount>/data/<id>[?version=N]`: key ring `<prefix><id>`, answered
//!   `{"data":{"data":{"data":"<hex>"},"metadata":{"version":N}}}`.
//!
//! The token comes in `X-Vault-Token` and must allow `tde-read` on the ring. Errors
//! are Vault's shape, `{"errors":[...]}`, and never hold key material. A 5xx can stop
//! mariadbd even for a key it has cached, so when the service is sealed or its store
//! fails a key request is held for `tde.unavailable_hold` (longer than the plugin's
//! timeout, after which the plugin keeps using its cache) before the 503.

use crate::config::{Config, TdeMount};
use crate::extract::Path;
use crate::middleware::{AuditDone, ReqMeta};
use crate::state::AppState;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::sync::Arc;
use webqx_audit::{Outcome, RequestContext};
use webqx_kms::KmsError;
use webqx_kms::tde::{Requested, parse_key_id, parse_version_query};
use webqx_tokens::{Operation, Principal};

/// The header the plugin sends its token in.
const TOKEN_HEADER: &str = "x-vault-token";

/// A Vault-shaped answer: `body` as JSON, marked as audited when `audited`.
fn vault(status: StatusCode, body: serde_json::Value, audited: bool) -> Response {
    let mut r = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if audited {
        r.extensions_mut().insert(AuditDone);
    }
    r
}

/// `{"errors":[message]}`.
fn errors(status: StatusCode, message: &str, audited: bool) -> Response {
    vault(status, json!({ "errors": [message] }), audited)
}

fn permission_denied() -> Response {
    errors(StatusCode::FORBIDDEN, "permission denied", true)
}

fn audit_down() -> Response {
    errors(
        StatusCode::SERVICE_UNAVAILABLE,
        "the audit trail cannot be written; retry later",
        true,
    )
}

/// The caller behind `X-Vault-Token`, with its audit context; a refusal is audited
/// (`auth.authenticate`) and answered 403 `permission denied`, as Vault does.
async fn authenticate(
    s: &AppState,
    meta: &ReqMeta,
    headers: &HeaderMap,
    route: &str,
) -> Result<(Principal, RequestContext), Response> {
    let token = headers.get(TOKEN_HEADER).and_then(|v| v.to_str().ok());
    match s.tokens.authenticate(token.map(str::trim)).await {
        Ok(principal) => {
            let actor = principal.actor();
            if let Ok(mut slot) = meta.actor.lock() {
                *slot = Some(actor.clone());
            }
            let ctx = meta.context(&actor);
            Ok((principal, ctx))
        }
        Err(e) => {
            let mut rec = meta
                .context("anonymous")
                .record("auth.authenticate", Some(route.to_owned()));
            rec.fail(Outcome::Denied, e.kind());
            s.audit.record(rec).await.map_err(|_| audit_down())?;
            metrics::counter!("webqx_server_auth_failures_total", "kind" => e.kind()).increment(1);
            Err(permission_denied())
        }
    }
}

/// Audits a refusal by policy of `action` on `target`, and answers 403.
async fn deny(s: &AppState, ctx: &RequestContext, action: &str, target: String) -> Response {
    let mut rec = ctx.record(action, Some(target));
    rec.fail(Outcome::Denied, "forbidden");
    match s.audit.record(rec).await {
        Ok(_) => permission_denied(),
        Err(_) => audit_down(),
    }
}

/// `GET /v1/sys/mounts/{mount}/tune`: says the mount is KV version 2.
pub async fn tune(
    State(s): State<AppState>,
    axum::Extension(meta): axum::Extension<ReqMeta>,
    axum::extract::Path(mount): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let (principal, ctx) =
        match authenticate(&s, &meta, &headers, "/v1/sys/mounts/{mount}/tune").await {
            Ok(p) => p,
            Err(r) => return r,
        };
    if !s.config.tde.mounts.iter().any(|m| m.path == mount) {
        return errors(
            StatusCode::NOT_FOUND,
            "no such mount; configure it under [[tde.mounts]]",
            false,
        );
    }
    if !principal.allows(Operation::TdeRead, None) {
        return deny(&s, &ctx, "tde.tune", format!("mount:{mount}")).await;
    }
    if s.kms.is_sealed() {
        return errors(
            StatusCode::SERVICE_UNAVAILABLE,
            "the key service is sealed; unseal it, then start the database",
            false,
        );
    }
    vault(
        StatusCode::OK,
        json!({"options": {"version": "2"}, "type": "kv"}),
        false,
    )
}

/// `GET /v1/<mount>/data/{id}[?version=N]`: one version of the mount's key ring for
/// database key `id`.
pub async fn read(
    s: AppState,
    mount: &TdeMount,
    meta: ReqMeta,
    id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let route = format!("/v1/{}/data/{{id}}", mount.path);
    let (principal, ctx) = match authenticate(&s, &meta, headers, &route).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Ok(id) = parse_key_id(id) else {
        let e = webqx_kms::tde::TdeInputError::KeyId;
        return errors(StatusCode::BAD_REQUEST, &e.to_string(), false);
    };
    let ring = format!("{}{id}", mount.prefix());
    if !principal.allows(Operation::TdeRead, Some(&ring)) {
        return deny(&s, &ctx, "tde.read", format!("key:{ring}")).await;
    }
    let requested = match parse_version_query(query) {
        Ok(r) => r,
        Err(e) => return errors(StatusCode::BAD_REQUEST, &e.to_string(), false),
    };
    match s
        .kms
        .tde_key(&ctx, &ring, requested, mount.create_keys)
        .await
    {
        Ok(key) => {
            metrics::counter!("webqx_tde_keys_released_total", "mount" => mount.path.clone())
                .increment(1);
            released(key)
        }
        Err(e) => refused(&s.config, &ring, requested, e).await,
    }
}

/// The key, in the one shape the plugin reads.
fn released(key: webqx_kms::tde::TdeKey) -> Response {
    let hex = zeroize::Zeroizing::new(hex::encode(key.material.expose()));
    let body = json!({
        "data": {
            "data": {"data": hex.as_str()},
            "metadata": {"version": key.version},
        }
    });
    let text = zeroize::Zeroizing::new(body.to_string());
    let mut r = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text.as_str().to_owned(),
    )
        .into_response();
    r.extensions_mut().insert(AuditDone);
    r
}

/// The answer to a refused key request (already audited by the key service).
async fn refused(config: &Config, ring: &str, requested: Requested, e: KmsError) -> Response {
    match e {
        KmsError::KeyNotFound(_)
        | KmsError::KeyVersion(_)
        | KmsError::KeyDisabled(_)
        | KmsError::KeyPendingDeletion(_)
        | KmsError::KeyDestroyed(_) => {
            tracing::debug!(
                ring,
                ?requested,
                kind = e.kind(),
                "database key not released"
            );
            vault(StatusCode::NOT_FOUND, json!({"errors": []}), true)
        }
        KmsError::WrongKeyType { .. } => errors(
            StatusCode::NOT_FOUND,
            &format!("key '{ring}' is not an aes256-gcm key; database keys must be"),
            true,
        ),
        KmsError::NotExportable(_) => errors(
            StatusCode::NOT_FOUND,
            &format!(
                "key '{ring}' was not created exportable; database keys must be (webqx-sec tde \
                 mariadb makes them so)"
            ),
            true,
        ),
        KmsError::Sealed | KmsError::Store(_) | KmsError::Audit(_) | KmsError::Internal(_) => {
            tracing::warn!(
                ring,
                kind = e.kind(),
                "database key request held: service unavailable"
            );
            metrics::counter!("webqx_tde_requests_held_total").increment(1);
            tokio::time::sleep(Config::duration(&config.tde.unavailable_hold)).await;
            errors(
                StatusCode::SERVICE_UNAVAILABLE,
                "the key service is sealed or its store is unavailable; retry later",
                true,
            )
        }
        other => errors(StatusCode::BAD_REQUEST, &other.to_string(), true),
    }
}

/// Adds the tune route and one key route per configured mount. Config check has
/// refused mount names that would shadow the service's own routes.
pub fn mount(router: Router<AppState>, config: &Config) -> Router<AppState> {
    let mut router = router.route("/v1/sys/mounts/{mount}/tune", get(tune));
    for m in &config.tde.mounts {
        let path = format!("/v1/{}/data/{{id}}", m.path);
        let m = Arc::new(m.clone());
        let handler = move |State(s): State<AppState>,
                            axum::Extension(meta): axum::Extension<ReqMeta>,
                            Path(id): Path<String>,
                            RawQuery(query): RawQuery,
                            headers: HeaderMap| {
            let m = Arc::clone(&m);
            async move { read(s, &m, meta, &id, query.as_deref(), &headers).await }
        };
        router = router.route(&path, get(handler));
    }
    router
}
