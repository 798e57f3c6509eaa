//! FHIR R4 AuditEvent intake: validation and splitting request bodies into items.
//!
//! [`split`] turns a request body (one AuditEvent, a Bundle, or NDJSON) into items;
//! [`validate`] checks each item against the R4 AuditEvent definition
//! (<http://hl7.org/fhir/R4/auditevent.html>) and returns what the trail needs.
//!
//! Validation checks every element it knows: required elements, cardinalities, JSON
//! types, FHIR primitive formats (code, uri, instant, base64Binary), and codes where
//! the value set is closed (action, outcome, network type) or where the Coding's system
//! is one we know ([`vocab`]). A code from a system we do not know is accepted: R4's
//! bindings there are extensible. Elements AuditEvent does not define are refused, as
//! is any `modifierExtension` (we understand none). Strings are bounded
//! ([`MAX_STRING_BYTES`]), as are repeats and nesting. Problems name element paths and
//! codes, never values, which may be PHI.

mod check;
mod split;
pub mod vocab;

pub use check::{MAX_BINARY_BYTES, MAX_DEPTH, MAX_REPEATS, MAX_STRING_BYTES, is_instant};
pub use split::{MAX_ITEMS, split};

use check::{Checker, index, join, nests_deeper_than};
use serde_json::{Map, Value};
use vocab::Element;
use webqx_audit::Outcome;

/// What the trail needs from a valid AuditEvent.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// `ehr.<type code>` or `ehr.<type code>.<first subtype code>`.
    pub action: String,
    /// `ehr:<requestor who>`: identifier value, reference, altId or name, first found.
    pub actor: String,
    /// The requestor's network address, if given.
    pub source: Option<String>,
    /// Outcome 0 → success; 4, 8, 12 → failure.
    pub outcome: Outcome,
    /// For failures: `outcomeDesc` is not copied (it may hold PHI); the code is.
    pub reason: Option<String>,
    /// The first entity's `what.reference`, if any.
    pub target: Option<String>,
    /// Every `Patient/...` reference among entities and agents.
    pub patients: Vec<String>,
    /// First purposeOfEvent coding code, if any.
    pub purpose: Option<String>,
    /// `recorded`, as given.
    pub recorded: String,
}

/// Why an item was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Every problem found, each naming the element (`agent[0].requestor is required`).
    pub problems: Vec<String>,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problems.join("; "))
    }
}

impl std::error::Error for Invalid {}

/// Why a whole request body was refused (nothing from it is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    /// What is wrong and what to send instead.
    pub message: String,
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for BodyError {}

/// Top-level elements of an R4 AuditEvent.
const AUDIT_EVENT: &[&str] = &[
    "resourceType",
    "meta",
    "implicitRules",
    "language",
    "text",
    "contained",
    "type",
    "subtype",
    "action",
    "period",
    "recorded",
    "outcome",
    "outcomeDesc",
    "purposeOfEvent",
    "agent",
    "source",
    "entity",
];

const AGENT: &[&str] = &[
    "type",
    "role",
    "who",
    "altId",
    "name",
    "requestor",
    "location",
    "policy",
    "media",
    "network",
    "purposeOfUse",
];

const ENTITY: &[&str] = &[
    "what",
    "type",
    "role",
    "lifecycle",
    "securityLabel",
    "name",
    "description",
    "query",
    "detail",
];

/// Checks an AuditEvent's required elements and codes.
///
/// The actor is the first agent with `requestor: true` (or the first agent); it must
/// be identified by `who.identifier.value`, `who.reference`, `altId` or `name`.
///
/// # Errors
/// [`Invalid`] listing every problem.
pub fn validate(event: &Value) -> Result<Summary, Invalid> {
    if nests_deeper_than(event, MAX_DEPTH) {
        return Err(Invalid {
            problems: vec![format!(
                "AuditEvent nests objects and arrays deeper than {MAX_DEPTH} levels"
            )],
        });
    }
    let mut c = Checker::default();
    if let Some(map) = c.object(event, "", AUDIT_EVENT) {
        check_resource(&mut c, map);
        check_event(&mut c, map);
        check_agents(&mut c, map);
        check_source(&mut c, map);
        check_entities(&mut c, map);
    }
    if !c.is_clean() {
        return Err(Invalid {
            problems: c.into_problems(),
        });
    }
    summarize(event).map_err(|problem| Invalid {
        problems: vec![problem],
    })
}

