//! A Tang server over `tang-p521` key rings, for network-bound disk encryption with
//! clevis: the advertisement (a JWS over the public keys) and the key recovery (the
//! server's half of the McCallum-Relyea exchange).
//!
//! Each version of a ring holds one P-521 signing key (ES512, advertised as `verify`)
//! and one P-521 exchange key (ECMR, advertised as `deriveKey`). Only the newest
//! version is advertised. Every version from `min_decryption_version` on keeps
//! answering recoveries, so that volumes bound before a rotation stay recoverable
//! until the operator retires the old version by raising that minimum. A disabled,
//! pending-deletion or destroyed ring answers nothing.
//!
//! The wire format follows tangd 11 (see `docs/threat-model.md`): clevis pins the
//! advertisement by a JWK thumbprint (RFC 7638, SHA-256 by default) of a signing key and
//! names the exchange key in `/rec/<kid>` by its thumbprint.

use crate::types::KeyType;
use crate::{Kms, KmsError};
use base64::Engine as _;
use serde_json::{Value, json};
use std::fmt;
use webqx_audit::{AuditError, Outcome, RequestContext};
use webqx_crypto::SecretBytes;
use webqx_crypto::tang::{self as ec, COORD_LEN, Point};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Largest JWK accepted in a recovery request.
pub const MAX_JWK_BYTES: usize = 4096;

/// Errors of the Tang endpoints. The HTTP statuses follow tangd.
#[derive(Debug)]
#[non_exhaustive]
pub enum TangError {
    /// No usable key of the ring has this thumbprint (404).
    UnknownKey,
    /// The thumbprint names a signing key; only exchange keys recover (403).
    NotExchangeKey,
    /// The request body is not a P-521 public JWK with a valid point (400).
    BadJwk(String),
    /// A key service failure (sealed, ring disabled or destroyed, storage, audit).
    Kms(KmsError),
}

impl TangError {
    /// Stable identifier of the error kind.
    pub fn kind(&self) -> &'static str {
        match self {
            TangError::UnknownKey => "tang-unknown-key",
            TangError::NotExchangeKey => "tang-not-exchange-key",
            TangError::BadJwk(_) => "tang-invalid-jwk",
            TangError::Kms(e) => e.kind(),
        }
    }
}

impl fmt::Display for TangError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TangError::UnknownKey => f.write_str(
                "no current Tang key has this thumbprint: the binding was made with a key \
                 that was retired, or with another server; rebind with `clevis luks regen`",
            ),
            TangError::NotExchangeKey => f.write_str(
                "this thumbprint names a signing key; recovery takes the thumbprint of an \
                 exchange (deriveKey) key",
            ),
            TangError::BadJwk(why) => write!(
                f,
                "the body must be a public P-521 EC JWK (application/jwk+json): {why}"
            ),
            TangError::Kms(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for TangError {}

impl From<KmsError> for TangError {
    fn from(e: KmsError) -> Self {
        TangError::Kms(e)
    }
}

impl From<AuditError> for TangError {
    fn from(e: AuditError) -> Self {
        TangError::Kms(KmsError::Audit(e))
    }
}

impl From<webqx_store::StoreError> for TangError {
    fn from(e: webqx_store::StoreError) -> Self {
        TangError::Kms(KmsError::Store(e))
    }
}

impl webqx_audit::Audited for TangError {
    fn audit_reason(&self) -> &'static str {
        self.kind()
    }

    fn audit_outcome(&self) -> Outcome {
        match self {
            TangError::Kms(e) => webqx_audit::Audited::audit_outcome(e),
            TangError::NotExchangeKey => Outcome::Denied,
            _ => Outcome::Failure,
        }
    }
}

/// Material of a new version: the signing scalar, then the exchange scalar.
pub(crate) fn new_material() -> Result<SecretBytes, KmsError> {
    let sign = ec::generate().map_err(crate::error::internal)?;
    let exchange = ec::generate().map_err(crate::error::internal)?;
    let mut both = Vec::with_capacity(2 * COORD_LEN);
    both.extend_from_slice(sign.expose());
    both.extend_from_slice(exchange.expose());
    Ok(SecretBytes::new(both))
}

