//! Lockfile and SBOM readers: every package a project pins, with the file and line of
//! its entry, and notes on what could not be checked.
//!
//! [`read`] picks a reader by file name ([`Kind::from_path`]); [`discover`] finds the
//! files a folder tree holds. Each reader takes the file's bytes and never panics on
//! hostile input: files are capped at [`MAX_FILE_BYTES`], nesting is bounded, and a
//! malformed file is a [`LockfileError`] naming the file, line and (when known) column.
//!
//! What a reader returns as a [`Package`] is only what an advisory database can match:
//! a registry package at an exact version. Everything else becomes a [`Note`]:
//!
//! - Cargo.lock: packages without a `source` (workspace members and path
//!   dependencies), `git+` sources and registries other than crates.io are notes
//!   ([`NoteKind::NotMatchable`]), because a crates.io advisory does not apply to a
//!   local or forked crate that happens to share a name.
//! - npm, yarn, pnpm: links, workspace members, bundled packages, `file:` and git
//!   sources are notes; aliases (`npm:real@1.0.0`) are reported under the real name.
//! - requirements.txt: only `name==version` (or `===`) is pinned, PEP 440 epochs
//!   (`0!1.9`) included; other specifiers are [`NoteKind::Unpinned`]; `-e`, URLs and
//!   direct references are notes. A `-c` constraint pins a name that a requirement
//!   leaves unpinned; a file given to `-c` and to `-r` is read as each. Includes are read as pip
//!   reads them, relative to the including file and anywhere the process may read
//!   (cycle-safe, at most 16 deep, 256 files and 64 MiB together): scan only trees you
//!   trust as much as the scanning account.
//! - go.mod: `replace` directives are applied (local replacements become notes),
//!   `exclude`d versions are dropped with a note. The `go` directive does not say which
//!   toolchain builds the module, so the standard library is reported as package
//!   `stdlib` only when [`Options::go_stdlib`] is set (at the `toolchain` version, else
//!   at the `go` version). Versions keep their `v` prefix as go.mod writes them.
//! - pom.xml: declared versions after `${property}` substitution; a version that cannot
//!   be resolved from this one file (inherited, or an unknown property) is a note,
//!   never a guess.
//!
//! Notes and errors never quote URLs or option values from the file: index URLs in
//! requirements files and `resolved` URLs in lockfiles may carry credentials.

mod cargo;
mod golang;
mod json_lines;
mod maven;
mod npm;
mod pnpm;
mod purl;
mod python;
mod ruby_php;
mod sbom;
pub(crate) mod text;
mod yarn;

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::confine::{self, Refused};
use crate::package::{Location, Package};

pub use purl::{Purl, purl_to_package};

/// The largest file a reader accepts (64 MiB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Folder names [`discover`] never enters.
pub const SKIPPED_DIRS: [&str; 6] = [
    ".git",
    "node_modules",
    "target",
    "vendor",
    ".venv",
    "__pycache__",
];

/// How deep [`discover`] goes below the folder it is given.
pub const MAX_DISCOVER_DEPTH: usize = 32;

/// How many folder entries [`discover`] looks at before it stops.
pub const MAX_DISCOVER_ENTRIES: usize = 200_000;

/// The kinds of file the readers understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `Cargo.lock` (versions 1 to 4).
    CargoLock,
    /// `package-lock.json` (v1, v2, v3) and `npm-shrinkwrap.json`.
    NpmLock,
    /// `yarn.lock`, classic (v1) or berry (YAML).
    YarnLock,
    /// `pnpm-lock.yaml` (v5, v6, v9).
    PnpmLock,
    /// `requirements.txt` and `requirements-*.txt`.
    Requirements,
    /// `poetry.lock`.
    PoetryLock,
    /// `Pipfile.lock`.
    PipfileLock,
    /// `uv.lock`.
    UvLock,
    /// `go.mod`.
    GoMod,
    /// `composer.lock`.
    ComposerLock,
    /// `Gemfile.lock` and `gems.locked`.
    GemfileLock,
    /// Maven `pom.xml`.
    PomXml,
    /// A CycloneDX or SPDX SBOM in JSON (told apart by content).
    SbomJson,
}

