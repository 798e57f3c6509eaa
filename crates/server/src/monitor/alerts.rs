//! The alert store: findings become alerts (grouped, de-duplicated, suppressed),
//! alerts are listed, acknowledged and closed, suppressions and monitoring context are
//! kept, and followed sources' positions commit with the alerts they caused.
//!
//! Every change to an alert takes the next `change_seq` under the store's writer lock,
//! so a live stream can resume after the last change it saw.

use super::{EventText, Finding, Mark, Monitor, Processed, Severity};
use serde_json::{Value, json};
use std::fmt;
use std::sync::{Arc, Weak};
use tokio::sync::mpsc;
use webqx_audit::{AuditError, AuditLog, Audited, Outcome, RequestContext};
use webqx_store::time::rfc3339;
use webqx_store::{AnyRow, Row, Store, StoreError, WriteTx, now_ms, query};

/// Most triggering events kept on one alert (the first ones).
pub const MAX_EVENTS: usize = 20;
/// Largest stored text of one triggering event, in bytes; larger ones are replaced by
/// a note.
const MAX_EVENT_TEXT: usize = 16 * 1024;
/// Longest group key kept, in characters.
const MAX_GROUP_KEY: usize = 512;
/// Most findings written in one transaction.
const BATCH: usize = 256;

/// Why an alert operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum AlertError {
    /// The request is not valid; the text says what to change.
    Invalid(String),
    /// No such alert or suppression.
    NotFound(String),
    /// The alert is closed; it cannot change any more.
    Closed(String),
    /// The store failed.
    Store(StoreError),
    /// The audit trail failed.
    Audit(AuditError),
}

impl fmt::Display for AlertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlertError::Invalid(m) => f.write_str(m),
            AlertError::NotFound(id) => write!(f, "no '{id}'; list them first"),
            AlertError::Closed(id) => {
                write!(f, "alert {id} is closed; a new finding opens a new alert")
            }
            AlertError::Store(e) => write!(f, "storage failed: {e}; retry later"),
            AlertError::Audit(e) => write!(f, "audit trail failed: {e}; retry later"),
        }
    }
}

impl std::error::Error for AlertError {}

impl From<StoreError> for AlertError {
    fn from(e: StoreError) -> Self {
        AlertError::Store(e)
    }
}

impl From<AuditError> for AlertError {
    fn from(e: AuditError) -> Self {
        AlertError::Audit(e)
    }
}

impl From<sqlx::Error> for AlertError {
    fn from(e: sqlx::Error) -> Self {
        AlertError::Store(StoreError::from(e))
    }
}

impl Audited for AlertError {
    fn audit_reason(&self) -> &'static str {
        match self {
            AlertError::Invalid(_) => "invalid-request",
            AlertError::NotFound(_) => "not-found",
            AlertError::Closed(_) => "alert-closed",
            AlertError::Store(_) => "storage",
            AlertError::Audit(_) => "audit",
        }
    }

    fn audit_outcome(&self) -> Outcome {
        Outcome::Failure
    }
}

const COLUMNS: &str = "id, rule_id, title, severity, tags, group_key, status, first_seen, \
     last_seen, count, events, note, acked_by, acked_ms, closed_by, closed_ms, created_ms, \
     updated_ms, change_seq";

fn time_or_null(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |ms| Value::String(rfc3339(ms)))
}

/// An alert row as the documented JSON object (docs/alerts.md).
fn alert_json(row: &AnyRow) -> Result<Value, sqlx::Error> {
    let tags: String = row.try_get(4)?;
    let events: String = row.try_get(10)?;
    Ok(json!({
        "id": row.try_get::<String, _>(0)?,
        "rule_id": row.try_get::<String, _>(1)?,
        "title": row.try_get::<String, _>(2)?,
        "severity": row.try_get::<String, _>(3)?,
        "tags": serde_json::from_str::<Value>(&tags).unwrap_or(json!([])),
        "group_key": row.try_get::<String, _>(5)?,
        "status": row.try_get::<String, _>(6)?,
        "first_seen": rfc3339(row.try_get(7)?),
        "last_seen": rfc3339(row.try_get(8)?),
        "count": row.try_get::<i64, _>(9)?,
        "events": serde_json::from_str::<Value>(&events).unwrap_or(json!([])),
        "note": row.try_get::<Option<String>, _>(11)?,
        "acked_by": row.try_get::<Option<String>, _>(12)?,
        "acked_at": time_or_null(row.try_get(13)?),
        "closed_by": row.try_get::<Option<String>, _>(14)?,
        "closed_at": time_or_null(row.try_get(15)?),
        "created_at": rfc3339(row.try_get(16)?),
        "updated_at": rfc3339(row.try_get(17)?),
        "change": row.try_get::<i64, _>(18)?,
    }))
}

