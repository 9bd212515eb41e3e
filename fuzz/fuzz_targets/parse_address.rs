//! Untrusted text: addresses (base58check `T…` or hex) and WANT amounts ("12.5") as they arrive on
//! the command line and in API paths. Parsing must never panic; what parses must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use want_types::amount::{format_want, parse_want};
use want_types::Address;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = text.parse::<Address>() {
        let base58 = address.to_string();
        assert_eq!(base58.parse::<Address>().ok(), Some(address));
        assert_eq!(address.to_hex().parse::<Address>().ok(), Some(address));
    }
    if let Ok(amount) = parse_want(text) {
        let formatted = format_want(amount);
        assert_eq!(parse_want(&formatted).ok(), Some(amount), "{formatted}");
    }
});
