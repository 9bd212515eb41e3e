//! Consensus of WANT chain: orders proposed blocks and hands each committed block to the executor, behind one interface for the single node and the Raft cluster.
//!
//! The node never writes a block itself: it proposes it to a [`Consensus`] and waits until the
//! block is committed *and applied* by the [`BlockApplier`]. [`SoloConsensus`] is the single-node
//! implementation (the node is the only member and the leader; a proposal is committed as soon as
//! the applier has made it durable). The Raft cluster implements the same trait.

pub mod raft;

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::Mutex;
use want_types::{Block, Hash32};

pub use raft::{RaftConsensus, RaftTiming};

/// The error enum of the consensus crate.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    #[error("this node is not the leader{}", .leader.as_ref().map(|l| format!("; the leader is {l}")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
    #[error("the block at height {height} could not be applied: {reason}")]
    Apply { height: u64, reason: String },
    #[error("consensus is shutting down")]
    ShuttingDown,
    #[error("consensus configuration: {0}")]
    Config(String),
    #[error("consensus storage: {0}")]
    Storage(String),
    /// Consensus stopped and cannot go on (e.g. a storage failure); the node needs attention.
    #[error("consensus stopped: {0}")]
    Fatal(String),
}

/// What applying a committed block produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AppliedBlock {
    pub height: u64,
    pub hash: Hash32,
    /// State root after the block.
    pub state_root: Hash32,
    pub tx_count: u32,
}

/// Executes committed blocks: verify, run the state machine, persist atomically.
pub trait BlockApplier: Send + Sync + 'static {
    /// Applies one committed block. Must be deterministic given the stored state and the block.
    /// `consensus_meta` (opaque to the applier: e.g. Raft's last applied log id and membership)
    /// must be persisted in the same atomic write as the block.
    fn apply(&self, block: &Block, consensus_meta: Option<&[u8]>) -> Result<AppliedBlock, String>;
    /// Durably records consensus metadata for an entry that carries no block.
    fn record_consensus_meta(&self, meta: &[u8]) -> Result<(), String>;
    /// The consensus metadata recorded last (None on a fresh database).
    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, String>;
}

/// The node's role in consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Leader,
    Follower,
    Candidate,
    Learner,
    /// Consensus has stopped on this node.
    Stopped,
}

/// What `GET /v1/status` shows of consensus.
#[derive(Clone, Debug, Serialize)]
pub struct ConsensusStatus {
    pub node_id: String,
    pub role: Role,
    pub leader: Option<String>,
    pub term: u64,
    pub members: Vec<String>,
}

/// Orders blocks. Implemented by the single node and by the Raft cluster.
pub trait Consensus: Send + Sync + 'static {
    /// Proposes a block; resolves once it is committed and applied on this node.
    fn propose(
        &self,
        block: Block,
    ) -> impl Future<Output = Result<AppliedBlock, ConsensusError>> + Send;
    /// Role, term, leader and members as this node sees them.
    fn status(&self) -> ConsensusStatus;
}

/// Single-member consensus: this node is the permanent leader of a one-node membership; a block
/// is committed once the applier has written it durably.
pub struct SoloConsensus<A: BlockApplier> {
    node_id: String,
    applier: Arc<A>,
    /// Serialises proposals: blocks are applied strictly one after another.
    gate: Mutex<()>,
}

impl<A: BlockApplier> SoloConsensus<A> {
    pub fn new(node_id: String, applier: Arc<A>) -> Self {
        SoloConsensus {
            node_id,
            applier,
            gate: Mutex::new(()),
        }
    }
}

impl<A: BlockApplier> Consensus for SoloConsensus<A> {
    async fn propose(&self, block: Block) -> Result<AppliedBlock, ConsensusError> {
        let _turn = self.gate.lock().await;
        let applier = self.applier.clone();
        let height = block.header.height;
        tokio::task::spawn_blocking(move || applier.apply(&block, None))
            .await
            .map_err(|_| ConsensusError::ShuttingDown)?
            .map_err(|reason| ConsensusError::Apply { height, reason })
    }

    fn status(&self) -> ConsensusStatus {
        ConsensusStatus {
            node_id: self.node_id.clone(),
            role: Role::Leader,
            leader: Some(self.node_id.clone()),
            term: 1,
            members: vec![self.node_id.clone()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use want_types::BlockHeader;

    struct CountingApplier {
        applied: AtomicU64,
        fail_at: u64,
    }

    impl BlockApplier for CountingApplier {
        fn apply(&self, block: &Block, _meta: Option<&[u8]>) -> Result<AppliedBlock, String> {
            if block.header.height == self.fail_at {
                return Err("state root diverged".into());
            }
            let n = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(AppliedBlock {
                height: n,
                hash: block.hash(),
                state_root: Hash32::ZERO,
                tx_count: 0,
            })
        }
        fn record_consensus_meta(&self, _meta: &[u8]) -> Result<(), String> {
            Ok(())
        }
        fn consensus_meta(&self) -> Result<Option<Vec<u8>>, String> {
            Ok(None)
        }
    }

    fn block(height: u64) -> Block {
        Block {
            header: BlockHeader {
                chain_id: 1,
                height,
                prev_hash: Hash32::ZERO,
                timestamp_ms: 0,
                tx_root: Hash32::ZERO,
                tx_count: 0,
                parent_state_root: Hash32::ZERO,
                proposer: vec![],
            },
            signature: vec![],
            txs: vec![],
        }
    }

    #[tokio::test]
    async fn solo_consensus_applies_each_proposal_once_in_order() {
        let applier = Arc::new(CountingApplier {
            applied: AtomicU64::new(0),
            fail_at: u64::MAX,
        });
        let c = SoloConsensus::new("n1".into(), applier.clone());
        assert_eq!(c.propose(block(1)).await.unwrap().height, 1);
        assert_eq!(c.propose(block(2)).await.unwrap().height, 2);
        assert_eq!(c.status().role, Role::Leader);
        assert_eq!(c.status().members, vec!["n1".to_string()]);
    }

    #[tokio::test]
    async fn solo_consensus_reports_an_apply_failure_with_the_height() {
        let applier = Arc::new(CountingApplier {
            applied: AtomicU64::new(0),
            fail_at: 5,
        });
        let c = SoloConsensus::new("n1".into(), applier);
        let err = c.propose(block(5)).await.unwrap_err();
        assert!(err.to_string().contains("height 5"), "{err}");
    }
}
