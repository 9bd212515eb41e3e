use std::sync::Mutex;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader};
use want_types::{BlockHeader, Hash32};

use super::*;
use crate::{ApplyOutcome, ChainPoint};

const NAME: &str = "ed25519-public-key-hex";

/// Records what it applied, as a storage would: a block must extend the last applied one, and
/// the consensus metadata is stored with it.
#[derive(Default)]
struct MemApplier {
    state: Mutex<MemState>,
}

#[derive(Default, Clone)]
struct MemState {
    heights: Vec<u64>,
    meta: Option<Vec<u8>>,
    fail_at: Option<u64>,
    memberships: BTreeMap<u64, authority::MembershipRecord>,
}

impl MemApplier {
    fn heights(&self) -> Vec<u64> {
        self.state.lock().unwrap().heights.clone()
    }
    fn snapshot(&self) -> MemState {
        self.state.lock().unwrap().clone()
    }
    /// Puts the applier back to an earlier state, as if it crashed before recording what came
    /// after.
    fn crash_back_to(&self, earlier: MemState) {
        *self.state.lock().unwrap() = earlier;
    }
    fn last_applied(&self) -> Option<LogId<u64>> {
        let meta = self.state.lock().unwrap().meta.clone()?;
        AppliedMeta::decode(&meta).unwrap().last_applied
    }
}

impl BlockApplier for MemApplier {
    fn apply(
        &self,
        block: &Block,
        _members: &[[u8; 32]],
        meta: Option<&[u8]>,
    ) -> Result<ApplyOutcome, String> {
        let mut s = self.state.lock().unwrap();
        let height = block.header.height;
        if s.fail_at == Some(height) {
            return Err("state root diverged".into());
        }
        let expected = s.heights.last().copied().unwrap_or(0) + 1;
        if height != expected {
            return Err(format!("block {height} is not the next block {expected}"));
        }
        s.heights.push(height);
        s.meta = meta.map(<[u8]>::to_vec);
        Ok(ApplyOutcome::Applied(AppliedBlock {
            height,
            hash: block.hash(),
            state_root: Hash32::ZERO,
            tx_count: 0,
        }))
    }
    fn head(&self) -> Result<ChainPoint, String> {
        let h = self.heights().last().copied().unwrap_or(0);
        Ok(ChainPoint {
            height: h,
            hash: block(h).hash(),
            state_root: Hash32::ZERO,
        })
    }
    /// Catches up as a member would from its peers: here every block is known (see [`block`]).
    fn catch_up(
        &self,
        target: &ChainPoint,
        _sources: &[String],
        meta: &[u8],
    ) -> Result<(), String> {
        let mut s = self.state.lock().unwrap();
        let from = s.heights.last().copied().unwrap_or(0) + 1;
        if block(target.height).hash() != target.hash {
            return Err("the target is not on this chain".into());
        }
        s.heights.extend(from..=target.height);
        s.meta = Some(meta.to_vec());
        Ok(())
    }
    fn record_consensus_meta(&self, meta: &[u8]) -> Result<(), String> {
        self.state.lock().unwrap().meta = Some(meta.to_vec());
        Ok(())
    }
    fn record_membership(
        &self,
        record: &authority::MembershipRecord,
        meta: &[u8],
    ) -> Result<(), String> {
        self.record_memberships(std::slice::from_ref(record), Some(meta))
    }
    fn record_memberships(
        &self,
        records: &[authority::MembershipRecord],
        meta: Option<&[u8]>,
    ) -> Result<(), String> {
        let mut s = self.state.lock().unwrap();
        for r in records {
            s.memberships
                .entry(r.log_index)
                .or_insert_with(|| r.clone());
        }
        if let Some(m) = meta {
            s.meta = Some(m.to_vec());
        }
        Ok(())
    }
    fn membership_records(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<authority::MembershipRecord>, String> {
        let s = self.state.lock().unwrap();
        Ok(s.memberships
            .values()
            .filter(|r| after.is_none_or(|a| r.log_index > a))
            .take(limit)
            .cloned()
            .collect())
    }
    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, String> {
        Ok(self.state.lock().unwrap().meta.clone())
    }
}

fn block(height: u64) -> Block {
    Block {
        header: BlockHeader {
            chain_id: 1,
            height,
            prev_hash: Hash32::ZERO,
            timestamp_ms: height,
            tx_root: Hash32::ZERO,
            tx_count: 0,
            parent_state_root: Hash32::ZERO,
            proposer: vec![],
        },
        signature: vec![],
        txs: vec![],
    }
}

fn timing() -> RaftTiming {
    RaftTiming {
        heartbeat_interval_ms: 50,
        election_timeout_min_ms: 150,
        election_timeout_max_ms: 300,
        leader_wait_ms: 10_000,
        snapshot_every_entries: SNAPSHOT_EVERY_ENTRIES_DEFAULT,
    }
}

async fn start(dir: &Path, applier: &Arc<MemApplier>) -> RaftConsensus<MemApplier> {
    RaftConsensus::start(dir, 1, NAME.into(), applier.clone(), timing(), None)
        .await
        .unwrap()
}

async fn propose_range(c: &RaftConsensus<MemApplier>, heights: std::ops::RangeInclusive<u64>) {
    for h in heights {
        let applied = c.propose(block(h)).await.unwrap();
        assert_eq!(applied.height, h);
        assert_eq!(applied.hash, block(h).hash());
    }
}

#[tokio::test]
async fn single_member_becomes_leader_and_applies_each_proposal_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(MemApplier::default());
    let c = start(dir.path(), &applier).await;

