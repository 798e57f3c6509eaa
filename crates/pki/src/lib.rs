//! Certificates and TLS for WebQx Security.
//!
//! For now this crate owns what the service needs to run TLS 1.3 on its own: a local
//! certificate authority made at initialization, the server certificate it signs, and
//! the `rustls` configurations for the server and for clients that trust that CA. All
//! of it uses the one crypto provider, `aws-lc-rs`. Issuing to others, revocation,
//! OCSP, ACME and scanning will build on it.

#![forbid(unsafe_code)]

pub mod acme;
pub mod ca;
pub mod lifecycle;
pub mod mtls;
pub mod pin;
pub mod pinstore;
pub mod scan;
pub mod stored;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fmt;
use std::sync::{Arc, RwLock};
use webqx_crypto::SecretBytes;

/// Why a certificate or TLS configuration could not be made.
#[derive(Debug)]
#[non_exhaustive]
pub enum PkiError {
    /// Certificate generation failed.
    Generate(String),
    /// A PEM input could not be read; the text says which.
    Pem(String),
    /// rustls refused the configuration.
    Tls(String),
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiError::Generate(e) => write!(f, "certificate generation failed: {e}"),
            PkiError::Pem(e) => write!(f, "cannot read PEM: {e}"),
            PkiError::Tls(e) => write!(f, "TLS configuration refused: {e}"),
        }
    }
}

impl std::error::Error for PkiError {}

fn gen_err(e: rcgen::Error) -> PkiError {
    PkiError::Generate(e.to_string())
}

/// The one crypto provider: aws-lc-rs.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A certificate authority: its certificate and its private key (PKCS#8 DER).
pub struct Ca {
    /// Subject common name, which also rebuilds the issuer name when signing.
    pub name: String,
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Private key, PKCS#8 DER. Store it only wrapped.
    pub key_pkcs8: SecretBytes,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A leaf certificate and its private key.
pub struct Issued {
    /// Certificate, PEM.
    pub cert_pem: String,
    /// Private key, PKCS#8 PEM.
    pub key_pem: SecretBytes,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "WebQx Security");
    params.distinguished_name = dn;
    // One level of intermediates below it (the `ca` module's issuing CAs).
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn validity(params: &mut CertificateParams, days: u32) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(5);
    params.not_after = now + time::Duration::days(i64::from(days));
}

/// Creates a local CA, the root of the hierarchy (ECDSA P-256, ten years, may sign one
/// level of intermediate CAs).
///
/// # Errors
/// [`PkiError::Generate`] if key or certificate generation fails.
pub fn new_local_ca(name: &str) -> Result<Ca, PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
    Ok(Ca {
        name: name.to_owned(),
        cert_pem: local_ca_cert(name, &key)?,
        key_pkcs8: SecretBytes::new(key.serialize_der()),
    })
}

/// The certificate of a local CA named `name` whose key is `key` (which may live in an
/// HSM), PEM; as [`new_local_ca`] makes it.
///
/// # Errors
/// [`PkiError::Generate`] if signing fails.
pub fn local_ca_cert(name: &str, key: &impl rcgen::SigningKey) -> Result<String, PkiError> {
    let mut params = ca_params(name);
    validity(&mut params, 3650);
    Ok(params.self_signed(key).map_err(gen_err)?.pem())
}

/// Issues a TLS server certificate for `names` (DNS names or IP addresses), valid for
/// `days`, with a new ECDSA P-256 key.
///
/// # Errors
/// [`PkiError::Generate`] for invalid names or a CA key that does not load.
pub fn issue_server(ca: &Ca, names: &[String], days: u32) -> Result<Issued, PkiError> {
    let ca_key = KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(ca.key_pkcs8.expose()),
        &PKCS_ECDSA_P256_SHA256,
    )
    .map_err(gen_err)?;
    issue_server_with(&ca.name, ca_key, names, days)
}

