//! The JWS algorithms we implement (RFC 7518 §3, RFC 8037 §3.1).

use crate::error::TokenError;
use std::fmt;

/// A JWS signature or MAC algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// ECDSA P-256 with SHA-256, raw `r||s` signature.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// ECDSA P-521 with SHA-512.
    ES512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (salt length 32).
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// HMAC-SHA-256; only with `oct` keys.
    HS256,
    /// HMAC-SHA-384.
    HS384,
    /// HMAC-SHA-512.
    HS512,
}

/// Every algorithm this crate implements.
const ALL: [Algorithm; 13] = [
    Algorithm::EdDSA,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
];

impl Algorithm {
    /// Every algorithm this crate implements, HMAC included.
    pub const ALL: [Algorithm; 13] = ALL;

    /// Every asymmetric algorithm (what a client's JWKS may be used with).
    pub const ASYMMETRIC: [Algorithm; 10] = [
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];

    /// The `alg` header value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// Reads an `alg` header value (case-sensitive, as RFC 7515 §4.1.1 says).
    ///
    /// # Errors
    /// [`TokenError::AlgNone`] for `none` in any casing, [`TokenError::UnsupportedAlg`]
    /// for anything else we do not implement.
    pub fn from_header(value: &str) -> Result<Self, TokenError> {
        if value.eq_ignore_ascii_case("none") {
            return Err(TokenError::AlgNone);
        }
        ALL.into_iter()
            .find(|alg| alg.as_str() == value)
            .ok_or(TokenError::UnsupportedAlg)
    }

    /// True for the HMAC algorithms.
    #[must_use]
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_refused_in_every_casing() {
        for alg in ALL {
            assert_eq!(Algorithm::from_header(alg.as_str()), Ok(alg));
        }
        for none in ["none", "None", "NONE", "nOnE"] {
            assert_eq!(Algorithm::from_header(none), Err(TokenError::AlgNone));
        }
        assert_eq!(
            Algorithm::from_header("hs256"),
            Err(TokenError::UnsupportedAlg)
        );
        assert_eq!(
            Algorithm::from_header("ES521"),
            Err(TokenError::UnsupportedAlg)
        );
    }
}
