//! Cutting a syslog byte stream into messages (RFC 6587, RFC 5425).

use std::fmt;

/// Default largest frame, bytes. RFC 5425 §4.3.1 asks receivers to take at least
/// 2048 and recommends 8192; IHE ATNA messages can be larger.
pub const DEFAULT_MAX_FRAME_LEN: usize = 64 * 1024;

/// Digits accepted in an octet count; more is malformed whatever the limit.
const MAX_LEN_DIGITS: usize = 10;

/// How a frame was delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Framing {
    /// `LEN SP MSG` (RFC 6587 §3.4.1, the only framing of RFC 5425).
    OctetCounting,
    /// `MSG LF` (RFC 6587 §3.4.2, "non-transparent framing").
    NewlineDelimited,
    /// One message per datagram (UDP, RFC 5426).
    Datagram,
}

impl Framing {
    fn describe(self) -> &'static str {
        match self {
            Framing::OctetCounting => "octet-counted",
            Framing::NewlineDelimited => "newline-delimited",
            Framing::Datagram => "datagram",
        }
    }
}

/// Why a stream could not be cut into messages.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame is longer than the limit. For octet counting the length was announced
    /// and the stream is lost ([`is_fatal`](Self::is_fatal)); a long newline-delimited
    /// frame is skipped up to its line feed and the stream goes on.
    Oversize {
        /// How the frame was delimited.
        framing: Framing,
        /// The limit, bytes.
        max: usize,
    },
    /// A frame starts with a digit but not with a valid octet count (digits without a
    /// leading zero, then one space). Fatal.
    MalformedLength,
    /// The stream ended inside a frame.
    Truncated {
        /// How the frame was delimited.
        framing: Framing,
        /// Bytes of the frame received.
        received: usize,
    },
}

impl FrameError {
    /// Whether the stream can no longer be cut into frames. The caller must close the
    /// connection: the next byte's meaning is unknown.
    pub fn is_fatal(&self) -> bool {
        match self {
            FrameError::Oversize { framing, .. } => *framing == Framing::OctetCounting,
            FrameError::MalformedLength => true,
            FrameError::Truncated { .. } => false,
        }
    }

    /// A short, stable label for metrics (`reason`).
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Oversize { .. } => "oversize",
            FrameError::MalformedLength => "malformed_length",
            FrameError::Truncated { .. } => "truncated",
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Oversize { framing, max } => {
                write!(
                    f,
                    "{} syslog frame longer than {max} bytes",
                    framing.describe()
                )?;
                if self.is_fatal() {
                    f.write_str("; the stream cannot be trusted after it, close the connection")
                } else {
                    f.write_str(" skipped; raise the limit if the sender is legitimate")
                }
            }
            FrameError::MalformedLength => f.write_str(
                "malformed syslog octet count (expected digits without a leading zero, then \
                 a space); the stream cannot be trusted after it, close the connection",
            ),
            FrameError::Truncated { framing, received } => write!(
                f,
                "stream ended inside a {} syslog frame after {received} bytes; \
                 the sender closed early or the frame was cut",
                framing.describe()
            ),
        }
    }
}

impl std::error::Error for FrameError {}

#[derive(Debug)]
enum State {
    Ready,
    /// Skipping the rest of an oversize newline-delimited frame.
    Discarding,
    /// A fatal error was returned; every later call returns it again.
    Failed(FrameError),
}

/// Cuts a syslog byte stream into frames: feed it bytes with [`push`](Self::push),
/// then take frames with [`next_frame`](Self::next_frame) until it returns `Ok(None)`.
///
/// Each frame's framing is detected as rsyslog does: a frame starting with a digit is
/// octet-counted (`LEN SP MSG`, RFC 6587 §3.4.1), anything else (normally `<`) runs to
/// the next line feed, with a CR before it dropped and empty lines skipped. The buffer
/// holds at most one frame and what was pushed after it, provided the caller takes the
/// frames before pushing more.
#[derive(Debug)]
pub struct Deframer {
    buf: Vec<u8>,
    start: usize,
    max_frame_len: usize,
    state: State,
}

impl Deframer {
    /// A deframer that refuses frames longer than `max_frame_len` bytes.
    pub fn new(max_frame_len: usize) -> Deframer {
        Deframer {
            buf: Vec::new(),
            start: 0,
            max_frame_len,
            state: State::Ready,
        }
    }

