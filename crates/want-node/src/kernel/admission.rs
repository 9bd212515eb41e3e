//! Admission: a submitted transaction into the mempool. Size and signature are checked here
//! (in parallel for batches); everything else — chain id, expiry, module active, fee or stamp
//! for its weight, nonce, balance, and the call's own rules — by the state machine's
//! `want_state::admit` on a throw-away layer over one storage snapshot, so the node keeps no
//! copy of those rules; then the mempool (nonce window, slots per sender, pending spending,
//! replacement by fee, capacity and eviction: `mempool.rs`) and the journal. A member that is
//! not the leader forwards instead (`forward.rs`).

use std::time::Duration;

use rayon::prelude::*;
use tokio::sync::oneshot;
use want_state::{BlockContext, VerifiedTx};
use want_storage::StateSnapshot;
use want_types::{Address, Amount, Hash32, Signature, SignedTransaction, Transaction};

use crate::config::TX_EXPIRY_AHEAD_MAX_MS;
use crate::error::{codes, NodeError};
use crate::kernel::forward::transient;
use crate::kernel::journal::Admitted;
use crate::kernel::mempool::{Admission, PoolTx, SenderState, GAPPED_TX_TTL_MS};
use crate::kernel::node::{now_ms, Node, PendingTx, Shared, Submitted};

/// A transaction whose size and signature were checked.
pub struct Checked {
    pub stx: SignedTransaction,
    pub bytes: Vec<u8>,
    pub id: Hash32,
    pub sender: Address,
}

/// Checks size and signature (the CPU-heavy part of admission, safe to run in parallel).
pub fn check_signature(stx: SignedTransaction) -> Result<Checked, NodeError> {
    let bytes = stx.to_bytes();
    let limit = stx.tx.call.tx_bytes_max();
    if bytes.len() > limit {
        return Err(NodeError::rejected(
            codes::TX_TOO_LARGE,
            format!(
                "the transaction is {} bytes; at most {limit} are allowed for this call",
                bytes.len(),
            ),
        ));
    }
    let (id, sender) = want_crypto::verify_transaction(&stx)
        .map_err(|e| NodeError::rejected(codes::BAD_SIGNATURE, format!("signature: {e}")))?;
    Ok(Checked {
        stx,
        bytes,
        id,
        sender,
    })
}

/// Checks sizes and signatures of many transactions in parallel on every core (None if the
/// blocking pool is gone: the node is shutting down).
pub(crate) async fn check_signatures(
    txs: Vec<SignedTransaction>,
) -> Option<Vec<Result<Checked, NodeError>>> {
    tokio::task::spawn_blocking(move || txs.into_par_iter().map(check_signature).collect())
        .await
        .ok()
}

impl Shared {
    /// The block context admission runs in: the next height and the node's clock (made once
    /// per snapshot, not per transaction of a batch).
    pub fn admission_context(&self, head_height: u64) -> BlockContext {
        BlockContext {
            height: head_height.saturating_add(1),
            timestamp_ms: now_ms(),
            params: self.params.clone(),
            activations: self.activations.clone(),
        }
    }

    /// The fee `tx` pays for its weight in a block at `height`, signed with a secp256k1 key (the
    /// node's own signers: EPCIS capture).
    pub fn required_fee(&self, height: u64, tx: &Transaction) -> Result<Amount, NodeError> {
        want_state::fee_for_transaction(
            &self.params,
            &self.activations,
            height,
            tx,
            &Signature::Secp256k1(vec![0; want_crypto::secp::RECOVERABLE_SIGNATURE_LEN]),
        )
        .ok_or_else(|| {
            NodeError::rejected(
                codes::TX_TOO_HEAVY,
                "no fee can pay for this transaction's weight",
            )
        })
    }

