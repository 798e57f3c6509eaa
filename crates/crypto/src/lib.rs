//! Cryptographic primitives for WebQx Security.
//!
//! This crate owns the algorithms and byte formats; it does no I/O and knows nothing
//! about keys' names, storage or policy (that is `webqx-kms`). Everything here is a
//! thin, typed layer over one provider, `aws-lc-rs`, except AES-SIV (RFC 5297), which
//! `aws-lc-rs` does not offer and which comes from RustCrypto's `aes-siv`, and Argon2id
//! and Shamir sharing, which come from RustCrypto's `argon2` and from `vsss-rs`.
//!
//! - [`aead`]: AES-256-GCM and ChaCha20-Poly1305 with 96-bit nonces.
//! - [`daead`]: deterministic AEAD (AES-SIV), for fields that must stay searchable.
//! - [`sign`]: Ed25519 and ECDSA P-256 signatures.
//! - [`tang`]: P-521 points, scalar multiplication (RustCrypto `p521`) and ES512, for
//!   the Tang exchange.
//! - [`mac`]: HMAC-SHA-256/512 with constant-time verification.
//! - [`kdf`]: HKDF-SHA-256 and Argon2id.
//! - [`shamir`]: splitting a secret into shares and combining them.
//! - [`stream`]: the streaming authenticated file format (`WQXF`) and its parallel engine.
//! - [`envelope`]: the self-describing `wqx1:` envelope for ciphertexts, signatures and MACs.
//! - [`secret`]: [`SecretBytes`], the zeroizing owner of every secret this crate returns.

#![forbid(unsafe_code)]

pub mod aead;
pub mod daead;
pub mod envelope;
mod error;
pub mod kdf;
pub mod mac;
pub mod rand;
pub mod secret;
pub mod shamir;
pub mod sign;
pub mod stream;
pub mod tang;

pub use error::Error;
pub use secret::SecretBytes;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 of the concatenation of `parts`, without copying them together.
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for part in parts {
        ctx.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
