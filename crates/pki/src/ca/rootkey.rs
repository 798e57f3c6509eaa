//! Where the root CA's key lives and how it signs.
//!
//! Two places: wrapped by the key service like every other CA key (the service secret
//! `ca.key`, unwrapped only to sign), or inside the PKCS#11 HSM that seals the service
//! (`init --hsm`), where it was generated and which it never leaves: every signature
//! over an intermediate or the root's CRL is made by the token.
//!
//! The store records the place in the CA's `key_secret` column: a secret name, or
//! `pkcs11:<label>:<id in hex>` for a key in the token.

use super::CaError;
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use std::sync::Mutex;
use webqx_kms::KmsError;
use webqx_kms::pkcs11::{HsmSigningKey, KeyRef};

const PKCS11_PREFIX: &str = "pkcs11:";

/// Where a CA key is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLocation {
    /// A service secret wrapped by the key service's root key.
    Secret(String),
    /// A P-256 key in the seal's PKCS#11 token.
    Pkcs11(KeyRef),
}

impl KeyLocation {
    /// Reads the stored form (see the module documentation).
    pub fn parse(stored: &str) -> KeyLocation {
        let Some(rest) = stored.strip_prefix(PKCS11_PREFIX) else {
            return KeyLocation::Secret(stored.to_owned());
        };
        match rest.rsplit_once(':').map(|(l, id)| (l, hex::decode(id))) {
            Some((label, Ok(id))) => KeyLocation::Pkcs11(KeyRef {
                label: label.to_owned(),
                id,
            }),
            _ => KeyLocation::Secret(stored.to_owned()),
        }
    }

    /// The stored form.
    pub fn stored(&self) -> String {
        match self {
            KeyLocation::Secret(name) => name.clone(),
            KeyLocation::Pkcs11(key) => {
                format!("{PKCS11_PREFIX}{}:{}", key.label, hex::encode(&key.id))
            }
        }
    }
}

/// A CA key ready to sign, wherever it lives.
pub enum CaSigningKey {
    /// Unwrapped into memory.
    Software(rcgen::KeyPair),
    /// In the HSM.
    Hsm(HsmCaKey),
}

impl CaSigningKey {
    /// A key held in memory, from its PKCS#8 DER.
    ///
    /// # Errors
    /// [`CaError::Internal`] when it does not load.
    pub fn from_pkcs8(pkcs8: &webqx_crypto::SecretBytes) -> Result<CaSigningKey, CaError> {
        super::keys::load(pkcs8).map(CaSigningKey::Software)
    }

    /// What went wrong in the HSM when rcgen reports only that the remote key failed.
    pub(crate) fn explain(&self, e: rcgen::Error) -> CaError {
        match (self, &e) {
            (CaSigningKey::Hsm(k), rcgen::Error::RemoteKeyError) => k.take_error(),
            _ => super::error::internal(e),
        }
    }
}

impl PublicKeyData for CaSigningKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CaSigningKey::Software(k) => k.der_bytes(),
            CaSigningKey::Hsm(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self {
            CaSigningKey::Software(k) => PublicKeyData::algorithm(k),
            CaSigningKey::Hsm(k) => k.algorithm(),
        }
    }
}

impl SigningKey for CaSigningKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CaSigningKey::Software(k) => k.sign(msg),
            CaSigningKey::Hsm(k) => k.sign(msg),
        }
    }
}

/// A P-256 key in the HSM as an rcgen signing key (ECDSA with SHA-256). Each signature
/// is checked against the public key before it is used, so a faulty token cannot put a
/// bad signature into a certificate. Signing blocks on the token: call it off the async
/// workers.
pub struct HsmCaKey {
    key: HsmSigningKey,
    last_error: Mutex<Option<KmsError>>,
}

impl HsmCaKey {
    /// Wraps a key the key service found or generated in the token.
    pub fn new(key: HsmSigningKey) -> HsmCaKey {
        HsmCaKey {
            key,
            last_error: Mutex::new(None),
        }
    }

