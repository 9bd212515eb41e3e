//! Members' messages arrive from the network: decoding and opening an envelope (and decoding a
//! Raft payload inside one) must never panic, whatever the bytes.
#![no_main]

#[allow(dead_code)] // Each target uses one of the checks.
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::open_envelope(data));
