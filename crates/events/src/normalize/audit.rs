//! Our own audit records (`webqx-audit`) as events, so that detection sees the
//! service's own happenings (token checks, decryptions, denials) like any log.

use serde_json::{Map, Value};
use webqx_audit::{AuditRecord, Entry, Outcome};

use super::event::Event;
use super::fhir;
use super::sshd::mark;
use super::text::set_source;

/// An audit record as the caller built it, at `time` (RFC 3339) when known.
pub fn from_audit_record(record: &AuditRecord, time: Option<&str>) -> Event {
    let mut event = Event::new();
    if let Some(time) = time {
        event.set("@timestamp", time);
    }
    fill(
        &mut event,
        Fields {
            request_id: &record.request_id,
            actor: &record.actor,
            source: record.source.as_deref(),
            purpose: record.purpose.as_deref(),
            action: &record.action,
            target: record.target.as_deref(),
            outcome: record.outcome,
            reason: record.reason.as_deref(),
            details: &record.details,
            hmac: &record.hmac,
            fhir: record.event.as_ref(),
        },
    );
    event
}

/// A stored trail entry (sequence, id and time included).
pub fn from_audit_entry(entry: &Entry) -> Event {
    let mut event = Event::new();
    event.set("@timestamp", entry.time.as_str());
    event.set("event.id", entry.id.as_str());
    event.set("event.sequence", entry.seq);
    fill(
        &mut event,
        Fields {
            request_id: &entry.request_id,
            actor: &entry.actor,
            source: entry.source.as_deref(),
            purpose: entry.purpose.as_deref(),
            action: &entry.action,
            target: entry.target.as_deref(),
            outcome: entry.outcome,
            reason: entry.reason.as_deref(),
            details: &entry.details,
            hmac: &entry.hmac,
            fhir: entry.event.as_ref(),
        },
    );
    event
}

/// What records and entries share.
struct Fields<'a> {
    request_id: &'a str,
    actor: &'a str,
    source: Option<&'a str>,
    purpose: Option<&'a str>,
    action: &'a str,
    target: Option<&'a str>,
    outcome: Outcome,
    reason: Option<&'a str>,
    details: &'a Map<String, Value>,
    hmac: &'a Map<String, Value>,
    fhir: Option<&'a Value>,
}

/// Names under `webqx.` that the record's own fields use; details do not overwrite them.
const RESERVED: [&str; 8] = [
    "request_id",
    "target",
    "reason",
    "purpose",
    "hmac",
    "actor",
    "source",
    "action",
];

fn fill(event: &mut Event, f: Fields<'_>) {
    // A record that carries the EHR's own AuditEvent is that event: its dataset, user,
    // address and action come from the AuditEvent (EHR rules read them), and the
    // trail's fields (the submitting client) go under `webqx.*` only.
    let ehr = match f.fhir {
        Some(Value::Object(resource)) => {
            fhir::parse(resource, event);
            true
        }
        _ => false,
    };
    if ehr {
        event.set("webqx.actor", f.actor);
        if let Some(source) = f.source {
            event.set("webqx.source", source);
        }
    } else {
        event.set("event.dataset", "webqx.audit");
        event.set("event.kind", "event");
        event.set("user.name", f.actor);
        if let Some(source) = f.source {
            set_source(event, source);
        }
    }
    event.set("webqx.request_id", f.request_id);
    if let Some(target) = f.target {
        event.set("webqx.target", target);
    }
    if let Some(reason) = f.reason {
        event.set("webqx.reason", reason);
    }
    if let Some(purpose) = f.purpose {
        event.set("webqx.purpose", purpose);
    }
    for (name, value) in f.details {
        let simple = !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !RESERVED.contains(&name.as_str());
        if simple {
            event.set(&format!("webqx.{name}"), value.clone());
        }
    }
    if !f.hmac.is_empty() {
        event.set("webqx.hmac", Value::Object(f.hmac.clone()));
    }
    let (outcome, kind) = match f.outcome {
        Outcome::Success => ("success", "allowed"),
        Outcome::Denied => ("failure", "denied"),
        Outcome::Failure => ("failure", "info"),
    };
    event.set(
        "webqx.outcome",
        serde_json::to_value(f.outcome).unwrap_or(Value::Null),
    );
    if ehr {
        event.set("webqx.action", f.action);
        return;
    }
    let category = category(f.action);
    mark(event, f.action, category, kind, outcome);
}

/// The ECS category of one of our audit actions, by its capability prefix.
fn category(action: &str) -> &'static str {
    let capability = action.split('.').next().unwrap_or_default();
    match capability {
        "auth" | "token" | "oauth" | "login" => "authentication",
        "ehr" | "fhir" => "database",
        "key" | "keys" | "kms" | "crypto" => "iam",
        _ => "configuration",
    }
}
