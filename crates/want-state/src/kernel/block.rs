//! Applying a block: the kernel's pre-checks, fee charge and each call through its module, in
//! order, then the schedule's due entries and the modules' end-of-block hooks; and admission,
//! the same rules run for one transaction on a throw-away layer.

use want_types::params::RULE_FEE_WEIGHTS;
use want_types::{
    Address, Amount, ChainParams, Event, Hash32, Receipt, SignedTransaction, TokenEvent, TxStatus,
};

use crate::failure::{fail, ExecError, TxFailure};
use crate::kernel::accounts::{nonce, set_nonce};
pub use crate::kernel::context::BlockContext;
use crate::kernel::fees::{check_fee, tx_weight};
use crate::kernel::module::{CallCtx, HookCtx, Mode};
use crate::modules::token::exec::{credit, debit};
use crate::modules::token::state::{balance, set_balance};
use crate::store::Overlay;
use crate::{codes, state_root_step, StateError, StateView, WriteSet};

/// A transaction whose signature the caller has checked, with its recovered sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    /// The id of `tx` (`tx.id()`); used in the receipt and for the proof-of-work check.
    pub id: Hash32,
    /// The signer, which signature verification checked to be `tx.tx.from`.
    pub sender: Address,
    /// The encoded size of `tx`, in bytes (its weight and the stamp's limit depend on it).
    pub size: usize,
    pub tx: SignedTransaction,
}

impl VerifiedTx {
    /// Wraps a transaction whose signature was verified for `sender`, computing its id and size.
    pub fn new(sender: Address, tx: SignedTransaction) -> VerifiedTx {
        VerifiedTx {
            id: tx.id(),
            sender,
            size: borsh::object_length(&tx).unwrap_or(usize::MAX),
            tx,
        }
    }

    /// Its weight (see `kernel/fees.rs`).
    pub fn weight(&self) -> u64 {
        tx_weight(&self.tx.tx.call, self.size)
    }
}

/// Result of applying a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Events of the schedule's due entries and the end-of-block hooks, in order.
    pub hook_events: Vec<Event>,
    /// Every change of the block, sorted by key, without no-op writes.
    pub write_set: WriteSet,
    /// `state_root_step(parent_state_root, ctx.height, &write_set)`.
    pub state_root: Hash32,
}

/// The weight of a block's transactions, checked against the limit when the rule `fee_weights`
/// applies: every member refuses a heavier block.
pub fn check_block_weight(ctx: &BlockContext, txs: &[VerifiedTx]) -> Result<u64, StateError> {
    let weight = txs
        .iter()
        .fold(0u64, |sum, t| sum.saturating_add(t.weight()));
    if ctx.activations.active(RULE_FEE_WEIGHTS, ctx.height) && weight > ctx.params.block_weight_max
    {
        return Err(StateError::BlockOverweight {
            height: ctx.height,
            weight,
            max: ctx.params.block_weight_max,
        });
    }
    Ok(weight)
}

/// Applies `txs` in order over `view`, then the end-of-block work, and returns receipts, changes
/// and the new state root.
///
/// A transaction that cannot run is `Rejected` (nothing charged, nonce kept); one whose call fails
/// is `Failed` (fee and nonce consumed, call reverted). Only a block over its weight limit, a
/// storage failure or a corrupt stored value is an error, and then nothing of the block applies.
/// Pure: same inputs, same outcome.
pub fn apply_block(
    view: &dyn StateView,
    ctx: &BlockContext,
    parent_state_root: Hash32,
    txs: &[VerifiedTx],
) -> Result<BlockOutcome, StateError> {
    check_block_weight(ctx, txs)?;
    let mut block = Overlay::remembering_reads(view);
    let mut receipts = Vec::with_capacity(txs.len());
    for vtx in txs {
        receipts.push(apply_tx(&mut block, ctx, vtx)?);
    }
    let hook_events = end_block(&mut block, ctx)?;
    // Keep only real changes, so the root depends on the state transition and not on how many
    // times a key was rewritten.
    let changes = block.into_real_changes()?;
    let write_set = WriteSet(changes);
    let state_root = state_root_step(parent_state_root, ctx.height, &write_set);
    Ok(BlockOutcome {
        receipts,
        hook_events,
        write_set,
        state_root,
    })
}

