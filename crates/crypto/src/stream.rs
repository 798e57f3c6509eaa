//! Streaming authenticated file encryption (`WQXF` format, version 1).
//!
//! A file is a header followed by a body of fixed-size segments, each sealed with
//! AES-256-GCM under a per-file key. `docs/file-format.md` is the specification; in short:
//!
//! - The header names the key ring and version whose data key protects the file, carries
//!   that data key wrapped by the key service, a random 32-byte salt, the segment size
//!   and an opaque `extensions` field, and ends with an HMAC-SHA-256 over all of it.
//! - Per-file keys come from HKDF-SHA-256(data key, salt), so a segment moved from
//!   another file under the same data key does not authenticate.
//! - Segment `i` is sealed with nonce `0x000000 || i (u64, big-endian) || last-flag` and
//!   the header MAC as associated data, so reordering, dropping, duplicating, truncating
//!   and appending are all detected. An empty input is one empty last segment.
//!
//! This module does no file opening: it works over [`Read`] and [`Write`]. Encryption and
//! decryption spread segments over worker threads with a bounded number in flight and
//! write results in order, so memory stays constant whatever the input size.

use crate::{SecretBytes, kdf, mac};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, mpsc};

/// The first four bytes of every file.
pub const MAGIC: [u8; 4] = *b"WQXF";
/// The format version this code writes and reads.
pub const VERSION: u8 = 1;
/// Default plaintext bytes per segment (the reasons are in `docs/benchmarks.md`).
pub const DEFAULT_SEGMENT_SIZE: u32 = 128 * 1024;
/// Smallest segment size accepted.
pub const MIN_SEGMENT_SIZE: u32 = 64;
/// Largest segment size accepted (bounds memory: see [`MAX_IN_FLIGHT_BYTES`]).
pub const MAX_SEGMENT_SIZE: u32 = 4 * 1024 * 1024;
/// Longest key ring name in a header, in bytes.
pub const MAX_KEY_NAME_LEN: usize = 256;
/// Longest wrapped data key in a header, in bytes.
pub const MAX_WRAPPED_KEY_LEN: usize = 4096;
/// Longest `extensions` field in a header, in bytes.
pub const MAX_EXTENSIONS_LEN: usize = 1024 * 1024;
/// Segment buffers in flight never hold more than this many bytes together
/// (at least two segments are always allowed).
pub const MAX_IN_FLIGHT_BYTES: usize = 16 * 1024 * 1024;
/// Length of the data key [`encrypt`] and [`decrypt`] take.
pub const DATA_KEY_LEN: usize = 32;

/// Length of the per-file salt.
pub const SALT_LEN: usize = 32;
const MAC_LEN: usize = 32;
const TAG_LEN: usize = 16;
const PAYLOAD_KEY_INFO: &[u8] = b"webqx-file v1 payload key";
const HEADER_MAC_INFO: &[u8] = b"webqx-file v1 header mac key";

/// Errors from reading, writing, encrypting or decrypting a file.
///
/// Authentication failures ([`StreamError::WrongKeyOrTampered`]) are deliberately opaque.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// The input is not a WebQx encrypted file or its header is malformed; says which part.
    BadHeader(&'static str),
    /// The file was written by a format version this build does not read.
    UnsupportedVersion(u8),
    /// The header MAC or a segment did not authenticate: wrong data key, or the file
    /// was modified. Opaque on purpose.
    WrongKeyOrTampered,
    /// The file ends early: its last segment is missing or cut short.
    Truncated,
    /// Bytes follow the authenticated last segment.
    TrailingData,
    /// A parameter given to [`encrypt`] or [`decrypt`] is out of range; says which.
    InvalidParameter(&'static str),
    /// Reading the input or writing the output failed.
    Io {
        /// The underlying error's kind.
        kind: io::ErrorKind,
        /// The underlying error's message (never contains file contents).
        message: String,
    },
    /// The system random number generator failed.
    Rng,
    /// A worker thread could not be started (memory or process limits); the
    /// message is the system's.
    Threads(String),
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StreamError::BadHeader(what) => write!(
                f,
                "not a WebQx encrypted file, or its header is damaged ({what}); \
                 check that you gave the encrypted file"
            ),
            StreamError::UnsupportedVersion(v) => write!(
                f,
                "file format version {v} is not supported by this build (it reads \
                 version {VERSION}); upgrade webqx-sec"
            ),
            StreamError::WrongKeyOrTampered => f.write_str(
                "the file does not authenticate: it was encrypted under another key, or it \
                 has been modified; restore it from a trusted copy",
            ),
            StreamError::Truncated => f.write_str(
                "the file is truncated (its end is missing); copy it again from its source",
            ),
            StreamError::TrailingData => f.write_str(
                "unexpected bytes follow the end of the encrypted file; it was appended to \
                 or concatenated with something else",
            ),
            StreamError::InvalidParameter(what) => write!(f, "invalid parameter: {what}"),
            StreamError::Io { kind, message } => write!(f, "I/O error ({kind}): {message}"),
            StreamError::Rng => f.write_str("the system random number generator failed"),
            StreamError::Threads(why) => write!(
                f,
                "cannot start the worker threads ({why}); give fewer threads or raise the \
                 process's memory and thread limits"
            ),
        }
    }
}

