//! OSV advisories (the Open Source Vulnerability schema, <https://ossf.github.io/osv-schema/>):
//! the record types, and reading them from JSON or YAML files, from folders (searched
//! recursively) and from zip archives.
//!
//! Reading is item by item: a file that is too large, not JSON/YAML, or not an OSV
//! record becomes one [`LoadError`] naming the file (and the line, for a syntax error),
//! and the other files are still read.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

/// Largest advisory file read, in bytes (the largest real advisories are a few
/// hundred kilobytes).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Most files read from one folder tree or zip archive.
pub const MAX_FILES: usize = 1_000_000;
/// Deepest folder nesting followed.
pub const MAX_DEPTH: usize = 32;
/// Longest advisory id accepted.
const MAX_ID_LEN: usize = 128;

/// One OSV record. Unknown fields are ignored; fields the schema makes arrays may be
/// absent or `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// The schema version the record claims, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// The id (`RUSTSEC-2020-0071`, `GHSA-…`, `GO-…`, `PYSEC-…`, `CVE-…`).
    pub id: String,
    /// RFC 3339 time of the last change.
    pub modified: String,
    /// RFC 3339 time of publication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// RFC 3339 time of withdrawal: a withdrawn advisory is kept but never matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// Other ids of the same vulnerability.
    #[serde(default, deserialize_with = "null_as_default")]
    pub aliases: Vec<String>,
    /// Ids of related but different vulnerabilities.
    #[serde(default, deserialize_with = "null_as_default")]
    pub related: Vec<String>,
    /// One-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Longer description (Markdown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// Severity scores (CVSS vectors).
    #[serde(default, deserialize_with = "null_as_default")]
    pub severity: Vec<Severity>,
    /// Affected packages and versions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub affected: Vec<Affected>,
    /// Links.
    #[serde(default, deserialize_with = "null_as_default")]
    pub references: Vec<Reference>,
    /// Free-form data of the publishing database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// A severity score: `type` (`CVSS_V3`, `CVSS_V4`, `CVSS_V2`, `Ubuntu`) and `score`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// The scoring method.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector or value.
    pub score: String,
}

/// A link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `ADVISORY`, `WEB`, `FIX`, `PACKAGE`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The address.
    #[serde(default)]
    pub url: String,
}

/// One affected package and its affected versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The package (absent for some OS-level records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<AffectedPackage>,
    /// Severity of this package's part, when it differs from the record's.
    #[serde(default, deserialize_with = "null_as_default")]
    pub severity: Vec<Severity>,
    /// Ranges of affected versions.
    #[serde(default, deserialize_with = "null_as_default")]
    pub ranges: Vec<Range>,
    /// Affected versions listed one by one.
    #[serde(default, deserialize_with = "null_as_default")]
    pub versions: Vec<String>,
    /// Free-form data of the ecosystem (ignored by matching).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Free-form data of the database; RustSec's `informational` is read from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

impl Affected {
    /// RustSec's `database_specific.informational` (`unmaintained`, `unsound`,
    /// `notice`, …): the entry is an informational notice, not a vulnerability.
    pub fn informational(&self) -> Option<&str> {
        self.database_specific
            .as_ref()?
            .get("informational")?
            .as_str()
    }
}

/// The package an [`Affected`] entry names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedPackage {
    /// The OSV ecosystem name, possibly with a `:suffix`.
    pub ecosystem: String,
    /// The package name as the ecosystem spells it.
    pub name: String,
    /// The package URL without version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// A range of affected versions: events in one ordering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// `SEMVER`, `ECOSYSTEM` or `GIT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository of a `GIT` range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The events, as the record lists them.
    #[serde(default, deserialize_with = "null_as_default")]
    pub events: Vec<Event>,
}

