use std::fmt;
use std::path::Path;

/// What kind of storage failure happened; callers decide status codes from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The database cannot be reached or timed out; retrying later may work.
    Unavailable,
    /// A uniqueness constraint refused the write (the thing already exists).
    Conflict,
    /// The configuration is wrong.
    Config,
    /// The schema could not be brought up to date.
    Migration,
    /// Anything else the database reported.
    Database,
}

/// A storage failure. The message is safe to log; it never holds row data.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

impl StoreError {
    /// The kind of failure.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    pub(crate) fn config(message: &str) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Config,
            message: message.to_owned(),
        }
    }

    pub(crate) fn io(path: &Path, e: std::io::Error) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Unavailable,
            message: format!("cannot create {}: {e}", path.display()),
        }
    }

    pub(crate) fn migration(e: sqlx::migrate::MigrateError) -> StoreError {
        StoreError {
            kind: StoreErrorKind::Migration,
            message: format!("database schema migration failed: {e}"),
        }
    }

    /// Converts a driver error, classifying it.
    pub fn from_sqlx(e: sqlx::Error) -> StoreError {
        let kind = match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreErrorKind::Conflict,
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreErrorKind::Unavailable,
            sqlx::Error::Database(db) if db.message().contains("locked") => {
                StoreErrorKind::Unavailable
            }
            sqlx::Error::Configuration(_) => StoreErrorKind::Config,
            _ => StoreErrorKind::Database,
        };
        StoreError {
            kind,
            message: e.to_string(),
        }
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from_sqlx(e)
    }
}
