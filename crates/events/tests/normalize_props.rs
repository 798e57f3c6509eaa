//! Properties of normalization: no input panics, in any format; dotted paths round trip.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use webqx_events::normalize::{Event, Format, Options, normalize_document, normalize_line};

const FORMATS: [Format; 7] = [
    Format::Auto,
    Format::Syslog,
    Format::AccessLog,
    Format::Ndjson,
    Format::FhirJson,
    Format::Json,
    Format::Raw,
];

/// Lines that start like real ones and continue with anything, so the parsers get past
/// their first checks.
fn line_like() -> impl Strategy<Value = Vec<u8>> {
    let prefixes = prop::sample::select(vec![
        "Dec 10 06:55:46 LabSZ sshd[24200]: ",
        "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for ",
        "Dec 10 06:55:46 LabSZ sshd[24200]: Received disconnect from ",
        "Dec 10 06:55:46 LabSZ sshd[24200]: message repeated 3 times: [ ",
        "Dec 10 06:55:46 h sudo: a : ",
        "<38>1 2019-07-08T17:40:16Z h sshd 1 - - ",
        "2015-04-16T18:02:50+00:00 h sshd[1]: pam_unix(sshd:auth): ",
        "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /",
        "\"1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"",
        "{\"resourceType\":\"AuditEvent\",",
        "{\"v\":1,\"seq\":1,",
        "",
    ]);
    (prefixes, prop::collection::vec(any::<u8>(), 0..200)).prop_map(|(p, tail)| {
        let mut line = p.as_bytes().to_vec();
        line.extend(tail);
        line
    })
}

proptest! {
    #[test]
    fn no_line_panics(line in line_like(), format in prop::sample::select(FORMATS.to_vec())) {
        let options = Options { year: 2026, max_line_len: 150, ..Options::default() };
        if let Ok(event) = normalize_line(&line, format, &options) {
            prop_assert!(event.has("event.original"));
            prop_assert!(event.has("event.dataset"));
        }
    }

    #[test]
    fn no_bytes_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let options = Options::default();
        for format in FORMATS {
            let _ = normalize_line(&bytes, format, &options);
        }
        let _ = normalize_document(&bytes, &options);
        let _ = Format::detect(&bytes);
    }

    #[test]
    fn dotted_set_then_get_round_trips(
        steps in prop::collection::vec("[a-z@_]{1,6}", 1..6),
        value in any::<i64>(),
        other in "[a-z]{1,6}",
    ) {
        let path = steps.join(".");
        let mut event = Event::new();
        event.set(&other, "kept");
        prop_assert!(event.set(&path, value));
        prop_assert_eq!(event.get(&path), Some(&json!(value)));
        // The nested value is where the JSON says it is.
        let whole = event.to_value();
        let mut at: &Value = &whole;
        for step in &steps {
            at = &at[step.as_str()];
        }
        prop_assert_eq!(at, &json!(value));
        if !path.starts_with(&other) && !other.starts_with(steps[0].as_str()) {
            prop_assert_eq!(event.get_str(&other), Some("kept"));
        }
        prop_assert_eq!(event.remove(&path), Some(json!(value)));
        prop_assert_eq!(event.get(&path), None);
    }
}

/// One change to an event, on paths over a small alphabet so that they meet.
#[derive(Debug, Clone)]
enum Change {
    Set(String, Value),
    Remove(String),
}

/// Few names, so that paths meet, or many (past the size from which an object indexes
/// its names).
fn names(wide: bool) -> Vec<String> {
    let n = if wide { 40 } else { 3 };
    (0..n)
        .map(|i| {
            char::from(b'a' + (i % 26) as u8)
                .to_string()
                .repeat(1 + i / 26)
        })
        .collect()
}

fn path_over(names: Vec<String>) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(names), 1..4).prop_map(|s| s.join("."))
}

fn path() -> impl Strategy<Value = String> {
    path_over(names(false))
}

fn change(wide: bool) -> impl Strategy<Value = Change> {
    let path = move || path_over(names(wide));
    let value = prop_oneof![
        any::<i8>().prop_map(|n| json!(n)),
        "[xy]{0,2}".prop_map(Value::String),
        prop::collection::vec(
            (prop::sample::select(vec!["a", "b", "c"]), any::<i8>()),
            0..3
        )
        .prop_map(|members| {
            Value::Object(
                members
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), json!(v)))
                    .collect(),
            )
        }),
    ];
    prop_oneof![
        3 => (path(), value).prop_map(|(p, v)| Change::Set(p, v)),
        1 => path().prop_map(Change::Remove),
    ]
}