    let status = c.status();
    assert_eq!(status.role, Role::Leader);
    assert!(status.term >= 1, "term {}", status.term);
    assert_eq!(status.node_id, NAME);
    assert_eq!(status.leader.as_deref(), Some(NAME));
    assert_eq!(status.members, vec![NAME.to_string()]);
    let voters: Vec<u64> = c.metrics().membership_config.voter_ids().collect();
    assert_eq!(voters, vec![1]);

    propose_range(&c, 1..=5).await;
    assert_eq!(applier.heights(), vec![1, 2, 3, 4, 5]);
    assert_eq!(
        applier.last_applied().map(|l| l.index),
        c.metrics().last_log_index,
        "the applier recorded the last log entry as applied"
    );
    assert!(dir.path().join(LOG_FILE_NAME).exists());
    c.shutdown().await.unwrap();
}

#[tokio::test]
async fn restart_keeps_the_vote_and_does_not_reapply_what_the_applier_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(MemApplier::default());
    let c = start(dir.path(), &applier).await;
    propose_range(&c, 1..=3).await;
    let before = c.metrics();
    c.shutdown().await.unwrap();
    drop(c);

    let mut log = LogStore::open(dir.path()).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(before.vote));
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id.map(|l| l.index), before.last_log_index);
    drop(log);

    let c = start(dir.path(), &applier).await;
    let after = c.metrics();
    assert!(
        after.current_term >= before.current_term
            && after.vote.leader_id.term >= before.vote.leader_id.term,
        "a restarted member keeps its term: {} then {}",
        before.current_term,
        after.current_term
    );
    assert_eq!(applier.heights(), vec![1, 2, 3], "nothing applied twice");
    propose_range(&c, 4..=4).await;
    assert_eq!(applier.heights(), vec![1, 2, 3, 4]);
    c.shutdown().await.unwrap();
}

