//! [`RaftConsensus`]: consensus through openraft 0.9. Today the node runs it as a single-member
//! cluster (node id 1, the only voter and the leader); the multi-node cluster uses the same type
//! with a real network.
//!
//! - Log: `raft-log.redb` in the node's data directory ([`LogStore`]), entries fsynced before
//!   openraft counts them as appended.
//! - State machine: the [`BlockApplier`]; the last applied log id and the membership travel as
//!   the applier's opaque consensus metadata, written atomically with each block
//!   ([`BlockStateMachine`]). After a crash openraft re-applies exactly the committed entries the
//!   applier had not recorded.
//! - Snapshots: a chain point (see [`BlockStateMachine`]); the log is purged behind them.
//! - Network: a single member has none ([`NoNetwork`]); a cluster's members talk through
//!   [`SignedNetwork`], every RPC and answer a signed envelope.

pub mod approval;
pub mod authority;
pub mod guard;
mod log_store;
mod network;
pub mod runtime;
mod state_machine;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, InitializeError, RaftError};
use openraft::metrics::WaitError;
use openraft::{Config, Raft, RaftMetrics, ServerState, SnapshotPolicy};
use serde::{Deserialize, Serialize};
use tracing::info;
use want_types::Block;

pub use log_store::{LogStore, LOG_FILE_NAME};
pub use network::{NoNetwork, SignedNetwork, APPEND_BATCH_BYTES_MAX};
pub use state_machine::{
    decode_snapshot, AppliedMeta, ApplyFailure, BlockStateMachine, SnapshotData,
};

use crate::net::{CheckedHeader, Envelope, MsgKind, Peer, Refusal, Transport};
use crate::{AppliedBlock, BlockApplier, Clock, Consensus, ConsensusError, ConsensusStatus, Role};
use guard::{LeaderClaim, ProvenLeaders, VoterView};

openraft::declare_raft_types!(
    /// openraft type configuration of WANT chain.
    pub TypeConfig:
        D = Proposal,
        R = Applied,
        NodeId = u64,
        Node = MemberNode,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = runtime::ConsensusRuntime,
);

/// Raft's metrics of this cluster (role, term, log indexes, membership).
pub type ClusterMetrics = RaftMetrics<u64, MemberNode>;

/// A member of the cluster as the membership records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberNode {
    /// The member's Ed25519 public key, hex: its name in status output.
    pub public_key: String,
    /// Where its Raft RPCs go (empty while the cluster has a single member).
    pub addr: String,
}

impl MemberNode {
    /// The member as the transport needs it (None if its key is not 64 hex digits).
    pub fn peer(&self) -> Option<crate::net::Peer> {
        Some(crate::net::Peer {
            public_key: self.key_bytes()?,
            url: self.addr.clone(),
        })
    }

    /// The member's Ed25519 public key.
    pub fn key_bytes(&self) -> Option<[u8; 32]> {
        hex::decode(&self.public_key).ok()?.try_into().ok()
    }
}

/// The application data of a Raft log entry: one proposed block, as its canonical borsh bytes
/// (compact in the log; decoded only when applied).
#[derive(Clone, Serialize, Deserialize)]
pub struct Proposal {
    #[serde(with = "serde_bytes")]
    pub block: Vec<u8>,
}

/// What an admin entry's bytes begin with (a block's borsh bytes begin with its chain id, never
/// with these).
const ADMIN_ENTRY_PREFIX: &[u8] = b"\xffWANT-admin-request-v1\x00";

impl Proposal {
    /// The log entry that carries an accepted membership request with its approvals, written
    /// by the leader right before the membership entries (see [`authority`]).
    pub fn admin(req: &approval::AdminRequest) -> Proposal {
        let mut block = ADMIN_ENTRY_PREFIX.to_vec();
        block.extend(
            postcard::to_allocvec(req)
                .expect("invariant: postcard encoding into a Vec cannot fail"),
        );
        Proposal { block }
    }

    /// The membership request of an admin entry (None: the entry is a block proposal; an
    /// error: an admin entry that does not decode).
    pub fn admin_request(&self) -> Option<Result<approval::AdminRequest, String>> {
        let rest = self.block.strip_prefix(ADMIN_ENTRY_PREFIX)?;
        Some(match postcard::take_from_bytes(rest) {
            Ok((req, [])) => Ok(req),
            Ok((_, extra)) => Err(format!("{} bytes after the admin request", extra.len())),
            Err(e) => Err(format!("the admin request does not decode: {e}")),
        })
    }
}

impl std::fmt::Debug for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proposal({} block bytes)", self.block.len())
    }
}

/// What applying one log entry produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Applied {
    Block(AppliedBlock),
    /// The block did not extend the chain when its turn came (a leader proposed it on a head
    /// that another block had meanwhile extended): every node skips it alike.
    Stale {
        height: u64,
        reason: String,
    },
    /// A blank or membership entry: no block.
    NoBlock,
}

/// Timing of the Raft cluster.
#[derive(Clone, Copy, Debug)]
pub struct RaftTiming {
    pub heartbeat_interval_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// How long `start` waits for this node to become leader and catch up.
    pub leader_wait_ms: u64,
    /// A snapshot every this many log entries (see [`SNAPSHOT_EVERY_ENTRIES_DEFAULT`]).
    pub snapshot_every_entries: u64,
}

impl Default for RaftTiming {
    /// Suits a single member: it elects itself one election timeout after a restart.
    fn default() -> Self {
        RaftTiming {
            heartbeat_interval_ms: 100,
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 600,
            leader_wait_ms: 10_000,
            snapshot_every_entries: SNAPSHOT_EVERY_ENTRIES_DEFAULT,
        }
    }
}