/// A field of an event by dotted path (`source.ip`), as text when it is a scalar.
pub fn field_text(event: &Value, path: &str) -> Option<String> {
    let mut v = event;
    for part in path.split('.').take(16) {
        v = v.get(part)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An active suppression.
#[derive(Debug, Clone)]
struct Suppression {
    rule_id: String,
    field: String,
    value: String,
}

impl Suppression {
    fn names(&self, rule_id: &str) -> bool {
        self.rule_id == "*" || self.rule_id == rule_id
    }

    fn matches(&self, event: &Value) -> bool {
        field_text(event, &self.field).as_deref() == Some(self.value.as_str())
    }
}

/// Findings' events read back as JSON for the suppressions, each once: a burst's
/// findings list the same shared events (see [`EventText::id`]).
#[derive(Default)]
struct ReadEvents(std::collections::HashMap<usize, Value>);

impl ReadEvents {
    /// Whether an active suppression silences `f`. Its events are read only when a
    /// suppression names its rule (or every rule).
    fn suppressed(&mut self, suppressions: &[Suppression], f: &Finding) -> bool {
        let mut named = suppressions
            .iter()
            .filter(|s| s.names(&f.rule_id))
            .peekable();
        if named.peek().is_none() {
            return false;
        }
        for e in &f.events {
            self.0.entry(e.id()).or_insert_with(|| e.to_value());
        }
        named.any(|s| {
            f.events
                .iter()
                .any(|e| self.0.get(&e.id()).is_some_and(|v| s.matches(v)))
        })
    }
}

async fn active_suppressions(tx: &mut WriteTx) -> Result<Vec<Suppression>, sqlx::Error> {
    let rows = query("SELECT rule_id, field, value FROM suppressions WHERE expires_ms > $1")
        .bind(now_ms())
        .fetch_all(tx.conn())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Suppression {
                rule_id: r.try_get(0)?,
                field: r.try_get(1)?,
                value: r.try_get(2)?,
            })
        })
        .collect()
}

async fn next_change(tx: &mut WriteTx) -> Result<i64, sqlx::Error> {
    let row = query("SELECT COALESCE(MAX(change_seq), 0) FROM alerts")
        .fetch_one(tx.conn())
        .await?;
    Ok(row.try_get::<i64, _>(0)? + 1)
}

/// The events an alert keeps of `events`: the first [`MAX_EVENTS`], each over
/// [`MAX_EVENT_TEXT`] replaced by a note.
fn event_texts(events: &[EventText]) -> Vec<EventText> {
    events
        .iter()
        .take(MAX_EVENTS)
        .map(|e| {
            if e.len() > MAX_EVENT_TEXT {
                EventText::from_value(
                    &json!({"event": {"original": "(event larger than 16 KiB: not kept)"}}),
                )
            } else {
                e.clone()
            }
        })
        .collect()
}

/// `events` as one JSON array text.
fn array_text(events: impl IntoIterator<Item = EventText>) -> String {
    let mut out = String::from("[");
    for (i, event) in events.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(event.as_str());
    }
    out.push(']');
    out
}

/// What applying one finding did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A new alert (its id).
    Raised(String),
    /// An open alert was updated (its id).
    Grouped(String),
    /// A suppression matched.
    Suppressed,
}

/// Applies findings in one transaction: new alerts (with their `alert.raised` records),
/// updates to open ones, and the given positions.
///
/// # Errors
/// Store and audit failures; nothing is written then.
pub async fn apply(
    store: &Store,
    audit: &AuditLog,
    window_ms: i64,
    findings: &[Finding],
    marks: &[Mark],
    extra: &[webqx_audit::AuditRecord],
) -> Result<Vec<Applied>, AlertError> {
    let mut tx = store.write().await?;
    let suppressions = if findings.is_empty() {
        Vec::new()
    } else {
        active_suppressions(&mut tx).await?
    };
    let mut change = next_change(&mut tx).await?;
    let mut out = vec![Applied::Suppressed; findings.len()];
    let mut kept = Vec::with_capacity(findings.len());
    let mut read = ReadEvents::default();
    for (i, f) in findings.iter().enumerate() {
        if read.suppressed(&suppressions, f) {
            metrics::counter!("webqx_monitor_suppressed_total").increment(1);
        } else {
            kept.push(i);
        }
    }
    for run in runs(findings, &kept, window_ms) {
        let applied = apply_run(&mut tx, audit, window_ms, findings, &run, change).await?;
        change += 1;
        for (n, &i) in run.iter().enumerate() {
            out[i] = match &applied {
                Applied::Raised(id) if n > 0 => Applied::Grouped(id.clone()),
                other => other.clone(),
            };
        }
    }
    for m in marks {
        save_mark(&mut tx, m).await?;
    }
    for rec in extra {
        audit.append(&mut tx, rec).await?;
    }
    tx.commit().await?;
    Ok(out)
}

