//! Trail records as FHIR R4 AuditEvent resources.
//!
//! A record received from the EHR renders as the AuditEvent it carried, unchanged
//! except for `id`, so that intake followed by export gives back what was sent. Our own
//! records are mapped (see [`render`]); the mapping carries the actor, the source
//! address, the purpose of use, the action, the target, the outcome with its stable
//! reason, and the HMACs of sensitive values: never the `details`, never PHI.

use super::PRODUCT;
use crate::TrailRecord;
use crate::record::{Entry, Outcome};
use serde_json::{Map, Value, json};

/// DICOM controlled terminology (audit event IDs, role IDs, event type codes).
pub const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";
/// FHIR's audit event types (`rest`, `hl7-v2`, ...).
pub const AUDIT_EVENT_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-event-type";
/// FHIR RESTful interactions, the subtypes of `rest` events.
pub const RESTFUL_INTERACTION: &str = "http://hl7.org/fhir/restful-interaction";
/// Entity types 1–4 (person, system object, organization, other).
pub const AUDIT_ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
/// Entity roles 1–24.
pub const OBJECT_ROLE: &str = "http://terminology.hl7.org/CodeSystem/object-role";
/// Entity data life cycle stages 1–15.
pub const DATA_LIFECYCLE: &str = "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle";
/// Audit source types 1–9.
pub const SECURITY_SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
/// HL7 v3 ActReason, the purposes of use.
pub const ACT_REASON: &str = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
/// Our action names (`key.encrypt`), as AuditEvent subtypes.
pub const AUDIT_ACTION: &str = "https://webqx.health/fhir/CodeSystem/audit-action";

/// The record as a FHIR R4 AuditEvent. A record received from the EHR renders as the
/// AuditEvent received (with `id` set to the record's id); our own records are mapped:
///
/// - `type`: DICOM 110114 User Authentication for `auth.*`, 110101 Audit Log Used for
///   `audit.*`, else 110100 Application Activity; `subtype`: the action name under
///   [`AUDIT_ACTION`]; `action`: C/R/U/D/E from the verb ([`action_code`]);
/// - `recorded`: the record's time; `outcome`: 0, 4 (denied) or 8 (failed), with the
///   stable reason as `outcomeDesc`; `purposeOfEvent`: the stated purpose (v3-ActReason);
/// - `agent[0]`: the actor as requestor, with the source address (type 2 for an IP
///   address, 1 for a host name);
/// - `source`: [`PRODUCT`], an application server (security-source-type 4);
/// - `entity[0]`: the target as an identifier, with each HMAC as a `detail`
///   (`hmac:<name>`, hex).
pub fn render(rec: &TrailRecord) -> Value {
    match &rec.entry.event {
        Some(Value::Object(event)) => with_id(event, &rec.entry.id),
        _ => own(&rec.entry),
    }
}

/// The received AuditEvent with `id` replaced, placed after `resourceType`.
fn with_id(event: &Map<String, Value>, id: &str) -> Value {
    let mut out = Map::with_capacity(event.len() + 1);
    if let Some(kind) = event.get("resourceType") {
        out.insert("resourceType".to_owned(), kind.clone());
    }
    out.insert("id".to_owned(), Value::String(id.to_owned()));
    for (key, value) in event {
        if key != "resourceType" && key != "id" {
            out.insert(key.clone(), value.clone());
        }
    }
    Value::Object(out)
}

