//! The self-describing envelope around every ciphertext, signature and MAC we return.
//!
//! Text form: `wqx1:` followed by standard base64 of the binary form:
//!
//! ```text
//! offset  size  field
//! 0       3     magic "WQX"
//! 3       1     format version (1)
//! 4       1     kind: 1 ciphertext, 2 signature, 3 MAC
//! 5       1     algorithm id (assigned by the key service)
//! 6       4     key version, big-endian, at least 1
//! 10      1     key name length n, 1..=128
//! 11      n     key name, [A-Za-z0-9._-]
//! 11+n    ...   payload (nonce || ciphertext || tag, SIV || ciphertext, or signature)
//! ```
//!
//! The header (everything before the payload) is bound into the AEAD's associated data
//! by the key service, so changing the name, version or algorithm breaks authentication.

use base64::Engine as _;
use std::fmt;

/// Prefix of the text form.
pub const TEXT_PREFIX: &str = "wqx1:";
const MAGIC: &[u8; 3] = b"WQX";
const FORMAT_VERSION: u8 = 1;
/// Longest key name.
pub const MAX_NAME_LEN: usize = 128;

/// What an envelope holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Encrypted data.
    Ciphertext = 1,
    /// A digital signature.
    Signature = 2,
    /// An HMAC tag.
    Mac = 3,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Ciphertext),
            2 => Some(Kind::Signature),
            3 => Some(Kind::Mac),
            _ => None,
        }
    }
}

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// What the payload is.
    pub kind: Kind,
    /// Algorithm id, as the key service assigns them.
    pub algorithm: u8,
    /// Version of the key ring that made it.
    pub key_version: u32,
    /// Name of the key ring that made it.
    pub key_name: String,
    /// The sealed bytes.
    pub payload: Vec<u8>,
}

/// Why bytes are not an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// Text does not start with `wqx1:`.
    Prefix,
    /// The base64 after the prefix is invalid.
    Base64,
    /// Too short to hold the header it announces.
    Truncated,
    /// Magic bytes or format version unknown.
    Format,
    /// Unknown kind byte.
    Kind,
    /// Key version 0.
    Version,
    /// Key name empty, too long or with characters outside `[A-Za-z0-9._-]`.
    Name,
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnvelopeError::Prefix => {
                "does not start with 'wqx1:'; pass the value exactly as returned"
            }
            EnvelopeError::Base64 => "the text after 'wqx1:' is not valid base64",
            EnvelopeError::Truncated => "too short; the value was cut off",
            EnvelopeError::Format => "not a WebQx envelope of a format version this server reads",
            EnvelopeError::Kind => "unknown envelope kind",
            EnvelopeError::Version => "key version 0 does not exist",
            EnvelopeError::Name => "the key name inside is malformed",
        })
    }
}

impl std::error::Error for EnvelopeError {}

/// True for names of 1 to 128 characters from `[A-Za-z0-9._-]`, not starting with `.`
/// or `-`.
pub fn valid_key_name(name: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().all(ok_char)
        && !name.starts_with(['.', '-'])
}

