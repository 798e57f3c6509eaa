//! Scanning packages against the database: findings, the ignore file, and the exit
//! code policy.
//!
//! One vulnerability known under several ids (an advisory and its aliases, say
//! `PYSEC-2023-62`, `GHSA-m2qf-hxjv-5gpq` and `CVE-2023-30861`) is one finding per
//! package, listing every id. Withdrawn advisories are never matched. RustSec's
//! informational advisories (`unmaintained`, `unsound`, `notice`) become findings
//! with [`Finding::informational`] set, which reports show apart and the exit code
//! ignores.
//!
//! # Exit codes ([`exit_code`])
//! | code | meaning |
//! | --- | --- |
//! | 0 | no finding at or above the `--fail-on` severity |
//! | 1 | at least one vulnerability (not informational, not ignored) at or above it; a vulnerability without any score counts as at or above any threshold |
//! | 2 | usage error (bad arguments, unreadable ignore file) |
//! | 3 | advisory database missing, unreadable, empty, without advisories for an ecosystem of the inputs ([`check_coverage`]), or stale when freshness was required |
//! | 4 | an input file (lockfile, SBOM) could not be read |

use std::collections::{BTreeSet, HashSet};
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::cvss::{self, Rating, Score};
use crate::db::{Db, Record, RecordAffected};
use crate::lockfile::{Lockfile, Note, NoteKind};
use crate::matching::{self, Skipped};
use crate::package::{Ecosystem, Package};
use crate::remedy::{self, Remedy};

/// A scored severity: the vector it came from and its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Severity {
    /// `CVSS_V3` or `CVSS_V4`.
    pub kind: String,
    /// The vector.
    pub vector: String,
    /// Its base score and rating.
    pub score: Score,
}

/// One vulnerability (or informational notice) in one package.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The package, with where it was found.
    pub package: Package,
    /// The id shown first: the ecosystem database's own id when there is one
    /// (RUSTSEC, GO, PYSEC), else GHSA, else the first.
    pub id: String,
    /// Every advisory id of the database merged into this finding, sorted.
    pub ids: Vec<String>,
    /// Every other id they are known by (CVE, GHSA, …), sorted, without `ids`.
    pub aliases: Vec<String>,
    /// The summary of the advisory shown first.
    pub summary: String,
    /// The highest scored severity of the merged advisories.
    pub severity: Option<Severity>,
    /// RustSec's informational kind, when every merged advisory is one.
    pub informational: Option<String>,
    /// The smallest version that fixes this finding's advisories.
    pub fixed: Option<String>,
    /// A link to the advisory.
    pub url: Option<String>,
}

impl Finding {
    /// The rating, `None` when no score is known.
    pub fn rating(&self) -> Option<Rating> {
        self.severity.as_ref().map(|s| s.score.rating)
    }

    fn known_as(&self, id: &str) -> bool {
        self.ids.iter().chain(&self.aliases).any(|i| i == id)
    }
}

/// What to do for one package: the smallest version fixing all its findings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PackageRemedy {
    /// The package.
    pub package: Package,
    /// The remedy.
    pub remedy: Remedy,
}

/// A finding the ignore file silenced, with the entry's reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ignored {
    /// The finding.
    pub finding: Finding,
    /// Why it is ignored.
    pub reason: String,
}

/// The result of a scan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Findings, vulnerabilities and informational notices, not ignored.
    pub findings: Vec<Finding>,
    /// Findings silenced by the ignore file.
    pub ignored: Vec<Ignored>,
    /// Ignore entries that matched no finding.
    pub unused_ignores: Vec<IgnoreEntry>,
    /// Ignore entries past their `expires` date (not honoured).
    pub expired_ignores: Vec<IgnoreEntry>,
    /// Per affected package with at least one finding not ignored, the smallest fixing
    /// version.
    pub remedies: Vec<PackageRemedy>,
    /// What the readers saw but could not check (unpinned requirements, path and git
    /// dependencies, skipped entries), in file order.
    pub notes: Vec<Note>,
    /// How many packages were scanned.
    pub packages_scanned: usize,
    /// Packages whose version does not parse in its ecosystem (only explicit version
    /// lists could match them).
    pub unparsed_versions: usize,
    /// Ranges and events that could not be evaluated.
    pub skipped_git_ranges: usize,
    /// Range events whose version did not parse.
    pub skipped_events: usize,
}

impl Report {
    /// Findings that are vulnerabilities (not informational notices).
    pub fn vulnerabilities(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.informational.is_none())
    }

    /// Informational notices.
    pub fn notices(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.informational.is_some())
    }
}

/// Scans packages against a database.
#[derive(Debug)]
pub struct Scanner<'a> {
    db: &'a Db,
    ignores: IgnoreFile,
    today: NaiveDate,
}

