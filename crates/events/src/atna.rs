//! IHE ATNA (DICOM PS3.15 audit message XML) read into FHIR R4 AuditEvent.
//!
//! The message is read with `roxmltree`, with DTDs refused (so no entity can be
//! declared, let alone expanded), at most [`MAX_XML_BYTES`] of text, [`MAX_NODES`] nodes
//! and [`MAX_XML_DEPTH`] levels. Elements are matched by local name, whatever their
//! namespace; elements and attributes the mapping does not use are ignored.
//!
//! The mapping is the inverse of [`webqx_audit::render::atna`] (its module docs give
//! the table, after the FHIR R4 AuditEvent DICOM mappings). Required DICOM elements
//! and attributes must be present: `EventIdentification` with `EventID`,
//! `@EventDateTime` and `@EventOutcomeIndicator`; at least one `ActiveParticipant`
//! with `@UserID` and `@UserIsRequestor`; one `AuditSourceIdentification` with
//! `@AuditSourceID`; `@ParticipantObjectID` on each participant object. An empty
//! `@UserID` or `@ParticipantObjectID` leaves `who` or `what` out. Codes are checked
//! against their DICOM lists; the result is then checked by
//! [`crate::auditevent::validate`], so whatever [`parse`] returns is a valid AuditEvent.
//!
//! Errors name elements, attributes and positions (line, column), never values.

use crate::auditevent::vocab::{self, CodeList};
use base64::Engine as _;
use roxmltree::{Document, Node, ParsingOptions};
use serde_json::{Map, Value, json};
use webqx_audit::render::atna::{CodedPlace, RFC3881_ID_TYPE, code_system_uri};

/// Largest message accepted, in bytes.
pub const MAX_XML_BYTES: usize = 1024 * 1024;
/// Most XML nodes (elements, text, comments...) accepted in one message.
pub const MAX_NODES: u32 = 50_000;
/// Deepest element nesting accepted.
pub const MAX_XML_DEPTH: usize = 32;

/// Why an ATNA message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AtnaError {
    /// What is wrong, for the sender (never echoes content).
    pub message: String,
}

impl std::fmt::Display for AtnaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AtnaError {}

fn error(message: impl Into<String>) -> AtnaError {
    AtnaError {
        message: message.into(),
    }
}

/// Reads one DICOM audit message and returns the equivalent FHIR R4 AuditEvent.
///
/// # Errors
/// [`AtnaError`] for malformed XML or a message missing required elements.
pub fn parse(xml: &str) -> Result<Value, AtnaError> {
    if xml.len() > MAX_XML_BYTES {
        return Err(error(format!(
            "the message is larger than {MAX_XML_BYTES} bytes; send one audit message at a time"
        )));
    }
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(xml, options).map_err(xml_error)?;
    check_depth(&doc)?;

    let root = doc.root_element();
    if root.tag_name().name() != "AuditMessage" {
        return Err(error(
            "the root element is not AuditMessage; send a DICOM PS3.15 audit message",
        ));
    }
    let mut reader = Reader {
        doc: &doc,
        problems: Vec::new(),
    };
    let event = reader.message(root);
    if !reader.problems.is_empty() {
        return Err(error(reader.problems.join("; ")));
    }

    crate::auditevent::validate(&event).map_err(|invalid| {
        error(format!(
            "the message does not make a valid FHIR AuditEvent: {invalid}"
        ))
    })?;
    Ok(event)
}

