//! The duplicate-key check that runs before FHIR bodies are parsed: no panic on any
//! bytes, and JSON that serde_json itself wrote (keys unique by construction) always
//! passes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_kms::fhir::check_unique_keys;

fuzz_target!(|data: &[u8]| {
    let _ = check_unique_keys(data);
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let written = serde_json::to_vec(&value).unwrap_or_default();
        assert!(
            check_unique_keys(&written).is_ok(),
            "serde_json output flagged: {value}"
        );
    }
});
