//! Packages as lockfile and SBOM readers find them.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A package ecosystem, named as the OSV schema names it (`affected[].package.ecosystem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Ecosystem {
    /// Rust crates (crates.io).
    #[serde(rename = "crates.io")]
    CratesIo,
    /// JavaScript packages (npm registry).
    #[serde(rename = "npm")]
    Npm,
    /// Python packages (PyPI).
    #[serde(rename = "PyPI")]
    PyPI,
    /// Go modules.
    #[serde(rename = "Go")]
    Go,
    /// Java packages (Maven Central), named `group:artifact`.
    #[serde(rename = "Maven")]
    Maven,
    /// PHP packages (Packagist), named `vendor/package`.
    #[serde(rename = "Packagist")]
    Packagist,
    /// Ruby gems.
    #[serde(rename = "RubyGems")]
    RubyGems,
}

impl Ecosystem {
    /// Every ecosystem, in a fixed order.
    pub const ALL: [Ecosystem; 7] = [
        Ecosystem::CratesIo,
        Ecosystem::Npm,
        Ecosystem::PyPI,
        Ecosystem::Go,
        Ecosystem::Maven,
        Ecosystem::Packagist,
        Ecosystem::RubyGems,
    ];

    /// The OSV name (`crates.io`, `npm`, `PyPI`, `Go`, `Maven`, `Packagist`, `RubyGems`).
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::Npm => "npm",
            Ecosystem::PyPI => "PyPI",
            Ecosystem::Go => "Go",
            Ecosystem::Maven => "Maven",
            Ecosystem::Packagist => "Packagist",
            Ecosystem::RubyGems => "RubyGems",
        }
    }

    /// The ecosystem an OSV name denotes. OSV may add a suffix after `:` (such as a
    /// Debian release); only the part before it counts.
    pub fn from_osv_name(name: &str) -> Option<Ecosystem> {
        let base = name.split(':').next().unwrap_or(name);
        Ecosystem::ALL.into_iter().find(|e| e.osv_name() == base)
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.osv_name())
    }
}

/// Where a package was found: the file and the 1-based line of its entry (0 when the
/// format has no useful line, as in a minified JSON SBOM).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The file, as the scan was given it (relative paths stay relative).
    pub file: PathBuf,
    /// 1-based line of the entry, or 0 when unknown.
    pub line: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}", self.file.display(), self.line)
        }
    }
}

/// One package at one version, as a lockfile or SBOM lists it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Package {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// Its name as the ecosystem's advisories spell it (PyPI names are normalized as
    /// PEP 503 says; Maven names are `group:artifact`).
    pub name: String,
    /// The exact version, as the lockfile gives it.
    pub version: String,
    /// Where it was found.
    pub location: Location,
}
