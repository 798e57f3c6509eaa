//! `webqx_pki::ca::inspect_certificate` (certificate reading, PEM or DER) on hostile
//! input: no panic; a certificate that reads has a hex serial and ordered-or-not dates
//! that convert.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(facts) = webqx_pki::ca::inspect_certificate(data) {
        assert!(facts.serial.chars().all(|c| c.is_ascii_hexdigit()));
        let _ = facts.not_before.to_rfc3339();
    }
});
