//! Python: `requirements.txt` (pins, extras, markers, hashes, continuations, `-r`/`-c`
//! includes), `poetry.lock`, `Pipfile.lock` and `uv.lock`. Names are normalized as
//! PEP 503 says.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::json_lines::{JsonLines, pointer};
use super::text::{array_table_lines, json_error, nth_line, pep503, saturate, toml_error, utf8};
use super::{Kind, Lockfile, LockfileError, Note, NoteKind, note, package};
use crate::package::{Ecosystem, Package};

/// How deep `-r`/`-c` includes may nest.
const MAX_INCLUDE_DEPTH: usize = 16;
/// How many files one requirements read may open.
const MAX_INCLUDED_FILES: usize = 256;
/// How many bytes the included files of one read may hold together.
const MAX_INCLUDED_BYTES: usize = 64 * 1024 * 1024;

/// Reads a requirements file and what it includes; `load` reads an included file.
pub(crate) fn read_requirements(
    file: &Path,
    bytes: &[u8],
    load: &dyn Fn(&Path) -> Result<Vec<u8>, LockfileError>,
) -> Result<Lockfile, LockfileError> {
    let mut state = Requirements {
        load,
        visited: HashSet::new(),
        opened: 0,
        included_bytes: 0,
        pins: vec![],
        constraints: vec![],
        notes: vec![],
    };
    state.visited.insert((identity(file), false));
    state.read(file, bytes, false, 0)?;
    Ok(state.finish(file))
}

struct Requirements<'a> {
    load: &'a dyn Fn(&Path) -> Result<Vec<u8>, LockfileError>,
    /// Files read, with whether they were read as constraints: a file given to `-c`
    /// and to `-r` is read once as each (constraints and requirements differ).
    visited: HashSet<(PathBuf, bool)>,
    opened: usize,
    included_bytes: usize,
    pins: Vec<Package>,
    constraints: Vec<Package>,
    notes: Vec<(String, Note)>,
}

/// A file's identity for cycle checks: its canonical path when it exists.
fn identity(file: &Path) -> PathBuf {
    file.canonicalize().unwrap_or_else(|_| file.to_path_buf())
}

