//! Key derivation: HKDF-SHA-256 (RFC 5869) and Argon2id (RFC 9106) for passphrases.

use crate::{Error, SecretBytes};
use aws_lc_rs::hkdf;

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-SHA-256 of `ikm` with `salt` and `info`, producing `len` bytes.
///
/// # Errors
/// [`Error::InvalidParameter`] if `len` exceeds 255 × 32 bytes.
pub fn hkdf_sha256(ikm: &[u8], salt: &[u8], info: &[u8], len: usize) -> Result<SecretBytes, Error> {
    const TOO_LONG: Error = Error::InvalidParameter("HKDF output longer than 8160 bytes");
    if len > 255 * 32 {
        return Err(TOO_LONG);
    }
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(ikm);
    let info = [info];
    let okm = prk.expand(&info, Len(len)).map_err(|_| TOO_LONG)?;
    let mut out = vec![0u8; len];
    okm.fill(&mut out).map_err(|_| TOO_LONG)?;
    Ok(SecretBytes::new(out))
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Params {
    /// What this product uses to protect the unseal key: 64 MiB, 3 passes, 1 lane, the
    /// second recommended option of RFC 9106 §4 scaled to a server that derives once per
    /// unseal.
    pub const UNSEAL: Argon2Params = Argon2Params {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };
}

/// Derives a 32-byte key from a passphrase with Argon2id.
///
/// # Errors
/// [`Error::InvalidParameter`] if the parameters or salt are outside Argon2's limits.
pub fn argon2id(
    passphrase: &[u8],
    salt: &[u8],
    params: Argon2Params,
) -> Result<SecretBytes, Error> {
    let p = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|_| Error::InvalidParameter("Argon2 cost parameters out of range"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = vec![0u8; 32];
    a.hash_password_into(passphrase, salt, &mut out)
        .map_err(|_| Error::InvalidParameter("Argon2 salt must be 8 to 64 bytes"))?;
    Ok(SecretBytes::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hkdf_rfc5869_case_1() {
        // RFC 5869 appendix A.1.
        let ikm = [0x0bu8; 22];
        let salt = hex::decode("000102030405060708090a0b0c").unwrap();
        let info = hex::decode("f0f1f2f3f4f5f6f7f8f9").unwrap();
        let okm = hkdf_sha256(&ikm, &salt, &info, 42).unwrap();
        assert_eq!(
            hex::encode(okm.expose()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        assert!(hkdf_sha256(&ikm, &salt, &info, 255 * 32 + 1).is_err());
    }

    #[test]
    fn argon2id_is_deterministic_and_salted() {
        let small = Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let a = argon2id(b"correct horse", b"saltsalt", small).unwrap();
        let b = argon2id(b"correct horse", b"saltsalt", small).unwrap();
        let c = argon2id(b"correct horse", b"saltsal2", small).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(argon2id(b"x", b"short", small).is_err());
    }
}
