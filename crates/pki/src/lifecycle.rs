//! The certificate lifecycle watch: an inventory of the certificates we issued and of
//! those we were given to watch (PEM files and TLS endpoints), and expiry alerts.
//!
//! A check reads every watch ([`observe`], blocking: run it off the async runtime),
//! records what it found ([`Lifecycle::record`]), then raises the alerts that are due
//! ([`Lifecycle::raise_due_alerts`]): for each certificate, each configured threshold
//! (30/14/7 days by default) is alerted once: the alert `cert-expiring` goes to the
//! server's alert store (listed, streamed, suppressible) with its `alert.raised` audit
//! record, which the SIEM sinks deliver like every record. A certificate first seen
//! inside several thresholds gets one alert, for the tightest, and the looser ones are
//! marked as done. A threshold longer than a certificate's whole lifetime does not
//! apply to it (short-lived certificates are renewed by automation; alerting them at
//! issue would be noise).

use crate::pin;
use crate::stored::{RecordError, check_name};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use webqx_audit::{AuditLog, RequestContext};
use webqx_store::time::rfc3339;
use webqx_store::{Row, Store, now_ms, query};

const DAY_MS: i64 = 86_400_000;

/// What is watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WatchKind {
    /// A PEM (or DER) file on the server's host.
    File,
    /// A TLS endpoint `HOST:PORT`, read without trust checks.
    Endpoint,
}

impl WatchKind {
    fn as_str(self) -> &'static str {
        match self {
            WatchKind::File => "file",
            WatchKind::Endpoint => "endpoint",
        }
    }

    fn parse(text: &str) -> Option<WatchKind> {
        match text {
            "file" => Some(WatchKind::File),
            "endpoint" => Some(WatchKind::Endpoint),
            _ => None,
        }
    }
}

/// A watch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Watch {
    /// Id (UUIDv7).
    pub id: String,
    /// `file` or `endpoint`.
    pub kind: WatchKind,
    /// Path or `HOST:PORT`.
    pub target: String,
    /// `config` (from `[[pki.watch]]`) or `api`.
    pub origin: String,
}

/// A request for a watch.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWatch {
    /// `file` or `endpoint`.
    pub kind: WatchKind,
    /// Path or `HOST:PORT`.
    pub target: String,
}

/// A certificate seen by a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Subject (RFC 4514).
    pub subject: String,
    /// Start of validity, Unix milliseconds.
    pub not_before_ms: i64,
    /// Expiry, Unix milliseconds.
    pub not_after_ms: i64,
}

/// One certificate of the inventory.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InventoryItem {
    /// `issued` (by our CA), `file:<path>` or `endpoint:<host:port>`.
    pub source: String,
    /// Serial, lowercase hex.
    pub serial: String,
    /// Subject.
    pub subject: String,
    /// Expiry (RFC 3339).
    pub not_after: String,
    /// Whole days left (negative once expired).
    pub days_left: i64,
    #[serde(skip)]
    not_after_ms: i64,
    #[serde(skip)]
    lifetime_ms: i64,
}

impl InventoryItem {
    /// An item from its parts (validity as Unix milliseconds).
    pub fn new(source: String, serial: String, subject: String, validity: (i64, i64)) -> Self {
        let (not_before_ms, not_after_ms) = validity;
        InventoryItem {
            source,
            serial,
            subject,
            not_after: rfc3339(not_after_ms),
            days_left: (not_after_ms - now_ms()).div_euclid(DAY_MS),
            not_after_ms,
            lifetime_ms: not_after_ms.saturating_sub(not_before_ms),
        }
    }
}