/// The schedule's due entries, then each active module's end-of-block hook (each on its own
/// layer, dropped if it fails).
fn end_block(block: &mut Overlay<'_>, ctx: &BlockContext) -> Result<Vec<Event>, StateError> {
    let mut events = Vec::new();
    crate::kernel::schedule::run_due(block, ctx, &mut events)?;
    for m in crate::modules::MODULES {
        if !ctx.module_active(m.id) {
            continue;
        }
        let mut layer = Overlay::new(block);
        let mut hook_events = Vec::new();
        let mut hook = HookCtx {
            state: &mut layer,
            block: ctx,
            events: &mut hook_events,
        };
        match crate::modules::end_block(m.id, &mut hook) {
            Ok(()) => {
                let changes = layer.into_changes();
                block.absorb(changes);
                events.append(&mut hook_events);
            }
            Err(ExecError::Tx(_)) => {}
            Err(ExecError::State(e)) => return Err(e),
        }
    }
    Ok(events)
}

fn apply_tx(
    block: &mut Overlay<'_>,
    ctx: &BlockContext,
    vtx: &VerifiedTx,
) -> Result<Receipt, StateError> {
    debug_assert_eq!(
        vtx.id,
        vtx.tx.id(),
        "VerifiedTx.id must be the id of its tx"
    );
    let tx = &vtx.tx.tx;
    let sender = vtx.sender;
    let receipt = |status, fee_paid, events| Receipt {
        tx_id: vtx.id,
        sender,
        status,
        fee_paid,
        events,
    };
    let rejected = |f: TxFailure| {
        receipt(
            TxStatus::Rejected {
                code: f.code.to_string(),
                message: f.message,
            },
            0,
            Vec::new(),
        )
    };

    // 1–2. Pre-checks and fee charge, on a layer dropped if either fails.
    let mut charged = Overlay::new(block);
    let mut events = Vec::new();
    match precheck_and_charge(&mut charged, ctx, vtx, &mut events) {
        Ok(()) => {}
        Err(ExecError::Tx(f)) => return Ok(rejected(f)),
        Err(ExecError::State(e)) => return Err(e),
    }

    // 3. The call, through its module, on a layer dropped if it fails.
    let mut call_layer = Overlay::new(&charged);
    let mut call_events = Vec::new();
    let mut call_ctx = CallCtx {
        state: &mut call_layer,
        block: ctx,
        tx_id: vtx.id,
        sender,
        mode: Mode::Execute,
        events: &mut call_events,
    };
    let status = match crate::modules::execute(&mut call_ctx, &tx.call) {
        Ok(()) => {
            let changes = call_layer.into_changes();
            charged.absorb(changes);
            events.append(&mut call_events);
            TxStatus::Success
        }
        Err(ExecError::Tx(f)) => TxStatus::Failed {
            code: f.code.to_string(),
            message: f.message,
        },
        Err(ExecError::State(e)) => return Err(e),
    };
    let changes = charged.into_changes();
    block.absorb(changes);
    Ok(receipt(status, tx.fee, events))
}

/// The checks every transaction passes before its call, whether it executes or is admitted:
/// chain id, expiry, the call's module active, and its fee or stamp for its weight.
fn precheck(ctx: &BlockContext, vtx: &VerifiedTx) -> Result<(), ExecError> {
    let tx = &vtx.tx.tx;
    let params = &ctx.params;
    if tx.chain_id != params.chain_id {
        return Err(fail(
            codes::WRONG_CHAIN_ID,
            format!(
                "tx.chain_id {} is not this chain's id {}; sign the transaction for this chain",
                tx.chain_id, params.chain_id
            ),
        ));
    }
    if tx.expiry_ms < ctx.timestamp_ms {
        return Err(fail(
            codes::EXPIRED,
            format!(
                "tx.expiry_ms {} is past (block time {} ms); sign it again with a later expiry",
                tx.expiry_ms, ctx.timestamp_ms
            ),
        ));
    }
    let module = tx.call.module();
    if !ctx.module_active(module) {
        return Err(fail(
            codes::MODULE_INACTIVE,
            format!(
                "module {} is active from height {}; this block is at {}",
                module.name(),
                ctx.activations.height(module.name()),
                ctx.height
            ),
        ));
    }
    check_fee(
        params,
        &ctx.activations,
        ctx.height,
        tx.fee,
        &vtx.id,
        vtx.size,
        vtx.weight(),
    )
}

/// Checks the transaction, its nonce and its fee balance, then charges the fee into the
/// incentive pool and consumes the nonce.
fn precheck_and_charge(
    ov: &mut Overlay<'_>,
    ctx: &BlockContext,
    vtx: &VerifiedTx,
    events: &mut Vec<Event>,
) -> Result<(), ExecError> {
    precheck(ctx, vtx)?;
    let tx = &vtx.tx.tx;
    let sender = vtx.sender;
    let expected = nonce(ov, &sender)?;
    if tx.nonce != expected {
        return Err(fail(
            codes::BAD_NONCE,
            format!("expected nonce {expected}, got {}", tx.nonce),
        ));
    }
    let Some(next_nonce) = expected.checked_add(1) else {
        return Err(fail(
            codes::NONCE_EXHAUSTED,
            format!("{sender} has used every nonce"),
        ));
    };
    let have: Amount = balance(ov, &sender)?;
    if have < tx.fee {
        return Err(fail(
            codes::INSUFFICIENT_BALANCE_FOR_FEE,
            format!("{sender} has {have} base units, the fee is {}", tx.fee),
        ));
    }
    charge_fee(ov, &ctx.params, &sender, tx.fee, Mode::Execute, events)?;
    set_nonce(ov, &sender, next_nonce);
    Ok(())
}

