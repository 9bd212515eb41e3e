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
///
/// The weights of this file and of the modules are rules of the chain (the fee a transaction
/// needs and what a block may hold depend on them): once a chain runs under `fee_weights`, new
/// values need a rule of their own activated at a height, like `fee_weights` itself.
pub const TX_WEIGHT_BASE: u64 = 75_000;
/// Weight of each encoded byte of a signed transaction.
pub const TX_WEIGHT_PER_BYTE: u64 = 17;

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

/// Whether a transaction admitted under the rules of an earlier height still pays for itself
/// and fits a block at `height` (a fee rule may have activated since it was admitted): the
/// proposer checks each transaction it picks, so none is refused in the block for its fee.
pub fn pays_at(
    params: &ChainParams,
    activations: &Activations,
    height: u64,
    tx: &Transaction,
    id: &Hash32,
    size: usize,
    weight: u64,
) -> bool {
    check_fee(params, activations, height, tx.fee, id, size, weight).is_ok()
        && (!activations.active(RULE_FEE_WEIGHTS, height) || weight <= params.block_weight_max)
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

#[cfg(test)]
mod tests {
    use super::*;
    use want_types::params::{BASE_WEIGHT_DEFAULT, BLOCK_WEIGHT_MAX_DEFAULT};
    use want_types::trace::{
        AnchorRecord, OrgKind, Permission, ProductLink, PublicFields, Relation, Role, TraceCall,
        ANCHOR_RECORDS_MAX, NAME_BYTES_MAX, ORG_ID_BYTES_MAX, PUBLIC_KEY_BYTES,
        RECORD_PRODUCTS_MAX, TRACE_ID_BYTES_MAX, TRACE_TX_BYTES_MAX, WRAPPED_KEY_BYTES_MAX,
    };
    use want_types::{Address, SignedTransaction, TokenCall};

    /// Blocks carry up to this many transactions by default (`want-node`'s `block_txs_max`).
    const BLOCK_TXS_DEFAULT: u64 = 10_000;

    fn signed(call: Call) -> SignedTransaction {
        SignedTransaction {
            tx: Transaction {
                chain_id: u64::MAX,
                from: Address::from_account_id([1; 20]),
                nonce: u64::MAX,
                fee: Amount::MAX,
                expiry_ms: u64::MAX,
                pow_nonce: u64::MAX,
                call,
            },
            signature: Signature::Secp256k1(vec![0; 65]),
        }
    }

    fn weight(stx: &SignedTransaction) -> u64 {
        tx_weight(&stx.tx.call, borsh::object_length(stx).unwrap())
    }

    fn text(n: usize) -> String {
        "x".repeat(n)
    }

    /// Every token call and every registry call, with its fields at their largest.
    fn small_calls() -> Vec<(&'static str, Call)> {
        let a = Address::from_account_id([2; 20]);
        let h = Hash32([3; 32]);
        let key = vec![2; PUBLIC_KEY_BYTES];
        vec![
            (
                "transfer",
                Call::Token(TokenCall::Transfer {
                    to: a,
                    amount: Amount::MAX,
                }),
            ),
            (
                "approve",
                Call::Token(TokenCall::Approve {
                    spender: a,
                    amount: Amount::MAX,
                }),
            ),
            (
                "transfer_from",
                Call::Token(TokenCall::TransferFrom {
                    from: a,
                    to: a,
                    amount: Amount::MAX,
                }),
            ),
            (
                "burn",
                Call::Token(TokenCall::Burn {
                    amount: Amount::MAX,
                }),
            ),
            (
                "register_org",
                Call::Trace(TraceCall::RegisterOrg {
                    org: text(ORG_ID_BYTES_MAX),
                    name: text(NAME_BYTES_MAX),
                    kind: OrgKind::KycVerifier,
                    encryption_key: key.clone(),
                }),
            ),
            (
                "add_key",
                Call::Trace(TraceCall::AddKey {
                    org: text(ORG_ID_BYTES_MAX),
                    key: a,
                    department: text(NAME_BYTES_MAX),
                    roles: Role::ALL.to_vec(),
                }),
            ),
            ("revoke_key", Call::Trace(TraceCall::RevokeKey { key: a })),
            (
                "submit_kyc",
                Call::Trace(TraceCall::SubmitKyc {
                    verifier: a,
                    cid: text(TRACE_ID_BYTES_MAX),
                }),
            ),
            (
                "attest_kyc",
                Call::Trace(TraceCall::AttestKyc {
                    subject: a,
                    level: 3,
                    attestation: h,
                }),
            ),
            (
                "grant",
                Call::Trace(TraceCall::Grant {
                    event_hash: h,
                    grantee: a,
                    grantee_key: key,
                    permission: Permission::Read,
                    expires_at_ms: u64::MAX,
                    wrapped_key: vec![0; WRAPPED_KEY_BYTES_MAX],
                }),
            ),
            (
                "revoke_grant",
                Call::Trace(TraceCall::RevokeGrant {
                    event_hash: h,
                    grantee: a,
                }),
            ),
        ]
    }

    #[test]
    fn a_transaction_admitted_before_the_fee_rule_no_longer_pays_once_it_is_active() {
        let params = ChainParams {
            chain_id: 1,
            min_fee: 1_000,
            pow_difficulty_bits: 255,
            transfer_fee_bps: 100,
            incentive_pool: Address::system("incentive-pool"),
            base_weight: BASE_WEIGHT_DEFAULT,
            fee_per_kweight: 4,
            block_weight_max: 10_000_000,
        };
        let activations = Activations([(RULE_FEE_WEIGHTS.to_string(), 10)].into());
        let mut stx = signed(small_calls().remove(0).1);
        stx.tx.fee = params.min_fee;
        let id = stx.id();
        let pays = |weight| pays_at(&params, &activations, 9, &stx.tx, &id, 200, weight);
        let pays_later = |weight| pays_at(&params, &activations, 10, &stx.tx, &id, 200, weight);
        // A light call pays the minimum fee under both rules.
        assert!(pays(BASE_WEIGHT_DEFAULT) && pays_later(BASE_WEIGHT_DEFAULT));
        // A heavy one paid the minimum fee before the rule, not after it.
        assert!(pays(5_000_000) && !pays_later(5_000_000));
        // One heavier than a block fits none once the rule is active.
        assert!(pays(20_000_000));
        stx.tx.fee = Amount::MAX;
        let id = stx.id();
        assert!(!pays_at(
            &params,
            &activations,
            10,
            &stx.tx,
            &id,
            200,
            20_000_000
        ));
        assert!(pays_at(
            &params,
            &activations,
            10,
            &stx.tx,
            &id,
            200,
            5_000_000
        ));
    }

    #[test]
    fn the_base_weight_pays_for_every_token_and_registry_call() {
        // So each costs exactly the minimum fee, and a proof-of-work stamp pays for it.
        for (name, call) in small_calls() {
            let w = weight(&signed(call));
            assert!(
                w <= BASE_WEIGHT_DEFAULT,
                "{name} weighs {w}, over the default base weight {BASE_WEIGHT_DEFAULT}"
            );
        }
    }

    /// A record naming `products` products with identifiers of `id_len` bytes (its other
    /// fields as small as they can be).
    fn record(products: usize, id_len: usize) -> AnchorRecord {
        AnchorRecord {
            event_hash: Hash32::ZERO,
            record_hash: Hash32::ZERO,
            cid: String::new(),
            owner_wrapped_key: Vec::new(),
            public: PublicFields {
                event_type: String::new(),
                biz_step: None,
                disposition: None,
                event_time_ms: None,
                location: None,
                products: vec![
                    ProductLink {
                        id: text(id_len),
                        relation: Relation::Epc
                    };
                    products
                ],
            },
        }
    }

    /// The heaviest anchors of at most `TRACE_TX_BYTES_MAX` bytes (every product weighs the same
    /// however short its identifier, so they name one-character ones): full records of
    /// `RECORD_PRODUCTS_MAX` products, the rest of the bytes in one more record; and
    /// `ANCHOR_RECORDS_MAX` records sharing the bytes.
    fn maximal_anchors() -> Vec<SignedTransaction> {
        let anchor = |records: Vec<AnchorRecord>| {
            signed(Call::Trace(TraceCall::Anchor {
                org: String::new(),
                records,
            }))
        };
        let empty = borsh::object_length(&anchor(Vec::new())).unwrap();
        let bare = borsh::object_length(&record(0, 1)).unwrap();
        let per_product = borsh::object_length(&ProductLink {
            id: text(1),
            relation: Relation::Epc,
        })
        .unwrap();
        let room = TRACE_TX_BYTES_MAX - empty;
        let full = bare + RECORD_PRODUCTS_MAX * per_product;
        let mut by_products = vec![record(RECORD_PRODUCTS_MAX, 1); room / full];
        by_products.push(record((room % full).saturating_sub(bare) / per_product, 1));
        let each = (room / ANCHOR_RECORDS_MAX - bare) / per_product;
        let by_records = vec![record(each, 1); ANCHOR_RECORDS_MAX];
        let out = vec![anchor(by_products), anchor(by_records)];
        for stx in &out {
            let size = borsh::object_length(stx).unwrap();
            assert!(size <= TRACE_TX_BYTES_MAX, "{size}");
            assert!(
                size > TRACE_TX_BYTES_MAX - TRACE_TX_BYTES_MAX / 100,
                "{size}"
            );
        }
        out
    }

    #[test]
    fn a_block_carries_the_default_number_of_transfers_and_a_maximal_anchor() {
        let transfer = weight(&signed(small_calls().remove(0).1));
        assert!(
            transfer * BLOCK_TXS_DEFAULT <= BLOCK_WEIGHT_MAX_DEFAULT,
            "{BLOCK_TXS_DEFAULT} transfers weigh {}, over the default block limit {BLOCK_WEIGHT_MAX_DEFAULT}",
            transfer * BLOCK_TXS_DEFAULT
        );
        for stx in maximal_anchors() {
            let w = weight(&stx);
            let Call::Trace(TraceCall::Anchor { records, .. }) = &stx.tx.call else {
                unreachable!()
            };
            assert!(
                w <= BLOCK_WEIGHT_MAX_DEFAULT,
                "an anchor of {} records weighs {w}, over the default block limit {BLOCK_WEIGHT_MAX_DEFAULT}",
                records.len()
            );
        }
    }
}