/// What went wrong in the XML, and where, without the text.
fn xml_error(e: roxmltree::Error) -> AtnaError {
    use roxmltree::Error as E;
    let what = match &e {
        E::DtdDetected => {
            return error(
                "the message has a DTD: DTDs and entity declarations are refused; send the \
                 AuditMessage element alone",
            );
        }
        E::NodesLimitReached => {
            return error(format!("the message has more than {MAX_NODES} XML nodes"));
        }
        E::AttributesLimitReached | E::NamespacesLimitReached => {
            return error("the message has too many attributes or namespaces");
        }
        E::MalformedEntityReference(_) => {
            "a raw '&' or a malformed entity reference (escape '&' as &amp;)"
        }
        E::UnknownEntityReference(..) | E::EntityResolver(..) => {
            "a reference to an undeclared entity (only the five XML entities and character \
             references are allowed)"
        }
        E::EntityReferenceLoop(_) | E::UnexpectedEntityCloseTag(_) => "an entity misuse",
        E::InvalidAttributeValue(_) => "a '<' in an attribute value (escape it as &lt;)",
        E::DuplicatedAttribute(..) => "an attribute given twice on one element",
        E::UnexpectedCloseTag(..) => "a closing tag that does not match the open element",
        E::NoRootNode => "no root element",
        E::UnclosedRootNode => "a root element that is never closed",
        E::NonXmlChar(..) => "a character XML does not allow",
        E::UnexpectedEndOfStream => "an early end",
        E::UnexpectedDeclaration(_) => "an XML declaration that is not at the start",
        E::InvalidComment(_) => "a malformed comment",
        E::InvalidXmlPrefixUri(_)
        | E::UnexpectedXmlUri(_)
        | E::UnexpectedXmlnsUri(_)
        | E::InvalidElementNamePrefix(_)
        | E::DuplicatedNamespace(..)
        | E::UnknownNamespace(..) => "a namespace error",
        _ => "malformed markup",
    };
    let pos = e.pos();
    error(format!(
        "the message is not well-formed XML: {what} at line {}, column {}",
        pos.row, pos.col
    ))
}

/// Refuses elements nested deeper than [`MAX_XML_DEPTH`] (nodes come in document
/// order, so each parent's depth is known before its children).
fn check_depth(doc: &Document<'_>) -> Result<(), AtnaError> {
    let mut depth: Vec<usize> = Vec::new();
    for node in doc.descendants() {
        let d = node
            .parent()
            .and_then(|p| depth.get(p.id().get_usize()))
            .map_or(0, |d| d + 1);
        let id = node.id().get_usize();
        if depth.len() <= id {
            depth.resize(id + 1, 0);
        }
        depth[id] = d;
        if d > MAX_XML_DEPTH {
            return Err(error(format!(
                "the message nests elements deeper than {MAX_XML_DEPTH} levels"
            )));
        }
    }
    Ok(())
}

/// Reads the message, collecting every problem.
struct Reader<'a, 'input> {
    doc: &'a Document<'input>,
    problems: Vec<String>,
}

fn children<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Vec<Node<'a, 'input>> {
    node.children()
        .filter(|n| n.is_element() && n.tag_name().name() == name)
        .collect()
}

/// A non-empty attribute value.
fn attr<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute(name).filter(|v| !v.is_empty())
}

/// The element's text (all text children), when not empty.
fn text_of(node: Node<'_, '_>) -> Option<String> {
    let text: String = node
        .children()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    (!text.is_empty()).then_some(text)
}

impl Reader<'_, '_> {
    fn problem(&mut self, node: Node<'_, '_>, what: impl std::fmt::Display) {
        let pos = self.doc.text_pos_at(node.range().start);
        self.problems.push(format!(
            "{} (line {}, column {}) {what}",
            node.tag_name().name(),
            pos.row,
            pos.col
        ));
    }

    /// The one child `name` of `node`, reporting none or several.
    fn one<'a, 'input>(&mut self, node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
        match children(node, name).as_slice() {
            [one] => Some(*one),
            [] => {
                self.problem(node, format_args!("has no {name} (it is required)"));
                None
            }
            _ => {
                self.problem(node, format_args!("has more than one {name}"));
                None
            }
        }
    }

    /// A required attribute (which may be empty).
    fn required<'a>(&mut self, node: Node<'a, '_>, name: &str) -> Option<&'a str> {
        let value = node.attribute(name);
        if value.is_none() {
            self.problem(
                node,
                format_args!("has no {name} attribute (it is required)"),
            );
        }
        value
    }

