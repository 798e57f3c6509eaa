//! SPKI pinning (RFC 7469): pins of certificates, pin sets with a backup pin, and a
//! TLS verifier that refuses a server whose chain matches no pin.
//!
//! A pin is the SHA-256 of a certificate's DER `SubjectPublicKeyInfo`, written
//! `pin-sha256="<base64>"` (RFC 7469 §2.4). It survives re-issuing with the same key,
//! not a new key; hence a pin set must hold a backup pin, the hash of a key that is not
//! in the current chain (RFC 7469 §4.3), so that a client can follow a planned key
//! change. The verifier here checks pins only after the normal path validation (trust,
//! names, validity) has passed: pinning narrows trust, it never widens it.
//!
//! This module does no storage and no I/O except [`fetch_chain_unverified`], which
//! makes one TLS handshake to read a server's chain.

use base64::Engine as _;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Most certificates read from one chain (a bound on work for hostile input).
pub const MAX_CHAIN: usize = 16;
/// Most pins in one set.
pub const MAX_PINS: usize = 32;

/// Why a pin, a pin set or a pinned connection was refused.
///
/// `Debug` prints the same text as `Display`: rustls shows a verifier's error through
/// `Debug`, and the user of a refused connection should read the explanation.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinError {
    /// A pin is not `pin-sha256="<base64 of 32 bytes>"`; the text says what is wrong.
    Malformed(String),
    /// A certificate could not be read.
    Certificate(String),
    /// A pin set breaks a rule (no backup pin, too many, duplicates).
    Set(String),
    /// The TLS connection made to read a chain failed.
    Connect(String),
    /// The server's chain matched none of the configured pins.
    Mismatch {
        /// Pins of the chain the server presented.
        seen: Vec<String>,
        /// Pins that were expected.
        expected: Vec<String>,
    },
}

impl fmt::Display for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinError::Malformed(why) => write!(
                f,
                "not a pin: {why}; write pins as pin-sha256=\"<base64 SHA-256 of the SPKI>\" \
                 (print them with `webqx-sec cert pin FILE|HOST:PORT`)"
            ),
            PinError::Certificate(why) => write!(f, "cannot read the certificate: {why}"),
            PinError::Set(why) => f.write_str(why),
            PinError::Connect(why) => write!(f, "cannot read the server's chain: {why}"),
            PinError::Mismatch { seen, expected } => write!(
                f,
                "certificate pinning failed: the server's chain has the pins [{}] and none of \
                 them is pinned [{}]; if the server's key was changed on purpose, update the pin \
                 set (WEBQX_PINS / --pin), otherwise do not trust this connection",
                seen.join(", "),
                expected.join(", ")
            ),
        }
    }
}

impl fmt::Debug for PinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PinError {}

/// An SPKI SHA-256 pin.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin([u8; 32]);

impl Pin {
    /// The pin of a DER `SubjectPublicKeyInfo`.
    pub fn of_spki(spki_der: &[u8]) -> Pin {
        Pin(webqx_crypto::sha256(spki_der))
    }

    /// The pin of a DER certificate's public key.
    ///
    /// # Errors
    /// [`PinError::Certificate`] if the DER is not a certificate.
    pub fn of_cert(der: &[u8]) -> Result<Pin, PinError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| PinError::Certificate(e.to_string()))?;
        Ok(Pin::of_spki(cert.tbs_certificate.subject_pki.raw))
    }

    /// The 32 hash bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The hash in standard base64 (the value between the quotes).
    pub fn base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Parses `pin-sha256="<b64>"` (RFC 7469), `sha256/<b64>` (as OkHttp and others
    /// write it), or the bare base64 value. Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`PinError::Malformed`] naming what is wrong.
    pub fn parse(text: &str) -> Result<Pin, PinError> {
        let text = text.trim();
        if text.len() > 200 {
            return Err(PinError::Malformed("longer than any pin".into()));
        }
        let value = if let Some(rest) = strip_prefix_ci(text, "pin-sha256") {
            let rest = rest.trim_start();
            let rest = rest
                .strip_prefix('=')
                .ok_or_else(|| PinError::Malformed("'=' expected after pin-sha256".into()))?
                .trim_start();
            rest.strip_prefix('"')
                .and_then(|r| r.strip_suffix('"'))
                .ok_or_else(|| PinError::Malformed("the value must be in double quotes".into()))?
        } else if let Some(rest) = strip_prefix_ci(text, "sha256/") {
            rest
        } else {
            text
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| PinError::Malformed("the value is not standard base64".into()))?;
        let hash: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            PinError::Malformed(format!(
                "a SHA-256 pin is 32 bytes, this one is {}",
                b.len()
            ))
        })?;
        Ok(Pin(hash))
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pin-sha256=\"{}\"", self.base64())
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Pin {
    type Err = PinError;

    fn from_str(s: &str) -> Result<Pin, PinError> {
        Pin::parse(s)
    }
}

