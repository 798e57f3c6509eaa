//! Operations with key rings: encrypt, decrypt, rewrap, data keys, sign, verify, HMAC,
//! export. Each takes a batch (a single call is a batch of one) and answers per item;
//! whatever concerns the whole request (sealed, unknown key, wrong type, disabled) fails
//! the whole request. Every call is audited before it returns.

use crate::keys::KeyRow;
use crate::types::KeyType;
use crate::{Kms, KmsError};
use std::collections::HashMap;
use webqx_audit::{AuditRecord, RequestContext};
use webqx_crypto::envelope::{Envelope, Kind};
use webqx_crypto::sign::{self, SignatureFormat};
use webqx_crypto::{SecretBytes, aead, daead, mac};

/// Plaintext and the context bound to it as associated data.
#[derive(Debug, Clone, Default)]
pub struct Plain {
    /// The data.
    pub plaintext: SecretBytes,
    /// Context (empty for none); decryption must give the same.
    pub context: Vec<u8>,
}

/// A ciphertext (or signature, or MAC) in envelope text form and the version used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// `wqx1:…`.
    pub ciphertext: String,
    /// Key version that made it.
    pub key_version: u32,
}

/// Decrypted data and the version that had made it.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The data.
    pub plaintext: SecretBytes,
    /// Key version of the ciphertext.
    pub key_version: u32,
}

/// A data key: random key material encrypted under a key ring.
#[derive(Debug)]
pub struct DataKey {
    /// The key itself, unless only the wrapped form was asked for.
    pub plaintext: Option<SecretBytes>,
    /// The key encrypted under the key ring; decrypt it later to use it.
    pub ciphertext: String,
    /// Key version that wrapped it.
    pub key_version: u32,
}

/// A signature in envelope form, plus the bare signature for other verifiers.
#[derive(Debug, Clone)]
pub struct Signed {
    /// `wqx1:…`.
    pub signature: String,
    /// The bare signature bytes (DER or P1363 for ECDSA), verifiable with the public key.
    pub raw: Vec<u8>,
    /// Key version that signed.
    pub key_version: u32,
}

/// One item to verify.
#[derive(Debug, Clone)]
pub struct VerifyItem {
    /// The signed or MACed data.
    pub input: Vec<u8>,
    /// Context given when signing (empty for none).
    pub context: Vec<u8>,
    /// The signature or HMAC envelope.
    pub signature: String,
}

const ALG_ECDSA_P1363: u8 = 7;
const ALG_HMAC_SHA512: u8 = 8;
const SIGN_CONTEXT_DOMAIN: &[u8] = b"webqx-sign-ctx-v1\0";

fn aead_alg(key_type: KeyType) -> Option<aead::Algorithm> {
    match key_type {
        KeyType::Aes256Gcm => Some(aead::Algorithm::AesGcm),
        KeyType::ChaCha20Poly1305 => Some(aead::Algorithm::ChaCha20Poly1305),
        _ => None,
    }
}

