//! The PKCS#11 side of the HSM seal: a 256-bit AES key generated inside the token
//! (sensitive, never extractable) encrypts and decrypts the root key with `CKM_AES_GCM`
//! inside the HSM.
//!
//! Every call here blocks (the module does I/O to the device): callers run them with
//! `spawn_blocking`. A module keeps process-wide state, so calls into PKCS#11 run one at a
//! time, and each call initializes the module and finalizes it when done: a token that
//! was removed or came back is seen at the next call, without a restart.

use crate::KmsError;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::RawAuthPin;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use webqx_crypto::SecretBytes;

/// Length of the random key id given to the wrapping key, in bytes.
pub const KEY_ID_LEN: usize = 16;
/// Length of the GCM IV, in bytes.
pub const IV_LEN: usize = 12;
const TAG_BITS: u64 = 128;
/// In the error for a refused PIN (see [`is_pin_refused`]).
const PIN_REFUSED: &str = "refused the PIN (CKR_PIN_INCORRECT)";

/// Whether `e` says the token refused the PIN: retrying with the same PIN only brings the
/// token closer to locking it.
pub fn is_pin_refused(e: &KmsError) -> bool {
    matches!(e, KmsError::Hsm(m) if m.contains(PIN_REFUSED))
}

/// Where the HSM is and how to log in. The PIN is never printed (no `Debug` of it).
#[derive(Clone)]
pub struct Pkcs11Login {
    /// Path of the PKCS#11 module (shared library).
    pub module: PathBuf,
    /// Label of the token holding the wrapping key.
    pub token_label: String,
    /// User PIN.
    pub pin: SecretBytes,
}

impl std::fmt::Debug for Pkcs11Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Login")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"..")
            .finish()
    }
}

/// The wrapping key inside the token: found by label and id together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`.
    pub id: Vec<u8>,
}

/// One module loaded per path for the life of the process (unloading and reloading a
/// module is where vendor libraries misbehave); initialized and finalized per call.
fn module(path: &Path) -> Result<Pkcs11, KmsError> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut loaded = MODULES
        .get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .map_err(|_| KmsError::Internal("PKCS#11 module table poisoned".into()))?;
    if let Some(ctx) = loaded.get(path) {
        return Ok(ctx.clone());
    }
    if !path.is_file() {
        return Err(KmsError::Hsm(format!(
            "the PKCS#11 module {} does not exist; set seal.module to the HSM vendor's \
             library (SoftHSM2 on Debian: /usr/lib/softhsm/libsofthsm2.so)",
            path.display()
        )));
    }
    let ctx = Pkcs11::new(path).map_err(|e| {
        KmsError::Hsm(format!(
            "cannot load the PKCS#11 module {}: {e}; check seal.module and that the \
             vendor's library and its dependencies are installed",
            path.display()
        ))
    })?;
    loaded.insert(path.to_owned(), ctx.clone());
    Ok(ctx)
}

/// Runs `work` in a logged-in read-write session on the token, one call at a time.
fn with_session<T>(
    login: &Pkcs11Login,
    work: impl FnOnce(&Session) -> Result<T, KmsError>,
) -> Result<T, KmsError> {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let ctx = module(&login.module)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(hsm_error("initializing the PKCS#11 module", &e)),
    }
    let result = open_and_run(&ctx, login, work);
    if let Err(e) = ctx.finalize() {
        tracing::debug!(error = %e, "C_Finalize failed");
    }
    result
}

fn open_and_run<T>(
    ctx: &Pkcs11,
    login: &Pkcs11Login,
    work: impl FnOnce(&Session) -> Result<T, KmsError>,
) -> Result<T, KmsError> {
    let slot = find_slot(ctx, &login.token_label)?;
    let session = ctx
        .open_rw_session(slot)
        .map_err(|e| hsm_error("opening a session", &e))?;
    let pin = RawAuthPin::new(Box::new(login.pin.expose().to_vec()));
    match session.login_with_raw(UserType::User, &pin) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CkError::Pkcs11(
            RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange,
            _,
        )) => {
            return Err(KmsError::Hsm(format!(
                "the token '{}' {PIN_REFUSED}; fix the file named by seal.pin_file (or \
                 WEBQX_HSM_PIN): automatic attempts wait for a different PIN, since repeated \
                 wrong PINs lock the token",
                login.token_label
            )));
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            return Err(KmsError::Hsm(format!(
                "the token '{}' has locked its user PIN; its security officer must unlock it",
                login.token_label
            )));
        }
        Err(e) => return Err(hsm_error("logging in", &e)),
    }
    let result = work(&session);
    let _ = session.logout();
    result
}

/// SoftHSM and others put a token in any slot: find it by label.
fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Slot, KmsError> {
    let slots = ctx
        .get_slots_with_initialized_token()
        .map_err(|e| hsm_error("listing slots", &e))?;
    let mut seen = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| hsm_error("reading token information", &e))?;
        let found = info.label().trim_end();
        if found == label {
            return Ok(slot);
        }
        seen.push(format!("'{found}'"));
    }
    let seen = if seen.is_empty() {
        "no initialized token at all".to_owned()
    } else {
        format!("tokens present: {}", seen.join(", "))
    };
    Err(KmsError::Hsm(format!(
        "no token labelled '{label}' is reachable through the PKCS#11 module ({seen}); \
         connect the HSM (for SoftHSM2: check SOFTHSM2_CONF and its tokendir) or fix \
         seal.token_label"
    )))
}

