//! The `WQXF` streaming file format: round trips, every kind of tampering, header bounds.
//!
//! Segment sizes are small here (64 bytes) so that multi-segment files and every
//! boundary are cheap to build; the format treats every size in bounds alike.

use proptest::prelude::*;
use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use webqx_crypto::stream::{self, FileHeader, StreamError, StreamOptions};

const KEY: [u8; 32] = [0x42; 32];
const SEG: u32 = 64;
const TAG: usize = 16;

fn header() -> FileHeader {
    FileHeader::new("files", 3, b"wqx1:wrapped-data-key".to_vec()).with_segment_size(SEG)
}

fn opts(threads: usize) -> StreamOptions {
    StreamOptions {
        threads,
        progress: None,
    }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn encrypt_with(h: &FileHeader, key: &[u8], plain: &[u8], threads: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let n = stream::encrypt(h, key, plain, &mut out, &opts(threads)).unwrap();
    assert_eq!(n, plain.len() as u64);
    out
}

fn encrypt(plain: &[u8]) -> Vec<u8> {
    encrypt_with(&header(), &KEY, plain, 2)
}

/// Decrypts a whole file; on failure also returns what was written before it.
fn decrypt_with(
    file: &[u8],
    key: &[u8],
    threads: usize,
) -> Result<Vec<u8>, (StreamError, Vec<u8>)> {
    let mut input = Cursor::new(file);
    let h = stream::read_header(&mut input).map_err(|e| (e, Vec::new()))?;
    let mut out = Vec::new();
    match stream::decrypt(&h, key, &mut input, &mut out, &opts(threads)) {
        Ok(n) => {
            assert_eq!(n, out.len() as u64);
            Ok(out)
        }
        Err(e) => Err((e, out)),
    }
}

fn decrypt(file: &[u8]) -> Result<Vec<u8>, StreamError> {
    decrypt_with(file, &KEY, 2).map_err(|(e, _)| e)
}

fn header_len(file: &[u8]) -> usize {
    let mut input = Cursor::new(file);
    stream::read_header(&mut input).unwrap();
    input.position() as usize
}

/// The file cut into header and sealed segments.
fn split(file: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let h = header_len(file);
    let segs = file[h..]
        .chunks(SEG as usize + TAG)
        .map(<[u8]>::to_vec)
        .collect();
    (file[..h].to_vec(), segs)
}

fn join(head: &[u8], segs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = head.to_vec();
    segs.iter().for_each(|s| out.extend_from_slice(s));
    out
}

#[test]
fn round_trips_at_every_boundary_and_thread_count() {
    let s = SEG as usize;
    for len in [0, 1, s - 1, s, s + 1, 2 * s, 3 * s + 7, 50 * s] {
        for threads in [1, 2, 3, 8] {
            let plain = data(len);
            let file = encrypt_with(&header(), &KEY, &plain, threads);
            let segments = len.div_ceil(s).max(1);
            assert_eq!(
                file.len() - header_len(&file),
                len + segments * TAG,
                "len {len}"
            );
            assert_eq!(
                decrypt_with(&file, &KEY, threads).unwrap(),
                plain,
                "len {len}"
            );
        }
    }
}

#[test]
fn empty_input_is_one_empty_last_segment() {
    let file = encrypt(b"");
    assert_eq!(file.len() - header_len(&file), TAG);
    assert_eq!(decrypt(&file).unwrap(), b"");
}

#[test]
fn default_segment_size_round_trips_megabytes() {
    let h = FileHeader::new("files", 1, vec![1; 40]);
    assert_eq!(h.segment_size(), stream::DEFAULT_SEGMENT_SIZE);
    let plain = data(3 * stream::DEFAULT_SEGMENT_SIZE as usize + 5);
    let file = encrypt_with(&h, &KEY, &plain, 0);
    assert_eq!(decrypt_with(&file, &KEY, 0).unwrap(), plain);
}

#[test]
fn header_fields_survive_and_salt_is_fresh_each_time() {
    let h = header().with_extensions(b"seal block".to_vec());
    let a = encrypt_with(&h, &KEY, b"x", 1);
    let b = encrypt_with(&h, &KEY, b"x", 1);
    let ha = stream::read_header(&mut Cursor::new(&a)).unwrap();
    let hb = stream::read_header(&mut Cursor::new(&b)).unwrap();
    assert_eq!(ha.key_name, "files");
    assert_eq!(ha.key_version, 3);
    assert_eq!(ha.wrapped_key, b"wqx1:wrapped-data-key");
    assert_eq!(ha.extensions, b"seal block");
    assert_eq!(ha.segment_size(), SEG);
    assert_ne!(ha.salt(), hb.salt(), "two files never share a per-file key");
    assert_ne!(ha.salt(), &[0u8; 32]);
    assert_ne!(a, b);
}

#[test]
fn wrong_key_is_refused_before_any_plaintext() {
    let file = encrypt(&data(500));
    let (err, out) = decrypt_with(&file, &[0x43; 32], 2).unwrap_err();
    assert_eq!(err, StreamError::WrongKeyOrTampered);
    assert!(out.is_empty());
}

#[test]
fn flipped_bit_in_every_header_byte_is_refused_before_any_plaintext() {
    let file = encrypt(&data(200));
    for i in 0..header_len(&file) {
        for bit in [0x01, 0x80] {
            let mut bad = file.clone();
            bad[i] ^= bit;
            let (err, out) = decrypt_with(&bad, &KEY, 2).unwrap_err();
            assert!(out.is_empty(), "byte {i}: plaintext released");
            assert!(
                matches!(
                    err,
                    StreamError::BadHeader(_)
                        | StreamError::UnsupportedVersion(_)
                        | StreamError::WrongKeyOrTampered
                        | StreamError::Truncated
                ),
                "byte {i}: {err:?}"
            );
        }
    }
}

#[test]
fn flipped_bit_anywhere_in_the_body_is_refused() {
    let file = encrypt(&data(3 * SEG as usize + 10));
    for i in header_len(&file)..file.len() {
        let mut bad = file.clone();
        bad[i] ^= 0x04;
        assert_eq!(
            decrypt(&bad),
            Err(StreamError::WrongKeyOrTampered),
            "byte {i}"
        );
    }
}

#[test]
fn truncation_at_a_segment_boundary_is_reported_as_truncation() {
    let file = encrypt(&data(4 * SEG as usize + 10));
    let (head, segs) = split(&file);
    for keep in 0..segs.len() {
        let cut = join(&head, &segs[..keep]);
        assert_eq!(
            decrypt(&cut),
            Err(StreamError::Truncated),
            "kept {keep} segments"
        );
    }
}

#[test]
fn truncation_inside_a_segment_or_the_header_is_refused() {
    let file = encrypt(&data(3 * SEG as usize + 10));
    // An empty input is "not this format", not a truncated file (see below).
    for len in 1..file.len() {
        let got = decrypt(&file[..len]);
        assert!(
            matches!(
                got,
                Err(StreamError::Truncated | StreamError::WrongKeyOrTampered)
            ),
            "cut at {len}: {got:?}"
        );
    }
}

#[test]
fn dropped_reordered_and_duplicated_segments_are_refused() {
    let file = encrypt(&data(4 * SEG as usize + 10));
    let (head, segs) = split(&file);
    let mut dropped = segs.clone();
    dropped.remove(1);
    let mut reordered = segs.clone();
    reordered.swap(1, 2);
    let mut duplicated = segs.clone();
    duplicated.insert(2, segs[1].clone());
    let mut last_moved = segs.clone();
    let last = last_moved.pop().unwrap();
    last_moved.insert(0, last);
    for (what, body) in [
        ("dropped", dropped),
        ("reordered", reordered),
        ("duplicated", duplicated),
        ("last first", last_moved),
    ] {
        assert_eq!(
            decrypt(&join(&head, &body)),
            Err(StreamError::WrongKeyOrTampered),
            "{what}"
        );
    }
}

#[test]
fn a_segment_from_another_file_under_the_same_data_key_is_refused() {
    let plain = data(3 * SEG as usize);
    let a = encrypt(&plain);
    let b = encrypt(&plain);
    let (head_a, mut segs_a) = split(&a);
    let (_, segs_b) = split(&b);
    segs_a[1] = segs_b[1].clone();
    assert_eq!(
        decrypt(&join(&head_a, &segs_a)),
        Err(StreamError::WrongKeyOrTampered)
    );
}

#[test]
fn appended_bytes_are_reported_as_trailing_data() {
    for len in [0, 10, SEG as usize, 2 * SEG as usize + 3] {
        let file = encrypt(&data(len));
        for extra in [1usize, 5, 16, SEG as usize, 3 * SEG as usize] {
            let mut long = file.clone();
            long.extend(std::iter::repeat_n(0xAA, extra));
            let got = decrypt(&long);
            assert!(
                matches!(
                    got,
                    Err(StreamError::TrailingData | StreamError::WrongKeyOrTampered)
                ),
                "len {len} + {extra}: {got:?}"
            );
        }
        // A second file glued on is the typical accident.
        let mut glued = file.clone();
        glued.extend_from_slice(&encrypt(b"other"));
        assert!(decrypt(&glued).is_err());
    }
    // After a full last segment the appended bytes form a segment of their own, and the
    // error can say exactly what happened; inside a short last segment it cannot.
    let full = encrypt(&data(2 * SEG as usize));
    let mut long = full.clone();
    long.push(0);
    assert_eq!(decrypt(&long), Err(StreamError::TrailingData));
}

#[test]
fn extensions_are_authenticated() {
    let file = encrypt_with(
        &header().with_extensions(b"seal:A".to_vec()),
        &KEY,
        b"abc",
        1,
    );
    let pos = file.windows(6).position(|w| w == b"seal:A").unwrap();
    let mut bad = file.clone();
    bad[pos + 5] = b'B';
    assert_eq!(decrypt(&bad), Err(StreamError::WrongKeyOrTampered));
}

#[test]
fn not_our_format_and_future_versions_are_named() {
    assert!(matches!(
        decrypt(b"-----BEGIN AGE ENCRYPTED FILE-----"),
        Err(StreamError::BadHeader(_))
    ));
    assert_eq!(
        decrypt(b""),
        Err(StreamError::BadHeader("the input is empty"))
    );
    let mut file = encrypt(b"abc");
    file[4] = 2;
    assert_eq!(decrypt(&file), Err(StreamError::UnsupportedVersion(2)));
}

#[test]
fn encrypt_refuses_out_of_bounds_parameters() {
    let plain: &[u8] = b"abc";
    let cases = [
        (FileHeader::new("", 1, vec![1]), KEY.to_vec()),
        (FileHeader::new(&"n".repeat(257), 1, vec![1]), KEY.to_vec()),
        (FileHeader::new("k", 1, vec![]), KEY.to_vec()),
        (FileHeader::new("k", 1, vec![1; 4097]), KEY.to_vec()),
        (
            FileHeader::new("k", 1, vec![1]).with_extensions(vec![0; (1 << 20) + 1]),
            KEY.to_vec(),
        ),
        (
            FileHeader::new("k", 1, vec![1]).with_segment_size(63),
            KEY.to_vec(),
        ),
        (
            FileHeader::new("k", 1, vec![1]).with_segment_size((4 << 20) + 1),
            KEY.to_vec(),
        ),
        (FileHeader::new("k", 1, vec![1]), vec![0; 31]),
    ];
    for (h, key) in cases {
        let mut out = Vec::new();
        let err = stream::encrypt(&h, &key, plain, &mut out, &opts(1)).unwrap_err();
        assert!(matches!(err, StreamError::InvalidParameter(_)), "{err:?}");
        assert!(out.is_empty(), "nothing written for a refused header");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn a_header_not_read_from_a_file_does_not_decrypt() {
    let file = encrypt(b"abc");
    let body = &file[header_len(&file)..];
    let mut out = Vec::new();
    let err = stream::decrypt(&header(), &KEY, body, &mut out, &opts(1)).unwrap_err();
    assert_eq!(err, StreamError::WrongKeyOrTampered);
    assert!(out.is_empty());
}

#[test]
fn progress_reports_a_running_total_ending_at_the_size() {
    let seen = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let (s, c) = (seen.clone(), calls.clone());
    let options = StreamOptions {
        threads: 3,
        progress: Some(Arc::new(move |done| {
            assert!(done >= s.swap(done, Ordering::SeqCst), "never goes back");
            c.fetch_add(1, Ordering::SeqCst);
        })),
    };
    let plain = data(10 * SEG as usize + 1);
    let mut file = Vec::new();
    stream::encrypt(&header(), &KEY, &plain[..], &mut file, &options).unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), plain.len() as u64);
    assert_eq!(calls.load(Ordering::SeqCst), 11);
}

#[test]
fn errors_say_what_to_do_and_debug_hides_nothing_secret() {
    for e in [
        StreamError::WrongKeyOrTampered,
        StreamError::Truncated,
        StreamError::TrailingData,
        StreamError::BadHeader("magic"),
        StreamError::UnsupportedVersion(9),
    ] {
        assert!(e.to_string().len() > 30, "{e}");
    }
    let shown = format!("{:?}", opts(2));
    assert!(shown.contains("threads"));
}

#[test]
fn io_errors_keep_their_kind() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "no",
            ))
        }
    }
    let err = stream::encrypt(&header(), &KEY, Broken, Vec::new(), &opts(1)).unwrap_err();
    assert!(matches!(
        err,
        StreamError::Io {
            kind: std::io::ErrorKind::PermissionDenied,
            ..
        }
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_input_round_trips(
        plain in proptest::collection::vec(any::<u8>(), 0..3000),
        seg in 64u32..400,
        threads in 1usize..5,
        ext in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let h = header().with_segment_size(seg).with_extensions(ext.clone());
        let file = encrypt_with(&h, &KEY, &plain, threads);
        let mut input = Cursor::new(&file);
        let parsed = stream::read_header(&mut input).unwrap();
        prop_assert_eq!(&parsed.extensions, &ext);
        let mut out = Vec::new();
        stream::decrypt(&parsed, &KEY, &mut input, &mut out, &opts(threads)).unwrap();
        prop_assert_eq!(out, plain);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// What the fuzz targets check, on every test run: random damage to a genuine file
    /// (byte edits, cuts, insertions) never panics and never decrypts to anything but
    /// the original plaintext.
    #[test]
    fn damaged_files_never_panic_or_release_other_plaintext(
        len in 0usize..600,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<usize>()),
        insert in proptest::option::of((any::<usize>(), proptest::collection::vec(any::<u8>(), 1..40))),
    ) {
        let plain = data(len);
        let mut file = encrypt(&plain);
        for (at, x) in edits {
            let i = at % file.len();
            file[i] ^= x;
        }
        if let Some(at) = cut {
            file.truncate(at % (file.len() + 1));
        }
        if let Some((at, bytes)) = insert {
            let i = at % (file.len() + 1);
            file.splice(i..i, bytes);
        }
        if let Ok(out) = decrypt(&file) {
            prop_assert_eq!(out, plain);
        }
    }
}

#[test]
fn an_empty_input_is_not_a_webqx_file_and_a_cut_magic_is_truncated() {
    let err = stream::read_header(&mut Cursor::new(&[][..])).unwrap_err();
    assert_eq!(err, StreamError::BadHeader("the input is empty"));
    assert!(
        err.to_string().contains("not a WebQx encrypted file"),
        "{err}"
    );
    let err = stream::read_header(&mut Cursor::new(&b"WQ"[..])).unwrap_err();
    assert_eq!(err, StreamError::Truncated);
    let err = stream::read_header(&mut Cursor::new(&b"ag"[..])).unwrap_err();
    assert!(matches!(err, StreamError::BadHeader(_)), "{err:?}");
}

#[test]
fn too_many_threads_are_refused_before_any_output() {
    let mut out = Vec::new();
    let err = stream::encrypt(
        &header(),
        &KEY,
        &b"abc"[..],
        &mut out,
        &opts(stream::MAX_THREADS + 1),
    )
    .unwrap_err();
    assert!(matches!(err, StreamError::InvalidParameter(_)), "{err:?}");
    assert!(out.is_empty());
    let file = encrypt_with(&header(), &KEY, b"abc", stream::MAX_THREADS);
    assert_eq!(decrypt(&file).unwrap(), b"abc");
}
