//! A private SoftHSM2 (Debian `softhsm2`) for tests: its own configuration file and token
//! folder in a temporary directory, tokens made with the real `softhsm2-util`.
//!
//! Without the package a test is skipped with a loud message; under CI (`CI` set) a
//! missing package fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The PKCS#11 module Debian's `softhsm2` installs.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const UTIL: &str = "/usr/bin/softhsm2-util";

/// One private SoftHSM2 installation (removed when dropped).
pub struct SoftHsm {
    /// The `softhsm2.conf` to put in `SOFTHSM2_CONF`.
    pub conf: PathBuf,
    /// The token folder it names.
    pub tokens: PathBuf,
    _dir: tempfile::TempDir,
}

impl SoftHsm {
    /// A fresh installation with no token, or `None` (after saying why) when SoftHSM2 is
    /// not installed outside CI.
    ///
    /// # Panics
    /// Under CI when SoftHSM2 is missing.
    pub fn new() -> Option<SoftHsm> {
        let present = Path::new(MODULE).exists() && Path::new(UTIL).exists();
        if !present {
            if std::env::var_os("CI").is_some() {
                panic!("SoftHSM2 ({MODULE}, {UTIL}) is missing; .ci/run installs softhsm2");
            }
            eprintln!("SKIPPED: SoftHSM2 is not installed (apt-get install softhsm2)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token folder");
        let conf = dir.path().join("softhsm2.conf");
        let text = format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        );
        std::fs::write(&conf, text).expect("softhsm2.conf");
        Some(SoftHsm {
            conf,
            tokens,
            _dir: dir,
        })
    }

    /// Environment for a process that uses this installation.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("SOFTHSM2_CONF".into(), self.conf.display().to_string())]
    }

    /// Makes a token with `softhsm2-util --init-token --free`.
    ///
    /// # Panics
    /// When `softhsm2-util` fails.
    pub fn init_token(&self, label: &str, pin: &str, so_pin: &str) {
        let out = Command::new(UTIL)
            .args(["--init-token", "--free", "--label", label, "--pin", pin])
            .args(["--so-pin", so_pin])
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("softhsm2-util runs");
        assert!(
            out.status.success(),
            "softhsm2-util --init-token failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Moves the token folder away, as if removed (the HSM "disappears"); [`SoftHsm::reconnect`] undoes it.
    pub fn disconnect(&self) {
        std::fs::rename(&self.tokens, self.tokens.with_extension("away")).expect("move tokens");
    }

    /// Puts the token folder back.
    pub fn reconnect(&self) {
        std::fs::rename(self.tokens.with_extension("away"), &self.tokens).expect("restore tokens");
    }
}
