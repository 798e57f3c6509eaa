//! `webqx_pki::ca::ocsp::parse_request` (the OCSP responder's DER request parser) on
//! hostile input: no panic; an accepted request asks about 1 to 64 certificates.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = webqx_pki::ca::ocsp::parse_request(data) {
        assert!((1..=64).contains(&req.ids.len()));
    }
});
