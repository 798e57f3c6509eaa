//! Whether a package version is affected, exactly as the OSV schema's evaluation
//! algorithm ("Evaluation", `IsVulnerable`) says:
//!
//! - a version is affected if it is listed in `versions` or lies in any range;
//! - a range is read only if the version is below one of its `limit` events (no limit
//!   means no upper bound);
//! - the range's events are sorted by version (`introduced: "0"` first) and walked:
//!   `introduced` at or below the version sets affected, `fixed` at or below clears it,
//!   `last_affected` below clears it.
//!
//! `SEMVER` ranges are read as Semantic Versioning, `ECOSYSTEM` ranges with the
//! ecosystem's own ordering ([`crate::version`]). `GIT` ranges (commit hashes) cannot
//! be evaluated against a version number; they are skipped and counted, as are ranges
//! of unknown types. An event whose version does not parse is skipped (and counted):
//! a skipped `fixed` errs toward reporting, never toward silence.
//!
//! `database_specific` and `ecosystem_specific` take no part, except RustSec's
//! `informational` (read by [`crate::osv::Affected::informational`]), which the report
//! uses to tell notices from vulnerabilities.

use std::cmp::Ordering;

use crate::osv::{Event, Range};
use crate::package::Ecosystem;
use crate::version::{self, Version};

/// What was skipped while evaluating ranges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// `GIT` ranges (and ranges of unknown types).
    pub git_ranges: usize,
    /// Events whose version did not parse.
    pub bad_events: usize,
}

/// A package name as an ecosystem's advisories spell it: PyPI names normalized as
/// PEP 503 says (lower case, runs of `-`, `_`, `.` as one `-`), Packagist names in
/// lower case (Composer treats them case-insensitively); others unchanged.
pub fn normalize_name(ecosystem: Ecosystem, name: &str) -> String {
    match ecosystem {
        Ecosystem::PyPI => {
            let mut out = String::with_capacity(name.len());
            let mut in_sep = false;
            for c in name.trim().chars() {
                if matches!(c, '-' | '_' | '.') {
                    if !in_sep {
                        out.push('-');
                    }
                    in_sep = true;
                } else {
                    out.push(c.to_ascii_lowercase());
                    in_sep = false;
                }
            }
            out
        }
        Ecosystem::Packagist => name.trim().to_ascii_lowercase(),
        _ => name.trim().to_owned(),
    }
}

/// How a range's versions are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ordering_ {
    Semver,
    Ecosystem,
}

fn range_ordering(range: &Range) -> Option<Ordering_> {
    match range.kind.as_str() {
        "SEMVER" => Some(Ordering_::Semver),
        "ECOSYSTEM" => Some(Ordering_::Ecosystem),
        _ => None,
    }
}

fn parse_as(ordering: Ordering_, ecosystem: Ecosystem, s: &str) -> Option<Version> {
    match ordering {
        Ordering_::Semver => version::parse_semver(s).ok(),
        Ordering_::Ecosystem => version::parse(ecosystem, s).ok(),
    }
}

/// One event with its version read; `None` for `introduced: "0"` (below everything).
enum Point {
    Zero,
    At(Version),
}

