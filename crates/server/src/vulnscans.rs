//! Scheduled vulnerability scans (`/v1/vuln`): targets (lockfiles and folders under
//! `[vuln] allowed_roots`, with a cron schedule or a period), their results, and alerts
//! on new findings.
//!
//! Each due target is claimed by one node (a conditional update of its `next_ms`, as the
//! TLS scans do), scanned with [`webqx_vuln`] on a blocking thread, and its findings
//! stored together with an audit record `vuln.scan`. The findings are compared with the
//! target's previous successful result: new vulnerabilities raise one alert in the
//! alert store (`/v1/alerts`, rule `vuln-new-finding`, severity = the highest new one's,
//! one triggering event per finding) with its `alert.raised` record, vulnerabilities
//! gone since raise one `vuln.fixed` record; all of it commits in one transaction. The
//! SIEM sinks deliver those records.
//!
//! A finding is identified by advisory id, ecosystem and package name: a package moving
//! from one vulnerable version to another stays the same finding. Notices
//! (unmaintained, unsound) are stored but neither alerted nor reported as fixed.

use crate::config_vuln::VulnSection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use webqx_audit::{AuditError, AuditLog, Audited, Outcome, RequestContext};
use webqx_store::time::{parse_duration, rfc3339};
use webqx_store::{Row, Store, StoreError, now_ms, query};
use webqx_vuln::cvss::Rating;
use webqx_vuln::db::{self, Db, DbError};
use webqx_vuln::lockfile::{self, Options};
use webqx_vuln::scan::{self, Scanner};
use webqx_vuln::{Ecosystem, Package};

/// Most paths in one target.
pub const MAX_PATHS: usize = 64;
/// Longest target name.
const MAX_NAME: usize = 128;
/// Longest schedule text.
const MAX_SCHEDULE: usize = 200;
/// Shortest period between two scheduled runs of one target, for `every` and cron alike.
const MIN_EVERY: Duration = Duration::from_secs(10);
/// How many coming fire times of a new cron expression are checked against
/// [`MIN_EVERY`] (a burst such as `0,5 * * * * *` is caught, not only the first gap).
const CRON_LOOKAHEAD: usize = 200;
/// Most findings kept from one run (a larger report is cut, and says so).
const MAX_FINDINGS: usize = 10_000;

/// Why a vulnerability scan request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum VulnError {
    /// The request is not valid; the text says why.
    Invalid(String),
    /// No such target.
    NotFound(String),
    /// A target with that name exists.
    Exists(String),
    /// The server keeps `[vuln] max_targets` targets already.
    TooMany(usize),
    /// The advisory database cannot be used; the text says what to do.
    Database(String),
    /// The store failed.
    Store(StoreError),
    /// The audit trail failed.
    Audit(AuditError),
}

impl fmt::Display for VulnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VulnError::Invalid(m) | VulnError::Database(m) => f.write_str(m),
            VulnError::NotFound(id) => {
                write!(f, "no vulnerability scan target '{id}'; list them first")
            }
            VulnError::Exists(name) => write!(
                f,
                "a target named '{name}' exists; pick another name or remove it first"
            ),
            VulnError::TooMany(max) => write!(
                f,
                "the server keeps at most {max} scan targets ([vuln] max_targets); remove \
                 one, or scan more paths in one target"
            ),
            VulnError::Store(e) => write!(f, "storage failed: {e}"),
            VulnError::Audit(e) => write!(f, "audit trail failed: {e}"),
        }
    }
}

impl std::error::Error for VulnError {}

impl From<StoreError> for VulnError {
    fn from(e: StoreError) -> Self {
        VulnError::Store(e)
    }
}

impl From<AuditError> for VulnError {
    fn from(e: AuditError) -> Self {
        VulnError::Audit(e)
    }
}

impl From<sqlx::Error> for VulnError {
    fn from(e: sqlx::Error) -> Self {
        VulnError::Store(StoreError::from(e))
    }
}

impl From<crate::monitor::alerts::AlertError> for VulnError {
    fn from(e: crate::monitor::alerts::AlertError) -> Self {
        use crate::monitor::alerts::AlertError;
        match e {
            AlertError::Store(e) => VulnError::Store(e),
            AlertError::Audit(e) => VulnError::Audit(e),
            other => VulnError::Invalid(other.to_string()),
        }
    }
}

impl Audited for VulnError {
    fn audit_reason(&self) -> &'static str {
        match self {
            VulnError::Invalid(_) => "invalid-request",
            VulnError::NotFound(_) => "not-found",
            VulnError::Exists(_) => "conflict",
            VulnError::TooMany(_) => "limit",
            VulnError::Database(_) => "vuln-database",
            VulnError::Store(_) => "storage",
            VulnError::Audit(_) => "audit",
        }
    }

    fn audit_outcome(&self) -> Outcome {
        Outcome::Failure
    }
}

/// When a target runs: a cron expression or a fixed period.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// A cron expression (5 fields as in crontab, or 6–7 with seconds and year), UTC.
    Cron(Box<cron::Schedule>, String),
    /// Every so many seconds.
    Every(u64),
}

