//! The local advisory database: one file, `vuln.db`, in a directory.
//!
//! # Where
//! [`default_dir`]: `$WEBQX_VULN_DB`, else `$XDG_DATA_HOME/webqx-sec/vuln`, else
//! `~/.local/share/webqx-sec/vuln`.
//!
//! # Format
//! A first line `WEBQX-VULN-DB 1`, a second line holding a JSON header (import time,
//! counts, and where each section lies), then one JSON section per ecosystem (plus
//! `other` for advisories of ecosystems this crate does not read). Each section holds
//! compact [`Record`]s: what matching and reports need, without the long `details`.
//! A scan of a Cargo.lock reads the header and the `crates.io` section only
//! ([`Db::open_for`]); an advisory that affects several ecosystems is in each of their
//! sections.
//!
//! # Writing
//! [`Db::save`] writes a temporary file in the same directory, flushes it to disk,
//! renames it over `vuln.db` and flushes the directory: a crash leaves either the old
//! database or the new one, never a mix. [`Db::import_locked`] holds an exclusive lock
//! on `vuln.db.lock` while it re-reads, merges and saves, so two imports at once (two
//! processes, or two nodes sharing the folder) both land: neither overwrites the other's
//! records. Readers take no lock: they see the old file or the new one.
//!
//! # Import
//! Incremental by id and `modified`: a record with a later `modified` replaces the
//! stored one (updated), an unknown id is added, the same `modified` is unchanged and
//! an earlier one is skipped. Withdrawn records are kept (and counted) but never
//! matched.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::matching::normalize_name;
use crate::osv::{self, Advisory, LoadError, Range, Severity};
use crate::package::Ecosystem;

/// Days after which [`Status::stale`] is set unless told otherwise.
pub const DEFAULT_MAX_AGE_DAYS: i64 = 7;

/// The database file's name inside its directory.
pub const FILE_NAME: &str = "vuln.db";
/// The lock file imports hold (exclusively) while they merge and save.
pub const LOCK_NAME: &str = "vuln.db.lock";
const MAGIC: &str = "WEBQX-VULN-DB 1";
const MAX_HEADER: u64 = 1024 * 1024;
const MAX_DB: u64 = 4 * 1024 * 1024 * 1024;
/// The section of advisories whose packages are in no ecosystem this crate reads.
const OTHER: &str = "other";
/// Longest summary kept, in characters.
const MAX_SUMMARY: usize = 240;

/// A database error.
#[derive(Debug)]
#[non_exhaustive]
pub enum DbError {
    /// No database in this directory.
    Missing(PathBuf),
    /// The file exists but is not a database this version can read.
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Reading or writing failed.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// No directory given and neither `HOME` nor `XDG_DATA_HOME` is set.
    NoDirectory,
    /// The database was opened for some ecosystems only and cannot be saved.
    Partial,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Missing(p) => write!(
                f,
                "no advisory database in {}; import one first (webqx-sec vuln db import PATH)",
                p.display()
            ),
            DbError::Corrupt { path, why } => write!(
                f,
                "{} is not a readable advisory database ({why}); import again to rebuild it",
                path.display()
            ),
            DbError::Io { path, source } => {
                write!(
                    f,
                    "cannot read or write {}: {source}; check permissions and space",
                    path.display()
                )
            }
            DbError::NoDirectory => {
                f.write_str("no database directory: set WEBQX_VULN_DB, XDG_DATA_HOME or HOME")
            }
            DbError::Partial => f.write_str(
                "this database was opened for some ecosystems only; open it whole to change it",
            ),
        }
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DbError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The default database directory (see the module documentation).
///
/// # Errors
/// [`DbError::NoDirectory`] when no variable says where.
pub fn default_dir() -> Result<PathBuf, DbError> {
    dir_from(|k| std::env::var_os(k))
}

