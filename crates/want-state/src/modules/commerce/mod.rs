//! The commerce module: shops, versioned offers and orders whose payment and seller deposit sit
//! in escrow until the goods arrive, with time triggers on the kernel's schedule (issue 14,
//! layers 1 and 2 of `docs/MODULES.md`).
//!
//! **Life of an order.** `PlaceOrder` moves price × quantity from the buyer into escrow
//! ([`state::escrow`]) and takes the items from stock → *placed* (accept deadline armed).
//! The seller (the shop's owner) `AcceptOrder`s, moving deposit × quantity from its own balance
//! into escrow → *accepted* (ship deadline), or `DeclineOrder`s (buyer refunded, stock back) →
//! *declined*. `ShipOrder` → *shipped* (confirmation window). `ConfirmDelivery` by the buyer, or
//! the window's end, → *completed*: the payout account gets the payment less refunds less the 1 %
//! fee ([`want_types::modules::commerce::COMMERCE_FEE_BPS`], rounded up) which goes to
//! `params.incentive_pool`, the deposit returns to the seller, and a purchase record is written.
//! Not accepted in time → *expired*, buyer refunded, stock back. Not shipped in time →
//! *expired*, buyer refunded plus `no_ship_deposit_share_bps` of the deposit (rounded down), the
//! rest of the deposit back to the seller, stock back. `RefundPart` (seller) pays part of the
//! payment back before completion. `ProposeCancel` + `AgreeCancel` (the other party) →
//! *cancelled*: buyer refunded, deposit returned, stock back if not shipped. `OpenDispute`
//! (either party, on a shipped order, before shipping + min(dispute window, confirmation
//! window)) → *disputed*: the escrow freezes (the confirmation trigger gives way to the
//! dispute's lapse, 30 days on) until `ProposeSettlement` + `AcceptSettlement` of the same split,
//! or [`exec::rule`], → *settled*: the buyer's share to the buyer; of the rest, the deposit (what
//! the share left of it) back to the seller and the payment to the payout account less the 1 %
//! fee (a settlement is no way around the fee). A dispute still open at its lapse is split by
//! the parties' standing proposals (one: that one; two: their midpoint; none: payment back to
//! the buyer, deposit to the seller), so a silent party cannot freeze an escrow for ever.
//! `RunDeadline` lets anyone run a deadline that passed before its trigger ran (a backlog on the
//! schedule, or a trigger that failed), so no order waits on the schedule.
//!
//! Deposits are paid by and returned to the shop's owner (the signer of `AcceptOrder`); sales
//! go to the payout account recorded in the order at placement.

pub mod codes;
pub(crate) mod exec;
mod fees;
pub mod genesis;
pub mod price;
pub mod query;
pub mod state;
pub mod till;
pub mod review;

use want_types::modules::commerce::CommerceCall;
use want_types::{Amount, ChainParams, ModuleId};

use crate::codes::ErrorCode;
use crate::failure::ExecError;
use crate::kernel::module::{CallCtx, GenesisCtx, HookCtx, Module};
use crate::StateError;

pub use exec::rule;
pub use fees::{bps_of, completion_fee};

/// Weight of a shop call (open, edit, close): a shop and a handle read and written.
/// Measured by `want bench weights` (2026-12-07, `docs/BENCHMARKS.md`), like the others below:
/// the CPU time beyond the base and the bytes, in reference-machine units, rounded up.
pub const SHOP_WEIGHT: u64 = 24_000;
/// Weight of adding or updating an offer: a shop read, an offer hashed and written (nearly all
/// of its cost is in its bytes).
pub const OFFER_WEIGHT: u64 = 1_000;
/// Weight of placing an order: offer and shop read, two balances, offer, order, sequence and a
/// schedule entry written.
pub const PLACE_WEIGHT: u64 = 25_000;
/// Weight of an order transition that moves funds or re-arms a deadline (accept, decline, ship,
/// confirm, refund, cancel, settle): up to four balances, the order, the offer, the schedule.
/// The dearest measured, confirmation (payout, fee, deposit back, purchase record).
pub const TRANSITION_WEIGHT: u64 = 34_000;
/// Weight of a transition that only writes the order (proposals, dispute).
pub const PROPOSAL_WEIGHT: u64 = 14_000;
/// Weight of paying a payment request at the till: shop and till key read, three balances, the
/// sequence, the paid request, the payment and a purchase record written.
pub const PAY_WEIGHT: u64 = 25_000;
/// Weight of registering or removing a price reporter: up to 64 reporter keys read (the cap),
/// 27 reports deleted.
pub const REPORTER_WEIGHT: u64 = 15_000;
/// Weight of a price report: up to 27 reports written.
pub const PRICES_WEIGHT: u64 = 20_000;

