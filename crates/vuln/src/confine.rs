//! Resolving a path inside a set of allowed folders without looking outside them.
//!
//! A service that may read only some folders (the server's `[vuln] allowed_roots`)
//! must not become an oracle for the rest of the file system. `Path::canonicalize`
//! would follow a symbolic link out of a root and fail or succeed depending on what
//! lies at its target, and the caller could tell the two apart. [`resolve_within`]
//! follows links one step at a time and stops as soon as a step leaves every root:
//! its answer depends only on what lies inside the roots and on the text of the links
//! found there.

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Most symbolic links followed while resolving one path (as Linux's `MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Why a path was not resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refused {
    /// Not absolute, or outside every root as written or once links are followed;
    /// said alike whether anything exists there.
    Outside,
    /// Inside a root, but missing or unreadable there (or a link loop).
    Missing,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Outside => "outside the folders this scan may read",
            Refused::Missing => "does not exist or cannot be read",
        })
    }
}

impl std::error::Error for Refused {}

/// One step of a path still to resolve.
enum Step {
    Up,
    Name(OsString),
}

fn steps(path: &Path) -> Vec<Step> {
    let mut out: Vec<Step> = path
        .components()
        .filter_map(|c| match c {
            Component::ParentDir => Some(Step::Up),
            Component::Normal(name) => Some(Step::Name(name.to_owned())),
            _ => None,
        })
        .collect();
    out.reverse(); // a stack: the first step last
    out
}

/// `path` with `.` and `..` applied as text (no link is followed).
pub fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for step in path.components() {
        match step {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The real (link-free) path of `path`, which must lie under one of `roots` both as
/// written and at every step of its resolution. Nothing outside the roots is ever
/// looked at: a link whose target leaves them is [`Refused::Outside`] whether that
/// target exists or not.
///
/// # Errors
/// [`Refused`].
pub fn resolve_within(path: &Path, roots: &[PathBuf]) -> Result<PathBuf, Refused> {
    let real_roots: Vec<(PathBuf, PathBuf)> = roots
        .iter()
        .filter_map(|r| Some((r.clone(), r.canonicalize().ok()?)))
        .collect();
    // The real root a textual path starts from, and the rest of the path.
    let enter = |p: &Path| -> Option<(PathBuf, Vec<Step>)> {
        real_roots.iter().find_map(|(given, real)| {
            let rest = p
                .strip_prefix(given)
                .or_else(|_| p.strip_prefix(real))
                .ok()?;
            Some((real.clone(), steps(rest)))
        })
    };
    let inside = |p: &Path| real_roots.iter().any(|(_, real)| p.starts_with(real));

    if !path.is_absolute() {
        return Err(Refused::Outside);
    }
    let written = lexically_normal(path);
    if !roots.iter().any(|r| written.starts_with(r)) {
        return Err(Refused::Outside);
    }
    // A root that does not exist is the operator's matter, not a secret.
    let (mut current, mut pending) = enter(&written).ok_or(Refused::Missing)?;
    let mut links = 0;
    while let Some(step) = pending.pop() {
        let name = match step {
            Step::Up => {
                current.pop();
                if !inside(&current) {
                    return Err(Refused::Outside);
                }
                continue;
            }
            Step::Name(name) => name,
        };
        let next = current.join(&name);
        let meta = fs::symlink_metadata(&next).map_err(|_| Refused::Missing)?;
        if !meta.file_type().is_symlink() {
            current = next;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err(Refused::Missing);
        }
        let target = fs::read_link(&next).map_err(|_| Refused::Missing)?;
        if target.is_absolute() {
            let (root, rest) = enter(&lexically_normal(&target)).ok_or(Refused::Outside)?;
            current = root;
            pending.extend(rest);
        } else {
            // Relative to the link's folder, which is `current`.
            pending.extend(steps(&target));
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn links_out_are_refused_alike_whether_their_target_exists() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), "x").unwrap();
        fs::write(root.join("sub/file"), "x").unwrap();
        let link = |name: &str, target: &Path| {
            std::os::unix::fs::symlink(target, root.join(name)).unwrap();
        };
        link("to-secret", &outside.join("secret"));
        link("to-nothing", &outside.join("nothing"));
        link("up-secret", Path::new("../outside/secret"));
        link("up-nothing", Path::new("../outside/nothing"));
        link("inner", Path::new("sub/file"));
        link("abs-inner", &root.join("sub"));
        link("loop", Path::new("loop"));
        let roots = [root.clone()];
        let at = |rel: &str| resolve_within(&root.join(rel), &roots);

        for out in ["to-secret", "to-nothing", "up-secret", "up-nothing"] {
            assert_eq!(at(out), Err(Refused::Outside), "{out}");
        }
        assert_eq!(at("inner"), Ok(root.join("sub/file")));
        assert_eq!(at("abs-inner/file"), Ok(root.join("sub/file")));
        assert_eq!(at("sub/none"), Err(Refused::Missing));
        assert_eq!(at("loop"), Err(Refused::Missing));
        assert_eq!(at("sub/../sub/file"), Ok(root.join("sub/file")));
        assert_eq!(at("../outside/secret"), Err(Refused::Outside));
        assert_eq!(
            resolve_within(Path::new("relative"), &roots),
            Err(Refused::Outside)
        );
    }
}
