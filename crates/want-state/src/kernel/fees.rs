//! Weights and fees: what a transaction costs the chain, and what it must pay.
//!
//! A transaction's weight is [`TX_WEIGHT_BASE`] (signature recovery on every member, nonce, fee,
//! receipt, index) plus [`TX_WEIGHT_PER_BYTE`] per encoded byte (hashing, storing and
//! replicating it) plus its module's `Module::weight` of the call. One unit is about one
//! nanosecond of the reference machine's work (2 cores, the project's CI machine), measured by
//! `want bench weights`; `docs/BENCHMARKS.md` records the figures the constants come from.
//!
//! With the rule `fee_weights` active (`want_types::params::RULE_FEE_WEIGHTS`), a transaction
//! pays at least `ChainParams::fee_for_weight(weight)` — the minimum fee covers
//! `base_weight`, each 1,000 units more cost `fee_per_kweight` — or carries a proof-of-work stamp,
//! which pays for at most `base_weight`; and a block carries at most `block_weight_max`. Before
//! the rule's activation height the older rule applies: the minimum fee, or a stamp for a
//! transaction of at most `POW_TX_BYTES_MAX` bytes, and no block limit.

use want_types::params::RULE_FEE_WEIGHTS;
use want_types::{Activations, Amount, Call, ChainParams, Hash32, Signature, Transaction};

use crate::codes;
use crate::failure::{fail, ExecError};

/// Weight of any transaction before its bytes and its call (see the module documentation).
pub const TX_WEIGHT_BASE: u64 = 60_000;
/// Weight of each encoded byte of a signed transaction.
pub const TX_WEIGHT_PER_BYTE: u64 = 20;

/// The weight of a signed transaction of `size` encoded bytes carrying `call`.
pub fn tx_weight(call: &Call, size: usize) -> u64 {
    let bytes = u64::try_from(size).unwrap_or(u64::MAX);
    TX_WEIGHT_BASE
        .saturating_add(bytes.saturating_mul(TX_WEIGHT_PER_BYTE))
        .saturating_add(crate::modules::call_weight(call))
}

/// The smallest fee a transaction of `weight` and `size` bytes, paying no stamp, needs in a
/// block at `height`; `None` when it overflows 128 bits (no fee can pay it).
pub fn required_fee(
    params: &ChainParams,
    activations: &Activations,
    height: u64,
    weight: u64,
) -> Option<Amount> {
    if activations.active(RULE_FEE_WEIGHTS, height) {
        params.fee_for_weight(weight)
    } else {
        Some(params.min_fee)
    }
}

/// The smallest fee `tx`, once signed with a signature like `signature` (same kind and length),
/// pays in a block at `height` without a stamp: what wallets and the node's own signers put in
/// `tx.fee` (the fee's own bytes do not change the size). `None` when no fee can pay for it.
pub fn fee_for_transaction(
    params: &ChainParams,
    activations: &Activations,
    height: u64,
    tx: &Transaction,
    signature: &Signature,
) -> Option<Amount> {
    let size = borsh::object_length(tx)
        .ok()?
        .checked_add(borsh::object_length(signature).ok()?)?;
    required_fee(params, activations, height, tx_weight(&tx.call, size))
}

/// Whether the fee, or a stamp, pays for a transaction with id `id`, `size` bytes and `weight`
/// in a block at `height`.
pub(crate) fn check_fee(
    params: &ChainParams,
    activations: &Activations,
    height: u64,
    fee: Amount,
    id: &Hash32,
    size: usize,
    weight: u64,
) -> Result<(), ExecError> {
    let stamp_bits = id.leading_zero_bits();
    let stamped = stamp_bits >= params.pow_difficulty_bits;
    if !activations.active(RULE_FEE_WEIGHTS, height) {
        if fee >= params.min_fee {
            return Ok(());
        }
        if !stamped {
            return Err(fail(
                codes::FEE_TOO_LOW,
                format!(
                    "tx.fee {fee} is below the minimum fee {} and the transaction id has {stamp_bits} leading zero bits where a proof-of-work stamp needs {}; pay the fee or solve the stamp (vary tx.pow_nonce)",
                    params.min_fee, params.pow_difficulty_bits
                ),
            ));
        }
        if size > want_types::POW_TX_BYTES_MAX {
            return Err(fail(
                codes::FEE_TOO_LOW,
                format!(
                    "the transaction is {size} bytes; a proof-of-work stamp pays for at most {} bytes, larger ones pay the minimum fee {}: set tx.fee",
                    want_types::POW_TX_BYTES_MAX,
                    params.min_fee
                ),
            ));
        }
        return Ok(());
    }
    let required = params.fee_for_weight(weight);
    if required.is_some_and(|r| fee >= r) {
        return Ok(());
    }
    if stamped && weight <= params.base_weight {
        return Ok(());
    }
    let required = required
        .map(|r| r.to_string())
        .unwrap_or_else(|| "more than 128 bits".into());
    Err(fail(
        codes::FEE_TOO_LOW,
        if stamped {
            format!(
                "the transaction weighs {weight}; a proof-of-work stamp pays for at most {} (the base weight), heavier ones pay the fee: set tx.fee to at least {required}",
                params.base_weight
            )
        } else {
            format!(
                "tx.fee {fee} is below {required}, the fee of its weight {weight} (minimum fee {} for up to {}, then {} per 1,000), and the transaction id has {stamp_bits} leading zero bits where a proof-of-work stamp needs {}; pay the fee or solve the stamp (vary tx.pow_nonce)",
                params.min_fee, params.base_weight, params.fee_per_kweight, params.pow_difficulty_bits
            )
        },
    ))
}
