//! Apache and nginx error-log lines through `normalize_line` (as `error_log` and as
//! `auto`): no panic; a parsed line has its dataset, a time and a message, and a
//! decoded URL when nginx named the request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_events::normalize::{Format, Options, normalize_line};

fuzz_target!(|data: &[u8]| {
    let options = Options::default();
    for format in [Format::ErrorLog, Format::Auto] {
        let Ok(event) = normalize_line(data, format, &options) else {
            return;
        };
        if let Some(dataset @ ("apache.error" | "nginx.error")) = event.get_str("event.dataset") {
            assert!(event.has("@timestamp"), "{dataset}");
            assert!(event.has("message"), "{dataset}");
            if event.has("url.path") {
                assert!(event.has("url.decoded"));
            }
        }
    }
    let _ = Format::detect(data);
});