/// Consensus through openraft (see the module documentation).
pub struct RaftConsensus<A: BlockApplier> {
    raft: Raft<TypeConfig>,
    node_id: u64,
    node_name: String,
    failure: Arc<Mutex<Option<ApplyFailure>>>,
    transport: Option<Arc<Transport>>,
    applier: Arc<A>,
    clock: Clock,
    /// The leaders proven recently (see [`guard`]); shared with the network.
    proven: Arc<Mutex<ProvenLeaders>>,
    /// Reads the Raft log (the membership walk of [`Self::check_entries`]).
    log: LogStore,
    /// The membership walk's state after the last entry appended here, with that entry's id.
    walked: Mutex<Option<(openraft::LogId<u64>, authority::MembershipState)>>,
    /// One membership request at a time (each is bound to the membership it was approved for).
    admin_lock: tokio::sync::Mutex<()>,
    /// Held from the checks of an append-entries request with entries (membership steps, blocks)
    /// to its append, and across a snapshot install: two requests handled at once must not
    /// interleave, or one checked against the log before the other's entries were written would
    /// be appended after them unchecked.
    append_lock: tokio::sync::Mutex<()>,
    /// The genesis members (a cluster's), which the log's first membership must name.
    genesis: Option<authority::MembershipState>,
}

/// Default snapshot interval in log entries. Half as many entries are kept behind a snapshot
/// (a member a little behind catches up from them); a member more than 2.5 intervals behind
/// catches up by snapshot (fetching blocks) instead of log entries.
pub const SNAPSHOT_EVERY_ENTRIES_DEFAULT: u64 = 2_000;
/// Smallest snapshot interval accepted.
pub const SNAPSHOT_EVERY_ENTRIES_MIN: u64 = 10;

/// How far after a member's clock a block the leader says is committed may be dated (looser
/// than [`crate::BLOCK_TIME_DRIFT_MS`]: a member whose clock runs a little behind must still
/// take committed blocks; a leader must not freeze chain time by calling a far-future block
/// committed).
pub const COMMITTED_BLOCK_TIME_DRIFT_MS: u64 = 10 * 60 * 1_000;

/// Most bytes of a snapshot's data (its chain point and membership history, at most
/// [`authority::SNAPSHOT_HISTORY_RECORDS_MAX`] records): it is sent in one message, within
/// [`crate::net::ENVELOPE_BYTES_MAX`].
pub const SNAPSHOT_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// Most Raft entries (blocks) in one append-entries message.
pub const RAFT_PAYLOAD_ENTRIES_MAX: u64 = 16;

/// The network of a multi-node cluster.
pub struct ClusterNet {
    pub transport: Arc<Transport>,
    /// The genesis members, with which a fresh log is initialized (every genesis member
    /// initializes alike); a node added later finds itself absent and waits to be added.
    pub initial_members: BTreeMap<u64, MemberNode>,
    /// This member's clock (bounds the timestamps of proposed blocks).
    pub clock: Clock,
}

/// A membership change, sent by a member's operator in an envelope signed with that member's
/// node key (`want cluster add-node | remove-node | set-key`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdminCommand {
    AddMember {
        id: u64,
        public_key: String,
        url: String,
    },
    RemoveMember {
        id: u64,
    },
    SetMemberKey {
        id: u64,
        public_key: String,
        url: String,
    },
}

/// Sends a membership change to member `to` (the leader), signed as member `from` with `key`,
/// with the other voters' approvals in `req` (see [`approval`]).
pub async fn send_admin(
    chain_id: u64,
    from: u64,
    key: want_crypto::NodeKey,
    to: u64,
    peer: Peer,
    req: &approval::AdminRequest,
) -> Result<String, String> {
    // The sender approves what it sends: only signatures count (the log carries them).
    let mut req = req.clone();
    if !req.approvals.iter().any(|a| a.member == from) {
        req.approvals.push(approval::approve(
            chain_id,
            req.membership_index,
            &req.cmd,
            from,
            &key,
        ));
    }
    // The leader is the one member this transport talks to: its key is the one to trust (its
    // envelopes' and, over `https://`, its TLS certificate's).
    let transport = Transport::new(
        from,
        chain_id,
        key,
        BTreeMap::from([(to, peer.clone())]),
        false,
    )?;
    let payload =
        postcard::to_allocvec(&req).expect("invariant: postcard encoding into a Vec cannot fail");
    let answer = transport
        .call(
            to,
            &peer,
            MsgKind::Admin,
            payload,
            Duration::from_secs(ADMIN_TIMEOUT_S),
        )
        .await
        .map_err(|e| e.to_string())?;
    let result: Result<String, String> =
        postcard::from_bytes(&answer).map_err(|e| format!("the answer does not decode: {e}"))?;
    result
}

/// How long a membership change may take (adding a member waits until it caught up).
pub const ADMIN_TIMEOUT_S: u64 = 600;

/// What a member's message asks of this node once its envelope is open.
pub enum Inbound {
    /// A Raft RPC, answered: the sealed answer to send back.
    Answer(Vec<u8>),
    /// An application message (e.g. forwarded transactions) for the node to answer.
    App(Envelope),
}

