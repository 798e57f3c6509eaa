//! `webqx_kms::tang::parse_jwk` (the body of a Tang `/rec` request) on hostile input: no
//! panic, and whatever parses is a valid P-521 point that round-trips through the JWK
//! the server would write.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_kms::tang::{parse_jwk, public_jwk};

fuzz_target!(|data: &[u8]| {
    if let Ok(point) = parse_jwk(data) {
        let again = public_jwk(&point, "ECMR", "deriveKey").to_string();
        assert_eq!(
            parse_jwk(again.as_bytes()).ok(),
            Some(point),
            "JWK round trip"
        );
    }
});
