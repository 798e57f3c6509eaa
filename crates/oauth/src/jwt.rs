//! JWT claims validation (RFC 7519) for the two profiles the authorization server
//! speaks: RFC 9068 access tokens ([`AccessTokenVerifier`], [`AccessTokenClaims`]) and
//! RFC 7523 client assertions ([`ClientAssertionVerifier`]).
//!
//! Time checks take `now` (Unix seconds) from the caller so they can be tested at their
//! edges. With leeway `L`: a token is expired when `now > exp + L`, not yet valid when
//! `nbf > now + L`, and issued in the future when `iat > now + L`; so a clock that is
//! exactly `L` seconds off is accepted and one more second is not. Numeric dates must
//! be JSON numbers between 0 and the year 9999.

use crate::alg::Algorithm;
use crate::b64;
use crate::error::{SignError, TokenError};
use crate::json::{self, JsonRefusal};
use crate::jwk::JwkSet;
use crate::jws::{self, JwsSigner, UnverifiedJws};
use serde_json::{Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// Default clock-skew allowance, in seconds.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// Default longest client assertion lifetime (`exp - now`), in seconds (RFC 7523 and
/// SMART Backend Services ask for at most five minutes).
pub const DEFAULT_MAX_ASSERTION_LIFETIME_SECS: u64 = 300;
/// The `typ` of RFC 9068 access tokens.
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// Latest numeric date accepted: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;
/// Longest `jti` accepted, so a caller can store it with a fixed bound.
const MAX_JTI_LEN: usize = 256;

/// The current time in Unix seconds (0 if the clock is before 1970).
#[must_use]
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// A fresh random `jti`: 128 bits, base64url.
///
/// # Errors
/// [`SignError::Signer`] if the system random source fails.
pub fn new_jti() -> Result<String, SignError> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SignError::Signer("random source failed"))?;
    Ok(b64::encode(&bytes))
}

/// Parses a verified payload as the claims object.
fn claims_of(payload: &[u8]) -> Result<Map<String, Value>, TokenError> {
    json::parse_object(payload).map_err(|refusal| match refusal {
        JsonRefusal::DuplicateMember => TokenError::Malformed("claims repeat a member"),
        _ => TokenError::Malformed("claims are not a JSON object"),
    })
}

/// Reads a NumericDate claim: absent, or a JSON number in `0..=9999-12-31`, truncated
/// to whole seconds.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<u64>, TokenError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(TokenError::InvalidClaim(name));
    };
    let seconds = match number.as_u64() {
        Some(whole) => whole,
        None => match number.as_f64() {
            // The range check comes first, so the cast cannot saturate.
            Some(real) if real.is_finite() && (0.0..=MAX_NUMERIC_DATE as f64).contains(&real) => {
                real as u64
            }
            _ => return Err(TokenError::InvalidClaim(name)),
        },
    };
    if seconds > MAX_NUMERIC_DATE {
        return Err(TokenError::InvalidClaim(name));
    }
    Ok(Some(seconds))
}

fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &'static str,
) -> Result<&'a str, TokenError> {
    match claims.get(name) {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(TokenError::InvalidClaim(name)),
        None => Err(TokenError::MissingClaim(name)),
    }
}

/// The validated time claims.
#[derive(Debug, Clone, Copy)]
struct Times {
    exp: u64,
    iat: Option<u64>,
}

/// Checks `exp` (required), `nbf` and `iat` against `now` with `leeway`.
fn check_times(claims: &Map<String, Value>, now: u64, leeway: u64) -> Result<Times, TokenError> {
    let exp = numeric_date(claims, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    if now > exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid);
    }
    let iat = numeric_date(claims, "iat")?;
    if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
        return Err(TokenError::IssuedInFuture);
    }
    Ok(Times { exp, iat })
}

/// Reads `aud` (a string or a non-empty array of strings) and checks it names `expected`.
fn check_audience(claims: &Map<String, Value>, expected: &str) -> Result<Vec<String>, TokenError> {
    let audiences = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) if !many.is_empty() => many
            .iter()
            .map(|entry| entry.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(TokenError::InvalidClaim("aud"))?,
        Some(_) => return Err(TokenError::InvalidClaim("aud")),
        None => return Err(TokenError::MissingClaim("aud")),
    };
    if audiences.iter().any(|aud| aud == expected) {
        Ok(audiences)
    } else {
        Err(TokenError::WrongAudience)
    }
}

fn check_jti(claims: &Map<String, Value>) -> Result<String, TokenError> {
    let jti = string_claim(claims, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(TokenError::InvalidClaim("jti"));
    }
    Ok(jti.to_owned())
}

/// True for the RFC 9068 `typ` values, in any casing.
fn is_access_token_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(ACCESS_TOKEN_TYP) || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// The claims of an access token we issue (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// `iss`: our issuer identifier (the authorization server's URL).
    pub issuer: String,
    /// `sub`: for client credentials, the client id again.
    pub subject: String,
    /// `aud`: the resource servers the token is for (at least one).
    pub audience: Vec<String>,
    /// `client_id`.
    pub client_id: String,
    /// `scope`: the granted scopes.
    pub scopes: Vec<String>,
    /// `iat`, Unix seconds.
    pub issued_at: u64,
    /// `exp`, Unix seconds.
    pub expires_at: u64,
    /// `jti`: unique per token (see [`new_jti`]); revocation lists key on it.
    pub jti: String,
}

