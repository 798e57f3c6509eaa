//! Why a certificate authority operation was refused or failed.

use std::fmt;
use webqx_audit::{AuditError, Audited, Outcome};
use webqx_kms::KmsError;
use webqx_store::StoreError;

/// Why a CA operation was refused or failed. Messages never hold key material.
#[derive(Debug)]
#[non_exhaustive]
pub enum CaError {
    /// The service is sealed: the CA keys are wrapped by the root key.
    Sealed,
    /// No certificate with that serial number.
    CertNotFound(String),
    /// No CA by that name.
    CaNotFound(String),
    /// A CA by that name exists already.
    CaExists(String),
    /// The CSR cannot be read (not PEM/DER PKCS#10); the text says what is wrong.
    BadCsr(String),
    /// The CSR's self-signature does not verify.
    CsrSignature,
    /// The CSR asks for a CA certificate (basicConstraints CA=true).
    CsrAsksForCa,
    /// The CSR carries a critical extension we do not know (the OID).
    UnknownCriticalExtension(String),
    /// A name the profile does not allow.
    NameNotAllowed {
        /// The refused name.
        name: String,
        /// The profile.
        profile: &'static str,
    },
    /// A name that is neither a DNS name nor an IP address.
    BadName(String),
    /// The request names no subject alternative name.
    NoNames,
    /// The requested lifetime exceeds the profile's maximum.
    TtlTooLong {
        /// Seconds requested.
        requested: u64,
        /// Seconds allowed.
        max: u64,
    },
    /// A malformed request; the text says how to fix it.
    Invalid(String),
    /// The certificate is revoked already.
    AlreadyRevoked(String),
    /// Key service failure.
    Kms(KmsError),
    /// The audit record could not be written, so the request was refused.
    Audit(AuditError),
    /// Storage failed.
    Store(StoreError),
    /// A primitive failed unexpectedly (not because of the input).
    Internal(String),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Sealed => write!(f, "the service is sealed; unseal it to use the CA"),
            CaError::CertNotFound(s) => write!(f, "no certificate with serial {s}"),
            CaError::CaNotFound(n) => {
                write!(f, "no CA named '{n}'; list them with `webqx-sec ca list`")
            }
            CaError::CaExists(n) => write!(f, "a CA named '{n}' exists already; pick another name"),
            CaError::BadCsr(e) => write!(
                f,
                "the CSR cannot be read ({e}); send a PKCS#10 CSR in PEM or DER"
            ),
            CaError::CsrSignature => write!(
                f,
                "the CSR's signature does not verify; make a new CSR with its key"
            ),
            CaError::CsrAsksForCa => write!(
                f,
                "the CSR asks for a CA certificate (basicConstraints CA:TRUE); this CA issues \
                 end-entity certificates only; remove that extension"
            ),
            CaError::UnknownCriticalExtension(oid) => write!(
                f,
                "the CSR carries an unknown critical extension {oid}; remove it"
            ),
            CaError::NameNotAllowed { name, profile } => write!(
                f,
                "the name '{name}' is not allowed for profile {profile}; add its domain to \
                 [pki.{profile}] allowed_domains or ask for another name"
            ),
            CaError::BadName(n) => write!(
                f,
                "'{n}' is neither a DNS name nor an IP address; use names like host.example.org"
            ),
            CaError::NoNames => write!(f, "no name to certify; give at least one DNS name or IP"),
            CaError::TtlTooLong { requested, max } => write!(
                f,
                "a lifetime of {requested}s exceeds this profile's maximum of {max}s; ask for less"
            ),
            CaError::Invalid(e) => write!(f, "{e}"),
            CaError::AlreadyRevoked(s) => write!(f, "{s} is revoked already"),
            CaError::Kms(e) => write!(f, "{e}"),
            CaError::Audit(e) => write!(f, "{e}"),
            CaError::Store(e) => write!(f, "storage failed: {e}"),
            CaError::Internal(e) => write!(f, "internal CA error: {e}"),
        }
    }
}

impl std::error::Error for CaError {}

impl From<KmsError> for CaError {
    fn from(e: KmsError) -> Self {
        match e {
            KmsError::Sealed | KmsError::NotInitialized => CaError::Sealed,
            other => CaError::Kms(other),
        }
    }
}

impl From<AuditError> for CaError {
    fn from(e: AuditError) -> Self {
        CaError::Audit(e)
    }
}

impl From<StoreError> for CaError {
    fn from(e: StoreError) -> Self {
        CaError::Store(e)
    }
}

impl From<sqlx::Error> for CaError {
    fn from(e: sqlx::Error) -> Self {
        CaError::Store(StoreError::from_sqlx(e))
    }
}

pub(crate) fn internal(e: impl fmt::Display) -> CaError {
    CaError::Internal(e.to_string())
}

impl CaError {
    /// Stable machine-readable type, used in problem documents and audit records.
    pub fn kind(&self) -> &'static str {
        match self {
            CaError::Sealed => "sealed",
            CaError::CertNotFound(_) => "cert-not-found",
            CaError::CaNotFound(_) => "ca-not-found",
            CaError::CaExists(_) => "ca-exists",
            CaError::BadCsr(_) => "bad-csr",
            CaError::CsrSignature => "csr-signature",
            CaError::CsrAsksForCa => "csr-asks-for-ca",
            CaError::UnknownCriticalExtension(_) => "unknown-critical-extension",
            CaError::NameNotAllowed { .. } => "name-not-allowed",
            CaError::BadName(_) => "bad-name",
            CaError::NoNames => "no-names",
            CaError::TtlTooLong { .. } => "ttl-too-long",
            CaError::Invalid(_) => "invalid",
            CaError::AlreadyRevoked(_) => "already-revoked",
            CaError::Kms(_) => "kms",
            CaError::Audit(_) => "audit",
            CaError::Store(_) => "store",
            CaError::Internal(_) => "internal",
        }
    }

    /// True when the caller's input (not the service) is at fault.
    pub fn is_client_error(&self) -> bool {
        !matches!(
            self,
            CaError::Sealed
                | CaError::Kms(_)
                | CaError::Audit(_)
                | CaError::Store(_)
                | CaError::Internal(_)
        )
    }
}

impl Audited for CaError {
    fn audit_reason(&self) -> &'static str {
        self.kind()
    }

    fn audit_outcome(&self) -> Outcome {
        match self {
            CaError::NameNotAllowed { .. } | CaError::TtlTooLong { .. } | CaError::Sealed => {
                Outcome::Denied
            }
            _ => Outcome::Failure,
        }
    }
}
