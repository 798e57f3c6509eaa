//! `composer.lock` (PHP, Packagist) and `Gemfile.lock` (Ruby, RubyGems).

use std::path::Path;

use serde::Deserialize;

use super::json_lines::{JsonLines, pointer};
use super::text::{json_error, saturate};
use super::{Kind, Lockfile, LockfileError, NoteKind, note, package};
use crate::package::Ecosystem;

#[derive(Deserialize)]
struct ComposerLock {
    #[serde(default)]
    packages: Vec<ComposerPackage>,
    #[serde(default, rename = "packages-dev")]
    packages_dev: Vec<ComposerPackage>,
}

#[derive(Deserialize)]
struct ComposerPackage {
    name: String,
    version: String,
}

/// Reads a composer.lock (`packages` and `packages-dev`).
pub(crate) fn read_composer(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let lock: ComposerLock = serde_json::from_str(text).map_err(|e| json_error(file, &e))?;
    let lines = JsonLines::scan(text, &|path| {
        path.len() == 2
            && path
                .first()
                .is_some_and(|s| s == "packages" || s == "packages-dev")
    });
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::ComposerLock,
        packages: vec![],
        notes: vec![],
    };
    for (section, list) in [
        ("packages", lock.packages),
        ("packages-dev", lock.packages_dev),
    ] {
        for (i, entry) in list.into_iter().enumerate() {
            let line = lines.line(&pointer(&[section, &i.to_string()]));
            if entry.version.starts_with("dev-") || entry.version.ends_with("-dev") {
                let message = format!(
                    "{}: a development branch, not a release; not checked",
                    entry.name
                );
                out.notes
                    .push(note(NoteKind::NotMatchable, file, line, message));
            } else {
                out.packages.push(package(
                    Ecosystem::Packagist,
                    entry.name,
                    entry.version,
                    file,
                    line,
                ));
            }
        }
    }
    Ok(out)
}

/// Reads a Gemfile.lock: the `specs:` of `GEM` sections (four-space entries
/// `name (version[-platform])`); `GIT` and `PATH` specs become notes.
pub(crate) fn read_gemfile(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::GemfileLock,
        packages: vec![],
        notes: vec![],
    };
    let mut section = "";
    let mut in_specs = false;
    for (i, raw) in text.lines().enumerate() {
        let line = saturate(i + 1);
        let trimmed = raw.trim_end();
        if trimmed.is_empty() {
            continue;
        }
        if !trimmed.starts_with(' ') {
            section = trimmed;
            in_specs = false;
            continue;
        }
        let body = trimmed.trim_start();
        let indent = trimmed.len() - body.len();
        if indent == 2 {
            in_specs = body == "specs:";
            continue;
        }
        if indent != 4 || !in_specs || !matches!(section, "GEM" | "GIT" | "PATH") {
            continue;
        }
        let (name, version) = gem_spec(body).ok_or_else(|| {
            LockfileError::syntax(file, line, Some(5), "expected a gem spec `name (version)`")
        })?;
        if section == "GEM" {
            out.packages
                .push(package(Ecosystem::RubyGems, name, version, file, line));
        } else {
            let message = format!("{name} {version}: from a {section} source, not checked");
            out.notes
                .push(note(NoteKind::NotMatchable, file, line, message));
        }
    }
    Ok(out)
}

/// `nokogiri (1.13.10-x86_64-linux)` → (`nokogiri`, `1.13.10`). Gem versions have no
/// `-`; what follows one is the platform.
fn gem_spec(body: &str) -> Option<(&str, &str)> {
    let (name, rest) = body.split_once(" (")?;
    let version = rest.strip_suffix(')')?;
    let version = version.split('-').next()?;
    let valid =
        !name.is_empty() && !name.contains(' ') && !version.is_empty() && !version.contains(' ');
    valid.then_some((name, version))
}
