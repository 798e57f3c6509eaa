//! What the operator configures in `[pki]`: per-profile allowed domains and lifetimes,
//! how often CRLs are rebuilt, and the base URL written into certificates.

use super::Profile;
use std::collections::HashMap;
use std::time::Duration;

/// One profile's rules.
#[derive(Debug, Clone)]
pub struct ProfileSettings {
    /// Allowed names: `example.org` allows it and every name under it; an IP address
    /// allows that address; `*` allows anything.
    pub allowed_domains: Vec<String>,
    /// Longest lifetime.
    pub max_ttl: Duration,
    /// Lifetime when the request gives none.
    pub default_ttl: Duration,
}

impl Default for ProfileSettings {
    fn default() -> Self {
        ProfileSettings {
            allowed_domains: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            max_ttl: Duration::from_secs(397 * 86_400),
            default_ttl: Duration::from_secs(90 * 86_400),
        }
    }
}

/// The CA's settings.
#[derive(Debug, Clone)]
pub struct PkiSettings {
    /// Rules per profile; a profile absent here gets [`ProfileSettings::default`].
    pub profiles: HashMap<Profile, ProfileSettings>,
    /// How often CRLs are rebuilt (and their nextUpdate distance).
    pub crl_every: Duration,
    /// Base URL of this service as relying parties reach it (`https://ca.example.org:8443`):
    /// issued certificates carry `<base>/v1/pki/ocsp` (AIA) and `<base>/v1/pki/crl`
    /// (CRL distribution point). None: neither extension is written.
    pub base_url: Option<String>,
    /// Lifetime of a new intermediate CA.
    pub intermediate_ttl: Duration,
    /// Name of the intermediate created on first use.
    pub default_intermediate: String,
}

impl Default for PkiSettings {
    fn default() -> Self {
        PkiSettings {
            profiles: HashMap::new(),
            crl_every: Duration::from_secs(3600),
            base_url: None,
            intermediate_ttl: Duration::from_secs(5 * 365 * 86_400),
            default_intermediate: "issuing".into(),
        }
    }
}

impl PkiSettings {
    /// The rules of `profile`.
    pub fn profile(&self, profile: Profile) -> ProfileSettings {
        self.profiles.get(&profile).cloned().unwrap_or_default()
    }
}
