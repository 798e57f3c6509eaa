//! JWS in the flattened JSON serialization (RFC 7515 §7.2.2) as ACME sends it
//! (RFC 8555 §6.2), the account keys it carries (RFC 7517 JWK), their signature
//! checks with aws-lc-rs, and JWK thumbprints (RFC 7638).
//!
//! Accepted algorithms: ES256, ES384 (P-256, P-384), RS256 (RSA 2048 to 8192 bits, which
//! is certbot's default account key) and EdDSA (Ed25519). `none` and the MAC algorithms
//! are refused, as RFC 8555 §6.2 requires.

use super::error::AcmeError;
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Largest JWS body accepted (a CSR of an RSA 8192 key fits many times over).
pub const MAX_JWS_BYTES: usize = 64 * 1024;

/// An account public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Jwk {
    /// `kty` EC, `crv` P-256 or P-384: the coordinates.
    Ec {
        /// `P-256` or `P-384`.
        crv: &'static str,
        /// X coordinate, big-endian, fixed length.
        x: Vec<u8>,
        /// Y coordinate.
        y: Vec<u8>,
    },
    /// `kty` RSA: modulus and public exponent, big-endian without leading zeros.
    Rsa {
        /// Modulus.
        n: Vec<u8>,
        /// Public exponent.
        e: Vec<u8>,
    },
    /// `kty` OKP, `crv` Ed25519.
    Ed25519 {
        /// The public key.
        x: Vec<u8>,
    },
}

fn b64(text: &str, what: &str) -> Result<Vec<u8>, AcmeError> {
    B64.decode(text)
        .map_err(|_| AcmeError::Malformed(format!("{what} is not base64url without padding")))
}

fn member<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<&'a str, AcmeError> {
    obj.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| AcmeError::Malformed(format!("the JWK has no string member \"{name}\"")))
}

fn coordinate(obj: &Map<String, Value>, name: &str, len: usize) -> Result<Vec<u8>, AcmeError> {
    let bytes = b64(member(obj, name)?, "a JWK member")?;
    if bytes.len() != len {
        return Err(AcmeError::Malformed(format!(
            "JWK member \"{name}\" must be {len} bytes for this curve"
        )));
    }
    Ok(bytes)
}

fn unsigned(obj: &Map<String, Value>, name: &str) -> Result<Vec<u8>, AcmeError> {
    let bytes = b64(member(obj, name)?, "a JWK member")?;
    if bytes.is_empty() || bytes[0] == 0 {
        return Err(AcmeError::Malformed(format!(
            "JWK member \"{name}\" must be a big-endian integer without leading zeros"
        )));
    }
    Ok(bytes)
}

impl Jwk {
    /// Reads a public JWK.
    ///
    /// # Errors
    /// [`AcmeError::BadPublicKey`] for a key type or curve we do not take,
    /// [`AcmeError::Malformed`] for a badly encoded one.
    pub fn from_json(value: &Value) -> Result<Jwk, AcmeError> {
        let obj = value
            .as_object()
            .ok_or_else(|| AcmeError::Malformed("the JWK is not a JSON object".into()))?;
        if obj.contains_key("d") {
            return Err(AcmeError::Malformed(
                "the JWK holds a private key (\"d\"); send only the public key".into(),
            ));
        }
        match (member(obj, "kty")?, obj.get("crv").and_then(Value::as_str)) {
            ("EC", Some("P-256")) => Ok(Jwk::Ec {
                crv: "P-256",
                x: coordinate(obj, "x", 32)?,
                y: coordinate(obj, "y", 32)?,
            }),
            ("EC", Some("P-384")) => Ok(Jwk::Ec {
                crv: "P-384",
                x: coordinate(obj, "x", 48)?,
                y: coordinate(obj, "y", 48)?,
            }),
            ("RSA", _) => {
                let n = unsigned(obj, "n")?;
                if n.len() * 8 < 2048 || n.len() * 8 > 8192 {
                    return Err(AcmeError::BadPublicKey(
                        "RSA account keys must be 2048 to 8192 bits".into(),
                    ));
                }
                Ok(Jwk::Rsa {
                    n,
                    e: unsigned(obj, "e")?,
                })
            }
            ("OKP", Some("Ed25519")) => Ok(Jwk::Ed25519 {
                x: coordinate(obj, "x", 32)?,
            }),
            (kty, crv) => Err(AcmeError::BadPublicKey(format!(
                "account keys may be EC P-256/P-384, RSA or Ed25519, not kty {kty} crv {}",
                crv.unwrap_or("(none)")
            ))),
        }
    }

