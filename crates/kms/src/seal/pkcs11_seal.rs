//! The PKCS#11 seal: the root key encrypted inside an HSM, and the automatic unseal.
//!
//! At initialization a fresh AES-256 key is generated in the token and encrypts the root
//! key with `CKM_AES_GCM` (random 96-bit IV, AAD naming the purpose). The seal row keeps
//! the ciphertext, and the configuration keeps the module path, token label, key label
//! and id, mechanism and IV; never the PIN, which the server reads from a file or the
//! environment at each attempt.
//!
//! Unsealing asks the HSM to decrypt. The server tries at start-up and on every scheduler
//! tick while sealed, so an HSM that comes back unseals the service without a restart;
//! an operator's deliberate `sys seal` holds the service sealed until an explicit
//! `POST /v1/sys/unseal`. Every attempt is audited with the module and token label.

use super::{SealConfig, seal_kind};
use crate::pkcs11::{self, IV_LEN, KeyRef, Pkcs11Login};
use crate::{InitOutput, Kms, KmsError};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use webqx_audit::RequestContext;
use webqx_crypto::SecretBytes;

/// Additional data bound to the HSM's encryption of the root key.
const PKCS11_ROOT_AAD: &[u8] = b"webqx-root-v1\0pkcs11";
const MECHANISM: &str = "CKM_AES_GCM";

/// What the server knows at an unseal attempt: overrides of the stored module path and
/// token label (from its configuration), and the PIN or why it could not be read.
pub struct Pkcs11Access {
    /// Module path to use instead of the one recorded at initialization.
    pub module: Option<PathBuf>,
    /// Token label to use instead of the one recorded at initialization.
    pub token_label: Option<String>,
    /// The user PIN, or a message saying why it is not available.
    pub pin: Result<SecretBytes, String>,
}

impl std::fmt::Debug for Pkcs11Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Access")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .finish_non_exhaustive()
    }
}

/// State of the PKCS#11 seal in this process.
#[derive(Debug, Default)]
pub struct HsmState {
    last_error: Mutex<Option<String>>,
    /// Sealed on purpose by an operator: no automatic unseal until an explicit one.
    held: AtomicBool,
    /// The PIN the token last refused: automatic attempts do not try it again.
    refused_pin: Mutex<Option<SecretBytes>>,
    turn: tokio::sync::Mutex<()>,
    /// The login that last opened the seal (or made it), kept while unsealed so that keys
    /// living in the token (the CA root) can sign; dropped when sealed.
    login: Mutex<Option<Pkcs11Login>>,
}

impl HsmState {
    /// Why the last attempt failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn set_error(&self, error: Option<String>) {
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = error;
        }
    }

    fn was_refused(&self, pin: &SecretBytes) -> bool {
        use subtle::ConstantTimeEq;
        self.refused_pin.lock().ok().is_some_and(|r| {
            r.as_ref()
                .is_some_and(|r| bool::from(r.expose().ct_eq(pin.expose())))
        })
    }

    fn set_refused(&self, pin: Option<SecretBytes>) {
        if let Ok(mut slot) = self.refused_pin.lock() {
            *slot = pin;
        }
    }

    pub(crate) fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
        self.set_login(None);
    }

    pub(crate) fn set_login(&self, login: Option<Pkcs11Login>) {
        if let Ok(mut slot) = self.login.lock() {
            *slot = login;
        }
    }

    fn login(&self) -> Option<Pkcs11Login> {
        self.login.lock().ok().and_then(|l| l.clone())
    }
}

/// Generates the wrapping key in the token and encrypts `root` with it.
pub(super) async fn seal_new_root(
    hsm: &HsmState,
    login: Pkcs11Login,
    key_label: String,
    root: &SecretBytes,
) -> Result<(SealConfig, Vec<u8>, InitOutput), KmsError> {
    if key_label.is_empty() || key_label.len() > 64 {
        return Err(KmsError::Invalid(
            "the HSM key label must be 1 to 64 characters (seal.key_label)".into(),
        ));
    }
    let mut iv = [0u8; IV_LEN];
    webqx_crypto::rand::fill(&mut iv).map_err(crate::error::internal)?;
    let root = root.clone();
    let (key, sealed, login) = blocking(move || {
        let key = pkcs11::generate_key(&login, &key_label)?;
        let sealed = pkcs11::encrypt(&login, &key, &iv, PKCS11_ROOT_AAD, &root)?;
        Ok((key, sealed, login))
    })
    .await?;
    hsm.set_login(Some(login.clone()));
    let config = SealConfig::Pkcs11 {
        module: login.module.display().to_string(),
        token_label: login.token_label.clone(),
        key_label: key.label,
        key_id: hex::encode(key.id),
        mechanism: MECHANISM.into(),
        iv: hex::encode(iv),
    };
    Ok((config, sealed, InitOutput::default()))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KmsError> + Send + 'static,
) -> Result<T, KmsError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KmsError::Internal(format!("PKCS#11 task failed: {e}")))?
}

