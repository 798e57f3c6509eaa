//! The root key and its seal.
//!
//! At initialization the service draws a random 256-bit root key and a random (or
//! passphrase-derived) 256-bit unseal key, stores the root key sealed (AES-256-GCM)
//! under the unseal key, and hands the unseal key out in one of three forms:
//! - a key file, for local use only;
//! - Shamir shares (any `threshold` of `shares` open it), printed once;
//! - nothing: the unseal key is Argon2id of a passphrase and a stored salt.
//!
//! Or, with a PKCS#11 HSM ([`InitMethod::Pkcs11`]), there is no unseal key at all: the
//! root key is encrypted inside the HSM by a key that never leaves it, and the server
//! unseals itself whenever the HSM answers (see `seal/pkcs11_seal.rs`).
//!
//! Unsealing recovers the unseal key, opens the root key, and derives the audit HMAC
//! key from it. Nothing about the unseal key is stored.

use crate::{Kms, KmsError};
use serde::{Deserialize, Serialize};
use webqx_audit::RequestContext;
use webqx_crypto::kdf::Argon2Params;
use webqx_crypto::{SecretBytes, aead, shamir};
use webqx_store::{Row, query};

mod pkcs11_seal;
pub(crate) use pkcs11_seal::open_root_offline;
pub use pkcs11_seal::{HsmState, Pkcs11Access};

pub(crate) const ROOT_AAD: &[u8] = b"webqx-root-v1";
const SALT_LEN: usize = 16;

/// How to protect the unseal key at initialization.
pub enum InitMethod {
    /// A key file (development and single-machine labs only).
    KeyFile,
    /// Shamir shares.
    Shamir {
        /// Number of shares printed.
        shares: usize,
        /// Shares needed to unseal.
        threshold: usize,
    },
    /// A passphrase stretched with Argon2id.
    Passphrase(SecretBytes),
    /// A key generated in a PKCS#11 token encrypts the root key inside the HSM.
    Pkcs11 {
        /// Module, token and PIN.
        login: crate::pkcs11::Pkcs11Login,
        /// Label given to the generated key (`CKA_LABEL`).
        key_label: String,
    },
}

/// What initialization hands out, once.
#[derive(Default)]
pub struct InitOutput {
    /// For [`InitMethod::KeyFile`]: the unseal key, hex, to be written to a 0600 file.
    pub key_file: Option<SecretBytes>,
    /// For [`InitMethod::Shamir`]: the shares.
    pub shares: Vec<SecretBytes>,
}

impl std::fmt::Debug for InitOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "InitOutput {{ key_file: .., shares: {} }}",
            self.shares.len()
        )
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub(crate) enum SealConfig {
    KeyFile,
    Shamir {
        shares: usize,
        threshold: usize,
        /// Hex of the set id every share of this initialization carries.
        set_id: String,
    },
    Passphrase {
        salt: String,
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    },
    /// The root key encrypted inside a PKCS#11 token. Never the PIN.
    Pkcs11 {
        /// Module path at initialization (the server's `seal.module` may override it).
        module: String,
        /// Token label at initialization (`seal.token_label` may override it).
        token_label: String,
        /// `CKA_LABEL` of the wrapping key.
        key_label: String,
        /// Hex of the wrapping key's `CKA_ID`.
        key_id: String,
        /// Always `CKM_AES_GCM`.
        mechanism: String,
        /// Hex of the 96-bit GCM IV.
        iv: String,
    },
}

