//! FHIR R4 AuditEvent as IHE ATNA / DICOM PS3.15 audit message XML.
//!
//! The mapping is the one the FHIR R4 specification gives for DICOM (AuditEvent
//! mappings page), element by element:
//!
//! | AuditEvent | DICOM audit message |
//! | --- | --- |
//! | `type` | `EventIdentification/EventID` |
//! | `subtype` | `EventIdentification/EventTypeCode` |
//! | `action`, `recorded`, `outcome` | `@EventActionCode`, `@EventDateTime`, `@EventOutcomeIndicator` |
//! | `outcomeDesc` | `EventIdentification/EventOutcomeDescription` |
//! | `purposeOfEvent` codings | `EventIdentification/PurposeOfUse` |
//! | `agent` | `ActiveParticipant`: `who` → `@UserID`, `altId` → `@AlternativeUserID`, `name` → `@UserName`, `requestor` → `@UserIsRequestor`, `network` → `@NetworkAccessPointID`/`@NetworkAccessPointTypeCode`, `type` (and `role`) codings → `RoleIDCode` |
//! | `source` | `AuditSourceIdentification`: `site` → `@AuditEnterpriseSiteID`, `observer` → `@AuditSourceID`, `type` → `AuditSourceTypeCode` |
//! | `entity` | `ParticipantObjectIdentification`: `what` → `@ParticipantObjectID` (+ `ParticipantObjectIDTypeCode`), `type`/`role`/`lifecycle` → `@ParticipantObjectTypeCode`/`@…TypeCodeRole`/`@…DataLifeCycle`, `name`, `query` (base64), `detail` (value base64), `description` |
//!
//! Coded values carry `csd-code`, `codeSystemName` (DICOM's short name where one is
//! known, see [`code_system_name`], else the FHIR system URI) and `originalText` (the
//! display). A FHIR reference in `what` is sent with the RFC 3881 ID type 12 (URI).
//! Where FHIR has nothing for a required DICOM attribute, the attribute is empty
//! rather than invented (`UserID=""` for an agent without `who`, `ParticipantObjectID=""`
//! for an entity without `what`). Entity types outside audit-entity-type (for example a
//! resource type) have no DICOM form and are left out. An AuditEvent without `outcome`
//! is sent with outcome 0: it reports no failure, and DICOM requires the attribute.

use super::fhir::{AUDIT_ENTITY_TYPE, DATA_LIFECYCLE, DCM, OBJECT_ROLE, SECURITY_SOURCE_TYPE};
use base64::Engine as _;
use serde_json::Value;

/// MSGID of ATNA messages in RFC 5424 syslog (IHE ITI TF-2, RFC 3881 heritage).
pub const MSGID: &str = "IHE+RFC-3881";

/// Code system URI for RFC 3881 participant object ID types (1 medical record
/// number … 12 URI), which FHIR does not define.
pub const RFC3881_ID_TYPE: &str = "urn:ietf:rfc:3881";

/// IHE transaction codes (`ITI-18`...), as IHE's FHIR audit profiles name them.
pub const IHE_TRANSACTIONS: &str = "urn:ihe:event-type-code";

/// Where a coded value sits: the same DICOM code system name means different FHIR
/// systems in different places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodedPlace {
    /// `AuditSourceTypeCode`: RFC 3881 names the security source types 1–9.
    AuditSourceType,
    /// `ParticipantObjectIDTypeCode`: RFC 3881 names the ID types 1–12.
    ParticipantObjectIdType,
    /// Every other coded value.
    Other,
}

/// The DICOM `codeSystemName` for a FHIR code system URI at `place`, when DICOM has a
/// short name for it.
pub fn code_system_name(place: CodedPlace, system: &str) -> Option<&'static str> {
    match (place, system) {
        (_, DCM) => Some("DCM"),
        (_, IHE_TRANSACTIONS) => Some("IHE Transactions"),
        (CodedPlace::AuditSourceType, SECURITY_SOURCE_TYPE) => Some("RFC-3881"),
        (CodedPlace::ParticipantObjectIdType, RFC3881_ID_TYPE) => Some("RFC-3881"),
        _ => None,
    }
}

