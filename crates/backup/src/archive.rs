//! The archive inside an encrypted backup: what the stream format's plaintext is.
//!
//! ```text
//! "WQXBKUP1"                                  magic, 8 bytes
//! entry*                                      each: tag (1 byte), then its body
//!   0x01 manifest  u32 length, JSON (Manifest)         first entry, exactly once
//!   0x02 table     name (u16 length + UTF-8), u16 column count, column names
//!   0x03 row       one value per column of the open table
//!   0x04 table end u64 row count (must equal the rows seen)
//!   0x05 file      path (u16 length + UTF-8, relative, no `..`), u32 mode, u32 length, bytes
//!   0xFF end       u64 number of entries before it; nothing may follow
//! value: 0x00 null | 0x01 i64 (8 bytes, big-endian) | 0x02 text (u32 length + UTF-8)
//!        | 0x03 bytes (u32 length + bytes) | 0x04 f64 (8 bytes) | 0x05 bool (1 byte)
//! ```
//! All integers are big-endian. [`Reader`] enforces the grammar and bounds every length,
//! so a damaged or hostile archive gives an [`ArchiveError`], never a panic or an
//! unbounded allocation.

use crate::error::ArchiveError;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// First bytes of every archive.
pub const MAGIC: &[u8; 8] = b"WQXBKUP1";
const TAG_MANIFEST: u8 = 0x01;
const TAG_TABLE: u8 = 0x02;
const TAG_ROW: u8 = 0x03;
const TAG_TABLE_END: u8 = 0x04;
const TAG_FILE: u8 = 0x05;
const TAG_END: u8 = 0xFF;
/// Largest manifest, text or bytes value, or file.
pub const MAX_ITEM: usize = 64 * 1024 * 1024;
const MAX_MANIFEST: usize = 1024 * 1024;
const MAX_COLUMNS: usize = 512;

/// What the archive holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Archive layout version (1).
    pub format: u32,
    /// `sqlite` or `postgres`: where the rows came from.
    pub backend: String,
    /// Highest migration applied to the store the rows came from.
    pub schema_version: i64,
    /// When the snapshot was taken (ms since the Unix epoch).
    pub created_ms: i64,
    /// Version of the server that took it.
    pub server_version: String,
}

/// One column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// A floating-point number.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

/// One entry, as [`Reader::next_entry`] hands it out.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// The manifest (always first).
    Manifest(Manifest),
    /// A table starts: its name and columns.
    Table {
        /// Table name.
        name: String,
        /// Column names, in row order.
        columns: Vec<String>,
    },
    /// One row of the open table.
    Row(Vec<Value>),
    /// The open table ends with this many rows.
    TableEnd(u64),
    /// A data-folder file.
    File {
        /// Path relative to the data folder.
        path: String,
        /// Unix permission bits.
        mode: u32,
        /// Content.
        content: Vec<u8>,
    },
}

/// Writes an archive.
pub struct Writer<W: Write> {
    out: W,
    entries: u64,
}

impl<W: Write> Writer<W> {
    /// Starts an archive with its manifest.
    ///
    /// # Errors
    /// Write failures.
    pub fn new(mut out: W, manifest: &Manifest) -> Result<Writer<W>, ArchiveError> {
        out.write_all(MAGIC)?;
        let json = serde_json::to_vec(manifest).map_err(|e| ArchiveError::Format(e.to_string()))?;
        out.write_all(&[TAG_MANIFEST])?;
        put_u32(&mut out, json.len())?;
        out.write_all(&json)?;
        Ok(Writer { out, entries: 1 })
    }

    /// Starts a table.
    ///
    /// # Errors
    /// Write failures, or names too long.
    pub fn table(&mut self, name: &str, columns: &[String]) -> Result<(), ArchiveError> {
        self.out.write_all(&[TAG_TABLE])?;
        put_name(&mut self.out, name)?;
        put_u16(&mut self.out, columns.len())?;
        for c in columns {
            put_name(&mut self.out, c)?;
        }
        self.entries += 1;
        Ok(())
    }

    /// One row of the open table.
    ///
    /// # Errors
    /// Write failures, or a value over [`MAX_ITEM`].
    pub fn row(&mut self, values: &[Value]) -> Result<(), ArchiveError> {
        self.out.write_all(&[TAG_ROW])?;
        for v in values {
            put_value(&mut self.out, v)?;
        }
        self.entries += 1;
        Ok(())
    }