/// Resource-level elements: resourceType, meta, text, contained and the like.
fn check_resource(c: &mut Checker, map: &Map<String, Value>) {
    match c.required(map, "resourceType", "") {
        Some(Value::String(kind)) if kind == "AuditEvent" => {}
        Some(Value::String(_)) => c.report("resourceType", "must be \"AuditEvent\""),
        Some(_) => c.report("resourceType", "must be the JSON string \"AuditEvent\""),
        None => {}
    }
    if let Some(id) = map.get("id").and_then(Value::as_str) {
        let ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            c.report("id", "must be 1-64 letters, digits, '-' or '.'");
        }
    }
    if let Some(v) = c.optional(map, "meta", "")
        && !v.is_object()
    {
        c.report("meta", "must be a JSON object");
    }
    if let Some(v) = c.optional(map, "implicitRules", "") {
        c.uri(v, "implicitRules");
    }
    if let Some(v) = c.optional(map, "language", "") {
        c.code(v, "language");
    }
    if let Some(v) = c.optional(map, "text", "")
        && let Some(text) = c.object(v, "text", &["status", "div"])
    {
        if let Some(status) = c.required(text, "status", "text") {
            c.code(status, "text.status");
        }
        if let Some(div) = c.required(text, "div", "text") {
            c.string(div, "text.div");
        }
    }

    if let Some(v) = c.optional(map, "contained", "") {
        for (i, resource) in c.array(v, "contained").iter().enumerate() {
            if !resource.get("resourceType").is_some_and(Value::is_string) {
                c.report(
                    &index("contained", i),
                    "must be a resource (with a resourceType)",
                );
            }
        }
    }
}

/// What happened, when, and how it ended.
fn check_event(c: &mut Checker, map: &Map<String, Value>) {
    if let Some(v) = c.required(map, "type", "") {
        let code = c.coding(v, "type", Element::Type);
        if code.is_none() && v.is_object() && v.get("code").is_none() {
            c.report("type.code", "is required");
        }
    }
    if let Some(v) = c.optional(map, "subtype", "") {
        for (i, coding) in c.array(v, "subtype").iter().enumerate() {
            c.coding(coding, &index("subtype", i), Element::Subtype);
        }
    }
    if let Some(v) = c.optional(map, "action", "") {
        c.code_in(v, "action", &vocab::ACTION);
    }
    if let Some(v) = c.optional(map, "period", "") {
        c.period(v, "period");
    }
    if let Some(v) = c.required(map, "recorded", "") {
        c.instant(v, "recorded");
    }
    if let Some(v) = c.optional(map, "outcome", "") {
        c.code_in(v, "outcome", &vocab::OUTCOME);
    }
    if let Some(v) = c.optional(map, "outcomeDesc", "") {
        c.string(v, "outcomeDesc");
    }
    if let Some(v) = c.optional(map, "purposeOfEvent", "") {
        for (i, concept) in c.array(v, "purposeOfEvent").iter().enumerate() {
            c.concept(concept, &index("purposeOfEvent", i));
        }
    }
}

fn check_agents(c: &mut Checker, map: &Map<String, Value>) {
    let Some(agents) = c.required(map, "agent", "") else {
        return;
    };
    for (i, agent) in c.array(agents, "agent").iter().enumerate() {
        check_agent(c, agent, &index("agent", i));
    }
}

