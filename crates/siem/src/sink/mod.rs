//! SIEM sinks. Being written.