/// AEAD associated data: the envelope header and the length-prefixed context.
fn aad(header: &[u8], context: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + 4 + context.len());
    out.extend_from_slice(header);
    out.extend_from_slice(
        &u32::try_from(context.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    out.extend_from_slice(context);
    out
}

/// Set in a signature's or MAC's algorithm byte when it was made with a context; verify
/// then requires the context, and one made without a context never verifies with one.
const CONTEXT_BOUND: u8 = 0x80;

/// The message actually signed or MACed: the input itself (so that other tools can
/// verify it with the public key), or with a context, a domain-separated encoding of
/// both. The envelope's [`CONTEXT_BOUND`] bit says which, so neither form can pass for
/// the other.
fn signed_message(input: &[u8], context: &[u8]) -> Vec<u8> {
    if context.is_empty() {
        return input.to_vec();
    }
    let mut m = SIGN_CONTEXT_DOMAIN.to_vec();
    m.extend_from_slice(
        &u32::try_from(context.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    m.extend_from_slice(context);
    m.extend_from_slice(input);
    m
}

/// Material of a key ring, unwrapped on demand and wiped when dropped.
pub(crate) struct Ring {
    pub(crate) key: KeyRow,
    cache: HashMap<u32, SecretBytes>,
    /// Whether `key` was read from the store during this request (not the cache).
    fresh: bool,
}

impl Ring {
    /// A ring of one version held only in memory (fixed key material), for fuzzing and
    /// tests of code that works on loaded rings.
    pub(crate) fn in_memory(name: &str, key_type: KeyType, material: SecretBytes) -> Ring {
        let key = KeyRow {
            name: name.to_owned(),
            id: format!("in-memory-{name}"),
            key_type,
            state: crate::KeyState::Enabled,
            exportable: false,
            latest_version: 1,
            min_decryption_version: 1,
            min_encryption_version: 0,
            auto_rotate_secs: None,
            deletion_due_ms: None,
            created_ms: 0,
            updated_ms: 0,
            rotated_ms: 0,
            destroyed_ms: None,
        };
        Ring {
            key,
            cache: HashMap::from([(1, material)]),
            fresh: true,
        }
    }

    pub(crate) async fn material(
        &mut self,
        kms: &Kms,
        version: u32,
    ) -> Result<&SecretBytes, KmsError> {
        if !self.cache.contains_key(&version) {
            let m = kms.material(&self.key, version).await?;
            self.cache.insert(version, m);
        }
        self.cache
            .get(&version)
            .ok_or_else(|| KmsError::Internal("key cache".into()))
    }

    fn header(&self, kind: Kind, algorithm: u8, version: u32) -> Envelope {
        Envelope {
            kind,
            algorithm,
            key_version: version,
            key_name: self.key.name.clone(),
            payload: Vec::new(),
        }
    }

    fn encryption_version(&self, requested: Option<u32>) -> Result<u32, KmsError> {
        let k = &self.key;
        let Some(v) = requested.filter(|&v| v != 0) else {
            return Ok(k.latest_version);
        };
        let floor = k.min_encryption_version.max(k.min_decryption_version);
        if v < floor || v > k.latest_version {
            return Err(KmsError::KeyVersion(format!(
                "key_version must be between {floor} and {} for key '{}'",
                k.latest_version, k.name
            )));
        }
        Ok(v)
    }

    pub(crate) fn check_decryption_version(&self, v: u32) -> Result<(), KmsError> {
        if v == 0 {
            return Err(KmsError::KeyVersion("key versions start at 1".into()));
        }
        if v < self.key.min_decryption_version {
            return Err(KmsError::KeyVersion(format!(
                "made with version {v} of key '{}', below its min_decryption_version {}; \
                 ask an administrator whether that version may still be used",
                self.key.name, self.key.min_decryption_version
            )));
        }
        Ok(())
    }

    pub(crate) async fn encrypt(
        &mut self,
        kms: &Kms,
        version: u32,
        item: &Plain,
    ) -> Result<Sealed, KmsError> {
        self.material(kms, version).await?;
        self.seal_loaded(version, item)
    }

    /// Re-reads the row from the store (bypassing the cache).
    pub(crate) async fn refresh(&mut self, kms: &Kms) -> Result<(), KmsError> {
        if !self.fresh {
            let row = kms.key_row(kms.store.pool(), &self.key.name).await?;
            kms.cache.put_row(&row);
            row.usable()?;
            self.key = row;
            self.fresh = true;
        }
        Ok(())
    }

    /// Loads every version still allowed to decrypt, for callers that then work without
    /// awaiting (the FHIR walker).
    pub(crate) async fn preload(&mut self, kms: &Kms) -> Result<(), KmsError> {
        for v in self.key.min_decryption_version..=self.key.latest_version {
            self.material(kms, v).await?;
        }
        Ok(())
    }

    /// Encrypts with a version already loaded.
    pub(crate) fn seal_loaded(&self, version: u32, item: &Plain) -> Result<Sealed, KmsError> {
        let key_type = self.key.key_type;
        let mut env = self.header(Kind::Ciphertext, key_type.algorithm_id(), version);
        let header = env.header();
        let material = self.cache.get(&version).ok_or(KmsError::Decrypt)?;
        env.payload = match aead_alg(key_type) {
            Some(alg) => aead::seal(
                alg,
                material.expose(),
                &aad(&header, &item.context),
                item.plaintext.expose(),
            ),
            None => daead::seal(
                material.expose(),
                &[&header, &item.context],
                item.plaintext.expose(),
            ),
        }
        .map_err(crate::error::internal)?;
        Ok(Sealed {
            ciphertext: env.to_text(),
            key_version: version,
        })
    }

    pub(crate) async fn decrypt(
        &mut self,
        kms: &Kms,
        ciphertext: &str,
        context: &[u8],
    ) -> Result<Opened, KmsError> {
        if let Ok(env) = Envelope::parse(ciphertext) {
            self.ensure_version(kms, env.key_version).await?;
        }
        let env = self.parse_ciphertext(ciphertext)?;
        self.material(kms, env.key_version).await?;
        self.open_loaded(&env, context)
    }

    /// A version newer than the (possibly cached) row knows was made on another node
    /// after a rotation: read the row from the store once, and use it if still usable.
    pub(crate) async fn ensure_version(&mut self, kms: &Kms, version: u32) -> Result<(), KmsError> {
        if version <= self.key.latest_version || self.fresh {
            return Ok(());
        }
        let row = kms.key_row(kms.store.pool(), &self.key.name).await?;
        kms.cache.put_row(&row);
        row.usable()?;
        self.key = row;
        self.fresh = true;
        Ok(())
    }

    /// Parses a ciphertext meant for this ring, refusing (opaquely) anything else.
    pub(crate) fn parse_ciphertext(&self, ciphertext: &str) -> Result<Envelope, KmsError> {
        let env = Envelope::parse(ciphertext).map_err(|_| KmsError::Decrypt)?;
        if env.kind != Kind::Ciphertext
            || env.key_name != self.key.name
            || env.algorithm != self.key.key_type.algorithm_id()
            || env.key_version > self.key.latest_version
        {
            return Err(KmsError::Decrypt);
        }
        self.check_decryption_version(env.key_version)?;
        Ok(env)
    }

    /// Decrypts with a version already loaded.
    pub(crate) fn open_loaded(&self, env: &Envelope, context: &[u8]) -> Result<Opened, KmsError> {
        let header = env.header();
        let material = self.cache.get(&env.key_version).ok_or(KmsError::Decrypt)?;
        let plaintext = match aead_alg(self.key.key_type) {
            Some(alg) => aead::open(alg, material.expose(), &aad(&header, context), &env.payload),
            None => daead::open(material.expose(), &[&header, context], &env.payload),
        }
        .map_err(|_| KmsError::Decrypt)?;
        Ok(Opened {
            plaintext,
            key_version: env.key_version,
        })
    }
}

impl Kms {
    /// Loads a usable key ring of a type that `operation` needs.
    pub(crate) async fn ring(
        &self,
        name: &str,
        operation: &'static str,
        fits: fn(KeyType) -> bool,
    ) -> Result<Ring, KmsError> {
        self.root()?;
        let key = self.cached_row(name).await?;
        key.usable()?;
        if !fits(key.key_type) {
            return Err(KmsError::WrongKeyType {
                operation,
                key_type: key.key_type.as_str(),
            });
        }
        Ok(Ring {
            key,
            cache: HashMap::new(),
            fresh: false,
        })
    }

    pub(crate) fn check_batch(&self, n: usize) -> Result<(), KmsError> {
        if n == 0 {
            return Err(KmsError::Invalid(
                "the batch is empty; send at least one item".into(),
            ));
        }
        if n > self.settings.max_batch_items {
            return Err(KmsError::Invalid(format!(
                "the batch has {n} items; at most {} are accepted per request",
                self.settings.max_batch_items
            )));
        }
        Ok(())
    }

    fn note_contexts<'a>(&self, rec: &mut AuditRecord, contexts: impl Iterator<Item = &'a [u8]>) {
        let hmacs: Vec<serde_json::Value> = contexts
            .filter(|c| !c.is_empty())
            .take(100)
            .map(|c| self.audit.hmac(c))
            .collect();
        if !hmacs.is_empty() {
            rec.hmac.insert("contexts".into(), hmacs.into());
        }
    }

    /// Encrypts each item under the newest version (or `version`, if allowed).
    ///
    /// # Errors
    /// Request-wide failures; per-item results otherwise.
    pub async fn encrypt(
        &self,
        ctx: &RequestContext,
        name: &str,
        items: &[Plain],
        version: Option<u32>,
    ) -> Result<Vec<Result<Sealed, KmsError>>, KmsError> {
        let rec = ctx.record("key.encrypt", Some(format!("key:{name}")));
        self.audited(rec, async |rec| {
            self.check_batch(items.len())?;
            let mut ring = self.ring(name, "encryption", KeyType::encrypts).await?;
            let v = ring.encryption_version(version)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(ring.encrypt(self, v, item).await);
            }
            self.note_contexts(rec, items.iter().map(|i| i.context.as_slice()));
            note_results(rec, &out).detail("key_version", v);
            Ok(out)
        })
        .await
    }

    /// Decrypts each `(ciphertext, context)` item.
    ///
    /// # Errors
    /// Request-wide failures; per-item [`KmsError::Decrypt`] or [`KmsError::KeyVersion`].
    pub async fn decrypt(
        &self,
        ctx: &RequestContext,
        name: &str,
        items: &[(String, Vec<u8>)],
    ) -> Result<Vec<Result<Opened, KmsError>>, KmsError> {
        let rec = ctx.record("key.decrypt", Some(format!("key:{name}")));
        self.audited(rec, async |rec| {
            self.check_batch(items.len())?;
            let mut ring = self.ring(name, "decryption", KeyType::encrypts).await?;
            let mut out = Vec::with_capacity(items.len());
            for (ct, context) in items {
                out.push(ring.decrypt(self, ct, context).await);
            }
            self.note_contexts(rec, items.iter().map(|i| i.1.as_slice()));
            note_results(rec, &out);
            Ok(out)
        })
        .await
    }

    /// Decrypts and re-encrypts each item under the newest version, without the
    /// plaintext leaving the service.
    ///
    /// # Errors
    /// As for [`Kms::decrypt`].
    pub async fn rewrap(
        &self,
        ctx: &RequestContext,
        name: &str,
        items: &[(String, Vec<u8>)],
    ) -> Result<Vec<Result<Sealed, KmsError>>, KmsError> {
        let rec = ctx.record("key.rewrap", Some(format!("key:{name}")));
        self.audited(rec, async |rec| {
            self.check_batch(items.len())?;
            let mut ring = self.ring(name, "rewrapping", KeyType::encrypts).await?;
            let mut out = Vec::with_capacity(items.len());
            for (ct, context) in items {
                let result = match ring.decrypt(self, ct, context).await {
                    Ok(opened) => {
                        let plain = Plain {
                            plaintext: opened.plaintext,
                            context: context.clone(),
                        };
                        // After the decryption: a newer version seen there refreshed the ring.
                        let newest = ring.key.latest_version;
                        ring.encrypt(self, newest, &plain).await
                    }
                    Err(e) => Err(e),
                };
                out.push(result);
            }
            note_results(rec, &out).detail("key_version", ring.key.latest_version);
            Ok(out)
        })
        .await
    }

    /// Generates a data key of `bits` (128, 256 or 512) and returns it wrapped by the key
    /// ring, and in plaintext when `with_plaintext`.
    ///
    /// # Errors
    /// [`KmsError::Invalid`] for other sizes; request-wide failures.
    pub async fn datakey(
        &self,
        ctx: &RequestContext,
        name: &str,
        bits: u32,
        context: &[u8],
        with_plaintext: bool,
    ) -> Result<DataKey, KmsError> {
        let mut rec = ctx.record("key.datakey", Some(format!("key:{name}")));
        rec.detail("bits", bits)
            .detail("plaintext_returned", with_plaintext);
        self.audited(rec, async |rec| {
            if !matches!(bits, 128 | 256 | 512) {
                return Err(KmsError::Invalid("bits must be 128, 256 or 512".into()));
            }
            let mut ring = self
                .ring(name, "data key generation", KeyType::encrypts)
                .await?;
            let v = ring.key.latest_version;
            let key = SecretBytes::new(
                webqx_crypto::rand::bytes(bits as usize / 8).map_err(crate::error::internal)?,
            );
            let plain = Plain {
                plaintext: key,
                context: context.to_vec(),
            };
            let sealed = ring.encrypt(self, v, &plain).await?;
            self.note_contexts(rec, std::iter::once(context));
            rec.detail("key_version", v);
            Ok(DataKey {
                plaintext: with_plaintext.then_some(plain.plaintext),
                ciphertext: sealed.ciphertext,
                key_version: v,
            })
        })
        .await
    }

    /// Signs each `(input, context)` item with the newest version.
    ///
    /// # Errors
    /// Request-wide failures.
    pub async fn sign(
        &self,
        ctx: &RequestContext,
        name: &str,
        items: &[(Vec<u8>, Vec<u8>)],
        format: SignatureFormat,
    ) -> Result<Vec<Result<Signed, KmsError>>, KmsError> {
        let rec = ctx.record("key.sign", Some(format!("key:{name}")));
        self.audited(rec, async |rec| {
            self.check_batch(items.len())?;
            let mut ring = self.ring(name, "signing", KeyType::signs).await?;
            if ring.key.key_type == KeyType::Ed25519 && format == SignatureFormat::P1363 {
                return Err(KmsError::Invalid(
                    "signature_format applies to ECDSA keys; Ed25519 has one encoding".into(),
                ));
            }
            let v = ring.key.latest_version;
            let (alg, id) = signing_alg(ring.key.key_type, format);
            let material = ring.material(self, v).await?.clone();
            let mut out = Vec::with_capacity(items.len());
            for (input, context) in items {
                let result = sign::sign(
                    alg,
                    material.expose(),
                    &signed_message(input, context),
                    format,
                )
                .map_err(crate::error::internal)
                .map(|raw| {
                    let mut env = ring.header(Kind::Signature, id | context_bit(context), v);
                    env.payload = raw.clone();
                    Signed {
                        signature: env.to_text(),
                        raw,
                        key_version: v,
                    }
                });
                out.push(result);
            }
            self.note_contexts(rec, items.iter().map(|i| i.1.as_slice()));
            note_results(rec, &out).detail("key_version", v);
            Ok(out)
        })
        .await
    }

    /// Computes HMACs of each input with the newest version.
    ///
    /// # Errors
    /// Request-wide failures.
    pub async fn hmac(
        &self,
        ctx: &RequestContext,
        name: &str,
        inputs: &[(Vec<u8>, Vec<u8>)],
        sha512: bool,
    ) -> Result<Vec<Result<Sealed, KmsError>>, KmsError> {
        let rec = ctx.record("key.hmac", Some(format!("key:{name}")));
        self.audited(rec, async |rec| {
            self.check_batch(inputs.len())?;
            let mut ring = self.ring(name, "HMAC", |t| t == KeyType::Hmac).await?;
            let v = ring.key.latest_version;
            let (alg, id) = hmac_alg(sha512);
            let material = ring.material(self, v).await?.clone();
            let out: Vec<Result<Sealed, KmsError>> = inputs
                .iter()
                .map(|(input, context)| {
                    let mut env = ring.header(Kind::Mac, id | context_bit(context), v);
                    env.payload = mac::tag(alg, material.expose(), &signed_message(input, context));
                    Ok(Sealed {
                        ciphertext: env.to_text(),
                        key_version: v,
                    })
                })
                .collect();
            note_results(rec, &out).detail("key_version", v);
            Ok(out)
        })
        .await
    }

    /// Verifies signatures (signing keys) or HMACs (HMAC keys). `Ok(false)` for a
    /// signature that does not match; an item error for one that is malformed or made
    /// with a version no longer allowed.
    ///
    /// # Errors
    /// Request-wide failures.
    pub async fn verify(
        &self,
        ctx: &RequestContext,
        name: &str,
        items: &[VerifyItem],
    ) -> Result<Vec<Result<bool, KmsError>>, KmsError> {
        let rec = ctx.record("key.verify", Some(format!("key:{name}")));
        self.audited(rec, async |rec| {
            self.check_batch(items.len())?;
            let fits = |t: KeyType| t.signs() || t == KeyType::Hmac;
            let mut ring = self.ring(name, "verification", fits).await?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(self.verify_one(&mut ring, item).await);
            }
            let failed = out.iter().filter(|r| !matches!(r, Ok(true))).count();
            rec.detail("items", out.len())
                .detail("not_verified", failed);
            Ok(out)
        })
        .await
    }

    async fn verify_one(&self, ring: &mut Ring, item: &VerifyItem) -> Result<bool, KmsError> {
        let env = Envelope::parse(&item.signature)
            .map_err(|e| KmsError::Invalid(format!("signature: {e}")))?;
        if env.key_name != ring.key.name {
            return Err(KmsError::Invalid(format!(
                "the signature was made with key '{}', not '{}'",
                env.key_name, ring.key.name
            )));
        }
        ring.ensure_version(self, env.key_version).await?;
        if env.key_version > ring.key.latest_version {
            return Ok(false);
        }
        ring.check_decryption_version(env.key_version)?;
        if env.algorithm & CONTEXT_BOUND != context_bit(&item.context) {
            return Ok(false);
        }
        let algorithm = env.algorithm & !CONTEXT_BOUND;
        let message = signed_message(&item.input, &item.context);
        let key_type = ring.key.key_type;
        let material = ring.material(self, env.key_version).await?;
        if key_type == KeyType::Hmac {
            let alg = match algorithm {
                a if a == KeyType::Hmac.algorithm_id() => mac::Algorithm::Sha256,
                ALG_HMAC_SHA512 => mac::Algorithm::Sha512,
                _ => return Ok(false),
            };
            let full = env.kind == Kind::Mac && env.payload.len() == alg.tag_len();
            return Ok(full && mac::verify(alg, material.expose(), &message, &env.payload));
        }
        let format = if algorithm == ALG_ECDSA_P1363 {
            SignatureFormat::P1363
        } else {
            SignatureFormat::Der
        };
        let (alg, id) = signing_alg(key_type, format);
        if env.kind != Kind::Signature || algorithm != id {
            return Ok(false);
        }
        let public = sign::public_key(alg, material.expose()).map_err(crate::error::internal)?;
        Ok(sign::verify(alg, &public, &message, &env.payload, format))
    }

    /// Exports the material of every version still allowed to decrypt (or of one
    /// version), for keys created exportable. Symmetric keys come as raw bytes, signing
    /// keys as PKCS#8 DER.
    ///
    /// # Errors
    /// [`KmsError::NotExportable`] unless created exportable; request-wide failures.
    pub async fn export(
        &self,
        ctx: &RequestContext,
        name: &str,
        version: Option<u32>,
    ) -> Result<Vec<(u32, SecretBytes)>, KmsError> {
        let rec = ctx.record("key.export", Some(format!("key:{name}")));
        self.audited(rec, async |rec| {
            let mut ring = self.ring(name, "export", |_| true).await?;
            if !ring.key.exportable {
                return Err(KmsError::NotExportable(name.to_owned()));
            }
            let versions: Vec<u32> = match version {
                Some(v) => {
                    ring.check_decryption_version(v)?;
                    if v > ring.key.latest_version {
                        return Err(KmsError::KeyVersion(format!(
                            "key '{name}' has no version {v}"
                        )));
                    }
                    vec![v]
                }
                None => (ring.key.min_decryption_version..=ring.key.latest_version).collect(),
            };
            let mut out = Vec::with_capacity(versions.len());
            for v in versions {
                out.push((v, ring.material(self, v).await?.clone()));
            }
            rec.detail(
                "versions",
                out.iter().map(|(v, _)| *v).collect::<Vec<u32>>(),
            );
            Ok(out)
        })
        .await
    }
}

