//! Execution: a block committed by consensus is checked against the head (height, parent,
//! state root, proposer and its signature, tx root), its unknown transactions' signatures are
//! verified in parallel, and the state machine applies it (`want_state::apply_block`, which
//! also refuses a block over its weight limit); block, receipts, end-of-block events, state
//! changes and consensus metadata are written in one durable write; then the commit vote, the
//! mempool, the waiters and the subscribers of committed blocks.

use std::collections::HashMap;
use std::time::Instant;

use rayon::prelude::*;
use tracing::warn;
use want_state::{BlockContext, StateView, VerifiedTx};
use want_storage::BlockInfo;
use want_types::{Address, Block, Hash32, TxStatus};

use crate::error::{codes, NodeError};
use crate::kernel::node::{CommitNotice, Shared};

impl Shared {
    /// Debug builds check the supply invariant after every block:
    /// `sum(balances) + burned == total supply`, no zero balance stored (reads every balance a
    /// page at a time from one snapshot).
    #[cfg(debug_assertions)]
    fn audit_supply(&self, height: u64) {
        const PAGE: usize = 10_000;
        let snap = self
            .store
            .snapshot()
            .expect("invariant: the committed state is readable right after its commit");
        let prefix = want_state::token::state::PREFIX;
        let mut state = want_state::MemState::new();
        let mut start: Option<Vec<u8>> = None;
        loop {
            let page = snap
                .range(prefix, start.as_deref(), PAGE)
                .expect("invariant: the committed state is readable right after its commit");
            let full = page.len() == PAGE;
            start = page.last().map(|(k, _)| want_state::key_after(k));
            state.0.extend(page);
            if !full {
                break;
            }
        }
        let audit =
            want_state::audit_supply(&state).expect("invariant: stored token state decodes");
        assert!(
            audit.holds(),
            "supply invariant broken after block {height}: {audit:?}"
        );
    }

