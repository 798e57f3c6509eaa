//! JSON Web Keys (RFC 7517, 7518 §6, 8037) for signature verification, JWK Sets, and
//! RFC 7638 thumbprints.
//!
//! A client's registered JWKS goes through [`JwkSet::parse_public`], which takes EC
//! P-256/P-384/P-521, RSA (2048 to 8192 bits) and OKP Ed25519 public keys and refuses
//! private members and `oct` keys. HMAC keys exist only through
//! [`Jwk::symmetric_from_json`] and [`Jwk::symmetric`], which no client input reaches.
//! Our own signing keys publish their public half through [`Jwk::ed25519_public`] and
//! [`Jwk::p256_public`] and [`JwkSet::to_json`].

use crate::alg::Algorithm;
use crate::b64;
use crate::error::{JwkError, TokenError};
use crate::json;
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use serde_json::{Map, Value};
use std::fmt;
use zeroize::Zeroizing;

/// Largest JWK Set accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Most keys accepted in one JWK Set.
pub const MAX_KEYS: usize = 100;
/// Longest `kid` accepted, in characters.
pub const MAX_KID_LEN: usize = 128;
/// Shortest HMAC secret accepted, in bytes (RFC 7518 §3.2 wants at least the hash size).
const MIN_SECRET_LEN: usize = 32;
/// Members that only a private or secret key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// True when `kid` is 1 to [`MAX_KID_LEN`] characters of `A-Z a-z 0-9 - _ . ~ : @ + =`.
///
/// A `kid` is only ever compared with the `kid`s of keys we already hold; anything else
/// (a path, SQL, a URL) is simply no key.
#[must_use]
pub fn is_safe_kid(kid: &str) -> bool {
    (1..=MAX_KID_LEN).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~:@+=".contains(&b))
}

/// The NIST curves of `kty: EC`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Curve {
    P256,
    P384,
    P521,
}

impl Curve {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// Length of one coordinate (and of `r` and `s`) in bytes.
    fn coordinate_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    fn algorithm(self) -> Algorithm {
        match self {
            Self::P256 => Algorithm::ES256,
            Self::P384 => Algorithm::ES384,
            Self::P521 => Algorithm::ES512,
        }
    }

    fn verification(self) -> &'static signature::EcdsaVerificationAlgorithm {
        match self {
            Self::P256 => &signature::ECDSA_P256_SHA256_FIXED,
            Self::P384 => &signature::ECDSA_P384_SHA384_FIXED,
            Self::P521 => &signature::ECDSA_P521_SHA512_FIXED,
        }
    }
}

/// The key itself, by type.
enum Material {
    Ec {
        curve: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
        key: ParsedPublicKey,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
        key: ParsedPublicKey,
    },
    Oct {
        secret: Zeroizing<Vec<u8>>,
    },
}

impl Material {
    fn kty(&self) -> &'static str {
        match self {
            Self::Ec { .. } => "EC",
            Self::Rsa { .. } => "RSA",
            Self::Ed25519 { .. } => "OKP",
            Self::Oct { .. } => "oct",
        }
    }
}

