//! A consistent online snapshot of the store, as archive rows.
//!
//! Both backends are exported the same way, logically: every table of our schema, row by
//! row, inside one read transaction, while the server keeps writing.
//! - SQLite (WAL mode): a deferred `BEGIN` and the first `SELECT` fix a read snapshot
//!   that later commits do not change, until `COMMIT`.
//! - PostgreSQL: `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`: one snapshot for
//!   every statement of the transaction.
//!
//! Why logical rather than `VACUUM INTO` / a file copy: one restore path for both
//! backends (and restore across them), a structure `backup verify` can check without a
//! database, and no plaintext database file written to disk on the way.

use crate::BackupError;
use crate::archive::Value;
use webqx_store::{AnyRow, Backend, Row, Store};

/// The kinds of column this schema uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// BIGINT / INTEGER.
    Int,
    /// TEXT.
    Text,
    /// BLOB / BYTEA.
    Bytes,
    /// DOUBLE / REAL.
    Float,
    /// BOOLEAN.
    Bool,
}

/// Maps a declared column type (either backend) to its kind.
pub fn kind_of(declared: &str) -> Option<ColumnKind> {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") {
        Some(ColumnKind::Int)
    } else if t.contains("text") || t.contains("char") {
        Some(ColumnKind::Text)
    } else if t.contains("bytea") || t.contains("blob") {
        Some(ColumnKind::Bytes)
    } else if t.contains("double") || t.contains("real") || t.contains("float") {
        Some(ColumnKind::Float)
    } else if t.contains("bool") {
        Some(ColumnKind::Bool)
    } else {
        None
    }
}

/// A table: name and typed columns.
#[derive(Debug, Clone)]
pub struct TableShape {
    /// Table name.
    pub name: String,
    /// Columns, in order.
    pub columns: Vec<(String, ColumnKind)>,
}

fn plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Double-quotes an identifier after checking it is a plain one.
pub fn quoted(name: &str) -> Result<String, BackupError> {
    if !plain_identifier(name) {
        return Err(BackupError::Refused(format!(
            "table or column name {name:?} is not a plain identifier; this store was not made by WebQx"
        )));
    }
    Ok(format!("\"{name}\""))
}

/// Our tables in the connection's schema (the migration bookkeeping table excluded).
pub async fn tables(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<Vec<TableShape>, BackupError> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> '_sqlx_migrations' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = \
             current_schema() AND table_type = 'BASE TABLE' AND table_name <> '_sqlx_migrations' \
             ORDER BY 1"
        }
    };
    let names: Vec<String> = sqlx::query_scalar(sql).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let columns = columns(conn, backend, &name).await?;
        out.push(TableShape { name, columns });
    }
    Ok(out)
}

async fn columns(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    table: &str,
) -> Result<Vec<(String, ColumnKind)>, BackupError> {
    let sql = match backend {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    let rows = sqlx::query(sql).bind(table).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get(0)?;
        let declared: String = row.try_get(1)?;
        let kind = kind_of(&declared).ok_or_else(|| {
            BackupError::Refused(format!(
                "column {table}.{name} has type {declared}, which backups do not know"
            ))
        })?;
        out.push((name, kind));
    }
    Ok(out)
}

/// Highest migration applied.
pub async fn schema_version(conn: &mut sqlx::AnyConnection) -> Result<i64, BackupError> {
    let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await?;
    Ok(v.unwrap_or(0))
}

/// Starts the snapshot transaction on `conn`.
pub async fn begin_snapshot(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
) -> Result<(), BackupError> {
    let sql = match backend {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    };
    sqlx::raw_sql(sql).execute(&mut *conn).await?;
    Ok(())
}

/// Reads one column of a row as its kind says.
pub fn value_of(row: &AnyRow, i: usize, kind: ColumnKind) -> Result<Value, BackupError> {
    let v = match kind {
        ColumnKind::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::Int),
        ColumnKind::Text => row.try_get::<Option<String>, _>(i)?.map(Value::Text),
        ColumnKind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(Value::Bytes),
        ColumnKind::Float => row.try_get::<Option<f64>, _>(i)?.map(Value::Float),
        ColumnKind::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
    };
    Ok(v.unwrap_or(Value::Null))
}

/// The SELECT that reads every row of `table`.
pub fn select_all(table: &TableShape) -> Result<String, BackupError> {
    let mut cols = Vec::with_capacity(table.columns.len());
    for (c, _) in &table.columns {
        cols.push(quoted(c)?);
    }
    Ok(format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        quoted(&table.name)?
    ))
}

/// One fetched row as archive values.
pub fn values_of(row: &AnyRow, table: &TableShape) -> Result<Vec<Value>, BackupError> {
    let mut values = Vec::with_capacity(table.columns.len());
    for (i, (_, kind)) in table.columns.iter().enumerate() {
        values.push(value_of(row, i, *kind)?);
    }
    Ok(values)
}

/// The backend's name in manifests.
pub fn backend_name(store: &Store) -> &'static str {
    match store.backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}