/// The findings `kept` (indexes into `findings`, in order) in runs that one alert takes
/// whole: the same rule and group, each no later than the group window after the run's
/// newest.
/// Applied one by one they would land in the same alert, one after another; applied as
/// a run they cost one lookup and one write. A spray from one address fires the same
/// correlations on every event, so a batch holds hundreds of such findings.
fn runs(findings: &[Finding], kept: &[usize], window_ms: i64) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    // Open runs by (rule, key), with the run's newest time.
    let mut open: std::collections::HashMap<(&str, String), (usize, i64)> =
        std::collections::HashMap::new();
    for &i in kept {
        let f = &findings[i];
        let key = (f.rule_id.as_str(), bounded_key(&f.group_key));
        match open.get_mut(&key) {
            // One by one, `f` would find the run's alert open when the alert was seen
            // within the window before it (what `apply_run` asks of the store).
            Some((run, newest)) if f.timestamp_ms <= newest.saturating_add(window_ms) => {
                out[*run].push(i);
                *newest = (*newest).max(f.timestamp_ms);
            }
            _ => {
                open.insert(key, (out.len(), f.timestamp_ms));
                out.push(vec![i]);
            }
        }
    }
    out
}

/// The group key as stored: it comes from event fields, which senders control, so it
/// is bounded.
fn bounded_key(key: &str) -> String {
    key.chars().take(MAX_GROUP_KEY).collect()
}

/// Applies one run (see [`runs`]): into the open alert of its rule and group, or as a
/// new alert that counts the whole run.
async fn apply_run(
    tx: &mut WriteTx,
    audit: &AuditLog,
    window_ms: i64,
    findings: &[Finding],
    run: &[usize],
    change: i64,
) -> Result<Applied, AlertError> {
    let f = &findings[run[0]];
    let now = now_ms();
    let key = bounded_key(&f.group_key);
    let times = run.iter().map(|&i| findings[i].timestamp_ms);
    let first_ms = times.clone().min().unwrap_or(f.timestamp_ms);
    let last_ms = times.max().unwrap_or(f.timestamp_ms);
    let count = i64::try_from(run.len()).unwrap_or(i64::MAX);
    // The run's events, oldest finding first, as far as an alert keeps them. A
    // correlation's successive firings list overlapping windows: each event once.
    let events = || {
        let mut distinct: Vec<EventText> = Vec::with_capacity(MAX_EVENTS);
        for e in run.iter().flat_map(|&i| &findings[i].events) {
            if distinct.len() == MAX_EVENTS {
                break;
            }
            if !distinct.contains(e) {
                distinct.push(e.clone());
            }
        }
        event_texts(&distinct).into_iter()
    };
    let open = query(
        "SELECT id, count, events, first_seen, last_seen FROM alerts \
         WHERE rule_id = $1 AND group_key = $2 AND status <> 'closed' AND last_seen >= $3 \
         ORDER BY last_seen DESC LIMIT 1",
    )
    .bind(&f.rule_id)
    .bind(&key)
    .bind(f.timestamp_ms.saturating_sub(window_ms))
    .fetch_optional(tx.conn())
    .await?;
    if let Some(row) = open {
        let id: String = row.try_get(0)?;
        let stored: i64 = row.try_get(1)?;
        let stored_events: String = row.try_get(2)?;
        let first: i64 = row.try_get(3)?;
        let last: i64 = row.try_get(4)?;
        // Counted without building them: a full alert (the usual case in a burst) keeps
        // its events as they are.
        let held = serde_json::from_str::<Vec<serde::de::IgnoredAny>>(&stored_events)
            .map_or(0, |events| events.len());
        let room = MAX_EVENTS.saturating_sub(held);
        let events_now = if room > 0 {
            let mut all: Vec<Value> = serde_json::from_str(&stored_events).unwrap_or_default();
            let new: Vec<Value> = events()
                .map(|e| e.to_value())
                .filter(|e| !all.contains(e))
                .take(room)
                .collect();
            all.extend(new);
            Value::Array(all).to_string()
        } else {
            stored_events
        };
        query(
            "UPDATE alerts SET count = $1, last_seen = $2, first_seen = $3, events = $4, \
             updated_ms = $5, change_seq = $6 WHERE id = $7",
        )
        .bind(stored.saturating_add(count))
        .bind(last.max(last_ms))
        .bind(first.min(first_ms))
        .bind(events_now)
        .bind(now)
        .bind(change)
        .bind(&id)
        .execute(tx.conn())
        .await?;
        return Ok(Applied::Grouped(id));
    }
    let new = New {
        count,
        first_ms,
        last_ms,
        events: array_text(events()),
    };
    let id = insert(tx, f, &key, &new, change).await?;
    audit.append(tx, &raised_record(&id, f)).await?;
    Ok(Applied::Raised(id))
}

