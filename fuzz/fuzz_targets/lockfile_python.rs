#![no_main]
//! Python lockfiles: the first byte picks requirements.txt, poetry.lock, Pipfile.lock or
//! uv.lock; `lockfile::parse` never panics, and every package it accepts has a
//! normalized name, a version and a line inside the input.

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use webqx_vuln::lockfile::{self, Kind, Options};

const KINDS: [(&str, Kind); 4] = [
    ("requirements.txt", Kind::Requirements),
    ("poetry.lock", Kind::PoetryLock),
    ("Pipfile.lock", Kind::PipfileLock),
    ("uv.lock", Kind::UvLock),
];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let (name, kind) = KINDS[usize::from(*first) % KINDS.len()];
    if let Ok(found) = lockfile::parse(Path::new(name), kind, rest, Options::default()) {
        let lines = rest.split(|b| *b == b'\n').count();
        for package in &found.packages {
            assert!(!package.name.is_empty() && !package.version.is_empty());
            assert!(
                !package.name.contains(['_', '.'])
                    && !package.name.bytes().any(|b| b.is_ascii_uppercase())
            );
            assert!(package.location.line as usize <= lines);
        }
    }
});
