//! TLS endpoint scanner.
//!
//! [`scan_tls`] probes a server with hand-built ClientHellos (protocol versions from SSL
//! 3.0 to TLS 1.3, every cipher suite per version, key exchange groups), then runs one
//! real rustls handshake to capture the certificate chain and the stapled OCSP response,
//! validates the chain with rustls-webpki, asks for HSTS over HTTP/1.1, and judges the
//! whole against a Mozilla server-side TLS profile ([`profile`]). Probes run
//! concurrently, bounded by [`ScanOptions::concurrency`], each under a timeout.
//!
//! Only point the scanner at servers you are responsible for.

mod cert;
pub mod hello;
mod probe;
pub mod profile;
pub mod regression;
mod suites;
mod verdict;

pub use cert::{CertificateInfo, ChainReport, matches_name, validate_path};
pub use hello::{HelloError, Version};
pub use profile::{Guidelines, Profile};
pub use regression::{Regression, regression};
pub use suites::{group_name, suite_name, suite_openssl_name};
pub use verdict::{Finding, Severity};

use probe::{Prober, VersionResult};
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The system trust store used when no bundle is given.
pub const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Name for SNI, the hostname check and HSTS's `Host` (default: the target's host).
    pub sni: Option<String>,
    /// Trust bundle, PEM (default: [`SYSTEM_BUNDLE`]).
    pub ca_file: Option<PathBuf>,
    /// Profile to judge against (`modern`, `intermediate`, `old`).
    pub profile: String,
    /// Edition of Mozilla's guidelines.
    pub guidelines: Guidelines,
    /// Timeout of each connection (connect, then answer).
    pub timeout: Duration,
    /// Most probes in flight at once.
    pub concurrency: usize,
    /// Ask for HSTS with an HTTP/1.1 request after the handshake.
    pub http: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            sni: None,
            ca_file: None,
            profile: "intermediate".into(),
            guidelines: Guidelines::V5_8,
            timeout: Duration::from_secs(5),
            concurrency: 16,
            http: true,
        }
    }
}

/// Why a scan could not run.
#[derive(Debug)]
#[non_exhaustive]
pub enum ScanError {
    /// The target is not `HOST:PORT` or the host does not resolve.
    Target(String),
    /// The profile does not exist in the chosen guidelines.
    Profile(String),
    /// The trust bundle cannot be used.
    Bundle(String),
    /// A TCP connection failed.
    Connect(SocketAddr, String),
    /// The server's answer is not TLS as the scanner expects it.
    Protocol(HelloError),
    /// The port accepts connections but completed no TLS handshake of any version.
    NotTls(SocketAddr, String),
    /// The scan was cancelled.
    Cancelled,
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Target(t) => write!(f, "bad target {t}: give HOST:PORT that resolves"),
            ScanError::Profile(p) => write!(
                f,
                "unknown profile {p}: use modern, intermediate or old (old exists in 5.8 only)"
            ),
            ScanError::Bundle(e) => write!(f, "trust bundle: {e}; pass --ca-file with PEM"),
            ScanError::Connect(a, e) => write!(f, "cannot connect to {a}: {e}"),
            ScanError::Protocol(e) => write!(f, "{e}"),
            ScanError::NotTls(a, e) => write!(
                f,
                "{a} accepts connections but speaks no TLS the scanner can negotiate (every \
                 version from SSL 3.0 to TLS 1.3 was refused or answered with something else: \
                 {e}); check that HOST:PORT is a TLS port"
            ),
            ScanError::Cancelled => f.write_str("scan cancelled"),
        }
    }
}

impl std::error::Error for ScanError {}

/// Cipher suites a version accepted.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct VersionReport {
    /// The version.
    pub version: Version,
    /// Offered by the server.
    pub offered: bool,
    /// Accepted suites, IANA names, in the order found.
    pub cipher_suites: Vec<String>,
}

