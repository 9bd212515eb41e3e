//! The deterministic state machine of WANT chain: applies blocks of verified transactions to state, pure and replayable.
//!
//! The caller (storage and node crates) provides a read-only [`StateView`] of committed state and a
//! block of [`VerifiedTx`] (signatures already checked); [`apply_block`] returns the receipts, the
//! [`WriteSet`] to commit and the new state root. Nothing here reads a clock, draws randomness,
//! does I/O or uses floats; every amount is checked `u128` arithmetic; outputs are ordered
//! (`BTreeMap`), so every node computes byte-identical results.
//!
//! # Modules of state
//!
//! * [`accounts`] — `acct/nonce/ ‖ address` → next nonce (`u64` BE).
//! * [`token`] — `token/bal/ ‖ address`, `token/allow/ ‖ owner ‖ spender` (`u128` BE, deleted at
//!   0), `token/burned`, `token/supply`.
//! * [`trace`] — `trace/…`: organisations, department keys and roles, KYC attestations, record
//!   anchors, per-product running anchors and indexes, access grants.
//!
//! # Transaction outcomes
//!
//! * **Rejected** (pre-checks: chain id, expiry, nonce, fee or proof-of-work stamp, fee balance):
//!   nothing charged, nonce not consumed, `fee_paid` 0.
//! * **Failed** (the call): fee and nonce consumed, the call's writes and events dropped.
//! * **Success**.
//!
//! Codes are the stable strings of [`codes`].
//!
//! # State root
//!
//! The state root is an accumulator over write sets ([`state_root_step`]): each block's root hashes
//! the parent root, the height and the block's write set. It is **not yet a Merkle trie**: it
//! commits to the state's history of changes but offers no per-key inclusion proofs (light clients
//! cannot verify a balance against it).

pub mod accounts;
mod audit;
mod block;
pub mod codes;
mod error;
mod failure;
mod genesis;
pub mod query;
mod root;
mod store;
pub mod token;
pub mod trace;

#[cfg(test)]
mod testutil;

pub use audit::{audit_supply, SupplyAudit};
pub use block::{apply_block, dry_run_call, BlockContext, BlockOutcome, VerifiedTx};
pub use error::StateError;
pub use genesis::{genesis, genesis_with_trace, GENESIS_HEIGHT};
pub use root::{state_root_step, STATE_ROOT_TAG};
pub use store::{MemState, StateView, WriteSet};
pub use want_types::Hash32;