impl std::error::Error for StreamError {}

impl From<io::Error> for StreamError {
    fn from(e: io::Error) -> Self {
        StreamError::Io {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

/// The header of an encrypted file.
///
/// Build one with [`FileHeader::new`] to encrypt; [`read_header`] returns one parsed from
/// a file, not yet authenticated ([`decrypt`] checks its MAC before releasing plaintext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHeader {
    /// Name of the key ring whose data key protects the file.
    pub key_name: String,
    /// Version of that key ring that wrapped the data key.
    pub key_version: u32,
    /// The data key wrapped by the key service (not secret).
    pub wrapped_key: Vec<u8>,
    /// Opaque bytes for the caller, authenticated by the header MAC.
    pub extensions: Vec<u8>,
    segment_size: u32,
    salt: [u8; SALT_LEN],
    mac: [u8; MAC_LEN],
}

impl FileHeader {
    /// A header for a new file; [`encrypt`] draws its salt and computes its MAC.
    pub fn new(key_name: &str, key_version: u32, wrapped_key: Vec<u8>) -> FileHeader {
        FileHeader {
            key_name: key_name.to_owned(),
            key_version,
            wrapped_key,
            extensions: Vec::new(),
            segment_size: DEFAULT_SEGMENT_SIZE,
            salt: [0; SALT_LEN],
            mac: [0; MAC_LEN],
        }
    }

    /// The same header with `ext` as its extensions field.
    pub fn with_extensions(self, ext: Vec<u8>) -> FileHeader {
        FileHeader {
            extensions: ext,
            ..self
        }
    }

    /// The same header with another segment size (checked by [`encrypt`]).
    pub fn with_segment_size(self, segment_size: u32) -> FileHeader {
        FileHeader {
            segment_size,
            ..self
        }
    }

    /// Plaintext bytes per segment.
    pub fn segment_size(&self) -> u32 {
        self.segment_size
    }

    /// The file's salt (all zeros on a header made by [`FileHeader::new`]).
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// Checks every field's bounds; the error names the field.
    fn check(&self) -> Result<(), &'static str> {
        let name = self.key_name.len();
        if name == 0 || name > MAX_KEY_NAME_LEN {
            return Err("key ring name must be 1 to 256 bytes");
        }
        let wrapped = self.wrapped_key.len();
        if wrapped == 0 || wrapped > MAX_WRAPPED_KEY_LEN {
            return Err("wrapped key must be 1 to 4096 bytes");
        }
        if self.extensions.len() > MAX_EXTENSIONS_LEN {
            return Err("extensions must be at most 1 MiB");
        }
        if !(MIN_SEGMENT_SIZE..=MAX_SEGMENT_SIZE).contains(&self.segment_size) {
            return Err("segment size must be 64 B to 4 MiB");
        }
        Ok(())
    }

    /// The header bytes covered by the MAC (everything before it).
    fn authenticated_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128 + self.wrapped_key.len() + self.extensions.len());
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        put_u16_bytes(&mut out, self.key_name.as_bytes());
        out.extend_from_slice(&self.key_version.to_be_bytes());
        put_u16_bytes(&mut out, &self.wrapped_key);
        out.extend_from_slice(&self.segment_size.to_be_bytes());
        out.extend_from_slice(&self.salt);
        let ext_len = u32::try_from(self.extensions.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&ext_len.to_be_bytes());
        out.extend_from_slice(&self.extensions);
        out
    }
}

