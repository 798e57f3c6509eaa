#![no_main]
//! Monitoring inputs: a `POST /v1/events` body (the first byte picks a content type;
//! `text/plain` and none are refused) and the same bytes as a gzip body,
//! log lines and a syslog message through one `LineReader` (so sshd connection tracking
//! sees a sequence), and a context document. `split` never panics and keeps its limits;
//! every accepted item and every line becomes an event object with `@timestamp` and
//! `labels.input`; a context document is accepted or refused, never a panic.

use libfuzzer_sys::fuzz_target;
use webqx_server::monitor::{body, event, sigma};

const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/x-ndjson",
    "application/json; charset=utf-8",
    "text/plain",
    "",
];

const LIMITS: body::Limits = body::Limits {
    max_items: 64,
    max_item_bytes: 4096,
};

fn check(e: &serde_json::Value, input: &str) {
    assert!(e["@timestamp"].is_string());
    assert_eq!(e["labels"]["input"], input);
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(first) % CONTENT_TYPES.len()];
    if let Ok(parts) = body::split(content_type, rest, LIMITS) {
        assert!(parts.len() <= LIMITS.max_items);
        for part in parts {
            let Ok(item) = part.item else { continue };
            let serde_json::Value::Object(map) = item else {
                panic!("an accepted item is not an object");
            };
            check(&event::from_object(map, "http"), "http");
        }
    }
    if let Ok(plain) = body::decode(Some("gzip"), rest, 4096) {
        assert!(plain.len() <= 4096);
    }
    let mut reader = event::LineReader::new("file:/x");
    for line in rest.split(|b| *b == b'\n') {
        if let Some(e) = reader.line(line) {
            check(&e, "file:/x");
            assert!(e.to_string().len() <= 3 * line.len() + 64 * 1024);
        }
    }
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(5, ' ');
    let (ts, host, app, pid) = (parts.next(), parts.next(), parts.next(), parts.next());
    if let Some(e) = reader.syslog_message(ts, host, app, pid, parts.next().unwrap_or_default()) {
        check(&e, "file:/x");
    }
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(rest) {
        for kind in ["users", "patients", "care"] {
            let _ = sigma::check_context(kind, &doc);
        }
    }
});
