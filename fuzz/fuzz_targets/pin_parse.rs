#![no_main]
//! SPKI pins: `Pin::parse` and `parse_pin_list` never panic; an accepted pin prints in
//! RFC 7469 form and that text parses back to the same pin. `read_certs` + `chain_pins`
//! (the `cert pin FILE` path) never panic on arbitrary PEM or DER.

use libfuzzer_sys::fuzz_target;
use webqx_pki::pin::{Pin, chain_pins, parse_pin_list, read_certs};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(pin) = Pin::parse(text) {
            assert_eq!(Pin::parse(&pin.to_string()).ok(), Some(pin));
        }
        if let Ok(pins) = parse_pin_list(text) {
            let again: Vec<String> = pins.iter().map(Pin::to_string).collect();
            assert_eq!(parse_pin_list(&again.join(";")).ok(), Some(pins));
        }
    }
    if let Ok(certs) = read_certs(data) {
        let _ = chain_pins(&certs);
    }
});
