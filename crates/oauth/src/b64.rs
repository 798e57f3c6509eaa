//! Strict base64url (RFC 7515 §2): the URL-safe alphabet, no padding, no whitespace, and
//! unused trailing bits must be zero, so every byte string has exactly one encoding.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes strict base64url; `None` for anything else.
pub(crate) fn decode(text: &[u8]) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Encodes bytes as base64url without padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_padding_other_alphabets_and_whitespace() {
        assert_eq!(decode(b"Zm9v").as_deref(), Some(&b"foo"[..]));
        assert!(decode(b"Zm8=").is_none());
        assert!(decode(b"Zm8").is_some());
        assert!(decode(b"a+b/").is_none());
        assert!(decode(b"Zm 9v").is_none());
        assert!(decode(b"Zm9v\n").is_none());
    }

    #[test]
    fn refuses_nonzero_trailing_bits() {
        // "AA" is the one encoding of a single zero byte; "AB" sets unused bits.
        assert_eq!(decode(b"AA").as_deref(), Some(&[0u8][..]));
        assert!(decode(b"AB").is_none());
    }
}
