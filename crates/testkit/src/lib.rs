//! Test support shared by the workspace's test suites.
//!
//! Real inputs written by other people live in `../shared/data` beside the checkout
//! (or where `WEBQX_SHARED_DATA` points). Tests that read them call [`shared_data`]:
//! on a developer machine without the folder they are skipped with a message; under
//! CI (`CI` set) a missing folder fails the test, loudly.

pub mod server;
pub mod softhsm;

use std::path::{Path, PathBuf};

/// A TCP port on 127.0.0.1 that was free a moment ago (for listeners a test starts).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

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

/// A store to run behaviour tests on, with whatever keeps it alive.
pub struct TestStore {
    /// How to open it.
    pub config: webqx_store::StoreConfig,
    /// Human label for assertion messages.
    pub label: &'static str,
    _dir: Option<tempfile::TempDir>,
}

/// The stores every behaviour test runs against: always a fresh SQLite file; also a
/// fresh PostgreSQL schema when `WEBQX_TEST_POSTGRES` holds a `postgres://` URL (CI
/// sets it to the server on 127.0.0.1:5432).
pub fn test_stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = webqx_store::StoreConfig::sqlite(&dir.path().join("store.db"));
    let mut out = vec![TestStore {
        config: sqlite,
        label: "sqlite",
        _dir: Some(dir),
    }];
    if let Some(url) = postgres_url() {
        let schema = format!("webqx_t_{}", uuid::Uuid::now_v7().simple());
        let config = webqx_store::StoreConfig {
            url,
            schema: Some(schema),
            max_connections: 4,
        };
        out.push(TestStore {
            config,
            label: "postgres",
            _dir: None,
        });
    }
    out
}

/// The PostgreSQL URL for tests, if configured. Under CI it must be.
///
/// # Panics
/// Under CI when `WEBQX_TEST_POSTGRES` is unset.
pub fn postgres_url() -> Option<String> {
    match std::env::var("WEBQX_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI must set WEBQX_TEST_POSTGRES so the PostgreSQL behaviour tests run")
        }
        _ => None,
    }
}
