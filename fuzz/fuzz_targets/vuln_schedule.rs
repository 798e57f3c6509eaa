//! The server's vulnerability scan schedules and paths on hostile input: cron expressions
//! and periods parse or fail with a message, never panic; a parsed schedule stores and
//! reads back to the same stored form, and its next time is after the time given;
//! target paths outside `[vuln] allowed_roots` are refused before any file access.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use webqx_server::config_vuln::VulnSection;
use webqx_server::vulnscans::Schedule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [
        Schedule::from_request(Some(text), None),
        Schedule::from_request(None, Some(text)),
    ] {
        let Ok(s) = parsed else { continue };
        let stored = s.stored();
        let again = Schedule::from_stored(&stored).expect("a stored schedule reads back");
        assert_eq!(again.stored(), stored);
        let at = 1_700_000_000_000;
        if let Some(next) = s.next_after(at) {
            assert!(next > at, "{stored}: {next} is not after {at}");
        }
    }
    let v = VulnSection {
        allowed_roots: vec![PathBuf::from("/nonexistent-webqx-fuzz-root")],
        ..VulnSection::default()
    };
    if let Ok(p) = v.confine(text) {
        panic!("{text:?} confined to {}", p.display());
    }
});
