//! The vulnerability ignore file and the report's text and link guards on hostile
//! input: an ignore file parses or fails with a message (and a line within the text),
//! never panics, and every entry it accepts has a non-blank id and reason; a link kept
//! for SARIF or CycloneDX is http(s) with nothing a URI may not hold; text escaped for
//! a terminal holds no control or bidirectional character.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_vuln::report::{escape_text, web_uri};
use webqx_vuln::scan::IgnoreFile;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match IgnoreFile::parse(text) {
        Ok(file) => {
            for e in &file.entries {
                assert!(!e.id.trim().is_empty() && !e.reason.trim().is_empty());
            }
        }
        Err(e) => {
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= text.matches('\n').count() + 1, "{e}");
            }
        }
    }
    if let Some(uri) = web_uri(text) {
        assert!(
            uri.starts_with("http://") || uri.starts_with("https://"),
            "{uri}"
        );
        assert!(
            uri.bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"<>\\^`{|}".contains(&b)),
            "{uri}"
        );
    }
    let shown = escape_text(text);
    assert!(
        !shown
            .chars()
            .any(|c| c.is_control() || ('\u{202A}'..='\u{202E}').contains(&c)),
        "{shown:?}"
    );
});
