//! Backups of the service's own store.
//!
//! - [`create`]: a consistent online snapshot of every table (see [`snapshot`]), plus
//!   the data-folder files a restored service needs (`admin.token`, `tls/`; never
//!   `unseal.key`), laid out as an [`archive`] and encrypted with the streaming file
//!   format of `webqx_crypto::stream` under a fresh data key from
//!   [`webqx_kms::Kms::new_backup_key`]. The plaintext never touches the disk.
//! - [`verify`]: decrypts every segment and checks the archive's structure, offline,
//!   with the usual unseal credentials.
//! - [`restore`]: rebuilds a data folder (and, for PostgreSQL, a schema) from a backup.
//! - [`retention`]: list and prune scheduled backups in a folder.
//!
//! It does no HTTP; the server and CLI call it.

#![forbid(unsafe_code)]

pub mod archive;
mod crypt;
mod error;
mod restore;
pub mod retention;
pub mod snapshot;

pub use crypt::{HeaderInfo, read_header_info};
pub use error::{ArchiveError, BackupError};
pub use restore::{RestoreReport, RestoreTarget, check_target, restore};
pub use webqx_kms::backup::Credentials;

use archive::{Manifest, Writer};
use futures_util::TryStreamExt;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;
use webqx_audit::{AuditLog, RequestContext};
use webqx_kms::Kms;
use webqx_store::Store;

/// Plaintext handed to the encryptor in chunks of about this size.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the snapshot and the encryptor (bounds memory).
const CHUNKS_IN_FLIGHT: usize = 4;
/// Data-folder files a restored service needs. `unseal.key` is deliberately absent: a
/// backup must never carry what opens it.
const DATA_FILES: &[&str] = &["admin.token"];
const DATA_FOLDERS: &[&str] = &["tls"];
const OUTPUT_CLOSED: &str = "the backup output was closed";

/// What [`create`] produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Created {
    /// Encrypted bytes written.
    pub bytes: u64,
    /// Tables and their row counts.
    pub tables: Vec<(String, u64)>,
    /// Data-folder files included.
    pub files: Vec<String>,
}

/// Takes a snapshot of `store` (and the files of `data_dir`) and writes it encrypted to
/// `output`. Audited as `backup.create`.
///
/// # Errors
/// [`BackupError`]: sealed, storage failures, write failures.
pub async fn create(
    store: &Store,
    kms: &Kms,
    audit: &AuditLog,
    ctx: &RequestContext,
    data_dir: &Path,
    output: impl Write + Send + 'static,
) -> Result<Created, BackupError> {
    let rec = ctx.record("backup.create", None);
    audit
        .audited(rec, async |rec| {
            let created = create_unaudited(store, kms, ctx, data_dir, output).await?;
            rec.detail("bytes", created.bytes);
            rec.detail("tables", created.tables.len());
            rec.detail("rows", created.tables.iter().map(|(_, n)| *n).sum::<u64>());
            Ok::<_, BackupError>(created)
        })
        .await
}