fn check_agent(c: &mut Checker, agent: &Value, path: &str) {
    let Some(map) = c.object(agent, path, AGENT) else {
        return;
    };
    if let Some(v) = c.required(map, "requestor", path) {
        c.boolean(v, &join(path, "requestor"));
    }
    if let Some(v) = c.optional(map, "type", path) {
        c.concept(v, &join(path, "type"));
    }
    for key in ["role", "purposeOfUse"] {
        if let Some(v) = c.optional(map, key, path) {
            let path = join(path, key);
            for (i, concept) in c.array(v, &path).iter().enumerate() {
                c.concept(concept, &index(&path, i));
            }
        }
    }
    for key in ["who", "location"] {
        if let Some(v) = c.optional(map, key, path) {
            c.reference(v, &join(path, key));
        }
    }
    for key in ["altId", "name"] {
        if let Some(v) = c.optional(map, key, path) {
            c.string(v, &join(path, key));
        }
    }
    if let Some(v) = c.optional(map, "policy", path) {
        let path = join(path, "policy");
        for (i, uri) in c.array(v, &path).iter().enumerate() {
            c.uri(uri, &index(&path, i));
        }
    }
    if let Some(v) = c.optional(map, "media", path) {
        c.coding(v, &join(path, "media"), Element::Other);
    }
    if let Some(v) = c.optional(map, "network", path) {
        check_network(c, v, &join(path, "network"));
    }
}

fn check_network(c: &mut Checker, network: &Value, path: &str) {
    let Some(map) = c.object(network, path, &["address", "type"]) else {
        return;
    };
    if let Some(v) = c.optional(map, "address", path) {
        c.string(v, &join(path, "address"));
    }
    if let Some(v) = c.optional(map, "type", path) {
        c.code_in(v, &join(path, "type"), &vocab::NETWORK_TYPE);
    }
}

fn check_source(c: &mut Checker, map: &Map<String, Value>) {
    let Some(source) = c.required(map, "source", "") else {
        return;
    };
    let Some(map) = c.object(source, "source", &["site", "observer", "type"]) else {
        return;
    };
    if let Some(v) = c.optional(map, "site", "source") {
        c.string(v, "source.site");
    }
    if let Some(v) = c.required(map, "observer", "source") {
        c.reference(v, "source.observer");
    }
    if let Some(v) = c.optional(map, "type", "source") {
        for (i, coding) in c.array(v, "source.type").iter().enumerate() {
            c.coding(coding, &index("source.type", i), Element::SourceType);
        }
    }
}

fn check_entities(c: &mut Checker, map: &Map<String, Value>) {
    let Some(entities) = c.optional(map, "entity", "") else {
        return;
    };
    for (i, entity) in c.array(entities, "entity").iter().enumerate() {
        check_entity(c, entity, &index("entity", i));
    }
}

fn check_entity(c: &mut Checker, entity: &Value, path: &str) {
    let Some(map) = c.object(entity, path, ENTITY) else {
        return;
    };
    if let Some(v) = c.optional(map, "what", path) {
        c.reference(v, &join(path, "what"));
    }
    for (key, element) in [
        ("type", Element::EntityType),
        ("role", Element::EntityRole),
        ("lifecycle", Element::EntityLifecycle),
    ] {
        if let Some(v) = c.optional(map, key, path) {
            c.coding(v, &join(path, key), element);
        }
    }
    if let Some(v) = c.optional(map, "securityLabel", path) {
        let path = join(path, "securityLabel");
        for (i, coding) in c.array(v, &path).iter().enumerate() {
            c.coding(coding, &index(&path, i), Element::Other);
        }
    }
    for key in ["name", "description"] {
        if let Some(v) = c.optional(map, key, path) {
            c.string(v, &join(path, key));
        }
    }
    if let Some(v) = c.optional(map, "query", path) {
        c.base64(v, &join(path, "query"));
    }
    if map.contains_key("name") && map.contains_key("query") {
        c.report(path, "has both name and query (constraint sev-1): give one");
    }
    if let Some(v) = c.optional(map, "detail", path) {
        let path = join(path, "detail");
        for (i, detail) in c.array(v, &path).iter().enumerate() {
            check_detail(c, detail, &index(&path, i));
        }
    }
}

