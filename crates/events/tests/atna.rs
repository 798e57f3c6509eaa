//! IHE ATNA (DICOM PS3.15 audit message XML): reading into FHIR R4 AuditEvent, the
//! round trip through `webqx_audit::render::atna`, and hostile messages.

use serde_json::{Map, Value, json};
use webqx_audit::render::{atna as render_atna, fhir as render_fhir};
use webqx_audit::{Entry, Outcome, TrailRecord};
use webqx_events::atna::parse;
use webqx_events::auditevent::validate;

const EXAMPLES: [&str; 4] = [
    "fhir-audit/LinuxForHealth-FHIR_audit-event-example-login.json",
    "fhir-audit/LinuxForHealth-FHIR_audit-event-example-search.json",
    "fhir-audit/LinuxForHealth-FHIR_audit-event-example-vread.json",
    "fhir-audit/LinuxForHealth-FHIR_auditevent-example-error.json",
];

const DCM: &str = "http://dicom.nema.org/resources/ontology/DCM";

/// A PIX query seen by an EHR, written for this test after DICOM PS3.15 A.5.1 (pretty
/// printed, with an XML declaration, both coded-value styles, and a wrapped query).
const PIX_QUERY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<AuditMessage xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <EventIdentification EventActionCode="E" EventDateTime="2024-05-01T12:30:00.250+02:00" EventOutcomeIndicator="0">
    <EventID csd-code="110112" codeSystemName="DCM" originalText="Query"/>
    <EventTypeCode csd-code="ITI-9" codeSystemName="IHE Transactions" originalText="PIX Query"/>
    <PurposeOfUse csd-code="TREAT" codeSystemName="urn:oid:2.16.840.1.113883.5.8" originalText="treatment"/>
  </EventIdentification>
  <ActiveParticipant UserID="dr.smith" AlternativeUserID="1234" UserName="Dr Smith" UserIsRequestor="true" NetworkAccessPointID="192.0.2.10" NetworkAccessPointTypeCode="2">
    <RoleIDCode csd-code="110153" codeSystemName="DCM" originalText="Source Role ID"/>
  </ActiveParticipant>
  <ActiveParticipant UserID="pix.example.org" UserIsRequestor="false" NetworkAccessPointID="pix.example.org" NetworkAccessPointTypeCode="1">
    <RoleIDCode code="110152" codeSystemName="DCM" displayName="Destination Role ID"/>
  </ActiveParticipant>
  <AuditSourceIdentification AuditEnterpriseSiteID="Clinic" AuditSourceID="ehr-01">
    <AuditSourceTypeCode code="4"/>
  </AuditSourceIdentification>
  <ParticipantObjectIdentification ParticipantObjectID="MRN-77^^^&amp;1.2.3&amp;ISO" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1" ParticipantObjectDataLifeCycle="6">
    <ParticipantObjectIDTypeCode csd-code="2" codeSystemName="RFC-3881" originalText="Patient Number"/>
    <ParticipantObjectName>Doe^Jane</ParticipantObjectName>
    <ParticipantObjectDetail type="MSH-10" value="MTIzNA=="/>
  </ParticipantObjectIdentification>
  <ParticipantObjectIdentification ParticipantObjectID="Patient/p1" ParticipantObjectTypeCode="2" ParticipantObjectTypeCodeRole="24">
    <ParticipantObjectIDTypeCode csd-code="12" codeSystemName="RFC-3881" originalText="URI"/>
    <ParticipantObjectQuery>
      cXVlcnk9
      MQ==
    </ParticipantObjectQuery>
  </ParticipantObjectIdentification>
</AuditMessage>
"#;