/// One version's keys.
struct VersionKeys {
    version: u32,
    material: SecretBytes,
    verify: Point,
    exchange: Point,
}

impl VersionKeys {
    fn new(version: u32, material: SecretBytes) -> Result<VersionKeys, KmsError> {
        let bytes = material.expose();
        let (Some(sign), Some(exchange)) = (bytes.get(..COORD_LEN), bytes.get(COORD_LEN..)) else {
            return Err(KmsError::Internal(
                "Tang key material has the wrong length".into(),
            ));
        };
        let verify = ec::public_point(sign).map_err(crate::error::internal)?;
        let exchange = ec::public_point(exchange).map_err(crate::error::internal)?;
        Ok(VersionKeys {
            version,
            material,
            verify,
            exchange,
        })
    }

    fn signing_scalar(&self) -> &[u8] {
        self.material.expose().get(..COORD_LEN).unwrap_or_default()
    }

    fn exchange_scalar(&self) -> &[u8] {
        self.material.expose().get(COORD_LEN..).unwrap_or_default()
    }
}

/// A public JWK of `point` with the given `alg` and `key_ops`.
pub fn public_jwk(point: &Point, alg: &str, op: &str) -> Value {
    json!({
        "alg": alg,
        "crv": "P-521",
        "key_ops": [op],
        "kty": "EC",
        "x": B64.encode(point.x()),
        "y": B64.encode(point.y()),
    })
}

/// Parses a public P-521 EC JWK, as clevis sends to `/rec`, and validates its point
/// (66-byte coordinates, on the curve, not the identity). A JWK carrying a private key
/// (`d`) is refused.
///
/// # Errors
/// [`TangError::BadJwk`] saying what is wrong.
pub fn parse_jwk(body: &[u8]) -> Result<Point, TangError> {
    let bad = |why: &str| TangError::BadJwk(why.to_owned());
    if body.len() > MAX_JWK_BYTES {
        return Err(bad("the body is larger than 4096 bytes"));
    }
    let value: Value = serde_json::from_slice(body).map_err(|_| bad("it is not JSON"))?;
    let jwk = value
        .as_object()
        .ok_or_else(|| bad("it is not a JSON object"))?;
    if jwk.get("kty").and_then(Value::as_str) != Some("EC") {
        return Err(bad("kty must be \"EC\""));
    }
    if jwk.get("crv").and_then(Value::as_str) != Some("P-521") {
        return Err(bad("crv must be \"P-521\""));
    }
    if jwk.contains_key("d") {
        return Err(bad("it holds a private key (d); send the public key only"));
    }
    let coord = |name: &str| -> Result<Vec<u8>, TangError> {
        let text = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| bad(&format!("{name} is missing or not a string")))?;
        B64.decode(text)
            .map_err(|_| bad(&format!("{name} is not base64url without padding")))
    };
    let (x, y) = (coord("x")?, coord("y")?);
    Point::from_coordinates(&x, &y).map_err(|e| TangError::BadJwk(e.to_string()))
}

/// At most the first 128 characters of a client-chosen identifier, for the audit record.
fn clip(text: &str) -> &str {
    text.char_indices()
        .nth(128)
        .and_then(|(end, _)| text.get(..end))
        .unwrap_or(text)
}

