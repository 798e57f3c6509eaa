//! `webqx_pki::scan::hello::parse_server_flight` (a server's answer to a scanner probe)
//! on hostile input: no panic, and every prefix of an input that parses is either
//! incomplete or parses too (feeding bytes as they arrive must never fail earlier).

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_pki::scan::hello::{Progress, parse_server_flight};

fuzz_target!(|data: &[u8]| {
    let stop = data.first().is_some_and(|b| b & 1 == 1);
    let whole = parse_server_flight(data, stop);
    if let Ok(Progress::Done(flight)) = &whole {
        if let Some(hello) = &flight.hello {
            let _ = hello.version;
        }
    }
    let half = parse_server_flight(&data[..data.len() / 2], stop);
    if whole.is_ok() {
        assert!(
            half.is_ok(),
            "a prefix of a readable flight failed: {half:?}"
        );
    }
});