    /// Admits a signature-checked transaction into the mempool (not yet journaled), in `ctx`:
    /// [`Shared::admission_context`] of the snapshot's head; returns it with what it displaced
    /// (for the caller to take out of the journal and to tell their waiters).
    pub(crate) fn admit(
        &self,
        snap: &StateSnapshot,
        ctx: &BlockContext,
        checked: Checked,
    ) -> Result<Admission, NodeError> {
        let Checked {
            stx,
            id,
            sender,
            bytes,
        } = checked;
        let size = bytes.len();
        let now = ctx.timestamp_ms;
        if stx.tx.expiry_ms > now.saturating_add(TX_EXPIRY_AHEAD_MAX_MS) {
            return Err(NodeError::rejected(
                codes::EXPIRY_TOO_FAR,
                format!(
                    "tx.expiry_ms {} is more than 24 h ahead (now {now})",
                    stx.tx.expiry_ms
                ),
            ));
        }
        self.precheck_call(&stx.tx.call)?;
        let vtx = VerifiedTx {
            id,
            sender,
            size,
            tx: stx,
        };
        if snap.tx_location(&id)?.is_some() {
            return Err(NodeError::rejected(
                codes::DUPLICATE_TRANSACTION,
                format!("transaction {id} is already committed"),
            ));
        }
        let refused = |f: want_state::failure::TxFailure| NodeError::rejected(f.code, f.message);
        let mut admitted = want_state::admit(snap, ctx, &vtx)?.map_err(refused)?;
        let mut pool = self.mempool.lock();
        if pool
            .committed_nonce(&sender)
            .is_some_and(|n| n > admitted.committed_nonce)
        {
            // The snapshot is older than the mempool's view of this sender (a block committed
            // in between): the pending spend no longer counts that block's transactions, so the
            // balance is read again, from a snapshot at least as new (the store commits before
            // the mempool hears of it, and the mempool is held).
            let fresh = self.store.snapshot()?;
            let ctx = self.admission_context(fresh.head_height());
            admitted = want_state::admit(&fresh, &ctx, &vtx)?.map_err(refused)?;
        }
        let admitted = pool.admit(
            PoolTx {
                id,
                sender,
                stx: vtx.tx,
                spend: admitted.spend,
                weight: admitted.weight,
                size,
                admitted_ms: now,
            },
            SenderState {
                nonce: admitted.committed_nonce,
                balance: admitted.balance,
            },
        )?;
        Ok(admitted)
    }
}

impl Node {
    /// Admits a transaction durably (journaled before this returns); with `wait`, returns once it
    /// is committed, with its receipt.
    pub async fn submit(&self, stx: SignedTransaction, wait: bool) -> Result<Submitted, NodeError> {
        if !wait {
            let id = stx.id();
            self.admit_or_forward(stx).await?;
            return Ok(Submitted::Accepted(id));
        }
        let pending = self.submit_pending(stx).await?;
        self.await_commit(pending).await
    }

    /// Admits (or forwards) a transaction durably and registers for its commit notice, without
    /// waiting for the commit: callers that must order their submissions (consecutive nonces)
    /// hold their lock only this long, then wait with [`Node::await_commit`].
    pub async fn submit_pending(&self, stx: SignedTransaction) -> Result<PendingTx, NodeError> {
        let id = stx.id();
        let (tx, rx) = oneshot::channel();
        self.shared.waiters.lock().entry(id).or_default().push(tx);
        if let Err(e) = self.admit_or_forward(stx).await {
            drop(rx);
            self.forget_closed_waiters(&id);
            return Err(e);
        }
        Ok(PendingTx { id, rx })
    }

    async fn admit_or_forward(&self, stx: SignedTransaction) -> Result<(), NodeError> {
        let result = if let Err(e) = self.shared.disk.check_room() {
            Err(e)
        } else if self.must_forward() {
            check_signature(stx.clone())?;
            self.forward_or_admit(std::slice::from_ref(&stx))
                .await
                .pop()
                .unwrap_or_else(|| Err(NodeError::rejected(codes::INTERNAL, "no answer")))
        } else {
            self.admit_and_journal(stx).await
        };
        match &result {
            Ok(()) => {
                self.shared.metrics.tx_admitted.inc();
            }
            Err(e) => self.shared.metrics.refused(e.code()),
        }
        result
    }

