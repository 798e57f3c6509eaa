//! Backups run by the server: on request (streamed to the caller) and on a schedule
//! into `[backup] folder`, one node at a time (a lease row in `meta`), with their
//! outcome kept in `meta` for `/v1/sys/health` on every node and in metrics.

use crate::bootstrap::Services;
use crate::config::{BackupSection, Config};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use webqx_audit::RequestContext;
use webqx_backup::BackupError;

const LEASE: &str = "backup.lease";
const STATUS: &str = "backup.status";
/// How long a node may hold the schedule before another may take over.
const LEASE_MS: i64 = 3_600_000;

/// The outcome of scheduled backups, as health shows it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BackupStatus {
    /// Last successful scheduled backup (RFC 3339), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    /// Its file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_file: Option<String>,
    /// Its size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_bytes: Option<u64>,
    /// Last failure (RFC 3339), if it came after the last success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub failures: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Lease {
    owner: String,
    until_ms: i64,
    last_started_ms: i64,
}

/// The scheduled backups' status, from the store.
pub async fn status(store: &webqx_store::Store) -> Option<BackupStatus> {
    let text = webqx_store::meta::get(store.pool(), STATUS).await.ok()??;
    serde_json::from_str(&text).ok()
}

/// An `io::Write` that hands what it gets to an async receiver, with back-pressure
/// (for streaming a backup as a response body). Used from blocking threads only.
pub struct ChannelWriter(pub mpsc::Sender<Result<Vec<u8>, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(buf.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs scheduled backups until the task is dropped.
pub async fn scheduler(config: Arc<Config>, s: Arc<Services>) {
    let b = &config.backup;
    let Some(folder) = b.folder.clone() else {
        return;
    };
    let every = Config::duration(&b.every).max(Duration::from_secs(1));
    let node = uuid::Uuid::now_v7().to_string();
    metrics::counter!("webqx_backup_failures_total").increment(0);
    let mut tick = tokio::time::interval(Config::duration(&config.server.scheduler_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if s.kms.is_sealed() {
            continue;
        }
        match claim(&s.store, &node, every).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "backup lease unavailable; will retry");
                continue;
            }
        }
        let outcome = run_once(&s, &folder, b).await;
        record(&s.store, outcome).await;
        let _ = release(&s.store, &node).await;
    }
}

/// Takes the schedule lease when a backup is due and no other node holds it.
async fn claim(
    store: &webqx_store::Store,
    node: &str,
    every: Duration,
) -> Result<bool, webqx_store::StoreError> {
    let now = webqx_store::now_ms();
    let mut tx = store.write().await?;
    let current: Lease = read_meta(&mut tx, LEASE).await?.unwrap_or_default();
    let due = now - current.last_started_ms >= every.as_millis() as i64;
    let free = current.until_ms < now || current.owner == node;
    if !(due && free) {
        return Ok(false);
    }
    let lease = Lease {
        owner: node.to_owned(),
        until_ms: now + LEASE_MS,
        last_started_ms: now,
    };
    webqx_store::meta::set(&mut tx, LEASE, &to_json(&lease)).await?;
    tx.commit().await?;
    Ok(true)
}

async fn release(store: &webqx_store::Store, node: &str) -> Result<(), webqx_store::StoreError> {
    let mut tx = store.write().await?;
    let mut lease: Lease = read_meta(&mut tx, LEASE).await?.unwrap_or_default();
    if lease.owner == node {
        lease.until_ms = 0;
        webqx_store::meta::set(&mut tx, LEASE, &to_json(&lease)).await?;
    }
    tx.commit().await
}

