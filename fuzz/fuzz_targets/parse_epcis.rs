//! Untrusted EPCIS capture documents: `parse_capture` never panics; every accepted event
//! round-trips through its canonical bytes with the same hash ID and canonical bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use want_epcis::{parse_capture, EpcisEvent};

fuzz_target!(|data: &[u8]| {
    if let Ok(capture) = parse_capture(data) {
        for event in capture.events {
            let bytes = event.canonical_bytes();
            let back = EpcisEvent::from_canonical_bytes(&bytes).expect("canonical bytes of an accepted event parse");
            assert_eq!(back.hash_id(), event.hash_id());
            assert_eq!(back.canonical_bytes(), bytes);
        }
    }
});
