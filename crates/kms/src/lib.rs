//! The key service: the root key and its seal, named key rings with versions, and
//! every operation done with them, including field-level encryption of FHIR resources.
//!
//! - [`Kms::initialize`], [`Kms::unseal_with_key`], [`Kms::submit_share`],
//!   [`Kms::unseal_with_passphrase`], [`Kms::seal`]: the root key's life. Key material
//!   is stored only wrapped (AES-256-GCM) by the root key; while sealed, every
//!   operation answers [`KmsError::Sealed`].
//! - [`Kms::create_key`] and friends: key ring lifecycle, each change committed with
//!   its audit record in one transaction.
//! - [`Kms::encrypt`] and friends: operations, each audited before it returns.
//! - [`Kms::file_key`], [`Kms::open_file_key`]: data keys for encrypted files
//!   ([`webqx_crypto::stream`]).
//! - [`fhir`]: protecting the PHI elements of FHIR resources.
//! - [`tde`]: releasing keys to databases for data-at-rest encryption (MariaDB).
//! - [`tang`]: a Tang server (advertisement and key recovery) for clevis-bound disks.
//! - [`Kms::oauth_signer`], [`Kms::oauth_jwks`]: the OAuth authorization server's
//!   service-internal signing key and the JWKS of its live versions.
//!
//! This crate does no HTTP and no file I/O beyond the store; the server maps requests
//! onto it and decides where key files live.

#![forbid(unsafe_code)]

pub mod backup;
mod cache;
mod checkpoint;
mod error;
pub mod fhir;
mod files;
mod keys;
mod oauth;
mod ops;
pub mod pkcs11;
mod seal;
pub mod tang;
pub mod tde;
mod types;

pub use checkpoint::export_latest as export_latest_checkpoint;
pub use error::KmsError;
pub use files::FILE_KEY_CONTEXT;
pub use oauth::{OAUTH_SIGNING_KEY, OAuthSigner, oauth_kid};
pub use ops::{DataKey, Opened, Plain, Sealed, Signed, VerifyItem};
pub use seal::{HsmState, InitMethod, InitOutput, Pkcs11Access, SealStatus};
pub use types::{CreateKey, KeyConfig, KeyInfo, KeyState, KeyType, VersionInfo};
pub use webqx_crypto::sign::SignatureFormat;

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use webqx_audit::{AuditLog, AuditRecord, Outcome};
use webqx_crypto::SecretBytes;
use webqx_store::{Store, WriteTx};

/// Tunables of the key service.
#[derive(Debug, Clone)]
pub struct KmsSettings {
    /// Shortest waiting period a deletion may be scheduled with.
    pub min_deletion_wait: Duration,
    /// Waiting period when none is given.
    pub default_deletion_wait: Duration,
    /// Most items in one batch request.
    pub max_batch_items: usize,
    /// How long key metadata and wrapped material are cached (0: not at all). Changes
    /// made on another node are seen within this time.
    pub cache_ttl: Duration,
}

impl Default for KmsSettings {
    fn default() -> Self {
        KmsSettings {
            min_deletion_wait: Duration::from_secs(86_400),
            default_deletion_wait: Duration::from_secs(7 * 86_400),
            max_batch_items: 10_000,
            cache_ttl: Duration::from_secs(1),
        }
    }
}

/// The key service. Share it behind an `Arc`.
pub struct Kms {
    store: Store,
    audit: Arc<AuditLog>,
    root: RwLock<Option<Arc<SecretBytes>>>,
    shares: Mutex<Vec<webqx_crypto::shamir::Share>>,
    cache: cache::RingCache,
    kdf_turn: tokio::sync::Mutex<()>,
    /// Scheduler ticks left that purge destroyed material again.
    purges_left: std::sync::atomic::AtomicU32,
    settings: KmsSettings,
    /// PKCS#11 seal: last error, whether an operator sealed on purpose.
    hsm: HsmState,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("sealed", &self.is_sealed())
            .finish_non_exhaustive()
    }
}

impl Kms {
    /// A sealed key service over `store`, auditing to `audit`.
    pub fn new(store: Store, audit: Arc<AuditLog>, settings: KmsSettings) -> Kms {
        Kms {
            store,
            audit,
            root: RwLock::new(None),
            shares: Mutex::new(Vec::new()),
            cache: cache::RingCache::new(settings.cache_ttl),
            kdf_turn: tokio::sync::Mutex::new(()),
            purges_left: std::sync::atomic::AtomicU32::new(0),
            settings,
            hsm: HsmState::default(),
        }
    }

    /// True while no root key is loaded.
    pub fn is_sealed(&self) -> bool {
        self.root.read().map(|r| r.is_none()).unwrap_or(true)
    }

    /// The settings in force.
    pub fn settings(&self) -> &KmsSettings {
        &self.settings
    }

    fn root(&self) -> Result<Arc<SecretBytes>, KmsError> {
        let slot = self.root.read().map_err(|_| KmsError::Sealed)?;
        slot.clone().ok_or(KmsError::Sealed)
    }

    fn set_root(&self, root: Option<SecretBytes>) {
        let audit_key = root.as_ref().and_then(|r| {
            webqx_crypto::kdf::hkdf_sha256(r.expose(), b"webqx", b"audit-hmac-v1", 32).ok()
        });
        if root.is_none() {
            self.cache.clear();
        }
        if let Ok(mut slot) = self.root.write() {
            *slot = root.map(Arc::new);
        }
        self.audit.set_hmac_key(audit_key);
    }

    async fn transact<T>(
        &self,
        rec: AuditRecord,
        work: impl AsyncFnOnce(&mut WriteTx, &mut AuditRecord) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let result = self.audit.transact(rec, work).await;
        // Key changes are rare: forget every cached key ring rather than track which.
        self.cache.clear();
        result
    }

    async fn audited<T>(
        &self,
        rec: AuditRecord,
        work: impl AsyncFnOnce(&mut AuditRecord) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        self.audit.audited(rec, work).await
    }
}

impl webqx_audit::Audited for KmsError {
    fn audit_reason(&self) -> &'static str {
        self.kind()
    }

    /// Denials are refusals by policy or state; everything else is a failure.
    fn audit_outcome(&self) -> Outcome {
        match self {
            KmsError::Sealed | KmsError::NotExportable(_) => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }
}
