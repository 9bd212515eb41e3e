//! The Raft network of a single-member cluster: there is no other member, so no RPC is ever
//! sent. Should openraft try one (it cannot while the membership has one voter), the RPC fails as
//! `Unreachable`. The Ed25519-signed network arrives with the multi-node cluster.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

use std::sync::{Arc, Mutex};

use openraft::{Entry, EntryPayload};

use super::guard::{LeaderClaim, LeaderProofs, ProvenLeaders};
use super::{MemberNode, TypeConfig};

type NodeId = u64;

/// Why every RPC fails.
const NO_NETWORK: &str = "this node runs a single-member Raft cluster and has no network to other members; the signed cluster network arrives with multi-node clusters";

fn unreachable<E: std::error::Error>(target: NodeId) -> RPCError<NodeId, MemberNode, E> {
    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(format!(
        "cannot reach node {target}: {NO_NETWORK}"
    ))))
}

/// Network factory of the single-member cluster (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNetwork;

/// A connection that never connects.
#[derive(Clone, Copy, Debug)]
pub struct NoConnection {
    target: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for NoNetwork {
    type Network = NoConnection;

    async fn new_client(&mut self, target: NodeId, _node: &MemberNode) -> NoConnection {
        NoConnection { target }
    }
}

impl RaftNetwork<TypeConfig> for NoConnection {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, MemberNode, RaftError<NodeId>>>
    {
        Err(unreachable(self.target))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, MemberNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(unreachable(self.target))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, MemberNode, RaftError<NodeId>>> {
        Err(unreachable(self.target))
    }
}

/// How long an install-snapshot RPC may take: the receiver catches up by fetching and executing
/// the blocks the snapshot covers before it answers.
pub const SNAPSHOT_RPC_TIMEOUT_MS: u64 = 30 * 60 * 1_000;

/// Most bytes of entries in one append-entries message (one larger entry goes alone): a batch
/// larger than this is sent as consecutive messages. It keeps each message within
/// [`ENVELOPE_BYTES_MAX`](crate::net::ENVELOPE_BYTES_MAX) (a block's transactions take at most
/// 16 MiB), so a lagging follower is never sent a batch it must refuse, and it bounds the work a
/// follower does before it answers — it checks every transaction's signature of the blocks not
/// yet committed — to about two blocks of a cluster's 1,000 transfers, well within the leader's
/// append timeout (the heartbeat interval), so the follower answers in time under load.
pub const APPEND_BATCH_BYTES_MAX: usize = 512 * 1024;
/// Bytes an entry takes besides its block (log id, payload tag, length prefixes), counted
/// generously.
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// The bytes `entry` takes in an append-entries message (an upper bound).
fn entry_bytes(entry: &Entry<TypeConfig>) -> usize {
    ENTRY_OVERHEAD_BYTES
        + match &entry.payload {
            EntryPayload::Blank => 0,
            EntryPayload::Normal(p) => p.block.len(),
            EntryPayload::Membership(m) => postcard::to_allocvec(m).map_or(0, |b| b.len()),
        }
}

/// Splits `entries` into consecutive batches of at most [`APPEND_BATCH_BYTES_MAX`] bytes (a
/// larger single entry is a batch of its own).
fn split_by_bytes(entries: Vec<Entry<TypeConfig>>) -> Vec<Vec<Entry<TypeConfig>>> {
    let mut batches: Vec<Vec<Entry<TypeConfig>>> = Vec::new();
    let mut bytes = 0usize;
    for e in entries {
        let n = entry_bytes(&e);
        match batches.last_mut() {
            Some(last) if !last.is_empty() && bytes.saturating_add(n) <= APPEND_BATCH_BYTES_MAX => {
                bytes += n;
                last.push(e);
            }
            _ => {
                bytes = n;
                batches.push(vec![e]);
            }
        }
    }
    batches
}

/// The Raft network of a cluster: every RPC and its answer travel in signed envelopes through
/// the [`Transport`](crate::net::Transport); a leader's requests carry the signed vote answers
/// that elected it (see [`guard`](super::guard)).
#[derive(Clone)]
pub struct SignedNetwork {
    pub transport: Arc<crate::net::Transport>,
    /// The vote grants this node received as a candidate.
    pub proofs: Arc<Mutex<LeaderProofs>>,
    /// The leaders this node found proven (shared with [`RaftConsensus`](super::RaftConsensus)):
    /// an answer naming another leader counts only for a proven one.
    pub proven: Arc<Mutex<ProvenLeaders>>,
}

impl SignedNetwork {
    pub fn new(
        transport: Arc<crate::net::Transport>,
        proven: Arc<Mutex<ProvenLeaders>>,
    ) -> SignedNetwork {
        SignedNetwork {
            transport,
            proofs: Arc::default(),
            proven,
        }
    }
}

/// A connection to one member.
pub struct SignedConnection {
    transport: Arc<crate::net::Transport>,
    proofs: Arc<Mutex<LeaderProofs>>,
    proven: Arc<Mutex<ProvenLeaders>>,
    target: NodeId,
    peer: Option<crate::net::Peer>,
}

impl RaftNetworkFactory<TypeConfig> for SignedNetwork {
    type Network = SignedConnection;

