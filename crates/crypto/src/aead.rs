//! Authenticated encryption with associated data: AES-GCM and ChaCha20-Poly1305.
//!
//! Only 96-bit nonces are accepted, as NIST SP 800-38D recommends and as every
//! ciphertext this product writes uses; other lengths are refused with
//! [`Error::NonceLength`] rather than hashed into a counter block.

use crate::{Error, SecretBytes};
use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};

/// Nonce length in bytes for every algorithm here.
pub const NONCE_LEN: usize = 12;
/// Tag length in bytes for every algorithm here.
pub const TAG_LEN: usize = 16;

/// An AEAD algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// AES-GCM; the key length (16, 24 or 32 bytes) picks AES-128, -192 or -256.
    /// Keys this product creates are always 32 bytes.
    AesGcm,
    /// ChaCha20-Poly1305 (RFC 8439), 32-byte keys.
    ChaCha20Poly1305,
}

impl Algorithm {
    fn provider(self, key_len: usize) -> Result<&'static aead::Algorithm, Error> {
        match (self, key_len) {
            (Algorithm::AesGcm, 16) => Ok(&aead::AES_128_GCM),
            (Algorithm::AesGcm, 24) => Ok(&aead::AES_192_GCM),
            (Algorithm::AesGcm, 32) => Ok(&aead::AES_256_GCM),
            (Algorithm::AesGcm, got) => Err(Error::KeyLength {
                expected: "16, 24 or 32",
                got,
            }),
            (Algorithm::ChaCha20Poly1305, 32) => Ok(&aead::CHACHA20_POLY1305),
            (Algorithm::ChaCha20Poly1305, got) => Err(Error::KeyLength {
                expected: "32",
                got,
            }),
        }
    }

    fn key(self, key: &[u8]) -> Result<LessSafeKey, Error> {
        let alg = self.provider(key.len())?;
        let unbound = UnboundKey::new(alg, key).map_err(|_| Error::InvalidKey)?;
        Ok(LessSafeKey::new(unbound))
    }
}

fn nonce(bytes: &[u8]) -> Result<Nonce, Error> {
    Nonce::try_assume_unique_for_key(bytes).map_err(|_| Error::NonceLength { got: bytes.len() })
}

/// Encrypts `plaintext` with an explicit nonce; returns ciphertext followed by the tag.
///
/// The caller guarantees the nonce is never reused with the key; prefer [`seal`].
///
/// # Errors
/// [`Error::KeyLength`] or [`Error::NonceLength`] for malformed parameters.
pub fn seal_with_nonce(
    alg: Algorithm,
    key: &[u8],
    nonce_bytes: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    let key = alg.key(key)?;
    let nonce = nonce(nonce_bytes)?;
    let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buf.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| Error::InvalidParameter("plaintext too long for one AEAD message"))?;
    Ok(buf)
}

/// Decrypts ciphertext-and-tag made by [`seal_with_nonce`].
///
/// # Errors
/// [`Error::Decrypt`] for any authentication failure; parameter errors as for sealing.
pub fn open_with_nonce(
    alg: Algorithm,
    key: &[u8],
    nonce_bytes: &[u8],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<SecretBytes, Error> {
    let key = alg.key(key)?;
    let nonce = nonce(nonce_bytes)?;
    // Wiped on every path: on failure it may hold unauthenticated plaintext.
    let mut bytes = zeroize::Zeroizing::new(ciphertext_and_tag.to_vec());
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad), &mut bytes)
        .map_err(|_| Error::Decrypt)?
        .len();
    bytes.truncate(plain_len);
    Ok(SecretBytes::new(std::mem::take(&mut *bytes)))
}

/// Encrypts with a fresh random nonce; returns `nonce || ciphertext || tag`.
///
/// # Errors
/// [`Error::KeyLength`] for a wrong key; [`Error::Rng`] if randomness fails.
pub fn seal(alg: Algorithm, key: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let mut nonce_bytes = [0u8; NONCE_LEN];
    crate::rand::fill(&mut nonce_bytes)?;
    let sealed = seal_with_nonce(alg, key, &nonce_bytes, aad, plaintext)?;
    let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts `nonce || ciphertext || tag` made by [`seal`].
///
/// # Errors
/// [`Error::Decrypt`] for anything too short, tampered or made with another key or AAD.
pub fn open(alg: Algorithm, key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, Error> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(Error::Decrypt);
    }
    let (nonce_bytes, rest) = sealed.split_at(NONCE_LEN);
    open_with_nonce(alg, key, nonce_bytes, aad, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7u8; 32];

    #[test]
    fn round_trip_both_algorithms() {
        for alg in [Algorithm::AesGcm, Algorithm::ChaCha20Poly1305] {
            let sealed = seal(alg, &KEY, b"ctx", b"Jane Doe").unwrap();
            assert_eq!(sealed.len(), NONCE_LEN + 8 + TAG_LEN);
            let opened = open(alg, &KEY, b"ctx", &sealed).unwrap();
            assert_eq!(opened.expose(), b"Jane Doe");
        }
    }

    #[test]
    fn every_kind_of_damage_is_the_same_error() {
        let sealed = seal(Algorithm::AesGcm, &KEY, b"ctx", b"secret").unwrap();
        let mut flipped = sealed.clone();
        flipped[NONCE_LEN] ^= 1;
        let cases: Vec<(&[u8], &[u8])> = vec![
            (&flipped, b"ctx"),
            (&sealed[..sealed.len() - 1], b"ctx"),
            (&sealed[..5], b"ctx"),
            (&sealed, b"other"),
        ];
        for (ct, aad) in cases {
            assert_eq!(open(Algorithm::AesGcm, &KEY, aad, ct), Err(Error::Decrypt));
        }
        let other_key = [8u8; 32];
        assert_eq!(
            open(Algorithm::AesGcm, &other_key, b"ctx", &sealed),
            Err(Error::Decrypt)
        );
    }

    #[test]
    fn refuses_bad_parameters() {
        assert!(matches!(
            seal(Algorithm::ChaCha20Poly1305, &[0u8; 16], b"", b""),
            Err(Error::KeyLength { .. })
        ));
        assert_eq!(
            seal_with_nonce(Algorithm::AesGcm, &KEY, &[], b"", b"x"),
            Err(Error::NonceLength { got: 0 })
        );
    }
}
