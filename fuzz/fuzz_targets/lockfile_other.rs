#![no_main]
//! go.mod, composer.lock, Gemfile.lock, pom.xml and JSON SBOMs (CycloneDX, SPDX): the
//! first byte picks the kind; `lockfile::parse` never panics, and every package it
//! accepts has a name, a version and a line inside the input. The rest is also tried
//! as a purl.

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use webqx_vuln::lockfile::{self, Kind, Options};

const KINDS: [(&str, Kind); 5] = [
    ("go.mod", Kind::GoMod),
    ("composer.lock", Kind::ComposerLock),
    ("Gemfile.lock", Kind::GemfileLock),
    ("pom.xml", Kind::PomXml),
    ("bom.cdx.json", Kind::SbomJson),
];

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let (name, kind) = KINDS[usize::from(*first) % KINDS.len()];
    let options = Options::default().with_go_stdlib(first & 0x80 != 0);
    if let Ok(found) = lockfile::parse(Path::new(name), kind, rest, options) {
        let lines = rest.split(|b| *b == b'\n').count();
        for package in &found.packages {
            assert!(!package.name.is_empty() && !package.version.is_empty());
            assert!(package.location.line as usize <= lines);
        }
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = lockfile::purl_to_package(text, Path::new(name), 1);
    }
});