/// The stored seal, read back into what the HSM needs.
struct Stored {
    module: PathBuf,
    token_label: String,
    key: KeyRef,
    iv: [u8; IV_LEN],
}

/// Reads the stored seal; `access` may override the module path and token label.
fn stored(config: SealConfig, access: Option<&Pkcs11Access>) -> Result<Stored, KmsError> {
    let SealConfig::Pkcs11 {
        module,
        token_label,
        key_label,
        key_id,
        mechanism,
        iv,
    } = config
    else {
        return Err(KmsError::WrongUnsealMethod("not with an HSM"));
    };
    let unreadable = |what: &str| KmsError::Internal(format!("stored seal {what} unreadable"));
    if mechanism != MECHANISM {
        return Err(unreadable("mechanism"));
    }
    let iv = hex::decode(iv)
        .ok()
        .and_then(|v| <[u8; IV_LEN]>::try_from(v).ok())
        .ok_or_else(|| unreadable("IV"))?;
    let id = hex::decode(key_id).map_err(|_| unreadable("key id"))?;
    Ok(Stored {
        module: access
            .and_then(|a| a.module.clone())
            .unwrap_or_else(|| module.into()),
        token_label: access
            .and_then(|a| a.token_label.clone())
            .unwrap_or(token_label),
        key: KeyRef {
            label: key_label,
            id,
        },
        iv,
    })
}

/// Opens a root key sealed by the HSM without a running service (to open a backup):
/// `config` and `sealed` come from the backup's seal block. Blocking.
///
/// # Errors
/// [`KmsError::WrongUnsealMethod`] for another seal kind, [`KmsError::Hsm`] when the HSM
/// cannot be reached or refuses the PIN, [`KmsError::UnsealFailed`] when its key does
/// not open `sealed`.
pub(crate) fn open_root_offline(
    config: SealConfig,
    access: &Pkcs11Access,
    sealed: &[u8],
) -> Result<SecretBytes, KmsError> {
    let s = stored(config, Some(access))?;
    let pin = access.pin.clone().map_err(KmsError::Hsm)?;
    let login = Pkcs11Login {
        module: s.module,
        token_label: s.token_label,
        pin,
    };
    let root = pkcs11::decrypt(&login, &s.key, &s.iv, PKCS11_ROOT_AAD, sealed)?;
    if root.len() != 32 {
        return Err(KmsError::UnsealFailed(
            "the HSM returned a root key of the wrong length".into(),
        ));
    }
    Ok(root)
}

impl Kms {
    /// Whether this service is sealed by a PKCS#11 HSM.
    ///
    /// # Errors
    /// [`KmsError::Store`] if the store cannot be read.
    pub async fn is_pkcs11_sealed(&self) -> Result<bool, KmsError> {
        Ok(self
            .seal_row()
            .await?
            .is_some_and(|(c, _)| seal_kind(&c) == "pkcs11"))
    }

    /// Why the last PKCS#11 unseal failed, if it did.
    pub fn last_hsm_error(&self) -> Option<String> {
        self.hsm.last_error()
    }

    /// Unseals by asking the HSM to decrypt the root key. `explicit` is false for the
    /// automatic attempts (start-up, scheduler), which do nothing after an operator sealed
    /// the service on purpose; an explicit attempt lifts that hold. Returns whether the
    /// service is unsealed. Every attempt that reaches the seal is audited (module and
    /// token label, never the PIN) and its error kept for [`Kms::seal_status`].
    ///
    /// # Errors
    /// [`KmsError::WrongUnsealMethod`] if not a PKCS#11 seal; [`KmsError::Hsm`] saying
    /// what to fix when the module, token, PIN or key is missing;
    /// [`KmsError::UnsealFailed`] when the HSM key does not open the stored root key.
    pub async fn unseal_with_pkcs11(
        &self,
        ctx: &RequestContext,
        access: Pkcs11Access,
        explicit: bool,
    ) -> Result<bool, KmsError> {
        if !explicit && self.hsm.held.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let _turn = self.hsm.turn.lock().await;
        if !self.is_sealed() {
            return Ok(true);
        }
        let tried_pin = access.pin.as_ref().ok().cloned();
        if let Some(pin) = &tried_pin
            && !explicit
            && self.hsm.was_refused(pin)
        {
            let why = self.hsm.last_error().unwrap_or_default();
            return Err(KmsError::Hsm(
                why.trim_start_matches("HSM unavailable: ").into(),
            ));
        }
        let result = self
            .unseal_attempt(ctx, "pkcs11", async |rec| {
                let config = self.require_seal("pkcs11").await?;
                let (_, sealed) = self.seal_row().await?.ok_or(KmsError::NotInitialized)?;
                let s = stored(config, Some(&access))?;
                rec.detail("module", s.module.display().to_string());
                rec.detail("token_label", s.token_label.as_str());
                rec.detail("explicit", explicit);
                let pin = access.pin.map_err(KmsError::Hsm)?;
                self.open_root_in_hsm(s, pin, sealed).await
            })
            .await;
        match &result {
            Ok(()) => {
                self.hsm.set_error(None);
                self.hsm.set_refused(None);
                self.hsm.held.store(false, Ordering::SeqCst);
            }
            Err(e) => {
                self.hsm.set_error(Some(e.to_string()));
                if pkcs11::is_pin_refused(e) {
                    self.hsm.set_refused(tried_pin);
                }
            }
        }
        result.map(|()| true)
    }

