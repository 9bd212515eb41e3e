//! The credit module's types: the accounts that score (scorers, registered by the credit
//! administrator) and the scorecard models they publish on chain (paper §4.3; issue 15).
//!
//! A model is a `want-scorecard/1` JSON document (`want_scorecard::Model`), published as text
//! and stored in its canonical form (the model re-encoded compactly, fields in the format's
//! order), so that anyone holding a subject's inputs scores them with the public model and gets
//! the chain's numbers. The rules live in
//! `want_state::modules::credit`; here is only what crosses the wire.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::modules::ModuleCall;
use crate::{Address, Hash32};

/// Longest model document a `PublishModel` call carries, in bytes (the German dev model is
/// ~16 KiB).
pub const MODEL_JSON_BYTES_MAX: usize = 96 * 1024;
/// Longest model name, in bytes (ASCII letters, digits, `-`, `_`, `.`).
pub const MODEL_NAME_BYTES_MAX: usize = 64;
/// Most scorers a chain registers at once.
pub const SCORERS_MAX: usize = 64;
/// Largest signed transaction carrying a credit call, in bytes: a model document and room for
/// the rest of the transaction.
pub const CREDIT_TX_BYTES_MAX: usize = MODEL_JSON_BYTES_MAX + 4 * 1024;
/// Domain tag of a model's id (`sha256d(tag ‖ borsh((scorer, canonical JSON)))`).
pub const MODEL_ID_TAG: &[u8] = b"want/credit/model/v1";

/// Calls of the credit module. Append variants only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CreditCall {
    /// Registers a scorer (the credit administrator only).
    RegisterScorer { scorer: Address },
    /// Removes a scorer (the credit administrator only); its models stay readable.
    RemoveScorer { scorer: Address },
    /// Publishes a scorecard model (a registered scorer): `model` is a `want-scorecard/1`
    /// JSON document; the next version of the sender's models of that `name`.
    PublishModel { name: String, model: String },
    /// Retires a model (its scorer, or the credit administrator): nobody scores with it any
    /// more.
    RetireModel { model: Hash32 },
}

impl ModuleCall for CreditCall {
    const TX_BYTES_MAX: usize = CREDIT_TX_BYTES_MAX;
}

/// Events of the credit module. Append variants only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CreditEvent {
    ScorerRegistered {
        scorer: Address,
    },
    ScorerRemoved {
        scorer: Address,
    },
    ModelPublished {
        model: Hash32,
        scorer: Address,
        name: String,
        version: u32,
    },
    ModelRetired {
        model: Hash32,
    },
}

/// Whether `name` may name a model: 1 to [`MODEL_NAME_BYTES_MAX`] bytes of ASCII letters,
/// digits, `-`, `_` and `.`.
pub fn model_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MODEL_NAME_BYTES_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The id of `scorer`'s model whose canonical JSON is `canonical`: bound to the scorer, so that
/// no other scorer can take a model's id by publishing a copy first.
pub fn model_id(scorer: &Address, canonical: &str) -> Hash32 {
    crate::hash::sha256d_tagged(MODEL_ID_TAG, &(scorer, canonical))
}
