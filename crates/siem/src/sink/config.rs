//! Sink configuration, as written under `[[audit.sinks]]` in the server's TOML, and its
//! validation.
//!
//! Every sink has the common keys of [`SinkConfig`] and a `type` that selects the keys
//! of [`SinkKind`]. Unknown keys are refused (through the kind's
//! `deny_unknown_fields`: serde cannot deny them on a struct with a flattened part).
//! Secrets (HEC token, webhook HMAC key) are only ever references to a file or an
//! environment variable, never inline values.

use crate::Format;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use webqx_store::time::parse_duration;

/// One SIEM sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkConfig {
    /// Unique name: letters, digits, `-`, `_`, `.`; at most 64. It keys the sink's
    /// cursor in the database, so renaming a sink makes it a new sink.
    pub name: String,
    /// How each record is rendered. Default `jsonl` for every kind (the stored record
    /// with its chain hashes: lossless and re-verifiable); choose `cef` for ArcSight,
    /// `ecs` for Elastic, `ocsf` for Security Lake and other OCSF consumers.
    #[serde(default = "default_format")]
    pub format: Format,
    /// Bound on the spool: the most records the sink may lag behind the trail
    /// (default 1,000,000).
    #[serde(default = "default_max_spool")]
    pub max_spool_records: u64,
    /// What happens when the lag reaches `max_spool_records` (default `refuse`).
    #[serde(default)]
    pub on_full: OnFull,
    /// Most records per delivery (default 500).
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// First wait after a failed delivery (default `1s`).
    #[serde(default = "default_retry_initial")]
    pub retry_initial: String,
    /// Longest wait between retries (default `60s`).
    #[serde(default = "default_retry_max")]
    pub retry_max: String,
    /// Where and how to deliver.
    #[serde(flatten)]
    pub kind: SinkKind,
}

/// What a sink does when its spool is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OnFull {
    /// Refuse new state changes (API calls that change something fail with a clear
    /// error) until the sink has caught up below the bound. Nothing is lost. The
    /// default: an audit trail that the SIEM never sees defeats its purpose.
    #[default]
    Refuse,
    /// Skip the oldest undelivered records to stay within the bound (down to 90% of it,
    /// so that records are dropped in chunks, not one by one); the skipped
    /// records are counted (status, `audit_sinks.dropped`, the
    /// `webqx_siem_dropped_total` metric) and a `siem.sink.dropped` audit record says
    /// how many. They remain in the trail and in exports.
    DropOldest,
}

/// The kind of sink, selected by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SinkKind {
    /// Syslog (RFC 5424) over TLS (RFC 5425), TCP (RFC 6587 octet counting) or UDP.
    Syslog(SyslogConfig),
    /// Splunk HTTP Event Collector.
    SplunkHec(HecConfig),
    /// A signed HTTPS POST of JSON batches.
    Webhook(WebhookConfig),
    /// A local file, one record per line, rotated by size.
    File(FileConfig),
}

impl SinkKind {
    /// The `type` value.
    pub fn name(&self) -> &'static str {
        match self {
            SinkKind::Syslog(_) => "syslog",
            SinkKind::SplunkHec(_) => "splunk_hec",
            SinkKind::Webhook(_) => "webhook",
            SinkKind::File(_) => "file",
        }
    }
}

/// Syslog transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RFC 5425: TLS, octet-counted frames (default port 6514).
    Tls,
    /// RFC 6587: plain TCP, octet-counted frames (default port 514). Clear text: only
    /// on a trusted network or to a local relay.
    Tcp,
    /// RFC 5426: one datagram per message (default port 514). Clear text and lossy:
    /// the network may drop datagrams and nothing tells us.
    Udp,
}

/// `type = "syslog"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// `tls`, `tcp` or `udp`.
    pub transport: Transport,
    /// `host:port` (or `host`, for the transport's default port; `[v6]:port`).
    pub address: String,
    /// PEM certificates trusted for the receiver; required for `tls`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Our certificate chain (PEM), for receivers that require mutual TLS.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// The key of `client_cert_file` (PEM).
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// The name the receiver's certificate must carry (and SNI); default the host of
    /// `address`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// Our HOSTNAME field; default the machine's host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// APP-NAME (default `webqx-sec`).
    #[serde(default = "default_app_name")]
    pub app_name: String,
    /// Facility 0–23 (default 10, authpriv).
    #[serde(default = "default_facility")]
    pub facility: u8,
    /// After a reconnection, records sent on the lost connection within this window are
    /// sent again (default `5s`): TCP cannot tell what the receiver read.
    #[serde(default = "default_resend_window")]
    pub resend_window: String,
}

/// `type = "splunk_hec"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecConfig {
    /// The full event endpoint, `https://splunk:8088/services/collector/event`.
    pub url: String,
    /// File holding the HEC token (one of `token_file`, `token_env`).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Environment variable holding the HEC token.
    #[serde(default)]
    pub token_env: Option<String>,
    /// PEM certificates trusted for Splunk; default the system's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Sourcetype (default `webqx:audit`).
    #[serde(default = "default_sourcetype")]
    pub sourcetype: String,
    /// Index; default the token's default index.
    #[serde(default)]
    pub index: Option<String>,
    /// Source (default `webqx-sec`).
    #[serde(default = "default_app_name")]
    pub source: String,
}

