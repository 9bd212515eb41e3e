//! The fields every transaction carries besides its call, as one value: what a module needs to
//! compute an id that commits to a transaction through a digest (see
//! [`crate::modules::ModuleCall::id_digest`]) without depending on the transaction type.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::{Address, Amount};

/// A transaction's fields other than its call, in their canonical order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxHead {
    pub chain_id: u64,
    pub from: Address,
    pub nonce: u64,
    pub fee: Amount,
    pub expiry_ms: u64,
    pub pow_nonce: u64,
}