/// The FHIR code system URI for a DICOM `codeSystemName` at `place`, when the name is
/// one [`code_system_name`] gives.
pub fn code_system_uri(place: CodedPlace, name: &str) -> Option<&'static str> {
    match (place, name) {
        (_, "DCM") => Some(DCM),
        (_, "IHE Transactions") => Some(IHE_TRANSACTIONS),
        (CodedPlace::AuditSourceType, "RFC-3881") => Some(SECURITY_SOURCE_TYPE),
        (CodedPlace::ParticipantObjectIdType, "RFC-3881") => Some(RFC3881_ID_TYPE),
        _ => None,
    }
}

/// The AuditEvent as one DICOM `AuditMessage` XML document on a single line (no XML
/// declaration newline), ready to be the MSG of an RFC 5424 message.
///
/// Renders whatever it is given; elements that are absent or of the wrong type are
/// left out. Text and attribute values are escaped (`& < > " '`, and line breaks and
/// tabs as character references); characters XML cannot carry become U+FFFD.
pub fn render(event: &Value) -> String {
    let mut xml = Xml::default();
    xml.open("AuditMessage", &[]);
    event_identification(&mut xml, event);
    for agent in array(event, "agent") {
        active_participant(&mut xml, agent);
    }
    audit_source(&mut xml, &event["source"]);
    for entity in array(event, "entity") {
        participant_object(&mut xml, entity);
    }
    xml.close("AuditMessage");
    xml.out
}

fn event_identification(xml: &mut Xml, event: &Value) {
    let attrs = [
        ("EventActionCode", text(&event["action"])),
        ("EventDateTime", text(&event["recorded"])),
        // DICOM requires an outcome; an AuditEvent without one reports no failure.
        (
            "EventOutcomeIndicator",
            text(&event["outcome"]).or(Some("0")),
        ),
    ];
    xml.open("EventIdentification", &attrs);
    coded(xml, "EventID", CodedPlace::Other, &event["type"]);
    for subtype in array(event, "subtype") {
        coded(xml, "EventTypeCode", CodedPlace::Other, subtype);
    }
    if let Some(desc) = text(&event["outcomeDesc"]) {
        xml.element("EventOutcomeDescription", desc);
    }
    for purpose in array(event, "purposeOfEvent") {
        for coding in array(purpose, "coding") {
            coded(xml, "PurposeOfUse", CodedPlace::Other, coding);
        }
    }
    xml.close("EventIdentification");
}

fn active_participant(xml: &mut Xml, agent: &Value) {
    let requestor = match agent["requestor"] {
        Value::Bool(true) => Some("true"),
        Value::Bool(false) => Some("false"),
        _ => None,
    };
    let user_id = reference_text(&agent["who"]).unwrap_or("");
    let attrs = [
        ("UserID", Some(user_id)),
        ("AlternativeUserID", text(&agent["altId"])),
        ("UserName", text(&agent["name"])),
        ("UserIsRequestor", requestor),
        ("NetworkAccessPointID", text(&agent["network"]["address"])),
        (
            "NetworkAccessPointTypeCode",
            text(&agent["network"]["type"]),
        ),
    ];
    xml.open("ActiveParticipant", &attrs);
    for concept in std::iter::once(&agent["type"]).chain(array(agent, "role")) {
        for coding in array(concept, "coding") {
            coded(xml, "RoleIDCode", CodedPlace::Other, coding);
        }
    }
    xml.close("ActiveParticipant");
}

fn audit_source(xml: &mut Xml, source: &Value) {
    let attrs = [
        ("AuditEnterpriseSiteID", text(&source["site"])),
        (
            "AuditSourceID",
            Some(reference_text(&source["observer"]).unwrap_or("")),
        ),
    ];
    xml.open("AuditSourceIdentification", &attrs);
    for coding in array(source, "type") {
        coded(
            xml,
            "AuditSourceTypeCode",
            CodedPlace::AuditSourceType,
            coding,
        );
    }
    xml.close("AuditSourceIdentification");
}

