//! Secret redaction (`redact_event`, `redact_text`, `redact_cookies`) over any line
//! the normalizer takes: no panic, no cookie value left in the cookie fields, and a
//! second pass changes nothing (what was kept once is kept as it is).

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_events::normalize::{
    Format, Options, REDACTED, normalize_line, redact_cookies, redact_event, redact_text,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let once = redact_text(&text).into_owned();
    assert_eq!(redact_text(&once), once.as_str());
    let cookies = redact_cookies(&text).into_owned();
    assert_eq!(redact_cookies(&cookies), cookies.as_str());

    let Ok(event) = normalize_line(data, Format::Auto, &Options::default()) else {
        return;
    };
    let mut value = event.into_value();
    redact_event(&mut value);
    if let Some(kept) = value
        .pointer("/http/request/cookies")
        .and_then(|v| v.as_str())
    {
        for pair in kept.split("; ") {
            assert!(
                pair == REDACTED || pair.ends_with(&format!("={REDACTED}")),
                "{kept}"
            );
        }
    }
    assert!(!redact_event(&mut value), "a second pass changed {value}");
});
