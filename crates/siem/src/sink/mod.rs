//! SIEM sinks fed from the audit trail.
//!
//! **The trail is the durable spool.** Every record is committed to the database
//! (SQLite file or PostgreSQL) before the request that made it is answered. Each sink
//! keeps a cursor, `audit_sinks.delivered_seq`; the records between the cursor and the
//! chain head are that sink's spool. Delivery only reads the trail, so a receiver that
//! is down, slow or stuck never blocks an API request and never loses a record.
//!
//! Delivery is **at least once**: a batch is sent, then the cursor advances. A crash,
//! a lost lease or a reconnection can send a record twice; every message carries the
//! record's `id` (UUIDv7) and `seq`, on which receivers de-duplicate.
//!
//! - [`SinkConfig`] and [`validate`]: `[[audit.sinks]]` in the server's TOML.
//! - [`Sinks`]: one task per sink; [`Sinks::status`] for the API and dashboard;
//!   [`Sinks::shutdown`] delivers what it can within a grace period.
//! - Kinds: syslog (RFC 5425 TLS, RFC 6587 TCP, RFC 5426 UDP), Splunk HEC, a signed
//!   webhook (see [`webhook`] for how a receiver verifies it), and rotated files.
//!
//! **A new sink starts from the beginning of the trail** (cursor 0) and so receives
//! every record ever written, clamped to its spool bound: if the trail holds more than
//! `max_spool_records`, it starts that many records before the head, so that adding a
//! sink never makes the service refuse writes (or drop) at once.
//!
//! **Several nodes** may share one PostgreSQL: each runs a task per sink, but only the
//! holder of the sink's lease (`audit_sinks.owner`, `lease_ms`, 15 s, renewed while
//! delivering) sends, and the cursor only moves by a compare-and-set on the owner.
//! Leases compare wall clocks across nodes: keep them synchronized (NTP).
//!
//! Spool bound: with `on_full = "refuse"` every node refuses state changes through
//! [`webqx_audit::AuditLog::set_refusal`] while the sink lags by `max_spool_records`
//! or more; requests that change nothing (and their audit records) continue.
//!
//! Metrics, labelled `sink`: `webqx_siem_delivered_total`, `webqx_siem_failed_total`
//! (failed attempts), `webqx_siem_spooled_records` and `webqx_siem_lag_seconds`
//! (gauges), `webqx_siem_dropped_total`, `webqx_siem_spool_full` (0/1),
//! `webqx_siem_truncated_total` (UDP), `webqx_siem_file_replaced_total`.

mod config;
mod engine;
mod file;
mod hec;
mod syslog;
pub mod webhook;

pub use config::{
    FileConfig, HecConfig, OnFull, SinkConfig, SinkKind, SyslogConfig, Transport, WebhookConfig,
    validate,
};
pub use engine::{SinkState, SinkStatus, Sinks};

use std::fmt;
use std::path::{Path, PathBuf};
use webqx_crypto::SecretBytes;

/// Why the sinks could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum SinkError {
    /// The configuration is invalid; the message names the sink and the key.
    Config(String),
    /// A file named in the configuration could not be read.
    Read {
        /// The sink.
        sink: String,
        /// The configuration key naming the file.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// A secret's environment variable is unset or empty.
    Env {
        /// The sink.
        sink: String,
        /// The variable.
        var: String,
    },
    /// Certificates or keys that cannot be used (the message never holds key material).
    Tls {
        /// The sink.
        sink: String,
        /// What is wrong with them.
        message: String,
    },
    /// The database could not create or read the sinks' cursors.
    Store(webqx_audit::AuditError),
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkError::Config(m) => write!(f, "{m}"),
            SinkError::Read {
                sink,
                key,
                path,
                error,
            } => write!(
                f,
                "audit.sinks '{sink}': {key}: cannot read {}: {error}; check the path and \
                 that the service's user may read it",
                path.display()
            ),
            SinkError::Env { sink, var } => write!(
                f,
                "audit.sinks '{sink}': the environment variable {var} is unset or empty; \
                 set it in the service's environment"
            ),
            SinkError::Tls { sink, message } => write!(f, "audit.sinks '{sink}': {message}"),
            SinkError::Store(e) => write!(f, "SIEM sinks: {e}"),
        }
    }
}

impl std::error::Error for SinkError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SinkError::Read { error, .. } => Some(error),
            SinkError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<webqx_audit::AuditError> for SinkError {
    fn from(e: webqx_audit::AuditError) -> Self {
        SinkError::Store(e)
    }
}

impl From<webqx_store::StoreError> for SinkError {
    fn from(e: webqx_store::StoreError) -> Self {
        SinkError::Store(webqx_audit::AuditError::Store(e))
    }
}

/// A failed delivery attempt. The message is shown in status and logs: it never holds
/// a secret or a record.
#[derive(Debug, Clone)]
pub(crate) struct DeliveryError {
    pub(crate) message: String,
    /// The receiver refused us in a way that retrying will not fix by itself (bad
    /// token, wrong URL): logged once at warn, still retried with backoff.
    pub(crate) config: bool,
}

