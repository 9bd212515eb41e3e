//! The node's side of a multi-node cluster: transactions sent to a member that is not the
//! leader travel to the leader in signed envelopes (and, with `?wait=commit`, the caller is
//! answered once the block is executed on the member it asked); transactions a former leader
//! still holds move to the new leader; and members' messages arrive here for consensus.

use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use tracing::{debug, info, warn};
use want_consensus::net::{MsgKind, NetError, Refusal};
use want_consensus::Inbound;
use want_types::{Hash32, SignedTransaction};

use crate::error::{codes, NodeError};
use crate::node::Node;

/// Most transactions in one forwarded batch.
pub const FORWARD_BATCH_MAX: usize = 5_000;
/// How long a member keeps trying to hand a submitted transaction to a leader (an election may
/// be under way) before answering `no_leader`.
pub const FORWARD_WAIT_MS: u64 = 10_000;
/// Pause between attempts while there is no leader to forward to.
const FORWARD_RETRY_MS: u64 = 100;
/// How long one forwarded batch may take (the leader journals it durably before answering).
const FORWARD_TIMEOUT_MS: u64 = 10_000;

/// Transactions forwarded to the leader: their canonical bytes.
#[derive(BorshSerialize, BorshDeserialize)]
struct ForwardTxs {
    txs: Vec<Vec<u8>>,
}

/// The leader's answer, one per forwarded transaction, in order.
#[derive(BorshSerialize, BorshDeserialize)]
struct ForwardAnswer {
    /// `None`: admitted (journaled on the leader). `Some((code, message))`: refused.
    results: Vec<Option<(String, String)>>,
}

/// Codes of refusals that may succeed on another attempt (after an election).
fn transient(code: &str) -> bool {
    matches!(
        code,
        codes::NOT_LEADER | codes::NO_LEADER | codes::SHUTTING_DOWN
    )
}

/// Maps a code received from another member or read from a receipt to this crate's (or the
/// state machine's) static codes.
pub(crate) fn static_code(code: &str) -> &'static str {
    codes::ALL
        .iter()
        .chain(want_state::codes::ALL)
        .copied()
        .find(|c| *c == code)
        .unwrap_or(codes::INTERNAL)
}

impl Node {
    /// Whether submissions must go to another member (this node is in a cluster and is not the
    /// leader able to propose).
    pub fn must_forward(&self) -> bool {
        self.consensus().transport().is_some() && !self.consensus().can_propose()
    }

    /// Forwards transactions to the leader, waiting up to [`FORWARD_WAIT_MS`] for one to exist.
    /// Per transaction: `Ok(())` once the leader journaled it, or the leader's refusal.
    pub async fn forward(&self, txs: &[SignedTransaction]) -> Vec<Result<(), NodeError>> {
        let started = Instant::now();
        let bytes: Vec<Vec<u8>> = txs.iter().map(|t| t.to_bytes()).collect();
        loop {
            let outcome = self.forward_once(&bytes).await;
            let retry = match &outcome {
                Err(_) => true,
                Ok(results) => results
                    .iter()
                    .any(|r| matches!(r, Err(e) if transient(e.code()))),
            };
            let give_up = started.elapsed() >= Duration::from_millis(FORWARD_WAIT_MS)
                || *self.shutdown_requested();
            if !retry || give_up {
                return match outcome {
                    Ok(results) => results,
                    Err(e) => {
                        let msg = e.to_string();
                        (0..txs.len())
                            .map(|_| Err(NodeError::rejected(codes::NO_LEADER, msg.clone())))
                            .collect()
                    }
                };
            }
            // If this node became leader meanwhile, admit locally what is still transient.
            if !self.must_forward() {
                let results = match outcome {
                    Ok(r) => r,
                    Err(_) => (0..txs.len())
                        .map(|_| Err(NodeError::rejected(codes::NOT_LEADER, "")))
                        .collect(),
                };
                let mut out = Vec::with_capacity(txs.len());
                for (r, stx) in results.into_iter().zip(txs) {
                    out.push(match r {
                        Err(e) if transient(e.code()) => self.admit_locally(stx.clone()).await,
                        other => other,
                    });
                }
                return out;
            }
            tokio::time::sleep(Duration::from_millis(FORWARD_RETRY_MS)).await;
        }
    }