fn participant_object(xml: &mut Xml, entity: &Value) {
    let what = &entity["what"];
    let reference = text(&what["reference"]);
    let id = reference
        .or_else(|| text(&what["identifier"]["value"]))
        .or_else(|| text(&what["display"]))
        .unwrap_or("");
    let attrs = [
        ("ParticipantObjectID", Some(id)),
        (
            "ParticipantObjectTypeCode",
            fixed_code(&entity["type"], AUDIT_ENTITY_TYPE, 4),
        ),
        (
            "ParticipantObjectTypeCodeRole",
            fixed_code(&entity["role"], OBJECT_ROLE, 24),
        ),
        (
            "ParticipantObjectDataLifeCycle",
            fixed_code(&entity["lifecycle"], DATA_LIFECYCLE, 15),
        ),
    ];
    xml.open("ParticipantObjectIdentification", &attrs);
    if reference.is_some() {
        let uri = serde_json::json!({"system": RFC3881_ID_TYPE, "code": "12", "display": "URI"});
        coded(
            xml,
            "ParticipantObjectIDTypeCode",
            CodedPlace::ParticipantObjectIdType,
            &uri,
        );
    } else {
        for coding in array(&what["identifier"]["type"], "coding").take(1) {
            coded(
                xml,
                "ParticipantObjectIDTypeCode",
                CodedPlace::ParticipantObjectIdType,
                coding,
            );
        }
    }
    if let Some(name) = text(&entity["name"]) {
        xml.element("ParticipantObjectName", name);
    }
    if let Some(query) = text(&entity["query"]) {
        xml.element("ParticipantObjectQuery", query);
    }
    for detail in array(entity, "detail") {
        object_detail(xml, detail);
    }
    if let Some(description) = text(&entity["description"]) {
        xml.element("ParticipantObjectDescription", description);
    }
    xml.close("ParticipantObjectIdentification");
}

/// `ParticipantObjectDetail`: DICOM carries the value in base64 whatever it is.
fn object_detail(xml: &mut Xml, detail: &Value) {
    let value = match (
        text(&detail["valueString"]),
        text(&detail["valueBase64Binary"]),
    ) {
        (Some(s), _) => base64::engine::general_purpose::STANDARD.encode(s),
        (None, Some(b)) => b.to_owned(),
        (None, None) => return,
    };
    let attrs = [
        ("type", text(&detail["type"])),
        ("value", Some(value.as_str())),
    ];
    xml.empty("ParticipantObjectDetail", &attrs);
}

/// A coded value element from a FHIR Coding.
fn coded(xml: &mut Xml, name: &str, place: CodedPlace, coding: &Value) {
    let Some(code) = text(&coding["code"]) else {
        return;
    };
    let system = text(&coding["system"]);
    let system_name = system.map(|s| code_system_name(place, s).unwrap_or(s));
    let attrs = [
        ("csd-code", Some(code)),
        ("codeSystemName", system_name),
        ("originalText", text(&coding["display"])),
    ];
    xml.empty(name, &attrs);
}

/// The code of a Coding in `system` (or with no system) when it is 1..=`max`, for the
/// DICOM attributes that carry such codes bare.
fn fixed_code<'a>(coding: &'a Value, system: &str, max: u32) -> Option<&'a str> {
    let code = text(&coding["code"])?;
    let system_ok = coding
        .get("system")
        .is_none_or(|s| s.as_str() == Some(system));
    let in_range =
        code.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n)) && !code.starts_with(['0', '+']);
    (system_ok && in_range).then_some(code)
}

/// What a Reference names: identifier value, reference, or display, first found.
fn reference_text(reference: &Value) -> Option<&str> {
    text(&reference["identifier"]["value"])
        .or_else(|| text(&reference["reference"]))
        .or_else(|| text(&reference["display"]))
}

fn text(value: &Value) -> Option<&str> {
    value.as_str().filter(|s| !s.is_empty())
}

fn array<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value[key].as_array().into_iter().flatten()
}

/// A single-line XML writer.
#[derive(Default)]
struct Xml {
    out: String,
}

impl Xml {
    fn start(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            if let Some(value) = value {
                self.out.push(' ');
                self.out.push_str(key);
                self.out.push_str("=\"");
                escape_into(&mut self.out, value);
                self.out.push('"');
            }
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.start(name, attrs);
        self.out.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, Option<&str>)]) {
        self.start(name, attrs);
        self.out.push_str("/>");
    }

    fn element(&mut self, name: &str, content: &str) {
        self.open(name, &[]);
        escape_into(&mut self.out, content);
        self.close(name);
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
}

