use crate::record::Entry;
use crate::{AuditError, AuditRecord, Outcome};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, oneshot};
use webqx_crypto::SecretBytes;
use webqx_store::{Store, WriteTx, query};

/// Domain separation for the chain hash.
const CHAIN_DOMAIN: &[u8] = b"webqx-audit-v1\n";
/// Most records committed in one group.
const MAX_GROUP: usize = 512;
/// Records waiting for the writer before callers wait to enqueue (back-pressure,
/// never dropping).
const QUEUE_DEPTH: usize = 8192;

/// Pauses before the retries of a group write that failed because the database was
/// unavailable.
const GROUP_RETRY_PAUSES: [std::time::Duration; 2] = [
    std::time::Duration::from_millis(50),
    std::time::Duration::from_millis(250),
];

/// `SHA-256(domain || previous hash || body)`.
pub(crate) fn chain_hash(prev: &[u8], body: &[u8]) -> [u8; 32] {
    webqx_crypto::sha256_parts(&[CHAIN_DOMAIN, prev, body])
}

struct Pending {
    record: AuditRecord,
    reply: oneshot::Sender<Result<i64, String>>,
}

/// The audit trail writer. One per process; share it behind an `Arc`.
pub struct AuditLog {
    pub(crate) store: Store,
    hmac_key: RwLock<Option<SecretBytes>>,
    queue: mpsc::Sender<Pending>,
    /// Why state changes are refused right now, by who refuses them (a SIEM sink whose
    /// spool is full). Empty in normal operation.
    refusals: RwLock<BTreeMap<String, String>>,
    /// The alert store raised alerts go to (see [`crate::alerting`]).
    pub(crate) alert_sink: RwLock<Option<Arc<dyn crate::AlertSink>>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Starts the log and its group-commit writer on the current Tokio runtime.
    pub fn start(store: Store) -> Arc<AuditLog> {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        let log = Arc::new(AuditLog {
            store: store.clone(),
            hmac_key: RwLock::new(None),
            queue: tx,
            refusals: RwLock::new(BTreeMap::new()),
            alert_sink: RwLock::new(None),
        });
        tokio::spawn(group_writer(Arc::downgrade(&log), rx));
        log
    }

    /// Sets (at unseal) or clears (at seal) the key that HMACs sensitive values.
    pub fn set_hmac_key(&self, key: Option<SecretBytes>) {
        if let Ok(mut slot) = self.hmac_key.write() {
            *slot = key;
        }
    }

    /// The HMAC of a sensitive value, as stored in records: hex, or `null` while sealed
    /// (a sealed server refuses the work that would carry such values anyway).
    pub fn hmac(&self, value: &[u8]) -> Value {
        let slot = match self.hmac_key.read() {
            Ok(slot) => slot,
            Err(_) => return Value::Null,
        };
        match slot.as_ref() {
            Some(key) => {
                let tag = webqx_crypto::mac::tag(
                    webqx_crypto::mac::Algorithm::Sha256,
                    key.expose(),
                    value,
                );
                Value::String(hex::encode(tag))
            }
            None => Value::Null,
        }
    }

    /// Refuses (with `message`) or allows again (`None`) every state change, on behalf of
    /// `by` (a SIEM sink whose spool is full and whose policy is to refuse). Records of
    /// requests that change nothing are still written.
    pub fn set_refusal(&self, by: &str, message: Option<String>) {
        if let Ok(mut refusals) = self.refusals.write() {
            match message {
                Some(m) => refusals.insert(by.to_owned(), m),
                None => refusals.remove(by),
            };
        }
    }

    /// The reason state changes are refused now, if they are.
    pub fn refusal(&self) -> Option<String> {
        let refusals = self.refusals.read().ok()?;
        refusals.values().next().cloned()
    }

    /// Appends `record` inside the caller's write transaction. It is durable only when
    /// the caller commits.
    ///
    /// # Errors
    /// [`AuditError::SpoolFull`] while a sink refuses state changes (see
    /// [`AuditLog::set_refusal`]); [`AuditError::Store`] if the database refuses. The
    /// caller must roll back either way.
    pub async fn append(&self, tx: &mut WriteTx, record: &AuditRecord) -> Result<i64, AuditError> {
        if let Some(message) = self.refusal() {
            return Err(AuditError::SpoolFull(message));
        }
        let seqs = self.append_many(tx, &[record]).await?;
        seqs.first()
            .copied()
            .ok_or_else(|| AuditError::Write("no record appended".into()))
    }

