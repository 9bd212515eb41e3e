//! The token module: WANT balances, TRC20 allowances, burns, and the fixed total supply.
//!
//! There is no mint: the whole supply is allocated at genesis (the genesis `allocations`), and
//! `sum(balances) + burned` always equals [`want_types::amount::TOTAL_SUPPLY`] (checked by
//! [`audit::audit_supply`]). Other modules move WANT through [`exec::debit`] and
//! [`exec::credit`], so the audit holds for them too.

pub mod audit;
pub mod codes;
pub(crate) mod exec;
pub mod query;
pub mod state;

use want_types::amount::TOTAL_SUPPLY;
use want_types::{Amount, ChainParams, ModuleId, TokenCall};

use crate::codes::ErrorCode;
use crate::failure::{overflow, ExecError};
use crate::kernel::module::{CallCtx, GenesisCtx, Module};
use crate::StateError;

/// Weight of a transfer beyond the kernel's per-transaction weight: three balances read and
/// written (sender, receiver, pool).
pub const TRANSFER_WEIGHT: u64 = 10_000;
/// Weight of an approval: one allowance written.
pub const APPROVE_WEIGHT: u64 = 5_000;
/// Weight of a transfer from an allowance: a transfer and an allowance.
pub const TRANSFER_FROM_WEIGHT: u64 = 18_000;
/// Weight of a burn: one balance and the burned total.
pub const BURN_WEIGHT: u64 = 5_000;

/// The token module.
pub struct Token;

impl Module for Token {
    const ID: ModuleId = ModuleId::Token;
    type Call = TokenCall;

    fn codes() -> &'static [ErrorCode] {
        codes::CODES
    }

    fn execute(ctx: &mut CallCtx<'_, '_>, call: &TokenCall) -> Result<(), ExecError> {
        exec::execute(ctx, call)
    }

    /// Transfers move the amount and the 1 % transfer fee; burns the amount.
    fn max_spend(params: &ChainParams, call: &TokenCall) -> Result<Amount, ExecError> {
        match call {
            TokenCall::Transfer { amount, .. } => {
                let fee = params
                    .transfer_fee(*amount)
                    .ok_or_else(|| overflow("tx.call.amount plus the transfer fee"))?;
                amount
                    .checked_add(fee)
                    .ok_or_else(|| overflow("tx.call.amount plus the transfer fee"))
            }
            TokenCall::Burn { amount } => Ok(*amount),
            // Approvals move nothing; a transfer from an allowance spends the owner's balance.
            TokenCall::Approve { .. } | TokenCall::TransferFrom { .. } => Ok(0),
        }
    }

    fn weight(call: &TokenCall) -> u64 {
        match call {
            TokenCall::Transfer { .. } => TRANSFER_WEIGHT,
            TokenCall::Approve { .. } => APPROVE_WEIGHT,
            TokenCall::TransferFrom { .. } => TRANSFER_FROM_WEIGHT,
            TokenCall::Burn { .. } => BURN_WEIGHT,
        }
    }

    /// The allocations, which must sum to exactly the total supply; an address listed more than
    /// once receives the sum of its entries. The module has no section of its own.
    fn genesis(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
        if ctx.section.is_some() {
            return Err(StateError::Genesis {
                section: "token".into(),
                reason: "the token module takes the genesis allocations; it has no section".into(),
            });
        }
        let mut allocated: Amount = 0;
        for (_, amount) in ctx.allocations {
            allocated = allocated
                .checked_add(*amount)
                .ok_or(StateError::GenesisOverflow)?;
        }
        if allocated != TOTAL_SUPPLY {
            return Err(StateError::GenesisSupply {
                allocated,
                expected: TOTAL_SUPPLY,
            });
        }
        for (addr, amount) in ctx.allocations {
            // Cannot overflow: the sum of all allocations fits (checked above).
            let sum = state::balance(&*ctx.state, addr)?
                .checked_add(*amount)
                .ok_or(StateError::GenesisOverflow)?;
            state::set_balance(ctx.state, addr, sum);
        }
        ctx.state
            .put(state::SUPPLY_KEY.to_vec(), TOTAL_SUPPLY.to_be_bytes().to_vec());
        Ok(())
    }
}