    async fn forward_once(
        &self,
        bytes: &[Vec<u8>],
    ) -> Result<Vec<Result<(), NodeError>>, NodeError> {
        let consensus = self.consensus();
        let transport = consensus
            .transport()
            .ok_or_else(|| NodeError::rejected(codes::INTERNAL, "not in a cluster"))?;
        let (leader, peer) = consensus.leader_peer().ok_or_else(|| {
            NodeError::rejected(
                codes::NO_LEADER,
                "the cluster has no leader right now (an election is under way, or a majority of members is unreachable); retry shortly",
            )
        })?;
        let payload = borsh::to_vec(&ForwardTxs {
            txs: bytes.to_vec(),
        })
        .expect("invariant: borsh encoding into a Vec cannot fail");
        let answer = transport
            .call(
                leader,
                &peer,
                MsgKind::ForwardTxs,
                payload,
                Duration::from_millis(FORWARD_TIMEOUT_MS),
            )
            .await
            .map_err(|e: NetError| {
                NodeError::rejected(codes::NO_LEADER, format!("forwarding to the leader: {e}"))
            })?;
        let answer: ForwardAnswer = borsh::from_slice(&answer).map_err(|e| {
            NodeError::rejected(
                codes::NO_LEADER,
                format!("the leader's answer does not decode: {e}"),
            )
        })?;
        if answer.results.len() != bytes.len() {
            return Err(NodeError::rejected(
                codes::NO_LEADER,
                "the leader answered for a different number of transactions",
            ));
        }
        Ok(answer
            .results
            .into_iter()
            .map(|r| match r {
                None => Ok(()),
                Some((code, message)) => Err(NodeError::rejected(static_code(&code), message)),
            })
            .collect())
    }

    /// Handles a message from another member (`POST /v1/cluster/rpc`): the sealed answer.
    pub async fn handle_cluster_rpc(&self, bytes: &[u8]) -> Result<Vec<u8>, Refusal> {
        let consensus = self.consensus();
        let result = consensus.handle_rpc(bytes).await;
        let env = match result {
            Ok(Inbound::Answer(answer)) => return Ok(answer),
            Ok(Inbound::App(env)) => env,
            Err(refusal) => {
                self.shared.metrics.envelope_refused(refusal.code());
                return Err(refusal);
            }
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

    /// Hands what this node's mempool holds to the leader when this node is not the leader
    /// (it was leader, or admitted them just before losing the leadership). Transactions the
    /// leader refuses for good are dropped here too; the rest stay until the next attempt.
    pub(crate) async fn drain_pool_to_leader(&self) {
        let picked: Vec<(Hash32, SignedTransaction)> = {
            let pool = self.shared.mempool.lock();
            if pool.is_empty() {
                return;
            }
            pool.all_in_nonce_order(FORWARD_BATCH_MAX)
                .into_iter()
                .map(|t| (t.id, t.stx.clone()))
                .collect()
        };
        if self.consensus().leader_peer().is_none() {
            return;
        }
        let txs: Vec<SignedTransaction> = picked.iter().map(|(_, t)| t.clone()).collect();
        let results = match self
            .forward_once(&txs.iter().map(|t| t.to_bytes()).collect::<Vec<_>>())
            .await
        {
            Ok(r) => r,
            Err(e) => {
                debug!(target: "cluster::forward", "could not hand {} pending transactions to the leader: {e}", txs.len());
                return;
            }
        };
        let mut done = Vec::new();
        let mut refused = Vec::new();
        for ((id, _), r) in picked.iter().zip(results) {
            match r {
                Ok(()) => done.push(*id),
                Err(e) if transient(e.code()) => {}
                Err(e)
                    if e.code() == codes::DUPLICATE_TRANSACTION
                        || e.code() == codes::NONCE_IN_USE =>
                {
                    done.push(*id)
                }
                Err(e) => {
                    info!(target: "cluster::forward", "the leader refused pending transaction {id}: {e}");
                    refused.push(*id);
                }
            }
        }
        if done.is_empty() && refused.is_empty() {
            return;
        }
        {
            let mut pool = self.shared.mempool.lock();
            for id in done.iter().chain(&refused) {
                pool.remove(id);
            }
            self.shared.metrics.mempool_size.set(pool.len() as i64);
        }
        self.shared.forget_waiters_of(&refused);
        let all: Vec<Hash32> = done.into_iter().chain(refused).collect();
        if let Err(e) = self.shared.store.journal_remove(&all) {
            warn!(target: "cluster::forward", "could not drop {} handed-over transactions from the journal: {e}", all.len());
        } else {
            info!(target: "cluster::forward", "handed {} pending transactions to the leader", all.len());
        }
    }
}
