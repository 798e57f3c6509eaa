//! Extractors: the authenticated caller, and request bodies read within the size limit.

use crate::middleware::ReqMeta;
use crate::monitor::body::BodyError;
use crate::problem::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use base64::Engine as _;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use webqx_audit::{Outcome, RequestContext};
use webqx_tokens::{Operation, Principal};

/// The authenticated caller and its audit context.
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// Audit context of this request.
    pub ctx: RequestContext,
}

fn meta(parts: &Parts) -> ReqMeta {
    parts
        .extensions
        .get::<ReqMeta>()
        .cloned()
        .unwrap_or_default()
}

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let meta = meta(parts);
        let route = parts
            .extensions
            .get::<axum::extract::MatchedPath>()
            .map(|p| p.as_str().to_owned());
        // A bearer token, when sent, decides; otherwise a verified client certificate.
        let cert = parts
            .extensions
            .get::<crate::mtls::ClientCert>()
            .filter(|_| bearer(parts).is_none())
            .cloned();
        let (principal, actor) = match cert {
            Some(cert) => crate::mtls::authenticate(state, &meta, route.clone(), &cert).await?,
            None => match (bearer(parts), &state.oauth) {
                (Some(jwt), Some(oauth)) if webqx_oauth::server::looks_like_jwt(jwt) => {
                    match oauth.principal(jwt).await {
                        Ok(principal) => {
                            let actor = principal.actor();
                            (principal, actor)
                        }
                        Err(e) => return Err(access_token_refused(state, &meta, route, &e).await),
                    }
                }
                (presented, _) => match state.tokens.authenticate(presented).await {
                    Ok(principal) => {
                        let actor = principal.actor();
                        (principal, actor)
                    }
                    Err(e) => return Err(token_refused(state, &meta, route, e).await),
                },
            },
        };
        if let Ok(mut slot) = meta.actor.lock() {
            *slot = Some(actor.clone());
        }
        let ctx = meta.context(&actor);
        if state.kms.is_sealed() && route.as_deref() != Some("/metrics") {
            // Sealed is an emergency brake: nothing but monitoring and unsealing.
            let mut rec = ctx.record("auth.sealed", route);
            rec.fail(Outcome::Denied, "sealed");
            state.audit.record(rec).await.map_err(|_| audit_down())?;
            return Err(ApiError::from(webqx_kms::KmsError::Sealed));
        }
        Ok(Caller { principal, ctx })
    }
}

/// Audits a refused token and turns the refusal into the problem answer.
async fn token_refused(
    state: &AppState,
    meta: &ReqMeta,
    route: Option<String>,
    e: webqx_tokens::TokenError,
) -> ApiError {
    let mut rec = meta.context("anonymous").record("auth.authenticate", route);
    rec.fail(Outcome::Denied, e.kind());
    let error = ApiError::from(e);
    if state.audit.record(rec).await.is_err() {
        return audit_down();
    }
    metrics::counter!("webqx_server_auth_failures_total", "kind" => error.kind).increment(1);
    error.audited()
}

/// Audits a refused OAuth access token; the client gets the one opaque 401 (503 when
/// revocation or our keys cannot be checked).
async fn access_token_refused(
    state: &AppState,
    meta: &ReqMeta,
    route: Option<String>,
    e: &webqx_oauth::server::AccessRefusal,
) -> ApiError {
    use webqx_oauth::server::AccessRefusal;
    let mut rec = meta.context("anonymous").record("auth.authenticate", route);
    let unavailable = matches!(
        e,
        AccessRefusal::Store(_) | AccessRefusal::KeysUnavailable(_)
    );
    let outcome = if unavailable {
        Outcome::Failure
    } else {
        Outcome::Denied
    };
    rec.fail(outcome, e.kind())
        .detail("credential", "oauth-access-token");
    if state.audit.record(rec).await.is_err() {
        return audit_down();
    }
    metrics::counter!("webqx_server_auth_failures_total", "kind" => e.kind()).increment(1);
    if unavailable {
        tracing::error!(error = %e, "an access token could not be checked");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage-unavailable",
            "the access token cannot be checked now; retry later",
        )
        .audited();
    }
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "token-invalid",
        "the access token is not valid (malformed, expired, revoked, or for another \
         audience); get a new one from /oauth/token",
    )
    .audited()
}

pub(crate) fn audit_down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit-unavailable",
        "the audit trail cannot be written, so the request was refused; retry later",
    )
    .audited()
}