fn dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<PathBuf, DbError> {
    let set = |k: &str| var(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(p) = set("WEBQX_VULN_DB") {
        return Ok(p);
    }
    if let Some(p) = set("XDG_DATA_HOME") {
        return Ok(p.join("webqx-sec").join("vuln"));
    }
    set("HOME")
        .map(|h| h.join(".local/share/webqx-sec/vuln"))
        .ok_or(DbError::NoDirectory)
}

/// One affected package of a stored advisory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordAffected {
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The name, normalized ([`normalize_name`]).
    pub name: String,
    /// The ranges (`GIT` ranges kept only as a count in matching).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    /// Explicitly listed versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// RustSec's informational kind (`unmaintained`, `unsound`, `notice`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub informational: Option<String>,
    /// Per-package severity, when given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
}

/// An advisory as the database keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The id.
    pub id: String,
    /// Other ids of the same vulnerability.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// RFC 3339 time of the last change.
    pub modified: String,
    /// RFC 3339 time of withdrawal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// The summary, or the first line of the details, shortened.
    #[serde(default)]
    pub summary: String,
    /// Severity scores.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// The first `ADVISORY` reference (else the first reference).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Affected packages in ecosystems this crate reads.
    #[serde(default)]
    pub affected: Vec<RecordAffected>,
}

impl Record {
    /// The compact form of an OSV record. Affected entries of ecosystems this crate
    /// does not read are dropped.
    pub fn from_osv(adv: &Advisory) -> Record {
        let summary = adv
            .summary
            .as_deref()
            .filter(|s| !s.trim().is_empty())
            .or_else(|| {
                adv.details
                    .as_deref()
                    .and_then(|d| d.lines().find(|l| !l.trim().is_empty()))
            })
            .unwrap_or("")
            .trim();
        let summary: String = summary.chars().take(MAX_SUMMARY).collect();
        let url = adv
            .references
            .iter()
            .find(|r| r.kind == "ADVISORY")
            .or_else(|| adv.references.first())
            .map(|r| r.url.clone());
        let affected = adv
            .affected
            .iter()
            .filter_map(|a| {
                let pkg = a.package.as_ref()?;
                let ecosystem = Ecosystem::from_osv_name(&pkg.ecosystem)?;
                Some(RecordAffected {
                    ecosystem,
                    name: normalize_name(ecosystem, &pkg.name),
                    ranges: a.ranges.clone(),
                    versions: a.versions.clone(),
                    informational: a.informational().map(str::to_owned),
                    severity: a.severity.clone(),
                })
            })
            .collect();
        Record {
            id: adv.id.clone(),
            aliases: adv.aliases.clone(),
            modified: adv.modified.clone(),
            withdrawn: adv.withdrawn.clone(),
            summary,
            severity: adv.severity.clone(),
            url,
            affected,
        }
    }

    /// Whether every affected entry is an informational notice (and there is one).
    pub fn informational(&self) -> Option<&str> {
        let mut kinds = self.affected.iter().map(|a| a.informational.as_deref());
        let first = kinds.next()??;
        kinds.all(|k| k.is_some()).then_some(first)
    }