/// HSTS as the server sent it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Hsts {
    /// The header's value, or `None` when the HTTP answer had none.
    pub header: Option<String>,
    /// `max-age`, seconds.
    pub max_age: Option<u64>,
    /// `includeSubDomains` present.
    pub include_subdomains: bool,
    /// `preload` present.
    pub preload: bool,
}

/// Everything a scan found, and the verdict.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ScanReport {
    /// `HOST:PORT` as given.
    pub target: String,
    /// The address scanned.
    pub address: String,
    /// The name used for SNI and the hostname check.
    pub server_name: String,
    /// When the scan started, RFC 3339.
    pub started: String,
    /// Wall time, milliseconds.
    pub duration_ms: u64,
    /// Per protocol version: offered, and its suites.
    pub protocols: Vec<VersionReport>,
    /// Key exchange groups accepted.
    pub groups: Vec<String>,
    /// Smallest DH group (bits) of any accepted DHE suite, TLS 1.2 and older.
    #[serde(default)]
    pub dh_param_bits: Option<usize>,
    /// The certificate chain, when a handshake got one.
    pub certificate: Option<ChainReport>,
    /// The rustls handshake's error, when it failed.
    pub handshake_error: Option<String>,
    /// A stapled OCSP response came with the certificate.
    pub ocsp_stapling: Option<bool>,
    /// HSTS, when the server answered HTTP.
    pub hsts: Option<Hsts>,
    /// Guidelines edition.
    pub guidelines: Guidelines,
    /// Profile name.
    pub profile: String,
    /// `pass` or `fail`.
    pub verdict: String,
    /// Every failed point.
    pub findings: Vec<Finding>,
}

impl ScanReport {
    /// True when the verdict passed.
    pub fn passed(&self) -> bool {
        self.verdict == "pass"
    }

    /// Is `version` offered.
    pub fn offers(&self, version: Version) -> bool {
        self.protocols
            .iter()
            .any(|p| p.version == version && p.offered)
    }
}

