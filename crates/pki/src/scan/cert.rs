//! The certificate chain: captured from a real rustls handshake (or, for servers rustls
//! cannot talk to, from the TLS 1.2-or-older Certificate message), described with
//! x509-parser and validated with rustls-webpki.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use webpki::{EndEntityCert, KeyUsage};
use x509_parser::prelude::{FromDer, X509Certificate};

/// What the handshake showed: the chain as sent and the stapled OCSP response.
#[derive(Debug, Clone, Default)]
pub(crate) struct Captured {
    pub chain: Vec<Vec<u8>>,
    pub ocsp: Vec<u8>,
}

/// A verifier that accepts everything and keeps what it saw: the scanner judges the
/// chain itself, after the handshake, so that it can report on a bad one.
#[derive(Debug)]
pub(crate) struct CapturingVerifier {
    pub seen: Mutex<Option<Captured>>,
    provider: Arc<CryptoProvider>,
}

impl CapturingVerifier {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        CapturingVerifier {
            seen: Mutex::new(None),
            provider,
        }
    }
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.to_vec()];
        chain.extend(intermediates.iter().map(|c| c.to_vec()));
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(Captured {
                chain,
                ocsp: ocsp_response.to_vec(),
            });
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One certificate of the chain, as sent.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct CertificateInfo {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Start of validity, RFC 3339.
    pub not_before: String,
    /// End of validity, RFC 3339.
    pub not_after: String,
    /// Whole days from the scan to `not_after` (negative once expired).
    pub expires_in_days: i64,
    /// Validity period in days.
    pub lifespan_days: i64,
    /// `rsa`, `ecdsa`, `ed25519` or the key algorithm's OID.
    pub key_type: String,
    /// Key size in bits (RSA modulus, EC field).
    pub key_bits: usize,
    /// Curve name for ECDSA keys (`prime256v1`, `secp384r1`, `secp521r1`).
    pub key_curve: Option<String>,
    /// Signature algorithm by its OpenSSL name (`sha256WithRSAEncryption`).
    pub signature_algorithm: String,
    /// SHA-256 of the DER, hex.
    pub sha256: String,
}

/// The chain and what validating it showed.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ChainReport {
    /// Certificates as sent, leaf first.
    pub chain: Vec<CertificateInfo>,
    /// Each certificate is issued by the next one.
    pub chain_in_order: bool,
    /// The leaf is valid for the name scanned.
    pub hostname_match: bool,
    /// A path to a trust anchor of the bundle was found at scan time.
    pub trusted: bool,
    /// Why not, when not trusted (webpki's reason).
    pub trust_error: Option<String>,
    /// The bundle the chain was checked against.
    pub trust_store: String,
}

fn oid_name(oid: &str) -> &str {
    // OIDs: RFC 8017 (PKCS #1), RFC 5758 and RFC 5480 (ECDSA), RFC 8410 (EdDSA).
    match oid {
        "1.2.840.113549.1.1.1" => "rsa",
        "1.2.840.10045.2.1" => "ecdsa",
        "1.3.101.112" => "ed25519",
        "1.3.101.113" => "ed448",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10045.3.1.7" => "prime256v1",
        "1.3.132.0.34" => "secp384r1",
        "1.3.132.0.35" => "secp521r1",
        other => other,
    }
}

fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Describe one DER certificate; `None` when it does not parse.
pub(crate) fn describe(der: &[u8], now: i64) -> Option<(CertificateInfo, X509Certificate<'_>)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let spki = cert.public_key();
    let key_oid = spki.algorithm.algorithm.to_id_string();
    let key_curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|o| oid_name(&o.to_id_string()).to_string())
        .filter(|_| key_oid == "1.2.840.10045.2.1");
    let key_bits = match key_curve.as_deref() {
        Some("prime256v1") => 256,
        Some("secp384r1") => 384,
        Some("secp521r1") => 521,
        _ => spki.parsed().map_or(0, |k| k.key_size()),
    };
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    let info = CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        expires_in_days: (not_after - now).div_euclid(86_400),
        lifespan_days: (not_after - not_before) / 86_400,
        key_type: oid_name(&key_oid).to_string(),
        key_bits,
        key_curve,
        signature_algorithm: oid_name(&cert.signature_algorithm.algorithm.to_id_string())
            .to_string(),
        sha256: hex(digest.as_ref()),
    };
    Some((info, cert))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Trust anchors from a PEM bundle.