fn hsm_error(doing: &str, e: &CkError) -> KmsError {
    KmsError::Hsm(format!(
        "the HSM failed while {doing}: {}; check that the HSM is connected and working",
        short(e)
    ))
}

/// The error without the spec's paragraph that cryptoki's `Display` adds.
fn short(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function:?} returned {rv:?}"),
        other => other.to_string(),
    }
}

fn find_key(session: &Session, key: &KeyRef) -> Result<ObjectHandle, KmsError> {
    let template = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Label(key.label.as_bytes().to_vec()),
        Attribute::Id(key.id.clone()),
    ];
    find_one(
        session,
        &template,
        key,
        "key",
        "Restore the token from its backup: without that key the root key cannot be opened",
    )
}

/// The one object `template` finds; `what` names it in errors, `restore` says what to do
/// when it is missing.
fn find_one(
    session: &Session,
    template: &[Attribute],
    key: &KeyRef,
    what: &str,
    restore: &str,
) -> Result<ObjectHandle, KmsError> {
    let found = session
        .find_objects(template)
        .map_err(|e| hsm_error(&format!("looking for the {what}"), &e))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(KmsError::Hsm(format!(
            "the token has no {what} labelled '{}' with id {}; it was deleted or this is \
             another token. {restore}",
            key.label,
            hex::encode(&key.id)
        ))),
        _ => Err(KmsError::Hsm(format!(
            "the token holds several keys labelled '{}' with id {}; remove the copies",
            key.label,
            hex::encode(&key.id)
        ))),
    }
}

/// Generates the wrapping key in the token: AES-256, token object, private, sensitive,
/// never extractable, usable only to encrypt and decrypt.
///
/// # Errors
/// [`KmsError::Hsm`] when the module, token, PIN or generation fails.
pub fn generate_key(login: &Pkcs11Login, label: &str) -> Result<KeyRef, KmsError> {
    let id = webqx_crypto::rand::bytes(KEY_ID_LEN).map_err(crate::error::internal)?;
    with_session(login, |session| {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.clone()),
        ];
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| hsm_error("generating the wrapping key (CKM_AES_KEY_GEN)", &e))?;
        Ok(())
    })?;
    tracing::debug!(label, id = %hex::encode(&id), "PKCS#11 wrapping key generated");
    Ok(KeyRef {
        label: label.to_owned(),
        id,
    })
}

/// Encrypts `plain` with the token's key (`CKM_AES_GCM`, 128-bit tag), inside the HSM.
///
/// # Errors
/// [`KmsError::Hsm`].
pub fn encrypt(
    login: &Pkcs11Login,
    key: &KeyRef,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    plain: &SecretBytes,
) -> Result<Vec<u8>, KmsError> {
    with_session(login, |session| {
        let handle = find_key(session, key)?;
        let mut iv = *iv;
        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())
            .map_err(|e| hsm_error("preparing CKM_AES_GCM", &e))?;
        session
            .encrypt(&Mechanism::AesGcm(params), handle, plain.expose())
            .map_err(|e| hsm_error("encrypting with CKM_AES_GCM", &e))
    })
}

/// Decrypts with the token's key inside the HSM; the plaintext comes back to us.
///
/// # Errors
/// [`KmsError::Hsm`]; [`KmsError::UnsealFailed`] when the key does not open `sealed`.
pub fn decrypt(
    login: &Pkcs11Login,
    key: &KeyRef,
    iv: &[u8; IV_LEN],
    aad: &[u8],
    sealed: &[u8],
) -> Result<SecretBytes, KmsError> {
    with_session(login, |session| {
        let handle = find_key(session, key)?;
        let mut iv = *iv;
        let params = GcmParams::new(&mut iv, aad, TAG_BITS.into())
            .map_err(|e| hsm_error("preparing CKM_AES_GCM", &e))?;
        match session.decrypt(&Mechanism::AesGcm(params), handle, sealed) {
            Ok(plain) => Ok(SecretBytes::new(plain)),
            Err(CkError::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::GeneralError,
                _,
            )) => Err(KmsError::UnsealFailed(
                "the HSM key does not open the stored root key (the stored seal was \
                 altered, or the key with this label and id was replaced)"
                    .into(),
            )),
            Err(e) => Err(hsm_error("decrypting with CKM_AES_GCM", &e)),
        }
    })
}

/// `CKA_EC_PARAMS` of P-256: the DER of the named curve OID prime256v1
/// (1.2.840.10045.3.1.7, RFC 5480 section 2.1.1.1).
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// An uncompressed P-256 point: 0x04, X, Y.
const P256_POINT_LEN: usize = 65;

