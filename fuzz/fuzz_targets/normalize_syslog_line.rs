//! `normalize_line` on syslog-file lines (sshd, PAM, sudo, su, login and the header
//! forms): no panic; every event names its dataset and keeps the line; the sshd
//! session tracker and the failure verdict accept whatever comes out.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_events::normalize::{
    Format, Options, SshSessions, counts_as_ssh_failure, normalize_line,
};

fuzz_target!(|data: &[u8]| {
    let options = Options {
        year: 2026,
        ..Options::default()
    };
    let mut sessions = SshSessions::new();
    for line in data.split(|b| *b == b'\n') {
        match normalize_line(line, Format::Syslog, &options) {
            Ok(mut event) => {
                assert!(event.get_str("event.dataset").is_some());
                assert!(event.get_str("event.original").is_some());
                sessions.observe(&mut event);
                let _ = counts_as_ssh_failure(&event);
            }
            Err(rejected) => {
                let _ = rejected.to_string();
            }
        }
    }
});
