//! Elastic Common Schema (ECS) rendering, ECS 8.x.
//!
//! One record is one document with the fields Elastic Security reads: `@timestamp`,
//! the categorization fields (`event.kind`, `event.category`, `event.type`,
//! `event.outcome`, using only ECS's allowed values, each type one the ECS reference
//! expects with the category), `user`, `source`, `related`, `observer`, `labels`, and
//! for `http.request` records `http` and `url`. What ECS has no field for (the chain
//! hashes, details, HMACs, the EHR event's codes and references) is in the custom
//! field set `webqx`.
//!
//! | records | `event.category` | `event.type` |
//! | --- | --- | --- |
//! | [`Class::DetectionFinding`] (`event.kind: alert`) | `intrusion_detection` | `info` |
//! | `token.*` | `iam` | `admin` + `creation`/`deletion`/`change`/`info` |
//! | refused as `forbidden` | `api` | by operation + `denied` |
//! | other authentication | `authentication` | `start`, EHR logout `end`, unseal `info` |
//! | `http.request` | `web` | `access`, or `error` when it failed |
//! | `sys.*`, `tls.*`, `*.configure` | `api`, `configuration` | by operation |
//! | everything else | `api` | by operation, + `denied` when refused |
//!
//! "By operation": create → `creation`, read → `access`, update → `change`, delete →
//! `deletion`, other (encrypt, sign…) → `access`.

use crate::ocsf::{Class, Severity};
use crate::reading::{self, Crud, Source};
use serde_json::{Map, Value, json};
use webqx_audit::render::{PRODUCT, VENDOR, VERSION};
use webqx_audit::{Entry, Outcome, TrailRecord};

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.17.0";

/// The record as one ECS document.
pub fn render(rec: &TrailRecord) -> Value {
    let entry = &rec.entry;
    let ms = reading::time_ms(entry).unwrap_or(0);
    let timestamp = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);

    let mut doc = Map::new();
    doc.insert("@timestamp".into(), timestamp.into());
    doc.insert("ecs".into(), json!({ "version": ECS_VERSION }));
    doc.insert("message".into(), reading::message(entry).into());
    doc.insert("event".into(), event(rec));
    let user = json!({ "id": entry.actor, "name": reading::actor_name(&entry.actor) });
    doc.insert("user".into(), user);
    if let Some(source) = source(entry) {
        doc.insert("source".into(), source);
    }
    doc.insert("related".into(), related(entry));
    doc.insert(
        "observer".into(),
        json!({ "vendor": VENDOR, "product": PRODUCT, "version": VERSION, "type": "security" }),
    );
    let mut labels = json!({ "request_id": entry.request_id });
    if let Some(purpose) = &entry.purpose {
        labels["purpose"] = purpose.as_str().into();
    }
    doc.insert("labels".into(), labels);
    if let Some((method, path)) = reading::http_request(entry) {
        let mut http = json!({ "request": { "method": method } });
        if let Some(status) = entry.details.get("status").filter(|s| s.is_u64()) {
            http["response"] = json!({ "status_code": status });
        }
        doc.insert("http".into(), http);
        doc.insert("url".into(), json!({ "path": path }));
    }
    doc.insert("webqx".into(), webqx(rec));
    Value::Object(doc)
}

fn event(rec: &TrailRecord) -> Value {
    let entry = &rec.entry;
    let class = Class::of(entry);
    let (categories, types) = categorize(entry, class);
    let kind = if class == Class::DetectionFinding {
        "alert"
    } else {
        "event"
    };
    let provider = entry.action.split('.').next().unwrap_or_default();

    let mut event = json!({
        "kind": kind,
        "category": categories,
        "type": types,
        "action": entry.action,
        "id": entry.id,
        "sequence": entry.seq,
        "dataset": "webqx.audit",
        "module": "webqx",
        "provider": provider,
        "severity": Severity::of(entry).cef(),
    });
    // An alert has no outcome of its own (ECS leaves it out for `info` events).
    if class != Class::DetectionFinding {
        let outcome = match entry.outcome {
            Outcome::Success => "success",
            Outcome::Denied | Outcome::Failure => "failure",
        };
        event["outcome"] = outcome.into();
    }
    if let Some(reason) = &entry.reason {
        event["reason"] = reason.as_str().into();
    }
    // The stored text, so the SIEM copy can be checked against the chain hash; not for
    // EHR events, whose body holds the AuditEvent as received.
    if entry.event.is_none() {
        event["original"] = rec.body.as_str().into();
    }
    event
}

