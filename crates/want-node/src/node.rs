//! The running node: admission into the mempool, the durable mempool journal, block production
//! through consensus, and execution of committed blocks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rayon::prelude::*;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};
use tracing::{error, info, warn};
use want_consensus::net::{Peer, Transport};
use want_consensus::{
    AppliedBlock, ApplyOutcome, BlockApplier, ChainPoint, ClusterNet, Consensus, ConsensusError,
    MemberNode, RaftConsensus, RaftTiming,
};
use want_crypto::NodeKey;
use want_state::{query, BlockContext, StateView, VerifiedTx};
use want_storage::{BlockInfo, ChainIdentity, StateSnapshot, Store};
use want_types::{
    Address, Amount, Block, BlockHeader, Call, ChainParams, Hash32, Receipt, SignedTransaction,
    TokenCall, TxStatus,
};

use crate::config::{Genesis, NodeConfig, JOURNAL_BATCH_MAX, TX_EXPIRY_AHEAD_MAX_MS};
use crate::error::{codes, NodeError};
use crate::mempool::{Mempool, PoolTx, SenderState};
use crate::metrics::Metrics;

/// Name of the node's Ed25519 identity key file inside the data directory.
pub const NODE_KEY_FILE: &str = "node-key.hex";
/// How long stopping waits for the block in flight to commit before stopping consensus under it.
pub const PRODUCER_STOP_GRACE_MS: u64 = 5_000;
/// Raft id of the single node (the only member of its cluster).
pub const SINGLE_NODE_RAFT_ID: u64 = 1;
/// Capacity of the committed-block broadcast (subscribers that fall further behind re-read storage).
const BLOCK_BROADCAST_CAPACITY: usize = 1_024;

/// What a `?wait=commit` caller learns when its transaction is committed.
#[derive(Clone, Debug)]
pub struct CommitNotice {
    pub height: u64,
    pub index: u32,
    pub block_hash: Hash32,
    pub receipt: Receipt,
}

struct JournalReq {
    id: Hash32,
    bytes: Vec<u8>,
    done: oneshot::Sender<Result<(), String>>,
}

/// State shared by the API, the producer and the executor.
pub struct Shared {
    pub cfg: NodeConfig,
    pub genesis: Genesis,
    pub params: ChainParams,
    pub store: Arc<Store>,
    pub mempool: Mutex<Mempool>,
    waiters: Mutex<HashMap<Hash32, Vec<oneshot::Sender<CommitNotice>>>>,
    /// Height of every committed block, in order.
    pub blocks: broadcast::Sender<u64>,
    pub metrics: Metrics,
    pub node_key: NodeKey,
    pub node_id: String,
    produce: Notify,
    journal: mpsc::UnboundedSender<JournalReq>,
    pub started: Instant,
    /// Commit votes and certificates: the divergence flag and the outgoing vote queue
    /// (see `certs.rs`).
    pub certs: crate::certs::CertState,
    /// The voting members as Raft last reported them (empty until it has; see
    /// `Shared::member_keys`).
    pub voters: parking_lot::RwLock<Vec<crate::config::GenesisMember>>,
    /// The content-addressed store of sealed records and KYC documents.
    pub blobs: crate::blobs::BlobStore,
    /// The key `POST /v1/epcis/capture` signs with, if configured.
    pub capture: Option<Arc<crate::capture::CaptureSigner>>,
    /// Serialises the signing and admission of captures' anchors (consecutive nonces of the
    /// capture key); held only until they are admitted.
    pub capture_lock: tokio::sync::Mutex<()>,
    /// Event hashes of captures between their duplicate check and their commit, so two
    /// overlapping captures of one event cannot both pass the check (the second is refused at
    /// once instead of failing, fee paid, in a block).
    pub capture_inflight: Mutex<std::collections::HashSet<Hash32>>,
    /// When this node last proposed a block (Unix ms): a transaction arriving after a whole
    /// block interval without one is proposed at once instead of waiting for the next tick.
    pub last_proposed_ms: std::sync::atomic::AtomicU64,
    /// Anchoring transactions whose signatures `verify` already checked.
    pub signer_cache: crate::trace::SignerCache,
    pub block_cache: crate::trace::BlockCache,
}