/// Encoding of Raft answers without naming each result type.
mod erased {
    pub trait Encode {
        fn encode(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Encode for T {
        fn encode(&self) -> Vec<u8> {
            postcard::to_allocvec(self)
                .expect("invariant: postcard encoding into a Vec cannot fail")
        }
    }
}

/// Keeps the transport's member list equal to Raft's membership (voters and learners).
fn spawn_membership_watch(
    mut metrics: tokio::sync::watch::Receiver<RaftMetrics<u64, MemberNode>>,
    transport: Arc<Transport>,
) {
    tokio::spawn(async move {
        let mut last = None;
        loop {
            let members: BTreeMap<u64, Peer> = {
                let m = metrics.borrow_and_update();
                m.membership_config
                    .membership()
                    .nodes()
                    .filter_map(|(id, n)| n.peer().map(|p| (*id, p)))
                    .collect()
            };
            if last.as_ref() != Some(&members) && !members.is_empty() {
                transport.set_members(members.clone());
                last = Some(members);
            }
            if metrics.changed().await.is_err() {
                break;
            }
        }
    });
}

impl<A: BlockApplier> RaftConsensus<A> {
    /// Opens the Raft log in `data_dir` and starts Raft.
    ///
    /// Without `cluster`, this node is the single member: it initializes the cluster if the
    /// log is empty and waits until it is leader and has applied every committed entry (at
    /// most `timing.leader_wait_ms`). With `cluster`, RPCs go through its signed transport; a
    /// fresh log is initialized with `cluster.initial_members` if this node is one of them (every
    /// genesis member does so alike), and `start` returns at once: the election follows.
    pub async fn start(
        data_dir: &Path,
        node_id: u64,
        node_name: String,
        applier: Arc<A>,
        timing: RaftTiming,
        cluster: Option<ClusterNet>,
    ) -> Result<Self, ConsensusError> {
        let config = Config {
            cluster_name: "want".into(),
            heartbeat_interval: timing.heartbeat_interval_ms,
            election_timeout_min: timing.election_timeout_min_ms,
            election_timeout_max: timing.election_timeout_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(timing.snapshot_every_entries),
            max_in_snapshot_log_to_keep: timing.snapshot_every_entries / 2,
            replication_lag_threshold: timing.snapshot_every_entries.saturating_mul(5) / 2,
            max_payload_entries: RAFT_PAYLOAD_ENTRIES_MAX,
            install_snapshot_timeout: network::SNAPSHOT_RPC_TIMEOUT_MS,
            snapshot_max_chunk_size: SNAPSHOT_BYTES_MAX,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ConsensusError::Config(e.to_string()))?;
        let mut log = LogStore::open(data_dir)?;
        info!(target: "consensus", "Raft log {}", log.path().display());
        log_recovery(&mut log, &*applier).await;
        if cluster.is_some() {
            step_down_after_restart(&mut log, node_id).await?;
        }
        let failure = Arc::new(Mutex::new(None));
        let transport = cluster.as_ref().map(|c| c.transport.clone());
        let genesis = cluster
            .as_ref()
            .filter(|c| !c.initial_members.is_empty())
            .map(|c| authority::MembershipState::genesis(c.initial_members.clone()));
        let sm = BlockStateMachine::new(applier.clone(), failure.clone())
            .with_chain_id(transport.as_ref().map_or(0, |t| t.chain_id()))
            .with_genesis(genesis.clone());
        let log_reader = log.clone();
        let proven: Arc<Mutex<ProvenLeaders>> = Arc::default();
        let raft = match &transport {
            None => Raft::new(node_id, Arc::new(config), NoNetwork, log, sm).await,
            Some(t) => {
                let net = SignedNetwork::new(t.clone(), proven.clone());
                Raft::new(node_id, Arc::new(config), net, log, sm).await
            }
        };
        let raft = match raft {
            Ok(raft) => raft,
            // Re-applying committed entries at startup failed.
            Err(f) => return Err(stop_reason(&failure, f, None)),
        };
        let consensus = RaftConsensus {
            raft,
            node_id,
            node_name: node_name.clone(),
            failure,
            transport,
            applier,
            clock: cluster
                .as_ref()
                .map(|c| c.clock.clone())
                .unwrap_or_else(crate::system_clock),
            proven,
            log: log_reader,
            walked: Mutex::new(None),
            admin_lock: tokio::sync::Mutex::new(()),
            append_lock: tokio::sync::Mutex::new(()),
            genesis,
        };
        let members = match &cluster {
            None => BTreeMap::from([(
                node_id,
                MemberNode {
                    public_key: node_name,
                    addr: String::new(),
                },
            )]),
            Some(c) => c.initial_members.clone(),
        };
        let initialized = match consensus.raft.is_initialized().await {
            Ok(i) => i,
            Err(f) => return Err(consensus.fatal(f, None)),
        };
        if initialized {
            info!(target: "consensus", "Raft log already initialized; resuming");
        } else if members.contains_key(&node_id) {
            match consensus.raft.initialize(members.clone()).await {
                Ok(()) => {
                    info!(target: "consensus", "initialized the Raft cluster with members {:?}", members.keys().collect::<Vec<_>>())
                }
                // Initialized meanwhile (or by a vote from a member): as good as done.
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(RaftError::APIError(e)) => {
                    return Err(ConsensusError::Fatal(format!(
                        "cannot initialize the cluster: {e}"
                    )))
                }
                Err(RaftError::Fatal(f)) => return Err(consensus.fatal(f, None)),
            }
        } else {
            info!(target: "consensus", "node {node_id} is not a genesis member: waiting for the leader to add it");
        }
        if let Some(t) = &consensus.transport {
            spawn_membership_watch(consensus.raft.metrics(), t.clone());
            return Ok(consensus);
        }
        let waited = consensus
            .raft
            .wait(Some(Duration::from_millis(timing.leader_wait_ms)))
            .metrics(
                |m| {
                    m.state == ServerState::Leader
                        && m.current_leader == Some(node_id)
                        && m.last_applied.map(|l| l.index) == m.last_log_index
                },
                "leader with every committed entry applied",
            )
            .await;
        match waited {
            Ok(m) => {
                info!(target: "consensus", "node {node_id} is leader in term {}, log applied up to {:?}", m.current_term, m.last_log_index);
                Ok(consensus)
            }
            Err(e) => {
                let running = consensus.raft.metrics().borrow().running_state.clone();
                let err = match running {
                    Err(f) => consensus.fatal(f, None),
                    Ok(()) => match e {
                        WaitError::Timeout(t, _) => ConsensusError::Fatal(format!(
                            "node {node_id} did not become leader within {} ms",
                            t.as_millis()
                        )),
                        WaitError::ShuttingDown => ConsensusError::ShuttingDown,
                    },
                };
                let _ = consensus.raft.shutdown().await;
                Err(err)
            }
        }
    }

    /// Checks the sealed header of a message from another member (the `x-want-envelope` field;
    /// `None` when the request has none) before its body is read: see
    /// [`crate::net::Transport::check_header`].
    pub fn check_rpc_header(&self, field: Option<&[u8]>) -> Result<CheckedHeader, Refusal> {
        let field = field.ok_or(Refusal::Unsigned)?;
        self.transport
            .as_ref()
            .ok_or_else(|| Refusal::Malformed("this node runs a single-member chain".into()))?
            .check_header(Some(field))
    }

