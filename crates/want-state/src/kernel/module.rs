//! The module contract: what a business system implements once and the kernel drives.
//!
//! A module is a folder under `modules/` with a type implementing [`Module`] and one line in
//! the registry of `modules/mod.rs`. The kernel owns everything that is the same for every
//! transaction (chain id, expiry, nonce, fee or stamp, weight, the block and its limits) and
//! calls the module for what is its own: executing and admitting its calls, how much a call can
//! spend and how heavy it is, its genesis section, its scheduled and end-of-block work, and its
//! error codes. See `docs/MODULES.md`.

use serde_json::Value;
use want_types::{Address, Amount, ChainParams, Event, Hash32, ModuleId};

use crate::codes::ErrorCode;
use crate::failure::ExecError;
use crate::kernel::context::BlockContext;
use crate::store::Overlay;
use crate::{StateError, StateView};

/// Whether a call runs for real (in a block) or as the admission check of a transaction
/// entering the mempool (on a throw-away overlay over committed state, with the node's clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Execute,
    /// The same rules as execution. A module may skip work that cannot fail once the call's
    /// checks passed (the trace module skips an anchor's per-product updates), never a check.
    Admit,
}

/// What one call sees and may change.
pub struct CallCtx<'a, 'v> {
    /// The call's own layer of state: dropped whole if the call fails.
    pub(crate) state: &'a mut Overlay<'v>,
    pub block: &'a BlockContext,
    pub tx_id: Hash32,
    /// The signer, which signature verification bound to the transaction's `from`.
    pub sender: Address,
    pub mode: Mode,
    pub(crate) events: &'a mut Vec<Event>,
}

impl CallCtx<'_, '_> {
    /// Records an event in the transaction's receipt (dropped with the call if it fails).
    pub fn emit(&mut self, event: impl Into<Event>) {
        self.events.push(event.into());
    }

    /// The state as this call sees it.
    pub fn view(&self) -> &dyn StateView {
        &*self.state
    }
}

/// What a scheduled entry or an end-of-block hook sees: the block's state after its
/// transactions, the block, and where its events go (the block's hook events).
pub struct HookCtx<'a, 'v> {
    pub(crate) state: &'a mut Overlay<'v>,
    pub block: &'a BlockContext,
    pub(crate) events: &'a mut Vec<Event>,
}

impl HookCtx<'_, '_> {
    pub fn emit(&mut self, event: impl Into<Event>) {
        self.events.push(event.into());
    }
}

/// What a module's genesis sees: the state being built, the parameters, the allocations and
/// its own section of the genesis (`genesis.<name>`), if the genesis has one.
pub struct GenesisCtx<'a, 'v> {
    pub(crate) state: &'a mut Overlay<'v>,
    pub params: &'a ChainParams,
    pub allocations: &'a [(Address, Amount)],
    pub section: Option<&'a Value>,
}

/// The contract of a module of the state machine.
pub(crate) trait Module {
    /// Its entry in the wire registry of `want_types::modules`: name and index.
    const ID: ModuleId;
    /// Its call type (the payload of its `Call` variant).
    type Call;

    /// Its error codes, each with its HTTP status.
    fn codes() -> &'static [ErrorCode];

    /// Applies one call. A `Tx` error fails the call (its writes and events are dropped, the
    /// fee and nonce stay consumed); a `State` error stops the block.
    fn execute(ctx: &mut CallCtx<'_, '_>, call: &Self::Call) -> Result<(), ExecError>;

    /// The admission check: by default [`Module::execute`] itself in [`Mode::Admit`] on a
    /// layer that is thrown away, so the node keeps no second copy of the rules.
    fn admit(ctx: &mut CallCtx<'_, '_>, call: &Self::Call) -> Result<(), ExecError> {
        Self::execute(ctx, call)
    }

    /// The most the call can take from its sender's balance besides the fee (the mempool sums
    /// it over a sender's pending transactions). An overflow is `amount_overflow`.
    fn max_spend(_params: &ChainParams, _call: &Self::Call) -> Result<Amount, ExecError> {
        Ok(0)
    }

    /// The call's weight beyond the kernel's per-transaction and per-byte weight (see
    /// `kernel/fees.rs`): about one unit per nanosecond of a reference machine's execution and
    /// commit, as measured by `want bench weights`.
    fn weight(call: &Self::Call) -> u64;

    /// Writes the module's genesis state from its section (and the allocations).
    fn genesis(_ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
        Ok(())
    }

    /// The bytes of its genesis section in the genesis hash (by default its name and the
    /// section's JSON text; a module must keep its encoding once chains use it).
    fn genesis_spec_bytes(section: &Value) -> Result<Vec<u8>, StateError> {
        Ok(borsh::to_vec(&(Self::ID.name(), section.to_string()))
            .expect("invariant: borsh encoding into a Vec cannot fail"))
    }

    /// Runs one of its entries of the kernel's schedule that fell due (see `kernel/schedule.rs`).
    fn on_due(_ctx: &mut HookCtx<'_, '_>, _payload: &[u8]) -> Result<(), ExecError> {
        Ok(())
    }

    /// Runs once at the end of every block after the due entries; must bound its own work.
    fn end_block(_ctx: &mut HookCtx<'_, '_>) -> Result<(), ExecError> {
        Ok(())
    }
}

/// What the outside world may know of a registered module.
#[derive(Clone, Copy)]
pub struct ModuleInfo {
    pub id: ModuleId,
    /// Its error codes.
    pub codes: fn() -> &'static [ErrorCode],
}

impl ModuleInfo {
    /// Its state key prefix: `<name>/`.
    pub fn prefix(&self) -> Vec<u8> {
        [self.id.name().as_bytes(), b"/"].concat()
    }
}
