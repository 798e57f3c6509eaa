//! `[pki]`: the certificate authority's profiles, lifetimes, CRL schedule and the URL
//! written into issued certificates (see the operator guide, "Certificate authority").

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use webqx_pki::ca::{PkiSettings, Profile, ProfileSettings};
use webqx_store::time::parse_duration;

/// The shortest certificate lifetime the CA issues.
const MIN_TTL: Duration = Duration::from_secs(60);

/// `[pki]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiSection {
    /// Lifetime of a certificate when the request gives none and its profile sets none.
    pub default_ttl: String,
    /// How often CRLs are rebuilt (also their nextUpdate distance).
    pub crl_every: String,
    /// Base URL relying parties reach this service at; issued certificates then carry
    /// `<base_url>/v1/pki/ocsp` (AIA OCSP) and `<base_url>/v1/pki/crl` (CRL DP).
    pub base_url: Option<String>,
    /// Lifetime of a new intermediate CA.
    pub intermediate_ttl: String,
    /// Name of the intermediate created on first use.
    pub default_intermediate: String,
    /// `[pki.tls-server]`.
    #[serde(rename = "tls-server")]
    pub tls_server: PkiProfileSection,
    /// `[pki.tls-client]`.
    #[serde(rename = "tls-client")]
    pub tls_client: PkiProfileSection,
    /// `[pki.secure-node]`.
    #[serde(rename = "secure-node")]
    pub secure_node: PkiProfileSection,
    /// `[[pki.watch]]`: certificate files and TLS endpoints watched for expiry (see
    /// `crate::lifecycle`).
    pub watch: Vec<crate::lifecycle::WatchEntry>,
    /// How often the lifecycle watch reads files and endpoints and raises alerts.
    pub watch_every: String,
    /// Days before expiry at which an alert is raised, each once per certificate.
    pub expiry_alert_days: Vec<u32>,
}

/// `[pki.<profile>]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiProfileSection {
    /// Names allowed: `example.org` allows it and every name below it; an IP address
    /// allows that address; `*` allows anything.
    pub allowed_domains: Vec<String>,
    /// Longest lifetime.
    pub max_ttl: String,
    /// Lifetime when the request gives none (default: `[pki] default_ttl`).
    pub default_ttl: Option<String>,
}

impl Default for PkiProfileSection {
    fn default() -> Self {
        PkiProfileSection {
            allowed_domains: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            max_ttl: "397d".into(),
            default_ttl: None,
        }
    }
}

impl Default for PkiSection {
    fn default() -> Self {
        PkiSection {
            default_ttl: "90d".into(),
            crl_every: "1h".into(),
            base_url: None,
            intermediate_ttl: "1825d".into(),
            default_intermediate: "issuing".into(),
            tls_server: PkiProfileSection::default(),
            tls_client: PkiProfileSection::default(),
            secure_node: PkiProfileSection::default(),
            watch: Vec::new(),
            watch_every: "1h".into(),
            expiry_alert_days: vec![30, 14, 7],
        }
    }
}

impl PkiSection {
    /// Checks every value; the error names the key.
    ///
    /// # Errors
    /// `(key, message)`.
    pub fn check(&self) -> Result<(), (String, String)> {
        if parse_duration(&self.default_ttl).is_ok_and(|t| t < MIN_TTL) {
            return Err(("default_ttl".into(), "must be at least 60s".into()));
        }
        crate::lifecycle::check_config(self)?;
        self.settings().map(drop)
    }

    /// The CA's settings.
    ///
    /// # Errors
    /// `(key, message)` for a malformed duration or URL.
    pub fn settings(&self) -> Result<PkiSettings, (String, String)> {
        let dur = |key: &str, v: &str| parse_duration(v).map_err(|e| (key.to_owned(), e));
        let default_ttl = dur("default_ttl", &self.default_ttl)?;
        let mut profiles = HashMap::new();
        for (profile, section) in [
            (Profile::TlsServer, &self.tls_server),
            (Profile::TlsClient, &self.tls_client),
            (Profile::SecureNode, &self.secure_node),
        ] {
            let p = profile.as_str();
            let max_ttl = dur(&format!("{p}.max_ttl"), &section.max_ttl)?;
            if max_ttl < MIN_TTL {
                return Err((
                    format!("{p}.max_ttl"),
                    "must be at least 60s (no certificate can live less)".into(),
                ));
            }
            let default = match &section.default_ttl {
                Some(t) => dur(&format!("{p}.default_ttl"), t)?,
                None => default_ttl.min(max_ttl),
            };
            if default > max_ttl || default < MIN_TTL {
                return Err((
                    format!("{p}.default_ttl"),
                    format!(
                        "must be between 60s and this profile's max_ttl ({}): requests without \
                         a lifetime would all be refused",
                        section.max_ttl
                    ),
                ));
            }
            profiles.insert(
                profile,
                ProfileSettings {
                    allowed_domains: section.allowed_domains.clone(),
                    max_ttl,
                    default_ttl: default,
                },
            );
        }
        if let Some(url) = &self.base_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err((
                "base_url".into(),
                format!("'{url}' is not an http(s) URL such as https://ca.example.org:8443"),
            ));
        }
        let crl_every = dur("crl_every", &self.crl_every)?;
        if crl_every < Duration::from_secs(60) {
            return Err((
                "crl_every".into(),
                "must be at least 60s (a CRL is valid for 1.5 times this; 0 would make every \
                 CRL already stale)"
                    .into(),
            ));
        }
        Ok(PkiSettings {
            profiles,
            crl_every,
            base_url: self.base_url.clone(),
            intermediate_ttl: dur("intermediate_ttl", &self.intermediate_ttl)?,
            default_intermediate: self.default_intermediate.clone(),
        })
    }
}