/// A P-256 signing key inside the token, with what is needed to sign with it: the login
/// (the PIN is never printed) and its public point. Every signature is made inside the
/// HSM; the private key never leaves it.
#[derive(Clone)]
pub struct HsmSigningKey {
    login: Pkcs11Login,
    key: KeyRef,
    public: Vec<u8>,
}

impl std::fmt::Debug for HsmSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmSigningKey")
            .field("token_label", &self.login.token_label)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl HsmSigningKey {
    /// The key's reference in the token.
    pub fn key(&self) -> &KeyRef {
        &self.key
    }

    /// The uncompressed public point (65 bytes: 0x04, X, Y).
    pub fn public_point(&self) -> &[u8] {
        &self.public
    }

    /// Signs a SHA-256 digest with `CKM_ECDSA` inside the token; returns the raw
    /// signature (r and s, 32 bytes each). Blocks: run it off the async workers.
    ///
    /// # Errors
    /// [`KmsError::Hsm`] when the token cannot be reached, refuses the PIN, or lost the key.
    pub fn sign_digest(&self, digest: &[u8; 32]) -> Result<Vec<u8>, KmsError> {
        let sig = with_session(&self.login, |session| {
            let handle = find_ec_key(session, &self.key, ObjectClass::PRIVATE_KEY)?;
            session
                .sign(&Mechanism::Ecdsa, handle, digest)
                .map_err(|e| hsm_error("signing with CKM_ECDSA", &e))
        })?;
        if sig.len() != 64 {
            return Err(KmsError::Hsm(format!(
                "the HSM returned a {}-byte P-256 signature (expected 64)",
                sig.len()
            )));
        }
        Ok(sig)
    }
}

/// Generates a P-256 key pair in the token for signing: the private key is a token
/// object, private, sensitive, never extractable, and may only sign.
///
/// # Errors
/// [`KmsError::Hsm`] when the module, token, PIN or generation fails.
pub fn generate_signing_key(login: &Pkcs11Login, label: &str) -> Result<HsmSigningKey, KmsError> {
    let id = webqx_crypto::rand::bytes(KEY_ID_LEN).map_err(crate::error::internal)?;
    let key = KeyRef {
        label: label.to_owned(),
        id,
    };
    with_session(login, |session| {
        let public = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Label(key.label.as_bytes().to_vec()),
            Attribute::Id(key.id.clone()),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Derive(false),
            Attribute::Unwrap(false),
            Attribute::Label(key.label.as_bytes().to_vec()),
            Attribute::Id(key.id.clone()),
        ];
        session
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
            .map_err(|e| hsm_error("generating a P-256 key pair (CKM_EC_KEY_PAIR_GEN)", &e))?;
        Ok(())
    })?;
    tracing::debug!(label, id = %hex::encode(&key.id), "PKCS#11 signing key generated");
    signing_key(login, key)
}

/// The signing key `key` names in the token, with its public point read from it.
///
/// # Errors
/// [`KmsError::Hsm`] when the token cannot be reached or holds no such P-256 key.
pub fn signing_key(login: &Pkcs11Login, key: KeyRef) -> Result<HsmSigningKey, KmsError> {
    let public = with_session(login, |session| {
        let handle = find_ec_key(session, &key, ObjectClass::PUBLIC_KEY)?;
        let attrs = session
            .get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
            .map_err(|e| hsm_error("reading the public key", &e))?;
        let mut point = None;
        for attr in attrs {
            match attr {
                Attribute::EcParams(p) if p != P256_PARAMS => {
                    return Err(KmsError::Hsm(format!(
                        "the token's key '{}' is not a P-256 key",
                        key.label
                    )));
                }
                Attribute::EcPoint(p) => point = Some(p),
                _ => {}
            }
        }
        point.ok_or_else(|| KmsError::Hsm("the token gave no public point (CKA_EC_POINT)".into()))
    })?;
    Ok(HsmSigningKey {
        login: login.clone(),
        public: uncompressed_point(&public)?,
        key,
    })
}

/// `CKA_EC_POINT` is a DER OCTET STRING holding the point (PKCS#11 2.40); some tokens
/// give the bare point. Either way the result is the 65-byte uncompressed point.
fn uncompressed_point(raw: &[u8]) -> Result<Vec<u8>, KmsError> {
    let bare = match raw {
        [0x04, 0x41, rest @ ..] if rest.len() == P256_POINT_LEN => rest,
        _ => raw,
    };
    if bare.len() != P256_POINT_LEN || bare.first() != Some(&0x04) {
        return Err(KmsError::Hsm(
            "the token's public point is not an uncompressed P-256 point".into(),
        ));
    }
    Ok(bare.to_vec())
}

fn find_ec_key(
    session: &Session,
    key: &KeyRef,
    class: ObjectClass,
) -> Result<ObjectHandle, KmsError> {
    let template = [
        Attribute::Class(class),
        Attribute::KeyType(KeyType::EC),
        Attribute::Label(key.label.as_bytes().to_vec()),
        Attribute::Id(key.id.clone()),
    ];
    find_one(
        session,
        &template,
        key,
        "P-256 key",
        "Connect the token that holds the CA root key (or restore it from its backup)",
    )
}