#[test]
fn reads_a_dicom_message_into_the_fhir_mapping() {
    let event = parse(PIX_QUERY).unwrap();
    let expected = json!({
        "resourceType": "AuditEvent",
        "type": {"system": DCM, "code": "110112", "display": "Query"},
        "subtype": [{"system": "urn:ihe:event-type-code", "code": "ITI-9", "display": "PIX Query"}],
        "action": "E",
        "recorded": "2024-05-01T12:30:00.250+02:00",
        "outcome": "0",
        "purposeOfEvent": [{"coding": [{"system": "urn:oid:2.16.840.1.113883.5.8", "code": "TREAT", "display": "treatment"}]}],
        "agent": [
            {
                "type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
                "who": {"identifier": {"value": "dr.smith"}},
                "altId": "1234",
                "name": "Dr Smith",
                "requestor": true,
                "network": {"address": "192.0.2.10", "type": "2"},
            },
            {
                "type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
                "who": {"identifier": {"value": "pix.example.org"}},
                "requestor": false,
                "network": {"address": "pix.example.org", "type": "1"},
            },
        ],
        "source": {
            "site": "Clinic",
            "observer": {"identifier": {"value": "ehr-01"}},
            "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type", "code": "4"}],
        },
        "entity": [
            {
                "what": {"identifier": {
                    "type": {"coding": [{"system": "urn:ietf:rfc:3881", "code": "2", "display": "Patient Number"}]},
                    "value": "MRN-77^^^&1.2.3&ISO",
                }},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1", "display": "Person"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1", "display": "Patient"},
                "lifecycle": {"system": "http://terminology.hl7.org/CodeSystem/dicom-audit-lifecycle", "code": "6", "display": "Access / Use"},
                "name": "Doe^Jane",
                "detail": [{"type": "MSH-10", "valueBase64Binary": "MTIzNA=="}],
            },
            {
                "what": {"reference": "Patient/p1"},
                "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2", "display": "System Object"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "24", "display": "Query"},
                "query": "cXVlcnk9MQ==",
            },
        ],
    });
    assert_eq!(event, expected);
    let summary = validate(&event).unwrap();
    assert_eq!(summary.action, "ehr.110112.ITI-9");
    assert_eq!(summary.actor, "ehr:dr.smith");
    assert_eq!(summary.source.as_deref(), Some("192.0.2.10"));
    // The reference, and the patient number of the entity whose role is Patient.
    assert_eq!(summary.patients, ["Patient/p1", "MRN-77^^^&1.2.3&ISO"]);
    assert_eq!(summary.purpose.as_deref(), Some("TREAT"));
}

/// What the round trip must keep: type, subtype, action, recorded, outcome, agents
/// (who, altId, name, requestor, network, role codes), source, entities (what, type,
/// role, lifecycle, query).
fn essentials(e: &Value) -> Value {
    let named = |r: &Value| {
        [&r["identifier"]["value"], &r["reference"], &r["display"]]
            .into_iter()
            .find(|v| v.is_string())
            .cloned()
            .unwrap_or(Value::Null)
    };
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let entity_type = |t: &Value| {
        if t["system"] == "http://terminology.hl7.org/CodeSystem/audit-entity-type" {
            t["code"].clone()
        } else {
            Value::Null
        }
    };
    json!({
        "type": e["type"],
        "subtype": e["subtype"],
        "action": e["action"],
        "recorded": e["recorded"],
        "outcome": e["outcome"],
        "outcomeDesc": e["outcomeDesc"],
        "agents": list(&e["agent"]).iter().map(|a| json!({
            "who": named(&a["who"]),
            "altId": a["altId"],
            "name": a["name"],
            "requestor": a["requestor"],
            "network": a["network"],
            "roles": a["type"]["coding"],
        })).collect::<Vec<_>>(),
        "source": {
            "site": e["source"]["site"],
            "observer": named(&e["source"]["observer"]),
            "type": e["source"]["type"],
        },
        "entities": list(&e["entity"]).iter().map(|x| json!({
            "what": x["what"]["reference"].as_str().map_or_else(|| named(&x["what"]), |r| json!(r)),
            "type": entity_type(&x["type"]),
            "role": x["role"]["code"],
            "lifecycle": x["lifecycle"]["code"],
            "name": x["name"],
            "query": x["query"],
        })).collect::<Vec<_>>(),
    })
}

