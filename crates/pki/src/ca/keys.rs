//! Key generation, CA key loading, serial numbers and certificate parameters.

use super::{CaError, KeyAlgorithm, Profile, error::internal};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use webqx_crypto::SecretBytes;

/// Generates a key of `alg`.
pub(crate) fn generate(alg: KeyAlgorithm) -> Result<KeyPair, CaError> {
    let key = match alg {
        KeyAlgorithm::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
        KeyAlgorithm::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
        KeyAlgorithm::Ed25519 => KeyPair::generate_for(&rcgen::PKCS_ED25519),
        KeyAlgorithm::Rsa2048 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        }
        KeyAlgorithm::Rsa3072 => {
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
        }
    };
    key.map_err(internal)
}

/// The private key as PKCS#8 PEM that every consumer reads. aws-lc-rs writes Ed25519
/// keys as PKCS#8 v2 (RFC 5958, with the public key), which OpenSSL 3.0 cannot load;
/// those are re-encoded as v1 (RFC 5208: version 0, algorithm, private key).
pub(crate) fn private_pem(key: &KeyPair) -> SecretBytes {
    let der = key.serialize_der();
    let v1 = if key.algorithm() == &rcgen::PKCS_ED25519 {
        pkcs8_v1(&der).unwrap_or(der)
    } else {
        der
    };
    SecretBytes::new(super::db::pem_encode("PRIVATE KEY", &v1).into_bytes())
}

fn pkcs8_v1(der: &[u8]) -> Option<Vec<u8>> {
    let (alg, private) = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            r.next().read_u8()?;
            let alg = r.next().read_der()?;
            let private = r.next().read_bytes()?;
            r.read_optional(|r| r.read_der())?;
            r.read_optional(|r| r.read_der())?;
            Ok((alg, private))
        })
    })
    .ok()?;
    Some(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_u8(0);
            w.next().write_der(&alg);
            w.next().write_bytes(&private);
        });
    }))
}

/// Loads a CA key from its PKCS#8 DER.
pub(crate) fn load(pkcs8: &SecretBytes) -> Result<KeyPair, CaError> {
    KeyPair::try_from(pkcs8.expose())
        .map_err(|_| CaError::Internal("a stored CA key does not load".into()))
}

/// A new random serial number: 16 bytes, positive, never starting with a zero byte
/// (so its hex form is the same everywhere). Returns the rcgen value and lowercase hex.
pub(crate) fn new_serial() -> Result<(SerialNumber, String), CaError> {
    let mut bytes = webqx_crypto::rand::bytes(16).map_err(internal)?;
    bytes[0] = (bytes[0] & 0x7f).max(1);
    let text = hex::encode(&bytes);
    Ok((SerialNumber::from_slice(&bytes), text))
}

fn window(
    params: &mut CertificateParams,
    not_before_ms: i64,
    not_after_ms: i64,
) -> Result<(), CaError> {
    params.not_before = at_ms(not_before_ms)?;
    params.not_after = at_ms(not_after_ms)?;
    Ok(())
}

pub(crate) fn at_ms(ms: i64) -> Result<time::OffsetDateTime, CaError> {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).map_err(internal)
}

/// Parameters of a root CA named `cn` (organization "WebQx Security", as the local CA
/// of earlier versions) that may sign one level of intermediates.
pub(crate) fn root_params(cn: &str, serial: SerialNumber) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "WebQx Security");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(serial);
    Ok(params)
}

/// Parameters of an intermediate CA named `cn`, allowed to sign end-entity
/// certificates only.
pub(crate) fn intermediate_params(
    cn: &str,
    serial: SerialNumber,
    not_before_ms: i64,
    not_after_ms: i64,
) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "WebQx Security");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(serial);
    params.use_authority_key_identifier_extension = true;
    window(&mut params, not_before_ms, not_after_ms)?;
    Ok(params)
}

/// What is written into an end-entity certificate.
pub(crate) struct LeafSpec<'a> {
    pub names: &'a [String],
    pub profile: Profile,
    pub serial: SerialNumber,
    pub not_before_ms: i64,
    pub not_after_ms: i64,
    pub base_url: Option<&'a str>,
    pub rsa_key: bool,
}

/// Parameters of an end-entity certificate.
pub(crate) fn leaf_params(spec: LeafSpec<'_>) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    for name in spec.names {
        let san = match name.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                name.clone()
                    .try_into()
                    .map_err(|_| CaError::BadName(name.clone()))?,
            ),
        };
        params.subject_alt_names.push(san);
    }
    let mut dn = DistinguishedName::new();
    if let Some(first) = spec.names.first() {
        dn.push(DnType::CommonName, first.as_str());
    }
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if spec.rsa_key {
        params.key_usages.push(KeyUsagePurpose::KeyEncipherment);
    }
    params.extended_key_usages = match spec.profile {
        Profile::TlsServer => vec![ExtendedKeyUsagePurpose::ServerAuth],
        Profile::TlsClient => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Profile::SecureNode => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
    };
    params.serial_number = Some(spec.serial);
    params.use_authority_key_identifier_extension = true;
    if let Some(base) = spec.base_url {
        let base = base.trim_end_matches('/');
        params.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec![format!("{base}/v1/pki/crl")],
        }];
        params
            .custom_extensions
            .push(aia_ocsp(&format!("{base}/v1/pki/ocsp")));
    }
    window(&mut params, spec.not_before_ms, spec.not_after_ms)?;
    Ok(params)
}

/// Authority Information Access with one OCSP access description (RFC 5280 section
/// 4.2.2.1: id-pe-authorityInfoAccess 1.3.6.1.5.5.7.1.1, id-ad-ocsp
/// 1.3.6.1.5.5.7.48.1, accessLocation uniformResourceIdentifier [6]).
fn aia_ocsp(url: &str) -> CustomExtension {
    let der = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_sequence(|w| {
                w.next()
                    .write_oid(&yasna::models::ObjectIdentifier::from_slice(&[
                        1, 3, 6, 1, 5, 5, 7, 48, 1,
                    ]));
                w.next()
                    .write_tagged_implicit(yasna::Tag::context(6), |w| w.write_ia5_string(url));
            });
        });
    });
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], der)
}