/// Reads the certificates of one watch. Blocking (file read or TLS handshake).
///
/// # Errors
/// A message saying why the watch could not be read.
pub fn observe(kind: WatchKind, target: &str) -> Result<Vec<Observed>, String> {
    let certs = match kind {
        WatchKind::File => {
            let path = std::path::Path::new(target);
            let bytes =
                crate::read_file_capped(path).map_err(|e| format!("cannot read {target}: {e}"))?;
            pin::read_certs(&bytes).map_err(|e| format!("{target}: {e}"))?
        }
        WatchKind::Endpoint => {
            let (host, port) = target
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse::<u16>().ok()?)))
                .ok_or_else(|| format!("'{target}' is not HOST:PORT"))?;
            pin::fetch_chain_unverified(host, port, Duration::from_secs(10))
                .map_err(|e| e.to_string())?
        }
    };
    certs
        .iter()
        .map(|der| {
            let (_, c) = x509_parser::parse_x509_certificate(der)
                .map_err(|e| format!("{target}: certificate: {e}"))?;
            Ok(Observed {
                serial: crate::mtls::serial_hex(c.raw_serial()),
                subject: c.subject().to_string(),
                not_before_ms: c.validity().not_before.timestamp().saturating_mul(1000),
                not_after_ms: c.validity().not_after.timestamp().saturating_mul(1000),
            })
        })
        .collect()
}

/// The severity of an alert for `days_left` against `threshold`.
pub fn severity(days_left: i64, threshold: u32) -> &'static str {
    match (days_left, threshold) {
        (d, _) if d < 0 => "critical",
        (_, t) if t <= 7 => "high",
        (_, t) if t <= 14 => "medium",
        _ => "low",
    }
}

/// The lifecycle records kept in the store.
#[derive(Clone)]
pub struct Lifecycle {
    store: Store,
    audit: Arc<AuditLog>,
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle").finish_non_exhaustive()
    }
}

fn watch_of(row: &webqx_store::AnyRow) -> Result<Watch, RecordError> {
    let kind: String = row.try_get(1)?;
    Ok(Watch {
        id: row.try_get(0)?,
        kind: WatchKind::parse(&kind).unwrap_or(WatchKind::File),
        target: row.try_get(2)?,
        origin: row.try_get(3)?,
    })
}

impl Lifecycle {
    /// Lifecycle records over `store`, auditing to `audit`.
    pub fn new(store: Store, audit: Arc<AuditLog>) -> Lifecycle {
        Lifecycle { store, audit }
    }

    /// Adds a watch (`origin`: `api` or `config`). An existing one is returned as is.
    ///
    /// # Errors
    /// [`RecordError::Invalid`] for a bad target; storage and audit failures.
    pub async fn add(
        &self,
        ctx: &RequestContext,
        req: &NewWatch,
        origin: &str,
    ) -> Result<Watch, RecordError> {
        let target = format!("{}:{}", req.kind.as_str(), req.target);
        let rec = ctx.record("pki.watch.add", Some(target));
        self.audit
            .transact(rec, async |tx, rec| {
                check_name("target", &req.target)?;
                if req.kind == WatchKind::Endpoint && !looks_like_endpoint(&req.target) {
                    return Err(RecordError::Invalid(format!(
                        "'{}' is not HOST:PORT",
                        req.target
                    )));
                }
                let found = query(
                    "SELECT id, kind, target, origin FROM pki_watch WHERE kind = $1 AND target = $2",
                )
                .bind(req.kind.as_str())
                .bind(&req.target)
                .fetch_optional(tx.conn())
                .await?;
                if let Some(row) = found {
                    rec.detail("existing", true);
                    return watch_of(&row);
                }
                let id = uuid::Uuid::now_v7().to_string();
                query(
                    "INSERT INTO pki_watch (id, kind, target, origin, created_by, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&id)
                .bind(req.kind.as_str())
                .bind(&req.target)
                .bind(origin)
                .bind(&rec.actor)
                .bind(now_ms())
                .execute(tx.conn())
                .await?;
                Ok(Watch {
                    id,
                    kind: req.kind,
                    target: req.target.clone(),
                    origin: origin.to_owned(),
                })
            })
            .await
    }

    /// Every watch. Not audited (the scheduler reads it at every check); the API
    /// audits its own reads.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn watches(&self) -> Result<Vec<Watch>, RecordError> {
        let rows = query("SELECT id, kind, target, origin FROM pki_watch ORDER BY id")
            .fetch_all(self.store.pool())
            .await?;
        rows.iter().map(watch_of).collect()
    }

