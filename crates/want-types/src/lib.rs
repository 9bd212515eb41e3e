//! Primitive types of WANT chain — addresses, amounts, transactions, blocks, receipts, commit votes, Merkle proofs, the modules' calls and events, and their canonical codec; no I/O.
//!
//! Everything that is hashed or signed is encoded with `borsh` (deterministic bytes); JSON (serde)
//! is only the API's view. Amounts are `u128` base units (6 decimals) and travel in JSON as decimal
//! strings.

pub mod address;
pub mod amount;
pub mod block;
pub mod error;
#[cfg(test)]
#[allow(dead_code)] // Shared with other crates' tests (#[path]); not every helper is used here.
pub(crate) mod fuzz_inputs;
pub mod hash;
pub mod head;
pub mod merkle;
pub mod modules;
pub mod params;
pub mod receipt;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod serde_hex;
pub mod tx;
pub mod vote;

/// The module folders, at the crate root as before modules were registered.
#[cfg(feature = "example-module")]
pub use modules::example;
pub use modules::{token, trace};

pub use address::Address;
pub use amount::Amount;
pub use block::{Block, BlockHeader};
pub use error::TypesError;
pub use hash::{sha256d, Hash32};
pub use head::TxHead;
pub use modules::token::{TokenCall, TokenEvent};
pub use modules::trace::{TraceCall, TraceEvent};
pub use modules::{Call, Event, ModuleId};
pub use params::{Activations, ChainParams};
pub use receipt::{Receipt, TxStatus};
pub use tx::{Signature, SignedTransaction, Transaction};
pub use vote::{
    Certificate, CommitVote, NodePublicKey, NodeSignature, SignedVote, VoteSignature,
    CLUSTER_MEMBERS_MAX,
};

/// Largest encoded size of one signed transaction of most modules, in bytes. Bigger ones are
/// refused at admission. A module may allow more (trace anchors:
/// [`trace::TRACE_TX_BYTES_MAX`]); see [`Call::tx_bytes_max`].
pub const TX_BYTES_MAX: usize = 16 * 1024;
/// Largest encoded signed transaction a proof-of-work stamp may pay for, in bytes; a larger one
/// must pay the fee. The stamp's work is the same for any size (an anchor's id hashes a small
/// digest), while every node hashes and stores the whole transaction.
pub const POW_TX_BYTES_MAX: usize = TX_BYTES_MAX;
/// Largest encoded size of any signed transaction, in bytes (the largest of the modules').
pub use modules::ANY_TX_BYTES_MAX;
