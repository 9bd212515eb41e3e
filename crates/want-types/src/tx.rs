//! Transactions: chain id, nonce, fee, expiry, a proof-of-work stamp and one typed call.
//!
//! The id of a transaction is SHA-256(SHA-256(borsh(Transaction))) — the digest that is signed, so
//! a signature cannot change the id (no malleability). Anchor transactions of the trace module
//! are the one exception: their id is the hash of an [`AnchorTxDigest`], which commits to the
//! same content through Merkle roots so that one record's anchoring can be proven without the
//! whole transaction. A zero-fee transaction is admitted when its
//! id has the chain's configured number of leading zero bits (the `pow_nonce` is varied to get it).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::merkle::merkle_root;
use crate::trace::{
    anchor_records_root, products_leaves, AnchorTree, AnchorTxDigest, ProductsDigest, TraceCall,
};
use crate::{sha256d, Address, Amount, Hash32, TypesError};

/// The unsigned body of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    pub chain_id: u64,
    /// The sender. The signature must be by this account's key, so the id (which is what is
    /// signed) differs for every sender even when two senders sign the same call and nonce.
    pub from: Address,
    /// Must equal the sender's next nonce when the transaction executes.
    pub nonce: u64,
    #[serde(with = "crate::amount::dec")]
    pub fee: Amount,
    /// Unix time in milliseconds after which the transaction may no longer be included.
    pub expiry_ms: u64,
    /// Hashcash counter: varied until the id has enough leading zero bits (0 when a fee is paid).
    #[serde(default)]
    pub pow_nonce: u64,
    pub call: Call,
}

/// One call into one state-machine module. New modules append variants (never reorder: the
/// borsh discriminant is part of every signed transaction).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    Token(TokenCall),
    Trace(crate::trace::TraceCall),
}

impl Call {
    /// Largest encoded signed transaction allowed to carry this call, in bytes.
    pub fn tx_bytes_max(&self) -> usize {
        match self {
            Call::Token(_) => crate::TX_BYTES_MAX,
            Call::Trace(_) => crate::trace::TRACE_TX_BYTES_MAX,
        }
    }
}

/// Calls of the WANT token module (TRC20 semantics; there is no mint).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenCall {
    Transfer {
        to: Address,
        #[serde(with = "crate::amount::dec")]
        amount: Amount,
    },
    Approve {
        spender: Address,
        #[serde(with = "crate::amount::dec")]
        amount: Amount,
    },
    TransferFrom {
        from: Address,
        to: Address,
        #[serde(with = "crate::amount::dec")]
        amount: Amount,
    },
    Burn {
        #[serde(with = "crate::amount::dec")]
        amount: Amount,
    },
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
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: Signature,
}

impl Transaction {
    /// Canonical bytes (borsh).
    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail")
    }

    /// The transaction id, which is what is signed: double SHA-256 of the canonical bytes, or for
    /// an anchor call the id of its [`AnchorTxDigest`].
    pub fn id(&self) -> Hash32 {
        match self.anchor_digest() {
            Some(digest) => digest.id(),
            None => sha256d(&self.to_bytes()),
        }
    }

    /// For an anchor call, the digest its id is the hash of.
    pub fn anchor_digest(&self) -> Option<AnchorTxDigest> {
        let Call::Trace(TraceCall::Anchor { org, records }) = &self.call else {
            return None;
        };
        Some(self.anchor_digest_with_root(org, records.len(), anchor_records_root(records)))
    }

    /// For an anchor call, the digest its id is the hash of with the trees under it (for proofs
    /// of single records and products).
    pub fn anchor_tree(&self) -> Option<AnchorTree> {
        let Call::Trace(TraceCall::Anchor { org, records }) = &self.call else {
            return None;
        };
        let product_leaves: Vec<Vec<Hash32>> = records
            .iter()
            .map(|r| products_leaves(&r.public.products))
            .collect();
        let product_digests: Vec<ProductsDigest> = records
            .iter()
            .zip(&product_leaves)
            .map(|(r, leaves)| ProductsDigest::from_leaves(r.public.products.len(), leaves))
            .collect();
        let record_leaves: Vec<Hash32> = records
            .iter()
            .zip(&product_digests)
            .map(|(r, products)| r.digest_with(*products).leaf())
            .collect();
        let digest = self.anchor_digest_with_root(org, records.len(), merkle_root(&record_leaves));
        Some(AnchorTree {
            digest,
            record_leaves,
            product_leaves,
            product_digests,
        })
    }

    fn anchor_digest_with_root(
        &self,
        org: &str,
        records: usize,
        records_root: Hash32,
    ) -> AnchorTxDigest {
        AnchorTxDigest {
            chain_id: self.chain_id,
            from: self.from,
            nonce: self.nonce,
            fee: self.fee,
            expiry_ms: self.expiry_ms,
            pow_nonce: self.pow_nonce,
            org: org.to_string(),
            records: records as u64,
            records_root,
        }
    }

    /// The amount moved out of the sender by the call, if any (for display and pre-checks).
    pub fn value(&self) -> Amount {
        match &self.call {
            Call::Token(TokenCall::Transfer { amount, .. })
            | Call::Token(TokenCall::Burn { amount }) => *amount,
            Call::Token(TokenCall::TransferFrom { .. })
            | Call::Token(TokenCall::Approve { .. })
            | Call::Trace(_) => 0,
        }
    }

    /// Varies `pow_nonce` until the id has `bits` leading zero bits; returns the number of tries.
    /// Expected work is 2^bits hashes.
    pub fn solve_pow(&mut self, bits: u32) -> u64 {
        let mut tries = 0u64;
        // An anchor's records are hashed once, not once per try.
        let mut anchor = self.anchor_digest();
        loop {
            tries += 1;
            let id = match &anchor {
                Some(digest) => digest.id(),
                None => self.id(),
            };
            if id.leading_zero_bits() >= bits {
                return tries;
            }
            self.pow_nonce = self.pow_nonce.wrapping_add(1);
            if let Some(digest) = anchor.as_mut() {
                digest.pow_nonce = self.pow_nonce;
            }
        }
    }

    /// Addresses named by the call (besides the sender).
    pub fn counterparties(&self) -> Vec<Address> {
        match &self.call {
            Call::Token(TokenCall::Transfer { to, .. }) => vec![*to],
            Call::Token(TokenCall::Approve { spender, .. }) => vec![*spender],
            Call::Token(TokenCall::TransferFrom { from, to, .. }) => vec![*from, *to],
            Call::Token(TokenCall::Burn { .. }) => vec![],
            Call::Trace(TraceCall::AddKey { key, .. })
            | Call::Trace(TraceCall::RevokeKey { key }) => vec![*key],
            Call::Trace(TraceCall::SubmitKyc { verifier, .. }) => vec![*verifier],
            Call::Trace(TraceCall::AttestKyc { subject, .. }) => vec![*subject],
            Call::Trace(TraceCall::Grant { grantee, .. })
            | Call::Trace(TraceCall::RevokeGrant { grantee, .. }) => vec![*grantee],
            Call::Trace(_) => vec![],
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

/// Serde helper: bytes as lowercase hex.
pub mod hex_bytes {

    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <String as serde::Deserialize>::deserialize(d)?;
        hex::decode(s.strip_prefix("0x").unwrap_or(&s))
            .map_err(|e| serde::de::Error::custom(format!("invalid hex: {e}")))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
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
            let _ = SignedTransaction::from_bytes(&bytes);
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
        assert!(SignedTransaction::from_bytes(&bytes).is_err());
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