impl Point {
    fn cmp_version(&self, v: &Version) -> Ordering {
        match self {
            Point::Zero => Ordering::Less,
            Point::At(p) => p.cmp(v),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
    Limit,
}

fn event_parts(event: &Event) -> Option<(EventKind, &str)> {
    let parts = [
        (EventKind::Introduced, &event.introduced),
        (EventKind::Fixed, &event.fixed),
        (EventKind::LastAffected, &event.last_affected),
        (EventKind::Limit, &event.limit),
    ];
    parts
        .into_iter()
        .find_map(|(k, v)| v.as_deref().map(|v| (k, v)))
}

/// Whether `version` of a package in `ecosystem` is affected by an entry with these
/// `ranges` and `versions`. `skipped` counts what could not be evaluated.
pub fn is_affected(
    ecosystem: Ecosystem,
    version: &str,
    ranges: &[Range],
    versions: &[String],
    skipped: &mut Skipped,
) -> bool {
    let parsed = version::parse(ecosystem, version).ok();
    if included_in_versions(version, parsed.as_ref(), ecosystem, versions) {
        return true;
    }
    ranges.iter().any(|range| match range_ordering(range) {
        None => {
            skipped.git_ranges += 1;
            false
        }
        Some(ordering) => {
            let Some(v) = parse_as(ordering, ecosystem, version) else {
                return false;
            };
            in_range(ordering, ecosystem, &v, &range.events, skipped)
        }
    })
}

fn included_in_versions(
    version: &str,
    parsed: Option<&Version>,
    ecosystem: Ecosystem,
    versions: &[String],
) -> bool {
    versions.iter().any(|listed| {
        listed == version
            || match (parsed, version::parse(ecosystem, listed)) {
                (Some(a), Ok(b)) => *a == b,
                _ => false,
            }
    })
}

/// The events of one range with their versions read, sorted; events that do not
/// parse are counted and left out.
fn sorted_events(
    ordering: Ordering_,
    ecosystem: Ecosystem,
    events: &[Event],
    skipped: &mut Skipped,
) -> Vec<(EventKind, Point)> {
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        let Some((kind, raw)) = event_parts(event) else {
            continue;
        };
        let point = if kind == EventKind::Introduced && raw == "0" {
            Point::Zero
        } else if kind == EventKind::Limit && raw == "*" {
            continue;
        } else {
            match parse_as(ordering, ecosystem, raw) {
                Some(v) => Point::At(v),
                None => {
                    skipped.bad_events += 1;
                    continue;
                }
            }
        };
        out.push((kind, point));
    }
    out.sort_by(|a, b| match (&a.1, &b.1) {
        (Point::Zero, Point::Zero) => Ordering::Equal,
        (Point::Zero, _) => Ordering::Less,
        (_, Point::Zero) => Ordering::Greater,
        (Point::At(x), Point::At(y)) => x.cmp(y),
    });
    out
}

fn in_range(
    ordering: Ordering_,
    ecosystem: Ecosystem,
    v: &Version,
    events: &[Event],
    skipped: &mut Skipped,
) -> bool {
    let sorted = sorted_events(ordering, ecosystem, events, skipped);
    let mut limits = sorted
        .iter()
        .filter(|(k, _)| *k == EventKind::Limit)
        .peekable();
    if limits.peek().is_some() && !limits.any(|(_, p)| p.cmp_version(v) == Ordering::Greater) {
        return false;
    }
    let mut vulnerable = false;
    for (kind, point) in &sorted {
        let c = point.cmp_version(v);
        match kind {
            EventKind::Introduced if c != Ordering::Greater => vulnerable = true,
            EventKind::Fixed if c != Ordering::Greater => vulnerable = false,
            EventKind::LastAffected if c == Ordering::Less => vulnerable = false,
            _ => {}
        }
    }
    vulnerable
}

/// The `fixed` versions of an entry's `SEMVER`/`ECOSYSTEM` ranges, as written.
pub fn fixed_versions(ranges: &[Range]) -> impl Iterator<Item = &str> {
    ranges
        .iter()
        .filter(|r| range_ordering(r).is_some())
        .flat_map(|r| r.events.iter().filter_map(|e| e.fixed.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, v: &str) -> Event {
        let mut e = Event {
            introduced: None,
            fixed: None,
            last_affected: None,
            limit: None,
        };
        let slot = match kind {
            "i" => &mut e.introduced,
            "f" => &mut e.fixed,
            "la" => &mut e.last_affected,
            _ => &mut e.limit,
        };
        *slot = Some(v.to_owned());
        e
    }

    fn range(kind: &str, events: &[(&str, &str)]) -> Range {
        Range {
            kind: kind.to_owned(),
            repo: None,
            events: events.iter().map(|(k, v)| ev(k, v)).collect(),
        }
    }

    fn hit(version: &str, events: &[(&str, &str)]) -> bool {
        let r = [range("SEMVER", events)];
        is_affected(
            Ecosystem::CratesIo,
            version,
            &r,
            &[],
            &mut Skipped::default(),
        )
    }

    #[test]
    fn introduced_only_affects_everything_from_there() {
        assert!(hit("0.0.1", &[("i", "0")]));
        assert!(hit("99.0.0", &[("i", "0")]));
        assert!(!hit("0.9.9", &[("i", "1.0.0")]));
        assert!(hit("1.0.0", &[("i", "1.0.0")]));
        // RustSec writes "0.0.0-0" for "from the beginning".
        assert!(hit("0.0.0", &[("i", "0.0.0-0")]));
    }

    #[test]
    fn introduced_fixed_is_half_open() {
        let e = [("i", "1.0.0"), ("f", "1.0.2")];
        assert!(!hit("0.9.0", &e));
        assert!(hit("1.0.0", &e));
        assert!(hit("1.0.1", &e));
        assert!(!hit("1.0.2", &e));
        assert!(!hit("2.0.0", &e));
        assert!(hit("1.0.2-rc.1", &e));
    }

    #[test]
    fn last_affected_is_inclusive() {
        let e = [("i", "0"), ("la", "2.1.214")];
        assert!(hit("2.1.214", &e));
        assert!(!hit("2.1.215", &e));
    }

    #[test]
    fn several_intervals_in_one_range_even_unsorted() {
        let e = [
            ("f", "3.2.5"),
            ("i", "3.0.0"),
            ("f", "1.0.2"),
            ("i", "1.0.0"),
        ];
        assert!(hit("1.0.1", &e));
        assert!(!hit("2.0.0", &e));
        assert!(hit("3.1.0", &e));
        assert!(!hit("3.2.5", &e));
    }

    #[test]
    fn limit_bounds_the_range() {
        let e = [("i", "0"), ("l", "2.0.0")];
        assert!(hit("1.9.0", &e));
        assert!(!hit("2.0.0", &e));
        let e = [("i", "1.0.0"), ("l", "*")];
        assert!(hit("7.0.0", &e));
        // Several limits: below any one of them is enough.
        let e = [("i", "0"), ("l", "1.0.0"), ("l", "3.0.0")];
        assert!(hit("2.0.0", &e));
        assert!(!hit("3.0.0", &e));
        let e = [("i", "0"), ("f", "1.0.0"), ("l", "2.0.0")];
        assert!(!hit("1.5.0", &e));
    }

    #[test]
    fn fixed_then_reintroduced() {
        let e = [("i", "0"), ("f", "1.0.0"), ("i", "2.0.0"), ("la", "2.5.0")];
        assert!(hit("0.5.0", &e));
        assert!(!hit("1.5.0", &e));
        assert!(hit("2.5.0", &e));
        assert!(!hit("2.6.0", &e));
    }

    #[test]
    fn remaining_event_combinations() {
        // introduced + last_affected + limit: the limit cuts below last_affected.
        let e = [("i", "1.0.0"), ("la", "3.0.0"), ("l", "2.0.0")];
        assert!(hit("1.5.0", &e));
        assert!(!hit("2.5.0", &e));
        assert!(!hit("0.5.0", &e));
        // A limit below the introduced version leaves nothing.
        assert!(!hit("1.5.0", &[("i", "1.0.0"), ("l", "0.5.0")]));
        // introduced and fixed at the same version: an empty interval.
        assert!(!hit("1.0.0", &[("i", "1.0.0"), ("f", "1.0.0")]));
        // fixed without introduced never sets affected.
        assert!(!hit("0.1.0", &[("f", "1.0.0")]));
        // last_affected then a later introduced.
        let e = [("i", "0"), ("la", "1.0.0"), ("i", "2.0.0"), ("f", "2.1.0")];
        assert!(hit("1.0.0", &e));
        assert!(!hit("1.5.0", &e));
        assert!(hit("2.0.5", &e));
        assert!(!hit("2.1.0", &e));
        // Several ranges: any one is enough.
        let r = [
            range("SEMVER", &[("i", "0"), ("f", "1.0.0")]),
            range("SEMVER", &[("i", "5.0.0")]),
        ];
        let mut s = Skipped::default();
        assert!(is_affected(Ecosystem::Npm, "5.1.0", &r, &[], &mut s));
        assert!(!is_affected(Ecosystem::Npm, "3.0.0", &r, &[], &mut s));
        // A version that does not parse matches only by an explicit list.
        let listed = vec!["weird version".to_owned()];
        assert!(is_affected(
            Ecosystem::Npm,
            "weird version",
            &r,
            &listed,
            &mut s
        ));
        assert!(!is_affected(
            Ecosystem::Npm,
            "other weird",
            &r,
            &listed,
            &mut s
        ));
    }

    #[test]
    fn explicit_versions_and_pep440_equivalence() {
        let mut s = Skipped::default();
        let listed = vec!["1.0".to_owned()];
        assert!(is_affected(Ecosystem::PyPI, "1.0.0", &[], &listed, &mut s));
        assert!(!is_affected(Ecosystem::PyPI, "1.0.1", &[], &listed, &mut s));
    }

    #[test]
    fn ecosystem_ranges_use_the_ecosystem_order() {
        let r = [range("ECOSYSTEM", &[("i", "0"), ("f", "2.3.2")])];
        let mut s = Skipped::default();
        assert!(is_affected(Ecosystem::PyPI, "2.3.2rc1", &r, &[], &mut s));
        assert!(!is_affected(Ecosystem::PyPI, "2.3.2", &r, &[], &mut s));
        assert!(!is_affected(
            Ecosystem::PyPI,
            "2.3.2.post1",
            &r,
            &[],
            &mut s
        ));
    }

    #[test]
    fn git_ranges_and_bad_events_are_counted() {
        let r = [
            range("GIT", &[("i", "abc"), ("f", "def")]),
            range("ECOSYSTEM", &[("i", "0"), ("f", "not a version!")]),
        ];
        let mut s = Skipped::default();
        assert!(is_affected(Ecosystem::PyPI, "9.0", &r, &[], &mut s));
        assert_eq!(
            s,
            Skipped {
                git_ranges: 1,
                bad_events: 1
            }
        );
    }

    #[test]
    fn pep503_names() {
        assert_eq!(
            normalize_name(Ecosystem::PyPI, "Foo__Bar.baz-QUX"),
            "foo-bar-baz-qux"
        );
        assert_eq!(
            normalize_name(Ecosystem::Packagist, "Symfony/HTTP-Kernel"),
            "symfony/http-kernel"
        );
        assert_eq!(
            normalize_name(Ecosystem::CratesIo, "serde_json"),
            "serde_json"
        );
    }
}
