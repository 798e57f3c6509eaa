//! JSON Web Signature (RFC 7515): strict parsing of the compact serialization (and of
//! the JSON serializations, for test suites), verification against a [`JwkSet`], and
//! compact signing through a [`JwsSigner`].
//!
//! What is refused, before any key is touched: tokens over [`MAX_TOKEN_BYTES`]; anything
//! but three strict base64url segments; a header that is not one JSON object with
//! unique member names; `alg: none` in any casing and unknown algorithms; the headers
//! `jku`, `x5u`, `jwk`, `x5c` (the token must not choose its key), `crit` (we implement
//! no extensions) and `b64`; in the JSON serializations, unprotected headers.

use crate::alg::Algorithm;
use crate::b64;
use crate::error::{JwkError, SignError, TokenError};
use crate::json::{self, JsonRefusal};
use crate::jwk::{Jwk, JwkSet, is_safe_kid};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// Longest token (or JSON-serialized JWS) accepted, in bytes; checked before decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Header members refused outright (RFC 8725 §3.10 and §2.8; RFC 7515 §4.1.11; RFC 7797).
const FORBIDDEN_HEADERS: [&str; 6] = ["jku", "x5u", "jwk", "x5c", "crit", "b64"];

/// A parsed, integrity-protected JOSE header.
#[derive(Debug, Clone)]
pub struct Header {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
    members: Map<String, Value>,
}

impl Header {
    /// The `alg` header.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` header, as sent (an opaque lookup string, never a path or a query).
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The `typ` header.
    #[must_use]
    pub fn typ(&self) -> Option<&str> {
        self.typ.as_deref()
    }

    /// Any other header member.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members.get(name)
    }

    fn from_base64(encoded: &str) -> Result<Self, TokenError> {
        let bytes = b64::decode(encoded.as_bytes())
            .ok_or(TokenError::Malformed("header is not base64url"))?;
        let members = json::parse_object(&bytes).map_err(|refusal| match refusal {
            JsonRefusal::DuplicateMember => TokenError::Malformed("header repeats a member"),
            _ => TokenError::Malformed("header is not a JSON object"),
        })?;
        Self::from_members(members)
    }

    fn from_members(members: Map<String, Value>) -> Result<Self, TokenError> {
        if let Some(name) = FORBIDDEN_HEADERS
            .iter()
            .find(|name| members.contains_key(**name))
        {
            return Err(TokenError::ForbiddenHeader(name));
        }
        let alg = match members.get("alg") {
            Some(Value::String(alg)) => Algorithm::from_header(alg)?,
            _ => {
                return Err(TokenError::Malformed(
                    "header alg is missing or not a string",
                ));
            }
        };
        let kid = optional_string(&members, "kid")?;
        let typ = optional_string(&members, "typ")?;
        Ok(Self {
            alg,
            kid,
            typ,
            members,
        })
    }
}

fn optional_string(
    members: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, TokenError> {
    match members.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(TokenError::Malformed(name)),
    }
}

/// A parsed but not yet verified JWS.
#[derive(Debug)]
pub struct UnverifiedJws<'a> {
    header: Header,
    signing_input: Cow<'a, str>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// A JWS whose signature verified: its header and payload bytes.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The protected header.
    pub header: Header,
    /// The payload bytes (for a JWT, the claims JSON).
    pub payload: Vec<u8>,
}