async fn create_unaudited(
    store: &Store,
    kms: &Kms,
    ctx: &RequestContext,
    data_dir: &Path,
    output: impl Write + Send + 'static,
) -> Result<Created, BackupError> {
    let key = kms.new_backup_key(ctx).await?;
    let (tx, rx) = mpsc::channel::<Vec<u8>>(CHUNKS_IN_FLIGHT);
    let encryptor = crypt::spawn_encrypt(key, rx, output);

    let produced = produce(store, data_dir, tx).await;
    let encrypted = encryptor
        .await
        .map_err(|e| BackupError::Io(format!("the encryptor stopped: {e}")))?;
    // Report the cause, not its echo on the other side of the channel.
    let ((tables, files), bytes) = match (produced, encrypted) {
        (Ok(p), Ok(b)) => (p, b),
        (Err(BackupError::Io(m)), Err(e)) if m == OUTPUT_CLOSED => return Err(e),
        (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
    };
    tracing::debug!(bytes, tables = tables.len(), "backup written");
    Ok(Created {
        bytes,
        tables,
        files,
    })
}

type Produced = (Vec<(String, u64)>, Vec<String>);

/// Writes the archive into `tx`. Dropping `tx` early (on error) makes the encryptor
/// stop without its final segment, so a partial output never passes as a backup.
async fn produce(
    store: &Store,
    data_dir: &Path,
    tx: mpsc::Sender<Vec<u8>>,
) -> Result<Produced, BackupError> {
    let mut conn = store.pool().acquire().await?;
    snapshot::begin_snapshot(&mut conn, store.backend()).await?;
    let result = produce_in(&mut conn, store, data_dir, &tx).await;
    let _ = sqlx::raw_sql("COMMIT").execute(&mut *conn).await;
    let (writer, tables, files) = result?;
    let rest = writer.finish()?;
    send(&tx, rest).await?;
    // The empty chunk says "complete"; a closed channel without it is a failure.
    send(&tx, Vec::new()).await?;
    Ok((tables, files))
}

async fn produce_in(
    conn: &mut sqlx::AnyConnection,
    store: &Store,
    data_dir: &Path,
    tx: &mpsc::Sender<Vec<u8>>,
) -> Result<(Writer<Vec<u8>>, Vec<(String, u64)>, Vec<String>), BackupError> {
    let manifest = Manifest {
        format: 1,
        backend: snapshot::backend_name(store).into(),
        schema_version: snapshot::schema_version(conn).await?,
        created_ms: webqx_store::now_ms(),
        server_version: env!("CARGO_PKG_VERSION").into(),
    };
    let mut writer = Writer::new(Vec::with_capacity(CHUNK * 2), &manifest)?;
    let mut tables = Vec::new();
    for table in snapshot::tables(conn, store.backend()).await? {
        let names: Vec<String> = table.columns.iter().map(|(n, _)| n.clone()).collect();
        writer.table(&table.name, &names)?;
        let sql = snapshot::select_all(&table)?;
        let mut stream = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch(&mut *conn);
        let mut rows = 0u64;
        while let Some(row) = stream.try_next().await? {
            writer.row(&snapshot::values_of(&row, &table)?)?;
            flush_if_full(&mut writer, tx).await?;
            rows += 1;
        }
        drop(stream);
        writer.table_end(rows)?;
        tables.push((table.name.clone(), rows));
    }
    let files = add_files(&mut writer, data_dir)?;
    flush_if_full(&mut writer, tx).await?;
    Ok((writer, tables, files))
}

async fn flush_if_full(
    writer: &mut Writer<Vec<u8>>,
    tx: &mpsc::Sender<Vec<u8>>,
) -> Result<(), BackupError> {
    if writer.buffer().len() >= CHUNK {
        let chunk = std::mem::replace(writer.buffer(), Vec::with_capacity(CHUNK * 2));
        if !chunk.is_empty() {
            send(tx, chunk).await?;
        }
    }
    Ok(())
}

async fn send(tx: &mpsc::Sender<Vec<u8>>, chunk: Vec<u8>) -> Result<(), BackupError> {
    tx.send(chunk)
        .await
        .map_err(|_| BackupError::Io(OUTPUT_CLOSED.into()))
}

fn add_files(writer: &mut Writer<Vec<u8>>, data_dir: &Path) -> Result<Vec<String>, BackupError> {
    let mut names: Vec<String> = DATA_FILES.iter().map(|s| (*s).to_owned()).collect();
    for folder in DATA_FOLDERS {
        let Ok(entries) = std::fs::read_dir(data_dir.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                names.push(format!("{folder}/{}", entry.file_name().to_string_lossy()));
            }
        }
    }
    names.sort();
    let mut added = Vec::new();
    for name in names {
        let path = data_dir.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() || !archive::safe_relative(&name) {
            continue;
        }
        let content = std::fs::read(&path)
            .map_err(|e| BackupError::Io(format!("cannot read {}: {e}", path.display())))?;
        writer.file(&name, mode_of(&meta), &content)?;
        added.push(name);
    }
    Ok(added)
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o777
}

#[cfg(not(unix))]
fn mode_of(_meta: &std::fs::Metadata) -> u32 {
    0o600
}

/// What [`verify`] found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    /// The archive's content.
    pub summary: archive::Summary,
    /// Plaintext bytes checked.
    pub plaintext_bytes: u64,
}

/// Checks every segment of a backup file and its archive's structure, without
/// restoring anything.
///
/// # Errors
/// [`BackupError::Kms`] for wrong credentials, [`BackupError::Stream`] for tampering or
/// truncation, [`BackupError::Archive`] for a damaged archive.
pub async fn verify(file: &Path, credentials: Arc<Credentials>) -> Result<Verified, BackupError> {
    let file = file.to_owned();
    tokio::task::spawn_blocking(move || {
        let (header, key, input) = crypt::open_file(&file, &credentials)?;
        let (reader, writer) =
            std::io::pipe().map_err(|e| BackupError::Io(format!("cannot make a pipe: {e}")))?;
        let checker = std::thread::spawn(move || {
            let mut reader = reader;
            let checked = archive::check(&mut reader);
            // Keep draining so a damaged archive is reported as such, not as a pipe
            // closed under the decryptor.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            checked
        });
        let decrypted = crypt::decrypt(&header, &key, input, writer);
        let checked = checker
            .join()
            .map_err(|_| BackupError::Io("the archive checker stopped".into()))?;
        let plaintext_bytes = decrypted?;
        Ok(Verified {
            summary: checked?,
            plaintext_bytes,
        })
    })
    .await
    .map_err(|e| BackupError::Io(format!("verification stopped: {e}")))?
}
