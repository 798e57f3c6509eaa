//! Following log files (`[monitor] files`): each complete line becomes an event.
//!
//! The read position is committed by the pipeline's writer together with the alerts the
//! line's event raised (see [`super::Mark`]), so after a crash the file is read again
//! from the last committed line: nothing is lost and nothing is fed twice. A line the
//! queue refuses is not skipped: the follower waits and offers it again.
//!
//! Rotation: when the path names a new file (rename and create), the old file is read to
//! its end first, then the new one from its start; a file that shrank (truncation) is
//! read again from its start. When the server was down across a rotation, the rotated
//! file is looked for beside the path (same name with a suffix, such as `app.log.1`) by
//! its device and inode, and its rest is read first. A file seen for the first time is
//! read from its start.
//!
//! Rotated more than once before the follower looked again (or while the server was
//! down): the files in between are the rotated siblings created after the file being
//! left (by birth time, or last write where the file system keeps no birth time); each
//! is read whole, oldest first, before the file the path names. Compressed siblings
//! (`.gz`, `.bz2`, `.xz`, `.zst`, `.lz4`, `.Z`) are not read.

use super::{Item, Mark, Monitor, Refused, alerts, event};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use webqx_store::Store;

/// Bytes read at a time.
const CHUNK: usize = 64 * 1024;

struct Open {
    file: File,
    dev: i64,
    inode: i64,
    offset: u64,
    /// Bytes read but not yet a complete line.
    pending: Vec<u8>,
}

fn ids(meta: &std::fs::Metadata) -> (i64, i64) {
    (
        i64::try_from(meta.dev()).unwrap_or(i64::MAX),
        i64::try_from(meta.ino()).unwrap_or(i64::MAX),
    )
}

fn open_at(path: &Path, offset: u64) -> std::io::Result<Open> {
    let mut file = File::open(path)?;
    let (dev, inode) = ids(&file.metadata()?);
    file.seek(SeekFrom::Start(offset))?;
    Ok(Open {
        file,
        dev,
        inode,
        offset,
        pending: Vec::new(),
    })
}

/// Rotated files beside `path`: same name with a suffix, not compressed.
fn siblings(path: &Path) -> Vec<(PathBuf, std::fs::Metadata)> {
    const COMPRESSED: &[&str] = &[".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z"];
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n != name && n.starts_with(name) && !COMPRESSED.iter().any(|c| n.ends_with(c))
            })
        })
        .filter_map(|e| Some((e.path(), e.metadata().ok().filter(|m| m.is_file())?)))
        .collect()
}

/// A rotated file beside `path` with the given device and inode.
fn rotated_sibling(path: &Path, dev: i64, inode: i64) -> Option<PathBuf> {
    siblings(path)
        .into_iter()
        .find(|(_, m)| ids(m) == (dev, inode))
        .map(|(p, _)| p)
}

/// When a file came to be: its birth time, or its last write where the file system
/// keeps no birth time.
fn born(meta: &std::fs::Metadata) -> Option<SystemTime> {
    meta.created().or_else(|_| meta.modified()).ok()
}

/// Rotated siblings created after `left` (the file being left) other than `next` (the
/// file the path names now): files rotated in between, oldest first, opened at their
/// start.
fn rotated_between(path: &Path, left: &Open, next: &Open, key: &str) -> VecDeque<Open> {
    let Some(since) = left.file.metadata().ok().as_ref().and_then(born) else {
        return VecDeque::new();
    };
    let mut between: Vec<(SystemTime, PathBuf)> = siblings(path)
        .into_iter()
        .filter(|(_, m)| {
            let id = ids(m);
            id != (left.dev, left.inode) && id != (next.dev, next.inode)
        })
        .filter_map(|(p, m)| born(&m).filter(|t| *t > since).map(|t| (t, p)))
        .collect();
    between.sort();
    between
        .into_iter()
        .filter_map(|(_, p)| {
            tracing::info!(file = %key, rotated = %p.display(), "reading a file rotated in between");
            open_at(&p, 0).ok()
        })
        .collect()
}

/// Follows one file until the task is aborted.
pub async fn follow(
    monitor: Monitor,
    store: Store,
    path: PathBuf,
    every: Duration,
    max_line: usize,
) {
    let key = path.display().to_string();
    let mut reader = event::LineReader::new(&format!("file:{key}"));
    // Files rotated in between, still to read before the one the path names (last).
    let mut waiting: VecDeque<Open> = VecDeque::new();
    let mut current = loop {
        match start(&store, &path, &key).await {
            Ok(open) => break open,
            Err(e) => {
                tracing::debug!(file = %key, error = %e, "monitored file not readable yet");
                tokio::time::sleep(every).await;
            }
        }
    };
    loop {
        match read_lines(&monitor, &mut current, &key, &mut reader, max_line) {
            Ok(true) => {}
            Ok(false) => {
                // Queue full: offer the same line again after a pause.
                tokio::time::sleep(every).await;
                continue;
            }
            Err(Stop) => return,
        }
        if !waiting.is_empty() {
            // A file rotated in between, read to its end: on to the next one.
            match flush_partial(&monitor, &mut current, &key, &mut reader) {
                Ok(true) => {}
                Ok(false) => {
                    tokio::time::sleep(every).await;
                    continue;
                }
                Err(Stop) => return,
            }
            if let Some(next) = waiting.pop_front() {
                current = next;
            }
            continue;
        }
        if let Some(next) = check_rotation(&path, &current, &key) {
            // Rotated: the old file's last line may lack its newline; it is a line.
            // (Truncated: what was pending is gone with the old content.)
            if (next.dev, next.inode) != (current.dev, current.inode) {
                match flush_partial(&monitor, &mut current, &key, &mut reader) {
                    Ok(true) => {}
                    Ok(false) => {
                        tokio::time::sleep(every).await;
                        continue;
                    }
                    Err(Stop) => return,
                }
                waiting = rotated_between(&path, &current, &next, &key);
                if let Some(first) = waiting.pop_front() {
                    waiting.push_back(next);
                    current = first;
                    continue;
                }
            }
            current = next;
            continue;
        }
        tokio::time::sleep(every).await;
    }
}