impl Schedule {
    /// Reads the API's `schedule` (cron) or `every` (duration); exactly one is given.
    ///
    /// # Errors
    /// [`VulnError::Invalid`] saying what is wrong with the expression.
    pub fn from_request(
        schedule: Option<&str>,
        every: Option<&str>,
    ) -> Result<Schedule, VulnError> {
        match (schedule, every) {
            (Some(c), None) => Schedule::new_cron(c),
            (None, Some(e)) => Schedule::every(e),
            _ => Err(VulnError::Invalid(
                "give either schedule (a cron expression such as \"0 3 * * *\") or every \
                 (a period such as \"24h\"), not both and not neither"
                    .into(),
            )),
        }
    }

    fn cron(text: &str) -> Result<Schedule, VulnError> {
        let invalid = |why: String| VulnError::Invalid(format!("schedule '{text}': {why}"));
        if text.len() > MAX_SCHEDULE {
            return Err(invalid(format!("longer than {MAX_SCHEDULE} characters")));
        }
        let fields = text.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {text}"),
            6 | 7 => text.to_string(),
            _ => {
                return Err(invalid(format!(
                    "has {fields} fields; a cron expression has 5 (minute hour day month \
                     weekday), or 6-7 with seconds first and a year last"
                )));
            }
        };
        let parsed = cron::Schedule::from_str(&full).map_err(|e| invalid(e.to_string()))?;
        Ok(Schedule::Cron(Box::new(parsed), text.trim().to_string()))
    }

    /// A new cron schedule: parsed, firing at least once more, and never two runs
    /// closer than [`MIN_EVERY`] (as `every`; a seconds field could ask for one a
    /// second).
    fn new_cron(text: &str) -> Result<Schedule, VulnError> {
        let s = Schedule::cron(text)?;
        let Schedule::Cron(c, _) = &s else {
            return Ok(s);
        };
        let times: Vec<_> = c.after(&chrono::Utc::now()).take(CRON_LOOKAHEAD).collect();
        if times.is_empty() {
            return Err(VulnError::Invalid(format!(
                "schedule '{text}': never fires"
            )));
        }
        let shortest = times
            .iter()
            .zip(times.iter().skip(1))
            .map(|(a, b)| (*b - *a).num_milliseconds())
            .min();
        let min_ms = i64::try_from(MIN_EVERY.as_millis()).unwrap_or(i64::MAX);
        if let Some(gap) = shortest.filter(|g| *g < min_ms) {
            return Err(VulnError::Invalid(format!(
                "schedule '{text}' runs {:.0}s apart at times; the smallest period is 10s \
                 (give the seconds field one value, such as \"0 */5 * * * *\")",
                gap as f64 / 1000.0
            )));
        }
        Ok(s)
    }

    fn every(text: &str) -> Result<Schedule, VulnError> {
        let d =
            parse_duration(text).map_err(|e| VulnError::Invalid(format!("every '{text}': {e}")))?;
        if d < MIN_EVERY {
            return Err(VulnError::Invalid(format!(
                "every '{text}' is shorter than the smallest period, 10s"
            )));
        }
        Ok(Schedule::Every(d.as_secs()))
    }

    /// The stored form: `cron:EXPR` or `every:SECONDS`.
    pub fn stored(&self) -> String {
        match self {
            Schedule::Cron(_, text) => format!("cron:{text}"),
            Schedule::Every(s) => format!("every:{s}"),
        }
    }

    /// Reads [`Schedule::stored`]'s form back.
    ///
    /// # Errors
    /// [`VulnError::Invalid`] when the text is damaged.
    pub fn from_stored(text: &str) -> Result<Schedule, VulnError> {
        match text.split_once(':') {
            Some(("cron", expr)) => Schedule::cron(expr),
            Some(("every", secs)) => secs
                .parse::<u64>()
                .map(Schedule::Every)
                .map_err(|_| VulnError::Invalid(format!("stored schedule '{text}' is damaged"))),
            _ => Err(VulnError::Invalid(format!(
                "stored schedule '{text}' is damaged"
            ))),
        }
    }

    /// The first run time strictly after `after_ms`, in ms; `None` when it never fires.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Schedule::Every(s) => after_ms.checked_add(i64::try_from(*s).ok()?.checked_mul(1000)?),
            Schedule::Cron(c, _) => {
                let after = chrono::DateTime::from_timestamp_millis(after_ms)?;
                c.after(&after).next().map(|t| t.timestamp_millis())
            }
        }
    }

    /// How the API shows it: `cron 0 3 * * *` or `every 86400s`.
    fn display(&self) -> (Option<String>, Option<String>) {
        match self {
            Schedule::Cron(_, text) => (Some(text.clone()), None),
            Schedule::Every(s) => (None, Some(format!("{s}s"))),
        }
    }
}

/// A new target.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    /// A unique name for people.
    pub name: String,
    /// Lockfiles, SBOMs, or folders searched for them; absolute, under
    /// `[vuln] allowed_roots`.
    pub paths: Vec<String>,
    /// A cron expression (UTC): 5 fields (`0 3 * * *`), or 6-7 with seconds first.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Or a period such as `24h` (at least `10s`).
    #[serde(default)]
    pub every: Option<String>,
}

/// A stored target.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Target {
    /// Id (UUIDv7).
    pub id: String,
    /// Name.
    pub name: String,
    /// Paths scanned (as given).
    pub paths: Vec<String>,
    /// Cron expression, when scheduled by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// Period, when scheduled by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// Next scheduled run, RFC 3339.
    pub next_run: String,
    /// Who added it (the audit actor).
    pub created_by: String,
    /// When, RFC 3339.
    pub created: String,
}