/// Unix time in milliseconds from the system clock (the node's only clock; the state machine
/// sees only block timestamps).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An admitted transaction with its canonical bytes, to be journaled.
type Admitted = (Arc<PoolTx>, Vec<u8>);

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
async fn check_signatures(txs: Vec<SignedTransaction>) -> Option<Vec<Result<Checked, NodeError>>> {
    tokio::task::spawn_blocking(move || txs.into_par_iter().map(check_signature).collect())
        .await
        .ok()
}

/// Most a transaction can take from its sender's balance: fee + value + transfer fee.
fn max_spend(params: &ChainParams, stx: &SignedTransaction) -> Result<Amount, NodeError> {
    let overflow = || {
        NodeError::rejected(
            codes::AMOUNT_OVERFLOW,
            "tx.call.amount plus fees overflows 128 bits",
        )
    };
    let value = match &stx.tx.call {
        Call::Token(TokenCall::Transfer { amount, .. }) => amount
            .checked_add(params.transfer_fee(*amount).ok_or_else(overflow)?)
            .ok_or_else(overflow)?,
        Call::Token(TokenCall::Burn { amount }) => *amount,
        Call::Token(TokenCall::Approve { .. })
        | Call::Token(TokenCall::TransferFrom { .. })
        | Call::Trace(_) => 0,
    };
    value.checked_add(stx.tx.fee).ok_or_else(overflow)
}

impl Shared {
    /// Checks everything about a transaction that does not need the mempool, and reads the
    /// sender's committed state.
    fn precheck(
        &self,
        snap: &StateSnapshot,
        stx: &SignedTransaction,
        size: usize,
        id: Hash32,
        sender: Address,
    ) -> Result<(Amount, SenderState), NodeError> {
        let tx = &stx.tx;
        if tx.chain_id != self.params.chain_id {
            return Err(NodeError::rejected(
                codes::WRONG_CHAIN_ID,
                format!(
                    "tx.chain_id {} is not this chain's id {}; sign the transaction for this chain",
                    tx.chain_id, self.params.chain_id
                ),
            ));
        }
        let now = now_ms();
        if tx.expiry_ms < now {
            return Err(NodeError::rejected(
                codes::EXPIRED,
                format!(
                    "tx.expiry_ms {} is in the past (now {now}); sign it again with a later expiry",
                    tx.expiry_ms
                ),
            ));
        }
        if tx.expiry_ms > now.saturating_add(TX_EXPIRY_AHEAD_MAX_MS) {
            return Err(NodeError::rejected(
                codes::EXPIRY_TOO_FAR,
                format!(
                    "tx.expiry_ms {} is more than 24 h ahead (now {now})",
                    tx.expiry_ms
                ),
            ));
        }
        let stamp_bits = id.leading_zero_bits();
        if tx.fee < self.params.min_fee && stamp_bits < self.params.pow_difficulty_bits {
            return Err(NodeError::rejected(
                codes::FEE_TOO_LOW,
                format!(
                    "tx.fee {} is below the minimum fee {} and the transaction id has {stamp_bits} leading zero bits where a proof-of-work stamp needs {}; pay the fee or solve the stamp (vary tx.pow_nonce)",
                    tx.fee, self.params.min_fee, self.params.pow_difficulty_bits
                ),
            ));
        }
        if tx.fee < self.params.min_fee && size > want_types::POW_TX_BYTES_MAX {
            return Err(NodeError::rejected(
                codes::FEE_TOO_LOW,
                format!(
                    "the transaction is {size} bytes; a proof-of-work stamp pays for at most {} bytes, larger ones pay the minimum fee {}: set tx.fee",
                    want_types::POW_TX_BYTES_MAX,
                    self.params.min_fee
                ),
            ));
        }
        let spend = max_spend(&self.params, stx)?;
        let nonce = query::nonce(snap, &sender)?;
        let balance = query::balance(snap, &sender)?;
        if let Call::Token(TokenCall::TransferFrom { from, amount, .. }) = &tx.call {
            let fee = self
                .params
                .transfer_fee(*amount)
                .and_then(|f| f.checked_add(*amount))
                .ok_or_else(|| {
                    NodeError::rejected(
                        codes::AMOUNT_OVERFLOW,
                        "tx.call.amount plus the transfer fee overflows",
                    )
                })?;
            let allowance = query::allowance(snap, from, &sender)?;
            if allowance < fee {
                return Err(NodeError::rejected(
                    codes::INSUFFICIENT_ALLOWANCE,
                    format!("insufficient allowance: {from} allows {sender} {allowance} base units, this transfer needs {fee} (amount and 1 % fee)"),
                ));
            }
            let from_balance = query::balance(snap, from)?;
            if from_balance < fee {
                return Err(NodeError::rejected(
                    codes::INSUFFICIENT_BALANCE,
                    format!("insufficient balance: {from} holds {from_balance} base units, this transfer needs {fee}"),
                ));
            }
        }
        if let Call::Trace(call) = &tx.call {
            crate::trace::precheck_call(snap, &self.params, now, &id, &sender, call)?;
        }
        Ok((spend, SenderState { nonce, balance }))
    }

