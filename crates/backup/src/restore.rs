//! Rebuilding a data folder (and store) from a backup.
//!
//! The restore builds a new folder beside the target (`DIR.restoring-…`), fills the
//! store there (SQLite) or in the given PostgreSQL schema inside one transaction, and
//! only when every segment decrypted, the archive ended properly and the transaction
//! committed does it rename the folder into place. A failure leaves the target as it was.

use crate::archive::{Entry, Manifest, Reader, Value};
use crate::snapshot::{self, ColumnKind, TableShape};
use crate::{BackupError, Credentials, crypt};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;
use webqx_store::{Backend, Store, StoreConfig};

/// Where to restore.
#[derive(Debug, Clone)]
pub struct RestoreTarget {
    /// Data folder to create (empty or absent unless `force`).
    pub data_dir: PathBuf,
    /// PostgreSQL store to fill (its schema empty unless `force`); `None` restores
    /// into `DATA/store.db`.
    pub postgres: Option<StoreConfig>,
    /// Replace a non-empty data folder (moved aside, not deleted) or schema.
    pub force: bool,
}

/// What [`restore`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RestoreReport {
    /// The backup's manifest.
    pub manifest: Manifest,
    /// Tables and rows restored.
    pub tables: Vec<(String, u64)>,
    /// Files written into the data folder.
    pub files: Vec<String>,
    /// Where a replaced data folder was moved, with `force`.
    pub moved_aside: Option<PathBuf>,
}

/// Restores `file` into `target`, opening it with `credentials`.
///
/// # Errors
/// [`BackupError::Refused`] for a non-empty target without `force` or a backup from a
/// newer schema; credential, tamper and storage errors as for [`crate::verify`].
pub async fn restore(
    file: &Path,
    credentials: Arc<Credentials>,
    target: &RestoreTarget,
) -> Result<RestoreReport, BackupError> {
    let target = RestoreTarget {
        data_dir: resolve_target(&target.data_dir)?,
        ..target.clone()
    };
    check_resolved(&target)?;
    let staging = staging_dir(&target.data_dir)?;
    let result = restore_into(file, credentials, &target, &staging).await;
    finish(&staging, &target, result)
}

/// Moves the staging folder into place after a successful restore; after any failure
/// (of the restore or of the move) removes it, since it holds a full copy of the
/// service (store, tokens, TLS key).
fn finish(
    staging: &Path,
    target: &RestoreTarget,
    result: Result<RestoreReport, BackupError>,
) -> Result<RestoreReport, BackupError> {
    let result = result.and_then(|mut report| {
        report.moved_aside = put_in_place(staging, &target.data_dir, target.force)?;
        Ok(report)
    });
    if result.is_err()
        && let Err(e) = std::fs::remove_dir_all(staging)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(folder = %staging.display(), error = %e,
            "could not remove the restore staging folder; delete it by hand");
    }
    result
}

/// The target as an absolute path with its links resolved (so `--data-dir .` or a
/// link stages beside the real folder, never inside it).
fn resolve_target(dir: &Path) -> Result<PathBuf, BackupError> {
    let io = |e: std::io::Error| {
        BackupError::Refused(format!(
            "cannot resolve the data folder {}: {e}; name a new or empty folder you may write",
            dir.display()
        ))
    };
    if std::fs::symlink_metadata(dir).is_ok() {
        return std::fs::canonicalize(dir).map_err(io);
    }
    let Some(name) = dir.file_name() else {
        return Err(BackupError::Refused(format!(
            "{} does not name a folder; give --data-dir a folder name such as ./data",
            dir.display()
        )));
    };
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.exists() {
        Ok(std::fs::canonicalize(parent).map_err(io)?.join(name))
    } else {
        std::path::absolute(dir).map_err(io)
    }
}

/// Checks the target folder before anything is decrypted: absent, or an empty
/// readable folder, or (with `force`) a readable folder.
///
/// # Errors
/// [`BackupError::Refused`] for a non-folder, an unreadable folder, or a non-empty
/// folder without `force`.
pub fn check_target(target: &RestoreTarget) -> Result<(), BackupError> {
    check_resolved(&RestoreTarget {
        data_dir: resolve_target(&target.data_dir)?,
        ..target.clone()
    })
}

fn check_resolved(target: &RestoreTarget) -> Result<(), BackupError> {
    let dir = &target.data_dir;
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(BackupError::Refused(format!(
                "cannot check the data folder {}: {e}; restore into a new or empty folder \
                 you may read and write",
                dir.display()
            )));
        }
    };
    if !meta.is_dir() {
        return Err(BackupError::Refused(format!(
            "{} is not a folder; give --data-dir a new or empty folder",
            dir.display()
        )));
    }
    let non_empty = std::fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .map_err(|e| {
            BackupError::Refused(format!(
                "cannot read the data folder {}: {e}; fix its permissions (the restoring \
                 user must read and write it) or restore into a new folder",
                dir.display()
            ))
        })?;
    if non_empty && !target.force {
        return Err(BackupError::Refused(format!(
            "{} is not empty; restore into an empty or new folder, or pass --force to move \
             the current one aside",
            dir.display()
        )));
    }
    Ok(())
}