/// One of our own records, mapped.
fn own(entry: &Entry) -> Value {
    let (type_code, type_display) = event_type(&entry.action);
    let mut event = json!({
        "resourceType": "AuditEvent",
        "id": entry.id,
        "type": {"system": DCM, "code": type_code, "display": type_display},
        "subtype": [{"system": AUDIT_ACTION, "code": entry.action, "display": entry.action}],
        "action": action_code(&entry.action),
        "recorded": entry.time,
        "outcome": outcome_code(entry.outcome),
    });
    let obj = event.as_object_mut().expect("built as an object above");
    if let Some(reason) = &entry.reason {
        obj.insert("outcomeDesc".to_owned(), json!(reason));
    }
    if let Some(purpose) = &entry.purpose {
        obj.insert(
            "purposeOfEvent".to_owned(),
            json!([purpose_of_use(purpose)]),
        );
    }
    obj.insert("agent".to_owned(), json!([agent(entry)]));
    obj.insert(
        "source".to_owned(),
        json!({
            "observer": {"display": PRODUCT},
            "type": [{"system": SECURITY_SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        }),
    );
    if let Some(entity) = entity(entry) {
        obj.insert("entity".to_owned(), json!([entity]));
    }
    event
}

/// DICOM audit event ID and display for one of our actions.
fn event_type(action: &str) -> (&'static str, &'static str) {
    match action.split('.').next() {
        Some("auth") => ("110114", "User Authentication"),
        Some("audit") => ("110101", "Audit Log Used"),
        _ => ("110100", "Application Activity"),
    }
}

/// The FHIR action code (C, R, U, D, E) for one of our action names, from its verb
/// (the part after the last dot): creating is C; reading, listing and exporting are R;
/// changing settings, state or versions is U; destroying is D; everything else
/// (encrypt, decrypt, sign, verify, authenticate, seal...) executes a function: E.
pub fn action_code(action: &str) -> &'static str {
    let verb = action.rsplit('.').next().unwrap_or(action);
    match verb {
        "create" | "init" | "issue" | "import" | "add" | "register" => "C",
        "read" | "get" | "list" | "export" | "search" | "history" => "R",
        "update" | "configure" | "enable" | "disable" | "rotate" | "rewrap" | "renew"
        | "revoke" | "reset_admin" | "schedule_deletion" | "cancel_deletion" => "U",
        "delete" | "destroy" | "purge" | "remove" => "D",
        _ => "E",
    }
}

fn outcome_code(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "0",
        Outcome::Denied => "4",
        Outcome::Failure => "8",
    }
}

/// A stated purpose: a v3-ActReason coding when it is a well-formed code, else text.
fn purpose_of_use(purpose: &str) -> Value {
    let is_code = !purpose.is_empty()
        && purpose.len() <= 256
        && purpose
            .split(' ')
            .all(|w| !w.is_empty() && !w.contains(char::is_whitespace));
    if is_code {
        json!({"coding": [{"system": ACT_REASON, "code": purpose}]})
    } else {
        json!({"text": purpose})
    }
}

/// The actor as the requesting agent, with the source address when there is one.
fn agent(entry: &Entry) -> Value {
    let mut agent = json!({
        "who": {"identifier": {"value": entry.actor}},
        "requestor": true,
    });
    if let Some(source) = entry.source.as_deref().filter(|s| !s.is_empty()) {
        let (address, kind) = network_address(source);
        agent["network"] = json!({"address": address, "type": kind});
    }
    agent
}

/// The host part of a peer address and its AuditEvent network type: 2 for an IP
/// address (a port is dropped), 1 for a machine name.
fn network_address(source: &str) -> (String, &'static str) {
    if let Ok(ip) = source.parse::<std::net::IpAddr>() {
        return (ip.to_string(), "2");
    }
    if let Ok(sock) = source.parse::<std::net::SocketAddr>() {
        return (sock.ip().to_string(), "2");
    }
    (source.to_owned(), "1")
}

