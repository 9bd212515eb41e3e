//! The Raft network of a single-member cluster: there is no other member, so no RPC is ever
//! sent. Should openraft try one (it cannot while the membership has one voter), the RPC fails as
//! `Unreachable`. The Ed25519-signed network arrives with the multi-node cluster.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};

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

/// The Raft network of a cluster: every RPC and its answer travel in signed envelopes through
/// the [`Transport`](crate::net::Transport).
#[derive(Clone)]
pub struct SignedNetwork {
    pub transport: std::sync::Arc<crate::net::Transport>,
}

/// A connection to one member.
pub struct SignedConnection {
    transport: std::sync::Arc<crate::net::Transport>,
    target: NodeId,
    peer: Option<crate::net::Peer>,
}

impl RaftNetworkFactory<TypeConfig> for SignedNetwork {
    type Network = SignedConnection;

    async fn new_client(&mut self, target: NodeId, node: &MemberNode) -> SignedConnection {
        let peer = node.peer().or_else(|| self.transport.peer(target));
        SignedConnection {
            transport: self.transport.clone(),
            target,
            peer,
        }
    }
}

impl SignedConnection {
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
        use openraft::error::{NetworkError, RemoteError};
        let peer = self.peer.as_ref().ok_or_else(|| {
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(format!(
                "node {} has no known public key and URL",
                self.target
            ))))
        })?;
        let payload =
            postcard::to_allocvec(req).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let answer = self
            .transport
            .call(self.target, peer, kind, payload, timeout)
            .await
            .map_err(|e| match e {
                crate::net::NetError::Unreachable { .. } => {
                    RPCError::Unreachable(Unreachable::new(&e))
                }
                other => RPCError::Network(NetworkError::new(&other)),
            })?;
        let result: Result<Resp, E> =
            postcard::from_bytes(&answer).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for SignedConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, MemberNode, RaftError<NodeId>>>
    {
        self.rpc(crate::net::MsgKind::AppendEntries, &rpc, option.hard_ttl())
            .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, MemberNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc(
            crate::net::MsgKind::InstallSnapshot,
            &rpc,
            std::time::Duration::from_millis(SNAPSHOT_RPC_TIMEOUT_MS),
        )
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, MemberNode, RaftError<NodeId>>> {
        self.rpc(crate::net::MsgKind::Vote, &rpc, option.hard_ttl())
            .await
    }
}
