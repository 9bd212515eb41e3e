//! Untrusted transaction bytes: canonical borsh (blocks, the mempool journal) and JSON (the HTTP
//! API, `want tx send`). Decoding must never panic; whatever decodes must verify (or be refused)
//! without panicking and must re-encode to the same thing.
#![no_main]

#[allow(dead_code)] // Each target uses one of the checks.
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decode_transaction(data));