    /// Admits a signature-checked transaction into the mempool (not yet journaled).
    fn admit(&self, snap: &StateSnapshot, checked: Checked) -> Result<Arc<PoolTx>, NodeError> {
        let Checked {
            stx,
            id,
            sender,
            bytes,
        } = checked;
        let size = bytes.len();
        let (spend, state) = self.precheck(snap, &stx, size, id, sender)?;
        if snap.tx_location(&id)?.is_some() {
            return Err(NodeError::rejected(
                codes::DUPLICATE_TRANSACTION,
                format!("transaction {id} is already committed"),
            ));
        }
        let admitted = self.mempool.lock().admit(
            PoolTx {
                id,
                sender,
                stx,
                spend,
                size,
            },
            state,
        )?;
        Ok(admitted)
    }

    /// Debug builds check the supply invariant after every block:
    /// `sum(balances) + burned == total supply`, no zero balance stored.
    #[cfg(debug_assertions)]
    fn audit_supply(&self, height: u64) {
        let entries = self
            .store
            .state_with_prefix(want_state::token::state::PREFIX)
            .expect("invariant: the committed state is readable right after its commit");
        let state = want_state::MemState(entries);
        let audit =
            want_state::audit_supply(&state).expect("invariant: stored token state decodes");
        assert!(
            audit.holds(),
            "supply invariant broken after block {height}: {audit:?}"
        );
    }

