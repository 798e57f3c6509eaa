//! Small named settings the service keeps in its store (`meta` table): facts such as
//! the local CA's name or when the server certificate expires. Never secrets.

use crate::{StoreError, WriteTx};
use sqlx::Row;

/// Reads a setting.
///
/// # Errors
/// [`StoreError`] if the store cannot be read.
pub async fn get(pool: &sqlx::AnyPool, name: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT value FROM meta WHERE name = $1")
        .bind(name)
        .fetch_optional(pool)
        .await?;
    row.map(|r| r.try_get(0))
        .transpose()
        .map_err(StoreError::from_sqlx)
}

/// Writes a setting inside a write transaction.
///
/// # Errors
/// [`StoreError`] if the write fails.
pub async fn set(tx: &mut WriteTx, name: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO meta (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(tx.conn())
    .await?;
    Ok(())
}
