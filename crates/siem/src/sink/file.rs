//! File delivery: one rendered record per line, appended, flushed to disk (fsync) after
//! each batch, rotated by size (`path` → `path.1` → … → `path.<keep>`), files 0600.
//!
//! If the file is deleted or replaced under us (its device and inode no longer match
//! the open file), every record written since that file was opened is written again
//! into a new file, so a SIEM agent reading `path` loses nothing; the engine also
//! writes a `siem.sink.file_replaced` audit record, since someone removed audit output.

use super::{DeliveryError, FileConfig, SinkConfig, SinkError};
use crate::Format;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use webqx_audit::TrailRecord;

pub(crate) struct FileSink {
    format: Format,
    config: FileConfig,
    /// `None` only while a blocking write runs (or after it panicked).
    state: Option<FileState>,
}

struct FileState {
    config: FileConfig,
    open: Option<OpenFile>,
}

struct OpenFile {
    file: File,
    dev: u64,
    ino: u64,
    size: u64,
    /// The first record we wrote into this file: where to start again if it is lost.
    first_seq: Option<i64>,
}

/// The current file was deleted or replaced.
#[derive(Debug)]
pub(crate) struct Replaced {
    /// Re-read the trail after this seq (none if we had written nothing into it).
    pub(crate) rewind_after: Option<i64>,
}

impl FileSink {
    pub(crate) fn new(sink: &SinkConfig, f: &FileConfig) -> Result<FileSink, SinkError> {
        let dir = match f.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(SinkError::Config(format!(
                "audit.sinks '{}': path: the folder {} does not exist; create it (0700) \
                 for the service's user",
                sink.name,
                dir.display()
            )));
        }
        Ok(FileSink {
            format: sink.format,
            config: f.clone(),
            state: Some(FileState {
                config: f.clone(),
                open: None,
            }),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.config.path
    }

    /// Before a batch: has the file we write been deleted or replaced?
    pub(crate) fn check(&mut self) -> Option<Replaced> {
        let state = self.state.as_mut()?;
        let open = state.open.as_ref()?;
        let same = std::fs::metadata(&state.config.path)
            .map(|m| m.dev() == open.dev && m.ino() == open.ino)
            .unwrap_or(false);
        if same {
            return None;
        }
        let rewind_after = open.first_seq.map(|s| s - 1);
        state.open = None;
        Some(Replaced { rewind_after })
    }

    pub(crate) async fn send(&mut self, batch: &[TrailRecord]) -> Result<(), DeliveryError> {
        let lines: Vec<(i64, String)> = batch
            .iter()
            .map(|r| (r.entry.seq, self.format.render(r) + "\n"))
            .collect();
        let mut state = self.state.take().unwrap_or_else(|| FileState {
            config: self.config.clone(),
            open: None,
        });
        let joined = tokio::task::spawn_blocking(move || {
            let result = state.write(&lines);
            (state, result)
        })
        .await;
        match joined {
            Ok((state, result)) => {
                self.state = Some(state);
                result.map_err(|e| {
                    DeliveryError::retry(format!(
                        "writing {} failed: {e}",
                        self.config.path.display()
                    ))
                })
            }
            Err(_) => Err(DeliveryError::retry("the file writer stopped unexpectedly")),
        }
    }
}

impl FileState {
    fn write(&mut self, lines: &[(i64, String)]) -> std::io::Result<()> {
        let mut pending: Vec<u8> = Vec::new();
        let mut first = None;
        for (seq, line) in lines {
            let len = line.len() as u64;
            let size = self.current()?.size + pending.len() as u64;
            if self.config.max_bytes > 0 && size > 0 && size + len > self.config.max_bytes {
                self.append(&pending, first.take())?;
                pending.clear();
                self.rotate()?;
            }
            first.get_or_insert(*seq);
            pending.extend_from_slice(line.as_bytes());
        }
        self.append(&pending, first)?;
        if let Some(open) = self.open.as_mut() {
            open.file.sync_data()?;
        }
        Ok(())
    }

    fn current(&mut self) -> std::io::Result<&mut OpenFile> {
        if self.open.is_none() {
            self.open = Some(open_file(&self.config.path)?);
        }
        self.open
            .as_mut()
            .ok_or_else(|| std::io::Error::other("file not open"))
    }

    /// Appends whole lines; on failure cuts the file back so no partial line remains.
    fn append(&mut self, bytes: &[u8], first: Option<i64>) -> std::io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let open = self.current()?;
        if let Err(e) = open.file.write_all(bytes) {
            let _ = open.file.set_len(open.size);
            self.open = None;
            return Err(e);
        }
        open.size += bytes.len() as u64;
        if open.first_seq.is_none() {
            open.first_seq = first;
        }
        Ok(())
    }

    /// `path.<keep-1>` → `path.<keep>`, …, `path` → `path.1`; the next write opens a new
    /// `path`.
    fn rotate(&mut self) -> std::io::Result<()> {
        if let Some(open) = self.open.take() {
            open.file.sync_data()?;
        }
        let path = &self.config.path;
        for i in (1..self.config.keep).rev() {
            match std::fs::rename(rotated(path, i), rotated(path, i + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        std::fs::rename(path, rotated(path, 1))?;
        sync_dir(path);
        Ok(())
    }
}

fn rotated(path: &Path, i: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{i}"));
    PathBuf::from(name)
}

fn open_file(path: &Path) -> std::io::Result<OpenFile> {
    // Never follow a link planted at the path: it could point the trail (and a chmod)
    // at any file the service can write.
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                std::io::Error::other(format!(
                    "{} is a symbolic link; a file sink writes only to a regular file",
                    path.display()
                ))
            } else {
                e
            }
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    if meta.len() == 0 {
        sync_dir(path);
    }
    Ok(OpenFile {
        file,
        dev: meta.dev(),
        ino: meta.ino(),
        size: meta.len(),
        first_seq: None,
    })
}

/// Makes a created or renamed entry durable (best effort: some file systems refuse).
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symbolic_link_at_the_path_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"victim content").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = dir.path().join("audit.jsonl");
        std::os::unix::fs::symlink(&victim, &path).unwrap();

        let err = open_file(&path).err().expect("refused");
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"victim content");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