    /// Handles a message from another member whose header passed [`Self::check_rpc_header`],
    /// with its body: opens its envelope (nothing unchecked reaches openraft), then answers
    /// Raft RPCs here and hands application messages to the caller.
    pub async fn handle_rpc(
        &self,
        checked: CheckedHeader,
        payload: Vec<u8>,
    ) -> Result<Inbound, Refusal> {
        let transport = self
            .transport
            .as_ref()
            .ok_or_else(|| Refusal::Malformed("this node runs a single-member chain".into()))?;
        let env = transport.open_payload(checked, payload)?;
        let malformed = |e: postcard::Error| {
            Refusal::Malformed(format!("{} payload: {e}", env.header.kind.as_str()))
        };
        let encode = |v: &dyn erased::Encode| v.encode();
        let from = env.header.from;
        let answer = match env.header.kind {
            MsgKind::AppendEntries => {
                let claim: LeaderClaim<openraft::raft::AppendEntriesRequest<TypeConfig>> =
                    postcard::from_bytes(&env.payload).map_err(malformed)?;
                self.check_leader(from, &claim.req.vote, &claim.proof)?;
                // A heartbeat (no entries) writes nothing and waits for no check.
                let _checked_to_appended = if claim.req.entries.is_empty() {
                    None
                } else {
                    Some(self.append_lock.lock().await)
                };
                let walked = self.check_membership_entries(from, &claim.req).await?;
                self.check_entries(from, &claim.req).await?;
                let resp = self.raft.append_entries(claim.req).await;
                if let (Ok(openraft::raft::AppendEntriesResponse::Success), Some(w)) =
                    (&resp, walked)
                {
                    if let Ok(mut slot) = self.walked.lock() {
                        *slot = Some(w);
                    }
                }
                encode(&resp)
            }
            MsgKind::Vote => {
                let req: openraft::raft::VoteRequest<u64> =
                    postcard::from_bytes(&env.payload).map_err(malformed)?;
                self.check_speaks_for_itself(from, &req.vote)?;
                if req.vote.is_committed() {
                    // A candidate asks; only an election makes a leader.
                    return Err(Refusal::UnprovenLeader {
                        from,
                        term: req.vote.leader_id().term,
                        reason: "a vote request may not carry a committed vote".into(),
                    });
                }
                encode(&self.raft.vote(req).await)
            }
            MsgKind::InstallSnapshot => {
                let claim: LeaderClaim<openraft::raft::InstallSnapshotRequest<TypeConfig>> =
                    postcard::from_bytes(&env.payload).map_err(malformed)?;
                self.check_leader(from, &claim.req.vote, &claim.proof)?;
                let _no_append_meanwhile = self.append_lock.lock().await;
                self.check_snapshot_membership(from, &claim.req).await?;
                let resp = self.raft.install_snapshot(claim.req).await;
                // The log's membership walk starts again from the installed state.
                if let Ok(mut slot) = self.walked.lock() {
                    *slot = None;
                }
                encode(&resp)
            }
            MsgKind::Admin => {
                let req: approval::AdminRequest =
                    postcard::from_bytes(&env.payload).map_err(malformed)?;
                let result = if self.is_voter(from) {
                    self.admin_request(transport.chain_id(), req).await
                } else {
                    Err(format!(
                        "node {from} is not a voting member: only voting members may change the membership"
                    ))
                };
                encode(&result)
            }
            MsgKind::ForwardTxs | MsgKind::Response => return Ok(Inbound::App(env)),
        };
        Ok(Inbound::Answer(transport.answer(&env, answer)))
    }

    /// The voting members as this node knows them, with their keys.
    fn voter_view(&self) -> VoterView {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let membership = m.membership_config.membership();
        VoterView {
            configs: membership.get_joint_config().clone(),
            keys: membership
                .nodes()
                .filter_map(|(id, n)| Some((*id, n.key_bytes()?)))
                .collect(),
        }
    }

    /// A Raft message names its sender as the candidate or leader, and the sender is a voter.
    /// A node that knows no membership yet (added later, before the leader's first entries)
    /// takes the members its transport knows (the genesis and configured peers).
    fn check_speaks_for_itself(
        &self,
        from: u64,
        vote: &openraft::Vote<u64>,
    ) -> Result<VoterView, Refusal> {
        let claimed = vote.leader_id().voted_for();
        if claimed != Some(from) {
            return Err(Refusal::Impersonation { from, claimed });
        }
        let voters = self.voter_view();
        if voters.is_known() && !voters.is_voter(from) {
            return Err(Refusal::NotAVoter { from });
        }
        Ok(voters)
    }

    /// A leader's request: the sender speaks for itself, and proves with a quorum of signed vote
    /// grants that it won the term (checked once per term and leader).
    fn check_leader(
        &self,
        from: u64,
        vote: &openraft::Vote<u64>,
        proof: &[Vec<u8>],
    ) -> Result<(), Refusal> {
        let voters = self.check_speaks_for_itself(from, vote)?;
        let term = vote.leader_id().term;
        let unproven = |reason: String| Refusal::UnprovenLeader { from, term, reason };
        let proven = self
            .proven
            .lock()
            .map_err(|_| unproven("the proven-leader record is poisoned".into()))?
            .contains(term, from);
        // This node accepted that leader before (a committed vote names it: only a proven
        // leader's entries, a proven higher vote or its own election commit a vote here, e.g.
        // before a restart that emptied the proven set): it is its own witness.
        let my_vote = self.raft.metrics().borrow().vote;
        if proven || (my_vote.is_committed() && my_vote.leader_id() == vote.leader_id()) {
            return Ok(());
        }
        let transport = self
            .transport
            .as_ref()
            .ok_or_else(|| unproven("this node runs a single-member chain".into()))?;
        let chain_id = transport.chain_id();
        // A node that knows no membership yet (added later) checks the proof against the
        // members it was configured with (the genesis members and its peers, itself excepted).
        let voters = if voters.is_known() {
            voters
        } else {
            let configured = transport.configured_members();
            VoterView {
                configs: vec![configured
                    .keys()
                    .copied()
                    .filter(|id| *id != self.node_id)
                    .collect()],
                keys: configured
                    .into_iter()
                    .map(|(id, p)| (id, p.public_key))
                    .collect(),
            }
        };
        guard::verify_leader_proof(chain_id, term, from, proof, &voters).map_err(unproven)?;
        if let Ok(mut p) = self.proven.lock() {
            p.insert(term, from);
        }
        info!(target: "consensus::guard", "node {}: node {from} proved its leadership of term {term} with {} signed grants from {:?}", self.node_id, proof.len(), proof.iter().filter_map(|p| Envelope::from_bytes(p).ok().map(|e| e.header.from)).collect::<Vec<_>>());
        Ok(())
    }

