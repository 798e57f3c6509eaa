//! One mapping from errors to HTTP: RFC 9457 `application/problem+json` documents with
//! a stable `type` per error kind, a `detail` that says what to do, and the request id.
//! Internal details go to the log, not to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use webqx_kms::KmsError;
use webqx_tokens::TokenError;

/// Base of every problem `type`.
pub const PROBLEM_BASE: &str = "https://webqx.health/problems/";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `https://webqx.health/problems/<kind>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened and what to do.
    pub detail: String,
    /// Per-item errors of a batch or a FHIR request.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub errors: Option<Value>,
    /// For a 413: the limit the request went over (items for `too-many-items`, bytes
    /// for `body-too-large`), so that a client can split its batch to fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    /// Status.
    pub status: StatusCode,
    /// Stable kind.
    pub kind: &'static str,
    /// Message for the client.
    pub detail: String,
    /// Per-item errors (boxed: an error is returned by value on every path).
    pub errors: Option<Box<Value>>,
    /// The limit a 413 went over (see [`Problem::limit`]).
    pub limit: Option<u64>,
    /// Whether a capability already wrote the audit record for this request.
    pub audited: bool,
    /// For a 415 about a content coding: the codings accepted (`Accept-Encoding`).
    pub accept_encoding: Option<&'static str>,
}

impl ApiError {
    /// A client error not yet audited.
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            detail: detail.into(),
            errors: None,
            limit: None,
            audited: false,
            accept_encoding: None,
        }
    }

    /// Names the request content codings accepted (sent as `Accept-Encoding`).
    pub fn accepting(mut self, codings: &'static str) -> ApiError {
        self.accept_encoding = Some(codings);
        self
    }

    /// 400 with the given message.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid-request", detail)
    }

    /// Names the limit the request went over (a 413's items or bytes).
    pub fn with_limit(mut self, limit: usize) -> ApiError {
        self.limit = u64::try_from(limit).ok();
        self
    }

    /// Marks the error as already audited.
    pub fn audited(mut self) -> ApiError {
        self.audited = true;
        self
    }
}

fn title(kind: &str) -> String {
    let mut t = kind.replace('-', " ");
    if let Some(first) = t.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    t
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            problem_type: format!("{PROBLEM_BASE}{}", self.kind),
            title: title(self.kind),
            status: self.status.as_u16(),
            detail: self.detail,
            errors: self.errors.map(|e| *e),
            limit: self.limit,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"webqx\""),
            );
        }
        if let Some(accepted) = self.accept_encoding {
            // RFC 7694 section 3: the codings a request body may use here.
            headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(accepted));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
            .extensions_mut()
            .insert(crate::middleware::ProblemKind(self.kind));
        if self.audited {
            response
                .extensions_mut()
                .insert(crate::middleware::AuditDone);
        }
        response
    }
}

/// HTTP status of a key service error.
pub fn kms_status(e: &KmsError) -> StatusCode {
    match e {
        KmsError::Sealed
        | KmsError::NotInitialized
        | KmsError::Audit(_)
        | KmsError::Store(_)
        | KmsError::Hsm(_) => StatusCode::SERVICE_UNAVAILABLE,
        KmsError::AlreadyInitialized
        | KmsError::KeyExists(_)
        | KmsError::KeyDisabled(_)
        | KmsError::KeyPendingDeletion(_) => StatusCode::CONFLICT,
        KmsError::KeyNotFound(_) => StatusCode::NOT_FOUND,
        KmsError::KeyDestroyed(_) => StatusCode::GONE,
        KmsError::NotExportable(_) => StatusCode::FORBIDDEN,
        KmsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// The client's message for a key service error: internal ones are logged, not shown.
pub fn kms_detail(e: &KmsError) -> String {
    match e {
        KmsError::Internal(_) | KmsError::Store(_) | KmsError::Audit(_) => {
            tracing::error!(error = %e, "request failed inside the service");
            match e {
                KmsError::Internal(_) => {
                    "internal error; the server log has the details under this request's id".into()
                }
                KmsError::Audit(_) => {
                    "the audit trail cannot be written, so the request was refused; retry later"
                        .into()
                }
                _ => "storage is unavailable; retry later".into(),
            }
        }
        other => other.to_string(),
    }
}

impl From<KmsError> for ApiError {
    fn from(e: KmsError) -> ApiError {
        if let KmsError::Audit(webqx_audit::AuditError::SpoolFull(message)) = &e {
            return spool_full(message);
        }
        ApiError {
            status: kms_status(&e),
            kind: e.kind(),
            detail: kms_detail(&e),
            errors: None,
            limit: None,
            audited: true,
            accept_encoding: None,
        }
    }
}

/// 503 for a state change refused because a SIEM sink's spool is full; the message
/// names the sink and what to do.
fn spool_full(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "audit-spool-full",
        message.to_owned(),
    )
    .audited()
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        if let TokenError::Audit(webqx_audit::AuditError::SpoolFull(message)) = &e {
            return spool_full(message);
        }
        let status = match &e {
            TokenError::Missing | TokenError::Invalid401 | TokenError::Expired(_) => {
                StatusCode::UNAUTHORIZED
            }
            TokenError::Invalid(_) => StatusCode::BAD_REQUEST,
            TokenError::NotFound(_) => StatusCode::NOT_FOUND,
            TokenError::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let detail = match &e {
            TokenError::Audit(_) | TokenError::Store(_) => {
                tracing::error!(error = %e, "token request failed inside the service");
                "the service cannot reach its store or audit trail; retry later".into()
            }
            other => other.to_string(),
        };
        // Authentication failures are audited by the caller (it knows the route).
        let audited = !matches!(
            e,
            TokenError::Missing | TokenError::Invalid401 | TokenError::Expired(_)
        );
        ApiError {
            status,
            kind: e.kind(),
            detail,
            errors: None,
            limit: None,
            audited,
            accept_encoding: None,
        }
    }
}

/// The per-item error object used in batch results and FHIR errors.
pub fn item_error(e: &KmsError) -> Value {
    serde_json::json!({
        "type": format!("{PROBLEM_BASE}{}", e.kind()),
        "status": kms_status(e).as_u16(),
        "detail": kms_detail(e),
    })
}

/// A problem answer as a batch result's `error` object (`type`, `status`, `detail`).
pub fn item_problem(e: &ApiError) -> Value {
    serde_json::json!({
        "type": format!("{PROBLEM_BASE}{}", e.kind),
        "status": e.status.as_u16(),
        "detail": e.detail,
    })
}