    fn message(&mut self, root: Node<'_, '_>) -> Value {
        let mut event = Map::new();
        event.insert("resourceType".into(), json!("AuditEvent"));
        if let Some(node) = self.one(root, "EventIdentification") {
            self.event_identification(node, &mut event);
        }
        let agents: Vec<Value> = children(root, "ActiveParticipant")
            .into_iter()
            .map(|n| self.participant(n))
            .collect();
        if agents.is_empty() {
            self.problem(root, "has no ActiveParticipant (at least one is required)");
        }
        event.insert("agent".into(), Value::Array(agents));
        if let Some(node) = self.one(root, "AuditSourceIdentification") {
            let source = self.source(node);
            event.insert("source".into(), source);
        }
        let entities: Vec<Value> = children(root, "ParticipantObjectIdentification")
            .into_iter()
            .map(|n| self.object(n))
            .collect();
        if !entities.is_empty() {
            event.insert("entity".into(), Value::Array(entities));
        }
        event.into()
    }

    fn event_identification(&mut self, node: Node<'_, '_>, event: &mut Map<String, Value>) {
        if let Some(id) = self.one(node, "EventID")
            && let Some(coding) = self.coded(id, CodedPlace::Other)
        {
            event.insert("type".into(), coding);
        }
        let subtypes = self.codings(node, "EventTypeCode", CodedPlace::Other);
        if !subtypes.is_empty() {
            event.insert("subtype".into(), Value::Array(subtypes));
        }
        if let Some(action) = node.attribute("EventActionCode")
            && let Some(code) = self.listed(node, "EventActionCode", action, &vocab::ACTION)
        {
            event.insert("action".into(), json!(code));
        }
        if let Some(time) = self.required(node, "EventDateTime") {
            if crate::auditevent::is_instant(time.trim()) {
                event.insert("recorded".into(), json!(time.trim()));
            } else {
                self.problem(
                    node,
                    "EventDateTime must give date, time with seconds, and time zone \
                     (2024-05-01T12:30:00Z)",
                );
            }
        }
        if let Some(outcome) = self.required(node, "EventOutcomeIndicator")
            && let Some(code) = self.listed(node, "EventOutcomeIndicator", outcome, &vocab::OUTCOME)
        {
            event.insert("outcome".into(), json!(code));
        }
        if let Some(desc) = children(node, "EventOutcomeDescription")
            .first()
            .and_then(|n| text_of(*n))
        {
            event.insert("outcomeDesc".into(), json!(desc));
        }
        let purposes: Vec<Value> = self
            .codings(node, "PurposeOfUse", CodedPlace::Other)
            .into_iter()
            .map(|coding| json!({"coding": [coding]}))
            .collect();
        if !purposes.is_empty() {
            event.insert("purposeOfEvent".into(), Value::Array(purposes));
        }
    }

    fn participant(&mut self, node: Node<'_, '_>) -> Value {
        let mut agent = Map::new();
        let roles = self.codings(node, "RoleIDCode", CodedPlace::Other);
        if !roles.is_empty() {
            agent.insert("type".into(), json!({"coding": roles}));
        }
        if let Some(user) = self.required(node, "UserID").filter(|u| !u.is_empty()) {
            agent.insert("who".into(), json!({"identifier": {"value": user}}));
        }
        if let Some(alt) = attr(node, "AlternativeUserID") {
            agent.insert("altId".into(), json!(alt));
        }
        if let Some(name) = attr(node, "UserName") {
            agent.insert("name".into(), json!(name));
        }
        if let Some(requestor) = self.required(node, "UserIsRequestor") {
            match requestor.trim() {
                "true" | "1" => agent.insert("requestor".into(), json!(true)),
                "false" | "0" => agent.insert("requestor".into(), json!(false)),
                _ => {
                    self.problem(node, "UserIsRequestor must be true or false");
                    None
                }
            };
        }
        let mut network = Map::new();
        if let Some(address) = attr(node, "NetworkAccessPointID") {
            network.insert("address".into(), json!(address));
        }
        if let Some(kind) = node.attribute("NetworkAccessPointTypeCode")
            && let Some(code) = self.listed(
                node,
                "NetworkAccessPointTypeCode",
                kind,
                &vocab::NETWORK_TYPE,
            )
        {
            network.insert("type".into(), json!(code));
        }
        if !network.is_empty() {
            agent.insert("network".into(), network.into());
        }
        agent.into()
    }

