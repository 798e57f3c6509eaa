//! `shamir::decode` on hostile shares, one per line: no panic; every share that decodes
//! can be combined alone, and all the decoded shares together, without a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_crypto::shamir;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = shamir::decode(&text);

    let mut shares = Vec::new();
    for line in text.lines() {
        let Ok(share) = shamir::decode(line) else {
            continue;
        };
        let _ = shamir::combine(std::slice::from_ref(&share));
        shares.push(share);
    }

    // Several shares of different lengths or duplicate indices reach the splitter's
    // combine; that too must answer with an error, not a panic.
    if shares.len() > 1 {
        let _ = shamir::combine(&shares);
    }
});
