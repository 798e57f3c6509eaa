//! The certificate lifecycle job: every `[pki] watch_every` it reads the watched files
//! and endpoints (`[[pki.watch]]` and `/v1/pki/watch`), then raises the expiry alerts
//! that are due for them and for the certificates our CA issued (see
//! `webqx_pki::lifecycle`). Alerts are audit records `alert.raised`; the SIEM sinks
//! deliver them (there is no alert store yet).

use crate::bootstrap::Services;
use crate::config::Config;
use crate::config_pki::PkiSection;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use webqx_audit::RequestContext;
use webqx_pki::lifecycle::{InventoryItem, Lifecycle, NewWatch, WatchKind, observe};

/// Most issued certificates considered per check (soonest expiry first).
pub const MAX_ISSUED: i64 = 100_000;

/// One `[[pki.watch]]` entry: exactly one of `file` and `endpoint`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WatchEntry {
    /// A PEM (or DER) certificate file on this host.
    pub file: Option<String>,
    /// A TLS endpoint `HOST:PORT`.
    pub endpoint: Option<String>,
}

impl WatchEntry {
    fn request(&self) -> Option<NewWatch> {
        match (&self.file, &self.endpoint) {
            (Some(f), None) => Some(NewWatch {
                kind: WatchKind::File,
                target: f.clone(),
            }),
            (None, Some(e)) => Some(NewWatch {
                kind: WatchKind::Endpoint,
                target: e.clone(),
            }),
            _ => None,
        }
    }
}

/// Checks the lifecycle keys of `[pki]`.
///
/// # Errors
/// `(key, message)`.
pub fn check_config(p: &PkiSection) -> Result<(), (String, String)> {
    webqx_store::time::parse_duration(&p.watch_every).map_err(|e| ("watch_every".to_owned(), e))?;
    if p.expiry_alert_days.iter().any(|d| *d == 0 || *d > 3650) {
        return Err((
            "expiry_alert_days".into(),
            "each threshold is a number of days between 1 and 3650".into(),
        ));
    }
    if p.watch.iter().any(|w| w.request().is_none()) {
        return Err((
            "watch".into(),
            "each [[pki.watch]] entry sets exactly one of file = \"PATH\" and endpoint = \
             \"HOST:PORT\""
                .into(),
        ));
    }
    Ok(())
}

/// The lifecycle records of `s`.
pub fn lifecycle(store: &webqx_store::Store, audit: &Arc<webqx_audit::AuditLog>) -> Lifecycle {
    Lifecycle::new(store.clone(), audit.clone())
}

/// Every certificate the watch knows: issued by us, then watched; soonest expiry first.
///
/// # Errors
/// Storage failures.
pub async fn inventory(
    life: &Lifecycle,
) -> Result<Vec<InventoryItem>, webqx_pki::stored::RecordError> {
    let mut all = life.issued(MAX_ISSUED).await?;
    all.extend(life.watched().await?);
    all.sort_by(|a, b| a.not_after.cmp(&b.not_after));
    Ok(all)
}

/// Runs the job until aborted.
pub async fn run(config: Arc<Config>, s: Arc<Services>) {
    let life = lifecycle(&s.store, &s.audit);
    let ctx = RequestContext::internal("system");
    for entry in &config.pki.watch {
        if let Some(req) = entry.request()
            && let Err(e) = life.add(&ctx, &req, "config").await
        {
            tracing::warn!(error = %e, target = %req.target, "cannot register [[pki.watch]]");
        }
    }
    let every = Config::duration(&config.pki.watch_every).max(Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match check(&config, &life).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(alerts = n, "certificate expiry alerts raised"),
            Err(e) => tracing::warn!(error = %e, "certificate lifecycle check failed"),
        }
    }
}

/// One check: read every watch, then raise what is due. Returns the alerts raised.
///
/// # Errors
/// Storage and audit failures.
pub async fn check(
    config: &Config,
    life: &Lifecycle,
) -> Result<usize, webqx_pki::stored::RecordError> {
    let ctx = RequestContext::internal("scheduler");
    let mut raised = 0;
    for watch in life.watches().await? {
        let (kind, target) = (watch.kind, watch.target.clone());
        let seen = tokio::task::spawn_blocking(move || observe(kind, &target)).await;
        match seen {
            Ok(Ok(seen)) => {
                life.record(&watch, &seen).await?;
                life.watch_readable(&watch).await?;
            }
            Ok(Err(why)) => {
                metrics::counter!("webqx_pki_watch_failures_total").increment(1);
                tracing::warn!(target = %watch.target, error = %why, "watched certificate unreadable");
                raised += usize::from(life.watch_unreadable(&ctx, &watch, &why).await?);
            }
            Err(e) => tracing::warn!(error = %e, "certificate watch task failed"),
        }
    }
    let items = inventory(life).await?;
    Ok(raised
        + life
            .raise_due_alerts(&ctx, &items, &config.pki.expiry_alert_days)
            .await?)
}
