//! Syslog input: parsing RFC 5424 and RFC 3164 messages, cutting TCP/TLS streams into
//! frames (RFC 6587, RFC 5425), and listeners over UDP, TCP and TLS.
//!
//! The server receives IHE ATNA audit messages this way (DICOM audit XML in the MSG,
//! MSGID `IHE+RFC-3881`), and detection reads syslog streams. Agreement with rsyslog
//! is checked against rsyslog's own test expectations (`tests/syslog_rsyslog.rs`).
//!
//! - [`parse`] turns one message into a [`SyslogMessage`] or a [`SyslogError`].
//! - [`Deframer`] cuts a byte stream into frames, octet-counted or newline-delimited,
//!   detected per frame.
//! - [`serve_udp`], [`serve_tcp`] and [`serve_tls`] run listeners that hand each
//!   message, or the reason it was rejected, to a [`SyslogHandler`], and count both
//!   ([`METRIC_RECEIVED`], [`METRIC_REJECTED`]).
//!
//! Not here: what a message means (ATNA in [`crate::atna`], detection elsewhere), and
//! sending syslog (`webqx-siem`, with the builder in `webqx-audit`). Errors and logs
//! never hold message content, which may be PHI.

mod error;
mod frame;
mod listen;
mod message;
mod parse;

pub use error::{Field, SdProblem, SyslogError};
pub use frame::{DEFAULT_MAX_FRAME_LEN, Deframer, FrameError, Framing};
pub use listen::{
    ListenerConfig, METRIC_RECEIVED, METRIC_REJECTED, ReceiveError, Received, Shutdown,
    ShutdownSignal, SyslogHandler, Transport, serve_tcp, serve_tls, serve_udp, shutdown_channel,
};
pub use message::{BsdTime, Protocol, SdElement, SyslogMessage};
pub use parse::{MAX_MESSAGE_LEN, parse};
