//! FHIR R4 AuditEvent intake: validation and splitting request bodies into items.
//!
//! Owned by the AuditEvent work; signatures fixed for the server.

use serde_json::Value;
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

/// Checks an AuditEvent's required elements and codes.
///
/// # Errors
/// [`Invalid`] listing every problem.
pub fn validate(event: &Value) -> Result<Summary, Invalid> {
    let _ = event;
    unimplemented!("AuditEvent validation is being written")
}

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

/// Splits a request body into items by content type: `application/fhir+json` or
/// `application/json` (one AuditEvent, or a Bundle of them), `application/fhir+ndjson`
/// or `application/x-ndjson` (one per line). Each item is the parsed JSON, or why
/// that item could not be read (a bad NDJSON line, a Bundle entry without a resource).
///
/// # Errors
/// [`BodyError`] for an unsupported content type, invalid UTF-8, or JSON that is not
/// an object.
pub fn split(content_type: &str, body: &[u8]) -> Result<Vec<Result<Value, Invalid>>, BodyError> {
    let _ = (content_type, body);
    unimplemented!("intake splitting is being written")
}