    /// Executes a committed block and writes it durably; then wakes waiters and subscribers.
    ///
    /// `members` are the voting members' keys when the block was committed (its proposer must
    /// be one). A block that does not extend the head is `Ok(None)`: skipped, nothing written.
    pub fn execute(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        consensus_meta: Option<&[u8]>,
    ) -> Result<Option<BlockInfo>, NodeError> {
        let started = Instant::now();
        // certs hook: a node whose state diverged from the majority applies nothing more.
        self.refuse_if_diverged()?;
        let head = self.store.head()?;
        let h = &block.header;
        let invalid = |what: String| {
            NodeError::rejected(
                codes::INVALID_TRANSACTION,
                format!("block {}: {what}", h.height),
            )
        };
        if h.chain_id != self.params.chain_id {
            return Err(invalid(format!(
                "chain id {} is not {}",
                h.chain_id, self.params.chain_id
            )));
        }
        if h.height != head.height + 1 || h.prev_hash != head.hash {
            // A leader proposed it on a head another block extended first: skipped everywhere.
            return Ok(None);
        }
        if h.parent_state_root != head.state_root {
            return Err(invalid(format!(
                "parent state root {} is not ours {}",
                h.parent_state_root, head.state_root
            )));
        }
        if h.timestamp_ms < head.timestamp_ms {
            return Err(invalid("timestamp earlier than its parent's".into()));
        }
        if !members.iter().any(|m| m[..] == h.proposer[..]) {
            return Err(invalid(format!(
                "proposer {} is not a voting member",
                hex::encode(&h.proposer)
            )));
        }
        want_crypto::verify_block_signature(block)
            .map_err(|e| invalid(format!("proposer signature: {e}")))?;
        if h.tx_count as usize != block.txs.len() {
            return Err(invalid("tx_count does not match the transactions".into()));
        }
        let ids: Vec<Hash32> = block.txs.par_iter().map(|t| t.id()).collect();
        if want_crypto::merkle_root(&ids) != h.tx_root {
            return Err(invalid("tx_root does not match the transactions".into()));
        }
        // Senders and sizes: admission already verified our own mempool's transactions (the id
        // commits to `from`, which verification checked is the signer) and measured them, so a
        // transaction carrying the same signature as the pool's copy is known; verify the rest
        // in parallel against the ids computed above, and measure them.
        let known: Vec<Option<(Address, usize)>> = {
            let pool = self.mempool.lock();
            ids.iter()
                .zip(&block.txs)
                .map(|(id, stx)| {
                    pool.get(id)
                        .filter(|p| p.stx.signature == stx.signature)
                        .map(|p| (p.sender, p.size))
                })
                .collect()
        };
        let vtxs: Vec<VerifiedTx> = block
            .txs
            .par_iter()
            .zip(ids.par_iter())
            .zip(known.par_iter())
            .map(|((stx, id), known)| {
                let (sender, size) = match known {
                    Some(k) => *k,
                    None => {
                        want_crypto::verify_signature(id, &stx.tx.from, &stx.signature)
                            .map_err(|e| invalid(format!("transaction {id}: {e}")))?;
                        (stx.tx.from, borsh::object_length(stx).unwrap_or(usize::MAX))
                    }
                };
                Ok(VerifiedTx {
                    id: *id,
                    sender,
                    size,
                    tx: stx.clone(),
                })
            })
            .collect::<Result<_, NodeError>>()?;
        let ctx = BlockContext {
            height: h.height,
            timestamp_ms: h.timestamp_ms,
            params: self.params.clone(),
            activations: self.activations.clone(),
        };
        let outcome = {
            let snap = self.store.snapshot()?;
            want_state::apply_block(&snap as &dyn StateView, &ctx, head.state_root, &vtxs)?
        };
        let info = self.store.commit_block_with_meta(
            block,
            &outcome.receipts,
            &outcome.hook_events,
            &outcome.write_set,
            outcome.state_root,
            consensus_meta,
        )?;
        // certs hook: sign, store and queue this node's commit vote; check received votes.
        self.on_block_applied(&info);

        // After the durable commit: mempool, waiters, metrics, subscribers.
        let mut new_nonces: HashMap<Address, u64> = HashMap::new();
        let mut failed = 0u64;
        for (v, r) in vtxs.iter().zip(&outcome.receipts) {
            match r.status {
                TxStatus::Rejected { .. } => continue,
                TxStatus::Failed { .. } => failed += 1,
                TxStatus::Success => {}
            }
            let e = new_nonces.entry(v.sender).or_default();
            *e = (*e).max(v.tx.tx.nonce + 1);
        }
        let new_nonces: Vec<(Address, u64)> = new_nonces.into_iter().collect();
        let stale = {
            let mut pool = self.mempool.lock();
            let stale = pool.on_commit(&ids, &new_nonces);
            self.metrics.mempool_size.set(pool.len() as i64);
            stale
        };
        if !stale.is_empty() {
            self.tell_dropped(&stale);
            let stale: Vec<Hash32> = stale.iter().map(|d| d.id).collect();
            if let Err(e) = self.store.journal_remove(&stale) {
                warn!(target: "mempool::journal", "could not drop {} stale transactions from the journal: {e}", stale.len());
            }
        }
        {
            let mut waiters = self.waiters.lock();
            if !waiters.is_empty() {
                for (i, r) in outcome.receipts.iter().enumerate() {
                    if let Some(list) = waiters.remove(&r.tx_id) {
                        for w in list {
                            let _ = w.send(Ok(CommitNotice {
                                height: info.height,
                                index: i as u32,
                                block_hash: info.hash,
                                receipt: r.clone(),
                            }));
                        }
                    }
                }
            }
        }
        #[cfg(debug_assertions)]
        self.audit_supply(info.height);
        self.metrics.blocks_committed.inc();
        self.metrics.tx_committed.inc_by(ids.len() as u64);
        self.metrics.tx_failed.inc_by(failed);
        self.metrics.chain_height.set(info.height as i64);
        self.metrics
            .block_apply_seconds
            .observe(started.elapsed().as_secs_f64());
        let _ = self.blocks.send(info.height);
        Ok(Some(info))
    }
}
