//! The audit trail: every request, allowed or denied, leaves a record; records are
//! hash-chained so that editing, deleting, inserting or reordering any of them is
//! detected by [`verify`].
//!
//! Two ways to write:
//! - [`AuditLog::append`] inside a caller's [`WriteTx`], so a state change and its
//!   record commit together or not at all;
//! - [`AuditLog::record`] for requests that change nothing (encrypt, a denied call):
//!   records from concurrent requests are committed together (group commit) and the
//!   call returns only once its record is durable. If the write fails, the call fails,
//!   and so must the request.
//!
//! Records never hold secrets or PHI. Values that an investigator may need to match
//! (an encryption context, a patient reference) are stored as HMAC-SHA-256 under the
//! audit key, which the key service derives from the root key at unseal.
//!
//! [`render`] turns records into FHIR AuditEvent, IHE ATNA and RFC 5424; [`trail`]
//! reads them back for exports and SIEM sinks.

#![forbid(unsafe_code)]

pub mod alerting;
mod chain;
pub mod checkpoint;
mod error;
mod record;
pub mod render;
pub mod trail;
mod verify;

pub use alerting::{AlertSink, RaisedAlert};
pub use chain::{AuditLog, Audited};
pub use checkpoint::Checkpoint;
pub use error::AuditError;
pub use record::{AuditRecord, Entry, Outcome, RequestContext};
pub use trail::{TrailQuery, TrailRecord};
pub use verify::{Break, VerifyOptions, VerifyReport, verify, verify_with};