fn put_u16_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// How [`encrypt`] and [`decrypt`] run.
#[derive(Clone, Default)]
pub struct StreamOptions {
    /// Worker threads; 0 means one per available core; at most [`MAX_THREADS`].
    pub threads: usize,
    /// Called with the running total of plaintext bytes done, after each segment.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl fmt::Debug for StreamOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamOptions")
            .field("threads", &self.threads)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// The most worker threads [`encrypt`] and [`decrypt`] accept: more only costs memory
/// (each thread has its own stack) and no speed.
pub const MAX_THREADS: usize = 256;

impl StreamOptions {
    fn worker_count(&self) -> Result<usize, StreamError> {
        match self.threads {
            0 => Ok(std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS)),
            n if n > MAX_THREADS => Err(StreamError::InvalidParameter(
                "more than 256 worker threads",
            )),
            n => Ok(n),
        }
    }
}

/// Keys derived for one file.
struct FileKeys {
    payload: LessSafeKey,
    mac_key: SecretBytes,
}

impl FileKeys {
    fn derive(data_key: &[u8], salt: &[u8; SALT_LEN]) -> Result<FileKeys, StreamError> {
        if data_key.len() != DATA_KEY_LEN {
            return Err(StreamError::InvalidParameter("data key must be 32 bytes"));
        }
        let bad = |_| StreamError::InvalidParameter("key derivation failed");
        let payload = kdf::hkdf_sha256(data_key, salt, PAYLOAD_KEY_INFO, 32).map_err(bad)?;
        let mac_key = kdf::hkdf_sha256(data_key, salt, HEADER_MAC_INFO, 32).map_err(bad)?;
        let unbound = UnboundKey::new(&AES_256_GCM, payload.expose())
            .map_err(|_| StreamError::InvalidParameter("payload key rejected"))?;
        Ok(FileKeys {
            payload: LessSafeKey::new(unbound),
            mac_key,
        })
    }

    fn header_mac(&self, header: &FileHeader) -> [u8; MAC_LEN] {
        let tag = mac::tag(
            mac::Algorithm::Sha256,
            self.mac_key.expose(),
            &header.authenticated_bytes(),
        );
        let mut out = [0u8; MAC_LEN];
        out.copy_from_slice(&tag);
        out
    }
}

/// Segment nonce: 3 zero bytes, the index as a big-endian u64, then the last-segment flag.
fn segment_nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// Encrypts `input` to `output` as header + body; returns the plaintext bytes read.
///
/// A fresh salt is drawn for every call, so the same header and data key may be reused
/// for many files. The header's segment size is used as given.
///
/// # Errors
/// [`StreamError::InvalidParameter`] for a data key that is not 32 bytes or header
/// fields out of bounds, [`StreamError::Io`] when
/// reading or writing fails, [`StreamError::Rng`] if randomness fails.
pub fn encrypt(
    header: &FileHeader,
    data_key: &[u8],
    input: impl Read,
    mut output: impl Write,
    opts: &StreamOptions,
) -> Result<u64, StreamError> {
    header.check().map_err(StreamError::InvalidParameter)?;
    opts.worker_count()?;
    let mut header = header.clone();
    crate::rand::fill(&mut header.salt).map_err(|_| StreamError::Rng)?;
    let keys = FileKeys::derive(data_key, &header.salt)?;
    header.mac = keys.header_mac(&header);

    let mut bytes = header.authenticated_bytes();
    bytes.extend_from_slice(&header.mac);
    output.write_all(&bytes)?;

    let job = Engine {
        keys: &keys,
        aad: header.mac,
        seg_plain: header.segment_size as usize,
        direction: Direction::Seal,
    };
    let done = job.run(input, &mut output, opts)?;
    output.flush()?;
    Ok(done)
}

