//! Read API of the kernel and the token module over any [`StateView`](crate::StateView):
//! nonces, balances, allowances and supply. Unknown accounts read as zero.

pub use crate::kernel::accounts::nonce;
pub use crate::modules::token::query::{
    allowance, balance, burned, circulating_supply, pool_balance, total_supply,
};