impl<'a> Scanner<'a> {
    /// A scanner over `db` with no ignore file.
    pub fn new(db: &'a Db) -> Scanner<'a> {
        Scanner {
            db,
            ignores: IgnoreFile::default(),
            today: chrono::Utc::now().date_naive(),
        }
    }

    /// Uses this ignore file.
    pub fn with_ignores(mut self, ignores: IgnoreFile) -> Self {
        self.ignores = ignores;
        self
    }

    /// Judges `expires` dates against `today` (tests; the default is the current date).
    pub fn with_today(mut self, today: NaiveDate) -> Self {
        self.today = today;
        self
    }

    /// Scans the packages of files read by [`crate::lockfile`], and keeps their notes
    /// in the report.
    pub fn scan_files(&self, files: &[Lockfile]) -> Report {
        let packages: Vec<Package> = files.iter().flat_map(|f| f.packages.clone()).collect();
        let mut report = self.scan(&packages);
        let unparsed = std::mem::take(&mut report.notes);
        report.notes = files.iter().flat_map(|f| f.notes.clone()).collect();
        report.notes.extend(unparsed);
        report
    }

    /// Scans the packages.
    pub fn scan(&self, packages: &[Package]) -> Report {
        let mut report = Report {
            packages_scanned: packages.len(),
            ..Report::default()
        };
        let mut skipped = Skipped::default();
        let (live, expired): (Vec<_>, Vec<_>) = self
            .ignores
            .entries
            .iter()
            .partition(|e| e.expires.is_none_or(|d| d >= self.today));
        report.expired_ignores = expired.into_iter().cloned().collect();
        let mut used = HashSet::new();

        for package in packages {
            if crate::version::parse(package.ecosystem, &package.version).is_err() {
                report.unparsed_versions += 1;
                report.notes.push(Note {
                    kind: NoteKind::Unparsed,
                    location: package.location.clone(),
                    message: format!(
                        "{} {}: not a {} version, so only advisories that list it exactly \
                         were checked",
                        package.name, package.version, package.ecosystem
                    ),
                });
            }
            let matched = self.matches(package, &mut skipped);
            if matched.is_empty() {
                continue;
            }
            let entries: Vec<&RecordAffected> =
                matched.iter().flat_map(|(_, e)| e.clone()).collect();
            let remedy = remedy::smallest_fix(package.ecosystem, &package.version, &entries);
            let mut reported = false;
            for group in merge_aliases(&matched) {
                let finding = finding(package, &group);
                match live.iter().find(|e| finding.known_as(&e.id)) {
                    Some(entry) => {
                        used.insert(entry.id.clone());
                        let reason = entry.reason.clone();
                        report.ignored.push(Ignored { finding, reason });
                    }
                    None => {
                        reported = true;
                        report.findings.push(finding);
                    }
                }
            }
            // Advice to upgrade a package whose every finding is an accepted risk is
            // noise: only packages with something left to fix get one.
            if reported {
                report.remedies.push(PackageRemedy {
                    package: package.clone(),
                    remedy,
                });
            }
        }
        report.unused_ignores = live
            .into_iter()
            .filter(|e| !used.contains(&e.id))
            .cloned()
            .collect();
        report.skipped_git_ranges = skipped.git_ranges;
        report.skipped_events = skipped.bad_events;
        report
    }

    /// The records (not withdrawn) that affect `package`, with their matching entries.
    fn matches(
        &self,
        package: &Package,
        skipped: &mut Skipped,
    ) -> Vec<(&'a Record, Vec<&'a RecordAffected>)> {
        let name = matching::normalize_name(package.ecosystem, &package.name);
        let mut out = Vec::new();
        for record in self.db.for_package(package.ecosystem, &name) {
            if record.withdrawn.is_some() {
                continue;
            }
            let entries: Vec<&RecordAffected> = record
                .affected
                .iter()
                .filter(|a| a.ecosystem == package.ecosystem && a.name == name)
                .filter(|a| {
                    matching::is_affected(
                        package.ecosystem,
                        &package.version,
                        &a.ranges,
                        &a.versions,
                        skipped,
                    )
                })
                .collect();
            if !entries.is_empty() {
                out.push((record, entries));
            }
        }
        out
    }
}

type Matched<'a> = (&'a Record, Vec<&'a RecordAffected>);

/// Groups matched records that share an id or alias (transitively).
fn merge_aliases<'m, 'a>(matched: &'m [Matched<'a>]) -> Vec<Vec<&'m Matched<'a>>> {
    let names = |r: &Record| -> BTreeSet<String> {
        std::iter::once(&r.id).chain(&r.aliases).cloned().collect()
    };
    // Two advisories of an ecosystem database (RUSTSEC, GO, PYSEC) are two findings even
    // when they share an alias: RustSec has pairs such as RUSTSEC-2019-0036 (unsound) and
    // RUSTSEC-2020-0036 (unmaintained) with the same CVEs, and cargo-audit reports both.
    // So a group holds at most one such id; other ids merge into the first that fits.
    let primary = |r: &Record| (id_rank(&r.id) == 0).then(|| r.id.clone());
    let mut groups: Vec<(BTreeSet<String>, Option<String>, Vec<&Matched<'a>>)> = Vec::new();
    for m in matched {
        let mut keys = names(m.0);
        let mut own = primary(m.0);
        let mut members = vec![m];
        // Absorb every existing group that shares a name and has no other database id.
        let mut i = 0;
        while i < groups.len() {
            let fits = groups.get(i).is_some_and(|(k, p, _)| {
                !k.is_disjoint(&keys) && (p.is_none() || own.is_none() || *p == own)
            });
            if fits {
                let (k, p, mem) = groups.swap_remove(i);
                keys.extend(k);
                own = own.or(p);
                members.extend(mem);
            } else {
                i += 1;
            }
        }
        groups.push((keys, own, members));
    }
    groups.into_iter().map(|(_, _, m)| m).collect()
}

/// The rank used to pick the id shown first.
fn id_rank(id: &str) -> u8 {
    if ["RUSTSEC-", "GO-", "PYSEC-"]
        .iter()
        .any(|p| id.starts_with(p))
    {
        0
    } else if id.starts_with("GHSA-") {
        1
    } else if id.starts_with("CVE-") {
        3
    } else {
        2
    }
}

fn best_severity<'r>(
    records: impl Iterator<Item = &'r Record>,
    entries: &[&RecordAffected],
) -> Option<Severity> {
    let all = records
        .flat_map(|r| r.severity.iter())
        .chain(entries.iter().flat_map(|e| e.severity.iter()));
    all.filter_map(|s| {
        let score = cvss::score(&s.score).ok()?;
        Some(Severity {
            kind: s.kind.clone(),
            vector: s.score.clone(),
            score,
        })
    })
    .max_by(|a, b| a.score.score.total_cmp(&b.score.score))
}

