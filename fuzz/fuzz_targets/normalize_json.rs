//! JSON normalization (one line, and whole documents: AuditEvents, Bundles, trail
//! entries, any object): no panic, nesting bounded, every event keeps its dataset and
//! is written as the same JSON whether serialized itself, as a `serde_json` value or by
//! the hand-written writer.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_events::normalize::{Event, Format, Options, normalize_document, normalize_line};

fn same_json(event: &Event) {
    let text = serde_json::to_string(event).expect("an event serializes");
    assert_eq!(
        text,
        serde_json::to_string(&event.to_value()).expect("its value too")
    );
    assert_eq!(
        text,
        event.to_json_text(),
        "the hand-written writer differs"
    );
}

fuzz_target!(|data: &[u8]| {
    let options = Options::default();
    if let Ok(event) = normalize_line(data, Format::Ndjson, &options) {
        assert!(event.get_str("event.dataset").is_some());
        same_json(&event);
    }
    if let Ok(events) = normalize_document(data, &options) {
        for event in events {
            assert!(event.get_str("event.dataset").is_some());
            same_json(&event);
        }
    }
    let _ = Format::detect(data);
});