/// One finding as stored and reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredFinding {
    /// Advisory id (the first of `ids`).
    pub id: String,
    /// Every database id of the advisory.
    pub ids: Vec<String>,
    /// Aliases (CVE, GHSA…).
    pub aliases: Vec<String>,
    /// Ecosystem (OSV name).
    pub ecosystem: String,
    /// Package name.
    pub package: String,
    /// Version found.
    pub version: String,
    /// `file:line` where it was found.
    pub location: String,
    /// `low`, `medium`, `high`, `critical`, or absent when the advisory gives no score.
    pub severity: Option<String>,
    /// The smallest fixing version, when there is one.
    pub fixed: Option<String>,
    /// The advisory's summary.
    pub summary: String,
    /// Set for notices (unmaintained, unsound…), which are not vulnerabilities.
    pub informational: Option<String>,
}

impl StoredFinding {
    fn key(&self) -> (String, String, String) {
        (
            self.id.clone(),
            self.ecosystem.clone(),
            self.package.clone(),
        )
    }
}

fn check(v: &VulnSection, t: &NewTarget) -> Result<Schedule, VulnError> {
    let name_ok = !t.name.trim().is_empty()
        && t.name.len() <= MAX_NAME
        && !t.name.chars().any(char::is_control);
    if !name_ok {
        return Err(VulnError::Invalid(format!(
            "name must be 1-{MAX_NAME} printable characters"
        )));
    }
    if t.paths.is_empty() || t.paths.len() > MAX_PATHS {
        return Err(VulnError::Invalid(format!(
            "paths must list 1-{MAX_PATHS} lockfiles or folders"
        )));
    }
    for p in &t.paths {
        v.confine(p).map_err(VulnError::Invalid)?;
    }
    Schedule::from_request(t.schedule.as_deref(), t.every.as_deref())
}

/// Create a target (audited `vuln.target.create`). Its first run is the schedule's first
/// time after now.
///
/// # Errors
/// [`VulnError::Invalid`] for a bad name, path or schedule; [`VulnError::Exists`];
/// storage and audit failures.
pub async fn create(
    audit: &AuditLog,
    v: &VulnSection,
    ctx: &RequestContext,
    t: &NewTarget,
) -> Result<String, VulnError> {
    let now = now_ms();
    let checked = check(v, t).and_then(|schedule| {
        let next = schedule
            .next_after(now)
            .ok_or_else(|| VulnError::Invalid("the schedule never fires".into()))?;
        Ok((schedule, next))
    });
    let id = uuid::Uuid::now_v7().to_string();
    let mut rec = ctx.record("vuln.target.create", Some(format!("vuln:{id}")));
    rec.detail("name", t.name.clone())
        .detail("paths", json!(t.paths));
    if let Ok((schedule, _)) = &checked {
        rec.detail("schedule", schedule.stored());
    }
    let paths = json!(t.paths).to_string();
    // Checked inside the audited transaction: a refused target is on the trail too.
    audit
        .transact(rec, async |tx, _| {
            let (schedule, next) = checked?;
            let taken = query("SELECT id FROM vuln_targets WHERE name = $1")
                .bind(&t.name)
                .fetch_optional(tx.conn())
                .await?;
            if taken.is_some() {
                return Err(VulnError::Exists(t.name.clone()));
            }
            let count: i64 = query("SELECT COUNT(*) FROM vuln_targets")
                .fetch_one(tx.conn())
                .await?
                .try_get(0)?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= v.max_targets {
                return Err(VulnError::TooMany(v.max_targets));
            }
            query(
                "INSERT INTO vuln_targets (id, name, paths, schedule, next_ms, created_by, \
                 created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(&t.name)
            .bind(&paths)
            .bind(schedule.stored())
            .bind(next)
            .bind(&ctx.actor)
            .bind(now)
            .execute(tx.conn())
            .await?;
            Ok(())
        })
        .await?;
    Ok(id)
}

/// Delete a target and its results (audited `vuln.target.delete`).
///
/// # Errors
/// [`VulnError::NotFound`]; storage and audit failures.
pub async fn delete(audit: &AuditLog, ctx: &RequestContext, id: &str) -> Result<(), VulnError> {
    let rec = ctx.record("vuln.target.delete", Some(format!("vuln:{id}")));
    audit
        .transact(rec, async |tx, _| {
            let gone = query("DELETE FROM vuln_targets WHERE id = $1")
                .bind(id)
                .execute(tx.conn())
                .await?;
            if gone.rows_affected() == 0 {
                return Err(VulnError::NotFound(id.to_string()));
            }
            query("DELETE FROM vuln_results WHERE target_id = $1")
                .bind(id)
                .execute(tx.conn())
                .await?;
            Ok(())
        })
        .await
}

fn target_from(row: &webqx_store::AnyRow) -> Result<(Target, Schedule), VulnError> {
    let paths: String = row.try_get(2)?;
    let stored: String = row.try_get(3)?;
    let schedule = Schedule::from_stored(&stored)?;
    let (cron_text, every) = schedule.display();
    let target = Target {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        paths: serde_json::from_str(&paths).unwrap_or_default(),
        schedule: cron_text,
        every,
        next_run: rfc3339(row.try_get(4)?),
        created_by: row.try_get(5)?,
        created: rfc3339(row.try_get(6)?),
    };
    Ok((target, schedule))
}

/// The target columns, in `target_from`'s order, with a literal tail (SQL stays literal).
macro_rules! select_targets {
    ($tail:literal) => {
        concat!(
            "SELECT id, name, paths, schedule, next_ms, created_by, created_ms \
             FROM vuln_targets ",
            $tail
        )
    };
}

/// Every target, by name.
///
/// # Errors
/// Storage failures.
pub async fn list(store: &Store) -> Result<Vec<Target>, VulnError> {
    let rows = query(select_targets!("ORDER BY name"))
        .fetch_all(store.pool())
        .await?;
    rows.iter()
        .map(|r| target_from(r).map(|(t, _)| t))
        .collect()
}

/// One target, by id or name.
///
/// # Errors
/// [`VulnError::NotFound`]; storage failures.
pub async fn get(store: &Store, id_or_name: &str) -> Result<Target, VulnError> {
    let row = query(select_targets!("WHERE id = $1 OR name = $1"))
        .bind(id_or_name)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| VulnError::NotFound(id_or_name.to_string()))?;
    target_from(&row).map(|(t, _)| t)
}

