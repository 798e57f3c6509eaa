//! FHIR R4 AuditEvent intake: validation of the HL7 examples and of hostile items,
//! request bodies split into items, and our own trail records rendered as AuditEvents
//! that pass the same validation.

use serde_json::{Map, Value, json};
use webqx_audit::render::fhir;
use webqx_audit::{Entry, Outcome, TrailRecord};
use webqx_events::auditevent::{Summary, split, validate};

const EXAMPLES: [&str; 4] = [
    "fhir-audit/LinuxForHealth-FHIR_audit-event-example-login.json",
    "fhir-audit/LinuxForHealth-FHIR_audit-event-example-search.json",
    "fhir-audit/LinuxForHealth-FHIR_audit-event-example-vread.json",
    "fhir-audit/LinuxForHealth-FHIR_auditevent-example-error.json",
];

fn example(i: usize) -> Option<Value> {
    webqx_testkit::shared_json(EXAMPLES[i])
}

/// A small valid event to break in the hostile tests.
fn minimal() -> Value {
    json!({
        "resourceType": "AuditEvent",
        "type": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110110"},
        "action": "R",
        "recorded": "2024-05-01T12:30:00Z",
        "outcome": "0",
        "agent": [{"who": {"reference": "Practitioner/7"}, "requestor": true}],
        "source": {"observer": {"display": "ehr"}},
    })
}

fn problems(event: &Value) -> Vec<String> {
    match validate(event) {
        Ok(summary) => panic!("expected problems, got {summary:?}"),
        Err(invalid) => invalid.problems,
    }
}

fn has(problems: &[String], expected: &str) -> bool {
    problems.iter().any(|p| p == expected)
}

#[test]
fn hl7_login_example_summary() {
    let Some(event) = example(0) else { return };
    assert_eq!(
        validate(&event).unwrap(),
        Summary {
            action: "ehr.110114.110122".into(),
            actor: "ehr:95".into(),
            source: Some("127.0.0.1".into()),
            outcome: Outcome::Success,
            reason: None,
            target: None,
            patients: vec![],
            purpose: None,
            recorded: "2013-06-20T23:41:23Z".into(),
        }
    );
}

#[test]
fn hl7_search_example_summary() {
    let Some(event) = example(1) else { return };
    assert_eq!(
        validate(&event).unwrap(),
        Summary {
            action: "ehr.rest.search".into(),
            actor: "ehr:95".into(),
            source: None,
            outcome: Outcome::Success,
            reason: None,
            target: None,
            patients: vec![],
            purpose: None,
            recorded: "2015-08-22T23:42:24Z".into(),
        }
    );
}

#[test]
fn hl7_vread_example_is_a_patient_record_access() {
    let Some(event) = example(2) else { return };
    assert_eq!(
        validate(&event).unwrap(),
        Summary {
            action: "ehr.rest.vread".into(),
            actor: "ehr:95".into(),
            source: None,
            outcome: Outcome::Success,
            reason: None,
            target: Some("Patient/example/_history/1".into()),
            patients: vec!["Patient/example/_history/1".into()],
            purpose: None,
            recorded: "2013-06-20T23:42:24Z".into(),
        }
    );
}

#[test]
fn hl7_error_example_is_a_failure_without_its_description() {
    let Some(event) = example(3) else { return };
    let summary = validate(&event).unwrap();
    assert_eq!(
        summary,
        Summary {
            action: "ehr.rest.create".into(),
            actor: "ehr:95".into(),
            source: None,
            outcome: Outcome::Failure,
            reason: Some("outcome_8_serious_failure".into()),
            // The first entity names nothing; the second is the contained outcome.
            target: None,
            patients: vec![],
            purpose: None,
            recorded: "2017-09-07T23:42:24Z".into(),
        }
    );
}

