//! JSON lines: FHIR AuditEvents, our trail entries, and any other object (kept as it
//! is, flat dotted keys expanded), with nesting bounded before parsing.

use serde_json::{Map, Value};
use webqx_audit::Entry;

use super::event::Event;
use super::{Options, audit, fhir, modsec};

/// How deeply `text` nests arrays and objects (strings skipped), stopping early once
/// past `limit`.
pub(crate) fn nesting_depth(text: &[u8], limit: usize) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in text {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
                if max > limit {
                    return max;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Fills `event` from one parsed JSON object, by what it is.
pub(crate) fn from_object(object: Map<String, Value>, options: &Options, event: &mut Event) {
    if object.get("resourceType").and_then(Value::as_str) == Some("AuditEvent") {
        fhir::parse(&object, event);
        return;
    }
    if object.contains_key("transaction") && modsec::parse(&object, options, event) {
        return;
    }
    if is_trail_entry(&object)
        && let Ok(entry) = serde_json::from_value::<Entry>(Value::Object(object.clone()))
    {
        let original = event.get("event.original").cloned();
        *event = audit::from_audit_entry(&entry);
        if let Some(original) = original {
            event.set("event.original", original);
        }
        return;
    }
    generic(object, event);
}

/// Our trail's JSON lines carry these members.
fn is_trail_entry(object: &Map<String, Value>) -> bool {
    ["v", "seq", "id", "time", "actor", "action", "outcome"]
        .iter()
        .all(|k| object.contains_key(*k))
}

/// Any other object: its members copied, `a.b` keys nested, `event.dataset` `json`
/// unless it names one already.
fn generic(object: Map<String, Value>, event: &mut Event) {
    for (key, value) in object {
        if key == "event" || key.contains('.') {
            merge(event, &key, value);
        } else if !event.has(&key) {
            event.set(&key, value);
        } else {
            merge(event, &key, value);
        }
    }
    if !event.has("event.dataset") {
        event.set("event.dataset", "json");
    }
    if !event.has("event.kind") {
        event.set("event.kind", "event");
    }
}

/// Sets `key`, merging into objects already there (so `event` members join
/// `event.original`).
fn merge(event: &mut Event, key: &str, value: Value) {
    match value {
        Value::Object(members) if !members.is_empty() => {
            for (name, inner) in members {
                if name.is_empty() || name.contains('.') {
                    continue;
                }
                merge(event, &format!("{key}.{name}"), inner);
            }
        }
        other => {
            event.set(key, other);
        }
    }
}
