//! `webqx_pki::ca::check_csr` (the CA's PKCS#10 checker, PEM or DER) on hostile input:
//! no panic; whatever passes has at least one name and a public key that parses.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = webqx_pki::ca::check_csr(data) {
        assert!(!csr.names.is_empty(), "an accepted CSR names something");
        assert!(!csr.spki_der.is_empty(), "an accepted CSR has a public key");
    }
});
