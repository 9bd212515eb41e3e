//! Untrusted EPCIS capture documents: `parse_capture` never panics; every accepted event
//! round-trips through its canonical bytes with the same hash ID and canonical bytes.
#![no_main]

#[allow(dead_code)] // Each target uses one of the checks.
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::parse_epcis(data));