/// True for a plausible thumbprint: 1 to 128 base64url characters.
fn plausible_thumbprint(thp: &str) -> bool {
    (1..=128).contains(&thp.len())
        && thp
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Kms {
    /// The keys of every version of a usable Tang ring still allowed to recover,
    /// newest first.
    async fn tang_keys(&self, ring: &str) -> Result<Vec<VersionKeys>, KmsError> {
        let mut ring = self.ring(ring, "Tang", |t| t == KeyType::TangP521).await?;
        ring.refresh(self).await?;
        let (min, latest) = (ring.key.min_decryption_version, ring.key.latest_version);
        let mut out = Vec::new();
        for v in (min..=latest).rev() {
            let material = ring.material(self, v).await?.clone();
            out.push(VersionKeys::new(v, material)?);
        }
        Ok(out)
    }

    /// The advertisement of Tang ring `ring`: a JWS (JSON serialization) whose
    /// payload is the JWK set of the newest version's verify and exchange keys, signed
    /// by its signing key and, when `thp` names the signing key of an older version still
    /// in use, by that key too (so that a client pinned to it can trust the new keys).
    ///
    /// # Errors
    /// [`TangError::UnknownKey`] when `thp` names no signing key in use; key service
    /// errors (sealed, ring missing, disabled or destroyed, wrong type).
    pub async fn tang_advertisement(
        &self,
        ctx: &RequestContext,
        ring: &str,
        thp: Option<&str>,
    ) -> Result<String, TangError> {
        let rec = ctx.record("tang.advertise", Some(format!("key:{ring}")));
        self.audit
            .audited(rec, async |rec| {
                let keys = self.tang_keys(ring).await?;
                let newest = keys.first().ok_or(TangError::UnknownKey)?;
                let mut signers = vec![newest];
                if let Some(thp) = thp.filter(|t| !t.is_empty()) {
                    rec.detail("thp", clip(thp));
                    let pinned = keys
                        .iter()
                        .find(|k| plausible_thumbprint(thp) && k.verify.has_thumbprint(thp))
                        .ok_or(TangError::UnknownKey)?;
                    if pinned.version != newest.version {
                        signers.push(pinned);
                    }
                }
                rec.detail("version", newest.version);
                Ok(jws(newest, &signers)?)
            })
            .await
    }

    /// Recovery: the client's point (a public JWK) multiplied by the private exchange key
    /// whose thumbprint is `kid`, as a public JWK. Audited with the key id, the version
    /// and the outcome (never a point).
    ///
    /// # Errors
    /// [`TangError::UnknownKey`] (no exchange key in use has that thumbprint),
    /// [`TangError::NotExchangeKey`], [`TangError::BadJwk`], key service errors.
    pub async fn tang_recover(
        &self,
        ctx: &RequestContext,
        ring: &str,
        kid: &str,
        body: &[u8],
    ) -> Result<String, TangError> {
        let mut rec = ctx.record("tang.recover", Some(format!("key:{ring}")));
        rec.detail("kid", clip(kid));
        let result = self
            .audit
            .audited(rec, async |rec| {
                let keys = self.tang_keys(ring).await?;
                let plausible = plausible_thumbprint(kid);
                let Some(key) = keys
                    .iter()
                    .find(|k| plausible && k.exchange.has_thumbprint(kid))
                else {
                    if plausible && keys.iter().any(|k| k.verify.has_thumbprint(kid)) {
                        return Err(TangError::NotExchangeKey);
                    }
                    return Err(TangError::UnknownKey);
                };
                let point = parse_jwk(body)?;
                let out = ec::multiply(key.exchange_scalar(), &point)
                    .map_err(|e| TangError::Kms(crate::error::internal(e)))?;
                rec.detail("version", key.version);
                Ok(public_jwk(&out, "ECMR", "deriveKey").to_string())
            })
            .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind(),
        };
        metrics::counter!("webqx_tang_recoveries_total", "outcome" => outcome).increment(1);
        result
    }
}

