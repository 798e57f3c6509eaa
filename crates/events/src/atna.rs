//! IHE ATNA (DICOM PS3.15 audit message XML) read into FHIR R4 AuditEvent.
//!
//! Owned by the ATNA work; signature fixed for the server.

use serde_json::Value;

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

/// Reads one DICOM audit message and returns the equivalent FHIR R4 AuditEvent.
///
/// # Errors
/// [`AtnaError`] for malformed XML or a message missing required elements.
pub fn parse(xml: &str) -> Result<Value, AtnaError> {
    let _ = xml;
    unimplemented!("ATNA parsing is being written")
}