impl Envelope {
    /// The header bytes: everything before the payload.
    pub fn header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(11 + self.key_name.len());
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.push(self.kind as u8);
        out.push(self.algorithm);
        out.extend_from_slice(&self.key_version.to_be_bytes());
        // Names are validated to at most 128 bytes before an envelope is built.
        out.push(self.key_name.len().min(MAX_NAME_LEN) as u8);
        out.extend_from_slice(self.key_name.as_bytes());
        out
    }

    /// The binary form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.header();
        out.extend_from_slice(&self.payload);
        out
    }

    /// The text form, `wqx1:<base64>`.
    pub fn to_text(&self) -> String {
        let mut out = String::from(TEXT_PREFIX);
        base64::engine::general_purpose::STANDARD.encode_string(self.to_bytes(), &mut out);
        out
    }

    /// Parses the binary form.
    ///
    /// # Errors
    /// An [`EnvelopeError`] naming the first problem found.
    pub fn from_bytes(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
        if bytes.len() < 11 {
            return Err(EnvelopeError::Truncated);
        }
        if &bytes[..3] != MAGIC || bytes[3] != FORMAT_VERSION {
            return Err(EnvelopeError::Format);
        }
        let kind = Kind::from_byte(bytes[4]).ok_or(EnvelopeError::Kind)?;
        let algorithm = bytes[5];
        let key_version = u32::from_be_bytes([bytes[6], bytes[7], bytes[8], bytes[9]]);
        if key_version == 0 {
            return Err(EnvelopeError::Version);
        }
        let name_len = usize::from(bytes[10]);
        let name_end = 11 + name_len;
        let name_bytes = bytes.get(11..name_end).ok_or(EnvelopeError::Truncated)?;
        let key_name = std::str::from_utf8(name_bytes).map_err(|_| EnvelopeError::Name)?;
        if !valid_key_name(key_name) {
            return Err(EnvelopeError::Name);
        }
        Ok(Envelope {
            kind,
            algorithm,
            key_version,
            key_name: key_name.to_owned(),
            payload: bytes[name_end..].to_vec(),
        })
    }

    /// Parses the text form.
    ///
    /// # Errors
    /// An [`EnvelopeError`] naming the first problem found.
    pub fn parse(text: &str) -> Result<Envelope, EnvelopeError> {
        let b64 = text
            .trim()
            .strip_prefix(TEXT_PREFIX)
            .ok_or(EnvelopeError::Prefix)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| EnvelopeError::Base64)?;
        Envelope::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Envelope {
        Envelope {
            kind: Kind::Ciphertext,
            algorithm: 1,
            key_version: 3,
            key_name: "phi".into(),
            payload: vec![1, 2, 3],
        }
    }

    #[test]
    fn text_round_trip() {
        let e = sample();
        let t = e.to_text();
        assert!(t.starts_with("wqx1:"));
        assert_eq!(Envelope::parse(&t).unwrap(), e);
    }

    #[test]
    fn malformed_inputs_name_the_problem() {
        assert_eq!(Envelope::parse("vault:v1:abc"), Err(EnvelopeError::Prefix));
        assert_eq!(Envelope::parse("wqx1:***"), Err(EnvelopeError::Base64));
        assert_eq!(Envelope::parse("wqx1:AAAA"), Err(EnvelopeError::Truncated));
        let mut bytes = sample().to_bytes();
        bytes[10] = 200;
        assert_eq!(Envelope::from_bytes(&bytes), Err(EnvelopeError::Truncated));
        let mut bytes = sample().to_bytes();
        bytes[11] = b'/';
        assert_eq!(Envelope::from_bytes(&bytes), Err(EnvelopeError::Name));
        let mut bytes = sample().to_bytes();
        bytes[6..10].copy_from_slice(&[0, 0, 0, 0]);
        assert_eq!(Envelope::from_bytes(&bytes), Err(EnvelopeError::Version));
    }

    #[test]
    fn key_names() {
        assert!(valid_key_name("fhir-phi.v2_x"));
        assert!(!valid_key_name(""));
        assert!(!valid_key_name("../etc"));
        assert!(!valid_key_name("-x"));
        assert!(!valid_key_name(&"a".repeat(129)));
        assert!(!valid_key_name("naïve"));
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Envelope::from_bytes(&bytes);
        }

        #[test]
        fn round_trips(version in 1u32.., name in "[a-z][a-z0-9._-]{0,60}",
                       payload in proptest::collection::vec(any::<u8>(), 0..100)) {
            let e = Envelope { kind: Kind::Signature, algorithm: 4, key_version: version,
                               key_name: name, payload };
            prop_assert_eq!(Envelope::from_bytes(&e.to_bytes()).unwrap(), e);
        }
    }
}
