use std::fmt;

/// Errors from the primitives.
///
/// Authentication failures are deliberately one variant, [`Error::Decrypt`], whatever
/// went wrong (tag, truncation, wrong key, wrong associated data), so that callers
/// cannot turn the error into an oracle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The key has the wrong length for the algorithm.
    KeyLength { expected: &'static str, got: usize },
    /// The nonce has a length the algorithm does not accept here (only 96-bit nonces).
    NonceLength { got: usize },
    /// Authenticated decryption failed. Opaque on purpose.
    Decrypt,
    /// A private key could not be parsed or generated.
    InvalidKey,
    /// A parameter is outside what the primitive supports; the text says which.
    InvalidParameter(&'static str),
    /// The provider's random number generator failed.
    Rng,
    /// A Shamir share could not be decoded or the shares do not combine.
    Share(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::KeyLength { expected, got } => {
                write!(f, "key is {got} bytes; this algorithm needs {expected}")
            }
            Error::NonceLength { got } => {
                write!(
                    f,
                    "nonce is {got} bytes; only 12-byte (96-bit) nonces are accepted"
                )
            }
            Error::Decrypt => f.write_str(
                "decryption failed: the data is damaged or truncated, or the key or \
                 context differs from the one used to encrypt",
            ),
            Error::InvalidKey => f.write_str("key material is malformed"),
            Error::InvalidParameter(what) => write!(f, "invalid parameter: {what}"),
            Error::Rng => f.write_str("the system random number generator failed"),
            Error::Share(why) => write!(f, "unseal share rejected: {why}"),
        }
    }
}

impl std::error::Error for Error {}