fn round_trip(event: &Value) -> Value {
    let xml = render_atna::render(event);
    assert!(!xml.contains(['\n', '\r']), "one line: {xml}");
    parse(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

#[test]
fn hl7_examples_survive_render_then_parse() {
    for path in EXAMPLES {
        let Some(event) = webqx_testkit::shared_json(path) else {
            return;
        };
        let back = round_trip(&event);
        assert_eq!(essentials(&back), essentials(&event), "{path}");
        assert_eq!(validate(&back), validate(&event), "{path}");
    }
}

#[test]
fn hl7_examples_known_answers_after_round_trip() {
    let Some(vread) = webqx_testkit::shared_json(EXAMPLES[2]) else {
        return;
    };
    let back = round_trip(&vread);
    assert_eq!(
        back["entity"][0]["what"],
        json!({"reference": "Patient/example/_history/1"})
    );
    assert_eq!(back["entity"][0]["lifecycle"]["code"], "6");
    assert_eq!(
        back["agent"][1]["network"],
        json!({"address": "Workstation1.ehr.familyclinic.com", "type": "1"})
    );
    assert_eq!(
        back["source"]["observer"],
        json!({"identifier": {"value": "hl7connect.healthintersections.com.au"}})
    );

    let Some(error) = webqx_testkit::shared_json(EXAMPLES[3]) else {
        return;
    };
    let back = round_trip(&error);
    assert_eq!(back["outcome"], "8");
    assert_eq!(back["outcomeDesc"], error["outcomeDesc"]);
    // A resource-type entity type has no DICOM form: it is left out, the reference kept.
    assert_eq!(
        back["entity"][1],
        json!({"what": {"reference": "#o1"}, "description": "transaction failed"})
    );
    // The detail's text travels as base64.
    assert_eq!(
        back["entity"][0]["detail"],
        json!([{"type": "requested transaction", "valueBase64Binary": "aHR0cCBQT1NUIC4uLi4u"}])
    );

    let Some(search) = webqx_testkit::shared_json(EXAMPLES[1]) else {
        return;
    };
    let back = round_trip(&search);
    assert_eq!(back["entity"][0]["query"], search["entity"][0]["query"]);
    assert!(back["entity"][0].get("what").is_none(), "no what invented");
}

#[test]
fn the_dicom_message_survives_parse_render_parse() {
    let first = parse(PIX_QUERY).unwrap();
    assert_eq!(round_trip(&first), first);
}

#[test]
fn awkward_text_survives_the_round_trip() {
    let mut event = parse(PIX_QUERY).unwrap();
    let awkward = "O'Brien & <Sons> \"quoted\"\n\tsecond line\r\nüñí 🩺";
    event["agent"][0]["name"] = json!(awkward);
    event["entity"][0]["name"] = json!(awkward);
    event["outcomeDesc"] = json!(awkward);
    event["source"]["site"] = json!(awkward);
    let back = round_trip(&event);
    assert_eq!(back, event);
}

fn own_entry(action: &str, outcome: Outcome) -> Entry {
    Entry {
        v: 1,
        seq: 3,
        id: "01890000-0000-7000-8000-000000000003".into(),
        time: "2025-06-01T08:00:00.001Z".into(),
        request_id: "r".into(),
        actor: "oauth:ehr-backend".into(),
        source: Some("198.51.100.4".into()),
        purpose: Some("HOPERAT".into()),
        action: action.into(),
        target: Some("key:phi".into()),
        outcome,
        reason: (outcome != Outcome::Success).then(|| "forbidden".into()),
        details: Map::new(),
        hmac: Map::from_iter([("context".into(), json!("c0ffee"))]),
        event: None,
    }
}

#[test]
fn our_records_survive_render_then_parse() {
    for action in [
        "key.decrypt",
        "auth.authenticate",
        "audit.verify",
        "key.create",
    ] {
        for outcome in [Outcome::Success, Outcome::Denied, Outcome::Failure] {
            let rec = TrailRecord {
                entry: own_entry(action, outcome),
                hash: String::new(),
                prev_hash: String::new(),
                body: String::new(),
            };
            let event = render_fhir::render(&rec);
            let back = round_trip(&event);
            assert_eq!(essentials(&back), essentials(&event), "{action}");
            assert_eq!(validate(&back), validate(&event), "{action}");
            assert_eq!(
                back["agent"][0]["who"]["identifier"]["value"],
                "oauth:ehr-backend"
            );
            assert_eq!(back["purposeOfEvent"][0]["coding"][0]["code"], "HOPERAT");
            assert_eq!(
                back["entity"][0]["detail"][0]["valueBase64Binary"],
                "YzBmZmVl"
            );
        }
    }
}

fn message(body: &str) -> String {
    format!(
        r#"<AuditMessage><EventIdentification EventActionCode="R" EventDateTime="2024-01-01T00:00:00Z" EventOutcomeIndicator="0"><EventID csd-code="110110" codeSystemName="DCM"/></EventIdentification>{body}<AuditSourceIdentification AuditSourceID="s"/></AuditMessage>"#
    )
}

const AGENT: &str = r#"<ActiveParticipant UserID="u" UserIsRequestor="true"/>"#;

#[test]
fn minimal_message() {
    assert_eq!(
        parse(&message(AGENT)).unwrap(),
        json!({
            "resourceType": "AuditEvent",
            "type": {"system": DCM, "code": "110110"},
            "action": "R",
            "recorded": "2024-01-01T00:00:00Z",
            "outcome": "0",
            "agent": [{"who": {"identifier": {"value": "u"}}, "requestor": true}],
            "source": {"observer": {"identifier": {"value": "s"}}},
        })
    );
}

#[test]
fn malformed_xml_is_refused_with_a_position_and_no_content() {
    let xml =
        "<AuditMessage>\n  <ActiveParticipant UserName=\"Tom & Jerry Secret\"/>\n</AuditMessage>";
    let e = parse(xml).unwrap_err();
    assert_eq!(
        e.message,
        "the message is not well-formed XML: a raw '&' or a malformed entity reference \
         (escape '&' as &amp;) at line 2, column 36"
    );
    let e = parse("<AuditMessage><Secret-Name></AuditMessage>").unwrap_err();
    assert_eq!(
        e.message,
        "the message is not well-formed XML: a closing tag that does not match the open \
         element at line 1, column 28"
    );
    assert!(!e.message.contains("Secret"));
    let e = parse("").unwrap_err();
    assert_eq!(
        e.message,
        "the message is not well-formed XML: no root element at line 1, column 1"
    );
}

#[test]
fn dtds_and_entities_are_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>
<AuditMessage>&lol2;</AuditMessage>"#;
    assert_eq!(
        parse(laughs).unwrap_err().message,
        "the message has a DTD: DTDs and entity declarations are refused; send the \
         AuditMessage element alone"
    );
    let external = r#"<!DOCTYPE a SYSTEM "file:///etc/passwd"><AuditMessage/>"#;
    assert!(parse(external).unwrap_err().message.contains("DTD"));
    let undeclared = "<AuditMessage>&ent;</AuditMessage>";
    assert!(
        parse(undeclared)
            .unwrap_err()
            .message
            .contains("undeclared entity")
    );
}

#[test]
fn size_depth_and_node_count_are_bounded() {
    let big = message(&format!("<x>{}</x>", "a".repeat(1024 * 1024)));
    assert_eq!(
        parse(&big).unwrap_err().message,
        "the message is larger than 1048576 bytes; send one audit message at a time"
    );
    let deep = message(&format!("{}{}", "<x>".repeat(40), "</x>".repeat(40)));
    assert_eq!(
        parse(&deep).unwrap_err().message,
        "the message nests elements deeper than 32 levels"
    );
    let many = message(&"<x/>".repeat(60_000));
    assert_eq!(
        parse(&many).unwrap_err().message,
        "the message has more than 50000 XML nodes"
    );
}

#[test]
fn missing_required_parts_are_each_named() {
    assert_eq!(
        parse("<AuditMessage/>").unwrap_err().message,
        "AuditMessage (line 1, column 1) has no EventIdentification (it is required); \
         AuditMessage (line 1, column 1) has no ActiveParticipant (at least one is required); \
         AuditMessage (line 1, column 1) has no AuditSourceIdentification (it is required)"
    );
    assert_eq!(
        parse("<Audit/>").unwrap_err().message,
        "the root element is not AuditMessage; send a DICOM PS3.15 audit message"
    );
    let e = parse(&message(r#"<ActiveParticipant UserName="Jane Doe"/>"#)).unwrap_err();
    assert_eq!(
        e.message,
        "ActiveParticipant (line 1, column 190) has no UserID attribute (it is required); \
         ActiveParticipant (line 1, column 190) has no UserIsRequestor attribute (it is required)"
    );
    let xml = r#"<AuditMessage><EventIdentification EventActionCode="Q" EventDateTime="2024-01-01 00:00" EventOutcomeIndicator="1"/><ActiveParticipant UserID="u" UserIsRequestor="yes" NetworkAccessPointTypeCode="7"/><AuditSourceIdentification AuditSourceID=""/><ParticipantObjectIdentification ParticipantObjectTypeCode="9"><ParticipantObjectName>n</ParticipantObjectName><ParticipantObjectQuery>!!</ParticipantObjectQuery></ParticipantObjectIdentification></AuditMessage>"#;
    let e = parse(xml).unwrap_err();
    let problems: Vec<&str> = e.message.split("; ").collect();
    assert_eq!(
        problems,
        [
            "EventIdentification (line 1, column 15) has no EventID (it is required)",
            "EventIdentification (line 1, column 15) EventActionCode must be one of C, R, U, D, E (audit event action)",
            "EventIdentification (line 1, column 15) EventDateTime must give date, time with seconds, and time zone (2024-05-01T12:30:00Z)",
            "EventIdentification (line 1, column 15) EventOutcomeIndicator must be one of 0, 4, 8, 12 (audit event outcome)",
            "ActiveParticipant (line 1, column 116) UserIsRequestor must be true or false",
            "ActiveParticipant (line 1, column 116) NetworkAccessPointTypeCode must be one of 1, 2, 3, 4, 5 (network type)",
            "AuditSourceIdentification (line 1, column 200) AuditSourceID must not be empty",
            "ParticipantObjectIdentification (line 1, column 245) has no ParticipantObjectID attribute (it is required)",
            "ParticipantObjectIdentification (line 1, column 245) ParticipantObjectTypeCode must be one of 1, 2, 3, 4 (audit entity type)",
            "ParticipantObjectIdentification (line 1, column 245) has both ParticipantObjectName and ParticipantObjectQuery: give one",
            "ParticipantObjectIdentification (line 1, column 245) has a ParticipantObjectQuery that is not valid base64",
        ]
    );
}

#[test]
fn codes_unknown_to_dicom_are_refused_through_validation() {
    let xml = message(AGENT).replace("110110", "999999");
    assert_eq!(
        parse(&xml).unwrap_err().message,
        "the message does not make a valid FHIR AuditEvent: type.code is not one of \
         the DICOM audit event ID codes (110100, 110101, 110102, 110103, 110104, 110105, \
         110106, 110107, 110108, 110109, 110110, 110111, 110112, 110113, 110114); the value \
         is not repeated here"
    );
}

#[test]
fn empty_ids_leave_who_and_what_out() {
    let xml = message(
        r#"<ActiveParticipant UserID="" UserName="n" UserIsRequestor="false"/><ParticipantObjectIdentification ParticipantObjectID=""><ParticipantObjectName>x</ParticipantObjectName></ParticipantObjectIdentification>"#,
    );
    let event = parse(&xml).unwrap();
    assert_eq!(event["agent"][0], json!({"name": "n", "requestor": false}));
    assert_eq!(event["entity"][0], json!({"name": "x"}));
}
