//! EHR privacy patterns, positive and negative, on FHIR R4 AuditEvents.
//!
//! Every scenario starts from the HL7 example `LinuxForHealth-FHIR_audit-event-example-
//! vread.json` in `../shared/data/fhir-audit/` (a read of `Patient/example` by agent
//! altId 601847123, recorded 2013-06-20T23:42:24Z), changes the AuditEvent's own fields
//! (agent, entity, recorded, action, purposeOfEvent), normalises it by hand into the
//! schema (until the events crate's AuditEvent parser is wired in) and runs the EHR
//! rules of `rules/ehr/` with a user directory, patient facts and care relationships.

mod common;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use webqx_detect::{Context, Engine, Options, Outcome, RuleSet};

const USER: &str = "601847123";

fn example() -> Option<Value> {
    let path =
        common::shared_data("fhir-audit/LinuxForHealth-FHIR_audit-event-example-vread.json")?;
    Some(serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json"))
}

/// Hand normalisation of an AuditEvent into schema fields (the subset detection reads).
fn normalise(doc: &Value) -> Value {
    let requestor = doc["agent"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["requestor"] == true))
        .cloned()
        .unwrap_or(Value::Null);
    let reference = doc["entity"]
        .as_array()
        .and_then(|e| e.iter().find_map(|x| x["what"]["reference"].as_str()))
        .unwrap_or("");
    let patient = reference
        .strip_prefix("Patient/")
        .map(|r| r.split('/').next().unwrap_or(r));
    let subtype = doc["subtype"][0]["code"].as_str().unwrap_or("");
    let purposes: Vec<String> = doc["purposeOfEvent"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["coding"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["code"].as_str().map(str::to_owned))
        .collect();
    let break_glass = purposes.iter().any(|p| p == "ETREAT" || p == "BTG");
    let action = match (doc["action"].as_str(), subtype) {
        (Some("E"), _) => "ehr_export",
        (_, "search-type" | "search-system" | "search") => "ehr_search",
        (Some("C"), _) => "ehr_create",
        (Some("U"), _) => "ehr_update",
        (Some("D"), _) => "ehr_delete",
        _ => "ehr_read",
    };
    let mut event = json!({
        "@timestamp": doc["recorded"],
        "event": {"dataset": "fhir.auditevent", "category": "database", "action": action,
                  "outcome": if doc["outcome"] == "0" { "success" } else { "failure" }},
        "user": {"id": requestor["altId"], "name": requestor["name"]},
        "ehr": {"action": doc["action"], "subtype": subtype, "purpose": purposes,
                "break_glass": break_glass},
    });
    if let Some(p) = patient {
        event["ehr"]["patient"] = json!({"id": p, "reference": reference});
    }
    // Extensions this test uses for facts the example has no element for.
    if let Some(n) = doc.get("x-record-count") {
        event["ehr"]["record_count"] = n.clone();
    }
    if let Some(r) = doc.get("x-break-glass-reason") {
        event["ehr"]["break_glass_reason"] = r.clone();
    }
    event
}

/// The example with changes applied.
fn access(base: &Value, at: &str, user: &str, patient: &str) -> Value {
    let mut doc = base.clone();
    doc["recorded"] = at.into();
    if let Some(agents) = doc["agent"].as_array_mut() {
        for agent in agents.iter_mut().filter(|a| a["requestor"] == true) {
            agent["altId"] = user.into();
        }
    }
    if let Some(entities) = doc["entity"].as_array_mut() {
        for entity in entities
            .iter_mut()
            .filter(|e| e["what"]["reference"].is_string())
        {
            entity["what"]["reference"] = format!("Patient/{patient}/_history/1").into();
        }
    }
    doc
}

fn break_glass(doc: &mut Value, reason: Option<&str>) {
    doc["purposeOfEvent"] = json!([{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "ETREAT"}]}]);
    if let Some(r) = reason {
        doc["x-break-glass-reason"] = r.into();
    }
}

fn context(extra: Value) -> Context {
    let mut base = json!({
        "users": [
            {"id": USER, "name": "Grahame", "surname": "Grieve", "department": "cardiology",
             "status": "active", "address": "1 Elm Street, Springfield"},
            {"id": "u-colleague", "name": "Ann", "surname": "Other", "department": "cardiology",
             "status": "active", "address": "9 Oak Road"},
            {"id": "u-elsewhere", "name": "Bo", "surname": "Far", "department": "radiology",
             "status": "active", "address": "3 Pine Lane"}
        ],
        "patients": [
            {"id": "example", "surname": "Chalmers", "address": "534 Erewhon St, PleasantVille"}
        ],
        "care": [],
        "working_hours": {"start_hour": 7, "end_hour": 19, "utc_offset_minutes": 0, "weekends_off": true}
    });
    for key in ["users", "patients", "care"] {
        if let Some(items) = extra[key].as_array() {
            let list = base[key].as_array_mut().expect("list");
            // Later entries with the same id replace earlier ones in Context.
            list.extend(items.iter().cloned());
        }
    }
    Context::from_json(&base.to_string()).expect("context")
}

