//! The authorization server's request parsers on hostile input: the token endpoint's
//! form parser and the scope grammar (SMART v1/v2 and `webqx:keys/...`). No panic; a
//! parsed scope list prints back to a list that parses to the same scopes; every scope
//! covers itself; granting a list against itself gives the list.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_oauth::{form, scope};

fuzz_target!(|data: &[u8]| {
    if let Ok(params) = form::parse(data) {
        for value in params.values() {
            check_scopes(value);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_scopes(text);
    }
});

fn check_scopes(text: &str) {
    let Ok(scopes) = scope::parse_list(text) else {
        return;
    };
    let printed = scope::join(&scopes);
    let again = scope::parse_list(&printed).expect("printed scopes parse");
    assert_eq!(again, scopes, "round trip of {printed:?}");
    for s in &scopes {
        assert!(s.covers(s), "{s} covers itself");
    }
    assert_eq!(scope::grant(&scopes, &scopes).expect("self grant"), scopes);
    let _ = scope::key_grants(&scopes);
}
