//! Real SigmaHQ rules (`../shared/data/sigma-rules/rules/{linux,web}`, Detection Rule
//! License 1.1): every file loads and compiles through our engine; for each rule a
//! positive event is generated from the rule's own detection values and must fire,
//! and an ordinary event of the same dataset must stay quiet.
//!
//! Generation, from the YAML: the identifiers the condition uses without `not` are
//! satisfied, the negated ones are left unsatisfied. For a field item the first value
//! is written into the mapped schema field (`contains` → `x<v>x`, `startswith` →
//! `<v>x`, `endswith` → `x<v>`, `*` wildcards dropped, `null` → field removed); for a
//! keyword list the first keyword is appended to the dataset's keyword field
//! (`message`, or `url.decoded` for web datasets). The event goes to the first dataset
//! whose log sources accept the rule (see `mapping::DATASETS`).

mod common;

use serde_json::{Map, Value, json};
use webqx_detect::mapping::{DATASETS, FIELD_MAP};
use webqx_detect::{Context, Engine, Options, RuleSet};
use yaml_serde::Value as Yaml;

/// Rules whose fields our schema does not fill (they load, but no parser produces the
/// field they test), with the reason.
const NOT_SERVED: &[(&str, &str)] = &[(
    "proxy_telegram_api.yml",
    "cs-host (the Host header) is not part of the access-log schema",
)];

fn files() -> Option<Vec<std::path::PathBuf>> {
    let root = common::shared_data("sigma-rules/rules")?;
    let mut out = Vec::new();
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "yml") {
                out.push(p);
            }
        }
    }
    walk(&root.join("linux"), &mut out);
    walk(&root.join("web"), &mut out);
    out.sort();
    Some(out)
}

