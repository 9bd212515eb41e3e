//! The token module: WANT balances, TRC20 allowances, burns, and the fixed total supply.
//!
//! There is no mint: the whole supply is allocated at genesis, and `sum(balances) + burned`
//! always equals [`want_types::amount::TOTAL_SUPPLY`].

pub(crate) mod exec;
pub mod query;
pub mod state;
