//! The simulation's block applier: a hash-linked chain with a running state root, kept in
//! memory (it outlives a node's crash, as a database would), able to "lose" its unsynced tail.

use std::sync::Arc;

use parking_lot::Mutex;
use want_types::hash::sha256;
use want_types::{Block, Hash32};

use super::CHAIN_ID;
use crate::raft::authority::MembershipRecord;
use crate::raft::AppliedMeta;
use crate::{AppliedBlock, ApplyOutcome, BlockApplier, ChainPoint, BLOCK_TIME_DRIFT_MS};

/// Fetches the blocks after `height` from the member at a URL (None: unreachable).
pub type BlockSource = Arc<dyn Fn(&str, u64) -> Option<Vec<Block>> + Send + Sync>;

/// One applied block with the state after it and the consensus metadata written with it.
#[derive(Clone)]
pub struct AppliedEntry {
    pub block: Block,
    pub state_root: Hash32,
    pub meta: Option<Vec<u8>>,
}

#[derive(Default)]
struct Chain {
    entries: Vec<AppliedEntry>,
    /// Metadata recorded before the first block (membership entries).
    base_meta: Option<Vec<u8>>,
    /// Metadata recorded last.
    meta: Option<Vec<u8>>,
    /// Membership records by log index (the first of an index kept, as the node's store does).
    memberships: std::collections::BTreeMap<u64, MembershipRecord>,
}

/// See the module documentation.
pub struct SimApplier {
    chain: Mutex<Chain>,
    source: BlockSource,
}

/// The state root after `block` on a state whose root was `parent`.
pub fn next_root(parent: &Hash32, block: &Hash32) -> Hash32 {
    let mut bytes = parent.0.to_vec();
    bytes.extend_from_slice(&block.0);
    sha256(&bytes)
}

impl SimApplier {
    pub fn new(source: BlockSource) -> SimApplier {
        SimApplier {
            chain: Mutex::new(Chain::default()),
            source,
        }
    }

    /// The chain as applied.
    pub fn entries(&self) -> Vec<AppliedEntry> {
        self.chain.lock().entries.clone()
    }

    pub fn blocks_after(&self, height: u64) -> Vec<Block> {
        let c = self.chain.lock();
        c.entries
            .iter()
            .skip(usize::try_from(height).unwrap_or(usize::MAX))
            .map(|e| e.block.clone())
            .collect()
    }

    pub fn height(&self) -> u64 {
        self.chain.lock().entries.len() as u64
    }

    /// Forgets the blocks after the first `keep` (and the metadata written with them), as a
    /// crash before they reached the disk would, if the metadata kept says at least
    /// `min_applied_index` entries were applied (the Raft log behind that is purged, so a tail
    /// before it cannot be lost by a crash-consistent store). Returns the blocks forgotten.
    pub fn lose_tail(&self, keep: u64, min_applied_index: Option<u64>) -> u64 {
        let mut c = self.chain.lock();
        let keep = usize::try_from(keep).unwrap_or(usize::MAX);
        if keep == 0 || keep >= c.entries.len() {
            return 0;
        }
        let meta = c.entries[keep - 1].meta.clone();
        let applied = meta
            .as_deref()
            .and_then(|m| AppliedMeta::decode(m).ok())
            .and_then(|m| m.last_applied)
            .map(|l| l.index);
        if applied < min_applied_index || applied.is_none() {
            return 0;
        }
        let lost = c.entries.len() - keep;
        c.entries.truncate(keep);
        c.meta = meta;
        lost as u64
    }

    /// The hash of the chain's block at `height` (the genesis point is height 0; None above
    /// the head).
    fn hash_in(c: &Chain, height: u64) -> Option<Hash32> {
        match usize::try_from(height).ok()?.checked_sub(1) {
            None => Some(Hash32::ZERO),
            Some(i) => c.entries.get(i).map(|e| e.block.hash()),
        }
    }

    fn head_of(c: &Chain) -> ChainPoint {
        c.entries.last().map_or(
            ChainPoint {
                height: 0,
                hash: Hash32::ZERO,
                state_root: Hash32::ZERO,
            },
            |e| ChainPoint {
                height: e.block.header.height,
                hash: e.block.hash(),
                state_root: e.state_root,
            },
        )
    }

    /// What the real applier checks before a block is appended: chain, proposer among the
    /// voting members, signature, and (while not known to be committed) a timestamp at most
    /// [`BLOCK_TIME_DRIFT_MS`] ahead of this member's clock.
    fn check_content(
        block: &Block,
        members: &[[u8; 32]],
        now_ms: Option<u64>,
    ) -> Result<(), String> {
        let h = &block.header;
        if h.chain_id != CHAIN_ID {
            return Err(format!("block {} is for chain {}", h.height, h.chain_id));
        }
        if !members.iter().any(|m| m.as_slice() == h.proposer) {
            return Err(format!(
                "block {} was proposed by a key that is not a voting member",
                h.height
            ));
        }
        want_crypto::verify_block_signature(block)
            .map_err(|e| format!("block {}: {e}", h.height))?;
        if let Some(now) = now_ms {
            if h.timestamp_ms > now.saturating_add(BLOCK_TIME_DRIFT_MS) {
                return Err(format!("block {} is dated ahead of this clock", h.height));
            }
        }
        Ok(())
    }

