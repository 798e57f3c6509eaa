//! `webqx_pki::acme::Jws::parse` and JWK reading (the body of every ACME request) on
//! hostile input: no panic; whatever parses can be verified (and fails or passes without
//! panicking), and a key that parses round-trips through its canonical JWK and keeps its
//! thumbprint.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_pki::acme::{Jwk, Jws, Signer};

fuzz_target!(|data: &[u8]| {
    if let Ok(jws) = Jws::parse(data) {
        if let Signer::Jwk(key) = &jws.signer {
            let _ = jws.verify_with(key);
            let canonical: serde_json::Value =
                serde_json::from_str(&key.canonical_json()).expect("canonical JWK is JSON");
            let again = Jwk::from_json(&canonical).expect("canonical JWK parses");
            assert_eq!(&again, key, "JWK round trip");
            assert_eq!(again.thumbprint(), key.thumbprint());
        }
        let _ = jws.json();
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = Jwk::from_json(&value);
    }
});