fn check_detail(c: &mut Checker, detail: &Value, path: &str) {
    let known = ["type", "valueString", "valueBase64Binary"];
    let Some(map) = c.object(detail, path, &known) else {
        return;
    };
    if let Some(v) = c.required(map, "type", path) {
        c.string(v, &join(path, "type"));
    }
    match (
        c.optional(map, "valueString", path),
        c.optional(map, "valueBase64Binary", path),
    ) {
        (Some(v), None) => {
            c.string(v, &join(path, "valueString"));
        }
        (None, Some(v)) => c.base64(v, &join(path, "valueBase64Binary")),
        (Some(_), Some(_)) => c.report(
            path,
            "has two values: give valueString or valueBase64Binary",
        ),
        (None, None) => c.report(
            &join(path, "value[x]"),
            "is required (valueString or valueBase64Binary)",
        ),
    }
}

/// The summary of an event already checked.
fn summarize(event: &Value) -> Result<Summary, String> {
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let type_code = event["type"]["code"].as_str().unwrap_or_default();
    let action = match event["subtype"][0]["code"].as_str() {
        Some(sub) => format!("ehr.{type_code}.{sub}"),
        None => format!("ehr.{type_code}"),
    };
    let agents = event["agent"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let (i, requestor) = agents
        .iter()
        .enumerate()
        .find(|(_, a)| a["requestor"] == Value::Bool(true))
        .or_else(|| agents.first().map(|a| (0, a)))
        .ok_or("agent is required")?;
    let who = &requestor["who"];
    let actor = [
        &who["identifier"]["value"],
        &who["reference"],
        &requestor["altId"],
        &requestor["name"],
    ]
    .into_iter()
    .find_map(Value::as_str)
    .ok_or_else(|| {
        format!(
            "agent[{i}] (the requestor) identifies no actor: give who.identifier.value, \
                 who.reference, altId or name"
        )
    })?;
    let (outcome, reason) = outcome(event["outcome"].as_str());
    Ok(Summary {
        action,
        actor: format!("ehr:{actor}"),
        source: text(&requestor["network"]["address"]),
        outcome,
        reason,
        target: text(&event["entity"][0]["what"]["reference"]),
        patients: patients(event),
        purpose: purpose(event),
        recorded: text(&event["recorded"]).unwrap_or_default(),
    })
}

/// The trail outcome and stable reason for an AuditEvent outcome code. An event
/// without an outcome reports no failure, so it counts as a success.
fn outcome(code: Option<&str>) -> (Outcome, Option<String>) {
    let reason = match code {
        None | Some("0") => return (Outcome::Success, None),
        Some("4") => "outcome_4_minor_failure",
        Some("8") => "outcome_8_serious_failure",
        Some("12") => "outcome_12_major_failure",
        Some(_) => "outcome_unknown",
    };
    (Outcome::Failure, Some(reason.to_owned()))
}

/// Every distinct `Patient/...` reference among entities' `what` and agents' `who`,
/// and the identifier value of every entity whose role is Patient (object-role code
/// 1, as ATNA sends patient numbers such as `777^^^&1.2.3&ISO`).
fn patients(event: &Value) -> Vec<String> {
    let mut out = references(event);
    let patient_ids = event["entity"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["role"]["code"].as_str() == Some("1"))
        .filter_map(|e| e["what"]["identifier"]["value"].as_str());
    for id in patient_ids {
        if !out.iter().any(|p| p == id) {
            out.push(id.to_owned());
        }
    }
    out
}

fn references(event: &Value) -> Vec<String> {
    let entities = event["entity"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["what"]);
    let agents = event["agent"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| &a["who"]);
    let mut out: Vec<String> = Vec::new();
    for reference in entities
        .chain(agents)
        .filter_map(|r| r["reference"].as_str())
    {
        if reference.starts_with("Patient/") && !out.iter().any(|p| p == reference) {
            out.push(reference.to_owned());
        }
    }
    out
}

/// The first code among the purposeOfEvent codings.
fn purpose(event: &Value) -> Option<String> {
    event["purposeOfEvent"]
        .as_array()?
        .iter()
        .flat_map(|concept| concept["coding"].as_array().into_iter().flatten())
        .find_map(|coding| coding["code"].as_str())
        .map(str::to_owned)
}
