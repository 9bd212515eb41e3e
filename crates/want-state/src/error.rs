//! The error enum of this crate: failures of the state machine itself, never of a transaction.
//!
//! A transaction that cannot be executed or whose call fails is not an error: it gets a receipt
//! with [`want_types::TxStatus::Rejected`] or [`want_types::TxStatus::Failed`] and a code from
//! [`crate::modules::all_codes`]. A `StateError` means the block could not be applied at all.

use want_types::Amount;

/// Everything that stops the state machine from applying a block or building genesis.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The storage behind a [`crate::StateView`] could not be read.
    #[error("storage read failed: {reason}")]
    Storage { reason: String },
    /// A stored value does not decode (wrong length, impossible content).
    #[error("corrupt state value at key {key_hex}: {reason}")]
    Corrupt { key_hex: String, reason: String },
    /// Genesis allocations do not sum to exactly the total supply.
    #[error(
        "invalid genesis: allocations sum to {allocated} base units, expected exactly {expected}"
    )]
    GenesisSupply { allocated: Amount, expected: Amount },
    /// Genesis allocations overflow `u128` when summed.
    #[error("invalid genesis: allocations overflow 128 bits when summed")]
    GenesisOverflow,
    /// A module's genesis section is invalid (or belongs to no module).
    #[error("invalid genesis section {section:?}: {reason}")]
    Genesis { section: String, reason: String },
    /// A block's transactions weigh more than the chain allows (`block_weight_max`).
    #[error("block {height} weighs {weight}, more than the limit {max}")]
    BlockOverweight { height: u64, weight: u64, max: u64 },
}

impl StateError {
    /// A corrupt-value error for `key`.
    pub fn corrupt(key: &[u8], reason: impl Into<String>) -> StateError {
        StateError::Corrupt {
            key_hex: crate::store::to_hex(key),
            reason: reason.into(),
        }
    }
}