fn signing_alg(key_type: KeyType, format: SignatureFormat) -> (sign::Algorithm, u8) {
    match (key_type, format) {
        (KeyType::EcdsaP256, SignatureFormat::P1363) => {
            (sign::Algorithm::EcdsaP256, ALG_ECDSA_P1363)
        }
        (KeyType::EcdsaP256, SignatureFormat::Der) => (
            sign::Algorithm::EcdsaP256,
            KeyType::EcdsaP256.algorithm_id(),
        ),
        _ => (sign::Algorithm::Ed25519, KeyType::Ed25519.algorithm_id()),
    }
}

fn context_bit(context: &[u8]) -> u8 {
    if context.is_empty() { 0 } else { CONTEXT_BOUND }
}

fn hmac_alg(sha512: bool) -> (mac::Algorithm, u8) {
    if sha512 {
        (mac::Algorithm::Sha512, ALG_HMAC_SHA512)
    } else {
        (mac::Algorithm::Sha256, KeyType::Hmac.algorithm_id())
    }
}

fn note_results<'r, T>(
    rec: &'r mut AuditRecord,
    out: &[Result<T, KmsError>],
) -> &'r mut AuditRecord {
    let failed = out.iter().filter(|r| r.is_err()).count();
    rec.detail("items", out.len()).detail("failed", failed);
    if let Some(Err(e)) = out.iter().find(|r| r.is_err()) {
        rec.detail("first_error", e.kind());
        if failed == out.len() {
            // Nothing succeeded: the client got an error, and so does the record.
            rec.fail(webqx_audit::Outcome::Failure, e.kind());
        }
    }
    rec
}