    async fn new_client(&mut self, target: NodeId, node: &MemberNode) -> SignedConnection {
        let peer = node.peer().or_else(|| self.transport.peer(target));
        SignedConnection {
            transport: self.transport.clone(),
            proofs: self.proofs.clone(),
            proven: self.proven.clone(),
            target,
            peer,
        }
    }
}

/// What openraft is told when a message to a member fails. openraft backs off (stops
/// replicating to the member for 500 ms, heartbeats included) only after an unreachable member;
/// a member that was slow to answer (checking a large block, a slow disk) is sent the next
/// heartbeat or retry at once: backing off would silence the leader past the member's election
/// timeout, and the member would call an election under load.
fn rpc_error<E: std::error::Error>(e: crate::net::NetError) -> RPCError<NodeId, MemberNode, E> {
    use openraft::error::NetworkError;
    match e {
        crate::net::NetError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        other => RPCError::Network(NetworkError::new(&other)),
    }
}

impl SignedConnection {
    async fn rpc_envelope<Req, E>(
        &self,
        kind: crate::net::MsgKind,
        req: &Req,
        timeout: std::time::Duration,
    ) -> Result<crate::net::Envelope, RPCError<NodeId, MemberNode, E>>
    where
        Req: serde::Serialize,
        E: std::error::Error,
    {
        use openraft::error::NetworkError;
        let peer = self.peer.as_ref().ok_or_else(|| {
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(format!(
                "node {} has no known public key and URL",
                self.target
            ))))
        })?;
        let payload =
            postcard::to_allocvec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        self.transport
            .call_envelope(self.target, peer, kind, payload, timeout)
            .await
            .map_err(rpc_error)
    }

    #[allow(clippy::result_large_err)] // openraft's own error type, returned to openraft as is
    fn decode<Resp, E>(&self, answer: &[u8]) -> Result<Resp, RPCError<NodeId, MemberNode, E>>
    where
        Resp: serde::de::DeserializeOwned,
        E: std::error::Error + serde::de::DeserializeOwned,
    {
        use openraft::error::{NetworkError, RemoteError};
        let result: Result<Resp, E> =
            postcard::from_bytes(answer).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }

    async fn rpc<Req, Resp, E>(
        &self,
        kind: crate::net::MsgKind,
        req: &Req,
        timeout: std::time::Duration,
    ) -> Result<Resp, RPCError<NodeId, MemberNode, E>>
    where
        Req: serde::Serialize,
        Resp: serde::de::DeserializeOwned,
        E: std::error::Error + serde::de::DeserializeOwned,
    {
        let answer = self.rpc_envelope(kind, req, timeout).await?;
        self.decode(&answer.payload)
    }

