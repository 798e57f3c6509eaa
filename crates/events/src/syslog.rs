//! Syslog input: RFC 5424 and RFC 3164 parsing, stream framing, listeners.
//!
//! Owned by the syslog work.