#[test]
fn summary_details_requestor_purpose_and_patients() {
    let mut event = minimal();
    event["agent"] = json!([
        {"who": {"reference": "Patient/p1"}, "requestor": false},
        {"altId": "alt-9", "requestor": true, "network": {"address": "10.0.0.9", "type": "2"}},
    ]);
    event["entity"] = json!([
        {"what": {"reference": "Patient/p2"}},
        {"what": {"reference": "Patient/p1"}},
        {"what": {"reference": "Observation/o1"}},
    ]);
    event["purposeOfEvent"] = json!([
        {"text": "treatment"},
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"}]},
    ]);
    event["outcome"] = json!("12");
    event["subtype"] =
        json!([{"system": "http://hl7.org/fhir/restful-interaction", "code": "read"}]);
    let summary = validate(&event).unwrap();
    assert_eq!(summary.action, "ehr.110110.read");
    assert_eq!(summary.actor, "ehr:alt-9");
    assert_eq!(summary.source.as_deref(), Some("10.0.0.9"));
    assert_eq!(summary.target.as_deref(), Some("Patient/p2"));
    assert_eq!(summary.patients, ["Patient/p2", "Patient/p1"]);
    assert_eq!(summary.purpose.as_deref(), Some("TREAT"));
    assert_eq!(summary.outcome, Outcome::Failure);
    assert_eq!(summary.reason.as_deref(), Some("outcome_12_major_failure"));
}

#[test]
fn missing_required_elements_are_each_named() {
    let p = problems(&json!({}));
    for expected in [
        "resourceType is required",
        "type is required",
        "recorded is required",
        "agent is required",
        "source is required",
    ] {
        assert!(has(&p, expected), "{expected} in {p:?}");
    }
    let mut event = minimal();
    event["agent"] = json!([{"who": {"reference": "Practitioner/7"}}]);
    event["source"] = json!({"site": "x"});
    event["type"] = json!({"system": "urn:x"});
    let p = problems(&event);
    assert_eq!(
        p,
        [
            "type.code is required",
            "agent[0].requestor is required",
            "source.observer is required"
        ]
    );
}

#[test]
fn wrong_types_are_named_without_values() {
    let mut event = minimal();
    event["agent"][0]["requestor"] = json!("Peter CHALMERS");
    event["agent"][0]["name"] = json!(42);
    event["recorded"] = json!(20240501);
    event["subtype"] = json!({"code": "read"});
    event["source"]["observer"] = json!("Peter CHALMERS");
    event["entity"] = json!([{"what": {"reference": ["Peter CHALMERS"]}}]);
    let p = problems(&event);
    assert_eq!(
        p,
        [
            "subtype must be a JSON array",
            "recorded must be a JSON string",
            "agent[0].requestor must be a JSON boolean (true or false)",
            "agent[0].name must be a JSON string",
            "source.observer must be a JSON object",
            "entity[0].what.reference must be a JSON string",
        ]
    );
    assert!(p.iter().all(|m| !m.contains("CHALMERS")));
    assert_eq!(problems(&json!([1]))[0], "AuditEvent must be a JSON object");
    assert_eq!(
        problems(&json!("AuditEvent"))[0],
        "AuditEvent must be a JSON object"
    );
}

#[test]
fn unknown_codes_in_known_systems_are_refused() {
    let mut event = minimal();
    event["type"]["code"] = json!("110199");
    event["action"] = json!("X");
    event["outcome"] = json!("3");
    event["subtype"] =
        json!([{"system": "http://hl7.org/fhir/restful-interaction", "code": "frobnicate"}]);
    event["agent"][0]["network"] = json!({"address": "h", "type": "9"});
    event["source"]["type"] = json!([{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "10"}]);
    event["entity"] = json!([{
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "5"},
        "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "25"},
        "lifecycle": {"system": "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle", "code": "16"},
    }]);
    let p = problems(&event);
    let expected = [
        r#"type.code is not one of the DICOM audit event ID codes (110100, 110101, 110102, 110103, 110104, 110105, 110106, 110107, 110108, 110109, 110110, 110111, 110112, 110113, 110114); the value is not repeated here"#,
        r#"subtype[0].code is not one of the RESTful interaction codes (read, vread, update, patch, delete, history, history-instance, history-type, history-system, create, search, search-type, search-system, capabilities, transaction, batch, operation); the value is not repeated here"#,
        r#"action is not one of the audit event action codes (C, R, U, D, E); the value is not repeated here"#,
        r#"outcome is not one of the audit event outcome codes (0, 4, 8, 12); the value is not repeated here"#,
        r#"agent[0].network.type is not one of the network type codes (1, 2, 3, 4, 5); the value is not repeated here"#,
        r#"source.type[0].code is not one of the audit source type codes (1, 2, 3, 4, 5, 6, 7, 8, 9); the value is not repeated here"#,
        r#"entity[0].type.code is not one of the audit entity type codes (1, 2, 3, 4); the value is not repeated here"#,
        r#"entity[0].role.code is not one of the object role codes (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24); the value is not repeated here"#,
        r#"entity[0].lifecycle.code is not one of the data life cycle codes (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); the value is not repeated here"#,
    ];
    assert_eq!(p, expected);
}