/// Reads and parses a header, leaving `input` just after it.
///
/// The header is not authenticated yet: [`decrypt`] checks its MAC with the data key.
///
/// # Errors
/// [`StreamError::BadHeader`] when the input is not this format or a field is out of
/// bounds, [`StreamError::UnsupportedVersion`] for another format version,
/// [`StreamError::Truncated`] when the input ends inside the header.
pub fn read_header(input: &mut impl Read) -> Result<FileHeader, StreamError> {
    let mut magic = [0u8; 4];
    let got = read_up_to(input, &mut magic)?;
    if got == 0 {
        return Err(StreamError::BadHeader("the input is empty"));
    }
    if got < magic.len() && magic.get(..got) == MAGIC.get(..got) {
        return Err(StreamError::Truncated);
    }
    if magic != MAGIC {
        return Err(StreamError::BadHeader("magic bytes are not WQXF"));
    }
    let version = read_array::<1>(input)?[0];
    if version != VERSION {
        return Err(StreamError::UnsupportedVersion(version));
    }

    let name = read_u16_bytes(
        input,
        MAX_KEY_NAME_LEN,
        "key ring name length out of bounds",
    )?;
    let key_name =
        String::from_utf8(name).map_err(|_| StreamError::BadHeader("key name is not UTF-8"))?;
    let key_version = u32::from_be_bytes(read_array(input)?);
    let wrapped_key = read_u16_bytes(
        input,
        MAX_WRAPPED_KEY_LEN,
        "wrapped key length out of bounds",
    )?;
    let segment_size = u32::from_be_bytes(read_array(input)?);
    let salt = read_array::<SALT_LEN>(input)?;
    let ext_len = u32::from_be_bytes(read_array(input)?) as usize;
    if ext_len > MAX_EXTENSIONS_LEN {
        return Err(StreamError::BadHeader("extensions longer than 1 MiB"));
    }
    let extensions = read_vec(input, ext_len)?;
    let mac = read_array::<MAC_LEN>(input)?;

    let header = FileHeader {
        key_name,
        key_version,
        wrapped_key,
        extensions,
        segment_size,
        salt,
        mac,
    };
    header.check().map_err(StreamError::BadHeader)?;
    Ok(header)
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_up_to(input: &mut impl Read, buf: &mut [u8]) -> Result<usize, StreamError> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

fn read_header_exact(input: &mut impl Read, buf: &mut [u8]) -> Result<(), StreamError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => StreamError::Truncated,
        _ => e.into(),
    })
}

fn read_array<const N: usize>(input: &mut impl Read) -> Result<[u8; N], StreamError> {
    let mut buf = [0u8; N];
    read_header_exact(input, &mut buf)?;
    Ok(buf)
}

fn read_vec(input: &mut impl Read, len: usize) -> Result<Vec<u8>, StreamError> {
    let mut buf = Vec::new();
    let got = input.take(len as u64).read_to_end(&mut buf)?;
    if got != len {
        return Err(StreamError::Truncated);
    }
    Ok(buf)
}

fn read_u16_bytes(
    input: &mut impl Read,
    max: usize,
    what: &'static str,
) -> Result<Vec<u8>, StreamError> {
    let len = u16::from_be_bytes(read_array(input)?) as usize;
    if len == 0 || len > max {
        return Err(StreamError::BadHeader(what));
    }
    read_vec(input, len)
}

/// Decrypts the body that follows `header` in `input`; returns the plaintext bytes written.
///
/// The header MAC is checked before any plaintext is written. Segments are written as
/// they authenticate, in order; on an error, what was written before it is authentic but
/// incomplete, so callers writing to a file must discard it (the CLI writes to a
/// temporary file and renames it only on success).
///
/// # Errors
/// [`StreamError::WrongKeyOrTampered`] for a wrong data key or any modification,
/// [`StreamError::Truncated`] when segments are missing at the end,
/// [`StreamError::TrailingData`] for bytes after the last segment,
/// [`StreamError::InvalidParameter`] for a data key that is not 32 bytes,
/// [`StreamError::Io`] when reading or writing fails. A header that did not come from
/// [`read_header`] has no valid MAC and fails as [`StreamError::WrongKeyOrTampered`].
pub fn decrypt(
    header: &FileHeader,
    data_key: &[u8],
    input: impl Read,
    mut output: impl Write,
    opts: &StreamOptions,
) -> Result<u64, StreamError> {
    header.check().map_err(StreamError::BadHeader)?;
    let keys = FileKeys::derive(data_key, &header.salt)?;
    let expected = keys.header_mac(header);
    if !crate::ct_eq(&expected, &header.mac) {
        return Err(StreamError::WrongKeyOrTampered);
    }

    let job = Engine {
        keys: &keys,
        aad: header.mac,
        seg_plain: header.segment_size as usize,
        direction: Direction::Open,
    };
    let done = job.run(input, &mut output, opts)?;
    output.flush()?;
    Ok(done)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Seal,
    Open,
}

/// One segment on its way through the workers: its input, and a spare buffer for the
/// output when opening (ciphertext is kept intact so a failure can be classified).
struct Segment {
    index: u64,
    last: bool,
    input: Vec<u8>,
    spare: Vec<u8>,
}

