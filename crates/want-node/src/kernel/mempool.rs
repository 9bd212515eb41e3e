//! The bounded mempool: admitted transactions by id and by sender, ordered by nonce.
//!
//! Admission checks that depend on state (nonce window, balance for the fee and value) are made
//! against the committed state plus what the sender already has pending, so a sender cannot
//! queue more spending than it holds.
//!
//! The pool is bounded in transactions, bytes and transactions per sender, and it cannot be
//! kept full cheaply:
//! - a nonce may skip at most `nonce_window - 1` nonces past the account's next nonce counting
//!   its pending transactions; a *gapped* transaction (one that cannot run before a missing
//!   nonce arrives) leaves [`GAPPED_TX_TTL_MS`] after its admission unless the gap closed;
//! - when the pool is full, a newcomer evicts the lowest-priority transactions if it has a higher
//!   priority than each of them: gapped transactions first (whatever fee they name, they are
//!   never charged while gapped), then by fee per weight ([`fee_rate`]; a stamped, fee-free
//!   transaction is the lowest). Only the last transaction of a sender's queue is evicted, never
//!   one of the newcomer's own sender or of the block being proposed, so eviction never opens a
//!   gap;
//! - a transaction with the nonce of a pending one replaces it if its fee is at least
//!   [`REPLACEMENT_FEE_BUMP_PERCENT`] higher ([`replacement_fee`]).
//!
//! What leaves the pool without being committed is returned as [`Displaced`], with its reason,
//! so that the caller takes it out of the journal and tells its `?wait=commit` waiters.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
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
    /// When this node admitted it (its clock, Unix ms): a gapped transaction leaves
    /// [`GAPPED_TX_TTL_MS`] later.
    pub admitted_ms: u64,
}

impl PoolTx {
    /// Its fee per weight ([`fee_rate`]).
    pub fn fee_rate(&self) -> u128 {
        fee_rate(self.stx.tx.fee, self.weight)
    }
}

/// Most bytes of encoded transactions the mempool holds (trace transactions can be large).
pub const MEMPOOL_BYTES_MAX: usize = 512 * 1024 * 1024;
/// Most bytes of encoded transactions one block carries (at least one transaction always fits).
pub const BLOCK_TX_BYTES_MAX: usize = 16 * 1024 * 1024;
/// How long a gapped transaction (its nonce is not reachable from the account's committed nonce
/// through pending transactions) stays in the mempool after its admission, in milliseconds,
/// unless the gap closes: it is never charged while it waits, so it may not wait long.
pub const GAPPED_TX_TTL_MS: u64 = 60_000;
/// How much more fee, in percent of the pending transaction's, a transaction with the same
/// sender and nonce must pay to replace it (at least one base unit more).
pub const REPLACEMENT_FEE_BUMP_PERCENT: u128 = 10;
/// Fee rates are in base units per this many weight units.
pub const FEE_RATE_WEIGHT_UNITS: u128 = 1_000_000;

/// The fee rate of a transaction paying `fee` for `weight`: base units per
/// [`FEE_RATE_WEIGHT_UNITS`] of weight, rounded down (saturating; a stamp's zero fee is rate 0).
pub fn fee_rate(fee: Amount, weight: u64) -> u128 {
    fee.saturating_mul(FEE_RATE_WEIGHT_UNITS) / u128::from(weight.max(1))
}

/// The smallest fee whose rate at `weight` is above `rate`.
pub fn fee_above_rate(rate: u128, weight: u64) -> Amount {
    // floor(f × U / w) > rate  ⇔  f × U ≥ (rate + 1) × w
    rate.saturating_add(1)
        .saturating_mul(u128::from(weight.max(1)))
        .div_ceil(FEE_RATE_WEIGHT_UNITS)
}

/// The smallest fee that replaces a pending transaction paying `fee`.
pub fn replacement_fee(fee: Amount) -> Amount {
    let bump = fee
        .saturating_mul(REPLACEMENT_FEE_BUMP_PERCENT)
        .div_ceil(100)
        .max(1);
    fee.saturating_add(bump)
}

/// The bounds of a mempool (from the node's configuration).
#[derive(Clone, Copy, Debug)]
pub struct MempoolLimits {
    /// Most transactions (`mempool_txs_max`).
    pub txs_max: usize,
    /// Most bytes of encoded transactions ([`MEMPOOL_BYTES_MAX`]).
    pub bytes_max: usize,
    /// Most pending transactions of one sender (`mempool_sender_txs_max`).
    pub sender_txs_max: usize,
    /// A nonce must be below the account's next nonce, counting its pending transactions, plus
    /// this (`mempool_nonce_window`; 1: no gap).
    pub nonce_window: u64,
}

/// Who goes first when a full pool makes room: the lowest priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Priority {
    /// Whether it can run in the next block (no missing nonce before it).
    executable: bool,
    /// [`fee_rate`].
    rate: u128,
}

/// A sender's last transaction in the eviction order (the id breaks ties).
type TailKey = (Priority, Hash32);

#[derive(Default)]
struct SenderQueue {
    /// The sender's next nonce in committed state, as last seen.
    committed_nonce: u64,
    by_nonce: BTreeMap<u64, Hash32>,
    pending_spend: Amount,
    /// The key of its last transaction in `Mempool::tails`.
    tail: Option<TailKey>,
}

