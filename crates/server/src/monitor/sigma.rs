//! The real detector (`[monitor] detector = "sigma"`, the default): the detect crate's
//! Sigma engine with the built-in rule pack and/or a site's rules and filters, and the
//! EHR context stored with `PUT /v1/monitor/context/{kind}`.
//!
//! Rules: the built-in pack (`builtin_rules = true`, the default) plus every Sigma
//! document under `rules_dir` (rules and correlations; filters allowed too), plus the
//! filters under `filters_dir` (only Sigma filter documents: a detection rule there is a
//! mistake and refused). A file that does not load refuses start-up, naming the file and
//! the reason; `config check` reports the same.
//!
//! Findings: a [`webqx_detect::Detection`] becomes a [`Finding`] with the rule's id,
//! title and level, its tags (and, for a MITRE sub-technique such as `attack.t1110.001`,
//! also its technique `attack.t1110`, so that one filter finds both), the group key as
//! the grouped values (`183.62.140.253`, not `source.ip=183.62.140.253`; several are
//! joined with `,`), the newest event's time, and the triggering events.
//!
//! Context: each kind's document is one of: an array of entries (`[{"id": …}, …]`), an
//! object holding the kind's array (`{"users": […], "working_hours": {…}}`), or, for
//! `users` and `patients`, an object keyed by id (`{"u1": {"name": …}}`). The fields
//! of entries are those of docs/detection.md. All three documents form one context;
//! `working_hours` is taken from whichever document gives it (users, then patients,
//! then care).

use super::{Detector, Finding, Severity};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use webqx_detect::{Context, Detection, Engine, Level, Options, RuleSet};

/// Where the rules come from.
#[derive(Debug, Clone, Default)]
pub struct RuleSource<'a> {
    /// Load the built-in pack.
    pub builtin: bool,
    /// A site's rules (and correlations, filters).
    pub rules_dir: Option<&'a Path>,
    /// A site's filters only.
    pub filters_dir: Option<&'a Path>,
}

/// Loads the rules and compiles the engine. The error names the file (or dataset) and
/// the reason, and says what to do.
///
/// # Errors
/// The detect crate's load or compile error as text, or a detection rule found in
/// `filters_dir`.
pub fn load(source: &RuleSource<'_>) -> Result<Engine, String> {
    let mut rules = if source.builtin {
        RuleSet::builtin().map_err(|e| e.to_string())?
    } else {
        RuleSet::new()
    };
    if let Some(dir) = source.rules_dir {
        rules.extend(RuleSet::load_dir(dir).map_err(|e| e.to_string())?);
    }
    if let Some(dir) = source.filters_dir {
        let filters = RuleSet::load_dir(dir).map_err(|e| e.to_string())?;
        if filters.rule_count() + filters.correlation_count() > 0 {
            return Err(format!(
                "{} holds detection or correlation rules, not only filters; move them to \
                 rules_dir",
                dir.display()
            ));
        }
        rules.extend(filters);
    }
    if rules.rule_count() == 0 {
        return Err(
            "no detection rules: builtin_rules is false and rules_dir holds none; \
             set rules_dir or builtin_rules = true"
                .into(),
        );
    }
    let engine = Engine::new(rules, Context::new(), engine_options()).map_err(|e| e.to_string())?;
    // A rule must not take a component's id either: its alerts and suppressions would
    // be confused with the component's.
    let mut all = engine.catalog().to_vec();
    all.extend(super::component_rules());
    webqx_detect::check_unique_ids(&all)?;
    Ok(engine)
}

/// The engine's options in the server: every correlation firing past its threshold is
/// reported (no re-alert hold-back), and the alert store groups them into one alert
/// (`[monitor] group_window`), whose `count` grows.
fn engine_options() -> Options {
    Options {
        realert_secs: None,
        ..Options::default()
    }
}

/// The Sigma detector.
pub struct SigmaDetector {
    engine: Engine,
    documents: BTreeMap<String, Value>,
}

impl SigmaDetector {
    /// A detector over a loaded engine (see [`load`]).
    pub fn new(engine: Engine) -> SigmaDetector {
        SigmaDetector {
            engine,
            documents: BTreeMap::new(),
        }
    }
}

impl Detector for SigmaDetector {
    fn process(&mut self, event: &mut Value) -> Vec<Finding> {
        let outcome = self.engine.process(event);
        outcome.detections.into_iter().map(finding).collect()
    }

    fn catalog(&self) -> Vec<webqx_detect::RuleInfo> {
        self.engine.catalog().to_vec()
    }

    fn set_context(&mut self, kind: &str, document: &Value) {
        if !super::alerts::CONTEXT_KINDS.contains(&kind) {
            return;
        }
        let mut documents = self.documents.clone();
        documents.insert(kind.to_owned(), document.clone());
        match context(&documents) {
            Ok(ctx) => {
                self.engine.set_context(ctx);
                self.documents = documents;
            }
            Err(e) => {
                // Checked when stored; a document stored by an older version may fail.
                tracing::warn!(kind, error = %e, "monitoring context not applied");
            }
        }
    }