fn finding(package: &Package, group: &[&Matched<'_>]) -> Finding {
    let mut records: Vec<&Record> = group.iter().map(|m| m.0).collect();
    records.sort_by(|a, b| (id_rank(&a.id), &a.id).cmp(&(id_rank(&b.id), &b.id)));
    let entries: Vec<&RecordAffected> = group.iter().flat_map(|m| m.1.iter().copied()).collect();
    let ids: BTreeSet<String> = records.iter().map(|r| r.id.clone()).collect();
    let aliases: BTreeSet<String> = records
        .iter()
        .flat_map(|r| r.aliases.iter())
        .filter(|a| !ids.contains(*a))
        .cloned()
        .collect();
    let first = records.first();
    let informational = if entries.iter().all(|e| e.informational.is_some()) {
        entries.first().and_then(|e| e.informational.clone())
    } else {
        None
    };
    let fixed = remedy::smallest_fix(package.ecosystem, &package.version, &entries).version;
    Finding {
        package: package.clone(),
        id: first.map(|r| r.id.clone()).unwrap_or_default(),
        ids: ids.into_iter().collect(),
        aliases: aliases.into_iter().collect(),
        summary: first.map(|r| r.summary.clone()).unwrap_or_default(),
        severity: best_severity(records.iter().copied(), &entries),
        informational,
        fixed,
        url: first.and_then(|r| r.url.clone()),
    }
}

// ---------------------------------------------------------------------------------
// Coverage

/// A database that cannot vouch for a scan: empty, or without any advisory for an
/// ecosystem of the packages. Finding nothing there would read as "clean" when nothing
/// was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotCovered {
    /// The database holds no advisory at all.
    pub empty: bool,
    /// Each ecosystem without advisories, with how many packages of it were read.
    pub ecosystems: Vec<(Ecosystem, usize)>,
}

impl fmt::Display for NotCovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.empty {
            return f.write_str(
                "the advisory database is empty, so nothing can be checked; import advisories \
                 first (webqx-sec vuln db import PATH)",
            );
        }
        let list: Vec<String> = self
            .ecosystems
            .iter()
            .map(|(e, n)| format!("{e} ({n} package{})", if *n == 1 { "" } else { "s" }))
            .collect();
        write!(
            f,
            "the advisory database holds no advisories for {}, so those packages cannot be \
             checked; import that ecosystem's advisories (webqx-sec vuln db import PATH) or \
             leave its files out of the scan",
            list.join(", ")
        )
    }
}

impl std::error::Error for NotCovered {}