/// The target and the HMACs of sensitive values, when there are any.
fn entity(entry: &Entry) -> Option<Value> {
    if entry.target.is_none() && entry.hmac.is_empty() {
        return None;
    }
    let mut entity = Map::new();
    if let Some(target) = &entry.target {
        entity.insert("what".to_owned(), json!({"identifier": {"value": target}}));
    }
    entity.insert(
        "type".to_owned(),
        json!({"system": AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"}),
    );
    let mut details = Vec::new();
    for (name, value) in &entry.hmac {
        let kind = format!("hmac:{name}");
        match value {
            Value::String(hex) => details.push(json!({"type": kind, "valueString": hex})),
            Value::Array(items) => details.extend(
                items
                    .iter()
                    .map(|item| json!({"type": kind, "valueString": text_of(item)})),
            ),
            other => details.push(json!({"type": kind, "valueString": text_of(other)})),
        }
    }
    if !details.is_empty() {
        entity.insert("detail".to_owned(), Value::Array(details));
    }
    Some(Value::Object(entity))
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(entry: Entry) -> TrailRecord {
        TrailRecord {
            entry,
            hash: String::new(),
            prev_hash: String::new(),
            body: String::new(),
        }
    }

    fn entry() -> Entry {
        Entry {
            v: 1,
            seq: 7,
            id: "0190a5b2-0000-7000-8000-000000000001".to_owned(),
            time: "2025-03-01T10:20:30.456Z".to_owned(),
            request_id: "req-1".to_owned(),
            actor: "token:abc".to_owned(),
            source: Some("10.1.2.3".to_owned()),
            purpose: Some("TREAT".to_owned()),
            action: "key.encrypt".to_owned(),
            target: Some("key:phi".to_owned()),
            outcome: Outcome::Success,
            reason: None,
            details: Map::from_iter([("key_version".to_owned(), json!(3))]),
            hmac: Map::from_iter([("context".to_owned(), json!("ab12"))]),
            event: None,
        }
    }

    #[test]
    fn own_record_maps_every_field_and_nothing_else() {
        let out = render(&record(entry()));
        let expected = json!({
            "resourceType": "AuditEvent",
            "id": "0190a5b2-0000-7000-8000-000000000001",
            "type": {"system": DCM, "code": "110100", "display": "Application Activity"},
            "subtype": [{"system": AUDIT_ACTION, "code": "key.encrypt", "display": "key.encrypt"}],
            "action": "E",
            "recorded": "2025-03-01T10:20:30.456Z",
            "outcome": "0",
            "purposeOfEvent": [{"coding": [{"system": ACT_REASON, "code": "TREAT"}]}],
            "agent": [{
                "who": {"identifier": {"value": "token:abc"}},
                "requestor": true,
                "network": {"address": "10.1.2.3", "type": "2"},
            }],
            "source": {
                "observer": {"display": "WebQx Security"},
                "type": [{"system": SECURITY_SOURCE_TYPE, "code": "4", "display": "Application Server"}],
            },
            "entity": [{
                "what": {"identifier": {"value": "key:phi"}},
                "type": {"system": AUDIT_ENTITY_TYPE, "code": "2", "display": "System Object"},
                "detail": [{"type": "hmac:context", "valueString": "ab12"}],
            }],
        });
        assert_eq!(out, expected);
        assert!(
            !out.to_string().contains("key_version"),
            "details never leave"
        );
        assert!(
            !out.to_string().contains("req-1"),
            "request id is not rendered"
        );
    }

    #[test]
    fn denied_and_failed_records_carry_their_reason() {
        let mut e = entry();
        e.outcome = Outcome::Denied;
        e.reason = Some("forbidden".to_owned());
        e.action = "auth.authenticate".to_owned();
        let out = render(&record(e.clone()));
        assert_eq!(out["outcome"], "4");
        assert_eq!(out["outcomeDesc"], "forbidden");
        assert_eq!(out["type"]["code"], "110114");
        e.outcome = Outcome::Failure;
        assert_eq!(render(&record(e))["outcome"], "8");
    }

    #[test]
    fn minimal_record_has_no_optional_parts() {
        let mut e = entry();
        e.source = None;
        e.purpose = None;
        e.target = None;
        e.hmac.clear();
        let out = render(&record(e));
        assert!(out.get("entity").is_none());
        assert!(out.get("purposeOfEvent").is_none());
        assert!(out["agent"][0].get("network").is_none());
    }

    #[test]
    fn addresses_and_purposes() {
        assert_eq!(network_address("::1"), ("::1".to_owned(), "2"));
        assert_eq!(
            network_address("10.0.0.1:443"),
            ("10.0.0.1".to_owned(), "2")
        );
        assert_eq!(
            network_address("host.example"),
            ("host.example".to_owned(), "1")
        );
        assert_eq!(purpose_of_use("not a  code")["text"], "not a  code");
    }

    #[test]
    fn verbs_map_to_action_codes() {
        for (action, code) in [
            ("key.create", "C"),
            ("key.list", "R"),
            ("key.read", "R"),
            ("key.rotate", "U"),
            ("token.revoke", "U"),
            ("key.destroy", "D"),
            ("key.encrypt", "E"),
            ("key.decrypt", "E"),
            ("key.verify", "E"),
            ("sys.unseal", "E"),
        ] {
            assert_eq!(action_code(action), code, "{action}");
        }
    }

    #[test]
    fn ehr_event_renders_as_received_with_our_id() {
        let mut e = entry();
        e.event = Some(json!({"resourceType": "AuditEvent", "id": "theirs", "action": "R"}));
        let out = render(&record(e));
        assert_eq!(
            out,
            json!({"resourceType": "AuditEvent", "id": "0190a5b2-0000-7000-8000-000000000001", "action": "R"})
        );
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["resourceType", "id", "action"]);
    }
}