    /// Checks a snapshot's membership before Raft installs it: the snapshot must come in one
    /// message and carry the history that leads from this node's applied membership to its own
    /// ([`authority::verify_snapshot_membership`]): every change approved by a majority of the
    /// voters before it, ending at the snapshot's voters, learners, keys and URLs; and its chain
    /// point, if this node already has that height, must be this node's block there
    /// (`invalid_snapshot`). A snapshot no newer than what this node applied is left to Raft
    /// (which ignores it).
    async fn check_snapshot_membership(
        &self,
        from: u64,
        req: &openraft::raft::InstallSnapshotRequest<TypeConfig>,
    ) -> Result<(), Refusal> {
        let unreadable = |e: String| {
            Refusal::Malformed(format!(
                "this node cannot read its consensus metadata to check the snapshot's membership: {e}"
            ))
        };
        if req.offset != 0 || !req.done {
            return Err(Refusal::Malformed(format!(
                "snapshot {}: a snapshot comes in one message (this part starts at byte {}{})",
                req.meta.snapshot_id,
                req.offset,
                if req.done { "" } else { " and is not the last" }
            )));
        }
        let applied = match self.applier.consensus_meta().map_err(unreadable)? {
            Some(m) => AppliedMeta::decode(&m).map_err(unreadable)?,
            None => AppliedMeta::default(),
        };
        if req.meta.last_log_id <= applied.last_applied {
            return Ok(());
        }
        let data = state_machine::decode_snapshot(&req.data)
            .map_err(|e| Refusal::Malformed(format!("snapshot {}: {e}", req.meta.snapshot_id)))?;
        // A chain point this member already passed must be its own block there: installing a
        // contradicting one would fail (and an install that fails stops Raft on this member).
        let point = data.point;
        let ours = {
            let applier = self.applier.clone();
            runtime::blocking(move || applier.hash_at(point.height))
                .await
                .map_err(|e| Refusal::Malformed(format!("the snapshot check thread failed: {e}")))?
                .map_err(unreadable)?
        };
        if let Some(ours) = ours.filter(|h| *h != point.hash) {
            tracing::warn!(target: "consensus::guard", "refusing snapshot {} from node {from}: block {} is {} here, not {}", req.meta.snapshot_id, point.height, ours, point.hash);
            return Err(Refusal::InvalidSnapshot {
                from,
                snapshot: req.meta.snapshot_id.clone(),
                reason: format!(
                    "its chain point is block {} with hash {}, but this member's block {} is {}",
                    point.height, point.hash, point.height, ours
                ),
            });
        }
        let base = match applied.walk_state() {
            s if s.is_known() => s,
            _ => self.genesis.clone().unwrap_or_default(),
        };
        let membership = req.meta.last_membership.membership();
        let nodes: BTreeMap<u64, MemberNode> =
            membership.nodes().map(|(id, n)| (*id, n.clone())).collect();
        let configs = membership.get_joint_config().clone();
        let index = req.meta.last_membership.log_id().map(|l| l.index);
        let last_log_index = req.meta.last_log_id.map(|l| l.index);
        let chain_id = self.transport.as_ref().map_or(0, |t| t.chain_id());
        // Up to a few thousand signature checks: off the async workers.
        let verdict = runtime::blocking(move || {
            let target = authority::SnapshotMembership {
                index,
                configs: &configs,
                nodes: &nodes,
                pending: data.pending.as_ref(),
                last_log_index,
            };
            authority::verify_snapshot_membership(chain_id, &base, &data.history, &target)
                .map(|_| ())
        })
        .await
        .map_err(|e| Refusal::Malformed(format!("the snapshot check thread failed: {e}")))?;
        verdict.map_err(|reason| {
            tracing::warn!(target: "consensus::guard", "refusing snapshot {} from node {from}: {reason}", req.meta.snapshot_id);
            Refusal::UnauthorizedMembership {
                from,
                index: index.unwrap_or_default(),
                reason: format!("snapshot {}: {reason}", req.meta.snapshot_id),
            }
        })
    }