#[test]
fn unknown_systems_are_accepted() {
    let mut event = minimal();
    event["type"] = json!({"system": "urn:example:types", "code": "anything-goes"});
    event["subtype"] =
        json!([{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "110122"}]);
    event["entity"] = json!([{
        "type": {"system": "http://hl7.org/fhir/resource-types", "code": "Patient"},
        "role": {"code": "99"},
    }]);
    assert_eq!(validate(&event).unwrap().action, "ehr.anything-goes.110122");
    event["type"] = json!({"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "hl7-v2"});
    assert_eq!(validate(&event).unwrap().action, "ehr.hl7-v2.110122");
}

#[test]
fn instants_need_seconds_and_a_zone() {
    for bad in [
        "2024-05-01",
        "2024-05-01T12:30Z",
        "2024-05-01T12:30:00",
        "2024-02-30T00:00:00Z",
    ] {
        let mut event = minimal();
        event["recorded"] = json!(bad);
        assert_eq!(
            problems(&event),
            [
                "recorded is not a FHIR instant: give date, time with seconds, and time zone \
              (2024-05-01T12:30:00Z)"
            ],
            "{bad}"
        );
    }
    let mut event = minimal();
    event["recorded"] = json!("2024-05-01T12:30:00.123456+05:30");
    assert!(validate(&event).is_ok());
}

#[test]
fn structure_problems() {
    let mut event = minimal();
    event["agent"] = json!([]);
    event["patientName"] = json!("x");
    event["modifierExtension"] = json!([{"url": "urn:x", "valueBoolean": true}]);
    event["entity"] = json!([
        {"name": "n", "query": "cXVlcnk="},
        {"query": "not base64!"},
        {"detail": [{"type": "t"}, {"type": "t", "valueString": "a", "valueBase64Binary": "YQ=="}]},
        {"what": {}},
        {"description": null},
    ]);
    let p = problems(&event);
    assert_eq!(
        p,
        [
            r#"AuditEvent has an unknown element "patientName""#,
            "modifierExtension is not accepted: no modifier extension is understood here",
            "agent must not be an empty array (leave it out)",
            "entity[0] has both name and query (constraint sev-1): give one",
            "entity[1].query is not valid base64",
            "entity[2].detail[0].value[x] is required (valueString or valueBase64Binary)",
            "entity[2].detail[1] has two values: give valueString or valueBase64Binary",
            "entity[3].what must have a reference, an identifier with a value, or a display",
            "entity[4].description must not be null (leave it out)",
        ]
    );
}

#[test]
fn an_actor_must_be_identifiable() {
    let mut event = minimal();
    event["agent"] = json!([{"requestor": true, "type": {"text": "someone"}}]);
    assert_eq!(
        problems(&event),
        [
            "agent[0] (the requestor) identifies no actor: give who.identifier.value, \
          who.reference, altId or name"
        ]
    );
}

#[test]
fn huge_strings_are_refused_without_echo() {
    let mut event = minimal();
    let huge = "Z".repeat(100_000);
    event["outcomeDesc"] = json!(huge);
    event["agent"][0]["name"] = json!("");
    event["agent"][0]["altId"] = json!("bad\u{0}char");
    let p = problems(&event);
    assert_eq!(
        p,
        [
            "outcomeDesc is longer than 65536 bytes",
            "agent[0].altId holds control characters",
            "agent[0].name must not be empty (leave it out)",
        ]
    );
}

#[test]
fn deep_nesting_and_many_problems_are_bounded() {
    let mut deep = json!("leaf");
    for _ in 0..200 {
        deep = json!({"extension": [deep]});
    }
    let mut event = minimal();
    event["extension"] = json!([{"url": "urn:x", "extension": [deep]}]);
    assert_eq!(
        problems(&event),
        ["AuditEvent nests objects and arrays deeper than 64 levels"]
    );

    let mut event = minimal();
    event["agent"] = Value::Array((0..500).map(|_| json!({"requestor": "no"})).collect());
    let p = problems(&event);
    assert_eq!(p.len(), 51);
    assert_eq!(p[50], "... and 450 more problems");

    let mut event = minimal();
    event["agent"] = Value::Array((0..1001).map(|_| json!({"requestor": true})).collect());
    assert_eq!(problems(&event), ["agent has more than 1000 items"]);
}

// ---- split ----

fn ok_items(items: &[Result<Value, webqx_events::auditevent::Invalid>]) -> usize {
    items.iter().filter(|i| i.is_ok()).count()
}

#[test]
fn split_single_resource_and_bundle() {
    let one = minimal().to_string();
    let items = split("application/fhir+json; charset=UTF-8", one.as_bytes()).unwrap();
    assert_eq!(items, vec![Ok(minimal())]);

    let bundle = json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": minimal()}, {"fullUrl": "urn:x"}, {"resource": [1]}, 7],
    });
    let items = split("Application/JSON", bundle.to_string().as_bytes()).unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0], Ok(minimal()));
    assert_eq!(
        items[1].as_ref().unwrap_err().problems,
        ["entry[1] has no resource"]
    );
    assert_eq!(
        items[2].as_ref().unwrap_err().problems,
        ["entry[2].resource must be a JSON object"]
    );
    assert_eq!(
        items[3].as_ref().unwrap_err().problems,
        ["entry[3] must be a JSON object"]
    );
}