    /// Waits for the commit of a transaction admitted by [`Node::submit_pending`], up to the
    /// configured `commit_wait_timeout_ms`.
    pub async fn await_commit(&self, pending: PendingTx) -> Result<Submitted, NodeError> {
        let PendingTx { id, rx } = pending;
        let timeout = Duration::from_millis(self.shared.cfg.commit_wait_timeout_ms);
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(notice))) => Ok(Submitted::Committed(id, Box::new(notice))),
            Ok(Ok(Err(why))) => Err(why),
            Ok(Err(_)) if *self.shutdown.borrow() => Err(NodeError::rejected(
                codes::SHUTTING_DOWN,
                "the node is shutting down",
            )),
            Ok(Err(_)) => Err(NodeError::rejected(
                codes::TX_DROPPED,
                format!("transaction {id} left the mempool without being committed: it expired, or another transaction used its nonce"),
            )),
            Err(_) => {
                // The timed-out receiver is dropped by now.
                self.forget_closed_waiters(&id);
                let gap = self.shared.mempool.lock().gap(&id);
                let why = match gap {
                    Some((nonce, next)) => format!(
                        ": its tx.nonce {nonce} waits for nonce {next} of its account, which this node has not received; send nonce {next} (unless the gap closes, the transaction leaves the mempool {} s after its admission)",
                        GAPPED_TX_TTL_MS / 1_000
                    ),
                    None => String::new(),
                };
                Err(NodeError::rejected(
                    codes::COMMIT_TIMEOUT,
                    format!(
                        "transaction {id} was admitted but not committed within {} ms{why}; look it up with GET /v1/transactions/{id}",
                        timeout.as_millis()
                    ),
                ))
            }
        }
    }

    /// Drops the waiters of `id` whose receiver is gone, keeping those of other callers (the
    /// same transaction may be submitted, and waited for, more than once).
    fn forget_closed_waiters(&self, id: &Hash32) {
        let mut waiters = self.shared.waiters.lock();
        if let Some(list) = waiters.get_mut(id) {
            list.retain(|w| !w.is_closed());
            if list.is_empty() {
                waiters.remove(id);
            }
        }
    }

    /// Forwards to the leader; what is refused as transient because this node became the leader
    /// meanwhile is admitted here.
    async fn forward_or_admit(&self, txs: &[SignedTransaction]) -> Vec<Result<(), NodeError>> {
        let results = self.forward(txs).await;
        let mut out = Vec::with_capacity(results.len());
        for (r, stx) in results.into_iter().zip(txs) {
            out.push(match r {
                Err(e) if transient(e.code()) && !self.must_forward() => {
                    self.admit_locally(stx.clone()).await
                }
                other => other,
            });
        }
        out
    }

    /// Admits into this node's own mempool (the leader's path).
    pub(crate) async fn admit_locally(&self, stx: SignedTransaction) -> Result<(), NodeError> {
        self.admit_and_journal(stx).await
    }

    async fn admit_and_journal(&self, stx: SignedTransaction) -> Result<(), NodeError> {
        let checked = check_signature(stx)?;
        let snap = self.shared.store.snapshot()?;
        let ctx = self.shared.admission_context(snap.head_height());
        let admitted = self.admit_checked(&snap, &ctx, checked)?;
        drop(snap);
        self.journal(admitted).await
    }

    fn admit_checked(
        &self,
        snap: &StateSnapshot,
        ctx: &BlockContext,
        checked: Checked,
    ) -> Result<Admitted, NodeError> {
        // The leader journals what it admits: below the storage floor it takes nothing new,
        // forwarded transactions included (`disk.rs`).
        self.shared.disk.check_room()?;
        let bytes = checked.bytes.clone();
        let Admission { tx, displaced } = self.shared.admit(snap, ctx, checked)?;
        Ok(Admitted {
            tx,
            bytes,
            displaced,
        })
    }

    /// Submits many transactions: signatures are checked in parallel on every core, then each is
    /// admitted and journaled (by the leader: a member that is not the leader forwards them).
    /// Results are in input order.
    pub async fn submit_batch(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> Vec<Result<Hash32, NodeError>> {
        if let Err(e) = self.shared.disk.check_room() {
            self.shared.metrics.refused(e.code());
            return txs
                .iter()
                .map(|_| Err(NodeError::rejected(e.code(), e.to_string())))
                .collect();
        }
        if !self.must_forward() {
            return self.submit_batch_local(txs).await;
        }
        let Some(checked) = check_signatures(txs).await else {
            return vec![Err(NodeError::rejected(
                codes::SHUTTING_DOWN,
                "the node is shutting down",
            ))];
        };
        let valid: Vec<SignedTransaction> = checked
            .iter()
            .filter_map(|c| c.as_ref().ok().map(|c| c.stx.clone()))
            .collect();
        let mut forwarded = self.forward_or_admit(&valid).await.into_iter();
        checked
            .into_iter()
            .map(|c| {
                let c = c?;
                forwarded
                    .next()
                    .unwrap_or_else(|| Err(NodeError::rejected(codes::INTERNAL, "no answer")))
                    .map(|()| c.id)
            })
            .collect()
    }

    /// [`Node::submit_batch`] into this node's own mempool.
    pub(crate) async fn submit_batch_local(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> Vec<Result<Hash32, NodeError>> {
        let Some(checked) = check_signatures(txs).await else {
            return vec![Err(NodeError::rejected(
                codes::SHUTTING_DOWN,
                "the node is shutting down",
            ))];
        };
        let admitted: Vec<Result<Admitted, NodeError>> = match self.shared.store.snapshot() {
            Ok(snap) => {
                let ctx = self.shared.admission_context(snap.head_height());
                checked
                    .into_iter()
                    .map(|c| c.and_then(|c| self.admit_checked(&snap, &ctx, c)))
                    .collect()
            }
            Err(e) => {
                let e = NodeError::from(e);
                checked
                    .into_iter()
                    .map(|_| Err(NodeError::Io(e.to_string())))
                    .collect()
            }
        };
        let journaled = futures_util::future::join_all(admitted.into_iter().map(|a| async move {
            let a = a?;
            let id = a.tx.id;
            self.journal(a).await.map(|()| id)
        }))
        .await;
        for r in &journaled {
            match r {
                Ok(_) => {
                    self.shared.metrics.tx_admitted.inc();
                }
                Err(e) => self.shared.metrics.refused(e.code()),
            }
        }
        journaled
    }
}