    /// Checks the blocks of an append-entries request before Raft appends them: each entry
    /// after the leader's commit index must decode and pass [`BlockApplier::check_proposal`]
    /// against the voters in force at its place in the log and this node's clock. Entries the
    /// leader says are committed are decided: they are appended as they are (a block that turns
    /// out invalid is skipped by every member alike when applied) — except that one beyond what
    /// this node has applied may not be dated more than [`COMMITTED_BLOCK_TIME_DRIFT_MS`] after
    /// its clock (a leader cannot freeze chain time by calling a far-future block committed).
    async fn check_entries(
        &self,
        from: u64,
        req: &openraft::raft::AppendEntriesRequest<TypeConfig>,
    ) -> Result<(), Refusal> {
        use openraft::EntryPayload;
        let voter_keys = |m: &openraft::Membership<u64, MemberNode>| -> Vec<[u8; 32]> {
            m.voter_ids()
                .filter_map(|id| m.get_node(&id).and_then(|n| n.key_bytes()))
                .collect()
        };
        let (mut members, applied) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            (voter_keys(m.membership_config.membership()), m.last_applied)
        };
        // (log index, block bytes, the voters' keys in force there; None: only the time bound)
        type ToCheck = (u64, Vec<u8>, Option<Arc<Vec<[u8; 32]>>>);
        let mut blocks: Vec<ToCheck> = Vec::new();
        let mut shared = Arc::new(members.clone());
        for e in &req.entries {
            match &e.payload {
                EntryPayload::Membership(m) => {
                    members = voter_keys(m);
                    shared = Arc::new(members.clone());
                }
                // A membership request: see `check_membership_entries`.
                EntryPayload::Normal(p) if p.admin_request().is_some() => {}
                EntryPayload::Normal(p) if Some(e.log_id) > req.leader_commit => {
                    blocks.push((e.log_id.index, p.block.clone(), Some(shared.clone())));
                }
                EntryPayload::Normal(p) if Some(e.log_id) > applied => {
                    blocks.push((e.log_id.index, p.block.clone(), None));
                }
                _ => {}
            }
        }
        if blocks.is_empty() {
            return Ok(());
        }
        let now = (self.clock)();
        let applier = self.applier.clone();
        let checked = runtime::blocking(move || {
            for (index, bytes, members) in blocks {
                let refuse = |reason: String| Refusal::InvalidBlock {
                    from,
                    index,
                    reason,
                };
                let Some(members) = members else {
                    // Said to be committed: only a far-future time is refused (an entry that is
                    // not a block is skipped alike when applied).
                    let ahead = Block::from_bytes(&bytes)
                        .map(|b| b.header.timestamp_ms.saturating_sub(now))
                        .unwrap_or(0);
                    if ahead > COMMITTED_BLOCK_TIME_DRIFT_MS {
                        return Err(refuse(format!(
                            "said to be committed, but dated {ahead} ms after this member's clock (at most {COMMITTED_BLOCK_TIME_DRIFT_MS} ms)"
                        )));
                    }
                    continue;
                };
                let block = Block::from_bytes(&bytes)
                    .map_err(|e| refuse(format!("it does not decode as a block: {e}")))?;
                applier
                    .check_proposal(&block, &members, Some(now))
                    .map_err(refuse)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| Refusal::Malformed(format!("the block check thread failed: {e}")))?;
        if let Err(refusal) = &checked {
            tracing::warn!(target: "consensus::guard", "refusing entries from node {from}: {refusal}");
        }
        checked
    }

    /// Checks the membership entries of an append-entries request before Raft appends them
    /// (see [`authority`]): walks the log from what this node applied, through its own entries
    /// up to where the request attaches, then the request's entries; every membership entry
    /// after what this node applied must be authorised by the walk — whatever the leader says
    /// is committed. Returns the walk's state after the last entry (None if the request does
    /// not attach to this node's log: Raft refuses it anyway).
    async fn check_membership_entries(
        &self,
        from: u64,
        req: &openraft::raft::AppendEntriesRequest<TypeConfig>,
    ) -> Result<Option<(openraft::LogId<u64>, authority::MembershipState)>, Refusal> {
        use openraft::{EntryPayload, RaftLogReader};
        let Some(last) = req.entries.last().map(|e| e.log_id) else {
            return Ok(None);
        };
        let chain_id = self.transport.as_ref().map_or(0, |t| t.chain_id());
        let cached = self.walked.lock().ok().and_then(|w| w.clone());
        let (mut state, mut walked_to) = match cached {
            Some((id, state)) if Some(id) == req.prev_log_id => (state, Some(id.index)),
            _ => {
                let unreadable = |e: String| {
                    Refusal::Malformed(format!(
                        "this node cannot read its consensus metadata to check membership entries: {e}"
                    ))
                };
                let meta = match self.applier.consensus_meta().map_err(unreadable)? {
                    Some(m) => AppliedMeta::decode(&m).map_err(unreadable)?,
                    None => AppliedMeta::default(),
                };
                let mut state = meta.walk_state();
                let applied = meta.last_applied.map(|l| l.index);
                let start = applied.map_or(0, |i| i.saturating_add(1));
                if let Some(prev) = req.prev_log_id.map(|p| p.index).filter(|p| *p >= start) {
                    let own = self
                        .log
                        .clone()
                        .try_get_log_entries(start..=prev)
                        .await
                        .map_err(|e| {
                            Refusal::Malformed(format!(
                                "this node cannot read its Raft log to check membership entries: {e}"
                            ))
                        })?;
                    // Fewer entries than asked: the request does not attach here (Raft refuses it).
                    let wanted = (prev - start).checked_add(1);
                    if u64::try_from(own.len()).ok() != wanted {
                        return Ok(None);
                    }
                    for e in &own {
                        // Appended here before: entered as they are.
                        walk(&mut state, chain_id, e);
                    }
                    (state, Some(prev))
                } else {
                    (state, applied.max(req.prev_log_id.map(|p| p.index)))
                }
            }
        };
        for e in &req.entries {
            if walked_to.is_some_and(|w| e.log_id.index <= w) {
                continue;
            }
            if let EntryPayload::Membership(m) = &e.payload {
                let configs = m.get_joint_config().clone();
                let nodes = m.nodes().map(|(id, n)| (*id, n.clone())).collect();
                let step = state
                    .check(&configs, &nodes)
                    .and_then(|step| match &self.genesis {
                        // The first membership a member learns is the log's first: the genesis.
                        Some(g) if step == authority::Step::Initial && !g.same_members(&configs, &nodes) => {
                            Err(format!(
                                "the log's first membership {configs:?} is not the genesis voters {:?} with their keys and URLs and no other node",
                                g.configs
                            ))
                        }
                        _ => Ok(step),
                    })
                    .map_err(|reason| {
                    tracing::warn!(target: "consensus::guard", "refusing entries from node {from}: membership entry {} is not authorised: {reason}", e.log_id.index);
                    Refusal::UnauthorizedMembership {
                        from,
                        index: e.log_id.index,
                        reason,
                    }
                })?;
                state.enter(e.log_id.index, configs, nodes, Some(step));
            } else {
                walk(&mut state, chain_id, e);
            }
            walked_to = Some(e.log_id.index);
        }
        Ok(Some((last, state)))
    }

    /// A membership request from voter `from`'s operator (on the leader): checks its approvals
    /// against the membership in force, writes it into the log (every member checks it again
    /// there before it appends the membership entries), then carries it out.
    async fn admin_request(
        &self,
        chain_id: u64,
        req: approval::AdminRequest,
    ) -> Result<String, String> {
        let _one_at_a_time = self.admin_lock.lock().await;
        let index = self.membership_index();
        approval::authorize(chain_id, &req, index, &self.voter_view())?;
        {
            let nodes: BTreeMap<u64, MemberNode> = self
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .nodes()
                .map(|(id, n)| (*id, n.clone()))
                .collect();
            authority::key_not_taken(&req.cmd, &nodes)?;
        }
        if let AdminCommand::AddMember {
            id,
            public_key,
            url,
        } = &req.cmd
        {
            let known = self
                .raft
                .metrics()
                .borrow()
                .membership_config
                .membership()
                .get_node(id)
                .cloned();
            if known.is_some_and(|n| n.public_key != *public_key || n.addr != *url) {
                return Err(format!(
                    "node {id} is already a member with another key or URL: remove it first, or change them with set-key"
                ));
            }
        }
        self.raft
            .client_write(Proposal::admin(&req))
            .await
            .map_err(|e| format!("could not write the request into the log: {e}"))?;
        self.admin(req.cmd).await.map_err(|e| e.to_string())
    }

    /// Log index of the membership in force (what approvals of a change are bound to).
    pub fn membership_index(&self) -> Option<u64> {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .log_id()
            .as_ref()
            .map(|l| l.index)
    }

    fn is_voter(&self, id: u64) -> bool {
        self.raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .any(|v| v == id)
    }

    /// Changes the membership (on the leader): adds a member (as a learner that catches up,
    /// then as a voter), removes one, or replaces a member's key and URL. Returns a summary.
    async fn admin(&self, cmd: AdminCommand) -> Result<String, ConsensusError> {
        use openraft::ChangeMembers;
        let node = |public_key: &str, url: &str| -> Result<MemberNode, ConsensusError> {
            let n = MemberNode {
                public_key: public_key.to_string(),
                addr: url.to_string(),
            };
            if n.key_bytes().is_none() {
                return Err(ConsensusError::Config(
                    "public_key must be 64 hex digits (an Ed25519 public key)".into(),
                ));
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConsensusError::Config(format!(
                    "url {url:?} must start with http:// or https://"
                )));
            }
            Ok(n)
        };
        let write_err = |e: RaftError<u64, ClientWriteError<u64, MemberNode>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                ConsensusError::NotLeader {
                    leader: f.leader_id.map(|id| id.to_string()),
                }
            }
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                ConsensusError::Config(e.to_string())
            }
            RaftError::Fatal(f) => ConsensusError::Fatal(f.to_string()),
        };
        match cmd {
            AdminCommand::AddMember {
                id,
                public_key,
                url,
            } => {
                let n = node(&public_key, &url)?;
                info!(target: "consensus::membership", "adding node {id} ({url}) as a learner");
                self.raft
                    .add_learner(id, n, true)
                    .await
                    .map_err(write_err)?;
                info!(target: "consensus::membership", "node {id} caught up; making it a voter");
                self.raft
                    .change_membership(ChangeMembers::AddVoterIds([id].into()), false)
                    .await
                    .map_err(write_err)?;
                Ok(format!("node {id} is a voting member"))
            }
            AdminCommand::RemoveMember { id } => {
                info!(target: "consensus::membership", "removing node {id}");
                self.raft
                    .change_membership(ChangeMembers::RemoveVoters([id].into()), false)
                    .await
                    .map_err(write_err)?;
                Ok(format!("node {id} is no longer a member"))
            }
            AdminCommand::SetMemberKey {
                id,
                public_key,
                url,
            } => {
                let n = node(&public_key, &url)?;
                info!(target: "consensus::membership", "replacing the key of node {id} with {public_key}");
                self.raft
                    .change_membership(ChangeMembers::SetNodes([(id, n)].into()), false)
                    .await
                    .map_err(write_err)?;
                Ok(format!(
                    "node {id} now signs with key {public_key}; restart it with that key"
                ))
            }
        }
    }

    /// The signed transport of a cluster (None for a single-member chain).
    pub fn transport(&self) -> Option<&Arc<Transport>> {
        self.transport.as_ref()
    }

    /// Whether this node may propose a block now: it is the leader and has applied every entry
    /// of earlier terms (its term's first entry is applied), so its head is the chain's head.
    pub fn can_propose(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.state == ServerState::Leader
            && m.current_leader == Some(self.node_id)
            && m.last_applied.map(|l| l.leader_id.term) == Some(m.current_term)
    }

    /// The current leader's Raft id and transport address, if there is a leader other than us.
    pub fn leader_peer(&self) -> Option<(u64, Peer)> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let id = m.current_leader?;
        if id == self.node_id {
            return None;
        }
        let peer = m
            .membership_config
            .membership()
            .get_node(&id)
            .and_then(|n| n.peer())?;
        Some((id, peer))
    }

    /// Stops Raft; proposals in flight fail with [`ConsensusError::ShuttingDown`].
    pub async fn shutdown(&self) -> Result<(), ConsensusError> {
        self.raft
            .shutdown()
            .await
            .map_err(|e| ConsensusError::Fatal(format!("Raft did not stop cleanly: {e}")))
    }

    /// This node's Raft id.
    pub fn raft_id(&self) -> u64 {
        self.node_id
    }

    /// The Raft metrics, as a watch that changes with them.
    pub fn raft_metrics(&self) -> tokio::sync::watch::Receiver<RaftMetrics<u64, MemberNode>> {
        self.raft.metrics()
    }

    /// The Raft metrics as they are now.
    pub fn metrics(&self) -> RaftMetrics<u64, MemberNode> {
        self.raft.metrics().borrow().clone()
    }

    fn fatal(&self, f: Fatal<u64>, height: Option<u64>) -> ConsensusError {
        stop_reason(&self.failure, f, height)
    }
}

