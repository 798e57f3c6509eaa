//! Protecting then unprotecting any JSON with the default FHIR policy: no panic, and
//! when both steps succeed the restored JSON is exactly the input (values, number
//! digits, key order).

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use webqx_kms::fhir::roundtrip_in_memory;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };

    if let Ok((_protected, restored)) = roundtrip_in_memory(&value) {
        assert!(
            restored == value,
            "round trip changed the resource\n input:    {value}\n restored: {restored}"
        );
    }
});
