//! The kernel's accounts: per-sender transaction nonces (replay protection).
//!
//! Stored nonces: `acct/nonce/ ‖ address(21)` → next nonce as `u64` big-endian (absent = 0).

use want_types::Address;

use crate::store::{read_u64, Overlay};
use crate::{StateError, StateView};

/// Prefix of every key of the accounts module.
pub const PREFIX: &[u8] = b"acct/";
/// Prefix of nonce keys.
pub const NONCE_PREFIX: &[u8] = b"acct/nonce/";

/// Key of the next nonce of `addr`.
pub fn nonce_key(addr: &Address) -> Vec<u8> {
    [NONCE_PREFIX, &addr.0].concat()
}

/// The nonce the next transaction of `addr` must carry.
pub fn nonce(view: &dyn StateView, addr: &Address) -> Result<u64, StateError> {
    read_u64(view, &nonce_key(addr))
}

pub(crate) fn set_nonce(ov: &mut Overlay<'_>, addr: &Address, value: u64) {
    ov.put(nonce_key(addr), value.to_be_bytes().to_vec());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn unknown_account_has_nonce_zero_and_stored_nonce_round_trips() {
        let base = BTreeMap::new();
        let a = Address::from_account_id([7; 20]);
        assert_eq!(nonce(&base, &a).unwrap(), 0);
        let mut ov = Overlay::new(&base);
        set_nonce(&mut ov, &a, 41);
        assert_eq!(nonce(&ov, &a).unwrap(), 41);
        let key = nonce_key(&a);
        assert_eq!(key.len(), NONCE_PREFIX.len() + 21);
        assert_eq!(ov.into_changes()[&key], Some(41u64.to_be_bytes().to_vec()));
    }
}
