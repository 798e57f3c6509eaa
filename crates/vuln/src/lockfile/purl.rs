//! Package URLs (purl, `pkg:type/namespace/name@version?qualifiers#subpath`) as SBOMs
//! carry them, and the [`Package`] a purl denotes.

use std::path::Path;

use super::text::pep503;
use crate::package::{Ecosystem, Location, Package};

/// The parts of a purl that name a package, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// The type, lower case (`cargo`, `npm`, `pypi`, `golang`, `maven`, …).
    pub ty: String,
    /// The namespace segments joined by `/`, if any.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
    /// The version, if any.
    pub version: Option<String>,
}

impl Purl {
    /// Parses a purl; `None` when it is not one.
    pub fn parse(purl: &str) -> Option<Purl> {
        let rest = purl
            .get(..4)
            .filter(|s| s.eq_ignore_ascii_case("pkg:"))
            .and(purl.get(4..))?;
        let rest = rest.trim_start_matches('/');
        let rest = rest.split('#').next()?;
        let rest = rest.split('?').next()?;
        let (path, version) = match rest.rfind('@') {
            Some(at) if at > rest.rfind('/').unwrap_or(0) => {
                (rest.get(..at)?, Some(decode(rest.get(at + 1..)?)?))
            }
            _ => (rest, None),
        };
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let ty = segments.next()?.to_ascii_lowercase();
        let segments: Vec<String> = segments.map(decode).collect::<Option<_>>()?;
        let (name, namespace) = segments.split_last()?;
        let namespace = (!namespace.is_empty()).then(|| namespace.join("/"));
        let version = version.filter(|v| !v.is_empty());
        (!name.is_empty()).then(|| Purl {
            ty,
            namespace,
            name: name.clone(),
            version,
        })
    }

    /// The ecosystem and the name its advisories use, for the types we match.
    pub fn ecosystem_name(&self) -> Option<(Ecosystem, String)> {
        let with_namespace = |sep: &str| match &self.namespace {
            Some(ns) => format!("{ns}{sep}{}", self.name),
            None => self.name.clone(),
        };
        Some(match self.ty.as_str() {
            "cargo" => (Ecosystem::CratesIo, self.name.clone()),
            "npm" => (Ecosystem::Npm, with_namespace("/")),
            "pypi" => (Ecosystem::PyPI, pep503(&self.name)),
            "golang" => (Ecosystem::Go, with_namespace("/")),
            "maven" => (Ecosystem::Maven, with_namespace(":")),
            "composer" => (Ecosystem::Packagist, with_namespace("/")),
            "gem" => (Ecosystem::RubyGems, self.name.clone()),
            _ => return None,
        })
    }
}

/// The package a purl denotes, found at `file:line`; `None` for an unknown type, a
/// missing version or a malformed purl.
pub fn purl_to_package(purl: &str, file: &Path, line: u32) -> Option<Package> {
    let parsed = Purl::parse(purl)?;
    let (ecosystem, name) = parsed.ecosystem_name()?;
    let version = parsed.version?;
    Some(Package {
        ecosystem,
        name,
        version,
        location: Location {
            file: file.to_path_buf(),
            line,
        },
    })
}

/// Percent-decoding; `None` for a bad escape or bytes that are not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
