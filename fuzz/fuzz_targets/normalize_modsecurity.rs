//! ModSecurity JSON audit records (libmodsecurity 3 and ModSecurity 2.9 layouts) through
//! `normalize_line` and `from_modsecurity`: no panic; a record keeps its dataset, the
//! credential headers never become fields, and both entry points agree.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use webqx_events::normalize::{Format, Options, from_modsecurity, normalize_line};

fuzz_target!(|data: &[u8]| {
    let options = Options::default();
    let Ok(event) = normalize_line(data, Format::Ndjson, &options) else {
        return;
    };
    if event.get_str("event.dataset") != Some("modsecurity.audit") {
        return;
    }
    assert!(!event.has("http.request.headers.authorization"));
    assert!(!event.has("http.request.headers.proxy-authorization"));
    let Ok(object) = serde_json::from_slice::<Map<String, Value>>(data) else {
        return;
    };
    let direct = from_modsecurity(&object, &options).expect("a record normalize_line took");
    assert_eq!(direct.get("source"), event.get("source"));
    assert_eq!(direct.get("url"), event.get("url"));
});