fn staging_dir(data_dir: &Path) -> Result<PathBuf, BackupError> {
    let name = data_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let parent = data_dir.parent().unwrap_or(Path::new("."));
    let staging = parent.join(format!(".{name}.restoring-{}", webqx_store::now_ms()));
    create_private_dir(&staging)?;
    Ok(staging)
}

fn put_in_place(staging: &Path, dir: &Path, force: bool) -> Result<Option<PathBuf>, BackupError> {
    let io = |what: &str, e: std::io::Error| BackupError::Io(format!("{what}: {e}"));
    let mut moved = None;
    let mut removed_empty = false;
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .map_err(|e| io("cannot read the data folder", e))?
            .next()
            .is_none();
        if empty {
            std::fs::remove_dir(dir).map_err(|e| io("cannot replace the empty folder", e))?;
            removed_empty = true;
        } else if force {
            let aside = dir.with_extension(format!("replaced-{}", webqx_store::now_ms()));
            std::fs::rename(dir, &aside).map_err(|e| io("cannot move the old folder aside", e))?;
            moved = Some(aside);
        }
    }
    if let Err(e) = std::fs::rename(staging, dir) {
        // Put the old folder back: a failure leaves the target as it was.
        if let Some(aside) = &moved {
            let _ = std::fs::rename(aside, dir);
        } else if removed_empty {
            let _ = create_private_dir(dir);
        }
        return Err(io(
            &format!("cannot move the restored folder to {}", dir.display()),
            e,
        ));
    }
    Ok(moved)
}

async fn restore_into(
    file: &Path,
    credentials: Arc<Credentials>,
    target: &RestoreTarget,
    staging: &Path,
) -> Result<RestoreReport, BackupError> {
    let config = match &target.postgres {
        Some(pg) => pg.clone(),
        None => StoreConfig::sqlite(&staging.join("store.db")),
    };
    let store = Store::open(&config).await?;
    let mut result = fill(&store, file, credentials, target.force, staging).await;
    if let Ok(report) = &result
        && let Err(e) = audit_restore(&store, file, report).await
    {
        result = Err(e);
    }
    if store.backend() == Backend::Sqlite {
        let _ = sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(store.pool())
            .await;
    }
    store.close().await;
    result
}

/// Appends `backup.restore` to the restored trail, so the trail itself says where its
/// history was cut and rebuilt.
async fn audit_restore(
    store: &Store,
    file: &Path,
    report: &RestoreReport,
) -> Result<(), BackupError> {
    let audit = webqx_audit::AuditLog::start(store.clone());
    let mut rec = webqx_audit::RequestContext::internal("restore").record("backup.restore", None);
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
    rec.detail("file", name.unwrap_or_default());
    rec.detail("backup_created_ms", report.manifest.created_ms);
    rec.detail("backend_from", report.manifest.backend.clone());
    rec.detail("tables", report.tables.len());
    audit.record(rec).await?;
    Ok(())
}

async fn fill(
    store: &Store,
    file: &Path,
    credentials: Arc<Credentials>,
    force: bool,
    staging: &Path,
) -> Result<RestoreReport, BackupError> {
    let (tx, mut rx) = mpsc::channel::<Entry>(256);
    let file = file.to_owned();
    let reading = tokio::task::spawn_blocking(move || read_entries(&file, &credentials, tx));

    let mut conn = store.pool().acquire().await?;
    sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
    let applied = apply(&mut conn, store.backend(), &mut rx, force, staging).await;
    // Drain so the reader finishes (and reports a tamper) even after an apply error.
    while rx.recv().await.is_some() {}
    let read = reading
        .await
        .map_err(|e| BackupError::Io(format!("the backup reader stopped: {e}")))?;
    match (read, applied) {
        (Ok(()), Ok(report)) => {
            sqlx::raw_sql("COMMIT").execute(&mut *conn).await?;
            Ok(report)
        }
        (Err(e), _) | (Ok(()), Err(e)) => {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await;
            Err(e)
        }
    }
}

