//! JSON normalization (one line, and whole documents: AuditEvents, Bundles, trail
//! entries, any object): no panic, nesting bounded, every event keeps its dataset.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_events::normalize::{Format, Options, normalize_document, normalize_line};

fuzz_target!(|data: &[u8]| {
    let options = Options::default();
    if let Ok(event) = normalize_line(data, Format::Ndjson, &options) {
        assert!(event.get_str("event.dataset").is_some());
    }
    if let Ok(events) = normalize_document(data, &options) {
        for event in events {
            assert!(event.get_str("event.dataset").is_some());
        }
    }
    let _ = Format::detect(data);
});
