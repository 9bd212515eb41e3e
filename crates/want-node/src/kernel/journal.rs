//! The durable mempool journal: an admitted transaction is written (group commit, fsynced) by
//! the journal thread before the API answers, and the transactions it displaced from the mempool
//! (replaced or evicted) are removed in the same write; after a crash the journal is re-admitted
//! at start.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tracing::error;
use want_types::Hash32;

use crate::config::JOURNAL_BATCH_MAX;
use crate::error::NodeError;
use crate::kernel::mempool::{Displaced, PoolTx};
use crate::kernel::node::{now_ms, JournalReq, Node, Shared};

/// An admitted transaction with its canonical bytes and what it displaced, to be journaled.
pub(crate) struct Admitted {
    pub(crate) tx: Arc<PoolTx>,
    pub(crate) bytes: Vec<u8>,
    pub(crate) displaced: Vec<Displaced>,
}

impl Node {
    /// Waits until an admitted transaction is in the durable journal (and what it displaced is
    /// out of it; their waiters are told at once); undoes the admission if it cannot be written
    /// (what it displaced stays displaced: still journaled, it comes back at the next start).
    pub(crate) async fn journal(&self, admitted: Admitted) -> Result<(), NodeError> {
        let Admitted {
            tx: admitted,
            bytes,
            displaced,
        } = admitted;
        self.shared.tell_dropped(&displaced);
        let (done_tx, done_rx) = oneshot::channel();
        let sent = self.shared.journal.send(JournalReq {
            id: admitted.id,
            bytes,
            remove: displaced.iter().map(|d| d.id).collect(),
            done: done_tx,
        });
        let outcome = match sent {
            Ok(()) => done_rx
                .await
                .unwrap_or_else(|_| Err("journal writer stopped".into())),
            Err(_) => Err("journal writer stopped".into()),
        };
        if let Err(e) = outcome {
            self.shared.mempool.lock().remove(&admitted.id);
            return Err(NodeError::Io(format!(
                "could not persist transaction {}: {e}",
                admitted.id
            )));
        }
        let (len, gone) = {
            let pool = self.shared.mempool.lock();
            self.shared.metrics.mempool_size.set(pool.len() as i64);
            (pool.len(), pool.get(&admitted.id).is_none())
        };
        if gone {
            // Displaced or committed while its write was queued (after the removal that
            // displacement or the block's commit made): take it out again.
            if let Err(e) = self.shared.store.journal_remove(&[admitted.id]) {
                error!(target: "mempool::journal", "could not drop transaction {} that left the mempool: {e}", admitted.id);
            }
        }
        let idle_since = self
            .shared
            .last_proposed_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let idle = now_ms().saturating_sub(idle_since) >= self.shared.cfg.block_interval_ms;
        if len >= self.shared.block_txs_max() || idle {
            self.shared.produce.notify_one();
        }
        Ok(())
    }
}

pub(crate) fn spawn_journal_writer(
    shared: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<JournalReq>,
) {
    let store = shared.store.clone();
    let weak = Arc::downgrade(&shared);
    drop(shared);
    std::thread::Builder::new()
        .name("mempool-journal".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                let mut batch = vec![first];
                while batch.len() < JOURNAL_BATCH_MAX {
                    match rx.try_recv() {
                        Ok(r) => batch.push(r),
                        Err(_) => break,
                    }
                }
                let started = Instant::now();
                let entries: Vec<(Hash32, Vec<u8>)> = batch.iter_mut().map(|r| (r.id, std::mem::take(&mut r.bytes))).collect();
                let removals: Vec<Hash32> = batch.iter_mut().flat_map(|r| std::mem::take(&mut r.remove)).collect();
                let result = store.journal_update(&entries, &removals).map_err(|e| e.to_string());
                if let Some(shared) = weak.upgrade() {
                    shared.metrics.journal_batch_seconds.observe(started.elapsed().as_secs_f64());
                }
                if let Err(e) = &result {
                    error!(target: "mempool::journal", "could not write {} transactions: {e}", batch.len());
                }
                for r in batch {
                    let _ = r.done.send(result.clone());
                }
            }
        })
        .expect("invariant: the OS can start the journal thread at startup");
}
