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

use super::approval::AdminRequest;
use super::authority::{
    verify_snapshot_membership, MembershipRecord, MembershipState, SnapshotMembership,
    SNAPSHOT_HISTORY_RECORDS_MAX,
};
use super::{Applied, MemberNode, TypeConfig};
use crate::{ApplyOutcome, BlockApplier, ChainPoint};

type NodeId = <TypeConfig as RaftTypeConfig>::NodeId;
type Entry = <TypeConfig as RaftTypeConfig>::Entry;
type StoreResult<T> = Result<T, StorageError<NodeId>>;

/// Format byte in front of the encoded [`AppliedMeta`] without the pending request (read only).
const META_FORMAT_V1: u8 = 1;
/// Format byte in front of the encoded [`AppliedMeta`].
const META_FORMAT_V2: u8 = 2;

/// What the applier stores as consensus metadata: the last applied log id, the membership in
/// force after it and the approved membership request not yet carried out (encoded here; opaque
/// to the applier).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMeta {
    pub last_applied: Option<LogId<NodeId>>,
    pub membership: StoredMembership<NodeId, MemberNode>,
    /// See [`super::authority`].
    pub pending: Option<AdminRequest>,
}

/// [`AppliedMeta`] as format 1 stored it.
#[derive(Deserialize)]
struct AppliedMetaV1 {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, MemberNode>,
}