#[tokio::test]
async fn restart_reapplies_committed_entries_the_applier_had_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(MemApplier::default());
    let c = start(dir.path(), &applier).await;
    propose_range(&c, 1..=1).await;
    let after_first = applier.snapshot();
    propose_range(&c, 2..=3).await;
    c.shutdown().await.unwrap();
    drop(c);

    // The applier "crashed" after block 1: blocks 2 and 3 are committed in the log only.
    applier.crash_back_to(after_first);
    assert_eq!(applier.heights(), vec![1]);

    let c = start(dir.path(), &applier).await;
    assert_eq!(
        applier.heights(),
        vec![1, 2, 3],
        "committed blocks re-applied"
    );
    assert_eq!(
        applier.last_applied().map(|l| l.index),
        c.metrics().last_log_index
    );
    propose_range(&c, 4..=4).await;
    assert_eq!(applier.heights(), vec![1, 2, 3, 4]);
    c.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_apply_failure_is_an_error_from_propose_and_stops_consensus() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(MemApplier::default());
    applier.state.lock().unwrap().fail_at = Some(2);
    let c = start(dir.path(), &applier).await;
    propose_range(&c, 1..=1).await;

    let err = c.propose(block(2)).await.unwrap_err();
    match &err {
        ConsensusError::Apply { height, reason } => {
            assert_eq!(*height, 2);
            assert!(reason.contains("state root diverged"), "{reason}");
        }
        other => panic!("expected an apply error, got {other}"),
    }
    let err = c.propose(block(3)).await.unwrap_err();
    assert!(
        matches!(&err, ConsensusError::Fatal(m) if m.contains("block 2")),
        "later proposals say why consensus stopped: {err}"
    );
    assert_eq!(
        applier.heights(),
        vec![1],
        "the failed block was not skipped"
    );
    let _ = c.shutdown().await;
}

#[tokio::test]
async fn a_restart_after_an_apply_failure_retries_the_failed_block() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(MemApplier::default());
    applier.state.lock().unwrap().fail_at = Some(2);
    let c = start(dir.path(), &applier).await;
    propose_range(&c, 1..=1).await;
    let err = c.propose(block(2)).await.unwrap_err();
    assert!(
        matches!(&err, ConsensusError::Apply { height: 2, reason } if reason.contains("state root diverged")),
        "{err}"
    );
    let _ = c.shutdown().await;
    drop(c);

    // Still failing: start refuses, naming the block.
    let err = RaftConsensus::start(dir.path(), 1, NAME.into(), applier.clone(), timing(), None)
        .await
        .err()
        .expect("start fails while the committed block cannot be applied");
    assert!(
        matches!(&err, ConsensusError::Apply { height: 2, .. }),
        "{err}"
    );

    // Cause fixed: the committed block is applied on start.
    applier.state.lock().unwrap().fail_at = None;
    let c = start(dir.path(), &applier).await;
    assert_eq!(applier.heights(), vec![1, 2]);
    propose_range(&c, 3..=3).await;
    c.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_snapshot_is_the_applied_chain_point_with_its_log_id_and_membership() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(MemApplier::default());
    let c = start(dir.path(), &applier).await;
    for h in 1..=3 {
        c.propose(block(h)).await.unwrap();
    }
    c.raft.trigger().snapshot().await.unwrap();
    let m = c
        .raft
        .wait(Some(Duration::from_secs(5)))
        .metrics(|m| m.snapshot.is_some(), "snapshot built")
        .await
        .unwrap();
    assert_eq!(m.snapshot, m.last_applied);
    let mut sm = BlockStateMachine::new(applier.clone(), Arc::new(Mutex::new(None)));
    use openraft::storage::RaftStateMachine;
    sm.applied_state().await.unwrap();
    let snap = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    let data: SnapshotData = postcard::from_bytes(snap.snapshot.get_ref()).unwrap();
    assert_eq!(data.point.height, 3);
    assert_eq!(data.point.hash, block(3).hash());
    assert_eq!(snap.meta.last_log_id, applier.last_applied());
    assert_eq!(
        snap.meta
            .last_membership
            .membership()
            .voter_ids()
            .collect::<Vec<_>>(),
        vec![1]
    );
    let _ = c.shutdown().await;
}

