//! SIEM integration: the trail rendered in the formats security teams' tools read, and
//! delivered to them without ever blocking the service or losing a record.
//!
//! - [`Format`]: one record as JSON lines, FHIR R4 AuditEvent, IHE ATNA, CEF, ECS or
//!   OCSF ([`cef`], [`ecs`], [`ocsf`]; FHIR and ATNA come from `webqx-audit`).
//! - [`sink`]: sinks configured in the server config — syslog (RFC 5425 TLS, TCP, UDP),
//!   Splunk HEC, webhook, files — each reading the trail from its own durable cursor.

#![forbid(unsafe_code)]

pub mod cef;
pub mod ecs;
mod format;
pub mod ocsf;
mod reading;
pub mod sink;

pub use format::{Format, export_line};
