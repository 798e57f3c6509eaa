//! `package-lock.json` (v1 `dependencies`, v2/v3 `packages`) and `npm-shrinkwrap.json`.

use std::path::Path;

use serde_json::{Map, Value};

use super::json_lines::{JsonLines, pointer};
use super::text::json_error;
use super::{Kind, Lockfile, LockfileError, NoteKind, note, package};
use crate::package::Ecosystem;

/// Reads an npm lockfile.
pub(crate) fn read(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| json_error(file, &e))?;
    let Some(root) = doc.as_object() else {
        return Err(LockfileError::syntax(
            file,
            1,
            Some(1),
            "expected a JSON object at the top",
        ));
    };
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::NpmLock,
        packages: vec![],
        notes: vec![],
    };
    if let Some(packages) = root.get("packages") {
        let Some(packages) = packages.as_object() else {
            return Err(LockfileError::syntax(
                file,
                0,
                None,
                "expected `packages` to be an object",
            ));
        };
        let lines = JsonLines::scan(text, &|path| {
            path.len() == 2 && path.first().is_some_and(|s| s == "packages")
        });
        read_packages(file, packages, &lines, &mut out);
    } else if let Some(dependencies) = root.get("dependencies") {
        let lines = JsonLines::scan(text, &|path| {
            path.iter().step_by(2).all(|s| s == "dependencies")
        });
        read_dependencies(file, dependencies, &lines, &mut out)?;
    }
    Ok(out)
}

/// v2/v3: `packages` keyed by install path (`node_modules/a/node_modules/b`).
fn read_packages(
    file: &Path,
    packages: &Map<String, Value>,
    lines: &JsonLines,
    out: &mut Lockfile,
) {
    for (key, entry) in packages {
        let line = lines.line(&pointer(&["packages", key]));
        let Some((_, installed_as)) = key.rsplit_once("node_modules/") else {
            if !key.is_empty() {
                out.notes.push(note(
                    NoteKind::NotMatchable,
                    file,
                    line,
                    format!("{key}: workspace package, not checked"),
                ));
            }
            continue;
        };
        let flag = |name: &str| entry.get(name).and_then(Value::as_bool).unwrap_or(false);
        if flag("link") {
            out.notes.push(note(
                NoteKind::NotMatchable,
                file,
                line,
                format!("{installed_as}: a link, not checked"),
            ));
            continue;
        }
        if flag("inBundle") {
            out.notes.push(note(
                NoteKind::Skipped,
                file,
                line,
                format!("{installed_as}: bundled in its parent"),
            ));
            continue;
        }
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(installed_as);
        let resolved = entry.get("resolved").and_then(Value::as_str);
        add(
            file,
            line,
            name,
            entry.get("version").and_then(Value::as_str),
            resolved,
            out,
        );
    }
}

/// v1: `dependencies` nested in `dependencies`.
fn read_dependencies(
    file: &Path,
    top: &Value,
    lines: &JsonLines,
    out: &mut Lockfile,
) -> Result<(), LockfileError> {
    let mut pending: Vec<(Vec<String>, &Value)> = vec![(vec!["dependencies".to_string()], top)];
    while let Some((path, dependencies)) = pending.pop() {
        let Some(dependencies) = dependencies.as_object() else {
            let line = lines.line(&pointer(&path));
            return Err(LockfileError::syntax(
                file,
                line,
                None,
                "expected `dependencies` to be an object",
            ));
        };
        let mut nested = Vec::new();
        for (name, entry) in dependencies {
            let mut entry_path = path.clone();
            entry_path.push(name.clone());
            let line = lines.line(&pointer(&entry_path));
            if entry
                .get("bundled")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                out.notes.push(note(
                    NoteKind::Skipped,
                    file,
                    line,
                    format!("{name}: bundled in its parent"),
                ));
            } else {
                let version = entry.get("version").and_then(Value::as_str);
                add(
                    file,
                    line,
                    name,
                    version,
                    entry.get("resolved").and_then(Value::as_str),
                    out,
                );
            }
            if let Some(inner) = entry.get("dependencies") {
                entry_path.push("dependencies".to_string());
                nested.push((entry_path, inner));
            }
        }
        // Depth first, in file order.
        pending.extend(nested.into_iter().rev());
    }
    Ok(())
}

/// Adds one entry: a registry package, or a note saying why not.
fn add(
    file: &Path,
    line: u32,
    name: &str,
    version: Option<&str>,
    resolved: Option<&str>,
    out: &mut Lockfile,
) {
    let Some(version) = version else {
        out.notes.push(note(
            NoteKind::Unpinned,
            file,
            line,
            format!("{name}: no version"),
        ));
        return;
    };
    let (name, version) = match version.strip_prefix("npm:") {
        Some(alias) => match split_name_version(alias) {
            Some((real, v)) => (real, v),
            None => {
                out.notes.push(note(
                    NoteKind::NotMatchable,
                    file,
                    line,
                    format!("{name}: an alias without a version"),
                ));
                return;
            }
        },
        None => (name, version),
    };
    let from_elsewhere = resolved.is_some_and(|r| r.starts_with("git") || r.starts_with("file:"))
        || !version.starts_with(|c: char| c.is_ascii_digit());
    if from_elsewhere {
        out.notes.push(note(
            NoteKind::NotMatchable,
            file,
            line,
            format!("{name}: not from the npm registry"),
        ));
        return;
    }
    out.packages
        .push(package(Ecosystem::Npm, name, version, file, line));
}

/// `name@version` with a scoped name allowed (`@scope/name@1.0.0`): the name ends at
/// the first `@` after its first character, so the rest may hold more (`npm:real@1`).
pub(crate) fn split_name_version(spec: &str) -> Option<(&str, &str)> {
    let at = spec.get(1..)?.find('@')? + 1;
    let (name, version) = (spec.get(..at)?, spec.get(at + 1..)?);
    (!name.is_empty() && !version.is_empty()).then_some((name, version))
}
