//! Scheduled TLS scans (`[[scan.tls]]` and `/v1/pki/scans`): targets, their results, and
//! regression alerts.
//!
//! Each due target is claimed by one node (a conditional update of its `next_ms`), scanned
//! with [`webqx_pki::scan::scan_tls`], and its report stored together with an audit record
//! `pki.scan.tls`. When the report is worse than the previous one (new findings, verdict
//! pass -> fail, the certificate entering its last 30 days, the endpoint unreachable), an
//! alert with rule `tls-scan-regression` (in the alert store, with its `alert.raised`
//! audit record) commits in the same transaction. The SIEM sinks deliver the record.

use crate::config::{Config, ScanTlsEntry};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use webqx_audit::{AuditError, AuditLog, Audited, Outcome, RequestContext};
use webqx_pki::scan::{self, Guidelines, ScanOptions, ScanReport, Severity};
use webqx_store::time::{parse_duration, rfc3339};
use webqx_store::{Row, Store, StoreError, WriteTx, now_ms, query};

/// Why a scan request failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScansError {
    /// The request is not valid; the text says why.
    Invalid(String),
    /// No such target.
    NotFound(String),
    /// The store failed.
    Store(StoreError),
    /// The audit trail failed.
    Audit(AuditError),
}

impl fmt::Display for ScansError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScansError::Invalid(m) => f.write_str(m),
            ScansError::NotFound(id) => write!(f, "no scan target '{id}'; list them first"),
            ScansError::Store(e) => write!(f, "storage failed: {e}"),
            ScansError::Audit(e) => write!(f, "audit trail failed: {e}"),
        }
    }
}

impl std::error::Error for ScansError {}

impl From<crate::monitor::alerts::AlertError> for ScansError {
    fn from(e: crate::monitor::alerts::AlertError) -> Self {
        use crate::monitor::alerts::AlertError;
        match e {
            AlertError::Store(e) => ScansError::Store(e),
            AlertError::Audit(e) => ScansError::Audit(e),
            other => ScansError::Invalid(other.to_string()),
        }
    }
}

impl From<StoreError> for ScansError {
    fn from(e: StoreError) -> Self {
        ScansError::Store(e)
    }
}

impl From<AuditError> for ScansError {
    fn from(e: AuditError) -> Self {
        ScansError::Audit(e)
    }
}

impl From<sqlx::Error> for ScansError {
    fn from(e: sqlx::Error) -> Self {
        ScansError::Store(StoreError::from(e))
    }
}

impl Audited for ScansError {
    fn audit_reason(&self) -> &'static str {
        match self {
            ScansError::Invalid(_) => "invalid-request",
            ScansError::NotFound(_) => "not-found",
            ScansError::Store(_) => "storage",
            ScansError::Audit(_) => "audit",
        }
    }

    fn audit_outcome(&self) -> Outcome {
        Outcome::Failure
    }
}

/// A target to scan on a schedule.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewTarget {
    /// `HOST:PORT`.
    pub target: String,
    /// Name for SNI and the hostname check (default: the host).
    #[serde(default)]
    pub sni: Option<String>,
    /// `modern`, `intermediate` (default) or `old`.
    #[serde(default = "intermediate")]
    pub profile: String,
    /// How often, a duration such as `24h` (default `24h`, at least `10s`).
    #[serde(default = "daily")]
    pub every: String,
    /// Trust bundle (PEM file on the server; default: the system store).
    #[serde(default)]
    pub ca_file: Option<String>,
}

fn intermediate() -> String {
    "intermediate".into()
}

fn daily() -> String {
    "24h".into()
}

/// A stored target.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Target {
    /// Id (UUIDv7, or `config-…` for `[[scan.tls]]` entries).
    pub id: String,
    /// What to scan and how.
    #[serde(flatten)]
    pub spec: NewTarget,
    /// `api` or `config`.
    pub origin: String,
    /// Created, RFC 3339.
    pub created: String,
    /// Next scheduled scan, RFC 3339.
    pub next_scan: String,
}

fn check(t: &NewTarget) -> Result<u64, ScansError> {
    let port_ok = t
        .target
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if !port_ok {
        return Err(ScansError::Invalid(format!(
            "target '{}' is not HOST:PORT",
            t.target
        )));
    }
    if scan::profile::profile(Guidelines::V5_8, &t.profile).is_none() {
        return Err(ScansError::Invalid(format!(
            "profile '{}' is not modern, intermediate or old",
            t.profile
        )));
    }
    let every = parse_duration(&t.every).map_err(ScansError::Invalid)?;
    if every < Duration::from_secs(10) {
        return Err(ScansError::Invalid("every must be at least 10s".into()));
    }
    Ok(every.as_secs())
}