impl Requirements<'_> {
    fn read(
        &mut self,
        file: &Path,
        bytes: &[u8],
        constraint: bool,
        depth: usize,
    ) -> Result<(), LockfileError> {
        let text = utf8(file, bytes)?;
        for (line, logical) in logical_lines(text) {
            self.line(file, line, &logical, constraint, depth)?;
        }
        Ok(())
    }

    fn line(
        &mut self,
        file: &Path,
        line: u32,
        logical: &str,
        constraint: bool,
        depth: usize,
    ) -> Result<(), LockfileError> {
        let content = strip_comment(logical).trim();
        if content.is_empty() {
            return Ok(());
        }
        if let Some(option) = content.strip_prefix('-') {
            return self.option(file, line, option, constraint, depth);
        }
        if content.contains("://") || content.starts_with('.') || content.starts_with('/') {
            self.note_plain(note(
                NoteKind::NotMatchable,
                file,
                line,
                "a URL or path requirement, not checked",
            ));
            return Ok(());
        }
        let requirement = parse_requirement(content).ok_or_else(|| {
            LockfileError::syntax(
                file,
                line,
                Some(1),
                "expected a requirement `name[extras]==version`",
            )
        })?;
        let name = pep503(requirement.name);
        match requirement.pin {
            Pin::Exact(version) => {
                let found = package(Ecosystem::PyPI, name, version, file, line);
                if constraint {
                    self.constraints.push(found)
                } else {
                    self.pins.push(found)
                }
            }
            Pin::DirectReference => {
                self.note_plain(note(
                    NoteKind::NotMatchable,
                    file,
                    line,
                    format!("{name}: a direct reference, not checked"),
                ));
            }
            Pin::Range if !constraint => {
                let message = format!("{name}: not pinned to one version (use `==`), not checked");
                self.notes
                    .push((name, note(NoteKind::Unpinned, file, line, message)));
            }
            Pin::Range => {}
        }
        Ok(())
    }

    fn note_plain(&mut self, n: Note) {
        self.notes.push((String::new(), n));
    }

    /// `-r`/`-c` includes; `-e` and other options are noted or ignored.
    fn option(
        &mut self,
        file: &Path,
        line: u32,
        option: &str,
        _constraint: bool,
        depth: usize,
    ) -> Result<(), LockfileError> {
        let (flag, value) = split_option(option);
        match flag {
            "r" | "-requirement" | "c" | "-constraint" => {
                let constraint = matches!(flag, "c" | "-constraint");
                if value.is_empty() {
                    return Err(LockfileError::syntax(
                        file,
                        line,
                        Some(1),
                        "expected a file name after -r or -c",
                    ));
                }
                self.include(file, line, value, constraint, depth)
            }
            "e" | "-editable" => {
                self.note_plain(note(
                    NoteKind::NotMatchable,
                    file,
                    line,
                    "an editable (-e) requirement, not checked",
                ));
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn include(
        &mut self,
        file: &Path,
        line: u32,
        name: &str,
        constraint: bool,
        depth: usize,
    ) -> Result<(), LockfileError> {
        if name.contains("://") {
            self.note_plain(note(
                NoteKind::Skipped,
                file,
                line,
                "an include from a URL, not read",
            ));
            return Ok(());
        }
        let target = file.parent().unwrap_or_else(|| Path::new("")).join(name);
        if depth + 1 > MAX_INCLUDE_DEPTH || self.opened >= MAX_INCLUDED_FILES {
            return Err(LockfileError::syntax(
                file,
                line,
                None,
                "includes nest too deep or are too many",
            ));
        }
        if !self.visited.insert((identity(&target), constraint)) {
            self.note_plain(note(
                NoteKind::Skipped,
                file,
                line,
                "an include already read (a cycle or repeat)",
            ));
            return Ok(());
        }
        self.opened += 1;
        let bytes = (self.load)(&target)?;
        self.included_bytes = self.included_bytes.saturating_add(bytes.len());
        if self.included_bytes > MAX_INCLUDED_BYTES {
            return Err(LockfileError::syntax(
                file,
                line,
                None,
                "included files hold more than 64 MiB together",
            ));
        }
        self.read(&target, &bytes, constraint, depth + 1)
    }

    /// Applies constraints to unpinned names, then assembles the result.
    fn finish(mut self, file: &Path) -> Lockfile {
        let mut notes = Vec::new();
        for (name, n) in std::mem::take(&mut self.notes) {
            let constrained = (n.kind == NoteKind::Unpinned)
                .then(|| self.constraints.iter().find(|c| c.name == name))
                .flatten();
            match constrained {
                Some(pin) => self.pins.push(pin.clone()),
                None => notes.push(n),
            }
        }
        Lockfile {
            path: file.to_path_buf(),
            kind: Kind::Requirements,
            packages: self.pins,
            notes,
        }
    }
}

/// Joins `\` continuations; each logical line keeps the number of its first line.
fn logical_lines(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(u32, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let (start, mut joined) = pending.take().unwrap_or((saturate(i + 1), String::new()));
        match raw.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(raw);
                out.push((start, joined));
            }
        }
    }
    out.extend(pending);
    out
}

/// Drops a comment: `#` at the start or after whitespace (pip's rule).
fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(at) => line.get(..at).unwrap_or(line),
        None => line,
    }
}

/// `-r file`, `-rfile`, `--requirement=file`, `--requirement file` → (flag, value).
fn split_option(option: &str) -> (&str, &str) {
    if let Some(long) = option.strip_prefix('-') {
        let (flag, value) = long.split_once(['=', ' ', '\t']).unwrap_or((long, ""));
        return (option.get(..flag.len() + 1).unwrap_or(option), value.trim());
    }
    let mut chars = option.char_indices();
    let Some((_, _)) = chars.next() else {
        return ("", "");
    };
    let split = chars.next().map_or(option.len(), |(i, _)| i);
    let (flag, value) = option.split_at(split.min(option.len()));
    (flag, value.trim())
}

enum Pin<'a> {
    Exact(&'a str),
    Range,
    DirectReference,
}

struct Requirement<'a> {
    name: &'a str,
    pin: Pin<'a>,
}