#[tokio::test]
async fn installing_a_snapshot_catches_the_chain_up_and_records_its_log_id() {
    let dir = tempfile::tempdir().unwrap();
    let source = Arc::new(MemApplier::default());
    let c = start(dir.path(), &source).await;
    for h in 1..=4 {
        c.propose(block(h)).await.unwrap();
    }
    let mut sm = BlockStateMachine::new(source.clone(), Arc::new(Mutex::new(None)));
    use openraft::storage::RaftStateMachine;
    sm.applied_state().await.unwrap();
    let snap = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    let _ = c.shutdown().await;

    // The receiver walks the snapshot's membership history from the genesis members.
    let genesis = authority::MembershipState::genesis(
        snap.meta
            .last_membership
            .membership()
            .nodes()
            .map(|(id, n)| (*id, n.clone()))
            .collect(),
    );
    let target = Arc::new(MemApplier::default());
    let mut sm = BlockStateMachine::new(target.clone(), Arc::new(Mutex::new(None)))
        .with_genesis(Some(genesis.clone()));
    sm.applied_state().await.unwrap();
    sm.install_snapshot(&snap.meta, snap.snapshot)
        .await
        .unwrap();
    assert_eq!(target.heights(), vec![1, 2, 3, 4]);
    assert_eq!(target.last_applied(), snap.meta.last_log_id);
    // The membership change it proved is in the receiver's history.
    let history = target.membership_records(None, 10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].step, Some(authority::Step::Initial));

    // A snapshot whose membership its history does not prove is not installed.
    let mut sm = BlockStateMachine::new(source.clone(), Arc::new(Mutex::new(None)));
    sm.applied_state().await.unwrap();
    let snap = sm
        .get_current_snapshot()
        .await
        .unwrap()
        .expect("a snapshot");
    let mut meta = snap.meta.clone();
    let mut nodes: BTreeMap<u64, MemberNode> = meta
        .last_membership
        .membership()
        .nodes()
        .map(|(id, n)| (*id, n.clone()))
        .collect();
    nodes.insert(2, MemberNode::default());
    meta.last_membership = openraft::StoredMembership::new(
        *meta.last_membership.log_id(),
        openraft::Membership::new(vec![[1, 2].into()], nodes),
    );
    let other = Arc::new(MemApplier::default());
    let mut sm = BlockStateMachine::new(other.clone(), Arc::new(Mutex::new(None)))
        .with_genesis(Some(genesis));
    sm.applied_state().await.unwrap();
    let err = sm.install_snapshot(&meta, snap.snapshot).await.unwrap_err();
    assert!(err.to_string().contains("does not follow"), "{err}");
    assert!(other.heights().is_empty(), "nothing fetched or executed");
}

fn entry(term: u64, index: u64, payload: EntryPayload<TypeConfig>) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, 1), index),
        payload,
    }
}

#[tokio::test]
async fn log_store_truncates_and_purges_for_real_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = LogStore::open(dir.path()).unwrap();
    let entries: Vec<_> = (0..10).map(|i| entry(1, i, EntryPayload::Blank)).collect();
    log.blocking_append(entries).await.unwrap();

    log.truncate(LogId::new(CommittedLeaderId::new(1, 1), 7))
        .await
        .unwrap();
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_log_id.map(|l| l.index), Some(6));

    log.purge(LogId::new(CommittedLeaderId::new(1, 1), 3))
        .await
        .unwrap();
    let left: Vec<u64> = log
        .try_get_log_entries(0..100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.log_id.index)
        .collect();
    assert_eq!(left, vec![4, 5, 6]);
    drop(log);

    let mut log = LogStore::open(dir.path()).unwrap();
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(3));
    assert_eq!(state.last_log_id.map(|l| l.index), Some(6));
    log.purge(LogId::new(CommittedLeaderId::new(1, 1), 6))
        .await
        .unwrap();
    let state = log.get_log_state().await.unwrap();
    assert_eq!(
        state.last_log_id.map(|l| l.index),
        Some(6),
        "with every entry purged the last log id is the last purged one"
    );
}

