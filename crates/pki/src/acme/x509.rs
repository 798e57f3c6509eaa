//! What ACME needs from X.509: the names a CSR asks for, and the public key of a
//! certificate to be revoked (as a JWK, to compare with the signer's key).

use super::error::AcmeError;
use super::jws::Jwk;
use std::collections::BTreeSet;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// The DNS names a CSR asks for: its subjectAltName dNSNames and its common names,
/// lower-cased. The CA checks the CSR's signature and everything else.
///
/// # Errors
/// [`AcmeError::BadCsr`] when the CSR cannot be parsed or asks for non-DNS names.
pub fn csr_names(der: &[u8]) -> Result<BTreeSet<String>, AcmeError> {
    let (rest, csr) = X509CertificationRequest::from_der(der)
        .map_err(|_| AcmeError::BadCsr("the CSR is not a DER PKCS#10 request".into()))?;
    if !rest.is_empty() {
        return Err(AcmeError::BadCsr("bytes follow the CSR".into()));
    }
    let mut names = BTreeSet::new();
    for cn in csr.certification_request_info.subject.iter_common_name() {
        let cn = cn
            .as_str()
            .map_err(|_| AcmeError::BadCsr("the CSR's common name is not text".into()))?;
        names.insert(cn.to_ascii_lowercase());
    }
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            for name in &san.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.insert(dns.to_ascii_lowercase()),
                    _ => {
                        return Err(AcmeError::BadCsr(
                            "the CSR asks for a subjectAltName that is not a DNS name".into(),
                        ));
                    }
                };
            }
        }
    }
    Ok(names)
}

/// The public key of a DER certificate, as a JWK.
///
/// # Errors
/// [`AcmeError::Malformed`] when it is not a certificate or its key is of a kind that
/// cannot sign a JWS.
pub fn cert_key(der: &[u8]) -> Result<Jwk, AcmeError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| AcmeError::Malformed("\"certificate\" is not a DER certificate".into()))?;
    let spki = cert.public_key();
    // id-Ed25519, RFC 8410.
    if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" {
        return Ok(Jwk::Ed25519 {
            x: spki.subject_public_key.data.to_vec(),
        });
    }
    let unsupported = || AcmeError::Malformed("the certificate's key type is not supported".into());
    match spki.parsed().map_err(|_| unsupported())? {
        PublicKey::RSA(rsa) => Ok(Jwk::Rsa {
            n: strip_zeros(rsa.modulus),
            e: strip_zeros(rsa.exponent),
        }),
        PublicKey::EC(point) => {
            let data = point.data();
            let crv = match data.len() {
                65 => "P-256",
                97 => "P-384",
                _ => return Err(unsupported()),
            };
            if data[0] != 4 {
                return Err(unsupported());
            }
            let half = (data.len() - 1) / 2;
            Ok(Jwk::Ec {
                crv,
                x: data[1..=half].to_vec(),
                y: data[half + 1..].to_vec(),
            })
        }
        _ => Err(unsupported()),
    }
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

/// SHA-256 of DER bytes, lowercase hex: how ACME certificates are looked up.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The first certificate of a PEM chain, DER.
///
/// # Errors
/// [`AcmeError::ServerInternal`] when the chain holds no certificate.
pub fn leaf_der(chain_pem: &str) -> Result<Vec<u8>, AcmeError> {
    let certs = crate::certs_from_pem(chain_pem.as_bytes())
        .map_err(|e| AcmeError::ServerInternal(format!("issued chain: {e}")))?;
    certs
        .first()
        .map(|c| c.as_ref().to_vec())
        .ok_or_else(|| AcmeError::ServerInternal("the issued chain is empty".into()))
}
