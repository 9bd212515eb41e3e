//! The bounded mempool: admitted transactions by id and by sender, ordered by nonce.
//!
//! Admission checks that depend on state (nonce window, balance for the fee and value) are made
//! against the committed state plus what the sender already has pending, so a sender cannot
//! queue more spending than it holds.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use want_types::{Address, Amount, Hash32, SignedTransaction};

use crate::error::{codes, NodeError};

/// A transaction in the mempool, with what admission learned about it.
#[derive(Debug)]
pub struct PoolTx {
    pub id: Hash32,
    pub sender: Address,
    pub stx: SignedTransaction,
    /// Most the transaction can take from the sender's balance (fee + value + transfer fee).
    pub spend: Amount,
    /// Its weight (the state machine's `tx_weight`).
    pub weight: u64,
    /// Encoded size of the signed transaction, in bytes.
    pub size: usize,
}

/// Most bytes of encoded transactions the mempool holds (trace transactions can be large).
pub const MEMPOOL_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Most bytes of encoded transactions one block carries (at least one transaction always fits).
pub const BLOCK_TX_BYTES_MAX: usize = 16 * 1024 * 1024;

#[derive(Default)]
struct SenderQueue {
    /// The sender's next nonce in committed state, as last seen.
    committed_nonce: u64,
    by_nonce: BTreeMap<u64, Hash32>,
    pending_spend: Amount,
}

/// Admitted, not yet committed transactions.
pub struct Mempool {
    by_id: HashMap<Hash32, Arc<PoolTx>>,
    senders: HashMap<Address, SenderQueue>,
    max_txs: usize,
    nonce_window: u64,
    /// Sum of `size` over `by_id`.
    bytes: usize,
}

/// The facts about a sender read from committed state for admission.
pub struct SenderState {
    pub nonce: u64,
    pub balance: Amount,
}