/// Opens the file where the committed position says, reading a file rotated while the
/// server was down first.
async fn start(store: &Store, path: &Path, key: &str) -> std::io::Result<Open> {
    let saved = alerts::position(store, key)
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let meta = std::fs::metadata(path)?;
    let (dev, inode) = ids(&meta);
    let Some(saved) = saved else {
        return open_at(path, 0);
    };
    let offset = u64::try_from(saved.offset).unwrap_or(0);
    if (saved.dev, saved.inode) == (dev, inode) {
        let offset = if offset > meta.len() { 0 } else { offset };
        return open_at(path, offset);
    }
    if let Some(old) = rotated_sibling(path, saved.dev, saved.inode) {
        tracing::info!(file = %key, rotated = %old.display(), "reading the rest of a file rotated while stopped");
        return open_at(&old, offset);
    }
    tracing::warn!(file = %key, "the file was replaced while stopped and the old one is gone; reading the new one from its start");
    open_at(path, 0)
}

/// The monitor is gone (shutdown).
struct Stop;

/// Reads and queues complete lines. `Ok(false)` when the queue was full (the offset
/// stays before the refused line).
fn read_lines(
    monitor: &Monitor,
    f: &mut Open,
    key: &str,
    reader: &mut event::LineReader,
    max_line: usize,
) -> Result<bool, Stop> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match f.file.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(file = %key, error = %e, "reading a monitored file failed");
                return Ok(true);
            }
        };
        f.pending
            .extend_from_slice(buf.get(..n).unwrap_or_default());
        let mut start = 0;
        while let Some(len) = line_len(f.pending.get(start..).unwrap_or_default(), max_line) {
            let raw = f.pending.get(start..start + len).unwrap_or_default();
            let end = f.offset + (start + len) as u64;
            let item = Item {
                event: line_event(raw, reader),
                mark: Some(Mark {
                    path: key.to_owned(),
                    dev: f.dev,
                    inode: f.inode,
                    offset: i64::try_from(end).unwrap_or(i64::MAX),
                }),
            };
            match monitor.offer_or_keep(reader.input(), item) {
                Ok(()) => start += len,
                Err(Refused::Full(_)) => {
                    rewind(f, start);
                    return Ok(false);
                }
                Err(Refused::Closed) => return Err(Stop),
            }
        }
        f.offset += start as u64;
        f.pending.drain(..start);
    }
}

/// Queues the unterminated last line of a file being left. `Ok(false)` when the queue
/// was full (it stays pending).
fn flush_partial(
    monitor: &Monitor,
    f: &mut Open,
    key: &str,
    reader: &mut event::LineReader,
) -> Result<bool, Stop> {
    if f.pending.is_empty() {
        return Ok(true);
    }
    let end = f.offset + f.pending.len() as u64;
    let item = Item {
        event: line_event(&f.pending, reader),
        mark: Some(Mark {
            path: key.to_owned(),
            dev: f.dev,
            inode: f.inode,
            offset: i64::try_from(end).unwrap_or(i64::MAX),
        }),
    };
    match monitor.offer_or_keep(reader.input(), item) {
        Ok(()) => {
            f.offset = end;
            f.pending.clear();
            Ok(true)
        }
        Err(Refused::Full(_)) => Ok(false),
        Err(Refused::Closed) => Err(Stop),
    }
}

/// Forgets what was read after `consumed` bytes of `pending` and seeks back there.
fn rewind(f: &mut Open, consumed: usize) {
    f.offset += consumed as u64;
    f.pending.clear();
    let _ = f.file.seek(SeekFrom::Start(f.offset));
}

/// Length of the first line (with its newline), or of `max` bytes when no newline
/// comes within them (an over-long line is cut); `None` for an incomplete line.
fn line_len(bytes: &[u8], max: usize) -> Option<usize> {
    match bytes.iter().take(max).position(|b| *b == b'\n') {
        Some(i) => Some(i + 1),
        None if bytes.len() >= max => Some(max),
        None => None,
    }
}

/// The line's event (`None` for a blank line or one the normalizer refuses).
fn line_event(raw: &[u8], reader: &mut event::LineReader) -> Option<serde_json::Value> {
    reader.line(raw)
}

/// After reading to the end: the new file when the path was rotated, or the same file
/// from its start when it was truncated.
fn check_rotation(path: &Path, f: &Open, key: &str) -> Option<Open> {
    let meta = std::fs::metadata(path).ok()?;
    if ids(&meta) != (f.dev, f.inode) {
        tracing::info!(file = %key, "monitored file rotated; following the new file");
        return open_at(path, 0).ok();
    }
    if meta.len() < f.offset {
        tracing::info!(file = %key, "monitored file truncated; reading it from its start");
        return open_at(path, 0).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_newlines_or_the_maximum() {
        assert_eq!(line_len(b"ab\ncd", 10), Some(3));
        assert_eq!(line_len(b"abcd", 10), None);
        assert_eq!(line_len(b"abcdefghijkl", 4), Some(4));
        assert_eq!(line_len(b"", 4), None);
        let mut r = event::LineReader::new("file:f");
        assert!(line_event(b"  \r\n", &mut r).is_none());
        assert_eq!(line_event(b"x\r\n", &mut r).unwrap()["message"], "x");
    }
}