/// One range event. The schema allows exactly one of the four per event; reading
/// rejects events with none or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The version where the vulnerability starts (`0` for "from the beginning").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced: Option<String>,
    /// The first version without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<String>,
    /// The last version with it (later versions are taken as unaffected).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_affected: Option<String>,
    /// An upper limit (exclusive) on the whole range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Why one advisory could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// Larger than [`MAX_FILE_BYTES`].
    TooLarge,
    /// Not valid JSON or YAML; `line` is 1-based when the parser knows it.
    Syntax {
        /// The line of the error.
        line: Option<usize>,
        /// The parser's message (positions and expectations; never file content).
        message: String,
    },
    /// Well-formed, but not a valid OSV record (the reason says which field).
    Invalid(String),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::TooLarge => write!(
                f,
                "larger than {MAX_FILE_BYTES} bytes; an OSV advisory is far smaller, check \
                 that this is an advisory file"
            ),
            ParseError::Syntax {
                line: Some(line),
                message,
            } => {
                write!(f, "syntax error at line {line}: {message}")
            }
            ParseError::Syntax {
                line: None,
                message,
            } => write!(f, "syntax error: {message}"),
            ParseError::Invalid(why) => write!(f, "not a valid OSV record: {why}"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Reads one advisory from JSON.
///
/// # Errors
/// [`ParseError`] when the text is too large, not JSON, or not a valid record.
pub fn parse_json(bytes: &[u8]) -> Result<Advisory, ParseError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ParseError::TooLarge);
    }
    let adv: Advisory = serde_json::from_slice(bytes).map_err(|e| ParseError::Syntax {
        line: Some(e.line()),
        message: e.to_string(),
    })?;
    validate(&adv)?;
    Ok(adv)
}

/// Reads one advisory from YAML (as the PyPA advisory database writes them).
///
/// # Errors
/// [`ParseError`] when the text is too large, not YAML, or not a valid record.
pub fn parse_yaml(bytes: &[u8]) -> Result<Advisory, ParseError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ParseError::TooLarge);
    }
    // The YAML parser takes time quadratic in flow nesting: refuse deep text first.
    let text = String::from_utf8_lossy(bytes);
    if let Some((line, _)) = crate::lockfile::text::yaml_too_deep(&text) {
        return Err(ParseError::Syntax {
            line: Some(line as usize),
            message: format!(
                "brackets nest more than {} deep; an OSV advisory nests a few levels",
                crate::lockfile::text::MAX_YAML_FLOW_DEPTH
            ),
        });
    }
    let adv: Advisory = yaml_serde::from_slice(bytes).map_err(|e| ParseError::Syntax {
        line: e.location().map(|l| l.line()),
        message: e.to_string(),
    })?;
    validate(&adv)?;
    Ok(adv)
}

/// The checks serde cannot express: an id, an RFC 3339 `modified`, one kind per event.
fn validate(adv: &Advisory) -> Result<(), ParseError> {
    let bad = |why: String| Err(ParseError::Invalid(why));
    if adv.id.is_empty() || adv.id.len() > MAX_ID_LEN || adv.id.chars().any(char::is_control) {
        return bad(format!(
            "`id` must be 1 to {MAX_ID_LEN} printable characters"
        ));
    }
    if chrono::DateTime::parse_from_rfc3339(&adv.modified).is_err() {
        return bad("`modified` is not an RFC 3339 time".into());
    }
    if let Some(w) = &adv.withdrawn
        && chrono::DateTime::parse_from_rfc3339(w).is_err()
    {
        return bad("`withdrawn` is not an RFC 3339 time".into());
    }
    for (i, affected) in adv.affected.iter().enumerate() {
        for (j, range) in affected.ranges.iter().enumerate() {
            for (k, event) in range.events.iter().enumerate() {
                let n = [
                    &event.introduced,
                    &event.fixed,
                    &event.last_affected,
                    &event.limit,
                ]
                .iter()
                .filter(|e| e.is_some())
                .count();
                if n != 1 {
                    return bad(format!(
                        "affected[{i}].ranges[{j}].events[{k}] must have exactly one of \
                         introduced, fixed, last_affected, limit"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Where an advisory came from: a file, or an entry of a zip archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file (the archive, for a zip entry).
    pub file: PathBuf,
    /// The entry inside a zip archive.
    pub entry: Option<String>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(entry) => write!(f, "{}!{}", self.file.display(), entry),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// One item that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadError {
    /// An advisory file that did not parse.
    Parse {
        /// Which file.
        origin: Origin,
        /// Why.
        error: ParseError,
    },
    /// A file or folder that could not be read at all (permissions, not a zip, …).
    Io {
        /// Which file.
        origin: Origin,
        /// The system's reason.
        message: String,
    },
    /// More than [`MAX_FILES`] files, or folders deeper than [`MAX_DEPTH`]; the rest
    /// was not read.
    Limit {
        /// Where the limit was hit.
        origin: Origin,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Parse { origin, error } => write!(f, "{origin}: {error}"),
            LoadError::Io { origin, message } => {
                write!(
                    f,
                    "{origin}: cannot read ({message}); check the path and permissions"
                )
            }
            LoadError::Limit { origin } => write!(
                f,
                "{origin}: more than {MAX_FILES} files or deeper than {MAX_DEPTH} folders; \
                 import a smaller tree"
            ),
        }
    }
}

impl std::error::Error for LoadError {}

/// What [`load_path`] read: the advisories, and the items it could not read.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Advisories with where each came from.
    pub advisories: Vec<(Origin, Advisory)>,
    /// One entry per unreadable item.
    pub errors: Vec<LoadError>,
}

/// The kind of advisory file a name denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Json,
    Yaml,
    Zip,
}

fn kind_of(name: &str) -> Option<Kind> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".json") {
        Some(Kind::Json)
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Some(Kind::Yaml)
    } else if lower.ends_with(".zip") {
        Some(Kind::Zip)
    } else {
        None
    }
}

/// Reads advisories from `path`: one JSON/YAML file, a zip archive of them, or a
/// folder searched recursively (symbolic links inside it are not followed; files that
/// are not `.json`, `.yaml`, `.yml` or `.zip` are skipped). A `path` that is neither a
/// regular file nor a folder (a FIFO, a device) is an error and is never opened.
pub fn load_path(path: &Path) -> Loaded {
    let mut out = Loaded::default();
    let mut count = 0usize;
    // The path as given may be a link (followed); links inside folders are not.
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => load_dir(path, 0, &mut count, &mut out),
        // A FIFO would block the read and a device never end: only regular files.
        Ok(meta) if !meta.is_file() => out.errors.push(io_error(
            path,
            None,
            &"not a regular file, folder or zip archive (a FIFO or device)",
        )),
        Ok(_) => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            // A single file is read whatever its name says; default to JSON.
            let kind = kind_of(name).unwrap_or(Kind::Json);
            load_file(path, kind, &mut count, &mut out);
        }
        Err(e) => out.errors.push(io_error(path, None, &e)),
    }
    out
}

