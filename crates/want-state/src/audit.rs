//! Supply audit over a whole in-memory state: `sum(balances) + burned == TOTAL_SUPPLY`.

use want_types::address::ADDRESS_LEN;
use want_types::amount::TOTAL_SUPPLY;
use want_types::Amount;

use crate::store::decode_u128;
use crate::token::state::{burned, total_supply, BALANCE_PREFIX};
use crate::{MemState, StateError};

/// Totals found by [`audit_supply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupplyAudit {
    /// Sum of every stored balance, the incentive pool included.
    pub balances: Amount,
    pub burned: Amount,
    /// The supply recorded at genesis.
    pub recorded_supply: Amount,
    /// Number of stored balances.
    pub accounts: usize,
    /// Stored balances equal to zero (must be none: zero balances are deleted).
    pub zero_balances: usize,
}

impl SupplyAudit {
    /// True when balances plus burned is exactly the total supply, the recorded supply is the
    /// total supply, and no zero balance is stored.
    pub fn holds(&self) -> bool {
        self.balances.checked_add(self.burned) == Some(TOTAL_SUPPLY)
            && self.recorded_supply == TOTAL_SUPPLY
            && self.zero_balances == 0
    }
}

/// Sums every `token/bal/` entry of `state` and reads burned and supply.
pub fn audit_supply(state: &MemState) -> Result<SupplyAudit, StateError> {
    let mut audit = SupplyAudit {
        balances: 0,
        burned: burned(state)?,
        recorded_supply: total_supply(state)?,
        accounts: 0,
        zero_balances: 0,
    };
    for (key, value) in state.iter_prefix(BALANCE_PREFIX) {
        if key.len() != BALANCE_PREFIX.len() + ADDRESS_LEN {
            return Err(StateError::corrupt(key, "balance key of the wrong length"));
        }
        let amount = decode_u128(key, value)?;
        audit.accounts += 1;
        if amount == 0 {
            audit.zero_balances += 1;
        }
        audit.balances = audit
            .balances
            .checked_add(amount)
            .ok_or_else(|| StateError::corrupt(key, "sum of balances exceeds 128 bits"))?;
    }
    Ok(audit)
}
