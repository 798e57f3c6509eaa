//! Deterministic authenticated encryption: AES-SIV-CMAC (RFC 5297).
//!
//! The same key, associated data and plaintext always give the same ciphertext, which
//! is what lets an encrypted identifier be searched by equality. That is also all it
//! leaks: equal plaintexts are visible as equal ciphertexts, nothing more.
//!
//! Output is `SIV (16 bytes) || ciphertext`. Associated data is a vector of strings,
//! each authenticated separately (RFC 5297's S2V), so no length-prefixing is needed.

use crate::{Error, SecretBytes};
use aes_siv::aead::KeyInit;
use aes_siv::siv::{Aes128Siv, Aes256Siv, CmacSiv};

/// Length of the synthetic IV that prefixes every ciphertext.
pub const SIV_LEN: usize = 16;
/// Key length this product uses: 64 bytes, AES-256-SIV (two 256-bit keys).
pub const KEY_LEN: usize = 64;

type Aes192Siv = CmacSiv<aes::Aes192>;

enum Siv {
    A128(Aes128Siv),
    A192(Aes192Siv),
    A256(Aes256Siv),
}

impl Siv {
    fn new(key: &[u8]) -> Result<Self, Error> {
        let bad = |_| Error::InvalidKey;
        match key.len() {
            32 => Ok(Siv::A128(Aes128Siv::new_from_slice(key).map_err(bad)?)),
            48 => Ok(Siv::A192(Aes192Siv::new_from_slice(key).map_err(bad)?)),
            64 => Ok(Siv::A256(Aes256Siv::new_from_slice(key).map_err(bad)?)),
            got => Err(Error::KeyLength {
                expected: "32, 48 or 64",
                got,
            }),
        }
    }
}

/// Encrypts deterministically. Keys of 32, 48 or 64 bytes select AES-128/192/256-SIV.
///
/// # Errors
/// [`Error::KeyLength`] for a wrong key.
pub fn seal(key: &[u8], associated: &[&[u8]], plaintext: &[u8]) -> Result<Vec<u8>, Error> {
    let result = match Siv::new(key)? {
        Siv::A128(mut s) => s.encrypt(associated, plaintext),
        Siv::A192(mut s) => s.encrypt(associated, plaintext),
        Siv::A256(mut s) => s.encrypt(associated, plaintext),
    };
    result.map_err(|_| Error::InvalidParameter("too many associated data items for AES-SIV"))
}

/// Decrypts what [`seal`] produced.
///
/// # Errors
/// [`Error::Decrypt`] for anything tampered, truncated or made with other associated data.
pub fn open(key: &[u8], associated: &[&[u8]], sealed: &[u8]) -> Result<SecretBytes, Error> {
    if sealed.len() < SIV_LEN {
        return Err(Error::Decrypt);
    }
    let result = match Siv::new(key)? {
        Siv::A128(mut s) => s.decrypt(associated, sealed),
        Siv::A192(mut s) => s.decrypt(associated, sealed),
        Siv::A256(mut s) => s.decrypt(associated, sealed),
    };
    result.map(SecretBytes::new).map_err(|_| Error::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_bound_to_associated_data() {
        let key = [3u8; KEY_LEN];
        let a = seal(&key, &[b"Patient.identifier"], b"999-99-9999").unwrap();
        let b = seal(&key, &[b"Patient.identifier"], b"999-99-9999").unwrap();
        assert_eq!(a, b);
        let other = seal(&key, &[b"Practitioner.identifier"], b"999-99-9999").unwrap();
        assert_ne!(a, other);
        assert_eq!(
            open(&key, &[b"Patient.identifier"], &a).unwrap().expose(),
            b"999-99-9999"
        );
        assert_eq!(open(&key, &[b"x"], &a), Err(Error::Decrypt));
        assert_eq!(
            open(&key, &[b"Patient.identifier"], &a[..10]),
            Err(Error::Decrypt)
        );
    }
}