/// One stored result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanResult {
    /// Id (UUIDv7; also the paging cursor).
    pub id: String,
    /// The target's id.
    pub target_id: String,
    /// Started, RFC 3339.
    pub started: String,
    /// Finished, RFC 3339.
    pub finished: String,
    /// Packages read.
    pub packages: i64,
    /// Findings (vulnerabilities and notices).
    pub total: i64,
    /// Vulnerabilities not in the previous successful result.
    pub new: i64,
    /// Vulnerabilities of the previous successful result that are gone.
    pub fixed: i64,
    /// Why the scan failed (then there are no findings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The findings.
    pub findings: Vec<StoredFinding>,
}

fn result_from(row: &webqx_store::AnyRow) -> Result<ScanResult, VulnError> {
    let findings: String = row.try_get(4)?;
    Ok(ScanResult {
        id: row.try_get(0)?,
        target_id: row.try_get(1)?,
        started: rfc3339(row.try_get(2)?),
        finished: rfc3339(row.try_get(3)?),
        findings: serde_json::from_str(&findings).unwrap_or_default(),
        packages: row.try_get(5)?,
        total: row.try_get(6)?,
        new: row.try_get(7)?,
        fixed: row.try_get(8)?,
        error: row.try_get(9)?,
    })
}

macro_rules! select_results {
    ($tail:literal) => {
        concat!(
            "SELECT id, target_id, started_ms, finished_ms, findings, packages, total, \
             new_count, fixed_count, error FROM vuln_results ",
            $tail
        )
    };
}

/// A page of a target's results, newest first, and the cursor of the next page.
///
/// # Errors
/// [`VulnError::Invalid`] for a cursor that is not a result id; storage failures.
pub async fn history(
    store: &Store,
    target_id: &str,
    cursor: Option<&str>,
    limit: u32,
) -> Result<(Vec<ScanResult>, Option<String>), VulnError> {
    let limit = i64::from(limit.clamp(1, 1000));
    if cursor.is_some_and(|c| uuid::Uuid::try_parse(c).is_err()) {
        return Err(VulnError::Invalid(
            "cursor is not a next_cursor value of this list; give the next_cursor of the \
             previous page, or no cursor for the newest results"
                .into(),
        ));
    }
    // UUIDv7 ids sort by creation time, so the id is both the order and the cursor.
    let rows = match cursor {
        Some(c) => {
            query(select_results!(
                "WHERE target_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
            ))
            .bind(target_id)
            .bind(c)
            .bind(limit + 1)
            .fetch_all(store.pool())
            .await?
        }
        None => {
            query(select_results!(
                "WHERE target_id = $1 ORDER BY id DESC LIMIT $2"
            ))
            .bind(target_id)
            .bind(limit + 1)
            .fetch_all(store.pool())
            .await?
        }
    };
    let mut out = rows
        .iter()
        .map(result_from)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if out.len() as i64 > limit {
        out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        out.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok((out, next))
}

/// The latest successful result of every target, with the target's name: the
/// findings as they stand.
///
/// # Errors
/// Storage failures.
pub async fn current(store: &Store) -> Result<Vec<Value>, VulnError> {
    let mut out = Vec::new();
    for t in list(store).await? {
        let Some(last) = latest_ok(store, &t.id).await? else {
            continue;
        };
        for f in last.findings {
            let mut v = json!(f);
            if let Value::Object(m) = &mut v {
                m.insert("target".into(), json!(t.name));
                m.insert("target_id".into(), json!(t.id));
                m.insert("result_id".into(), json!(last.id));
                m.insert("scanned".into(), json!(last.finished));
            }
            out.push(v);
        }
    }
    Ok(out)
}

async fn latest_ok(store: &Store, target_id: &str) -> Result<Option<ScanResult>, VulnError> {
    let row = query(select_results!(
        "WHERE target_id = $1 AND error IS NULL ORDER BY id DESC LIMIT 1"
    ))
    .bind(target_id)
    .fetch_optional(store.pool())
    .await?;
    row.as_ref().map(result_from).transpose()
}

/// Which vulnerabilities appeared and which went away between two results.
pub fn diff<'a>(
    before: &'a [StoredFinding],
    after: &'a [StoredFinding],
) -> (Vec<&'a StoredFinding>, Vec<&'a StoredFinding>) {
    let vulns = |list: &'a [StoredFinding]| {
        list.iter()
            .filter(|f| f.informational.is_none())
            .collect::<Vec<_>>()
    };
    let (before, after) = (vulns(before), vulns(after));
    let keys_before: BTreeSet<_> = before.iter().map(|f| f.key()).collect();
    let keys_after: BTreeSet<_> = after.iter().map(|f| f.key()).collect();
    let mut new: Vec<_> = after
        .into_iter()
        .filter(|f| !keys_before.contains(&f.key()))
        .collect();
    let mut fixed: Vec<_> = before
        .into_iter()
        .filter(|f| !keys_after.contains(&f.key()))
        .collect();
    new.dedup_by_key(|f| f.key());
    fixed.dedup_by_key(|f| f.key());
    (new, fixed)
}

