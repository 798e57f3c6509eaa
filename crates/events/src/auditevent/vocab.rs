//! The code lists AuditEvent validation and ATNA reading check codes against.
//!
//! Transcribed from FHIR R4 (4.0.1) and HL7 Terminology (THO): the CodeSystems
//! audit-event-type, restful-interaction, audit-entity-type, object-role,
//! dicom-audit-lifecycle, security-source-type and network-type, the audit-event-action
//! and audit-event-outcome codes, and the DICOM audit event IDs (PS3.16 CID 400, which
//! the R4 value set audit-event-type includes).

pub use webqx_audit::render::fhir::{
    AUDIT_ENTITY_TYPE, AUDIT_EVENT_TYPE, DATA_LIFECYCLE, DCM, OBJECT_ROLE, RESTFUL_INTERACTION,
    SECURITY_SOURCE_TYPE,
};

/// A closed list of codes with their displays.
#[derive(Debug, Clone, Copy)]
pub struct CodeList {
    /// What the list is, for messages (`DICOM audit event ID`).
    pub name: &'static str,
    /// Code and display, in the order the source gives them.
    pub codes: &'static [(&'static str, &'static str)],
}

impl CodeList {
    /// Whether `code` is in the list (codes are case-sensitive).
    pub fn contains(&self, code: &str) -> bool {
        self.display(code).is_some()
    }

    /// The display of `code`, if it is in the list.
    pub fn display(&self, code: &str) -> Option<&'static str> {
        self.codes.iter().find(|(c, _)| *c == code).map(|(_, d)| *d)
    }

    /// The codes, comma-separated, for messages.
    pub fn listing(&self) -> String {
        let codes: Vec<&str> = self.codes.iter().map(|(c, _)| *c).collect();
        codes.join(", ")
    }
}

/// `AuditEvent.action` (audit-event-action, required binding).
pub const ACTION: CodeList = CodeList {
    name: "audit event action",
    codes: &[
        ("C", "Create"),
        ("R", "Read/View/Print"),
        ("U", "Update"),
        ("D", "Delete"),
        ("E", "Execute"),
    ],
};

/// `AuditEvent.outcome` (audit-event-outcome, required binding).
pub const OUTCOME: CodeList = CodeList {
    name: "audit event outcome",
    codes: &[
        ("0", "Success"),
        ("4", "Minor failure"),
        ("8", "Serious failure"),
        ("12", "Major failure"),
    ],
};

/// `AuditEvent.agent.network.type` (network-type, required binding).
pub const NETWORK_TYPE: CodeList = CodeList {
    name: "network type",
    codes: &[
        ("1", "Machine Name"),
        ("2", "IP Address"),
        ("3", "Telephone Number"),
        ("4", "Email address"),
        ("5", "URI"),
    ],
};

/// HL7 Terminology audit-event-type (R4 defined `rest`; THO adds the other four).
pub const EVENT_TYPE: CodeList = CodeList {
    name: "audit event type",
    codes: &[
        ("rest", "RESTful Operation"),
        ("hl7-v2", "HL7 v2 Operation"),
        ("hl7-v3", "HL7 v3 Operation"),
        ("document", "A Document Operation"),
        ("object", "An Operation on other Objects"),
    ],
};

/// DICOM audit event IDs (CID 400), the DICOM part of the R4 audit-event-type value set.
pub const DICOM_EVENT_ID: CodeList = CodeList {
    name: "DICOM audit event ID",
    codes: &[
        ("110100", "Application Activity"),
        ("110101", "Audit Log Used"),
        ("110102", "Begin Transferring DICOM Instances"),
        ("110103", "DICOM Instances Accessed"),
        ("110104", "DICOM Instances Transferred"),
        ("110105", "DICOM Study Deleted"),
        ("110106", "Export"),
        ("110107", "Import"),
        ("110108", "Network Entry"),
        ("110109", "Order Record"),
        ("110110", "Patient Record"),
        ("110111", "Procedure Record"),
        ("110112", "Query"),
        ("110113", "Security Alert"),
        ("110114", "User Authentication"),
    ],
};