/// What a new alert starts with.
struct New {
    count: i64,
    first_ms: i64,
    last_ms: i64,
    /// The triggering events as stored (a JSON array).
    events: String,
}

/// A new open alert for `f`; its id.
async fn insert(
    tx: &mut WriteTx,
    f: &Finding,
    key: &str,
    new: &New,
    change: i64,
) -> Result<String, sqlx::Error> {
    let id = uuid::Uuid::now_v7().to_string();
    query(
        "INSERT INTO alerts (id, rule_id, title, severity, severity_n, tags, group_key, \
         status, first_seen, last_seen, count, events, created_ms, updated_ms, change_seq) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9, $10, $11, $12, $12, $13)",
    )
    .bind(&id)
    .bind(&f.rule_id)
    .bind(&f.title)
    .bind(f.level.as_str())
    .bind(f.level.rank())
    .bind(json!(f.tags).to_string())
    .bind(key)
    .bind(new.first_ms)
    .bind(new.last_ms)
    .bind(new.count)
    .bind(&new.events)
    .bind(now_ms())
    .bind(change)
    .execute(tx.conn())
    .await?;
    Ok(id)
}

/// Stores an alert raised outside detection (a vulnerability scan's new findings, a TLS
/// scan's regression) in `tx`, the caller's transaction: a new open alert, listed,
/// streamed, acknowledged and closed like any other, never grouped into an earlier one
/// (each scan's news is its own alert). `record`, the caller's `alert.raised` record
/// with its own details, gains the alert's id, title and tags and is appended; the
/// caller's commit makes both durable together.
///
/// An active suppression for the rule (and group key) stores nothing and appends no
/// record: `Ok(None)`.
///
/// # Errors
/// Store and audit failures; the caller's transaction should then be rolled back.
pub async fn raise_in(
    tx: &mut WriteTx,
    audit: &AuditLog,
    f: &Finding,
    mut record: webqx_audit::AuditRecord,
) -> Result<Option<String>, AlertError> {
    if ReadEvents::default().suppressed(&active_suppressions(tx).await?, f) {
        metrics::counter!("webqx_monitor_suppressed_total").increment(1);
        return Ok(None);
    }
    let key = bounded_key(&f.group_key);
    let change = next_change(tx).await?;
    let new = New {
        count: 1,
        first_ms: f.timestamp_ms,
        last_ms: f.timestamp_ms,
        events: array_text(event_texts(&f.events)),
    };
    let id = insert(tx, f, &key, &new, change).await?;
    record
        .detail("alert_id", id.clone())
        .detail("title", f.title.clone())
        .detail("tags", json!(f.tags));
    audit.append(tx, &record).await?;
    Ok(Some(id))
}

/// The alert store as the audit trail's [`webqx_audit::AlertSink`]: alerts other
/// components raise (OAuth client lockouts, certificate expiry) are stored, suppressed
/// and streamed like the monitor's own. Installed by the bootstrap.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoredAlerts;

impl webqx_audit::AlertSink for StoredAlerts {
    fn store<'a>(
        &'a self,
        tx: &'a mut WriteTx,
        audit: &'a AuditLog,
        alert: &'a webqx_audit::RaisedAlert,
        record: webqx_audit::AuditRecord,
    ) -> webqx_audit::alerting::StoreFuture<'a> {
        Box::pin(async move {
            let finding = Finding {
                rule_id: alert.rule_id.clone(),
                title: alert.title.clone(),
                level: Severity::parse(alert.severity).unwrap_or(Severity::Medium),
                tags: alert.tags.clone(),
                group_key: alert.group_key.clone(),
                timestamp_ms: alert.timestamp_ms,
                events: alert.events.iter().map(EventText::from_value).collect(),
            };
            raise_in(tx, audit, &finding, record)
                .await
                .map_err(|e| match e {
                    AlertError::Store(e) => AuditError::Store(e),
                    AlertError::Audit(e) => e,
                    other => AuditError::Write(other.to_string()),
                })
        })
    }
}

