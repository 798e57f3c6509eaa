//! Arbitrary bytes into the EHR context loaders (JSON, and the three CSV tables split
//! at NUL bytes): no panic; whatever loads answers lookups and enriches an access.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_detect::{Context, Engine, Options, RuleSet};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut loaded = Vec::new();
    if let Ok(ctx) = Context::from_json(&text) {
        loaded.push(ctx);
    }
    let mut parts = text.splitn(3, '\0');
    let (users, patients, care) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    if let Ok(ctx) = Context::from_csv(users, patients, care) {
        loaded.push(ctx);
    }
    for ctx in loaded {
        let _ = ctx.user("u1");
        let Ok(mut engine) = Engine::new(RuleSet::new(), ctx, Options::default()) else {
            continue;
        };
        let mut event = serde_json::json!({
            "@timestamp": "2026-03-02T23:00:00Z",
            "event": {"dataset": "fhir.auditevent"},
            "user": {"id": "u1"}, "ehr": {"patient": {"id": "p1"}},
        });
        let _ = engine.process(&mut event);
    }
});