    fn source(&mut self, node: Node<'_, '_>) -> Value {
        let mut source = Map::new();
        if let Some(site) = attr(node, "AuditEnterpriseSiteID") {
            source.insert("site".into(), json!(site));
        }
        match self.required(node, "AuditSourceID") {
            Some("") => self.problem(node, "AuditSourceID must not be empty"),
            Some(id) => {
                source.insert("observer".into(), json!({"identifier": {"value": id}}));
            }
            None => {}
        }
        let types = self.codings(node, "AuditSourceTypeCode", CodedPlace::AuditSourceType);
        if !types.is_empty() {
            source.insert("type".into(), Value::Array(types));
        }
        source.into()
    }

    fn object(&mut self, node: Node<'_, '_>) -> Value {
        let mut entity = Map::new();
        let id_type = children(node, "ParticipantObjectIDTypeCode")
            .first()
            .and_then(|n| self.coded(*n, CodedPlace::ParticipantObjectIdType));
        if let Some(id) = self
            .required(node, "ParticipantObjectID")
            .filter(|i| !i.is_empty())
        {
            entity.insert("what".into(), what(id, id_type));
        }
        for (attribute, key, system, list) in [
            (
                "ParticipantObjectTypeCode",
                "type",
                vocab::AUDIT_ENTITY_TYPE,
                &vocab::ENTITY_TYPE,
            ),
            (
                "ParticipantObjectTypeCodeRole",
                "role",
                vocab::OBJECT_ROLE,
                &vocab::ENTITY_ROLE,
            ),
            (
                "ParticipantObjectDataLifeCycle",
                "lifecycle",
                vocab::DATA_LIFECYCLE,
                &vocab::LIFECYCLE,
            ),
        ] {
            if let Some(value) = node.attribute(attribute)
                && let Some(code) = self.listed(node, attribute, value, list)
            {
                let display = list.display(code);
                entity.insert(
                    key.into(),
                    json!({"system": system, "code": code, "display": display}),
                );
            }
        }
        self.object_texts(node, &mut entity);
        let details: Vec<Value> = children(node, "ParticipantObjectDetail")
            .into_iter()
            .filter_map(|n| self.detail(n))
            .collect();
        if !details.is_empty() {
            entity.insert("detail".into(), Value::Array(details));
        }
        entity.into()
    }

    /// Name, description and query (base64, whitespace removed).
    fn object_texts(&mut self, node: Node<'_, '_>, entity: &mut Map<String, Value>) {
        let name = children(node, "ParticipantObjectName")
            .first()
            .and_then(|n| text_of(*n));
        let query = children(node, "ParticipantObjectQuery")
            .first()
            .and_then(|n| text_of(*n));
        if name.is_some() && query.is_some() {
            self.problem(
                node,
                "has both ParticipantObjectName and ParticipantObjectQuery: give one",
            );
        }
        if let Some(name) = name {
            entity.insert("name".into(), json!(name));
        }
        let description = children(node, "ParticipantObjectDescription")
            .first()
            .and_then(|n| text_of(*n));
        if let Some(description) = description {
            entity.insert("description".into(), json!(description));
        }
        if let Some(query) = query {
            let compact: String = query.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            if base64::engine::general_purpose::STANDARD
                .decode(&compact)
                .is_err()
            {
                self.problem(
                    node,
                    "has a ParticipantObjectQuery that is not valid base64",
                );
            } else {
                entity.insert("query".into(), json!(compact));
            }
        }
    }

