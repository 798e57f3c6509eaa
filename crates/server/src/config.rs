//! The configuration file (`webqx-sec.toml`), with every key overridable by an
//! environment variable `WEBQX_<SECTION>_<KEY>` (for example `WEBQX_STORAGE_URL`).
//!
//! Errors name the file and line (or the environment variable) and say what is
//! expected. Nothing secret is required in the file.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use webqx_kms::fhir::{Policy, TypeRule};
use webqx_store::time::parse_duration;

/// Name of the configuration file looked for in the current folder.
pub const DEFAULT_FILE: &str = "webqx-sec.toml";
const SECTIONS: [&str; 18] = [
    "server", "tls", "storage", "kms", "fhir", "audit", "metrics", "log", "backup", "seal", "tde",
    "tang", "pki", "acme", "scan", "oauth", "monitor", "vuln",
];

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`.
    pub server: ServerSection,
    /// `[tls]`.
    pub tls: TlsSection,
    /// `[storage]`.
    pub storage: StorageSection,
    /// `[kms]`.
    pub kms: KmsSection,
    /// `[fhir]`.
    pub fhir: FhirSection,
    /// `[audit]`.
    pub audit: AuditSection,
    /// `[metrics]`.
    pub metrics: MetricsSection,
    /// `[log]`.
    pub log: LogSection,
    /// `[backup]`.
    pub backup: BackupSection,
    /// `[seal]`.
    pub seal: SealSection,
    /// `[tde]`.
    pub tde: TdeSection,
    /// `[tang]`.
    pub tang: TangSection,
    /// `[pki]`.
    pub pki: crate::config_pki::PkiSection,
    /// `[acme]`.
    pub acme: AcmeSection,
    /// `[scan]`.
    pub scan: ScanSection,
    /// `[oauth]`.
    pub oauth: crate::config_oauth::OauthSection,
    /// `[monitor]`.
    pub monitor: crate::config_monitor::MonitorSection,
    /// `[vuln]`.
    pub vuln: crate::config_vuln::VulnSection,
}

/// `[scan]`: scheduled scans. `[[scan.tls]]` entries are TLS endpoints scanned every
/// `every` against a Mozilla profile (see the operator guide, "Scanning TLS endpoints").
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanSection {
    /// TLS endpoints.
    pub tls: Vec<ScanTlsEntry>,
}

/// One `[[scan.tls]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanTlsEntry {
    /// `HOST:PORT`.
    pub target: String,
    /// `modern`, `intermediate` (default) or `old`.
    #[serde(default = "default_scan_profile")]
    pub profile: String,
    /// How often (default `24h`, at least `10s`).
    #[serde(default = "default_scan_every")]
    pub every: String,
    /// Name for SNI and the hostname check (default: the host).
    #[serde(default)]
    pub sni: Option<String>,
    /// Trust bundle, PEM (default: the system store).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_scan_profile() -> String {
    "intermediate".into()
}

fn default_scan_every() -> String {
    "24h".into()
}

/// `[backup]`: scheduled backups of the store (see the operator guide, "Backups").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSection {
    /// Folder the scheduled backups are written to; unset: no scheduled backups.
    pub folder: Option<PathBuf>,
    /// How often (a duration such as `24h`).
    pub every: String,
    /// How many backups to keep (0: no limit by count). The newest is always kept.
    pub keep: usize,
    /// Delete backups older than this (a duration such as `30d`); unset: no limit.
    pub max_age: Option<String>,
}

impl Default for BackupSection {
    fn default() -> Self {
        BackupSection {
            folder: None,
            every: "24h".into(),
            keep: 7,
            max_age: None,
        }
    }
}

/// `[server]`: where and how the API listens.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Address to listen on (HTTPS only).
    pub listen: String,
    /// Data folder (SQLite store, TLS material, admin token).
    pub data_dir: PathBuf,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How often the scheduler looks for due rotations and deletions.
    pub scheduler_interval: String,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: String,
    /// Most open connections; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long tokens and key metadata are cached in memory (`0`: not at all).
    /// Changes made on another node sharing the database are seen within this time.
    pub cache_ttl: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: "127.0.0.1:8443".into(),
            data_dir: PathBuf::from("webqx-data"),
            max_body_bytes: 32 * 1024 * 1024,
            scheduler_interval: "30s".into(),
            shutdown_grace: "30s".into(),
            cache_ttl: "1s".into(),
            max_connections: 10_000,
        }
    }
}

/// `[tls]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// `"1.3"` (default) or `"1.2"` to also accept TLS 1.2 clients.
    pub min_version: String,
    /// Extra DNS names or addresses for the server certificate (besides localhost,
    /// 127.0.0.1, ::1, this host's name and the listen address).
    pub names: Vec<String>,
    /// Server certificate lifetime in days.
    pub cert_days: u32,
    /// Renew the server certificate when it expires within this time (`30d`).
    pub renew_before: String,
    /// Client certificates on the API: `"optional"` (default: certificates from our CA
    /// authenticate, bearer tokens keep working) or `"off"` (never asked for).
    pub client_auth: String,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection {
            min_version: "1.3".into(),
            names: Vec::new(),
            cert_days: 90,
            renew_before: "30d".into(),
            client_auth: "optional".into(),
        }
    }
}

/// `[storage]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// `postgres://…` for PostgreSQL; empty for SQLite in the data folder.
    pub url: String,
    /// PostgreSQL schema (created if missing).
    pub schema: Option<String>,
    /// Most database connections.
    pub max_connections: u32,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            url: String::new(),
            schema: None,
            max_connections: 16,
        }
    }
}

/// `[kms]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KmsSection {
    /// Shortest waiting period before a key may be destroyed.
    pub min_deletion_wait: String,
    /// Waiting period when none is given.
    pub default_deletion_wait: String,
    /// Most items in one batch request.
    pub max_batch_items: usize,
}

