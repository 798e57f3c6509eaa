//! Test support shared by the workspace's test suites.
//!
//! Real inputs written by other people live in `../shared/data` beside the checkout
//! (or where `WEBQX_SHARED_DATA` points). Tests that read them call [`shared_data`]:
//! on a developer machine without the folder they are skipped with a message; under
//! CI (`CI` set) a missing folder fails the test, loudly.

use std::path::{Path, PathBuf};

/// The workspace root (the folder holding the top `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_default()
}

/// Path of `relative` under the shared data folder, or `None` (after saying why) when
/// the folder is absent outside CI.
///
/// # Panics
/// Under CI, when the shared data folder or the file is missing.
pub fn shared_data(relative: &str) -> Option<PathBuf> {
    let base = std::env::var_os("WEBQX_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/data"));
    let path = base.join(relative);
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "shared test data {} is missing; CI must run beside ../shared/data \
             (or set WEBQX_SHARED_DATA)",
            path.display()
        );
    }
    eprintln!(
        "SKIPPED: {} not found (set WEBQX_SHARED_DATA to run this test)",
        path.display()
    );
    None
}

/// Reads and parses a JSON file from the shared data folder.
pub fn shared_json(relative: &str) -> Option<serde_json::Value> {
    let path = shared_data(relative)?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display())),
    )
}

/// Decodes hex from test vectors.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector hex"))
        .collect()
}
