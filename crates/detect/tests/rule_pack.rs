//! The built-in pack in `rules/`: every file loads, every rule has an id, a
//! description, a level, MITRE and HIPAA tags and known false positives, and every
//! alerting rule has a positive and a negative case in `tests/rule_cases/`.

mod common;

use std::collections::BTreeSet;

use webqx_detect::{Context, Engine, Options, RuleSet};

#[test]
fn builtin_pack_loads_and_matches_the_rules_folder() {
    let builtin = RuleSet::builtin().expect("built-in pack parses");
    let from_dir = RuleSet::load_dir(&common::pack_dir()).expect("rules/ parses");
    assert_eq!(builtin.rule_count(), from_dir.rule_count());
    assert_eq!(builtin.correlation_count(), from_dir.correlation_count());
    assert!(builtin.rule_count() >= 20, "{} rules", builtin.rule_count());
    Engine::new(builtin, Context::new(), Options::default()).expect("pack compiles");
}

#[test]
fn every_rule_is_documented_and_tagged() {
    let set = RuleSet::builtin().expect("pack");
    let c = set.collection();
    let mut ids = BTreeSet::new();
    for r in &c.rules {
        let id = r.id.as_deref().expect("rule id");
        assert!(ids.insert(id.to_owned()), "duplicate id {id}");
        assert_eq!(id.len(), 36, "{id} is a UUID");
        assert!(
            r.description.as_deref().is_some_and(|d| d.len() > 20),
            "{}",
            r.title
        );
        assert!(r.level.is_some(), "{} has a level", r.title);
        assert!(
            !r.falsepositives.is_empty(),
            "{} lists false positives",
            r.title
        );
        assert!(
            r.tags.iter().any(|t| t.starts_with("attack.")),
            "{} MITRE",
            r.title
        );
    }
    for r in &c.correlations {
        let id = r.id.as_deref().expect("correlation id");
        assert!(ids.insert(id.to_owned()), "duplicate id {id}");
        assert!(
            r.description.as_deref().is_some_and(|d| d.len() > 20),
            "{}",
            r.title
        );
        assert!(
            !r.falsepositives.is_empty(),
            "{} lists false positives",
            r.title
        );
        assert!(
            r.tags.iter().any(|t| t.starts_with("attack.")),
            "{} MITRE",
            r.title
        );
    }
    // Alerting rules (not informational building blocks) carry HIPAA tags.
    for (title, level, tags) in c
        .rules
        .iter()
        .map(|r| (&r.title, r.level, &r.tags))
        .chain(c.correlations.iter().map(|r| (&r.title, r.level, &r.tags)))
    {
        if level != Some(rsigma_parser::Level::Informational) && !title.contains("Failures Before")
        {
            assert!(
                tags.iter().any(|t| t.starts_with("hipaa.")),
                "{title} has no HIPAA tag"
            );
        }
    }
}

/// Runs one rule-case file (format in docs/detection.md, "Testing a rule"):
/// `{"rule_id", "context"?, "positive": [scenario…], "negative": [scenario…]}`, where a
/// scenario is `{"name", "events": [{"event": {…}, "repeat"?: n, "step_seconds"?: s}]}`.
/// Each scenario runs on a fresh engine over the rule's folder in `rules/` (the rule
/// and the building blocks it counts, without compiling the whole pack each time);
/// events get
/// `@timestamp` from 2026-03-02T10:00:00Z plus the steps when they have none, and
/// `{n}` in any string becomes the repeat index. A positive scenario passes when the
/// rule fires at least once, a negative one when it never fires.
fn run_case_file(path: &std::path::Path) -> Vec<String> {
    use chrono::{DateTime, Duration, Utc};
    use serde_json::Value;

    fn substitute(value: &Value, n: usize) -> Value {
        match value {
            Value::String(s) => Value::String(s.replace("{n}", &n.to_string())),
            Value::Array(a) => Value::Array(a.iter().map(|v| substitute(v, n)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), substitute(v, n)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    let text = std::fs::read_to_string(path).expect("read case file");
    let case: Value = serde_json::from_str(&text).expect("case file is JSON");
    let rule_id = case["rule_id"].as_str().expect("rule_id").to_owned();
    let context = match case.get("context") {
        Some(c) => Context::from_json(&c.to_string()).expect("context"),
        None => Context::new(),
    };
    let mut failures = Vec::new();
    for (kind, want) in [("positive", true), ("negative", false)] {
        let scenarios = case[kind].as_array().cloned().unwrap_or_default();
        assert!(
            !scenarios.is_empty(),
            "{} has no {kind} scenario",
            path.display()
        );
        for scenario in scenarios {
            let mut engine =
                Engine::new(rules_with_id(&rule_id), context.clone(), Options::default())
                    .expect("rule compiles");
            let base: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().expect("time");
            let mut offset = 0i64;
            let mut fired = false;
            for step in scenario["events"].as_array().cloned().unwrap_or_default() {
                let repeat = step["repeat"].as_u64().unwrap_or(1) as usize;
                let seconds = step["step_seconds"].as_i64().unwrap_or(1);
                for n in 0..repeat {
                    let mut event = substitute(&step["event"], n);
                    if event.get("@timestamp").is_none() {
                        let at = base + Duration::seconds(offset);
                        event["@timestamp"] = at.to_rfc3339().into();
                    }
                    offset += seconds;
                    let outcome = engine.process(&mut event);
                    fired |= outcome.detections.iter().any(|d| d.rule_id == rule_id);
                }
            }
            if fired != want {
                failures.push(format!(
                    "{}: {kind} scenario {:?} {}",
                    path.display(),
                    scenario["name"],
                    if want { "did not fire" } else { "fired" }
                ));
            }
        }
    }
    failures
}

/// The rules of the folder under `rules/` whose file defines `id`.
pub fn rules_with_id(id: &str) -> RuleSet {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("rules dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&common::pack_dir(), &mut files);
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read rule");
        if text.contains(&format!("id: {id}")) {
            let folder = file.parent().expect("rule folder");
            return RuleSet::load_dir(folder).expect("rule folder parses");
        }
    }
    panic!("no rule file defines {id}");
}

#[test]
fn every_alerting_rule_has_positive_and_negative_cases() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rule_cases");
    let mut covered = BTreeSet::new();
    let mut failures = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/rule_cases")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let case: serde_json::Value = serde_json::from_str(&text).expect("json");
        covered.insert(case["rule_id"].as_str().expect("rule_id").to_owned());
        failures.extend(run_case_file(&file));
    }
    assert!(failures.is_empty(), "{failures:#?}");

    let set = RuleSet::builtin().expect("pack");
    let c = set.collection();
    let alerting: Vec<(String, String)> = c
        .rules
        .iter()
        // EHR rules are covered by the FHIR AuditEvent scenarios in ehr_privacy.rs.
        .filter(|r| r.logsource.product.as_deref() != Some("ehr"))
        .filter(|r| r.level != Some(rsigma_parser::Level::Informational))
        .map(|r| (r.id.clone().unwrap_or_default(), r.title.clone()))
        .chain(
            c.correlations
                .iter()
                .filter(|r| r.level != Some(rsigma_parser::Level::Low))
                .filter(|r| !r.title.starts_with("EHR"))
                .map(|r| (r.id.clone().unwrap_or_default(), r.title.clone())),
        )
        .collect();
    let missing: Vec<_> = alerting
        .iter()
        .filter(|(id, _)| !covered.contains(id))
        .collect();
    assert!(missing.is_empty(), "rules without cases: {missing:#?}");
}