/// A worker's answer: the output for `index`, and a buffer to recycle.
struct Done {
    index: u64,
    output: Result<Vec<u8>, StreamError>,
    recycle: Vec<u8>,
}

/// The parallel engine shared by both directions.
struct Engine<'k> {
    keys: &'k FileKeys,
    aad: [u8; MAC_LEN],
    seg_plain: usize,
    direction: Direction,
}

impl Engine<'_> {
    /// Bytes of one input segment: plaintext size when sealing, ciphertext when opening.
    fn seg_in(&self) -> usize {
        match self.direction {
            Direction::Seal => self.seg_plain,
            Direction::Open => self.seg_plain + TAG_LEN,
        }
    }

    fn run(
        &self,
        input: impl Read,
        output: &mut impl Write,
        opts: &StreamOptions,
    ) -> Result<u64, StreamError> {
        let workers = opts.worker_count()?.max(1);
        let by_memory = MAX_IN_FLIGHT_BYTES / (2 * (self.seg_plain + TAG_LEN));
        let cap = (workers * 2).min(by_memory).max(2);
        let (job_tx, job_rx) = mpsc::sync_channel::<Segment>(cap);
        let job_rx = Mutex::new(job_rx);
        let (done_tx, done_rx) = mpsc::channel::<Done>();

        std::thread::scope(|s| {
            for _ in 0..workers {
                let done_tx = done_tx.clone();
                let job_rx = &job_rx;
                let started = std::thread::Builder::new()
                    .name("webqx-stream".into())
                    .spawn_scoped(s, move || self.work(job_rx, &done_tx));
                if let Err(e) = started {
                    // Workers already started end when the job channel closes.
                    drop(job_tx);
                    return Err(StreamError::Threads(e.to_string()));
                }
            }
            drop(done_tx);
            let result = self.pump(input, output, opts, cap, &job_tx, &done_rx);
            drop(job_tx);
            result
        })
    }

    fn work(&self, jobs: &Mutex<mpsc::Receiver<Segment>>, done: &mpsc::Sender<Done>) {
        loop {
            let next = match jobs.lock() {
                Ok(rx) => rx.recv(),
                Err(_) => return,
            };
            let Ok(seg) = next else { return };
            let answer = match self.direction {
                Direction::Seal => self.seal(seg),
                Direction::Open => self.open(seg),
            };
            if done.send(answer).is_err() {
                return;
            }
        }
    }

    fn seal(&self, seg: Segment) -> Done {
        let Segment {
            index,
            last,
            mut input,
            spare,
        } = seg;
        let nonce = segment_nonce(index, last);
        let sealed = self
            .keys
            .payload
            .seal_in_place_separate_tag(nonce, Aad::from(&self.aad), &mut input)
            .map_err(|_| StreamError::InvalidParameter("segment too long"));
        let output = sealed.map(|tag| {
            input.extend_from_slice(tag.as_ref());
            input
        });
        Done {
            index,
            output,
            recycle: spare,
        }
    }

    fn open(&self, seg: Segment) -> Done {
        let Segment {
            index,
            last,
            input,
            mut spare,
        } = seg;
        let output = match self.open_as(index, last, &input, &mut spare) {
            true => Ok(spare),
            false => Err(self.classify_failure(index, last, &input, &mut spare)),
        };
        let recycle = match &output {
            Ok(_) => input,
            Err(_) => Vec::new(),
        };
        Done {
            index,
            output,
            recycle,
        }
    }

    /// Says which end-of-file mistake a failed segment was, if it was one: only a
    /// genuine last segment opens with the flag set, only a genuine inner one without.
    fn classify_failure(
        &self,
        index: u64,
        last: bool,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> StreamError {
        if input.len() < TAG_LEN {
            return StreamError::Truncated;
        }
        match (self.open_as(index, !last, input, out), last) {
            (true, true) => StreamError::Truncated,
            (true, false) => StreamError::TrailingData,
            (false, _) => StreamError::WrongKeyOrTampered,
        }
    }

    /// Opens `input` (ciphertext || tag) into `out`. On failure `out` may hold
    /// unauthenticated bytes; it is never released to the caller.
    fn open_as(&self, index: u64, last: bool, input: &[u8], out: &mut Vec<u8>) -> bool {
        let Some(ct_len) = input.len().checked_sub(TAG_LEN) else {
            return false;
        };
        let (ct, tag) = input.split_at(ct_len);
        out.clear();
        out.resize(ct_len, 0);
        let nonce = segment_nonce(index, last);
        let aad = Aad::from(&self.aad);
        let opened = self
            .keys
            .payload
            .open_separate_gather(nonce, aad, ct, tag, out);
        if opened.is_err() {
            out.fill(0);
        }
        opened.is_ok()
    }

    /// Reads segments, hands them to workers, writes results in order. Runs on the
    /// calling thread, which owns `input` and `output`.
    fn pump(
        &self,
        mut input: impl Read,
        output: &mut impl Write,
        opts: &StreamOptions,
        cap: usize,
        jobs: &mpsc::SyncSender<Segment>,
        done: &mpsc::Receiver<Done>,
    ) -> Result<u64, StreamError> {
        const STOPPED: StreamError = StreamError::InvalidParameter("worker threads stopped");
        let mut reader = SegmentReader::new(self.seg_in());
        // Results wait here until all before them are written; an error is raised in
        // file order too, so the first bad segment is the one reported.
        let mut pending: BTreeMap<u64, Result<Vec<u8>, StreamError>> = BTreeMap::new();
        let mut pool: Vec<Vec<u8>> = Vec::new();
        let (mut next_write, mut total) = (0u64, 0u64);

        loop {
            // Read but not yet written: bounds memory whatever the workers' order.
            while outstanding(&reader, next_write) < cap && !reader.finished {
                let spare = match self.direction {
                    Direction::Seal => Vec::new(),
                    Direction::Open => pool.pop().unwrap_or_default(),
                };
                let seg = reader.next(&mut input, pool.pop().unwrap_or_default(), spare)?;
                jobs.send(seg).map_err(|_| STOPPED)?;
            }
            if outstanding(&reader, next_write) == 0 {
                return Ok(total);
            }
            let answer = done.recv().map_err(|_| STOPPED)?;
            recycle(&mut pool, answer.recycle, cap);
            pending.insert(answer.index, answer.output);
            while let Some(result) = pending.remove(&next_write) {
                let buf = result?;
                output.write_all(&buf)?;
                total += self.plain_len(&buf) as u64;
                next_write += 1;
                if let Some(progress) = &opts.progress {
                    progress(total);
                }
                recycle(&mut pool, buf, cap);
            }
        }
    }

    fn plain_len(&self, out: &[u8]) -> usize {
        match self.direction {
            Direction::Seal => out.len().saturating_sub(TAG_LEN),
            Direction::Open => out.len(),
        }
    }
}

