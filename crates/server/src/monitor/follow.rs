//! Following the audit trail: the EHR's FHIR AuditEvents (from `POST /v1/audit/events`
//! and ATNA over syslog, once they are stored) and our own records of interest (failed
//! authentications, token and client-authentication failures, decrypts) are fed to the
//! pipeline.
//!
//! Reading the trail, rather than hooking every place that writes a record, changes no
//! capability and sees exactly what was committed. The position (`audit-trail` in
//! `tail_positions`, the last sequence number fed) commits with the alerts, like a
//! file's. On first start the follower begins at the trail's head: history is for
//! `webqx-sec hunt`, not for live alerting.
//!
//! With several nodes on one PostgreSQL, one node follows the trail at a time: it holds
//! a lease (`monitor.follow.lease` in `meta`) that it renews while it runs. A node that
//! stops renewing (stopped, killed, cut off from the database) loses it after
//! [`lease_ms`]; another node then takes over from the shared position. Records queued
//! by the old follower but not yet committed are fed again: delivery is at least once,
//! never lost.

use super::{Item, Mark, Monitor, Refused, alerts, event};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use webqx_audit::TrailQuery;
use webqx_store::Store;

/// The position key of the trail follower.
pub const KEY: &str = "audit-trail";
const PAGE: i64 = 500;

/// The lease row in `meta`.
const LEASE: &str = "monitor.follow.lease";

#[derive(Debug, Default, Serialize, Deserialize)]
struct Lease {
    owner: String,
    until_ms: i64,
}

/// How long a follower's lease lasts without renewal: ten polls, at least 15 s.
pub fn lease_ms(every: Duration) -> i64 {
    i64::try_from(
        every
            .saturating_mul(10)
            .max(Duration::from_secs(15))
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

/// Follows the trail until the task is aborted, while this node holds the lease.
pub async fn follow(monitor: Monitor, store: Store, actions: Vec<String>, every: Duration) {
    let node = uuid::Uuid::now_v7().to_string();
    let lease = lease_ms(every);
    let mut held_until = 0;
    // Where this node is; read from the shared position whenever it gains the lease.
    let mut at: Option<i64> = None;
    loop {
        let now = webqx_store::now_ms();
        if held_until - now < lease / 2 {
            match claim(&store, &node, now, lease).await {
                Ok(true) => {
                    if held_until <= now {
                        tracing::info!("this node follows the audit trail for monitoring");
                        at = None;
                    }
                    held_until = now + lease;
                    metrics::gauge!("webqx_monitor_audit_follower").set(1.0);
                }
                Ok(false) => {
                    held_until = 0;
                    metrics::gauge!("webqx_monitor_audit_follower").set(0.0);
                    tokio::time::sleep(every).await;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the audit trail follower lease is unavailable; retrying");
                    tokio::time::sleep(every).await;
                    continue;
                }
            }
        }
        let mut after = match at {
            Some(seq) => seq,
            None => match start(&store).await {
                Ok(seq) => seq,
                Err(e) => {
                    tracing::warn!(error = %e, "the audit trail follower cannot start; retrying");
                    tokio::time::sleep(every).await;
                    continue;
                }
            },
        };
        let page = webqx_audit::trail::read(
            &store,
            &TrailQuery {
                after_seq: after,
                limit: PAGE,
                ..TrailQuery::default()
            },
        )
        .await;
        let page = match page {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "reading the audit trail for monitoring failed");
                tokio::time::sleep(every).await;
                continue;
            }
        };
        let full = page.len() as i64 == PAGE;
        let fed = feed(&monitor, &page, &actions, &mut after);
        at = Some(after);
        match fed {
            Ok(true) if full => continue,
            Ok(_) => {}
            Err(()) => return,
        }
        tokio::time::sleep(every).await;
    }
}

/// Takes or renews the lease; `false` while another node holds it.
async fn claim(store: &Store, node: &str, now: i64, lease: i64) -> Result<bool, String> {
    let mut tx = store.write().await.map_err(|e| e.to_string())?;
    let current: Lease = crate::backups::read_meta(&mut tx, LEASE)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    if current.owner != node && current.until_ms > now {
        return Ok(false);
    }
    let mine = Lease {
        owner: node.to_owned(),
        until_ms: now + lease,
    };
    webqx_store::meta::set(&mut tx, LEASE, &crate::backups::to_json(&mine))
        .await
        .map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    Ok(true)
}

async fn start(store: &Store) -> Result<i64, String> {
    if let Some(m) = alerts::position(store, KEY)
        .await
        .map_err(|e| e.to_string())?
    {
        return Ok(m.offset);
    }
    let (head, _) = webqx_audit::trail::head(store)
        .await
        .map_err(|e| e.to_string())?;
    Ok(head)
}

fn mark(seq: i64) -> Mark {
    Mark {
        path: KEY.into(),
        dev: 0,
        inode: 0,
        offset: seq,
    }
}

/// Queues the page's records of interest; the last record's position goes with the
/// last item (or alone). `Ok(false)` when the queue was full (`after` stays before the
/// refused record); `Err` when monitoring stopped.
fn feed(
    monitor: &Monitor,
    page: &[webqx_audit::TrailRecord],
    actions: &[String],
    after: &mut i64,
) -> Result<bool, ()> {
    let Some(last) = page.last().map(|r| r.entry.seq) else {
        return Ok(true);
    };
    let events: Vec<(i64, serde_json::Value)> = page
        .iter()
        .filter_map(|r| event::from_trail(&r.entry, actions).map(|e| (r.entry.seq, e)))
        .collect();
    let count = events.len();
    for (i, (seq, e)) in events.into_iter().enumerate() {
        // Every item carries its own position; the last one covers the whole page.
        let at = if i + 1 == count { last } else { seq };
        match monitor.offer_or_keep(
            "audit",
            Item {
                event: Some(e),
                mark: Some(mark(at)),
            },
        ) {
            Ok(()) => *after = at,
            Err(Refused::Full(_)) => return Ok(false),
            Err(Refused::Closed) => return Err(()),
        }
    }
    if count == 0 {
        match monitor.offer_or_keep(
            "audit",
            Item {
                event: None,
                mark: Some(mark(last)),
            },
        ) {
            Ok(()) => *after = last,
            Err(Refused::Full(_)) => return Ok(false),
            Err(Refused::Closed) => return Err(()),
        }
    }
    Ok(true)
}
