//! Blocks a member checked before appending them to its Raft log, with their transactions'
//! senders and sizes, kept until they are executed (so a follower verifies each signature once).

use want_types::{Address, Block, Hash32};

/// A transaction's sender and its encoded size in bytes.
pub type Sender = (Address, usize);

/// Most blocks whose checked senders a member keeps between appending and executing them.
pub const CHECKED_BLOCKS_MAX: usize = 256;

/// Blocks checked before they were appended, with their transactions' senders and sizes, so
/// that executing them does not verify every signature again. Keyed by the SHA-256 of the whole
/// block's bytes (signatures included): a block with the same header but other signatures is
/// checked anew.
#[derive(Default)]
pub struct CheckedBlocks {
    blocks: std::collections::VecDeque<(Hash32, Vec<Sender>)>,
}

impl CheckedBlocks {
    /// SHA-256 of the block's whole bytes.
    pub fn key(block: &Block) -> Hash32 {
        want_types::hash::sha256(&block.to_bytes())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub(crate) fn remember(&mut self, key: Hash32, senders: Vec<Sender>) {
        if self.blocks.iter().any(|(k, _)| *k == key) {
            return;
        }
        if self.blocks.len() >= CHECKED_BLOCKS_MAX {
            self.blocks.pop_front();
        }
        self.blocks.push_back((key, senders));
    }

    pub(crate) fn senders(&self, key: &Hash32) -> Option<Vec<Sender>> {
        self.blocks
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.clone())
    }

    pub(crate) fn forget(&mut self, key: &Hash32) {
        self.blocks.retain(|(k, _)| k != key);
    }
}