impl Default for KmsSection {
    fn default() -> Self {
        KmsSection {
            min_deletion_wait: "24h".into(),
            default_deletion_wait: "7d".into(),
            max_batch_items: 10_000,
        }
    }
}

/// `[seal]`: the PKCS#11 HSM that holds the key wrapping the root key
/// (`webqx-sec init --hsm`). The PIN is read from `pin_file`, or from the environment
/// variable `WEBQX_HSM_PIN`; never from this file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SealSection {
    /// Path of the vendor's PKCS#11 module (shared library). At `serve`, empty means the
    /// path recorded at `init`.
    pub module: String,
    /// Label of the token (the slot is found by it). At `serve`, empty means the label
    /// recorded at `init`.
    pub token_label: String,
    /// Label given to the wrapping key that `init --hsm` generates in the token.
    pub key_label: String,
    /// Whether `init --hsm` generates the root CA's key inside the token (P-256, never
    /// extractable; it signs intermediates and the root's CRL there). When false the
    /// root CA key is a service secret wrapped by the key service, as without an HSM.
    pub ca_key_in_hsm: bool,
    /// Label given to the root CA's key pair in the token.
    pub ca_key_label: String,
    /// File holding the user PIN (0600 or stricter; one line).
    pub pin_file: String,
    /// Refused: the PIN is never written in the configuration.
    #[serde(skip_serializing)]
    pub pin: Option<toml::Value>,
}

impl Default for SealSection {
    fn default() -> Self {
        SealSection {
            module: String::new(),
            token_label: String::new(),
            key_label: "webqx-root-wrap".into(),
            ca_key_in_hsm: true,
            ca_key_label: "webqx-ca-root".into(),
            pin_file: String::new(),
            pin: None,
        }
    }
}

/// `[fhir]`: the protection policy. Rules under `[fhir.resources.<Type>]` replace the
/// built-in rule for that type (or add one); `replace_defaults = true` starts from
/// nothing instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FhirSection {
    /// Key for randomized field encryption.
    pub key: String,
    /// Key for searchable identifiers.
    pub search_key: String,
    /// Protect the `display` of every Reference.
    pub protect_reference_display: bool,
    /// Drop the built-in rules.
    pub replace_defaults: bool,
    /// Rules per resource type (`*` for all).
    pub resources: BTreeMap<String, TypeRule>,
}

impl Default for FhirSection {
    fn default() -> Self {
        let p = Policy::default();
        FhirSection {
            key: p.key,
            search_key: p.search_key,
            protect_reference_display: p.protect_reference_display,
            replace_defaults: false,
            resources: BTreeMap::new(),
        }
    }
}

impl FhirSection {
    /// The effective policy.
    pub fn policy(&self) -> Policy {
        let mut resources = if self.replace_defaults {
            BTreeMap::new()
        } else {
            Policy::default().resources
        };
        resources.extend(self.resources.clone());
        Policy {
            key: self.key.clone(),
            search_key: self.search_key.clone(),
            protect_reference_display: self.protect_reference_display,
            resources,
        }
    }
}

/// `[audit]`: signed checkpoints, ATNA intake over syslog, and SIEM sinks
/// (`[[audit.sinks]]`, see the operator guide).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSection {
    /// How often the chain head is signed when it moved (`0`: only on request).
    pub checkpoint_interval: String,
    /// Receive IHE ATNA over syslog TLS (RFC 5425) on this address (`0.0.0.0:6514`).
    pub syslog_tls_listen: Option<String>,
    /// For `syslog_tls_listen`: require client certificates issued by this CA (PEM).
    pub syslog_client_ca_file: Option<PathBuf>,
    /// Receive IHE ATNA over plain TCP syslog (labs only: no confidentiality).
    pub syslog_tcp_listen: Option<String>,
    /// Receive IHE ATNA over UDP syslog (labs only: no confidentiality, may drop).
    pub syslog_udp_listen: Option<String>,
    /// Largest syslog message accepted, in bytes.
    pub syslog_max_message_bytes: usize,
    /// SIEM sinks.
    pub sinks: Vec<webqx_siem::sink::SinkConfig>,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            checkpoint_interval: "1m".into(),
            syslog_tls_listen: None,
            syslog_client_ca_file: None,
            syslog_tcp_listen: None,
            syslog_udp_listen: None,
            syslog_max_message_bytes: 256 * 1024,
            sinks: Vec::new(),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSection {
    /// Serve `/metrics` without a token (for scrapers on a trusted network).
    pub public: bool,
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a filter such as
    /// `info,webqx_kms=debug`.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

/// `[tde]`: Vault-KV-compatible mounts from which MariaDB's `hashicorp_key_management`
/// plugin reads its data-at-rest keys (`[[tde.mounts]]`, see the operator guide).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TdeSection {
    /// How long a key request is held before 503 when the service is sealed or its
    /// store fails: longer than the plugin's `hashicorp-key-management-timeout`, so the
    /// plugin times out and keeps using its cached key instead of failing on a 5xx.
    pub unavailable_hold: String,
    /// The mounts.
    pub mounts: Vec<TdeMount>,
}

impl Default for TdeSection {
    fn default() -> Self {
        TdeSection {
            unavailable_hold: "30s".into(),
            mounts: Vec::new(),
        }
    }
}

/// One mount: `https://HOST:PORT/v1/<path>` is the plugin's `vault-url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdeMount {
    /// The mount name after `/v1/` (`mariadb`).
    pub path: String,
    /// Database key id N is key ring `<key_prefix>N`; `<path>-` when absent.
    #[serde(default)]
    pub key_prefix: Option<String>,
    /// Create a missing ring on its first request (by a token allowed `tde-read` on
    /// it). Off by default: the operator creates `<prefix>1`, `<prefix>2`… first.
    #[serde(default)]
    pub create_keys: bool,
}

impl TdeMount {
    /// The key ring prefix in force.
    pub fn prefix(&self) -> String {
        self.key_prefix
            .clone()
            .unwrap_or_else(|| format!("{}-", self.path))
    }
}