    fn sections(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = self
            .affected
            .iter()
            .map(|a| a.ecosystem.osv_name())
            .collect();
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            out.push(OTHER);
        }
        out
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Header {
    format: u32,
    imported_at: Option<String>,
    sections: Vec<SectionRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SectionRef {
    name: String,
    offset: u64,
    len: u64,
    count: usize,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ImportStats {
    /// New ids.
    pub added: usize,
    /// Known ids with a later `modified`.
    pub updated: usize,
    /// Known ids with the same `modified`.
    pub unchanged: usize,
    /// Known ids with an earlier `modified` (the stored record is newer and kept).
    pub older: usize,
}

/// An import: what changed, and each item that could not be read.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Counts.
    pub stats: ImportStats,
    /// Unreadable items inside the sources, one each; they did not stop the import.
    pub errors: Vec<LoadError>,
    /// Sources given that could not be read at all (missing, not a regular file or
    /// folder), one each: nothing was imported from them.
    pub failed_sources: Vec<LoadError>,
}

/// Counts and age of a database.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Advisories (not withdrawn) per ecosystem; an advisory affecting two ecosystems
    /// counts in both. `other` counts advisories of no ecosystem read here.
    pub per_ecosystem: BTreeMap<String, usize>,
    /// Distinct advisories, withdrawn ones included.
    pub total: usize,
    /// Withdrawn advisories (kept, never matched).
    pub withdrawn: usize,
    /// Informational notices (RustSec `informational`).
    pub informational: usize,
    /// The newest `modified` of any advisory.
    pub newest_modified: Option<String>,
    /// When the database was last written.
    pub imported_at: Option<String>,
    /// Days since the newest `modified` (the age of the data itself).
    pub data_age_days: Option<i64>,
    /// True when the data is older than the limit given to [`Db::status`].
    pub stale: bool,
}

impl Status {
    /// A warning to show when the data is stale, naming its age and what to do.
    pub fn warning(&self) -> Option<String> {
        if !self.stale {
            return None;
        }
        Some(match self.data_age_days {
            Some(days) => format!(
                "the newest advisory in the database is {days} days old; import a current \
                 copy of the advisory sources"
            ),
            None => "the advisory database is empty; import advisory sources first".to_owned(),
        })
    }
}

/// An advisory database in memory.
#[derive(Debug, Default)]
pub struct Db {
    dir: PathBuf,
    imported_at: Option<String>,
    records: Vec<Record>,
    by_id: HashMap<String, usize>,
    by_package: HashMap<(Ecosystem, String), Vec<usize>>,
    partial: bool,
    /// Records the file's header counts (sections included or not); 0 when empty.
    stored: usize,
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Db {
    /// An empty database that [`Db::save`] will write to `dir`.
    pub fn empty(dir: &Path) -> Db {
        Db {
            dir: dir.to_path_buf(),
            ..Db::default()
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the database in `dir`, all sections.
    ///
    /// # Errors
    /// [`DbError::Missing`] when there is none; [`DbError::Corrupt`] or
    /// [`DbError::Io`] when it cannot be read.
    pub fn open(dir: &Path) -> Result<Db, DbError> {
        Db::load(dir, None)
    }

    /// Opens the database in `dir` with the sections of `ecosystems` only: the fast
    /// path for scanning. The result cannot be saved.
    ///
    /// # Errors
    /// As [`Db::open`].
    pub fn open_for(dir: &Path, ecosystems: &[Ecosystem]) -> Result<Db, DbError> {
        Db::load(dir, Some(ecosystems))
    }

    /// Opens the database in `dir`, or an empty one when there is none yet.
    ///
    /// # Errors
    /// As [`Db::open`], except that a missing database is not an error.
    pub fn open_or_empty(dir: &Path) -> Result<Db, DbError> {
        match Db::open(dir) {
            Err(DbError::Missing(_)) => Ok(Db::empty(dir)),
            other => other,
        }
    }

    fn load(dir: &Path, only: Option<&[Ecosystem]>) -> Result<Db, DbError> {
        let path = dir.join(FILE_NAME);
        // Opening a FIFO would block: only a regular file is opened.
        if let Ok(meta) = fs::metadata(&path)
            && !meta.is_file()
        {
            return Err(DbError::Corrupt {
                path,
                why: "not a regular file".into(),
            });
        }
        let file = match fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DbError::Missing(dir.to_path_buf()));
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let size = file.metadata().map_err(io_err(&path))?.len();
        let corrupt = |why: &str| DbError::Corrupt {
            path: path.clone(),
            why: why.to_owned(),
        };
        if size > MAX_DB {
            return Err(corrupt("larger than 4 GiB"));
        }
        let mut reader = BufReader::new(file);
        let mut magic = String::new();
        (&mut reader)
            .take(64)
            .read_line(&mut magic)
            .map_err(io_err(&path))?;
        if magic.trim_end() != MAGIC {
            return Err(corrupt("unknown format"));
        }
        let mut header_line = String::new();
        (&mut reader)
            .take(MAX_HEADER)
            .read_line(&mut header_line)
            .map_err(io_err(&path))?;
        let header: Header =
            serde_json::from_str(&header_line).map_err(|_| corrupt("unreadable header"))?;
        let body_start = (magic.len() + header_line.len()) as u64;

        let mut db = Db {
            dir: dir.to_path_buf(),
            imported_at: header.imported_at,
            partial: only.is_some(),
            stored: header.sections.iter().map(|s| s.count).sum(),
            ..Db::default()
        };
        for section in &header.sections {
            let wanted = match only {
                None => true,
                Some(ecos) => ecos.iter().any(|e| e.osv_name() == section.name),
            };
            if !wanted {
                continue;
            }
            let end = section
                .offset
                .checked_add(section.len)
                .and_then(|e| e.checked_add(body_start));
            if end.is_none_or(|e| e > size) {
                return Err(corrupt("a section lies outside the file"));
            }
            let len = usize::try_from(section.len).map_err(|_| corrupt("section too large"))?;
            reader
                .seek(SeekFrom::Start(body_start + section.offset))
                .map_err(io_err(&path))?;
            let mut buf = vec![0u8; len];
            reader.read_exact(&mut buf).map_err(io_err(&path))?;
            let records: Vec<Record> =
                serde_json::from_slice(&buf).map_err(|_| corrupt("unreadable section"))?;
            for r in records {
                db.insert(r);
            }
        }
        Ok(db)
    }

    /// Adds or replaces a record, keeping the indexes right.
    fn insert(&mut self, record: Record) {
        if let Some(&i) = self.by_id.get(&record.id) {
            self.unindex(i);
            if let Some(slot) = self.records.get_mut(i) {
                *slot = record;
            }
            self.index(i);
        } else {
            let i = self.records.len();
            self.by_id.insert(record.id.clone(), i);
            self.records.push(record);
            self.index(i);
        }
    }

    fn keys(&self, i: usize) -> Vec<(Ecosystem, String)> {
        let Some(r) = self.records.get(i) else {
            return Vec::new();
        };
        let mut keys: Vec<_> = r
            .affected
            .iter()
            .map(|a| (a.ecosystem, a.name.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn index(&mut self, i: usize) {
        for key in self.keys(i) {
            self.by_package.entry(key).or_default().push(i);
        }
    }

    fn unindex(&mut self, i: usize) {
        for key in self.keys(i) {
            if let Some(list) = self.by_package.get_mut(&key) {
                list.retain(|&j| j != i);
            }
        }
    }

    /// Imports OSV records, incrementally (see the module documentation).
    pub fn import<'a>(
        &mut self,
        advisories: impl IntoIterator<Item = &'a Advisory>,
    ) -> ImportStats {
        let mut stats = ImportStats::default();
        for adv in advisories {
            let record = Record::from_osv(adv);
            match self.get(&record.id) {
                None => stats.added += 1,
                Some(old) => {
                    let (new_t, old_t) = (parse_time(&record.modified), parse_time(&old.modified));
                    match new_t.cmp(&old_t) {
                        std::cmp::Ordering::Greater => stats.updated += 1,
                        std::cmp::Ordering::Equal => {
                            stats.unchanged += 1;
                            continue;
                        }
                        std::cmp::Ordering::Less => {
                            stats.older += 1;
                            continue;
                        }
                    }
                }
            }
            self.insert(record);
        }
        stats
    }

    /// Reads every path ([`osv::load_path`]), imports what was read, and saves. Not
    /// safe against a concurrent import into the same folder: use
    /// [`Db::import_locked`] for that.
    ///
    /// # Errors
    /// Only saving can fail the import; unreadable sources and advisories are listed in
    /// the report.
    pub fn import_paths(&mut self, paths: &[PathBuf]) -> Result<ImportReport, DbError> {
        let (loaded, mut report) = load_sources(paths);
        report.stats = self.import(loaded.iter().map(|(_, a)| a));
        self.save()?;
        Ok(report)
    }

    /// Imports `paths` into the database in `dir` (created when missing) under an
    /// exclusive lock on [`LOCK_NAME`]: the sources are read first, without the lock;
    /// then, holding it, the database is read again, the advisories merged and the
    /// result saved. Concurrent imports wait for each other and lose nothing.
    ///
    /// # Errors
    /// [`DbError::Io`] when the folder or lock cannot be made or the save fails;
    /// [`DbError::Corrupt`] when the stored database cannot be read.
    pub fn import_locked(dir: &Path, paths: &[PathBuf]) -> Result<ImportReport, DbError> {
        let (loaded, mut report) = load_sources(paths);
        if report.failed_sources.len() == paths.len() {
            return Ok(report); // nothing to import: the database is left as it is
        }
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_NAME);
        if let Ok(meta) = fs::symlink_metadata(&lock_path)
            && !meta.is_file()
        {
            let not_file = std::io::Error::other("not a regular file; remove it");
            return Err(io_err(&lock_path)(not_file));
        }
        let mut options = fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let lock = options.open(&lock_path).map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;

        let mut db = Db::open_or_empty(dir)?;
        report.stats = db.import(loaded.iter().map(|(_, a)| a));
        db.save()?;
        // Dropping the file releases the lock; say so explicitly for the reader.
        drop(lock);
        Ok(report)
    }

    /// Whether the stored database holds no advisory at all.
    pub fn is_empty(&self) -> bool {
        self.stored == 0 && self.records.is_empty()
    }

    /// How many loaded advisories (withdrawn ones excluded) name a package of
    /// `ecosystem`. With [`Db::open_for`], only the sections asked for are loaded.
    pub fn advisories_in(&self, ecosystem: Ecosystem) -> usize {
        self.records
            .iter()
            .filter(|r| r.withdrawn.is_none())
            .filter(|r| r.affected.iter().any(|a| a.ecosystem == ecosystem))
            .count()
    }

    /// A record by id.
    pub fn get(&self, id: &str) -> Option<&Record> {
        self.by_id.get(id).and_then(|&i| self.records.get(i))
    }

    /// Every record, withdrawn ones included.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The records that name this package (the name is normalized here).
    pub fn for_package(&self, ecosystem: Ecosystem, name: &str) -> impl Iterator<Item = &Record> {
        let key = (ecosystem, normalize_name(ecosystem, name));
        self.by_package
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.records.get(i))
    }

    /// Counts and age; `stale` when the newest advisory is older than `max_age_days`
    /// at `now`.
    pub fn status(&self, max_age_days: i64, now: DateTime<Utc>) -> Status {
        let mut per_ecosystem = BTreeMap::new();
        let mut withdrawn = 0;
        let mut informational = 0;
        let mut newest: Option<(DateTime<Utc>, &str)> = None;
        for r in &self.records {
            if let Some(t) = parse_time(&r.modified)
                && newest.is_none_or(|(n, _)| t > n)
            {
                newest = Some((t, &r.modified));
            }
            if r.withdrawn.is_some() {
                withdrawn += 1;
                continue;
            }
            if r.informational().is_some() {
                informational += 1;
            }
            for s in r.sections() {
                *per_ecosystem.entry(s.to_owned()).or_insert(0) += 1;
            }
        }
        let data_age_days = newest.map(|(t, _)| (now - t).num_days());
        Status {
            per_ecosystem,
            total: self.records.len(),
            withdrawn,
            informational,
            newest_modified: newest.map(|(_, s)| s.to_owned()),
            imported_at: self.imported_at.clone(),
            data_age_days,
            stale: data_age_days.is_none_or(|d| d > max_age_days),
        }
    }

    /// Writes the database atomically (see the module documentation).
    ///
    /// # Errors
    /// [`DbError::Partial`] for a database opened with [`Db::open_for`];
    /// [`DbError::Io`] when writing fails (the old database is then intact).
    pub fn save(&mut self) -> Result<(), DbError> {
        if self.partial {
            return Err(DbError::Partial);
        }
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let imported_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);

        let mut sections: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
        let mut sorted: Vec<&Record> = self.records.iter().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        for r in sorted {
            for s in r.sections() {
                sections.entry(s).or_default().push(r);
            }
        }
        let mut body = Vec::new();
        let mut refs = Vec::new();
        for (name, records) in sections {
            let offset = body.len() as u64;
            serde_json::to_writer(&mut body, &records).map_err(|e| DbError::Io {
                path: self.dir.clone(),
                source: std::io::Error::other(e),
            })?;
            body.push(b'\n');
            let len = body.len() as u64 - offset;
            refs.push(SectionRef {
                name: name.to_owned(),
                offset,
                len,
                count: records.len(),
            });
        }
        let header = Header {
            format: 1,
            imported_at: Some(imported_at.clone()),
            sections: refs,
        };
        let header = serde_json::to_string(&header).map_err(|e| DbError::Io {
            path: self.dir.clone(),
            source: std::io::Error::other(e),
        })?;

        let final_path = self.dir.join(FILE_NAME);
        let nanos = Utc::now().timestamp_subsec_nanos();
        let tmp = self
            .dir
            .join(format!(".{FILE_NAME}.{}.{nanos}.tmp", std::process::id()));
        let result = write_synced(
            &tmp,
            &[MAGIC.as_bytes(), b"\n", header.as_bytes(), b"\n", &body],
        )
        .and_then(|()| fs::rename(&tmp, &final_path))
        .and_then(|()| fs::File::open(&self.dir)?.sync_all());
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(&final_path)(e));
        }
        self.imported_at = Some(imported_at);
        Ok(())
    }
}

