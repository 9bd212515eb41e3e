//! Untrusted text: addresses (base58check `T…` or hex) and WANT amounts ("12.5") as they arrive on
//! the command line and in API paths. Parsing must never panic; what parses must round-trip.
#![no_main]

#[allow(dead_code)] // Each target uses one of the checks.
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::parse_address(data));