/// Walks one log entry that is already in the log (see [`authority`]): an admin entry's
/// request becomes pending if it is approved; a membership entry is entered whatever it is.
fn walk(state: &mut authority::MembershipState, chain_id: u64, e: &openraft::Entry<TypeConfig>) {
    match &e.payload {
        openraft::EntryPayload::Normal(p) => {
            if let Some(Ok(req)) = p.admin_request() {
                // A request that is not approved authorises nothing.
                let _ = state.admit(chain_id, &req);
            }
        }
        openraft::EntryPayload::Membership(m) => {
            let configs = m.get_joint_config().clone();
            let nodes = m.nodes().map(|(id, n)| (*id, n.clone())).collect();
            let step = state.check(&configs, &nodes).ok();
            state.enter(e.log_id.index, configs, nodes, step);
        }
        openraft::EntryPayload::Blank => {}
    }
}

/// Why Raft stopped, as a consensus error: the block that failed to apply if there was one
/// (an `Apply` error when it is the block `height` proposed, or when no block is in question).
fn stop_reason(
    failure: &Mutex<Option<ApplyFailure>>,
    f: Fatal<u64>,
    height: Option<u64>,
) -> ConsensusError {
    let failure = failure.lock().ok().and_then(|f| f.clone());
    if let Some(failure) = failure {
        return match failure.height {
            Some(h) if height.is_none_or(|p| p == h) => ConsensusError::Apply {
                height: h,
                reason: failure.reason,
            },
            h => ConsensusError::Fatal(format!(
                "consensus stopped because block {} could not be applied: {}",
                h.map(|h| h.to_string()).unwrap_or_else(|| "-".into()),
                failure.reason
            )),
        };
    }
    match f {
        Fatal::Stopped => ConsensusError::ShuttingDown,
        other => ConsensusError::Fatal(other.to_string()),
    }
}

