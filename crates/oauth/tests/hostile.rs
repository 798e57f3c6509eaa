//! Properties on hostile input (a stable-Rust stand-in for the `jwt_parse` fuzz target
//! between fuzz runs): the parsers and verifiers return errors, never panic, on
//! arbitrary text, on tokens whose segments encode arbitrary JSON-like text, and on
//! arbitrary JWK Sets.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use proptest::prelude::*;
use webqx_oauth::jws::UnverifiedJws;
use webqx_oauth::jwt::{AccessTokenVerifier, ClientAssertionVerifier};
use webqx_oauth::{Algorithm, Jwk, JwkSet};

const NOW: u64 = 1_800_000_000;

fn keys() -> JwkSet {
    JwkSet::from_keys(vec![Jwk::symmetric(&[7; 64], Some("k")).unwrap()]).unwrap()
}

fn exercise(text: &str, keys: &JwkSet) {
    if let Ok(jws) = UnverifiedJws::parse_compact(text) {
        let _ = jws.verify(keys, &Algorithm::ALL);
    }
    if let Ok(jws) = UnverifiedJws::parse_json(text) {
        let _ = jws.verify(keys, &Algorithm::ALL);
    }
    let access = AccessTokenVerifier::new(keys, "i", "a").with_algorithms(&Algorithm::ALL);
    let _ = access.verify_at(text, NOW);
    let assertion = ClientAssertionVerifier::new("t").with_algorithms(&Algorithm::ALL);
    let _ = assertion.verify_at(text, "c", keys, NOW);
    let _ = ClientAssertionVerifier::unverified_issuer(text);
}

/// Text that looks like JOSE JSON: braces, quotes, known member names, numbers.
fn jsonish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just("[".to_owned()),
            Just("]".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just("\"alg\"".to_owned()),
            Just("\"HS256\"".to_owned()),
            Just("\"kid\"".to_owned()),
            Just("\"k\"".to_owned()),
            Just("\"exp\"".to_owned()),
            Just("\"aud\"".to_owned()),
            Just("\"keys\"".to_owned()),
            Just("\"kty\"".to_owned()),
            "-?[0-9]{1,25}(\\.[0-9]{1,5})?(e[0-9]{1,4})?",
            "\"[ -~]{0,12}\"",
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "[A-Za-z0-9_.={}\":, -]{0,300}") {
        exercise(&text, &keys());
        let _ = JwkSet::parse_public(text.as_bytes());
    }

    #[test]
    fn arbitrary_segments_never_panic(header in jsonish(), claims in jsonish(), sig in prop::collection::vec(any::<u8>(), 0..80)) {
        let token = format!("{}.{}.{}", B64.encode(&header), B64.encode(&claims), B64.encode(&sig));
        exercise(&token, &keys());
        let flat = format!(r#"{{"protected":"{}","payload":"{}","signature":"{}"}}"#,
            B64.encode(&header), B64.encode(&claims), B64.encode(&sig));
        exercise(&flat, &keys());
        let _ = JwkSet::parse_public(header.as_bytes());
    }
}
