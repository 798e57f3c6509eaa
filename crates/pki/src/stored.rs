//! The error of the PKI records kept in the store by this crate's lifecycle, pinning and
//! mutual-TLS modules (pin sets, certificate bindings, watches).

use std::fmt;
use webqx_audit::{AuditError, Outcome};
use webqx_store::StoreError;

/// Why a stored PKI record could not be read or changed.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecordError {
    /// The request is malformed; the text says what to change.
    Invalid(String),
    /// No such record; the text names it.
    NotFound(String),
    /// The caller may not do this; the text says why.
    Forbidden(String),
    /// The record exists already; the text names it.
    Conflict(String),
    /// The audit record could not be written.
    Audit(AuditError),
    /// Storage failed.
    Store(StoreError),
}

impl RecordError {
    /// Stable error type.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::Invalid(_) => "invalid-request",
            RecordError::NotFound(_) => "not-found",
            RecordError::Forbidden(_) => "forbidden",
            RecordError::Conflict(_) => "conflict",
            RecordError::Audit(_) => "audit-unavailable",
            RecordError::Store(_) => "storage-unavailable",
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Invalid(why)
            | RecordError::NotFound(why)
            | RecordError::Forbidden(why)
            | RecordError::Conflict(why) => f.write_str(why),
            RecordError::Audit(e) => write!(f, "request refused because {e}"),
            RecordError::Store(e) => write!(f, "storage failed: {e}"),
        }
    }
}

impl std::error::Error for RecordError {}

impl From<StoreError> for RecordError {
    fn from(e: StoreError) -> Self {
        RecordError::Store(e)
    }
}

impl From<sqlx::Error> for RecordError {
    fn from(e: sqlx::Error) -> Self {
        RecordError::Store(StoreError::from_sqlx(e))
    }
}

impl From<AuditError> for RecordError {
    fn from(e: AuditError) -> Self {
        RecordError::Audit(e)
    }
}

impl webqx_audit::Audited for RecordError {
    fn audit_reason(&self) -> &'static str {
        self.kind()
    }

    fn audit_outcome(&self) -> Outcome {
        match self {
            RecordError::Forbidden(_) => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }
}

/// Checks a free-text name (service, subject): 1 to 255 characters, no control
/// characters.
///
/// # Errors
/// [`RecordError::Invalid`] naming `what`.
pub fn check_name(what: &str, text: &str) -> Result<(), RecordError> {
    let ok = !text.trim().is_empty()
        && text.len() <= 255
        && text == text.trim()
        && !text.chars().any(char::is_control);
    if ok {
        Ok(())
    } else {
        Err(RecordError::Invalid(format!(
            "{what} must be 1 to 255 characters, without control characters or surrounding \
             spaces"
        )))
    }
}
