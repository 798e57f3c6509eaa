//! Reading a certificate (PEM or DER) into the facts the CA needs: serial, names,
//! validity, whether it is a CA and its path length. Used on the root adopted from the
//! data folder and on certificates given back to us.

use super::CaError;
use chrono::{DateTime, TimeZone, Utc};
use x509_parser::extensions::GeneralName;

/// What a certificate says, in short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Subject, RFC 4514 text.
    pub subject: String,
    /// Issuer, RFC 4514 text.
    pub issuer: String,
    /// DNS names and IP addresses of the subject alternative name extension.
    pub names: Vec<String>,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// basicConstraints CA.
    pub is_ca: bool,
    /// basicConstraints pathLenConstraint.
    pub path_len: Option<u32>,
}

fn bad(e: impl std::fmt::Display) -> CaError {
    CaError::Invalid(format!("not a readable X.509 certificate: {e}"))
}

/// Reads the first certificate of `input` (PEM or DER).
///
/// # Errors
/// [`CaError::Invalid`] when it is not one certificate in PEM or DER.
pub fn inspect_certificate(input: &[u8]) -> Result<CertFacts, CaError> {
    let der = if input.trim_ascii_start().starts_with(b"-----BEGIN") {
        let certs = crate::certs_from_pem(input).map_err(bad)?;
        certs
            .into_iter()
            .next()
            .map(|c| c.as_ref().to_vec())
            .ok_or_else(|| bad("no certificate"))?
    } else {
        input.to_vec()
    };
    let (rest, cert) = x509_parser::parse_x509_certificate(&der).map_err(bad)?;
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push((*d).to_owned()),
                GeneralName::IPAddress(b) if b.len() == 4 => {
                    let a: [u8; 4] = (*b).try_into().map_err(bad)?;
                    names.push(std::net::IpAddr::from(a).to_string());
                }
                GeneralName::IPAddress(b) if b.len() == 16 => {
                    let a: [u8; 16] = (*b).try_into().map_err(bad)?;
                    names.push(std::net::IpAddr::from(a).to_string());
                }
                _ => {}
            }
        }
    }
    let bc = cert.basic_constraints().map_err(bad)?;
    let time = |t: i64| {
        Utc.timestamp_opt(t, 0)
            .single()
            .ok_or_else(|| bad("validity out of range"))
    };
    Ok(CertFacts {
        serial: hex::encode(cert.raw_serial()),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: time(cert.validity().not_before.timestamp())?,
        not_after: time(cert.validity().not_after.timestamp())?,
        is_ca: bc.as_ref().is_some_and(|b| b.value.ca),
        path_len: bc.and_then(|b| b.value.path_len_constraint),
    })
}