/// Takes the fee from the sender into the incentive pool. Admission leaves the pool's credit
/// out: no balance can overflow (the whole supply was allocated at genesis), so it cannot fail.
fn charge_fee(
    ov: &mut Overlay<'_>,
    params: &ChainParams,
    sender: &Address,
    fee: Amount,
    mode: Mode,
    events: &mut Vec<Event>,
) -> Result<(), ExecError> {
    if fee > 0 {
        debit(ov, sender, fee, codes::INSUFFICIENT_BALANCE_FOR_FEE)?;
        if mode == Mode::Execute {
            credit(ov, &params.incentive_pool, fee)?;
        }
        events.push(
            TokenEvent::FeePaid {
                from: *sender,
                to: params.incentive_pool,
                value: fee,
            }
            .into(),
        );
    }
    Ok(())
}

/// What admission learned about a transaction, for the mempool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The sender's next nonce in committed state.
    pub committed_nonce: u64,
    /// The sender's balance in committed state.
    pub balance: Amount,
    /// The most the transaction can take from the sender: the fee plus its call's
    /// `Module::max_spend`.
    pub spend: Amount,
    pub weight: u64,
}

/// Admission: whether `vtx` could execute as a transaction of a block with `ctx` (the node's
/// clock and the next height) over committed state `view` — the kernel's pre-checks, a nonce
/// not yet used, the fee payable, and the call itself run by its module in [`Mode::Admit`] on a
/// layer that is thrown away. The node keeps no copy of these rules. What depends on the
/// sender's other pending transactions (nonce gaps, their total spending) is the mempool's.
pub fn admit(
    view: &dyn StateView,
    ctx: &BlockContext,
    vtx: &VerifiedTx,
) -> Result<Result<Admitted, TxFailure>, StateError> {
    match admit_inner(view, ctx, vtx) {
        Ok(a) => Ok(Ok(a)),
        Err(ExecError::Tx(f)) => Ok(Err(f)),
        Err(ExecError::State(e)) => Err(e),
    }
}