    /// Ends the open table.
    ///
    /// # Errors
    /// Write failures.
    pub fn table_end(&mut self, rows: u64) -> Result<(), ArchiveError> {
        self.out.write_all(&[TAG_TABLE_END])?;
        self.out.write_all(&rows.to_be_bytes())?;
        self.entries += 1;
        Ok(())
    }

    /// A data-folder file.
    ///
    /// # Errors
    /// Write failures, or a file over [`MAX_ITEM`].
    pub fn file(&mut self, path: &str, mode: u32, content: &[u8]) -> Result<(), ArchiveError> {
        self.out.write_all(&[TAG_FILE])?;
        put_name(&mut self.out, path)?;
        self.out.write_all(&mode.to_be_bytes())?;
        put_u32(&mut self.out, content.len())?;
        self.out.write_all(content)?;
        self.entries += 1;
        Ok(())
    }

    /// The output so far (to drain a buffer between writes).
    pub fn buffer(&mut self) -> &mut W {
        &mut self.out
    }

    /// Writes the end marker and hands back the output.
    ///
    /// # Errors
    /// Write failures.
    pub fn finish(mut self) -> Result<W, ArchiveError> {
        self.out.write_all(&[TAG_END])?;
        self.out.write_all(&self.entries.to_be_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn put_u16(out: &mut impl Write, n: usize) -> Result<(), ArchiveError> {
    let n = u16::try_from(n).map_err(|_| ArchiveError::Format("name or list too long".into()))?;
    out.write_all(&n.to_be_bytes())?;
    Ok(())
}

fn put_u32(out: &mut impl Write, n: usize) -> Result<(), ArchiveError> {
    if n > MAX_ITEM {
        return Err(ArchiveError::Format(format!(
            "a value of {n} bytes is over the archive's limit of {MAX_ITEM}"
        )));
    }
    out.write_all(&(n as u32).to_be_bytes())?;
    Ok(())
}

fn put_name(out: &mut impl Write, name: &str) -> Result<(), ArchiveError> {
    put_u16(out, name.len())?;
    out.write_all(name.as_bytes())?;
    Ok(())
}

fn put_value(out: &mut impl Write, v: &Value) -> Result<(), ArchiveError> {
    match v {
        Value::Null => out.write_all(&[0])?,
        Value::Int(n) => {
            out.write_all(&[1])?;
            out.write_all(&n.to_be_bytes())?;
        }
        Value::Text(t) => {
            out.write_all(&[2])?;
            put_u32(out, t.len())?;
            out.write_all(t.as_bytes())?;
        }
        Value::Bytes(b) => {
            out.write_all(&[3])?;
            put_u32(out, b.len())?;
            out.write_all(b)?;
        }
        Value::Float(f) => {
            out.write_all(&[4])?;
            out.write_all(&f.to_be_bytes())?;
        }
        Value::Bool(b) => out.write_all(&[5, u8::from(*b)])?,
    }
    Ok(())
}

/// Reads an archive entry by entry, checking its grammar.
pub struct Reader<R: Read> {
    input: R,
    entries: u64,
    /// Columns and rows seen of the open table.
    open: Option<(usize, u64)>,
    started: bool,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// A reader over `input` (the decrypted archive).
    pub fn new(input: R) -> Reader<R> {
        Reader {
            input,
            entries: 0,
            open: None,
            started: false,
            done: false,
        }
    }

    /// The next entry, or `None` after a valid end marker with nothing after it.
    ///
    /// # Errors
    /// [`ArchiveError`] for anything out of grammar, over a limit, or cut short.
    pub fn next_entry(&mut self) -> Result<Option<Entry>, ArchiveError> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            return self.manifest().map(Some);
        }
        let tag = self.u8()?;
        let entry = match tag {
            TAG_TABLE => self.table()?,
            TAG_ROW => self.row()?,
            TAG_TABLE_END => self.table_end()?,
            TAG_FILE => self.file()?,
            TAG_END => return self.end().map(|()| None),
            other => return Err(bad(format!("unknown entry tag {other:#04x}"))),
        };
        self.entries += 1;
        Ok(Some(entry))
    }

    fn manifest(&mut self) -> Result<Entry, ArchiveError> {
        let mut magic = [0u8; 8];
        self.exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("not a WebQx backup archive (magic differs)".into()));
        }
        if self.u8()? != TAG_MANIFEST {
            return Err(bad("the archive does not start with its manifest".into()));
        }
        let len = self.u32()?;
        if len > MAX_MANIFEST {
            return Err(bad("manifest too large".into()));
        }
        let json = self.bytes(len)?;
        let manifest: Manifest =
            serde_json::from_slice(&json).map_err(|e| bad(format!("manifest unreadable: {e}")))?;
        if manifest.format != 1 {
            return Err(bad(format!(
                "archive format {} is newer than this program; use a newer webqx-sec",
                manifest.format
            )));
        }
        self.started = true;
        self.entries = 1;
        Ok(Entry::Manifest(manifest))
    }

    fn table(&mut self) -> Result<Entry, ArchiveError> {
        if self.open.is_some() {
            return Err(bad("a table starts before the previous one ended".into()));
        }
        let name = self.name()?;
        let count = usize::from(self.u16()?);
        if count == 0 || count > MAX_COLUMNS {
            return Err(bad(format!("table {name} has {count} columns")));
        }
        let mut columns = Vec::with_capacity(count);
        for _ in 0..count {
            columns.push(self.name()?);
        }
        self.open = Some((count, 0));
        Ok(Entry::Table { name, columns })
    }

    fn row(&mut self) -> Result<Entry, ArchiveError> {
        let Some((count, rows)) = self.open else {
            return Err(bad("a row outside any table".into()));
        };
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            values.push(self.value()?);
        }
        self.open = Some((count, rows + 1));
        Ok(Entry::Row(values))
    }

    fn table_end(&mut self) -> Result<Entry, ArchiveError> {
        let Some((_, rows)) = self.open.take() else {
            return Err(bad("a table end outside any table".into()));
        };
        let said = self.u64()?;
        if said != rows {
            return Err(bad(format!(
                "a table ends saying {said} rows but holds {rows}"
            )));
        }
        Ok(Entry::TableEnd(rows))
    }

    fn file(&mut self) -> Result<Entry, ArchiveError> {
        if self.open.is_some() {
            return Err(bad("a file inside a table".into()));
        }
        let path = self.name()?;
        if !safe_relative(&path) {
            return Err(bad(format!(
                "file path {path:?} is not a plain relative path"
            )));
        }
        let mode = u32::from_be_bytes(self.array()?);
        let len = self.u32()?;
        let content = self.bytes(len)?;
        Ok(Entry::File {
            path,
            mode,
            content,
        })
    }

    fn end(&mut self) -> Result<(), ArchiveError> {
        if self.open.is_some() {
            return Err(bad("the archive ends inside a table".into()));
        }
        let said = self.u64()?;
        if said != self.entries {
            return Err(bad(format!(
                "the end marker counts {said} entries but there were {}",
                self.entries
            )));
        }
        let mut probe = [0u8; 1];
        if self.input.read(&mut probe)? != 0 {
            return Err(bad("data after the end marker".into()));
        }
        self.done = true;
        Ok(())
    }

    fn value(&mut self) -> Result<Value, ArchiveError> {
        Ok(match self.u8()? {
            0 => Value::Null,
            1 => Value::Int(i64::from_be_bytes(self.array()?)),
            2 => {
                let len = self.u32()?;
                let bytes = self.bytes(len)?;
                Value::Text(String::from_utf8(bytes).map_err(|_| bad("text is not UTF-8".into()))?)
            }
            3 => {
                let len = self.u32()?;
                Value::Bytes(self.bytes(len)?)
            }
            4 => Value::Float(f64::from_be_bytes(self.array()?)),
            5 => match self.u8()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return Err(bad("a boolean that is neither 0 nor 1".into())),
            },
            other => return Err(bad(format!("unknown value tag {other:#04x}"))),
        })
    }

    fn name(&mut self) -> Result<String, ArchiveError> {
        let len = usize::from(self.u16()?);
        let bytes = self.bytes(len)?;
        let name = String::from_utf8(bytes).map_err(|_| bad("a name is not UTF-8".into()))?;
        if name.is_empty() {
            return Err(bad("an empty name".into()));
        }
        Ok(name)
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), ArchiveError> {
        self.input.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => bad("the archive is cut short".into()),
            _ => ArchiveError::Io(e),
        })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ArchiveError> {
        let mut buf = [0u8; N];
        self.exact(&mut buf)?;
        Ok(buf)
    }

    fn u8(&mut self) -> Result<u8, ArchiveError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, ArchiveError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<usize, ArchiveError> {
        let n = u32::from_be_bytes(self.array()?) as usize;
        if n > MAX_ITEM {
            return Err(bad(format!("a length of {n} is over the limit")));
        }
        Ok(n)
    }

    fn u64(&mut self) -> Result<u64, ArchiveError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Reads `len` bytes, growing the buffer only as bytes arrive (a false length
    /// cannot make it allocate up front).
    fn bytes(&mut self, len: usize) -> Result<Vec<u8>, ArchiveError> {
        let mut out = Vec::with_capacity(len.min(64 * 1024));
        let got = (&mut self.input).take(len as u64).read_to_end(&mut out)?;
        if got != len {
            return Err(bad("the archive is cut short".into()));
        }
        Ok(out)
    }
}