    /// Where the key is.
    pub fn location(&self) -> KeyLocation {
        KeyLocation::Pkcs11(self.key.key().clone())
    }

    fn take_error(&self) -> CaError {
        let taken = self.last_error.lock().ok().and_then(|mut e| e.take());
        CaError::Kms(taken.unwrap_or_else(|| KmsError::Hsm("the HSM failed to sign".into())))
    }

    fn fail(&self, e: KmsError) -> rcgen::Error {
        tracing::debug!(error = %e, "HSM signature failed");
        if let Ok(mut slot) = self.last_error.lock() {
            *slot = Some(e);
        }
        rcgen::Error::RemoteKeyError
    }
}

impl PublicKeyData for HsmCaKey {
    fn der_bytes(&self) -> &[u8] {
        self.key.public_point()
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

impl SigningKey for HsmCaKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, msg);
        let mut d = [0u8; 32];
        d.copy_from_slice(digest.as_ref());
        let raw = self.key.sign_digest(&d).map_err(|e| self.fail(e))?;
        let der = ecdsa_der(&raw);
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            self.key.public_point(),
        );
        if public.verify(msg, &der).is_err() {
            return Err(self.fail(KmsError::Hsm(
                "the HSM's signature does not verify with its public key; the token is faulty \
                 or holds another key under this label and id"
                    .into(),
            )));
        }
        Ok(der)
    }
}

/// An ECDSA signature as X.509 carries it: SEQUENCE { r INTEGER, s INTEGER } (RFC 3279
/// section 2.2.3), from the raw r || s that PKCS#11 `CKM_ECDSA` returns.
fn ecdsa_der(raw: &[u8]) -> Vec<u8> {
    let (r, s) = raw.split_at(raw.len() / 2);
    yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&der_unsigned(r));
            w.next().write_der(&der_unsigned(s));
        });
    })
}

/// A DER INTEGER holding `bytes` as an unsigned big-endian number: leading zeros
/// dropped, one zero added when the top bit is set.
fn der_unsigned(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let mut value = bytes.get(start..).unwrap_or_default().to_vec();
    if value.first().is_none_or(|&b| b & 0x80 != 0) {
        value.insert(0, 0);
    }
    let mut out = vec![0x02, u8::try_from(value.len()).unwrap_or(u8::MAX)];
    out.extend_from_slice(&value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_round_trip_and_anything_else_is_a_secret_name() {
        let hsm = KeyLocation::Pkcs11(KeyRef {
            label: "webqx-ca-root".into(),
            id: vec![1, 2, 0xff],
        });
        assert_eq!(hsm.stored(), "pkcs11:webqx-ca-root:0102ff");
        assert_eq!(KeyLocation::parse(&hsm.stored()), hsm);
        let secret = KeyLocation::Secret("ca.key".into());
        assert_eq!(KeyLocation::parse("ca.key"), secret);
        assert_eq!(
            KeyLocation::parse("pkcs11:label:not-hex"),
            KeyLocation::Secret("pkcs11:label:not-hex".into())
        );
    }

    #[test]
    fn raw_ecdsa_signatures_become_der_that_verifies() {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _};
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .unwrap();
        let public = signature::UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_ASN1,
            key.public_key().as_ref().to_vec(),
        );
        // Enough signatures that r or s starts with a set top bit and, often, a zero byte.
        for i in 0..300u32 {
            let msg = i.to_be_bytes();
            let raw = key.sign(&rng, &msg).unwrap();
            assert!(public.verify(&msg, &ecdsa_der(raw.as_ref())).is_ok());
        }
    }

    #[test]
    fn integers_are_minimal_and_unsigned() {
        assert_eq!(der_unsigned(&[0, 0]), vec![2, 1, 0]);
        assert_eq!(der_unsigned(&[0, 0x7f]), vec![2, 1, 0x7f]);
        assert_eq!(der_unsigned(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(der_unsigned(&[0, 1, 2]), vec![2, 2, 1, 2]);
    }
}