impl serde::Serialize for Pin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Pin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pin, D::Error> {
        let text = String::deserialize(d)?;
        Pin::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Parses a list of pins separated by `;`, `,` or white space (`WEBQX_PINS`).
///
/// # Errors
/// [`PinError::Malformed`] for the first bad pin, or for more than [`MAX_PINS`].
pub fn parse_pin_list(text: &str) -> Result<Vec<Pin>, PinError> {
    let mut pins = Vec::new();
    for part in text
        .split([';', ',', '\n', '\t', ' '])
        .filter(|p| !p.trim().is_empty())
    {
        if pins.len() == MAX_PINS {
            return Err(PinError::Malformed(format!("more than {MAX_PINS} pins")));
        }
        pins.push(Pin::parse(part)?);
    }
    Ok(pins)
}

/// One certificate of a chain and its pin.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainPin {
    /// Position in the chain, 0 for the leaf.
    pub index: usize,
    /// Subject distinguished name (RFC 4514 text).
    pub subject: String,
    /// The pin.
    pub pin: Pin,
}

/// Reads certificates from a PEM chain, or from one DER certificate.
///
/// # Errors
/// [`PinError::Certificate`] when nothing readable is found or the chain is too long.
pub fn read_certs(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, PinError> {
    let looks_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
    let certs = if looks_pem {
        CertificateDer::pem_slice_iter(bytes)
            .take(MAX_CHAIN + 1)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PinError::Certificate(format!("PEM: {e}")))?
    } else {
        vec![CertificateDer::from(bytes.to_vec())]
    };
    if certs.is_empty() {
        return Err(PinError::Certificate(
            "no CERTIFICATE block in the PEM text".into(),
        ));
    }
    if certs.len() > MAX_CHAIN {
        return Err(PinError::Certificate(format!(
            "more than {MAX_CHAIN} certificates in one chain"
        )));
    }
    Ok(certs)
}

/// The pin and subject of every certificate in `chain`.
///
/// # Errors
/// [`PinError::Certificate`] for a certificate that does not parse.
pub fn chain_pins(chain: &[CertificateDer<'_>]) -> Result<Vec<ChainPin>, PinError> {
    chain
        .iter()
        .enumerate()
        .map(|(index, der)| {
            let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| {
                PinError::Certificate(format!("certificate {index} of the chain: {e}"))
            })?;
            Ok(ChainPin {
                index,
                subject: cert.subject().to_string(),
                pin: Pin::of_spki(cert.tbs_certificate.subject_pki.raw),
            })
        })
        .collect()
}

/// A checked pin set: at least two distinct pins, at most [`MAX_PINS`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PinSet {
    pins: Vec<Pin>,
}

impl PinSet {
    /// Checks the shape of a set: two or more distinct pins (one of them must be able
    /// to serve as the backup).
    ///
    /// # Errors
    /// [`PinError::Set`] saying which rule is broken.
    pub fn new(pins: Vec<Pin>) -> Result<PinSet, PinError> {
        let mut sorted = pins.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != pins.len() {
            return Err(PinError::Set("the pin set lists a pin twice".into()));
        }
        if pins.len() > MAX_PINS {
            return Err(PinError::Set(format!(
                "a pin set holds at most {MAX_PINS} pins"
            )));
        }
        if pins.len() < 2 {
            return Err(PinError::Set(
                "a pin set needs at least two pins: one of the current chain and a backup pin \
                 of a key that is not in it (RFC 7469 §4.3), so that the key can be changed \
                 without locking clients out"
                    .into(),
            ));
        }
        Ok(PinSet { pins })
    }

