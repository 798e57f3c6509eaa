use std::fmt;
use webqx_audit::AuditError;
use webqx_store::StoreError;

/// Errors from the key service. [`KmsError::kind`] gives the stable error type that
/// the API puts in problem documents and the audit trail puts in `reason`.
#[derive(Debug)]
#[non_exhaustive]
pub enum KmsError {
    /// No root key is loaded.
    Sealed,
    /// The service has never been initialized.
    NotInitialized,
    /// `init` ran before.
    AlreadyInitialized,
    /// The unseal key, passphrase or shares do not open the root key.
    UnsealFailed(String),
    /// This seal kind does not unseal that way.
    WrongUnsealMethod(&'static str),
    /// No key ring by that name.
    KeyNotFound(String),
    /// A key ring by that name exists (or existed and was destroyed).
    KeyExists(String),
    /// The key ring's material was destroyed.
    KeyDestroyed(String),
    /// The key ring is disabled.
    KeyDisabled(String),
    /// The key ring is scheduled for deletion.
    KeyPendingDeletion(String),
    /// The operation does not apply to this key type.
    WrongKeyType {
        operation: &'static str,
        key_type: &'static str,
    },
    /// The request itself is malformed; the text says how to fix it.
    Invalid(String),
    /// A key version that is below the allowed minimum, or does not exist.
    KeyVersion(String),
    /// The key was not created exportable.
    NotExportable(String),
    /// Decryption failed. Opaque on purpose.
    Decrypt,
    /// The audit record could not be written, so the request was refused.
    Audit(AuditError),
    /// Storage failed.
    Store(StoreError),
    /// A primitive failed unexpectedly (not because of the input).
    Internal(String),
    /// The HSM (PKCS#11 seal) cannot be used; the text says what to fix.
    Hsm(String),
}

impl KmsError {
    /// Stable identifier of the error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            KmsError::Sealed => "sealed",
            KmsError::NotInitialized => "not-initialized",
            KmsError::AlreadyInitialized => "already-initialized",
            KmsError::UnsealFailed(_) => "unseal-failed",
            KmsError::WrongUnsealMethod(_) => "wrong-unseal-method",
            KmsError::KeyNotFound(_) => "key-not-found",
            KmsError::KeyExists(_) => "key-exists",
            KmsError::KeyDestroyed(_) => "key-destroyed",
            KmsError::KeyDisabled(_) => "key-disabled",
            KmsError::KeyPendingDeletion(_) => "key-pending-deletion",
            KmsError::WrongKeyType { .. } => "wrong-key-type",
            KmsError::Invalid(_) => "invalid-request",
            KmsError::KeyVersion(_) => "key-version",
            KmsError::NotExportable(_) => "not-exportable",
            KmsError::Decrypt => "decryption-failed",
            KmsError::Audit(_) => "audit-unavailable",
            KmsError::Store(_) => "storage-unavailable",
            KmsError::Internal(_) => "internal",
            KmsError::Hsm(_) => "hsm-unavailable",
        }
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KmsError::Sealed => f.write_str(
                "the key service is sealed; unseal it with `webqx-sec unseal` (or POST \
                 /v1/sys/unseal) before using keys",
            ),
            KmsError::NotInitialized => f.write_str(
                "the key service is not initialized; run `webqx-sec init` (or start \
                 `webqx-sec serve` on an empty data folder for local use)",
            ),
            KmsError::AlreadyInitialized => {
                f.write_str("the key service is already initialized; nothing was changed")
            }
            KmsError::UnsealFailed(why) => write!(f, "unseal failed: {why}"),
            KmsError::WrongUnsealMethod(how) => write!(f, "this service unseals {how}"),
            KmsError::KeyNotFound(name) => write!(
                f,
                "no key named '{name}'; list keys with `webqx-sec key list` or create it \
                 with `webqx-sec key create {name}`"
            ),
            KmsError::KeyExists(name) => write!(
                f,
                "a key named '{name}' already exists (destroyed keys keep their name); \
                 choose another name"
            ),
            KmsError::KeyDestroyed(name) => write!(
                f,
                "key '{name}' was destroyed; data encrypted under it can no longer be \
                 decrypted by anyone"
            ),
            KmsError::KeyDisabled(name) => write!(
                f,
                "key '{name}' is disabled; enable it with `webqx-sec key enable {name}`"
            ),
            KmsError::KeyPendingDeletion(name) => write!(
                f,
                "key '{name}' is scheduled for deletion and cannot be used; cancel with \
                 `webqx-sec key cancel-deletion {name}`"
            ),
            KmsError::WrongKeyType {
                operation,
                key_type,
            } => write!(
                f,
                "{operation} is not possible with a {key_type} key; use a key of a type \
                 made for it (see `webqx-sec key create --help`)"
            ),
            KmsError::Invalid(why) => f.write_str(why),
            KmsError::KeyVersion(why) => f.write_str(why),
            KmsError::NotExportable(name) => write!(
                f,
                "key '{name}' was not created exportable, and export cannot be turned on \
                 later"
            ),
            KmsError::Decrypt => f.write_str(
                "decryption failed: the ciphertext is damaged, truncated or not a WebQx \
                 ciphertext, or it was made with another key or another context",
            ),
            KmsError::Audit(e) => write!(f, "request refused because {e}"),
            KmsError::Store(e) => write!(f, "storage failed: {e}"),
            KmsError::Internal(why) => write!(f, "internal error: {why}"),
            KmsError::Hsm(why) => write!(f, "HSM unavailable: {why}"),
        }
    }
}

impl std::error::Error for KmsError {}

impl From<StoreError> for KmsError {
    fn from(e: StoreError) -> Self {
        KmsError::Store(e)
    }
}

impl From<sqlx::Error> for KmsError {
    fn from(e: sqlx::Error) -> Self {
        KmsError::Store(StoreError::from_sqlx(e))
    }
}

impl From<AuditError> for KmsError {
    fn from(e: AuditError) -> Self {
        KmsError::Audit(e)
    }
}

/// Converts a primitive's failure where the input cannot be the cause.
pub(crate) fn internal(e: webqx_crypto::Error) -> KmsError {
    KmsError::Internal(e.to_string())
}