/// The `alert.raised` record the SIEM sinks deliver: rule, severity, title, tags and
/// the alert id; never the events (they may hold PHI) nor the group key.
fn raised_record(id: &str, f: &Finding) -> webqx_audit::AuditRecord {
    let ctx = RequestContext::internal("monitor");
    let mut rec = ctx.record("alert.raised", Some(format!("alert:{id}")));
    rec.detail("rule", f.rule_id.clone())
        .detail("severity", f.level.as_str())
        .detail("title", f.title.clone())
        .detail("alert_id", id)
        .detail("tags", json!(f.tags));
    rec
}

async fn save_mark(tx: &mut WriteTx, m: &Mark) -> Result<(), sqlx::Error> {
    let updated = query(
        "UPDATE tail_positions SET dev = $1, inode = $2, offset_b = $3, updated_ms = $4 \
         WHERE path = $5",
    )
    .bind(m.dev)
    .bind(m.inode)
    .bind(m.offset)
    .bind(now_ms())
    .bind(&m.path)
    .execute(tx.conn())
    .await?;
    if updated.rows_affected() == 0 {
        query(
            "INSERT INTO tail_positions (path, dev, inode, offset_b, updated_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&m.path)
        .bind(m.dev)
        .bind(m.inode)
        .bind(m.offset)
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
    }
    Ok(())
}

/// The committed position of a followed source.
///
/// # Errors
/// Store failures.
pub async fn position(store: &Store, path: &str) -> Result<Option<Mark>, AlertError> {
    let row = query("SELECT dev, inode, offset_b FROM tail_positions WHERE path = $1")
        .bind(path)
        .fetch_optional(store.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Mark {
        path: path.to_owned(),
        dev: row.try_get(0)?,
        inode: row.try_get(1)?,
        offset: row.try_get(2)?,
    }))
}

/// Filters of an alert listing.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// `open`, `acknowledged` or `closed`.
    pub status: Option<String>,
    /// At least this severity.
    pub min_severity: Option<Severity>,
    /// This rule.
    pub rule: Option<String>,
    /// Last seen at or after (ms).
    pub since_ms: Option<i64>,
    /// Page after this alert id (ids are UUIDv7: newest last).
    pub after: Option<String>,
    /// Most alerts.
    pub limit: i64,
}

/// Alerts, oldest first, with the cursor of the next page.
///
/// # Errors
/// Store failures.
pub async fn list(
    store: &Store,
    q: &ListQuery,
) -> Result<(Vec<Value>, Option<String>), AlertError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM alerts WHERE ($1 = '' OR status = $1) AND severity_n >= $2 \
         AND ($3 = '' OR rule_id = $3) AND last_seen >= $4 AND id > $5 ORDER BY id LIMIT $6"
    );
    let limit = q.limit.clamp(1, 1000);
    let rows = query(sqlx::AssertSqlSafe(sql))
        .bind(q.status.clone().unwrap_or_default())
        .bind(q.min_severity.map_or(0, Severity::rank))
        .bind(q.rule.clone().unwrap_or_default())
        .bind(q.since_ms.unwrap_or(i64::MIN))
        .bind(q.after.clone().unwrap_or_default())
        .bind(limit + 1)
        .fetch_all(store.pool())
        .await?;
    let mut out = rows.iter().map(alert_json).collect::<Result<Vec<_>, _>>()?;
    let next = if out.len() as i64 > limit {
        out.truncate(limit as usize);
        out.last().and_then(|a| a["id"].as_str().map(str::to_owned))
    } else {
        None
    };
    Ok((out, next))
}

/// One alert.
///
/// # Errors
/// [`AlertError::NotFound`], store failures.
pub async fn get(store: &Store, id: &str) -> Result<Value, AlertError> {
    let sql = format!("SELECT {COLUMNS} FROM alerts WHERE id = $1");
    let row = query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(store.pool())
        .await?
        .ok_or_else(|| AlertError::NotFound(format!("alert {id}")))?;
    Ok(alert_json(&row)?)
}

