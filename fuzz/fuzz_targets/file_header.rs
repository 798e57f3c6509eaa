//! `stream::read_header` on hostile input: no panic, no read past what it reports, and
//! whatever parses is written back by `stream::encrypt` with the same fields.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use webqx_crypto::stream::{self, StreamOptions};

fuzz_target!(|data: &[u8]| {
    let mut input = Cursor::new(data);
    let Ok(header) = stream::read_header(&mut input) else {
        return;
    };
    assert!(input.position() as usize <= data.len());

    let mut file = Vec::new();
    let opts = StreamOptions {
        threads: 1,
        progress: None,
    };
    stream::encrypt(&header, &[7; 32], &b""[..], &mut file, &opts)
        .expect("a parsed header encrypts");
    let again = stream::read_header(&mut Cursor::new(&file)).expect("written header parses");
    assert_eq!(again.key_name, header.key_name);
    assert_eq!(again.key_version, header.key_version);
    assert_eq!(again.wrapped_key, header.wrapped_key);
    assert_eq!(again.extensions, header.extensions);
    assert_eq!(again.segment_size(), header.segment_size());
});
