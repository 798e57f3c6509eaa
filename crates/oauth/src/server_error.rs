//! Errors of the authorization server: client registry, token endpoint, introspection
//! and revocation. Each maps onto an RFC 6749 §5.2 `error` code (or an HTTP status for
//! the admin API); the public text never holds a secret, an assertion or a token.

use std::fmt;
use webqx_audit::{AuditError, Outcome};
use webqx_store::StoreError;

/// Why a request to the authorization server failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OAuthError {
    /// The request is missing a parameter or repeats one (`invalid_request`).
    InvalidRequest(String),
    /// Client authentication failed (`invalid_client`, 401). The reason is a stable code
    /// for logs, metrics and the audit record; the client sees one opaque answer.
    InvalidClient(&'static str),
    /// Only `client_credentials` is supported (`unsupported_grant_type`).
    UnsupportedGrantType,
    /// A requested scope is not understood or not allowed (`invalid_scope`).
    InvalidScope(String),
    /// The client may not do this (`unauthorized_client`).
    UnauthorizedClient(String),
    /// Too many requests from this client or address; retry after this many seconds.
    RateLimited {
        /// Seconds until a request will be accepted again.
        retry_after_secs: u64,
    },
    /// No such client (admin API).
    NotFound(String),
    /// An admin request is not valid; the text says what to change.
    Invalid(String),
    /// The caller may not do this; the text says why.
    Forbidden(String),
    /// Signing the token failed in the key service.
    Signing(String),
    /// Something that should not happen (a stored row that does not parse).
    Internal(String),
    /// The audit record could not be written.
    Audit(AuditError),
    /// Storage failed.
    Store(StoreError),
}

impl OAuthError {
    /// A stable code for metrics, logs and audit records.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(reason) => reason,
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::RateLimited { .. } => "rate_limited",
            Self::NotFound(_) => "client_not_found",
            Self::Invalid(_) => "invalid_client_metadata",
            Self::Forbidden(_) => "forbidden",
            Self::Signing(_) => "signing_failed",
            Self::Internal(_) => "internal",
            Self::Audit(_) => "audit_unavailable",
            Self::Store(_) => "storage_unavailable",
        }
    }

    /// The RFC 6749 §5.2 `error` code for the token, introspection and revocation
    /// endpoints.
    #[must_use]
    pub fn oauth_code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::Invalid(_) => "invalid_request",
            Self::InvalidClient(_) | Self::NotFound(_) => "invalid_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::UnauthorizedClient(_) | Self::Forbidden(_) => "unauthorized_client",
            Self::RateLimited { .. } => "slow_down",
            _ => "server_error",
        }
    }

    /// True for failures of client authentication (they count towards the alert).
    #[must_use]
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, Self::InvalidClient(_))
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidRequest(why) | Self::Invalid(why) | Self::Forbidden(why) => {
                f.write_str(why)
            }
            Self::InvalidClient(_) => f.write_str(
                "client authentication failed; check the client id and secret, or the \
                 client assertion (iss = sub = client id, aud = the token endpoint, exp \
                 within 5 minutes, a fresh jti, signed with a registered key)",
            ),
            Self::UnsupportedGrantType => {
                f.write_str("only grant_type=client_credentials is supported")
            }
            Self::InvalidScope(why) => f.write_str(why),
            Self::UnauthorizedClient(why) => f.write_str(why),
            Self::RateLimited { retry_after_secs } => write!(
                f,
                "too many token requests; retry after {retry_after_secs} s"
            ),
            Self::NotFound(id) => write!(f, "no OAuth client with id '{id}'"),
            Self::Signing(why) => write!(
                f,
                "the access token could not be signed ({why}); check that the service is \
                 unsealed"
            ),
            Self::Internal(why) => write!(f, "internal error: {why}"),
            Self::Audit(e) => write!(f, "request refused because {e}"),
            Self::Store(e) => write!(f, "storage failed: {e}"),
        }
    }
}

impl std::error::Error for OAuthError {}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<sqlx::Error> for OAuthError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::from_sqlx(e))
    }
}

impl From<AuditError> for OAuthError {
    fn from(e: AuditError) -> Self {
        Self::Audit(e)
    }
}

impl webqx_audit::Audited for OAuthError {
    fn audit_reason(&self) -> &'static str {
        self.kind()
    }

    fn audit_outcome(&self) -> Outcome {
        match self {
            Self::InvalidClient(_)
            | Self::UnauthorizedClient(_)
            | Self::Forbidden(_)
            | Self::RateLimited { .. }
            | Self::InvalidScope(_) => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }
}
