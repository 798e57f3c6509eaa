//! `normalize_line` on access-log lines: no panic; a parsed line has a status code
//! and a decoded URL that decoding no further than three rounds produced.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_events::normalize::{Format, Options, decode_url, normalize_line};

fuzz_target!(|data: &[u8]| {
    let options = Options::default();
    let Ok(event) = normalize_line(data, Format::AccessLog, &options) else {
        return;
    };
    if event.get_str("event.dataset") == Some("apache.access") {
        assert!(event.get("http.response.status_code").is_some());
        if let Some(path) = event.get_str("url.path") {
            let (decoded, rounds) = decode_url(path, event.get_str("url.query"));
            assert!(rounds <= 3);
            assert_eq!(event.get_str("url.decoded"), Some(decoded.as_str()));
        }
    }
});
