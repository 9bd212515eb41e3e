//! Transactions: chain id, nonce, fee, expiry, a proof-of-work stamp and one typed call.
//!
//! The id of a transaction is SHA-256(SHA-256(borsh(Transaction))) — the digest that is signed, so
//! a signature cannot change the id (no malleability). A module may give its calls an id that
//! commits to the same content through a digest ([`crate::modules::ModuleCall::id_digest`]):
//! the trace module's anchors do, so that one record's anchoring can be proven without the whole
//! transaction. A zero-fee transaction is admitted when its id has the chain's configured number
//! of leading zero bits (the `pow_nonce` is varied to get it).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::head::TxHead;
use crate::modules::trace::{AnchorTree, TraceCall};
use crate::modules::Call;
use crate::serde_hex as hex_bytes;
use crate::{sha256d, Address, Amount, Hash32, TypesError};

/// The unsigned body of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transaction {
    pub chain_id: u64,
    /// The sender. The signature must be by this account's key, so the id (which is what is
    /// signed) differs for every sender even when two senders sign the same call and nonce.
    pub from: Address,
    /// Must equal the sender's next nonce when the transaction executes.
    pub nonce: u64,
    #[serde(with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub fee: Amount,
    /// Unix time in milliseconds after which the transaction may no longer be included.
    pub expiry_ms: u64,
    /// Hashcash counter: varied until the id has enough leading zero bits (0 when a fee is paid).
    #[serde(default)]
    pub pow_nonce: u64,
    pub call: Call,
}

/// A signature over the transaction id.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signature {
    /// secp256k1 ECDSA, 65 bytes: r ‖ s ‖ recovery id (0 or 1); the signer is recovered from it.
    Secp256k1(#[serde(with = "hex_bytes")] Vec<u8>),
    /// RSA (2048–4096 bit) PKCS#1 v1.5 over SHA-256 of the transaction id, with the signer's
    /// public key (PKCS#1 DER) so the address can be derived.
    Rsa {
        #[serde(with = "hex_bytes")]
        public_key: Vec<u8>,
        #[serde(with = "hex_bytes")]
        signature: Vec<u8>,
    },
}

/// A transaction with its signature, as submitted and as stored in blocks.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: Signature,
}

impl Transaction {
    /// Canonical bytes (borsh).
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail")
    }

    /// The fields besides the call.
    pub fn head(&self) -> TxHead {
        TxHead {
            chain_id: self.chain_id,
            from: self.from,
            nonce: self.nonce,
            fee: self.fee,
            expiry_ms: self.expiry_ms,
            pow_nonce: self.pow_nonce,
        }
    }

    /// The transaction id, which is what is signed: double SHA-256 of the canonical bytes, or the
    /// id of the digest the call's module commits through.
    pub fn id(&self) -> Hash32 {
        match self.call.id_digest(&self.head()) {
            Some(digest) => digest.id(),
            None => sha256d(&self.to_bytes()),
        }
    }

    /// For an anchor call of the trace module, the digest its id is the hash of with the trees
    /// under it (for proofs of single records and products).
    pub fn anchor_tree(&self) -> Option<AnchorTree> {
        let Call::Trace(TraceCall::Anchor { org, records }) = &self.call else {
            return None;
        };
        Some(crate::modules::trace::anchor_tree(
            &self.head(),
            org,
            records,
        ))
    }

    /// Varies `pow_nonce` until the id has `bits` leading zero bits; returns the number of tries.
    /// Expected work is 2^bits hashes.
    pub fn solve_pow(&mut self, bits: u32) -> u64 {
        let mut tries = 0u64;
        // A digest-committed call (an anchor's records) is hashed once, not once per try.
        let mut digest = self.call.id_digest(&self.head());
        loop {
            tries += 1;
            let id = match &digest {
                Some(d) => d.id(),
                None => self.id(),
            };
            if id.leading_zero_bits() >= bits {
                return tries;
            }
            self.pow_nonce = self.pow_nonce.wrapping_add(1);
            if let Some(d) = digest.as_mut() {
                d.set_pow_nonce(self.pow_nonce);
            }
        }
    }
}

impl SignedTransaction {
    pub fn id(&self) -> Hash32 {
        self.tx.id()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail")
    }