    /// The JWK as JSON with only its required members, in lexicographic order: the
    /// input of the RFC 7638 thumbprint, and the form stored with the account.
    pub fn canonical_json(&self) -> String {
        match self {
            Jwk::Ec { crv, x, y } => format!(
                r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
                B64.encode(x),
                B64.encode(y)
            ),
            Jwk::Rsa { n, e } => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                B64.encode(e),
                B64.encode(n)
            ),
            Jwk::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, B64.encode(x))
            }
        }
    }

    /// RFC 7638 thumbprint with SHA-256, base64url.
    pub fn thumbprint(&self) -> String {
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, self.canonical_json().as_bytes());
        B64.encode(digest.as_ref())
    }

    /// Checks `sig` over `message` with this key and algorithm `alg`.
    ///
    /// # Errors
    /// [`AcmeError::BadSignatureAlgorithm`] when `alg` does not fit the key,
    /// [`AcmeError::Malformed`] when the signature does not verify.
    pub fn verify(&self, alg: &str, message: &[u8], sig: &[u8]) -> Result<(), AcmeError> {
        let ok = match (self, alg) {
            (Jwk::Ec { crv: "P-256", x, y }, "ES256") => {
                ec_verify(&signature::ECDSA_P256_SHA256_FIXED, x, y, message, sig)
            }
            (Jwk::Ec { crv: "P-384", x, y }, "ES384") => {
                ec_verify(&signature::ECDSA_P384_SHA384_FIXED, x, y, message, sig)
            }
            (Jwk::Rsa { n, e }, "RS256") => signature::RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
            (Jwk::Ed25519 { x }, "EdDSA") => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
            _ => {
                return Err(AcmeError::BadSignatureAlgorithm(format!(
                    "\"alg\" {alg} does not fit this key; use ES256 (P-256), ES384 (P-384), \
                     RS256 (RSA) or EdDSA (Ed25519)"
                )));
            }
        };
        if ok {
            Ok(())
        } else {
            Err(AcmeError::Malformed(
                "the JWS signature does not verify".into(),
            ))
        }
    }
}

fn ec_verify(
    alg: &'static signature::EcdsaVerificationAlgorithm,
    x: &[u8],
    y: &[u8],
    message: &[u8],
    sig: &[u8],
) -> bool {
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    UnparsedPublicKey::new(alg, &point)
        .verify(message, sig)
        .is_ok()
}

/// Who signed: a new key (`jwk`, for newAccount and revocation by certificate key) or
/// an account (`kid`, its URL).
#[derive(Debug, Clone)]
pub enum Signer {
    /// The key itself.
    Jwk(Jwk),
    /// The account URL.
    Kid(String),
}

