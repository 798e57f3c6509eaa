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
    match via {
        Via::Api => rec.detail("via", "api"),
        Via::Syslog(transport) => rec.detail("via", format!("syslog-{transport}")),
    };
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
    match via {
        Via::Api => rec.detail("via", "api"),
        Via::Syslog(transport) => rec.detail("via", format!("syslog-{transport}")),
    };
    rec
}

/// Handles ATNA messages arriving over syslog: each valid one becomes a record; each
/// refused one is counted and audited as a failed intake (without its content).
pub struct SyslogIntake {
    /// Where records go.
    pub audit: Arc<AuditLog>,
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
                let mut rec = rejected_record(&ctx, "invalid-audit-message", via);
                rec.detail("problem", truncate(&why, 300));
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
