//! Stored token values, all under `token/`:
//!
//! | key | value |
//! |---|---|
//! | `token/bal/ ‖ address(21)` | balance, `u128` BE; deleted at 0 |
//! | `token/allow/ ‖ owner(21) ‖ spender(21)` | allowance, `u128` BE; deleted at 0 |
//! | `token/burned` | total burned, `u128` BE (absent = 0) |
//! | `token/supply` | total supply, `u128` BE, written at genesis and never changed |

use want_types::{Address, Amount};

use crate::store::{read_u128, write_u128_or_delete, Overlay};
use crate::{StateError, StateView};

/// Prefix of every key of the token module.
pub const PREFIX: &[u8] = b"token/";
/// Prefix of balance keys.
pub const BALANCE_PREFIX: &[u8] = b"token/bal/";
/// Prefix of allowance keys.
pub const ALLOWANCE_PREFIX: &[u8] = b"token/allow/";
/// Key of the total burned.
pub const BURNED_KEY: &[u8] = b"token/burned";
/// Key of the total supply.
pub const SUPPLY_KEY: &[u8] = b"token/supply";

pub fn balance_key(addr: &Address) -> Vec<u8> {
    [BALANCE_PREFIX, &addr.0].concat()
}

pub fn allowance_key(owner: &Address, spender: &Address) -> Vec<u8> {
    [ALLOWANCE_PREFIX, &owner.0, &spender.0].concat()
}

pub fn balance(view: &dyn StateView, addr: &Address) -> Result<Amount, StateError> {
    read_u128(view, &balance_key(addr))
}

pub fn allowance(
    view: &dyn StateView,
    owner: &Address,
    spender: &Address,
) -> Result<Amount, StateError> {
    read_u128(view, &allowance_key(owner, spender))
}

pub fn burned(view: &dyn StateView) -> Result<Amount, StateError> {
    read_u128(view, BURNED_KEY)
}

pub fn total_supply(view: &dyn StateView) -> Result<Amount, StateError> {
    read_u128(view, SUPPLY_KEY)
}

pub(crate) fn set_balance(ov: &mut Overlay<'_>, addr: &Address, value: Amount) {
    write_u128_or_delete(ov, balance_key(addr), value);
}

pub(crate) fn set_allowance(
    ov: &mut Overlay<'_>,
    owner: &Address,
    spender: &Address,
    value: Amount,
) {
    write_u128_or_delete(ov, allowance_key(owner, spender), value);
}

pub(crate) fn set_burned(ov: &mut Overlay<'_>, value: Amount) {
    write_u128_or_delete(ov, BURNED_KEY.to_vec(), value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn zero_balance_and_allowance_delete_their_keys() {
        let a = Address::from_account_id([1; 20]);
        let b = Address::from_account_id([2; 20]);
        let mut base = BTreeMap::new();
        base.insert(balance_key(&a), 5u128.to_be_bytes().to_vec());
        base.insert(allowance_key(&a, &b), 9u128.to_be_bytes().to_vec());
        let mut ov = Overlay::new(&base);
        set_balance(&mut ov, &a, 0);
        set_allowance(&mut ov, &a, &b, 0);
        let changes = ov.into_changes();
        assert_eq!(changes[&balance_key(&a)], None);
        assert_eq!(changes[&allowance_key(&a, &b)], None);
    }

    #[test]
    fn keys_have_fixed_layout() {
        let a = Address::from_account_id([1; 20]);
        let b = Address::from_account_id([2; 20]);
        assert_eq!(balance_key(&a).len(), BALANCE_PREFIX.len() + 21);
        let k = allowance_key(&a, &b);
        assert_eq!(
            &k[ALLOWANCE_PREFIX.len()..ALLOWANCE_PREFIX.len() + 21],
            &a.0
        );
        assert_eq!(&k[ALLOWANCE_PREFIX.len() + 21..], &b.0);
        assert!(balance_key(&a).starts_with(PREFIX));
    }
}