/// Decrypts and parses on blocking threads, handing entries over.
fn read_entries(
    file: &Path,
    credentials: &Credentials,
    tx: mpsc::Sender<Entry>,
) -> Result<(), BackupError> {
    let (header, key, input) = crypt::open_file(file, credentials)?;
    let (reader, writer) =
        std::io::pipe().map_err(|e| BackupError::Io(format!("cannot make a pipe: {e}")))?;
    let parser = std::thread::spawn(move || {
        let mut reader = Reader::new(reader);
        let result = loop {
            match reader.next_entry() {
                Ok(Some(entry)) => {
                    if tx.blocking_send(entry).is_err() {
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        drop(tx);
        result
    });
    let decrypted = crypt::decrypt(&header, &key, input, writer);
    let parsed = parser
        .join()
        .map_err(|_| BackupError::Io("the archive reader stopped".into()))?;
    decrypted?;
    parsed?;
    Ok(())
}

async fn apply(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    rx: &mut mpsc::Receiver<Entry>,
    force: bool,
    staging: &Path,
) -> Result<RestoreReport, BackupError> {
    let shapes: HashMap<String, TableShape> = snapshot::tables(conn, backend)
        .await?
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect();
    let Some(Entry::Manifest(manifest)) = rx.recv().await else {
        return Err(BackupError::Refused("the backup holds no manifest".into()));
    };
    check_schema(conn, &manifest).await?;
    check_empty(conn, force).await?;
    let mut report = RestoreReport {
        manifest,
        tables: Vec::new(),
        files: Vec::new(),
        moved_aside: None,
    };
    let mut open: Option<OpenTable> = None;
    while let Some(entry) = rx.recv().await {
        match entry {
            Entry::Table { name, columns } => {
                let shape = shapes.get(&name).ok_or_else(|| {
                    BackupError::Refused(format!(
                        "the backup has table {name}, which this version's schema lacks"
                    ))
                })?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {}",
                    snapshot::quoted(&name)?
                )))
                .execute(&mut *conn)
                .await?;
                let (kinds, sql) = insert_for(shape, &columns)?;
                open = Some(OpenTable { name, kinds, sql });
            }
            Entry::Row(values) => {
                let Some(t) = &open else {
                    return Err(BackupError::Refused("a row outside a table".into()));
                };
                insert(conn, &t.sql, &t.kinds, values).await?;
            }
            Entry::TableEnd(rows) => {
                if let Some(t) = open.take() {
                    report.tables.push((t.name, rows));
                }
            }
            Entry::File {
                path,
                mode,
                content,
            } => {
                write_file(staging, &path, mode, &content)?;
                report.files.push(path);
            }
            Entry::Manifest(_) => {
                return Err(BackupError::Refused("a second manifest".into()));
            }
        }
    }
    Ok(report)
}

async fn check_schema(
    conn: &mut sqlx::AnyConnection,
    manifest: &Manifest,
) -> Result<(), BackupError> {
    let ours = snapshot::schema_version(conn).await?;
    if manifest.schema_version > ours {
        return Err(BackupError::Refused(format!(
            "this backup is of schema version {}, newer than this program's {ours}; restore \
             with webqx-sec {} or newer",
            manifest.schema_version, manifest.server_version
        )));
    }
    Ok(())
}

async fn check_empty(conn: &mut sqlx::AnyConnection, force: bool) -> Result<(), BackupError> {
    let used: Option<i64> = sqlx::query_scalar("SELECT 1 FROM seal WHERE id = 1")
        .fetch_optional(&mut *conn)
        .await?;
    if used.is_some() && !force {
        return Err(BackupError::Refused(
            "the target store already holds an initialized service; restore into a new schema, \
             or pass --force to replace its content"
                .into(),
        ));
    }
    Ok(())
}

/// The table being restored: its name, the kinds of the backup's columns in the
/// target, and the INSERT for them.
struct OpenTable {
    name: String,
    kinds: Vec<ColumnKind>,
    sql: String,
}

/// The INSERT for the backup's columns, and where each lands in the target's shape.
fn insert_for(
    shape: &TableShape,
    columns: &[String],
) -> Result<(Vec<ColumnKind>, String), BackupError> {
    let mut kinds = Vec::with_capacity(columns.len());
    let mut names = Vec::with_capacity(columns.len());
    let mut marks = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        let kind = shape
            .columns
            .iter()
            .find(|(n, _)| n == c)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                BackupError::Refused(format!(
                    "the backup has column {}.{c}, which this version's schema lacks",
                    shape.name
                ))
            })?;
        kinds.push(kind);
        names.push(snapshot::quoted(c)?);
        marks.push(format!("${}", i + 1));
    }
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        snapshot::quoted(&shape.name)?,
        names.join(", "),
        marks.join(", ")
    );
    Ok((kinds, sql))
}