/// The seal's state, as `GET /v1/sys/seal-status` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SealStatus {
    /// Whether `init` has run.
    pub initialized: bool,
    /// Whether the root key is not loaded.
    pub sealed: bool,
    /// `key-file`, `shamir` or `passphrase`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal_type: Option<String>,
    /// Shares needed (Shamir).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<usize>,
    /// Shares printed (Shamir).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shares: Option<usize>,
    /// Shares given so far towards the next unseal (Shamir).
    pub progress: usize,
    /// Why the last automatic unseal failed (PKCS#11), and what to fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl Kms {
    pub(crate) async fn seal_row(&self) -> Result<Option<(SealConfig, Vec<u8>)>, KmsError> {
        let row = query("SELECT config, sealed_root FROM seal WHERE id = 1")
            .fetch_optional(self.store.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let config: String = row.try_get(0)?;
        let config = serde_json::from_str(&config).map_err(|e| {
            KmsError::Internal(format!("stored seal configuration unreadable: {e}"))
        })?;
        Ok(Some((config, row.try_get(1)?)))
    }

    /// Whether `init` has run.
    ///
    /// # Errors
    /// [`KmsError::Store`] if the store cannot be read.
    pub async fn is_initialized(&self) -> Result<bool, KmsError> {
        Ok(self.seal_row().await?.is_some())
    }

    /// Creates the root key, protects it as `method` says, and leaves the service
    /// unsealed.
    ///
    /// # Errors
    /// [`KmsError::AlreadyInitialized`], [`KmsError::Invalid`] for impossible share
    /// counts, or storage and audit failures.
    pub async fn initialize(
        &self,
        ctx: &RequestContext,
        method: InitMethod,
    ) -> Result<InitOutput, KmsError> {
        self.initialize_with(ctx, method, async |_, _| Ok(())).await
    }

    /// Like [`Kms::initialize`], and runs `more` in the same transaction, with the root
    /// key already usable (to store the CA key, make the admin token and the first keys):
    /// all of it commits, or none of it and the service stays uninitialized.
    ///
    /// # Errors
    /// As for [`Kms::initialize`], or whatever `more` returns.
    pub async fn initialize_with(
        &self,
        ctx: &RequestContext,
        method: InitMethod,
        more: impl AsyncFnOnce(&mut webqx_store::WriteTx, &InitOutput) -> Result<(), KmsError>,
    ) -> Result<InitOutput, KmsError> {
        let root = SecretBytes::new(webqx_crypto::rand::bytes(32).map_err(crate::error::internal)?);
        let (config, sealed, output) = match method {
            InitMethod::Pkcs11 { login, key_label } => {
                pkcs11_seal::seal_new_root(&self.hsm, login, key_label, &root).await?
            }
            method => {
                let (config, unseal_key, output) = prepare_unseal_key(method)?;
                let sealed = aead::seal(
                    aead::Algorithm::AesGcm,
                    unseal_key.expose(),
                    ROOT_AAD,
                    root.expose(),
                )
                .map_err(crate::error::internal)?;
                (config, sealed, output)
            }
        };
        let config_text =
            serde_json::to_string(&config).map_err(|e| KmsError::Internal(e.to_string()))?;
        let kind = seal_kind(&config);

        let rec = ctx.record("sys.init", None);
        let result = self.transact(rec, async |tx, rec| {
            let exists = query("SELECT 1 FROM seal WHERE id = 1").fetch_optional(tx.conn()).await?;
            if exists.is_some() {
                return Err(KmsError::AlreadyInitialized);
            }
            query("INSERT INTO seal (id, kind, config, sealed_root, created_ms) VALUES (1, $1, $2, $3, $4)")
                .bind(kind)
                .bind(&config_text)
                .bind(&sealed)
                .bind(webqx_store::now_ms())
                .execute(tx.conn())
                .await?;
            rec.detail("seal_type", kind);
            self.set_root(Some(root.clone()));
            more(tx, &output).await
        })
        .await;
        if let Err(e) = result {
            self.set_root(None);
            self.hsm.set_login(None);
            return Err(e);
        }
        Ok(output)
    }

    /// The seal's state.
    ///
    /// # Errors
    /// [`KmsError::Store`] if the store cannot be read.
    pub async fn seal_status(&self) -> Result<SealStatus, KmsError> {
        let progress = self.shares.lock().map(|s| s.len()).unwrap_or(0);
        let Some((config, _)) = self.seal_row().await? else {
            return Ok(SealStatus {
                initialized: false,
                sealed: true,
                seal_type: None,
                threshold: None,
                shares: None,
                progress: 0,
                last_error: None,
            });
        };
        let (threshold, shares) = match config {
            SealConfig::Shamir {
                shares, threshold, ..
            } => (Some(threshold), Some(shares)),
            _ => (None, None),
        };
        Ok(SealStatus {
            initialized: true,
            sealed: self.is_sealed(),
            seal_type: Some(seal_kind(&config).to_owned()),
            threshold,
            shares,
            progress,
            last_error: self.hsm.last_error(),
        })
    }

    /// Opens the sealed root key with `unseal_key`. Not audited here: the public entry
    /// points audit the whole attempt.
    async fn open_root(&self, how: &str, unseal_key: &SecretBytes) -> Result<(), KmsError> {
        let (_, sealed) = self.seal_row().await?.ok_or(KmsError::NotInitialized)?;
        let root = aead::open(
            aead::Algorithm::AesGcm,
            unseal_key.expose(),
            ROOT_AAD,
            &sealed,
        )
        .map_err(|_| KmsError::UnsealFailed(format!("the {how} does not open the root key")))?;
        if root.len() != 32 {
            return Err(KmsError::Internal(
                "stored root key has the wrong length".into(),
            ));
        }
        self.set_root(Some(root));
        Ok(())
    }

    /// Audits one unseal attempt, whatever its outcome, never with its content.
    async fn unseal_attempt<T>(
        &self,
        ctx: &RequestContext,
        method: &str,
        work: impl AsyncFnOnce(&mut webqx_audit::AuditRecord) -> Result<T, KmsError>,
    ) -> Result<T, KmsError> {
        let mut rec = ctx.record("sys.unseal", None);
        rec.detail("method", method);
        self.audited(rec, work).await
    }

    /// Unseals with the key from a key file (hex).
    ///
    /// # Errors
    /// [`KmsError::WrongUnsealMethod`] if not a key-file seal; [`KmsError::UnsealFailed`]
    /// if the key is wrong.
    pub async fn unseal_with_key(
        &self,
        ctx: &RequestContext,
        key_hex: &SecretBytes,
    ) -> Result<(), KmsError> {
        self.unseal_attempt(ctx, "key-file", async |_| {
            self.require_seal("key-file").await?;
            if !self.is_sealed() {
                return Ok(());
            }
            let text = std::str::from_utf8(key_hex.expose()).unwrap_or("").trim();
            let key = SecretBytes::new(hex::decode(text).map_err(|_| {
                KmsError::UnsealFailed(
                    "the key file does not hold a hex key; was it edited?".into(),
                )
            })?);
            self.open_root("key file", &key).await
        })
        .await
    }

    /// Unseals with a passphrase. Attempts run one at a time.
    ///
    /// # Errors
    /// [`KmsError::WrongUnsealMethod`] if not a passphrase seal; [`KmsError::UnsealFailed`]
    /// if the passphrase is wrong.
    pub async fn unseal_with_passphrase(
        &self,
        ctx: &RequestContext,
        passphrase: &SecretBytes,
    ) -> Result<(), KmsError> {
        self.unseal_attempt(ctx, "passphrase", async |_| {
            let config = self.require_seal("passphrase").await?;
            let SealConfig::Passphrase {
                salt,
                memory_kib,
                iterations,
                parallelism,
            } = config
            else {
                return Err(KmsError::WrongUnsealMethod("with its passphrase"));
            };
            let salt = hex::decode(salt)
                .map_err(|_| KmsError::Internal("stored salt unreadable".into()))?;
            let params = Argon2Params {
                memory_kib,
                iterations,
                parallelism,
            };
            // One derivation at a time: each takes 64 MiB and about a second of CPU, and
            // the unseal endpoint needs no token, so parallel attempts must not pile up.
            let _turn = self.kdf_turn.lock().await;
            if !self.is_sealed() {
                return Ok(());
            }
            let phrase = passphrase.clone();
            // Keep the derivation off the async workers.
            let key = tokio::task::spawn_blocking(move || {
                webqx_crypto::kdf::argon2id(phrase.expose(), &salt, params)
            })
            .await
            .map_err(|e| KmsError::Internal(e.to_string()))?
            .map_err(crate::error::internal)?;
            self.open_root("passphrase", &key).await
        })
        .await
    }

    /// Adds one Shamir share. When the threshold is reached the shares are combined
    /// and the service unseals; if they do not open the root key, progress is reset.
    /// Every attempt is audited (never with the share).
    ///
    /// # Errors
    /// [`KmsError::UnsealFailed`] for a malformed, foreign or repeated share, or shares
    /// that do not belong together.
    pub async fn submit_share(
        &self,
        ctx: &RequestContext,
        share: &str,
    ) -> Result<SealStatus, KmsError> {
        self.unseal_attempt(ctx, "shamir", async |rec| {
            let config = self.require_seal("shamir").await?;
            let SealConfig::Shamir {
                threshold, set_id, ..
            } = config
            else {
                return Err(KmsError::WrongUnsealMethod("with Shamir shares"));
            };
            if !self.is_sealed() {
                rec.detail("progress", "already unsealed");
                return self.seal_status().await;
            }
            let share = shamir::decode(share).map_err(|e| KmsError::UnsealFailed(e.to_string()))?;
            if hex::encode(share.set_id) != set_id {
                return Err(KmsError::UnsealFailed(
                    "this share belongs to another initialization of the service".into(),
                ));
            }
            let Some(shares) = self.hold_share(share, threshold)? else {
                rec.detail("progress", "share accepted");
                return self.seal_status().await;
            };
            let key =
                shamir::combine(&shares).map_err(|e| KmsError::UnsealFailed(e.to_string()))?;
            self.open_root("set of shares", &key)
                .await
                .map_err(|e| match e {
                    KmsError::UnsealFailed(_) => KmsError::UnsealFailed(
                        "these shares do not open the root key (one was mistyped in a way the \
                     check digits missed, or forged); progress was reset, start again"
                            .into(),
                    ),
                    other => other,
                })?;
            self.seal_status().await
        })
        .await
    }

    /// Keeps a share; when there are `threshold` of them, hands them all back.
    fn hold_share(
        &self,
        share: shamir::Share,
        threshold: usize,
    ) -> Result<Option<Vec<shamir::Share>>, KmsError> {
        let mut held = self
            .shares
            .lock()
            .map_err(|_| KmsError::Internal("share list poisoned".into()))?;
        if held.iter().any(|s| s.index == share.index) {
            return Err(KmsError::UnsealFailed(format!(
                "share {} was already given; give a different share (or reset with \
                 `webqx-sec unseal --reset`)",
                share.index
            )));
        }
        held.push(share);
        Ok((held.len() >= threshold).then(|| std::mem::take(&mut *held)))
    }

    /// Forgets shares given so far (audited).
    ///
    /// # Errors
    /// [`KmsError::Audit`] if the reset cannot be audited (it still resets).
    pub async fn reset_unseal(&self, ctx: &RequestContext) -> Result<(), KmsError> {
        self.reset_unseal_progress();
        self.unseal_attempt(ctx, "reset", async |_| Ok(())).await
    }

    /// Forgets shares given so far.
    pub fn reset_unseal_progress(&self) {
        if let Ok(mut held) = self.shares.lock() {
            held.clear();
        }
    }

    /// Drops the root key from memory; every operation is refused until unsealed.
    ///
    /// # Errors
    /// [`KmsError::Audit`] if the seal cannot be audited (it still seals).
    pub async fn seal(&self, ctx: &RequestContext) -> Result<(), KmsError> {
        self.set_root(None);
        self.hsm.hold();
        self.reset_unseal_progress();
        self.audit.record(ctx.record("sys.seal", None)).await?;
        Ok(())
    }

    async fn require_seal(&self, kind: &str) -> Result<SealConfig, KmsError> {
        let (config, _) = self.seal_row().await?.ok_or(KmsError::NotInitialized)?;
        if seal_kind(&config) != kind {
            let actual = match config {
                SealConfig::KeyFile => "with its key file",
                SealConfig::Shamir { .. } => "with Shamir shares",
                SealConfig::Passphrase { .. } => "with its passphrase",
                SealConfig::Pkcs11 { .. } => "with its HSM (POST /v1/sys/unseal with {})",
            };
            return Err(KmsError::WrongUnsealMethod(actual));
        }
        Ok(config)
    }

    /// Stores `value` wrapped by the root key under `name` (for the CA key and other
    /// service secrets), inside the caller's transaction.
    ///
    /// # Errors
    /// [`KmsError::Sealed`] or storage failures.
    pub async fn put_secret(
        &self,
        tx: &mut webqx_store::WriteTx,
        name: &str,
        value: &SecretBytes,
    ) -> Result<(), KmsError> {
        let root = self.root()?;
        let aad = secret_aad(name);
        let wrapped = aead::seal(aead::Algorithm::AesGcm, root.expose(), &aad, value.expose())
            .map_err(crate::error::internal)?;
        query(
            "INSERT INTO secrets (name, wrapped, created_ms) VALUES ($1, $2, $3) \
               ON CONFLICT (name) DO UPDATE SET wrapped = excluded.wrapped",
        )
        .bind(name)
        .bind(&wrapped)
        .bind(webqx_store::now_ms())
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Reads a secret stored with [`Kms::put_secret`].
    ///
    /// # Errors
    /// [`KmsError::Sealed`], [`KmsError::Invalid`] if absent, storage failures.
    pub async fn get_secret(&self, name: &str) -> Result<SecretBytes, KmsError> {
        let root = self.root()?;
        let row = query("SELECT wrapped FROM secrets WHERE name = $1")
            .bind(name)
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| KmsError::Invalid(format!("no service secret named '{name}'")))?;
        let wrapped: Vec<u8> = row.try_get(0)?;
        aead::open(
            aead::Algorithm::AesGcm,
            root.expose(),
            &secret_aad(name),
            &wrapped,
        )
        .map_err(|_| KmsError::Internal(format!("service secret '{name}' does not open")))
    }
}