fn origin(file: &Path, entry: Option<&str>) -> Origin {
    Origin {
        file: file.to_path_buf(),
        entry: entry.map(str::to_owned),
    }
}

fn io_error(file: &Path, entry: Option<&str>, e: &dyn fmt::Display) -> LoadError {
    LoadError::Io {
        origin: origin(file, entry),
        message: e.to_string(),
    }
}

fn load_dir(dir: &Path, depth: usize, count: &mut usize, out: &mut Loaded) {
    if depth > MAX_DEPTH {
        out.errors.push(LoadError::Limit {
            origin: origin(dir, None),
        });
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => return out.errors.push(io_error(dir, None, &e)),
    };
    // Sorted, so that imports and error lists are reproducible.
    let mut paths: Vec<(PathBuf, fs::FileType)> = Vec::new();
    for entry in entries {
        match entry.and_then(|e| Ok((e.path(), e.file_type()?))) {
            Ok(p) => paths.push(p),
            Err(e) => out.errors.push(io_error(dir, None, &e)),
        }
    }
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    for (path, file_type) in paths {
        if file_type.is_dir() {
            load_dir(&path, depth + 1, count, out);
        } else if file_type.is_file() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(kind) = kind_of(name) {
                load_file(&path, kind, count, out);
            }
        }
        if *count > MAX_FILES {
            out.errors.push(LoadError::Limit {
                origin: origin(dir, None),
            });
            return;
        }
    }
}

fn read_bounded(mut reader: impl Read, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    reader.by_ref().take(limit + 1).read_to_end(&mut buf)?;
    Ok(if buf.len() as u64 > limit {
        None
    } else {
        Some(buf)
    })
}

fn parse_kind(kind: Kind, bytes: &[u8]) -> Result<Advisory, ParseError> {
    match kind {
        Kind::Yaml => parse_yaml(bytes),
        _ => parse_json(bytes),
    }
}

fn load_file(path: &Path, kind: Kind, count: &mut usize, out: &mut Loaded) {
    if kind == Kind::Zip {
        return load_zip(path, count, out);
    }
    *count += 1;
    let bytes = match fs::File::open(path).and_then(|f| read_bounded(f, MAX_FILE_BYTES)) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            let error = ParseError::TooLarge;
            return out.errors.push(LoadError::Parse {
                origin: origin(path, None),
                error,
            });
        }
        Err(e) => return out.errors.push(io_error(path, None, &e)),
    };
    match parse_kind(kind, &bytes) {
        Ok(adv) => out.advisories.push((origin(path, None), adv)),
        Err(error) => out.errors.push(LoadError::Parse {
            origin: origin(path, None),
            error,
        }),
    }
}

