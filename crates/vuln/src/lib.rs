//! Vulnerability scanning, offline: an OSV advisory database imported from folders and
//! zip files, readers for lockfiles and SBOMs, version matching as the OSV schema
//! defines it, the smallest fixing version, and reports.
//!
//! - [`osv`]: OSV records, read from JSON/YAML files, folders and zip archives.
//! - [`db`]: the local database (import, status, atomic save, per-ecosystem sections).
//! - [`version`], [`matching`]: version order per ecosystem; OSV range evaluation.
//! - [`cvss`]: CVSS v3.x and v4.0 base scores; [`remedy`]: the smallest fixing version.
//! - [`scan`], [`report`]: findings, ignore file, exit codes; table, JSON, SARIF and
//!   CycloneDX VEX output.
//! - [`lockfile`]: lockfile and SBOM readers, and folder discovery; [`confine`]: paths
//!   resolved inside allowed folders without looking outside them.
//! - [`package`]: what a reader finds — a [`Package`] in an [`Ecosystem`], with the
//!   file and line it came from.
//!
//! Not here: HTTP (the server maps its scan API onto this crate), schedules (the
//! server's scheduler), fetching databases from the network (never: import is from
//! local paths only).

#![forbid(unsafe_code)]

pub mod confine;
pub mod cvss;
pub mod db;
pub mod lockfile;
pub mod matching;
pub mod osv;
pub mod package;
pub mod remedy;
pub mod report;
pub mod scan;
pub mod version;

pub use package::{Ecosystem, Location, Package};