/// What a scan found: the findings, the number of packages, and the readers' notes.
struct Scanned {
    findings: Vec<StoredFinding>,
    packages: usize,
    notes: Vec<lockfile::Note>,
}

/// Why a scan could not run: its inputs, or the database. A target's run stores the
/// message as its result; an ad-hoc scan answers 400 or 503.
enum ScanFailure {
    Input(String),
    Database(String),
}

impl ScanFailure {
    fn message(self) -> String {
        match self {
            ScanFailure::Input(m) | ScanFailure::Database(m) => m,
        }
    }
}

impl From<ScanFailure> for VulnError {
    fn from(f: ScanFailure) -> Self {
        match f {
            ScanFailure::Input(m) => VulnError::Invalid(m),
            ScanFailure::Database(m) => VulnError::Database(m),
        }
    }
}

/// Most notes an ad-hoc scan returns.
const MAX_NOTES: usize = 1000;

fn files_of(v: &VulnSection, paths: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        let real = v.confine(p)?;
        if real.is_dir() {
            let found = lockfile::discover(&real);
            if found.is_empty() {
                return Err(format!("{p}: no lockfile or SBOM found in this folder"));
            }
            files.extend(found);
        } else {
            files.push(real);
        }
    }
    Ok(files)
}

/// Reads the lockfiles and matches them against the database (blocking).
fn scan_blocking(v: &VulnSection, db_dir: &Path, paths: &[String]) -> Result<Scanned, ScanFailure> {
    let files = files_of(v, paths).map_err(ScanFailure::Input)?;
    let mut packages: Vec<Package> = Vec::new();
    let mut notes = Vec::new();
    for f in &files {
        // Includes (requirements `-r`/`-c`) stay under the roots too.
        let lock = lockfile::read_confined(f, Options::default(), &v.allowed_roots)
            .map_err(|e| ScanFailure::Input(e.to_string()))?;
        packages.extend(lock.packages);
        notes.extend(lock.notes);
    }
    let mut ecosystems: Vec<Ecosystem> = Vec::new();
    for p in &packages {
        if !ecosystems.contains(&p.ecosystem) {
            ecosystems.push(p.ecosystem);
        }
    }
    let database =
        Db::open_for(db_dir, &ecosystems).map_err(|e| ScanFailure::Database(db_message(&e)))?;
    // Packages of an ecosystem without advisories were not checked: a failed run, not
    // a clean one (which would report their findings "fixed").
    scan::check_coverage(&database, &packages).map_err(|e| ScanFailure::Database(e.to_string()))?;
    let report = Scanner::new(&database).scan(&packages);
    let findings = report
        .findings
        .iter()
        .take(MAX_FINDINGS)
        .map(|f| StoredFinding {
            id: f.id.clone(),
            ids: f.ids.clone(),
            aliases: f.aliases.clone(),
            ecosystem: f.package.ecosystem.osv_name().to_string(),
            package: f.package.name.clone(),
            version: f.package.version.clone(),
            location: f.package.location.to_string(),
            severity: f.rating().map(|r| r.as_str().to_string()),
            fixed: f.fixed.clone(),
            summary: f.summary.clone(),
            informational: f.informational.clone(),
        })
        .collect();
    notes.truncate(MAX_NOTES);
    Ok(Scanned {
        findings,
        packages: packages.len(),
        notes,
    })
}

fn db_message(e: &DbError) -> String {
    match e {
        DbError::Missing(_) => "no advisory database yet; import one with \
                                `webqx-sec vuln db import` through the server (POST /v1/vuln/db/import)"
            .into(),
        other => other.to_string(),
    }
}

fn highest(findings: &[&StoredFinding]) -> &'static str {
    findings
        .iter()
        .filter_map(|f| f.severity.as_deref().and_then(Rating::parse))
        .max()
        .map_or("medium", Rating::as_str)
}