/// Reads the `.json`/`.yaml` entries of a zip archive (nested archives are not
/// opened). Each entry is bounded by [`MAX_FILE_BYTES`] after decompression, whatever
/// size its header claims.
fn load_zip(path: &Path, count: &mut usize, out: &mut Loaded) {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return out.errors.push(io_error(path, None, &e)),
    };
    let mut archive = match zip::ZipArchive::new(std::io::BufReader::new(file)) {
        Ok(a) => a,
        Err(e) => return out.errors.push(io_error(path, None, &e)),
    };
    for i in 0..archive.len() {
        if *count >= MAX_FILES {
            return out.errors.push(LoadError::Limit {
                origin: origin(path, None),
            });
        }
        let mut entry = match archive.by_index(i) {
            Ok(entry) => entry,
            Err(e) => {
                out.errors.push(io_error(path, Some(&format!("#{i}")), &e));
                continue;
            }
        };
        let name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(e) => {
                out.errors.push(io_error(path, Some(&format!("#{i}")), &e));
                continue;
            }
        };
        let kind = match kind_of(&name) {
            Some(Kind::Json) => Kind::Json,
            Some(Kind::Yaml) => Kind::Yaml,
            _ => continue,
        };
        if !entry.is_file() {
            continue;
        }
        *count += 1;
        let o = origin(path, Some(&name));
        match read_bounded(&mut entry, MAX_FILE_BYTES) {
            Ok(Some(bytes)) => match parse_kind(kind, &bytes) {
                Ok(adv) => out.advisories.push((o, adv)),
                Err(error) => out.errors.push(LoadError::Parse { origin: o, error }),
            },
            Ok(None) => out.errors.push(LoadError::Parse {
                origin: o,
                error: ParseError::TooLarge,
            }),
            Err(e) => out.errors.push(LoadError::Io {
                origin: o,
                message: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"id":"X-1","modified":"2024-01-01T00:00:00Z",
        "affected":[{"package":{"ecosystem":"crates.io","name":"a"},
        "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}"#;

    #[test]
    fn json_and_yaml_read_the_same_record() {
        let json = parse_json(MINIMAL.as_bytes()).unwrap();
        let yaml = "id: X-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package:\n    \
                    ecosystem: crates.io\n    name: a\n  ranges:\n  - type: SEMVER\n    \
                    events:\n    - introduced: \"0\"\n    - fixed: 1.0.0\n";
        assert_eq!(parse_yaml(yaml.as_bytes()).unwrap(), json);
    }

    #[test]
    fn deeply_nested_yaml_is_refused_before_parsing() {
        // 100,000 nested brackets held the YAML parser for minutes (lockfile review).
        let text = format!("id: X\nmodified: {}\n", "[".repeat(100_000));
        let started = std::time::Instant::now();
        let err = parse_yaml(text.as_bytes()).unwrap_err();
        assert!(
            matches!(err, ParseError::Syntax { line: Some(2), .. }),
            "{err:?}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn nulls_where_arrays_belong_are_empty() {
        let text = r#"{"id":"X","modified":"2024-01-01T00:00:00Z","aliases":null,"affected":null}"#;
        let adv = parse_json(text.as_bytes()).unwrap();
        assert!(adv.aliases.is_empty() && adv.affected.is_empty());
    }

    #[test]
    fn syntax_errors_carry_the_line() {
        let err = parse_json(b"{\n\"id\": \"X\",\n oops }").unwrap_err();
        assert!(
            matches!(err, ParseError::Syntax { line: Some(3), .. }),
            "{err:?}"
        );
        let err = parse_yaml(b"id: X\nmodified: [\n  - : :\n").unwrap_err();
        assert!(
            matches!(err, ParseError::Syntax { line: Some(_), .. }),
            "{err:?}"
        );
    }

    #[test]
    fn yaml_alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
        }
        text.push_str("id: X\nmodified: 2024-01-01T00:00:00Z\ndatabase_specific: *a11\n");
        let start = std::time::Instant::now();
        assert!(parse_yaml(text.as_bytes()).is_err());
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn invalid_records_are_rejected_with_the_field() {
        let no_time = r#"{"id":"X","modified":"yesterday"}"#;
        assert!(
            parse_json(no_time.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("modified")
        );
        let two = r#"{"id":"X","modified":"2024-01-01T00:00:00Z","affected":[{"ranges":[
            {"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}]}]}"#;
        assert!(
            parse_json(two.as_bytes())
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
        let big = vec![b' '; MAX_FILE_BYTES as usize + 1];
        assert_eq!(parse_json(&big), Err(ParseError::TooLarge));
    }
}
