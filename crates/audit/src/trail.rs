//! Reading the trail back: for exports, SIEM delivery and investigations.

use crate::AuditError;
use crate::record::Entry;
use webqx_store::{Row, Store, query};

/// One stored record with its chain hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailRecord {
    /// The record.
    pub entry: Entry,
    /// Its chain hash, hex.
    pub hash: String,
    /// The previous record's chain hash, hex.
    pub prev_hash: String,
    /// The exact stored text the hash covers.
    pub body: String,
}

/// Which records to read: those after `after_seq` (exclusive), written in
/// `[since_ms, until_ms)`, oldest first, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct TrailQuery {
    /// Read records with a higher sequence number than this.
    pub after_seq: i64,
    /// Earliest write time, milliseconds since the epoch (inclusive).
    pub since_ms: Option<i64>,
    /// Latest write time, milliseconds since the epoch (exclusive).
    pub until_ms: Option<i64>,
    /// Most records returned.
    pub limit: i64,
}

impl Default for TrailQuery {
    fn default() -> Self {
        TrailQuery {
            after_seq: 0,
            since_ms: None,
            until_ms: None,
            limit: 1000,
        }
    }
}

/// Reads records in sequence order.
///
/// # Errors
/// [`AuditError::Store`] if the trail cannot be read; [`AuditError::Corrupt`] if a
/// stored body is not a record (verify the trail).
pub async fn read(store: &Store, q: &TrailQuery) -> Result<Vec<TrailRecord>, AuditError> {
    let rows = query(
        "SELECT seq, body, prev_hash, hash FROM audit_log \
         WHERE seq > $1 AND time_ms >= $2 AND time_ms < $3 ORDER BY seq LIMIT $4",
    )
    .bind(q.after_seq)
    .bind(q.since_ms.unwrap_or(i64::MIN))
    .bind(q.until_ms.unwrap_or(i64::MAX))
    .bind(q.limit.max(1))
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let seq: i64 = row.try_get(0)?;
        let body: String = row.try_get(1)?;
        let prev: Vec<u8> = row.try_get(2)?;
        let hash: Vec<u8> = row.try_get(3)?;
        let entry: Entry = serde_json::from_str(&body).map_err(|_| AuditError::Corrupt(seq))?;
        out.push(TrailRecord {
            entry,
            hash: hex::encode(hash),
            prev_hash: hex::encode(prev),
            body,
        });
    }
    Ok(out)
}

/// The chain head: the newest sequence number and its hash.
///
/// # Errors
/// [`AuditError::Store`] if it cannot be read.
pub async fn head(store: &Store) -> Result<(i64, Vec<u8>), AuditError> {
    let row = query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}
