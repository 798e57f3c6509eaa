//! FHIR R4 AuditEvent → EHR event: who (the requesting agent), which patient, what
//! (action and REST interaction), how it ended, and why (purpose of use).
//!
//! Extraction is lenient: intake validates AuditEvents ([`crate::auditevent::validate`])
//! before they reach the trail; here an element that is missing or of the wrong type
//! is simply not copied.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

use super::event::Event;
use super::sshd::mark;
use super::text::{set_source, truncate};

/// Longest decoded search query kept in `ehr.query`, bytes.
const MAX_QUERY_LEN: usize = 4096;
/// Longest break-glass reason kept, in bytes.
const MAX_REASON_LEN: usize = 1024;
/// purposeOfEvent codes that mean emergency ("break the glass") access.
const BREAK_GLASS: [&str; 2] = ["ETREAT", "BTG"];

/// Fills `event` from an AuditEvent resource.
pub(crate) fn parse(audit: &Map<String, Value>, event: &mut Event) {
    event.set("event.dataset", "fhir.auditevent");
    if let Some(id) = audit.get("id").and_then(Value::as_str) {
        event.set("event.id", id);
    }
    if let Some(recorded) = audit.get("recorded").and_then(Value::as_str) {
        let utc = DateTime::parse_from_rfc3339(recorded).map(|t| {
            t.with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true)
        });
        event.set("@timestamp", utc.unwrap_or_else(|_| recorded.to_owned()));
    }

    let action = audit.get("action").and_then(Value::as_str);
    if let Some(action) = action {
        event.set("ehr.action", action);
    }
    let type_code = audit.get("type").and_then(|t| str_at(t, "code"));
    let subtype = audit
        .get("subtype")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
        .and_then(|s| str_at(s, "code"));
    if let Some(subtype) = subtype {
        event.set("ehr.subtype", subtype);
    }
    let outcome = match audit.get("outcome").and_then(Value::as_str) {
        Some("0") => "success",
        Some("4" | "8" | "12") => "failure",
        _ => "unknown",
    };

    agent(audit, event);
    entities(audit, event);
    purposes(audit, event);

    let (verb, category, kind) = classify(type_code, subtype, action);
    mark(event, verb, category, kind, outcome);
}

/// A string member of an object.
fn str_at<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name).and_then(Value::as_str)
}

/// The action name, ECS category and type from the AuditEvent's type, subtype and
/// action code.
fn classify(
    type_code: Option<&str>,
    subtype: Option<&str>,
    action: Option<&str>,
) -> (&'static str, &'static str, &'static str) {
    match (type_code, subtype) {
        (_, Some("110122")) | (Some("110114"), None) => {
            return ("ehr_login", "authentication", "start");
        }
        (_, Some("110123")) => return ("ehr_logout", "authentication", "end"),
        (Some("110106"), _) | (_, Some("export")) => return ("ehr_export", "database", "access"),
        _ => {}
    }
    match subtype {
        Some("read" | "vread" | "history-instance" | "history-type") => {
            ("ehr_read", "database", "access")
        }
        Some("search" | "search-type" | "search-system") => ("ehr_search", "database", "access"),
        Some("create") => ("ehr_create", "database", "creation"),
        Some("update" | "patch") => ("ehr_update", "database", "change"),
        Some("delete") => ("ehr_delete", "database", "deletion"),
        _ => match action {
            Some("C") => ("ehr_create", "database", "creation"),
            Some("R") => ("ehr_read", "database", "access"),
            Some("U") => ("ehr_update", "database", "change"),
            Some("D") => ("ehr_delete", "database", "deletion"),
            _ => ("ehr_execute", "database", "info"),
        },
    }
}

/// The requesting agent (the first with `requestor: true`, else the first): the user,
/// and its network address. A patient among the agents is the patient.
fn agent(audit: &Map<String, Value>, event: &mut Event) {
    let agents = audit.get("agent").and_then(Value::as_array);
    let agents = agents.map(Vec::as_slice).unwrap_or_default();
    let requestor = agents
        .iter()
        .find(|a| a.get("requestor").and_then(Value::as_bool) == Some(true))
        .or_else(|| agents.first());
    if let Some(agent) = requestor {
        let who = agent.get("who");
        let id = who
            .and_then(|w| w.get("identifier"))
            .and_then(|i| str_at(i, "value"))
            .or_else(|| who.and_then(|w| str_at(w, "reference")))
            .or_else(|| str_at(agent, "altId"));
        if let Some(id) = id {
            event.set("user.id", id);
        }
        let name = str_at(agent, "name").or_else(|| who.and_then(|w| str_at(w, "display")));
        if let Some(name) = name.or(id) {
            event.set("user.name", name);
        }
        if let Some(address) = agent.get("network").and_then(|n| str_at(n, "address")) {
            set_source(event, address);
        }
    }
    for agent in agents {
        let reference = agent.get("who").and_then(|w| str_at(w, "reference"));
        if let Some(reference) = reference.filter(|r| r.starts_with("Patient/")) {
            set_patient(event, reference);
        }
    }
}