impl Kind {
    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 13] = [
        Kind::CargoLock,
        Kind::NpmLock,
        Kind::YarnLock,
        Kind::PnpmLock,
        Kind::Requirements,
        Kind::PoetryLock,
        Kind::PipfileLock,
        Kind::UvLock,
        Kind::GoMod,
        Kind::ComposerLock,
        Kind::GemfileLock,
        Kind::PomXml,
        Kind::SbomJson,
    ];

    /// The kind a file name denotes: the exact conventional name, or that name after a
    /// `_`, `-` or `.` prefix (`app_Cargo.lock`, `web-package-lock.json`). SBOMs are
    /// `bom.json`, `sbom.json`, `*.cdx.json` and `*.spdx.json`.
    pub fn from_path(path: &Path) -> Option<Kind> {
        let name = path.file_name()?.to_str()?;
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".cdx.json") || lower.ends_with(".spdx.json") {
            return Some(Kind::SbomJson);
        }
        if (lower.starts_with("requirements") && lower.ends_with(".txt"))
            || lower.ends_with("-requirements.txt")
            || lower == "constraints.txt"
        {
            return Some(Kind::Requirements);
        }
        const NAMES: [(&str, Kind); 15] = [
            ("Cargo.lock", Kind::CargoLock),
            ("package-lock.json", Kind::NpmLock),
            ("npm-shrinkwrap.json", Kind::NpmLock),
            ("yarn.lock", Kind::YarnLock),
            ("pnpm-lock.yaml", Kind::PnpmLock),
            ("poetry.lock", Kind::PoetryLock),
            ("Pipfile.lock", Kind::PipfileLock),
            ("uv.lock", Kind::UvLock),
            ("go.mod", Kind::GoMod),
            ("composer.lock", Kind::ComposerLock),
            ("Gemfile.lock", Kind::GemfileLock),
            ("gems.locked", Kind::GemfileLock),
            ("pom.xml", Kind::PomXml),
            ("bom.json", Kind::SbomJson),
            ("sbom.json", Kind::SbomJson),
        ];
        NAMES.iter().find_map(|(conventional, kind)| {
            let prefix = name.strip_suffix(conventional)?;
            let fits = prefix.is_empty() || prefix.ends_with(['_', '-', '.']);
            fits.then_some(*kind)
        })
    }

    /// A short name for reports (`Cargo.lock`, `package-lock.json`, …).
    pub fn name(self) -> &'static str {
        match self {
            Kind::CargoLock => "Cargo.lock",
            Kind::NpmLock => "package-lock.json",
            Kind::YarnLock => "yarn.lock",
            Kind::PnpmLock => "pnpm-lock.yaml",
            Kind::Requirements => "requirements.txt",
            Kind::PoetryLock => "poetry.lock",
            Kind::PipfileLock => "Pipfile.lock",
            Kind::UvLock => "uv.lock",
            Kind::GoMod => "go.mod",
            Kind::ComposerLock => "composer.lock",
            Kind::GemfileLock => "Gemfile.lock",
            Kind::PomXml => "pom.xml",
            Kind::SbomJson => "SBOM (JSON)",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a note is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NoteKind {
    /// A dependency without an exact version (a range, or no version at all).
    Unpinned,
    /// A dependency that is not from a registry the advisories cover (path, git, URL,
    /// workspace member, link, other registry).
    NotMatchable,
    /// A version that refers to something this file does not define (Maven properties,
    /// inherited versions).
    Unresolved,
    /// An entry the reader skipped on purpose (bundled packages, unknown purl types,
    /// excluded versions, options).
    Skipped,
    /// A version that does not parse in its ecosystem: only advisories that list it
    /// explicitly can match it, ranges cannot (added by the scanner).
    Unparsed,
}

/// Something the reader saw but did not turn into a package, so the report can say
/// what was not checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    /// Why.
    pub kind: NoteKind,
    /// Where.
    pub location: Location,
    /// What, in words; never holds URLs or option values from the file.
    pub message: String,
}

/// One file read: its packages and notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockfile {
    /// The file as given.
    pub path: PathBuf,
    /// Its kind.
    pub kind: Kind,
    /// Every registry package at an exact version, in file order.
    pub packages: Vec<Package>,
    /// What was not turned into a package, in file order.
    pub notes: Vec<Note>,
}

/// Options for the readers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// go.mod: report the Go standard library as package `stdlib` (see the module docs).
    pub go_stdlib: bool,
}

impl Options {
    /// Options with `go_stdlib` set as given.
    pub fn with_go_stdlib(mut self, on: bool) -> Self {
        self.go_stdlib = on;
        self
    }
}

/// Why a file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockfileError {
    /// The file could not be opened or read.
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    TooLarge {
        /// The file.
        file: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file name does not say which reader applies.
    UnknownKind {
        /// The file.
        file: PathBuf,
    },
    /// The file is not what its kind requires.
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line (0 when the parser gave no position).
        line: u32,
        /// 1-based column, when known.
        column: Option<u32>,
        /// What was wrong and what was expected.
        message: String,
    },
}