/// The stored alert for a scan's new findings: rule `vuln-new-finding`, the highest new
/// severity, grouped by target, one triggering event per finding in the event schema
/// (`vulnerability.*`, `package.*`, `file.path`).
fn new_findings_alert(
    target: &Target,
    new: &[&StoredFinding],
    finished_ms: i64,
) -> crate::monitor::Finding {
    use crate::monitor::{Finding, Severity};
    let events = new
        .iter()
        .map(|f| {
            crate::monitor::EventText::from_value(&json!({
                "@timestamp": rfc3339(finished_ms),
                "event": {"kind": "alert", "category": ["vulnerability"],
                          "dataset": "webqx.vuln", "reference": f.id},
                "vulnerability": {"id": f.id, "aliases": f.aliases,
                                  "severity": f.severity, "description": f.summary,
                                  "fixed_in": f.fixed},
                "package": {"name": f.package, "version": f.version,
                            "type": f.ecosystem},
                "file": {"path": f.location},
                "webqx": {"vuln_target": {"id": target.id, "name": target.name}},
            }))
        })
        .collect();
    Finding {
        rule_id: "vuln-new-finding".into(),
        title: format!(
            "{} new vulnerabilit{} in {}",
            new.len(),
            if new.len() == 1 { "y" } else { "ies" },
            target.name
        ),
        level: Severity::parse(highest(new)).unwrap_or(Severity::Medium),
        // Vulnerability scanning and patching: NIST CSF ID.RA-1, HIPAA risk analysis.
        tags: vec![
            "hipaa.164.308.a.1.ii.a".into(),
            "attack.initial_access".into(),
            "attack.t1195.001".into(),
        ],
        group_key: target.id.clone(),
        timestamp_ms: finished_ms,
        events,
    }
}

fn ids_of(findings: &[&StoredFinding]) -> Vec<String> {
    let set: BTreeSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    set.into_iter().map(str::to_string).collect()
}

/// Where a server's database lives.
pub fn db_dir(config: &crate::config::Config) -> PathBuf {
    config.vuln.db_dir(&config.server.data_dir)
}

/// Scan `target` now, store the result, and audit new and fixed vulnerabilities.
///
/// # Errors
/// Storage and audit failures (an unreadable lockfile or a missing database is a stored
/// result with an error, not an error here).
pub async fn run(
    store: &Store,
    audit: &AuditLog,
    config: &crate::config::Config,
    ctx: &RequestContext,
    target: &Target,
) -> Result<ScanResult, VulnError> {
    let started = now_ms();
    let (v, dir, paths) = (config.vuln.clone(), db_dir(config), target.paths.clone());
    let outcome = tokio::task::spawn_blocking(move || scan_blocking(&v, &dir, &paths))
        .await
        .unwrap_or_else(|e| Err(ScanFailure::Input(format!("the scan stopped: {e}"))))
        .map_err(ScanFailure::message);
    let finished = now_ms();
    let previous = latest_ok(store, &target.id).await?;
    let (findings, packages, error) = match outcome {
        Ok(s) => (s.findings, s.packages, None),
        Err(e) => (Vec::new(), 0, Some(e)),
    };
    let before = previous.map(|p| p.findings).unwrap_or_default();
    let (new, fixed) = if error.is_none() {
        diff(&before, &findings)
    } else {
        (Vec::new(), Vec::new())
    };

    let id = uuid::Uuid::now_v7().to_string();
    let subject = Some(format!("vuln:{}", target.id));
    let mut rec = ctx.record("vuln.scan", subject.clone());
    rec.detail("vuln_target_id", target.id.clone())
        .detail("target", target.name.clone())
        .detail("result_id", id.clone())
        .detail("findings", findings.len())
        .detail("new", new.len())
        .detail("fixed", fixed.len());
    if let Some(e) = &error {
        rec.detail("error", e.clone());
    }
    let alert = (!new.is_empty()).then(|| {
        let mut a = ctx.record("alert.raised", subject.clone());
        a.detail("rule", "vuln-new-finding")
            .detail("severity", highest(&new))
            .detail("target", target.name.clone())
            .detail("vuln_target_id", target.id.clone())
            .detail("result_id", id.clone())
            .detail("advisories", json!(ids_of(&new)))
            .detail("findings", json!(new));
        a
    });
    let gone = (!fixed.is_empty()).then(|| {
        let mut a = ctx.record("vuln.fixed", subject.clone());
        a.detail("target", target.name.clone())
            .detail("vuln_target_id", target.id.clone())
            .detail("result_id", id.clone())
            .detail("advisories", json!(ids_of(&fixed)))
            .detail("findings", json!(fixed));
        a
    });
    let result = ScanResult {
        id: id.clone(),
        target_id: target.id.clone(),
        started: rfc3339(started),
        finished: rfc3339(finished),
        packages: i64::try_from(packages).unwrap_or(i64::MAX),
        total: findings.len() as i64,
        new: new.len() as i64,
        fixed: fixed.len() as i64,
        error: error.clone(),
        findings: findings.clone(),
    };
    let findings_text = json!(findings).to_string();
    let raised = audit
        .transact(rec, async |tx, _| {
            query(
                "INSERT INTO vuln_results (id, target_id, started_ms, finished_ms, findings, \
                 packages, total, new_count, fixed_count, error) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(&id)
            .bind(&target.id)
            .bind(started)
            .bind(finished)
            .bind(&findings_text)
            .bind(result.packages)
            .bind(result.total)
            .bind(result.new)
            .bind(result.fixed)
            .bind(error.clone())
            .execute(tx.conn())
            .await?;
            let raised = match &alert {
                Some(record) => {
                    let finding = new_findings_alert(target, &new, finished);
                    crate::monitor::alerts::raise_in(tx, audit, &finding, record.clone()).await?
                }
                None => None,
            };
            if let Some(gone) = &gone {
                audit.append(tx, gone).await?;
            }
            Ok::<_, VulnError>(raised)
        })
        .await?;
    let outcome = if error.is_some() { "error" } else { "ok" };
    metrics::counter!("webqx_vuln_scans_total", "outcome" => outcome).increment(1);
    if let Some(alert_id) = raised {
        metrics::counter!("webqx_vuln_new_finding_alerts_total").increment(1);
        tracing::warn!(target = %target.name, new = result.new, %alert_id, "new vulnerabilities: alert raised");
    }
    Ok(result)
}

/// Scans one path (a lockfile, SBOM or folder under `[vuln] allowed_roots`) now and
/// returns what it found, storing nothing but an audit record `vuln.scan.adhoc`. At most
/// [`ADHOC_SCANS`] run at once on a node; more wait.
///
/// # Errors
/// [`VulnError::Invalid`] for a path outside the roots or an unreadable input;
/// [`VulnError::Database`] when the database is missing, unreadable, or has no
/// advisories for an ecosystem of the inputs; audit failures.
pub async fn scan_now(
    audit: &AuditLog,
    config: &crate::config::Config,
    ctx: &RequestContext,
    path: &str,
) -> Result<Value, VulnError> {
    static RUNNING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(ADHOC_SCANS);
    config.vuln.confine(path).map_err(VulnError::Invalid)?;
    let _permit = RUNNING
        .acquire()
        .await
        .map_err(|_| VulnError::Database("the scan pool is closed".into()))?;
    let (v, dir, paths) = (config.vuln.clone(), db_dir(config), vec![path.to_string()]);
    let scanned = tokio::task::spawn_blocking(move || scan_blocking(&v, &dir, &paths))
        .await
        .map_err(|e| VulnError::Database(format!("the scan stopped: {e}")))??;
    let mut rec = ctx.record("vuln.scan.adhoc", None);
    rec.detail("path", path)
        .detail("packages", scanned.packages)
        .detail("findings", scanned.findings.len());
    audit.record(rec).await?;
    let notes: Vec<Value> = scanned
        .notes
        .iter()
        .map(|n| json!({"location": n.location.to_string(), "kind": n.kind, "message": n.message}))
        .collect();
    Ok(json!({
        "path": path,
        "packages": scanned.packages,
        "total": scanned.findings.len(),
        "findings": scanned.findings,
        "notes": notes,
    }))
}

/// Ad-hoc scans running at once on one node.
const ADHOC_SCANS: usize = 2;

/// Claim the targets due now (one node wins each) and move them to their next time.
async fn claim_due(store: &Store) -> Result<Vec<Target>, VulnError> {
    let now = now_ms();
    let rows = query(select_targets!("WHERE next_ms <= $1"))
        .bind(now)
        .fetch_all(store.pool())
        .await?;
    let mut due = Vec::new();
    for row in &rows {
        let (t, schedule) = match target_from(row) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "a vulnerability scan target cannot be read");
                continue;
            }
        };
        let old: i64 = row.try_get(4)?;
        // A schedule that never fires again is parked a year ahead; none runs sooner
        // than MIN_EVERY after a claim (targets stored before that rule included).
        let min_ms = i64::try_from(MIN_EVERY.as_millis()).unwrap_or(i64::MAX);
        let next = schedule
            .next_after(now)
            .unwrap_or(now + 365 * 86_400_000)
            .max(now.saturating_add(min_ms));
        let won = query("UPDATE vuln_targets SET next_ms = $1 WHERE id = $2 AND next_ms = $3")
            .bind(next)
            .bind(&t.id)
            .bind(old)
            .execute(store.pool())
            .await?;
        if won.rows_affected() == 1 {
            due.push(t);
        }
    }
    Ok(due)
}