    fn take_state(&mut self) -> Option<Value> {
        self.engine
            .take_baseline_state()
            .map(|baseline| json!({"baseline": baseline}))
    }

    fn restore_state(&mut self, state: &Value) {
        let users = state
            .get("baseline")
            .map_or(0, |b| self.engine.restore_baseline(b));
        tracing::info!(users, "EHR volume baseline restored");
    }
}

/// Checks that `document` is a context document of `kind` the engine accepts.
///
/// # Errors
/// What is wrong with it (position and expectation, never values).
pub fn check_context(kind: &str, document: &Value) -> Result<(), String> {
    let mut documents = BTreeMap::new();
    documents.insert(kind.to_owned(), document.clone());
    context(&documents).map(|_| ())
}

/// The kind's entries and the working hours it gives, from one document.
fn entries(kind: &str, document: &Value) -> Result<(Value, Option<Value>), String> {
    match document {
        Value::Array(items) => Ok((Value::Array(items.clone()), None)),
        Value::Object(map) if map.contains_key(kind) || map.contains_key("working_hours") => {
            let list = map.get(kind).cloned().unwrap_or_else(|| json!([]));
            if !list.is_array() {
                return Err(format!("\"{kind}\" must be an array of entries"));
            }
            Ok((list, map.get("working_hours").cloned()))
        }
        Value::Object(map) if kind != "care" => {
            let mut list = Vec::with_capacity(map.len());
            for (id, entry) in map {
                let Value::Object(fields) = entry else {
                    return Err(format!(
                        "a {kind} document keyed by id must map each id to an object"
                    ));
                };
                let mut fields: Map<String, Value> = fields.clone();
                fields.insert("id".into(), Value::String(id.clone()));
                list.push(Value::Object(fields));
            }
            Ok((Value::Array(list), None))
        }
        _ => Err(format!(
            "a {kind} document must be an array of entries or an object with a \"{kind}\" array"
        )),
    }
}

/// One context from the stored documents.
fn context(documents: &BTreeMap<String, Value>) -> Result<Context, String> {
    let mut file = Map::new();
    let mut hours = None;
    for kind in ["care", "patients", "users"] {
        if let Some(doc) = documents.get(kind) {
            let (list, given) = entries(kind, doc)?;
            file.insert(kind.to_owned(), list);
            hours = given.or(hours);
        }
    }
    if let Some(h) = hours {
        file.insert("working_hours".into(), h);
    }
    Context::from_json(&Value::Object(file).to_string()).map_err(|e| e.to_string())
}

fn severity(level: Level) -> Severity {
    match level {
        Level::Informational => Severity::Informational,
        Level::Low => Severity::Low,
        Level::Medium => Severity::Medium,
        Level::High => Severity::High,
        Level::Critical => Severity::Critical,
        _ => Severity::Medium,
    }
}

/// The rule's tags, with the technique of each MITRE sub-technique added.
fn tags(detection: &Detection) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(detection.tags.len() + 2);
    for tag in &detection.tags {
        let lower = tag.to_ascii_lowercase();
        if !out.contains(&lower) {
            out.push(lower.clone());
        }
        if let Some(rest) = lower.strip_prefix("attack.t")
            && let Some((technique, sub)) = rest.split_once('.')
            && !technique.is_empty()
            && technique.bytes().all(|b| b.is_ascii_digit())
            && sub.bytes().all(|b| b.is_ascii_digit())
        {
            let parent = format!("attack.t{technique}");
            if !out.contains(&parent) {
                out.push(parent);
            }
        }
    }
    out
}