impl<'a> UnverifiedJws<'a> {
    /// Parses the compact serialization strictly.
    ///
    /// # Errors
    /// [`TokenError::TooLarge`], [`TokenError::Malformed`], [`TokenError::AlgNone`],
    /// [`TokenError::UnsupportedAlg`] or [`TokenError::ForbiddenHeader`].
    pub fn parse_compact(token: &'a str) -> Result<Self, TokenError> {
        check_size(token)?;
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three dot-separated segments"));
        };
        let signing_len = header.len() + 1 + payload.len();
        let signing_input = token.get(..signing_len).unwrap_or_default();
        Self::from_segments(header, payload, signature, Cow::Borrowed(signing_input))
    }

    /// Parses the flattened or general JSON serialization (RFC 7515 §7.2). The general
    /// form must carry exactly one signature; unprotected `header` members are refused,
    /// since nothing protects them.
    ///
    /// # Errors
    /// As [`UnverifiedJws::parse_compact`], plus `ForbiddenHeader("header")`.
    pub fn parse_json(text: &str) -> Result<UnverifiedJws<'static>, TokenError> {
        check_size(text)?;
        let top = json::parse_object(text.as_bytes()).map_err(|refusal| match refusal {
            JsonRefusal::DuplicateMember => TokenError::Malformed("JWS JSON repeats a member"),
            _ => TokenError::Malformed("JWS JSON is not an object"),
        })?;
        let entry = match top.get("signatures") {
            None => &top,
            Some(Value::Array(list)) => match list.as_slice() {
                [Value::Object(only)] => only,
                _ => {
                    return Err(TokenError::Malformed(
                        "JWS JSON needs exactly one signature",
                    ));
                }
            },
            Some(_) => return Err(TokenError::Malformed("JWS JSON signatures is not an array")),
        };
        if entry.contains_key("header") {
            return Err(TokenError::ForbiddenHeader("header (unprotected)"));
        }
        let field = |object: &Map<String, Value>, name: &'static str| match object.get(name) {
            Some(Value::String(text)) => Ok(text.clone()),
            _ => Err(TokenError::Malformed(name)),
        };
        let header = field(entry, "protected")?;
        let payload = field(&top, "payload")?;
        let signature = field(entry, "signature")?;
        let signing_input = format!("{header}.{payload}");
        UnverifiedJws::from_segments(&header, &payload, &signature, Cow::Owned(signing_input))
    }

    fn from_segments(
        header: &str,
        payload: &str,
        signature: &str,
        signing_input: Cow<'a, str>,
    ) -> Result<Self, TokenError> {
        let header = Header::from_base64(header)?;
        let payload = b64::decode(payload.as_bytes())
            .ok_or(TokenError::Malformed("payload is not base64url"))?;
        let signature = b64::decode(signature.as_bytes())
            .ok_or(TokenError::Malformed("signature is not base64url"))?;
        Ok(Self {
            header,
            signing_input,
            payload,
            signature,
        })
    }

    /// The header (not yet trustworthy).
    #[must_use]
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The payload before verification: only for choosing which keys to verify with.
    #[must_use]
    pub fn payload_unverified(&self) -> &[u8] {
        &self.payload
    }

    /// Verifies the signature with the key of `keys` that the header's `kid` names,
    /// provided the header's `alg` is in `allowed`.
    ///
    /// # Errors
    /// [`TokenError::AlgNotAllowed`], [`TokenError::UnknownKey`],
    /// [`TokenError::KeyMismatch`] or [`TokenError::BadSignature`].
    pub fn verify(self, keys: &JwkSet, allowed: &[Algorithm]) -> Result<Verified, TokenError> {
        let alg = self.header.alg;
        if !allowed.contains(&alg) {
            return Err(TokenError::AlgNotAllowed);
        }
        let key = keys.find(self.header.kid(), alg)?;
        key.verify(alg, self.signing_input.as_bytes(), &self.signature)?;
        Ok(Verified {
            header: self.header,
            payload: self.payload,
        })
    }
}

fn check_size(text: &str) -> Result<(), TokenError> {
    if text.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::TooLarge {
            len: text.len(),
            max: MAX_TOKEN_BYTES,
        });
    }
    Ok(())
}

/// Parses and verifies a compact JWS in one step.
///
/// # Errors
/// Any [`TokenError`] of parsing or verification.
pub fn verify_compact(
    token: &str,
    keys: &JwkSet,
    allowed: &[Algorithm],
) -> Result<Verified, TokenError> {
    UnverifiedJws::parse_compact(token)?.verify(keys, allowed)
}

/// Something that signs JWS signing input without handing out its key: the key service
/// implements this over keys it never exports.
pub trait JwsSigner {
    /// The JWS algorithm of the signatures it makes.
    fn algorithm(&self) -> Algorithm;
    /// The `kid` of its public key in our JWKS.
    fn kid(&self) -> &str;
    /// Signs `signing_input` (ASCII `header.payload`); returns the JWS signature bytes
    /// (for ECDSA the raw `r || s` form).
    ///
    /// # Errors
    /// [`SignError::Signer`] when the key is unavailable or signing fails.
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// Signs `payload` as a compact JWS with header `{"alg","kid"[,"typ"]}`.
///
/// # Errors
/// [`SignError`] from the signer.
pub fn sign_compact(
    signer: &dyn JwsSigner,
    typ: Option<&str>,
    payload: &[u8],
) -> Result<String, SignError> {
    let mut header = Map::new();
    header.insert("alg".into(), signer.algorithm().as_str().into());
    header.insert("kid".into(), signer.kid().into());
    if let Some(typ) = typ {
        header.insert("typ".into(), typ.into());
    }
    let header = serde_json::to_vec(&header).map_err(|_| SignError::Claims)?;
    let mut token = b64::encode(&header);
    token.push('.');
    token.push_str(&b64::encode(payload));
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(&signature));
    Ok(token)
}

/// An in-memory Ed25519 or P-256 signing key (tests, benchmarks, development).
pub struct InMemorySigner {
    kid: String,
    key: SigningKey,
}

enum SigningKey {
    Ed25519(Ed25519KeyPair),
    Es256(EcdsaKeyPair, SystemRandom),
}