impl SenderQueue {
    /// The account's next nonce counting its pending transactions: the end of the run of
    /// consecutive pending nonces from the committed one.
    fn next_nonce(&self) -> u64 {
        let mut next = self.committed_nonce;
        for n in self.by_nonce.range(self.committed_nonce..).map(|(n, _)| *n) {
            if n != next {
                break;
            }
            next = next.saturating_add(1);
        }
        next
    }
}

/// Why a transaction left the mempool without being committed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Its expiry passed.
    Expired { expiry_ms: u64 },
    /// It no longer pays for itself (a fee rule activated since its admission).
    Unpaid,
    /// It waited [`GAPPED_TX_TTL_MS`] for a missing nonce of its account.
    Gapped { nonce: u64, next: u64 },
    /// A committed transaction of its account used its nonce.
    Stale { nonce: u64 },
    /// A transaction with its sender and nonce and a higher fee took its place.
    Replaced { by: Hash32 },
    /// A full mempool made room for a transaction of higher priority.
    Evicted { by: Hash32 },
    /// The leader refused it when this member handed it over.
    Refused { code: &'static str, message: String },
}

/// A transaction that left the mempool without being committed, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Displaced {
    pub id: Hash32,
    pub reason: DropReason,
}

impl Displaced {
    /// What its `?wait=commit` callers are answered.
    pub fn error(&self) -> NodeError {
        let id = self.id;
        match &self.reason {
            DropReason::Expired { expiry_ms } => NodeError::rejected(
                codes::TX_DROPPED,
                format!("transaction {id} expired (tx.expiry_ms {expiry_ms}) before a block included it; sign it again with a later expiry"),
            ),
            DropReason::Unpaid => NodeError::rejected(
                codes::TX_DROPPED,
                format!("transaction {id} no longer pays for its weight (a fee rule activated since its admission); sign it again with the fee GET /v1/status implies"),
            ),
            DropReason::Gapped { nonce, next } => NodeError::rejected(
                codes::TX_DROPPED,
                format!(
                    "transaction {id} left the mempool: its tx.nonce {nonce} waited {} s for nonce {next} of its account, which never arrived; send nonce {next} first, then this one again",
                    GAPPED_TX_TTL_MS / 1_000
                ),
            ),
            DropReason::Stale { nonce } => NodeError::rejected(
                codes::TX_DROPPED,
                format!("transaction {id} left the mempool: another committed transaction of its account used tx.nonce {nonce}"),
            ),
            DropReason::Replaced { by } => NodeError::rejected(
                codes::TX_REPLACED,
                format!("transaction {id} was replaced by transaction {by}, which has the same sender and nonce and a higher fee; look that one up instead"),
            ),
            DropReason::Evicted { by } => NodeError::rejected(
                codes::TX_EVICTED,
                format!("transaction {id} was evicted from the full mempool to make room for transaction {by}, which pays more per weight; send it again with a higher fee, or once the mempool has room (its nonce is still unused)"),
            ),
            DropReason::Refused { code, message } => NodeError::rejected(
                code,
                format!("the leader refused transaction {id}: {message}"),
            ),
        }
    }
}

/// An admitted transaction and the ones it displaced (replaced or evicted).
#[derive(Debug)]
pub struct Admission {
    pub tx: Arc<PoolTx>,
    pub displaced: Vec<Displaced>,
}

/// What admitting a transaction will change, decided before anything changes.
struct Plan {
    /// The pending transaction with the same sender and nonce it replaces.
    replaces: Option<Hash32>,
    /// The sender's pending spending afterwards.
    pending_spend: Amount,
    /// Transactions to evict to make room.
    evict: Vec<Hash32>,
}

/// Admitted, not yet committed transactions.
pub struct Mempool {
    by_id: HashMap<Hash32, Arc<PoolTx>>,
    senders: HashMap<Address, SenderQueue>,
    limits: MempoolLimits,
    /// Sum of `size` over `by_id`.
    bytes: usize,
    /// Each sender's last transaction, lowest priority first: what a full pool evicts.
    tails: BTreeMap<TailKey, Address>,
    /// The transactions of the block being proposed: neither replaced nor evicted meanwhile.
    in_flight: HashSet<Hash32>,
}