/// First path segments under `/v1/` that belong to the service's own API (now or as
/// planned): a mount may not take them.
pub const RESERVED_MOUNTS: [&str; 24] = [
    "keys",
    "fhir",
    "pki",
    "audit",
    "events",
    "alerts",
    "vuln",
    "sys",
    "tokens",
    "openapi.json",
    "tang",
    "acme",
    "ocsp",
    "crl",
    "files",
    "file",
    "backup",
    "backups",
    "incidents",
    "reports",
    "comply",
    "hsm",
    "oauth",
    "auth",
];

fn check_tde(tde: &TdeSection) -> Result<(), String> {
    let hold =
        parse_duration(&tde.unavailable_hold).map_err(|e| format!("unavailable_hold: {e}"))?;
    if hold > std::time::Duration::from_secs(600) {
        return Err(format!(
            "unavailable_hold '{}' is longer than 10m: a held request keeps a connection open \
             that long; set it a little above hashicorp-key-management-timeout (30s for the \
             default 15)",
            tde.unavailable_hold
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for m in &tde.mounts {
        let p = &m.path;
        let ok = !p.is_empty()
            && p.len() <= 64
            && p.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && !p.starts_with(['-', '_']);
        if !ok {
            return Err(format!(
                "mount path '{p}' must be 1-64 of a-z, 0-9, '-' and '_' (one path segment, \
                 as in vault-url https://HOST:PORT/v1/{p})"
            ));
        }
        if RESERVED_MOUNTS.contains(&p.as_str()) {
            return Err(format!(
                "mount path '{p}' would shadow the service's own /v1/{p} API; choose another \
                 name, such as 'mariadb'"
            ));
        }
        if !seen.insert(p.clone()) {
            return Err(format!("mount path '{p}' is configured twice"));
        }
        if !webqx_crypto::envelope::valid_key_name(&format!("{}4294967295", m.prefix())) {
            return Err(format!(
                "key_prefix '{}' of mount '{p}' does not make valid key names (letters, \
                 digits, '.', '_', '-'; at most 118 characters)",
                m.prefix()
            ));
        }
    }
    Ok(())
}

/// `[tang]`: the Tang server for clevis-bound disks (see the operator guide).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TangSection {
    /// Serve `/tang/adv` and `/tang/rec` on the API (and `listen`, if set).
    pub enabled: bool,
    /// The `tang-p521` key ring whose keys are served.
    pub ring: String,
    /// Also serve Tang, and nothing else, over plain HTTP on this address.
    pub listen: Option<String>,
}

impl Default for TangSection {
    fn default() -> Self {
        TangSection {
            enabled: false,
            ring: "tang".into(),
            listen: None,
        }
    }
}

/// `[acme]`: the ACME server for hosts (see the operator guide, "ACME for hosts").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeSection {
    /// Serve `/acme/directory` and the protocol under `/acme/`.
    pub enabled: bool,
    /// Port the http-01 check connects to (80; tests use the one their client listens on).
    pub http01_port: u16,
    /// Names validated at these addresses instead of through DNS (`"ehr.test" =
    /// "127.0.0.1"`), for tests and split-horizon networks.
    pub resolve: std::collections::BTreeMap<String, String>,
    /// Deadline of one http-01 fetch.
    pub validation_timeout: String,
    /// How long an order and its authorizations stay usable.
    pub order_lifetime: String,
    /// How long an unused nonce stays valid.
    pub nonce_lifetime: String,
    /// Certificate profile used for ACME orders: `tls-server` (the only one allowed).
    pub profile: String,
    /// Intermediate that signs; unset means the default issuing CA.
    pub issuer: Option<String>,
    /// Lifetime of ACME certificates; unset means the profile's default (capped by it).
    pub cert_ttl: Option<String>,
    /// Terms of service URL; when set, accounts must agree to it.
    pub terms_of_service: Option<String>,
}

impl Default for AcmeSection {
    fn default() -> Self {
        AcmeSection {
            enabled: false,
            http01_port: 80,
            resolve: std::collections::BTreeMap::new(),
            validation_timeout: "10s".into(),
            order_lifetime: "24h".into(),
            nonce_lifetime: "1h".into(),
            profile: "tls-server".into(),
            issuer: None,
            cert_ttl: None,
            terms_of_service: None,
        }
    }
}

impl Config {
    /// ACME issues tls-server certificates: a `cert_ttl` above that profile's `max_ttl`
    /// would make every order fail at finalization, so it is refused here.
    fn check_acme_ttl(&self) -> Result<(), String> {
        let (Some(ttl), Ok(max)) = (
            self.acme.cert_ttl.as_deref().map(parse_duration),
            parse_duration(&self.pki.tls_server.max_ttl),
        ) else {
            return Ok(());
        };
        match ttl {
            Ok(ttl) if ttl < Duration::from_secs(60) => Err(
                "must be at least 60s (no certificate can live less); every ACME order \
                 would fail"
                    .into(),
            ),
            Ok(ttl) if ttl > max => Err(format!(
                "{} is longer than [pki.tls-server] max_ttl ({}); ACME orders would all \
                 fail. Shorten cert_ttl or raise max_ttl",
                self.acme.cert_ttl.as_deref().unwrap_or_default(),
                self.pki.tls_server.max_ttl
            )),
            _ => Ok(()),
        }
    }
}

fn check_acme(acme: &AcmeSection) -> Result<(), (&'static str, String)> {
    for (key, value) in [
        ("validation_timeout", &acme.validation_timeout),
        ("order_lifetime", &acme.order_lifetime),
        ("nonce_lifetime", &acme.nonce_lifetime),
    ] {
        parse_duration(value).map_err(|e| (key, e))?;
    }
    if let Some(ttl) = &acme.cert_ttl {
        parse_duration(ttl).map_err(|e| ("cert_ttl", e))?;
    }
    for (name, ip) in &acme.resolve {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err((
                "resolve",
                format!("'{ip}' (for {name}) is not an IP address such as 127.0.0.1"),
            ));
        }
    }
    // Only server certificates: a client-capable certificate for a name bound to an mTLS
    // policy would act with that policy, and proving control of a host name over http-01
    // is no grounds for it. Client and secure-node certificates come from the API, where
    // the caller's token must cover the binding.
    if acme.profile != "tls-server" {
        return Err((
            "profile",
            format!(
                "'{}': ACME issues tls-server certificates only; issue client and secure-node \
                 certificates with `webqx-sec cert issue|sign`",
                acme.profile
            ),
        ));
    }
    if acme.http01_port == 0 {
        return Err(("http01_port", "must be a port, 1 to 65535".into()));
    }
    Ok(())
}