    /// Whether a committed block is applied: it must extend the head, carry the parent's state
    /// root and pass [`Self::check_content`]; otherwise every member skips it alike (as the
    /// real applier does with an invalid committed block).
    fn check(head: &ChainPoint, block: &Block, members: &[[u8; 32]]) -> Result<(), String> {
        if block.header.height != head.height + 1 || block.header.prev_hash != head.hash {
            return Err(format!("it does not extend head {}", head.height));
        }
        if block.header.parent_state_root != head.state_root {
            return Err(format!(
                "block {} carries a parent state root that is not the state after block {}",
                block.header.height, head.height
            ));
        }
        Self::check_content(block, members, None)
    }
}

impl BlockApplier for SimApplier {
    fn check_proposal(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        now_ms: Option<u64>,
    ) -> Result<(), String> {
        Self::check_content(block, members, now_ms)
    }

    fn apply(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        consensus_meta: Option<&[u8]>,
    ) -> Result<ApplyOutcome, String> {
        let mut c = self.chain.lock();
        let head = Self::head_of(&c);
        if let Err(reason) = Self::check(&head, block, members) {
            return Ok(ApplyOutcome::Stale(reason));
        }
        let hash = block.hash();
        let state_root = next_root(&head.state_root, &hash);
        let meta = consensus_meta.map(<[u8]>::to_vec);
        c.entries.push(AppliedEntry {
            block: block.clone(),
            state_root,
            meta: meta.clone(),
        });
        c.meta = meta;
        Ok(ApplyOutcome::Applied(AppliedBlock {
            height: block.header.height,
            hash,
            state_root,
            tx_count: 0,
        }))
    }

    fn head(&self) -> Result<ChainPoint, String> {
        Ok(Self::head_of(&self.chain.lock()))
    }

    fn hash_at(&self, height: u64) -> Result<Option<Hash32>, String> {
        Ok(Self::hash_in(&self.chain.lock(), height))
    }

    fn catch_up(
        &self,
        target: &ChainPoint,
        sources: &[String],
        consensus_meta: &[u8],
    ) -> Result<(), String> {
        let local = {
            let mut c = self.chain.lock();
            let local = Self::head_of(&c);
            if let Some(have) = Self::hash_in(&c, target.height) {
                if have != target.hash {
                    return Err(format!(
                        "the local chain holds a different block at height {}",
                        target.height
                    ));
                }
                c.meta = Some(consensus_meta.to_vec());
                return Ok(());
            }
            local
        };
        // Fetched without holding this chain's lock: two members may fetch from each other.
        for url in sources {
            let Some(blocks) = (self.source)(url, local.height) else {
                continue;
            };
            let wanted: Vec<Block> = blocks
                .into_iter()
                .take_while(|b| b.header.height <= target.height)
                .collect();
            if wanted.last().map(|b| (b.header.height, b.hash()))
                != Some((target.height, target.hash))
            {
                continue;
            }
            let mut head = local;
            let mut new = Vec::new();
            for b in wanted {
                if b.header.height != head.height + 1 || b.header.prev_hash != head.hash {
                    return Err("fetched blocks do not link up".into());
                }
                let hash = b.hash();
                let state_root = next_root(&head.state_root, &hash);
                head = ChainPoint {
                    height: b.header.height,
                    hash,
                    state_root,
                };
                new.push(AppliedEntry {
                    block: b,
                    state_root,
                    meta: None,
                });
            }
            if let Some(last) = new.last_mut() {
                last.meta = Some(consensus_meta.to_vec());
            }
            let mut c = self.chain.lock();
            if Self::head_of(&c) != local {
                return Err("the chain moved while catching up".into());
            }
            c.entries.extend(new);
            c.meta = Some(consensus_meta.to_vec());
            return Ok(());
        }
        Err(format!(
            "no member could serve the blocks up to {}",
            target.height
        ))
    }

    fn record_consensus_meta(&self, meta: &[u8]) -> Result<(), String> {
        let mut c = self.chain.lock();
        if c.entries.is_empty() {
            c.base_meta = Some(meta.to_vec());
        }
        c.meta = Some(meta.to_vec());
        Ok(())
    }

    fn record_membership(&self, record: &MembershipRecord, meta: &[u8]) -> Result<(), String> {
        self.record_memberships(std::slice::from_ref(record), Some(meta))
    }

    fn record_memberships(
        &self,
        records: &[MembershipRecord],
        meta: Option<&[u8]>,
    ) -> Result<(), String> {
        let mut c = self.chain.lock();
        for r in records {
            c.memberships
                .entry(r.log_index)
                .or_insert_with(|| r.clone());
        }
        if let Some(meta) = meta {
            if c.entries.is_empty() {
                c.base_meta = Some(meta.to_vec());
            }
            c.meta = Some(meta.to_vec());
        }
        Ok(())
    }

    fn membership_records(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<MembershipRecord>, String> {
        let start = match after {
            None => 0,
            Some(a) => match a.checked_add(1) {
                Some(s) => s,
                None => return Ok(Vec::new()),
            },
        };
        Ok(self
            .chain
            .lock()
            .memberships
            .range(start..)
            .take(limit)
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(self.chain.lock().meta.clone())
    }
}
