use std::fmt;
use webqx_store::StoreError;

/// Why an audit record could not be written or the trail could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuditError {
    /// The database refused or could not be reached.
    Store(StoreError),
    /// The audit writer has stopped (the server is shutting down).
    Closed,
    /// A group commit failed; the message is the database's.
    Write(String),
    /// A stored record cannot be read as a record (the trail was tampered with).
    Corrupt(i64),
    /// The trail could not be read back as written (during verification).
    Read(String),
    /// A SIEM sink's spool is full and its policy refuses new state changes.
    SpoolFull(String),
    /// A checkpoint is malformed or its signature does not verify.
    Checkpoint(String),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditError::Store(e) => write!(f, "audit record could not be written: {e}"),
            AuditError::Closed => f.write_str("the audit writer has stopped"),
            AuditError::Write(m) => write!(f, "audit record could not be written: {m}"),
            AuditError::Corrupt(seq) => write!(
                f,
                "audit record {seq} is not a valid record; run `webqx-sec audit verify`"
            ),
            AuditError::Read(m) => write!(f, "the audit trail could not be read: {m}"),
            AuditError::SpoolFull(m) => f.write_str(m),
            AuditError::Checkpoint(m) => write!(f, "audit checkpoint: {m}"),
        }
    }
}

impl std::error::Error for AuditError {}

impl From<StoreError> for AuditError {
    fn from(e: StoreError) -> Self {
        AuditError::Store(e)
    }
}

impl From<sqlx::Error> for AuditError {
    fn from(e: sqlx::Error) -> Self {
        AuditError::Store(StoreError::from_sqlx(e))
    }
}