/// Alert changes after `change`, oldest first (for the live stream).
///
/// # Errors
/// Store failures.
pub async fn changes_after(
    store: &Store,
    change: i64,
    limit: i64,
) -> Result<Vec<Value>, AlertError> {
    let sql =
        format!("SELECT {COLUMNS} FROM alerts WHERE change_seq > $1 ORDER BY change_seq LIMIT $2");
    let rows = query(sqlx::AssertSqlSafe(sql))
        .bind(change)
        .bind(limit)
        .fetch_all(store.pool())
        .await?;
    Ok(rows.iter().map(alert_json).collect::<Result<Vec<_>, _>>()?)
}

/// The newest change number (0 when there is none).
///
/// # Errors
/// Store failures.
pub async fn last_change(store: &Store) -> Result<i64, AlertError> {
    let row = query("SELECT COALESCE(MAX(change_seq), 0) FROM alerts")
        .fetch_one(store.pool())
        .await?;
    Ok(row.try_get(0)?)
}

/// Acknowledges (`close = false`) or closes an alert, with an optional note, audited in
/// the same transaction (`alert.acknowledge` / `alert.close`).
///
/// # Errors
/// [`AlertError::NotFound`], [`AlertError::Closed`], store and audit failures.
pub async fn transition(
    audit: &AuditLog,
    ctx: &RequestContext,
    id: &str,
    close: bool,
    note: Option<&str>,
) -> Result<(), AlertError> {
    if note.is_some_and(|n| n.chars().count() > 2000) {
        return Err(AlertError::Invalid(
            "note must be at most 2000 characters".into(),
        ));
    }
    let action = if close {
        "alert.close"
    } else {
        "alert.acknowledge"
    };
    let rec = ctx.record(action, Some(format!("alert:{id}")));
    audit
        .transact(rec, async |tx, rec| {
            let row = query("SELECT status, rule_id FROM alerts WHERE id = $1")
                .bind(id)
                .fetch_optional(tx.conn())
                .await?
                .ok_or_else(|| AlertError::NotFound(format!("alert {id}")))?;
            let status: String = row.try_get(0)?;
            rec.detail("rule", row.try_get::<String, _>(1)?);
            if status == "closed" {
                return Err(AlertError::Closed(id.to_owned()));
            }
            let change = next_change(tx).await?;
            let now = now_ms();
            let sql = if close {
                "UPDATE alerts SET status = 'closed', closed_by = $1, closed_ms = $2, \
                 note = COALESCE($3, note), updated_ms = $2, change_seq = $4 WHERE id = $5"
            } else {
                "UPDATE alerts SET status = 'acknowledged', acked_by = $1, acked_ms = $2, \
                 note = COALESCE($3, note), updated_ms = $2, change_seq = $4 WHERE id = $5"
            };
            query(sql)
                .bind(&ctx.actor)
                .bind(now)
                .bind(note)
                .bind(change)
                .bind(id)
                .execute(tx.conn())
                .await?;
            Ok(())
        })
        .await
}

/// A suppression to add.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSuppression {
    /// The rule id, or `*` for every rule.
    pub rule_id: String,
    /// The event field (dotted, as in the event schema: `source.ip`, `user.name`).
    pub field: String,
    /// The value that field must have in a triggering event.
    pub value: String,
    /// Why (required).
    pub reason: String,
    /// When it ends, RFC 3339 (required, in the future, at most a year ahead).
    pub expires_at: String,
}

fn check_suppression(s: &NewSuppression, now: i64) -> Result<i64, AlertError> {
    let bad = |m: &str| Err(AlertError::Invalid(m.to_owned()));
    if s.rule_id.is_empty() || s.rule_id.len() > 200 {
        return bad("rule_id must be a rule id or '*' (1 to 200 characters)");
    }
    let field_ok = !s.field.is_empty()
        && s.field.len() <= 200
        && s.field.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_@-".contains(c))
        });
    if !field_ok {
        return bad("field must be a dotted event field such as source.ip or user.name");
    }
    if s.value.is_empty() || s.value.len() > 1000 {
        return bad("value must be 1 to 1000 characters");
    }
    if s.reason.trim().is_empty() || s.reason.chars().count() > 1000 {
        return bad("reason is required (at most 1000 characters): say why this is not a threat");
    }
    let expires = chrono::DateTime::parse_from_rfc3339(&s.expires_at)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            AlertError::Invalid(
                "expires_at must be an RFC 3339 time such as 2027-01-31T00:00:00Z".into(),
            )
        })?;
    if expires <= now || expires > now + 366 * 86_400_000 {
        return bad("expires_at must be in the future and at most a year ahead");
    }
    Ok(expires)
}

