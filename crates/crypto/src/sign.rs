//! Digital signatures: Ed25519 and ECDSA P-256 with SHA-256.
//!
//! Private keys travel as PKCS#8 documents inside [`SecretBytes`]; public keys as the
//! raw encoding (32 bytes for Ed25519, the 65-byte uncompressed point for P-256) and
//! as SubjectPublicKeyInfo DER for export.

use crate::{Error, SecretBytes};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Ed25519 (RFC 8032), pure, 64-byte signatures.
    Ed25519,
    /// ECDSA over P-256 with SHA-256.
    EcdsaP256,
}

/// How an ECDSA signature is encoded. Ed25519 has one encoding and ignores this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureFormat {
    /// ASN.1 DER `SEQUENCE { r, s }`, as X.509 and OpenSSL use.
    #[default]
    Der,
    /// Fixed-width `r || s` (IEEE P1363), as JWS ES256 uses.
    P1363,
}

/// Generates a new private key, as PKCS#8.
///
/// # Errors
/// [`Error::Rng`] if key generation fails.
pub fn generate(alg: Algorithm) -> Result<SecretBytes, Error> {
    let rng = SystemRandom::new();
    let doc = match alg {
        Algorithm::Ed25519 => Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| Error::Rng)?,
        Algorithm::EcdsaP256 => {
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
                .map_err(|_| Error::Rng)?
        }
    };
    Ok(SecretBytes::from_slice(doc.as_ref()))
}

fn ecdsa_pair(pkcs8: &[u8], format: SignatureFormat) -> Result<EcdsaKeyPair, Error> {
    let alg = match format {
        SignatureFormat::Der => &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        SignatureFormat::P1363 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
    };
    EcdsaKeyPair::from_pkcs8(alg, pkcs8).map_err(|_| Error::InvalidKey)
}

fn ed25519_pair(pkcs8: &[u8]) -> Result<Ed25519KeyPair, Error> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(|_| Error::InvalidKey)
}

/// Signs `message`.
///
/// # Errors
/// [`Error::InvalidKey`] if `pkcs8` is not a key of `alg`.
pub fn sign(
    alg: Algorithm,
    pkcs8: &[u8],
    message: &[u8],
    format: SignatureFormat,
) -> Result<Vec<u8>, Error> {
    match alg {
        Algorithm::Ed25519 => Ok(ed25519_pair(pkcs8)?.sign(message).as_ref().to_vec()),
        Algorithm::EcdsaP256 => {
            let pair = ecdsa_pair(pkcs8, format)?;
            let sig = pair
                .sign(&SystemRandom::new(), message)
                .map_err(|_| Error::Rng)?;
            Ok(sig.as_ref().to_vec())
        }
    }
}

/// The raw public key of a private key.
///
/// # Errors
/// [`Error::InvalidKey`] if `pkcs8` is not a key of `alg`.
pub fn public_key(alg: Algorithm, pkcs8: &[u8]) -> Result<Vec<u8>, Error> {
    match alg {
        Algorithm::Ed25519 => Ok(ed25519_pair(pkcs8)?.public_key().as_ref().to_vec()),
        Algorithm::EcdsaP256 => Ok(ecdsa_pair(pkcs8, SignatureFormat::Der)?
            .public_key()
            .as_ref()
            .to_vec()),
    }
}

/// The public key as SubjectPublicKeyInfo DER, for PEM export and other tools.
///
/// # Errors
/// [`Error::InvalidKey`] if `pkcs8` is not a key of `alg`.
pub fn public_key_spki(alg: Algorithm, pkcs8: &[u8]) -> Result<Vec<u8>, Error> {
    let der: PublicKeyX509Der<'static> = match alg {
        Algorithm::Ed25519 => ed25519_pair(pkcs8)?.public_key().as_der(),
        Algorithm::EcdsaP256 => ecdsa_pair(pkcs8, SignatureFormat::Der)?
            .public_key()
            .as_der(),
    }
    .map_err(|_| Error::InvalidKey)?;
    Ok(der.as_ref().to_vec())
}

/// Verifies `signature` over `message` with a raw public key. False for any mismatch,
/// malformed signature or malformed key.
pub fn verify(
    alg: Algorithm,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
    format: SignatureFormat,
) -> bool {
    let verifier: &'static dyn signature::VerificationAlgorithm = match (alg, format) {
        (Algorithm::Ed25519, _) => &signature::ED25519,
        (Algorithm::EcdsaP256, SignatureFormat::Der) => &signature::ECDSA_P256_SHA256_ASN1,
        (Algorithm::EcdsaP256, SignatureFormat::P1363) => &signature::ECDSA_P256_SHA256_FIXED,
    };
    UnparsedPublicKey::new(verifier, public_key)
        .verify(message, signature)
        .is_ok()
}

/// Wraps DER in PEM with the given label, 64 characters a line.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_round_trip_all_forms() {
        let cases = [
            (Algorithm::Ed25519, SignatureFormat::Der),
            (Algorithm::EcdsaP256, SignatureFormat::Der),
            (Algorithm::EcdsaP256, SignatureFormat::P1363),
        ];
        for (alg, format) in cases {
            let key = generate(alg).unwrap();
            let public = public_key(alg, key.expose()).unwrap();
            let sig = sign(alg, key.expose(), b"order 42", format).unwrap();
            assert!(verify(alg, &public, b"order 42", &sig, format));
            assert!(!verify(alg, &public, b"order 43", &sig, format));
            assert!(!public_key_spki(alg, key.expose()).unwrap().is_empty());
        }
    }

    #[test]
    fn garbage_key_is_an_error_not_a_panic() {
        assert_eq!(
            sign(Algorithm::Ed25519, b"junk", b"m", SignatureFormat::Der),
            Err(Error::InvalidKey)
        );
        assert!(!verify(
            Algorithm::EcdsaP256,
            b"junk",
            b"m",
            b"sig",
            SignatureFormat::Der
        ));
    }
}