    /// Whether an answer's `vote`, higher than what was sent, may make this node step down and
    /// adopt it: a candidate's (uncommitted) vote, or a leader's (committed) vote for this node
    /// or for a leader this node found proven. A member that answers with an unproven committed
    /// "higher vote" would otherwise depose the leader and plant a leader this node would trust.
    fn may_adopt(&self, vote: &openraft::Vote<NodeId>) -> bool {
        if !vote.is_committed() {
            // Someone campaigns in a higher term: stepping down for it is how Raft goes on (a
            // member cut off for a while comes back with a higher term); the vote adopted is not
            // a leader this node will trust.
            return true;
        }
        let lid = vote.leader_id();
        match lid.voted_for() {
            Some(id) if id == self.transport.me() => true,
            Some(id) => self
                .proven
                .lock()
                .map(|p| p.contains(lid.term, id))
                .unwrap_or(false),
            None => false,
        }
    }

    fn refused_answer<E: std::error::Error>(
        &self,
        what: String,
    ) -> RPCError<NodeId, MemberNode, E> {
        use openraft::error::NetworkError;
        tracing::warn!(target: "consensus::guard", "ignoring the answer of node {}: {what}", self.target);
        RPCError::Network(NetworkError::new(&std::io::Error::other(format!(
            "node {} answered {what}",
            self.target
        ))))
    }