/// A configuration problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `file:line:column`, `file`, or `environment variable X`.
    pub location: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// An IP address, or a DNS name of letters, digits and hyphens (a leading `*.` allowed).
fn valid_tls_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let host = name.strip_prefix("*.").unwrap_or(name);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

/// Where `section.key` is written in the file, for messages about its value.
fn locate(file: &str, text: &str, section: &str, key: &str) -> String {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            current = name.trim().to_owned();
        } else if current == section && t.split('=').next().map(str::trim) == Some(key) {
            return format!("{file}:{}", i + 1);
        }
    }
    format!("{file} ([{section}] {key})")
}

/// Applies `WEBQX_<SECTION>_<KEY>` variables. A value is read as the type the key has
/// (a string key takes the text as is; numbers, booleans and lists are parsed as TOML).
fn env_overrides(table: &mut toml::Table, vars: &[(String, String)]) -> Result<(), ConfigError> {
    let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix("WEBQX_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once('_') else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        if !SECTIONS.contains(&section.as_str()) {
            continue;
        }
        let err = |message: String| ConfigError {
            location: format!("environment variable {name}"),
            message,
        };
        let default = defaults.get(&section).and_then(|s| s.get(&key));
        let parsed = match default {
            None | Some(toml::Value::String(_)) => toml::Value::String(value.clone()),
            Some(_) => format!("v = {value}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .ok_or_else(|| {
                    err(format!(
                        "'{value}' is not a valid value for {section}.{key}"
                    ))
                })?,
        };
        let entry = table
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(section_table) = entry else {
            return Err(err("its section is not a table in the file".into()));
        };
        section_table.insert(key, parsed);
    }
    Ok(())
}

