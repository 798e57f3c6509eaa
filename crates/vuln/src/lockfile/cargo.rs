//! `Cargo.lock`, versions 1 to 4 (TOML `[[package]]` tables).

use std::path::Path;

use serde::Deserialize;

use super::text::{array_table_lines, nth_line, toml_error};
use super::{Kind, Lockfile, LockfileError, NoteKind, note, package};
use crate::package::Ecosystem;

/// The crates.io index, as a `source` names it (git and sparse protocols).
const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

#[derive(Deserialize)]
struct CargoLock {
    #[serde(default)]
    package: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
    source: Option<String>,
}

/// Reads a Cargo.lock.
pub(crate) fn read(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let lock: CargoLock = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let lines = array_table_lines(text, "package");
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::CargoLock,
        packages: vec![],
        notes: vec![],
    };
    for (i, entry) in lock.package.into_iter().enumerate() {
        let line = nth_line(&lines, i);
        let what = format!("{} {}", entry.name, entry.version);
        match entry.source.as_deref() {
            Some(source) if CRATES_IO.contains(&source) => {
                out.packages.push(package(
                    Ecosystem::CratesIo,
                    entry.name,
                    entry.version,
                    file,
                    line,
                ));
            }
            None => out.notes.push(note(
                NoteKind::NotMatchable,
                file,
                line,
                format!("{what}: a workspace member or path dependency, not checked"),
            )),
            Some(source) if source.starts_with("git+") => out.notes.push(note(
                NoteKind::NotMatchable,
                file,
                line,
                format!("{what}: from a git repository, not checked against crates.io advisories"),
            )),
            Some(_) => out.notes.push(note(
                NoteKind::NotMatchable,
                file,
                line,
                format!("{what}: from a registry other than crates.io, not checked"),
            )),
        }
    }
    Ok(out)
}