    /// Checks the set against the service's current chain: at least one pin must match
    /// it (or clients break today) and at least one must not (the backup).
    ///
    /// # Errors
    /// [`PinError::Set`] saying which is missing.
    pub fn check_against(&self, chain: &[ChainPin]) -> Result<(), PinError> {
        let in_chain = |p: &Pin| chain.iter().any(|c| c.pin == *p);
        if !self.pins.iter().any(in_chain) {
            return Err(PinError::Set(
                "no pin of the set matches the service's current chain: clients would refuse \
                 it at once"
                    .into(),
            ));
        }
        if self.pins.iter().all(in_chain) {
            return Err(PinError::Set(
                "the pin set has no backup pin: every pin is in the current chain; add the pin \
                 of a spare key kept offline (RFC 7469 §4.3)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The pins.
    pub fn pins(&self) -> &[Pin] {
        &self.pins
    }
}

/// A server verifier that runs rustls' WebPKI verification and then requires one of
/// the chain's certificates to match a pin.
#[derive(Debug)]
pub struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    pins: Vec<Pin>,
}

impl PinnedVerifier {
    /// A verifier trusting `roots` and requiring one of `pins`.
    ///
    /// # Errors
    /// [`PinError::Set`] for an empty pin list; [`PinError::Certificate`] if rustls
    /// refuses the roots.
    pub fn new(
        roots: Arc<rustls::RootCertStore>,
        pins: Vec<Pin>,
    ) -> Result<Arc<PinnedVerifier>, PinError> {
        if pins.is_empty() {
            return Err(PinError::Set("no pins given to the pinned verifier".into()));
        }
        let inner = WebPkiServerVerifier::builder_with_provider(roots, crate::provider())
            .build()
            .map_err(|e| PinError::Certificate(e.to_string()))?;
        Ok(Arc::new(PinnedVerifier { inner, pins }))
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), PinError> {
        let seen: Vec<Pin> = std::iter::once(end_entity)
            .chain(intermediates.iter().take(MAX_CHAIN))
            .filter_map(|c| Pin::of_cert(c).ok())
            .collect();
        if seen.iter().any(|p| self.pins.contains(p)) {
            tracing::trace!("server chain matches a pin");
            return Ok(());
        }
        tracing::debug!("server chain matches no pin");
        Err(PinError::Mismatch {
            seen: seen.iter().map(Pin::to_string).collect(),
            expected: self.pins.iter().map(Pin::to_string).collect(),
        })
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        self.check(end_entity, intermediates).map_err(|e| {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
                Arc::new(e),
            )))
        })?;
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client configuration trusting `ca_pem` and requiring one of `pins`.
///
/// # Errors
/// [`PinError::Certificate`] for an unreadable CA file, [`PinError::Set`] for no pins.
pub fn client_config_pinned(
    ca_pem: &[u8],
    pins: Vec<Pin>,
) -> Result<rustls::ClientConfig, PinError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in crate::certs_from_pem(ca_pem).map_err(|e| PinError::Certificate(e.to_string()))? {
        roots
            .add(cert)
            .map_err(|e| PinError::Certificate(e.to_string()))?;
    }
    let verifier = PinnedVerifier::new(Arc::new(roots), pins)?;
    rustls::ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PinError::Certificate(e.to_string()))
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        })
}

