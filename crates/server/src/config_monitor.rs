//! `[monitor]`: security monitoring inputs, the pipeline queue, and alert grouping (see
//! the operator guide, "Security monitoring").

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use webqx_store::time::parse_duration;

/// `[monitor]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorSection {
    /// Run the pipeline and its inputs (`POST /v1/events` answers 503 when off).
    pub enabled: bool,
    /// Which detector runs: `sigma` (the default: the Sigma rules below), `none`
    /// (events are accepted and counted, nothing alerts) or `test-double` (a stand-in
    /// for tests only: every event whose `event.outcome` is `failure` raises rule
    /// `test-outcome-failure`).
    pub detector: String,
    /// For `sigma`: load the built-in rule pack.
    pub builtin_rules: bool,
    /// For `sigma`: a folder of the site's own Sigma rules (`.yml`/`.yaml`, searched
    /// recursively), loaded in addition to the pack (alone with `builtin_rules = false`).
    pub rules_dir: Option<PathBuf>,
    /// For `sigma`: a folder of Sigma filter documents applied to the rules (for
    /// example to exclude a scanner's address); only filters belong there.
    pub filters_dir: Option<PathBuf>,
    /// Events the pipeline's queue holds; an input finding it full drops (and counts)
    /// the event, or, for files and the audit trail, waits and reads it again.
    pub queue_capacity: usize,
    /// Findings of one rule with one group key within this window of the open
    /// alert's last finding update that alert instead of raising a new one.
    pub group_window: String,
    /// Most items in one `POST /v1/events` body.
    pub max_items: usize,
    /// Largest single event (one JSON value or NDJSON line), in bytes.
    pub max_event_bytes: usize,
    /// Receive logs over syslog TLS (RFC 5425) on this address.
    pub syslog_tls_listen: Option<String>,
    /// For `syslog_tls_listen`: require client certificates issued by this CA (PEM).
    pub syslog_client_ca_file: Option<PathBuf>,
    /// Receive logs over plain TCP syslog (labs only).
    pub syslog_tcp_listen: Option<String>,
    /// Receive logs over UDP syslog (labs only: may drop).
    pub syslog_udp_listen: Option<String>,
    /// Largest syslog message accepted, in bytes.
    pub syslog_max_message_bytes: usize,
    /// Log files to follow (rotation by rename or truncation is followed; the read
    /// position survives restarts).
    pub files: Vec<PathBuf>,
    /// How often files and the audit trail are polled for new data.
    pub poll_interval: String,
    /// Feed the audit trail's records of interest to the pipeline: the EHR's FHIR
    /// AuditEvents and our own records whose action is in `audit_actions`.
    pub follow_audit: bool,
    /// Actions of our own audit records fed to the pipeline.
    pub audit_actions: Vec<String>,
    /// Write an `access.explained` audit record when detection marks an EHR access as
    /// explained by a care relationship (otherwise it is only counted in metrics).
    pub record_explained: bool,
    /// Interval of keep-alive comments on the alert stream.
    pub stream_keepalive: String,
    /// How often detection's learned state (the EHR volume baseline) is saved to the
    /// store, so that a restart does not forget it.
    pub state_save_interval: String,
}

impl Default for MonitorSection {
    fn default() -> Self {
        MonitorSection {
            enabled: true,
            detector: "sigma".into(),
            builtin_rules: true,
            rules_dir: None,
            filters_dir: None,
            queue_capacity: 10_000,
            group_window: "15m".into(),
            max_items: 10_000,
            max_event_bytes: 64 * 1024,
            syslog_tls_listen: None,
            syslog_client_ca_file: None,
            syslog_tcp_listen: None,
            syslog_udp_listen: None,
            syslog_max_message_bytes: 64 * 1024,
            files: Vec::new(),
            poll_interval: "1s".into(),
            follow_audit: true,
            audit_actions: [
                "auth.authenticate",
                "oauth.token",
                "oauth.verify",
                "oauth.introspect",
                "key.decrypt",
                "fhir.unprotect",
            ]
            .map(String::from)
            .to_vec(),
            record_explained: false,
            stream_keepalive: "15s".into(),
            state_save_interval: "5m".into(),
        }
    }
}

