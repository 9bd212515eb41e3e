//! Consensus of WANT chain: orders proposed blocks and hands each committed block to the executor, behind one interface for the single node and the Raft cluster.
//!
//! The node never writes a block itself: it proposes it to a [`Consensus`] and waits until the
//! block is committed *and applied* by the [`BlockApplier`]. [`RaftConsensus`] implements it
//! with openraft; the single node runs it as a one-member cluster (see [`raft`]).

/// Test-only input strategies, shared with want-types.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../want-types/src/fuzz_inputs.rs"]
mod fuzz_inputs;
pub mod net;
pub mod raft;
#[cfg(test)]
mod sim;

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use want_types::{Block, Hash32};

pub use raft::{
    send_admin, AdminCommand, ClusterNet, Inbound, MemberNode, RaftConsensus, RaftTiming,
};

/// The error enum of the consensus crate.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    #[error("this node is not the leader{}", .leader.as_ref().map(|l| format!("; the leader is {l}")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
    #[error("the block at height {height} could not be applied: {reason}")]
    Apply { height: u64, reason: String },
    /// The proposed block did not extend the head when it was applied (another block got there
    /// first); its transactions stay in the mempool for the next block.
    #[error("block {height} was skipped: {reason}")]
    Stale { height: u64, reason: String },
    #[error("consensus is shutting down")]
    ShuttingDown,
    #[error("consensus configuration: {0}")]
    Config(String),
    #[error("consensus storage: {0}")]
    Storage(String),
    /// The members' TLS could not be set up from the node key (see [`net::tls`]).
    #[error("member TLS: {0}")]
    Tls(String),
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

/// A member's clock: Unix milliseconds. Consensus reads time only through it (a simulation
/// passes a simulated, skewed clock).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system clock as a [`Clock`].
pub fn system_clock() -> Clock {
    Arc::new(net::unix_ms)
}

/// How far ahead of a member's clock a proposed block's timestamp may be: a member refuses to
/// append (and so to acknowledge) a block dated later than its own clock plus this. A leader
/// whose clock runs ahead by more gets none of its blocks acknowledged (it logs why); a member
/// whose clock runs behind refuses new blocks, which the others still commit, and applies them
/// once they are committed (committed blocks are not held to the clock).
pub const BLOCK_TIME_DRIFT_MS: u64 = 5_000;

/// Executes committed blocks: verify, run the state machine, persist atomically.
pub trait BlockApplier: Send + Sync + 'static {
    /// Checks a block proposed by the leader before this member appends (and so acknowledges)
    /// it: everything that does not need the state after its parent — chain, proposer among
    /// `members`, signatures, tx root, weight, and, when `now_ms` is given (the entry is not
    /// known to be committed yet), a timestamp at most [`BLOCK_TIME_DRIFT_MS`] ahead of it.
    /// A block refused here never reaches a majority of honest members.
    fn check_proposal(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        now_ms: Option<u64>,
    ) -> Result<(), String> {
        let _ = (block, members, now_ms);
        Ok(())
    }

    /// Applies one committed block. Must be deterministic given the stored state, the block and
    /// `members` (the Ed25519 keys of the voting members when the block was committed: the
    /// proposer must be one of them). `consensus_meta` (opaque to the applier: e.g. Raft's last
    /// applied log id and membership) must be persisted in the same atomic write as the block.
    /// A block that does not extend the current head is [`ApplyOutcome::Stale`]: nothing is
    /// written (the caller records the metadata).
    fn apply(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        consensus_meta: Option<&[u8]>,
    ) -> Result<ApplyOutcome, String>;
    /// The chain as applied: its head (for snapshot descriptors).
    fn head(&self) -> Result<ChainPoint, String>;
    /// The hash of the block this node applied at `height` (None above its head, or when the
    /// applier cannot tell): a member refuses a snapshot whose chain point contradicts its own
    /// chain before Raft installs it (an install that fails stops Raft).
    fn hash_at(&self, _height: u64) -> Result<Option<Hash32>, String> {
        Ok(None)
    }
    /// Installs a snapshot: brings the chain up to `target` by fetching the blocks after the
    /// local head from `sources` (members' URLs), checking that they link up to `target`, and
    /// executing them; records `consensus_meta` with the last one (or alone, if the chain
    /// already has `target`). Refuses if the local chain holds a different block at
    /// `target.height`.
    fn catch_up(
        &self,
        target: &ChainPoint,
        sources: &[String],
        consensus_meta: &[u8],
    ) -> Result<(), String>;
    /// Durably records consensus metadata for an entry that carries no block.
    fn record_consensus_meta(&self, meta: &[u8]) -> Result<(), String>;
    /// Durably records a membership change (for the membership history by height) with the
    /// consensus metadata after it, in one atomic write. By default only the metadata is kept.
    fn record_membership(
        &self,
        record: &raft::authority::MembershipRecord,
        meta: &[u8],
    ) -> Result<(), String> {
        let _ = record;
        self.record_consensus_meta(meta)
    }
    /// Durably records membership changes taken from a snapshot's proven history (see
    /// [`raft::authority::verify_snapshot_membership`]), with the consensus metadata `meta` if
    /// given, in one atomic write (the first record of a log index is kept). By default none
    /// are kept.
    fn record_memberships(
        &self,
        records: &[raft::authority::MembershipRecord],
        meta: Option<&[u8]>,
    ) -> Result<(), String> {
        let _ = records;
        match meta {
            Some(m) => self.record_consensus_meta(m),
            None => Ok(()),
        }
    }
    /// The membership records after log index `after` (all with None), in log order, at most
    /// `limit` (an applier may return fewer per call; an empty answer means none are left).
    /// A leader sends them with a snapshot to prove its membership. By default none are kept.
    fn membership_records(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<raft::authority::MembershipRecord>, String> {
        let _ = (after, limit);
        Ok(Vec::new())
    }
    /// The consensus metadata recorded last (None on a fresh database).
    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, String>;
}

/// A point of the chain: a block and the state after it. A snapshot is one of these plus the
/// Raft log id and membership it corresponds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ChainPoint {
    pub height: u64,
    pub hash: Hash32,
    pub state_root: Hash32,
}

/// What became of a committed block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApplyOutcome {
    Applied(AppliedBlock),
    /// It did not extend the head when its turn came; skipped by every node alike.
    Stale(String),
}

/// The node's role in consensus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = ConsensusRole))]
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
    /// Public keys of the voting members.
    pub members: Vec<String>,
    /// This node's Raft id.
    pub raft_id: u64,
    pub leader_raft_id: Option<u64>,
    /// Index of the last Raft log entry applied here.
    pub applied_index: Option<u64>,
    /// Every member (voters and learners) with its Raft id and URL.
    pub member_list: Vec<MemberInfo>,
    /// Last log index covered by this node's latest snapshot.
    pub snapshot_index: Option<u64>,
    /// Last log index purged from this node's Raft log.
    pub purged_index: Option<u64>,
    /// Log index of the membership in force: approvals of a membership change name it.
    pub membership_index: Option<u64>,
}

/// One member in [`ConsensusStatus`].
#[derive(Clone, Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MemberInfo {
    pub id: u64,
    pub public_key: String,
    pub url: String,
    pub voter: bool,
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
