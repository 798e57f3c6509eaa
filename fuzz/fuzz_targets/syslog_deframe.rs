//! `syslog::Deframer` on hostile streams: no panic, no frame over the limit, and the
//! same frames and errors whether the stream arrives at once or in small pieces.
//!
//! Input: byte 0 sets the frame limit (1 + 8 * b0), byte 1 the piece size
//! (1 + b1 % 64); the rest is the stream.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_events::syslog::{self, Deframer, FrameError};

type Event = Result<Vec<u8>, FrameError>;

fuzz_target!(|data: &[u8]| {
    let [limit, piece, stream @ ..] = data else {
        return;
    };
    let max = 1 + usize::from(*limit) * 8;
    let piece = 1 + usize::from(*piece) % 64;

    let whole = deframe(max, stream.chunks(stream.len().max(1)));
    let pieces = deframe(max, stream.chunks(piece));
    assert_eq!(whole, pieces, "framing must not depend on how bytes arrive");
    for frame in whole.iter().flatten() {
        assert!(frame.len() <= max, "frame over the limit");
        let _ = syslog::parse(frame);
    }
});

/// Every frame and error, up to the first fatal error, then what `finish` says.
fn deframe<'a>(max: usize, chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Event> {
    let mut deframer = Deframer::new(max);
    let mut events = Vec::new();
    for chunk in chunks {
        deframer.push(chunk);
        loop {
            match deframer.next_frame() {
                Ok(Some(frame)) => events.push(Ok(frame)),
                Ok(None) => break,
                Err(e) if e.is_fatal() => {
                    events.push(Err(e));
                    return events;
                }
                Err(e) => events.push(Err(e)),
            }
        }
    }
    if let Err(e) = deframer.finish() {
        events.push(Err(e));
    }
    events
}
