//! `[oauth]`: the OAuth 2.0 authorization server for the EHR's services (see the
//! operator guide, "OAuth 2.0 for EHR services").

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use webqx_store::time::parse_duration;

/// `[oauth]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OauthSection {
    /// Serve the token endpoint, discovery, introspection and revocation, and accept
    /// access tokens on our own API.
    pub enabled: bool,
    /// Our issuer URL (`iss`; the token endpoint is `<issuer>/oauth/token`). Unset:
    /// `[pki] base_url`, else `https://<the address the server listens on>`.
    pub issuer: Option<String>,
    /// `EdDSA` (Ed25519, the default) or `ES256` (P-256). Chosen when the signing key
    /// is first made; changing it later does not change the key.
    pub signing_alg: String,
    /// How often the signing key rotates.
    pub rotate_every: String,
    /// Token lifetime when a client is registered without one.
    pub default_token_lifetime: String,
    /// Longest token lifetime a client may be registered with.
    pub max_token_lifetime: String,
    /// Clock-skew allowance for every time check.
    pub leeway: String,
    /// Longest client assertion lifetime (`exp - now`), per SMART Backend Services.
    pub max_assertion_lifetime: String,
    /// The audience our own API accepts access tokens for.
    pub api_audience: String,
    /// Token requests per second per client id.
    pub rate_per_client: u32,
    /// Burst per client id.
    pub burst_per_client: u32,
    /// Token requests per second per address.
    pub rate_per_address: u32,
    /// Burst per address.
    pub burst_per_address: u32,
    /// Client authentication failures (per client or per address) within
    /// `failure_window` that raise the `oauth-auth-failures` alert.
    pub failure_threshold: u32,
    /// See `failure_threshold`.
    pub failure_window: String,
    /// CA certificates (PEM) trusted when fetching clients' `jwks_uri`; unset: the
    /// system's trust store.
    pub jwks_ca_file: Option<PathBuf>,
}

impl Default for OauthSection {
    fn default() -> Self {
        Self {
            enabled: true,
            issuer: None,
            signing_alg: "EdDSA".into(),
            rotate_every: "30d".into(),
            default_token_lifetime: "5m".into(),
            max_token_lifetime: "1h".into(),
            leeway: "60s".into(),
            max_assertion_lifetime: "5m".into(),
            api_audience: "webqx-sec".into(),
            rate_per_client: 20,
            burst_per_client: 40,
            rate_per_address: 20,
            burst_per_address: 40,
            failure_threshold: 10,
            failure_window: "1m".into(),
            jwks_ca_file: None,
        }
    }
}

/// A parsed duration of a key already checked by [`OauthSection::check`].
fn duration(text: &str) -> Duration {
    parse_duration(text).unwrap_or_default()
}