/// Like [`issue_server`], signed by the local CA named `ca_name` with `ca_key` (which may
/// live in an HSM).
///
/// # Errors
/// [`PkiError::Generate`] if a name is invalid or signing fails.
pub fn issue_server_with(
    ca_name: &str,
    ca_key: impl rcgen::SigningKey,
    names: &[String],
    days: u32,
) -> Result<Issued, PkiError> {
    let issuer = Issuer::new(ca_params(ca_name), ca_key);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(gen_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        names.first().map(String::as_str).unwrap_or("webqx-sec"),
    );
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params, days);
    let cert = params.signed_by(&key, &issuer).map_err(gen_err)?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: SecretBytes::new(key.serialize_pem().into_bytes()),
    })
}

/// Which TLS versions a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersions {
    /// TLS 1.3 only (the default, Mozilla's "modern" profile).
    #[default]
    Tls13,
    /// TLS 1.2 and 1.3 (Mozilla's "intermediate"), for old clients.
    Tls12And13,
}

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
static TLS12_AND_13: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

fn versions(v: TlsVersions) -> &'static [&'static rustls::SupportedProtocolVersion] {
    match v {
        TlsVersions::Tls13 => TLS13_ONLY,
        TlsVersions::Tls12And13 => TLS12_AND_13,
    }
}

/// Largest certificate, chain, CSR or bundle file read: far above any real one (the
/// system trust store is about 200 KiB), far below what would exhaust memory.
pub const MAX_INPUT_FILE: u64 = 8 * 1024 * 1024;

/// Reads at most [`MAX_INPUT_FILE`] bytes from `input`; more is an error, not a read
/// that never ends (`/dev/zero`) or exhausts memory.
///
/// # Errors
/// The read error, or `InvalidData` naming the limit.
pub fn read_capped(input: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut buf = Vec::new();
    input.take(MAX_INPUT_FILE + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_INPUT_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "larger than {} MiB: not a certificate, chain or CSR",
                MAX_INPUT_FILE >> 20
            ),
        ));
    }
    Ok(buf)
}

/// [`read_capped`] on the file at `path`.
///
/// # Errors
/// As [`read_capped`], or the open error.
pub fn read_file_capped(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    read_capped(std::fs::File::open(path)?)
}

/// Reads every certificate in a PEM text.
///
/// # Errors
/// [`PkiError::Pem`] if there is none or one is malformed.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Pem(format!("certificate: {e}")))?;
    if certs.is_empty() {
        return Err(PkiError::Pem("no certificate found".into()));
    }
    Ok(certs)
}

