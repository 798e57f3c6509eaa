//! The certificate authority: a root, one or more intermediates, issuing and signing
//! end-entity certificates under profiles, revocation, CRLs and OCSP.
//!
//! - The root's key is the service secret `ca.key`, wrapped by the KMS root key; it is
//!   unwrapped only to sign an intermediate or the root's own CRL.
//! - Each intermediate's key is the secret `pki.ca.<name>.key`, also wrapped; the
//!   unwrapped issuing key is cached while the service is unsealed and dropped when it
//!   is sealed (checked on every use, and by [`Authority::forget_keys`]).
//! - [`Authority`] is the entry point; every change is committed with its audit record.

mod authority;
mod batch;
mod crl;
mod csr;
mod db;
mod error;
mod inspect;
mod keys;
pub mod names;
pub mod ocsp;
mod rootkey;
mod settings;

pub use authority::{Authority, CaInfo, CertPage, CertRecord, ListQuery, normalize_serial};
pub use batch::{IssueOutcome, MAX_BATCH, check_batch_size};
pub use crl::Crl;
pub use csr::{CheckedCsr, check_csr};
pub use error::CaError;
pub use inspect::{CertFacts, inspect_certificate};
pub use rootkey::{CaSigningKey, HsmCaKey, KeyLocation};
pub use settings::{PkiSettings, ProfileSettings};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use webqx_crypto::SecretBytes;

/// The contract's name for the CA error type.
pub type PkiError = CaError;

/// What a certificate may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// TLS server: extended key usage serverAuth.
    #[default]
    TlsServer,
    /// TLS client: clientAuth.
    TlsClient,
    /// A node of the platform that is both: serverAuth and clientAuth.
    SecureNode,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 3] = [Profile::TlsServer, Profile::TlsClient, Profile::SecureNode];

    /// The name used in configuration, the API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::TlsServer => "tls-server",
            Profile::TlsClient => "tls-client",
            Profile::SecureNode => "secure-node",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                CaError::Invalid(format!(
                    "unknown profile '{s}'; use tls-server, tls-client or secure-node"
                ))
            })
    }
}

/// The kind of key `issue` generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256 (the default).
    #[default]
    #[serde(rename = "p256")]
    EcdsaP256,
    /// ECDSA P-384 with SHA-384.
    #[serde(rename = "p384")]
    EcdsaP384,
    /// Ed25519.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// RSA 2048 with SHA-256 (PKCS#1 v1.5).
    #[serde(rename = "rsa2048")]
    Rsa2048,
    /// RSA 3072 with SHA-256 (PKCS#1 v1.5).
    #[serde(rename = "rsa3072")]
    Rsa3072,
}

impl KeyAlgorithm {
    /// The name used in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "p256",
            KeyAlgorithm::EcdsaP384 => "p384",
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::Rsa2048 => "rsa2048",
            KeyAlgorithm::Rsa3072 => "rsa3072",
        }
    }
}

impl FromStr for KeyAlgorithm {
    type Err = CaError;
    fn from_str(s: &str) -> Result<Self, CaError> {
        [
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa2048,
            KeyAlgorithm::Rsa3072,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| {
            CaError::Invalid(format!(
                "unknown key type '{s}'; use p256, p384, ed25519, rsa2048 or rsa3072"
            ))
        })
    }
}

/// Why a certificate was revoked: the RFC 5280 section 5.3.1 CRLReason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// 0.
    #[default]
    Unspecified,
    /// 1.
    KeyCompromise,
    /// 2.
    #[serde(rename = "cACompromise", alias = "caCompromise")]
    CaCompromise,
    /// 3.
    AffiliationChanged,
    /// 4.
    Superseded,
    /// 5.
    CessationOfOperation,
    /// 6.
    CertificateHold,
    /// 8.
    RemoveFromCrl,
    /// 9.
    PrivilegeWithdrawn,
    /// 10.
    #[serde(rename = "aACompromise", alias = "aaCompromise")]
    AaCompromise,
}

