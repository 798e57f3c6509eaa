//! `pnpm-lock.yaml`: the `packages` map, keyed `/name/1.0.0` (v5, peers after `_`),
//! `/name@1.0.0` (v6) or `name@1.0.0` (v9), with peer suffixes `(react@18.2.0)`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::npm::split_name_version;
use super::text::{yaml_depth_guard, yaml_error};
use super::yarn::{key_lines, scalar};
use super::{Kind, Lockfile, LockfileError, NoteKind, note, package};
use crate::package::Ecosystem;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PnpmLock {
    lockfile_version: Option<yaml_serde::Value>,
    #[serde(default)]
    packages: Option<BTreeMap<String, Option<PnpmEntry>>>,
}

#[derive(Deserialize, Default)]
struct PnpmEntry {
    name: Option<String>,
    version: Option<yaml_serde::Value>,
}

/// Reads a pnpm lockfile.
pub(crate) fn read(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    yaml_depth_guard(file, text)?;
    let lock: PnpmLock = yaml_serde::from_str(text).map_err(|e| yaml_error(file, &e))?;
    let major = lock
        .lockfile_version
        .as_ref()
        .and_then(scalar)
        .and_then(|v| v.split('.').next().and_then(|m| m.parse::<u32>().ok()))
        .ok_or_else(|| {
            LockfileError::syntax(file, 1, None, "expected a `lockfileVersion` number")
        })?;
    let lines = package_lines(text);
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::PnpmLock,
        packages: vec![],
        notes: vec![],
    };
    let mut entries: Vec<_> = lock
        .packages
        .unwrap_or_default()
        .into_iter()
        .map(|(key, entry)| {
            (
                lines.get(&key).copied().unwrap_or(0),
                key,
                entry.unwrap_or_default(),
            )
        })
        .collect();
    entries.sort_by_key(|(line, _, _)| *line);
    for (line, key, entry) in entries {
        let parsed = if major < 6 {
            split_v5(&key)
        } else {
            split_v6(&key)
        };
        let field_version = entry.version.as_ref().and_then(scalar);
        let (name, version) = match (parsed, entry.name, field_version) {
            (_, Some(name), Some(version)) => (name, version),
            (Some((name, version)), _, _) => (name.to_string(), version.to_string()),
            (None, _, _) => {
                return Err(LockfileError::syntax(
                    file,
                    line,
                    None,
                    "expected a package key `name@version`",
                ));
            }
        };
        if version.contains(':')
            || version.contains('/')
            || !version.starts_with(|c: char| c.is_ascii_digit())
        {
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
    }
    Ok(out)
}

/// v5: `/name/1.0.0` or `/@scope/name/1.0.0_peer@1.0.0`.
fn split_v5(key: &str) -> Option<(&str, &str)> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let (name, version) = key.rsplit_once('/')?;
    let version = version.split('_').next()?;
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}

/// v6 and v9: `/name@1.0.0(peer@1)` or `name@1.0.0`.
fn split_v6(key: &str) -> Option<(&str, &str)> {
    let key = key.strip_prefix('/').unwrap_or(key);
    let key = key.split('(').next()?;
    split_name_version(key)
}

/// Lines of the keys under the top-level `packages:`.
fn package_lines(text: &str) -> BTreeMap<String, u32> {
    let mut section = Vec::new();
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let top =
            !line.starts_with([' ', '\t']) && !line.trim().is_empty() && !line.starts_with('#');
        if top {
            inside = line.trim_end() == "packages:";
            continue;
        }
        if inside {
            section.push((i, line));
        }
    }
    let indent = section
        .iter()
        .find(|(_, l)| !l.trim().is_empty())
        .map_or(2, |(_, l)| l.len() - l.trim_start_matches(' ').len());
    key_lines(section.into_iter(), indent)
}
