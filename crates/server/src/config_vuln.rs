//! `[vuln]`: scheduled vulnerability scans run by the server (see the operator guide,
//! "Vulnerability scans", and docs/vuln.md).
//!
//! The server reads lockfiles and advisory files only under `allowed_roots`. A path
//! outside them is refused before the file system is touched, and a path inside them is
//! resolved one link at a time without ever looking outside ([`resolve_within`]), so
//! that a caller who may add scan targets cannot use the server to learn which files
//! exist elsewhere.

use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};
use webqx_vuln::confine::{Refused, resolve_within};

/// Default of `max_targets`.
pub const DEFAULT_MAX_TARGETS: usize = 1000;
/// Largest `max_targets` accepted.
const MAX_MAX_TARGETS: usize = 100_000;

/// `[vuln]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VulnSection {
    /// The advisory database folder; unset: `DATA/vuln`.
    pub db_dir: Option<PathBuf>,
    /// Absolute folders under which scan targets and database imports may read. Empty
    /// (the default): the server scans nothing and imports nothing.
    pub allowed_roots: Vec<PathBuf>,
    /// Most scan targets the server keeps (each is scanned on its schedule, so this
    /// bounds the scan load a `vuln-write` token can create).
    pub max_targets: usize,
}

impl Default for VulnSection {
    fn default() -> Self {
        VulnSection {
            db_dir: None,
            allowed_roots: Vec::new(),
            max_targets: DEFAULT_MAX_TARGETS,
        }
    }
}

impl VulnSection {
    /// Checks every value; the error names the key.
    ///
    /// # Errors
    /// `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(dir) = &self.db_dir
            && dir.as_os_str().is_empty()
        {
            return Err((
                "db_dir",
                "is empty; name a folder, or leave the key out for DATA/vuln".into(),
            ));
        }
        if self.max_targets == 0 || self.max_targets > MAX_MAX_TARGETS {
            return Err((
                "max_targets",
                format!("must be 1-{MAX_MAX_TARGETS} (default {DEFAULT_MAX_TARGETS})"),
            ));
        }
        for root in &self.allowed_roots {
            if !root.is_absolute() || has_parent_step(root) {
                return Err((
                    "allowed_roots",
                    format!(
                        "'{}' must be an absolute folder without '..'",
                        root.display()
                    ),
                ));
            }
            if root.parent().is_none() {
                return Err((
                    "allowed_roots",
                    "'/' would let scan targets read the whole file system; name the folders \
                     that hold the lockfiles"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The database folder for the data folder `data_dir`.
    pub fn db_dir(&self, data_dir: &Path) -> PathBuf {
        self.db_dir.clone().unwrap_or_else(|| data_dir.join("vuln"))
    }

    /// `path` when it lies under one of `allowed_roots`, resolved (symbolic links
    /// followed one by one, never out of the roots).
    ///
    /// # Errors
    /// A message for the caller that names only the path it gave: outside the roots
    /// (as written, checked before any file-system access, or through a link; alike
    /// whether anything exists there), or missing under them.
    pub fn confine(&self, path: &str) -> Result<PathBuf, String> {
        let outside = || {
            format!(
                "path '{path}' is outside [vuln] allowed_roots; the server reads lockfiles and \
                 advisories only under the folders its operator listed there"
            )
        };
        let given = Path::new(path);
        if path.is_empty() || !given.is_absolute() || has_parent_step(given) {
            return Err(format!(
                "path '{path}' must be absolute and without '..' (and under [vuln] allowed_roots)"
            ));
        }
        if !self.allowed_roots.iter().any(|r| given.starts_with(r)) {
            return Err(outside());
        }
        match resolve_within(given, &self.allowed_roots) {
            Ok(real) => Ok(real),
            // A symbolic link under a root that leads out of every root.
            Err(Refused::Outside) => Err(outside()),
            Err(_) => Err(format!("path '{path}' does not exist or cannot be read")),
        }
    }
}

fn has_parent_step(path: &Path) -> bool {
    path.components().any(|c| matches!(c, Component::ParentDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(root: &Path) -> VulnSection {
        VulnSection {
            allowed_roots: vec![root.to_path_buf()],
            ..VulnSection::default()
        }
    }

    #[test]
    fn paths_outside_the_roots_are_refused_without_looking() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("locks");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("Cargo.lock"), "version = 3\n").unwrap();
        let v = section(&root);

        let inside = root.join("Cargo.lock");
        assert!(v.confine(inside.to_str().unwrap()).is_ok());
        for bad in [
            "/etc/passwd",
            "/etc/does-not-exist",
            "relative/Cargo.lock",
            "",
        ] {
            let e = v.confine(bad).unwrap_err();
            assert!(
                e.contains("outside") || e.contains("absolute"),
                "{bad}: {e}"
            );
        }
        let climb = format!("{}/../../etc/passwd", root.display());
        assert!(v.confine(&climb).unwrap_err().contains("'..'"));
        let missing = root.join("nope.lock");
        assert!(
            v.confine(missing.to_str().unwrap())
                .unwrap_err()
                .contains("does not exist")
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_out_of_the_roots_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("locks");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", root.join("link-a")).unwrap();
        std::os::unix::fs::symlink("/etc/no-such-file", root.join("link-b")).unwrap();
        let v = section(&root);
        let link = root.join("etc/hostname");
        let e = v.confine(link.to_str().unwrap()).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        // The same answer whether the link's target exists or not (review: a missing
        // target said "does not exist", an existing one "outside": an oracle).
        let refusal = |name: &str| {
            let p = root.join(name);
            v.confine(p.to_str().unwrap())
                .unwrap_err()
                .replace(name, "LINK")
        };
        assert_eq!(refusal("link-a"), refusal("link-b"));
        assert!(refusal("link-b").contains("outside"));
    }

    #[test]
    fn roots_must_be_absolute_folders_below_slash() {
        let mut v = section(Path::new("relative"));
        assert_eq!(v.check().unwrap_err().0, "allowed_roots");
        v.allowed_roots = vec!["/".into()];
        assert_eq!(v.check().unwrap_err().0, "allowed_roots");
        v.allowed_roots = vec!["/srv/../etc".into()];
        assert_eq!(v.check().unwrap_err().0, "allowed_roots");
        v.allowed_roots = vec!["/srv/locks".into()];
        assert!(v.check().is_ok());
        assert_eq!(v.max_targets, DEFAULT_MAX_TARGETS);
        v.max_targets = 0;
        assert_eq!(v.check().unwrap_err().0, "max_targets");
    }
}
