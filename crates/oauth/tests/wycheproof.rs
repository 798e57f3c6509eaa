//! Every case of Wycheproof's JSON Web Signature vectors gets the verdict the file
//! expects, except the few listed in `DISAGREEMENTS` with the reason for each.
//!
//! Data: `../shared/data/jwt/wycheproof_json_web_signature_test.json` (Apache-2.0, from
//! google/wycheproof). Missing data fails under `CI`, and is skipped with a message
//! elsewhere.

use serde_json::{Map, Value};
use webqx_oauth::jws::UnverifiedJws;
use webqx_oauth::{Algorithm, Jwk, JwkSet};

/// Cases where our verdict differs from the file's, on purpose. Each one is checked to
/// still differ, so this list cannot silently go stale.
const DISAGREEMENTS: [(u64, &str); 8] = [
    (
        346,
        "RFC 7520 Figure 20 is a PS384 signature, but the group's key says alg PS256; we bind \
         the key's alg to the token's (RFC 8725 §3.1), so the key may not verify PS384",
    ),
    (350, "as 346, with key_ops [verify]"),
    (
        347,
        "RFC 7520 Figure 27 is ES512, but the group's key says alg \"ES521\" (not a registered \
         JWS name); a key bound to another alg never verifies",
    ),
    (351, "as 347, with key_ops [verify]"),
    (
        367,
        "'invalidBase64Padding' is marked invalid, but its token is byte-for-byte the valid \
         token of case 357 (the padding its name promises is not in the file); we say valid",
    ),
    (
        370,
        "'invalidBase64PaddingInPayload': the same defect as 367",
    ),
    (
        372,
        "marked valid although its header segment holds '?': that is only valid to a decoder \
         that skips foreign characters; we decode base64url strictly (RFC 7515 §2) and refuse",
    ),
    (373, "as 372, with the '?' in the payload segment"),
];

/// The group's verification key: its public JWK, or for MAC groups its `oct` key.
fn group_keys(group: &Map<String, Value>) -> Option<JwkSet> {
    let key = match group.get("public") {
        Some(Value::Object(public)) if !public.is_empty() => Jwk::from_public_json(public),
        _ => Jwk::symmetric_from_json(group.get("private")?.as_object()?),
    };
    JwkSet::from_keys(vec![key.ok()?]).ok()
}

fn our_verdict(keys: Option<&JwkSet>, jws: &str) -> bool {
    let Some(keys) = keys else {
        return false;
    };
    let parsed = if jws.starts_with('{') {
        UnverifiedJws::parse_json(jws)
    } else {
        UnverifiedJws::parse_compact(jws)
    };
    parsed
        .and_then(|jws| jws.verify(keys, &Algorithm::ALL))
        .is_ok()
}

#[test]
fn every_wycheproof_jws_case_gets_the_expected_verdict() {
    let Some(file) = webqx_testkit::shared_json("jwt/wycheproof_json_web_signature_test.json")
    else {
        return;
    };
    let declared = file["numberOfTests"].as_u64().expect("numberOfTests");
    let groups = file["testGroups"].as_array().expect("testGroups");
    let (mut checked, mut valid, mut disagreed) = (0u64, 0u64, Vec::new());
    let mut failures = Vec::new();
    for group in groups {
        let group = group.as_object().expect("group object");
        let keys = group_keys(group);
        for case in group["tests"].as_array().expect("tests") {
            let id = case["tcId"].as_u64().expect("tcId");
            let expected = match case["result"].as_str() {
                Some("valid") => true,
                Some("invalid") => false,
                other => panic!("case {id}: unexpected result {other:?}"),
            };
            let ours = our_verdict(keys.as_ref(), case["jws"].as_str().expect("jws"));
            checked += 1;
            valid += u64::from(ours);
            let listed = DISAGREEMENTS.iter().any(|(listed, _)| *listed == id);
            match (ours == expected, listed) {
                (true, false) => {}
                (false, true) => disagreed.push(id),
                (false, false) => {
                    failures.push(format!("case {id}: expected {expected}, got {ours}"))
                }
                (true, true) => {
                    failures.push(format!("case {id} is listed but now agrees; unlist it"))
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, declared, "every declared case is checked");
    assert_eq!(disagreed.len(), DISAGREEMENTS.len());
    eprintln!(
        "wycheproof JWS: {checked} cases checked, {valid} accepted, {} deliberate disagreements \
         ({disagreed:?})",
        disagreed.len()
    );
}