/// `type = "webhook"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where batches are POSTed.
    pub url: String,
    /// File holding the HMAC key (one of `secret_file`, `secret_env`).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the HMAC key.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// PEM certificates trusted for the receiver; default the system's trust store.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `type = "file"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// The file written; rotated files are `path.1` (newest) … `path.<keep>`.
    pub path: PathBuf,
    /// Size at which the file is rotated (default 100 MiB; `0` never rotates).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Rotated files kept besides the current one (default 5).
    #[serde(default = "default_keep")]
    pub keep: u32,
}

fn default_format() -> Format {
    Format::Jsonl
}
fn default_max_spool() -> u64 {
    1_000_000
}
fn default_batch_size() -> u32 {
    500
}
fn default_retry_initial() -> String {
    "1s".into()
}
fn default_retry_max() -> String {
    "60s".into()
}
fn default_resend_window() -> String {
    "5s".into()
}
fn default_app_name() -> String {
    "webqx-sec".into()
}
fn default_facility() -> u8 {
    webqx_audit::render::rfc5424::FACILITY_AUTHPRIV
}
fn default_sourcetype() -> String {
    "webqx:audit".into()
}
fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}
fn default_keep() -> u32 {
    5
}

/// Largest `batch_size`.
const MAX_BATCH: u32 = 10_000;

impl SinkConfig {
    /// A sink of `kind` named `name` with every other key at its default.
    pub fn new(name: &str, kind: SinkKind) -> SinkConfig {
        SinkConfig {
            name: name.to_owned(),
            format: default_format(),
            max_spool_records: default_max_spool(),
            on_full: OnFull::default(),
            batch_size: default_batch_size(),
            retry_initial: default_retry_initial(),
            retry_max: default_retry_max(),
            kind,
        }
    }

    /// `retry_initial` and `retry_max` as durations.
    ///
    /// # Errors
    /// A message naming the sink and key when one is not a duration.
    pub fn retry(&self) -> Result<(Duration, Duration), String> {
        Ok((
            self.duration("retry_initial", &self.retry_initial)?,
            self.duration("retry_max", &self.retry_max)?,
        ))
    }

    fn duration(&self, key: &str, text: &str) -> Result<Duration, String> {
        parse_duration(text).map_err(|e| self.err(key, &e))
    }

    fn err(&self, key: &str, message: &str) -> String {
        format!("audit.sinks '{}': {key}: {message}", self.name)
    }
}

impl SyslogConfig {
    /// A syslog sink to `address` over `transport`, every other key at its default.
    pub fn new(transport: Transport, address: &str) -> SyslogConfig {
        SyslogConfig {
            transport,
            address: address.to_owned(),
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            server_name: None,
            hostname: None,
            app_name: default_app_name(),
            facility: default_facility(),
            resend_window: default_resend_window(),
        }
    }

    /// The default port of the transport.
    pub fn default_port(&self) -> u16 {
        match self.transport {
            Transport::Tls => 6514,
            Transport::Tcp | Transport::Udp => 514,
        }
    }
}

impl HecConfig {
    /// A HEC sink to `url` with the token in the file `token_file`.
    pub fn new(url: &str, token_file: PathBuf) -> HecConfig {
        HecConfig {
            url: url.to_owned(),
            token_file: Some(token_file),
            token_env: None,
            ca_file: None,
            sourcetype: default_sourcetype(),
            index: None,
            source: default_app_name(),
        }
    }
}

impl FileConfig {
    /// A file sink writing `path`, rotation at the defaults.
    pub fn new(path: PathBuf) -> FileConfig {
        FileConfig {
            path,
            max_bytes: default_max_bytes(),
            keep: default_keep(),
        }
    }
}

