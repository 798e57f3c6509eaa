//! Open Cybersecurity Schema Framework (OCSF) rendering, schema 1.3.0.
//!
//! Every record becomes one event of one of three classes ([`Class`]): Authentication
//! (3002) for token checks and refusals, token management and unsealing; API Activity
//! (6003) for every other operation, ours or the EHR's; Detection Finding (2004) for
//! detections and alerts. Each event carries every attribute the schema marks required
//! for its class (and for the objects in it); what has no OCSF attribute goes to
//! `unmapped`.
//!
//! The classification, the severity and the readings of an entry's time, source and
//! actor defined here are shared with [`crate::cef`] and [`crate::ecs`], so the three
//! formats agree on what a record is.
//!
//! Of an EHR AuditEvent only codes and references are rendered, never its narrative
//! (descriptions, outcome texts, display names, queries).

use crate::reading::{
    Crud, Source, actor_name, crud, ehr_entities, ehr_summary, ehr_type, http_request, is_hostname,
    message, outcome_word, source, time_ms,
};
use serde_json::{Map, Value, json};
use webqx_audit::render::{PRODUCT, VENDOR, VERSION};
use webqx_audit::{Entry, Outcome, TrailRecord};

/// The OCSF schema version the events follow.
pub const SCHEMA_VERSION: &str = "1.3.0";

/// DICOM event type "User Authentication" (DCM 110114), as in `ehr.110114`.
const DCM_USER_AUTHENTICATION: &str = "110114";
/// DICOM event subtype "Logout" (DCM 110123).
const DCM_LOGOUT: &str = "110123";
/// DICOM event type "Security Alert" (DCM 110113).
const DCM_SECURITY_ALERT: &str = "110113";

/// The OCSF event class a record is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Class {
    /// Authentication (3002, Identity & Access Management): `auth.*`, `token.*`,
    /// `sys.unseal`, EHR user authentication (`ehr.110114…`), and any refusal for a
    /// missing, invalid or insufficient token (denied as `unauthorized`, `forbidden` or
    /// `token-…`).
    Authentication,
    /// API Activity (6003, Application Activity): every other operation.
    ApiActivity,
    /// Detection Finding (2004, Findings): `detect.*`, `alert.*` and EHR security alerts
    /// (`ehr.110113…`).
    DetectionFinding,
}

impl Class {
    /// The class of `entry`.
    pub fn of(entry: &Entry) -> Class {
        let action = entry.action.as_str();
        let ehr_type = ehr_type(action).map(|(code, _)| code);
        if action.starts_with("detect.")
            || action.starts_with("alert.")
            || ehr_type == Some(DCM_SECURITY_ALERT)
        {
            return Class::DetectionFinding;
        }
        let refused_credential = entry.outcome == Outcome::Denied
            && entry.reason.as_deref().is_some_and(|r| {
                r == "unauthorized" || r == "forbidden" || r.starts_with("token-")
            });
        if action.starts_with("auth.")
            || action.starts_with("token.")
            || action == "sys.unseal"
            || ehr_type == Some(DCM_USER_AUTHENTICATION)
            || refused_credential
        {
            return Class::Authentication;
        }
        Class::ApiActivity
    }

    /// `class_uid`: category × 1000 + the class's number in its category.
    pub fn uid(self) -> u32 {
        match self {
            Class::Authentication => 3002,
            Class::ApiActivity => 6003,
            Class::DetectionFinding => 2004,
        }
    }

    /// `class_name`.
    pub fn name(self) -> &'static str {
        match self {
            Class::Authentication => "Authentication",
            Class::ApiActivity => "API Activity",
            Class::DetectionFinding => "Detection Finding",
        }
    }

    /// `category_uid`.
    pub fn category_uid(self) -> u32 {
        self.uid() / 1000
    }

    /// `category_name`.
    pub fn category_name(self) -> &'static str {
        match self {
            Class::Authentication => "Identity & Access Management",
            Class::ApiActivity => "Application Activity",
            Class::DetectionFinding => "Findings",
        }
    }
}

/// How severe a record is, on OCSF's `severity_id` scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Severity {
    /// A success.
    Informational,
    /// A failure.
    Low,
    /// A refusal.
    Medium,
    /// A detection without a stated severity.
    High,
    /// A detection stated critical.
    Critical,
}