/// Reads every source: the advisories, and a report with the unreadable sources and
/// items (stats left at zero). A source that is missing, or neither a regular file nor
/// a folder (a FIFO would block the read, a device never end), is not read at all.
fn load_sources(paths: &[PathBuf]) -> (Vec<(osv::Origin, Advisory)>, ImportReport) {
    let mut report = ImportReport::default();
    let mut advisories = Vec::new();
    for path in paths {
        let kind = fs::metadata(path).map(|m| (m.is_file(), m.is_dir()));
        let refusal = match kind {
            Ok((true, _) | (_, true)) => None,
            Ok(_) => Some("not a regular file, folder or zip archive (a FIFO or device)".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Some("no such file or folder".to_owned())
            }
            Err(e) => Some(e.to_string()),
        };
        if let Some(message) = refusal {
            report.failed_sources.push(LoadError::Io {
                origin: osv::Origin {
                    file: path.clone(),
                    entry: None,
                },
                message,
            });
            continue;
        }
        let loaded = osv::load_path(path);
        advisories.extend(loaded.advisories);
        report.errors.extend(loaded.errors);
    }
    (advisories, report)
}

fn write_synced(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    for p in parts {
        f.write_all(p)?;
    }
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adv(id: &str, modified: &str, name: &str) -> Advisory {
        let text = format!(
            r#"{{"id":"{id}","modified":"{modified}","summary":"s","affected":[{{"package":
            {{"ecosystem":"crates.io","name":"{name}"}},"ranges":[{{"type":"SEMVER",
            "events":[{{"introduced":"0"}},{{"fixed":"1.0.0"}}]}}]}}]}}"#
        );
        osv::parse_json(text.as_bytes()).unwrap()
    }

    #[test]
    fn default_dir_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.into())
        };
        let d = dir_from(env(&[
            ("WEBQX_VULN_DB", "/a"),
            ("XDG_DATA_HOME", "/x"),
            ("HOME", "/h"),
        ]));
        assert_eq!(d.unwrap(), PathBuf::from("/a"));
        let d = dir_from(env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")]));
        assert_eq!(d.unwrap(), PathBuf::from("/x/webqx-sec/vuln"));
        let d = dir_from(env(&[("HOME", "/h")]));
        assert_eq!(d.unwrap(), PathBuf::from("/h/.local/share/webqx-sec/vuln"));
        assert!(matches!(dir_from(env(&[])), Err(DbError::NoDirectory)));
    }

    #[test]
    fn save_open_round_trip_and_incremental_import() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::empty(dir.path());
        let a = adv("A-1", "2024-01-01T00:00:00Z", "foo");
        let b = adv("A-2", "2024-01-01T00:00:00Z", "bar");
        assert_eq!(db.import([&a, &b]).added, 2);
        db.save().unwrap();

        let mut db = Db::open(dir.path()).unwrap();
        assert_eq!(db.get("A-1"), Some(&Record::from_osv(&a)));
        assert_eq!(db.get("A-2"), Some(&Record::from_osv(&b)));
        assert_eq!(db.for_package(Ecosystem::CratesIo, "foo").count(), 1);
        let stats = db.import([&a, &b]);
        assert_eq!(
            stats,
            ImportStats {
                unchanged: 2,
                ..ImportStats::default()
            }
        );
        let a2 = adv("A-1", "2024-02-01T00:00:00Z", "baz");
        let a0 = adv("A-1", "2023-02-01T00:00:00Z", "old");
        assert_eq!(
            db.import([&a2, &a0]),
            ImportStats {
                updated: 1,
                older: 1,
                ..Default::default()
            }
        );
        // The index follows the replacement.
        assert_eq!(db.for_package(Ecosystem::CratesIo, "foo").count(), 0);
        assert_eq!(db.for_package(Ecosystem::CratesIo, "baz").count(), 1);
        db.save().unwrap();
        let db = Db::open_for(dir.path(), &[Ecosystem::CratesIo]).unwrap();
        assert_eq!(db.records().len(), 2);
        assert!(
            Db::open_for(dir.path(), &[Ecosystem::Npm])
                .unwrap()
                .records()
                .is_empty()
        );
    }

    #[test]
    fn staleness_is_the_age_of_the_newest_advisory() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::empty(dir.path());
        let now = parse_time("2024-01-20T00:00:00Z").unwrap();
        assert!(
            db.status(DEFAULT_MAX_AGE_DAYS, now)
                .warning()
                .unwrap()
                .contains("empty")
        );
        db.import([
            &adv("A-1", "2024-01-01T00:00:00Z", "foo"),
            &adv("A-2", "2024-01-15T00:00:00Z", "bar"),
        ]);
        let status = db.status(DEFAULT_MAX_AGE_DAYS, now);
        assert_eq!((status.data_age_days, status.stale), (Some(5), false));
        assert_eq!(
            status.newest_modified.as_deref(),
            Some("2024-01-15T00:00:00Z")
        );
        assert!(status.warning().is_none());
        let later = parse_time("2024-02-20T00:00:00Z").unwrap();
        assert!(
            db.status(DEFAULT_MAX_AGE_DAYS, later)
                .warning()
                .unwrap()
                .contains("36 days")
        );
    }

    #[test]
    fn partial_databases_cannot_be_saved() {
        let dir = tempfile::tempdir().unwrap();
        Db::empty(dir.path()).save().unwrap();
        let mut db = Db::open_for(dir.path(), &[Ecosystem::Go]).unwrap();
        assert!(matches!(db.save(), Err(DbError::Partial)));
    }

    #[test]
    fn missing_and_corrupt_databases_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Db::open(dir.path()), Err(DbError::Missing(_))));
        fs::write(dir.path().join(FILE_NAME), "garbage").unwrap();
        assert!(matches!(Db::open(dir.path()), Err(DbError::Corrupt { .. })));
        let lying = format!(
            "{MAGIC}\n{{\"format\":1,\"sections\":[{{\"name\":\"npm\",\"offset\":0,\"len\":999999,\"count\":1}}]}}\n[]"
        );
        fs::write(dir.path().join(FILE_NAME), lying).unwrap();
        assert!(matches!(Db::open(dir.path()), Err(DbError::Corrupt { .. })));
    }

    #[test]
    fn leftover_temporary_files_do_not_disturb_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Db::empty(dir.path());
        db.import([&adv("A-1", "2024-01-01T00:00:00Z", "foo")]);
        db.save().unwrap();
        let before = fs::read(dir.path().join(FILE_NAME)).unwrap();
        // A leftover temporary file of a crashed import does not disturb reading.
        fs::write(dir.path().join(".vuln.db.1.2.tmp"), "half").unwrap();
        assert_eq!(Db::open(dir.path()).unwrap().records().len(), 1);
        assert_eq!(fs::read(dir.path().join(FILE_NAME)).unwrap(), before);
    }
}
