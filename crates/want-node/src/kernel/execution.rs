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
use crate::kernel::checked::{CheckedBlocks, Sender};
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

    /// Checks a block a leader proposes before this member appends it to its Raft log (see
    /// [`want_consensus::BlockApplier::check_proposal`]): at most
    /// [`crate::config::CLUSTER_BLOCK_TXS_MAX`] transactions, the content checks of
    /// [`Shared::check_content`], the timestamp against `now_ms` plus
    /// [`want_consensus::BLOCK_TIME_DRIFT_MS`] (or the head's time, if later, for a block that
    /// extends the head), and, when the block extends this node's head,
    /// its parent state root and timestamp against the head. The senders found are kept for
    /// execution, so a follower verifies each signature once.
    pub fn check_proposal(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        now_ms: Option<u64>,
    ) -> Result<(), NodeError> {
        let h = &block.header;
        // Members check a proposal within the leader's append timeout; an honest leader never
        // proposes more (see `Shared::block_txs_max`), and a bigger block would take every
        // follower past that timeout and into elections.
        let cap = crate::config::CLUSTER_BLOCK_TXS_MAX;
        if block.txs.len() > cap {
            return Err(invalid_block(
                h.height,
                format!(
                    "it carries {} transactions; a cluster member proposes at most {cap}",
                    block.txs.len()
                ),
            ));
        }
        let head = self.store.head()?;
        let extends_head = h.height == head.height + 1 && h.prev_hash == head.hash;
        if let Some(now) = now_ms {
            // A block may carry its parent's time even when that is ahead of this clock: a
            // future-dated block committed earlier (one a faulty leader claimed committed may be
            // up to `COMMITTED_BLOCK_TIME_DRIFT_MS` ahead) must not stop every later leader's
            // blocks, which carry the head's time until the clocks pass it.
            let mut latest = now.saturating_add(want_consensus::BLOCK_TIME_DRIFT_MS);
            if extends_head {
                latest = latest.max(head.timestamp_ms);
            }
            if h.timestamp_ms > latest {
                return Err(invalid_block(
                    h.height,
                    format!(
                        "its timestamp {} is {} ms ahead of this member's clock (at most {} ms are allowed; is the proposer's clock right?)",
                        h.timestamp_ms,
                        h.timestamp_ms - now,
                        want_consensus::BLOCK_TIME_DRIFT_MS
                    ),
                ));
            }
        }
        if extends_head {
            self.check_against_parent(block, &head)?;
        }
        let key = CheckedBlocks::key(block);
        let (_, senders) = self.check_content(block, Some(&key), members)?;
        self.checked_blocks.lock().remember(key, senders);
        Ok(())
    }

    /// The checks of a block against its parent (the head it extends).
    fn check_against_parent(&self, block: &Block, head: &BlockInfo) -> Result<(), NodeError> {
        let h = &block.header;
        if h.parent_state_root != head.state_root {
            return Err(invalid_block(
                h.height,
                format!(
                    "parent state root {} is not the state root {} after block {}",
                    h.parent_state_root, head.state_root, head.height
                ),
            ));
        }
        if h.timestamp_ms < head.timestamp_ms {
            return Err(invalid_block(
                h.height,
                "timestamp earlier than its parent's".into(),
            ));
        }
        Ok(())
    }

    /// The checks of a block that need no state: chain, proposer among `members` and its
    /// signature, transaction count and root, every transaction's signature (a transaction whose
    /// full signed bytes equal the mempool's copy, or a block checked before with the same bytes,
    /// is known), and the block's weight. Returns the ids and each transaction's sender and size.
    pub fn check_content(
        &self,
        block: &Block,
        key: Option<&Hash32>,
        members: &[[u8; 32]],
    ) -> Result<(Vec<Hash32>, Vec<Sender>), NodeError> {
        let h = &block.header;
        let invalid = |what: String| invalid_block(h.height, what);
        if h.chain_id != self.params.chain_id {
            return Err(invalid(format!(
                "chain id {} is not {}",
                h.chain_id, self.params.chain_id
            )));
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
        if let Some(senders) = key.and_then(|k| self.checked_blocks.lock().senders(k)) {
            return Ok((ids, senders));
        }
        // Senders and sizes: admission already verified our own mempool's transactions (the id
        // commits to `from`, which verification checked is the signer) and measured them, so a
        // transaction whose full signed bytes equal the pool's copy is known; verify the rest in
        // parallel against the ids computed above, and measure them.
        let known: Vec<Option<Sender>> = {
            let pool = self.mempool.lock();
            ids.iter()
                .zip(&block.txs)
                .map(|(id, stx)| {
                    pool.get(id)
                        .filter(|p| p.stx == *stx)
                        .map(|p| (p.sender, p.size))
                })
                .collect()
        };
        let prechecks_bind = self
            .activations
            .active(want_types::params::RULE_BLOCK_PRECHECKS, h.height);
        let senders: Vec<Sender> = block
            .txs
            .par_iter()
            .zip(ids.par_iter())
            .zip(known.par_iter())
            .map(|((stx, id), known)| match known {
                Some(k) => Ok(*k),
                None => {
                    want_crypto::verify_signature(id, &stx.tx.from, &stx.signature)
                        .map_err(|e| invalid(format!("transaction {id}: {e}")))?;
                    // The modules' stateless checks (what the state machine cannot check: a
                    // payment request's signature, a grantee's key) bind a block as they bind
                    // admission (rule `block_prechecks`): a leader must not carry past them
                    // what admission refuses.
                    if prechecks_bind {
                        self.precheck_call(&stx.tx.call).map_err(|e| {
                            invalid(format!("transaction {id}: {} ({})", e, e.code()))
                        })?;
                    }
                    Ok((stx.tx.from, borsh::object_length(stx).unwrap_or(usize::MAX)))
                }
            })
            .collect::<Result<_, NodeError>>()?;
        let vtxs = verified(block, &ids, &senders);
        let ctx = self.block_context(h);
        want_state::check_block_weight(&ctx, &vtxs).map_err(|e| invalid(e.to_string()))?;
        Ok((ids, senders))
    }

    /// Runs the stateless check of the call's module ([`crate::kernel::node::NodeModule::precheck`]).
    pub fn precheck_call(&self, call: &want_types::Call) -> Result<(), NodeError> {
        for m in &self.modules {
            if m.id() == call.module() {
                m.precheck(call)?;
            }
        }
        Ok(())
    }

    fn block_context(&self, h: &want_types::BlockHeader) -> BlockContext {
        BlockContext {
            height: h.height,
            timestamp_ms: h.timestamp_ms,
            params: self.params.clone(),
            activations: self.activations.clone(),
        }
    }

    /// Executes a committed block and writes it durably; then wakes waiters and subscribers.
    ///
    /// `members` are the voting members' keys when the block was committed (its proposer must
    /// be one). A block that does not extend the head is `Ok(None)`: skipped, nothing written.
    /// A block whose content is invalid is refused with [`codes::INVALID_BLOCK`] before anything
    /// is written (every member finds the same, so consensus skips it everywhere alike).
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
        if h.chain_id != self.params.chain_id {
            return Err(invalid_block(
                h.height,
                format!("chain id {} is not {}", h.chain_id, self.params.chain_id),
            ));
        }
        if h.height != head.height + 1 || h.prev_hash != head.hash {
            // A leader proposed it on a head another block extended first: skipped everywhere.
            return Ok(None);
        }
        self.check_against_parent(block, &head)?;
        // Hashing the whole block for the key only pays when blocks were checked before they
        // were appended (a follower); a single member or a leader skips it.
        let key = (!self.checked_blocks.lock().is_empty()).then(|| CheckedBlocks::key(block));
        let (ids, senders) = self.check_content(block, key.as_ref(), members)?;
        if let Some(key) = &key {
            self.checked_blocks.lock().forget(key);
        }
        let vtxs = verified(block, &ids, &senders);
        let ctx = self.block_context(h);
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
        // The chain's counters move with the head readers now see.
        self.metrics.blocks_committed.inc();
        self.metrics.tx_committed.inc_by(ids.len() as u64);
        self.metrics.chain_height.set(info.height as i64);
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
        self.metrics.tx_failed.inc_by(failed);
        self.metrics
            .block_apply_seconds
            .observe(started.elapsed().as_secs_f64());
        let _ = self.blocks.send(info.height);
        Ok(Some(info))
    }
}

/// A block's transactions with the senders and sizes found by [`Shared::check_content`].
fn verified(block: &Block, ids: &[Hash32], senders: &[Sender]) -> Vec<VerifiedTx> {
    block
        .txs
        .iter()
        .zip(ids)
        .zip(senders)
        .map(|((stx, id), (sender, size))| VerifiedTx {
            id: *id,
            sender: *sender,
            size: *size,
            tx: stx.clone(),
        })
        .collect()
}

/// A block whose content fails a check.
fn invalid_block(height: u64, what: String) -> NodeError {
    NodeError::rejected(codes::INVALID_BLOCK, format!("block {height}: {what}"))
}
