//! Trail records as FHIR R4 AuditEvent resources.

use crate::TrailRecord;
use serde_json::Value;

/// The record as a FHIR R4 AuditEvent. A record received from the EHR renders as the
/// AuditEvent received (with `id` set to the record's id); our own records are mapped.
pub fn render(rec: &TrailRecord) -> Value {
    let _ = rec;
    unimplemented!("FHIR rendering is being written")
}
