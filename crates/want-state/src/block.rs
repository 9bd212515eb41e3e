//! Applying a block: pre-checks, fee charge and call of each transaction, in order.

use want_types::{
    Address, Amount, Call, ChainParams, Event, Hash32, Receipt, SignedTransaction, TxStatus,
};

use crate::accounts::state::{nonce, set_nonce};
use crate::failure::{fail, ExecError, TxFailure};
use crate::store::Overlay;
use crate::token::exec::{credit, debit};
use crate::token::state::balance;
use crate::{codes, state_root_step, StateError, StateView, WriteSet};

/// A transaction whose signature the caller has checked, with its recovered sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTx {
    /// The id of `tx` (`tx.id()`); used in the receipt and for the proof-of-work check.
    pub id: Hash32,
    /// The signer, which signature verification checked to be `tx.tx.from`.
    pub sender: Address,
    pub tx: SignedTransaction,
}

impl VerifiedTx {
    /// Wraps a transaction whose signature was verified for `sender`, computing its id.
    pub fn new(sender: Address, tx: SignedTransaction) -> VerifiedTx {
        VerifiedTx {
            id: tx.id(),
            sender,
            tx,
        }
    }
}

/// What the state machine knows about the block being applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockContext {
    pub height: u64,
    /// The block header's timestamp: the only clock the state machine sees.
    pub timestamp_ms: u64,
    pub params: ChainParams,
}

/// Result of applying a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One receipt per transaction, in block order.
    pub receipts: Vec<Receipt>,
    /// Every change of the block, sorted by key, without no-op writes.
    pub write_set: WriteSet,
    /// `state_root_step(parent_state_root, ctx.height, &write_set)`.
    pub state_root: Hash32,
}