type Categorization = (Vec<&'static str>, Vec<&'static str>);

/// `event.category` and `event.type`, as in the table of the module docs.
fn categorize(entry: &Entry, class: Class) -> Categorization {
    let action = entry.action.as_str();
    let crud = reading::crud(entry);
    let denied = entry.outcome == Outcome::Denied;
    match class {
        Class::DetectionFinding => (vec!["intrusion_detection"], vec!["info"]),
        _ if action.starts_with("token.") => {
            let kind = match (crud, action) {
                (Crud::Create, _) => "creation",
                (Crud::Delete, _) | (_, "token.revoke") => "deletion",
                (Crud::Update, _) | (_, "token.reset_admin") => "change",
                _ => "info",
            };
            (vec!["iam"], vec!["admin", kind])
        }
        Class::Authentication if denied && entry.reason.as_deref() == Some("forbidden") => {
            (vec!["api"], vec![by_operation(crud), "denied"])
        }
        Class::Authentication => {
            let logout =
                reading::ehr_type(action).and_then(|(_, subtype)| subtype) == Some("110123");
            let kind = if logout {
                "end"
            } else if action == "sys.unseal" {
                "info"
            } else {
                "start"
            };
            (vec!["authentication"], vec![kind])
        }
        Class::ApiActivity if action == "http.request" => {
            let kind = if entry.outcome == Outcome::Failure {
                "error"
            } else {
                "access"
            };
            (vec!["web"], vec![kind])
        }
        Class::ApiActivity => {
            let configuration = action.starts_with("sys.")
                || action.starts_with("tls.")
                || action.ends_with(".configure");
            if configuration {
                (vec!["api", "configuration"], vec![by_operation(crud)])
            } else if denied {
                (vec!["api"], vec![by_operation(crud), "denied"])
            } else {
                (vec!["api"], vec![by_operation(crud)])
            }
        }
    }
}

fn by_operation(crud: Crud) -> &'static str {
    match crud {
        Crud::Create => "creation",
        Crud::Update => "change",
        Crud::Delete => "deletion",
        Crud::Read | Crud::Other => "access",
    }
}

fn source(entry: &Entry) -> Option<Value> {
    let address = entry.source.as_deref()?.trim();
    let mut source = json!({ "address": address });
    let port = match reading::source(entry)? {
        Source::Ip(ip, port) => {
            source["ip"] = ip.to_string().into();
            port
        }
        Source::Host(host, port) => {
            if reading::is_hostname(host) {
                source["domain"] = host.into();
            }
            port
        }
    };
    if let Some(port) = port {
        source["port"] = port.into();
    }
    Some(source)
}

fn related(entry: &Entry) -> Value {
    let mut related = Map::new();
    let mut users = vec![entry.actor.as_str()];
    let name = reading::actor_name(&entry.actor);
    if name != entry.actor && !name.is_empty() {
        users.push(name);
    }
    related.insert("user".into(), users.into());
    if let Some(Source::Ip(ip, _)) = reading::source(entry) {
        related.insert("ip".into(), json!([ip.to_string()]));
    }
    Value::Object(related)
}

/// The custom field set: `webqx.audit` (chain, target, details, HMACs) and for EHR
/// events `webqx.ehr` (codes and references only).
fn webqx(rec: &TrailRecord) -> Value {
    let entry = &rec.entry;
    let mut audit = json!({
        "v": entry.v,
        "seq": entry.seq,
        "hash": rec.hash,
        "prev_hash": rec.prev_hash,
    });
    if let Some(target) = &entry.target {
        audit["target"] = target.as_str().into();
    }
    if !entry.details.is_empty() {
        audit["details"] = Value::Object(entry.details.clone());
    }
    if !entry.hmac.is_empty() {
        audit["hmac"] = Value::Object(entry.hmac.clone());
    }
    let mut webqx = json!({ "audit": audit });
    if let Some(event) = &entry.event {
        webqx["ehr"] = reading::ehr_summary(event);
    }
    webqx
}
