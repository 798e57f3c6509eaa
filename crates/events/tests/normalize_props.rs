//! Properties of normalization: no input panics, in any format; dotted paths round trip.

use proptest::prelude::*;
use serde_json::{Value, json};
use webqx_events::normalize::{Event, Format, Options, normalize_document, normalize_line};

const FORMATS: [Format; 7] = [
    Format::Auto,
    Format::Syslog,
    Format::AccessLog,
    Format::Ndjson,
    Format::FhirJson,
    Format::Json,
    Format::Raw,
];

/// Lines that start like real ones and continue with anything, so the parsers get past
/// their first checks.
fn line_like() -> impl Strategy<Value = Vec<u8>> {
    let prefixes = prop::sample::select(vec![
        "Dec 10 06:55:46 LabSZ sshd[24200]: ",
        "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for ",
        "Dec 10 06:55:46 LabSZ sshd[24200]: Received disconnect from ",
        "Dec 10 06:55:46 LabSZ sshd[24200]: message repeated 3 times: [ ",
        "Dec 10 06:55:46 h sudo: a : ",
        "<38>1 2019-07-08T17:40:16Z h sshd 1 - - ",
        "2015-04-16T18:02:50+00:00 h sshd[1]: pam_unix(sshd:auth): ",
        "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /",
        "\"1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"",
        "{\"resourceType\":\"AuditEvent\",",
        "{\"v\":1,\"seq\":1,",
        "",
    ]);
    (prefixes, prop::collection::vec(any::<u8>(), 0..200)).prop_map(|(p, tail)| {
        let mut line = p.as_bytes().to_vec();
        line.extend(tail);
        line
    })
}

proptest! {
    #[test]
    fn no_line_panics(line in line_like(), format in prop::sample::select(FORMATS.to_vec())) {
        let options = Options { year: 2026, max_line_len: 150, ..Options::default() };
        if let Ok(event) = normalize_line(&line, format, &options) {
            prop_assert!(event.has("event.original"));
            prop_assert!(event.has("event.dataset"));
        }
    }

    #[test]
    fn no_bytes_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let options = Options::default();
        for format in FORMATS {
            let _ = normalize_line(&bytes, format, &options);
        }
        let _ = normalize_document(&bytes, &options);
        let _ = Format::detect(&bytes);
    }

    #[test]
    fn dotted_set_then_get_round_trips(
        steps in prop::collection::vec("[a-z@_]{1,6}", 1..6),
        value in any::<i64>(),
        other in "[a-z]{1,6}",
    ) {
        let path = steps.join(".");
        let mut event = Event::new();
        event.set(&other, "kept");
        prop_assert!(event.set(&path, value));
        prop_assert_eq!(event.get(&path), Some(&json!(value)));
        // The nested value is where the JSON says it is.
        let mut at: &Value = event.as_value();
        for step in &steps {
            at = &at[step.as_str()];
        }
        prop_assert_eq!(at, &json!(value));
        if !path.starts_with(&other) && !other.starts_with(steps[0].as_str()) {
            prop_assert_eq!(event.get_str(&other), Some("kept"));
        }
        prop_assert_eq!(event.remove(&path), Some(json!(value)));
        prop_assert_eq!(event.get(&path), None);
    }
}
