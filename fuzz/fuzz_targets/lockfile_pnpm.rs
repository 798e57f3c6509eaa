#![no_main]
//! pnpm-lock.yaml (YAML): `lockfile::parse` never panics, and every package it accepts has a name, a
//! version and a line inside the input.

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use webqx_vuln::lockfile::{self, Kind, Options};

fuzz_target!(|data: &[u8]| {
    if let Ok(found) = lockfile::parse(
        Path::new("pnpm-lock.yaml"),
        Kind::PnpmLock,
        data,
        Options::default(),
    ) {
        let lines = data.split(|b| *b == b'\n').count();
        for package in &found.packages {
            assert!(!package.name.is_empty() && !package.version.is_empty());
            assert!(package.location.line as usize <= lines);
        }
    }
});
