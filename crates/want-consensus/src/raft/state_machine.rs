//! The Raft state machine: hands each committed block to the [`BlockApplier`], with the new
//! last applied log id and membership written in the same atomic storage write.

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, EntryPayload, LogId, RaftSnapshotBuilder, RaftTypeConfig, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tracing::error;
use want_types::Block;

use super::{Applied, MemberNode, TypeConfig};
use crate::{ApplyOutcome, BlockApplier};

type NodeId = <TypeConfig as RaftTypeConfig>::NodeId;
type Entry = <TypeConfig as RaftTypeConfig>::Entry;
type StoreResult<T> = Result<T, StorageError<NodeId>>;

/// Format byte in front of the encoded [`AppliedMeta`].
const META_FORMAT_V1: u8 = 1;

/// Why snapshots are refused (see [`BlockStateMachine`]).
const NO_SNAPSHOTS: &str = "snapshot transfer arrives with multi-node clusters: this single-member cluster keeps its whole log and never builds, sends or installs a snapshot";

/// What the applier stores as consensus metadata: the last applied log id and the membership in
/// force after it (encoded here; opaque to the applier).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMeta {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, MemberNode>,
}

impl AppliedMeta {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![META_FORMAT_V1];
        out.extend(
            postcard::to_allocvec(self)
                .expect("invariant: postcard encoding into a Vec cannot fail"),
        );
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<AppliedMeta, String> {
        match bytes.split_first() {
            Some((&META_FORMAT_V1, rest)) => postcard::from_bytes(rest)
                .map_err(|e| format!("consensus metadata does not decode: {e}")),
            Some((v, _)) => Err(format!(
                "consensus metadata has format {v}; this build reads format {META_FORMAT_V1}"
            )),
            None => Err("consensus metadata is empty".into()),
        }
    }
}

/// A block that could not be applied: kept so that `propose` can say which and why.
#[derive(Clone, Debug)]
pub struct ApplyFailure {
    pub height: Option<u64>,
    pub reason: String,
}

/// The Raft state machine over a [`BlockApplier`].
///
/// Snapshots: not supported yet, by design of this single-member stage. The cluster runs with
/// `SnapshotPolicy::Never` and never purges its log, so no snapshot is ever needed;
/// [`RaftStateMachine::get_current_snapshot`] returns `Ok(None)` and building, receiving or
/// installing a snapshot returns a `StorageError` saying that snapshot transfer arrives with
/// multi-node clusters (openraft then stops this node's Raft rather than pretend it worked).
pub struct BlockStateMachine<A: BlockApplier> {
    applier: Arc<A>,
    meta: AppliedMeta,
    failure: Arc<Mutex<Option<ApplyFailure>>>,
}

impl<A: BlockApplier> BlockStateMachine<A> {
    pub fn new(applier: Arc<A>, failure: Arc<Mutex<Option<ApplyFailure>>>) -> Self {
        BlockStateMachine {
            applier,
            meta: AppliedMeta::default(),
            failure,
        }
    }
}

fn sm_read_error(reason: String) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(AnyError::error(reason)).into()
}

/// Responses of the entries applied, the metadata after the last of them, and the failure that
/// stopped the batch (with the entry's log id), if any.
type BatchOutcome = (
    Vec<Applied>,
    AppliedMeta,
    Option<(LogId<NodeId>, ApplyFailure)>,
);

