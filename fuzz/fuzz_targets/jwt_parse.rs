//! `webqx_oauth` on hostile input: the compact and JSON JWS parsers, the access-token and
//! client-assertion verifiers, and the JWKS parser. No panic; whatever JWK Set parses
//! re-serializes to a set that parses to the same thumbprints.
//!
//! The key set holds a fixed HMAC key (kid `fuzz`), so seeds signed with it reach the
//! claims checks; the secret is a test constant, not a real key.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use webqx_oauth::jws::UnverifiedJws;
use webqx_oauth::jwt::{AccessTokenVerifier, ClientAssertionVerifier};
use webqx_oauth::{Algorithm, Jwk, JwkSet};

const SECRET: &[u8; 32] = b"webqx-fuzz-hmac-secret-32-bytes!";
const NOW: u64 = 1_800_000_000;

fn keys() -> &'static JwkSet {
    static KEYS: OnceLock<JwkSet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mac = Jwk::symmetric(SECRET, Some("fuzz")).expect("fuzz HMAC key");
        JwkSet::from_keys(vec![mac]).expect("one key")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(jws) = UnverifiedJws::parse_compact(text) {
            let _ = jws.verify(keys(), &Algorithm::ALL);
        }
        if let Ok(jws) = UnverifiedJws::parse_json(text) {
            let _ = jws.verify(keys(), &Algorithm::ALL);
        }
        let access = AccessTokenVerifier::new(keys(), "https://issuer.test", "https://aud.test")
            .with_algorithms(&Algorithm::ALL);
        let _ = access.verify_at(text, NOW);
        let assertion = ClientAssertionVerifier::new("https://issuer.test/token")
            .with_algorithms(&Algorithm::ALL);
        let _ = assertion.verify_at(text, "client", keys(), NOW);
        let _ = ClientAssertionVerifier::unverified_issuer(text);
    }
    if let Ok(set) = JwkSet::parse_public(data) {
        let again = set.to_json().to_string();
        let reparsed = JwkSet::parse_public(again.as_bytes()).expect("published JWKS parses");
        let before: Vec<String> = set.keys().iter().map(Jwk::thumbprint).collect();
        let after: Vec<String> = reparsed.keys().iter().map(Jwk::thumbprint).collect();
        assert_eq!(before, after, "JWKS round trip keeps thumbprints");
    }
});
