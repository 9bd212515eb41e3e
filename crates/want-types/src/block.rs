//! Blocks: a header (height, previous hash, time, Merkle root of tx ids, state root, proposer)
//! signed by its proposer, and the transactions.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::serde_hex as hex_bytes;
use crate::{sha256d, Hash32, SignedTransaction, TypesError};

/// The part of a block that is hashed and signed.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockHeader {
    pub chain_id: u64,
    pub height: u64,
    /// Hash of the previous block's header (zero for genesis).
    pub prev_hash: Hash32,
    /// Proposer's clock in Unix milliseconds; never earlier than the parent's. The state machine's
    /// only notion of time.
    pub timestamp_ms: u64,
    /// Merkle root (RFC 6962 style) of the ids of `txs`, in order.
    pub tx_root: Hash32,
    pub tx_count: u32,
    /// State root after executing the parent block (as Tendermint's app hash): the proposer need
    /// not execute a block before proposing it.
    pub parent_state_root: Hash32,
    /// Ed25519 public key of the node that proposed the block.
    #[serde(with = "hex_bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::HexBytes))]
    pub proposer: Vec<u8>,
}

/// A block as replicated and stored.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
pub struct Block {
    pub header: BlockHeader,
    /// Ed25519 signature of the proposer over the block hash.
    #[serde(with = "hex_bytes")]
    pub signature: Vec<u8>,
    pub txs: Vec<SignedTransaction>,
}

impl BlockHeader {
    /// Block hash: double SHA-256 of the borsh-encoded header.
    pub fn hash(&self) -> Hash32 {
        sha256d(&borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail"))
    }
}

impl Block {
    pub fn hash(&self) -> Hash32 {
        self.header.hash()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        borsh::to_vec(self).expect("invariant: borsh encoding into a Vec cannot fail")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TypesError> {
        borsh::from_slice(bytes).map_err(|e| TypesError::Decode {
            what: "block",
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz_inputs::mutated_bytes;
    use crate::tx::tests::arb_signed_tx;
    use proptest::prelude::*;

    fn arb_block() -> impl Strategy<Value = Block> {
        (
            (any::<u64>(), any::<u64>(), any::<[u8; 32]>(), any::<u64>()),
            (any::<[u8; 32]>(), any::<u32>(), any::<[u8; 32]>()),
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..70),
            proptest::collection::vec(arb_signed_tx(), 0..3),
        )
            .prop_map(
                |(
                    (chain_id, height, prev, timestamp_ms),
                    (tx_root, tx_count, psr),
                    proposer,
                    signature,
                    txs,
                )| Block {
                    header: BlockHeader {
                        chain_id,
                        height,
                        prev_hash: Hash32(prev),
                        timestamp_ms,
                        tx_root: Hash32(tx_root),
                        tx_count,
                        parent_state_root: Hash32(psr),
                        proposer,
                    },
                    signature,
                    txs,
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn arbitrary_bytes_are_a_block_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            if let Ok(b) = Block::from_bytes(&bytes) {
                prop_assert_eq!(b.to_bytes(), bytes);
            }
        }

        #[test]
        fn blocks_round_trip_through_borsh_and_json(b in arb_block()) {
            prop_assert_eq!(Block::from_bytes(&b.to_bytes()).unwrap(), b.clone());
            let json = serde_json::to_string(&b).unwrap();
            prop_assert_eq!(serde_json::from_str::<Block>(&json).unwrap(), b);
        }

        #[test]
        fn truncated_or_extended_blocks_are_refused(b in arb_block(), cut in any::<prop::sample::Index>(), extra in 1u8..) {
            let bytes = b.to_bytes();
            let n = cut.index(bytes.len());
            let err = Block::from_bytes(&bytes[..n]).unwrap_err();
            prop_assert!(matches!(err, TypesError::Decode { what: "block", .. }), "unexpected result");
            let mut longer = bytes.clone();
            longer.push(extra);
            prop_assert!(Block::from_bytes(&longer).is_err());
        }

        #[test]
        fn mutated_blocks_decode_canonically_or_are_refused(bytes in mutated_bytes(arb_block().prop_map(|b| b.to_bytes()))) {
            // Whatever decodes is exactly the re-encoding (no second encoding of one block).
            if let Ok(b) = Block::from_bytes(&bytes) {
                prop_assert_eq!(b.to_bytes(), bytes);
            }
        }
    }
}
