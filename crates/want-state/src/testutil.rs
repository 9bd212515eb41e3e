//! Shared helpers of the unit tests.

use want_types::amount::TOTAL_SUPPLY;
use want_types::{
    Address, Amount, Call, ChainParams, Receipt, Signature, SignedTransaction, TokenCall,
    Transaction, TxStatus,
};

use crate::{apply_block, genesis, BlockContext, BlockOutcome, Hash32, MemState, VerifiedTx};

pub const CHAIN_ID: u64 = 7;
pub const MIN_FEE: Amount = 1_000;
pub const POW_BITS: u32 = 12;
pub const NOW_MS: u64 = 1_700_000_000_000;

pub fn addr(n: u8) -> Address {
    Address::from_account_id([n; 20])
}

pub fn pool() -> Address {
    Address::system("incentive-pool")
}

pub fn params() -> ChainParams {
    ChainParams {
        chain_id: CHAIN_ID,
        min_fee: MIN_FEE,
        pow_difficulty_bits: POW_BITS,
        transfer_fee_bps: 100,
        incentive_pool: pool(),
        base_weight: want_types::params::BASE_WEIGHT_DEFAULT,
        fee_per_kweight: want_types::params::FEE_PER_KWEIGHT_DEFAULT,
        block_weight_max: want_types::params::BLOCK_WEIGHT_MAX_DEFAULT,
    }
}

pub fn ctx(height: u64) -> BlockContext {
    BlockContext {
        height,
        timestamp_ms: NOW_MS,
        params: params(),
        activations: Default::default(),
    }
}

/// A well-formed transaction paying the minimum fee. Its `from` is a placeholder: the state
/// machine reads the sender from [`VerifiedTx::sender`] (which signature verification guarantees
/// equals `tx.from`), and these tests pass it to [`verified`].
pub fn tx(nonce: u64, call: TokenCall) -> Transaction {
    tx_call(nonce, Call::Token(call))
}

/// Like [`tx`], for any call.
pub fn tx_call(nonce: u64, call: Call) -> Transaction {
    Transaction {
        chain_id: CHAIN_ID,
        from: addr(0),
        nonce,
        fee: MIN_FEE,
        expiry_ms: NOW_MS + 60_000,
        pow_nonce: 0,
        call,
    }
}

pub fn verified(sender: Address, tx: Transaction) -> VerifiedTx {
    VerifiedTx::new(
        sender,
        SignedTransaction {
            tx,
            signature: Signature::Secp256k1(vec![0; 65]),
        },
    )
}

/// Genesis with `allocs` and the rest of the supply in a reserve account (`addr(200)`).
pub fn state_with(allocs: &[(Address, Amount)]) -> MemState {
    let mut all = allocs.to_vec();
    let rest = TOTAL_SUPPLY - allocs.iter().map(|(_, a)| *a).sum::<Amount>();
    all.push((addr(200), rest));
    let (ws, _) = genesis(&params(), &all).unwrap();
    let mut ms = MemState::new();
    ms.apply(&ws);
    ms
}

/// Applies one block of `txs` at height 1 and commits it into `ms`.
pub fn run(ms: &mut MemState, txs: Vec<(Address, Transaction)>) -> BlockOutcome {
    run_at(ms, 1, NOW_MS, txs)
}

/// Applies one block of `txs` at `height` and time `timestamp_ms`, and commits it into `ms`.
pub fn run_at(
    ms: &mut MemState,
    height: u64,
    timestamp_ms: u64,
    txs: Vec<(Address, Transaction)>,
) -> BlockOutcome {
    let txs: Vec<VerifiedTx> = txs.into_iter().map(|(s, t)| verified(s, t)).collect();
    let ctx = BlockContext {
        height,
        timestamp_ms,
        ..ctx(height)
    };
    let out = apply_block(ms, &ctx, Hash32::ZERO, &txs).unwrap();
    ms.apply(&out.write_set);
    out
}

/// Runs a single transaction and returns its receipt.
pub fn run1(ms: &mut MemState, sender: Address, tx: Transaction) -> Receipt {
    run(ms, vec![(sender, tx)]).receipts.remove(0)
}

pub fn code(r: &Receipt) -> (&'static str, &str) {
    match &r.status {
        TxStatus::Success => ("success", ""),
        TxStatus::Failed { code, .. } => ("failed", code.as_str()),
        TxStatus::Rejected { code, .. } => ("rejected", code.as_str()),
    }
}

pub fn message(r: &Receipt) -> &str {
    match &r.status {
        TxStatus::Success => "",
        TxStatus::Failed { message, .. } | TxStatus::Rejected { message, .. } => message,
    }
}
