//! Storage for WebQx Security: one API over SQLite (the embedded default) and
//! PostgreSQL (the scale-out store).
//!
//! Capability crates write SQL once, with `$1`-style placeholders and portable types
//! (`BIGINT`/`INTEGER` as `i64`, `BLOB`/`BYTEA` as bytes, `TEXT`), and run it through
//! [`Store::pool`] for reads or a [`WriteTx`] for changes. This crate owns connection
//! set-up, migrations, and the one rule every write follows: a write transaction
//! starts by locking the audit chain head, so that writes are serialized through the
//! database (not through process memory) and several nodes can share a PostgreSQL.
//!
//! It does not know what the tables mean; that belongs to the capability crates.

#![forbid(unsafe_code)]

mod error;
pub mod meta;
pub mod time;

pub use error::{StoreError, StoreErrorKind};
pub use sqlx::AnyPool;
pub use sqlx::any::AnyRow;
pub use sqlx::{Any, Row, query, query_as, query_scalar};
pub use time::now_ms;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{ConnectOptions, Connection, Executor};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Tables whose deleted rows must not linger on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeTable {
    /// Wrapped key material.
    KeyVersions,
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the data folder.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite:///path/store.db` (or a plain path) or `postgres://…`.
    pub url: String,
    /// PostgreSQL schema to use (created if missing); ignored for SQLite.
    pub schema: Option<String>,
    /// Most connections in the pool.
    pub max_connections: u32,
}

impl StoreConfig {
    /// SQLite at `path` with default settings.
    pub fn sqlite(path: &Path) -> StoreConfig {
        StoreConfig {
            url: path.display().to_string(),
            schema: None,
            max_connections: 8,
        }
    }
}

/// An open store. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") || !url.contains("://") {
        Ok(Backend::Sqlite)
    } else {
        Err(StoreError::config(
            "storage.url must be a SQLite path (or sqlite://…) or a postgres:// URL",
        ))
    }
}

fn valid_schema(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
}

impl Store {
    /// Opens (creating if needed) the store and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError`] when the URL is malformed, the database is unreachable, or a
    /// migration fails.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(&config.url)?;
        let pool = match backend {
            Backend::Sqlite => open_sqlite(config).await?,
            Backend::Postgres => open_postgres(config).await?,
        };
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(StoreError::migration)?;
        if backend == Backend::Sqlite {
            tokio::spawn(checkpointer(pool.clone()));
        }
        tracing::debug!(?backend, "store opened and migrated");
        Ok(Store { pool, backend })
    }

    /// The connection pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction, holding the database's single writer lock (the audit
    /// chain head row) until commit or rollback.
    ///
    /// # Errors
    /// [`StoreError`] if the database is unavailable or the lock times out.
    pub async fn write(&self) -> Result<WriteTx, StoreError> {
        let mut tx = self.pool.begin().await.map_err(StoreError::from_sqlx)?;
        // A no-op update takes SQLite's write lock at once (avoiding a deferred
        // read-then-write upgrade failure) and PostgreSQL's row lock on the head, and
        // returns the head, which the audit trail appends after.
        let head = sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        let head = (head.try_get(0)?, head.try_get(1)?);
        Ok(WriteTx { tx, head })
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// [`StoreError`] describing why it does not.
    pub async fn health(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// After deleting key material from `table`: makes SQLite move the write-ahead log
    /// into the main file and truncate the log, so that with `secure_delete` no copy of
    /// the deleted bytes remains on disk; on PostgreSQL, rewrites the table.
    ///
    /// # Errors
    /// [`StoreError`] if the checkpoint fails.
    pub async fn purge_deleted(&self, table: PurgeTable) -> Result<(), StoreError> {
        let sql = match (self.backend, table) {
            (Backend::Sqlite, _) => "PRAGMA wal_checkpoint(TRUNCATE)",
            // Rewrites the table into a new file, so the old tuples (and the material in
            // them) are not in the table's files any more, nor in base backups taken
            // afterwards. WAL segments already archived still hold them until they expire.
            (Backend::Postgres, PurgeTable::KeyVersions) => "VACUUM FULL key_versions",
        };
        sqlx::query(sql)
            .execute(&self.pool)
            .await
            .map_err(StoreError::from_sqlx)?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Moves SQLite's write-ahead log into the database in the background, so that no
/// request waits for it: commits append to the log (and are durable there), and this
/// task copies committed frames without blocking readers or the writer. Ends when the
/// pool is closed.
async fn checkpointer(pool: AnyPool) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "background checkpoint failed; will retry");
        }
    }
}

