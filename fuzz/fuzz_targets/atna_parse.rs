#![no_main]
//! ATNA (DICOM audit message XML): `atna::parse` never panics; what it accepts is a
//! valid AuditEvent, renders back to XML, and that XML parses to the same AuditEvent.

use libfuzzer_sys::fuzz_target;
use webqx_audit::render::atna::render;
use webqx_events::{atna, auditevent};

fuzz_target!(|data: &[u8]| {
    let Ok(xml) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = atna::parse(xml) else {
        return;
    };
    assert!(
        auditevent::validate(&event).is_ok(),
        "parse returned an invalid AuditEvent"
    );
    let again = render(&event);
    match atna::parse(&again) {
        Ok(back) => assert_eq!(back, event, "render then parse changed the event"),
        Err(e) => panic!("a parsed message did not survive rendering: {e}"),
    }
});
