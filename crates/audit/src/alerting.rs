//! Alerts raised by components that are not the monitor (OAuth client lockouts,
//! certificate expiry) reach the alert store through the audit trail they already
//! write to.
//!
//! Such a component calls [`AuditLog::raise_alert`] (or [`AuditLog::raise_alert_in`]
//! inside its own transaction) with its `alert.raised` record. When the server has
//! installed an [`AlertSink`] (the monitor's alert store), the alert is stored there,
//! grouped, suppressed and streamed like a detection, and the record gains the alert's
//! id; without one (a bare library, a unit test) only the record is written. Either
//! way the alert and its record commit together or not at all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use webqx_store::WriteTx;

use crate::{AuditError, AuditLog, AuditRecord};

/// An alert as another component raises it; the alert store's fields (docs/alerts.md).
#[derive(Debug, Clone, PartialEq)]
pub struct RaisedAlert {
    /// Stable rule id (`oauth-auth-failures`, `cert-expiring`).
    pub rule_id: String,
    /// One line for a person.
    pub title: String,
    /// `informational`, `low`, `medium`, `high` or `critical`.
    pub severity: &'static str,
    /// MITRE ATT&CK (`attack.*`) and HIPAA (`hipaa.*`) tags.
    pub tags: Vec<String>,
    /// What the alert is about, `field=value` (`source.ip=…`, `x509.serial_number=…`).
    pub group_key: String,
    /// When it happened, ms since the epoch.
    pub timestamp_ms: i64,
    /// The triggering events in the event schema (no secrets, no PHI).
    pub events: Vec<Value>,
}

/// Future returned by [`AlertSink::store`].
pub type StoreFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, AuditError>> + Send + 'a>>;

/// Where raised alerts are kept: the server installs its alert store.
pub trait AlertSink: Send + Sync {
    /// Stores `alert` inside `tx` and appends `record` (with the alert's id) to `audit`
    /// in the same transaction; returns the alert's id, or `None` when an active
    /// suppression held it back (the record is not written then).
    fn store<'a>(
        &'a self,
        tx: &'a mut WriteTx,
        audit: &'a AuditLog,
        alert: &'a RaisedAlert,
        record: AuditRecord,
    ) -> StoreFuture<'a>;
}

impl AuditLog {
    /// Installs the alert store; later calls replace it.
    pub fn set_alert_sink(&self, sink: Arc<dyn AlertSink>) {
        if let Ok(mut slot) = self.alert_sink.write() {
            *slot = Some(sink);
        }
    }

    fn alert_sink(&self) -> Option<Arc<dyn AlertSink>> {
        self.alert_sink.read().ok().and_then(|s| s.clone())
    }

    /// Raises `alert` inside the caller's transaction: stored through the installed
    /// [`AlertSink`] with `record`, or `record` alone when none is installed. Durable
    /// only when the caller commits.
    ///
    /// # Errors
    /// Storage and audit failures; the caller must roll back.
    pub async fn raise_alert_in(
        &self,
        tx: &mut WriteTx,
        alert: &RaisedAlert,
        record: AuditRecord,
    ) -> Result<Option<String>, AuditError> {
        match self.alert_sink() {
            Some(sink) => sink.store(tx, self, alert, record).await,
            None => {
                self.append(tx, &record).await?;
                Ok(None)
            }
        }
    }

    /// Raises `alert` in a transaction of its own (see [`AuditLog::raise_alert_in`]).
    ///
    /// # Errors
    /// Storage and audit failures; then nothing was written.
    pub async fn raise_alert(
        &self,
        alert: &RaisedAlert,
        record: AuditRecord,
    ) -> Result<Option<String>, AuditError> {
        let mut tx = self.store.write().await?;
        let id = self.raise_alert_in(&mut tx, alert, record).await?;
        tx.commit().await?;
        Ok(id)
    }
}