#[test]
fn split_ndjson_counts_lines() {
    let line = minimal().to_string();
    let body = format!("{line}\r\n\n  \n{{\"broken\": \n[1,2]\n{line}\n{{\"a\":1,\"a\":2}}\n");
    let items = split("application/fhir+ndjson", body.as_bytes()).unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(ok_items(&items), 2);
    assert_eq!(
        items[1].as_ref().unwrap_err().problems,
        ["line 4: is not valid JSON: it ends early (line 1, column 11)"]
    );
    assert_eq!(
        items[2].as_ref().unwrap_err().problems,
        ["line 5: is not a JSON object: send an AuditEvent or a Bundle"]
    );
    assert_eq!(
        items[4].as_ref().unwrap_err().problems,
        ["line 7: repeats a key in one object (line 1, column 10): FHIR JSON allows each key once"]
    );
    for ct in ["application/x-ndjson", "application/ndjson"] {
        assert_eq!(split(ct, line.as_bytes()).unwrap().len(), 1);
    }
}

#[test]
fn split_whole_body_errors() {
    let e = split("text/xml", b"{}").unwrap_err();
    assert_eq!(
        e.message,
        "unsupported content type; send application/fhir+json or application/json (one \
         AuditEvent or a Bundle), or application/fhir+ndjson, application/x-ndjson or \
         application/ndjson (one AuditEvent per line)"
    );
    let e = split("application/json; charset=iso-8859-1", b"{}").unwrap_err();
    assert_eq!(e.message, "unsupported charset; send UTF-8 (charset=utf-8)");
    let e = split("application/json", b"{\"a\":\"\xff\"}").unwrap_err();
    assert_eq!(
        e.message,
        "the body is not valid UTF-8 (first bad byte at offset 6); send UTF-8 JSON"
    );
    let e = split("application/json", b"[{\"resourceType\":\"AuditEvent\"}]").unwrap_err();
    assert_eq!(
        e.message,
        "the body is not a JSON object: send an AuditEvent or a Bundle"
    );
    let e = split(
        "application/json",
        b"{\"resourceType\":\"AuditEvent\",\n\"id\":1,\"id\":2}",
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "the body repeats a key in one object (line 2, column 11): FHIR JSON allows each key once"
    );
    let e = split("application/json", b"{\"name\": Peter}").unwrap_err();
    assert_eq!(
        e.message,
        "the body is not valid JSON (syntax error at line 1, column 10)"
    );
    assert!(!e.message.contains("Peter"));
    for (ct, body) in [
        ("application/json", &b""[..]),
        ("application/x-ndjson", b"\n \n"),
        ("application/json", b"{\"resourceType\":\"Bundle\"}"),
    ] {
        assert_eq!(
            split(ct, body).unwrap_err().message,
            "the body holds no AuditEvent"
        );
    }
    let e = split(
        "application/json",
        b"{\"resourceType\":\"Bundle\",\"entry\":{}}",
    )
    .unwrap_err();
    assert_eq!(e.message, "Bundle.entry must be a JSON array");
}