impl RevocationReason {
    const ALL: [RevocationReason; 10] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::CertificateHold,
        RevocationReason::RemoveFromCrl,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The RFC 5280 code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::CertificateHold => 6,
            RevocationReason::RemoveFromCrl => 8,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    /// The reason with RFC 5280 code `code`.
    pub fn from_code(code: i64) -> Option<RevocationReason> {
        Self::ALL.into_iter().find(|r| i64::from(r.code()) == code)
    }

    /// The RFC 5280 name (`keyCompromise`).
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::CertificateHold => "certificateHold",
            RevocationReason::RemoveFromCrl => "removeFromCRL",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }

    pub(crate) fn rcgen(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            RevocationReason::Unspecified => R::Unspecified,
            RevocationReason::KeyCompromise => R::KeyCompromise,
            RevocationReason::CaCompromise => R::CaCompromise,
            RevocationReason::AffiliationChanged => R::AffiliationChanged,
            RevocationReason::Superseded => R::Superseded,
            RevocationReason::CessationOfOperation => R::CessationOfOperation,
            RevocationReason::CertificateHold => R::CertificateHold,
            RevocationReason::RemoveFromCrl => R::RemoveFromCrl,
            RevocationReason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            RevocationReason::AaCompromise => R::AaCompromise,
        }
    }
}

impl FromStr for RevocationReason {
    type Err = CaError;
    /// Accepts the RFC 5280 name in any case, with `-` or `_` ignored
    /// (`key-compromise`, `keyCompromise`), or the numeric code.
    fn from_str(s: &str) -> Result<Self, CaError> {
        let flat: String = s
            .chars()
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        // A numeric code: plain decimal digits, no sign, no leading zero.
        if s.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-') {
            let canonical =
                s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
            return match s.parse::<i64>() {
                Ok(code) if canonical => RevocationReason::from_code(code),
                _ => None,
            }
            .ok_or_else(|| bad_reason(s));
        }
        RevocationReason::ALL
            .into_iter()
            .find(|r| r.as_str().to_lowercase() == flat)
            .ok_or_else(|| bad_reason(s))
    }
}

fn bad_reason(s: &str) -> CaError {
    CaError::Invalid(format!(
        "unknown revocation reason '{s}'; use one of unspecified, keyCompromise, \
         cACompromise, affiliationChanged, superseded, cessationOfOperation, \
         privilegeWithdrawn, aACompromise (or its RFC 5280 code)"
    ))
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A certificate's revocation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CertStatus {
    /// Issued by us and not revoked (it may be expired: check its dates).
    Good,
    /// Revoked at `at` for `reason`.
    Revoked {
        /// When.
        at: DateTime<Utc>,
        /// Why.
        reason: RevocationReason,
    },
    /// Not issued by this CA.
    Unknown,
}

/// Signing a CSR.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// PKCS#10 CSR, PEM or DER.
    pub csr: Vec<u8>,
    /// Profile.
    pub profile: Profile,
    /// Lifetime; the profile's default when absent, refused above its maximum.
    pub ttl: Option<std::time::Duration>,
    /// Intermediate that signs; `None` for the default issuing CA.
    pub issuer: Option<String>,
    /// Who asked, for the record (`token:<id>`, `acme:account/<id>`).
    pub requester: String,
    /// Where it came from: `api`, `acme`, `cli`.
    pub source: String,
}

/// Issuing a certificate with a key generated here.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// DNS names and IP addresses; the first is also the subject common name.
    pub names: Vec<String>,
    /// Profile.
    pub profile: Profile,
    /// Key type to generate.
    pub key: KeyAlgorithm,
    /// Lifetime; the profile's default when absent, refused above its maximum.
    pub ttl: Option<std::time::Duration>,
    /// Intermediate that signs; `None` for the default issuing CA.
    pub issuer: Option<String>,
    /// Keep the private key (wrapped by the KMS) with the record.
    pub store_key: bool,
    /// Who asked, for the record.
    pub requester: String,
    /// Where it came from.
    pub source: String,
}