impl MonitorSection {
    /// Where `detector = "sigma"` takes its rules from.
    pub fn rule_source(&self) -> crate::monitor::sigma::RuleSource<'_> {
        crate::monitor::sigma::RuleSource {
            builtin: self.builtin_rules,
            rules_dir: self.rules_dir.as_deref(),
            filters_dir: self.filters_dir.as_deref(),
        }
    }
}

/// A parsed duration of a key already checked by [`MonitorSection::check`].
pub fn duration(text: &str) -> Duration {
    parse_duration(text).unwrap_or(Duration::from_secs(1))
}

impl MonitorSection {
    /// Checks every value; the error names the key.
    ///
    /// # Errors
    /// `(key, message)` for the first wrong value.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !matches!(self.detector.as_str(), "sigma" | "none" | "test-double") {
            return Err((
                "detector",
                "must be \"sigma\", \"none\" or \"test-double\" (tests only)".into(),
            ));
        }
        for (key, dir) in [
            ("rules_dir", &self.rules_dir),
            ("filters_dir", &self.filters_dir),
        ] {
            if let Some(d) = dir
                && !d.is_absolute()
            {
                return Err((key, format!("'{}' is not an absolute path", d.display())));
            }
        }
        // Site rules are loaded and compiled here so that `config check` and start-up
        // name a bad file (the built-in pack alone is checked by its own tests).
        if self.detector == "sigma"
            && (self.rules_dir.is_some() || self.filters_dir.is_some() || !self.builtin_rules)
        {
            let key = if self.filters_dir.is_some() && self.rules_dir.is_none() {
                "filters_dir"
            } else {
                "rules_dir"
            };
            crate::monitor::sigma::load(&self.rule_source()).map_err(|e| (key, e))?;
        }
        if !(1..=1_000_000).contains(&self.queue_capacity) {
            return Err(("queue_capacity", "must be between 1 and 1000000".into()));
        }
        if !(1..=1_000_000).contains(&self.max_items) {
            return Err(("max_items", "must be between 1 and 1000000".into()));
        }
        if !(256..=16 * 1024 * 1024).contains(&self.max_event_bytes) {
            return Err(("max_event_bytes", "must be between 256 and 16777216".into()));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.syslog_max_message_bytes) {
            return Err((
                "syslog_max_message_bytes",
                "must be between 1024 and 16777216".into(),
            ));
        }
        for (key, value, min) in [
            ("group_window", &self.group_window, Duration::from_secs(1)),
            (
                "poll_interval",
                &self.poll_interval,
                Duration::from_millis(50),
            ),
            (
                "state_save_interval",
                &self.state_save_interval,
                Duration::from_secs(1),
            ),
            (
                "stream_keepalive",
                &self.stream_keepalive,
                Duration::from_secs(1),
            ),
        ] {
            let d = parse_duration(value).map_err(|e| (key, e))?;
            if d < min {
                return Err((
                    key,
                    format!(
                        "must be at least {}",
                        webqx_store::time::format_duration(min)
                    ),
                ));
            }
        }
        for (key, addr) in [
            ("syslog_tls_listen", &self.syslog_tls_listen),
            ("syslog_tcp_listen", &self.syslog_tcp_listen),
            ("syslog_udp_listen", &self.syslog_udp_listen),
        ] {
            if let Some(a) = addr
                && a.parse::<SocketAddr>().is_err()
            {
                return Err((key, format!("'{a}' is not an address such as 0.0.0.0:6515")));
            }
        }
        if self.syslog_client_ca_file.is_some() && self.syslog_tls_listen.is_none() {
            return Err((
                "syslog_client_ca_file",
                "is set but syslog_tls_listen is not; set both or neither".into(),
            ));
        }
        if let Some(f) = self.files.iter().find(|f| !f.is_absolute()) {
            return Err((
                "files",
                format!("'{}' is not an absolute path", f.display()),
            ));
        }
        if let Some(a) = self
            .audit_actions
            .iter()
            .find(|a| a.is_empty() || a.len() > 100)
        {
            return Err((
                "audit_actions",
                format!("'{a}' is not an audit action name"),
            ));
        }
        Ok(())
    }
}