/// FHIR R4 restful-interaction.
pub const RESTFUL: CodeList = CodeList {
    name: "RESTful interaction",
    codes: &[
        ("read", "read"),
        ("vread", "vread"),
        ("update", "update"),
        ("patch", "patch"),
        ("delete", "delete"),
        ("history", "history"),
        ("history-instance", "history-instance"),
        ("history-type", "history-type"),
        ("history-system", "history-system"),
        ("create", "create"),
        ("search", "search"),
        ("search-type", "search-type"),
        ("search-system", "search-system"),
        ("capabilities", "capabilities"),
        ("transaction", "transaction"),
        ("batch", "batch"),
        ("operation", "operation"),
    ],
};

/// audit-entity-type.
pub const ENTITY_TYPE: CodeList = CodeList {
    name: "audit entity type",
    codes: &[
        ("1", "Person"),
        ("2", "System Object"),
        ("3", "Organization"),
        ("4", "Other"),
    ],
};

/// object-role.
pub const ENTITY_ROLE: CodeList = CodeList {
    name: "object role",
    codes: &[
        ("1", "Patient"),
        ("2", "Location"),
        ("3", "Report"),
        ("4", "Domain Resource"),
        ("5", "Master file"),
        ("6", "User"),
        ("7", "List"),
        ("8", "Doctor"),
        ("9", "Subscriber"),
        ("10", "Guarantor"),
        ("11", "Security User Entity"),
        ("12", "Security User Group"),
        ("13", "Security Resource"),
        ("14", "Security Granularity Definition"),
        ("15", "Provider"),
        ("16", "Data Destination"),
        ("17", "Data Repository"),
        ("18", "Schedule"),
        ("19", "Customer"),
        ("20", "Job"),
        ("21", "Job Stream"),
        ("22", "Table"),
        ("23", "Routing Criteria"),
        ("24", "Query"),
    ],
};

/// dicom-audit-lifecycle.
pub const LIFECYCLE: CodeList = CodeList {
    name: "data life cycle",
    codes: &[
        ("1", "Origination / Creation"),
        ("2", "Import / Copy"),
        ("3", "Amendment"),
        ("4", "Verification"),
        ("5", "Translation"),
        ("6", "Access / Use"),
        ("7", "De-identification"),
        ("8", "Aggregation, summarization, derivation"),
        ("9", "Report"),
        ("10", "Export"),
        ("11", "Disclosure"),
        ("12", "Receipt of disclosure"),
        ("13", "Archiving"),
        ("14", "Logical deletion"),
        ("15", "Permanent erasure / Physical destruction"),
    ],
};

/// security-source-type.
pub const SOURCE_TYPE: CodeList = CodeList {
    name: "audit source type",
    codes: &[
        ("1", "User Device"),
        ("2", "Data Interface"),
        ("3", "Web Server"),
        ("4", "Application Server"),
        ("5", "Database Server"),
        ("6", "Security Server"),
        ("7", "Network Device"),
        ("8", "Network Router"),
        ("9", "Other"),
    ],
};

/// The code list a Coding at `element` must come from when its system is `system`, if
/// we know that system's value set there. Unknown systems are accepted: the R4
/// bindings of these elements are extensible.
pub fn list_for(element: Element, system: &str) -> Option<CodeList> {
    match (element, system) {
        (Element::Type, AUDIT_EVENT_TYPE) => Some(EVENT_TYPE),
        (Element::Type, DCM) => Some(DICOM_EVENT_ID),
        (Element::Subtype, RESTFUL_INTERACTION) => Some(RESTFUL),
        (Element::EntityType, AUDIT_ENTITY_TYPE) => Some(ENTITY_TYPE),
        (Element::EntityRole, OBJECT_ROLE) => Some(ENTITY_ROLE),
        (Element::EntityLifecycle, DATA_LIFECYCLE) => Some(LIFECYCLE),
        (Element::SourceType, SECURITY_SOURCE_TYPE) => Some(SOURCE_TYPE),
        _ => None,
    }
}

/// The coded elements whose systems we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Element {
    /// `AuditEvent.type`.
    Type,
    /// `AuditEvent.subtype`.
    Subtype,
    /// `AuditEvent.entity.type`.
    EntityType,
    /// `AuditEvent.entity.role`.
    EntityRole,
    /// `AuditEvent.entity.lifecycle`.
    EntityLifecycle,
    /// `AuditEvent.source.type`.
    SourceType,
    /// Any other Coding.
    Other,
}