impl Caller {
    /// Records a successful read (`action` on `target`) before its answer is sent: a
    /// read that cannot be audited is refused.
    ///
    /// # Errors
    /// 503 `audit-unavailable` when the trail cannot be written.
    pub async fn audit_read(
        &self,
        state: &AppState,
        action: &str,
        target: Option<String>,
    ) -> Result<(), ApiError> {
        let rec = self.ctx.record(action, target);
        state.audit.record(rec).await.map_err(|_| audit_down())?;
        Ok(())
    }

    /// Refuses (403, audited) unless the token allows `op` (on `key`).
    ///
    /// # Errors
    /// 403 naming what the token lacks.
    pub async fn require(
        &self,
        state: &AppState,
        op: Operation,
        key: Option<&str>,
        action: &str,
    ) -> Result<(), ApiError> {
        let reserved = key.is_some_and(|k| reserved_use(k, op, action));
        if !reserved && self.principal.allows(op, key) {
            return Ok(());
        }
        let target = key.map(|k| format!("key:{k}"));
        let mut rec = self.ctx.record(action, target);
        rec.fail(Outcome::Denied, "forbidden");
        state.audit.record(rec).await.map_err(|_| audit_down())?;
        if reserved {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "reserved-key",
                format!(
                    "key '{}' is the service's own signing key (audit checkpoints or OAuth \
                     access tokens): the service alone uses it; it can be read and rotated, \
                     not used, exported, disabled or deleted",
                    key.unwrap_or_default()
                ),
            )
            .audited());
        }
        let on = key.map(|k| format!(" with key '{k}'")).unwrap_or_default();
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token '{}' may not {}{on}; ask an administrator for a token that allows it",
                self.principal.name,
                op.as_str()
            ),
        )
        .audited())
    }
}

/// Path parameters; a malformed path gets a problem document, not axum's plain text.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(_) => Err(ApiError::bad_request(
                "the path is not valid (a key name or id must be UTF-8 text); see /v1/openapi.json",
            )),
        }
    }
}

/// Query parameters; malformed ones get a problem document naming the problem.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => {
                let why = e.body_text();
                let why = why
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&why);
                Err(ApiError::bad_request(format!(
                    "the query string is not valid: {why}"
                )))
            }
        }
    }
}

/// A request body read up to `server.max_body_bytes`, with its content type.
pub struct Body {
    /// The bytes.
    pub bytes: Bytes,
    /// `Content-Type`, lowercased.
    pub content_type: String,
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body-too-large",
        format!(
            "the request body is larger than the limit of {limit} bytes (server.max_body_bytes, \
             or 64 KiB where no token is needed); split it into smaller batches"
        ),
    )
    .with_limit(limit)
}

/// Most bytes read and dropped to deliver a 413 to a client that sends before reading.
const DRAIN_LIMIT: u64 = 64 * 1024 * 1024;
/// Longest a client may take to send a request body.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Body limit of endpoints that need no token (unseal): they must not let anyone make
/// the server buffer large bodies.
pub const ANONYMOUS_BODY_LIMIT: usize = 64 * 1024;

impl FromRequest<AppState> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let anonymous = matches!(
            req.uri().path(),
            "/v1/sys/unseal" | "/oauth/token" | "/oauth/introspect" | "/oauth/revoke"
        );
        let limit = if anonymous {
            ANONYMOUS_BODY_LIMIT
        } else {
            state.config.server.max_body_bytes
        };
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        // Refused before the body is read: a coding we cannot undo.
        let coding = match content_encoding(req.headers()) {
            Ok(coding) => coding,
            Err(e) => return Err(coding_refused(&e, limit)),
        };
        if let Err(e) = crate::monitor::body::is_gzip(coding.as_deref()) {
            return Err(coding_refused(&e, limit));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(n) = declared.filter(|&n| n > limit as u64) {
            // Read and drop a moderately oversized body before answering, so that
            // clients which send it all before reading (most do) see the 413 rather
            // than a reset connection. A huge one is refused at once.
            if n <= limit as u64 + DRAIN_LIMIT {
                let mut body = req.into_body();
                let drain = async { while let Some(Ok(_)) = body.frame().await {} };
                let _ = tokio::time::timeout(BODY_TIMEOUT, drain).await;
            }
            return Err(too_large(limit));
        }
        let limited = http_body_util::Limited::new(req.into_body(), limit);
        let Ok(collected) = tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await else {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body-timeout",
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            ));
        };
        let bytes = match collected {
            Ok(collected) => collected.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return Err(too_large(limit));
            }
            Err(_) => return Err(ApiError::bad_request("the request body could not be read")),
        };
        let bytes = match content_decoded(coding.as_deref(), bytes, limit).await {
            Ok(bytes) => bytes,
            Err(e) => return Err(coding_refused(&e, limit)),
        };
        Ok(Body {
            bytes,
            content_type,
        })
    }
}