#[test]
fn a_block_entry_costs_little_more_than_the_block_bytes() {
    let bytes = block(7).to_bytes();
    let e = entry(
        3,
        42,
        EntryPayload::Normal(Proposal {
            block: bytes.clone(),
        }),
    );
    let encoded = postcard::to_allocvec(&e).unwrap();
    assert!(
        encoded.len() <= bytes.len() + 16,
        "{} bytes for a {}-byte block",
        encoded.len(),
        bytes.len()
    );
    let back: Entry<TypeConfig> = postcard::from_bytes(&encoded).unwrap();
    match back.payload {
        EntryPayload::Normal(p) => assert_eq!(Block::from_bytes(&p.block).unwrap(), block(7)),
        _ => panic!("payload changed kind"),
    }
}

#[test]
fn consensus_meta_refuses_an_unknown_format_instead_of_starting_over() {
    let meta = AppliedMeta {
        last_applied: Some(LogId::new(CommittedLeaderId::new(2, 1), 9)),
        membership: Default::default(),
        pending: None,
    };
    let bytes = meta.encode();
    assert_eq!(AppliedMeta::decode(&bytes).unwrap(), meta);
    let mut future = bytes.clone();
    future[0] = 9;
    assert!(AppliedMeta::decode(&future)
        .unwrap_err()
        .contains("format 9"));
    assert_eq!(
        AppliedMeta::decode(&[]).unwrap_err(),
        "consensus metadata is empty"
    );
}

/// An append-entries request of leader 1 in `c`'s current term, after `c`'s last entry.
fn append_after(
    c: &RaftConsensus<MemApplier>,
    payloads: Vec<EntryPayload<TypeConfig>>,
) -> openraft::raft::AppendEntriesRequest<TypeConfig> {
    let m = c.metrics();
    let prev = m.last_applied.unwrap();
    let leader = CommittedLeaderId::new(m.current_term, 1);
    openraft::raft::AppendEntriesRequest {
        vote: m.vote,
        prev_log_id: Some(prev),
        entries: payloads
            .into_iter()
            .zip(prev.index + 1..)
            .map(|(payload, index)| Entry {
                log_id: LogId::new(leader, index),
                payload,
            })
            .collect(),
        leader_commit: Some(prev),
    }
}

#[tokio::test]
async fn a_follower_refuses_a_membership_entry_its_voters_did_not_approve_and_takes_an_approved_one(
) {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(MemApplier::default());
    let key = want_crypto::NodeKey::generate();
    let name = hex::encode(key.public_key());
    let c = RaftConsensus::start(dir.path(), 1, name.clone(), applier.clone(), timing(), None)
        .await
        .unwrap();
    propose_range(&c, 1..=2).await;
    let index = c.membership_index();
    let newcomer = want_crypto::NodeKey::generate();
    let node_2 = MemberNode {
        public_key: hex::encode(newcomer.public_key()),
        addr: "http://10.0.0.2:7000".into(),
    };
    let with_2 = || {
        EntryPayload::Membership(openraft::Membership::new(
            vec![[1].into()],
            BTreeMap::from([
                (
                    1,
                    MemberNode {
                        public_key: name.clone(),
                        addr: String::new(),
                    },
                ),
                (2, node_2.clone()),
            ]),
        ))
    };
    let cmd = AdminCommand::AddMember {
        id: 2,
        public_key: node_2.public_key.clone(),
        url: node_2.addr.clone(),
    };
    let request = |signer: &want_crypto::NodeKey| approval::AdminRequest {
        cmd: cmd.clone(),
        membership_index: index,
        // Chain 0: a single member's (it has no transport).
        approvals: vec![approval::approve(0, index, &cmd, 1, signer)],
    };

    // A membership entry alone: refused, even when the leader says it is committed.
    let mut alone = append_after(&c, vec![with_2()]);
    alone.leader_commit = alone.entries.last().map(|e| e.log_id);
    let err = c.check_membership_entries(1, &alone).await.unwrap_err();
    assert_eq!(err.code(), "unauthorized_membership", "{err}");
    // After a request approved by a key that is not node 1's: refused.
    let forged = append_after(
        &c,
        vec![
            EntryPayload::Normal(Proposal::admin(&request(&newcomer))),
            with_2(),
        ],
    );
    assert!(c.check_membership_entries(1, &forged).await.is_err());
    // After a request the voters (node 1) approved: taken, with the request carried out.
    let approved = append_after(
        &c,
        vec![
            EntryPayload::Normal(Proposal::admin(&request(&key))),
            with_2(),
        ],
    );
    let (last, state) = c
        .check_membership_entries(1, &approved)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Some(last), approved.entries.last().map(|e| e.log_id));
    assert_eq!(state.nodes.get(&2), Some(&node_2));
    assert!(state.pending.is_some(), "the voter step is still to come");
    // The block check passes over the admin entry (it is not a block).
    c.check_entries(1, &approved).await.unwrap();
    c.shutdown().await.unwrap();
}

