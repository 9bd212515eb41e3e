//! The token module's types: the WANT token's calls (TRC20 semantics; there is no mint) and the
//! events they emit.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::modules::ModuleCall;
use crate::{Address, Amount};

/// Calls of the token module. Append variants only (the borsh discriminant is signed).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TokenCall {
    Transfer {
        to: Address,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        amount: Amount,
    },
    Approve {
        spender: Address,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        amount: Amount,
    },
    TransferFrom {
        from: Address,
        to: Address,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        amount: Amount,
    },
    Burn {
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        amount: Amount,
    },
}

impl ModuleCall for TokenCall {
    const TX_BYTES_MAX: usize = crate::TX_BYTES_MAX;
}

/// Token events, as TRC20 defines them plus fee and burn records. Append variants only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TokenEvent {
    Transfer {
        from: Address,
        to: Address,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        value: Amount,
    },
    Approval {
        owner: Address,
        spender: Address,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        value: Amount,
    },
    /// The transaction fee, paid into the incentive pool.
    FeePaid {
        from: Address,
        to: Address,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        value: Amount,
    },
    Burn {
        from: Address,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        value: Amount,
    },
}
