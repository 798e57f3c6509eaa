//! `Config::from_text` on any UTF-8 text: no panic, including while locating an error's
//! line and column in the file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_server::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    if let Err(error) = Config::from_text("fuzz.toml", text, &[]) {
        let _ = error.to_string();
    }
});