/// Accepts any chain; used only to read a chain for printing its pins.
#[derive(Debug)]
struct NoTrustCheck(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoTrustCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs).or_else(|e| {
            // webpki refuses X.509 v1 certificates (still served by old or hand-made
            // set-ups); the key still proves possession: check against the raw SPKI.
            let (_, parsed) = x509_parser::parse_x509_certificate(cert).map_err(|_| e)?;
            let spki = rustls::pki_types::SubjectPublicKeyInfoDer::from(
                parsed.tbs_certificate.subject_pki.raw,
            );
            rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, algs)
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects to `host:port` and returns the chain the server presents, WITHOUT checking
/// it against any trust store (the point is to print its pins; say so to the user).
/// Blocking; the handshake proves the server holds the leaf key.
///
/// # Errors
/// [`PinError::Connect`] for an unreachable server or a failed handshake.
pub fn fetch_chain_unverified(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<CertificateDer<'static>>, PinError> {
    use std::net::ToSocketAddrs;
    let connect = |e: &dyn fmt::Display| PinError::Connect(format!("{host}:{port}: {e}"));
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| connect(&e))?
        .next()
        .ok_or_else(|| connect(&"the name has no address"))?;
    let mut tcp = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| connect(&e))?;
    tcp.set_read_timeout(Some(timeout))
        .and_then(|()| tcp.set_write_timeout(Some(timeout)))
        .map_err(|e| connect(&e))?;
    let provider = crate::provider();
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| connect(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoTrustCheck(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| connect(&e))?;
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| connect(&e))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| connect(&e))?;
    }
    let chain = conn
        .peer_certificates()
        .ok_or_else(|| connect(&"the server sent no certificate"))?;
    if chain.len() > MAX_CHAIN {
        return Err(connect(&format!("more than {MAX_CHAIN} certificates")));
    }
    Ok(chain.iter().map(|c| c.clone().into_owned()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_and_leaf() -> (crate::Ca, crate::Issued) {
        let ca = crate::new_local_ca("pin test CA").unwrap();
        let leaf = crate::issue_server(&ca, &["localhost".into()], 30).unwrap();
        (ca, leaf)
    }

    #[test]
    fn pin_forms_parse_to_the_same_pin_and_print_in_rfc7469_form() {
        let pin = Pin::of_spki(b"spki");
        let b64 = pin.base64();
        for text in [
            format!("pin-sha256=\"{b64}\""),
            format!("  PIN-SHA256 = \"{b64}\" "),
            format!("sha256/{b64}"),
            b64.clone(),
        ] {
            assert_eq!(Pin::parse(&text).unwrap(), pin, "{text}");
        }
        assert_eq!(pin.to_string(), format!("pin-sha256=\"{b64}\""));
    }

    #[test]
    fn bad_pins_are_typed_errors() {
        for text in [
            "",
            "pin-sha256=abc",
            "pin-sha256=\"!!\"",
            "sha256/AAAA",
            "é",
        ] {
            assert!(
                matches!(Pin::parse(text), Err(PinError::Malformed(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn pin_of_a_pem_chain_matches_the_key_and_names_the_subject() {
        let (ca, leaf) = ca_and_leaf();
        let chain = format!("{}{}", leaf.cert_pem, ca.cert_pem);
        let pins = chain_pins(&read_certs(chain.as_bytes()).unwrap()).unwrap();
        assert_eq!(pins.len(), 2);
        assert!(pins[0].subject.contains("localhost"));
        assert!(pins[1].subject.contains("pin test CA"));
        let der = read_certs(leaf.cert_pem.as_bytes()).unwrap().remove(0);
        assert_eq!(
            chain_pins(&read_certs(&der).unwrap()).unwrap()[0].pin,
            pins[0].pin
        );
    }

    #[test]
    fn a_pin_set_needs_a_backup_pin() {
        let (ca, leaf) = ca_and_leaf();
        let chain = format!("{}{}", leaf.cert_pem, ca.cert_pem);
        let current = chain_pins(&read_certs(chain.as_bytes()).unwrap()).unwrap();
        let backup = Pin::of_spki(b"spare key");
        assert!(PinSet::new(vec![current[0].pin]).is_err());
        assert!(PinSet::new(vec![backup, backup]).is_err());
        let no_backup = PinSet::new(vec![current[0].pin, current[1].pin]).unwrap();
        assert!(no_backup.check_against(&current).is_err());
        let none_current = PinSet::new(vec![backup, Pin::of_spki(b"other")]).unwrap();
        assert!(none_current.check_against(&current).is_err());
        let good = PinSet::new(vec![current[0].pin, backup]).unwrap();
        good.check_against(&current).unwrap();
    }

    #[test]
    fn the_verifier_refuses_an_unpinned_chain_and_names_the_pins_seen() {
        let (ca, leaf) = ca_and_leaf();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(read_certs(ca.cert_pem.as_bytes()).unwrap().remove(0))
            .unwrap();
        let roots = Arc::new(roots);
        let leaf_der = read_certs(leaf.cert_pem.as_bytes()).unwrap().remove(0);
        let leaf_pin = Pin::of_cert(&leaf_der).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let now = UnixTime::now();

        let wrong = PinnedVerifier::new(roots.clone(), vec![Pin::of_spki(b"x")]).unwrap();
        let err = wrong
            .verify_server_cert(&leaf_der, &[], &name, &[], now)
            .unwrap_err()
            .to_string();
        assert!(err.contains("pinning failed"), "{err}");
        assert!(err.contains(&leaf_pin.base64()), "{err}");

        let right = PinnedVerifier::new(roots, vec![leaf_pin]).unwrap();
        right
            .verify_server_cert(&leaf_der, &[], &name, &[], now)
            .unwrap();
    }

    #[test]
    fn pin_lists_split_on_separators() {
        let a = Pin::of_spki(b"a");
        let b = Pin::of_spki(b"b");
        let text = format!("{a}; sha256/{} ,", b.base64());
        assert_eq!(parse_pin_list(&text).unwrap(), vec![a, b]);
        assert!(parse_pin_list("nonsense").is_err());
    }
}