fn suppression_json(row: &AnyRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "id": row.try_get::<String, _>(0)?,
        "rule_id": row.try_get::<String, _>(1)?,
        "field": row.try_get::<String, _>(2)?,
        "value": row.try_get::<String, _>(3)?,
        "reason": row.try_get::<String, _>(4)?,
        "expires_at": rfc3339(row.try_get(5)?),
        "created_by": row.try_get::<String, _>(6)?,
        "created_at": rfc3339(row.try_get(7)?),
    }))
}

/// Adds a suppression (audited as `alert.suppression.create`); returns it.
///
/// # Errors
/// [`AlertError::Invalid`], store and audit failures.
pub async fn add_suppression(
    audit: &AuditLog,
    ctx: &RequestContext,
    s: &NewSuppression,
) -> Result<Value, AlertError> {
    let now = now_ms();
    let expires = check_suppression(s, now)?;
    let id = uuid::Uuid::now_v7().to_string();
    let mut rec = ctx.record(
        "alert.suppression.create",
        Some(format!("suppression:{id}")),
    );
    rec.detail("rule", s.rule_id.clone())
        .detail("field", s.field.clone())
        .detail("expires_at", s.expires_at.clone());
    audit
        .transact(rec, async |tx, _| {
            query(
                "INSERT INTO suppressions (id, rule_id, field, value, reason, expires_ms, \
                 created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&id)
            .bind(&s.rule_id)
            .bind(&s.field)
            .bind(&s.value)
            .bind(&s.reason)
            .bind(expires)
            .bind(&ctx.actor)
            .bind(now)
            .execute(tx.conn())
            .await?;
            Ok::<_, AlertError>(())
        })
        .await?;
    Ok(json!({
        "id": id, "rule_id": s.rule_id, "field": s.field, "value": s.value,
        "reason": s.reason, "expires_at": rfc3339(expires), "created_by": ctx.actor,
        "created_at": rfc3339(now),
    }))
}

/// Suppressions not yet expired.
///
/// # Errors
/// Store failures.
pub async fn suppressions(store: &Store) -> Result<Vec<Value>, AlertError> {
    let rows = query(
        "SELECT id, rule_id, field, value, reason, expires_ms, created_by, created_ms \
         FROM suppressions WHERE expires_ms > $1 ORDER BY id LIMIT 10000",
    )
    .bind(now_ms())
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .iter()
        .map(suppression_json)
        .collect::<Result<Vec<_>, _>>()?)
}

/// Removes a suppression (audited as `alert.suppression.delete`).
///
/// # Errors
/// [`AlertError::NotFound`], store and audit failures.
pub async fn remove_suppression(
    audit: &AuditLog,
    ctx: &RequestContext,
    id: &str,
) -> Result<(), AlertError> {
    let rec = ctx.record(
        "alert.suppression.delete",
        Some(format!("suppression:{id}")),
    );
    audit
        .transact(rec, async |tx, _| {
            let done = query("DELETE FROM suppressions WHERE id = $1")
                .bind(id)
                .execute(tx.conn())
                .await?;
            if done.rows_affected() == 0 {
                return Err(AlertError::NotFound(format!("suppression {id}")));
            }
            Ok(())
        })
        .await
}

/// The context kinds detection reads.
pub const CONTEXT_KINDS: [&str; 3] = ["users", "patients", "care"];

