#![no_main]
//! AuditEvent intake: the first byte picks a content type, the rest is the body.
//! `split` and `validate` never panic, and every item that validates renders as ATNA
//! XML that `atna::parse` reads back (the mappings are each other's inverse).

use libfuzzer_sys::fuzz_target;
use webqx_audit::render::atna::render;
use webqx_events::{atna, auditevent};

const CONTENT_TYPES: [&str; 8] = [
    "application/fhir+json",
    "application/json; charset=utf-8",
    "application/fhir+ndjson",
    "application/x-ndjson",
    "APPLICATION/NDJSON",
    "application/json; charset=latin1",
    "text/plain",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(first) % CONTENT_TYPES.len()];
    let Ok(items) = auditevent::split(content_type, body) else {
        return;
    };
    for item in items.into_iter().flatten() {
        if auditevent::validate(&item).is_err() {
            continue;
        }
        let xml = render(&item);
        assert!(!xml.contains('\n'), "ATNA rendering must be one line");
        if xml.len() <= atna::MAX_XML_BYTES
            && let Err(e) = atna::parse(&xml)
        {
            panic!("a valid AuditEvent did not survive ATNA rendering: {e}");
        }
    }
});