impl Mempool {
    pub fn new(max_txs: usize, nonce_window: u64) -> Mempool {
        Mempool {
            by_id: HashMap::new(),
            senders: HashMap::new(),
            max_txs,
            nonce_window,
            bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn get(&self, id: &Hash32) -> Option<Arc<PoolTx>> {
        self.by_id.get(id).cloned()
    }

    /// The sender's next nonce in committed state as the mempool last saw it (`None`: nothing
    /// pending from it).
    pub fn committed_nonce(&self, sender: &Address) -> Option<u64> {
        self.senders.get(sender).map(|q| q.committed_nonce)
    }

    /// The next nonce a sender should use, counting its pending transactions.
    pub fn pending_nonce(&self, sender: &Address) -> Option<u64> {
        let q = self.senders.get(sender)?;
        let mut next = q.committed_nonce;
        while q.by_nonce.contains_key(&next) {
            next += 1;
        }
        Some(next)
    }

    /// Inserts a transaction whose signature, chain id, expiry and fee were already checked.
    pub fn admit(&mut self, tx: PoolTx, state: SenderState) -> Result<Arc<PoolTx>, NodeError> {
        if self.by_id.contains_key(&tx.id) {
            return Err(NodeError::rejected(
                codes::DUPLICATE_TRANSACTION,
                format!("transaction {} is already in the mempool", tx.id),
            ));
        }
        let nonce = tx.stx.tx.nonce;
        let queue = self.senders.entry(tx.sender).or_default();
        // Committed state may have moved on since the queue was created.
        queue.committed_nonce = queue.committed_nonce.max(state.nonce);
        let window = self.nonce_window;
        let result = (|| {
            if nonce < queue.committed_nonce {
                return Err(NodeError::rejected(
                    codes::NONCE_TOO_LOW,
                    format!(
                        "tx.nonce {nonce} of {} was already used; the account's next nonce is {}",
                        tx.sender, queue.committed_nonce
                    ),
                ));
            }
            if nonce >= queue.committed_nonce.saturating_add(window) {
                return Err(NodeError::rejected(
                    codes::NONCE_TOO_FAR_AHEAD,
                    format!(
                        "tx.nonce {nonce} is too far ahead: the account's next nonce is {} and at most {window} may be queued",
                        queue.committed_nonce
                    ),
                ));
            }
            if let Some(other) = queue.by_nonce.get(&nonce) {
                return Err(NodeError::rejected(
                    codes::NONCE_IN_USE,
                    format!(
                        "tx.nonce {nonce} of {} is already used by pending transaction {other}",
                        tx.sender
                    ),
                ));
            }
            let total = queue.pending_spend.checked_add(tx.spend).ok_or_else(|| {
                NodeError::rejected(
                    codes::AMOUNT_OVERFLOW,
                    "the amounts of this and the pending transactions overflow",
                )
            })?;
            if total > state.balance {
                return Err(NodeError::rejected(
                    codes::INSUFFICIENT_BALANCE,
                    format!(
                        "insufficient balance: {} holds {} base units, but this transaction needs {} (fee, value and 1 % transfer fee) on top of {} already pending",
                        tx.sender, state.balance, tx.spend, queue.pending_spend
                    ),
                ));
            }
            Ok(total)
        })();
        let total = match result {
            Ok(total) => total,
            Err(e) => {
                if queue.by_nonce.is_empty() {
                    self.senders.remove(&tx.sender);
                }
                return Err(e);
            }
        };
        if self.by_id.len() >= self.max_txs
            || self.bytes.saturating_add(tx.size) > MEMPOOL_BYTES_MAX
        {
            if queue.by_nonce.is_empty() {
                self.senders.remove(&tx.sender);
            }
            return Err(NodeError::rejected(
                codes::MEMPOOL_FULL,
                format!(
                    "the mempool is full ({} transactions, {} bytes; at most {} and {MEMPOOL_BYTES_MAX}); retry after the next block",
                    self.by_id.len(),
                    self.bytes,
                    self.max_txs
                ),
            ));
        }
        queue.pending_spend = total;
        queue.by_nonce.insert(nonce, tx.id);
        let tx = Arc::new(tx);
        self.bytes = self.bytes.saturating_add(tx.size);
        self.by_id.insert(tx.id, tx.clone());
        Ok(tx)
    }

    /// Up to `max` pending transactions, each sender's in nonce order (to hand them to a leader).
    pub fn all_in_nonce_order(&self, max: usize) -> Vec<Arc<PoolTx>> {
        let mut out = Vec::with_capacity(max.min(self.by_id.len()));
        for q in self.senders.values() {
            for id in q.by_nonce.values() {
                if out.len() == max {
                    return out;
                }
                if let Some(tx) = self.by_id.get(id) {
                    out.push(tx.clone());
                }
            }
        }
        out
    }

    /// Removes one transaction (e.g. when its journal write failed, or it expired).
    pub fn remove(&mut self, id: &Hash32) -> Option<Arc<PoolTx>> {
        let tx = self.by_id.remove(id)?;
        self.bytes = self.bytes.saturating_sub(tx.size);
        if let Some(q) = self.senders.get_mut(&tx.sender) {
            q.by_nonce.remove(&tx.stx.tx.nonce);
            q.pending_spend = q.pending_spend.saturating_sub(tx.spend);
            if q.by_nonce.is_empty() {
                self.senders.remove(&tx.sender);
            }
        }
        Some(tx)
    }

    /// Picks up to `max` executable transactions weighing at most `weight_max` together: for each
    /// sender the run of consecutive nonces from its committed nonce, taken round-robin across
    /// senders. Transactions that expire before `timestamp_ms`, and those `pays` says no longer
    /// pay for themselves (a fee rule activated since their admission), are removed and returned
    /// separately; a sender's run stops at a removed one.
    pub fn select(
        &mut self,
        max: usize,
        weight_max: u64,
        timestamp_ms: u64,
        pays: impl Fn(&PoolTx) -> bool,
    ) -> (Vec<Arc<PoolTx>>, Vec<Hash32>) {
        let mut expired = Vec::new();
        for tx in self.by_id.values() {
            if tx.stx.tx.expiry_ms < timestamp_ms {
                expired.push(tx.id);
            }
        }
        for id in &expired {
            self.remove(id);
        }
        let mut runs: Vec<Vec<Hash32>> = self
            .senders
            .values()
            .map(|q| {
                let mut run = Vec::new();
                let mut next = q.committed_nonce;
                while let Some(id) = q.by_nonce.get(&next) {
                    run.push(*id);
                    next += 1;
                }
                run
            })
            .filter(|r| !r.is_empty())
            .collect();
        // Deterministic order independent of HashMap iteration: by first transaction id.
        runs.sort_by(|a, b| a[0].cmp(&b[0]));
        let mut picked = Vec::with_capacity(max.min(self.by_id.len()));
        let mut bytes = 0usize;
        let mut weight = 0u64;
        // A sender whose next transaction did not fit stops there (its later nonces cannot run).
        let mut stopped = vec![false; runs.len()];
        let mut unpaid = Vec::new();
        let mut round = 0;
        while picked.len() < max {
            let mut any = false;
            for (r, run) in runs.iter().enumerate() {
                if stopped[r] {
                    continue;
                }
                if let Some(id) = run.get(round) {
                    any = true;
                    if let Some(tx) = self.by_id.get(id) {
                        if !pays(tx) {
                            unpaid.push(tx.id);
                            stopped[r] = true;
                            continue;
                        }
                        let too_big = !picked.is_empty()
                            && bytes.saturating_add(tx.size) > BLOCK_TX_BYTES_MAX;
                        if too_big || weight.saturating_add(tx.weight) > weight_max {
                            stopped[r] = true;
                            continue;
                        }
                        bytes = bytes.saturating_add(tx.size);
                        weight = weight.saturating_add(tx.weight);
                        picked.push(tx.clone());
                    }
                    if picked.len() == max {
                        break;
                    }
                }
            }
            if !any {
                break;
            }
            round += 1;
        }
        for id in &unpaid {
            self.remove(id);
        }
        expired.extend(unpaid);
        (picked, expired)
    }

    /// After a block commits: drops its transactions and every pending transaction whose nonce is
    /// now used, and records the senders' new committed nonces. Returns the ids of stale
    /// transactions dropped (besides the included ones).
    pub fn on_commit(&mut self, included: &[Hash32], new_nonces: &[(Address, u64)]) -> Vec<Hash32> {
        for id in included {
            self.remove(id);
        }
        let mut stale = Vec::new();
        for (sender, nonce) in new_nonces {
            if let Some(q) = self.senders.get_mut(sender) {
                q.committed_nonce = q.committed_nonce.max(*nonce);
                let old: Vec<Hash32> = q.by_nonce.range(..*nonce).map(|(_, id)| *id).collect();
                stale.extend(old);
            }
        }
        for id in &stale {
            self.remove(id);
        }
        stale
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use want_types::{Call, Signature, TokenCall, Transaction};

    fn ptx(sender: u8, nonce: u64, spend: Amount) -> PoolTx {
        let stx = SignedTransaction {
            tx: Transaction {
                chain_id: 1,
                from: Address::from_account_id([sender; 20]),
                nonce,
                fee: 1,
                expiry_ms: 1_000,
                pow_nonce: 0,
                call: Call::Token(TokenCall::Burn { amount: spend }),
            },
            signature: Signature::Secp256k1(vec![0; 65]),
        };
        PoolTx {
            id: stx.id(),
            sender: Address::from_account_id([sender; 20]),
            stx,
            spend,
            weight: 100,
            size: 200,
        }
    }

    fn rich(nonce: u64) -> SenderState {
        SenderState {
            nonce,
            balance: 1_000_000,
        }
    }

    #[test]
    fn duplicate_and_reused_nonce_are_refused() {
        let mut m = Mempool::new(10, 8);
        m.admit(ptx(1, 0, 5), rich(0)).unwrap();
        assert_eq!(
            m.admit(ptx(1, 0, 5), rich(0)).unwrap_err().code(),
            codes::DUPLICATE_TRANSACTION
        );
        assert_eq!(
            m.admit(ptx(1, 0, 6), rich(0)).unwrap_err().code(),
            codes::NONCE_IN_USE
        );
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn nonce_outside_the_window_is_refused() {
        let mut m = Mempool::new(10, 8);
        assert_eq!(
            m.admit(ptx(1, 2, 5), rich(3)).unwrap_err().code(),
            codes::NONCE_TOO_LOW
        );
        assert_eq!(
            m.admit(ptx(1, 11, 5), rich(3)).unwrap_err().code(),
            codes::NONCE_TOO_FAR_AHEAD
        );
        // The last nonce of the window [3, 3 + 8) is taken; it waits for 3…9 and is not picked.
        let last = m.admit(ptx(1, 10, 5), rich(3)).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m.get(&last.id).map(|t| t.stx.tx.nonce), Some(10));
        assert_eq!(m.pending_nonce(&last.sender), Some(3));
        let (picked, dropped) = m.select(100, u64::MAX, 0, |_| true);
        assert!(picked.is_empty() && dropped.is_empty());
    }

    #[test]
    fn pending_spending_cannot_exceed_the_balance() {
        let mut m = Mempool::new(10, 8);
        let state = || SenderState {
            nonce: 0,
            balance: 100,
        };
        m.admit(ptx(1, 0, 60), state()).unwrap();
        assert_eq!(
            m.admit(ptx(1, 1, 41), state()).unwrap_err().code(),
            codes::INSUFFICIENT_BALANCE
        );
        m.admit(ptx(1, 1, 40), state()).unwrap();
    }

    #[test]
    fn a_full_mempool_says_so() {
        let mut m = Mempool::new(2, 8);
        m.admit(ptx(1, 0, 1), rich(0)).unwrap();
        m.admit(ptx(2, 0, 1), rich(0)).unwrap();
        let err = m.admit(ptx(3, 0, 1), rich(0)).unwrap_err();
        assert_eq!(err.code(), codes::MEMPOOL_FULL);
        assert_eq!(err.http_status(), 429);
    }

    #[test]
    fn selection_takes_consecutive_nonces_only() {
        let mut m = Mempool::new(10, 8);
        m.admit(ptx(1, 0, 1), rich(0)).unwrap();
        m.admit(ptx(1, 1, 1), rich(0)).unwrap();
        m.admit(ptx(1, 3, 1), rich(0)).unwrap(); // gap at 2
        m.admit(ptx(2, 5, 1), rich(5)).unwrap();
        let (picked, expired) = m.select(100, u64::MAX, 0, |_| true);
        assert!(expired.is_empty());
        let mut got: Vec<(u8, u64)> = picked
            .iter()
            .map(|t| (t.sender.0[1], t.stx.tx.nonce))
            .collect();
        got.sort();
        assert_eq!(got, vec![(1, 0), (1, 1), (2, 5)]);
    }

    #[test]
    fn expired_transactions_are_dropped_at_selection() {
        let mut m = Mempool::new(10, 8);
        m.admit(ptx(1, 0, 1), rich(0)).unwrap();
        let (picked, expired) = m.select(100, u64::MAX, 5_000, |_| true);
        assert!(picked.is_empty());
        assert_eq!(expired.len(), 1);
        assert!(m.is_empty());
    }

    #[test]
    fn transactions_that_no_longer_pay_are_dropped_at_selection_and_stop_their_sender() {
        let mut m = Mempool::new(10, 8);
        let unpaid = m.admit(ptx(1, 0, 1), rich(0)).unwrap();
        m.admit(ptx(1, 1, 1), rich(0)).unwrap();
        let other = m.admit(ptx(2, 0, 1), rich(0)).unwrap();
        let (picked, dropped) = m.select(100, u64::MAX, 0, |t| t.id != unpaid.id);
        let picked: Vec<Hash32> = picked.iter().map(|t| t.id).collect();
        assert_eq!(picked, vec![other.id]);
        assert_eq!(dropped, vec![unpaid.id]);
        assert!(m.get(&unpaid.id).is_none());
        // The sender's next nonce waits for a replacement of the dropped one.
        assert_eq!(m.pending_nonce(&unpaid.sender), Some(0));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn commit_removes_included_and_stale_transactions() {
        let mut m = Mempool::new(10, 8);
        let a = m.admit(ptx(1, 0, 1), rich(0)).unwrap();
        let b = m.admit(ptx(1, 1, 1), rich(0)).unwrap();
        m.admit(ptx(1, 2, 1), rich(0)).unwrap();
        let stale = m.on_commit(&[a.id], &[(a.sender, 2)]);
        assert_eq!(stale, vec![b.id]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.pending_nonce(&a.sender), Some(3));
    }

    #[test]
    fn selection_stops_at_the_block_weight_limit_and_keeps_nonce_order() {
        let mut m = Mempool::new(100, 100);
        for n in 0..5 {
            m.admit(
                ptx(1, n, 1),
                SenderState {
                    nonce: 0,
                    balance: 1_000,
                },
            )
            .unwrap();
        }
        // Each weighs 100: three fit in 350.
        let (picked, _) = m.select(100, 350, 0, |_| true);
        let nonces: Vec<u64> = picked.iter().map(|t| t.stx.tx.nonce).collect();
        assert_eq!(nonces, vec![0, 1, 2]);
    }
}
