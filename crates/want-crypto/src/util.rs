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
