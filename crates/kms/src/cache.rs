//! A short-lived cache of key ring metadata and *wrapped* material, so that an
//! operation does not read the store on every request.
//!
//! Only wrapped material is cached: it is useless without the root key, and it is
//! unwrapped per request and wiped after use, as before. Entries live `ttl` (default
//! 1 s): a change made through this node clears the cache at once; a change made on
//! another node sharing the database is seen within `ttl`. `ttl = 0` turns caching off.

use crate::keys::KeyRow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most key rings cached; beyond it the cache starts over.
const MAX_ENTRIES: usize = 10_000;

struct Entry {
    row: KeyRow,
    wrapped: HashMap<u32, Vec<u8>>,
    at: Instant,
}

/// The cache.
pub(crate) struct RingCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl RingCache {
    pub(crate) fn new(ttl: Duration) -> RingCache {
        RingCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A fresh row, if cached.
    pub(crate) fn row(&self, name: &str) -> Option<KeyRow> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(name)?;
        (e.at.elapsed() < self.ttl).then(|| e.row.clone())
    }

    /// Remembers a row just read from the store (keeping cached material of the same
    /// key id, which never changes for a given version).
    pub(crate) fn put_row(&self, row: &KeyRow) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let wrapped = match entries.remove(&row.name) {
            Some(old) if old.row.id == row.id => old.wrapped,
            _ => HashMap::new(),
        };
        entries.insert(
            row.name.clone(),
            Entry {
                row: row.clone(),
                wrapped,
                at: Instant::now(),
            },
        );
    }

    /// Wrapped material of a version, if cached for this key id.
    pub(crate) fn wrapped(&self, row: &KeyRow, version: u32) -> Option<Vec<u8>> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(&row.name).filter(|e| e.row.id == row.id)?;
        e.wrapped.get(&version).cloned()
    }

    /// Remembers wrapped material read from the store.
    pub(crate) fn put_wrapped(&self, row: &KeyRow, version: u32, wrapped: &[u8]) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if let Some(e) = entries.get_mut(&row.name).filter(|e| e.row.id == row.id) {
            e.wrapped.insert(version, wrapped.to_vec());
        }
    }

    /// Forgets everything (after any key change, and at seal).
    pub(crate) fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}