/// A JSON value kept in `meta`, read inside a write transaction.
pub(crate) async fn read_meta<T: for<'de> Deserialize<'de>>(
    tx: &mut webqx_store::WriteTx,
    name: &str,
) -> Result<Option<T>, webqx_store::StoreError> {
    use webqx_store::Row;
    let row = webqx_store::query("SELECT value FROM meta WHERE name = $1")
        .bind(name)
        .fetch_optional(tx.conn())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let text: String = row.try_get(0)?;
    Ok(serde_json::from_str(&text).ok())
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// One scheduled backup: temp file, rename, prune.
async fn run_once(
    s: &Services,
    folder: &Path,
    b: &BackupSection,
) -> Result<(String, u64), BackupError> {
    let ctx = RequestContext::internal("scheduler");
    let name = webqx_backup::retention::file_name(webqx_store::now_ms());
    let path = folder.join(&name);
    // Removed when dropped: a failure anywhere below leaves no partial file.
    let temp = create_private(folder, &name)?;
    let io = |e: std::io::Error| {
        BackupError::Io(format!(
            "cannot write the backup in {}: {e}",
            folder.display()
        ))
    };
    let file = temp.as_file().try_clone().map_err(io)?;
    let created =
        webqx_backup::create(&s.store, &s.kms, &s.audit, &ctx, s.data.root(), file).await?;
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(&path).map_err(|e| {
        BackupError::Io(format!("cannot rename to {}: {}", path.display(), e.error))
    })?;
    let keep = (b.keep > 0).then_some(b.keep);
    let max_age = b.max_age.as_deref().map(Config::duration);
    let pruned = webqx_backup::retention::prune(folder, keep, max_age)?;
    if !pruned.is_empty() {
        let mut rec = ctx.record("backup.prune", None);
        rec.detail("deleted", pruned.clone());
        s.audit.record(rec).await?;
    }
    tracing::info!(file = %path.display(), bytes = created.bytes, pruned = pruned.len(), "scheduled backup written");
    Ok((name, created.bytes))
}

/// A new, randomly named temp file created exclusively (`O_EXCL`, mode 0600) in
/// `folder`: a name planted in the folder (a link to another file) cannot redirect it.
fn create_private(folder: &Path, name: &str) -> Result<tempfile::NamedTempFile, BackupError> {
    webqx_backup::retention::private_temp(folder, name).map_err(|e| {
        BackupError::Io(format!(
            "cannot write a backup in {}: {e}; check [backup] folder exists and the server may \
             write there",
            folder.display()
        ))
    })
}

/// Keeps the outcome in `meta` and in metrics.
async fn record(store: &webqx_store::Store, outcome: Result<(String, u64), BackupError>) {
    let mut st = status(store).await.unwrap_or_default();
    let now = chrono::Utc::now();
    match outcome {
        Ok((file, bytes)) => {
            st.last_success = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            st.last_file = Some(file);
            st.last_bytes = Some(bytes);
            st.last_failure = None;
            st.last_error = None;
            st.failures = 0;
            metrics::gauge!("webqx_backup_last_success_timestamp_seconds")
                .set(now.timestamp() as f64);
            metrics::gauge!("webqx_backup_bytes").set(bytes as f64);
        }
        Err(e) => {
            tracing::warn!(error = %e, "scheduled backup failed");
            st.last_failure = Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            st.last_error = Some(e.to_string());
            st.failures += 1;
            metrics::counter!("webqx_backup_failures_total").increment(1);
        }
    }
    let saved = async {
        let mut tx = store.write().await?;
        webqx_store::meta::set(&mut tx, STATUS, &to_json(&st)).await?;
        tx.commit().await
    };
    if let Err(e) = saved.await {
        tracing::warn!(error = %e, "backup status not saved");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_temp_file_ignores_a_link_planted_at_the_old_predictable_name() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "victim").unwrap();
        let name = "webqx-backup-x.wqxb";
        let planted = dir.path().join(format!(".{name}.partial"));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let mut temp = create_private(dir.path(), name).unwrap();
        temp.write_all(b"backup bytes").unwrap();
        assert_ne!(temp.path(), planted.as_path());
        let mode = temp.as_file().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let temp_path = temp.path().to_owned();
        drop(temp);
        assert!(!temp_path.exists(), "a dropped temp file is removed");
        assert_eq!(std::fs::read(&victim).unwrap(), b"victim");
    }

    #[test]
    fn a_missing_folder_names_the_folder_and_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-folder");
        let e = create_private(&missing, "b.wqxb").unwrap_err();
        assert!(e.to_string().contains("no-such-folder"), "{e}");
        assert!(e.to_string().contains("[backup] folder"), "{e}");
    }
}