impl AccessTokenClaims {
    /// The claims as a JSON object.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let audience = match self.audience.as_slice() {
            [one] => Value::from(one.as_str()),
            many => Value::from(many.to_vec()),
        };
        serde_json::json!({
            "iss": self.issuer,
            "sub": self.subject,
            "aud": audience,
            "client_id": self.client_id,
            "scope": self.scopes.join(" "),
            "iat": self.issued_at,
            "exp": self.expires_at,
            "jti": self.jti,
        })
    }

    /// Signs these claims as an RFC 9068 access token (`typ: at+jwt`).
    ///
    /// # Errors
    /// [`SignError`] from the signer.
    pub fn issue(&self, signer: &dyn JwsSigner) -> Result<String, SignError> {
        let payload = serde_json::to_vec(&self.to_json()).map_err(|_| SignError::Claims)?;
        jws::sign_compact(signer, Some(ACCESS_TOKEN_TYP), &payload)
    }
}

/// A verified access token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AccessToken {
    /// The validated claims.
    pub claims: AccessTokenClaims,
    /// The `kid` of the key that signed it.
    pub kid: Option<String>,
    /// Every claim as sent (for claims this profile does not name).
    pub raw: Map<String, Value>,
}

/// Verifies RFC 9068 access tokens (the EHR side, or our own API) against a JWKS.
#[derive(Debug)]
pub struct AccessTokenVerifier<'k> {
    keys: &'k JwkSet,
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    leeway: u64,
}

impl<'k> AccessTokenVerifier<'k> {
    /// A verifier for tokens from `issuer` meant for `audience`, accepting EdDSA and
    /// ES256 with a 60-second leeway.
    #[must_use]
    pub fn new(keys: &'k JwkSet, issuer: &str, audience: &str) -> Self {
        Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            algorithms: vec![Algorithm::EdDSA, Algorithm::ES256],
            leeway: DEFAULT_LEEWAY_SECS,
        }
    }

    /// Replaces the accepted algorithms.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Replaces the leeway (seconds).
    #[must_use]
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Verifies `token` at time `now` (Unix seconds).
    ///
    /// # Errors
    /// Any [`TokenError`]; log its `Display`, count its `kind()`, show `public_text()`.
    pub fn verify_at(&self, token: &str, now: u64) -> Result<AccessToken, TokenError> {
        let verified = UnverifiedJws::parse_compact(token)?.verify(self.keys, &self.algorithms)?;
        if !verified.header.typ().is_some_and(is_access_token_typ) {
            return Err(TokenError::WrongType);
        }
        let raw = claims_of(&verified.payload)?;
        let claims = self.check_claims(&raw, now)?;
        Ok(AccessToken {
            claims,
            kid: verified.header.kid().map(str::to_owned),
            raw,
        })
    }

    /// Verifies `token` now.
    ///
    /// # Errors
    /// As [`AccessTokenVerifier::verify_at`].
    pub fn verify(&self, token: &str) -> Result<AccessToken, TokenError> {
        self.verify_at(token, now_secs())
    }

    fn check_claims(
        &self,
        raw: &Map<String, Value>,
        now: u64,
    ) -> Result<AccessTokenClaims, TokenError> {
        if string_claim(raw, "iss")? != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        let audience = check_audience(raw, &self.audience)?;
        let times = check_times(raw, now, self.leeway)?;
        let issued_at = times.iat.ok_or(TokenError::MissingClaim("iat"))?;
        let scopes = match raw.get("scope") {
            None => Vec::new(),
            Some(Value::String(scope)) => scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            Some(_) => return Err(TokenError::InvalidClaim("scope")),
        };
        Ok(AccessTokenClaims {
            issuer: self.issuer.clone(),
            subject: string_claim(raw, "sub")?.to_owned(),
            audience,
            client_id: string_claim(raw, "client_id")?.to_owned(),
            scopes,
            issued_at,
            expires_at: times.exp,
            jti: check_jti(raw)?,
        })
    }
}

/// A verified client assertion. The caller must refuse a `jti` it has seen before
/// from this client, and may forget it after `exp` (plus the leeway).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientAssertion {
    /// The client id (`iss` = `sub`).
    pub client_id: String,
    /// The assertion's `jti`, for replay checking.
    pub jti: String,
    /// The assertion's `exp`, Unix seconds.
    pub expires_at: u64,
    /// The `kid` of the client key that signed it.
    pub kid: Option<String>,
}

/// Verifies RFC 7523 client assertions (`private_key_jwt`) sent to our token endpoint.
#[derive(Debug, Clone)]
pub struct ClientAssertionVerifier {
    token_endpoint: String,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    max_lifetime: u64,
}

