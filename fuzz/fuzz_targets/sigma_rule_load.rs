//! Arbitrary YAML into the Sigma rule loader and, when it loads, into the engine
//! compiler and one evaluation per dataset: no panic, no hang, errors are typed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_detect::{Context, Engine, Options, RuleSet};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut set = RuleSet::new();
    if set.add_yaml("fuzz", text).is_err() {
        return;
    }
    let Ok(mut engine) = Engine::new(set, Context::new(), Options::default()) else {
        return;
    };
    for dataset in [
        "sshd",
        "nginx.access",
        "fhir.auditevent",
        "webqx.audit",
        "raw",
    ] {
        let mut event = serde_json::json!({
            "@timestamp": "2026-03-02T10:00:00Z",
            "event": {"dataset": dataset, "action": "ssh_failed_password"},
            "message": text,
            "url": {"decoded": text, "original": text},
            "source": {"ip": "192.0.2.1"},
            "user": {"name": "root", "id": "u1"},
            "ehr": {"patient": {"id": "p1"}},
        });
        let _ = engine.process(&mut event);
    }
});
