//! Read API of the token module over any view (committed state, or state plus a pending block).

use want_types::{Amount, ChainParams};

use crate::{StateError, StateView};

pub use super::state::{allowance, balance, burned, total_supply};

/// Balance of the incentive pool, which collects transaction and transfer fees.
pub fn pool_balance(view: &dyn StateView, params: &ChainParams) -> Result<Amount, StateError> {
    balance(view, &params.incentive_pool)
}

/// Supply still in circulation: total supply minus burned (0 before genesis).
pub fn circulating_supply(view: &dyn StateView) -> Result<Amount, StateError> {
    // Saturating only guards a corrupt state where burned exceeds supply; never wraps.
    Ok(total_supply(view)?.saturating_sub(burned(view)?))
}