impl LockfileError {
    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            LockfileError::Io { file, .. }
            | LockfileError::TooLarge { file, .. }
            | LockfileError::UnknownKind { file }
            | LockfileError::Syntax { file, .. } => file,
        }
    }

    /// The 1-based line, for syntax errors with a position.
    pub fn line(&self) -> Option<u32> {
        match self {
            LockfileError::Syntax { line, .. } if *line > 0 => Some(*line),
            _ => None,
        }
    }

    pub(crate) fn syntax(
        file: &Path,
        line: u32,
        column: Option<u32>,
        message: impl Into<String>,
    ) -> Self {
        LockfileError::Syntax {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for LockfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockfileError::Io { file, source } => {
                write!(
                    f,
                    "{}: cannot read the file ({source}); check the path and permissions",
                    file.display()
                )
            }
            LockfileError::TooLarge { file, limit } => write!(
                f,
                "{}: larger than {limit} bytes; a lockfile this large is refused, split the project or check the file",
                file.display()
            ),
            LockfileError::UnknownKind { file } => write!(
                f,
                "{}: the file name is not a known lockfile or SBOM name (Cargo.lock, package-lock.json, yarn.lock, \
                 pnpm-lock.yaml, requirements.txt, poetry.lock, Pipfile.lock, uv.lock, go.mod, composer.lock, \
                 Gemfile.lock, pom.xml, *.cdx.json, *.spdx.json); rename it or name its kind",
                file.display()
            ),
            LockfileError::Syntax {
                file,
                line,
                column,
                message,
            } => {
                write!(f, "{}", file.display())?;
                if *line > 0 {
                    write!(f, ":{line}")?;
                    if let Some(column) = column {
                        write!(f, ":{column}")?;
                    }
                }
                write!(
                    f,
                    ": {message}; regenerate the file with its package manager or fix that line"
                )
            }
        }
    }
}

impl std::error::Error for LockfileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockfileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Reads the packages of one file, choosing the reader by its name.
///
/// # Errors
/// [`LockfileError`] when the file cannot be read, is too large, has an unknown name,
/// or is malformed.
pub fn read_file(path: &Path) -> Result<Vec<Package>, LockfileError> {
    read(path, Options::default()).map(|lockfile| lockfile.packages)
}

/// Reads one file, choosing the reader by its name, with packages and notes.
///
/// # Errors
/// As [`read_file`].
pub fn read(path: &Path, options: Options) -> Result<Lockfile, LockfileError> {
    let kind = Kind::from_path(path).ok_or_else(|| LockfileError::UnknownKind {
        file: path.to_path_buf(),
    })?;
    read_as(path, kind, options)
}

/// Reads one file as the given kind.
///
/// # Errors
/// As [`read_file`].
pub fn read_as(path: &Path, kind: Kind, options: Options) -> Result<Lockfile, LockfileError> {
    let bytes = read_capped(path)?;
    if kind == Kind::Requirements {
        let loader = |include: &Path| read_capped(include);
        return python::read_requirements(path, &bytes, &loader);
    }
    parse(path, kind, &bytes, options)
}

/// Reads one file as [`read`] does, for a service that may read only some folders: a
/// requirements file's `-r`/`-c` includes are read only when they resolve inside
/// `roots` ([`crate::confine::resolve_within`]: links are followed one by one and
/// never out of the roots). A refused include gives the same error whether anything
/// exists at its target or not.
///
/// # Errors
/// As [`read_file`]; an include outside the roots is [`LockfileError::Io`] with kind
/// `PermissionDenied`, one missing inside them kind `NotFound`.
pub fn read_confined(
    path: &Path,
    options: Options,
    roots: &[PathBuf],
) -> Result<Lockfile, LockfileError> {
    let kind = Kind::from_path(path).ok_or_else(|| LockfileError::UnknownKind {
        file: path.to_path_buf(),
    })?;
    let bytes = read_capped(path)?;
    if kind != Kind::Requirements {
        return parse(path, kind, &bytes, options);
    }
    let loader = |include: &Path| {
        let real = confine::resolve_within(include, roots).map_err(|refused| {
            let kind = match refused {
                Refused::Outside => io::ErrorKind::PermissionDenied,
                _ => io::ErrorKind::NotFound,
            };
            LockfileError::Io {
                file: include.to_path_buf(),
                source: io::Error::new(kind, refused.to_string()),
            }
        })?;
        read_capped(&real)
    };
    python::read_requirements(path, &bytes, &loader)
}

