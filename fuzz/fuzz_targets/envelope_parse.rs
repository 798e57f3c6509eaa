//! `Envelope::parse` and `Envelope::from_bytes` on hostile input: no panic, and whatever
//! parses comes back unchanged through both the binary and the text form.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_crypto::envelope::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::from_bytes(data) {
        // The binary form is canonical: the header is bound into the AEAD's associated
        // data, so two spellings of one envelope would be a bug.
        assert_eq!(envelope.to_bytes(), data, "binary form is not canonical");
        assert_round_trips(&envelope);
    }

    let text = String::from_utf8_lossy(data);
    if let Ok(envelope) = Envelope::parse(&text) {
        assert_round_trips(&envelope);
    }
});

fn assert_round_trips(envelope: &Envelope) {
    let from_bytes = Envelope::from_bytes(&envelope.to_bytes());
    assert_eq!(from_bytes.as_ref(), Ok(envelope), "binary round trip");

    let from_text = Envelope::parse(&envelope.to_text());
    assert_eq!(from_text.as_ref(), Ok(envelope), "text round trip");
}
