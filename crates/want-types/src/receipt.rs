//! Receipts: the outcome of one transaction in a block, with the events its modules emitted.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::modules::Event;
use crate::{Address, Amount, Hash32};

/// Outcome of executing a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TxStatus {
    /// The call succeeded; its writes are applied.
    Success,
    /// The call failed: its writes are reverted, but the nonce and the fee are consumed.
    Failed { code: String, message: String },
    /// The transaction could not be executed at all (wrong nonce, expired, fee not payable…):
    /// nothing was charged and the nonce was not consumed. Honest proposers never include such
    /// transactions; the rule keeps execution deterministic if one does.
    Rejected { code: String, message: String },
}

/// The receipt of one transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub tx_id: Hash32,
    pub sender: Address,
    #[serde(flatten)]
    pub status: TxStatus,
    #[serde(with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub fee_paid: Amount,
    pub events: Vec<Event>,
}

impl Receipt {
    pub fn is_success(&self) -> bool {
        matches!(self.status, TxStatus::Success)
    }
}