async fn insert(tx: &mut WriteTx, id: &str, t: &NewTarget, origin: &str) -> Result<(), ScansError> {
    let every = check(t)?;
    let now = now_ms();
    query("DELETE FROM tls_scan_targets WHERE id = $1")
        .bind(id)
        .execute(tx.conn())
        .await?;
    query(
        "INSERT INTO tls_scan_targets (id, target, sni, profile, every_s, origin, created_ms, \
         next_ms, ca_file) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id)
    .bind(&t.target)
    .bind(t.sni.clone())
    .bind(&t.profile)
    .bind(every as i64)
    .bind(origin)
    .bind(now)
    .bind(now)
    .bind(t.ca_file.clone())
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// Create a target (audited `pki.scan.target.create`).
///
/// # Errors
/// [`ScansError::Invalid`] for a bad target, profile or period; storage and audit failures.
pub async fn create(
    audit: &AuditLog,
    ctx: &RequestContext,
    t: &NewTarget,
) -> Result<String, ScansError> {
    let id = uuid::Uuid::now_v7().to_string();
    let mut rec = ctx.record("pki.scan.target.create", Some(format!("tls:{}", t.target)));
    rec.detail("id", id.clone())
        .detail("profile", t.profile.clone());
    // Checked inside the audited transaction: a refused target is on the trail too.
    audit
        .transact(rec, async |tx, _| {
            check(t)?;
            insert(tx, &id, t, "api").await
        })
        .await?;
    Ok(id)
}

/// Delete a target and its history (audited `pki.scan.target.delete`).
///
/// # Errors
/// [`ScansError::NotFound`]; storage and audit failures.
pub async fn delete(audit: &AuditLog, ctx: &RequestContext, id: &str) -> Result<(), ScansError> {
    let rec = ctx.record("pki.scan.target.delete", Some(format!("scan:{id}")));
    audit
        .transact(rec, async |tx, _| {
            let gone = query("DELETE FROM tls_scan_targets WHERE id = $1")
                .bind(id)
                .execute(tx.conn())
                .await?;
            if gone.rows_affected() == 0 {
                return Err(ScansError::NotFound(id.to_string()));
            }
            query("DELETE FROM tls_scan_results WHERE target_id = $1")
                .bind(id)
                .execute(tx.conn())
                .await?;
            Ok(())
        })
        .await
}

fn target_from(row: &webqx_store::AnyRow) -> Result<Target, ScansError> {
    let every: i64 = row.try_get(4)?;
    let ca_file: Option<String> = row.try_get(8)?;
    Ok(Target {
        id: row.try_get(0)?,
        spec: NewTarget {
            target: row.try_get(1)?,
            sni: row.try_get(2)?,
            profile: row.try_get(3)?,
            every: format!("{every}s"),
            ca_file,
        },
        origin: row.try_get(5)?,
        created: rfc3339(row.try_get(6)?),
        next_scan: rfc3339(row.try_get(7)?),
    })
}

/// The target columns, in `target_from`'s order, with a literal tail (SQL stays literal).
macro_rules! select_targets {
    ($tail:literal) => {
        concat!(
            "SELECT id, target, sni, profile, every_s, origin, created_ms, next_ms, ca_file \
             FROM tls_scan_targets ",
            $tail
        )
    };
}

/// Every target.
///
/// # Errors
/// Storage failures.
pub async fn list(store: &Store) -> Result<Vec<Target>, ScansError> {
    let rows = query(select_targets!("ORDER BY id"))
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(target_from).collect()
}

/// One target.
///
/// # Errors
/// [`ScansError::NotFound`]; storage failures.
pub async fn get(store: &Store, id: &str) -> Result<Target, ScansError> {
    let row = query(select_targets!("WHERE id = $1"))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| ScansError::NotFound(id.to_string()))?;
    target_from(&row)
}

/// The newest results of a target, newest first.
///
/// # Errors
/// Storage failures.
pub async fn history(store: &Store, id: &str, limit: i64) -> Result<Vec<Value>, ScansError> {
    let rows = query(
        "SELECT id, time_ms, verdict, report FROM tls_scan_results WHERE target_id = $1 \
         ORDER BY time_ms DESC, id DESC LIMIT $2",
    )
    .bind(id)
    .bind(limit)
    .fetch_all(store.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let report: String = row.try_get(3)?;
        out.push(json!({
            "id": row.try_get::<String, _>(0)?,
            "time": rfc3339(row.try_get(1)?),
            "verdict": row.try_get::<String, _>(2)?,
            "report": serde_json::from_str::<Value>(&report).unwrap_or(Value::Null),
        }));
    }
    Ok(out)
}

async fn previous(store: &Store, id: &str) -> Result<Option<(String, Value)>, ScansError> {
    let last = history(store, id, 1).await?;
    Ok(last.into_iter().next().map(|v| {
        let verdict = v["verdict"].as_str().unwrap_or_default().to_string();
        (verdict, v["report"].clone())
    }))
}

/// What an alert says about a regression.
fn alert_details(
    t: &Target,
    before: &str,
    after: &str,
    regression: Option<&scan::Regression>,
    error: Option<&str>,
) -> (Severity, Value) {
    let severity = regression.map_or(Severity::High, |r| r.severity);
    let findings = match (regression, error) {
        (Some(r), _) => serde_json::to_value(&r.new_findings).unwrap_or(Value::Null),
        (None, Some(e)) => {
            json!([{"rule": "endpoint-unreachable", "severity": "high", "message": e}])
        }
        _ => json!([]),
    };
    let details = json!({
        "rule": "tls-scan-regression",
        "severity": severity.as_str(),
        "target": t.spec.target,
        "scan_target_id": t.id,
        "verdict_before": before,
        "verdict_after": after,
        "certificate_expiring": regression.is_some_and(|r| r.certificate_expiring),
        "findings": findings,
    });
    (severity, details)
}

/// The stored alert for a regression: rule `tls-scan-regression`, grouped by endpoint,
/// one triggering event per new finding (`tls.*`, `server.address`), from the details
/// of its `alert.raised` record.
fn regression_alert(t: &Target, record: &webqx_audit::AuditRecord) -> crate::monitor::Finding {
    use crate::monitor::{EventText, Finding, Severity};
    let detail = |name: &str| record.details.get(name).cloned().unwrap_or(Value::Null);
    let severity = detail("severity");
    let now = now_ms();
    let base = json!({
        "@timestamp": webqx_store::time::rfc3339(now),
        "event": {"kind": "alert", "category": ["network"], "dataset": "webqx.tls_scan"},
        "server": {"address": t.spec.target},
        "tls": {"verdict_before": detail("verdict_before"),
                "verdict_after": detail("verdict_after"),
                "certificate_expiring": detail("certificate_expiring")},
        "webqx": {"scan_target": {"id": t.id}},
    });
    let events = match detail("findings") {
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|finding| {
                let mut event = base.clone();
                event["tls"]["finding"] = finding;
                EventText::from_value(&event)
            })
            .collect(),
        _ => vec![EventText::from_value(&base)],
    };
    Finding {
        rule_id: "tls-scan-regression".into(),
        title: format!("TLS configuration of {} got worse", t.spec.target),
        level: severity
            .as_str()
            .and_then(Severity::parse)
            .unwrap_or(Severity::High),
        // Transmission security; weakened encryption in transit.
        tags: vec![
            "hipaa.164.312.e.1".into(),
            "attack.defense_evasion".into(),
            "attack.t1562".into(),
        ],
        group_key: t.spec.target.clone(),
        timestamp_ms: now,
        events,
    }
}