fn secret_aad(name: &str) -> Vec<u8> {
    let mut aad = b"webqx-secret-v1\0".to_vec();
    aad.extend_from_slice(name.as_bytes());
    aad
}

pub(crate) fn seal_kind(config: &SealConfig) -> &'static str {
    match config {
        SealConfig::KeyFile => "key-file",
        SealConfig::Shamir { .. } => "shamir",
        SealConfig::Passphrase { .. } => "passphrase",
        SealConfig::Pkcs11 { .. } => "pkcs11",
    }
}

fn prepare_unseal_key(
    method: InitMethod,
) -> Result<(SealConfig, SecretBytes, InitOutput), KmsError> {
    let random_key = || {
        webqx_crypto::rand::bytes(32)
            .map(SecretBytes::new)
            .map_err(crate::error::internal)
    };
    match method {
        InitMethod::KeyFile => {
            let key = random_key()?;
            let hex_key = SecretBytes::new(hex::encode(key.expose()).into_bytes());
            Ok((
                SealConfig::KeyFile,
                key,
                InitOutput {
                    key_file: Some(hex_key),
                    shares: vec![],
                },
            ))
        }
        InitMethod::Shamir { shares, threshold } => {
            let key = random_key()?;
            let mut set_id = [0u8; shamir::SET_ID_LEN];
            webqx_crypto::rand::fill(&mut set_id).map_err(crate::error::internal)?;
            let printed = shamir::split(key.expose(), threshold, shares, set_id)
                .map_err(|e| KmsError::Invalid(e.to_string()))?;
            let config = SealConfig::Shamir {
                shares,
                threshold,
                set_id: hex::encode(set_id),
            };
            Ok((
                config,
                key,
                InitOutput {
                    key_file: None,
                    shares: printed,
                },
            ))
        }
        InitMethod::Passphrase(phrase) => {
            if phrase.len() < 12 {
                return Err(KmsError::Invalid(
                    "the passphrase must be at least 12 characters; a few unrelated words work well".into(),
                ));
            }
            let salt = webqx_crypto::rand::bytes(SALT_LEN).map_err(crate::error::internal)?;
            let params = Argon2Params::UNSEAL;
            let key = webqx_crypto::kdf::argon2id(phrase.expose(), &salt, params)
                .map_err(crate::error::internal)?;
            let config = SealConfig::Passphrase {
                salt: hex::encode(salt),
                memory_kib: params.memory_kib,
                iterations: params.iterations,
                parallelism: params.parallelism,
            };
            Ok((config, key, InitOutput::default()))
        }
        InitMethod::Pkcs11 { .. } => Err(KmsError::Internal(
            "a PKCS#11 seal has no unseal key".into(),
        )),
    }
}