fn set_path(event: &mut Value, path: &str, value: Value) {
    let mut current = event;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let map = current.as_object_mut().expect("object");
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        current = map
            .entry((*part).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

fn remove_path(event: &mut Value, path: &str) {
    let (parent, leaf) = path.rsplit_once('.').unwrap_or(("", path));
    let target = if parent.is_empty() {
        Some(event)
    } else {
        parent.split('.').try_fold(event, |v, p| v.get_mut(p))
    };
    if let Some(Value::Object(map)) = target {
        map.remove(leaf);
    }
}

fn get_str(event: &Value, path: &str) -> String {
    path.split('.')
        .try_fold(event, |v, p| v.get(p))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn schema_field(sigma: &str) -> String {
    FIELD_MAP
        .iter()
        .find(|(from, _)| *from == sigma)
        .and_then(|(_, to)| to.first())
        .map_or_else(|| sigma.to_owned(), |s| (*s).to_owned())
}

fn base_event(dataset: &str) -> Value {
    if dataset.ends_with(".access") {
        json!({"@timestamp": "2026-03-02T10:00:00Z",
            "event": {"dataset": dataset, "category": "web", "action": "http_request"},
            "source": {"ip": "198.51.100.20"},
            "http": {"request": {"method": "GET", "referrer": "https://example.org/"},
                     "response": {"status_code": 200}},
            "url": {"original": "/index.html", "path": "/index.html", "decoded": "/index.html"},
            "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}})
    } else {
        json!({"@timestamp": "2026-03-02T10:00:00Z",
            "event": {"dataset": dataset}, "host": {"name": "web01"},
            "message": "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)"})
    }
}

fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.replace(['*', '?'], "")),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn first(y: &Yaml) -> &Yaml {
    match y {
        Yaml::Sequence(s) => s.first().unwrap_or(y),
        _ => y,
    }
}

fn apply_detection(event: &mut Value, dataset: &str, detection: &Yaml) {
    let keyword_field = if dataset.ends_with(".access") {
        "url.decoded"
    } else {
        "message"
    };
    match detection {
        Yaml::Sequence(items) if items.iter().all(|i| !matches!(i, Yaml::Mapping(_))) => {
            let keyword = items.first().and_then(text).unwrap_or_default();
            let old = get_str(event, keyword_field);
            set_path(event, keyword_field, format!("{old} {keyword} ").into());
        }
        Yaml::Sequence(items) => {
            if let Some(m) = items.first() {
                apply_detection(event, dataset, m);
            }
        }
        Yaml::Mapping(map) => {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                let mut parts = key.split('|');
                let field = schema_field(parts.next().unwrap_or_default());
                let mods: Vec<&str> = parts.collect();
                let value = first(value);
                if value.is_null() {
                    remove_path(event, &field);
                    continue;
                }
                if let Yaml::Number(n) = value {
                    let n: i64 = n.as_i64().unwrap_or_default();
                    set_path(event, &field, n.into());
                    continue;
                }
                let v = text(value).unwrap_or_default();
                let old = get_str(event, &field);
                let fresh = !old.is_empty()
                    && mods
                        .iter()
                        .any(|m| ["contains", "endswith", "startswith"].contains(m));
                let new = if mods.contains(&"contains") {
                    if fresh {
                        format!("{old}{v}x")
                    } else {
                        format!("x{v}x")
                    }
                } else if mods.contains(&"startswith") {
                    if fresh {
                        format!("{v}{old}")
                    } else {
                        format!("{v}x")
                    }
                } else if mods.contains(&"endswith") {
                    if fresh {
                        format!("{old}{v}")
                    } else {
                        format!("x{v}")
                    }
                } else {
                    v
                };
                set_path(event, &field, new.into());
            }
        }
        _ => {}
    }
}

/// Identifiers in the condition, split into required and negated (glob patterns).
fn condition_names(condition: &str) -> (Vec<String>, Vec<String>) {
    let (mut wanted, mut negated) = (Vec::new(), Vec::new());
    let mut negate = false;
    for token in condition.split(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        match token {
            "" | "and" | "or" | "of" | "1" | "all" | "them" => {}
            "not" => negate = true,
            name => {
                if negate {
                    negated.push(name.to_owned())
                } else {
                    wanted.push(name.to_owned())
                }
                negate = false;
            }
        }
    }
    (wanted, negated)
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

#[test]
fn sigmahq_linux_and_web_rules_load_fire_and_stay_quiet() {
    let Some(files) = files() else { return };
    assert_eq!(
        files.len(),
        32,
        "the shared data holds 32 linux and web rules"
    );
    let mut failures = Vec::new();
    let (mut served, mut positives) = (0, 0);
    for file in &files {
        let name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let yaml = std::fs::read_to_string(file).expect("read");
        let mut set = RuleSet::new();
        if let Err(e) = set.add_yaml(&name, &yaml) {
            failures.push(format!("{name}: does not load: {e}"));
            continue;
        }
        let rule = set.collection().rules.first().expect("one rule").clone();
        let Some(spec) = DATASETS.iter().find(|d| d.accepts(&rule.logsource)) else {
            failures.push(format!("{name}: no dataset accepts {:?}", rule.logsource));
            continue;
        };
        let mut engine = Engine::new(set, Context::new(), Options::default()).expect("compiles");
        if NOT_SERVED.iter().any(|(f, _)| *f == name) {
            continue;
        }
        served += 1;

        let doc: Yaml = yaml_serde::from_str(&yaml).expect("yaml");
        let detection = doc.get("detection").expect("detection");
        let condition = detection
            .get("condition")
            .and_then(|c| c.as_str())
            .unwrap_or("");
        let (wanted, negated) = condition_names(condition);
        let mut positive = base_event(spec.dataset);
        if let Yaml::Mapping(map) = detection {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default();
                if key == "condition" || negated.iter().any(|p| glob(p, key)) {
                    continue;
                }
                if wanted.iter().any(|p| glob(p, key)) {
                    apply_detection(&mut positive, spec.dataset, value);
                }
            }
        }
        let fired = !engine.process(&mut positive).detections.is_empty();
        positives += usize::from(fired);
        if !fired {
            failures.push(format!("{name}: crafted positive did not fire: {positive}"));
        }
        let mut negative = base_event(spec.dataset);
        if !engine.process(&mut negative).detections.is_empty() {
            failures.push(format!("{name}: ordinary {} event fired", spec.dataset));
        }
    }
    println!(
        "SigmaHQ linux+web: {} files load, {served} served, {positives} positives fire",
        files.len()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