/// Keeps a buffer for reuse; at most two per segment in flight, empty ones dropped.
fn recycle(pool: &mut Vec<Vec<u8>>, buf: Vec<u8>, cap: usize) {
    if buf.capacity() > 0 && pool.len() < 2 * cap {
        pool.push(buf);
    }
}

fn outstanding(reader: &SegmentReader, next_write: u64) -> usize {
    usize::try_from(reader.index.saturating_sub(next_write)).unwrap_or(usize::MAX)
}

/// Cuts the input into segments and knows which one is last by reading one byte ahead.
struct SegmentReader {
    size: usize,
    index: u64,
    lookahead: Option<u8>,
    finished: bool,
}

impl SegmentReader {
    fn new(size: usize) -> SegmentReader {
        SegmentReader {
            size,
            index: 0,
            lookahead: None,
            finished: false,
        }
    }

    fn next(
        &mut self,
        input: &mut impl Read,
        mut buf: Vec<u8>,
        spare: Vec<u8>,
    ) -> Result<Segment, StreamError> {
        buf.clear();
        buf.reserve(self.size + TAG_LEN);
        if let Some(b) = self.lookahead.take() {
            buf.push(b);
        }
        let want = (self.size - buf.len()) as u64;
        input.by_ref().take(want).read_to_end(&mut buf)?;
        let last = buf.len() < self.size || {
            let mut one = [0u8; 1];
            let n = read_some(input, &mut one)?;
            self.lookahead = (n == 1).then_some(one[0]);
            n == 0
        };
        let seg = Segment {
            index: self.index,
            last,
            input: buf,
            spare,
        };
        self.finished = last;
        self.index = self
            .index
            .checked_add(1)
            .ok_or(StreamError::InvalidParameter("more than 2^64 segments"))?;
        Ok(seg)
    }
}

fn read_some(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