impl fmt::Debug for InMemorySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemorySigner")
            .field("alg", &self.algorithm())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl InMemorySigner {
    /// A fresh Ed25519 key (alg `EdDSA`).
    ///
    /// # Errors
    /// [`JwkError::Malformed`] for an unsafe `kid`; `Unsupported` if key generation fails.
    pub fn generate_ed25519(kid: &str) -> Result<Self, JwkError> {
        check_kid(kid)?;
        let pair = Ed25519KeyPair::generate().map_err(|_| generation_failed())?;
        Ok(Self {
            kid: kid.to_owned(),
            key: SigningKey::Ed25519(pair),
        })
    }

    /// A fresh P-256 key (alg `ES256`).
    ///
    /// # Errors
    /// As [`InMemorySigner::generate_ed25519`].
    pub fn generate_es256(kid: &str) -> Result<Self, JwkError> {
        check_kid(kid)?;
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| generation_failed())?;
        Ok(Self {
            kid: kid.to_owned(),
            key: SigningKey::Es256(pair, SystemRandom::new()),
        })
    }

    /// The public JWK of this key, with its `kid`, `alg` and `use: sig`.
    ///
    /// # Errors
    /// [`JwkError`] only if aws-lc-rs returned an unexpected public key form.
    pub fn public_jwk(&self) -> Result<Jwk, JwkError> {
        match &self.key {
            SigningKey::Ed25519(pair) => Jwk::ed25519_public(pair.public_key().as_ref(), &self.kid),
            SigningKey::Es256(pair, _) => Jwk::p256_public(pair.public_key().as_ref(), &self.kid),
        }
    }
}

fn check_kid(kid: &str) -> Result<(), JwkError> {
    if is_safe_kid(kid) {
        Ok(())
    } else {
        Err(JwkError::Malformed {
            index: 0,
            reason: "kid must be 1 to 128 characters of A-Z a-z 0-9 - _ . ~ : @ + =",
        })
    }
}

fn generation_failed() -> JwkError {
    JwkError::Unsupported {
        index: 0,
        reason: "key generation failed in aws-lc-rs",
    }
}

impl JwsSigner for InMemorySigner {
    fn algorithm(&self) -> Algorithm {
        match self.key {
            SigningKey::Ed25519(_) => Algorithm::EdDSA,
            SigningKey::Es256(..) => Algorithm::ES256,
        }
    }

    fn kid(&self) -> &str {
        &self.kid
    }

    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.key {
            SigningKey::Ed25519(pair) => Ok(pair.sign(signing_input).as_ref().to_vec()),
            SigningKey::Es256(pair, rng) => pair
                .sign(rng, signing_input)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| SignError::Signer("ECDSA P-256 signing failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer_and_keys() -> (InMemorySigner, JwkSet) {
        let signer = InMemorySigner::generate_ed25519("k1").unwrap();
        let keys = JwkSet::from_keys(vec![signer.public_jwk().unwrap()]).unwrap();
        (signer, keys)
    }

    #[test]
    fn signs_and_verifies_both_key_types() {
        for signer in [
            InMemorySigner::generate_ed25519("a").unwrap(),
            InMemorySigner::generate_es256("b").unwrap(),
        ] {
            let keys = JwkSet::from_keys(vec![signer.public_jwk().unwrap()]).unwrap();
            let token = sign_compact(&signer, Some("JWT"), b"{}").unwrap();
            let verified = verify_compact(&token, &keys, &Algorithm::ASYMMETRIC).unwrap();
            assert_eq!(verified.payload, b"{}");
            assert_eq!(verified.header.typ(), Some("JWT"));
        }
    }

    #[test]
    fn alg_must_be_configured() {
        let (signer, keys) = signer_and_keys();
        let token = sign_compact(&signer, None, b"x").unwrap();
        let only_es256 = [Algorithm::ES256];
        assert_eq!(
            verify_compact(&token, &keys, &only_es256).unwrap_err(),
            TokenError::AlgNotAllowed
        );
    }

    #[test]
    fn json_serializations_verify_like_compact() {
        let (signer, keys) = signer_and_keys();
        let token = sign_compact(&signer, None, b"x").unwrap();
        let mut parts = token.split('.');
        let (h, p, s) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let flat = format!(r#"{{"payload":"{p}","protected":"{h}","signature":"{s}"}}"#);
        let general = format!(
            r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{s}"}}]}}"#
        );
        for text in [flat, general] {
            let jws = UnverifiedJws::parse_json(&text).unwrap();
            assert_eq!(
                jws.verify(&keys, &Algorithm::ASYMMETRIC).unwrap().payload,
                b"x"
            );
        }
        let unprotected =
            format!(r#"{{"payload":"{p}","protected":"{h}","header":{{}},"signature":"{s}"}}"#);
        assert!(matches!(
            UnverifiedJws::parse_json(&unprotected).unwrap_err(),
            TokenError::ForbiddenHeader(_)
        ));
    }

    #[test]
    fn signer_debug_hides_the_key() {
        let (signer, _) = signer_and_keys();
        assert_eq!(
            format!("{signer:?}"),
            r#"InMemorySigner { alg: EdDSA, kid: "k1", .. }"#
        );
    }
}