/// The facts about a sender read from committed state for admission.
pub struct SenderState {
    pub nonce: u64,
    pub balance: Amount,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Mempool {
        Mempool {
            by_id: HashMap::new(),
            senders: HashMap::new(),
            limits,
            bytes: 0,
            tails: BTreeMap::new(),
            in_flight: HashSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Bytes of encoded transactions held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn limits(&self) -> MempoolLimits {
        self.limits
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
        self.senders.get(sender).map(SenderQueue::next_nonce)
    }

    /// For a pending transaction that waits for a missing nonce: its nonce and the account's
    /// next nonce (the one missing first).
    pub fn gap(&self, id: &Hash32) -> Option<(u64, u64)> {
        let tx = self.by_id.get(id)?;
        let next = self.senders.get(&tx.sender)?.next_nonce();
        let nonce = tx.stx.tx.nonce;
        (nonce > next).then_some((nonce, next))
    }

    /// Inserts a transaction whose signature, chain id, expiry and fee were already checked;
    /// returns it with the transactions it displaced.
    pub fn admit(&mut self, tx: PoolTx, state: SenderState) -> Result<Admission, NodeError> {
        if self.by_id.contains_key(&tx.id) {
            return Err(NodeError::rejected(
                codes::DUPLICATE_TRANSACTION,
                format!("transaction {} is already in the mempool", tx.id),
            ));
        }
        let sender = tx.sender;
        let queue = self.senders.entry(sender).or_default();
        // Committed state may have moved on since the queue was created.
        queue.committed_nonce = queue.committed_nonce.max(state.nonce);
        let plan = match self.plan(&tx, &state) {
            Ok(plan) => plan,
            Err(e) => {
                if self
                    .senders
                    .get(&sender)
                    .is_some_and(|q| q.by_nonce.is_empty())
                {
                    self.senders.remove(&sender);
                } else {
                    self.refresh_tail(&sender);
                }
                return Err(e);
            }
        };
        let mut displaced = Vec::new();
        for id in plan.evict {
            if self.remove(&id).is_some() {
                displaced.push(Displaced {
                    id,
                    reason: DropReason::Evicted { by: tx.id },
                });
            }
        }
        if let Some(old) = plan.replaces.and_then(|id| self.by_id.remove(&id)) {
            self.bytes = self.bytes.saturating_sub(old.size);
            displaced.push(Displaced {
                id: old.id,
                reason: DropReason::Replaced { by: tx.id },
            });
        }
        let queue = self.senders.entry(sender).or_default();
        queue.pending_spend = plan.pending_spend;
        queue.by_nonce.insert(tx.stx.tx.nonce, tx.id);
        let tx = Arc::new(tx);
        self.bytes = self.bytes.saturating_add(tx.size);
        self.by_id.insert(tx.id, tx.clone());
        self.refresh_tail(&sender);
        Ok(Admission { tx, displaced })
    }

    /// Decides whether `tx` is admitted and what it displaces, changing nothing.
    fn plan(&self, tx: &PoolTx, state: &SenderState) -> Result<Plan, NodeError> {
        let sender = tx.sender;
        let nonce = tx.stx.tx.nonce;
        let Some(queue) = self.senders.get(&sender) else {
            return Err(NodeError::rejected(
                codes::INTERNAL,
                "the sender's queue is missing",
            ));
        };
        if nonce < queue.committed_nonce {
            return Err(NodeError::rejected(
                codes::NONCE_TOO_LOW,
                format!(
                    "tx.nonce {nonce} of {sender} was already used; the account's next nonce is {}",
                    queue.committed_nonce
                ),
            ));
        }
        let next = queue.next_nonce();
        let window = self.limits.nonce_window;
        let replaces = queue.by_nonce.get(&nonce).and_then(|id| self.by_id.get(id));
        match replaces {
            Some(old) => {
                if self.in_flight.contains(&old.id) {
                    return Err(NodeError::rejected(
                        codes::NONCE_IN_USE,
                        format!(
                            "tx.nonce {nonce} of {sender} is used by pending transaction {}, which is in the block being proposed; it can no longer be replaced",
                            old.id
                        ),
                    ));
                }
                let needed = replacement_fee(old.stx.tx.fee);
                if tx.stx.tx.fee < needed {
                    return Err(NodeError::rejected(
                        codes::NONCE_IN_USE,
                        format!(
                            "tx.nonce {nonce} of {sender} is already used by pending transaction {} (fee {}); to replace it, pay a tx.fee of at least {needed} ({REPLACEMENT_FEE_BUMP_PERCENT} % more), or use nonce {next}",
                            old.id, old.stx.tx.fee
                        ),
                    ));
                }
            }
            None => {
                if nonce >= next.saturating_add(window) {
                    return Err(NodeError::rejected(
                        codes::NONCE_TOO_FAR_AHEAD,
                        format!(
                            "tx.nonce {nonce} of {sender} is too far ahead: the account's next nonce is {next} (counting its {} pending transactions) and a transaction may skip at most {} nonces; send nonce {next} first",
                            queue.by_nonce.len(),
                            window.saturating_sub(1)
                        ),
                    ));
                }
                if queue.by_nonce.len() >= self.limits.sender_txs_max {
                    return Err(NodeError::rejected(
                        codes::TOO_MANY_PENDING,
                        format!(
                            "{sender} already has {} pending transactions, the most one account may have; send tx.nonce {nonce} again once some of them are committed (the account's next nonce is {next})",
                            queue.by_nonce.len()
                        ),
                    ));
                }
            }
        }
        let already = queue
            .pending_spend
            .saturating_sub(replaces.map_or(0, |old| old.spend));
        let pending_spend = already.checked_add(tx.spend).ok_or_else(|| {
            NodeError::rejected(
                codes::AMOUNT_OVERFLOW,
                "the amounts of this and the pending transactions overflow",
            )
        })?;
        if pending_spend > state.balance {
            return Err(NodeError::rejected(
                codes::INSUFFICIENT_BALANCE,
                format!(
                    "insufficient balance: {sender} holds {} base units, but this transaction needs {} (fee, value and 1 % transfer fee) on top of {already} already pending",
                    state.balance, tx.spend
                ),
            ));
        }
        let (count, bytes) = match replaces {
            Some(old) => (
                self.by_id.len(),
                self.bytes.saturating_sub(old.size).saturating_add(tx.size),
            ),
            None => (
                self.by_id.len().saturating_add(1),
                self.bytes.saturating_add(tx.size),
            ),
        };
        let evict = if count > self.limits.txs_max || bytes > self.limits.bytes_max {
            let priority = Priority {
                executable: nonce <= next,
                rate: tx.fee_rate(),
            };
            self.make_room(tx, priority, next, count, bytes)?
        } else {
            Vec::new()
        };
        Ok(Plan {
            replaces: replaces.map(|old| old.id),
            pending_spend,
            evict,
        })
    }

    /// The transactions `tx` (of `priority`) evicts so that the pool, holding `count`
    /// transactions and `bytes` with it, is within its bounds; or why it cannot get in.
    fn make_room(
        &self,
        tx: &PoolTx,
        priority: Priority,
        next: u64,
        count: usize,
        bytes: usize,
    ) -> Result<Vec<Hash32>, NodeError> {
        let victims = self.lowest_tails(&tx.sender, count, bytes);
        let highest = victims
            .as_ref()
            .and_then(|v| v.iter().map(|(p, _)| *p).max());
        if let (Some(victims), Some(highest)) = (&victims, highest) {
            if highest < priority {
                return Ok(victims.iter().map(|(_, id)| *id).collect());
            }
        }
        let hint = match highest {
            Some(h) if h.executable && !priority.executable => format!(
                "its tx.nonce {} waits for nonce {next} of {}, and a full mempool keeps transactions that can run first: send nonce {next} first",
                tx.stx.tx.nonce, tx.sender
            ),
            Some(h) => format!(
                "a tx.fee of at least {} (this one pays {}) would evict lower-paying transactions; or retry after the next block",
                fee_above_rate(h.rate, tx.weight),
                tx.stx.tx.fee
            ),
            None => "retry after the next block".to_string(),
        };
        Err(NodeError::rejected(
            codes::MEMPOOL_FULL,
            format!(
                "the mempool is full ({} transactions, {} bytes; at most {} and {}) and this transaction does not outrank what it would have to evict: {hint}",
                self.by_id.len(),
                self.bytes,
                self.limits.txs_max,
                self.limits.bytes_max
            ),
        ))
    }

    /// The lowest-priority transactions that can be evicted — senders' last ones, never
    /// `newcomer`'s nor the block in flight's — until `count` transactions and `bytes` fit, in
    /// eviction order with their priority; `None` if evicting all of them is not enough.
    fn lowest_tails(
        &self,
        newcomer: &Address,
        mut count: usize,
        mut bytes: usize,
    ) -> Option<Vec<(Priority, Hash32)>> {
        let fits = |count: usize, bytes: usize| {
            count <= self.limits.txs_max && bytes <= self.limits.bytes_max
        };
        let mut tails = self
            .tails
            .iter()
            .filter(|((_, id), sender)| *sender != newcomer && !self.in_flight.contains(id))
            .map(|(key, sender)| (*key, *sender))
            .peekable();
        // The transactions that become a sender's last once its last ones are evicted.
        let mut behind: BinaryHeap<Reverse<(TailKey, Address)>> = BinaryHeap::new();
        let mut taken: HashMap<Address, usize> = HashMap::new();
        let mut out = Vec::new();
        while !fits(count, bytes) {
            let from_behind = match (tails.peek(), behind.peek()) {
                (Some(t), Some(Reverse(b))) => b.0 < t.0,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            let (key, sender) = if from_behind {
                behind.pop().map(|Reverse(b)| b)?
            } else {
                tails.next()?
            };
            let tx = self.by_id.get(&key.1)?;
            out.push((key.0, key.1));
            count = count.saturating_sub(1);
            bytes = bytes.saturating_sub(tx.size);
            let n = taken.entry(sender).or_default();
            *n += 1;
            let Some(queue) = self.senders.get(&sender) else {
                continue;
            };
            let next = queue.next_nonce();
            if let Some((nonce, id)) = queue.by_nonce.iter().rev().nth(*n) {
                if let (Some(t), false) = (self.by_id.get(id), self.in_flight.contains(id)) {
                    let p = Priority {
                        executable: *nonce < next,
                        rate: t.fee_rate(),
                    };
                    behind.push(Reverse(((p, *id), sender)));
                }
            }
        }
        Some(out)
    }

    /// Puts the sender's last transaction at its place in the eviction order.
    fn refresh_tail(&mut self, sender: &Address) {
        let Some(queue) = self.senders.get_mut(sender) else {
            return;
        };
        if let Some(old) = queue.tail.take() {
            self.tails.remove(&old);
        }
        let next = queue.next_nonce();
        if let Some((nonce, id)) = queue.by_nonce.last_key_value() {
            if let Some(tx) = self.by_id.get(id) {
                let key = (
                    Priority {
                        executable: *nonce < next,
                        rate: tx.fee_rate(),
                    },
                    *id,
                );
                self.tails.insert(key, *sender);
                queue.tail = Some(key);
            }
        }
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
        let sender = tx.sender;
        if let Some(q) = self.senders.get_mut(&sender) {
            if q.by_nonce.get(&tx.stx.tx.nonce) == Some(id) {
                q.by_nonce.remove(&tx.stx.tx.nonce);
            }
            q.pending_spend = q.pending_spend.saturating_sub(tx.spend);
            if q.by_nonce.is_empty() {
                if let Some(key) = q.tail.take() {
                    self.tails.remove(&key);
                }
                self.senders.remove(&sender);
            } else {
                self.refresh_tail(&sender);
            }
        }
        Some(tx)
    }

    /// Removes transactions for `reason`, returning those that were here.
    fn drop_all(
        &mut self,
        drops: impl IntoIterator<Item = (Hash32, DropReason)>,
        out: &mut Vec<Displaced>,
    ) {
        for (id, reason) in drops {
            if self.remove(&id).is_some() {
                out.push(Displaced { id, reason });
            }
        }
    }

    /// Picks up to `max` executable transactions weighing at most `weight_max` together: for each
    /// sender the run of consecutive nonces from its committed nonce, taken round-robin across
    /// senders, higher fee rates first within a round. Transactions that expire before
    /// `timestamp_ms`, gapped ones admitted [`GAPPED_TX_TTL_MS`] or more before it, and those
    /// `pays` says no longer pay for themselves (a fee rule activated since their admission), are
    /// removed and returned separately; a sender's run stops at a removed one. The picked
    /// transactions are the block in flight until [`Mempool::end_proposal`].
    pub fn select(
        &mut self,
        max: usize,
        weight_max: u64,
        timestamp_ms: u64,
        pays: impl Fn(&PoolTx) -> bool,
    ) -> (Vec<Arc<PoolTx>>, Vec<Displaced>) {
        self.in_flight.clear();
        let mut dropped = Vec::new();
        let expired: Vec<(Hash32, DropReason)> = self
            .by_id
            .values()
            .filter(|tx| tx.stx.tx.expiry_ms < timestamp_ms)
            .map(|tx| {
                (
                    tx.id,
                    DropReason::Expired {
                        expiry_ms: tx.stx.tx.expiry_ms,
                    },
                )
            })
            .collect();
        self.drop_all(expired, &mut dropped);
        let mut gapped = Vec::new();
        for q in self.senders.values() {
            let next = q.next_nonce();
            for (nonce, id) in q.by_nonce.range(next..) {
                let waited = self.by_id.get(id).is_some_and(|tx| {
                    tx.admitted_ms.saturating_add(GAPPED_TX_TTL_MS) <= timestamp_ms
                });
                if waited {
                    gapped.push((
                        *id,
                        DropReason::Gapped {
                            nonce: *nonce,
                            next,
                        },
                    ));
                }
            }
        }
        self.drop_all(gapped, &mut dropped);
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
        // Higher fee rates first, then by first transaction id: an order independent of
        // HashMap iteration.
        let rate = |id: &Hash32| self.by_id.get(id).map_or(0, |t| t.fee_rate());
        runs.sort_by_cached_key(|r| (Reverse(rate(&r[0])), r[0]));
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
                            unpaid.push((tx.id, DropReason::Unpaid));
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
        self.drop_all(unpaid, &mut dropped);
        self.in_flight = picked.iter().map(|t| t.id).collect();
        (picked, dropped)
    }

    /// The block of the last [`Mempool::select`] was decided (committed, skipped or failed):
    /// its transactions may be replaced or evicted again.
    pub fn end_proposal(&mut self) {
        self.in_flight.clear();
    }

    /// After a block commits: drops its transactions and every pending transaction whose nonce is
    /// now used, and records the senders' new committed nonces. Returns the stale transactions
    /// dropped (besides the included ones).
    pub fn on_commit(
        &mut self,
        included: &[Hash32],
        new_nonces: &[(Address, u64)],
    ) -> Vec<Displaced> {
        for id in included {
            self.in_flight.remove(id);
            self.remove(id);
        }
        let mut stale = Vec::new();
        for (sender, nonce) in new_nonces {
            if let Some(q) = self.senders.get_mut(sender) {
                q.committed_nonce = q.committed_nonce.max(*nonce);
                stale.extend(
                    q.by_nonce
                        .range(..*nonce)
                        .map(|(n, id)| (*id, DropReason::Stale { nonce: *n })),
                );
            }
        }
        let mut dropped = Vec::new();
        self.drop_all(stale, &mut dropped);
        // A new committed nonce can make a sender's last transaction executable.
        for (sender, _) in new_nonces {
            self.refresh_tail(sender);
        }
        dropped
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
            admitted_ms: 0,
        }
    }

    /// A transaction paying `fee` for a weight of 100 (rate `fee` × 10,000).
    fn paying(sender: u8, nonce: u64, fee: Amount) -> PoolTx {
        let mut t = ptx(sender, nonce, fee);
        t.stx.tx.fee = fee;
        t.id = t.stx.id();
        t
    }

    fn pool(txs_max: usize, nonce_window: u64) -> Mempool {
        Mempool::new(MempoolLimits {
            txs_max,
            bytes_max: MEMPOOL_BYTES_MAX,
            sender_txs_max: 1_000,
            nonce_window,
        })
    }

    fn rich(nonce: u64) -> SenderState {
        SenderState {
            nonce,
            balance: 1_000_000,
        }
    }

    #[test]
    fn duplicate_and_reused_nonce_are_refused() {
        let mut m = pool(10, 8);
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
        let mut m = pool(10, 8);
        assert_eq!(
            m.admit(ptx(1, 2, 5), rich(3)).unwrap_err().code(),
            codes::NONCE_TOO_LOW
        );
        assert_eq!(
            m.admit(ptx(1, 11, 5), rich(3)).unwrap_err().code(),
            codes::NONCE_TOO_FAR_AHEAD
        );
        // The last nonce of the window [3, 3 + 8) is taken; it waits for 3…9 and is not picked.
        let last = m.admit(ptx(1, 10, 5), rich(3)).unwrap().tx;
        assert_eq!(m.len(), 1);
        assert_eq!(m.get(&last.id).map(|t| t.stx.tx.nonce), Some(10));
        assert_eq!(m.pending_nonce(&last.sender), Some(3));
        let (picked, dropped) = m.select(100, u64::MAX, 0, |_| true);
        assert!(picked.is_empty() && dropped.is_empty());
    }

    #[test]
    fn pending_spending_cannot_exceed_the_balance() {
        let mut m = pool(10, 8);
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
        let mut m = pool(2, 8);
        m.admit(ptx(1, 0, 1), rich(0)).unwrap();
        m.admit(ptx(2, 0, 1), rich(0)).unwrap();
        let err = m.admit(ptx(3, 0, 1), rich(0)).unwrap_err();
        assert_eq!(err.code(), codes::MEMPOOL_FULL);
        assert_eq!(err.http_status(), 429);
    }

    #[test]
    fn selection_takes_consecutive_nonces_only() {
        let mut m = pool(10, 8);
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
        let mut m = pool(10, 8);
        m.admit(ptx(1, 0, 1), rich(0)).unwrap();
        let (picked, expired) = m.select(100, u64::MAX, 5_000, |_| true);
        assert!(picked.is_empty());
        assert_eq!(expired.len(), 1);
        assert!(m.is_empty());
    }

    #[test]
    fn transactions_that_no_longer_pay_are_dropped_at_selection_and_stop_their_sender() {
        let mut m = pool(10, 8);
        let unpaid = m.admit(ptx(1, 0, 1), rich(0)).unwrap().tx;
        m.admit(ptx(1, 1, 1), rich(0)).unwrap();
        let other = m.admit(ptx(2, 0, 1), rich(0)).unwrap().tx;
        let (picked, dropped) = m.select(100, u64::MAX, 0, |t| t.id != unpaid.id);
        let picked: Vec<Hash32> = picked.iter().map(|t| t.id).collect();
        assert_eq!(picked, vec![other.id]);
        assert_eq!(
            dropped,
            vec![Displaced {
                id: unpaid.id,
                reason: DropReason::Unpaid
            }]
        );
        assert!(m.get(&unpaid.id).is_none());
        // The sender's next nonce waits for a replacement of the dropped one.
        assert_eq!(m.pending_nonce(&unpaid.sender), Some(0));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn commit_removes_included_and_stale_transactions() {
        let mut m = pool(10, 8);
        let a = m.admit(ptx(1, 0, 1), rich(0)).unwrap().tx;
        let b = m.admit(ptx(1, 1, 1), rich(0)).unwrap().tx;
        m.admit(ptx(1, 2, 1), rich(0)).unwrap();
        let stale = m.on_commit(&[a.id], &[(a.sender, 2)]);
        assert_eq!(
            stale,
            vec![Displaced {
                id: b.id,
                reason: DropReason::Stale { nonce: 1 }
            }]
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m.pending_nonce(&a.sender), Some(3));
    }

    #[test]
    fn selection_stops_at_the_block_weight_limit_and_keeps_nonce_order() {
        let mut m = pool(100, 100);
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

    /// `t` valid for ever, admitted at `ms`.
    fn admitted_at(mut t: PoolTx, ms: u64) -> PoolTx {
        t.stx.tx.expiry_ms = u64::MAX;
        t.id = t.stx.id();
        t.admitted_ms = ms;
        t
    }

    #[test]
    fn the_nonce_gap_is_counted_from_the_next_nonce_after_the_pending_ones() {
        let mut m = pool(100, 4);
        for n in 0..3 {
            m.admit(ptx(1, n, 1), rich(0)).unwrap();
        }
        // The next nonce is 3, and at most 3 nonces may be skipped: 6 is the last admissible.
        let far = m.admit(ptx(1, 7, 1), rich(0)).unwrap_err();
        assert_eq!(far.code(), codes::NONCE_TOO_FAR_AHEAD);
        assert!(far.to_string().contains("next nonce is 3"), "{far}");
        let gapped = m.admit(ptx(1, 6, 1), rich(0)).unwrap().tx;
        assert_eq!(m.gap(&gapped.id), Some((6, 3)));
        // A gapped transaction does not move the next nonce.
        assert_eq!(
            m.admit(ptx(1, 7, 1), rich(0)).unwrap_err().code(),
            codes::NONCE_TOO_FAR_AHEAD
        );
        assert_eq!(m.pending_nonce(&gapped.sender), Some(3));
    }

    #[test]
    fn one_sender_holds_at_most_its_slots_and_a_replacement_takes_none() {
        let mut m = Mempool::new(MempoolLimits {
            txs_max: 100,
            bytes_max: MEMPOOL_BYTES_MAX,
            sender_txs_max: 3,
            nonce_window: 100,
        });
        for n in 0..3 {
            m.admit(ptx(1, n, 1), rich(0)).unwrap();
        }
        let e = m.admit(ptx(1, 3, 1), rich(0)).unwrap_err();
        assert_eq!(e.code(), codes::TOO_MANY_PENDING);
        assert_eq!(e.http_status(), 429);
        assert!(e.to_string().contains("next nonce is 3"), "{e}");
        m.admit(ptx(2, 0, 1), rich(0)).unwrap();
        m.admit(paying(1, 2, 2), rich(0)).unwrap();
        assert_eq!(m.len(), 4);
    }

    #[test]
    fn a_full_pool_evicts_the_last_transaction_of_the_lowest_paying_sender() {
        let mut m = pool(3, 8);
        let a0 = m.admit(paying(1, 0, 1), rich(0)).unwrap().tx;
        let a1 = m.admit(paying(1, 1, 1), rich(0)).unwrap().tx;
        m.admit(paying(2, 0, 5), rich(0)).unwrap();
        let c = m.admit(paying(3, 0, 10), rich(0)).unwrap();
        assert_eq!(
            c.displaced,
            vec![Displaced {
                id: a1.id,
                reason: DropReason::Evicted { by: c.tx.id }
            }]
        );
        assert_eq!(m.len(), 3);
        // The evicted one was the sender's last: no gap opened.
        assert!(m.get(&a0.id).is_some());
        assert_eq!(m.pending_nonce(&a0.sender), Some(1));
        assert_eq!(
            c.displaced[0].error().code(),
            codes::TX_EVICTED,
            "waiters are told it was evicted"
        );
    }

    #[test]
    fn a_full_pool_refuses_what_pays_no_more_and_names_the_fee_that_gets_in() {
        let mut m = pool(2, 8);
        let low = m.admit(paying(1, 0, 7), rich(0)).unwrap().tx;
        m.admit(paying(2, 0, 9), rich(0)).unwrap();
        let e = m.admit(paying(3, 0, 7), rich(0)).unwrap_err();
        assert_eq!(e.code(), codes::MEMPOOL_FULL);
        let needed = fee_above_rate(fee_rate(7, 100), 100);
        assert_eq!(needed, 8);
        assert!(e.to_string().contains("at least 8"), "{e}");
        let got = m.admit(paying(3, 0, needed), rich(0)).unwrap();
        let evicted: Vec<Hash32> = got.displaced.iter().map(|d| d.id).collect();
        assert_eq!(evicted, vec![low.id]);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn gapped_transactions_go_first_and_stamped_ones_next_whatever_gapped_ones_pay() {
        let mut m = pool(2, 8);
        let gapped = m.admit(paying(1, 3, 1_000), rich(0)).unwrap().tx;
        let stamped = m.admit(paying(2, 0, 0), rich(0)).unwrap().tx;
        // A fee-free (stamped) transaction that can run next outranks a gapped one.
        let runnable = m.admit(paying(3, 0, 0), rich(0)).unwrap();
        assert_eq!(runnable.displaced.len(), 1);
        assert_eq!(runnable.displaced[0].id, gapped.id);
        // A gapped transaction cannot push out one that can run, whatever it pays.
        let e = m.admit(paying(4, 1, 1_000), rich(0)).unwrap_err();
        assert_eq!(e.code(), codes::MEMPOOL_FULL);
        assert!(e.to_string().contains("send nonce 0 first"), "{e}");
        // Any fee outranks a stamp.
        let paid = m.admit(paying(5, 0, 1), rich(0)).unwrap();
        assert_eq!(paid.displaced.len(), 1);
        assert!([stamped.id, runnable.tx.id].contains(&paid.displaced[0].id));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn eviction_spares_the_newcomers_own_queue_and_the_block_in_flight() {
        let mut m = pool(2, 8);
        let own = m.admit(paying(1, 0, 1), rich(0)).unwrap().tx;
        let proposed = m.admit(paying(2, 0, 2), rich(0)).unwrap().tx;
        let (picked, _) = m.select(1, u64::MAX, 0, |_| true);
        assert_eq!(picked[0].id, proposed.id);
        // Its own nonce 0 cannot make room for its nonce 1, nor can the block being proposed.
        let e = m.admit(paying(1, 1, 100), rich(0)).unwrap_err();
        assert_eq!(e.code(), codes::MEMPOOL_FULL);
        let e = m.admit(paying(2, 0, 100), rich(0)).unwrap_err();
        assert_eq!(e.code(), codes::NONCE_IN_USE);
        assert!(e.to_string().contains("block being proposed"), "{e}");
        // Once the block is decided (here: not committed), it can be evicted.
        m.end_proposal();
        let later = m.admit(paying(1, 1, 100), rich(0)).unwrap();
        let evicted: Vec<Hash32> = later.displaced.iter().map(|d| d.id).collect();
        assert_eq!(evicted, vec![proposed.id]);
        assert!(m.get(&own.id).is_some());
    }

    #[test]
    fn a_higher_fee_replaces_the_pending_transaction_with_the_same_nonce() {
        let mut m = pool(10, 8);
        let state = || SenderState {
            nonce: 0,
            balance: 300,
        };
        let old = m.admit(paying(1, 0, 100), state()).unwrap().tx;
        let e = m.admit(paying(1, 0, 109), state()).unwrap_err();
        assert_eq!(e.code(), codes::NONCE_IN_USE);
        assert!(e.to_string().contains("at least 110"), "{e}");
        let new = m.admit(paying(1, 0, 110), state()).unwrap();
        assert_eq!(
            new.displaced,
            vec![Displaced {
                id: old.id,
                reason: DropReason::Replaced { by: new.tx.id }
            }]
        );
        assert_eq!(new.displaced[0].error().code(), codes::TX_REPLACED);
        assert_eq!((m.len(), m.bytes()), (1, 200));
        assert!(m.get(&old.id).is_none());
        // Only the replacement's spending counts: 110 + 190 = 300.
        m.admit(paying(1, 1, 190), state()).unwrap();
        assert_eq!(replacement_fee(0), 1, "a stamp is replaced by any fee");
    }

    #[test]
    fn gapped_transactions_leave_after_their_time_unless_the_gap_closes() {
        let mut m = pool(10, 8);
        let stuck = m
            .admit(admitted_at(ptx(1, 2, 1), 1_000), rich(0))
            .unwrap()
            .tx;
        let closed = m
            .admit(admitted_at(ptx(2, 1, 1), 1_000), rich(0))
            .unwrap()
            .tx;
        let first = admitted_at(ptx(2, 0, 1), 1_000 + GAPPED_TX_TTL_MS - 1);
        let first = m.admit(first, rich(0)).unwrap().tx;
        // Just before its time, the gapped one stays (and is not picked).
        let (picked, dropped) = m.select(100, u64::MAX, 1_000 + GAPPED_TX_TTL_MS - 1, |_| true);
        assert!(dropped.is_empty());
        assert_eq!(picked.len(), 2);
        m.end_proposal();
        let (picked, dropped) = m.select(100, u64::MAX, 1_000 + GAPPED_TX_TTL_MS, |_| true);
        assert_eq!(
            dropped,
            vec![Displaced {
                id: stuck.id,
                reason: DropReason::Gapped { nonce: 2, next: 0 }
            }]
        );
        let picked: Vec<Hash32> = picked.iter().map(|t| t.id).collect();
        assert_eq!(picked, vec![first.id, closed.id]);
        assert_eq!(dropped[0].error().code(), codes::TX_DROPPED);
    }

    #[test]
    fn selection_takes_higher_fee_rates_first() {
        let mut m = pool(10, 8);
        let mut cheap = Vec::new();
        for sender in 1..=4 {
            cheap.push(
                m.admit(paying(sender, 0, sender as Amount % 2), rich(0))
                    .unwrap()
                    .tx
                    .id,
            );
        }
        // The best-paying one has the highest id: an order by id alone would pick it last.
        let best = (50..)
            .map(|fee| paying(9, 0, fee))
            .find(|t| cheap.iter().all(|id| t.id > *id))
            .unwrap();
        let best = m.admit(best, rich(0)).unwrap().tx;
        let (picked, _) = m.select(1, u64::MAX, 0, |_| true);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].id, best.id);
    }

    #[test]
    fn the_byte_bound_evicts_as_many_last_transactions_as_a_large_one_needs() {
        let mut m = Mempool::new(MempoolLimits {
            txs_max: 100,
            bytes_max: 600,
            sender_txs_max: 100,
            nonce_window: 8,
        });
        let a0 = m.admit(paying(1, 0, 1), rich(0)).unwrap().tx;
        let a1 = m.admit(paying(1, 1, 1), rich(0)).unwrap().tx;
        let b = m.admit(paying(2, 0, 3), rich(0)).unwrap().tx;
        let mut big = paying(3, 0, 50);
        big.size = 400;
        let big = m.admit(big, rich(0)).unwrap();
        // 1,000 bytes: sender 1's last, then its first (the new last, still cheapest).
        let evicted: Vec<Hash32> = big.displaced.iter().map(|d| d.id).collect();
        assert_eq!(evicted, vec![a1.id, a0.id]);
        assert!(m.get(&b.id).is_some());
        assert_eq!(m.bytes(), 600);
    }

    #[test]
    fn a_committed_nonce_makes_a_gapped_transaction_outrank_cheaper_runnable_ones() {
        let mut m = pool(2, 8);
        let waiting = m.admit(paying(1, 1, 100), rich(0)).unwrap().tx;
        let cheap = m.admit(paying(2, 0, 1), rich(0)).unwrap().tx;
        // A block (from another leader) used nonce 0 of sender 1: its transaction can run now.
        assert!(m.on_commit(&[], &[(waiting.sender, 1)]).is_empty());
        assert_eq!(m.gap(&waiting.id), None);
        let newcomer = m.admit(paying(3, 0, 50), rich(0)).unwrap();
        let evicted: Vec<Hash32> = newcomer.displaced.iter().map(|d| d.id).collect();
        assert_eq!(evicted, vec![cheap.id]);
    }
}