/// `name[extras] specifiers ; markers --hash=...` as PEP 508 and pip write it.
fn parse_requirement(content: &str) -> Option<Requirement<'_>> {
    let content = content.split(" --").next().unwrap_or(content);
    let content = content.split(';').next().unwrap_or(content).trim();
    let name_end = content
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(content.len());
    let name = content.get(..name_end)?;
    let valid_name = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid_name {
        return None;
    }
    let mut rest = content.get(name_end..)?.trim_start();
    if let Some(extras) = rest.strip_prefix('[') {
        let close = extras.find(']')?;
        rest = extras.get(close + 1..)?.trim_start();
    }
    if rest.starts_with('@') {
        return Some(Requirement {
            name,
            pin: Pin::DirectReference,
        });
    }
    let rest = rest.trim_start_matches('(').trim_end_matches(')').trim();
    if rest.is_empty() {
        return Some(Requirement {
            name,
            pin: Pin::Range,
        });
    }
    let valid_start = ["==", "!=", "<", ">", "~=", "==="]
        .iter()
        .any(|op| rest.starts_with(op));
    if !valid_start {
        return None;
    }
    let exact = rest
        .strip_prefix("===")
        .or_else(|| rest.strip_prefix("=="))
        .map(str::trim);
    // `!` may only be a PEP 440 epoch separator (`0!1.9`); `!=` is another clause.
    let pin = match exact {
        Some(v)
            if !v.is_empty()
                && !v.contains([',', '*', ' ', '<', '>', '=', '~'])
                && !v.starts_with('!')
                && v.matches('!').count() <= 1 =>
        {
            Pin::Exact(v)
        }
        _ => Pin::Range,
    };
    Some(Requirement { name, pin })
}

#[derive(Deserialize)]
struct TomlLock {
    #[serde(default)]
    package: Vec<TomlPackage>,
}

#[derive(Deserialize)]
struct TomlPackage {
    name: String,
    version: Option<String>,
    source: Option<toml::Table>,
}

/// Reads a poetry.lock.
pub(crate) fn read_poetry(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    read_toml_lock(file, text, Kind::PoetryLock, |source| {
        // Poetry's `legacy` sources are package indexes (mirrors of PyPI, private ones).
        let kind = source.get("type").and_then(toml::Value::as_str);
        kind.is_none_or(|k| k == "legacy")
    })
}

/// Reads a uv.lock.
pub(crate) fn read_uv(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    read_toml_lock(file, text, Kind::UvLock, |source| {
        source.contains_key("registry")
    })
}

/// poetry.lock and uv.lock: `[[package]]` tables; `registry` says whether a `source`
/// table is a package index.
fn read_toml_lock(
    file: &Path,
    text: &str,
    kind: Kind,
    registry: impl Fn(&toml::Table) -> bool,
) -> Result<Lockfile, LockfileError> {
    let lock: TomlLock = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let lines = array_table_lines(text, "package");
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind,
        packages: vec![],
        notes: vec![],
    };
    for (i, entry) in lock.package.into_iter().enumerate() {
        let line = nth_line(&lines, i);
        let name = pep503(&entry.name);
        let from_index = entry.source.as_ref().is_none_or(&registry);
        match (entry.version, from_index) {
            (Some(version), true) => {
                out.packages
                    .push(package(Ecosystem::PyPI, name, version, file, line))
            }
            (None, _) => out.notes.push(note(
                NoteKind::Unpinned,
                file,
                line,
                format!("{name}: no version"),
            )),
            (Some(version), false) => out.notes.push(note(
                NoteKind::NotMatchable,
                file,
                line,
                format!("{name} {version}: from a path, URL or git source, not checked"),
            )),
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PipfileLock {
    #[serde(default)]
    default: BTreeMap<String, Value>,
    #[serde(default)]
    develop: BTreeMap<String, Value>,
}

/// Reads a Pipfile.lock (`default` and `develop`).
pub(crate) fn read_pipfile(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let lock: PipfileLock = serde_json::from_str(text).map_err(|e| json_error(file, &e))?;
    let lines = JsonLines::scan(text, &|path| {
        path.len() == 2
            && path
                .first()
                .is_some_and(|s| s == "default" || s == "develop")
    });
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::PipfileLock,
        packages: vec![],
        notes: vec![],
    };
    let mut entries = Vec::new();
    for (section, map) in [("default", &lock.default), ("develop", &lock.develop)] {
        for (name, entry) in map {
            entries.push((lines.line(&pointer(&[section, name])), name, entry));
        }
    }
    entries.sort_by_key(|(line, _, _)| *line);
    for (line, name, entry) in entries {
        let name = pep503(name);
        match entry.get("version").and_then(Value::as_str) {
            Some(pinned) => match pinned
                .strip_prefix("===")
                .or_else(|| pinned.strip_prefix("=="))
            {
                Some(version) => {
                    out.packages
                        .push(package(Ecosystem::PyPI, name, version.trim(), file, line))
                }
                None => out.notes.push(note(
                    NoteKind::Unpinned,
                    file,
                    line,
                    format!("{name}: not pinned with `==`"),
                )),
            },
            None => out.notes.push(note(
                NoteKind::NotMatchable,
                file,
                line,
                format!("{name}: from a path, URL or git source, not checked"),
            )),
        }
    }
    Ok(out)
}