fn resolve(target: &str) -> Result<(String, SocketAddr), ScanError> {
    use std::net::ToSocketAddrs;
    let (host, port) = target
        .rsplit_once(':')
        .ok_or_else(|| ScanError::Target(target.to_string()))?;
    port.parse::<u16>()
        .map_err(|_| ScanError::Target(target.to_string()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let addr = target
        .to_socket_addrs()
        .map_err(|_| ScanError::Target(target.to_string()))?
        .next()
        .ok_or_else(|| ScanError::Target(target.to_string()))?;
    Ok((host, addr))
}

/// Scan `target` (`HOST:PORT`).
///
/// # Errors
/// [`ScanError`] when the target, profile or bundle is wrong or the server cannot be
/// reached at all; everything the server does wrong is a finding instead.
pub async fn scan_tls(target: &str, options: &ScanOptions) -> Result<ScanReport, ScanError> {
    let started = chrono::Utc::now();
    let clock = Instant::now();
    let profile = profile::profile(options.guidelines, &options.profile)
        .ok_or_else(|| ScanError::Profile(options.profile.clone()))?;
    let (host, addr) = resolve(target)?;
    let name = options.sni.clone().unwrap_or(host);
    let bundle = options
        .ca_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(SYSTEM_BUNDLE));
    let anchors = cert::load_bundle(&bundle).map_err(ScanError::Bundle)?;
    let sni = name
        .parse::<std::net::IpAddr>()
        .is_err()
        .then(|| name.clone());
    let prober = Prober {
        addr,
        sni,
        timeout: options.timeout,
        permits: Arc::new(tokio::sync::Semaphore::new(options.concurrency.max(1))),
    };
    // Reachable at all? One plain connect gives a clear error instead of "nothing offered".
    drop(connect(addr, options.timeout).await?);

    let versions = probe_versions(&prober);
    let handshake = handshake(addr, &name, options);
    let (versions, handshake) = tokio::join!(versions, handshake);
    let versions = versions?;
    let groups = probe_groups(&prober, &versions).await?;

    let now = started.timestamp();
    let (captured, handshake_error, hsts) = match handshake {
        Ok((c, h)) => (Some(c), None, h),
        Err(e) => (None, Some(e), None),
    };
    let none_offered = versions.iter().all(|(_, r)| !r.offered);
    if none_offered && captured.is_none() {
        let why = handshake_error.unwrap_or_else(|| "no answer".into());
        return Err(ScanError::NotTls(addr, why));
    }
    let (chain, ocsp) = pick_chain(captured.as_ref(), &versions);
    let trust_store = bundle.display().to_string();
    let certificate =
        (!chain.is_empty()).then(|| cert::report(&chain, &name, &anchors, trust_store, now));

    let mut report = ScanReport {
        target: target.to_string(),
        address: addr.to_string(),
        server_name: name,
        started: started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        duration_ms: 0,
        protocols: versions
            .iter()
            .map(|(v, r)| VersionReport {
                version: *v,
                offered: r.offered,
                cipher_suites: r.suites.iter().map(|s| suite_name(*s)).collect(),
            })
            .collect(),
        groups: groups.iter().map(|g| group_name(*g)).collect(),
        dh_param_bits: versions
            .iter()
            .flat_map(|(_, r)| r.dh_bits.iter().map(|(_, b)| *b))
            .min(),
        certificate,
        handshake_error,
        ocsp_stapling: ocsp,
        hsts: if options.http { hsts } else { None },
        guidelines: options.guidelines,
        profile: profile.name.to_string(),
        verdict: String::new(),
        findings: Vec::new(),
    };
    report.findings = verdict::findings(&report, &profile);
    report.verdict = if verdict::fails(&report.findings) {
        "fail"
    } else {
        "pass"
    }
    .into();
    report.duration_ms = clock.elapsed().as_millis() as u64;
    Ok(report)
}

/// The chain and stapling seen by the rustls handshake, or else by a TLS 1.2-or-older
/// probe (servers rustls cannot talk to).
fn pick_chain(
    captured: Option<&cert::Captured>,
    versions: &[(Version, VersionResult)],
) -> (Vec<Vec<u8>>, Option<bool>) {
    if let Some(c) = captured.filter(|c| !c.chain.is_empty()) {
        return (c.chain.clone(), Some(!c.ocsp.is_empty()));
    }
    versions
        .iter()
        .rev()
        .filter_map(|(_, r)| r.flight.as_ref())
        .find(|f| !f.certificates.is_empty())
        .map_or((Vec::new(), None), |f| {
            (f.certificates.clone(), Some(f.ocsp_response.is_some()))
        })
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, ScanError> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(ScanError::Connect(addr, e.to_string())),
        Err(_) => Err(ScanError::Connect(addr, "timed out".into())),
    }
}

