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