/// Checks every sink, and the sinks together (unique names).
///
/// # Errors
/// The first problem found, naming the sink and the key and saying what to write.
pub fn validate(sinks: &[SinkConfig]) -> Result<(), String> {
    let mut names = BTreeSet::new();
    let mut files = BTreeSet::new();
    for sink in sinks {
        check_name(&sink.name)?;
        if let SinkKind::File(f) = &sink.kind
            && !files.insert(f.path.clone())
        {
            return Err(format!(
                "audit.sinks '{}': path {} is already the file of another sink; two sinks \
                 writing one file would interleave and rotate each other's records",
                sink.name,
                f.path.display()
            ));
        }
        if !names.insert(sink.name.as_str()) {
            return Err(format!(
                "audit.sinks: the name '{}' is used twice; give each sink its own name \
                 (it keys the sink's delivery cursor)",
                sink.name
            ));
        }
        check_common(sink)?;
        match &sink.kind {
            SinkKind::Syslog(s) => check_syslog(sink, s)?,
            SinkKind::SplunkHec(h) => {
                check_url(sink, &h.url, h.ca_file.is_some())?;
                check_secret_ref(sink, "token", h.token_file.is_some(), &h.token_env)?;
                if h.sourcetype.is_empty() {
                    return Err(sink.err("sourcetype", "must not be empty"));
                }
            }
            SinkKind::Webhook(w) => {
                check_url(sink, &w.url, w.ca_file.is_some())?;
                check_secret_ref(sink, "secret", w.secret_file.is_some(), &w.secret_env)?;
            }
            SinkKind::File(f) => {
                if f.path.as_os_str().is_empty() {
                    return Err(sink.err("path", "must name a file"));
                }
                if f.keep == 0 || f.keep > 1000 {
                    return Err(sink.err("keep", "must be 1 to 1000 rotated files"));
                }
            }
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "audit.sinks: name '{name}' must be 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

fn check_common(sink: &SinkConfig) -> Result<(), String> {
    if sink.max_spool_records == 0 {
        return Err(sink.err("max_spool_records", "must be at least 1"));
    }
    if sink.batch_size == 0 || sink.batch_size > MAX_BATCH {
        return Err(sink.err("batch_size", &format!("must be 1 to {MAX_BATCH}")));
    }
    let (initial, max) = sink.retry()?;
    if initial.is_zero() {
        return Err(sink.err("retry_initial", "must be more than 0 (for example 1s)"));
    }
    if max < initial {
        return Err(sink.err("retry_max", "must not be shorter than retry_initial"));
    }
    Ok(())
}

fn check_syslog(sink: &SinkConfig, s: &SyslogConfig) -> Result<(), String> {
    let (host, _) = split_host_port(&s.address)
        .ok_or_else(|| sink.err("address", "write host:port, host, or [v6 address]:port"))?;
    if host.is_empty() {
        return Err(sink.err("address", "names no host"));
    }
    sink.duration("resend_window", &s.resend_window)?;
    if s.facility > 23 {
        return Err(sink.err("facility", "must be 0 to 23 (10 is authpriv)"));
    }
    if s.client_cert_file.is_some() != s.client_key_file.is_some() {
        return Err(sink.err(
            "client_cert_file",
            "set both client_cert_file and client_key_file, or neither",
        ));
    }
    match s.transport {
        Transport::Tls if s.ca_file.is_none() => Err(sink.err(
            "ca_file",
            "is required for transport = \"tls\": the PEM certificates that identify the \
             receiver",
        )),
        Transport::Tcp | Transport::Udp
            if s.ca_file.is_some() || s.client_cert_file.is_some() || s.server_name.is_some() =>
        {
            Err(sink.err(
                "transport",
                "ca_file, client_cert_file and server_name apply only to transport = \"tls\"",
            ))
        }
        _ => Ok(()),
    }
}

/// HTTPS is required. Plain `http://` is accepted only to a loopback host
/// (`127.0.0.1`, `[::1]`, `localhost`), for labs and local relays: records would
/// otherwise cross the network in clear text.
fn check_url(sink: &SinkConfig, url: &str, has_ca: bool) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| sink.err("url", &format!("'{url}' is not a URL: {e}")))?;
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(sink.err("url", "names no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(sink.err(
            "url",
            "must not carry credentials; use the token or secret reference keys",
        ));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_url(&parsed) => {
            if has_ca {
                Err(sink.err("ca_file", "applies only to an https:// url"))
            } else {
                Ok(())
            }
        }
        "http" => Err(sink.err(
            "url",
            "must be https:// (plain http:// is allowed only to 127.0.0.1, [::1] or \
             localhost, for labs)",
        )),
        other => Err(sink.err("url", &format!("scheme '{other}' is not https"))),
    }
}

pub(crate) fn is_loopback_url(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_secret_ref(
    sink: &SinkConfig,
    what: &str,
    has_file: bool,
    env: &Option<String>,
) -> Result<(), String> {
    match (has_file, env) {
        (true, Some(_)) => Err(sink.err(
            &format!("{what}_file"),
            &format!("set {what}_file or {what}_env, not both"),
        )),
        (false, None) => Err(sink.err(
            &format!("{what}_file"),
            &format!(
                "set {what}_file (a file holding the {what}) or {what}_env (an environment \
                 variable holding it); inline values are not accepted"
            ),
        )),
        (false, Some(var)) if var.is_empty() => {
            Err(sink.err(&format!("{what}_env"), "names no variable"))
        }
        _ => Ok(()),
    }
}

/// `host:port`, `host`, `[v6]:port`, `[v6]` → host and port (if given).
pub(crate) fn split_host_port(address: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = address.strip_prefix('[') {
        let (host, tail) = rest.split_once(']')?;
        return match tail {
            "" => Some((host, None)),
            _ => Some((host, Some(tail.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match address.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => None,
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((address, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_forms() {
        assert_eq!(split_host_port("siem:6514"), Some(("siem", Some(6514))));
        assert_eq!(split_host_port("siem"), Some(("siem", None)));
        assert_eq!(split_host_port("[::1]:514"), Some(("::1", Some(514))));
        assert_eq!(split_host_port("[::1]"), Some(("::1", None)));
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port("siem:x"), None);
        assert_eq!(split_host_port("siem:70000"), None);
    }
}
