#![no_main]
//! OSV YAML (the PyPA database's form): `osv::parse_yaml` never panics, even on deep
//! nesting, anchors and aliases; an accepted advisory reads the same from its JSON
//! form.

use libfuzzer_sys::fuzz_target;
use webqx_vuln::osv;

fuzz_target!(|data: &[u8]| {
    let Ok(adv) = osv::parse_yaml(data) else {
        return;
    };
    let json = serde_json::to_vec(&adv).expect("an advisory serializes");
    assert_eq!(osv::parse_json(&json).ok().as_ref(), Some(&adv));
});
