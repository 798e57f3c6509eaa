//! Event inputs: what other systems send us, parsed into typed values with clear errors.
//!
//! - [`syslog`]: RFC 5424 and RFC 3164 messages, stream framing (octet counting and
//!   newline), and listeners over UDP, TCP and TLS (RFC 5425).
//! - [`auditevent`]: FHIR R4 AuditEvent validation and request bodies (single
//!   resource, Bundle, NDJSON) split into per-item results.
//! - [`atna`]: IHE ATNA / DICOM audit messages (XML) read into FHIR AuditEvents.
//! - [`normalize`]: log lines and documents (syslog with sshd/PAM/sudo, access logs,
//!   FHIR AuditEvents, our audit records, JSON) turned into events of one schema.
//!
//! Nothing here writes to the trail; the server does, with what these return. Every
//! parser here is fuzzed (`fuzz/`).

#![forbid(unsafe_code)]

pub mod atna;
pub mod auditevent;
pub mod normalize;
pub mod syslog;