    /// Appends several records in order with multi-row inserts and one update of the
    /// chain head: the group-commit path.
    async fn append_many(
        &self,
        tx: &mut WriteTx,
        records: &[&AuditRecord],
    ) -> Result<Vec<i64>, AuditError> {
        let (mut seq, prev) = tx.chain_head();
        let mut prev = prev.to_vec();
        let now = chrono::Utc::now();
        let time = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

        let mut rows = Vec::with_capacity(records.len());
        for record in records {
            seq += 1;
            let text = serde_json::to_string(&stored(record, seq, &time))
                .map_err(|e| AuditError::Write(e.to_string()))?;
            let hash = chain_hash(&prev, text.as_bytes()).to_vec();
            rows.push(NewRow {
                seq,
                text,
                prev,
                hash: hash.clone(),
            });
            prev = hash;
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            insert_rows(tx, chunk, now.timestamp_millis()).await?;
        }
        query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&prev)
            .execute(tx.conn())
            .await?;
        tx.set_chain_head(seq, prev);
        Ok(rows.iter().map(|r| r.seq).collect())
    }

    /// Writes `record` on its own, committed together with other concurrent records,
    /// and returns once it is durable.
    ///
    /// # Errors
    /// [`AuditError`] if it could not be written; the request it describes must fail.
    pub async fn record(&self, record: AuditRecord) -> Result<i64, AuditError> {
        let (reply, wait) = oneshot::channel();
        self.queue
            .send(Pending { record, reply })
            .await
            .map_err(|_| AuditError::Closed)?;
        match wait.await {
            Ok(Ok(seq)) => Ok(seq),
            Ok(Err(message)) => Err(AuditError::Write(message)),
            Err(_) => Err(AuditError::Closed),
        }
    }

    /// Writes several independent records (a batch of EHR events), committed together
    /// with whatever else is pending, and reports each one's fate in order.
    pub async fn record_all(&self, records: Vec<AuditRecord>) -> Vec<Result<i64, AuditError>> {
        let mut waits = Vec::with_capacity(records.len());
        for record in records {
            let (reply, wait) = oneshot::channel();
            let sent = self.queue.send(Pending { record, reply }).await;
            waits.push(sent.ok().map(|()| wait));
        }
        let mut out = Vec::with_capacity(waits.len());
        for wait in waits {
            out.push(match wait {
                None => Err(AuditError::Closed),
                Some(w) => match w.await {
                    Ok(Ok(seq)) => Ok(seq),
                    Ok(Err(message)) => Err(AuditError::Write(message)),
                    Err(_) => Err(AuditError::Closed),
                },
            });
        }
        out
    }

    /// Runs a change and its audit record in one transaction: both commit, or neither.
    /// On failure the change is rolled back and the failure is audited on its own.
    ///
    /// # Errors
    /// The work's error, or an audit or storage failure (then nothing was changed).
    pub async fn transact<T, E: Audited>(
        &self,
        mut rec: AuditRecord,
        work: impl AsyncFnOnce(&mut WriteTx, &mut AuditRecord) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut tx = self.store.write().await?;
        match work(&mut tx, &mut rec).await {
            Ok(value) => {
                self.append(&mut tx, &rec).await?;
                tx.commit().await?;
                Ok(value)
            }
            Err(e) => {
                // Release the writer lock before the failure record needs it.
                tx.rollback().await?;
                rec.fail(e.audit_outcome(), e.audit_reason());
                self.record(rec).await?;
                Err(e)
            }
        }
    }

    /// Runs work that changes nothing, then writes its audit record; the result is
    /// returned only once the record is durable.
    ///
    /// # Errors
    /// The work's error, or an audit failure (then the result is withheld).
    pub async fn audited<T, E: Audited>(
        &self,
        mut rec: AuditRecord,
        work: impl AsyncFnOnce(&mut AuditRecord) -> Result<T, E>,
    ) -> Result<T, E> {
        let result = work(&mut rec).await;
        if let Err(e) = &result {
            rec.fail(e.audit_outcome(), e.audit_reason());
        }
        self.record(rec).await?;
        result
    }

    async fn write_group(&self, group: &[Pending]) -> Result<Vec<i64>, AuditError> {
        let records: Vec<&AuditRecord> = group.iter().map(|p| &p.record).collect();
        let mut tx = self.store.write().await?;
        let seqs = self.append_many(&mut tx, &records).await?;
        tx.commit().await?;
        Ok(seqs)
    }
}

