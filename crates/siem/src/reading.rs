//! Readings of a trail entry that CEF, ECS and OCSF share: its kind of operation, time,
//! source address, actor name, and the codes and references of an EHR event.

use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use webqx_audit::{Entry, Outcome};

/// The kind of operation a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Crud {
    Create,
    Read,
    Update,
    Delete,
    Other,
}

/// From the HTTP method for `http.request`, the AuditEvent's `action` code for EHR
/// events, else the action's verb (`key.create`, `ehr.rest.vread`).
pub(crate) fn crud(entry: &Entry) -> Crud {
    if let Some((method, _)) = http_request(entry) {
        return match method {
            "POST" => Crud::Create,
            "GET" | "HEAD" => Crud::Read,
            "PUT" | "PATCH" => Crud::Update,
            "DELETE" => Crud::Delete,
            _ => Crud::Other,
        };
    }
    let code = entry.event.as_ref().and_then(|e| e.get("action")?.as_str());
    if let Some(code) = code.filter(|_| entry.action.starts_with("ehr.")) {
        // FHIR R4 AuditEventAction: C, R, U, D, E (execute).
        return match code {
            "C" => Crud::Create,
            "R" => Crud::Read,
            "U" => Crud::Update,
            "D" => Crud::Delete,
            _ => Crud::Other,
        };
    }
    match entry.action.rsplit('.').next().unwrap_or_default() {
        "create" | "init" => Crud::Create,
        "read" | "vread" | "list" | "export" | "capabilities" | "search" | "history" => Crud::Read,
        v if v.starts_with("search-") || v.starts_with("history-") => Crud::Read,
        "update" | "patch" | "configure" | "rotate" | "enable" | "disable" | "renew" | "seal"
        | "schedule_deletion" | "cancel_deletion" => Crud::Update,
        "delete" | "destroy" => Crud::Delete,
        _ => Crud::Other,
    }
}

/// Method and route of an `http.request` record (target `GET /v1/keys/{name}`).
pub(crate) fn http_request(entry: &Entry) -> Option<(&str, &str)> {
    if entry.action != "http.request" {
        return None;
    }
    entry.target.as_deref()?.split_once(' ')
}

/// `ehr.<type code>` and its subtype code, if any.
pub(crate) fn ehr_type(action: &str) -> Option<(&str, Option<&str>)> {
    let rest = action.strip_prefix("ehr.")?;
    Some(match rest.split_once('.') {
        Some((code, subtype)) => (code, Some(subtype)),
        None => (rest, None),
    })
}

/// Milliseconds since the epoch: the record's time, else the time in its UUIDv7 id.
pub(crate) fn time_ms(entry: &Entry) -> Option<i64> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(&entry.time) {
        return Some(time.timestamp_millis());
    }
    let (secs, nanos) = uuid::Uuid::try_parse(&entry.id)
        .ok()?
        .get_timestamp()?
        .to_unix();
    i64::try_from(secs)
        .ok()?
        .checked_mul(1000)?
        .checked_add(i64::from(nanos / 1_000_000))
}

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source<'a> {
    /// An IP address (`127.0.0.1`, `::1`), with the port when given (`[::1]:5555`).
    Ip(IpAddr, Option<u16>),
    /// Anything else: a host name (`ehr.example.org:443`) or another kind of address.
    Host(&'a str, Option<u16>),
}

pub(crate) fn source(entry: &Entry) -> Option<Source<'_>> {
    let raw = entry.source.as_deref()?.trim();
    if raw.is_empty() {
        return None;
    }
    if let Ok(socket) = raw.parse::<SocketAddr>() {
        return Some(Source::Ip(socket.ip().to_canonical(), Some(socket.port())));
    }
    let bare = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']'));
    if let Ok(ip) = bare.unwrap_or(raw).parse::<IpAddr>() {
        return Some(Source::Ip(ip.to_canonical(), None));
    }
    if let Some((host, port)) = raw.rsplit_once(':')
        && !host.is_empty()
        && !host.contains(':')
        && let Ok(port) = port.parse::<u16>()
    {
        return Some(Source::Host(host, Some(port)));
    }
    Some(Source::Host(raw, None))
}

/// True for what can be a DNS name (letters, digits, `-`, `_`, `.`).
pub(crate) fn is_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The actor without its kind: `abc` for `token:abc`, `system` for `system`.
pub(crate) fn actor_name(actor: &str) -> &str {
    actor.split_once(':').map_or(actor, |(_, name)| name)
}

pub(crate) fn outcome_word(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Denied => "denied",
        Outcome::Failure => "failure",
    }
}

/// One line for people: `key.encrypt by token:abc on key:phi: denied (forbidden)`.
pub(crate) fn message(entry: &Entry) -> String {
    let mut message = format!("{} by {}", entry.action, entry.actor);
    if let Some(target) = &entry.target {
        let _ = write!(message, " on {target}");
    }
    let _ = write!(message, ": {}", outcome_word(entry.outcome));
    if let Some(reason) = &entry.reason {
        let _ = write!(message, " ({reason})");
    }
    message
}

/// An EHR AuditEvent by codes and references only: `type`, `subtype`, `action` and
/// `entity` (see [`ehr_entities`]).
pub(crate) fn ehr_summary(event: &Value) -> Value {
    let mut summary = Map::new();
    if let Some(code) = coding_code(event.get("type")) {
        summary.insert("type".into(), code.into());
    }
    let subtypes: Vec<Value> = event
        .get("subtype")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|coding| coding_code(Some(coding)).map(Value::from))
        .collect();
    if !subtypes.is_empty() {
        summary.insert("subtype".into(), subtypes.into());
    }
    if let Some(action) = event.get("action").and_then(Value::as_str) {
        summary.insert("action".into(), action.into());
    }
    let entities = ehr_entities(event);
    if !entities.is_empty() {
        summary.insert("entity".into(), entities.into());
    }
    Value::Object(summary)
}

/// Each entity's `what.reference` with its `type` and `role` codes.
pub(crate) fn ehr_entities(event: &Value) -> Vec<Value> {
    let entities = event.get("entity").and_then(Value::as_array);
    entities
        .into_iter()
        .flatten()
        .filter_map(|entity| {
            let reference = entity.get("what")?.get("reference")?.as_str()?;
            let mut out = Map::new();
            out.insert("reference".into(), reference.into());
            for name in ["type", "role"] {
                if let Some(code) = coding_code(entity.get(name)) {
                    out.insert(name.into(), code.into());
                }
            }
            Some(Value::Object(out))
        })
        .collect()
}

fn coding_code(coding: Option<&Value>) -> Option<&str> {
    coding?.get("code")?.as_str()
}
