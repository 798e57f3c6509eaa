//! Checking a PKCS#10 certificate signing request before it is signed: it parses, its
//! self-signature verifies, it does not ask for a CA certificate, it carries no
//! critical extension we do not understand, and its names are DNS names or IPs.
//! Whether the names are allowed and the lifetime fits is the profile's business.

use super::CaError;
use super::names::Name;
use rustls_pki_types::CertificateSigningRequestDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::cri_attributes::ParsedCriAttribute;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;

/// Extensions a CSR may mark critical (RFC 5280 section 4.2.1): key usage, extended key
/// usage, subject alternative name, basic constraints (CA=false only).
const KNOWN_CRITICAL: [&str; 4] = ["2.5.29.15", "2.5.29.37", "2.5.29.17", "2.5.29.19"];

/// What a checked CSR contributes to the certificate: its public key and names. The
/// rest of the certificate comes from the profile.
#[derive(Debug, Clone)]
pub struct CheckedCsr {
    /// SubjectPublicKeyInfo, DER.
    pub spki_der: Vec<u8>,
    /// Names (DNS names and IP addresses, as text), SAN first, else the common name.
    pub names: Vec<String>,
}

/// Reads `input` (PEM or DER) and checks it (see the module documentation).
///
/// # Errors
/// [`CaError::BadCsr`], [`CaError::CsrSignature`], [`CaError::CsrAsksForCa`],
/// [`CaError::UnknownCriticalExtension`], [`CaError::BadName`], [`CaError::NoNames`].
pub fn check_csr(input: &[u8]) -> Result<CheckedCsr, CaError> {
    let der = to_der(input)?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| CaError::BadCsr(format!("not a PKCS#10 request: {e}")))?;
    if !rest.is_empty() {
        return Err(CaError::BadCsr("trailing bytes after the request".into()));
    }
    check_algorithms(&csr)?;
    csr.verify_signature().map_err(|_| CaError::CsrSignature)?;
    let info = &csr.certification_request_info;
    let mut names = Vec::new();
    for attr in info.iter_attributes() {
        if let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() {
            for ext in &req.extensions {
                check_extension(ext, &mut names)?;
            }
        }
    }
    if names.is_empty() {
        for cn in info.subject.iter_common_name() {
            let text = cn
                .as_str()
                .map_err(|_| CaError::BadCsr("the common name is not a string".into()))?;
            names.push(Name::parse(text)?.text());
        }
    }
    if names.is_empty() {
        return Err(CaError::NoNames);
    }
    Ok(CheckedCsr {
        spki_der: info.subject_pki.raw.to_vec(),
        names,
    })
}

/// Signature algorithms a CSR may use (OIDs from RFC 4055, RFC 5758 and RFC 8410):
/// sha256/384/512WithRSAEncryption, ecdsa-with-SHA256/384, Ed25519.
const SIGNATURE_ALGORITHMS: [&str; 6] = [
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
    "1.2.840.10045.4.3.2",
    "1.2.840.10045.4.3.3",
    "1.3.101.112",
];
/// Named curves for EC keys: P-256 (prime256v1) and P-384 (secp384r1).
const CURVES: [&str; 2] = ["1.2.840.10045.3.1.7", "1.3.132.0.34"];

/// Refuses keys and signature algorithms we do not issue for, by name, before the
/// signature check (which would otherwise report them as a bad signature).
fn check_algorithms(csr: &X509CertificationRequest<'_>) -> Result<(), CaError> {
    use x509_parser::public_key::PublicKey;
    let unsupported = |what: String| {
        CaError::BadCsr(format!(
            "{what} is not supported: use ECDSA P-256 or P-384, Ed25519, or RSA of 2048 to \
             8192 bits, signed with SHA-256 or stronger"
        ))
    };
    let sig = csr.signature_algorithm.algorithm.to_id_string();
    if !SIGNATURE_ALGORITHMS.contains(&sig.as_str()) {
        return Err(unsupported(format!("signature algorithm {sig}")));
    }
    let spki = &csr.certification_request_info.subject_pki;
    let key_alg = spki.algorithm.algorithm.to_id_string();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            let bits = rsa.key_size();
            if !(2048..=8192).contains(&bits) {
                return Err(unsupported(format!("an RSA key of {bits} bits")));
            }
        }
        Ok(PublicKey::EC(_)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .unwrap_or_else(|| "(none)".into());
            if !CURVES.contains(&curve.as_str()) {
                return Err(unsupported(format!("an EC key on curve {curve}")));
            }
        }
        _ if key_alg == "1.3.101.112" => {}
        _ => return Err(unsupported(format!("key algorithm {key_alg}"))),
    }
    Ok(())
}

fn to_der(input: &[u8]) -> Result<Vec<u8>, CaError> {
    let trimmed = input.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let csr = CertificateSigningRequestDer::from_pem_slice(trimmed)
            .map_err(|e| CaError::BadCsr(format!("PEM: {e}")))?;
        Ok(csr.as_ref().to_vec())
    } else if input.is_empty() {
        Err(CaError::BadCsr("empty".into()))
    } else {
        Ok(input.to_vec())
    }
}

fn check_extension(
    ext: &x509_parser::extensions::X509Extension<'_>,
    names: &mut Vec<String>,
) -> Result<(), CaError> {
    match ext.parsed_extension() {
        ParsedExtension::BasicConstraints(bc) if bc.ca => return Err(CaError::CsrAsksForCa),
        ParsedExtension::SubjectAlternativeName(san) => {
            for name in &san.general_names {
                names.push(general_name(name)?);
            }
        }
        ParsedExtension::ParseError { error } => {
            return Err(CaError::BadCsr(format!(
                "extension {} does not parse: {error}",
                ext.oid
            )));
        }
        _ => {}
    }
    let oid = ext.oid.to_id_string();
    if ext.critical && !KNOWN_CRITICAL.contains(&oid.as_str()) {
        return Err(CaError::UnknownCriticalExtension(oid));
    }
    Ok(())
}

fn general_name(name: &GeneralName<'_>) -> Result<String, CaError> {
    match name {
        GeneralName::DNSName(d) => Ok(Name::parse(d)?.text()),
        GeneralName::IPAddress(b) => match b.len() {
            4 => {
                Ok(std::net::IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()).to_string())
            }
            16 => Ok(
                std::net::IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()).to_string(),
            ),
            _ => Err(CaError::BadCsr(
                "an IP address SAN of the wrong length".into(),
            )),
        },
        other => Err(CaError::BadCsr(format!(
            "unsupported subject alternative name {other}; only DNS names and IP addresses"
        ))),
    }
}
