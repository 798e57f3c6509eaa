#![no_main]
// Placeholder until its parser lands; replaced in the same change.
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = data;
});