/// `Content-Encoding`, its values joined by commas when sent more than once.
fn content_encoding(headers: &axum::http::HeaderMap) -> Result<Option<String>, BodyError> {
    let values = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .map(|v| v.to_str().map(str::trim))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| BodyError::Encoding("(not text)".into()))?;
    Ok((!values.is_empty()).then(|| values.join(", ")))
}

/// Bodies being decompressed at once, on the whole server. A small gzip body can
/// expand to `max_body_bytes` of work; decompression runs on the blocking pool, at most
/// this many at a time, so the async workers keep answering everyone else.
const DECODERS: usize = 2;

/// For endpoints that read their protocol's raw body (Tang): a request body with any
/// content coding but `identity` is refused with 415 `unsupported-content-encoding`
/// (its response says `Accept-Encoding: identity`), not misread.
///
/// # Errors
/// That 415.
pub fn identity_only(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    if has_content_coding(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-content-encoding",
            "this endpoint reads its body as sent; send it without Content-Encoding",
        )
        .accepting("identity"));
    }
    Ok(())
}

/// Whether the request carries a content coding other than `identity` (an unreadable
/// `Content-Encoding` counts as one).
pub fn has_content_coding(headers: &axum::http::HeaderMap) -> bool {
    match content_encoding(headers) {
        Ok(None) => false,
        Ok(Some(c)) => !c.trim().is_empty() && !c.trim().eq_ignore_ascii_case("identity"),
        Err(_) => true,
    }
}

/// The body with its content coding undone (gzip, to at most `limit` bytes).
async fn content_decoded(
    coding: Option<&str>,
    bytes: Bytes,
    limit: usize,
) -> Result<Bytes, BodyError> {
    static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(DECODERS);
    if !crate::monitor::body::is_gzip(coding)? {
        return Ok(bytes);
    }
    let _permit = RUNNING.acquire().await.map_err(|_| BodyError::BadGzip)?;
    tokio::task::spawn_blocking(move || {
        crate::monitor::body::gunzip(&bytes, limit).map(Bytes::from)
    })
    .await
    .map_err(|_| BodyError::BadGzip)?
}

/// The problem answer for a content coding refused: 415 `unsupported-content-encoding`
/// (the response names the accepted codings in `Accept-Encoding`, RFC 7694), 400
/// `invalid-content-encoding` for a body that is not what its coding says, 413 past
/// the limit once decompressed.
fn coding_refused(e: &BodyError, limit: usize) -> ApiError {
    match e {
        // Says that the body grew past the limit once decompressed.
        BodyError::TooLarge(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            e.to_string(),
        )
        .with_limit(limit),
        BodyError::BadGzip => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid-content-encoding",
            e.to_string(),
        ),
        _ => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-content-encoding",
            e.to_string(),
        )
        .accepting("gzip, identity"),
    }
}

/// A JSON body, parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let body = Body::from_request(req, state).await?;
        parse_json(&body.bytes).map(JsonBody)
    }
}

/// Parses JSON, saying where it is malformed.
///
/// # Errors
/// 400 `malformed-json`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "the request body is empty; send a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => {
                "the JSON does not have the expected fields or types"
            }
            _ => "the request body is not valid JSON",
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            format!(
                "{what}: {} (line {}, column {})",
                short_serde(&e),
                e.line(),
                e.column()
            ),
        )
    })
}

/// serde's message without the position suffix, and without echoing long values.
fn short_serde(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = text.split(" at line ").next().unwrap_or(&text).to_owned();
    text.chars().take(200).collect()
}

/// Decodes a standard base64 field, naming it when it is not.
///
/// # Errors
/// 400 `invalid-base64`.
pub fn b64(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid-base64",
                format!("{field} is not valid base64 (standard alphabet, with padding)"),
            )
        })
}

/// Encodes bytes as standard base64.
pub fn to_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// True when `op` (as `action`) on `key` would let a caller forge or break audit
/// checkpoints or OAuth access tokens: the checkpoint key and the OAuth signing key may
/// only be read, rotated and configured.
fn reserved_use(key: &str, op: Operation, action: &str) -> bool {
    if key != webqx_audit::checkpoint::CHECKPOINT_KEY && key != webqx_kms::OAUTH_SIGNING_KEY {
        return false;
    }
    match op {
        Operation::KeyRead | Operation::Verify => false,
        Operation::KeyAdmin => !matches!(
            action,
            "key.rotate" | "key.configure" | "key.enable" | "key.cancel_deletion"
        ),
        _ => true,
    }
}