async fn insert(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    kinds: &[ColumnKind],
    values: Vec<Value>,
) -> Result<(), BackupError> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    if kinds.len() != values.len() {
        return Err(BackupError::Refused(
            "a row with the wrong number of values".into(),
        ));
    }
    for (kind, value) in kinds.iter().zip(values) {
        q = match (kind, value) {
            (ColumnKind::Int, Value::Null) => q.bind(None::<i64>),
            (ColumnKind::Text, Value::Null) => q.bind(None::<String>),
            (ColumnKind::Bytes, Value::Null) => q.bind(None::<Vec<u8>>),
            (ColumnKind::Float, Value::Null) => q.bind(None::<f64>),
            (ColumnKind::Bool, Value::Null) => q.bind(None::<bool>),
            (ColumnKind::Int, Value::Int(n)) => q.bind(n),
            (ColumnKind::Text, Value::Text(t)) => q.bind(t),
            (ColumnKind::Bytes, Value::Bytes(b)) => q.bind(b),
            (ColumnKind::Float, Value::Float(f)) => q.bind(f),
            (ColumnKind::Bool, Value::Bool(b)) => q.bind(b),
            // SQLite may hold a boolean as an integer.
            (ColumnKind::Bool, Value::Int(n)) => q.bind(n != 0),
            (ColumnKind::Int, Value::Bool(b)) => q.bind(i64::from(b)),
            (kind, _) => {
                return Err(BackupError::Refused(format!(
                    "a value in the backup does not fit its column ({kind:?})"
                )));
            }
        };
    }
    q.execute(&mut *conn).await?;
    Ok(())
}

fn write_file(root: &Path, rel: &str, mode: u32, content: &[u8]) -> Result<(), BackupError> {
    if !crate::archive::safe_relative(rel) {
        return Err(BackupError::Refused(format!(
            "unsafe path {rel:?} in the backup"
        )));
    }
    let path = root.join(rel);
    if let Some(parent) = path.parent()
        && !parent.exists()
    {
        create_private_dir(parent)?;
    }
    write_private(&path, mode, content)
}

#[cfg(unix)]
fn create_private_dir(path: &Path) -> Result<(), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> Result<(), BackupError> {
    std::fs::create_dir_all(path)
        .map_err(|e| BackupError::Io(format!("cannot create {}: {e}", path.display())))
}

#[cfg(unix)]
fn write_private(path: &Path, mode: u32, content: &[u8]) -> Result<(), BackupError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // Owner-only, whatever the original was: the data folder's rule.
    let _ = mode;
    let mode = 0o600;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(content).map(|()| f))
        .map_err(|e| BackupError::Io(format!("cannot write {}: {e}", path.display())))?;
    f.flush()
        .map_err(|e| BackupError::Io(format!("cannot write {}: {e}", path.display())))
}

#[cfg(not(unix))]
fn write_private(path: &Path, _mode: u32, content: &[u8]) -> Result<(), BackupError> {
    std::fs::write(path, content)
        .map_err(|e| BackupError::Io(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: 1,
            backend: "sqlite".into(),
            schema_version: 1,
            created_ms: 0,
            server_version: "0".into(),
        }
    }

    #[test]
    fn a_failed_move_into_place_removes_the_staging_folder() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(".data.restoring-1");
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join("admin.token"), "secret").unwrap();
        // A regular file where the folder should go: the move fails.
        let target_path = dir.path().join("data");
        std::fs::write(&target_path, "not a folder").unwrap();
        let target = RestoreTarget {
            data_dir: target_path.clone(),
            postgres: None,
            force: false,
        };
        let report = RestoreReport {
            manifest: manifest(),
            tables: vec![],
            files: vec![],
            moved_aside: None,
        };
        let e = finish(&staging, &target, Ok(report)).unwrap_err();
        assert!(matches!(e, BackupError::Io(_)), "{e}");
        assert!(!staging.exists(), "the staging folder was left behind");
        assert_eq!(std::fs::read(&target_path).unwrap(), b"not a folder");
    }

    #[test]
    fn a_failed_restore_removes_the_staging_folder() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join(".data.restoring-2");
        std::fs::create_dir_all(staging.join("tls")).unwrap();
        let target = RestoreTarget {
            data_dir: dir.path().join("data"),
            postgres: None,
            force: false,
        };
        let e = finish(&staging, &target, Err(BackupError::Stream("cut".into()))).unwrap_err();
        assert!(matches!(e, BackupError::Stream(_)), "{e}");
        assert!(!staging.exists());
        assert!(!target.data_dir.exists());
    }

    #[test]
    fn a_file_named_as_the_data_folder_is_refused_before_decrypting() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        std::fs::write(&file, "x").unwrap();
        let target = RestoreTarget {
            data_dir: file,
            postgres: None,
            force: true,
        };
        let e = check_target(&target).unwrap_err();
        assert!(e.to_string().contains("is not a folder"), "{e}");
    }

    #[test]
    fn the_current_folder_resolves_to_its_real_path() {
        let here = resolve_target(Path::new(".")).unwrap();
        assert!(here.is_absolute());
        assert_eq!(here, std::fs::canonicalize(".").unwrap());
        let staging_parent = here.parent().unwrap();
        assert_ne!(staging_parent, here.as_path());
    }
}
