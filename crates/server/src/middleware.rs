//! Per-request plumbing: request ids, the tracing span, metrics, and the guarantee
//! that every request leaves an audit record.
//!
//! Capabilities audit what they do; when a request ends without one having done so
//! (a malformed body, an unknown route, a refused token), the middleware writes the
//! record itself before the response leaves. If that write fails, the client gets 503.

use crate::problem::ApiError;
use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tracing::Instrument;
use webqx_audit::{Outcome, RequestContext};

/// Marks a response whose audit record a capability already wrote.
#[derive(Debug, Clone, Copy)]
pub struct AuditDone;

/// The stable error kind of a problem response, for the audit record.
#[derive(Debug, Clone, Copy)]
pub struct ProblemKind(pub &'static str);

/// The peer address of the connection.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// Request facts every handler and the audit trail need.
#[derive(Debug, Clone, Default)]
pub struct ReqMeta {
    /// Request id (ours, or the caller's if well-formed).
    pub request_id: String,
    /// Peer address.
    pub source: Option<String>,
    /// Purpose of use (`X-Purpose-Of-Use`), if sent.
    pub purpose: Option<String>,
    /// Set once the caller is authenticated, for the fallback audit record.
    pub actor: Arc<Mutex<Option<String>>>,
}

impl ReqMeta {
    /// The audit context for `actor`.
    pub fn context(&self, actor: &str) -> RequestContext {
        RequestContext {
            request_id: self.request_id.clone(),
            actor: actor.to_owned(),
            source: self.source.clone(),
            purpose: self.purpose.clone(),
        }
    }
}

/// Routes that are not audited: probes, the API description and metrics. They carry
/// no PHI, keys or decisions, and would flood the trail.
const UNAUDITED: [&str; 7] = [
    "/v1/sys/health",
    "/v1/sys/ready",
    "/v1/sys/seal-status",
    "/v1/openapi.json",
    "/metrics",
    "/.well-known/jwks.json",
    "/.well-known/oauth-authorization-server",
];

fn clean_header(value: Option<&HeaderValue>, max: usize) -> Option<String> {
    let text = value?.to_str().ok()?.trim();
    let ok = !text.is_empty()
        && text.len() <= max
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | ' '));
    ok.then(|| text.to_owned())
}

/// Two years, as Mozilla's server-side TLS guidelines ask (`hsts_min_age` 63072000).
const HSTS: &str = "max-age=63072000";

/// Headers on every response: the API is served over HTTPS only, so browsers may be
/// told never to try plain HTTP (HSTS, RFC 6797); no MIME sniffing; and, unless a route
/// says otherwise (public CRLs may be cached), nothing is stored by caches, since
/// responses may carry keys or PHI.
fn security_headers(headers: &mut axum::http::HeaderMap) {
    use axum::http::header;
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The middleware.
pub async fn track(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let request_id = clean_header(req.headers().get("x-request-id"), 128)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let meta = ReqMeta {
        request_id: request_id.clone(),
        source: req.extensions().get::<Peer>().map(|p| p.0.ip().to_string()),
        purpose: clean_header(req.headers().get("x-purpose-of-use"), 100),
        actor: Arc::default(),
    };
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().clone();
    req.extensions_mut().insert(meta.clone());

    let span = tracing::info_span!("request", id = %request_id, %method, %route);
    let start = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;

    if !UNAUDITED.contains(&route.as_str()) && response.extensions().get::<AuditDone>().is_none() {
        let actor = meta
            .actor
            .lock()
            .ok()
            .and_then(|a| a.clone())
            .unwrap_or_else(|| "anonymous".into());
        let mut rec = meta
            .context(&actor)
            .record("http.request", Some(format!("{method} {route}")));
        let status = response.status();
        let kind = response
            .extensions()
            .get::<ProblemKind>()
            .map_or("error", |k| k.0);
        rec.detail("status", status.as_u16());
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            rec.fail(Outcome::Denied, kind);
        } else if !status.is_success() {
            rec.fail(Outcome::Failure, kind);
        }
        if let Err(e) = state.audit.record(rec).await {
            span.in_scope(
                || tracing::error!(error = %e, "audit record for the request could not be written"),
            );
            let refused = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "audit-unavailable",
                "the audit trail cannot be written, so the request was refused; retry later",
            )
            .audited();
            response = refused.into_response();
        }
    }

    let status = response.status().as_u16().to_string();
    let elapsed = start.elapsed().as_secs_f64();
    metrics::counter!("webqx_server_requests_total", "route" => route.clone(), "method" => method.to_string(), "status" => status).increment(1);
    metrics::histogram!("webqx_server_request_duration_seconds", "route" => route).record(elapsed);
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    security_headers(response.headers_mut());
    response
}