async fn probe_versions(prober: &Prober) -> Result<Vec<(Version, VersionResult)>, ScanError> {
    let tasks: Vec<_> = Version::ALL
        .into_iter()
        .map(|v| {
            let p = prober.clone();
            tokio::spawn(async move { (v, p.version(v).await) })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        let (v, r) = t.await.map_err(|_| ScanError::Cancelled)?;
        out.push((v, r?));
    }
    Ok(out)
}

async fn probe_groups(
    prober: &Prober,
    versions: &[(Version, VersionResult)],
) -> Result<Vec<u16>, ScanError> {
    let offered = |x: Version| versions.iter().any(|(v, r)| *v == x && r.offered);
    let version = if offered(Version::Tls13) {
        Version::Tls13
    } else if offered(Version::Tls12) {
        Version::Tls12
    } else {
        return Ok(Vec::new());
    };
    let tasks: Vec<_> = suites::GROUPS
        .iter()
        .filter(|(g, _)| version == Version::Tls13 || *g < 0x0100)
        .map(|(g, _)| {
            let (p, g) = (prober.clone(), *g);
            tokio::spawn(async move { (g, p.group(version, g).await) })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        let (g, ok) = t.await.map_err(|_| ScanError::Cancelled)?;
        if ok? {
            out.push(g);
        }
    }
    Ok(out)
}

/// One real rustls handshake: the chain and stapled OCSP it saw, and HSTS over it.
async fn handshake(
    addr: SocketAddr,
    name: &str,
    options: &ScanOptions,
) -> Result<(cert::Captured, Option<Hsts>), String> {
    let provider = crate::provider();
    let verifier = Arc::new(cert::CapturingVerifier::new(provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let server_name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let tcp = connect(addr, options.timeout)
        .await
        .map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = tokio::time::timeout(options.timeout, connector.connect(server_name, tcp)).await;
    let captured = verifier.seen.lock().ok().and_then(|s| s.clone());
    let mut stream = match (tls, captured.clone()) {
        (Ok(Ok(s)), _) => s,
        (Ok(Err(e)), _) => return Err(format!("TLS handshake failed: {e}")),
        (Err(_), _) => return Err("TLS handshake timed out".into()),
    };
    let captured = captured.unwrap_or_default();
    if !options.http {
        return Ok((captured, None));
    }
    let hsts = tokio::time::timeout(options.timeout, http_hsts(&mut stream, name))
        .await
        .ok()
        .flatten();
    Ok((captured, hsts))
}

async fn http_hsts<S>(stream: &mut S, host: &str) -> Option<Hsts>
where
    S: AsyncReadExt + AsyncWriteExt + Unpin,
{
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: webqx-sec-scan\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    parse_hsts(&buf)
}

/// HSTS from an HTTP/1.x response head; `None` when it is not HTTP.
pub fn parse_hsts(head: &[u8]) -> Option<Hsts> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    if !lines.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let header = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("strict-transport-security"))
        .map(|(_, v)| v.trim().to_string());
    let directives: Vec<String> = header
        .as_deref()
        .unwrap_or("")
        .split(';')
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    let max_age = directives
        .iter()
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|v| v.trim_matches('"').parse().ok());
    Some(Hsts {
        max_age,
        include_subdomains: directives.iter().any(|d| d == "includesubdomains"),
        preload: directives.iter().any(|d| d == "preload"),
        header,
    })
}

/// Parse a certificate chain file (PEM) for [`validate_path`].
///
/// # Errors
/// A message when the file holds no certificate.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("bad PEM: {e}"))?;
    if certs.is_empty() {
        return Err("no certificate in PEM".into());
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port that answers plain HTTP (or garbage) to every probe is "not TLS", an error
    /// with the connect exit code, not a failed verdict with "protocol missing" findings.
    #[tokio::test]
    async fn a_plain_http_port_is_reported_as_not_tls() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 512];
                    let _ = tcp.read(&mut buf).await;
                    let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                });
            }
        });
        let bundle = std::env::temp_dir().join(format!("webqx-scan-bundle-{}.pem", addr.port()));
        let ca = crate::new_local_ca("scan test CA").unwrap();
        std::fs::write(&bundle, ca.cert_pem.as_bytes()).unwrap();
        let options = ScanOptions {
            ca_file: Some(bundle.clone()),
            timeout: Duration::from_secs(2),
            ..ScanOptions::default()
        };
        let err = scan_tls(&addr.to_string(), &options).await.unwrap_err();
        let _ = std::fs::remove_file(&bundle);
        assert!(matches!(err, ScanError::NotTls(..)), "{err}");
        assert!(err.to_string().contains("TLS port"), "{err}");
    }

    #[test]
    fn hsts_header_is_read() {
        let head = b"HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=63072000; \
            includeSubDomains\r\n\r\n";
        let h = parse_hsts(head).unwrap();
        assert_eq!(h.max_age, Some(63_072_000));
        assert!(h.include_subdomains && !h.preload);
        assert!(parse_hsts(b"SSH-2.0-OpenSSH\r\n").is_none());
        assert!(
            parse_hsts(b"HTTP/1.1 200 OK\r\n\r\n")
                .unwrap()
                .header
                .is_none()
        );
    }
}