/// The commerce module.
pub struct Commerce;

impl Module for Commerce {
    const ID: ModuleId = ModuleId::Commerce;
    type Call = CommerceCall;

    fn codes() -> &'static [ErrorCode] {
        codes::CODES
    }

    fn execute(ctx: &mut CallCtx<'_, '_>, call: &CommerceCall) -> Result<(), ExecError> {
        exec::execute(ctx, call)
    }

    /// Placing an order takes at most `max_total` (the payment), accepting one at most
    /// `max_deposit` (the deposit) and paying a request at most `max_want` (whatever its
    /// currency); nothing else takes from the sender.
    fn max_spend(_params: &ChainParams, call: &CommerceCall) -> Result<Amount, ExecError> {
        Ok(match call {
            CommerceCall::PlaceOrder { max_total, .. } => *max_total,
            CommerceCall::AcceptOrder { max_deposit, .. } => *max_deposit,
            CommerceCall::PayRequest { max_want, .. } => *max_want,
            _ => 0,
        })
    }

    fn weight(call: &CommerceCall) -> u64 {
        match call {
            CommerceCall::OpenShop { .. }
            | CommerceCall::EditShop { .. }
            | CommerceCall::CloseShop { .. } => SHOP_WEIGHT,
            CommerceCall::AddOffer { .. } | CommerceCall::UpdateOffer { .. } => OFFER_WEIGHT,
            CommerceCall::PlaceOrder { .. } => PLACE_WEIGHT,
            CommerceCall::AcceptOrder { .. }
            | CommerceCall::DeclineOrder { .. }
            | CommerceCall::ShipOrder { .. }
            | CommerceCall::ConfirmDelivery { .. }
            | CommerceCall::RefundPart { .. }
            | CommerceCall::AgreeCancel { .. }
            | CommerceCall::AcceptSettlement { .. }
            | CommerceCall::RunDeadline { .. }
            | CommerceCall::ConfirmByEvent { .. } => TRANSITION_WEIGHT,
            CommerceCall::SetDelivery { .. } => PROPOSAL_WEIGHT,
            CommerceCall::ProposeCancel { .. }
            | CommerceCall::OpenDispute { .. }
            | CommerceCall::ProposeSettlement { .. } => PROPOSAL_WEIGHT,
            CommerceCall::AddTillKey { .. } | CommerceCall::RemoveTillKey { .. } => SHOP_WEIGHT,
            CommerceCall::PayRequest { .. } => PAY_WEIGHT,
            CommerceCall::AddReview { .. }
            | CommerceCall::EditReview { .. }
            | CommerceCall::ReplyReview { .. }
            | CommerceCall::LikeReview { .. }
            | CommerceCall::ShareReview { .. } => review::REVIEW_WEIGHT,
            CommerceCall::RegisterReporter { .. } | CommerceCall::RemoveReporter { .. } => {
                REPORTER_WEIGHT
            }
            CommerceCall::PostPrices { .. } => PRICES_WEIGHT,
        }
    }

    fn genesis(ctx: &mut GenesisCtx<'_, '_>) -> Result<(), StateError> {
        genesis::write(ctx)
    }

    /// The payload is a borsh `exec::Due`: an order deadline or a retirement; see [`exec`].
    fn on_due(ctx: &mut HookCtx<'_, '_>, payload: &[u8]) -> Result<(), ExecError> {
        exec::on_due(ctx, payload)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod price_tests;