/// Parses bytes as the given kind, as if they came from `path` (which only names the
/// file in locations and errors; requirements files read no includes here).
///
/// # Errors
/// [`LockfileError::Syntax`] when the bytes are not a valid file of that kind, and
/// [`LockfileError::TooLarge`] above [`MAX_FILE_BYTES`].
pub fn parse(
    path: &Path,
    kind: Kind,
    bytes: &[u8],
    options: Options,
) -> Result<Lockfile, LockfileError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LockfileError::TooLarge {
            file: path.to_path_buf(),
            limit: MAX_FILE_BYTES,
        });
    }
    let text = text::utf8(path, bytes)?;
    let lockfile = match kind {
        Kind::CargoLock => cargo::read(path, text),
        Kind::NpmLock => npm::read(path, text),
        Kind::YarnLock => yarn::read(path, text),
        Kind::PnpmLock => pnpm::read(path, text),
        Kind::Requirements => {
            let no_includes = |include: &Path| {
                Err(LockfileError::Io {
                    file: include.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::Unsupported,
                        "includes are read only from files",
                    ),
                })
            };
            return python::read_requirements(path, bytes, &no_includes).map(named_only);
        }
        Kind::PoetryLock => python::read_poetry(path, text),
        Kind::PipfileLock => python::read_pipfile(path, text),
        Kind::UvLock => python::read_uv(path, text),
        Kind::GoMod => golang::read(path, text, options),
        Kind::ComposerLock => ruby_php::read_composer(path, text),
        Kind::GemfileLock => ruby_php::read_gemfile(path, text),
        Kind::PomXml => maven::read(path, text),
        Kind::SbomJson => sbom::read(path, text),
    }?;
    // Readers of nested formats find entries out of order; reports read better in file
    // order (the sort is stable, so entries without a line keep their order).
    let mut lockfile = named_only(lockfile);
    lockfile.packages.sort_by_key(|p| p.location.line);
    lockfile.notes.sort_by_key(|n| n.location.line);
    Ok(lockfile)
}

/// Entries without a name or version (a v1 npm lock's `""` key, say) cannot be matched:
/// whatever format they come from, they become notes instead of packages.
fn named_only(mut lockfile: Lockfile) -> Lockfile {
    if lockfile
        .packages
        .iter()
        .all(|p| !p.name.is_empty() && !p.version.is_empty())
    {
        return lockfile;
    }
    let (kept, nameless): (Vec<Package>, Vec<Package>) = std::mem::take(&mut lockfile.packages)
        .into_iter()
        .partition(|p| !p.name.is_empty() && !p.version.is_empty());
    lockfile.packages = kept;
    for p in nameless {
        lockfile.notes.push(Note {
            kind: NoteKind::NotMatchable,
            location: p.location,
            message: "an entry without a package name or version, not checked".into(),
        });
    }
    lockfile
}

/// Reads a file whole, refusing files above [`MAX_FILE_BYTES`].
fn read_capped(path: &Path) -> Result<Vec<u8>, LockfileError> {
    let io_error = |source| LockfileError::Io {
        file: path.to_path_buf(),
        source,
    };
    // A FIFO or device would block or never end: only regular files are read.
    let meta = fs::metadata(path).map_err(io_error)?;
    if !meta.is_file() {
        return Err(io_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or folder is never read as a lockfile)",
        )));
    }
    let file = fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(LockfileError::TooLarge {
            file: path.to_path_buf(),
            limit: MAX_FILE_BYTES,
        });
    }
    Ok(bytes)
}

/// Finds the lockfiles and SBOMs in a folder tree, sorted.
///
/// Skips [`SKIPPED_DIRS`], never follows symbolic links (so link loops cannot trap it),
/// goes at most [`MAX_DISCOVER_DEPTH`] folders deep and looks at no more than
/// [`MAX_DISCOVER_ENTRIES`] entries. Folders it cannot read are passed over. A `root`
/// that is itself a known file is returned alone.
pub fn discover(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    if root.is_file() {
        if Kind::from_path(root).is_some() {
            found.push(root.to_path_buf());
        }
        return found;
    }
    let mut pending = vec![(root.to_path_buf(), 0usize)];
    let mut seen = 0usize;
    while let Some((dir, depth)) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > MAX_DISCOVER_ENTRIES {
                found.sort();
                return found;
            }
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if file_type.is_dir() {
                let name = entry.file_name();
                let skipped = SKIPPED_DIRS.iter().any(|s| name.as_os_str() == *s);
                if !skipped && depth < MAX_DISCOVER_DEPTH {
                    pending.push((path, depth + 1));
                }
            } else if file_type.is_file() && Kind::from_path(&path).is_some() {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Builds a package at a location.
pub(crate) fn package(
    ecosystem: crate::package::Ecosystem,
    name: impl Into<String>,
    version: impl Into<String>,
    file: &Path,
    line: u32,
) -> Package {
    Package {
        ecosystem,
        name: name.into(),
        version: version.into(),
        location: Location {
            file: file.to_path_buf(),
            line,
        },
    }
}

/// Builds a note at a location.
pub(crate) fn note(kind: NoteKind, file: &Path, line: u32, message: impl Into<String>) -> Note {
    Note {
        kind,
        location: Location {
            file: file.to_path_buf(),
            line,
        },
        message: message.into(),
    }
}
