//! Supply audit over a whole in-memory state: `sum(balances) + burned == TOTAL_SUPPLY`.

use want_types::address::ADDRESS_LEN;
use want_types::amount::TOTAL_SUPPLY;
use want_types::Amount;

use crate::store::decode_u128;
use super::state::{burned, total_supply, BALANCE_PREFIX};
use crate::{MemState, StateError};

/// Totals found by [`audit_supply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupplyAudit {
    /// Sum of every stored balance, the incentive pool included.
    pub balances: Amount,
    pub burned: Amount,
    /// The supply recorded at genesis.
    pub recorded_supply: Amount,
    /// Number of stored balances.
    pub accounts: usize,
    /// Stored balances equal to zero (must be none: zero balances are deleted).
    pub zero_balances: usize,
}

impl SupplyAudit {
    /// True when balances plus burned is exactly the total supply, the recorded supply is the
    /// total supply, and no zero balance is stored.
    pub fn holds(&self) -> bool {
        self.balances.checked_add(self.burned) == Some(TOTAL_SUPPLY)
            && self.recorded_supply == TOTAL_SUPPLY
            && self.zero_balances == 0
    }
}

/// Sums every `token/bal/` entry of `state` and reads burned and supply.
pub fn audit_supply(state: &MemState) -> Result<SupplyAudit, StateError> {
    let mut audit = SupplyAudit {
        balances: 0,
        burned: burned(state)?,
        recorded_supply: total_supply(state)?,
        accounts: 0,
        zero_balances: 0,
    };
    for (key, value) in state.iter_prefix(BALANCE_PREFIX) {
        if key.len() != BALANCE_PREFIX.len() + ADDRESS_LEN {
            return Err(StateError::corrupt(key, "balance key of the wrong length"));
        }
        let amount = decode_u128(key, value)?;
        audit.accounts += 1;
        if amount == 0 {
            audit.zero_balances += 1;
        }
        audit.balances = audit
            .balances
            .checked_add(amount)
            .ok_or_else(|| StateError::corrupt(key, "sum of balances exceeds 128 bits"))?;
    }
    Ok(audit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{addr, pool, verified, CHAIN_ID, MIN_FEE, NOW_MS};
    use crate::{apply_block, genesis, query, BlockContext, VerifiedTx};
    use proptest::prelude::*;
    use want_types::{Address, Call, ChainParams, TokenCall, Transaction, TxStatus};

    /// Four users, the pool, and an account absent from genesis.
    fn accounts() -> [Address; 6] {
        [addr(1), addr(2), addr(3), addr(4), pool(), addr(99)]
    }

    fn prop_params() -> ChainParams {
        ChainParams {
            // A low difficulty so some zero-fee transactions pass on their own.
            pow_difficulty_bits: 3,
            ..crate::testutil::params()
        }
    }

    #[derive(Clone, Debug)]
    enum Kind {
        Transfer,
        Approve,
        TransferFrom,
        Burn,
    }

    #[derive(Clone, Debug)]
    struct Op {
        sender: usize,
        kind: Kind,
        a: usize,
        b: usize,
        amount: u128,
        fee: u128,
        /// 0..=6 correct, 7 old, 8 next-but-one, 9 arbitrary.
        nonce_mode: u8,
        arbitrary_nonce: u64,
        wrong_chain: bool,
        expired: bool,
    }

    fn arb_amount() -> impl Strategy<Value = u128> {
        prop_oneof![
            4 => 0u128..2_000_000,
            2 => 0u128..=TOTAL_SUPPLY,
            1 => Just(u128::MAX),
            1 => Just(u128::MAX / 100),
            1 => any::<u128>(),
        ]
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        let kind = prop_oneof![
            Just(Kind::Transfer),
            Just(Kind::Approve),
            Just(Kind::TransferFrom),
            Just(Kind::Burn)
        ];
        let fee = prop_oneof![
            4 => Just(MIN_FEE),
            2 => Just(0u128),
            2 => 0u128..5_000,
            1 => Just(u128::MAX),
        ];
        (
            (0usize..6, kind, 0usize..6, 0usize..6),
            (arb_amount(), fee, 0u8..10, any::<u64>()),
            (prop::bool::weighted(0.05), prop::bool::weighted(0.05)),
        )
            .prop_map(
                |(
                    (sender, kind, a, b),
                    (amount, fee, nonce_mode, arbitrary_nonce),
                    (wrong_chain, expired),
                )| Op {
                    sender,
                    kind,
                    a,
                    b,
                    amount,
                    fee,
                    nonce_mode,
                    arbitrary_nonce,
                    wrong_chain,
                    expired,
                },
            )
    }

    /// Builds the transaction of `op`, reading the sender's nonce from `state`.
    fn build_tx(state: &MemState, op: &Op) -> VerifiedTx {
        let accts = accounts();
        let sender = accts[op.sender];
        let expected = query::nonce(state, &sender).unwrap();
        let nonce = match op.nonce_mode {
            0..=6 => expected,
            7 => expected.wrapping_sub(1),
            8 => expected.wrapping_add(1),
            _ => op.arbitrary_nonce,
        };
        let (a, b) = (accts[op.a], accts[op.b]);
        let call = match op.kind {
            Kind::Transfer => TokenCall::Transfer {
                to: a,
                amount: op.amount,
            },
            Kind::Approve => TokenCall::Approve {
                spender: a,
                amount: op.amount,
            },
            Kind::TransferFrom => TokenCall::TransferFrom {
                from: a,
                to: b,
                amount: op.amount,
            },
            Kind::Burn => TokenCall::Burn { amount: op.amount },
        };
        let tx = Transaction {
            from: sender,
            chain_id: if op.wrong_chain {
                CHAIN_ID + 1
            } else {
                CHAIN_ID
            },
            nonce,
            fee: op.fee,
            expiry_ms: if op.expired {
                NOW_MS - 1
            } else {
                NOW_MS + 1_000
            },
            pow_nonce: 0,
            call: Call::Token(call),
        };
        verified(sender, tx)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn supply_is_conserved_by_any_sequence_of_blocks(
            a1 in 0u128..10_000_000,
            a2 in 0u128..10_000_000,
            a3 in 0u128..=TOTAL_SUPPLY / 2,
            blocks in prop::collection::vec(prop::collection::vec(arb_op(), 0..12), 1..6),
        ) {
            let params = prop_params();
            let accts = accounts();
            let a4 = TOTAL_SUPPLY - a1 - a2 - a3;
            let (ws, mut root) =
                genesis(&params, &[(accts[0], a1), (accts[1], a2), (accts[2], a3), (accts[3], a4)]).unwrap();
            let mut ms = MemState::new();
            ms.apply(&ws);
            prop_assert!(audit_supply(&ms).unwrap().holds());

            for (i, ops) in blocks.iter().enumerate() {
                let ctx = BlockContext { height: i as u64 + 1, timestamp_ms: NOW_MS, params: params.clone(), activations: Default::default() };
                // Build the block against a scratch state that runs each transaction as its own
                // block, so nonces follow the real outcomes; the block must end in the same state.
                let mut scratch = ms.clone();
                let mut txs = Vec::new();
                for op in ops {
                    let vtx = build_tx(&scratch, op);
                    let one = apply_block(&scratch, &ctx, root, std::slice::from_ref(&vtx)).unwrap();
                    scratch.apply(&one.write_set);
                    txs.push(vtx);
                }
                let out = apply_block(&ms, &ctx, root, &txs).unwrap();
                // Deterministic: a second run over the same inputs is identical.
                prop_assert_eq!(&out, &apply_block(&ms.clone(), &ctx, root, &txs).unwrap());
                prop_assert_eq!(out.receipts.len(), txs.len());
                for (r, vtx) in out.receipts.iter().zip(&txs) {
                    prop_assert_eq!(r.tx_id, vtx.id);
                    match r.status {
                        TxStatus::Rejected { .. } => prop_assert_eq!(r.fee_paid, 0),
                        _ => prop_assert_eq!(r.fee_paid, vtx.tx.tx.fee),
                    }
                }
                ms.apply(&out.write_set);
                prop_assert_eq!(&ms, &scratch, "block and one-by-one execution disagree");
                root = out.state_root;
                let audit = audit_supply(&ms).unwrap();
                prop_assert!(audit.holds(), "supply broken after block {}: {:?}", i + 1, audit);
            }
        }
    }

    #[test]
    fn audit_detects_missing_supply_and_stored_zero_balances() {
        let mut ms = MemState::new();
        let (ws, _) = genesis(&prop_params(), &[(addr(1), TOTAL_SUPPLY)]).unwrap();
        ms.apply(&ws);
        assert!(audit_supply(&ms).unwrap().holds());
        ms.0.insert(
            crate::token::state::balance_key(&addr(2)),
            0u128.to_be_bytes().to_vec(),
        );
        let audit = audit_supply(&ms).unwrap();
        assert_eq!(audit.zero_balances, 1);
        assert!(!audit.holds());
        ms.0.remove(&crate::token::state::balance_key(&addr(2)));
        ms.0.insert(
            crate::token::state::balance_key(&addr(1)),
            1u128.to_be_bytes().to_vec(),
        );
        assert!(!audit_supply(&ms).unwrap().holds());
    }
}