#[test]
fn split_bounds_items_and_nesting() {
    let body = "{}\n".repeat(10_001);
    let e = split("application/x-ndjson", body.as_bytes()).unwrap_err();
    assert_eq!(
        e.message,
        "the body holds more than 10000 items; send at most 10000 per request"
    );
    assert_eq!(
        split("application/x-ndjson", "{}\n".repeat(10_000).as_bytes())
            .unwrap()
            .len(),
        10_000
    );
    let entries: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
    let bundle = json!({"resourceType": "Bundle", "entry": entries}).to_string();
    assert!(split("application/json", bundle.as_bytes()).is_err());

    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let e = split("application/json", deep.as_bytes()).unwrap_err();
    assert!(e.message.starts_with("the body is not valid JSON"), "{e}");
}

// ---- our records, rendered ----

fn record(entry: Entry) -> TrailRecord {
    TrailRecord {
        entry,
        hash: "00".into(),
        prev_hash: "00".into(),
        body: String::new(),
    }
}

fn own_entry() -> Entry {
    Entry {
        v: 1,
        seq: 1,
        id: "01890000-0000-7000-8000-00000000abcd".into(),
        time: "2025-01-02T03:04:05.678Z".into(),
        request_id: "r".into(),
        actor: "token:t1".into(),
        source: None,
        purpose: None,
        action: "key.encrypt".into(),
        target: None,
        outcome: Outcome::Success,
        reason: None,
        details: Map::new(),
        hmac: Map::new(),
        event: None,
    }
}

/// Our records in every shape the trail holds.
pub fn own_entries() -> Vec<Entry> {
    let mut out = Vec::new();
    for (actor, source, purpose) in [
        ("token:t1", Some("192.0.2.7"), Some("TREAT")),
        ("anonymous", Some("2001:db8::1"), Some("free text  purpose")),
        ("cert:CN=host, O=Org", Some("host.internal"), None),
        ("system", None, None),
    ] {
        for (outcome, reason) in [
            (Outcome::Success, None),
            (Outcome::Denied, Some("forbidden")),
            (Outcome::Failure, Some("sealed")),
        ] {
            for action in [
                "key.create",
                "auth.authenticate",
                "audit.verify",
                "sys.unseal",
                "key.destroy",
            ] {
                let mut e = own_entry();
                e.actor = actor.into();
                e.source = source.map(Into::into);
                e.purpose = purpose.map(Into::into);
                e.outcome = outcome;
                e.reason = reason.map(Into::into);
                e.action = action.into();
                if action.starts_with("key.") {
                    e.target = Some("key:phi".into());
                    e.hmac.insert("context".into(), json!("9f86d081884c7d65"));
                    e.hmac.insert("items".into(), json!(["aa", "bb"]));
                }
                out.push(e);
            }
        }
    }
    out
}

