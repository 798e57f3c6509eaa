//! The MariaDB key endpoint's request parsers (`/v1/<mount>/data/<id>` and its
//! `version` query) on hostile input: no panic; an accepted id is the canonical
//! decimal spelling of a number from 1 to 4294967295; an accepted version is never 0.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_kms::tde::{Requested, parse_key_id, parse_version_query};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    if let Ok(id) = parse_key_id(&text) {
        assert_ne!(id, 0, "key id 0 accepted");
        assert_eq!(id.to_string(), text, "a second spelling of key id {id}");
    }

    match parse_version_query(Some(&text)) {
        Ok(Requested::Version(v)) => {
            assert_ne!(v, 0, "version 0 accepted");
            let again = parse_version_query(Some(&format!("version={v}")));
            assert_eq!(again, Ok(Requested::Version(v)), "version round trip");
        }
        Ok(Requested::Latest) => {
            assert!(
                !text
                    .split('&')
                    .any(|p| p.split('=').next() == Some("version")),
                "a version parameter was ignored: {text}"
            );
        }
        Ok(Requested::Beyond) | Err(_) => {}
    }
});