impl Config {
    /// Loads `path` (or `webqx-sec.toml` in the current folder if present, or the
    /// defaults), applies the environment, and checks every value.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file and line, or the variable, that is wrong.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        let (file, text) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    location: p.display().to_string(),
                    message: format!("cannot read the configuration file: {e}"),
                })?;
                (p.display().to_string(), text)
            }
            None if Path::new(DEFAULT_FILE).exists() => {
                let text = std::fs::read_to_string(DEFAULT_FILE).unwrap_or_default();
                (DEFAULT_FILE.to_owned(), text)
            }
            None => ("(defaults)".to_owned(), String::new()),
        };
        Config::from_text(&file, &text, &vars)
    }

    /// Parses configuration text with the given environment.
    ///
    /// # Errors
    /// As for [`Config::load`].
    pub fn from_text(
        file: &str,
        text: &str,
        vars: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let location = match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    format!("{file}:{line}:{col}")
                }
                None => file.to_owned(),
            };
            ConfigError {
                location,
                message: e.message().trim().to_owned(),
            }
        })?;
        env_overrides(&mut table, vars)?;
        let config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError {
                    location: file.to_owned(),
                    message: e.message().trim().to_owned(),
                })?;
        config.validate(file, text)?;
        Ok(config)
    }

    fn validate(&self, file: &str, text: &str) -> Result<(), ConfigError> {
        let at = |section: &str, key: &str, message: String| ConfigError {
            location: locate(file, text, section, key),
            message,
        };
        self.server.listen.parse::<SocketAddr>().map_err(|_| {
            at(
                "server",
                "listen",
                format!(
                    "'{}' is not an address such as 127.0.0.1:8443",
                    self.server.listen
                ),
            )
        })?;
        for (section, key, value) in [
            (
                "server",
                "scheduler_interval",
                &self.server.scheduler_interval,
            ),
            ("server", "shutdown_grace", &self.server.shutdown_grace),
            ("server", "cache_ttl", &self.server.cache_ttl),
            (
                "audit",
                "checkpoint_interval",
                &self.audit.checkpoint_interval,
            ),
            ("kms", "min_deletion_wait", &self.kms.min_deletion_wait),
            ("backup", "every", &self.backup.every),
            ("tls", "renew_before", &self.tls.renew_before),
            (
                "kms",
                "default_deletion_wait",
                &self.kms.default_deletion_wait,
            ),
        ] {
            parse_duration(value).map_err(|e| at(section, key, e))?;
        }
        if let Err((key, message)) = self.pki.check() {
            return Err(at("pki", &key, message));
        }
        if let Err((key, message)) = self.oauth.check() {
            return Err(at("oauth", key, message));
        }
        if let Err((key, message)) = self.monitor.check() {
            return Err(at("monitor", key, message));
        }
        self.check_listeners_distinct()
            .map_err(|(key, message)| at("monitor", key, message))?;
        if let Err((key, message)) = self.vuln.check() {
            return Err(at("vuln", key, message));
        }
        for entry in &self.scan.tls {
            let every = parse_duration(&entry.every).map_err(|e| at("scan", "every", e))?;
            if every < Duration::from_secs(10) {
                return Err(at("scan", "every", "must be at least 10s".into()));
            }
            if !matches!(entry.profile.as_str(), "modern" | "intermediate" | "old") {
                let m = "must be \"modern\", \"intermediate\" or \"old\"".to_string();
                return Err(at("scan", "profile", m));
            }
        }
        if let Some(age) = &self.backup.max_age {
            parse_duration(age).map_err(|e| at("backup", "max_age", e))?;
        }
        if let Some(folder) = &self.backup.folder
            && folder.as_os_str().is_empty()
        {
            return Err(at(
                "backup",
                "folder",
                "is empty; name a folder, or leave the key out for no scheduled backups".into(),
            ));
        }
        if !matches!(self.tls.min_version.as_str(), "1.2" | "1.3") {
            return Err(at(
                "tls",
                "min_version",
                "must be \"1.3\" (default) or \"1.2\"".into(),
            ));
        }
        if !(1..=1_000_000).contains(&self.server.max_connections) {
            return Err(at(
                "server",
                "max_connections",
                "must be between 1 and 1000000".into(),
            ));
        }
        if !(1..=1_000_000).contains(&self.kms.max_batch_items) {
            return Err(at(
                "kms",
                "max_batch_items",
                "must be between 1 and 1000000".into(),
            ));
        }
        if !(1..=825).contains(&self.tls.cert_days) {
            return Err(at(
                "tls",
                "cert_days",
                "must be between 1 and 825 (what TLS clients accept)".into(),
            ));
        }
        let renew = Config::duration(&self.tls.renew_before);
        if renew >= Duration::from_secs(u64::from(self.tls.cert_days) * 86_400) {
            return Err(at(
                "tls",
                "renew_before",
                format!(
                    "must be shorter than the certificate lifetime (tls.cert_days = {}), or the \
                     server would renew its certificate at every scheduler tick",
                    self.tls.cert_days
                ),
            ));
        }
        if !matches!(self.tls.client_auth.as_str(), "optional" | "off") {
            return Err(at(
                "tls",
                "client_auth",
                "must be \"optional\" (default) or \"off\"".into(),
            ));
        }
        if let Some(bad) = self.tls.names.iter().find(|n| !valid_tls_name(n)) {
            return Err(at(
                "tls",
                "names",
                format!("'{bad}' is neither an IP address nor a DNS name"),
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(at("log", "format", "must be \"text\" or \"json\"".into()));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return Err(at(
                "log",
                "level",
                format!(
                    "'{}' is not a level (error, warn, info, debug, trace) or a filter such as \"info,webqx_kms=debug\"",
                    self.log.level
                ),
            ));
        }
        if self.server.max_body_bytes < 1024 {
            return Err(at(
                "server",
                "max_body_bytes",
                "must be at least 1024".into(),
            ));
        }
        let url = &self.storage.url;
        if !(url.is_empty()
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://")
            || url.starts_with("sqlite:"))
        {
            return Err(at(
                "storage",
                "url",
                "must be empty (SQLite in the data folder), sqlite:PATH or postgres://…".into(),
            ));
        }
        for (key, addr) in [
            ("syslog_tls_listen", &self.audit.syslog_tls_listen),
            ("syslog_tcp_listen", &self.audit.syslog_tcp_listen),
            ("syslog_udp_listen", &self.audit.syslog_udp_listen),
        ] {
            if let Some(a) = addr
                && a.parse::<SocketAddr>().is_err()
            {
                return Err(at(
                    "audit",
                    key,
                    format!("'{a}' is not an address such as 0.0.0.0:6514"),
                ));
            }
        }
        if let Some(a) = &self.tang.listen
            && a.parse::<SocketAddr>().is_err()
        {
            return Err(at(
                "tang",
                "listen",
                format!("'{a}' is not an address such as 127.0.0.1:7500"),
            ));
        }
        if self.tang.listen.is_some() && !self.tang.enabled {
            return Err(at(
                "tang",
                "listen",
                "is set but Tang is off; add `enabled = true` to [tang] or remove `listen`".into(),
            ));
        }
        check_acme(&self.acme).map_err(|(key, message)| at("acme", key, message))?;
        self.check_acme_ttl()
            .map_err(|message| at("acme", "cert_ttl", message))?;
        if !webqx_crypto::envelope::valid_key_name(&self.tang.ring) {
            return Err(at(
                "tang",
                "ring",
                format!("'{}' is not a key name", self.tang.ring),
            ));
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.audit.syslog_max_message_bytes) {
            return Err(at(
                "audit",
                "syslog_max_message_bytes",
                "must be between 1024 and 16777216".into(),
            ));
        }
        if self.seal.pin.is_some() {
            return Err(at(
                "seal",
                "pin",
                "the HSM PIN is never written in the configuration; put it in a 0600 file \
                 named by seal.pin_file, or in the environment variable WEBQX_HSM_PIN"
                    .into(),
            ));
        }
        if self.seal.key_label.is_empty() || self.seal.key_label.len() > 64 {
            return Err(at("seal", "key_label", "must be 1 to 64 characters".into()));
        }
        if self.seal.ca_key_label.is_empty() || self.seal.ca_key_label.len() > 64 {
            return Err(at(
                "seal",
                "ca_key_label",
                "must be 1 to 64 characters".into(),
            ));
        }
        webqx_siem::sink::validate(&self.audit.sinks).map_err(|e| ConfigError {
            location: format!("{file} [[audit.sinks]]"),
            message: e,
        })?;
        check_tde(&self.tde).map_err(|message| ConfigError {
            location: format!("{file} [tde]"),
            message,
        })?;
        self.fhir.policy().validate().map_err(|e| ConfigError {
            location: format!("{file} [fhir]"),
            message: e,
        })?;
        Ok(())
    }

    /// The monitoring syslog listeners must not share an address with the ATNA ones
    /// (each address has one meaning: audit intake or log monitoring).
    fn check_listeners_distinct(&self) -> Result<(), (&'static str, String)> {
        let m = &self.monitor;
        let a = &self.audit;
        let atna = [
            &a.syslog_tls_listen,
            &a.syslog_tcp_listen,
            &a.syslog_udp_listen,
        ];
        for (key, addr) in [
            ("syslog_tls_listen", &m.syslog_tls_listen),
            ("syslog_tcp_listen", &m.syslog_tcp_listen),
            ("syslog_udp_listen", &m.syslog_udp_listen),
        ] {
            if let Some(addr) = addr
                && atna.iter().any(|x| x.as_deref() == Some(addr.as_str()))
            {
                return Err((
                    key,
                    format!("{addr} is also an [audit] syslog address; give monitoring its own"),
                ));
            }
        }
        Ok(())
    }

    /// A duration that [`Config::load`] has already checked.
    pub fn duration(text: &str) -> Duration {
        parse_duration(text).unwrap_or(Duration::from_secs(30))
    }

    /// The listen address, already checked.
    pub fn listen_addr(&self) -> SocketAddr {
        self.server
            .listen
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8443)))
    }

    /// The key service settings.
    pub fn kms_settings(&self) -> webqx_kms::KmsSettings {
        webqx_kms::KmsSettings {
            min_deletion_wait: Config::duration(&self.kms.min_deletion_wait),
            default_deletion_wait: Config::duration(&self.kms.default_deletion_wait),
            max_batch_items: self.kms.max_batch_items,
            cache_ttl: Config::duration(&self.server.cache_ttl),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load() {
        let c = Config::from_text("x.toml", "", &[]).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:8443");
        assert_eq!(c.tls.min_version, "1.3");
    }

    #[test]
    fn backup_section_is_checked_and_overridable() {
        let e = Config::from_text("x.toml", "[backup]\nevery = \"soon\"\n", &[]).unwrap_err();
        assert_eq!(e.location, "x.toml:2", "{e}");
        let e = Config::from_text("x.toml", "[backup]\nmax_age = \"old\"\n", &[]).unwrap_err();
        assert_eq!(e.location, "x.toml:2", "{e}");
        let vars = [
            ("WEBQX_BACKUP_FOLDER".to_string(), "/b".to_string()),
            ("WEBQX_BACKUP_KEEP".to_string(), "3".to_string()),
            ("WEBQX_BACKUP_MAX_AGE".to_string(), "30d".to_string()),
        ];
        let c = Config::from_text("x.toml", "", &vars).unwrap();
        assert_eq!(c.backup.folder.as_deref(), Some(Path::new("/b")));
        assert_eq!(
            (c.backup.keep, c.backup.max_age.as_deref()),
            (3, Some("30d"))
        );
        assert_eq!(
            Config::from_text("x.toml", "", &[]).unwrap().backup.folder,
            None
        );
    }

    #[test]
    fn vuln_section_is_checked_and_overridable() {
        let text = "[vuln]\nallowed_roots = [\"srv\"]\n";
        let e = Config::from_text("x.toml", text, &[]).unwrap_err();
        assert_eq!(e.location, "x.toml:2", "{e}");
        assert!(e.message.contains("absolute"), "{e}");
        let e = Config::from_text("x.toml", "[vuln]\nallowed_roots = [\"/\"]\n", &[]).unwrap_err();
        assert!(e.message.contains("whole file system"), "{e}");
        let vars = [
            (
                "WEBQX_VULN_ALLOWED_ROOTS".to_string(),
                "[\"/srv/ehr\"]".to_string(),
            ),
            ("WEBQX_VULN_DB_DIR".to_string(), "/var/lib/v".to_string()),
        ];
        let c = Config::from_text("x.toml", "", &vars).unwrap();
        assert_eq!(c.vuln.allowed_roots, [PathBuf::from("/srv/ehr")]);
        assert_eq!(c.vuln.db_dir(Path::new("/d")), Path::new("/var/lib/v"));
        let c = Config::from_text("x.toml", "", &[]).unwrap();
        assert!(c.vuln.allowed_roots.is_empty());
        assert_eq!(c.vuln.db_dir(Path::new("/d")), Path::new("/d/vuln"));
    }

    #[test]
    fn scan_tls_entries_are_read_and_checked() {
        let text = "[[scan.tls]]\ntarget = \"ehr.test:443\"\n\n[[scan.tls]]\n\
                    target = \"db.test:3307\"\nprofile = \"modern\"\nevery = \"1h\"\n";
        let c = Config::from_text("x.toml", text, &[]).unwrap();
        assert_eq!(c.scan.tls.len(), 2);
        assert_eq!(
            (c.scan.tls[0].profile.as_str(), c.scan.tls[0].every.as_str()),
            ("intermediate", "24h")
        );
        let bad = "[[scan.tls]]\ntarget = \"a:1\"\nprofile = \"strict\"\n";
        let e = Config::from_text("x.toml", bad, &[]).unwrap_err();
        assert!(e.message.contains("modern"), "{e}");
        let fast = "[[scan.tls]]\ntarget = \"a:1\"\nevery = \"1s\"\n";
        assert!(Config::from_text("x.toml", fast, &[]).is_err());
    }

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let e = Config::from_text("x.toml", "[server]\nlisten = \n", &[]).unwrap_err();
        assert_eq!(e.location, "x.toml:2:10", "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_explained() {
        let e = Config::from_text("x.toml", "[server]\nlisen = \"a\"\n", &[]).unwrap_err();
        assert!(e.message.contains("lisen"), "{e}");
        let e = Config::from_text("x.toml", "[kms]\n\nmin_deletion_wait = \"soon\"\n", &[])
            .unwrap_err();
        assert_eq!(e.location, "x.toml:3");
        assert!(e.message.contains("30d"), "{e}");
        for bad in [
            "[kms]\nmax_batch_items = 0\n",
            "[log]\nformat = \"xml\"\n",
            "[log]\nlevel = \"nonsense==\"\n",
            "[tls]\nnames = [\"bad name!\"]\n",
            "[tls]\ncert_days = 100000\n",
        ] {
            assert!(Config::from_text("x.toml", bad, &[]).is_err(), "{bad}");
        }
        let e = Config::from_text(
            "x.toml",
            "[fhir.resources.Patient]\nprotect = [\"a..b\"]\n",
            &[],
        )
        .unwrap_err();
        assert!(e.message.contains("a..b"), "{e}");
    }

    #[test]
    fn an_acme_lifetime_beyond_the_profile_maximum_is_refused() {
        let text = "[pki.tls-server]\nmax_ttl = \"90d\"\n[acme]\ncert_ttl = \"200d\"\n";
        let e = Config::from_text("x.toml", text, &[]).unwrap_err();
        assert_eq!(e.location, "x.toml:4", "{e}");
        assert!(e.message.contains("max_ttl (90d)"), "{e}");
        let text = "[pki.tls-server]\nmax_ttl = \"90d\"\n[acme]\ncert_ttl = \"60d\"\n";
        Config::from_text("x.toml", text, &[]).unwrap();
        let e = Config::from_text("x.toml", "[acme]\ncert_ttl = \"30s\"\n", &[]).unwrap_err();
        assert!(e.message.contains("at least 60s"), "{e}");
    }

    #[test]
    fn ca_lifetimes_and_the_crl_period_that_would_break_the_ca_are_refused() {
        // Where: a line for top-level keys, the key path for a profile's keys.
        for (text, place, says) in [
            ("[pki]\ncrl_every = \"0s\"\n", "x.toml:2", "at least 60s"),
            (
                "[pki.tls-server]\nmax_ttl = \"0s\"\n",
                "tls-server.max_ttl",
                "at least 60s",
            ),
            (
                "[pki.tls-client]\nmax_ttl = \"30d\"\ndefault_ttl = \"60d\"\n",
                "tls-client.default_ttl",
                "max_ttl (30d)",
            ),
            ("[pki]\ndefault_ttl = \"10s\"\n", "x.toml:2", "at least 60s"),
        ] {
            let e = Config::from_text("x.toml", text, &[]).unwrap_err();
            assert!(e.location.contains(place), "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn monitor_section_is_checked_with_file_and_line() {
        let ok = Config::from_text(
            "x.toml",
            "[monitor]\ndetector = \"test-double\"\nfiles = [\"/var/log/auth.log\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(ok.monitor.files.len(), 1);
        assert_eq!(ok.monitor.group_window, "15m");
        for (text, place, says) in [
            (
                "[monitor]\ndetector = \"sigma2\"\n",
                "x.toml:2",
                "test-double",
            ),
            ("[monitor]\n\nqueue_capacity = 0\n", "x.toml:3", "between 1"),
            (
                "[monitor]\ngroup_window = \"soon\"\n",
                "x.toml:2",
                "not a duration",
            ),
            ("[monitor]\nfiles = [\"rel.log\"]\n", "x.toml:2", "absolute"),
            (
                "[monitor]\nsyslog_udp_listen = \"nowhere\"\n",
                "x.toml:2",
                "not an address",
            ),
            (
                "[monitor]\nsyslog_client_ca_file = \"/ca.pem\"\n",
                "x.toml:2",
                "syslog_tls_listen",
            ),
            (
                "[audit]\nsyslog_tcp_listen = \"127.0.0.1:5514\"\n[monitor]\nsyslog_tcp_listen = \"127.0.0.1:5514\"\n",
                "x.toml:4",
                "its own",
            ),
            ("[monitor]\nbogus = 1\n", "x.toml", "unknown field"),
        ] {
            let e = Config::from_text("x.toml", text, &[]).unwrap_err();
            assert!(e.location.contains(place), "{text}: {e}");
            assert!(e.message.contains(says), "{text}: {e}");
        }
        let vars = [("WEBQX_MONITOR_QUEUE_CAPACITY".to_owned(), "5".to_owned())];
        assert_eq!(
            Config::from_text("x.toml", "", &vars)
                .unwrap()
                .monitor
                .queue_capacity,
            5
        );
    }

    #[test]
    fn the_hsm_pin_is_never_inline() {
        let e = Config::from_text(
            "x.toml",
            "[seal]\nmodule = \"/m.so\"\npin = \"1234\"\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(e.location, "x.toml:3", "{e}");
        assert!(e.message.contains("pin_file") && e.message.contains("WEBQX_HSM_PIN"));
        assert!(!e.to_string().contains("1234"), "{e}");
        let vars = [("WEBQX_SEAL_PIN".to_owned(), "1234".to_owned())];
        let e = Config::from_text("x.toml", "", &vars).unwrap_err();
        assert!(e.message.contains("WEBQX_HSM_PIN"), "{e}");
        let vars = [
            ("WEBQX_SEAL_TOKEN_LABEL".to_owned(), "ehr".to_owned()),
            ("WEBQX_HSM_PIN".to_owned(), "1234".to_owned()),
        ];
        let c = Config::from_text("x.toml", "[seal]\npin_file = \"/p\"\n", &vars).unwrap();
        assert_eq!(c.seal.token_label, "ehr");
        assert_eq!(c.seal.pin_file, "/p");
        assert_eq!(c.seal.key_label, "webqx-root-wrap");
    }

    #[test]
    fn tang_section_is_checked() {
        let c = Config::from_text("x.toml", "", &[]).unwrap();
        assert!(!c.tang.enabled, "Tang is off by default");
        let text = "[tang]\nenabled = true\nring = \"disks\"\nlisten = \"127.0.0.1:7500\"\n";
        let c = Config::from_text("x.toml", text, &[]).unwrap();
        assert_eq!(
            (c.tang.ring.as_str(), c.tang.listen.as_deref()),
            ("disks", Some("127.0.0.1:7500"))
        );
        let e = Config::from_text("x.toml", "[tang]\nenabled = true\nlisten = \"here\"\n", &[])
            .unwrap_err();
        assert_eq!(e.location, "x.toml:3");
        let e =
            Config::from_text("x.toml", "[tang]\nlisten = \"127.0.0.1:7500\"\n", &[]).unwrap_err();
        assert!(e.message.contains("enabled = true"), "{e}");
        let e = Config::from_text("x.toml", "[tang]\nring = \"-x\"\n", &[]).unwrap_err();
        assert!(e.message.contains("not a key name"), "{e}");
        let vars = [("WEBQX_TANG_ENABLED".to_string(), "true".to_string())];
        assert!(Config::from_text("x.toml", "", &vars).unwrap().tang.enabled);
    }

    #[test]
    fn acme_section_is_checked() {
        let c = Config::from_text("x.toml", "", &[]).unwrap();
        assert!(!c.acme.enabled, "ACME is off by default");
        assert_eq!(
            (c.acme.http01_port, c.acme.profile.as_str()),
            (80, "tls-server")
        );
        let text = "[acme]\nenabled = true\nhttp01_port = 8080\n\
                    resolve = { \"ehr.test\" = \"127.0.0.1\" }\n";
        let c = Config::from_text("x.toml", text, &[]).unwrap();
        assert_eq!(c.acme.resolve["ehr.test"], "127.0.0.1");
        for (bad, says) in [
            ("resolve = { \"ehr.test\" = \"here\" }", "not an IP address"),
            ("profile = \"tls-client\"", "tls-server certificates only"),
            ("profile = \"secure-node\"", "tls-server certificates only"),
            ("order_lifetime = \"soon\"", ""),
            ("http01_port = 0", "1 to 65535"),
        ] {
            let e = Config::from_text("x.toml", &format!("[acme]\n{bad}\n"), &[]).unwrap_err();
            assert!(e.message.contains(says), "{bad}: {e}");
        }
        let vars = [
            ("WEBQX_ACME_ENABLED".to_string(), "true".to_string()),
            (
                "WEBQX_ACME_RESOLVE".to_string(),
                "{ \"a.test\" = \"::1\" }".to_string(),
            ),
        ];
        let c = Config::from_text("x.toml", "", &vars).unwrap();
        assert!(c.acme.enabled);
        assert_eq!(c.acme.resolve["a.test"], "::1");
    }

    #[test]
    fn environment_overrides_the_file() {
        let vars = vec![
            (
                "WEBQX_SERVER_LISTEN".to_string(),
                "127.0.0.1:9999".to_string(),
            ),
            (
                "WEBQX_SERVER_MAX_BODY_BYTES".to_string(),
                "4096".to_string(),
            ),
            (
                "WEBQX_STORAGE_URL".to_string(),
                "postgres://root@127.0.0.1/test".to_string(),
            ),
            (
                "WEBQX_TOKEN".to_string(),
                "ignored: not a section".to_string(),
            ),
        ];
        let c = Config::from_text("x.toml", "[server]\nlisten = \"127.0.0.1:1\"\n", &vars).unwrap();
        assert_eq!(c.server.listen, "127.0.0.1:9999");
        assert_eq!(c.server.max_body_bytes, 4096);
        assert_eq!(c.storage.url, "postgres://root@127.0.0.1/test");
        let bad = vec![("WEBQX_KMS_NOPE".to_string(), "1".to_string())];
        assert!(Config::from_text("x.toml", "", &bad).is_err());
        let zero = vec![("WEBQX_KMS_MIN_DELETION_WAIT".to_string(), "0".to_string())];
        assert_eq!(
            Config::from_text("x.toml", "", &zero)
                .unwrap()
                .kms
                .min_deletion_wait,
            "0"
        );
        let typo = vec![(
            "WEBQX_SERVER_MAX_BODY_BYTES".to_string(),
            "lots".to_string(),
        )];
        let e = Config::from_text("x.toml", "", &typo).unwrap_err();
        assert_eq!(
            e.location,
            "environment variable WEBQX_SERVER_MAX_BODY_BYTES"
        );
    }

    #[test]
    fn tde_mounts_may_not_shadow_the_api() {
        let ok = "[[tde.mounts]]\npath = \"mariadb\"\ncreate_keys = true\n";
        let c = Config::from_text("x.toml", ok, &[]).unwrap();
        assert_eq!(c.tde.mounts[0].prefix(), "mariadb-");
        let env = vec![(
            "WEBQX_TDE_MOUNTS".to_string(),
            "[{path = \"db\", key_prefix = \"tde.\"}]".to_string(),
        )];
        let c = Config::from_text("x.toml", "", &env).unwrap();
        assert_eq!(c.tde.mounts[0].prefix(), "tde.");
        let e = Config::from_text("x.toml", "[tde]\nunavailable_hold = \"1000000d\"\n", &[])
            .unwrap_err();
        assert!(e.message.contains("longer than 10m"), "{e}");
        for (bad, says) in [
            ("path = \"keys\"", "shadow"),
            ("path = \"sys\"", "shadow"),
            ("path = \"openapi.json\"", "a-z"),
            ("path = \"a/b\"", "a-z"),
            ("path = \"\"", "a-z"),
            ("path = \"Maria\"", "a-z"),
            ("path = \"m\"\nkey_prefix = \"-x\"", "key_prefix"),
        ] {
            let text = format!("[[tde.mounts]]\n{bad}\n");
            let e = Config::from_text("x.toml", &text, &[]).unwrap_err();
            assert!(e.message.contains(says), "{bad}: {e}");
            assert!(e.location.contains("[tde]"), "{e}");
        }
        let twice = "[[tde.mounts]]\npath = \"m\"\n[[tde.mounts]]\npath = \"m\"\n";
        assert!(Config::from_text("x.toml", twice, &[]).is_err());
        let hold = "[tde]\nunavailable_hold = \"soon\"\n";
        assert!(Config::from_text("x.toml", hold, &[]).is_err());
    }

    #[test]
    fn fhir_rules_extend_or_replace_the_defaults() {
        let c = Config::from_text(
            "x.toml",
            "[fhir.resources.Practitioner]\nprotect = [\"name\"]\n",
            &[],
        )
        .unwrap();
        let p = c.fhir.policy();
        assert!(p.resources.contains_key("Patient") && p.resources.contains_key("Practitioner"));
        let c = Config::from_text("x.toml", "[fhir]\nreplace_defaults = true\n", &[]).unwrap();
        assert!(c.fhir.policy().resources.is_empty());
    }
}