/// One verification key with its JWK metadata (`kid`, `alg`, `use`, `key_ops`).
pub struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    for_verify: bool,
    material: Material,
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Key material stays out, public or not: Debug output ends up in logs.
        f.debug_struct("Jwk")
            .field("kty", &self.material.kty())
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Jwk {
    /// Reads one public JWK (EC, RSA or OKP Ed25519) from its JSON object.
    ///
    /// # Errors
    /// [`JwkError`] naming the member at fault; private members are refused.
    pub fn from_public_json(object: &Map<String, Value>) -> Result<Self, JwkError> {
        parse_public(object, 0)
    }

    /// Reads an `oct` JWK as an HMAC key. Only for keys this service configures itself:
    /// a client's JWKS never goes through here.
    ///
    /// # Errors
    /// [`JwkError`] when it is not an `oct` JWK or its secret is under 32 bytes.
    pub fn symmetric_from_json(object: &Map<String, Value>) -> Result<Self, JwkError> {
        if str_member(object, "kty", 0)? != Some("oct") {
            return Err(malformed(0, "kty must be \"oct\""));
        }
        let secret = Zeroizing::new(bytes_member(object, "k", 0)?);
        let mut key = Self::symmetric(&secret, None)?;
        read_metadata(&mut key, object, 0)?;
        Ok(key)
    }

    /// An HMAC key from raw secret bytes (at least 32).
    ///
    /// # Errors
    /// [`JwkError::ShortSecret`] under 32 bytes; [`JwkError::Malformed`] for a bad `kid`.
    pub fn symmetric(secret: &[u8], kid: Option<&str>) -> Result<Self, JwkError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(JwkError::ShortSecret);
        }
        let material = Material::Oct {
            secret: Zeroizing::new(secret.to_vec()),
        };
        Self::new_own(material, kid, None)
    }

    /// The public JWK of one of our Ed25519 signing keys (`x` is the 32-byte public key).
    ///
    /// # Errors
    /// [`JwkError::Malformed`] for a wrong length or a bad `kid`.
    pub fn ed25519_public(x: &[u8], kid: &str) -> Result<Self, JwkError> {
        let material = ed25519_material(x.to_vec(), 0)?;
        Self::new_own(material, Some(kid), Some(Algorithm::EdDSA))
    }

    /// The public JWK of one of our P-256 signing keys (`point` is the uncompressed SEC1
    /// point, `04 || x || y`, as aws-lc-rs returns it).
    ///
    /// # Errors
    /// [`JwkError::Malformed`] when it is not a P-256 point or the `kid` is bad.
    pub fn p256_public(point: &[u8], kid: &str) -> Result<Self, JwkError> {
        let bad = || malformed(0, "not an uncompressed P-256 point");
        let coordinates = match point.split_first() {
            Some((4, rest)) if rest.len() == 64 => rest,
            _ => return Err(bad()),
        };
        let (x, y) = coordinates.split_at(32);
        let material = ec_material(Curve::P256, x.to_vec(), y.to_vec(), 0)?;
        Self::new_own(material, Some(kid), Some(Algorithm::ES256))
    }

    fn new_own(
        material: Material,
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Self, JwkError> {
        if let Some(kid) = kid
            && !is_safe_kid(kid)
        {
            return Err(malformed(0, KID_RULE));
        }
        Ok(Self {
            kid: kid.map(str::to_owned),
            alg: alg.map(|a| a.as_str().to_owned()),
            for_verify: true,
            material,
        })
    }

    /// The key id, if the JWK has one.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key type (`EC`, `RSA`, `OKP`, `oct`).
    #[must_use]
    pub fn kty(&self) -> &'static str {
        self.material.kty()
    }

    /// The RFC 7638 thumbprint: base64url of the SHA-256 of the required members.
    #[must_use]
    pub fn thumbprint(&self) -> String {
        // Members in lexicographic order, no whitespace (RFC 7638 §3.2, §3.3).
        let canonical = match &self.material {
            Material::Ec { curve, x, y, .. } => format!(
                r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
                curve.name(),
                b64::encode(x),
                b64::encode(y)
            ),
            Material::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                b64::encode(e),
                b64::encode(n)
            ),
            Material::Ed25519 { x, .. } => {
                format!(
                    r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
                    b64::encode(x)
                )
            }
            Material::Oct { secret } => {
                format!(r#"{{"k":"{}","kty":"oct"}}"#, b64::encode(secret))
            }
        };
        b64::encode(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    }

    /// The public JWK as JSON (with `use: sig`), or `None` for an HMAC key.
    #[must_use]
    pub fn to_public_json(&self) -> Option<Value> {
        let mut out = Map::new();
        out.insert("kty".into(), self.material.kty().into());
        match &self.material {
            Material::Ec { curve, x, y, .. } => {
                out.insert("crv".into(), curve.name().into());
                out.insert("x".into(), b64::encode(x).into());
                out.insert("y".into(), b64::encode(y).into());
            }
            Material::Rsa { n, e } => {
                out.insert("n".into(), b64::encode(n).into());
                out.insert("e".into(), b64::encode(e).into());
            }
            Material::Ed25519 { x, .. } => {
                out.insert("crv".into(), "Ed25519".into());
                out.insert("x".into(), b64::encode(x).into());
            }
            Material::Oct { .. } => return None,
        }
        out.insert("use".into(), "sig".into());
        if let Some(alg) = &self.alg {
            out.insert("alg".into(), alg.as_str().into());
        }
        if let Some(kid) = &self.kid {
            out.insert("kid".into(), kid.as_str().into());
        }
        Some(Value::Object(out))
    }

    /// Checks that this key may verify `alg`: key type and curve match, the JWK's `alg`
    /// (if any) is the same, and `use`/`key_ops` (if any) allow verification.
    ///
    /// # Errors
    /// [`TokenError::KeyMismatch`] saying which rule failed.
    pub fn check_usable_for(&self, alg: Algorithm) -> Result<(), TokenError> {
        let type_fits = match &self.material {
            Material::Ec { curve, .. } => curve.algorithm() == alg,
            Material::Rsa { .. } => rsa_parameters(alg).is_some(),
            Material::Ed25519 { .. } => alg == Algorithm::EdDSA,
            Material::Oct { secret } => {
                hmac_algorithm(alg).is_some_and(|(_, min_len)| secret.len() >= min_len)
            }
        };
        if !type_fits {
            return Err(TokenError::KeyMismatch(
                "key type or size does not fit the alg",
            ));
        }
        if self
            .alg
            .as_deref()
            .is_some_and(|bound| bound != alg.as_str())
        {
            return Err(TokenError::KeyMismatch("key is bound to another alg"));
        }
        if !self.for_verify {
            return Err(TokenError::KeyMismatch("key use or key_ops exclude verify"));
        }
        Ok(())
    }

    /// Verifies `signature` over `signing_input` with `alg`, after
    /// [`Jwk::check_usable_for`].
    ///
    /// # Errors
    /// [`TokenError::KeyMismatch`] or [`TokenError::BadSignature`].
    pub fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenError> {
        self.check_usable_for(alg)?;
        let verified = match &self.material {
            Material::Ec { curve, key, .. } => {
                signature.len() == 2 * curve.coordinate_len()
                    && key.verify_sig(signing_input, signature).is_ok()
            }
            Material::Ed25519 { key, .. } => key.verify_sig(signing_input, signature).is_ok(),
            Material::Rsa { n, e } => rsa_parameters(alg).is_some_and(|params| {
                RsaPublicKeyComponents { n, e }
                    .verify(params, signing_input, signature)
                    .is_ok()
            }),
            Material::Oct { secret } => hmac_algorithm(alg).is_some_and(|(hmac_alg, _)| {
                // hmac::verify compares the tags in constant time.
                hmac::verify(&hmac::Key::new(hmac_alg, secret), signing_input, signature).is_ok()
            }),
        };
        if verified {
            Ok(())
        } else {
            Err(TokenError::BadSignature)
        }
    }
}

