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