/// A certificate just issued.
pub struct Issued {
    /// Serial number, lowercase hex without colons.
    pub serial: String,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate and the intermediates up to (not including) the root, PEM.
    pub chain_pem: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// The private key (PKCS#8 PEM), from `issue` only; shown once.
    pub key_pem: Option<SecretBytes>,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_names_are_plain_and_never_root() {
        for bad in ["ROOT", "Root", "-", "_x", "", "a/b", &"x".repeat(65)] {
            assert!(super::authority::check_ca_name(bad).is_err(), "{bad:?}");
        }
        for good in ["issuing", "lab-2", "wards_east", "A1"] {
            assert!(super::authority::check_ca_name(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn reasons_profiles_keys_and_serials_parse() {
        for text in ["keyCompromise", "key-compromise", "KEY_COMPROMISE", "1"] {
            let r: RevocationReason = text.parse().unwrap();
            assert_eq!(r, RevocationReason::KeyCompromise);
        }
        assert!(
            "7".parse::<RevocationReason>().is_err(),
            "7 is unused in RFC 5280"
        );
        assert!("nope".parse::<RevocationReason>().is_err());
        for loose in [
            "-1",
            "+1",
            "01",
            "-9",
            "1 ",
            " 1",
            "1e0",
            "99999999999999999999",
        ] {
            assert!(
                loose.parse::<RevocationReason>().is_err(),
                "{loose:?} is not a reason code"
            );
        }
        for r in RevocationReason::ALL {
            assert_eq!(RevocationReason::from_code(i64::from(r.code())), Some(r));
            assert_eq!(r.as_str().parse::<RevocationReason>().unwrap(), r);
        }
        assert_eq!(
            "secure-node".parse::<Profile>().unwrap(),
            Profile::SecureNode
        );
        assert!("ca".parse::<Profile>().is_err());
        assert_eq!(
            "rsa3072".parse::<KeyAlgorithm>().unwrap(),
            KeyAlgorithm::Rsa3072
        );
        assert_eq!(normalize_serial("0A:bC").unwrap(), "0abc");
        // openssl and others add or drop leading zeros; all name the same certificate.
        assert_eq!(normalize_serial("abc").unwrap(), "0abc");
        assert_eq!(normalize_serial("00:0a:bc").unwrap(), "0abc");
        assert_eq!(normalize_serial("7f01").unwrap(), "7f01");
        assert_eq!(normalize_serial("0").unwrap(), "00");
        assert!(normalize_serial("xyz").is_err());
    }

    #[test]
    fn csr_checks_refuse_garbage_ca_requests_and_unknown_critical_extensions() {
        assert!(matches!(check_csr(b""), Err(CaError::BadCsr(_))));
        assert!(matches!(check_csr(b"garbage"), Err(CaError::BadCsr(_))));
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.example.org".to_string()]).unwrap();
        let ok = params.serialize_request(&key).unwrap();
        let checked = check_csr(ok.pem().unwrap().as_bytes()).unwrap();
        assert_eq!(checked.names, vec!["a.example.org"]);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.serialize_request(&key).unwrap();
        assert!(matches!(check_csr(ca.der()), Err(CaError::CsrAsksForCa)));
        let mut critical = rcgen::CustomExtension::from_oid_content(&[1, 2, 3, 4], vec![5, 0]);
        critical.set_criticality(true);
        let mut params = rcgen::CertificateParams::new(vec!["a.example.org".to_string()]).unwrap();
        params.custom_extensions.push(critical);
        let odd = params.serialize_request(&key).unwrap();
        assert!(matches!(
            check_csr(odd.der()),
            Err(CaError::UnknownCriticalExtension(oid)) if oid == "1.2.3.4"
        ));
    }

    /// A key we do not issue for is named as such, not reported as a bad signature.
    #[test]
    fn csr_with_an_unsupported_key_says_so() {
        for alg in [
            &rcgen::PKCS_ECDSA_P521_SHA512,
            &rcgen::PKCS_ECDSA_P521_SHA256,
        ] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let params = rcgen::CertificateParams::new(vec!["a.example.org".into()]).unwrap();
            let csr = params.serialize_request(&key).unwrap();
            match check_csr(csr.der()) {
                Err(CaError::BadCsr(why)) => assert!(why.contains("not supported"), "{why}"),
                other => panic!("{alg:?}: {other:?}"),
            }
        }
    }
}
