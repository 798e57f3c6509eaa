//! Fetching a client's JWKS from its `jwks_uri`, with limits: HTTPS only (unless the
//! client was registered with `insecure_http`), no redirects, 5 s timeout, 64 KiB, the
//! strict [`JwkSet::parse_public`]; cached 5 minutes; an assertion naming a `kid` the
//! cached set lacks may force a refetch at most once a minute per URL (so a client
//! that rotated keys is seen quickly, and forged `kid`s cannot make us hammer a host).

use crate::jwk::{JwkSet, MAX_JWKS_BYTES};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a fetched JWKS is used.
pub const CACHE_FOR: Duration = Duration::from_secs(300);
/// Shortest time between two refetches forced by an unknown `kid`.
pub const FORCED_REFETCH_EVERY: Duration = Duration::from_secs(60);
/// Time limit of one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Most URLs cached.
const MAX_CACHED: usize = 10_000;

/// Why a JWKS could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// The HTTPS client could not be built (TLS set-up).
    Setup(String),
    /// The URL is refused (scheme).
    Refused(&'static str),
    /// The request failed or timed out, or the status was not 200.
    Http(String),
    /// The body is over 64 KiB.
    TooLarge,
    /// The body is not an acceptable public JWKS.
    BadJwks(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup(why) => write!(f, "cannot build the HTTPS client for jwks_uri: {why}"),
            Self::Refused(why) => write!(f, "jwks_uri refused: {why}"),
            Self::Http(why) => write!(f, "fetching jwks_uri failed: {why}"),
            Self::TooLarge => write!(f, "jwks_uri answered more than {MAX_JWKS_BYTES} bytes"),
            Self::BadJwks(why) => write!(f, "jwks_uri did not answer a public JWKS: {why}"),
        }
    }
}

impl std::error::Error for FetchError {}

struct Entry {
    keys: Arc<JwkSet>,
    fetched: Instant,
    forced: Option<Instant>,
}

/// Fetches and caches client JWKS documents.
pub struct JwksFetcher {
    https: reqwest::Client,
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Entry>>,
}

impl fmt::Debug for JwksFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksFetcher").finish_non_exhaustive()
    }
}

fn builder(tls: rustls::ClientConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("webqx-sec/", env!("CARGO_PKG_VERSION")))
}

impl JwksFetcher {
    /// A fetcher trusting `ca_pem` (PEM certificates), or the system's trust store.
    ///
    /// # Errors
    /// [`FetchError::Setup`] if the TLS configuration cannot be built.
    pub fn new(ca_pem: Option<&[u8]>) -> Result<Self, FetchError> {
        let tls = tls_config(ca_pem)?;
        let setup = |e: reqwest::Error| FetchError::Setup(e.to_string());
        Ok(Self {
            https: builder(tls.clone())
                .https_only(true)
                .build()
                .map_err(setup)?,
            http: builder(tls).build().map_err(setup)?,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The client's keys from `uri`: cached, or fetched. With `unknown_kid`, the cached
    /// set is known to lack the assertion's key: refetch unless one was forced within
    /// the last minute.
    ///
    /// # Errors
    /// [`FetchError`] when there is no usable cached set and fetching fails.
    pub async fn get(
        &self,
        uri: &str,
        insecure_http: bool,
        unknown_kid: bool,
    ) -> Result<Arc<JwkSet>, FetchError> {
        let now = Instant::now();
        let (cached, may_force) = self.cached(uri, now);
        match (cached, unknown_kid) {
            (Some(keys), false) => return Ok(keys),
            (Some(keys), true) if !may_force => return Ok(keys),
            _ => {}
        }
        let keys = Arc::new(self.fetch(uri, insecure_http).await?);
        self.store(uri, keys.clone(), now, unknown_kid);
        Ok(keys)
    }

    /// The fresh cached set, if any, and whether a forced refetch is allowed now.
    fn cached(&self, uri: &str, now: Instant) -> (Option<Arc<JwkSet>>, bool) {
        let Ok(cache) = self.cache.lock() else {
            return (None, true);
        };
        match cache.get(uri) {
            Some(entry) => {
                let fresh = now.saturating_duration_since(entry.fetched) < CACHE_FOR;
                let may_force = entry
                    .forced
                    .is_none_or(|at| now.saturating_duration_since(at) >= FORCED_REFETCH_EVERY);
                (fresh.then(|| entry.keys.clone()), may_force)
            }
            None => (None, true),
        }
    }

    fn store(&self, uri: &str, keys: Arc<JwkSet>, now: Instant, forced: bool) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= MAX_CACHED && !cache.contains_key(uri) {
            cache.clear();
        }
        let previous_force = cache.get(uri).and_then(|e| e.forced);
        cache.insert(
            uri.to_owned(),
            Entry {
                keys,
                fetched: now,
                forced: if forced { Some(now) } else { previous_force },
            },
        );
    }

    async fn fetch(&self, uri: &str, insecure_http: bool) -> Result<JwkSet, FetchError> {
        let url = reqwest::Url::parse(uri).map_err(|_| FetchError::Refused("not a URL"))?;
        let client = match url.scheme() {
            "https" => &self.https,
            "http" if insecure_http => &self.http,
            _ => return Err(FetchError::Refused("https only")),
        };
        let mut response = client
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "application/json, application/jwk-set+json",
            )
            .send()
            .await
            .map_err(|e| FetchError::Http(without_url(&e)))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Http(format!("status {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err(FetchError::TooLarge);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| FetchError::Http(without_url(&e)))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        JwkSet::parse_public(&body).map_err(|e| FetchError::BadJwks(e.to_string()))
    }
}

/// The error's text with the URL left out (it can be long and is already known).
fn without_url(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", FETCH_TIMEOUT.as_secs());
    }
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "jwks_uri");
    }
    text
}

fn tls_config(ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, FetchError> {
    let setup = |e: String| FetchError::Setup(e);
    // The workspace's one provider (as webqx_pki::provider(), which this crate cannot
    // depend on: the key service, below the PKI, depends on this crate).
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(e.to_string()))?;
    let config = match ca_pem {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            use rustls_pki_types::CertificateDer;
            use rustls_pki_types::pem::PemObject as _;
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| setup(format!("CA file: {e}")))?;
                roots.add(cert).map_err(|e| setup(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(setup("the CA file holds no certificate".into()));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt;
            builder
                .with_platform_verifier()
                .map_err(|e| setup(e.to_string()))?
                .with_no_client_auth()
        }
    };
    Ok(config)
}