impl AppliedMeta {
    /// The membership walk's state after the last applied entry.
    pub fn walk_state(&self) -> MembershipState {
        let mut state = MembershipState::of(
            self.membership.log_id().map(|l| l.index),
            self.membership.membership(),
        );
        state.pending = self.pending.clone();
        state
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![META_FORMAT_V2];
        out.extend(
            postcard::to_allocvec(self)
                .expect("invariant: postcard encoding into a Vec cannot fail"),
        );
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<AppliedMeta, String> {
        match bytes.split_first() {
            Some((&META_FORMAT_V1, rest)) => match postcard::take_from_bytes(rest) {
                Ok((AppliedMetaV1 { last_applied, membership }, [])) => Ok(AppliedMeta {
                    last_applied,
                    membership,
                    pending: None,
                }),
                Ok((_, extra)) => Err(format!(
                    "consensus metadata has {} trailing byte(s)",
                    extra.len()
                )),
                Err(e) => Err(format!("consensus metadata does not decode: {e}")),
            },
            Some((&META_FORMAT_V2, rest)) => match postcard::take_from_bytes(rest) {
                Ok((meta, [])) => Ok(meta),
                Ok((_, extra)) => Err(format!(
                    "consensus metadata has {} trailing byte(s)",
                    extra.len()
                )),
                Err(e) => Err(format!("consensus metadata does not decode: {e}")),
            },
            Some((v, _)) => Err(format!(
                "consensus metadata has format {v}; this build reads formats {META_FORMAT_V1} and {META_FORMAT_V2}"
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
    /// The chain whose approvals membership requests carry.
    chain_id: u64,
    /// The genesis members: where a snapshot's membership history starts for a member that
    /// has applied no membership.
    genesis: Option<MembershipState>,
}

impl<A: BlockApplier> BlockStateMachine<A> {
    /// A state machine of a chain without membership requests (a single member: approvals of
    /// chain 0 never verify); see [`Self::with_chain_id`].
    pub fn new(applier: Arc<A>, failure: Arc<Mutex<Option<ApplyFailure>>>) -> Self {
        BlockStateMachine {
            applier,
            meta: AppliedMeta::default(),
            failure,
            chain_id: 0,
            genesis: None,
        }
    }

    /// The chain whose approvals the membership requests in the log carry.
    pub fn with_chain_id(mut self, chain_id: u64) -> Self {
        self.chain_id = chain_id;
        self
    }

    /// The genesis members (see [`MembershipState::genesis`]).
    pub fn with_genesis(mut self, genesis: Option<MembershipState>) -> Self {
        self.genesis = genesis;
        self
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
    chain_id: u64,
    mut meta: AppliedMeta,
    entries: Vec<Entry>,
) -> BatchOutcome {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let log_id = entry.log_id;
        let mut next = AppliedMeta {
            last_applied: Some(log_id),
            membership: meta.membership.clone(),
            pending: meta.pending.clone(),
        };
        let no_block = |reason: String| ApplyFailure {
            height: None,
            reason,
        };
        let result = match entry.payload {
            EntryPayload::Normal(proposal) if proposal.admin_request().is_some() => {
                let mut state = next.walk_state();
                match proposal.admin_request() {
                    Some(Ok(req)) => match state.admit(chain_id, &req) {
                        Ok(()) => {
                            info!(target: "consensus::membership", "log entry {log_id}: membership request {:?} approved by {:?}", req.cmd, req.approvals.iter().map(|a| a.member).collect::<Vec<_>>());
                            next.pending = state.pending;
                        }
                        Err(e) => {
                            tracing::warn!(target: "consensus::membership", "log entry {log_id}: the membership request {:?} is not authorised ({e}); it authorises nothing", req.cmd)
                        }
                    },
                    _ => {
                        tracing::warn!(target: "consensus::membership", "log entry {log_id}: an admin entry that does not decode; it authorises nothing")
                    }
                }
                applier
                    .record_consensus_meta(&next.encode())
                    .map(|()| Applied::NoBlock)
                    .map_err(no_block)
            }
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
                // Not a block at all (only a faulty leader writes such an entry): skipped by
                // every member alike, like a block whose content is invalid.
                Err(e) => {
                    let reason = format!("the proposal does not decode as a block: {e}");
                    tracing::error!(target: "consensus::apply", "skipping log entry {log_id}: {reason}");
                    applier
                        .record_consensus_meta(&next.encode())
                        .map(|()| Applied::Stale { height: 0, reason })
                        .map_err(|reason| ApplyFailure {
                            height: None,
                            reason,
                        })
                }
            },
            EntryPayload::Blank => applier
                .record_consensus_meta(&next.encode())
                .map(|()| Applied::NoBlock)
                .map_err(|reason| ApplyFailure {
                    height: None,
                    reason,
                }),
            EntryPayload::Membership(m) => {
                let before = next.walk_state();
                let configs = m.get_joint_config().clone();
                let nodes = m.nodes().map(|(id, n)| (*id, n.clone())).collect();
                let verdict = before.check(&configs, &nodes);
                if let Err(e) = &verdict {
                    error!(target: "consensus::membership", "log entry {log_id} is a committed membership change that was not authorised: {e}");
                }
                let mut after = before.clone();
                after.enter(log_id.index, configs, nodes, verdict.as_ref().ok().copied());
                next.membership = StoredMembership::new(Some(log_id), m);
                next.pending = after.pending.clone();
                applier
                    .head()
                    .and_then(|head| {
                        head.height.checked_add(1).ok_or_else(|| {
                            "the chain is at the largest height; no block can follow".to_string()
                        })
                    })
                    .and_then(|first_height| {
                        let record = MembershipRecord::new(
                            log_id.index,
                            first_height,
                            &before,
                            &after,
                            &verdict,
                        );
                        applier.record_membership(&record, &next.encode())
                    })
                    .map(|()| Applied::NoBlock)
                    .map_err(no_block)
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
        let chain_id = self.chain_id;
        let (out, meta, failure) =
            super::runtime::blocking(move || apply_batch(&*applier, chain_id, meta, entries))
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
        // The snapshot's membership must follow from this node's own through the history it
        // carries. The receiving member checked that when it arrived (`RaftConsensus::
        // handle_rpc`) against the membership it had applied then; this node may have applied
        // more since, so it is checked again against what is applied now, and a snapshot that
        // no longer follows is not installed (only a faulty leader sends one).
        let before = self.meta.walk_state();
        let base = if before.is_known() {
            before.clone()
        } else {
            self.genesis.clone().unwrap_or_default()
        };
        let nodes = meta
            .last_membership
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.clone()))
            .collect();
        let target = SnapshotMembership {
            index: meta.last_membership.log_id().map(|l| l.index),
            configs: meta.last_membership.membership().get_joint_config(),
            nodes: &nodes,
            pending: data.pending.as_ref(),
            last_log_index: meta.last_log_id.map(|l| l.index),
        };
        let (walked, proven) =
            verify_snapshot_membership(self.chain_id, &base, &data.history, &target).map_err(
                |e| {
                    error!(target: "consensus::membership", "not installing snapshot {}: its membership does not follow from the one applied here: {e}", meta.snapshot_id);
                    fail(format!(
                        "the snapshot's membership does not follow from the one applied here: {e}"
                    ))
                },
            )?;
        let next = AppliedMeta {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            pending: proven.pending,
        };
        let sources: Vec<String> = meta
            .last_membership
            .membership()
            .nodes()
            .map(|(_, n)| n.addr.clone())
            .filter(|a| !a.is_empty())
            .collect();
        let point = data.point;
        // The changes that led to the snapshot's membership join this node's history as the
        // snapshot proved them, written before the catch-up records the new membership (a
        // crash in between leaves records of changes not yet in force, which the same entries
        // find in place later, never a gap). They took effect after this node's head and by
        // the block after the snapshot's: the first heights the leader recorded are kept within
        // that range, in order.
        if !walked.is_empty() {
            let head = self.applier.head().map_err(fail)?.height;
            let mut floor = head.saturating_add(1);
            let ceiling = point.height.saturating_add(1).max(floor);
            let records: Vec<MembershipRecord> = walked
                .into_iter()
                .map(|mut r| {
                    r.first_height = r.first_height.clamp(floor, ceiling);
                    floor = r.first_height;
                    r
                })
                .collect();
            let applier = self.applier.clone();
            super::runtime::blocking(move || applier.record_memberships(&records, None))
                .await
                .map_err(|e| fail(format!("the membership record thread failed: {e}")))?
                .map_err(fail)?;
        }
        info!(target: "consensus::snapshot", "installing snapshot {} (block {} {}): catching up from {} members", meta.snapshot_id, data.point.height, data.point.hash, sources.len());
        let applier = self.applier.clone();
        let encoded = next.encode();
        super::runtime::blocking(move || applier.catch_up(&point, &sources, &encoded))
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

/// What a snapshot carries besides its metadata: the chain point it stands for, and the proof
/// of its membership. The receiver fetches the blocks up to the point from the members and
/// checks that they link up to its hash; it checks the membership against its own with
/// [`verify_snapshot_membership`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotData {
    pub point: ChainPoint,
    /// The approved membership request not yet carried out at the snapshot's point.
    pub pending: Option<AdminRequest>,
    /// The sender's membership history up to the snapshot's membership, in log order (at most
    /// [`SNAPSHOT_HISTORY_RECORDS_MAX`], the newest).
    pub history: Vec<MembershipRecord>,
}

/// A snapshot as format 1 (before membership proofs) carried it.
#[derive(Deserialize)]
struct SnapshotDataV1 {
    point: ChainPoint,
}

/// Decodes a snapshot (its whole bytes, nothing after them); a snapshot of a member that does
/// not yet send membership proofs reads with none.
pub fn decode_snapshot(bytes: &[u8]) -> Result<SnapshotData, String> {
    match postcard::take_from_bytes::<SnapshotData>(bytes) {
        Ok((data, [])) => Ok(data),
        Ok((_, extra)) => Err(format!("the snapshot has {} trailing byte(s)", extra.len())),
        Err(e) => match postcard::take_from_bytes::<SnapshotDataV1>(bytes) {
            Ok((SnapshotDataV1 { point }, [])) => Ok(SnapshotData {
                point,
                pending: None,
                history: Vec::new(),
            }),
            _ => Err(format!("the snapshot does not decode: {e}")),
        },
    }
}

impl<A: BlockApplier> BlockStateMachine<A> {
    /// A snapshot of the state as applied now (None before anything was applied).
    fn current_snapshot(&self) -> Result<Option<Snapshot<TypeConfig>>, String> {
        let Some(last) = self.meta.last_applied else {
            return Ok(None);
        };
        let point = self.applier.head()?;
        let history = membership_history(&*self.applier, self.meta.membership.log_id())?;
        let data = postcard::to_allocvec(&SnapshotData {
            point,
            pending: self.meta.pending.clone(),
            history,
        })
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

/// The membership records up to the one of log id `upto` (the membership in force), the newest
/// [`SNAPSHOT_HISTORY_RECORDS_MAX`].
fn membership_history<A: BlockApplier>(
    applier: &A,
    upto: &Option<LogId<NodeId>>,
) -> Result<Vec<MembershipRecord>, String> {
    let Some(upto) = upto.map(|l| l.index) else {
        return Ok(Vec::new());
    };
    let mut out: std::collections::VecDeque<MembershipRecord> = Default::default();
    let mut after = None;
    loop {
        let page = applier.membership_records(after, SNAPSHOT_HISTORY_RECORDS_MAX)?;
        let Some(last) = page.last().map(|r| r.log_index) else {
            break;
        };
        if after.is_some_and(|a| last <= a) {
            return Err(format!(
                "the membership history does not move past log index {last}"
            ));
        }
        after = Some(last);
        for r in page {
            if r.log_index > upto {
                return Ok(out.into());
            }
            if out.len() == SNAPSHOT_HISTORY_RECORDS_MAX {
                out.pop_front();
            }
            out.push_back(r);
        }
    }
    Ok(out.into())
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

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::{CommittedLeaderId, Membership};
    use proptest::prelude::*;
    use want_types::Hash32;

    use super::*;
    use crate::fuzz_inputs::mutated_bytes;

    fn log_id() -> impl Strategy<Value = LogId<NodeId>> {
        (any::<u64>(), any::<u64>(), any::<u64>())
            .prop_map(|(term, node, index)| LogId::new(CommittedLeaderId::new(term, node), index))
    }

    fn meta() -> impl Strategy<Value = AppliedMeta> {
        let node =
            (".{0,70}", ".{0,30}").prop_map(|(public_key, addr)| MemberNode { public_key, addr });
        (
            prop::option::of(log_id()),
            prop::option::of(log_id()),
            prop::collection::btree_map(any::<u64>(), node, 0..4),
            0usize..4,
        )
            .prop_map(|(last_applied, at, nodes, learners)| {
                let voters: BTreeSet<u64> = nodes.keys().skip(learners).copied().collect();
                let configs = if voters.is_empty() {
                    vec![]
                } else {
                    vec![voters]
                };
                AppliedMeta {
                    last_applied,
                    membership: StoredMembership::new(at, Membership::new(configs, nodes)),
                    pending: None,
                }
            })
    }

    fn point() -> impl Strategy<Value = ChainPoint> {
        (any::<u64>(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(height, h, r)| ChainPoint {
            height,
            hash: Hash32(h),
            state_root: Hash32(r),
        })
    }

    fn record() -> impl Strategy<Value = MembershipRecord> {
        (
            any::<u64>(),
            any::<u64>(),
            prop::collection::btree_set(any::<u64>(), 1..4),
            ".{0,70}",
        )
            .prop_map(|(log_index, first_height, voters, key)| MembershipRecord {
                log_index,
                first_height,
                members: voters
                    .iter()
                    .map(|id| super::super::authority::RecordedMember {
                        id: *id,
                        public_key: key.clone(),
                        url: format!("http://10.0.0.1:{id}"),
                        voter: true,
                    })
                    .collect(),
                configs: vec![voters],
                authorization: None,
                step: Some(super::super::authority::Step::Unchanged),
                problem: None,
            })
    }

    fn snapshot() -> impl Strategy<Value = SnapshotData> {
        (point(), prop::collection::vec(record(), 0..3)).prop_map(|(point, history)| SnapshotData {
            point,
            pending: None,
            history,
        })
    }

    fn snapshot_bytes(s: &SnapshotData) -> Vec<u8> {
        postcard::to_allocvec(s).unwrap()
    }

    fn bare(point: ChainPoint) -> SnapshotData {
        SnapshotData {
            point,
            pending: None,
            history: Vec::new(),
        }
    }

    fn check_meta(bytes: &[u8]) -> Result<(), TestCaseError> {
        match AppliedMeta::decode(bytes) {
            Ok(m) => {
                let again = m.encode();
                prop_assert!(again.len() <= bytes.len());
                prop_assert_eq!(AppliedMeta::decode(&again).unwrap(), m);
            }
            Err(e) => prop_assert!(
                e == "consensus metadata is empty"
                    || e.starts_with("consensus metadata does not decode: ")
                    || e.starts_with("consensus metadata has "),
                "{e}"
            ),
        }
        Ok(())
    }

    fn check_snapshot(bytes: &[u8]) -> Result<(), TestCaseError> {
        match decode_snapshot(bytes) {
            Ok(s) => {
                let again = snapshot_bytes(&s);
                prop_assert_eq!(decode_snapshot(&again).unwrap(), s);
            }
            Err(e) => prop_assert!(e.starts_with("the snapshot "), "{e}"),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_bytes_are_consensus_metadata_or_refused(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
        ) {
            check_meta(&bytes)?;
            let mut v1 = vec![META_FORMAT_V1];
            v1.extend(&bytes);
            check_meta(&v1)?;
        }

        #[test]
        fn mutated_consensus_metadata_decodes_stably_or_is_refused(
            bytes in mutated_bytes(meta().prop_map(|m| m.encode())),
        ) {
            check_meta(&bytes)?;
        }

        #[test]
        fn consensus_metadata_reads_back(m in meta()) {
            prop_assert_eq!(AppliedMeta::decode(&m.encode()).unwrap(), m);
        }

        #[test]
        fn any_bytes_are_a_snapshot_or_refused(
            bytes in prop::collection::vec(any::<u8>(), 0..120),
        ) {
            check_snapshot(&bytes)?;
        }

        #[test]
        fn mutated_snapshots_decode_stably_or_are_refused(
            bytes in mutated_bytes(snapshot().prop_map(|s| snapshot_bytes(&s))),
        ) {
            check_snapshot(&bytes)?;
        }

        #[test]
        fn snapshots_read_back(s in snapshot()) {
            prop_assert_eq!(decode_snapshot(&snapshot_bytes(&s)).unwrap(), s);
        }

        #[test]
        fn a_snapshot_of_the_format_without_membership_proofs_reads_with_none(p in point()) {
            let v1 = postcard::to_allocvec(&p).unwrap();
            prop_assert_eq!(decode_snapshot(&v1).unwrap(), bare(p));
        }
    }

    #[test]
    fn trailing_bytes_after_metadata_or_a_snapshot_are_refused() {
        let m = AppliedMeta {
            last_applied: Some(LogId::new(CommittedLeaderId::new(2, 1), 9)),
            membership: StoredMembership::new(
                None,
                Membership::new(vec![], BTreeMap::<u64, MemberNode>::new()),
            ),
            pending: None,
        };
        let mut bytes = m.encode();
        bytes.push(0);
        assert_eq!(
            AppliedMeta::decode(&bytes).unwrap_err(),
            "consensus metadata has 1 trailing byte(s)"
        );
        let mut snap = snapshot_bytes(&bare(ChainPoint {
            height: 3,
            hash: Hash32([1; 32]),
            state_root: Hash32([2; 32]),
        }));
        snap.extend([7, 7]);
        assert_eq!(
            decode_snapshot(&snap).unwrap_err(),
            "the snapshot has 2 trailing byte(s)"
        );
    }
}
