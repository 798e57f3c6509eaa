//! `yarn.lock`: classic (v1, yarn's own indented format) and berry (YAML with
//! `__metadata`, `name@npm:range` descriptors and a `resolution`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::npm::split_name_version;
use super::text::{saturate, yaml_depth_guard, yaml_error};
use super::{Kind, Lockfile, LockfileError, NoteKind, note, package};
use crate::package::Ecosystem;

/// Reads a yarn.lock of either generation.
pub(crate) fn read(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let berry = text
        .lines()
        .any(|line| line.starts_with("__metadata:") || line.starts_with("\"__metadata\":"));
    if berry {
        read_berry(file, text)
    } else {
        read_classic(file, text)
    }
}

/// Classic: `descriptor, descriptor:` headers at column 0, `  version "1.2.3"` inside.
fn read_classic(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::YarnLock,
        packages: vec![],
        notes: vec![],
    };
    let mut current: Option<(String, u32, Option<String>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = saturate(i + 1);
        let trimmed = raw.trim_end();
        if trimmed.trim_start().starts_with('#') || trimmed.trim().is_empty() {
            continue;
        }
        if !trimmed.starts_with(' ') {
            if let Some(done) = current.take() {
                finish_classic(file, done, &mut out)?;
            }
            let Some(header) = trimmed.strip_suffix(':') else {
                return Err(LockfileError::syntax(
                    file,
                    line,
                    Some(1),
                    "expected an entry header ending with `:`",
                ));
            };
            current = Some((header.to_string(), line, None));
            continue;
        }
        let Some((_, _, version)) = current.as_mut() else {
            return Err(LockfileError::syntax(
                file,
                line,
                Some(1),
                "expected an entry header before indented lines",
            ));
        };
        let field = trimmed.trim_start();
        let indent = trimmed.len() - field.len();
        if indent == 2
            && let Some(value) = field
                .strip_prefix("version ")
                .or_else(|| field.strip_prefix("version:"))
        {
            // An empty value is no version: the entry is then refused below.
            let value = unquote(value.trim());
            *version = (!value.trim().is_empty()).then(|| value.to_string());
        }
    }
    if let Some(done) = current.take() {
        finish_classic(file, done, &mut out)?;
    }
    Ok(out)
}

/// One classic entry: the name from its first descriptor, the version from its field.
fn finish_classic(
    file: &Path,
    (header, line, version): (String, u32, Option<String>),
    out: &mut Lockfile,
) -> Result<(), LockfileError> {
    let first = header.split(", ").next().map(unquote).unwrap_or_default();
    let Some((name, range)) = split_name_version(first) else {
        return Err(LockfileError::syntax(
            file,
            line,
            Some(1),
            "expected a `name@range` descriptor",
        ));
    };
    let Some(version) = version else {
        return Err(LockfileError::syntax(
            file,
            line,
            None,
            format!("entry {name} has no `version` field; expected `  version \"x.y.z\"`"),
        ));
    };
    let name = match range.strip_prefix("npm:").and_then(split_name_version) {
        Some((real, _)) => real,
        None => name,
    };
    if is_non_registry(range) {
        out.notes.push(note(
            NoteKind::NotMatchable,
            file,
            line,
            format!("{name}: not from the npm registry"),
        ));
    } else {
        out.packages
            .push(package(Ecosystem::Npm, name, version, file, line));
    }
    Ok(())
}

