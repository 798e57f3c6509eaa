//! A multi-GiB round trip through the `WQXF` stream engine, from a generated reader
//! through a pipe into a checking writer, so nothing of that size is ever stored; and
//! the process's peak memory stays bounded while it runs.
//!
//! Size: `WEBQX_STREAM_BIG_MIB` (default 3072, i.e. 3 GiB); segment size:
//! `WEBQX_STREAM_BIG_SEGMENT` (default the format's default; used to choose it). Alone in
//! this file so the peak-RSS figure is this test's own.

use std::io::{Read, Write};
use webqx_crypto::stream::{self, FileHeader, StreamOptions};

const BLOCK: usize = 64 * 1024;

/// Deterministic content: each 64 KiB block is a fixed pattern stamped with its index.
fn block(index: u64, out: &mut [u8], pattern: &[u8]) {
    out.copy_from_slice(&pattern[..out.len()]);
    let stamp = index.to_be_bytes();
    let n = stamp.len().min(out.len());
    out[..n].copy_from_slice(&stamp[..n]);
}

fn pattern() -> Vec<u8> {
    (0..BLOCK).map(|i| (i * 7 % 253) as u8).collect()
}

struct Generated {
    pos: u64,
    len: u64,
    pattern: Vec<u8>,
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len - self.pos;
        let in_block = (self.pos % BLOCK as u64) as usize;
        let n = buf.len().min(BLOCK - in_block).min(left as usize);
        if n == 0 {
            return Ok(0);
        }
        let mut whole = vec![0u8; BLOCK];
        block(self.pos / BLOCK as u64, &mut whole, &self.pattern);
        buf[..n].copy_from_slice(&whole[in_block..in_block + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

/// Checks what it is given against the generator's content.
struct Checking {
    pos: u64,
    pattern: Vec<u8>,
    expected: Vec<u8>,
}

impl Write for Checking {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let in_block = (self.pos % BLOCK as u64) as usize;
        let n = buf.len().min(BLOCK - in_block);
        block(self.pos / BLOCK as u64, &mut self.expected, &self.pattern);
        assert!(
            buf[..n] == self.expected[in_block..in_block + n],
            "plaintext differs at byte {}",
            self.pos
        );
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn multi_gib_round_trip_in_constant_memory() {
    let mib: u64 = std::env::var("WEBQX_STREAM_BIG_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3072);
    let len = mib * 1024 * 1024 + 12_345;
    let key = [9u8; 32];
    let segment = std::env::var("WEBQX_STREAM_BIG_SEGMENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(stream::DEFAULT_SEGMENT_SIZE);
    let header = FileHeader::new("big", 1, b"wrapped".to_vec()).with_segment_size(segment);
    let opts = StreamOptions::default();
    let started = std::time::Instant::now();

    let (reader, mut writer) = std::io::pipe().expect("pipe");
    let encrypting = {
        let (header, opts) = (header.clone(), opts.clone());
        std::thread::spawn(move || {
            let source = Generated {
                pos: 0,
                len,
                pattern: pattern(),
            };
            stream::encrypt(&header, &key, source, &mut writer, &opts)
        })
    };
    let mut reader = std::io::BufReader::with_capacity(1 << 20, reader);
    let parsed = stream::read_header(&mut reader).expect("header");
    let mut check = Checking {
        pos: 0,
        pattern: pattern(),
        expected: vec![0; BLOCK],
    };
    let out = stream::decrypt(&parsed, &key, &mut reader, &mut check, &opts).expect("decrypt");
    let sealed = encrypting.join().expect("encrypt thread").expect("encrypt");

    assert_eq!(sealed, len);
    assert_eq!(out, len);
    assert_eq!(check.pos, len);
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_rss_kib().unwrap_or(0);
    eprintln!(
        "{len} bytes, segment {segment}: encrypted and decrypted in {secs:.1}s ({:.0} MB/s each way, both at once), peak RSS {peak} KiB",
        len as f64 / secs / 1e6
    );
    // Both engines run at once here, each within stream::MAX_IN_FLIGHT_BYTES.
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB");
}
