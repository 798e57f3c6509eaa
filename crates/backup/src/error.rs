use std::fmt;

/// A fault in the archive inside a backup.
#[derive(Debug)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The bytes do not follow the archive layout; the text says where.
    Format(String),
    /// Reading or writing failed.
    Io(std::io::Error),
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveError::Format(m) => write!(
                f,
                "the backup's content is damaged or not a WebQx backup ({m}); use another copy"
            ),
            ArchiveError::Io(e) => write!(f, "reading or writing the backup failed: {e}"),
        }
    }
}

impl std::error::Error for ArchiveError {}

impl From<std::io::Error> for ArchiveError {
    fn from(e: std::io::Error) -> Self {
        ArchiveError::Io(e)
    }
}

/// Why a backup could not be made, checked or restored.
#[derive(Debug)]
#[non_exhaustive]
pub enum BackupError {
    /// The archive is damaged.
    Archive(ArchiveError),
    /// The encrypted file is damaged, truncated, or the key does not open it.
    Stream(String),
    /// The key service refused (sealed, wrong credentials...).
    Kms(webqx_kms::KmsError),
    /// The store failed.
    Store(webqx_store::StoreError),
    /// A file or folder problem; the text names it.
    Io(String),
    /// The request cannot be done as asked; the text says what to do.
    Refused(String),
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::Archive(e) => e.fmt(f),
            BackupError::Stream(m) => write!(
                f,
                "the backup file does not decrypt: {m}. It was altered, truncated or damaged; \
                 use another copy"
            ),
            BackupError::Kms(e) => e.fmt(f),
            BackupError::Store(e) => write!(f, "storage: {e}"),
            BackupError::Io(m) | BackupError::Refused(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BackupError {}

impl BackupError {
    /// Stable identifier of the error kind (problem `type`, audit `reason`).
    pub fn kind(&self) -> &'static str {
        match self {
            BackupError::Archive(_) => "backup-damaged",
            BackupError::Stream(_) => "backup-damaged",
            BackupError::Kms(e) => e.kind(),
            BackupError::Store(_) => "storage-unavailable",
            BackupError::Io(_) => "backup-io",
            BackupError::Refused(_) => "backup-refused",
        }
    }
}

impl From<ArchiveError> for BackupError {
    fn from(e: ArchiveError) -> Self {
        BackupError::Archive(e)
    }
}

impl From<webqx_kms::KmsError> for BackupError {
    fn from(e: webqx_kms::KmsError) -> Self {
        BackupError::Kms(e)
    }
}

impl From<webqx_store::StoreError> for BackupError {
    fn from(e: webqx_store::StoreError) -> Self {
        BackupError::Store(e)
    }
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        BackupError::Store(webqx_store::StoreError::from_sqlx(e))
    }
}

impl From<webqx_audit::AuditError> for BackupError {
    fn from(e: webqx_audit::AuditError) -> Self {
        BackupError::Kms(webqx_kms::KmsError::Audit(e))
    }
}

impl webqx_audit::Audited for BackupError {
    fn audit_reason(&self) -> &'static str {
        self.kind()
    }

    fn audit_outcome(&self) -> webqx_audit::Outcome {
        webqx_audit::Outcome::Failure
    }
}