/// Stores a context document (audited as `monitor.context.update`, without content:
/// it names people).
///
/// # Errors
/// [`AlertError::Invalid`] for an unknown kind, store and audit failures.
pub async fn put_context(
    audit: &AuditLog,
    ctx: &RequestContext,
    kind: &str,
    document: &Value,
) -> Result<(), AlertError> {
    if !CONTEXT_KINDS.contains(&kind) {
        return Err(AlertError::Invalid(
            "the context kind must be users, patients or care".into(),
        ));
    }
    let text = document.to_string();
    let mut rec = ctx.record("monitor.context.update", Some(format!("context:{kind}")));
    rec.detail("bytes", text.len());
    audit
        .transact(rec, async |tx, _| {
            query("DELETE FROM monitor_context WHERE kind = $1")
                .bind(kind)
                .execute(tx.conn())
                .await?;
            query(
                "INSERT INTO monitor_context (kind, document, updated_by, updated_ms) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(kind)
            .bind(&text)
            .bind(&ctx.actor)
            .bind(now_ms())
            .execute(tx.conn())
            .await?;
            Ok::<_, AlertError>(())
        })
        .await
}

/// A stored context document with its metadata, or `None`.
///
/// # Errors
/// Store failures.
pub async fn get_context(store: &Store, kind: &str) -> Result<Option<Value>, AlertError> {
    let row = query("SELECT document, updated_by, updated_ms FROM monitor_context WHERE kind = $1")
        .bind(kind)
        .fetch_optional(store.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let doc: String = row.try_get(0)?;
    Ok(Some(json!({
        "kind": kind,
        "document": serde_json::from_str::<Value>(&doc).unwrap_or(Value::Null),
        "updated_by": row.try_get::<String, _>(1)?,
        "updated_at": rfc3339(row.try_get(2)?),
    })))
}

/// Saves the detector's learned state as it comes (the newest wins), as the
/// `monitor_context` row of kind [`super::STATE_KIND`]. Not audited: it is counts the
/// pipeline learned, not a change anyone made. A failed save is logged and retried
/// with the next state.
pub(super) async fn save_states(store: Store, mut rx: mpsc::Receiver<Value>) {
    while let Some(state) = rx.recv().await {
        let text = state.to_string();
        let saved = async {
            let mut tx = store.write().await?;
            query("DELETE FROM monitor_context WHERE kind = $1")
                .bind(super::STATE_KIND)
                .execute(tx.conn())
                .await?;
            query(
                "INSERT INTO monitor_context (kind, document, updated_by, updated_ms) \
                 VALUES ($1, $2, 'monitor', $3)",
            )
            .bind(super::STATE_KIND)
            .bind(&text)
            .bind(now_ms())
            .execute(tx.conn())
            .await?;
            tx.commit().await?;
            Ok::<_, AlertError>(())
        };
        match saved.await {
            Ok(()) => {
                metrics::counter!("webqx_monitor_state_saves_total").increment(1);
                tracing::debug!(bytes = text.len(), "detection state saved");
            }
            Err(e) => {
                tracing::warn!(error = %e, "detection state not saved; retrying with the next")
            }
        }
    }
}

/// The writer task: batches of processed items into the store.
pub(super) struct Writer {
    pub store: Store,
    pub audit: Arc<AuditLog>,
    pub window_ms: i64,
    pub record_explained: bool,
    pub monitor: Weak<super::Inner>,
}

impl Writer {
    pub(super) async fn run(self, mut rx: mpsc::Receiver<Processed>) {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(p) => batch.push(p),
                    Err(_) => break,
                }
            }
            self.write(batch).await;
        }
    }

    async fn write(&self, batch: Vec<Processed>) {
        let mut findings = Vec::new();
        let mut marks: Vec<Mark> = Vec::new();
        let mut extra = Vec::new();
        for p in batch {
            findings.extend(p.findings);
            if let Some(m) = p.mark {
                match marks.iter_mut().find(|x| x.path == m.path) {
                    Some(slot) => *slot = m,
                    None => marks.push(m),
                }
            }
            if let Some((user, patient)) = p.explained.filter(|_| self.record_explained) {
                extra.push(explained_record(&self.audit, &user, &patient));
            }
        }
        if findings.is_empty() && marks.is_empty() && extra.is_empty() {
            return;
        }
        let mut delay = std::time::Duration::from_millis(200);
        for attempt in 1..=5 {
            match apply(
                &self.store,
                &self.audit,
                self.window_ms,
                &findings,
                &marks,
                &extra,
            )
            .await
            {
                Ok(applied) => {
                    let raised = applied
                        .iter()
                        .filter(|a| matches!(a, Applied::Raised(_)))
                        .count();
                    metrics::counter!("webqx_monitor_alerts_raised_total").increment(raised as u64);
                    if !findings.is_empty()
                        && let Some(m) = Monitor::from_weak(&self.monitor)
                    {
                        m.changed().notify_waiters();
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "monitoring findings could not be stored; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        metrics::counter!("webqx_monitor_lost_findings_total").increment(findings.len() as u64);
        tracing::error!(
            findings = findings.len(),
            "monitoring findings could not be stored after 5 attempts; followed positions were \
             not advanced, so file and audit-trail events are read again at the next start"
        );
    }
}

fn explained_record(audit: &AuditLog, user: &str, patient: &str) -> webqx_audit::AuditRecord {
    let ctx = RequestContext::internal("monitor");
    let mut rec = ctx.record("access.explained", None);
    rec.detail("user", user.to_owned());
    rec.hmac
        .insert("patient".into(), audit.hmac(patient.as_bytes()));
    rec
}