/// A detection as the pipeline's finding.
pub fn finding(detection: Detection) -> Finding {
    Finding {
        rule_id: detection.rule_id.clone(),
        title: detection.title.clone(),
        level: severity(detection.level),
        tags: tags(&detection),
        group_key: detection.group_values(),
        timestamp_ms: detection.timestamp.timestamp_millis(),
        events: detection.events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin() -> SigmaDetector {
        SigmaDetector::new(
            load(&RuleSource {
                builtin: true,
                ..RuleSource::default()
            })
            .unwrap(),
        )
    }

    fn failed(ip: &str, second: u32) -> Value {
        json!({"@timestamp": format!("2026-12-10T10:54:{second:02}Z"),
               "event": {"dataset": "sshd", "action": "ssh_failed_password",
                         "outcome": "failure", "category": ["authentication"]},
               "source": {"ip": ip}, "user": {"name": "root"},
               "process": {"name": "sshd"}})
    }

    #[test]
    fn brute_force_becomes_a_finding_keyed_by_address_with_the_technique_tag() {
        let mut d = builtin();
        let mut all = Vec::new();
        for i in 0..12 {
            all.extend(d.process(&mut failed("183.62.140.253", i)));
        }
        let brute: Vec<_> = all
            .iter()
            .filter(|f| f.title.contains("Brute Force"))
            .collect();
        assert!(brute.len() >= 2, "{all:#?}");
        let f = brute[0];
        assert_eq!(f.group_key, "183.62.140.253");
        assert_eq!(f.level, Severity::High);
        assert!(f.tags.iter().any(|t| t == "attack.t1110.001"));
        assert!(f.tags.iter().any(|t| t == "attack.t1110"));
        assert!(f.tags.iter().any(|t| t.starts_with("hipaa.")));
        assert!(!f.events.is_empty());
    }

    /// A break-glass read as the EHR writes it, normalized like the trail's events.
    fn break_glass(id: &str, reason: Option<&str>) -> Value {
        let mut purpose = json!({"coding": [{"system":
            "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "BTG"}]});
        if let Some(r) = reason {
            purpose["text"] = json!(r);
        }
        let audit = json!({"resourceType": "AuditEvent", "id": id, "action": "R",
            "recorded": "2026-12-07T10:00:00Z", "outcome": "0",
            "type": {"code": "rest"}, "subtype": [{"code": "read"}],
            "purposeOfEvent": [purpose],
            "agent": [{"who": {"reference": "Practitioner/7"}, "requestor": true}],
            "entity": [{"what": {"reference": "Patient/42"}}]});
        let trail: webqx_audit::Entry = serde_json::from_value(json!({
            "v": 1, "seq": 1, "id": id, "time": "2026-12-07T10:00:01Z", "request_id": "r",
            "actor": "token:ehr", "action": "audit.event", "outcome": "success",
            "event": audit}))
        .unwrap();
        super::super::event::from_trail(&trail, &[]).unwrap()
    }

    #[test]
    fn break_glass_alerts_only_without_a_reason() {
        const RULE: &str = "ea0d509a-0f28-4829-a758-ed2349e0c0e5";
        let mut d = builtin();
        let mut without = break_glass("b1", None);
        assert_eq!(without["event"]["dataset"], "fhir.auditevent");
        let f = d.process(&mut without);
        assert!(f.iter().any(|f| f.rule_id == RULE), "{f:#?}");
        let mut blank = break_glass("b2", Some("   "));
        assert!(d.process(&mut blank).iter().any(|f| f.rule_id == RULE));
        let mut with = break_glass("b3", Some("patient unconscious in ED"));
        assert_eq!(
            with["ehr"]["break_glass_reason"],
            "patient unconscious in ED"
        );
        let f = d.process(&mut with);
        assert!(!f.iter().any(|f| f.rule_id == RULE), "{f:#?}");
    }

    #[test]
    fn context_documents_in_each_accepted_shape() {
        for (kind, doc) in [
            ("users", json!([{"id": "u1", "name": "Ann"}])),
            (
                "users",
                json!({"users": [{"id": "u1"}], "working_hours": {"start_hour": 8}}),
            ),
            ("users", json!({"u1": {"name": "Ann", "status": "active"}})),
            ("patients", json!([{"id": "p1", "flags": ["vip"]}])),
            ("care", json!([{"user_id": "u1", "patient_id": "p1"}])),
        ] {
            assert!(check_context(kind, &doc).is_ok(), "{kind} {doc}");
        }
        for (kind, doc) in [
            ("patients", json!([{"id": "p1", "flags": ["famous"]}])),
            ("users", json!([{"name": "no id"}])),
            ("care", json!({"u1": {"patient_id": "p1"}})),
            ("users", json!({"users": "x"})),
            ("users", json!({"u1": 3})),
        ] {
            let e = check_context(kind, &doc).unwrap_err();
            assert!(!e.contains("famous"), "values stay out of errors: {e}");
        }
    }

    #[test]
    fn rule_and_filter_folders_load_or_name_the_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules");
        let filters = dir.path().join("filters");
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::create_dir_all(&filters).unwrap();
        std::fs::write(
            rules.join("site.yml"),
            "title: Site rule\nid: 5c1c3f8e-0000-4000-8000-000000000001\nlogsource:\n  \
             product: linux\n  service: sshd\ndetection:\n  sel:\n    user.name: backdoor\n  \
             condition: sel\nlevel: critical\n",
        )
        .unwrap();
        let only_site = RuleSource {
            builtin: false,
            rules_dir: Some(&rules),
            filters_dir: None,
        };
        let mut d = SigmaDetector::new(load(&only_site).unwrap());
        let mut e = failed("10.0.0.1", 1);
        e["user"]["name"] = json!("backdoor");
        let f = d.process(&mut e);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].level, Severity::Critical);
        assert_eq!(f[0].group_key, "10.0.0.1");

        std::fs::write(rules.join("bad.yml"), "title: [unclosed\n").unwrap();
        let err = load(&only_site).err().unwrap();
        assert!(err.contains("bad.yml"), "{err}");

        std::fs::remove_file(rules.join("bad.yml")).unwrap();
        std::fs::copy(rules.join("site.yml"), filters.join("oops.yml")).unwrap();
        let err = load(&RuleSource {
            builtin: true,
            rules_dir: None,
            filters_dir: Some(&filters),
        })
        .err()
        .unwrap();
        assert!(err.contains("not only filters"), "{err}");
        let none = RuleSource::default();
        assert!(load(&none).err().unwrap().contains("no detection rules"));
    }
}