#[test]
fn every_own_record_renders_as_a_valid_audit_event() {
    for entry in own_entries() {
        let event = fhir::render(&record(entry.clone()));
        let summary = validate(&event)
            .unwrap_or_else(|e| panic!("{} rendered invalid: {e}\n{event:#}", entry.action));
        assert_eq!(summary.actor, format!("ehr:{}", entry.actor));
        assert_eq!(summary.recorded, entry.time);
        assert_eq!(
            summary.outcome == Outcome::Success,
            entry.outcome == Outcome::Success
        );
        assert_eq!(event["id"], entry.id.as_str());
    }
}

#[test]
fn own_record_summary_known_answer() {
    let mut e = own_entry();
    e.source = Some("192.0.2.7".into());
    e.target = Some("key:phi".into());
    e.outcome = Outcome::Denied;
    e.reason = Some("forbidden".into());
    let summary = validate(&fhir::render(&record(e))).unwrap();
    assert_eq!(
        summary,
        Summary {
            action: "ehr.110100.key.encrypt".into(),
            actor: "ehr:token:t1".into(),
            source: Some("192.0.2.7".into()),
            outcome: Outcome::Failure,
            reason: Some("outcome_4_minor_failure".into()),
            target: None,
            patients: vec![],
            purpose: None,
            recorded: "2025-01-02T03:04:05.678Z".into(),
        }
    );
}

#[test]
fn intake_then_export_gives_back_what_was_sent() {
    for path in EXAMPLES {
        let Some(sent) = webqx_testkit::shared_json(path) else {
            return;
        };
        let body = sent.to_string();
        let items = split("application/fhir+json", body.as_bytes()).unwrap();
        let [Ok(item)] = items.as_slice() else {
            panic!("one item expected from {path}");
        };
        validate(item).unwrap();
        let mut entry = own_entry();
        entry.event = Some(item.clone());
        let exported = fhir::render(&record(entry));
        assert_eq!(exported["id"], "01890000-0000-7000-8000-00000000abcd");
        let (mut a, mut b) = (exported.clone(), sent.clone());
        a.as_object_mut().unwrap().remove("id");
        b.as_object_mut().unwrap().remove("id");
        assert_eq!(a, b, "{path}");
        // Key order kept too (resourceType, then id, then the rest as sent).
        let keys: Vec<&String> = exported.as_object().unwrap().keys().collect();
        assert_eq!(keys[0], "resourceType");
        assert_eq!(keys[1], "id");
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,12}".prop_map(Value::String),
            Just(json!([])),
            Just(json!({})),
        ]
    }

    proptest! {
        /// Any one element of a valid event replaced by arbitrary JSON: validation
        /// answers (never panics), and a refusal always says why.
        #[test]
        fn mutated_events_never_panic(
            path in prop::sample::select(vec![
                "/type", "/type/code", "/type/system", "/subtype", "/action", "/recorded",
                "/outcome", "/agent", "/agent/0", "/agent/0/who", "/agent/0/requestor",
                "/agent/0/network", "/source", "/source/observer", "/entity", "/resourceType",
            ]),
            leaf in json_leaf(),
        ) {
            let mut event = minimal();
            event["entity"] = json!([{"what": {"reference": "Patient/1"}}]);
            if let Some(slot) = event.pointer_mut(path) {
                *slot = leaf;
            }
            if let Err(invalid) = validate(&event) {
                prop_assert!(!invalid.problems.is_empty());
            }
        }

        /// Arbitrary bytes under every content type: split answers, never panics.
        #[test]
        fn split_never_panics(body in prop::collection::vec(any::<u8>(), 0..256), ct in 0usize..4) {
            let ct = ["application/json", "application/fhir+ndjson", "text/plain", ""][ct];
            if let Ok(items) = split(ct, &body) {
                for item in items.into_iter().flatten() {
                    let _ = validate(&item);
                }
            }
        }
    }
}

#[test]
fn atna_style_patient_numbers_are_indexed_as_patients() {
    let mut event = minimal();
    event["entity"] = json!([{
        "what": {"identifier": {"value": "777^^^&1.2.3&ISO"}},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"},
        "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
    }, {
        "what": {"identifier": {"value": "not-a-patient"}},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2"},
        "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "4"},
    }]);
    let summary = validate(&event).expect("valid");
    assert_eq!(summary.patients, vec!["777^^^&1.2.3&ISO".to_string()]);
}