/// Escapes for both attribute values and text: the five XML specials, and line breaks
/// and tabs as character references so that the message stays on one line and parsers
/// keep them. Characters XML 1.0 cannot carry become U+FFFD.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_one_line_with_escapes() {
        let event = json!({
            "resourceType": "AuditEvent",
            "type": {"system": DCM, "code": "110110", "display": "Patient Record"},
            "subtype": [{"system": "urn:x", "code": "a&b"}],
            "action": "R",
            "recorded": "2024-01-02T03:04:05Z",
            "outcome": "0",
            "outcomeDesc": "line1\nline2 <\"it's\">",
            "agent": [{"who": {"identifier": {"value": "u1"}}, "requestor": true,
                       "network": {"address": "10.0.0.1", "type": "2"}}],
            "source": {"site": "S", "observer": {"display": "obs"},
                       "type": [{"system": SECURITY_SOURCE_TYPE, "code": "4"}]},
            "entity": [{"what": {"reference": "Patient/1"},
                        "type": {"system": AUDIT_ENTITY_TYPE, "code": "1"},
                        "role": {"system": OBJECT_ROLE, "code": "1"},
                        "lifecycle": {"system": DATA_LIFECYCLE, "code": "6"},
                        "detail": [{"type": "k", "valueString": "v"}]}],
        });
        let expected = concat!(
            r#"<AuditMessage><EventIdentification EventActionCode="R" EventDateTime="2024-01-02T03:04:05Z" EventOutcomeIndicator="0">"#,
            r#"<EventID csd-code="110110" codeSystemName="DCM" originalText="Patient Record"/>"#,
            r#"<EventTypeCode csd-code="a&amp;b" codeSystemName="urn:x"/>"#,
            r#"<EventOutcomeDescription>line1&#10;line2 &lt;&quot;it&apos;s&quot;&gt;</EventOutcomeDescription>"#,
            r#"</EventIdentification>"#,
            r#"<ActiveParticipant UserID="u1" UserIsRequestor="true" NetworkAccessPointID="10.0.0.1" NetworkAccessPointTypeCode="2"></ActiveParticipant>"#,
            r#"<AuditSourceIdentification AuditEnterpriseSiteID="S" AuditSourceID="obs">"#,
            r#"<AuditSourceTypeCode csd-code="4" codeSystemName="RFC-3881"/></AuditSourceIdentification>"#,
            r#"<ParticipantObjectIdentification ParticipantObjectID="Patient/1" ParticipantObjectTypeCode="1" ParticipantObjectTypeCodeRole="1" ParticipantObjectDataLifeCycle="6">"#,
            r#"<ParticipantObjectIDTypeCode csd-code="12" codeSystemName="RFC-3881" originalText="URI"/>"#,
            r#"<ParticipantObjectDetail type="k" value="dg=="/>"#,
            r#"</ParticipantObjectIdentification></AuditMessage>"#,
        );
        assert_eq!(render(&event), expected);
    }

    #[test]
    fn control_characters_are_replaced() {
        let mut out = String::new();
        escape_into(&mut out, "a\u{1}b\tc\rd");
        assert_eq!(out, "a\u{FFFD}b&#9;c&#13;d");
    }

    #[test]
    fn bare_codes_only_in_range_and_system() {
        assert_eq!(
            fixed_code(&json!({"code": "4"}), AUDIT_ENTITY_TYPE, 4),
            Some("4")
        );
        assert_eq!(
            fixed_code(&json!({"code": "5"}), AUDIT_ENTITY_TYPE, 4),
            None
        );
        assert_eq!(
            fixed_code(&json!({"code": "04"}), AUDIT_ENTITY_TYPE, 4),
            None
        );
        let other = json!({"system": "http://hl7.org/fhir/resource-types", "code": "2"});
        assert_eq!(fixed_code(&other, AUDIT_ENTITY_TYPE, 4), None);
    }

    #[test]
    fn non_objects_render_an_empty_message() {
        assert_eq!(
            render(&json!(null)),
            concat!(
                r#"<AuditMessage><EventIdentification EventOutcomeIndicator="0"></EventIdentification>"#,
                r#"<AuditSourceIdentification AuditSourceID=""></AuditSourceIdentification></AuditMessage>"#
            )
        );
    }

    #[test]
    fn system_names_invert() {
        for place in [
            CodedPlace::AuditSourceType,
            CodedPlace::ParticipantObjectIdType,
            CodedPlace::Other,
        ] {
            for uri in [DCM, IHE_TRANSACTIONS, SECURITY_SOURCE_TYPE, RFC3881_ID_TYPE] {
                if let Some(name) = code_system_name(place, uri) {
                    assert_eq!(code_system_uri(place, name), Some(uri));
                }
            }
        }
    }
}
