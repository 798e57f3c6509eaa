//! Standard renderings of trail records: FHIR R4 AuditEvent, IHE ATNA (DICOM audit
//! XML) and RFC 5424 syslog messages. Pure functions; the SIEM formats (CEF, ECS, OCSF)
//! live in `webqx-siem`.

pub mod atna;
pub mod fhir;
pub mod rfc5424;

/// Vendor name in every rendering.
pub const VENDOR: &str = "WebQx";
/// Product name in every rendering.
pub const PRODUCT: &str = "WebQx Security";
/// Product version in every rendering.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
