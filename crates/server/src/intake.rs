//! EHR audit intake: FHIR AuditEvents (over the API) and IHE ATNA messages (over
//! syslog) become records of the same tamper-evident trail.
//!
//! An accepted event is stored as received, with the trail's own fields filled from it
//! (who, from where, what, on which patient, how it ended) so that exports, SIEM sinks
//! and investigators treat EHR events and our own records alike. Patient references
//! are also kept as HMACs under the audit key, so an investigator can find every event
//! about a patient without the index holding the reference.

use serde_json::Value;
use std::sync::Arc;
use webqx_audit::{AuditLog, AuditRecord, Outcome, RequestContext};
use webqx_events::auditevent::{self, Summary};

/// How an event arrived, recorded in the record's details.
#[derive(Debug, Clone, Copy)]
pub enum Via {
    /// `POST /v1/audit/events`.
    Api,
    /// Syslog (ATNA), with the transport's name.
    Syslog(&'static str),
}

impl Via {
    /// The `via` detail: `api`, `syslog-tls`, `syslog-tcp` or `syslog-udp`.
    fn detail(self) -> String {
        match self {
            Via::Api => "api".into(),
            Via::Syslog(transport) => format!("syslog-{transport}"),
        }
    }
}

/// Why an EHR event may not be stored although it is a valid AuditEvent: it would
/// pass, in the FHIR and ATNA exports, for a record the service wrote itself.
pub fn impersonation(event: &Value) -> Option<&'static str> {
    let observer = &event["source"]["observer"];
    let names_us = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.trim().eq_ignore_ascii_case(webqx_audit::render::PRODUCT))
    };
    if names_us(&observer["display"]) || names_us(&observer["identifier"]["value"]) {
        return Some(
            "source.observer names WebQx Security, which only the service's own records may \
             do; name the EHR system that observed the event",
        );
    }
    if event.to_string().contains("https://webqx.health/") {
        return Some(
            "the event uses a https://webqx.health/ code system, reserved for the service's \
             own records",
        );
    }
    None
}

/// The trail record for a valid event `event` submitted in `ctx`.
pub fn ehr_record(
    audit: &AuditLog,
    ctx: &RequestContext,
    summary: Summary,
    event: Value,
    via: Via,
) -> AuditRecord {
    let mut rec = ctx.record(&summary.action, summary.target.clone());
    rec.actor = summary.actor;
    rec.source = summary.source.or_else(|| ctx.source.clone());
    rec.purpose = summary.purpose.or_else(|| ctx.purpose.clone());
    rec.outcome = summary.outcome;
    rec.reason = summary.reason;
    rec.detail("recorded", summary.recorded)
        .detail("submitted_by", ctx.actor.clone());
    rec.detail("via", via.detail());
    for (i, patient) in summary.patients.iter().enumerate() {
        let name = if i == 0 {
            "patient".to_owned()
        } else {
            format!("patient.{i}")
        };
        rec.hmac.insert(name, audit.hmac(patient.as_bytes()));
    }
    rec.event = Some(event);
    rec
}

/// A refused item: audited as a failed `audit.intake` without any of its content.
pub fn rejected_record(ctx: &RequestContext, reason: &str, via: Via) -> AuditRecord {
    let mut rec = ctx.record("audit.intake", None);
    rec.fail(Outcome::Failure, reason);
    rec.detail("via", via.detail());
    rec
}

/// Handles ATNA messages arriving over syslog: each valid one becomes a record; each
/// refused one is counted and audited as a failed intake (without its content).
pub struct SyslogIntake {
    /// Where records go.
    pub audit: Arc<AuditLog>,
    /// Per sending address: when its last refusal was recorded, and how many were
    /// counted but not recorded since (anyone can send garbage; it must not flood the
    /// trail or fill a SIEM spool).
    pub refusals: std::sync::Mutex<std::collections::HashMap<String, (i64, u64)>>,
}

/// At most one refusal record per sending address in this many milliseconds.
const REFUSAL_RECORD_EVERY_MS: i64 = 10_000;

impl SyslogIntake {
    /// An intake writing to `audit`.
    pub fn new(audit: Arc<AuditLog>) -> SyslogIntake {
        SyslogIntake {
            audit,
            refusals: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Whether to record this refusal from `host`, and how many earlier ones were
    /// only counted.
    fn refusal_due(&self, host: &str) -> Option<u64> {
        let now = webqx_store::now_ms();
        let mut map = self.refusals.lock().ok()?;
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| now - *at < REFUSAL_RECORD_EVERY_MS);
        }
        let entry = map.entry(host.to_owned()).or_insert((i64::MIN, 0));
        if now.saturating_sub(entry.0) >= REFUSAL_RECORD_EVERY_MS {
            let suppressed = entry.1;
            *entry = (now, 0);
            Some(suppressed)
        } else {
            entry.1 += 1;
            None
        }
    }
}

impl SyslogIntake {
    /// Takes one received message (its MSG, already de-framed and parsed as syslog).
    pub async fn accept(&self, transport: &'static str, peer: String, msg: Result<&str, String>) {
        let ctx = RequestContext {
            request_id: uuid::Uuid::now_v7().to_string(),
            actor: format!("syslog:{peer}"),
            source: Some(peer),
            purpose: None,
        };
        let via = Via::Syslog(transport);
        let outcome = msg.and_then(|xml| {
            let event = webqx_events::atna::parse(xml).map_err(|e| e.to_string())?;
            let summary = auditevent::validate(&event).map_err(|e| e.to_string())?;
            if let Some(why) = impersonation(&event) {
                return Err(why.to_owned());
            }
            Ok((event, summary))
        });
        let rec = match outcome {
            Ok((event, summary)) => {
                metrics::counter!("webqx_audit_intake_total", "via" => "syslog", "result" => "accepted")
                    .increment(1);
                ehr_record(&self.audit, &ctx, summary, event, via)
            }
            Err(why) => {
                metrics::counter!("webqx_audit_intake_total", "via" => "syslog", "result" => "rejected")
                    .increment(1);
                tracing::debug!(reason = %why, "ATNA message over syslog refused");
                let host = ctx
                    .source
                    .as_deref()
                    .and_then(|p| p.parse::<std::net::SocketAddr>().ok())
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default();
                let Some(suppressed) = self.refusal_due(&host) else {
                    return;
                };
                let mut rec = rejected_record(&ctx, "invalid-audit-message", via);
                rec.detail("problem", truncate(&why, 300));
                if suppressed > 0 {
                    rec.detail("refused_since_last_record", suppressed);
                }
                rec
            }
        };
        if let Err(e) = self.audit.record(rec).await {
            tracing::error!(error = %e, "an ATNA message could not be written to the trail");
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}