/// Applies `txs` in order over `view` and returns receipts, changes and the new state root.
///
/// A transaction that cannot run is `Rejected` (nothing charged, nonce kept); one whose call fails
/// is `Failed` (fee and nonce consumed, call reverted). Only a storage failure or a corrupt stored
/// value is an error, and then nothing of the block applies. Pure: same inputs, same outcome.
pub fn apply_block(
    view: &dyn StateView,
    ctx: &BlockContext,
    parent_state_root: Hash32,
    txs: &[VerifiedTx],
) -> Result<BlockOutcome, StateError> {
    let mut block = Overlay::remembering_reads(view);
    let mut receipts = Vec::with_capacity(txs.len());
    for vtx in txs {
        receipts.push(apply_tx(&mut block, ctx, vtx)?);
    }
    // Keep only real changes, so the root depends on the state transition and not on how many
    // times a key was rewritten.
    let changes = block.into_real_changes()?;
    let write_set = WriteSet(changes);
    let state_root = state_root_step(parent_state_root, ctx.height, &write_set);
    Ok(BlockOutcome {
        receipts,
        write_set,
        state_root,
    })
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

    // 3. The call, on a layer dropped if it fails.
    let mut call_layer = Overlay::new(&charged);
    let mut call_events = Vec::new();
    let status = match execute_call(
        &mut call_layer,
        ctx,
        &vtx.id,
        &sender,
        &tx.call,
        &mut call_events,
    ) {
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

fn execute_call(
    ov: &mut Overlay<'_>,
    ctx: &BlockContext,
    tx_id: &Hash32,
    sender: &Address,
    call: &Call,
    events: &mut Vec<Event>,
) -> Result<(), ExecError> {
    match call {
        Call::Token(call) => crate::token::exec::execute(ov, &ctx.params, sender, call, events),
        Call::Trace(call) => crate::trace::exec::execute(ov, ctx, tx_id, sender, call),
    }
}

/// Runs one call over `view` as if it were the next transaction of a block with `ctx`, without
/// pre-checks or fees, and discards its writes: `Err((code, message))` when it would fail. The
/// node uses it to refuse at admission a call that cannot succeed (so no fee is lost on it).
pub fn dry_run_call(
    view: &dyn StateView,
    ctx: &BlockContext,
    tx_id: &Hash32,
    sender: &Address,
    call: &Call,
) -> Result<Result<(), (&'static str, String)>, StateError> {
    let mut ov = Overlay::new(view);
    let mut events = Vec::new();
    match execute_call(&mut ov, ctx, tx_id, sender, call, &mut events) {
        Ok(()) => Ok(Ok(())),
        Err(ExecError::Tx(f)) => Ok(Err((f.code, f.message))),
        Err(ExecError::State(e)) => Err(e),
    }
}

/// Checks chain id, expiry, nonce, fee (or proof-of-work stamp) and fee balance, then charges the
/// fee into the incentive pool and consumes the nonce.
fn precheck_and_charge(
    ov: &mut Overlay<'_>,
    ctx: &BlockContext,
    vtx: &VerifiedTx,
    events: &mut Vec<Event>,
) -> Result<(), ExecError> {
    let tx = &vtx.tx.tx;
    let params = &ctx.params;
    let sender = vtx.sender;
    if tx.chain_id != params.chain_id {
        return Err(fail(
            codes::WRONG_CHAIN_ID,
            format!(
                "transaction is for chain {}, this is chain {}",
                tx.chain_id, params.chain_id
            ),
        ));
    }
    if tx.expiry_ms < ctx.timestamp_ms {
        return Err(fail(
            codes::EXPIRED,
            format!(
                "transaction expired at {} ms, block time is {} ms",
                tx.expiry_ms, ctx.timestamp_ms
            ),
        ));
    }
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
    let stamp_bits = vtx.id.leading_zero_bits();
    if tx.fee < params.min_fee && stamp_bits < params.pow_difficulty_bits {
        return Err(fail(
            codes::FEE_TOO_LOW,
            format!(
                "fee {} is below the minimum {} and the id has {stamp_bits} leading zero bits, fewer than the {} of a proof-of-work stamp",
                tx.fee, params.min_fee, params.pow_difficulty_bits
            ),
        ));
    }
    if tx.fee < params.min_fee {
        let size = borsh::object_length(&vtx.tx).unwrap_or(usize::MAX);
        if size > want_types::POW_TX_BYTES_MAX {
            return Err(fail(
                codes::FEE_TOO_LOW,
                format!(
                    "the transaction is {size} bytes; a proof-of-work stamp pays for at most {} bytes, larger ones pay the minimum fee {}",
                    want_types::POW_TX_BYTES_MAX,
                    params.min_fee
                ),
            ));
        }
    }
    let have: Amount = balance(ov, &sender)?;
    if have < tx.fee {
        return Err(fail(
            codes::INSUFFICIENT_BALANCE_FOR_FEE,
            format!("{sender} has {have} base units, the fee is {}", tx.fee),
        ));
    }
    if tx.fee > 0 {
        debit(ov, &sender, tx.fee, codes::INSUFFICIENT_BALANCE_FOR_FEE)?;
        credit(ov, &params.incentive_pool, tx.fee)?;
        events.push(Event::FeePaid {
            from: sender,
            to: params.incentive_pool,
            value: tx.fee,
        });
    }
    set_nonce(ov, &sender, next_nonce);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query;
    use crate::testutil::*;
    use crate::MemState;
    use std::collections::BTreeMap;
    use want_types::{TokenCall, Transaction};

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
            Event::FeePaid {
                from: a,
                to: pool(),
                value: MIN_FEE
            }
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
            crate::accounts::state::nonce_key(&a),
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
        assert!(!r.events.iter().any(|e| matches!(e, Event::FeePaid { .. })));
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
        assert_eq!(code(&r), ("failed", codes::INSUFFICIENT_BALANCE));
        assert_eq!(r.fee_paid, MIN_FEE);
        assert_eq!(
            r.events,
            vec![Event::FeePaid {
                from: a,
                to: pool(),
                value: MIN_FEE
            }]
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

    struct FailingView;
    impl StateView for FailingView {
        fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
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
