//! Messages from other members (`POST /v1/cluster/rpc`): the sealed header is checked before
//! the body is read; then Raft's RPCs go to consensus, and a leader admits the transactions
//! members forward to it.

use want_consensus::net::{CheckedHeader, MsgKind, Refusal};
use want_consensus::Inbound;
use want_types::SignedTransaction;

use crate::error::codes;
use crate::kernel::forward::{ForwardAnswer, ForwardTxs, FORWARD_BATCH_MAX};
use crate::kernel::node::Node;

impl Node {
    /// Checks the sealed header of a message from another member (the `x-want-envelope` field
    /// of `POST /v1/cluster/rpc`, `None` when absent) before its body is read; a refusal is
    /// counted in `want_cluster_envelopes_refused_total`.
    pub fn check_cluster_rpc_header(&self, field: Option<&[u8]>) -> Result<CheckedHeader, Refusal> {
        self.consensus()
            .check_rpc_header(field)
            .map_err(|refusal| self.envelope_refused(refusal))
    }

    /// Counts a refused envelope and returns the refusal.
    pub fn envelope_refused(&self, refusal: Refusal) -> Refusal {
        self.shared.metrics.envelope_refused(refusal.code());
        refusal
    }

    /// Handles a message from another member (`POST /v1/cluster/rpc`) whose header passed
    /// [`Node::check_cluster_rpc_header`], with its body: the sealed answer.
    pub async fn handle_cluster_rpc(
        &self,
        checked: CheckedHeader,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, Refusal> {
        let consensus = self.consensus();
        let result = consensus.handle_rpc(checked, payload).await;
        let env = match result {
            Ok(Inbound::Answer(answer)) => return Ok(answer),
            Ok(Inbound::App(env)) => env,
            Err(refusal) => return Err(self.envelope_refused(refusal)),
        };
        let transport = consensus
            .transport()
            .expect("invariant: an envelope was opened, so this node has a transport");
        match env.header.kind {
            MsgKind::ForwardTxs => {
                let req: ForwardTxs = borsh::from_slice(&env.payload)
                    .map_err(|e| Refusal::Malformed(format!("forward_txs payload: {e}")))?;
                let results = self.accept_forwarded(req.txs).await;
                let answer = borsh::to_vec(&ForwardAnswer { results })
                    .expect("invariant: borsh encoding into a Vec cannot fail");
                Ok(transport.answer(&env, answer))
            }
            other => Err(Refusal::Malformed(format!(
                "{} is not a request this node serves",
                other.as_str()
            ))),
        }
    }

    /// Admits transactions forwarded by a member (only as the leader; a member that is not
    /// leader answers `not_leader` and the sender looks for the leader again).
    async fn accept_forwarded(&self, txs: Vec<Vec<u8>>) -> Vec<Option<(String, String)>> {
        if txs.len() > FORWARD_BATCH_MAX {
            let msg = format!("at most {FORWARD_BATCH_MAX} transactions per forwarded batch");
            return txs
                .iter()
                .map(|_| Some((codes::BATCH_TOO_LARGE.to_string(), msg.clone())))
                .collect();
        }
        if !self.consensus().can_propose() {
            return txs
                .iter()
                .map(|_| {
                    Some((
                        codes::NOT_LEADER.to_string(),
                        "this member is not the leader".to_string(),
                    ))
                })
                .collect();
        }
        let mut decoded = Vec::with_capacity(txs.len());
        let mut slots: Vec<Option<(String, String)>> = vec![None; txs.len()];
        let mut positions = Vec::with_capacity(txs.len());
        for (i, b) in txs.iter().enumerate() {
            match SignedTransaction::from_bytes(b) {
                Ok(stx) => {
                    decoded.push(stx);
                    positions.push(i);
                }
                Err(e) => {
                    slots[i] = Some((
                        codes::INVALID_TRANSACTION.to_string(),
                        format!("forwarded transaction does not decode: {e}"),
                    ))
                }
            }
        }
        let results = self.submit_batch_local(decoded).await;
        for (pos, r) in positions.into_iter().zip(results) {
            if let Err(e) = r {
                slots[pos] = Some((e.code().to_string(), e.to_string()));
            }
        }
        slots
    }
}