#[test]
fn consensus_meta_of_format_1_reads_with_no_pending_request() {
    let v1 = AppliedMetaV1Shape {
        last_applied: Some(LogId::new(CommittedLeaderId::new(2, 1), 9)),
        membership: Default::default(),
    };
    let mut bytes = vec![1u8];
    bytes.extend(postcard::to_allocvec(&v1).unwrap());
    let meta = AppliedMeta::decode(&bytes).unwrap();
    assert_eq!(meta.last_applied, v1.last_applied);
    assert_eq!(meta.pending, None);
}

/// The fields of format-1 consensus metadata.
#[derive(serde::Serialize)]
struct AppliedMetaV1Shape {
    last_applied: Option<LogId<u64>>,
    membership: openraft::StoredMembership<u64, MemberNode>,
}

#[tokio::test]
async fn a_member_added_later_takes_as_first_membership_only_the_genesis_members() {
    let dir = tempfile::tempdir().unwrap();
    let applier = Arc::new(MemApplier::default());
    let keys: Vec<want_crypto::NodeKey> =
        (0..4).map(|_| want_crypto::NodeKey::generate()).collect();
    let genesis: BTreeMap<u64, MemberNode> = (1..=3u64)
        .map(|id| {
            let node = MemberNode {
                public_key: hex::encode(keys[id as usize - 1].public_key()),
                addr: format!("http://127.0.0.1:{id}"),
            };
            (id, node)
        })
        .collect();
    // Node 4 is not a genesis member: its log starts empty.
    let transport = Transport::new(4, 7, keys[3].clone(), BTreeMap::new(), false).unwrap();
    let c = RaftConsensus::start(
        dir.path(),
        4,
        hex::encode(keys[3].public_key()),
        applier.clone(),
        timing(),
        Some(ClusterNet {
            transport: Arc::new(transport),
            initial_members: genesis.clone(),
            clock: crate::system_clock(),
        }),
    )
    .await
    .unwrap();
    let first = |nodes: BTreeMap<u64, MemberNode>| openraft::raft::AppendEntriesRequest {
        vote: openraft::Vote::new_committed(1, 1),
        prev_log_id: None,
        entries: vec![Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), 0),
            payload: EntryPayload::Membership(openraft::Membership::new(
                vec![nodes.keys().copied().collect()],
                nodes,
            )),
        }],
        leader_commit: None,
    };
    c.check_membership_entries(1, &first(genesis.clone()))
        .await
        .unwrap();
    // A leader's own first membership: node 2 with a key it holds.
    let mut other = genesis.clone();
    other.get_mut(&2).unwrap().public_key = hex::encode(keys[3].public_key());
    let err = c
        .check_membership_entries(1, &first(other))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unauthorized_membership", "{err}");
    assert!(err.to_string().contains("genesis"), "{err}");
    c.shutdown().await.unwrap();
}