fn rsa_parameters(alg: Algorithm) -> Option<&'static signature::RsaParameters> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

/// The HMAC algorithm and the shortest key RFC 7518 §3.2 allows for it.
fn hmac_algorithm(alg: Algorithm) -> Option<(hmac::Algorithm, usize)> {
    match alg {
        Algorithm::HS256 => Some((hmac::HMAC_SHA256, 32)),
        Algorithm::HS384 => Some((hmac::HMAC_SHA384, 48)),
        Algorithm::HS512 => Some((hmac::HMAC_SHA512, 64)),
        _ => None,
    }
}

const KID_RULE: &str = "kid must be 1 to 128 characters of A-Z a-z 0-9 - _ . ~ : @ + =";

fn malformed(index: usize, reason: &'static str) -> JwkError {
    JwkError::Malformed { index, reason }
}

fn str_member<'a>(
    object: &'a Map<String, Value>,
    name: &'static str,
    index: usize,
) -> Result<Option<&'a str>, JwkError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(malformed(index, "a member that must be a string is not")),
    }
}

fn bytes_member(
    object: &Map<String, Value>,
    name: &'static str,
    index: usize,
) -> Result<Vec<u8>, JwkError> {
    let text = str_member(object, name, index)?
        .ok_or(malformed(index, "a required key member is missing"))?;
    b64::decode(text.as_bytes()).ok_or(malformed(index, "a key member is not strict base64url"))
}

