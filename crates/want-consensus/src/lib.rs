//! Consensus of WANT chain: orders proposed blocks and hands each committed block to the executor, behind one interface for the single node and the Raft cluster.
//!
//! The node never writes a block itself: it proposes it to a [`Consensus`] and waits until the
//! block is committed *and applied* by the [`BlockApplier`]. [`RaftConsensus`] implements it
//! with openraft; the single node runs it as a one-member cluster (see [`raft`]).

pub mod raft;

use std::future::Future;

use serde::Serialize;
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