/// Checks that `db` can vouch for a scan of `packages`: it holds advisories, and some
/// for every ecosystem the packages are in. `db` may be opened with
/// [`Db::open_for`] those ecosystems.
///
/// # Errors
/// [`NotCovered`] naming what is missing.
pub fn check_coverage(db: &Db, packages: &[Package]) -> Result<(), NotCovered> {
    if db.is_empty() {
        return Err(NotCovered {
            empty: true,
            ecosystems: Vec::new(),
        });
    }
    let mut counts: Vec<(Ecosystem, usize)> = Vec::new();
    for p in packages {
        match counts.iter_mut().find(|(e, _)| *e == p.ecosystem) {
            Some(entry) => entry.1 += 1,
            None => counts.push((p.ecosystem, 1)),
        }
    }
    let missing: Vec<(Ecosystem, usize)> = counts
        .into_iter()
        .filter(|(e, _)| db.advisories_in(*e) == 0)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(NotCovered {
            empty: false,
            ecosystems: missing,
        })
    }
}

// ---------------------------------------------------------------------------------
// Ignore file

/// One entry of the ignore file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreEntry {
    /// An advisory id or alias.
    pub id: String,
    /// Why it is ignored (required: an ignore without a reason is not reviewable).
    pub reason: String,
    /// The last day the entry holds (`YYYY-MM-DD`); afterwards it is reported as
    /// expired and no longer honoured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<NaiveDate>,
}

/// The ignore file: TOML with `[[ignore]]` tables.
///
/// ```toml
/// [[ignore]]
/// id = "RUSTSEC-2020-0071"
/// reason = "time 0.1 is only used by a test tool, never with TZ from users"
/// expires = "2027-01-31"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IgnoreFile {
    /// The entries.
    #[serde(default, rename = "ignore")]
    pub entries: Vec<IgnoreEntry>,
}

/// Largest ignore file read.
pub const MAX_IGNORE_BYTES: usize = 1024 * 1024;

/// An ignore file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IgnoreError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for IgnoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "ignore file, line {l}: {}", self.message),
            None => write!(f, "ignore file: {}", self.message),
        }
    }
}

impl std::error::Error for IgnoreError {}

impl IgnoreFile {
    /// Reads an ignore file.
    ///
    /// # Errors
    /// [`IgnoreError`] for text over [`MAX_IGNORE_BYTES`], bad TOML, unknown keys, a
    /// missing `id` or `reason`, an empty reason, or a date not `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Result<IgnoreFile, IgnoreError> {
        if text.len() > MAX_IGNORE_BYTES {
            return Err(IgnoreError {
                line: None,
                message: "larger than 1 MiB".into(),
            });
        }
        let raw: RawIgnoreFile = toml::from_str(text).map_err(|e| IgnoreError {
            line: e.span().map(|s| line_at(text, s.start)),
            message: e.message().to_owned(),
        })?;
        let mut entries = Vec::with_capacity(raw.entries.len());
        for entry in raw.entries {
            for (field, value) in [("id", &entry.id), ("reason", &entry.reason)] {
                if value.get_ref().trim().is_empty() {
                    return Err(IgnoreError {
                        line: Some(line_at(text, value.span().start)),
                        message: format!(
                            "`{field}` is empty; every entry needs an advisory id and a reason \
                             a reviewer can judge"
                        ),
                    });
                }
            }
            entries.push(IgnoreEntry {
                id: entry.id.into_inner(),
                reason: entry.reason.into_inner(),
                expires: entry.expires,
            });
        }
        Ok(IgnoreFile { entries })
    }
}

/// The ignore file as written, with where each value is, for errors with a line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIgnoreFile {
    #[serde(default, rename = "ignore")]
    entries: Vec<RawIgnoreEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIgnoreEntry {
    id: toml::Spanned<String>,
    reason: toml::Spanned<String>,
    #[serde(default)]
    expires: Option<NaiveDate>,
}

/// The 1-based line of byte offset `at` in `text`.
fn line_at(text: &str, at: usize) -> usize {
    let before = text.get(..at).unwrap_or(text);
    before.bytes().filter(|b| *b == b'\n').count() + 1
}

// ---------------------------------------------------------------------------------
// Exit codes

/// How a scan command ended, for [`exit_code`].
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Outcome<'a> {
    /// A scan ran.
    Scanned {
        /// Its report.
        report: &'a Report,
        /// The lowest severity that fails.
        fail_on: Rating,
    },
    /// Bad arguments or ignore file.
    Usage,
    /// The database is missing, unreadable, or stale when freshness was required.
    Database,
    /// An input file could not be read.
    Input,
}

/// The process exit code for an outcome (table in the module documentation).
pub fn exit_code(outcome: Outcome<'_>) -> u8 {
    match outcome {
        Outcome::Scanned { report, fail_on } => {
            let fails = report
                .vulnerabilities()
                .any(|f| f.rating().is_none_or(|r| r >= fail_on));
            u8::from(fails)
        }
        Outcome::Usage => 2,
        Outcome::Database => 3,
        Outcome::Input => 4,
    }
}