fn set_patient(event: &mut Event, reference: &str) {
    if event.has("ehr.patient.reference") {
        return;
    }
    event.set("ehr.patient.reference", reference);
    let id = reference
        .strip_prefix("Patient/")
        .map(|r| r.split('/').next().unwrap_or(r));
    if let Some(id) = id.filter(|i| !i.is_empty()) {
        event.set("ehr.patient.id", id);
    }
}

/// Entities: the patient, the resource type accessed, the decoded query.
fn entities(audit: &Map<String, Value>, event: &mut Event) {
    let entities = audit.get("entity").and_then(Value::as_array);
    for entity in entities.map(Vec::as_slice).unwrap_or_default() {
        let reference = entity.get("what").and_then(|w| str_at(w, "reference"));
        if let Some(reference) = reference {
            if reference.starts_with("Patient/") {
                set_patient(event, reference);
            }
            let resource = reference.split('/').next().unwrap_or_default();
            if !event.has("ehr.resource.type")
                && resource
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_uppercase())
            {
                event.set("ehr.resource.type", resource);
            }
        }
        if let Some(query) = str_at(entity, "query") {
            decode_query(query, event);
        }
        record_count(entity, event);
    }
}

/// `entity.query` is base64 of the search URL (or query string).
fn decode_query(query: &str, event: &mut Event) {
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(query.trim()) else {
        return;
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = truncate(&text, MAX_QUERY_LEN);
    event.set("ehr.query", text);
    if !event.has("ehr.resource.type") {
        let path = text.split('?').next().unwrap_or_default();
        let last = path.rsplit('/').next().unwrap_or_default();
        if last.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && last.chars().all(|c| c.is_ascii_alphanumeric())
        {
            event.set("ehr.resource.type", last);
        }
    }
}

/// `entity.detail` entries typed `record_count` or `count` with a number.
fn record_count(entity: &Value, event: &mut Event) {
    let details = entity.get("detail").and_then(Value::as_array);
    for detail in details.map(Vec::as_slice).unwrap_or_default() {
        if !matches!(str_at(detail, "type"), Some("record_count" | "count")) {
            continue;
        }
        let count = str_at(detail, "valueString").and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(count) = count {
            event.set("ehr.record_count", count);
        }
    }
}

/// purposeOfEvent and the agents' purposeOfUse codes; ETREAT or BTG is break-glass.
/// The reason given for a break-glass access is the first non-blank `text` of those
/// CodeableConcepts (FHIR's free-text representation of the concept as the user
/// entered it); without one, `ehr.break_glass_reason` stays absent.
fn purposes(audit: &Map<String, Value>, event: &mut Event) {
    let mut codes: Vec<String> = Vec::new();
    let mut reason: Option<String> = None;
    let mut collect = |concepts: Option<&Value>| {
        for concept in concepts
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if reason.is_none()
                && let Some(text) = str_at(concept, "text").map(str::trim)
                && !text.is_empty()
            {
                reason = Some(truncate(text, MAX_REASON_LEN).to_owned());
            }
            let codings = concept.get("coding").and_then(Value::as_array);
            for coding in codings.map(Vec::as_slice).unwrap_or_default() {
                if let Some(code) = str_at(coding, "code")
                    && !codes.iter().any(|c| c == code)
                    && codes.len() < 16
                {
                    codes.push(code.to_owned());
                }
            }
        }
    };
    collect(audit.get("purposeOfEvent"));
    let agents = audit.get("agent").and_then(Value::as_array);
    for agent in agents.map(Vec::as_slice).unwrap_or_default() {
        collect(agent.get("purposeOfUse"));
    }
    if codes.is_empty() {
        event.set("ehr.break_glass", false);
        return;
    }
    let break_glass = codes.iter().any(|c| BREAK_GLASS.contains(&c.as_str()));
    event.set("ehr.purpose", codes);
    event.set("ehr.break_glass", break_glass);
    if break_glass && let Some(reason) = reason {
        event.set("ehr.break_glass_reason", reason);
    }
}