    /// Whether part of a frame is buffered, waiting for the rest.
    pub fn has_partial(&self) -> bool {
        self.buf.len() > self.start
    }

    /// Adds bytes received from the stream. Ignored after a fatal error.
    pub fn push(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Failed(_)) {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// [`FrameError::Oversize`] and [`FrameError::MalformedLength`]. When
    /// [`FrameError::is_fatal`] says so, close the connection: this and every later
    /// call return the same error.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        loop {
            match &self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Discarding => {
                    if !self.discard_line() {
                        return Ok(None);
                    }
                }
                State::Ready => {}
            }
            let pending = self.pending();
            let frame = match pending.first() {
                None => return Ok(None),
                Some(b'0'..=b'9') => self.octet_counted(),
                Some(_) => self.newline_delimited(),
            };
            match frame {
                Ok(Some(frame)) if frame.is_empty() => continue,
                Err(e) if e.is_fatal() => {
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// Ends the stream.
    ///
    /// # Errors
    /// [`FrameError::Truncated`] when bytes of an unfinished frame remain (a lone
    /// CR or LF does not count). Nothing after a fatal error: that was reported.
    pub fn finish(&mut self) -> Result<(), FrameError> {
        if !matches!(self.state, State::Ready) {
            return Ok(());
        }
        let pending = self.pending();
        if pending.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return Ok(());
        }
        let framing = match pending.first() {
            Some(b'0'..=b'9') => Framing::OctetCounting,
            _ => Framing::NewlineDelimited,
        };
        let received = pending.len();
        self.start = self.buf.len();
        Err(FrameError::Truncated { framing, received })
    }

    fn pending(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    /// Takes `len` bytes after `skip` as a frame.
    fn take(&mut self, skip: usize, len: usize) -> Vec<u8> {
        let end = skip.saturating_add(len);
        let frame = self.pending().get(skip..end).unwrap_or_default().to_vec();
        self.start = self.start.saturating_add(end).min(self.buf.len());
        frame
    }

    /// MSG-LEN SP MSG, MSG-LEN = NONZERO-DIGIT *DIGIT (RFC 6587 §3.4.1).
    fn octet_counted(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let pending = self.pending();
        if pending.first() == Some(&b'0') {
            return Err(FrameError::MalformedLength);
        }
        let mut len: usize = 0;
        for (i, byte) in pending.iter().enumerate() {
            match byte {
                b' ' => {
                    if pending.len() < (i + 1).saturating_add(len) {
                        return Ok(None);
                    }
                    return Ok(Some(self.take(i + 1, len)));
                }
                b'0'..=b'9' if i < MAX_LEN_DIGITS => {
                    len = len
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(usize::from(byte - b'0')))
                        .ok_or(FrameError::MalformedLength)?;
                    if len > self.max_frame_len {
                        return Err(FrameError::Oversize {
                            framing: Framing::OctetCounting,
                            max: self.max_frame_len,
                        });
                    }
                }
                _ => return Err(FrameError::MalformedLength),
            }
        }
        Ok(None)
    }

    /// MSG LF (RFC 6587 §3.4.2); a CR before the LF is dropped.
    fn newline_delimited(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let pending = self.pending();
        // The frame, an optional CR and the LF.
        let window = pending.len().min(self.max_frame_len.saturating_add(2));
        let Some(lf) = pending.iter().take(window).position(|b| *b == b'\n') else {
            if pending.len() <= self.max_frame_len.saturating_add(1) {
                return Ok(None);
            }
            self.state = State::Discarding;
            return Err(FrameError::Oversize {
                framing: Framing::NewlineDelimited,
                max: self.max_frame_len,
            });
        };
        let has_cr = lf > 0 && pending.get(lf - 1) == Some(&b'\r');
        let len = if has_cr { lf - 1 } else { lf };
        if len > self.max_frame_len {
            self.start += lf + 1;
            return Err(FrameError::Oversize {
                framing: Framing::NewlineDelimited,
                max: self.max_frame_len,
            });
        }
        let frame = self.take(0, len);
        self.start += lf + 1 - len;
        Ok(Some(frame))
    }

    /// Drops bytes up to and including the next LF; `false` if none arrived yet.
    fn discard_line(&mut self) -> bool {
        match self.pending().iter().position(|b| *b == b'\n') {
            Some(lf) => {
                self.start += lf + 1;
                self.state = State::Ready;
                true
            }
            None => {
                self.start = self.buf.len();
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(deframer: &mut Deframer) -> Vec<Result<Vec<u8>, FrameError>> {
        let mut out = Vec::new();
        loop {
            match deframer.next_frame() {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => return out,
                Err(e) => {
                    let fatal = e.is_fatal();
                    out.push(Err(e));
                    if fatal {
                        return out;
                    }
                }
            }
        }
    }

    #[test]
    fn octet_counted_and_newline_frames_mix_per_frame() {
        let mut d = Deframer::new(100);
        d.push(b"5 <1>ab<2>line\r\n\n10 <3>1 - - x<4>last\n");
        let got: Vec<_> = frames(&mut d).into_iter().map(Result::unwrap).collect();
        assert_eq!(
            got,
            vec![
                b"<1>ab".to_vec(),
                b"<2>line".to_vec(),
                b"<3>1 - - x".to_vec(),
                b"<4>last".to_vec()
            ]
        );
        assert_eq!(d.finish(), Ok(()));
    }

    #[test]
    fn frames_split_anywhere_come_out_whole() {
        let stream = b"14 <13>1 - - - \xc3\xa9<14>nl frame\n3 abc".as_slice();
        for chunk in 1..stream.len() {
            let mut d = Deframer::new(64);
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                d.push(piece);
                got.extend(frames(&mut d).into_iter().map(Result::unwrap));
            }
            assert_eq!(got.len(), 3, "chunk {chunk}");
            assert_eq!(got[0], b"<13>1 - - - \xc3\xa9");
        }
    }

    #[test]
    fn octet_count_errors_are_fatal() {
        for bad in [b"05 <1>x".as_slice(), b"0 ", b"12x", b"123456789012 "] {
            let mut d = Deframer::new(usize::MAX);
            d.push(bad);
            let e = d.next_frame().unwrap_err();
            assert_eq!(e, FrameError::MalformedLength, "{bad:?}");
            assert!(e.is_fatal() && e.to_string().contains("close the connection"));
            d.push(b"\n<1>next\n");
            assert_eq!(
                d.next_frame(),
                Err(FrameError::MalformedLength),
                "stays failed"
            );
        }
    }

    #[test]
    fn oversize_octet_count_fails_before_the_body_arrives() {
        let mut d = Deframer::new(10);
        d.push(b"11");
        let e = d.next_frame().unwrap_err();
        assert_eq!(
            e,
            FrameError::Oversize {
                framing: Framing::OctetCounting,
                max: 10
            }
        );
        assert!(e.is_fatal());
    }

    #[test]
    fn oversize_line_is_skipped_and_the_stream_goes_on() {
        let mut d = Deframer::new(8);
        d.push(b"<1>01234");
        assert_eq!(d.next_frame(), Ok(None));
        d.push(b"56789");
        let e = d.next_frame().unwrap_err();
        assert_eq!(
            e,
            FrameError::Oversize {
                framing: Framing::NewlineDelimited,
                max: 8
            }
        );
        assert!(!e.is_fatal());
        d.push(b"more of it\n<2>ok\n");
        assert_eq!(d.next_frame(), Ok(Some(b"<2>ok".to_vec())));
        // Exactly the limit, with CR LF, is accepted.
        d.push(b"<3>45678\r\n");
        assert_eq!(d.next_frame(), Ok(Some(b"<3>45678".to_vec())));
    }

    #[test]
    fn finish_reports_a_truncated_final_frame() {
        let mut d = Deframer::new(100);
        d.push(b"10 <1>abc");
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                framing: Framing::OctetCounting,
                received: 9
            })
        );
        let mut d = Deframer::new(100);
        d.push(b"<1>no newline");
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                framing: Framing::NewlineDelimited,
                received: 13
            })
        );
        let mut d = Deframer::new(100);
        d.push(b"<1>done\n\r");
        assert_eq!(d.next_frame(), Ok(Some(b"<1>done".to_vec())));
        assert_eq!(d.finish(), Ok(()));
    }
}
