//! Small helpers shared by the modules: Keccak-256 and lenient hex parsing.

use sha3::{Digest, Keccak256};
use want_types::Address;

/// Keccak-256 (the pre-standard SHA-3 used by Ethereum and TRON).
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// TRON-style address: 0x41 ‖ last 20 bytes of Keccak-256 of `key_bytes`.
pub(crate) fn address_from_keccak_of(key_bytes: &[u8]) -> Address {
    let digest = keccak256(key_bytes);
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest[12..]);
    Address::from_account_id(id)
}

/// Decodes hex after trimming whitespace and an optional `0x`/`0X` prefix.
pub(crate) fn decode_hex_lenient(input: &str) -> Result<Vec<u8>, String> {
    let s = input.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    hex::decode(s).map_err(|e| format!("not valid hex ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz_inputs::mutated;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_is_hex_or_refused(s in "\\PC{0,80}") {
            if let Ok(bytes) = decode_hex_lenient(&s) {
                prop_assert_eq!(hex::encode(bytes), crate::fuzz_inputs::lenient_hex(&s));
            }
        }

        #[test]
        fn hex_round_trips_with_any_prefix_and_case(bytes in proptest::collection::vec(any::<u8>(), 0..64), upper: bool, prefix in prop::sample::select(vec!["", "0x", "0X", "  ", "\t0x"])) {
            let h = if upper { hex::encode_upper(&bytes) } else { hex::encode(&bytes) };
            prop_assert_eq!(decode_hex_lenient(&format!("{prefix}{h}\n")).unwrap(), bytes);
        }

        #[test]
        fn mutated_hex_decodes_to_what_it_says_or_is_refused(
            s in mutated(proptest::collection::vec(any::<u8>(), 1..40).prop_map(|b| format!("0x{}", hex::encode(b)))),
        ) {
            if let Ok(bytes) = decode_hex_lenient(&s) {
                prop_assert_eq!(hex::encode(bytes), crate::fuzz_inputs::lenient_hex(&s));
            }
        }
    }
}