fn engine(ctx: Context) -> Engine {
    let rules = RuleSet::load_dir(&common::pack_dir().join("ehr")).expect("ehr rules");
    Engine::new(rules, ctx, Options::default()).expect("compiles")
}

fn id_of(title: &str) -> String {
    let set = RuleSet::load_dir(&common::pack_dir().join("ehr")).expect("ehr rules");
    let c = set.collection();
    c.rules
        .iter()
        .map(|r| (&r.title, &r.id))
        .chain(c.correlations.iter().map(|r| (&r.title, &r.id)))
        .find(|(t, _)| t.as_str() == title)
        .and_then(|(_, id)| id.clone())
        .unwrap_or_else(|| panic!("no rule titled {title}"))
}

fn run(ctx: Context, docs: &[Value]) -> Vec<Outcome> {
    let mut engine = engine(ctx);
    docs.iter()
        .map(|d| engine.process(&mut normalise(d)))
        .collect()
}

fn fired(outcomes: &[Outcome], id: &str) -> bool {
    outcomes
        .iter()
        .any(|o| o.detections.iter().any(|d| d.rule_id == id))
}

fn explained(outcomes: &[Outcome], id: &str) -> bool {
    outcomes
        .iter()
        .any(|o| o.explained.iter().any(|e| e.rule_id == id))
}

const DAY: &str = "2026-03-03T10:00:00Z"; // a Tuesday, working hours
const NIGHT: &str = "2026-03-03T23:42:24Z";

#[test]
fn after_hours_access_alerts_unless_a_care_relationship_explains_it() {
    let Some(base) = example() else { return };
    let id = id_of("EHR Record Access After Hours");
    // The example itself was recorded at 23:42 UTC.
    let night = access(&base, NIGHT, USER, "example");
    assert!(fired(
        &run(context(json!({})), std::slice::from_ref(&night)),
        &id
    ));
    assert!(!fired(
        &run(context(json!({})), &[access(&base, DAY, USER, "example")]),
        &id
    ));
    let cared = context(json!({"care": [{"user_id": USER, "patient_id": "example"}]}));
    let outcomes = run(cared, &[night]);
    assert!(!fired(&outcomes, &id), "explained accesses are not alerted");
    assert!(explained(&outcomes, &id), "but recorded as explained");
}

#[test]
fn flagged_record_access() {
    let Some(base) = example() else { return };
    let id = id_of("EHR Access to a Flagged Record (VIP, Employee, Restricted)");
    let vip = json!({"patients": [{"id": "example", "surname": "Chalmers", "flags": ["vip"]}]});
    let doc = access(&base, DAY, USER, "example");
    assert!(fired(
        &run(context(vip.clone()), std::slice::from_ref(&doc)),
        &id
    ));
    assert!(!fired(
        &run(context(json!({})), std::slice::from_ref(&doc)),
        &id
    ));
    let mut cared = vip;
    cared["care"] = json!([{"user_id": USER, "patient_id": "example",
        "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-12-31T00:00:00Z"}]);
    assert!(explained(
        &run(context(cared.clone()), std::slice::from_ref(&doc)),
        &id
    ));
    // An expired relationship explains nothing.
    cared["care"][0]["valid_until"] = "2026-02-01T00:00:00Z".into();
    assert!(fired(&run(context(cared), &[doc]), &id));
}

#[test]
fn self_access() {
    let Some(base) = example() else { return };
    let id = id_of("EHR User Accessed Their Own Record");
    let own = json!({"patients": [{"id": "example", "surname": "Grieve", "employee_user_id": USER,
                                   "flags": ["employee"]}]});
    let doc = access(&base, DAY, USER, "example");
    assert!(fired(
        &run(context(own.clone()), std::slice::from_ref(&doc)),
        &id
    ));
    let other = access(&base, DAY, "u-colleague", "example");
    assert!(!fired(&run(context(own), &[other]), &id));
}

#[test]
fn same_surname_and_same_address() {
    let Some(base) = example() else { return };
    let surname = id_of("EHR Access to a Patient With the User's Surname");
    let address = id_of("EHR Access to a Patient Living at the User's Address");
    let relative = json!({"patients": [{"id": "example", "surname": "GRIEVE",
                                        "address": "1 Elm Street,  Springfield."}]});
    let doc = access(&base, DAY, USER, "example");
    let outcomes = run(context(relative), std::slice::from_ref(&doc));
    assert!(fired(&outcomes, &surname) && fired(&outcomes, &address));
    let stranger = run(context(json!({})), &[doc]);
    assert!(!fired(&stranger, &surname) && !fired(&stranger, &address));
}