/// An error type that audited work returns: it names its stable reason and outcome, and
/// can carry the audit and storage failures of the wrapper itself.
pub trait Audited: From<AuditError> + From<webqx_store::StoreError> {
    /// Stable error type for the record's `reason`.
    fn audit_reason(&self) -> &'static str;
    /// Denied (refused by policy or state) or failed.
    fn audit_outcome(&self) -> Outcome {
        Outcome::Failure
    }
}

/// Rows per INSERT statement (5 parameters each, well under every backend's limit).
const ROWS_PER_INSERT: usize = 100;

struct NewRow {
    seq: i64,
    text: String,
    prev: Vec<u8>,
    hash: Vec<u8>,
}

async fn insert_rows(tx: &mut WriteTx, rows: &[NewRow], time_ms: i64) -> Result<(), AuditError> {
    let mut sql =
        String::from("INSERT INTO audit_log (seq, time_ms, body, prev_hash, hash) VALUES ");
    for i in 0..rows.len() {
        let p = i * 5;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!(
            "(${}, ${}, ${}, ${}, ${})",
            p + 1,
            p + 2,
            p + 3,
            p + 4,
            p + 5
        ));
    }
    // The statement text holds only placeholders; every value is bound.
    let mut q = query(sqlx::AssertSqlSafe(sql));
    for r in rows {
        q = q
            .bind(r.seq)
            .bind(time_ms)
            .bind(&r.text)
            .bind(&r.prev)
            .bind(&r.hash);
    }
    q.execute(tx.conn()).await?;
    Ok(())
}

fn stored(record: &AuditRecord, seq: i64, time: &str) -> Entry {
    Entry {
        v: 1,
        seq,
        id: uuid::Uuid::now_v7().to_string(),
        time: time.to_owned(),
        request_id: record.request_id.clone(),
        actor: record.actor.clone(),
        source: record.source.clone(),
        purpose: record.purpose.clone(),
        action: record.action.clone(),
        target: record.target.clone(),
        outcome: record.outcome,
        reason: record.reason.clone(),
        details: record.details.clone(),
        hmac: record.hmac.clone(),
        event: record.event.clone(),
    }
}

/// Whether a failed group write may succeed if tried again soon: only when the
/// database was unavailable, never for a refusal (a constraint, a trigger, a full
/// spool), which would fail the same way.
fn worth_retrying(e: &AuditError) -> bool {
    matches!(e, AuditError::Store(e) if e.kind() == webqx_store::StoreErrorKind::Unavailable)
}

async fn group_writer(log: std::sync::Weak<AuditLog>, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let Some(log) = log.upgrade() else { break };
        let started = std::time::Instant::now();
        let mut result = log.write_group(&group).await;
        // A database that is briefly unavailable (SQLite locked while another process
        // recovers its log, a pool timeout, a dropped connection) gets two more tries
        // before the requests waiting on these records fail. Nothing of a failed group
        // was committed: its transaction rolled back.
        for pause in GROUP_RETRY_PAUSES {
            match &result {
                Err(e) if worth_retrying(e) => {
                    tracing::warn!(error = %e, records = group.len(), "audit group write failed; retrying");
                    tokio::time::sleep(pause).await;
                    result = log.write_group(&group).await;
                }
                _ => break,
            }
        }
        metrics::histogram!("webqx_audit_group_records").record(group.len() as f64);
        metrics::histogram!("webqx_audit_group_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("webqx_audit_write_failures_total").increment(1);
        }
        drop(log);
        match result {
            Ok(seqs) => {
                for (pending, seq) in group.into_iter().zip(seqs) {
                    let _ = pending.reply.send(Ok(seq));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = group.len(), "audit group write failed");
                let message = e.to_string();
                for pending in group {
                    let _ = pending.reply.send(Err(message.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webqx_store::StoreError;

    #[test]
    fn only_an_unavailable_database_is_worth_a_retry() {
        let unavailable = AuditError::Store(StoreError::from_sqlx(sqlx::Error::PoolTimedOut));
        assert!(worth_retrying(&unavailable));
        let refused = AuditError::Store(StoreError::from_sqlx(sqlx::Error::RowNotFound));
        assert!(!worth_retrying(&refused));
        assert!(!worth_retrying(&AuditError::SpoolFull("spool full".into())));
        assert!(!worth_retrying(&AuditError::Write("constraint".into())));
        assert!(!worth_retrying(&AuditError::Closed));
    }
}
