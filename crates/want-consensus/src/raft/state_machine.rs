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
use tracing::{error, info};
use want_types::Block;

use super::{Applied, MemberNode, TypeConfig};
use crate::{ApplyOutcome, BlockApplier, ChainPoint};

type NodeId = <TypeConfig as RaftTypeConfig>::NodeId;
type Entry = <TypeConfig as RaftTypeConfig>::Entry;
type StoreResult<T> = Result<T, StorageError<NodeId>>;

/// Format byte in front of the encoded [`AppliedMeta`].
const META_FORMAT_V1: u8 = 1;

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
/// Snapshots are small: the chain point (height, block hash, state root) after the last applied
/// entry, with that entry's log id and membership. The chain itself is the state; a member that
/// installs a snapshot fetches the blocks it lacks from the other members, checks that they
/// link up to the snapshot's block hash (the snapshot arrived in the leader's signed envelope),
/// and executes them. Raft can then purge the log the snapshot covers.
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
    type SnapshotBuilder = SnapshotBuilder;

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
        SnapshotBuilder {
            snapshot: self.current_snapshot(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    /// Catches the chain up to the snapshot's block (fetching and executing the blocks after
    /// the local head), then records the snapshot's log id and membership.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, MemberNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StoreResult<()> {
        let fail = |reason: String| -> StorageError<NodeId> {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::error(reason)).into()
        };
        let data: SnapshotData = decode_snapshot(snapshot.get_ref()).map_err(fail)?;
        let next = AppliedMeta {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
        };
        let sources: Vec<String> = meta
            .last_membership
            .membership()
            .nodes()
            .map(|(_, n)| n.addr.clone())
            .filter(|a| !a.is_empty())
            .collect();
        info!(target: "consensus::snapshot", "installing snapshot {} (block {} {}): catching up from {} members", meta.snapshot_id, data.point.height, data.point.hash, sources.len());
        let applier = self.applier.clone();
        let encoded = next.encode();
        let point = data.point;
        tokio::task::spawn_blocking(move || applier.catch_up(&point, &sources, &encoded))
            .await
            .map_err(|e| fail(format!("the catch-up thread failed: {e}")))?
            .map_err(|e| {
                error!(target: "consensus::snapshot", "could not install snapshot {}: {e}", meta.snapshot_id);
                fail(e)
            })?;
        self.meta = next;
        info!(target: "consensus::snapshot", "installed snapshot {}: chain at block {}", meta.snapshot_id, point.height);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        match self.current_snapshot() {
            Ok(s) => Ok(s),
            Err(e) => Err(sm_read_error(e)),
        }
    }
}

/// What a snapshot carries besides its metadata: the chain point it stands for. The receiver
/// fetches the blocks up to it from the members and checks that they link up to its hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotData {
    pub point: ChainPoint,
}

fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotData, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("the snapshot does not decode: {e}"))
}

impl<A: BlockApplier> BlockStateMachine<A> {
    /// A snapshot of the state as applied now (None before anything was applied).
    fn current_snapshot(&self) -> Result<Option<Snapshot<TypeConfig>>, String> {
        let Some(last) = self.meta.last_applied else {
            return Ok(None);
        };
        let point = self.applier.head()?;
        let data = postcard::to_allocvec(&SnapshotData { point })
            .expect("invariant: postcard encoding into a Vec cannot fail");
        Ok(Some(Snapshot {
            meta: SnapshotMeta {
                last_log_id: Some(last),
                last_membership: self.meta.membership.clone(),
                snapshot_id: format!("{}-{}-{}", last.leader_id.term, last.index, point.height),
            },
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// Builds the snapshot captured when openraft asked for a builder (the state machine may apply
/// more entries while it is built).
pub struct SnapshotBuilder {
    snapshot: Result<Option<Snapshot<TypeConfig>>, String>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        let snapshot = std::mem::replace(&mut self.snapshot, Ok(None));
        match snapshot {
            Ok(Some(s)) => Ok(s),
            Ok(None) => Err(StorageIOError::write_snapshot(
                None,
                AnyError::error("nothing is applied yet: no snapshot to build"),
            )
            .into()),
            Err(e) => Err(StorageIOError::write_snapshot(None, AnyError::error(e)).into()),
        }
    }
}