/// A member that led before a restart would resume its term at once, but the vote grants that
/// proved its election were in memory: no member would accept it. Its stored vote is turned
/// back into a candidate's (same term, uncommitted), so it follows whoever proves a leadership,
/// or runs for a new term itself after an election timeout.
async fn step_down_after_restart(log: &mut LogStore, node_id: u64) -> Result<(), ConsensusError> {
    use openraft::storage::RaftLogStorage;
    let vote = log
        .read_vote()
        .await
        .map_err(|e| ConsensusError::Storage(e.to_string()))?;
    if let Some(v) = vote.filter(|v| v.is_committed() && v.leader_id().voted_for() == Some(node_id))
    {
        let term = v.leader_id().term;
        info!(target: "consensus", "node {node_id} led term {term} before the restart; it stands again to prove its leadership");
        log.save_vote(&openraft::Vote::new(term, node_id))
            .await
            .map_err(|e| ConsensusError::Storage(e.to_string()))?;
    }
    Ok(())
}

/// Says at startup which committed entries the applier had not recorded (a crash between the
/// log commit and the block's write): openraft applies them again now.
async fn log_recovery<A: BlockApplier>(log: &mut LogStore, applier: &A) {
    use openraft::storage::RaftLogStorage;
    let applied = applier
        .consensus_meta()
        .ok()
        .flatten()
        .and_then(|m| AppliedMeta::decode(&m).ok())
        .and_then(|m| m.last_applied);
    let committed = log.read_committed().await.ok().flatten();
    let last = log.get_log_state().await.ok().and_then(|s| s.last_log_id);
    if committed > applied {
        info!(target: "consensus", "applying log entries {}..={} committed before the restart but not yet applied", applied.map_or(0, |l| l.index + 1), committed.map_or(0, |l| l.index));
    }
    if last > committed.max(applied) {
        info!(target: "consensus", "log entries after {} up to {} are not known to be committed; Raft commits them now (single member)", committed.max(applied).map_or(0, |l| l.index), last.map_or(0, |l| l.index));
    }
}

/// The name of member `id`: its public key, or its number if it has none.
fn member_name(m: &RaftMetrics<u64, MemberNode>, id: u64) -> String {
    m.membership_config
        .membership()
        .get_node(&id)
        .map(|n| n.public_key.clone())
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| id.to_string())
}

impl<A: BlockApplier> Consensus for RaftConsensus<A> {
    async fn propose(&self, block: Block) -> Result<AppliedBlock, ConsensusError> {
        let height = block.header.height;
        let proposal = Proposal {
            block: block.to_bytes(),
        };
        match self.raft.client_write(proposal).await {
            Ok(resp) => match resp.data {
                Applied::Block(b) => Ok(b),
                Applied::Stale { height, reason } => Err(ConsensusError::Stale { height, reason }),
                Applied::NoBlock => Err(ConsensusError::Fatal(format!(
                    "log entry {} carried block {height} but applied as an entry without a block",
                    resp.log_id
                ))),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                let leader = f.leader_id.map(|id| member_name(&self.metrics(), id));
                Err(ConsensusError::NotLeader { leader })
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(ConsensusError::Fatal(e.to_string()))
            }
            Err(RaftError::Fatal(f)) => Err(self.fatal(f, Some(height))),
        }
    }

    fn status(&self) -> ConsensusStatus {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Stopped,
        };
        ConsensusStatus {
            node_id: self.node_name.clone(),
            role,
            leader: m.current_leader.map(|id| member_name(&m, id)),
            term: m.current_term,
            members: m
                .membership_config
                .membership()
                .voter_ids()
                .map(|id| member_name(&m, id))
                .collect(),
            raft_id: self.node_id,
            leader_raft_id: m.current_leader,
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            membership_index: m.membership_config.log_id().as_ref().map(|l| l.index),
            member_list: {
                let membership = m.membership_config.membership();
                let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
                membership
                    .nodes()
                    .map(|(id, n)| crate::MemberInfo {
                        id: *id,
                        public_key: n.public_key.clone(),
                        url: n.addr.clone(),
                        voter: voters.contains(id),
                    })
                    .collect()
            },
        }
    }
}