    /// Rotates the HSM key: generates a new key in the token `login` names (the same
    /// HSM or a new one), encrypts the root key in memory under it, checks that it opens,
    /// and replaces the stored seal, audited. The old key is left in its token; delete it
    /// once backups of the store made before the rotation are no longer needed.
    ///
    /// # Errors
    /// [`KmsError::Sealed`]; [`KmsError::WrongUnsealMethod`] if not a PKCS#11 seal;
    /// [`KmsError::Hsm`] when the HSM fails (nothing is changed then).
    pub async fn rewrap_pkcs11(
        &self,
        ctx: &RequestContext,
        login: Pkcs11Login,
        key_label: String,
    ) -> Result<(), KmsError> {
        self.require_seal("pkcs11").await?;
        let root = self.root()?;
        let rec = ctx.record("sys.seal.rewrap", None);
        self.transact(rec, async |tx, rec| {
            rec.detail("module", login.module.display().to_string());
            rec.detail("token_label", login.token_label.as_str());
            rec.detail("key_label", key_label.as_str());
            let (config, sealed, _) = seal_new_root(
                &self.hsm,
                login.clone(),
                key_label,
                &SecretBytes::from_slice(root.expose()),
            )
            .await?;
            let s = stored(config.clone(), None)?;
            rec.detail("key_id", hex::encode(&s.key.id));
            let check = login.clone();
            let sealed_copy = sealed.clone();
            let back = blocking(move || {
                pkcs11::decrypt(&check, &s.key, &s.iv, PKCS11_ROOT_AAD, &sealed_copy)
            })
            .await?;
            if back.expose() != root.expose() {
                return Err(KmsError::Hsm(
                    "the new HSM key did not give the root key back; nothing was changed".into(),
                ));
            }
            let text =
                serde_json::to_string(&config).map_err(|e| KmsError::Internal(e.to_string()))?;
            webqx_store::query("UPDATE seal SET config = $1, sealed_root = $2 WHERE id = 1")
                .bind(&text)
                .bind(&sealed)
                .execute(tx.conn())
                .await?;
            Ok(())
        })
        .await
    }

    async fn open_root_in_hsm(
        &self,
        s: Stored,
        pin: SecretBytes,
        sealed: Vec<u8>,
    ) -> Result<(), KmsError> {
        let login = Pkcs11Login {
            module: s.module,
            token_label: s.token_label,
            pin,
        };
        let (key, iv) = (s.key, s.iv);
        let (root, login) = blocking(move || {
            let root = pkcs11::decrypt(&login, &key, &iv, PKCS11_ROOT_AAD, &sealed)?;
            Ok((root, login))
        })
        .await?;
        if root.len() != 32 {
            return Err(KmsError::Internal(
                "the HSM returned a root key of the wrong length".into(),
            ));
        }
        self.set_root(Some(root));
        self.hsm.set_login(Some(login));
        Ok(())
    }

    /// Generates a P-256 signing key in the seal's token (for the CA root). Needs the
    /// service unsealed by its HSM (or being initialized with it).
    ///
    /// # Errors
    /// [`KmsError::Sealed`]; [`KmsError::Hsm`] when there is no HSM login or it fails.
    pub async fn hsm_generate_signing_key(
        &self,
        label: &str,
    ) -> Result<pkcs11::HsmSigningKey, KmsError> {
        let login = self.hsm_login()?;
        let label = label.to_owned();
        blocking(move || pkcs11::generate_signing_key(&login, &label)).await
    }

    /// The signing key `key` in the seal's token, ready to sign.
    ///
    /// # Errors
    /// As for [`Kms::hsm_generate_signing_key`]; [`KmsError::Hsm`] when the token holds no
    /// such key.
    pub async fn hsm_signing_key(&self, key: KeyRef) -> Result<pkcs11::HsmSigningKey, KmsError> {
        let login = self.hsm_login()?;
        blocking(move || pkcs11::signing_key(&login, key)).await
    }

    fn hsm_login(&self) -> Result<Pkcs11Login, KmsError> {
        if self.is_sealed() {
            return Err(KmsError::Sealed);
        }
        self.hsm.login().ok_or_else(|| {
            KmsError::Hsm(
                "this key lives in the PKCS#11 HSM, but the service was not unsealed by an \
                 HSM in this process; configure [seal] (module, token_label, pin_file) and \
                 restart, or POST /v1/sys/unseal"
                    .into(),
            )
        })
    }
}