/// Applies `entries` in order on a blocking thread. Returns the responses of the entries applied,
/// the metadata after the last of them, and the failure that stopped the batch, if any.
fn apply_batch<A: BlockApplier>(
    applier: &A,
    mut meta: AppliedMeta,
    entries: Vec<Entry>,
) -> BatchOutcome {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let log_id = entry.log_id;
        let mut next = AppliedMeta {
            last_applied: Some(log_id),
            membership: meta.membership.clone(),
        };
        let result = match entry.payload {
            EntryPayload::Normal(proposal) => match Block::from_bytes(&proposal.block) {
                Ok(block) => {
                    let height = block.header.height;
                    let members: Vec<[u8; 32]> = next
                        .membership
                        .membership()
                        .voter_ids()
                        .filter_map(|id| next.membership.membership().get_node(&id))
                        .filter_map(|n| n.key_bytes())
                        .collect();
                    let fail = |reason| ApplyFailure {
                        height: Some(height),
                        reason,
                    };
                    match applier.apply(&block, &members, Some(&next.encode())) {
                        Ok(ApplyOutcome::Applied(b)) => Ok(Applied::Block(b)),
                        Ok(ApplyOutcome::Stale(reason)) => {
                            tracing::info!(target: "consensus::apply", "skipping block {height} of log entry {log_id}: {reason}");
                            applier
                                .record_consensus_meta(&next.encode())
                                .map(|()| Applied::Stale { height, reason })
                                .map_err(fail)
                        }
                        Err(reason) => Err(fail(reason)),
                    }
                }
                Err(e) => Err(ApplyFailure {
                    height: None,
                    reason: format!("the proposal does not decode as a block: {e}"),
                }),
            },
            EntryPayload::Blank => applier
                .record_consensus_meta(&next.encode())
                .map(|()| Applied::NoBlock)
                .map_err(|reason| ApplyFailure {
                    height: None,
                    reason,
                }),
            EntryPayload::Membership(m) => {
                next.membership = StoredMembership::new(Some(log_id), m);
                applier
                    .record_consensus_meta(&next.encode())
                    .map(|()| Applied::NoBlock)
                    .map_err(|reason| ApplyFailure {
                        height: None,
                        reason,
                    })
            }
        };
        match result {
            Ok(applied) => {
                out.push(applied);
                meta = next;
            }
            Err(failure) => return (out, meta, Some((log_id, failure))),
        }
    }
    (out, meta, None)
}

impl<A: BlockApplier> RaftStateMachine<TypeConfig> for BlockStateMachine<A> {
    type SnapshotBuilder = NoSnapshots;

    /// Read from the applier's consensus metadata: what it recorded atomically with its last
    /// applied block (or entry without a block).
    async fn applied_state(
        &mut self,
    ) -> StoreResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, MemberNode>)> {
        let meta = match self.applier.consensus_meta().map_err(sm_read_error)? {
            Some(bytes) => AppliedMeta::decode(&bytes).map_err(sm_read_error)?,
            None => AppliedMeta::default(),
        };
        self.meta = meta.clone();
        Ok((meta.last_applied, meta.membership))
    }

    async fn apply<I>(&mut self, entries: I) -> StoreResult<Vec<Applied>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let applier = self.applier.clone();
        let meta = self.meta.clone();
        let (out, meta, failure) =
            tokio::task::spawn_blocking(move || apply_batch(&*applier, meta, entries))
                .await
                .map_err(|e| {
                    StorageError::from(StorageIOError::write_state_machine(AnyError::error(
                        format!("the block applier thread failed: {e}"),
                    )))
                })?;
        self.meta = meta;
        match failure {
            None => Ok(out),
            Some((log_id, failure)) => {
                error!(
                    target: "consensus::apply",
                    "STOPPING CONSENSUS: committed log entry {log_id} (block height {}) could not be applied: {}. The entry stays in the Raft log; fix the cause and restart the node to apply it again.",
                    failure.height.map(|h| h.to_string()).unwrap_or_else(|| "-".into()),
                    failure.reason
                );
                let err = StorageIOError::apply(log_id, AnyError::error(&failure.reason)).into();
                if let Ok(mut slot) = self.failure.lock() {
                    *slot = Some(failure);
                }
                Err(err)
            }
        }
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        NoSnapshots
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<Cursor<Vec<u8>>>> {
        Err(StorageIOError::write_snapshot(None, AnyError::error(NO_SNAPSHOTS)).into())
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, MemberNode>,
        _snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StoreResult<()> {
        Err(
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::error(NO_SNAPSHOTS))
                .into(),
        )
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        Ok(None)
    }
}

/// The snapshot builder of a cluster that has no snapshots yet: building one is an error (see
/// [`BlockStateMachine`]).
pub struct NoSnapshots;

impl RaftSnapshotBuilder<TypeConfig> for NoSnapshots {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        Err(StorageIOError::write_snapshot(None, AnyError::error(NO_SNAPSHOTS)).into())
    }
}
