//! Chain parameters fixed at genesis and read by the state machine.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::{Address, Amount};

/// Parameters every node of a chain must agree on; part of the genesis.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct ChainParams {
    /// Identifies the chain; a transaction signed for another chain id is refused.
    pub chain_id: u64,
    /// Smallest fee a transaction must pay unless it carries a valid proof-of-work stamp.
    #[serde(with = "crate::amount::dec")]
    pub min_fee: Amount,
    /// Leading zero bits the transaction id must have to stand in for the fee (hashcash).
    pub pow_difficulty_bits: u32,
    /// Fee on every value transfer, in basis points (100 = 1 %), paid into the incentive pool.
    pub transfer_fee_bps: u32,
    /// The account that receives transaction fees and transfer fees.
    pub incentive_pool: Address,
}

impl ChainParams {
    /// Transfer fee for an amount: `ceil(amount × bps / 10 000)`, so splitting a payment saves nothing.
    pub fn transfer_fee(&self, amount: Amount) -> Option<Amount> {
        let scaled = amount.checked_mul(Amount::from(self.transfer_fee_bps))?;
        Some(scaled.div_ceil(10_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> ChainParams {
        ChainParams {
            chain_id: 1,
            min_fee: 1000,
            pow_difficulty_bits: 16,
            transfer_fee_bps: 100,
            incentive_pool: Address::system("incentive-pool"),
        }
    }

    #[test]
    fn transfer_fee_is_one_percent_rounded_up() {
        let p = params();
        assert_eq!(p.transfer_fee(10_000), Some(100));
        assert_eq!(p.transfer_fee(1), Some(1));
        assert_eq!(p.transfer_fee(0), Some(0));
        assert_eq!(p.transfer_fee(199), Some(2));
        assert_eq!(p.transfer_fee(u128::MAX), None);
    }
}