/// Claims the targets due now and scans them; returns how many this node ran. Several
/// nodes may call it at once: each due run goes to one of them.
///
/// # Errors
/// Storage failures while claiming (a failed scan is logged and the others still run).
pub async fn run_due(
    config: &crate::config::Config,
    store: &Store,
    audit: &AuditLog,
) -> Result<usize, VulnError> {
    let due = claim_due(store).await?;
    let mut ran = 0;
    for t in due {
        let ctx = RequestContext::internal("scheduler");
        match run(store, audit, config, &ctx, &t).await {
            Ok(_) => ran += 1,
            Err(e) => {
                tracing::warn!(error = %e, target = %t.name, "scheduled vulnerability scan failed");
            }
        }
    }
    Ok(ran)
}

/// Runs scheduled vulnerability scans until the task is dropped.
pub async fn scheduler(config: Arc<crate::config::Config>, store: Store, audit: Arc<AuditLog>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = run_due(&config, &store, &audit).await {
            tracing::warn!(error = %e, "scheduled vulnerability scans: cannot read targets");
        }
    }
}

/// The database's status, or `None` when there is none yet.
///
/// # Errors
/// [`VulnError::Database`] when it cannot be read.
pub async fn db_status(dir: PathBuf) -> Result<Option<db::Status>, VulnError> {
    let opened = tokio::task::spawn_blocking(move || Db::open(&dir))
        .await
        .map_err(|e| VulnError::Database(format!("reading the database stopped: {e}")))?;
    match opened {
        Ok(d) => Ok(Some(d.status(db::DEFAULT_MAX_AGE_DAYS, chrono::Utc::now()))),
        Err(DbError::Missing(_)) => Ok(None),
        Err(e) => Err(VulnError::Database(e.to_string())),
    }
}

