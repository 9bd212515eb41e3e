//! Forwarding: transactions sent to a member that is not the leader travel to the leader in
//! signed envelopes (and, with `?wait=commit`, the caller is answered once the block is executed
//! on the member it asked); transactions a former leader still holds move to the new leader.
//! The leader's side of the exchange is in `rpc.rs`.

use std::time::{Duration, Instant};

use borsh::{BorshDeserialize, BorshSerialize};
use tracing::{debug, info, warn};
use want_consensus::net::{MsgKind, NetError};
use want_types::{Hash32, SignedTransaction};

use crate::error::{codes, NodeError};
use crate::kernel::mempool::{Displaced, DropReason};
use crate::kernel::node::Node;

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
pub(crate) struct ForwardTxs {
    pub(crate) txs: Vec<Vec<u8>>,
}

/// The leader's answer, one per forwarded transaction, in order.
#[derive(BorshSerialize, BorshDeserialize)]
pub(crate) struct ForwardAnswer {
    /// `None`: admitted (journaled on the leader). `Some((code, message))`: refused.
    pub(crate) results: Vec<Option<(String, String)>>,
}

/// Codes of refusals that may succeed on another attempt (after an election).
pub(crate) fn transient(code: &str) -> bool {
    matches!(
        code,
        codes::NOT_LEADER | codes::NO_LEADER | codes::SHUTTING_DOWN
    )
}

impl Node {
    /// Whether submissions must go to another member (this node is in a cluster and is not the
    /// leader able to propose).
    pub fn must_forward(&self) -> bool {
        self.consensus().transport().is_some() && !self.consensus().can_propose()
    }

    /// Forwards transactions to the leader, waiting up to [`FORWARD_WAIT_MS`] for one to exist.
    /// Per transaction: `Ok(())` once the leader journaled it, or the leader's refusal (a
    /// transient one — `not_leader` — when this node became the leader meanwhile).
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
            // This node became the leader meanwhile: the caller admits locally what is still
            // transient (`admission.rs`).
            if !self.must_forward() {
                return match outcome {
                    Ok(r) => r,
                    Err(_) => (0..txs.len())
                        .map(|_| Err(NodeError::rejected(codes::NOT_LEADER, "")))
                        .collect(),
                };
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
                Some((code, message)) => Err(NodeError::rejected(
                    crate::error::static_code(&code),
                    message,
                )),
            })
            .collect())
    }

    /// Hands what this node's mempool holds to the leader when this node is not the leader
    /// (it was leader, or admitted them just before losing the leadership), each sender's in
    /// nonce order. What the leader admits or already has leaves this pool; what it refuses for
    /// good leaves it too, and its waiters are told the leader's reason (the leader's mempool may
    /// refuse it as full or over a sender's slots, or a transaction with its nonce may be pending
    /// there already); transient refusals stay until the next attempt. Transactions replaced or
    /// evicted here while the hand-over was under way are already gone from this pool and its
    /// journal.
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
        let (done, refused) = sort_handover(picked.iter().map(|(id, _)| *id).zip(results));
        if done.is_empty() && refused.is_empty() {
            return;
        }
        for d in &refused {
            info!(target: "cluster::forward", "the leader refused pending transaction {}: {}", d.id, d.error());
        }
        let all: Vec<Hash32> = done
            .iter()
            .copied()
            .chain(refused.iter().map(|d| d.id))
            .collect();
        {
            let mut pool = self.shared.mempool.lock();
            for id in &all {
                pool.remove(id);
            }
            self.shared.metrics.mempool_size.set(pool.len() as i64);
        }
        self.shared.tell_dropped(&refused);
        if let Err(e) = self.shared.store.journal_remove(&all) {
            warn!(target: "cluster::forward", "could not drop {} handed-over transactions from the journal: {e}", all.len());
        } else {
            info!(target: "cluster::forward", "handed {} pending transactions to the leader", all.len());
        }
    }
}

/// Sorts the leader's answers to a hand-over: the ids it holds now (admitted, or already
/// pending there), and those it refused for good with its reason; transient refusals are in
/// neither (they are handed over again).
fn sort_handover(
    answers: impl Iterator<Item = (Hash32, Result<(), NodeError>)>,
) -> (Vec<Hash32>, Vec<Displaced>) {
    let mut done = Vec::new();
    let mut refused = Vec::new();
    for (id, r) in answers {
        match r {
            Ok(()) => done.push(id),
            // Kept for the next attempt: the leader may be elected again, or free disk space.
            Err(e) if transient(e.code()) || e.code() == codes::INSUFFICIENT_STORAGE => {}
            Err(e) if e.code() == codes::DUPLICATE_TRANSACTION => done.push(id),
            Err(e) => refused.push(Displaced {
                id,
                reason: DropReason::Refused {
                    code: e.code(),
                    message: e.to_string(),
                },
            }),
        }
    }
    (done, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leaders_mempool_refusals_are_final_and_their_waiters_learn_why() {
        let id = |b: u8| Hash32([b; 32]);
        let refusal = |code| Err(NodeError::rejected(code, format!("{code} on the leader")));
        let mempool_codes = [
            codes::MEMPOOL_FULL,
            codes::TOO_MANY_PENDING,
            codes::NONCE_TOO_FAR_AHEAD,
            codes::NONCE_IN_USE,
        ];
        for code in mempool_codes {
            assert!(!transient(code), "{code} is not transient");
        }
        let mut answers = vec![
            (id(1), Ok(())),
            (id(2), refusal(codes::DUPLICATE_TRANSACTION)),
            (id(3), refusal(codes::NOT_LEADER)),
        ];
        for (i, code) in mempool_codes.iter().enumerate() {
            answers.push((id(10 + i as u8), refusal(code)));
        }
        let (done, refused) = sort_handover(answers.into_iter());
        assert_eq!(done, vec![id(1), id(2)]);
        let told: Vec<(Hash32, &str)> = refused.iter().map(|d| (d.id, d.error().code())).collect();
        let expected: Vec<(Hash32, &str)> = mempool_codes
            .iter()
            .enumerate()
            .map(|(i, c)| (id(10 + i as u8), *c))
            .collect();
        assert_eq!(told, expected);
        assert!(refused[0]
            .error()
            .to_string()
            .contains("the leader refused"));
    }
}
