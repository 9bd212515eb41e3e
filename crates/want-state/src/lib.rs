//! The deterministic state machine of WANT chain: a kernel that applies blocks of verified transactions through registered modules, pure and replayable.
//!
//! The caller (storage and node crates) provides a read-only [`StateView`] of committed state and a
//! block of [`VerifiedTx`] (signatures already checked); [`apply_block`] returns the receipts, the
//! [`WriteSet`] to commit and the new state root. Nothing here reads a clock, draws randomness,
//! does I/O or uses floats; every amount is checked `u128` arithmetic; outputs are ordered
//! (`BTreeMap`), so every node computes byte-identical results.
//!
//! # Kernel and modules
//!
//! The [`kernel`] owns what every transaction shares: nonces (`acct/nonce/ ‖ address`), the
//! pre-checks, weights and fees ([`kernel::fees`]), the block and its end-of-block work (the
//! on-chain [`kernel::schedule`] and the modules' hooks), [`admit`] (admission: the same rules on
//! a throw-away layer) and genesis. Each business system is a module under [`modules`] —
//! [`token`] (`token/…`: balances, allowances, burned, supply) and [`trace`] (`trace/…`:
//! organisations, keys, KYC, records, per-product anchors, grants) — implementing the module
//! contract of [`kernel::module`], registered in one line (`docs/MODULES.md`).
//!
//! # Transaction outcomes
//!
//! * **Rejected** (pre-checks: chain id, expiry, module active, nonce, fee or proof-of-work
//!   stamp for the weight, fee balance): nothing charged, nonce not consumed, `fee_paid` 0.
//! * **Failed** (the call): fee and nonce consumed, the call's writes and events dropped.
//! * **Success**.
//!
//! Codes are the stable strings of [`modules::all_codes`], each with its HTTP status.
//!
//! # State root
//!
//! The state root is an accumulator over write sets ([`state_root_step`]): each block's root hashes
//! the parent root, the height and the block's write set. It is **not yet a Merkle trie**: it
//! commits to the state's history of changes but offers no per-key inclusion proofs (light clients
//! cannot verify a balance against it).

pub mod codes;
mod error;
pub mod failure;
pub mod kernel;
pub mod modules;
pub mod query;
mod root;
mod store;

/// Test-only input strategies, shared with want-types.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../want-types/src/fuzz_inputs.rs"]
mod fuzz_inputs;
#[cfg(test)]
mod testutil;

pub use error::StateError;
pub use kernel::block::{
    admit, apply_block, check_block_weight, Admitted, BlockContext, BlockOutcome, VerifiedTx,
};
pub use kernel::fees::{fee_for_transaction, pays_at, required_fee, tx_weight};
pub use kernel::genesis::{genesis, genesis_state, GenesisInput, GENESIS_HEIGHT};
pub use modules::token::audit::{audit_supply, SupplyAudit};
pub use modules::{token, trace, MODULES};
pub use root::{state_root_step, STATE_ROOT_TAG};
pub use store::{key_after, page, range_from, Entry, MemState, Page, StateView, WriteSet};
pub use want_types::Hash32;