/// The server side: `chain_pem` (leaf first) and its key, ALPN h2 and http/1.1.
///
/// # Errors
/// [`PkiError::Pem`] or [`PkiError::Tls`] for unreadable or mismatched inputs.
pub fn server_config(
    chain_pem: &[u8],
    key_pem: &[u8],
    v: TlsVersions,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let chain = certs_from_pem(chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| PkiError::Pem(format!("private key: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(v))
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A certificate chain and key ready for rustls.
///
/// # Errors
/// [`PkiError::Pem`] or [`PkiError::Tls`] for unreadable or unsupported inputs.
pub fn certified_key(chain_pem: &[u8], key_pem: &[u8]) -> Result<Arc<CertifiedKey>, PkiError> {
    let chain = certs_from_pem(chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| PkiError::Pem(format!("private key: {e}")))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// The server's certificate, replaceable while connections are served: new handshakes
/// get the new certificate, established connections are untouched.
#[derive(Debug)]
pub struct ReloadableCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableCert {
    /// Starts with `initial`.
    pub fn new(initial: Arc<CertifiedKey>) -> Arc<ReloadableCert> {
        Arc::new(ReloadableCert {
            current: RwLock::new(initial),
        })
    }

    /// Replaces the certificate for new handshakes.
    pub fn replace(&self, next: Arc<CertifiedKey>) {
        if let Ok(mut slot) = self.current.write() {
            *slot = next;
        }
    }

    /// The current chain (leaf first), DER.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.current
            .read()
            .map(|c| c.cert.clone())
            .unwrap_or_default()
    }

    /// Staples `ocsp` (a DER OCSP response for the current leaf) to new handshakes,
    /// unless the certificate was replaced since `for_leaf` was read.
    pub fn staple(&self, for_leaf: &[u8], ocsp: Vec<u8>) {
        if let Ok(mut slot) = self.current.write()
            && slot.cert.first().is_some_and(|c| c.as_ref() == for_leaf)
        {
            let mut next = CertifiedKey::clone(&slot);
            next.ocsp = Some(ocsp);
            *slot = Arc::new(next);
        }
    }
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().ok().map(|c| c.clone())
    }
}

/// A server configuration that takes its certificate from `cert`.
///
/// # Errors
/// [`PkiError::Tls`] if rustls refuses the versions.
pub fn server_config_reloadable(
    cert: Arc<ReloadableCert>,
    v: TlsVersions,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(v))
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A server configuration for non-HTTP protocols (syslog over TLS, RFC 5425): the
/// certificate from `cert`, no ALPN, and, when `client_ca_pem` is given, a required
/// client certificate issued by one of its CAs.
///
/// # Errors
/// [`PkiError::Pem`] or [`PkiError::Tls`] for unusable CA certificates.
pub fn stream_server_config(
    cert: Arc<ReloadableCert>,
    v: TlsVersions,
    client_ca_pem: Option<&[u8]>,
) -> Result<Arc<rustls::ServerConfig>, PkiError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(v))
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let config = match client_ca_pem {
        None => builder.with_no_client_auth().with_cert_resolver(cert),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs_from_pem(pem)? {
                roots.add(c).map_err(|e| PkiError::Tls(e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| PkiError::Tls(e.to_string()))?;
            builder
                .with_client_cert_verifier(verifier)
                .with_cert_resolver(cert)
        }
    };
    Ok(Arc::new(config))
}

/// A client that trusts only the CA certificates in `ca_pem`, TLS 1.2 or 1.3.
///
/// # Errors
/// [`PkiError::Pem`] or [`PkiError::Tls`] for unreadable or unusable certificates.
pub fn client_config(ca_pem: &[u8]) -> Result<rustls::ClientConfig, PkiError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs_from_pem(ca_pem)? {
        roots.add(cert).map_err(|e| PkiError::Tls(e.to_string()))?;
    }
    rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(TlsVersions::Tls12And13))
        .map_err(|e| PkiError::Tls(e.to_string()))
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_or_huge_inputs_are_cut_off_with_an_error() {
        use std::io::Read as _;
        let zeros = std::io::repeat(0).take(u64::MAX);
        let err = read_capped(zeros).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("8 MiB"), "{err}");
        let exact = vec![b'a'; usize::try_from(MAX_INPUT_FILE).unwrap()];
        assert_eq!(read_capped(&exact[..]).unwrap().len(), exact.len());
    }

    #[test]
    fn local_ca_signs_a_server_certificate_both_configs_accept() {
        let ca = new_local_ca("WebQx Security Local CA test").unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let leaf = issue_server(&ca, &names, 397).unwrap();
        let mut chain = leaf.cert_pem.clone();
        chain.push_str(&ca.cert_pem);
        server_config(chain.as_bytes(), leaf.key_pem.expose(), TlsVersions::Tls13).unwrap();
        client_config(ca.cert_pem.as_bytes()).unwrap();
        assert!(!format!("{leaf:?}").contains("PRIVATE"));
    }

    #[test]
    fn unreadable_pem_is_an_error() {
        assert!(matches!(certs_from_pem(b"junk"), Err(PkiError::Pem(_))));
        assert!(server_config(b"junk", b"junk", TlsVersions::Tls13).is_err());
    }
}
