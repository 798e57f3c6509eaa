//! The smallest version that fixes every advisory of a package.
//!
//! The candidates are the `fixed` versions of the package's advisories that are
//! greater than the current version, in ascending order; the answer is the first
//! candidate that no advisory's ranges or version lists cover (a fix of one advisory
//! may lie inside another's range). None when no candidate is clear of all of them.

use std::cmp::Ordering;

use serde::Serialize;

use crate::db::RecordAffected;
use crate::matching::{self, Skipped};
use crate::package::Ecosystem;
use crate::version;

/// The remedy for one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Remedy {
    /// The smallest version clear of all the advisories, if there is one.
    pub version: Option<String>,
    /// Whether reaching it is a major upgrade ([`version::is_major_upgrade`]).
    pub major: bool,
}

/// The smallest fixing version for `current` given the matched entries.
pub fn smallest_fix(ecosystem: Ecosystem, current: &str, entries: &[&RecordAffected]) -> Remedy {
    let Ok(now) = version::parse(ecosystem, current) else {
        return Remedy {
            version: None,
            major: false,
        };
    };
    let mut candidates: Vec<(version::Version, &str)> = entries
        .iter()
        .flat_map(|e| matching::fixed_versions(&e.ranges))
        .filter_map(|f| version::parse(ecosystem, f).ok().map(|v| (v, f)))
        .filter(|(v, _)| v.cmp(&now) == Ordering::Greater)
        .collect();
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    candidates.dedup_by(|a, b| a.0 == b.0);
    let mut skipped = Skipped::default();
    let clear = candidates.into_iter().find(|(_, raw)| {
        !entries
            .iter()
            .any(|e| matching::is_affected(ecosystem, raw, &e.ranges, &e.versions, &mut skipped))
    });
    match clear {
        Some((_, raw)) => Remedy {
            version: Some(raw.to_owned()),
            major: version::is_major_upgrade(ecosystem, current, raw),
        },
        None => Remedy {
            version: None,
            major: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osv::{Event, Range};

    fn entry(events: &[(&str, &str)]) -> RecordAffected {
        let events = events
            .iter()
            .map(|(k, v)| {
                let v = Some((*v).to_owned());
                match *k {
                    "i" => Event {
                        introduced: v,
                        fixed: None,
                        last_affected: None,
                        limit: None,
                    },
                    _ => Event {
                        introduced: None,
                        fixed: v,
                        last_affected: None,
                        limit: None,
                    },
                }
            })
            .collect();
        RecordAffected {
            ecosystem: Ecosystem::CratesIo,
            name: "x".into(),
            ranges: vec![Range {
                kind: "SEMVER".into(),
                repo: None,
                events,
            }],
            versions: vec![],
            informational: None,
            severity: vec![],
        }
    }

    #[test]
    fn smallest_fix_clear_of_every_range() {
        // Advisory A is fixed in 1.2.0 and 0.9.5; advisory B covers [1.0.0, 1.3.0).
        let a = entry(&[("i", "0"), ("f", "0.9.5"), ("i", "1.0.0"), ("f", "1.2.0")]);
        let b = entry(&[("i", "1.0.0"), ("f", "1.3.0")]);
        let r = smallest_fix(Ecosystem::CratesIo, "1.1.0", &[&a, &b]);
        assert_eq!(
            r,
            Remedy {
                version: Some("1.3.0".into()),
                major: false
            }
        );
        let r = smallest_fix(Ecosystem::CratesIo, "0.9.0", &[&a]);
        assert_eq!(
            r,
            Remedy {
                version: Some("0.9.5".into()),
                major: false
            }
        );
    }

    #[test]
    fn major_upgrade_and_no_fix() {
        let a = entry(&[("i", "0"), ("f", "0.10.0")]);
        let r = smallest_fix(Ecosystem::CratesIo, "0.5.1", &[&a]);
        assert_eq!(
            r,
            Remedy {
                version: Some("0.10.0".into()),
                major: true
            }
        );
        let open = entry(&[("i", "0")]);
        assert_eq!(
            smallest_fix(Ecosystem::CratesIo, "0.5.1", &[&open]).version,
            None
        );
    }
}