/// Scan `t` now, store the result, and raise an alert on a regression.
///
/// # Errors
/// Storage and audit failures (an unreachable endpoint is a stored result, not an error).
pub async fn run(
    store: &Store,
    audit: &AuditLog,
    ctx: &RequestContext,
    t: &Target,
) -> Result<Value, ScansError> {
    let options = ScanOptions {
        sni: t.spec.sni.clone(),
        ca_file: t.spec.ca_file.as_ref().map(PathBuf::from),
        profile: t.spec.profile.clone(),
        ..ScanOptions::default()
    };
    let outcome = scan::scan_tls(&t.spec.target, &options).await;
    let (verdict, report_json, error) = match &outcome {
        Ok(r) => (
            r.verdict.clone(),
            serde_json::to_value(r).unwrap_or(Value::Null),
            None,
        ),
        Err(e) => (
            "error".to_string(),
            json!({"error": e.to_string()}),
            Some(e.to_string()),
        ),
    };
    let prev = previous(store, &t.id).await?;
    let regression = match (&prev, &outcome) {
        (Some((_, before)), Ok(next)) => serde_json::from_value::<ScanReport>(before.clone())
            .ok()
            .and_then(|b| scan::regression(&b, next)),
        _ => None,
    };
    let before = prev
        .as_ref()
        .map_or("none", |(v, _)| v.as_str())
        .to_string();
    let unreachable_now = error.is_some() && before != "error" && prev.is_some();
    let alert = (regression.is_some() || unreachable_now).then(|| {
        let (_, details) =
            alert_details(t, &before, &verdict, regression.as_ref(), error.as_deref());
        let mut rec = ctx.record("alert.raised", Some(format!("tls:{}", t.spec.target)));
        if let Value::Object(map) = details {
            rec.details = map;
        }
        rec
    });

    let id = uuid::Uuid::now_v7().to_string();
    let mut rec = ctx.record("pki.scan.tls", Some(format!("tls:{}", t.spec.target)));
    rec.detail("scan_target_id", t.id.clone())
        .detail("result_id", id.clone())
        .detail("verdict", verdict.clone());
    if let Ok(r) = &outcome {
        rec.detail("findings", r.findings.len());
    }
    let report_text = report_json.to_string();
    let raised = audit
        .transact(rec, async |tx, _| {
            query(
                "INSERT INTO tls_scan_results (id, target_id, time_ms, verdict, report) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(&t.id)
            .bind(now_ms())
            .bind(&verdict)
            .bind(&report_text)
            .execute(tx.conn())
            .await?;
            match &alert {
                Some(record) => {
                    let finding = regression_alert(t, record);
                    crate::monitor::alerts::raise_in(tx, audit, &finding, record.clone())
                        .await
                        .map_err(ScansError::from)
                }
                None => Ok(None),
            }
        })
        .await?;
    metrics::counter!("webqx_pki_tls_scans_total", "verdict" => verdict.clone()).increment(1);
    if let Some(alert_id) = &raised {
        metrics::counter!("webqx_pki_tls_scan_alerts_total").increment(1);
        tracing::warn!(target = %t.spec.target, %alert_id, "TLS scan regression: alert raised");
    }
    Ok(
        json!({"id": id, "verdict": verdict, "alert": raised.is_some(),
              "alert_id": raised, "report": report_json}),
    )
}

fn config_id(e: &ScanTlsEntry) -> String {
    let text = format!(
        "{}|{}|{}",
        e.target,
        e.sni.as_deref().unwrap_or(""),
        e.profile
    );
    let digest = webqx_crypto::sha256(text.as_bytes());
    format!("config-{}", hex::encode(&digest[..8]))
}

/// Make the stored config-origin targets match `[[scan.tls]]`.
///
/// # Errors
/// Storage and audit failures.
pub async fn sync_config(audit: &AuditLog, entries: &[ScanTlsEntry]) -> Result<(), ScansError> {
    let ctx = RequestContext::internal("system");
    let mut rec = ctx.record("pki.scan.target.sync", None);
    rec.detail("targets", entries.len());
    audit
        .transact(rec, async |tx, _| {
            let mut keep = Vec::new();
            for e in entries {
                let id = config_id(e);
                let t = NewTarget {
                    target: e.target.clone(),
                    sni: e.sni.clone(),
                    profile: e.profile.clone(),
                    every: e.every.clone(),
                    ca_file: e.ca_file.as_ref().map(|p| p.display().to_string()),
                };
                insert(tx, &id, &t, "config").await?;
                keep.push(id);
            }
            let rows = query("SELECT id FROM tls_scan_targets WHERE origin = 'config'")
                .fetch_all(tx.conn())
                .await?;
            for row in &rows {
                let id: String = row.try_get(0)?;
                if !keep.contains(&id) {
                    query("DELETE FROM tls_scan_targets WHERE id = $1")
                        .bind(&id)
                        .execute(tx.conn())
                        .await?;
                }
            }
            Ok::<_, ScansError>(())
        })
        .await
}

/// Claim the targets due now (one node wins each) and push their next time.
async fn claim_due(store: &Store) -> Result<Vec<Target>, ScansError> {
    let now = now_ms();
    let rows = query(select_targets!("WHERE next_ms <= $1"))
        .bind(now)
        .fetch_all(store.pool())
        .await?;
    let mut due = Vec::new();
    for row in &rows {
        let t = target_from(row)?;
        let old: i64 = row.try_get(7)?;
        let every: i64 = row.try_get(4)?;
        let won = query("UPDATE tls_scan_targets SET next_ms = $1 WHERE id = $2 AND next_ms = $3")
            .bind(now + every * 1000)
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

/// Runs scheduled scans until the task is dropped.
pub async fn scheduler(config: Arc<Config>, store: Store, audit: Arc<AuditLog>) {
    if let Err(e) = sync_config(&audit, &config.scan.tls).await {
        tracing::warn!(error = %e, "[[scan.tls]] targets could not be stored");
    }
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due = match claim_due(&store).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "scheduled TLS scans: cannot read targets");
                continue;
            }
        };
        for t in due {
            let ctx = RequestContext::internal("scheduler");
            if let Err(e) = run(&store, &audit, &ctx, &t).await {
                tracing::warn!(error = %e, target = %t.spec.target, "scheduled TLS scan failed");
            }
        }
    }
}
