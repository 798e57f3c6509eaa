//! Errors. Each says what happened and what to do, and none holds a token, a signature,
//! key material or any other text copied from the input.

use std::fmt;

/// Why a JWK or JWK Set was refused (client registration, key configuration).
///
/// These go back to the operator or client that supplied the keys, so they are specific.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwkError {
    /// The JWK Set is larger than [`crate::jwk::MAX_JWKS_BYTES`].
    TooLarge,
    /// The JWK Set holds more than [`crate::jwk::MAX_KEYS`] keys.
    TooManyKeys,
    /// Not a JSON object, or a member name repeats.
    NotJson,
    /// The set has no `keys` array.
    NoKeysArray,
    /// Key number `index` (from 0) is malformed; `reason` names the member.
    Malformed { index: usize, reason: &'static str },
    /// Key number `index` is of a type or curve we do not verify with.
    Unsupported { index: usize, reason: &'static str },
    /// Key number `index` holds private members (`d`, `p`, `q`, … or an `oct` `k`).
    PrivateMaterial { index: usize },
    /// Key number `index` is an RSA key under 2048 or over 8192 bits.
    RsaSize { index: usize, bits: usize },
    /// Two keys share one `kid`.
    DuplicateKid { index: usize },
    /// An HMAC secret shorter than 32 bytes.
    ShortSecret,
}

impl fmt::Display for JwkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => write!(
                f,
                "the JWK Set is over {} bytes; publish only the signing keys in use",
                crate::jwk::MAX_JWKS_BYTES
            ),
            Self::TooManyKeys => write!(
                f,
                "the JWK Set holds over {} keys; remove retired keys",
                crate::jwk::MAX_KEYS
            ),
            Self::NotJson => {
                f.write_str("the JWK Set is not one JSON object with unique member names")
            }
            Self::NoKeysArray => f.write_str("the JWK Set has no \"keys\" array (RFC 7517 §5)"),
            Self::Malformed { index, reason } => {
                write!(f, "key {index} of the JWK Set is malformed: {reason}")
            }
            Self::Unsupported { index, reason } => write!(
                f,
                "key {index} of the JWK Set is not supported ({reason}); use EC P-256/P-384/\
                 P-521, RSA of 2048 bits or more, or OKP Ed25519"
            ),
            Self::PrivateMaterial { index } => write!(
                f,
                "key {index} of the JWK Set holds private key members; register only the \
                 public key (drop d, p, q, dp, dq, qi, oth, k) and keep the private key secret"
            ),
            Self::RsaSize { index, bits } => write!(
                f,
                "key {index} of the JWK Set is a {bits}-bit RSA key; use 2048 to 8192 bits"
            ),
            Self::DuplicateKid { index } => write!(
                f,
                "key {index} of the JWK Set repeats the kid of an earlier key; give each key \
                 its own kid"
            ),
            Self::ShortSecret => {
                f.write_str("the HMAC secret is under 32 bytes; use at least 32 random bytes")
            }
        }
    }
}

impl std::error::Error for JwkError {}

/// Why a token (access token, client assertion, or bare JWS) was refused.
///
/// [`TokenError::kind`] is a short stable code for metrics and logs; `Display` gives the
/// detail for the diagnostic log (never the token itself); [`TokenError::public_text`]
/// is the only thing a client should see.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than the size limit; refused before any decoding.
    TooLarge { len: usize, max: usize },
    /// Not well-formed; `what` names the part.
    Malformed(&'static str),
    /// `alg` is `none` in some casing.
    AlgNone,
    /// `alg` is not one we implement.
    UnsupportedAlg,
    /// `alg` is one we implement but the verifier was not configured to accept.
    AlgNotAllowed,
    /// A header member we refuse (`jku`, `x5u`, `jwk`, `x5c`, `crit`, `b64`, or an
    /// unprotected header in the JSON serializations).
    ForbiddenHeader(&'static str),
    /// No key in the set has the token's `kid` (or no `kid` and several candidates).
    UnknownKey,
    /// The key found may not verify this `alg` (type, curve, `alg`, `use`, `key_ops`).
    KeyMismatch(&'static str),
    /// The signature or MAC does not verify.
    BadSignature,
    /// The `typ` header is missing or not the one this profile requires.
    WrongType,
    /// A required claim is missing.
    MissingClaim(&'static str),
    /// A claim has the wrong JSON type or an out-of-range value.
    InvalidClaim(&'static str),
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iss` is not the expected issuer.
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    WrongAudience,
    /// A client assertion's `exp` is further ahead than allowed.
    LifetimeTooLong,
    /// A client assertion's `iss` and `sub` differ.
    SubjectMismatch,
}

impl TokenError {
    /// A short, stable code for metrics labels and log fields.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::Malformed(_) => "malformed",
            Self::AlgNone => "alg_none",
            Self::UnsupportedAlg => "unsupported_alg",
            Self::AlgNotAllowed => "alg_not_allowed",
            Self::ForbiddenHeader(_) => "forbidden_header",
            Self::UnknownKey => "unknown_key",
            Self::KeyMismatch(_) => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::WrongType => "wrong_typ",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "iat_in_future",
            Self::WrongIssuer => "wrong_iss",
            Self::WrongAudience => "wrong_aud",
            Self::LifetimeTooLong => "exp_too_far",
            Self::SubjectMismatch => "iss_sub_mismatch",
        }
    }

    /// The text to show a client: deliberately the same for every failure, so a caller
    /// probing the verifier learns nothing about which check failed.
    #[must_use]
    pub fn public_text(&self) -> &'static str {
        "the token is not valid"
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => {
                write!(f, "token of {len} bytes is over the {max}-byte limit")
            }
            Self::Malformed(what) => write!(f, "malformed token: {what}"),
            Self::AlgNone => f.write_str("unsecured token (alg none) refused"),
            Self::UnsupportedAlg => f.write_str("token alg is not a supported JWS algorithm"),
            Self::AlgNotAllowed => f.write_str("token alg is not among the configured ones"),
            Self::ForbiddenHeader(name) => write!(f, "token header {name} is refused"),
            Self::UnknownKey => f.write_str("no registered key matches the token's kid"),
            Self::KeyMismatch(why) => write!(f, "the matching key may not verify it: {why}"),
            Self::BadSignature => f.write_str("token signature does not verify"),
            Self::WrongType => f.write_str("token typ header is missing or wrong"),
            Self::MissingClaim(name) => write!(f, "token lacks the {name} claim"),
            Self::InvalidClaim(name) => write!(f, "token claim {name} has a bad type or value"),
            Self::Expired => f.write_str("token expired (exp is past, beyond the leeway)"),
            Self::NotYetValid => f.write_str("token not yet valid (nbf is ahead of the leeway)"),
            Self::IssuedInFuture => f.write_str("token iat is in the future beyond the leeway"),
            Self::WrongIssuer => f.write_str("token iss is not the expected issuer"),
            Self::WrongAudience => f.write_str("token aud does not name this audience"),
            Self::LifetimeTooLong => f.write_str("client assertion exp is too far ahead"),
            Self::SubjectMismatch => f.write_str("client assertion iss and sub differ"),
        }
    }
}

impl std::error::Error for TokenError {}

/// Why signing failed (the signer's key store refused or failed).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The signer could not produce a signature; `what` says where.
    Signer(&'static str),
    /// The claims could not be serialized.
    Claims,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Signer(what) => write!(f, "signing failed in the key service: {what}"),
            Self::Claims => f.write_str("the token claims could not be serialized"),
        }
    }
}

impl std::error::Error for SignError {}