async fn open_sqlite(config: &StoreConfig) -> Result<AnyPool, StoreError> {
    let path = config.url.strip_prefix("sqlite://").unwrap_or(&config.url);
    let path = path.strip_prefix("sqlite:").unwrap_or(path);
    create_private_file(Path::new(path))?;
    let url = format!("sqlite://{path}?mode=rwc");
    let options = AnyConnectOptions::from_str(&url).map_err(StoreError::from_sqlx)?;
    AnyPoolOptions::new()
        // SQLite has one writer; a few readers are enough and each costs memory.
        .max_connections(config.max_connections.clamp(1, 8))
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _| {
            Box::pin(async move {
                // WAL with FULL sync: a committed transaction survives kill -9 and power
                // loss; secure_delete overwrites freed pages (crypto-shredding).
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON; \
                     PRAGMA secure_delete = ON; PRAGMA cache_size = -1024; \
                     PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;",
                )
                .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(StoreError::from_sqlx)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map(drop)
        .map_err(|e| StoreError::io(path, e))
}

#[cfg(not(unix))]
fn create_private_file(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

async fn open_postgres(config: &StoreConfig) -> Result<AnyPool, StoreError> {
    let options = AnyConnectOptions::from_str(&config.url).map_err(StoreError::from_sqlx)?;
    let schema = config.schema.clone();
    if let Some(schema) = &schema {
        if !valid_schema(schema) {
            return Err(StoreError::config(
                "storage.schema must be lowercase letters, digits and '_', at most 63",
            ));
        }
        let mut conn = options.connect().await.map_err(StoreError::from_sqlx)?;
        // The name was checked against a strict pattern above.
        let create = format!("CREATE SCHEMA IF NOT EXISTS {schema}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(create))
            .execute(&mut conn)
            .await
            .map_err(StoreError::from_sqlx)?;
        conn.close().await.map_err(StoreError::from_sqlx)?;
    }
    AnyPoolOptions::new()
        .max_connections(config.max_connections.max(1))
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(move |conn, _| {
            let schema = schema.clone();
            Box::pin(async move {
                if let Some(schema) = schema {
                    let set = format!("SET search_path TO {schema}");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(set))
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(StoreError::from_sqlx)
}

/// A write transaction holding the writer lock. Dropping it without
/// [`WriteTx::commit`] rolls back.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, Any>,
    head: (i64, Vec<u8>),
}

impl WriteTx {
    /// The audit chain head (last sequence number and hash) as it is in this
    /// transaction; the audit trail keeps it current as it appends.
    pub fn chain_head(&self) -> (i64, &[u8]) {
        (self.head.0, &self.head.1)
    }

    /// Records the new chain head after appending.
    pub fn set_chain_head(&mut self, seq: i64, hash: Vec<u8>) {
        self.head = (seq, hash);
    }

    /// The connection to run statements on: `query(..).execute(tx.conn())`.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// Commits. Only after this returns is the change (and its audit record) durable.
    ///
    /// # Errors
    /// [`StoreError`] if the commit fails; nothing was written then.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(StoreError::from_sqlx)
    }

    /// Rolls back explicitly.
    ///
    /// # Errors
    /// [`StoreError`] if the database reports a failure.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await.map_err(StoreError::from_sqlx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_kinds() {
        assert_eq!(backend_of("/tmp/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("sqlite:///tmp/x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            backend_of("postgres://root@127.0.0.1/test").unwrap(),
            Backend::Postgres
        );
        assert!(backend_of("mysql://x").is_err());
    }

    #[test]
    fn schema_names() {
        assert!(valid_schema("webqx_test_1"));
        assert!(!valid_schema("a; DROP TABLE keys"));
        assert!(!valid_schema("1abc"));
        assert!(!valid_schema("Upper"));
    }
}
