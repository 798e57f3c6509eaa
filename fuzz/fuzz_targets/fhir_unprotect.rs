//! Unprotecting hostile "protected" JSON (forged extensions, `_element` holders,
//! search identifiers): no panic, and a resource that fails is left as it was.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webqx_kms::fhir::unprotect_in_memory;

fuzz_target!(|data: &[u8]| {
    let Ok(mut value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let original = value.clone();

    if unprotect_in_memory(&mut value).is_err() {
        assert!(value == original, "a failed unprotect changed the resource");
    }
});
