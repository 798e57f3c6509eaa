//! `stream::decrypt` on hostile bytes: no panic, and nothing is ever released that was
//! not sealed with the key. The first byte picks the mode: odd, the rest is a whole
//! file; even, the rest is a body behind a genuine header (segment size 64) for a fixed
//! key, so the segment reader and end-of-file checks are reached past the header MAC.

#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use std::sync::OnceLock;
use webqx_crypto::stream::{self, FileHeader, StreamOptions};

const KEY: [u8; 32] = [7; 32];

/// A genuine header: an encrypted empty file minus its one 16-byte segment.
fn genuine_header() -> &'static [u8] {
    static HEADER: OnceLock<Vec<u8>> = OnceLock::new();
    HEADER.get_or_init(|| {
        let h = FileHeader::new("fuzz", 1, b"wrapped".to_vec()).with_segment_size(64);
        let mut file = Vec::new();
        let opts = StreamOptions {
            threads: 1,
            progress: None,
        };
        stream::encrypt(&h, &KEY, &b""[..], &mut file, &opts).expect("encrypts");
        file.truncate(file.len() - 16);
        file
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let file = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        [genuine_header(), rest].concat()
    };
    let mut input = Cursor::new(&file);
    let Ok(header) = stream::read_header(&mut input) else {
        return;
    };
    let threads = usize::from(mode >> 6) + 1;
    let mut out = Vec::new();
    let opts = StreamOptions {
        threads,
        progress: None,
    };
    let result = stream::decrypt(&header, &KEY, &mut input, &mut out, &opts);
    // Forging a GCM tag is out of reach: only the empty body of an empty file opens.
    if let Ok(n) = result {
        assert_eq!(n, out.len() as u64);
        assert!(out.len() <= file.len());
    }
});