/// The JWS (JSON serialization, flattened for one signer) of the newest keys, signed
/// by every signer.
fn jws(newest: &VersionKeys, signers: &[&VersionKeys]) -> Result<String, KmsError> {
    let payload = json!({
        "keys": [
            public_jwk(&newest.verify, "ES512", "verify"),
            public_jwk(&newest.exchange, "ECMR", "deriveKey"),
        ]
    });
    let payload = B64.encode(payload.to_string());
    let protected = B64.encode(r#"{"alg":"ES512","cty":"jwk-set+json"}"#);
    let signing_input = format!("{protected}.{payload}");
    let mut signatures = Vec::with_capacity(signers.len());
    for signer in signers {
        let sig = ec::sign_es512(signer.signing_scalar(), signing_input.as_bytes())
            .map_err(crate::error::internal)?;
        signatures.push(json!({"protected": protected, "signature": B64.encode(sig)}));
    }
    // One signature: the flattened serialization (RFC 7515 §7.2.2), as tangd sends.
    if let [Value::Object(only)] = signatures.as_slice() {
        let mut flat = only.clone();
        flat.insert("payload".into(), Value::String(payload));
        return Ok(Value::Object(flat).to_string());
    }
    Ok(json!({"payload": payload, "signatures": signatures}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk_of(p: &Point) -> Vec<u8> {
        public_jwk(p, "ECMR", "deriveKey").to_string().into_bytes()
    }

    #[test]
    fn identifiers_are_clipped_for_the_audit_record() {
        assert_eq!(clip("abc"), "abc");
        assert_eq!(clip(&"é".repeat(200)).chars().count(), 128);
    }

    #[test]
    fn a_public_jwk_round_trips() {
        let d = ec::generate().unwrap();
        let p = ec::public_point(d.expose()).unwrap();
        assert_eq!(parse_jwk(&jwk_of(&p)).unwrap(), p);
    }

    #[test]
    fn malformed_jwks_are_refused_with_a_reason() {
        let d = ec::generate().unwrap();
        let p = ec::public_point(d.expose()).unwrap();
        let good: Value = serde_json::from_slice(&jwk_of(&p)).unwrap();
        let with = |k: &str, v: Value| {
            let mut j = good.clone();
            j[k] = v;
            j.to_string().into_bytes()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"not json".to_vec(), "not JSON"),
            (b"[]".to_vec(), "not a JSON object"),
            (with("kty", json!("RSA")), "kty"),
            (with("crv", json!("P-256")), "crv"),
            (with("d", json!("AAAA")), "private key"),
            (with("x", json!(1)), "x is missing"),
            (with("y", json!("***")), "base64url"),
            (with("x", json!(B64.encode([0u8; 65]))), "66 bytes"),
            (
                with("y", json!(B64.encode(p.x()))),
                "not on the P-521 curve",
            ),
            (vec![b' '; MAX_JWK_BYTES + 1], "4096"),
        ];
        for (body, why) in cases {
            match parse_jwk(&body) {
                Err(TangError::BadJwk(m)) => assert!(m.contains(why), "{why}: {m}"),
                other => panic!("{why}: {other:?}"),
            }
        }
    }

    /// RFC 7638 §3.1 computes over exactly crv, kty, x, y in lexicographic order.
    #[test]
    fn thumbprint_input_is_the_rfc7638_member_set() {
        let d = ec::generate().unwrap();
        let p = ec::public_point(d.expose()).unwrap();
        let input: Value = serde_json::from_str(&p.thumbprint_input()).unwrap();
        let keys: Vec<&String> = input.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["crv", "kty", "x", "y"]);
        assert!(!p.thumbprint_input().contains(' '));
        assert_eq!(p.thumbprint(ec::ThumbprintHash::S256).len(), 43);
        assert!(p.has_thumbprint(&p.thumbprint(ec::ThumbprintHash::S1)));
        assert!(!p.has_thumbprint("AAAA"));
    }

    #[test]
    fn advertisement_is_signed_by_each_signer() {
        let v1 = VersionKeys::new(1, new_material().unwrap()).unwrap();
        let v2 = VersionKeys::new(2, new_material().unwrap()).unwrap();
        let flat: Value = serde_json::from_str(&jws(&v1, &[&v1]).unwrap()).unwrap();
        assert!(flat["signature"].is_string() && flat.get("signatures").is_none());
        let text = jws(&v2, &[&v2, &v1]).unwrap();
        let doc: Value = serde_json::from_str(&text).unwrap();
        let payload = doc["payload"].as_str().unwrap();
        let sigs = doc["signatures"].as_array().unwrap();
        assert_eq!(sigs.len(), 2);
        for (sig, key) in sigs.iter().zip([&v2.verify, &v1.verify]) {
            let input = format!("{}.{payload}", sig["protected"].as_str().unwrap());
            let raw = B64.decode(sig["signature"].as_str().unwrap()).unwrap();
            assert!(ec::verify_es512(key, input.as_bytes(), &raw));
        }
        let keys: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
        assert_eq!(keys["keys"][0]["key_ops"], json!(["verify"]));
        assert_eq!(keys["keys"][1]["alg"], json!("ECMR"));
        assert_eq!(
            parse_jwk(keys["keys"][1].to_string().as_bytes()).unwrap(),
            v2.exchange
        );
    }
}