impl ClientAssertionVerifier {
    /// A verifier for assertions whose `aud` is `token_endpoint` (our token URL),
    /// accepting every asymmetric algorithm, a 60 s leeway and a 5-minute lifetime.
    #[must_use]
    pub fn new(token_endpoint: &str) -> Self {
        Self {
            token_endpoint: token_endpoint.to_owned(),
            algorithms: Algorithm::ASYMMETRIC.to_vec(),
            leeway: DEFAULT_LEEWAY_SECS,
            max_lifetime: DEFAULT_MAX_ASSERTION_LIFETIME_SECS,
        }
    }

    /// Replaces the accepted algorithms (HMAC ones never verify: client keys are public).
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Replaces the leeway (seconds).
    #[must_use]
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Replaces the longest accepted `exp - now` (seconds; the leeway comes on top).
    #[must_use]
    pub fn with_max_lifetime(mut self, seconds: u64) -> Self {
        self.max_lifetime = seconds;
        self
    }

    /// The `iss` claim of an assertion, unverified: only to choose which client's keys
    /// to verify it with. Never trust it before [`ClientAssertionVerifier::verify_at`].
    ///
    /// # Errors
    /// Any parsing [`TokenError`], or a missing `iss`.
    pub fn unverified_issuer(token: &str) -> Result<String, TokenError> {
        let jws = UnverifiedJws::parse_compact(token)?;
        let claims = claims_of(jws.payload_unverified())?;
        Ok(string_claim(&claims, "iss")?.to_owned())
    }

    /// Verifies `token` from client `client_id`, whose registered keys are `keys`, at
    /// time `now` (Unix seconds).
    ///
    /// # Errors
    /// Any [`TokenError`].
    pub fn verify_at(
        &self,
        token: &str,
        client_id: &str,
        keys: &JwkSet,
        now: u64,
    ) -> Result<ClientAssertion, TokenError> {
        let verified = UnverifiedJws::parse_compact(token)?.verify(keys, &self.algorithms)?;
        let claims = claims_of(&verified.payload)?;
        let issuer = string_claim(&claims, "iss")?;
        if string_claim(&claims, "sub")? != issuer {
            return Err(TokenError::SubjectMismatch);
        }
        if issuer != client_id {
            return Err(TokenError::WrongIssuer);
        }
        check_audience(&claims, &self.token_endpoint)?;
        let times = check_times(&claims, now, self.leeway)?;
        let horizon = now
            .saturating_add(self.max_lifetime)
            .saturating_add(self.leeway);
        if times.exp > horizon {
            return Err(TokenError::LifetimeTooLong);
        }
        Ok(ClientAssertion {
            client_id: client_id.to_owned(),
            jti: check_jti(&claims)?,
            expires_at: times.exp,
            kid: verified.header.kid().map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(text: &str) -> Map<String, Value> {
        claims_of(text.as_bytes()).unwrap()
    }

    #[test]
    fn numeric_dates_must_be_sane_numbers() {
        assert_eq!(numeric_date(&claims(r#"{"exp":10}"#), "exp"), Ok(Some(10)));
        assert_eq!(
            numeric_date(&claims(r#"{"exp":10.9}"#), "exp"),
            Ok(Some(10))
        );
        assert_eq!(
            numeric_date(&claims(r#"{"exp":1e3}"#), "exp"),
            Ok(Some(1000))
        );
        for bad in [
            r#""10""#,
            "-1",
            "1e400",
            "253402300800",
            "99999999999999999999",
            "null",
            "true",
        ] {
            let text = format!(r#"{{"exp":{bad}}}"#);
            assert_eq!(
                numeric_date(&claims(&text), "exp"),
                Err(TokenError::InvalidClaim("exp")),
                "{bad}"
            );
        }
    }

    #[test]
    fn audience_string_or_array() {
        assert!(check_audience(&claims(r#"{"aud":"a"}"#), "a").is_ok());
        assert!(check_audience(&claims(r#"{"aud":["b","a"]}"#), "a").is_ok());
        assert_eq!(
            check_audience(&claims(r#"{"aud":["b"]}"#), "a"),
            Err(TokenError::WrongAudience)
        );
        assert_eq!(
            check_audience(&claims(r#"{"aud":[]}"#), "a"),
            Err(TokenError::InvalidClaim("aud"))
        );
        assert_eq!(
            check_audience(&claims(r#"{"aud":[1]}"#), "a"),
            Err(TokenError::InvalidClaim("aud"))
        );
        assert_eq!(
            check_audience(&claims("{}"), "a"),
            Err(TokenError::MissingClaim("aud"))
        );
    }

    #[test]
    fn typ_accepts_both_spellings_in_any_case() {
        for typ in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/AT+JWT",
        ] {
            assert!(is_access_token_typ(typ), "{typ}");
        }
        for typ in ["JWT", "at+jwt ", "application/jwt", ""] {
            assert!(!is_access_token_typ(typ), "{typ}");
        }
    }

    #[test]
    fn jtis_are_fresh() {
        assert_ne!(new_jti().unwrap(), new_jti().unwrap());
    }
}
