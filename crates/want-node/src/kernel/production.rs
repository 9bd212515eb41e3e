//! Block production: every `block_interval_ms` (or at once when the mempool holds a full block,
//! or a transaction arrives after an idle interval) the leader selects executable transactions
//! up to the block's count, byte and weight limits, builds and signs the header, and proposes
//! it through consensus.

use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};
use want_consensus::{AppliedBlock, Consensus, ConsensusError};
use want_types::{BlockHeader, Hash32};

use crate::error::NodeError;
use crate::kernel::mempool::PoolTx;
use crate::kernel::node::{now_ms, Node, PRODUCER_STOP_GRACE_MS};

impl Node {
    /// Stops producing blocks, then stops consensus (its log and the chain stay consistent:
    /// each block and its consensus metadata were written in one transaction).
    ///
    /// The block in flight, if any, gets [`PRODUCER_STOP_GRACE_MS`] to commit; a cluster member
    /// that cannot commit it (the other members are gone) stops consensus anyway, which fails
    /// the proposal (its transactions stay in the journal).
    pub async fn stop(&self) -> Result<(), NodeError> {
        self.shutdown();
        let producer = self.producer.lock().take();
        let Some(mut producer) = producer else {
            self.consensus.shutdown().await?;
            return Ok(());
        };
        let grace = Duration::from_millis(PRODUCER_STOP_GRACE_MS);
        if tokio::time::timeout(grace, &mut producer).await.is_ok() {
            self.consensus.shutdown().await?;
            return Ok(());
        }
        warn!(target: "node", "the block in flight did not commit within {} ms; stopping consensus under it", grace.as_millis());
        let stopped = self.consensus.shutdown().await;
        let _ = producer.await;
        stopped?;
        Ok(())
    }

    /// Produces one block from the mempool now (if there is anything to include).
    pub async fn produce_block(&self) -> Result<Option<AppliedBlock>, NodeError> {
        let s = &self.shared;
        let head = s.store.head()?;
        let timestamp_ms = now_ms().max(head.timestamp_ms);
        let weight_max = if s
            .activations
            .active(want_types::params::RULE_FEE_WEIGHTS, head.height + 1)
        {
            s.params.block_weight_max
        } else {
            u64::MAX
        };
        let height = head.height + 1;
        let pays = |t: &PoolTx| {
            want_state::pays_at(
                &s.params,
                &s.activations,
                height,
                &t.stx.tx,
                &t.id,
                t.size,
                t.weight,
            )
        };
        let (picked, dropped) =
            s.mempool
                .lock()
                .select(s.block_txs_max(), weight_max, timestamp_ms, pays);
        if !dropped.is_empty() {
            info!(target: "mempool", "dropped {} transactions expired, gapped for too long or no longer paying for themselves", dropped.len());
            s.tell_dropped(&dropped);
            let ids: Vec<Hash32> = dropped.iter().map(|d| d.id).collect();
            if let Err(e) = s.store.journal_remove(&ids) {
                s.mempool.lock().end_proposal();
                return Err(e.into());
            }
        }
        if picked.is_empty() && !s.cfg.empty_blocks {
            s.mempool.lock().end_proposal();
            return Ok(None);
        }
        let ids: Vec<Hash32> = picked.iter().map(|t| t.id).collect();
        let header = BlockHeader {
            chain_id: s.params.chain_id,
            height: head.height + 1,
            prev_hash: head.hash,
            timestamp_ms,
            tx_root: want_crypto::merkle_root(&ids),
            tx_count: ids.len() as u32,
            parent_state_root: head.state_root,
            proposer: s.node_key.public_key().to_vec(),
        };
        let txs = picked.iter().map(|t| t.stx.clone()).collect();
        let block = want_crypto::sign_block(header, txs, &s.node_key);
        let proposed = self.consensus.propose(block).await;
        // Committed, skipped or failed: its transactions may be replaced or evicted again.
        s.mempool.lock().end_proposal();
        Ok(Some(proposed?))
    }
}

pub(crate) async fn produce_loop(node: Node, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(node.shared.cfg.block_interval_ms);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = node.shared.produce.notified() => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
        if node.consensus.transport().is_some() && !node.consensus.can_propose() {
            if node.must_forward() {
                node.drain_pool_to_leader().await;
            }
            continue;
        }
        let attempt_ms = now_ms();
        let produced = node.produce_block().await;
        if matches!(produced, Ok(Some(_))) {
            node.shared
                .last_proposed_ms
                .store(attempt_ms, std::sync::atomic::Ordering::Relaxed);
        }
        match produced {
            Ok(Some(info)) => {
                tracing::debug!(target: "consensus::propose", "committed block {} with {} txs", info.height, info.tx_count);
                if node.shared.mempool.lock().len() >= node.shared.block_txs_max() {
                    node.shared.produce.notify_one();
                }
            }
            Ok(None) => {}
            Err(NodeError::Consensus(ConsensusError::Stale { height, reason })) => {
                info!(target: "consensus::propose", "block {height} was skipped ({reason}); proposing again");
                node.shared.produce.notify_one();
            }
            Err(NodeError::Consensus(ConsensusError::NotLeader { leader })) => {
                info!(target: "consensus::propose", "no longer the leader (leader: {leader:?})");
            }
            Err(e) => {
                error!(target: "consensus::propose", "could not produce a block: {e}");
                tokio::time::sleep(interval).await;
            }
        }
    }
    info!(target: "node", "block production stopped");
}
