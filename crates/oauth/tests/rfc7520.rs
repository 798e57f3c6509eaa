//! The RFC 7520 ("JOSE Cookbook") signature examples, verified with the cookbook's own
//! keys from `../shared/data/jwt/rfc7520-cookbook/jwk/`, plus the RFC 8037 Ed25519
//! example from `curve25519/jws.json`.
//!
//! Each file holds `input` (payload, key, alg), `signing` and `output` (`compact`,
//! `json` for the general serialization, `json_flat` for the flattened one). The
//! examples that put header members in the unprotected header (4.6, 4.7 and two of the
//! three signatures of 4.8) must be refused: nothing protects those members.

use serde_json::{Map, Value};
use webqx_oauth::jws::{UnverifiedJws, Verified};
use webqx_oauth::{Algorithm, Jwk, JwkSet, TokenError};

const BASE: &str = "jwt/rfc7520-cookbook";

fn load(relative: &str) -> Option<Value> {
    webqx_testkit::shared_json(&format!("{BASE}/{relative}"))
}

fn object(value: &Value) -> &Map<String, Value> {
    value.as_object().expect("a JSON object")
}

fn public_key(relative: &str) -> Option<JwkSet> {
    let key = Jwk::from_public_json(object(&load(relative)?)).expect("cookbook public key");
    Some(JwkSet::from_keys(vec![key]).expect("one key"))
}

fn symmetric_key() -> Option<JwkSet> {
    let jwk = load("jwk/3_5.symmetric_key_mac_computation.json")?;
    let key = Jwk::symmetric_from_json(object(&jwk)).expect("cookbook MAC key");
    Some(JwkSet::from_keys(vec![key]).expect("one key"))
}

fn verify_json(value: &Value, keys: &JwkSet) -> Result<Verified, TokenError> {
    UnverifiedJws::parse_json(&value.to_string())?.verify(keys, &Algorithm::ALL)
}

/// Checks the three serializations of one example and returns its payload.
fn verify_all_forms(example: &Value, keys: &JwkSet) -> Vec<u8> {
    let output = &example["output"];
    let compact = output["compact"].as_str().expect("compact form");
    let payload = UnverifiedJws::parse_compact(compact)
        .and_then(|jws| jws.verify(keys, &Algorithm::ALL))
        .expect("compact form verifies")
        .payload;
    for form in ["json", "json_flat"] {
        let verified = verify_json(&output[form], keys).expect(form);
        assert_eq!(verified.payload, payload, "{form}");
    }
    assert_eq!(
        payload,
        example["input"]["payload"]
            .as_str()
            .expect("payload")
            .as_bytes()
    );
    payload
}

#[test]
fn rsa_pkcs1_pss_ecdsa_and_hmac_examples_verify() {
    let (Some(rsa), Some(ec), Some(mac)) = (
        public_key("jwk/3_3.rsa_public_key.json"),
        public_key("jwk/3_1.ec_public_key.json"),
        symmetric_key(),
    ) else {
        return;
    };
    let examples = [
        ("jws/4_1.rsa_v15_signature.json", &rsa, Algorithm::RS256),
        ("jws/4_2.rsa-pss_signature.json", &rsa, Algorithm::PS384),
        ("jws/4_3.ecdsa_signature.json", &ec, Algorithm::ES512),
        (
            "jws/4_4.hmac-sha2_integrity_protection.json",
            &mac,
            Algorithm::HS256,
        ),
    ];
    for (file, keys, alg) in examples {
        let example = load(file).expect("example file");
        assert_eq!(example["input"]["alg"], alg.as_str(), "{file}");
        verify_all_forms(&example, keys);
    }
}

#[test]
fn detached_content_verifies_once_the_payload_is_put_back() {
    let (Some(example), Some(mac)) = (
        load("jws/4_5.signature_with_detached_content.json"),
        symmetric_key(),
    ) else {
        return;
    };
    let compact = example["output"]["compact"].as_str().expect("compact");
    let payload = example["input"]["payload"].as_str().expect("payload");
    let (header, signature) = compact
        .split_once("..")
        .expect("detached form header..signature");
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload);
    let attached = format!("{header}.{encoded}.{signature}");
    let verified = UnverifiedJws::parse_compact(&attached)
        .and_then(|jws| jws.verify(&mac, &Algorithm::ALL))
        .expect("re-attached payload verifies");
    assert_eq!(verified.payload, payload.as_bytes());
    // As sent (empty payload) it is a MAC over other bytes.
    let detached =
        UnverifiedJws::parse_compact(compact).and_then(|jws| jws.verify(&mac, &Algorithm::ALL));
    assert_eq!(detached.unwrap_err(), TokenError::BadSignature);
}

#[test]
fn unprotected_header_examples_are_refused() {
    let Some(mac) = symmetric_key() else {
        return;
    };
    for file in [
        "jws/4_6.protecting_specific_header_fields.json",
        "jws/4_7.protecting_content_only.json",
    ] {
        let example = load(file).expect("example file");
        for form in ["json", "json_flat"] {
            let refused = verify_json(&example["output"][form], &mac).unwrap_err();
            assert!(
                matches!(refused, TokenError::ForbiddenHeader(_)),
                "{file} {form}: {refused:?}"
            );
        }
    }
}

#[test]
fn multiple_signatures_each_checked_alone() {
    let (Some(example), Some(mac)) = (load("jws/4_8.multiple_signatures.json"), symmetric_key())
    else {
        return;
    };
    let general = &example["output"]["json"];
    let several = verify_json(general, &mac).unwrap_err();
    assert_eq!(
        several,
        TokenError::Malformed("JWS JSON needs exactly one signature")
    );
    let signatures = general["signatures"].as_array().expect("signatures");
    assert_eq!(signatures.len(), 3);
    let mut verified = 0;
    for signature in signatures {
        let mut flat = object(signature).clone();
        flat.insert("payload".into(), general["payload"].clone());
        match verify_json(&Value::Object(flat), &mac) {
            Ok(_) => verified += 1,
            Err(refused) => {
                assert!(
                    signature.get("header").is_some(),
                    "only unprotected headers are refused"
                );
                assert!(
                    matches!(refused, TokenError::ForbiddenHeader(_)),
                    "{refused:?}"
                );
            }
        }
    }
    // The HS256 signature (the only one with all its header protected) verifies.
    assert_eq!(verified, 1);
}

#[test]
fn rfc8037_ed25519_example_verifies() {
    let Some(example) = load("curve25519/jws.json") else {
        return;
    };
    let mut key = object(&example["input"]["key"]).clone();
    assert!(
        key.remove("d").is_some(),
        "the example key is private; verify with its public half"
    );
    let keys =
        JwkSet::from_keys(vec![Jwk::from_public_json(&key).expect("Ed25519 key")]).expect("set");
    assert_eq!(example["input"]["alg"], "EdDSA");
    verify_all_forms(&example, &keys);
}