/// The event as a `serde_json` object, changed the way `Event` documents: the model
/// the event is checked against (its JSON, member order included).
fn model_set(map: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            map.insert(path.to_owned(), value);
        }
        Some((name, tail)) => {
            if !map.get(name).is_some_and(Value::is_object) {
                map.insert(name.to_owned(), Value::Object(Map::new()));
            }
            if let Some(Value::Object(inner)) = map.get_mut(name) {
                model_set(inner, tail, value);
            }
        }
    }
}

fn model_remove(map: &mut Map<String, Value>, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => map.shift_remove(path),
        Some((name, tail)) => model_remove(map.get_mut(name)?.as_object_mut()?, tail),
    }
}

fn model_get<'a>(map: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        None => map.get(path),
        Some((name, tail)) => model_get(map.get(name)?.as_object()?, tail),
    }
}

proptest! {
    #[test]
    fn an_event_changes_as_its_json_would(
        wide in any::<bool>(),
        start in prop::collection::vec((path_over(names(true)), any::<i8>()), 0..60),
        changes in prop::collection::vec((change(false), change(true)), 0..40),
        probes in prop::collection::vec((path(), path_over(names(true))), 4),
    ) {
        let pick = |(narrow, wide_one): (String, String)| if wide { wide_one } else { narrow };
        let start: Vec<(String, i8)> = if wide { start } else { start.into_iter().take(2).collect() };
        let changes: Vec<Change> =
            changes.into_iter().map(|(n, w)| if wide { w } else { n }).collect();
        let probes: Vec<String> = probes.into_iter().map(pick).collect();
        // Generic JSON input: an object taken whole, flat dotted names included.
        let start: Map<String, Value> =
            start.into_iter().map(|(p, n)| (p, json!(n))).collect();
        let mut event = Event::from_map(start.clone());
        let mut model = start;
        for change in changes {
            match change {
                Change::Set(p, v) => {
                    prop_assert!(event.set(&p, v.clone()));
                    model_set(&mut model, &p, v);
                }
                Change::Remove(p) => {
                    prop_assert_eq!(event.remove(&p), model_remove(&mut model, &p));
                }
            }
            // Same JSON text: same members, in the same order, through serde and
            // through the hand-written writer.
            let text = serde_json::to_string(&model).unwrap();
            prop_assert_eq!(serde_json::to_string(&event).unwrap(), text.clone());
            prop_assert_eq!(event.to_json_text(), text);
            for p in &probes {
                let expected = model_get(&model, p);
                prop_assert_eq!(event.has(p), expected.is_some(), "{}", p);
                match expected {
                    // Objects made by `set` are read through their fields.
                    Some(Value::Object(_)) => {}
                    other => prop_assert_eq!(event.get(p), other, "{}", p),
                }
            }
        }
        prop_assert_eq!(event.clone().into_value(), Value::Object(model.clone()));
        prop_assert_eq!(serde_json::to_string(&event.to_value()).unwrap(),
            serde_json::to_string(&model).unwrap());
    }
}

/// A JSON document of many members at one level (generic JSON: each member is set by
/// name) keeps them all, in order. Found by comparison alone, 100,000 members took
/// minutes; the index makes it linear.
#[test]
fn a_wide_document_keeps_every_member() {
    let members: Vec<String> = (0..100_000)
        .map(|i| format!("\"k{i}\":{}", i % 10))
        .collect();
    let document = format!("{{{}}}", members.join(","));
    let events = normalize_document(document.as_bytes(), &Options::default()).expect("one object");
    let [event] = events.as_slice() else {
        panic!("one event, got {}", events.len());
    };
    assert_eq!(event.get("k99999"), Some(&json!(9)));
    assert_eq!(event.get_str("event.dataset"), Some("json"));
    let json = event.to_value();
    let names: Vec<&String> = json.as_object().expect("object").keys().collect();
    assert_eq!(names[0], "k0");
    assert_eq!(names[99_999], "k99999");
    let mut event = event.clone();
    assert_eq!(event.remove("k5"), Some(json!(5)));
    assert_eq!(
        event.get("k6"),
        Some(&json!(6)),
        "the index follows a removal"
    );
    assert_eq!(event.get("k5"), None);
}
