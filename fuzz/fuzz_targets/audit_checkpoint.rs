//! `Checkpoint::from_json` on any bytes (an exported checkpoint file is untrusted
//! input to `audit verify --checkpoint`): no panic, and whatever parses can be turned
//! into its statement and have its signature and public key checked.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_audit::Checkpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(cp) = Checkpoint::from_json(data) else {
        return;
    };
    let statement = cp.statement();
    assert!(statement.starts_with("webqx-audit-checkpoint-v1\n"));
    if let Ok(key) = cp.public_key() {
        let _ = cp.check_signature(&key);
    }
    let _ = cp.check_signature(&[0u8; 32]);
});
