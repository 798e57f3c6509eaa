use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It did what was asked.
    Success,
    /// Authentication or authorization refused it.
    Denied,
    /// It was allowed but failed; `reason` says how.
    Failure,
}

/// Who is asking, from where, under which request id.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id echoed in `x-request-id`.
    pub request_id: String,
    /// `token:<id>`, `system`, `scheduler`, `cli`, or `anonymous`.
    pub actor: String,
    /// The peer address, when there is one.
    pub source: Option<String>,
    /// Purpose of use, when the caller states one.
    pub purpose: Option<String>,
}

impl RequestContext {
    /// A context for work the service does by itself.
    pub fn internal(actor: &str) -> RequestContext {
        RequestContext {
            request_id: uuid::Uuid::now_v7().to_string(),
            actor: actor.to_owned(),
            source: None,
            purpose: None,
        }
    }

    /// A new record of `action` on `target`, not yet given an outcome.
    pub fn record(&self, action: &str, target: Option<String>) -> AuditRecord {
        AuditRecord {
            request_id: self.request_id.clone(),
            actor: self.actor.clone(),
            source: self.source.clone(),
            purpose: self.purpose.clone(),
            action: action.to_owned(),
            target,
            outcome: Outcome::Success,
            reason: None,
            details: Map::new(),
            hmac: Map::new(),
            event: None,
        }
    }
}

/// One audit record as the caller builds it. The log adds sequence, id, time and
/// chain hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Request id.
    pub request_id: String,
    /// Actor.
    pub actor: String,
    /// Source address.
    pub source: Option<String>,
    /// Purpose of use.
    pub purpose: Option<String>,
    /// What was attempted, `capability.verb` (`key.encrypt`, `auth.token`).
    pub action: String,
    /// What it was attempted on (`key:phi`, `token:abc`).
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// For denials and failures: the stable error type, never data.
    pub reason: Option<String>,
    /// Non-sensitive facts (key version, item counts).
    pub details: Map<String, Value>,
    /// Sensitive values, as hex HMAC-SHA-256 under the audit key.
    pub hmac: Map<String, Value>,
    /// For events received from the EHR: the FHIR R4 AuditEvent as received (validated).
    pub event: Option<Value>,
}

impl AuditRecord {
    /// Adds a non-sensitive detail.
    pub fn detail(&mut self, name: &str, value: impl Into<Value>) -> &mut Self {
        self.details.insert(name.to_owned(), value.into());
        self
    }

    /// Marks the record as failed (or denied) for `reason`, a stable error type.
    pub fn fail(&mut self, outcome: Outcome, reason: &str) -> &mut Self {
        self.outcome = outcome;
        self.reason = Some(reason.to_owned());
        self
    }
}

/// One record as stored in the trail and hashed into the chain: what the caller built,
/// plus sequence number, unique id and time. Field order is the serialization order and
/// is part of the hash; never reorder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Format version (1).
    pub v: u32,
    /// Position in the chain, from 1.
    pub seq: i64,
    /// Unique, stable event id (UUIDv7): SIEMs de-duplicate on it.
    pub id: String,
    /// When it was written, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// Request id.
    pub request_id: String,
    /// Actor: `token:<id>`, `oauth:<client>`, `cert:<subject>`, `ehr:<who>`, `system`,
    /// `scheduler`, `cli` or `anonymous`.
    pub actor: String,
    /// Source address.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    /// Purpose of use.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub purpose: Option<String>,
    /// What was attempted.
    pub action: String,
    /// What it was attempted on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Stable error type for denials and failures.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// Non-sensitive facts.
    #[serde(skip_serializing_if = "Map::is_empty", default)]
    pub details: Map<String, Value>,
    /// Sensitive values as hex HMAC-SHA-256.
    #[serde(skip_serializing_if = "Map::is_empty", default)]
    pub hmac: Map<String, Value>,
    /// An EHR AuditEvent (FHIR R4) received through intake.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub event: Option<Value>,
}