    /// The request as a leader sends it: with the grants that elected it for `vote`'s term.
    fn claim<R>(&self, vote: &openraft::Vote<NodeId>, req: R) -> LeaderClaim<R> {
        let term = vote.leader_id().term;
        let proof = if vote.leader_id().voted_for() == Some(self.transport.me()) {
            self.proofs
                .lock()
                .map(|p| p.proof(term))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        LeaderClaim { proof, req }
    }
}

impl RaftNetwork<TypeConfig> for SignedConnection {
    /// Sends the entries up to [`APPEND_BATCH_BYTES_MAX`] bytes (at least one entry); when more
    /// were asked for, answers `PartialSuccess` up to the last entry sent, and openraft sends the
    /// rest next (each call stays within one replication timeout). The follower's answer is
    /// checked: a match outside what was sent, or an unproven higher vote, is refused as a
    /// network error.
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, MemberNode, RaftError<NodeId>>>
    {
        let AppendEntriesRequest {
            vote,
            prev_log_id,
            entries,
            leader_commit,
        } = rpc;
        let mut batches = split_by_bytes(entries).into_iter();
        let first = batches.next().unwrap_or_default();
        let cut = batches.next().is_some();
        let last = first.last().map(|e| e.log_id).or(prev_log_id);
        let req = AppendEntriesRequest::<TypeConfig> {
            vote,
            prev_log_id,
            entries: first,
            leader_commit,
        };
        let claim = self.claim(&vote, req);
        let answer: AppendEntriesResponse<NodeId> = self
            .rpc(
                crate::net::MsgKind::AppendEntries,
                &claim,
                option.hard_ttl(),
            )
            .await?;
        match answer {
            AppendEntriesResponse::Success if cut => {
                Ok(AppendEntriesResponse::PartialSuccess(last))
            }
            AppendEntriesResponse::PartialSuccess(m) if m < prev_log_id || m > last => Err(self
                .refused_answer(format!(
                    "a match {m:?} outside the entries sent ({prev_log_id:?}..={last:?})"
                ))),
            AppendEntriesResponse::HigherVote(v) if !self.may_adopt(&v) => {
                Err(self.refused_answer(format!("a higher vote {v} of a leader it did not prove")))
            }
            other => Ok(other),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, MemberNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let vote = rpc.vote;
        let claim = self.claim(&vote, rpc);
        let answer: InstallSnapshotResponse<NodeId> = self
            .rpc(
                crate::net::MsgKind::InstallSnapshot,
                &claim,
                std::time::Duration::from_millis(SNAPSHOT_RPC_TIMEOUT_MS),
            )
            .await?;
        if answer.vote > vote && !self.may_adopt(&answer.vote) {
            return Err(self.refused_answer(format!(
                "a higher vote {} of a leader it did not prove",
                answer.vote
            )));
        }
        Ok(answer)
    }

    /// Asks for a vote; a granting answer is kept, signed, as part of this node's proof of
    /// leadership should it win the term.
    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, MemberNode, RaftError<NodeId>>> {
        let answer = self
            .rpc_envelope(crate::net::MsgKind::Vote, &rpc, option.hard_ttl())
            .await?;
        if let Ok(mut proofs) = self.proofs.lock() {
            proofs.record(self.transport.me(), self.target, &answer);
        }
        let resp: VoteResponse<NodeId> = self.decode(&answer.payload)?;
        if !resp.vote_granted && resp.vote > rpc.vote && !self.may_adopt(&resp.vote) {
            return Err(self.refused_answer(format!(
                "a refusal carrying a higher vote {} of a leader it did not prove",
                resp.vote
            )));
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    use super::*;
    use crate::raft::Proposal;

    fn entry(index: u64, block_bytes: usize) -> Entry<TypeConfig> {
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Proposal {
                block: vec![0; block_bytes],
            }),
        }
    }

    #[test]
    fn a_member_slow_to_answer_is_not_backed_off_like_an_unreachable_one() {
        use crate::net::NetError;
        type E = RaftError<NodeId>;
        let slow: RPCError<NodeId, MemberNode, E> = rpc_error(NetError::TimedOut {
            to: 2,
            after_ms: 100,
        });
        assert!(matches!(slow, RPCError::Network(_)), "{slow:?}");
        let down: RPCError<NodeId, MemberNode, E> = rpc_error(NetError::Unreachable {
            to: 2,
            reason: "connection refused".into(),
        });
        assert!(matches!(down, RPCError::Unreachable(_)), "{down:?}");
    }

    #[test]
    fn sixteen_full_blocks_are_sent_in_batches_that_each_fit_an_envelope() {
        let max_block = 16 * 1024 * 1024 + 4096;
        let entries: Vec<_> = (1..=16).map(|i| entry(i, max_block)).collect();
        let batches = split_by_bytes(entries);
        assert_eq!(batches.len(), 16);
        for b in &batches {
            let bytes = postcard::to_allocvec(b).unwrap().len();
            assert!(bytes <= crate::net::ENVELOPE_BYTES_MAX, "{bytes}");
        }
        let order: Vec<u64> = batches.iter().flatten().map(|e| e.log_id.index).collect();
        assert_eq!(order, (1..=16).collect::<Vec<_>>());
    }

    #[test]
    fn small_entries_stay_in_one_batch_and_a_batch_never_passes_the_byte_bound() {
        let small: Vec<_> = (1..=16).map(|i| entry(i, 1_000)).collect();
        assert_eq!(split_by_bytes(small).len(), 1);
        let mixed: Vec<_> = (1..=16)
            .map(|i| entry(i, if i % 3 == 0 { 9 * 1024 * 1024 } else { 100 }))
            .collect();
        let batches = split_by_bytes(mixed);
        for b in &batches {
            let encoded = postcard::to_allocvec(b).unwrap().len();
            if b.len() > 1 {
                assert!(b.iter().map(entry_bytes).sum::<usize>() <= APPEND_BATCH_BYTES_MAX);
                assert!(encoded <= APPEND_BATCH_BYTES_MAX, "{encoded}");
            } else {
                // A block bigger than the bound goes alone, within the envelope.
                assert!(encoded <= crate::net::ENVELOPE_BYTES_MAX, "{encoded}");
            }
        }
        let order: Vec<u64> = batches.iter().flatten().map(|e| e.log_id.index).collect();
        assert_eq!(order, (1..=16).collect::<Vec<_>>());
        // A cluster's 1,000-transfer blocks (about 200 KB each) go about two to a batch.
        let blocks: Vec<_> = (1..=16).map(|i| entry(i, 200_000)).collect();
        assert!(split_by_bytes(blocks).iter().all(|b| b.len() == 2));
        assert!(split_by_bytes(Vec::new()).is_empty());
    }
}