fn admit_inner(
    view: &dyn StateView,
    ctx: &BlockContext,
    vtx: &VerifiedTx,
) -> Result<Admitted, ExecError> {
    precheck(ctx, vtx)?;
    let tx = &vtx.tx.tx;
    let sender = vtx.sender;
    let weight = vtx.weight();
    if ctx.activations.active(RULE_FEE_WEIGHTS, ctx.height) && weight > ctx.params.block_weight_max
    {
        return Err(fail(
            codes::TX_TOO_HEAVY,
            format!(
                "the transaction weighs {weight}; a block carries at most {}: split the call (e.g. fewer records per anchor)",
                ctx.params.block_weight_max
            ),
        ));
    }
    let committed_nonce = nonce(view, &sender)?;
    if tx.nonce < committed_nonce {
        return Err(fail(
            codes::NONCE_TOO_LOW,
            format!(
                "tx.nonce {} of {sender} was already used; the account's next nonce is {committed_nonce}",
                tx.nonce
            ),
        ));
    }
    let spend = crate::modules::max_spend(&ctx.params, &tx.call)?
        .checked_add(tx.fee)
        .ok_or_else(|| {
            fail(
                codes::AMOUNT_OVERFLOW,
                "tx.call's amount plus fees overflows 128 bits",
            )
        })?;
    let have = balance(view, &sender)?;
    // The call's own rules first (on a throw-away layer, after its fee when the sender can pay
    // it), then whether the balance covers the fee and what the call may spend.
    let mut ov = Overlay::new(view);
    // The balance just read, so the fee charge and the call find it here instead of reading
    // storage again.
    set_balance(&mut ov, &sender, have);
    let mut events = Vec::new();
    if have >= tx.fee {
        charge_fee(
            &mut ov,
            &ctx.params,
            &sender,
            tx.fee,
            Mode::Admit,
            &mut events,
        )?;
    }
    let mut call_ctx = CallCtx {
        state: &mut ov,
        block: ctx,
        tx_id: vtx.id,
        sender,
        mode: Mode::Admit,
        events: &mut events,
    };
    crate::modules::admit(&mut call_ctx, &tx.call)?;
    // What the fee and the call took from the sender's balance (credits are left out in
    // admission, so the balance only went down): a call may spend more than its module can say
    // without knowing the sender (a transfer_from whose owner is the sender).
    let left = balance(&ov, &sender)?;
    let spend = spend.max(have.saturating_sub(left));
    if have < spend {
        return Err(fail(
            crate::modules::token::codes::INSUFFICIENT_BALANCE,
            format!(
                "insufficient balance: {sender} holds {have} base units, this transaction needs {spend} (fee, value and transfer fee)"
            ),
        ));
    }
    Ok(Admitted {
        committed_nonce,
        balance: have,
        spend,
        weight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query;
    use crate::testutil::*;
    use crate::MemState;
    use std::collections::BTreeMap;
    use want_types::params::RULE_FEE_WEIGHTS;
    use want_types::{Call, TokenCall, Transaction};

    fn transfer(to: Address, amount: Amount) -> TokenCall {
        TokenCall::Transfer { to, amount }
    }

    /// Asserts the receipt is a rejection with `expected` that charged nothing and kept the nonce.
    fn assert_rejected_without_effect(
        ms: &mut MemState,
        sender: Address,
        t: Transaction,
        expected: &str,
    ) {
        let before = ms.clone();
        let out = run(ms, vec![(sender, t)]);
        let r = &out.receipts[0];
        assert_eq!(code(r), ("rejected", expected), "{r:?}");
        assert_eq!(r.fee_paid, 0);
        assert!(r.events.is_empty());
        assert!(out.write_set.is_empty(), "{:?}", out.write_set);
        assert_eq!(*ms, before);
    }

    #[test]
    fn successful_transfer_charges_fee_consumes_nonce_and_emits_fee_event_first() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, 1_000_000)]);
        let r = run1(&mut ms, a, tx(0, transfer(b, 10_000)));
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.fee_paid, MIN_FEE);
        assert_eq!(
            r.events[0],
            Event::Token(TokenEvent::FeePaid {
                from: a,
                to: pool(),
                value: MIN_FEE
            })
        );
        assert_eq!(query::nonce(&ms, &a).unwrap(), 1);
        assert_eq!(
            query::balance(&ms, &a).unwrap(),
            1_000_000 - MIN_FEE - 10_000 - 100
        );
        assert_eq!(query::pool_balance(&ms, &params()).unwrap(), MIN_FEE + 100);
    }

    #[test]
    fn wrong_chain_id_is_rejected() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        let mut t = tx(0, transfer(addr(2), 1));
        t.chain_id = CHAIN_ID + 1;
        assert_rejected_without_effect(&mut ms, a, t, codes::WRONG_CHAIN_ID);
    }

    #[test]
    fn expired_transaction_is_rejected_but_expiry_at_block_time_is_accepted() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        let mut t = tx(0, transfer(addr(2), 1));
        t.expiry_ms = NOW_MS - 1;
        assert_rejected_without_effect(&mut ms, a, t.clone(), codes::EXPIRED);
        t.expiry_ms = NOW_MS;
        assert!(run1(&mut ms, a, t).is_success());
    }

    #[test]
    fn future_nonce_is_rejected_with_expected_and_got() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        let out = run(&mut ms, vec![(a, tx(5, transfer(addr(2), 1)))]);
        assert_eq!(code(&out.receipts[0]), ("rejected", codes::BAD_NONCE));
        assert_eq!(message(&out.receipts[0]), "expected nonce 0, got 5");
        assert_eq!(query::nonce(&ms, &a).unwrap(), 0);
        assert_eq!(query::balance(&ms, &a).unwrap(), 1_000_000);
    }

    #[test]
    fn replay_with_an_old_nonce_is_rejected() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        let t = tx(0, transfer(addr(2), 1));
        assert!(run1(&mut ms, a, t.clone()).is_success());
        assert_rejected_without_effect(&mut ms, a, t, codes::BAD_NONCE);
        assert_eq!(query::nonce(&ms, &a).unwrap(), 1);
    }

    #[test]
    fn replay_within_the_same_block_is_rejected() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        let t = tx(0, transfer(addr(2), 1));
        let out = run(&mut ms, vec![(a, t.clone()), (a, t)]);
        assert!(out.receipts[0].is_success());
        assert_eq!(code(&out.receipts[1]), ("rejected", codes::BAD_NONCE));
        assert_eq!(query::balance(&ms, &addr(2)).unwrap(), 1);
    }

    #[test]
    fn exhausted_nonce_is_rejected_instead_of_wrapping() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        ms.0.insert(
            crate::kernel::accounts::nonce_key(&a),
            u64::MAX.to_be_bytes().to_vec(),
        );
        assert_rejected_without_effect(
            &mut ms,
            a,
            tx(u64::MAX, transfer(addr(2), 1)),
            codes::NONCE_EXHAUSTED,
        );
    }

    /// A zero-fee transaction whose id falls short of the difficulty.
    fn unstamped_zero_fee(nonce: u64) -> Transaction {
        let mut t = tx(nonce, transfer(addr(2), 1));
        t.fee = 0;
        while t.id().leading_zero_bits() >= POW_BITS {
            t.pow_nonce += 1;
        }
        t
    }

    #[test]
    fn fee_below_minimum_without_stamp_is_rejected() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        assert_rejected_without_effect(&mut ms, a, unstamped_zero_fee(0), codes::FEE_TOO_LOW);
        let mut t = unstamped_zero_fee(0);
        t.fee = MIN_FEE - 1;
        while t.id().leading_zero_bits() >= POW_BITS {
            t.pow_nonce += 1;
        }
        assert_rejected_without_effect(&mut ms, a, t, codes::FEE_TOO_LOW);
    }

    #[test]
    fn proof_of_work_stamp_allows_a_zero_fee() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, 1_000)]);
        let mut t = unstamped_zero_fee(0);
        t.solve_pow(POW_BITS);
        let r = run1(&mut ms, a, t);
        assert!(r.is_success(), "{r:?}");
        assert_eq!(r.fee_paid, 0);
        assert!(!r
            .events
            .iter()
            .any(|e| matches!(e, Event::Token(TokenEvent::FeePaid { .. }))));
        assert_eq!(query::balance(&ms, &b).unwrap(), 1);
        assert_eq!(query::balance(&ms, &a).unwrap(), 1_000 - 1 - 1);
        assert_eq!(query::nonce(&ms, &a).unwrap(), 1);
    }

    #[test]
    fn a_stamp_pays_only_for_small_transactions() {
        use want_types::trace::{AnchorRecord, ProductLink, PublicFields, Relation, TraceCall};
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000)]);
        let products = (0..400)
            .map(|i| ProductLink {
                id: format!("https://id.gs1.org/01/09521234543213/21/{i}"),
                relation: Relation::Epc,
            })
            .collect();
        let mut t = tx(0, TokenCall::Burn { amount: 0 });
        t.call = Call::Trace(TraceCall::Anchor {
            org: "acme".into(),
            records: vec![AnchorRecord {
                event_hash: Hash32([1; 32]),
                record_hash: Hash32([2; 32]),
                cid: "bafkrei".into(),
                owner_wrapped_key: vec![],
                public: PublicFields {
                    event_type: "ObjectEvent".into(),
                    biz_step: None,
                    disposition: None,
                    event_time_ms: None,
                    location: None,
                    products,
                },
            }],
        });
        t.fee = 0;
        t.solve_pow(POW_BITS);
        assert!(t.to_bytes().len() > want_types::POW_TX_BYTES_MAX);
        assert_rejected_without_effect(&mut ms, a, t, codes::FEE_TOO_LOW);
    }

    #[test]
    fn stamped_zero_fee_works_for_an_account_with_no_balance() {
        // An approval costs nothing but the stamp, so an empty account can still act.
        let a = addr(9);
        let mut ms = state_with(&[]);
        let mut t = tx(
            0,
            TokenCall::Approve {
                spender: addr(2),
                amount: 5,
            },
        );
        t.fee = 0;
        t.solve_pow(POW_BITS);
        assert!(run1(&mut ms, a, t).is_success());
        assert_eq!(query::allowance(&ms, &a, &addr(2)).unwrap(), 5);
    }

    #[test]
    fn unpayable_fee_is_rejected() {
        let a = addr(1);
        let mut ms = state_with(&[(a, MIN_FEE - 1)]);
        assert_rejected_without_effect(
            &mut ms,
            a,
            tx(0, transfer(addr(2), 0)),
            codes::INSUFFICIENT_BALANCE_FOR_FEE,
        );
        let mut huge = tx(0, transfer(addr(2), 0));
        huge.fee = u128::MAX;
        assert_rejected_without_effect(&mut ms, a, huge, codes::INSUFFICIENT_BALANCE_FOR_FEE);
    }

    #[test]
    fn failed_call_keeps_fee_and_nonce_and_drops_its_events_and_writes() {
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, 5_000)]);
        let r = run1(&mut ms, a, tx(0, transfer(b, 4_000)));
        assert_eq!(
            code(&r),
            ("failed", crate::token::codes::INSUFFICIENT_BALANCE)
        );
        assert_eq!(r.fee_paid, MIN_FEE);
        assert_eq!(
            r.events,
            vec![Event::Token(TokenEvent::FeePaid {
                from: a,
                to: pool(),
                value: MIN_FEE
            })]
        );
        assert_eq!(query::balance(&ms, &a).unwrap(), 4_000);
        assert_eq!(query::balance(&ms, &b).unwrap(), 0);
        assert_eq!(query::pool_balance(&ms, &params()).unwrap(), MIN_FEE);
        assert_eq!(query::nonce(&ms, &a).unwrap(), 1);
    }

    #[test]
    fn same_inputs_give_identical_outcome_and_root() {
        let (a, b) = (addr(1), addr(2));
        let ms = state_with(&[(a, 1_000_000), (b, 3)]);
        let txs = vec![
            verified(a, tx(0, transfer(b, 500))),
            verified(b, tx(0, transfer(a, 1))),
            verified(
                a,
                tx(
                    1,
                    TokenCall::Approve {
                        spender: b,
                        amount: 10_000,
                    },
                ),
            ),
            verified(
                b,
                tx(
                    0,
                    TokenCall::TransferFrom {
                        from: a,
                        to: b,
                        amount: 900,
                    },
                ),
            ),
            verified(a, tx(2, TokenCall::Burn { amount: 7 })),
        ];
        let parent = Hash32([3; 32]);
        let one = apply_block(&ms, &ctx(4), parent, &txs).unwrap();
        let two = apply_block(&ms.clone(), &ctx(4), parent, &txs).unwrap();
        assert_eq!(one, two);
        assert_eq!(one.state_root, state_root_step(parent, 4, &one.write_set));
        assert_ne!(
            one.state_root,
            apply_block(&ms, &ctx(5), parent, &txs).unwrap().state_root
        );
    }

    #[test]
    fn empty_block_has_an_empty_write_set_and_a_chained_root() {
        let ms = state_with(&[]);
        let out = apply_block(&ms, &ctx(3), Hash32([1; 32]), &[]).unwrap();
        assert!(out.receipts.is_empty());
        assert!(out.write_set.is_empty());
        assert_eq!(
            out.state_root,
            state_root_step(Hash32([1; 32]), 3, &WriteSet::default())
        );
    }

    #[test]
    fn write_set_leaves_out_writes_that_change_nothing() {
        // Approving the allowance already in place rewrites the same value: not a change.
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, 1_000_000)]);
        run1(
            &mut ms,
            a,
            tx(
                0,
                TokenCall::Approve {
                    spender: b,
                    amount: 5,
                },
            ),
        );
        let out = run(
            &mut ms,
            vec![(
                a,
                tx(
                    1,
                    TokenCall::Approve {
                        spender: b,
                        amount: 5,
                    },
                ),
            )],
        );
        assert!(out.receipts[0].is_success());
        let allow_key = crate::token::state::allowance_key(&a, &b);
        assert!(!out.write_set.0.contains_key(&allow_key));
        // A transfer of zero to a fresh account does not create a zero balance either.
        let out = run(&mut ms, vec![(a, tx(2, transfer(addr(3), 0)))]);
        assert!(!out
            .write_set
            .0
            .contains_key(&crate::token::state::balance_key(&addr(3))));
    }

    fn admission_ctx() -> BlockContext {
        ctx(2)
    }

    #[test]
    fn admission_runs_the_rules_of_execution_without_writing() {
        let (a, b) = (addr(1), addr(2));
        let ms = state_with(&[(a, 1_000_000)]);
        let ok = verified(a, tx(0, transfer(b, 10_000)));
        let admitted = admit(&ms, &admission_ctx(), &ok).unwrap().unwrap();
        assert_eq!(admitted.committed_nonce, 0);
        assert_eq!(admitted.balance, 1_000_000);
        assert_eq!(admitted.spend, MIN_FEE + 10_000 + 100);
        assert_eq!(admitted.weight, ok.weight());
        // A later nonce is the mempool's business; an earlier one is refused.
        assert!(
            admit(&ms, &admission_ctx(), &verified(a, tx(5, transfer(b, 1))))
                .unwrap()
                .is_ok()
        );
        let mut used = ms.clone();
        run1(&mut used, a, tx(0, transfer(b, 1)));
        let f = admit(&used, &admission_ctx(), &ok).unwrap().unwrap_err();
        assert_eq!(f.code, codes::NONCE_TOO_LOW);
        // The call's own rule (an allowance), from the module, not a copy in the node: an
        // account without allowance hears so even when it could not pay the fee either.
        let transfer_from = verified(
            b,
            tx(
                0,
                TokenCall::TransferFrom {
                    from: a,
                    to: b,
                    amount: 1,
                },
            ),
        );
        let f = admit(&ms, &admission_ctx(), &transfer_from)
            .unwrap()
            .unwrap_err();
        assert_eq!(f.code, crate::token::codes::INSUFFICIENT_ALLOWANCE);
        // With an allowance but nothing to pay the fee with: the balance.
        let mut approved = ms.clone();
        run1(
            &mut approved,
            a,
            tx(
                0,
                TokenCall::Approve {
                    spender: b,
                    amount: 1_000,
                },
            ),
        );
        let f = admit(&approved, &admission_ctx(), &transfer_from)
            .unwrap()
            .unwrap_err();
        assert_eq!(f.code, crate::token::codes::INSUFFICIENT_BALANCE);
        // More than the balance, and an amount whose fee overflows.
        let f = admit(
            &ms,
            &admission_ctx(),
            &verified(a, tx(0, transfer(b, 1_000_000))),
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(f.code, crate::token::codes::INSUFFICIENT_BALANCE);
        let f = admit(
            &ms,
            &admission_ctx(),
            &verified(a, tx(0, transfer(b, u128::MAX))),
        )
        .unwrap()
        .unwrap_err();
        assert_eq!(f.code, codes::AMOUNT_OVERFLOW);
    }

    #[test]
    fn admission_counts_what_a_call_takes_from_the_sender_beyond_what_its_module_declares() {
        // An owner that approved itself moves its own balance with transfer_from: the token
        // module cannot know the owner is the sender, so the spend comes from the balance the
        // call left, and the mempool cannot queue later transactions the balance no longer pays.
        let (a, b) = (addr(1), addr(2));
        let mut ms = state_with(&[(a, 1_000_000)]);
        run1(
            &mut ms,
            a,
            tx(
                0,
                TokenCall::Approve {
                    spender: a,
                    amount: 1_000_000,
                },
            ),
        );
        let amount = 500_000;
        let own = verified(
            a,
            tx(
                1,
                TokenCall::TransferFrom {
                    from: a,
                    to: b,
                    amount,
                },
            ),
        );
        let admitted = admit(&ms, &admission_ctx(), &own).unwrap().unwrap();
        assert_eq!(admitted.spend, MIN_FEE + amount + amount / 100);
        // Someone else's transfer_from spends the owner's balance, not the sender's.
        let mut approved_b = ms.clone();
        run1(
            &mut approved_b,
            a,
            tx(
                1,
                TokenCall::Approve {
                    spender: b,
                    amount: 1_000_000,
                },
            ),
        );
        let mut funded = approved_b.clone();
        run1(&mut funded, a, tx(2, transfer(b, 100_000)));
        let theirs = verified(
            b,
            tx(
                0,
                TokenCall::TransferFrom {
                    from: a,
                    to: b,
                    amount,
                },
            ),
        );
        let admitted = admit(&funded, &admission_ctx(), &theirs).unwrap().unwrap();
        assert_eq!(admitted.spend, MIN_FEE);
    }

    /// A transfer carrying `extra` bytes of padding (an anchor with products stands in for a
    /// heavy call).
    fn heavy_anchor(nonce: u64, products: usize) -> Transaction {
        use want_types::trace::{AnchorRecord, ProductLink, PublicFields, Relation, TraceCall};
        let mut t = tx(nonce, TokenCall::Burn { amount: 0 });
        t.call = Call::Trace(TraceCall::Anchor {
            org: "acme".into(),
            records: vec![AnchorRecord {
                event_hash: Hash32([1; 32]),
                record_hash: Hash32([2; 32]),
                cid: "bafkrei".into(),
                owner_wrapped_key: vec![1],
                public: PublicFields {
                    event_type: "ObjectEvent".into(),
                    biz_step: None,
                    disposition: None,
                    event_time_ms: None,
                    location: None,
                    products: (0..products)
                        .map(|i| ProductLink {
                            id: format!("https://id.gs1.org/01/09521234543213/21/{i}"),
                            relation: Relation::Epc,
                        })
                        .collect(),
                },
            }],
        });
        t
    }

    #[test]
    fn the_fee_follows_the_weight_once_the_rule_is_active() {
        let a = addr(1);
        let mut ms = state_with(&[(a, 1_000_000_000)]);
        let t = heavy_anchor(0, 1_000);
        let v = verified(a, t.clone());
        let need = params().fee_for_weight(v.weight()).unwrap();
        assert!(
            need > MIN_FEE,
            "a 1,000-product anchor costs more than a transfer"
        );
        // The minimum fee no longer pays for it...
        let out = run(&mut ms.clone(), vec![(a, t.clone())]);
        assert_eq!(code(&out.receipts[0]), ("rejected", codes::FEE_TOO_LOW));
        assert!(message(&out.receipts[0]).contains(&need.to_string()));
        // ...its weight's fee does (the call then fails on its own rules: no such organisation).
        let mut paid = t.clone();
        paid.fee = need;
        let r = run1(&mut ms, a, paid);
        assert_eq!(r.fee_paid, need);
        // Before the rule's activation height, the older rule: the minimum fee.
        let mut later = ctx(1);
        later.activations.0.insert(RULE_FEE_WEIGHTS.into(), 10);
        let ms2 = state_with(&[(a, 1_000_000_000)]);
        let out = apply_block(&ms2, &later, Hash32::ZERO, &[verified(a, t)]).unwrap();
        assert_eq!(out.receipts[0].fee_paid, MIN_FEE);
        assert!(!matches!(out.receipts[0].status, TxStatus::Rejected { .. }));
    }

    #[test]
    fn a_block_over_its_weight_limit_is_refused_whole() {
        let a = addr(1);
        let ms = state_with(&[(a, 1_000_000_000)]);
        let txs: Vec<VerifiedTx> = (0..3)
            .map(|n| verified(a, tx(n, transfer(addr(2), 1))))
            .collect();
        let mut tight = ctx(1);
        tight.params.block_weight_max = txs[0].weight() * 2;
        let e = apply_block(&ms, &tight, Hash32::ZERO, &txs).unwrap_err();
        assert!(matches!(e, StateError::BlockOverweight { .. }), "{e}");
        assert!(apply_block(&ms, &tight, Hash32::ZERO, &txs[..2]).is_ok());
        // Before the rule applies there is no limit.
        tight.activations.0.insert(RULE_FEE_WEIGHTS.into(), 2);
        assert!(apply_block(&ms, &tight, Hash32::ZERO, &txs).is_ok());
    }

    #[test]
    fn a_call_to_a_module_not_yet_active_is_rejected_without_effect() {
        let a = addr(1);
        let ms = state_with(&[(a, 1_000_000)]);
        let mut early = ctx(4);
        early.activations.0.insert("token".into(), 5);
        let out = apply_block(
            &ms,
            &early,
            Hash32::ZERO,
            &[verified(a, tx(0, transfer(addr(2), 1)))],
        )
        .unwrap();
        assert_eq!(code(&out.receipts[0]), ("rejected", codes::MODULE_INACTIVE));
        assert!(out.write_set.is_empty());
        let f = admit(&ms, &early, &verified(a, tx(0, transfer(addr(2), 1))))
            .unwrap()
            .unwrap_err();
        assert_eq!(f.code, codes::MODULE_INACTIVE);
    }

    #[test]
    fn a_stamp_pays_for_a_light_transaction_only() {
        let a = addr(9);
        let mut ms = state_with(&[]);
        let mut light = tx(
            0,
            TokenCall::Approve {
                spender: addr(2),
                amount: 5,
            },
        );
        light.fee = 0;
        light.solve_pow(POW_BITS);
        assert!(run1(&mut ms, a, light).is_success());
        let mut heavy = heavy_anchor(1, 1_000);
        heavy.fee = 0;
        heavy.solve_pow(POW_BITS);
        let r = run1(&mut ms, a, heavy);
        assert_eq!(code(&r), ("rejected", codes::FEE_TOO_LOW));
        assert!(
            message(&r).contains("stamp pays for at most"),
            "{}",
            message(&r)
        );
    }

    struct FailingView;
    impl StateView for FailingView {
        fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
            Err(StateError::Storage {
                reason: "disk on fire".into(),
            })
        }

        fn range(
            &self,
            _prefix: &[u8],
            _start: Option<&[u8]>,
            _limit: usize,
        ) -> Result<Vec<crate::Entry>, StateError> {
            Err(StateError::Storage {
                reason: "disk on fire".into(),
            })
        }
    }

    #[test]
    fn storage_failure_aborts_the_block() {
        let err = apply_block(
            &FailingView,
            &ctx(1),
            Hash32::ZERO,
            &[verified(addr(1), tx(0, transfer(addr(2), 1)))],
        )
        .unwrap_err();
        assert_eq!(
            err,
            StateError::Storage {
                reason: "disk on fire".into()
            }
        );
    }

    #[test]
    fn corrupt_balance_aborts_the_block() {
        let a = addr(1);
        let mut view = BTreeMap::new();
        view.insert(crate::token::state::balance_key(&a), vec![1, 2, 3]);
        let err = apply_block(
            &view,
            &ctx(1),
            Hash32::ZERO,
            &[verified(a, tx(0, transfer(addr(2), 1)))],
        )
        .unwrap_err();
        assert!(matches!(err, StateError::Corrupt { .. }), "{err}");
    }
}