/// Imports advisories from paths under `allowed_roots` (audited `vuln.db.import`).
/// Imports on this node are serialized; each node has its own database folder.
///
/// # Errors
/// [`VulnError::Invalid`] for a path outside the roots; [`VulnError::Database`] when
/// the database cannot be saved; audit failures.
pub async fn db_import(
    audit: &AuditLog,
    config: &crate::config::Config,
    ctx: &RequestContext,
    paths: &[String],
) -> Result<Value, VulnError> {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    if paths.is_empty() || paths.len() > MAX_PATHS {
        return Err(VulnError::Invalid(format!(
            "paths must list 1-{MAX_PATHS} advisory files, folders or zip archives"
        )));
    }
    let real = paths
        .iter()
        .map(|p| config.vuln.confine(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(VulnError::Invalid)?;
    let _one = ONE_AT_A_TIME.lock().await;
    let dir = db_dir(config);
    // The lock inside import_locked also serializes with CLI imports into this folder
    // and with other nodes sharing it.
    let imported = tokio::task::spawn_blocking(move || Db::import_locked(&dir, &real))
        .await
        .map_err(|e| VulnError::Database(format!("the import stopped: {e}")))?
        .map_err(|e| VulnError::Database(e.to_string()))?;
    let s = imported.stats;
    let errors: Vec<String> = imported
        .errors
        .iter()
        .take(100)
        .map(ToString::to_string)
        .collect();
    let failed: Vec<String> = imported
        .failed_sources
        .iter()
        .map(ToString::to_string)
        .collect();
    let body = json!({
        "added": s.added, "updated": s.updated, "unchanged": s.unchanged, "older": s.older,
        "errors": errors, "error_count": imported.errors.len(), "failed_sources": failed,
    });
    let mut rec = ctx.record("vuln.db.import", None);
    rec.detail("paths", json!(paths))
        .detail("added", s.added)
        .detail("updated", s.updated)
        .detail("errors", imported.errors.len());
    audit.record(rec).await?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, pkg: &str, version: &str, severity: Option<&str>) -> StoredFinding {
        StoredFinding {
            id: id.into(),
            ids: vec![id.into()],
            aliases: Vec::new(),
            ecosystem: "crates.io".into(),
            package: pkg.into(),
            version: version.into(),
            location: "Cargo.lock:1".into(),
            severity: severity.map(str::to_string),
            fixed: None,
            summary: String::new(),
            informational: None,
        }
    }

    #[test]
    fn diff_names_new_and_fixed_by_advisory_and_package() {
        let a = finding("RUSTSEC-1", "base64", "0.5.1", Some("critical"));
        let b = finding("RUSTSEC-2", "time", "0.1.45", Some("medium"));
        let b_moved = finding("RUSTSEC-2", "time", "0.1.46", Some("medium"));
        let mut notice = finding("RUSTSEC-3", "old", "1.0.0", None);
        notice.informational = Some("unmaintained".into());

        let (new, fixed) = diff(&[], std::slice::from_ref(&a));
        assert_eq!((new.len(), fixed.len()), (1, 0));
        let both = [a.clone(), b.clone()];
        let (new, fixed) = diff(std::slice::from_ref(&a), &both);
        assert_eq!(ids_of(&new), ["RUSTSEC-2"]);
        assert!(fixed.is_empty());
        let (before, after) = ([a.clone(), b], [b_moved, notice]);
        let (new, fixed) = diff(&before, &after);
        assert!(
            new.is_empty(),
            "a version change is the same finding; notices are ignored"
        );
        assert_eq!(ids_of(&fixed), ["RUSTSEC-1"]);
        assert_eq!(highest(&[&a]), "critical");
        assert_eq!(highest(&[]), "medium");
    }

    #[test]
    fn schedules_parse_and_say_what_is_wrong() {
        let five = Schedule::from_request(Some("*/5 * * * *"), None).unwrap();
        let at = 1_700_000_000_000; // 2023-11-14T22:13:20Z
        assert_eq!(five.next_after(at), Some(1_700_000_100_000));
        let six = Schedule::from_request(Some("0 0 3 * * *"), None).unwrap();
        assert_eq!(six.stored(), "cron:0 0 3 * * *");
        let every = Schedule::from_request(None, Some("1h")).unwrap();
        assert_eq!(every.next_after(at), Some(at + 3_600_000));
        assert_eq!(
            Schedule::from_stored(&every.stored()).unwrap().stored(),
            "every:3600"
        );

        for (cron, want) in [
            ("* * *", "3 fields"),
            ("61 * * * *", "schedule '61 * * * *'"),
            ("0 0 30 2 *", "never fires"),
            // Seconds fields: the same 10 s floor as `every`.
            ("* * * * * *", "1s apart"),
            ("*/5 * * * * *", "5s apart"),
            ("0,3 * * * * *", "3s apart"),
        ] {
            let e = Schedule::from_request(Some(cron), None)
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{cron}: {e}");
        }
        assert!(Schedule::from_request(None, Some("1s")).is_err());
        assert!(Schedule::from_request(Some("* * * * *"), Some("1h")).is_err());
        assert!(Schedule::from_request(None, None).is_err());
        assert!(Schedule::from_request(Some("*/10 * * * * *"), None).is_ok());
        let long = "1 ".repeat(150);
        assert!(Schedule::from_request(Some(&long), None).is_err());
    }
}