fn parse_public(object: &Map<String, Value>, index: usize) -> Result<Jwk, JwkError> {
    if PRIVATE_MEMBERS
        .iter()
        .any(|name| object.contains_key(*name))
    {
        return Err(JwkError::PrivateMaterial { index });
    }
    let material = match str_member(object, "kty", index)? {
        Some("EC") => {
            let crv = str_member(object, "crv", index)?.unwrap_or_default();
            let curve = Curve::from_name(crv).ok_or(JwkError::Unsupported {
                index,
                reason: "EC curve",
            })?;
            let x = bytes_member(object, "x", index)?;
            let y = bytes_member(object, "y", index)?;
            ec_material(curve, x, y, index)?
        }
        Some("RSA") => rsa_material(
            bytes_member(object, "n", index)?,
            bytes_member(object, "e", index)?,
            index,
        )?,
        Some("OKP") => match str_member(object, "crv", index)? {
            Some("Ed25519") => ed25519_material(bytes_member(object, "x", index)?, index)?,
            _ => {
                return Err(JwkError::Unsupported {
                    index,
                    reason: "OKP curve",
                });
            }
        },
        Some(_) => {
            return Err(JwkError::Unsupported {
                index,
                reason: "kty",
            });
        }
        None => return Err(malformed(index, "kty is missing")),
    };
    let mut key = Jwk {
        kid: None,
        alg: None,
        for_verify: true,
        material,
    };
    read_metadata(&mut key, object, index)?;
    Ok(key)
}

/// Reads `kid`, `alg`, `use` and `key_ops` into `key`.
fn read_metadata(key: &mut Jwk, object: &Map<String, Value>, index: usize) -> Result<(), JwkError> {
    if let Some(kid) = str_member(object, "kid", index)? {
        if !is_safe_kid(kid) {
            return Err(malformed(index, KID_RULE));
        }
        key.kid = Some(kid.to_owned());
    }
    if let Some(alg) = str_member(object, "alg", index)? {
        if alg.is_empty() || alg.len() > 32 {
            return Err(malformed(index, "alg must be 1 to 32 characters"));
        }
        key.alg = Some(alg.to_owned());
    }
    let use_allows = str_member(object, "use", index)?.is_none_or(|value| value == "sig");
    let ops_allow = match object.get("key_ops") {
        None => true,
        Some(Value::Array(ops)) if ops.len() <= 8 => {
            let mut verify = false;
            for op in ops {
                let op = op
                    .as_str()
                    .ok_or(malformed(index, "key_ops must hold strings"))?;
                verify |= op == "verify";
            }
            verify
        }
        Some(_) => {
            return Err(malformed(
                index,
                "key_ops must be an array of up to 8 strings",
            ));
        }
    };
    key.for_verify = use_allows && ops_allow;
    Ok(())
}

/// RFC 7518 section 6.2.1.2 wants each coordinate at the curve's full length, but
/// authlib (1.9: `int_to_base64`) writes the shortest big-endian form, so one key in 128
/// has a coordinate a byte short: shorter coordinates are read as the same number,
/// zero-padded on the left; longer ones are refused, and the point is checked on the
/// curve either way.
fn ec_material(curve: Curve, x: Vec<u8>, y: Vec<u8>, index: usize) -> Result<Material, JwkError> {
    let len = curve.coordinate_len();
    if x.len() > len || y.len() > len || x.is_empty() || y.is_empty() {
        return Err(malformed(
            index,
            "EC x and y must be non-empty and no longer than the curve's coordinate length",
        ));
    }
    let x = left_padded(x, len);
    let y = left_padded(y, len);
    let mut point = Vec::with_capacity(1 + 2 * len);
    point.push(4);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let key = ParsedPublicKey::new(curve.verification(), &point)
        .map_err(|_| malformed(index, "EC x and y are not a point on the curve"))?;
    Ok(Material::Ec { curve, x, y, key })
}

fn rsa_material(n: Vec<u8>, e: Vec<u8>, index: usize) -> Result<Material, JwkError> {
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    let bits = n
        .first()
        .map_or(0, |top| n.len() * 8 - top.leading_zeros() as usize);
    if !(2048..=8192).contains(&bits) {
        return Err(JwkError::RsaSize { index, bits });
    }
    if e.is_empty() || e.len() > 4 || e.last().is_none_or(|low| low & 1 == 0) {
        return Err(malformed(
            index,
            "RSA e must be an odd number of at most 32 bits",
        ));
    }
    RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
        .map_err(|_| malformed(index, "RSA n and e do not form a public key"))?;
    Ok(Material::Rsa { n, e })
}

