//! Scheduled backups in a folder: naming, listing and pruning.
//!
//! Scheduled backups are named `webqx-backup-YYYYMMDDTHHMMSSZ.wqxb` (UTC), so that the
//! name sorts by time; only files with that shape are listed or ever deleted.

use crate::BackupError;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const PREFIX: &str = "webqx-backup-";
const SUFFIX: &str = ".wqxb";

/// One backup file in a folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupFile {
    /// File name.
    pub name: String,
    /// Full path.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// When it was taken (from the name), ms since the Unix epoch.
    pub created_ms: i64,
}

/// The file name for a backup taken at `ms`.
pub fn file_name(ms: i64) -> String {
    let time = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    format!("{PREFIX}{}{SUFFIX}", time.format("%Y%m%dT%H%M%S%.3fZ"))
}

fn created_of(name: &str) -> Option<i64> {
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let time = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.3fZ").ok()?;
    Some(time.and_utc().timestamp_millis())
}

/// Backups in `folder`, oldest first.
///
/// # Errors
/// [`BackupError::Io`] when the folder cannot be read.
pub fn list(folder: &Path) -> Result<Vec<BackupFile>, BackupError> {
    let entries = std::fs::read_dir(folder)
        .map_err(|e| BackupError::Io(format!("cannot read {}: {e}", folder.display())))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(created_ms) = created_of(&name) else {
            continue;
        };
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() {
            out.push(BackupFile {
                name,
                path: entry.path(),
                bytes: meta.len(),
                created_ms,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Deletes backups beyond the newest `keep` and older than `max_age` (either may be
/// unset). The newest backup is always kept. Returns the names deleted.
///
/// # Errors
/// [`BackupError::Io`] when the folder cannot be read or a file not deleted.
pub fn prune(
    folder: &Path,
    keep: Option<usize>,
    max_age: Option<Duration>,
) -> Result<Vec<String>, BackupError> {
    let files = list(folder)?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let total = files.len();
    let mut deleted = Vec::new();
    for (i, f) in files.into_iter().enumerate() {
        let newer = total - i - 1;
        if newer == 0 {
            break;
        }
        let too_many = keep.is_some_and(|k| newer >= k.max(1));
        let too_old =
            max_age.is_some_and(|age| now.saturating_sub(f.created_ms) > age.as_millis() as i64);
        if too_many || too_old {
            std::fs::remove_file(&f.path)
                .map_err(|e| BackupError::Io(format!("cannot delete {}: {e}", f.path.display())))?;
            deleted.push(f.name);
        }
    }
    Ok(deleted)
}

/// A new, randomly named temp file `.<name>.XXXX.partial` created exclusively (`O_EXCL`,
/// mode 0600) in `folder`, to be renamed to `name` when complete: a name planted in the
/// folder (a link to another file) cannot redirect the write.
///
/// # Errors
/// The I/O error of creating it.
pub fn private_temp(folder: &Path, name: &str) -> std::io::Result<tempfile::NamedTempFile> {
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".partial");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    builder.tempfile_in(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_prune_keeps_newest() {
        let dir = tempfile::tempdir().unwrap();
        let day = 86_400_000i64;
        let now = chrono::Utc::now().timestamp_millis();
        for d in 0..5 {
            std::fs::write(dir.path().join(file_name(now - d * day)), b"x").unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), b"keep me").unwrap();
        assert_eq!(
            created_of(&file_name(1_700_000_000_123)),
            Some(1_700_000_000_123)
        );
        assert_eq!(list(dir.path()).unwrap().len(), 5);
        let gone = prune(dir.path(), Some(3), None).unwrap();
        assert_eq!(gone.len(), 2);
        let gone = prune(dir.path(), None, Some(Duration::from_secs(36 * 3600))).unwrap();
        assert_eq!(gone.len(), 1);
        let left = list(dir.path()).unwrap();
        assert_eq!(left.len(), 2);
        assert!(dir.path().join("notes.txt").exists());
        let gone = prune(dir.path(), Some(0), Some(Duration::ZERO)).unwrap();
        assert_eq!(gone.len(), 1, "the newest is always kept");
    }
}