    fn detail(&mut self, node: Node<'_, '_>) -> Option<Value> {
        let kind = self.required(node, "type")?;
        let value = self.required(node, "value")?;
        let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        if kind.is_empty() || compact.is_empty() {
            self.problem(node, "must have a non-empty type and value");
            return None;
        }
        if base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .is_err()
        {
            self.problem(node, "value is not valid base64");
            return None;
        }
        Some(json!({"type": kind, "valueBase64Binary": compact}))
    }

    /// Every child `name` as a FHIR Coding.
    fn codings(&mut self, node: Node<'_, '_>, name: &str, place: CodedPlace) -> Vec<Value> {
        children(node, name)
            .into_iter()
            .filter_map(|n| self.coded(n, place))
            .collect()
    }

    /// A DICOM coded value (`csd-code`, or RFC 3881's `code`; `codeSystemName`;
    /// `displayName` or `originalText`) as a FHIR Coding.
    fn coded(&mut self, node: Node<'_, '_>, place: CodedPlace) -> Option<Value> {
        let code = node
            .attribute("csd-code")
            .or_else(|| node.attribute("code"))
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let Some(code) = code else {
            self.problem(node, "has no csd-code");
            return None;
        };
        let mut coding = Map::new();
        if let Some(system) = system_for(node, place, code) {
            coding.insert("system".into(), json!(system));
        }
        coding.insert("code".into(), json!(code));
        if let Some(display) = attr(node, "displayName").or_else(|| attr(node, "originalText")) {
            coding.insert("display".into(), json!(display));
        }
        Some(coding.into())
    }

    /// A bare code attribute from a closed list.
    fn listed<'v>(
        &mut self,
        node: Node<'_, '_>,
        attribute: &str,
        value: &'v str,
        list: &CodeList,
    ) -> Option<&'v str> {
        let code = value.trim();
        if list.contains(code) {
            Some(code)
        } else {
            self.problem(
                node,
                format_args!(
                    "{attribute} must be one of {} ({})",
                    list.listing(),
                    list.name
                ),
            );
            None
        }
    }
}

/// The FHIR system of a coded value: DICOM's short names mapped, URIs kept, OIDs as
/// `urn:oid:`; an RFC 3881 source type without a system name is security-source-type.
/// Other names have no FHIR system and are left out.
fn system_for(node: Node<'_, '_>, place: CodedPlace, code: &str) -> Option<String> {
    let name = attr(node, "codeSystemName").map(str::trim);
    if let Some(name) = name {
        if let Some(uri) = code_system_uri(place, name) {
            return Some(uri.to_owned());
        }
        if name.contains(':') && !name.contains(char::is_whitespace) {
            return Some(name.to_owned());
        }
    }
    let oid = name
        .filter(|n| is_oid(n))
        .or_else(|| attr(node, "codeSystem").filter(|n| is_oid(n)));
    if let Some(oid) = oid {
        return Some(format!("urn:oid:{oid}"));
    }
    (name.is_none() && place == CodedPlace::AuditSourceType && vocab::SOURCE_TYPE.contains(code))
        .then(|| vocab::SECURITY_SOURCE_TYPE.to_owned())
}

fn is_oid(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

/// `entity.what`: a reference when the ID type is RFC 3881's 12 (URI), else an
/// identifier with the ID type.
fn what(id: &str, id_type: Option<Value>) -> Value {
    let is_uri = id_type
        .as_ref()
        .is_some_and(|c| c["system"] == RFC3881_ID_TYPE && c["code"] == "12");
    match id_type {
        _ if is_uri => json!({"reference": id}),
        Some(coding) => json!({"identifier": {"type": {"coding": [coding]}, "value": id}}),
        None => json!({"identifier": {"value": id}}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids() {
        assert!(is_oid("1.2.840.10008"));
        assert!(!is_oid("1..2"));
        assert!(!is_oid("DCM"));
    }
}