    /// Decodes canonical bytes, refusing trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TypesError> {
        borsh::from_slice(bytes).map_err(|e| TypesError::Decode {
            what: "signed transaction",
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::modules::token::TokenCall;
    use proptest::prelude::*;

    pub fn arb_address() -> impl Strategy<Value = Address> {
        any::<[u8; 20]>().prop_map(Address::from_account_id)
    }

    pub fn arb_call() -> impl Strategy<Value = Call> {
        prop_oneof![
            (arb_address(), any::<u128>())
                .prop_map(|(to, amount)| Call::Token(TokenCall::Transfer { to, amount })),
            (arb_address(), any::<u128>())
                .prop_map(|(spender, amount)| Call::Token(TokenCall::Approve { spender, amount })),
            (arb_address(), arb_address(), any::<u128>()).prop_map(|(from, to, amount)| {
                Call::Token(TokenCall::TransferFrom { from, to, amount })
            }),
            any::<u128>().prop_map(|amount| Call::Token(TokenCall::Burn { amount })),
        ]
    }

    pub fn arb_signed_tx() -> impl Strategy<Value = SignedTransaction> {
        let sig = prop_oneof![
            proptest::collection::vec(any::<u8>(), 65).prop_map(Signature::Secp256k1),
            (
                proptest::collection::vec(any::<u8>(), 0..600),
                proptest::collection::vec(any::<u8>(), 0..512)
            )
                .prop_map(|(public_key, signature)| Signature::Rsa {
                    public_key,
                    signature
                }),
        ];
        (
            any::<u64>(),
            any::<u64>(),
            any::<u128>(),
            any::<u64>(),
            any::<u64>(),
            (arb_call(), arb_address()),
            sig,
        )
            .prop_map(
                |(chain_id, nonce, fee, expiry_ms, pow_nonce, (call, from), signature)| {
                    SignedTransaction {
                        tx: Transaction {
                            chain_id,
                            from,
                            nonce,
                            fee,
                            expiry_ms,
                            pow_nonce,
                            call,
                        },
                        signature,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn borsh_round_trip_preserves_signed_transactions(stx in arb_signed_tx()) {
            let bytes = stx.to_bytes();
            prop_assert_eq!(SignedTransaction::from_bytes(&bytes).unwrap(), stx);
        }

        #[test]
        fn json_round_trip_preserves_signed_transactions(stx in arb_signed_tx()) {
            let json = serde_json::to_string(&stx).unwrap();
            let back: SignedTransaction = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, stx);
        }

        #[test]
        fn any_field_change_changes_the_id(stx in arb_signed_tx(), delta in 1u64..) {
            let mut other = stx.tx.clone();
            other.nonce = other.nonce.wrapping_add(delta);
            prop_assert_ne!(other.id(), stx.tx.id());
        }

        #[test]
        fn the_same_call_from_two_senders_has_two_ids(stx in arb_signed_tx(), other_sender in arb_address()) {
            prop_assume!(other_sender != stx.tx.from);
            let mut other = stx.tx.clone();
            other.from = other_sender;
            prop_assert_ne!(other.id(), stx.tx.id());
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(stx) = SignedTransaction::from_bytes(&bytes) {
                prop_assert_eq!(stx.to_bytes(), bytes);
            }
        }

        #[test]
        fn mutated_transactions_decode_canonically_or_are_refused(
            bytes in crate::fuzz_inputs::mutated_bytes(arb_signed_tx().prop_map(|t| t.to_bytes())),
        ) {
            match SignedTransaction::from_bytes(&bytes) {
                Ok(stx) => prop_assert_eq!(stx.to_bytes(), bytes),
                Err(e) => prop_assert!(matches!(e, TypesError::Decode { what: "signed transaction", .. }), "unexpected result"),
            }
        }

        #[test]
        fn every_truncation_of_a_transaction_is_refused(stx in arb_signed_tx(), cut in any::<prop::sample::Index>()) {
            let bytes = stx.to_bytes();
            prop_assert!(SignedTransaction::from_bytes(&bytes[..cut.index(bytes.len())]).is_err());
        }

        #[test]
        fn any_text_is_a_json_transaction_or_refused(s in "\\PC{0,200}") {
            if let Ok(stx) = serde_json::from_str::<SignedTransaction>(&s) {
                let json = serde_json::to_string(&stx).unwrap();
                prop_assert_eq!(serde_json::from_str::<SignedTransaction>(&json).unwrap(), stx);
            }
        }

        #[test]
        fn mutated_json_transactions_parse_or_are_refused(
            s in crate::fuzz_inputs::mutated(arb_signed_tx().prop_map(|t| serde_json::to_string(&t).unwrap())),
        ) {
            if let Ok(stx) = serde_json::from_str::<SignedTransaction>(&s) {
                let json = serde_json::to_string(&stx).unwrap();
                prop_assert_eq!(serde_json::from_str::<SignedTransaction>(&json).unwrap(), stx.clone());
                prop_assert_eq!(SignedTransaction::from_bytes(&stx.to_bytes()).unwrap(), stx);
            }
        }
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let stx = SignedTransaction {
            tx: Transaction {
                chain_id: 1,
                from: Address::from_account_id([1; 20]),
                nonce: 0,
                fee: 1,
                expiry_ms: 2,
                pow_nonce: 0,
                call: Call::Token(TokenCall::Burn { amount: 5 }),
            },
            signature: Signature::Secp256k1(vec![0; 65]),
        };
        let mut bytes = stx.to_bytes();
        bytes.push(0);
        let err = SignedTransaction::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(
                err,
                TypesError::Decode {
                    what: "signed transaction",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn json_shape_is_stable() {
        let to: Address = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t".parse().unwrap();
        let tx = Transaction {
            chain_id: 7,
            from: to,
            nonce: 3,
            fee: 1000,
            expiry_ms: 99,
            pow_nonce: 0,
            call: Call::Token(TokenCall::Transfer {
                to,
                amount: 12_500_000,
            }),
        };
        let v = serde_json::to_value(&tx).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"chain_id": 7, "from": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "nonce": 3, "fee": "1000", "expiry_ms": 99, "pow_nonce": 0,
                "call": {"token": {"transfer": {"to": "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "amount": "12500000"}}}})
        );
    }

    #[test]
    fn solving_pow_reaches_the_difficulty() {
        let mut tx = Transaction {
            chain_id: 1,
            from: Address::from_account_id([2; 20]),
            nonce: 0,
            fee: 0,
            expiry_ms: 1,
            pow_nonce: 0,
            call: Call::Token(TokenCall::Burn { amount: 0 }),
        };
        tx.solve_pow(10);
        assert!(tx.id().leading_zero_bits() >= 10);
    }
}