impl DeliveryError {
    pub(crate) fn retry(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            config: false,
        }
    }

    pub(crate) fn config(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            message: message.into(),
            config: true,
        }
    }
}

fn read_file(sink: &str, key: &'static str, path: &Path) -> Result<Vec<u8>, SinkError> {
    std::fs::read(path).map_err(|error| SinkError::Read {
        sink: sink.to_owned(),
        key,
        path: path.to_owned(),
        error,
    })
}

/// Reads a secret from a file (surrounding whitespace trimmed) or an environment
/// variable. The value never appears in an error.
fn read_secret(
    sink: &str,
    key: &'static str,
    file: Option<&Path>,
    env: Option<&str>,
) -> Result<SecretBytes, SinkError> {
    let raw = match (file, env) {
        (Some(path), _) => SecretBytes::new(read_file(sink, key, path)?),
        (None, Some(var)) => match std::env::var_os(var) {
            Some(v) if !v.is_empty() => SecretBytes::new(v.into_encoded_bytes()),
            _ => {
                return Err(SinkError::Env {
                    sink: sink.to_owned(),
                    var: var.to_owned(),
                });
            }
        },
        (None, None) => {
            return Err(SinkError::Config(format!(
                "audit.sinks '{sink}': {key}: no secret reference"
            )));
        }
    };
    let trimmed = raw.expose().trim_ascii();
    if trimmed.is_empty() {
        return Err(SinkError::Config(format!(
            "audit.sinks '{sink}': {key}: the secret is empty"
        )));
    }
    Ok(SecretBytes::from_slice(trimmed))
}

/// A rustls client configuration: roots from `ca_file` (or the system's trust store),
/// and optionally our certificate for mutual TLS. One provider: aws-lc-rs.
fn client_tls(
    sink: &str,
    ca_file: Option<&Path>,
    client: Option<(&Path, &Path)>,
) -> Result<rustls::ClientConfig, SinkError> {
    let tls_err = |message: String| SinkError::Tls {
        sink: sink.to_owned(),
        message,
    };
    let builder = rustls::ClientConfig::builder_with_provider(webqx_pki::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err(e.to_string()))?;
    let builder = match ca_file {
        Some(path) => {
            let pem = read_file(sink, "ca_file", path)?;
            let certs = webqx_pki::certs_from_pem(&pem)
                .map_err(|e| tls_err(format!("ca_file {}: {e}", path.display())))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| tls_err(format!("ca_file {}: {e}", path.display())))?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder.with_platform_verifier().map_err(|e| {
                tls_err(format!(
                    "the system's trust store cannot be used ({e}); set ca_file"
                ))
            })?
        }
    };
    let Some((cert_path, key_path)) = client else {
        return Ok(builder.with_no_client_auth());
    };
    use rustls_pki_types::PrivateKeyDer;
    use rustls_pki_types::pem::PemObject;
    let chain_pem = read_file(sink, "client_cert_file", cert_path)?;
    let chain = webqx_pki::certs_from_pem(&chain_pem)
        .map_err(|e| tls_err(format!("client_cert_file {}: {e}", cert_path.display())))?;
    let key_pem = SecretBytes::new(read_file(sink, "client_key_file", key_path)?);
    let key = PrivateKeyDer::from_pem_slice(key_pem.expose()).map_err(|_| {
        tls_err(format!(
            "client_key_file {}: no PEM private key found",
            key_path.display()
        ))
    })?;
    builder.with_client_auth_cert(chain, key).map_err(|e| {
        tls_err(format!(
            "client_cert_file and client_key_file do not make a usable pair: {e}"
        ))
    })
}

/// An HTTPS client for HEC and webhooks: trusts `ca_file` (or the system's roots),
/// refuses plain HTTP unless the URL is on loopback (validated beforehand), and gives
/// up on a request well within the lease time.
fn http_client(
    sink: &str,
    url: &reqwest::Url,
    ca_file: Option<&Path>,
) -> Result<reqwest::Client, SinkError> {
    let tls = client_tls(sink, ca_file, None)?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .https_only(url.scheme() == "https")
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("webqx-sec/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| SinkError::Tls {
            sink: sink.to_owned(),
            message: format!("cannot build the HTTPS client: {e}"),
        })
}

/// The machine's host name, for syslog HOSTNAME and HEC `host`.
fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// The record's time (RFC 3339) as milliseconds since the epoch.
fn record_time_ms(rec: &webqx_audit::TrailRecord) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(&rec.entry.time)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A JSON rendering parsed back into a value (to embed it), or `None` for text
/// formats (or a rendering that is not JSON after all).
fn json_event(format: crate::Format, rec: &webqx_audit::TrailRecord) -> Option<serde_json::Value> {
    if !format.is_json() {
        return None;
    }
    serde_json::from_str(&format.render(rec)).ok()
}