fn bad(message: String) -> ArchiveError {
    ArchiveError::Format(message)
}

/// True for `a/b` paths: relative, no `.`/`..`/empty components, no backslash or NUL.
pub fn safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Reads a whole archive, checking it, and counts what it holds.
///
/// # Errors
/// [`ArchiveError`] at the first fault.
pub fn check(input: impl Read) -> Result<Summary, ArchiveError> {
    let mut reader = Reader::new(input);
    let mut summary = Summary::default();
    while let Some(entry) = reader.next_entry()? {
        match entry {
            Entry::Manifest(m) => summary.manifest = Some(m),
            Entry::Table { name, .. } => summary.tables.push((name, 0)),
            Entry::TableEnd(rows) => {
                if let Some(last) = summary.tables.last_mut() {
                    last.1 = rows;
                }
            }
            Entry::File { path, .. } => summary.files.push(path),
            Entry::Row(_) => {}
        }
    }
    Ok(summary)
}

/// What an archive holds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Summary {
    /// The manifest.
    pub manifest: Option<Manifest>,
    /// Tables and their row counts.
    pub tables: Vec<(String, u64)>,
    /// Data-folder files.
    pub files: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: 1,
            backend: "sqlite".into(),
            schema_version: 2,
            created_ms: 1,
            server_version: "0.1.0".into(),
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), &manifest()).unwrap();
        w.table("keys", &["a".into(), "b".into()]).unwrap();
        w.row(&[Value::Int(-5), Value::Text("x".into())]).unwrap();
        w.row(&[Value::Null, Value::Bytes(vec![0, 1])]).unwrap();
        w.table_end(2).unwrap();
        w.file("tls/ca.pem", 0o600, b"pem").unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let mut r = Reader::new(&bytes[..]);
        assert_eq!(r.next_entry().unwrap(), Some(Entry::Manifest(manifest())));
        assert!(matches!(r.next_entry().unwrap(), Some(Entry::Table { .. })));
        assert_eq!(
            r.next_entry().unwrap(),
            Some(Entry::Row(vec![Value::Int(-5), Value::Text("x".into())]))
        );
        let s = check(&bytes[..]).unwrap();
        assert_eq!(s.tables, vec![("keys".into(), 2)]);
        assert_eq!(s.files, vec!["tls/ca.pem".to_string()]);
    }

    #[test]
    fn every_truncation_is_refused() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            assert!(check(&bytes[..cut]).is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn appended_bytes_and_wrong_counts_are_refused() {
        let mut bytes = sample();
        bytes.push(0);
        assert!(check(&bytes[..]).is_err());
        let mut w = Writer::new(Vec::new(), &manifest()).unwrap();
        w.table("t", &["a".into()]).unwrap();
        w.row(&[Value::Int(1)]).unwrap();
        w.table_end(3).unwrap();
        assert!(check(&w.finish().unwrap()[..]).is_err());
    }

    #[test]
    fn the_fuzz_seed_is_a_valid_archive() {
        let seed = include_bytes!("../../../fuzz/seeds/backup_archive/sample.bin");
        let s = check(&seed[..]).unwrap();
        assert_eq!(s.tables, vec![("keys".into(), 2)]);
    }

    proptest::proptest! {
        /// Random edits of a valid archive never panic, and what still reads is sound.
        #[test]
        fn damaged_archives_never_panic(
            edits in proptest::collection::vec((0usize..400, proptest::num::u8::ANY), 1..8),
            cut in 0usize..400,
        ) {
            let mut bytes = sample();
            for (at, b) in edits {
                let at = at % bytes.len();
                bytes[at] = b;
            }
            let cut = cut.min(bytes.len());
            let _ = check(&bytes[..cut]);
            let _ = check(&bytes[..]);
        }

        /// Arbitrary bytes behind a valid magic and manifest never panic.
        #[test]
        fn arbitrary_entries_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut bytes = Writer::new(Vec::new(), &manifest()).unwrap().buffer().clone();
            bytes.extend_from_slice(&tail);
            let _ = check(&bytes[..]);
        }
    }

    #[test]
    fn unsafe_paths_are_refused() {
        for p in ["../x", "/etc/passwd", "a/../b", "a//b", "", "a\\b", "./a"] {
            assert!(!safe_relative(p), "{p}");
        }
        assert!(safe_relative("tls/ca.pem"));
    }
}
