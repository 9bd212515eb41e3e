//! Read API over any [`StateView`](crate::StateView): balances, nonces, allowances and supply.
//! Unknown accounts read as zero.

pub use crate::accounts::state::nonce;
pub use crate::token::query::{
    allowance, balance, burned, circulating_supply, pool_balance, total_supply,
};