impl OauthSection {
    /// Checks every value; the error names the key.
    ///
    /// # Errors
    /// `(key, message)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, value) in [
            ("rotate_every", &self.rotate_every),
            ("default_token_lifetime", &self.default_token_lifetime),
            ("max_token_lifetime", &self.max_token_lifetime),
            ("leeway", &self.leeway),
            ("max_assertion_lifetime", &self.max_assertion_lifetime),
            ("failure_window", &self.failure_window),
        ] {
            parse_duration(value).map_err(|e| (key, e))?;
        }
        if !matches!(self.signing_alg.as_str(), "EdDSA" | "ES256") {
            return Err((
                "signing_alg",
                format!("'{}' must be \"EdDSA\" or \"ES256\"", self.signing_alg),
            ));
        }
        self.check_lifetimes()?;
        self.check_limits()?;
        if let Some(issuer) = &self.issuer {
            check_issuer(issuer).map_err(|m| ("issuer", m))?;
        }
        if self.api_audience.is_empty() || self.api_audience.contains(char::is_whitespace) {
            return Err(("api_audience", "must be a word such as webqx-sec".into()));
        }
        Ok(())
    }

    fn check_lifetimes(&self) -> Result<(), (&'static str, String)> {
        let (default, max) = (
            duration(&self.default_token_lifetime),
            duration(&self.max_token_lifetime),
        );
        if max.is_zero() || max > Duration::from_secs(86_400) {
            return Err(("max_token_lifetime", "must be between 1s and 24h".into()));
        }
        if default.is_zero() || default > max {
            return Err((
                "default_token_lifetime",
                format!("must be at least 1s and at most max_token_lifetime ({max:?})"),
            ));
        }
        if duration(&self.leeway) > Duration::from_secs(300) {
            return Err(("leeway", "must be at most 5m".into()));
        }
        let assertion = duration(&self.max_assertion_lifetime);
        if assertion.is_zero() || assertion > Duration::from_secs(3600) {
            return Err(("max_assertion_lifetime", "must be between 1s and 1h".into()));
        }
        if duration(&self.rotate_every) < Duration::from_secs(3600) {
            return Err(("rotate_every", "must be at least 1h".into()));
        }
        Ok(())
    }

    fn check_limits(&self) -> Result<(), (&'static str, String)> {
        for (key, value) in [
            ("rate_per_client", self.rate_per_client),
            ("burst_per_client", self.burst_per_client),
            ("rate_per_address", self.rate_per_address),
            ("burst_per_address", self.burst_per_address),
            ("failure_threshold", self.failure_threshold),
        ] {
            if value == 0 {
                return Err((key, "must be at least 1".into()));
            }
        }
        if duration(&self.failure_window).is_zero() {
            return Err(("failure_window", "must be longer than 0".into()));
        }
        Ok(())
    }

    /// The key type of the signing key.
    pub fn key_type(&self) -> webqx_kms::KeyType {
        if self.signing_alg == "ES256" {
            webqx_kms::KeyType::EcdsaP256
        } else {
            webqx_kms::KeyType::Ed25519
        }
    }

    /// The JWS algorithm of our tokens.
    pub fn algorithm(&self) -> webqx_oauth::Algorithm {
        if self.signing_alg == "ES256" {
            webqx_oauth::Algorithm::ES256
        } else {
            webqx_oauth::Algorithm::EdDSA
        }
    }

    /// How long a retired signing key stays in the JWKS: the longest token lifetime
    /// plus the leeway.
    pub fn keep_retired(&self) -> Duration {
        duration(&self.max_token_lifetime) + duration(&self.leeway)
    }

    /// The library settings, for issuer URL `issuer`.
    pub fn settings(&self, issuer: &str) -> webqx_oauth::server::Settings {
        webqx_oauth::server::Settings {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{issuer}/oauth/token"),
            algorithm: self.algorithm(),
            leeway: duration(&self.leeway),
            max_assertion_lifetime: duration(&self.max_assertion_lifetime),
            lifetimes: webqx_oauth::registry::Lifetimes {
                default: duration(&self.default_token_lifetime),
                max: duration(&self.max_token_lifetime),
            },
            rate_per_client: (self.rate_per_client, self.burst_per_client),
            rate_per_address: (self.rate_per_address, self.burst_per_address),
            failure_threshold: self.failure_threshold,
            failure_window: duration(&self.failure_window),
        }
    }
}

/// An issuer is an `https` URL with a host, no query or fragment, no trailing slash
/// (RFC 8414 §2).
fn check_issuer(issuer: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(issuer).map_err(|_| {
        format!("'{issuer}' is not an absolute URL such as https://sec.ehr.example")
    })?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err(format!("'{issuer}' must be an https URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || issuer.ends_with('/') {
        return Err(format!(
            "'{issuer}' must have no query, fragment or trailing slash"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_values_name_their_key() {
        assert!(OauthSection::default().check().is_ok());
        type Change = fn(&mut OauthSection);
        let cases: [(&str, Change); 7] = [
            ("signing_alg", |o| o.signing_alg = "HS256".into()),
            ("max_token_lifetime", |o| o.max_token_lifetime = "2d".into()),
            ("default_token_lifetime", |o| {
                o.default_token_lifetime = "2h".into()
            }),
            ("issuer", |o| o.issuer = Some("http://sec.test".into())),
            ("issuer", |o| o.issuer = Some("https://sec.test/".into())),
            ("rate_per_client", |o| o.rate_per_client = 0),
            ("rotate_every", |o| o.rotate_every = "5m".into()),
        ];
        for (key, change) in cases {
            let mut section = OauthSection::default();
            change(&mut section);
            assert_eq!(section.check().unwrap_err().0, key);
        }
    }
}