    /// Drops the commit waiters of transactions that left the mempool without committing (their
    /// callers get an error instead of waiting for the timeout).
    fn forget_waiters(&self, ids: &[Hash32]) {
        let mut waiters = self.waiters.lock();
        for id in ids {
            waiters.remove(id);
        }
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
        // Senders: admission already verified our own mempool's transactions (the id commits to
        // `from`, which verification checked is the signer); verify the rest in parallel.
        let known: Vec<Option<Address>> = {
            let pool = self.mempool.lock();
            ids.iter()
                .map(|id| pool.get(id).map(|p| p.sender))
                .collect()
        };
        let vtxs: Vec<VerifiedTx> = block
            .txs
            .par_iter()
            .zip(ids.par_iter())
            .zip(known.par_iter())
            .map(|((stx, id), known)| {
                let sender = match known {
                    Some(sender) => *sender,
                    None => want_crypto::verify_transaction(stx)
                        .map(|(_, sender)| sender)
                        .map_err(|e| invalid(format!("transaction {id}: {e}")))?,
                };
                Ok(VerifiedTx {
                    id: *id,
                    sender,
                    tx: stx.clone(),
                })
            })
            .collect::<Result<_, NodeError>>()?;
        let ctx = BlockContext {
            height: h.height,
            timestamp_ms: h.timestamp_ms,
            params: self.params.clone(),
        };
        let outcome = {
            let snap = self.store.snapshot()?;
            want_state::apply_block(&snap as &dyn StateView, &ctx, head.state_root, &vtxs)?
        };
        let info = self.store.commit_block_with_meta(
            block,
            &outcome.receipts,
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
            self.forget_waiters(&stale);
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
                            let _ = w.send(CommitNotice {
                                height: info.height,
                                index: i as u32,
                                block_hash: info.hash,
                                receipt: r.clone(),
                            });
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

    /// Drops the commit waiters of transactions that will not commit (callers are told).
    pub(crate) fn forget_waiters_of(&self, ids: &[Hash32]) {
        if !ids.is_empty() {
            self.forget_waiters(ids);
        }
    }
}

/// Applies committed blocks for consensus.
pub struct Executor {
    shared: Arc<Shared>,
}

impl BlockApplier for Executor {
    fn apply(
        &self,
        block: &Block,
        members: &[[u8; 32]],
        consensus_meta: Option<&[u8]>,
    ) -> Result<ApplyOutcome, String> {
        let head = self.shared.store.head().map_err(|e| e.to_string())?;
        let info = self
            .shared
            .execute(block, members, consensus_meta)
            .map_err(|e| e.to_string())?;
        Ok(match info {
            Some(info) => ApplyOutcome::Applied(AppliedBlock {
                height: info.height,
                hash: info.hash,
                state_root: info.state_root,
                tx_count: info.tx_count,
            }),
            None => ApplyOutcome::Stale(format!(
                "it does not extend head {} ({})",
                head.height, head.hash
            )),
        })
    }

    fn head(&self) -> Result<ChainPoint, String> {
        let head = self.shared.store.head().map_err(|e| e.to_string())?;
        Ok(ChainPoint {
            height: head.height,
            hash: head.hash,
            state_root: head.state_root,
        })
    }

    fn catch_up(
        &self,
        target: &ChainPoint,
        sources: &[String],
        consensus_meta: &[u8],
    ) -> Result<(), String> {
        self.shared.catch_up(target, sources, consensus_meta)
    }

    fn record_consensus_meta(&self, meta: &[u8]) -> Result<(), String> {
        self.shared
            .store
            .set_consensus_meta(meta)
            .map_err(|e| e.to_string())
    }

    fn consensus_meta(&self) -> Result<Option<Vec<u8>>, String> {
        self.shared
            .store
            .consensus_meta()
            .map_err(|e| e.to_string())
    }
}

/// A handle on a running node.
#[derive(Clone)]
pub struct Node {
    pub shared: Arc<Shared>,
    consensus: Arc<RaftConsensus<Executor>>,
    shutdown: watch::Sender<bool>,
    producer: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// Result of submitting a transaction.
pub enum Submitted {
    Accepted(Hash32),
    Committed(Hash32, Box<CommitNotice>),
}

/// A transaction admitted by [`Node::submit_pending`] whose commit has not been awaited yet.
pub struct PendingTx {
    pub id: Hash32,
    rx: oneshot::Receiver<CommitNotice>,
}

impl Node {
    /// Opens the data directory, checks or writes the genesis, restores the mempool journal,
    /// starts consensus (a single-member openraft cluster; committed blocks the executor had not
    /// recorded before a crash are applied now) and starts block production. The HTTP server is
    /// started separately (see [`crate::serve`]).
    pub async fn start(
        cfg: NodeConfig,
        genesis: Genesis,
        node_key: NodeKey,
    ) -> Result<Node, NodeError> {
        cfg.validate().map_err(NodeError::Config)?;
        let store = Arc::new(Store::open(&cfg.data_dir)?);
        let (genesis_block, genesis_state, genesis_root) =
            genesis.build().map_err(NodeError::Config)?;
        let identity = ChainIdentity {
            chain_id: genesis.params.chain_id,
            genesis_hash: genesis_block.hash(),
        };
        if store.init_genesis(identity, &genesis_block, &genesis_state, genesis_root)? {
            info!(target: "node", "wrote genesis {} of chain {}", identity.genesis_hash, identity.chain_id);
        }
        let head = store.head()?;
        info!(target: "node", "chain head is block {} ({})", head.height, head.hash);

        let (journal_tx, journal_rx) = mpsc::unbounded_channel();
        let node_id = hex::encode(node_key.public_key());
        let metrics = Metrics::new();
        metrics.chain_height.set(head.height as i64);
        let blobs = crate::blobs::BlobStore::open(&cfg.data_dir)?;
        let capture = match &cfg.capture {
            Some(c) => Some(Arc::new(crate::capture::CaptureSigner::load(c)?)),
            None => None,
        };
        let shared = Arc::new(Shared {
            params: genesis.params.clone(),
            mempool: Mutex::new(Mempool::new(cfg.mempool_txs_max, cfg.mempool_nonce_window)),
            cfg,
            genesis,
            store: store.clone(),
            waiters: Mutex::new(HashMap::new()),
            blocks: broadcast::channel(BLOCK_BROADCAST_CAPACITY).0,
            metrics,
            node_key,
            node_id: node_id.clone(),
            produce: Notify::new(),
            journal: journal_tx,
            started: Instant::now(),
            certs: crate::certs::CertState::open(&store)?,
            voters: parking_lot::RwLock::new(Vec::new()),
            blobs,
            capture,
            capture_lock: tokio::sync::Mutex::new(()),
            capture_inflight: Mutex::new(std::collections::HashSet::new()),
            last_proposed_ms: std::sync::atomic::AtomicU64::new(now_ms()),
            signer_cache: crate::trace::SignerCache::default(),
            block_cache: crate::trace::BlockCache::default(),
        });
        spawn_journal_writer(shared.clone(), journal_rx);
        restore_journal(&shared)?;
        let (raft_id, timing, cluster) = cluster_setup(&shared)?;
        let consensus = Arc::new(
            RaftConsensus::start(
                &shared.cfg.data_dir,
                raft_id,
                node_id,
                Arc::new(Executor {
                    shared: shared.clone(),
                }),
                timing,
                cluster,
            )
            .await?,
        );
        let head = shared.store.head()?;
        shared.metrics.chain_height.set(head.height as i64);
        spawn_voters_watch(consensus.raft_metrics(), shared.clone());
        let (shutdown, shutdown_rx) = watch::channel(false);
        // certs hook: send own votes to the other members, backfill missing ones.
        crate::certs::spawn_vote_gossip(&shared, shutdown_rx.clone());
        crate::blob_repair::spawn_blob_repair(&shared, shutdown_rx.clone());
        crate::blob_repair::spawn_orphan_collector(&shared, shutdown_rx.clone());
        let node = Node {
            shared,
            consensus,
            shutdown,
            producer: Arc::new(Mutex::new(None)),
        };
        let producer = tokio::spawn(produce_loop(node.clone(), shutdown_rx));
        *node.producer.lock() = Some(producer);
        Ok(node)
    }

    pub fn consensus_status(&self) -> want_consensus::ConsensusStatus {
        self.consensus.status()
    }

    /// The consensus this node runs.
    pub fn consensus(&self) -> &RaftConsensus<Executor> {
        &self.consensus
    }

    /// Whether [`Node::shutdown`] was called.
    pub fn shutdown_requested(&self) -> watch::Ref<'_, bool> {
        self.shutdown.borrow()
    }

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
        let result = if self.must_forward() {
            check_signature(stx.clone())?;
            self.forward(std::slice::from_ref(&stx))
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
            Ok(Ok(notice)) => Ok(Submitted::Committed(id, Box::new(notice))),
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
                Err(NodeError::rejected(
                    codes::COMMIT_TIMEOUT,
                    format!(
                        "transaction {id} was admitted but not committed within {} ms; look it up with GET /v1/transactions/{id}",
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

    /// Admits into this node's own mempool (the leader's path).
    pub(crate) async fn admit_locally(&self, stx: SignedTransaction) -> Result<(), NodeError> {
        self.admit_and_journal(stx).await
    }

    async fn admit_and_journal(&self, stx: SignedTransaction) -> Result<(), NodeError> {
        let checked = check_signature(stx)?;
        let snap = self.shared.store.snapshot()?;
        let admitted = self.admit_checked(&snap, checked)?;
        drop(snap);
        self.journal(admitted).await
    }

    fn admit_checked(&self, snap: &StateSnapshot, checked: Checked) -> Result<Admitted, NodeError> {
        let bytes = checked.bytes.clone();
        let admitted = self.shared.admit(snap, checked)?;
        Ok((admitted, bytes))
    }

    /// Waits until an admitted transaction is in the durable journal; undoes the admission if
    /// it cannot be written.
    async fn journal(&self, (admitted, bytes): Admitted) -> Result<(), NodeError> {
        let (done_tx, done_rx) = oneshot::channel();
        let sent = self.shared.journal.send(JournalReq {
            id: admitted.id,
            bytes,
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
        let len = {
            let pool = self.shared.mempool.lock();
            self.shared.metrics.mempool_size.set(pool.len() as i64);
            pool.len()
        };
        let idle_since = self
            .shared
            .last_proposed_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        let idle = now_ms().saturating_sub(idle_since) >= self.shared.cfg.block_interval_ms;
        if len >= self.shared.cfg.block_txs_max || idle {
            self.shared.produce.notify_one();
        }
        Ok(())
    }

    /// Submits many transactions: signatures are checked in parallel on every core, then each is
    /// admitted and journaled (by the leader: a member that is not the leader forwards them).
    /// Results are in input order.
    pub async fn submit_batch(
        &self,
        txs: Vec<SignedTransaction>,
    ) -> Vec<Result<Hash32, NodeError>> {
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
        let mut forwarded = self.forward(&valid).await.into_iter();
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
            Ok(snap) => checked
                .into_iter()
                .map(|c| c.and_then(|c| self.admit_checked(&snap, c)))
                .collect(),
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
            let id = a.0.id;
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

    /// Stops producing blocks; in-flight work completes.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Resolves when [`Node::shutdown`] has been called (for long-lived streams to end).
    pub fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown.subscribe();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

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
        let (picked, expired) = s.mempool.lock().select(s.cfg.block_txs_max, timestamp_ms);
        if !expired.is_empty() {
            info!(target: "mempool", "dropped {} expired transactions", expired.len());
            s.forget_waiters(&expired);
            s.store.journal_remove(&expired)?;
        }
        if picked.is_empty() && !s.cfg.empty_blocks {
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
        Ok(Some(self.consensus.propose(block).await?))
    }
}

async fn produce_loop(node: Node, mut shutdown: watch::Receiver<bool>) {
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
                if node.shared.mempool.lock().len() >= node.shared.cfg.block_txs_max {
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

fn spawn_journal_writer(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<JournalReq>) {
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
                let result = store.journal_add(&entries).map_err(|e| e.to_string());
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

/// Re-admits the transactions journaled before a restart; drops those no longer valid.
fn restore_journal(shared: &Arc<Shared>) -> Result<(), NodeError> {
    let entries = shared.store.journal_all()?;
    if entries.is_empty() {
        return Ok(());
    }
    let mut drop_ids = Vec::new();
    let mut restored = 0usize;
    for entry in entries {
        match entry {
            Ok(stx) => {
                let id = stx.id();
                let snap = shared.store.snapshot()?;
                match check_signature(stx).and_then(|c| shared.admit(&snap, c)) {
                    Ok(_) => restored += 1,
                    Err(e) => {
                        info!(target: "mempool::journal", "dropping journaled transaction {id}: {e}");
                        drop_ids.push(id);
                    }
                }
            }
            Err(id) => drop_ids.push(id),
        }
    }
    shared.store.journal_remove(&drop_ids)?;
    shared
        .metrics
        .mempool_size
        .set(shared.mempool.lock().len() as i64);
    info!(target: "mempool::journal", "restored {restored} pending transactions, dropped {}", drop_ids.len());
    Ok(())
}

/// Keeps `Shared::voters` equal to Raft's voting members.
fn spawn_voters_watch(
    mut metrics: watch::Receiver<want_consensus::raft::ClusterMetrics>,
    shared: Arc<Shared>,
) {
    let weak = Arc::downgrade(&shared);
    drop(shared);
    tokio::spawn(async move {
        loop {
            let voters: Vec<crate::config::GenesisMember> = {
                let m = metrics.borrow_and_update();
                let membership = m.membership_config.membership();
                membership
                    .voter_ids()
                    .filter_map(|id| {
                        membership
                            .get_node(&id)
                            .map(|n| crate::config::GenesisMember {
                                id,
                                public_key: n.public_key.clone(),
                                url: n.addr.clone(),
                            })
                    })
                    .collect()
            };
            match weak.upgrade() {
                Some(shared) => {
                    if !voters.is_empty() {
                        *shared.voters.write() = voters;
                    }
                }
                None => break,
            }
            if metrics.changed().await.is_err() {
                break;
            }
        }
    });
}

/// Raft timing of a multi-node cluster: followers notice a failed leader after 0.5–1 s without
/// a heartbeat, then elect another (failover goal: first new commit within 2 s of the crash).
pub const CLUSTER_TIMING: RaftTiming = RaftTiming {
    heartbeat_interval_ms: 100,
    election_timeout_min_ms: 500,
    election_timeout_max_ms: 1_000,
    leader_wait_ms: 0,
    snapshot_every_entries: want_consensus::raft::SNAPSHOT_EVERY_ENTRIES_DEFAULT,
};

/// This node's Raft id, timing and (for a multi-node chain) network, from the genesis members
/// and the node's cluster configuration.
fn cluster_setup(shared: &Shared) -> Result<(u64, RaftTiming, Option<ClusterNet>), NodeError> {
    let genesis = &shared.genesis;
    if genesis.members.is_empty() {
        if shared.cfg.cluster.is_some() {
            return Err(NodeError::Config(
                "the configuration has a [cluster] section but the genesis names no members; use the cluster's genesis.json".into(),
            ));
        }
        let timing = RaftTiming {
            snapshot_every_entries: shared.cfg.snapshot_every_blocks,
            ..RaftTiming::default()
        };
        return Ok((SINGLE_NODE_RAFT_ID, timing, None));
    }
    genesis
        .validate_members()
        .map_err(|e| NodeError::Config(format!("genesis: {e}")))?;
    let cluster = shared.cfg.cluster.as_ref().ok_or_else(|| {
        NodeError::Config(
            "the genesis names cluster members but the configuration has no [cluster] section (node_id, advertise_url)".into(),
        )
    })?;
    let me = hex::encode(shared.node_key.public_key());
    // The key this member must have: from the membership this node last applied (keys can be
    // replaced), else from the genesis.
    let applied = shared
        .store
        .consensus_meta()?
        .and_then(|m| want_consensus::raft::AppliedMeta::decode(&m).ok())
        .and_then(|m| {
            m.membership
                .membership()
                .get_node(&cluster.node_id)
                .map(|n| {
                    (
                        n.public_key.clone(),
                        "the membership this node last applied",
                    )
                })
        });
    let expected = applied.or_else(|| {
        genesis
            .members
            .iter()
            .find(|m| m.id == cluster.node_id)
            .map(|m| (m.public_key.clone(), "the genesis"))
    });
    if let Some((key, source)) = expected {
        if key != me && source != "the genesis" {
            // Possibly replaced while this node was down: the others refuse this node's
            // messages until the membership names this key.
            warn!(target: "cluster", "cluster.node_id {} has key {key} in {source}, but this node's key is {me}; the other members will refuse its messages unless its key was replaced (want cluster set-key)", cluster.node_id);
        } else if key != me {
            return Err(NodeError::Config(format!(
                "cluster.node_id {} has key {key} in {source}, but this node's key is {me}; use that member's node-key.hex, the right node_id, or replace the member's key first (want cluster set-key)",
                cluster.node_id
            )));
        }
    }
    let to_peer = |m: &crate::config::GenesisMember| -> Result<(u64, Peer), NodeError> {
        let public_key: [u8; 32] = hex::decode(&m.public_key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| {
                NodeError::Config(format!("member {}: public_key is not 64 hex digits", m.id))
            })?;
        Ok((
            m.id,
            Peer {
                public_key,
                url: m.url.clone(),
            },
        ))
    };
    let mut fallback = std::collections::BTreeMap::new();
    for m in genesis.members.iter().chain(&cluster.peers) {
        let (id, peer) = to_peer(m)?;
        fallback.insert(id, peer);
    }
    let transport = Transport::new(
        cluster.node_id,
        genesis.params.chain_id,
        shared.node_key.clone(),
        fallback,
        shared.cfg.fault_injection,
    )
    .map_err(NodeError::Config)?;
    let initial_members = genesis
        .members
        .iter()
        .map(|m| {
            (
                m.id,
                MemberNode {
                    public_key: m.public_key.clone(),
                    addr: m.url.clone(),
                },
            )
        })
        .collect();
    Ok((
        cluster.node_id,
        RaftTiming {
            snapshot_every_entries: shared.cfg.snapshot_every_blocks,
            ..CLUSTER_TIMING
        },
        Some(ClusterNet {
            transport: Arc::new(transport),
            initial_members,
        }),
    ))
}

/// Loads the node's Ed25519 key from the data directory, creating it on first start.
pub fn load_or_create_node_key(data_dir: &Path) -> Result<NodeKey, NodeError> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        NodeError::Io(format!(
            "cannot create data directory {}: {e}",
            data_dir.display()
        ))
    })?;
    let path = data_dir.join(NODE_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => NodeKey::from_hex(text.trim()).map_err(|e| {
            NodeError::Config(format!(
                "node key file {} is not valid: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = NodeKey::generate();
            write_secret_file(&path, &key.to_hex())?;
            Ok(key)
        }
        Err(e) => Err(NodeError::Io(format!(
            "cannot read node key {}: {e}",
            path.display()
        ))),
    }
}

/// Writes a secret atomically with owner-only permissions.
pub fn write_secret_file(path: &Path, contents: &str) -> Result<(), NodeError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let io = |e: std::io::Error| NodeError::Io(format!("cannot write {}: {e}", path.display()));
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io)?;
        f.write_all(contents.as_bytes()).map_err(io)?;
        f.write_all(b"\n").map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

/// Binds the HTTP listener, with a clear message when the address is taken.
pub async fn bind_http(addr: SocketAddr) -> Result<tokio::net::TcpListener, NodeError> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            NodeError::Io(format!(
                "HTTP address {addr} is already in use (is another node running?); stop that process or pass --http HOST:PORT"
            ))
        } else {
            NodeError::Io(format!("cannot listen on {addr}: {e}"))
        }
    })
}
