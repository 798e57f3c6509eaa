//! HMAC with SHA-256 or SHA-512, verified in constant time.

use aws_lc_rs::hmac;

/// Shortest tag [`verify`] accepts, in bytes (half of SHA-256's output, RFC 2104 §5).
pub const MIN_TAG_LEN: usize = 16;

/// An HMAC algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA-256, 32-byte tags.
    Sha256,
    /// HMAC-SHA-512, 64-byte tags.
    Sha512,
}

impl Algorithm {
    fn provider(self) -> hmac::Algorithm {
        match self {
            Algorithm::Sha256 => hmac::HMAC_SHA256,
            Algorithm::Sha512 => hmac::HMAC_SHA512,
        }
    }

    /// Full tag length in bytes.
    pub fn tag_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

/// Computes the full HMAC tag of `message`.
pub fn tag(alg: Algorithm, key: &[u8], message: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(alg.provider(), key);
    hmac::sign(&key, message).as_ref().to_vec()
}

/// Checks `expected`, a full or truncated (at least [`MIN_TAG_LEN`] bytes) tag, in
/// constant time.
pub fn verify(alg: Algorithm, key: &[u8], message: &[u8], expected: &[u8]) -> bool {
    if expected.len() < MIN_TAG_LEN || expected.len() > alg.tag_len() {
        return false;
    }
    let full = tag(alg, key, message);
    crate::ct_eq(&full[..expected.len()], expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_case_2() {
        // RFC 4231 §4.3, test case 2.
        let t = tag(Algorithm::Sha256, b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(&t),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(verify(
            Algorithm::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
            &t[..16]
        ));
        assert!(!verify(
            Algorithm::Sha256,
            b"Jefe",
            b"what do ya want for nothing?",
            &t[..15]
        ));
    }
}