#[test]
fn coworker_record_access() {
    let Some(base) = example() else { return };
    let id = id_of("EHR Access to a Co-worker's Record");
    let colleague = json!({"patients": [{"id": "example", "surname": "Other",
                                         "employee_user_id": "u-colleague"}]});
    let elsewhere = json!({"patients": [{"id": "example", "surname": "Far",
                                         "employee_user_id": "u-elsewhere"}]});
    let doc = access(&base, DAY, USER, "example");
    assert!(fired(
        &run(context(colleague), std::slice::from_ref(&doc)),
        &id
    ));
    assert!(!fired(&run(context(elsewhere), &[doc]), &id));
}

#[test]
fn disabled_or_terminated_account() {
    let Some(base) = example() else { return };
    let id = id_of("EHR Access by a Disabled or Terminated Account");
    let leaver = json!({"users": [{"id": USER, "surname": "Grieve", "status": "terminated"}]});
    let doc = access(&base, DAY, USER, "example");
    assert!(fired(
        &run(context(leaver), std::slice::from_ref(&doc)),
        &id
    ));
    assert!(!fired(&run(context(json!({})), &[doc]), &id));
}

#[test]
fn break_glass_without_reason_and_too_often() {
    let Some(base) = example() else { return };
    let no_reason = id_of("EHR Break-the-Glass Without a Reason");
    let often = id_of("EHR Break-the-Glass Used Unusually Often");
    let mut bare = access(&base, DAY, USER, "example");
    break_glass(&mut bare, None);
    let mut justified = access(&base, DAY, USER, "example");
    break_glass(
        &mut justified,
        Some("cardiac arrest in ED, patient unconscious"),
    );
    assert!(fired(&run(context(json!({})), &[bare]), &no_reason));
    assert!(!fired(
        &run(context(json!({})), std::slice::from_ref(&justified)),
        &no_reason
    ));

    let at = |h: i64| {
        let t: DateTime<Utc> = DAY.parse().expect("time");
        (t + Duration::hours(h)).to_rfc3339()
    };
    let series = |n: i64| -> Vec<Value> {
        (0..n)
            .map(|h| {
                let mut d = access(&base, &at(h), USER, "example");
                break_glass(&mut d, Some("emergency"));
                d
            })
            .collect()
    };
    assert!(fired(&run(context(json!({})), &series(3)), &often));
    assert!(!fired(&run(context(json!({})), &series(2)), &often));
}

#[test]
fn bulk_export_and_broad_search() {
    let Some(base) = example() else { return };
    let id = id_of("EHR Bulk Export or Very Broad Search");
    let mut export = access(&base, DAY, USER, "example");
    export["action"] = "E".into();
    export["x-record-count"] = 2500.into();
    assert!(fired(
        &run(context(json!({})), std::slice::from_ref(&export)),
        &id
    ));
    export["x-record-count"] = 3.into();
    assert!(!fired(&run(context(json!({})), &[export]), &id));

    let search_path = "fhir-audit/LinuxForHealth-FHIR_audit-event-example-search.json";
    let Some(path) = common::shared_data(search_path) else {
        return;
    };
    let mut search: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    search["x-record-count"] = 5000.into();
    assert!(fired(
        &run(context(json!({})), std::slice::from_ref(&search)),
        &id
    ));
    search["x-record-count"] = 12.into();
    assert!(!fired(&run(context(json!({})), &[search]), &id));
}

#[test]
fn volume_far_above_the_users_own_baseline() {
    let Some(base) = example() else { return };
    let id = id_of("EHR Record Access Volume Far Above the User's Baseline");
    let start: DateTime<Utc> = "2026-03-02T08:00:00Z".parse().expect("time");
    // Five working days of 30 reads a day build the baseline (30/day).
    let mut docs = Vec::new();
    for day in 0..5 {
        for i in 0..30 {
            let at = start + Duration::days(day) + Duration::minutes(i * 10);
            docs.push(access(&base, &at.to_rfc3339(), USER, &format!("p{i}")));
        }
    }
    let mut quiet = docs.clone();
    let day6 = start + Duration::days(7);
    for i in 0..40 {
        let at = day6 + Duration::minutes(i);
        quiet.push(access(&base, &at.to_rfc3339(), USER, &format!("q{i}")));
    }
    assert!(
        !fired(&run(context(json!({})), &quiet), &id),
        "40 is under 5x of 30"
    );
    let mut burst = docs;
    for i in 0..160 {
        let at = day6 + Duration::seconds(i * 20);
        burst.push(access(&base, &at.to_rfc3339(), USER, &format!("b{i}")));
    }
    assert!(
        fired(&run(context(json!({})), &burst), &id),
        "160 is over 5x of 30"
    );
}

#[test]
fn every_ehr_rule_has_a_scenario_here() {
    let text = include_str!("ehr_privacy.rs");
    let set = RuleSet::load_dir(&common::pack_dir().join("ehr")).expect("ehr rules");
    let c = set.collection();
    for title in c
        .rules
        .iter()
        .filter(|r| r.level != Some(rsigma_parser::Level::Informational))
        .map(|r| &r.title)
        .chain(c.correlations.iter().map(|r| &r.title))
    {
        assert!(
            text.contains(&format!("id_of(\"{title}\")")),
            "no scenario for {title}"
        );
    }
}