///
/// # Errors
/// A message naming the file when it cannot be read or holds no certificate.
pub(crate) fn load_bundle(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls_pki_types::pem::PemObject;
    let pem = crate::read_file_capped(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    Ok(certs)
}

/// Validate `chain` (leaf first) for `name` at `time` against `anchors`.
///
/// # Errors
/// webpki's reason when no valid path exists.
pub fn validate_path(
    chain: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'_>],
    time: UnixTime,
) -> Result<(), String> {
    let (leaf, intermediates) = chain.split_first().ok_or("empty chain")?;
    let ee = EndEntityCert::try_from(leaf).map_err(|e| format!("leaf: {e}"))?;
    let anchors: Vec<_> = anchors
        .iter()
        .filter_map(|a| webpki::anchor_from_trusted_cert(a).ok())
        .collect();
    let algs = crate::provider().signature_verification_algorithms.all;
    ee.verify_for_usage(
        algs,
        &anchors,
        intermediates,
        time,
        KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// Is the leaf valid for `name` (DNS name or IP address).
pub fn matches_name(leaf: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(ee) = EndEntityCert::try_from(leaf) else {
        return false;
    };
    let Ok(server_name) = ServerName::try_from(name) else {
        return false;
    };
    ee.verify_is_valid_for_subject_name(&server_name).is_ok()
}

/// Build the chain report.
pub(crate) fn report(
    chain: &[Vec<u8>],
    name: &str,
    anchors: &[CertificateDer<'_>],
    trust_store: String,
    now: i64,
) -> ChainReport {
    let ders: Vec<CertificateDer<'_>> =
        chain.iter().map(|c| CertificateDer::from(&c[..])).collect();
    let parsed: Vec<_> = chain.iter().filter_map(|c| describe(c, now)).collect();
    let chain_in_order = parsed
        .windows(2)
        .all(|w| w[0].1.issuer().as_raw() == w[1].1.subject().as_raw());
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.max(0) as u64));
    let trust = validate_path(&ders, anchors, time);
    ChainReport {
        chain_in_order,
        hostname_match: ders.first().is_some_and(|l| matches_name(l, name)),
        trusted: trust.is_ok(),
        trust_error: trust.err(),
        trust_store,
        chain: parsed.into_iter().map(|(i, _)| i).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

    fn ca_params(name: &str) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
    }

    fn now() -> UnixTime {
        UnixTime::now()
    }

    /// Two CAs that sign each other, neither trusted, sent over and over by a hostile
    /// server: path building ends with an error, not a hang or a panic.
    #[test]
    fn a_certificate_loop_is_refused_with_an_error() {
        let (key_a, key_b) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        let issuer_a = Issuer::new(ca_params("Loop A"), key_a);
        let issuer_b = Issuer::new(ca_params("Loop B"), key_b);
        let b_by_a = ca_params("Loop B")
            .signed_by(issuer_b.key(), &issuer_a)
            .unwrap();
        let a_by_b = ca_params("Loop A")
            .signed_by(issuer_a.key(), &issuer_b)
            .unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["loop.test".into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer_a)
            .unwrap();
        let other_root_key = KeyPair::generate().unwrap();
        let other_root = ca_params("Unrelated root")
            .self_signed(&other_root_key)
            .unwrap();

        let mut chain = vec![leaf.der().clone()];
        for _ in 0..100 {
            chain.push(a_by_b.der().clone());
            chain.push(b_by_a.der().clone());
        }
        let anchors = [other_root.der().clone()];
        let err = validate_path(&chain, &anchors, now()).unwrap_err();
        assert!(!err.is_empty(), "a loop gives a reason");
    }

    /// A chain deeper than any verifier follows: an error naming it, not a panic.
    #[test]
    fn an_oversize_chain_is_refused_with_an_error() {
        let root_key = KeyPair::generate().unwrap();
        let root_params = ca_params("Deep root");
        let root = root_params.self_signed(&root_key).unwrap();
        let mut issuer = Issuer::new(root_params, root_key);
        let mut intermediates = Vec::new();
        for depth in 0..40 {
            let key = KeyPair::generate().unwrap();
            let params = ca_params(&format!("Deep CA {depth}"));
            let cert = params.signed_by(&key, &issuer).unwrap();
            intermediates.push(cert.der().clone());
            issuer = Issuer::new(params, key);
        }
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["deep.test".into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let mut chain = vec![leaf.der().clone()];
        chain.extend(intermediates.into_iter().rev());
        let err = validate_path(&chain, &[root.der().clone()], now()).unwrap_err();
        assert!(!err.is_empty());
    }

    /// Garbage instead of a leaf certificate is a clear error.
    #[test]
    fn garbage_leaf_is_an_error() {
        let chain = [CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00])];
        assert!(
            validate_path(&chain, &[], now())
                .unwrap_err()
                .starts_with("leaf")
        );
        assert_eq!(validate_path(&[], &[], now()).unwrap_err(), "empty chain");
    }
}