/// Ranges that name something other than a registry version.
fn is_non_registry(range: &str) -> bool {
    [
        "file:",
        "link:",
        "git",
        "http:",
        "https:",
        "github:",
        "workspace:",
        "portal:",
        "patch:",
        "exec:",
    ]
    .iter()
    .any(|p| range.starts_with(p))
        || range.contains("://")
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

#[derive(Deserialize)]
struct BerryEntry {
    version: Option<yaml_serde::Value>,
    resolution: Option<String>,
}

/// Berry: a YAML map from descriptors to entries with `resolution` and `version`.
fn read_berry(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    yaml_depth_guard(file, text)?;
    let doc: BTreeMap<String, yaml_serde::Value> =
        yaml_serde::from_str(text).map_err(|e| yaml_error(file, &e))?;
    let lines = top_key_lines(text);
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::YarnLock,
        packages: vec![],
        notes: vec![],
    };
    let mut entries: Vec<(u32, &String, &yaml_serde::Value)> = doc
        .iter()
        .filter(|(k, _)| *k != "__metadata")
        .map(|(k, v)| (line_of(&lines, k), k, v))
        .collect();
    entries.sort_by_key(|(line, _, _)| *line);
    for (line, key, value) in entries {
        let entry: BerryEntry = yaml_serde::from_value(value.clone()).map_err(|e| {
            LockfileError::syntax(
                file,
                line,
                None,
                format!("entry is not a yarn berry entry: {e}"),
            )
        })?;
        let Some(resolution) = entry.resolution else {
            return Err(LockfileError::syntax(
                file,
                line,
                None,
                "entry has no `resolution`; expected `name@npm:version`",
            ));
        };
        let version = entry
            .version
            .as_ref()
            .and_then(scalar)
            .filter(|v| !v.trim().is_empty());
        let Some((name, reference)) = split_name_version(&resolution) else {
            return Err(LockfileError::syntax(
                file,
                line,
                None,
                "expected a `name@protocol:reference` resolution",
            ));
        };
        match (reference.strip_prefix("npm:"), version) {
            (Some(_), Some(version)) => {
                out.packages
                    .push(package(Ecosystem::Npm, name, version, file, line))
            }
            (Some(_), None) => {
                return Err(LockfileError::syntax(
                    file,
                    line,
                    None,
                    format!("entry {key} has no `version`; expected `version: x.y.z`"),
                ));
            }
            (None, _) => out.notes.push(note(
                NoteKind::NotMatchable,
                file,
                line,
                format!("{name}: not from the npm registry"),
            )),
        }
    }
    Ok(out)
}

/// A YAML scalar as text (versions may be read as numbers).
pub(crate) fn scalar(value: &yaml_serde::Value) -> Option<String> {
    match value {
        yaml_serde::Value::String(s) => Some(s.clone()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn line_of(lines: &BTreeMap<String, u32>, key: &str) -> u32 {
    lines.get(key).copied().unwrap_or(0)
}

/// Lines of the keys at column 0 of a YAML document (quoted or plain).
pub(crate) fn top_key_lines(text: &str) -> BTreeMap<String, u32> {
    key_lines(text.lines().enumerate(), 0)
}

/// Lines of the mapping keys at exactly `indent` spaces.
pub(crate) fn key_lines<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
    indent: usize,
) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for (i, raw) in lines {
        let body = raw.trim_start_matches(' ');
        if raw.len() - body.len() != indent || body.starts_with('#') || body.is_empty() {
            continue;
        }
        if let Some(key) = yaml_key(body) {
            out.entry(key).or_insert(saturate(i + 1));
        }
    }
    out
}

/// The key of a `key: value` line: quoted (with `''` or `\"` escapes) or plain (ending
/// at `: ` or a final `:`).
fn yaml_key(body: &str) -> Option<String> {
    if let Some(rest) = body.strip_prefix('\'') {
        let mut key = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    key.push('\'');
                } else {
                    return Some(key);
                }
            } else {
                key.push(c);
            }
        }
        return None;
    }
    if let Some(rest) = body.strip_prefix('"') {
        let mut key = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => key.push(chars.next()?),
                '"' => return Some(key),
                _ => key.push(c),
            }
        }
        return None;
    }
    let end = body
        .find(": ")
        .or_else(|| body.strip_suffix(':').map(str::len))?;
    Some(body.get(..end)?.to_string())
}