    /// Deletes a watch and what it observed.
    ///
    /// # Errors
    /// [`RecordError::NotFound`]; storage and audit failures.
    pub async fn delete(&self, ctx: &RequestContext, id: &str) -> Result<(), RecordError> {
        let rec = ctx.record("pki.watch.delete", Some(format!("watch:{id}")));
        self.audit
            .transact(rec, async |tx, _| {
                let row = query("SELECT kind, target FROM pki_watch WHERE id = $1")
                    .bind(id)
                    .fetch_optional(tx.conn())
                    .await?
                    .ok_or_else(|| {
                        RecordError::NotFound(format!(
                            "no watch with id '{}'",
                            id.chars().take(64).collect::<String>()
                        ))
                    })?;
                let (kind, target): (String, String) = (row.try_get(0)?, row.try_get(1)?);
                query("DELETE FROM pki_watch_certs WHERE source = $1")
                    .bind(format!("{kind}:{target}"))
                    .execute(tx.conn())
                    .await?;
                query("DELETE FROM pki_watch WHERE id = $1")
                    .bind(id)
                    .execute(tx.conn())
                    .await?;
                Ok(())
            })
            .await
    }

    /// Replaces what `watch` observed with `seen` (not audited: it is an observation,
    /// and the alerts it leads to are).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn record(&self, watch: &Watch, seen: &[Observed]) -> Result<(), RecordError> {
        let source = format!("{}:{}", watch.kind.as_str(), watch.target);
        let mut tx = self.store.pool().begin().await?;
        query("DELETE FROM pki_watch_certs WHERE source = $1")
            .bind(&source)
            .execute(&mut *tx)
            .await?;
        let now = now_ms();
        for o in seen {
            query(
                "INSERT INTO pki_watch_certs (source, serial, subject, not_before_ms, \
                 not_after_ms, checked_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(&source)
            .bind(&o.serial)
            .bind(&o.subject)
            .bind(o.not_before_ms)
            .bind(o.not_after_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The watched certificates, soonest expiry first.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn watched(&self) -> Result<Vec<InventoryItem>, RecordError> {
        let rows = query(
            "SELECT source, serial, subject, not_before_ms, not_after_ms FROM pki_watch_certs \
             ORDER BY not_after_ms, source, serial",
        )
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(item_of).collect()
    }

    /// Certificates issued by our CA that are not revoked, expired at most a day ago
    /// and not superseded (a later-expiring certificate for the same names and profile,
    /// such as a renewal, replaces them), soonest expiry first, at most `limit`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn issued(&self, limit: i64) -> Result<Vec<InventoryItem>, RecordError> {
        let rows = query(
            "SELECT 'issued', c.serial, c.subject, c.not_before_ms, c.not_after_ms \
             FROM pki_certs c WHERE c.revoked_ms IS NULL AND c.not_after_ms > $1 \
             AND NOT EXISTS (SELECT 1 FROM pki_certs n WHERE n.names = c.names \
             AND n.profile = c.profile AND n.revoked_ms IS NULL \
             AND n.not_after_ms > c.not_after_ms) \
             ORDER BY c.not_after_ms, c.serial LIMIT $2",
        )
        .bind(now_ms() - DAY_MS)
        .bind(limit)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(item_of).collect()
    }

    /// Raises the expiry alerts due for `items` at `thresholds` (days); returns how
    /// many were raised.
    ///
    /// # Errors
    /// Storage and audit failures (alerts raised before the failure stay raised).
    pub async fn raise_due_alerts(
        &self,
        ctx: &RequestContext,
        items: &[InventoryItem],
        thresholds: &[u32],
    ) -> Result<usize, RecordError> {
        let mut raised = 0;
        for item in items {
            let crossed: Vec<u32> = thresholds
                .iter()
                .copied()
                // A certificate made to live less than a threshold (short-lived, renewed
                // by automation) is not alerted at that threshold.
                .filter(|t| item.lifetime_ms > i64::from(*t) * DAY_MS)
                .filter(|t| item.not_after_ms - now_ms() <= i64::from(*t) * DAY_MS)
                .collect();
            let Some(&tightest) = crossed.iter().min() else {
                continue;
            };
            if self.alerted(item, tightest).await? {
                continue;
            }
            self.raise(ctx, item, tightest, &crossed).await?;
            raised += 1;
        }
        Ok(raised)
    }

    async fn alerted(&self, item: &InventoryItem, threshold: u32) -> Result<bool, RecordError> {
        let row = query(
            "SELECT raised_ms FROM pki_expiry_alerts \
             WHERE source = $1 AND serial = $2 AND threshold_days = $3",
        )
        .bind(&item.source)
        .bind(&item.serial)
        .bind(i64::from(threshold))
        .fetch_optional(self.store.pool())
        .await?;
        Ok(row.is_some())
    }

    /// A watch could not be read (file gone or unreadable, endpoint down): raises an
    /// `alert.raised` (rule `cert-watch-unreadable`) the first time, and again only after
    /// the watch was read successfully in between ([`Lifecycle::watch_readable`]): a
    /// certificate nobody can see any more must not expire unnoticed. Returns whether an
    /// alert was raised.
    ///
    /// # Errors
    /// Storage and audit failures.
    pub async fn watch_unreadable(
        &self,
        ctx: &RequestContext,
        watch: &Watch,
        why: &str,
    ) -> Result<bool, RecordError> {
        let source = format!("watch:{}", watch.id);
        let marked =
            query("SELECT 1 FROM pki_expiry_alerts WHERE source = $1 AND serial = 'unreadable'")
                .bind(&source)
                .fetch_optional(self.store.pool())
                .await?;
        if marked.is_some() {
            return Ok(false);
        }
        let why: String = why.chars().take(300).collect();
        let mut rec = ctx.record("alert.raised", Some(format!("watch:{}", watch.id)));
        rec.detail("rule", UNREADABLE_RULE)
            .detail("severity", "medium")
            .detail("target", watch.target.clone())
            .detail("kind", watch.kind.as_str())
            .detail("error", why.clone());
        let mut tx = self.store.write().await?;
        query(
            "INSERT INTO pki_expiry_alerts (source, serial, threshold_days, raised_ms) \
             VALUES ($1, 'unreadable', 0, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&source)
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        self.audit
            .raise_alert_in(&mut tx, &unreadable_alert(watch, &why), rec)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The watch was read: a later failure alerts again.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn watch_readable(&self, watch: &Watch) -> Result<(), RecordError> {
        let mut tx = self.store.write().await?;
        query("DELETE FROM pki_expiry_alerts WHERE source = $1 AND serial = 'unreadable'")
            .bind(format!("watch:{}", watch.id))
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn raise(
        &self,
        ctx: &RequestContext,
        item: &InventoryItem,
        threshold: u32,
        crossed: &[u32],
    ) -> Result<(), RecordError> {
        let target = format!("cert:{}", item.serial);
        let mut rec = ctx.record("alert.raised", Some(target));
        rec.detail("rule", EXPIRING_RULE)
            .detail("severity", severity(item.days_left, threshold))
            .detail("subject", item.subject.clone())
            .detail("serial", item.serial.clone())
            .detail("source", item.source.clone())
            .detail("not_after", item.not_after.clone())
            .detail("days_left", item.days_left)
            .detail("threshold_days", threshold);
        let mut tx = self.store.write().await?;
        for t in crossed {
            query(
                "INSERT INTO pki_expiry_alerts (source, serial, threshold_days, raised_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(&item.source)
            .bind(&item.serial)
            .bind(i64::from(*t))
            .bind(now_ms())
            .execute(tx.conn())
            .await?;
        }
        self.audit
            .raise_alert_in(&mut tx, &expiring_alert(item, threshold), rec)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Rule id of the expiry alert.
pub const EXPIRING_RULE: &str = "cert-expiring";
/// Rule id of the alert for a watch that cannot be read.
pub const UNREADABLE_RULE: &str = "cert-watch-unreadable";

/// Certificate availability and integrity: HIPAA transmission security 164.312(e)(1);
/// an expired certificate is an outage or, worse, a reason to click through warnings.
fn cert_tags() -> Vec<String> {
    vec!["hipaa.164.312.e.1".into(), "attack.impact".into()]
}

/// Where a certificate was seen, as event fields: `file.path` for a watched file,
/// `server.address` for a watched endpoint, nothing more for one we issued.
fn location_fields(event: &mut serde_json::Value, source: &str) {
    if let Some(path) = source.strip_prefix("file:") {
        event["file"] = serde_json::json!({ "path": path });
    } else if let Some(endpoint) = source.strip_prefix("endpoint:") {
        event["server"] = serde_json::json!({ "address": endpoint });
    }
}

/// The stored alert for `item` crossing `threshold` days (one event, `webqx.pki`;
/// suppressible per `x509.serial_number`, `file.path` or `server.address`).
fn expiring_alert(item: &InventoryItem, threshold: u32) -> webqx_audit::RaisedAlert {
    let at = now_ms();
    let mut event = serde_json::json!({
        "@timestamp": rfc3339(at),
        "event": {
            "kind": "alert",
            "category": ["configuration"],
            "type": ["info"],
            "dataset": "webqx.pki",
            "action": "cert.expiring",
        },
        "x509": {
            "serial_number": item.serial,
            "subject": { "distinguished_name": item.subject },
            "not_after": item.not_after,
        },
        "webqx": { "cert": {
            "source": item.source,
            "days_left": item.days_left,
            "threshold_days": threshold,
        } },
    });
    location_fields(&mut event, &item.source);
    let title = if item.days_left < 0 {
        format!("Certificate {} has expired", item.subject)
    } else {
        format!(
            "Certificate {} expires in {} day{}",
            item.subject,
            item.days_left,
            if item.days_left == 1 { "" } else { "s" }
        )
    };
    webqx_audit::RaisedAlert {
        rule_id: EXPIRING_RULE.into(),
        title,
        severity: severity(item.days_left, threshold),
        tags: cert_tags(),
        group_key: format!("x509.serial_number={}", item.serial),
        timestamp_ms: at,
        events: vec![event],
    }
}

/// The stored alert for a watch that could not be read (`why`, already shortened).
fn unreadable_alert(watch: &Watch, why: &str) -> webqx_audit::RaisedAlert {
    let at = now_ms();
    let source = format!("{}:{}", watch.kind.as_str(), watch.target);
    let mut event = serde_json::json!({
        "@timestamp": rfc3339(at),
        "event": {
            "kind": "alert",
            "category": ["configuration"],
            "type": ["error"],
            "dataset": "webqx.pki",
            "action": "cert.watch_unreadable",
            "outcome": "failure",
        },
        "error": { "message": why },
        "webqx": { "cert": { "source": source, "watch_id": watch.id } },
    });
    location_fields(&mut event, &source);
    webqx_audit::RaisedAlert {
        rule_id: UNREADABLE_RULE.into(),
        title: format!("Watched certificate {} cannot be read", watch.target),
        severity: "medium",
        tags: cert_tags(),
        group_key: format!("webqx.cert.watch_id={}", watch.id),
        timestamp_ms: at,
        events: vec![event],
    }
}

fn item_of(r: &webqx_store::AnyRow) -> Result<InventoryItem, RecordError> {
    Ok(InventoryItem::new(
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        (r.try_get(3)?, r.try_get(4)?),
    ))
}

fn looks_like_endpoint(target: &str) -> bool {
    target
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_grows_as_expiry_nears() {
        assert_eq!(severity(25, 30), "low");
        assert_eq!(severity(10, 14), "medium");
        assert_eq!(severity(3, 7), "high");
        assert_eq!(severity(-1, 7), "critical");
    }

    #[tokio::test]
    async fn each_threshold_is_alerted_once_per_certificate_on_every_store() {
        for ts in webqx_testkit::test_stores() {
            let store = Store::open(&ts.config).await.unwrap();
            let life = Lifecycle::new(store.clone(), AuditLog::start(store));
            let ctx = RequestContext::internal("scheduler");
            let item = |days: i64| {
                InventoryItem::new(
                    "file:/x".into(),
                    "0a".into(),
                    "CN=x".into(),
                    (0, now_ms() + days * DAY_MS + 60_000),
                )
            };
            let t = [30, 14, 7];
            assert_eq!(
                life.raise_due_alerts(&ctx, &[item(40)], &t).await.unwrap(),
                0
            );
            assert_eq!(
                life.raise_due_alerts(&ctx, &[item(20)], &t).await.unwrap(),
                1,
                "{}",
                ts.label
            );
            assert_eq!(
                life.raise_due_alerts(&ctx, &[item(20)], &t).await.unwrap(),
                0
            );
            assert_eq!(
                life.raise_due_alerts(&ctx, &[item(13)], &t).await.unwrap(),
                1
            );
            // Jumping straight to 3 days: one alert (7), not also one for 14 or 30.
            let other = InventoryItem::new(
                "file:/y".into(),
                "0b".into(),
                "CN=y".into(),
                (0, now_ms() + 3 * DAY_MS),
            );
            // Short-lived: issued for 10 days, 3 left: only the 7-day threshold applies.
            let short = InventoryItem::new(
                "file:/z".into(),
                "0c".into(),
                "CN=z".into(),
                (now_ms() - 7 * DAY_MS, now_ms() + 3 * DAY_MS),
            );
            let five_day = InventoryItem::new(
                "file:/w".into(),
                "0d".into(),
                "CN=w".into(),
                (now_ms() - 2 * DAY_MS, now_ms() + 3 * DAY_MS),
            );
            assert_eq!(
                life.raise_due_alerts(&ctx, &[five_day], &t).await.unwrap(),
                0
            );
            assert_eq!(life.raise_due_alerts(&ctx, &[short], &t).await.unwrap(), 1);
            assert_eq!(
                life.raise_due_alerts(&ctx, std::slice::from_ref(&other), &t)
                    .await
                    .unwrap(),
                1
            );
            assert_eq!(life.raise_due_alerts(&ctx, &[other], &t).await.unwrap(), 0);

            let w = life
                .add(
                    &ctx,
                    &NewWatch {
                        kind: WatchKind::Endpoint,
                        target: "127.0.0.1:1".into(),
                    },
                    "api",
                )
                .await
                .unwrap();
            let again = life
                .add(
                    &ctx,
                    &NewWatch {
                        kind: WatchKind::Endpoint,
                        target: "127.0.0.1:1".into(),
                    },
                    "api",
                )
                .await
                .unwrap();
            assert_eq!(w.id, again.id);
            let seen = vec![Observed {
                serial: "01".into(),
                subject: "CN=e".into(),
                not_before_ms: 0,
                not_after_ms: now_ms(),
            }];
            life.record(&w, &seen).await.unwrap();
            life.record(&w, &seen).await.unwrap();
            assert_eq!(life.watched().await.unwrap().len(), 1);
            life.delete(&ctx, &w.id).await.unwrap();
            assert!(life.watched().await.unwrap().is_empty());
            let bad = NewWatch {
                kind: WatchKind::Endpoint,
                target: "nope".into(),
            };
            assert!(matches!(
                life.add(&ctx, &bad, "api").await,
                Err(RecordError::Invalid(_))
            ));
        }
    }

    #[tokio::test]
    async fn an_unreadable_watch_alerts_once_until_it_is_read_again() {
        for ts in webqx_testkit::test_stores() {
            let store = Store::open(&ts.config).await.unwrap();
            let life = Lifecycle::new(store.clone(), AuditLog::start(store));
            let ctx = RequestContext::internal("scheduler");
            let req = NewWatch {
                kind: WatchKind::File,
                target: "/srv/ehr/tls/gone.pem".into(),
            };
            let watch = life.add(&ctx, &req, "api").await.unwrap();
            let why = "cannot read /srv/ehr/tls/gone.pem: No such file";
            assert!(life.watch_unreadable(&ctx, &watch, why).await.unwrap());
            assert!(
                !life.watch_unreadable(&ctx, &watch, why).await.unwrap(),
                "{}: once while it stays unreadable",
                ts.label
            );
            life.watch_readable(&watch).await.unwrap();
            assert!(life.watch_unreadable(&ctx, &watch, why).await.unwrap());
        }
    }

    #[test]
    fn observe_reads_a_pem_file_and_reports_unreadable_ones() {
        let ca = crate::new_local_ca("life CA").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &ca.cert_pem).unwrap();
        let seen = observe(WatchKind::File, path.to_str().unwrap()).unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].subject.contains("life CA"));
        assert!(seen[0].not_after_ms > now_ms() + 3000 * DAY_MS);
        assert!(observe(WatchKind::File, "/nonexistent").is_err());
        assert!(observe(WatchKind::Endpoint, "no-port").is_err());
    }
}
