//! The data folder: `store.db` (SQLite), `tls/` (CA certificate, server certificate
//! and key), `admin.token`, `unseal.key` (local use only), `addr` (where the server
//! listens, for the CLI). Folders are 0700 and files 0600; start-up refuses a folder
//! or secret file that others can read.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Paths inside the data folder.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The folder itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// SQLite database.
    pub fn store(&self) -> PathBuf {
        self.root.join("store.db")
    }

    /// TLS folder.
    pub fn tls(&self) -> PathBuf {
        self.root.join("tls")
    }

    /// CA certificate that clients trust.
    pub fn ca_pem(&self) -> PathBuf {
        self.tls().join("ca.pem")
    }

    /// Server certificate chain.
    pub fn server_pem(&self) -> PathBuf {
        self.tls().join("server.pem")
    }

    /// Server private key.
    pub fn server_key(&self) -> PathBuf {
        self.tls().join("server.key")
    }

    /// Admin token.
    pub fn admin_token(&self) -> PathBuf {
        self.root.join("admin.token")
    }

    /// Unseal key of a key-file seal.
    pub fn unseal_key(&self) -> PathBuf {
        self.root.join("unseal.key")
    }

    /// Marks a production `init` in progress: if it fails, `serve` must not quietly
    /// initialize the folder for local use instead.
    pub fn init_marker(&self) -> PathBuf {
        self.root.join(".init-in-progress")
    }

    /// The address the server listens on, written at start for the CLI.
    pub fn addr(&self) -> PathBuf {
        self.root.join("addr")
    }

    /// Creates the folder and `tls/` (0700) if missing, then checks permissions.
    ///
    /// # Errors
    /// A message saying what to fix.
    pub fn ensure(&self) -> Result<(), String> {
        for dir in [self.root.clone(), self.tls()] {
            if !dir.exists() {
                create_private_dir(&dir)?;
            }
        }
        self.check_permissions()
    }

    /// Refuses a folder or file that group or others can access.
    ///
    /// # Errors
    /// A message naming the path and the `chmod` that fixes it.
    pub fn check_permissions(&self) -> Result<(), String> {
        let paths = [
            self.root.clone(),
            self.tls(),
            self.store(),
            self.root.join("store.db-wal"),
            self.root.join("store.db-shm"),
            self.server_key(),
            self.admin_token(),
            self.unseal_key(),
        ];
        for path in paths.iter().filter(|p| p.exists()) {
            let mode = mode_of(path)?;
            if mode & 0o077 != 0 {
                let want = if path.is_dir() { "700" } else { "600" };
                return Err(format!(
                    "{} is accessible to other users (mode {:o}); run `chmod {want} {}` and start again",
                    path.display(),
                    mode & 0o777,
                    path.display()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Result<u32, String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Result<u32, String> {
    Ok(0o700)
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// Writes `bytes` to `path` with mode 0600, atomically: a temporary file in the same
/// folder, flushed to disk, then renamed over the target.
///
/// # Errors
/// A message naming the file.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(err)?;
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_folders_and_refuses_open_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path().join("d"));
        dd.ensure().unwrap();
        write_private(&dd.admin_token(), b"t").unwrap();
        dd.check_permissions().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dd.admin_token(), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            let e = dd.check_permissions().unwrap_err();
            assert!(e.contains("chmod 600"), "{e}");
        }
    }
}