/// `bytes` as a big-endian number of exactly `len` bytes (`bytes` is not longer).
fn left_padded(bytes: Vec<u8>, len: usize) -> Vec<u8> {
    if bytes.len() >= len {
        return bytes;
    }
    let mut padded = vec![0; len - bytes.len()];
    padded.extend_from_slice(&bytes);
    padded
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

fn ed25519_material(x: Vec<u8>, index: usize) -> Result<Material, JwkError> {
    if x.len() != 32 {
        return Err(malformed(index, "Ed25519 x must be 32 bytes"));
    }
    let key = ParsedPublicKey::new(&signature::ED25519, &x)
        .map_err(|_| malformed(index, "Ed25519 x is not a public key"))?;
    Ok(Material::Ed25519 { x, key })
}

/// A JWK Set: the keys one party (a client, or we) verifies with.
#[derive(Debug, Default)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a client's public JWK Set (the JSON text), enforcing the size limits,
    /// refusing private members, `oct` keys, unsupported key types and repeated `kid`s.
    ///
    /// # Errors
    /// [`JwkError`] naming the key and member at fault.
    pub fn parse_public(text: &[u8]) -> Result<Self, JwkError> {
        if text.len() > MAX_JWKS_BYTES {
            return Err(JwkError::TooLarge);
        }
        let object = json::parse_object(text).map_err(|_| JwkError::NotJson)?;
        let Some(Value::Array(entries)) = object.get("keys") else {
            return Err(JwkError::NoKeysArray);
        };
        if entries.len() > MAX_KEYS {
            return Err(JwkError::TooManyKeys);
        }
        let mut keys = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let Value::Object(member) = entry else {
                return Err(malformed(index, "a key is not a JSON object"));
            };
            keys.push(parse_public(member, index)?);
        }
        Self::from_keys(keys)
    }

    /// A set of already-built keys (ours, or a configured HMAC key).
    ///
    /// # Errors
    /// [`JwkError::TooManyKeys`] or [`JwkError::DuplicateKid`].
    pub fn from_keys(keys: Vec<Jwk>) -> Result<Self, JwkError> {
        if keys.len() > MAX_KEYS {
            return Err(JwkError::TooManyKeys);
        }
        for (index, key) in keys.iter().enumerate() {
            let earlier = keys.get(..index).unwrap_or_default();
            if key.kid.is_some() && earlier.iter().any(|other| other.kid == key.kid) {
                return Err(JwkError::DuplicateKid { index });
            }
        }
        Ok(Self { keys })
    }

    /// The keys, in their order in the set.
    #[must_use]
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The public JWK Set as published at `/.well-known/jwks.json` (HMAC keys left out).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().filter_map(Jwk::to_public_json).collect();
        serde_json::json!({ "keys": keys })
    }

    /// The key that verifies a token with this `kid` and `alg`.
    ///
    /// With a `kid`, only a key with that exact `kid` is considered; a `kid` outside the
    /// safe character set is never looked up. Without one, the set must hold exactly
    /// one key usable for `alg`.
    ///
    /// # Errors
    /// [`TokenError::UnknownKey`] or [`TokenError::KeyMismatch`].
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Jwk, TokenError> {
        let Some(kid) = kid else {
            let mut usable = self
                .keys
                .iter()
                .filter(|key| key.check_usable_for(alg).is_ok());
            return match (usable.next(), usable.next()) {
                (Some(key), None) => Ok(key),
                _ => Err(TokenError::UnknownKey),
            };
        };
        if !is_safe_kid(kid) {
            return Err(TokenError::UnknownKey);
        }
        let key = self
            .keys
            .iter()
            .find(|key| key.kid.as_deref() == Some(kid))
            .ok_or(TokenError::UnknownKey)?;
        key.check_usable_for(alg)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8037 Appendix A.2 (public key) and A.3 (its RFC 7638 thumbprint).
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RFC8037_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

    fn object(text: &str) -> Map<String, Value> {
        json::parse_object(text.as_bytes()).unwrap()
    }

    #[test]
    fn ed25519_thumbprint_matches_rfc8037() {
        let key = Jwk::from_public_json(&object(&format!(
            r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}"}}"#
        )))
        .unwrap();
        assert_eq!(key.thumbprint(), RFC8037_THUMBPRINT);
    }

    #[test]
    fn short_ec_coordinates_are_padded_as_authlib_writes_them() {
        // A P-256 key (made for this test) whose x begins with a zero byte; authlib
        // writes it without that byte.
        let full_x = "AElkvAWHpMVB6V_lsV9hKlA7_NijCK-AcGvyGP_ml9U";
        let short_x = "SWS8BYekxUHpX-WxX2EqUDv82KMIr4Bwa_IY_-aX1Q";
        let y = "iXN0JxVIENg_FyNXSfXDMhmorZLJ7YZTKc5-vUx0YN0";
        let key = |x: &str| {
            Jwk::from_public_json(&object(&format!(
                r#"{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}"#
            )))
        };
        let full = key(full_x).unwrap();
        let short = key(short_x).unwrap();
        assert_eq!(short.thumbprint(), full.thumbprint());
        assert_eq!(short.to_public_json(), full.to_public_json());
        // Longer than the curve's coordinate (even by a leading zero), empty, or off
        // the curve: refused.
        let long_x = "AABJZLwFh6TFQelf5bFfYSpQO_zYowivgHBr8hj_5pfV"; // 33 bytes
        for x in [long_x, "", "AQ"] {
            let err = key(x).unwrap_err().to_string();
            assert!(
                err.contains("coordinate length") || err.contains("not a point"),
                "{x}: {err}"
            );
        }
    }

    #[test]
    fn private_members_are_refused() {
        let text = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}}]}}"#
        );
        assert_eq!(
            JwkSet::parse_public(text.as_bytes()).unwrap_err(),
            JwkError::PrivateMaterial { index: 0 }
        );
        let oct = br#"{"keys":[{"kty":"oct","k":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}"#;
        assert_eq!(
            JwkSet::parse_public(oct).unwrap_err(),
            JwkError::PrivateMaterial { index: 0 }
        );
    }

    #[test]
    fn size_and_count_limits() {
        let big = vec![b' '; MAX_JWKS_BYTES + 1];
        assert_eq!(JwkSet::parse_public(&big).unwrap_err(), JwkError::TooLarge);
        let key = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}"}}"#);
        let many = format!(
            r#"{{"keys":[{}]}}"#,
            vec![key.as_str(); MAX_KEYS + 1].join(",")
        );
        assert_eq!(
            JwkSet::parse_public(many.as_bytes()).unwrap_err(),
            JwkError::TooManyKeys
        );
    }

    #[test]
    fn duplicate_kids_and_unsafe_kids_are_refused() {
        let key = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","kid":"a"}}"#);
        let twice = format!(r#"{{"keys":[{key},{key}]}}"#);
        assert_eq!(
            JwkSet::parse_public(twice.as_bytes()).unwrap_err(),
            JwkError::DuplicateKid { index: 1 }
        );
        let path = format!(
            r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{RFC8037_X}","kid":"../x"}}]}}"#
        );
        assert!(matches!(
            JwkSet::parse_public(path.as_bytes()).unwrap_err(),
            JwkError::Malformed { index: 0, .. }
        ));
    }

    #[test]
    fn unsupported_keys_are_named() {
        let x25519 = br#"{"keys":[{"kty":"OKP","crv":"X25519","x":"AAAA"}]}"#;
        assert!(matches!(
            JwkSet::parse_public(x25519).unwrap_err(),
            JwkError::Unsupported { index: 0, .. }
        ));
        let small_rsa = format!(
            r#"{{"keys":[{{"kty":"RSA","n":"{}","e":"AQAB"}}]}}"#,
            b64::encode(&[0xC5; 128])
        );
        assert_eq!(
            JwkSet::parse_public(small_rsa.as_bytes()).unwrap_err(),
            JwkError::RsaSize {
                index: 0,
                bits: 1024
            }
        );
    }

    #[test]
    fn short_hmac_secrets_are_refused() {
        assert_eq!(
            Jwk::symmetric(&[7; 31], None).unwrap_err(),
            JwkError::ShortSecret
        );
        let key = Jwk::symmetric(&[7; 32], Some("h")).unwrap();
        assert!(key.check_usable_for(Algorithm::HS256).is_ok());
        assert!(key.check_usable_for(Algorithm::HS512).is_err());
        assert!(key.to_public_json().is_none());
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = Jwk::symmetric(&[0x41; 32], Some("h")).unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains("AAAA") && !shown.contains("65"), "{shown}");
    }
}