/// A parsed (not yet verified) ACME JWS.
#[derive(Debug, Clone)]
pub struct Jws {
    /// `alg` of the protected header.
    pub alg: String,
    /// `nonce`.
    pub nonce: String,
    /// `url`.
    pub url: String,
    /// `jwk` or `kid`.
    pub signer: Signer,
    /// Decoded payload; empty for POST-as-GET.
    pub payload: Vec<u8>,
    /// The bytes signed: `protected "." payload` as sent.
    pub signing_input: Vec<u8>,
    /// Decoded signature.
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Flattened {
    protected: String,
    payload: String,
    signature: String,
}

#[derive(Deserialize)]
struct Protected {
    alg: Option<String>,
    nonce: Option<String>,
    url: Option<String>,
    jwk: Option<Value>,
    kid: Option<String>,
    crit: Option<Value>,
}

fn header_str(value: Option<String>, name: &str) -> Result<String, AcmeError> {
    value.ok_or_else(|| AcmeError::Malformed(format!("the protected header has no \"{name}\"")))
}

impl Jws {
    /// Parses a flattened JSON JWS and its protected header. Checks the shape only:
    /// the signature, nonce and URL are checked by the caller.
    ///
    /// # Errors
    /// [`AcmeError::Malformed`], [`AcmeError::BadSignatureAlgorithm`] or
    /// [`AcmeError::BadPublicKey`], saying what is wrong.
    pub fn parse(body: &[u8]) -> Result<Jws, AcmeError> {
        if body.len() > MAX_JWS_BYTES {
            return Err(AcmeError::Malformed(format!(
                "the JWS is larger than {MAX_JWS_BYTES} bytes"
            )));
        }
        let flat: Flattened = serde_json::from_slice(body).map_err(|e| {
            AcmeError::Malformed(format!(
                "the body must be a flattened JSON JWS with only \"protected\", \"payload\" \
                 and \"signature\": {e}"
            ))
        })?;
        let header: Protected = serde_json::from_slice(&b64(&flat.protected, "\"protected\"")?)
            .map_err(|e| {
                AcmeError::Malformed(format!("the protected header is not a JSON object: {e}"))
            })?;
        let alg = header_str(header.alg, "alg")?;
        if alg == "none" || alg.starts_with("HS") {
            return Err(AcmeError::BadSignatureAlgorithm(format!(
                "\"alg\" {alg} is not allowed; sign with ES256, ES384, RS256 or EdDSA"
            )));
        }
        if header.crit.is_some() {
            return Err(AcmeError::Malformed(
                "no \"crit\" header extensions are understood".into(),
            ));
        }
        let signer = match (header.jwk, header.kid) {
            (Some(jwk), None) => Signer::Jwk(Jwk::from_json(&jwk)?),
            (None, Some(kid)) => Signer::Kid(kid),
            _ => {
                return Err(AcmeError::Malformed(
                    "the protected header must hold exactly one of \"jwk\" and \"kid\"".into(),
                ));
            }
        };
        let mut signing_input = flat.protected.into_bytes();
        signing_input.push(b'.');
        signing_input.extend_from_slice(flat.payload.as_bytes());
        Ok(Jws {
            alg,
            nonce: header_str(header.nonce, "nonce")?,
            url: header_str(header.url, "url")?,
            signer,
            payload: b64(&flat.payload, "\"payload\"")?,
            signing_input,
            signature: b64(&flat.signature, "\"signature\"")?,
        })
    }

    /// Checks the signature with `key`.
    ///
    /// # Errors
    /// See [`Jwk::verify`].
    pub fn verify_with(&self, key: &Jwk) -> Result<(), AcmeError> {
        key.verify(&self.alg, &self.signing_input, &self.signature)
    }

    /// The payload as JSON; `None` for POST-as-GET (empty payload).
    ///
    /// # Errors
    /// [`AcmeError::Malformed`] when the payload is not JSON.
    pub fn json(&self) -> Result<Option<Value>, AcmeError> {
        if self.payload.is_empty() {
            return Ok(None);
        }
        serde_json::from_slice(&self.payload)
            .map(Some)
            .map_err(|e| AcmeError::Malformed(format!("the payload is not JSON: {e}")))
    }
}

/// base64url without padding, as ACME uses everywhere.
pub fn b64url(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes base64url without padding.
///
/// # Errors
/// [`AcmeError::Malformed`] naming `what`.
pub fn from_b64url(text: &str, what: &str) -> Result<Vec<u8>, AcmeError> {
    b64(text, what)
}