impl Severity {
    /// The severity of `entry`: by outcome, or for detections the `severity` (or Sigma
    /// `level`) detail, `high` when absent.
    pub fn of(entry: &Entry) -> Severity {
        if Class::of(entry) == Class::DetectionFinding {
            return ["severity", "level"]
                .into_iter()
                .find_map(|name| Severity::parse(entry.details.get(name)?.as_str()?))
                .unwrap_or(Severity::High);
        }
        match entry.outcome {
            Outcome::Success => Severity::Informational,
            Outcome::Failure => Severity::Low,
            Outcome::Denied => Severity::Medium,
        }
    }

    fn parse(level: &str) -> Option<Severity> {
        Some(match level.to_ascii_lowercase().as_str() {
            "informational" | "info" => Severity::Informational,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    /// OCSF `severity_id` (1–5).
    pub fn id(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
        }
    }

    /// OCSF `severity`, the caption of the id.
    pub fn caption(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    /// On CEF's 0–10 scale, in its bands (0–3 low, 4–6 medium, 7–8 high, 9–10 very high).
    pub fn cef(self) -> u8 {
        match self {
            Severity::Informational => 1,
            Severity::Low => 3,
            Severity::Medium => 5,
            Severity::High => 7,
            Severity::Critical => 9,
        }
    }
}

/// The record as one OCSF event.
pub fn render(rec: &TrailRecord) -> Value {
    let entry = &rec.entry;
    let class = Class::of(entry);
    let (activity_id, caption) = activity(entry, class);
    let activity_name = if activity_id == 99 {
        entry.action.as_str()
    } else {
        caption
    };
    let severity = Severity::of(entry);

    let mut event = Map::new();
    event.insert("activity_id".into(), activity_id.into());
    event.insert("activity_name".into(), activity_name.into());
    event.insert("category_uid".into(), class.category_uid().into());
    event.insert("category_name".into(), class.category_name().into());
    event.insert("class_uid".into(), class.uid().into());
    event.insert("class_name".into(), class.name().into());
    let type_uid = u64::from(class.uid()) * 100 + u64::from(activity_id);
    event.insert("type_uid".into(), type_uid.into());
    event.insert(
        "type_name".into(),
        format!("{}: {caption}", class.name()).into(),
    );
    event.insert("severity_id".into(), severity.id().into());
    event.insert("severity".into(), severity.caption().into());
    event.insert("time".into(), time_ms(entry).unwrap_or(0).into());
    event.insert("message".into(), message(entry).into());
    event.insert("metadata".into(), metadata(entry));
    status(entry, class, &mut event);

    match class {
        Class::Authentication => authentication(entry, &mut event),
        Class::ApiActivity => api_activity(entry, &mut event),
        Class::DetectionFinding => detection_finding(entry, &mut event),
    }
    event.insert("unmapped".into(), unmapped(rec));
    Value::Object(event)
}

/// `activity_id` and its caption. Authentication (OCSF 1.3.0 `authentication.json`):
/// 1 Logon, 2 Logoff, 99 Other; API Activity (`api.json`): 1 Create, 2 Read, 3 Update,
/// 4 Delete, 99 Other; Detection Finding (`finding.json`): 1 Create.
fn activity(entry: &Entry, class: Class) -> (u32, &'static str) {
    match class {
        Class::Authentication => {
            let action = entry.action.as_str();
            if ehr_type(action) == Some((DCM_USER_AUTHENTICATION, Some(DCM_LOGOUT))) {
                (2, "Logoff")
            } else if action.starts_with("token.")
                || action == "sys.unseal"
                || entry.reason.as_deref() == Some("forbidden")
            {
                (99, "Other")
            } else {
                (1, "Logon")
            }
        }
        Class::ApiActivity => match crud(entry) {
            Crud::Create => (1, "Create"),
            Crud::Read => (2, "Read"),
            Crud::Update => (3, "Update"),
            Crud::Delete => (4, "Delete"),
            Crud::Other => (99, "Other"),
        },
        Class::DetectionFinding => (1, "Create"),
    }
}

fn metadata(entry: &Entry) -> Value {
    json!({
        "version": SCHEMA_VERSION,
        "product": { "name": PRODUCT, "vendor_name": VENDOR, "version": VERSION },
        "uid": entry.id,
        "correlation_uid": entry.request_id,
        "sequence": entry.seq,
        "original_time": entry.time,
        "event_code": entry.action,
        "log_name": "audit",
    })
}

/// `status_id`: Success/Failure for activities, New for findings (whose status is the
/// finding's, not an outcome).
fn status(entry: &Entry, class: Class, event: &mut Map<String, Value>) {
    let (id, caption) = match (class, entry.outcome) {
        (Class::DetectionFinding, _) => (1, "New"),
        (_, Outcome::Success) => (1, "Success"),
        (_, Outcome::Denied | Outcome::Failure) => (2, "Failure"),
    };
    event.insert("status_id".into(), id.into());
    event.insert("status".into(), caption.into());
    if class != Class::DetectionFinding && entry.outcome != Outcome::Success {
        event.insert("status_detail".into(), outcome_word(entry.outcome).into());
    }
    if let Some(reason) = &entry.reason {
        event.insert("status_code".into(), reason.as_str().into());
    }
}

fn authentication(entry: &Entry, event: &mut Map<String, Value>) {
    event.insert("user".into(), user(&entry.actor));
    if let Some(endpoint) = src_endpoint(entry) {
        event.insert("src_endpoint".into(), endpoint);
    }
    if !entry.action.starts_with("ehr.") {
        event.insert("service".into(), json!({ "name": PRODUCT }));
    }
}

fn api_activity(entry: &Entry, event: &mut Map<String, Value>) {
    event.insert("actor".into(), json!({ "user": user(&entry.actor) }));

    let mut api = json!({ "operation": entry.action, "request": { "uid": entry.request_id } });
    let status_code = entry.details.get("status").filter(|s| s.is_u64());
    if entry.reason.is_some() || status_code.is_some() {
        let mut response = Map::new();
        if let Some(code) = status_code {
            response.insert("code".into(), code.clone());
        }
        if let Some(reason) = &entry.reason {
            response.insert("error".into(), reason.as_str().into());
        }
        api["response"] = Value::Object(response);
    }
    event.insert("api".into(), api);

    // Required: without a network peer the work was the service's own (scheduler, CLI).
    let endpoint = src_endpoint(entry).unwrap_or_else(|| json!({ "name": "internal" }));
    event.insert("src_endpoint".into(), endpoint);

    if let Some((method, path)) = http_request(entry) {
        event.insert(
            "http_request".into(),
            json!({ "http_method": method, "url": { "path": path } }),
        );
    } else if let Some(resources) = resources(entry) {
        event.insert("resources".into(), resources);
    }
}

fn detection_finding(entry: &Entry, event: &mut Map<String, Value>) {
    let detail = |name: &str| entry.details.get(name).and_then(Value::as_str);
    let title = detail("title").unwrap_or(&entry.action);
    let mut info = json!({ "uid": entry.id, "title": title, "types": [entry.action] });
    if let Some(rule) = detail("rule") {
        let mut analytic = json!({ "name": rule, "type_id": 1, "type": "Rule" });
        if let Some(uid) = detail("rule_id") {
            analytic["uid"] = uid.into();
        }
        info["analytic"] = analytic;
    }
    event.insert("finding_info".into(), info);
    if let Some(resources) = resources(entry) {
        event.insert("resources".into(), resources);
    }
}

/// OCSF `user`: `uid` is the whole actor (`token:abc`), `name` what follows the kind.
fn user(actor: &str) -> Value {
    let kind = actor.split_once(':').map_or(actor, |(kind, _)| kind);
    // user.type_id (OCSF 1.3.0 objects/user.json): 0 Unknown, 1 User, 3 System, 99 Other.
    let (type_id, type_name) = match kind {
        "system" | "scheduler" => (3, "System"),
        "anonymous" => (0, "Unknown"),
        "ehr" | "cli" => (1, "User"),
        _ => (99, kind),
    };
    json!({ "uid": actor, "name": actor_name(actor), "type_id": type_id, "type": type_name })
}

fn src_endpoint(entry: &Entry) -> Option<Value> {
    let (mut endpoint, port) = match source(entry)? {
        Source::Ip(ip, port) => (json!({ "ip": ip.to_string() }), port),
        Source::Host(host, port) if is_hostname(host) => (json!({ "hostname": host }), port),
        Source::Host(name, port) => (json!({ "name": name }), port),
    };
    if let Some(port) = port {
        endpoint["port"] = port.into();
    }
    Some(endpoint)
}

/// What the record acted on: the EHR event's entities, or our target (`key:phi`).
fn resources(entry: &Entry) -> Option<Value> {
    let from_event: Vec<Value> = entry
        .event
        .as_ref()
        .map(ehr_entities)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entity| {
            let reference = entity.get("reference")?.as_str()?;
            let kind = reference.split_once('/').map_or("", |(kind, _)| kind);
            Some(json!({ "uid": reference, "type": kind }))
        })
        .collect();
    if !from_event.is_empty() {
        return Some(Value::Array(from_event));
    }
    let target = entry.target.as_deref()?;
    let kind = target.split_once(':').map_or("", |(kind, _)| kind);
    Some(json!([{ "uid": target, "type": kind }]))
}

fn unmapped(rec: &TrailRecord) -> Value {
    let entry = &rec.entry;
    let mut unmapped = Map::new();
    unmapped.insert("v".into(), entry.v.into());
    if let Some(target) = &entry.target {
        unmapped.insert("target".into(), target.as_str().into());
    }
    if let Some(purpose) = &entry.purpose {
        unmapped.insert("purpose".into(), purpose.as_str().into());
    }
    unmapped.insert(
        "chain".into(),
        json!({ "hash": rec.hash, "prev_hash": rec.prev_hash }),
    );
    if !entry.details.is_empty() {
        unmapped.insert("details".into(), Value::Object(entry.details.clone()));
    }
    if !entry.hmac.is_empty() {
        unmapped.insert("hmac".into(), Value::Object(entry.hmac.clone()));
    }
    if let Some(event) = &entry.event {
        unmapped.insert("ehr".into(), ehr_summary(event));
    }
    Value::Object(unmapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, outcome: Outcome, reason: Option<&str>) -> Entry {
        Entry {
            v: 1,
            seq: 1,
            id: "01890a5d-ac96-774b-bcce-b302099a8057".into(),
            time: "not a time".into(),
            request_id: "r".into(),
            actor: "token:abc".into(),
            source: None,
            purpose: None,
            action: action.into(),
            target: None,
            outcome,
            reason: reason.map(Into::into),
            details: Map::new(),
            hmac: Map::new(),
            event: None,
        }
    }

    #[test]
    fn classifies_by_action_and_refusal() {
        let class = |action, outcome, reason| Class::of(&entry(action, outcome, reason));
        assert_eq!(
            class("auth.authenticate", Outcome::Denied, Some("token-missing")),
            Class::Authentication
        );
        assert_eq!(
            class("token.create", Outcome::Success, None),
            Class::Authentication
        );
        assert_eq!(
            class("sys.unseal", Outcome::Success, None),
            Class::Authentication
        );
        assert_eq!(
            class("key.encrypt", Outcome::Denied, Some("forbidden")),
            Class::Authentication
        );
        assert_eq!(
            class("key.encrypt", Outcome::Denied, Some("sealed")),
            Class::ApiActivity
        );
        assert_eq!(
            class("key.encrypt", Outcome::Success, None),
            Class::ApiActivity
        );
        assert_eq!(
            class("ehr.110114.110122", Outcome::Success, None),
            Class::Authentication
        );
        assert_eq!(
            class("ehr.rest.vread", Outcome::Success, None),
            Class::ApiActivity
        );
        assert_eq!(
            class("detect.snooping", Outcome::Success, None),
            Class::DetectionFinding
        );
        assert_eq!(
            class("ehr.110113", Outcome::Success, None),
            Class::DetectionFinding
        );
    }

    #[test]
    fn reads_sources() {
        let mut e = entry("x", Outcome::Success, None);
        let mut read = |s: &str| {
            e.source = Some(s.into());
            source(&e).map(|s| format!("{s:?}"))
        };
        assert_eq!(read("127.0.0.1:5555").unwrap(), "Ip(127.0.0.1, Some(5555))");
        assert_eq!(
            read("[::ffff:10.0.0.1]:1").unwrap(),
            "Ip(10.0.0.1, Some(1))"
        );
        assert_eq!(read("[::1]").unwrap(), "Ip(::1, None)");
        assert_eq!(
            read("ehr.example.org:443").unwrap(),
            "Host(\"ehr.example.org\", Some(443))"
        );
        assert_eq!(read("tel:+1 555").unwrap(), "Host(\"tel:+1 555\", None)");
        assert_eq!(read("  "), None);
    }

    #[test]
    fn time_falls_back_to_the_uuidv7_id() {
        let mut e = entry("x", Outcome::Success, None);
        assert_eq!(time_ms(&e), Some(0x0189_0a5d_ac96));
        e.time = "2026-12-04T19:00:00.123Z".into();
        assert_eq!(time_ms(&e), Some(1_796_410_800_123));
        e.id = "nope".into();
        e.time = "nope".into();
        assert_eq!(time_ms(&e), None);
    }
}
