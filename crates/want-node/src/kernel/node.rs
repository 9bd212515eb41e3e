//! The kernel's shared state and the handle on a running node; what each does lives in the
//! files of its job: `admission.rs` (a transaction into the mempool), `journal.rs` (the durable
//! mempool journal), `production.rs` (proposing blocks), `execution.rs` (applying committed
//! blocks), `startup.rs` (opening and starting everything).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use prometheus_client::registry::Registry;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};
use utoipa_axum::router::OpenApiRouter;
use want_consensus::{Consensus, RaftConsensus};
use want_crypto::NodeKey;
use want_storage::Store;
use want_types::{Activations, Call, ChainParams, Hash32, ModuleId, Receipt};

use crate::config::{Genesis, NodeConfig};
use crate::error::NodeError;
use crate::kernel::mempool::{Displaced, Mempool};
use crate::metrics::Metrics;

/// Name of the node's Ed25519 identity key file inside the data directory.
pub const NODE_KEY_FILE: &str = "node-key.hex";
/// How long stopping waits for the block in flight to commit before stopping consensus under it.
pub const PRODUCER_STOP_GRACE_MS: u64 = 5_000;
/// Raft id of the single node (the only member of its cluster).
pub const SINGLE_NODE_RAFT_ID: u64 = 1;
/// Capacity of the committed-block broadcast (subscribers that fall further behind re-read storage).
pub(crate) const BLOCK_BROADCAST_CAPACITY: usize = 1_024;

/// What a `?wait=commit` caller learns when its transaction is committed.
#[derive(Clone, Debug)]
pub struct CommitNotice {
    pub height: u64,
    pub index: u32,
    pub block_hash: Hash32,
    pub receipt: Receipt,
}

/// What a `?wait=commit` caller is handed: the commit, or why the transaction will not commit.
pub(crate) type CommitWaiter = oneshot::Sender<Result<CommitNotice, NodeError>>;

pub(crate) struct JournalReq {
    pub(crate) id: Hash32,
    pub(crate) bytes: Vec<u8>,
    /// Transactions it displaced from the mempool, removed from the journal in the same write.
    pub(crate) remove: Vec<Hash32>,
    pub(crate) done: oneshot::Sender<Result<(), String>>,
}

/// The kernel's state, shared by the API, admission, the producer and the executor. What is a
/// module's own (the trace module's blob store, capture key, caches) lives in the module's node
/// part, not here.
pub struct Shared {
    pub cfg: NodeConfig,
    pub genesis: Genesis,
    pub params: ChainParams,
    /// From which heights modules and rules apply (checked against the recorded ones at start).
    pub activations: Activations,
    pub store: Arc<Store>,
    pub mempool: Mutex<Mempool>,
    pub(crate) waiters: Mutex<HashMap<Hash32, Vec<CommitWaiter>>>,
    /// Height of every committed block, in order.
    pub blocks: broadcast::Sender<u64>,
    pub metrics: Metrics,
    pub node_key: NodeKey,
    pub node_id: String,
    pub(crate) produce: Notify,
    pub(crate) journal: mpsc::UnboundedSender<JournalReq>,
    pub started: Instant,
    /// Commit votes and certificates: the divergence flag and the outgoing vote queue
    /// (see `certs.rs`).
    pub certs: crate::kernel::certs::CertState,
    /// The voting members as Raft last reported them (empty until it has; see
    /// `Shared::member_keys`).
    pub voters: parking_lot::RwLock<Vec<crate::config::GenesisMember>>,
    /// When this node last proposed a block (Unix ms): a transaction arriving after a whole
    /// block interval without one is proposed at once instead of waiting for the next tick.
    pub last_proposed_ms: std::sync::atomic::AtomicU64,
    /// The modules' node parts, in registration order.
    pub modules: Vec<Arc<dyn NodeModule>>,
    /// The free-space floor and consensus's storage reserve (`disk.rs`).
    pub disk: crate::kernel::disk::DiskGuard,
    /// One permit per open `/v1/events` stream (`http.ws_clients_max`).
    pub ws_slots: Arc<tokio::sync::Semaphore>,
    /// The `/v1/events` streams each client holds (`http.client_streams_max`).
    pub ws_per_client: Arc<crate::api::ratelimit::PerClient>,
    /// The threads that serve reads of stored data, apart from execution (`reads.rs`).
    pub reads: crate::kernel::reads::ReadPool,
    /// Blocks checked before they were appended, with their senders (`execution.rs`).
    pub(crate) checked_blocks: Mutex<crate::kernel::checked::CheckedBlocks>,
    /// The members' TLS (set once the cluster's transport exists; unset on a single node):
    /// every client to other members is built through it (`member_client.rs`).
    pub member_tls: std::sync::OnceLock<want_consensus::net::MemberTls>,
}

/// Unix time in milliseconds from the system clock (the node's only clock; the state machine
/// sees only block timestamps).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Shared {
    /// Most transactions in a block this node proposes: `block_txs_max`, and in a cluster at
    /// most [`crate::config::CLUSTER_BLOCK_TXS_MAX`].
    pub fn block_txs_max(&self) -> usize {
        if self.cfg.cluster.is_some() {
            self.cfg
                .block_txs_max
                .min(crate::config::CLUSTER_BLOCK_TXS_MAX)
        } else {
            self.cfg.block_txs_max
        }
    }

    /// Reads the data directory's free space again (releasing or allocating consensus's
    /// reserve as needed) and publishes it in the metrics.
    pub fn refresh_storage(&self) -> Result<crate::kernel::disk::StorageStatus, NodeError> {
        let status = self.disk.refresh()?;
        self.publish_storage(&status);
        Ok(status)
    }

    pub(crate) fn publish_storage(&self, s: &crate::kernel::disk::StorageStatus) {
        let m = &self.metrics;
        m.storage_free_bytes
            .set(i64::try_from(s.free_bytes).unwrap_or(i64::MAX));
        m.storage_floor_bytes
            .set(i64::try_from(s.floor_bytes).unwrap_or(i64::MAX));
        m.storage_low.set(i64::from(s.low));
        m.storage_reserve_held.set(i64::from(s.reserve_held));
    }

    /// Tells the commit waiters of transactions that left the mempool without committing why
    /// (instead of letting them wait for the timeout).
    pub(crate) fn tell_dropped(&self, dropped: &[Displaced]) {
        if dropped.is_empty() {
            return;
        }
        let mut waiters = self.waiters.lock();
        for d in dropped {
            for w in waiters.remove(&d.id).into_iter().flatten() {
                let _ = w.send(Err(d.error()));
            }
        }
    }
}

/// Applies committed blocks for consensus (its `BlockApplier` is in `applier.rs`).
pub struct Executor {
    pub(crate) shared: Arc<Shared>,
}

/// A handle on a running node.
#[derive(Clone)]
pub struct Node {
    pub shared: Arc<Shared>,
    pub(crate) consensus: Arc<RaftConsensus<Executor>>,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) producer: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>>,
}

/// Result of submitting a transaction.
pub enum Submitted {
    Accepted(Hash32),
    Committed(Hash32, Box<CommitNotice>),
}

/// A transaction admitted by [`Node::submit_pending`] whose commit has not been awaited yet.
pub struct PendingTx {
    pub id: Hash32,
    pub(crate) rx: oneshot::Receiver<Result<CommitNotice, NodeError>>,
}

impl Node {
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
}

/// A module's node part as `Any`, to reach its own services from outside it (tests, tools).
pub trait AsAny {
    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync>;
}

impl<T: std::any::Any + Send + Sync> AsAny for T {
    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

/// The node part of a module: what a business system adds to the node besides its
/// state-machine module — its HTTP routes (all behind the divergence guard: the kernel wraps
/// them), its metrics under its prefix (`want_<name>_…`), its stateless admission checks and its
/// background work (commit observers subscribe to committed blocks with
/// [`Node::subscribe_commits`]). It is beside [`Node`] because each holds the other: the node
/// runs its modules' parts, and a part is given the node.
pub trait NodeModule: AsAny + Send + Sync + 'static {
    /// Its entry in the wire registry.
    fn id(&self) -> ModuleId;

    /// Stateless checks that need what the state machine lacks (secp256k1, for example), run at
    /// admission and on every transaction of a block this node did not admit itself: a block
    /// carrying a call that fails them is invalid (`invalid_block`), so they are consensus rules
    /// like the state machine's — make one stricter only behind an activation height, or a
    /// node replaying old blocks skips ones the chain applied. They must be deterministic: no
    /// clock, no configuration, no state. The state machine's own rules run in
    /// `want_state::admit`.
    fn precheck(&self, _call: &Call) -> Result<(), NodeError> {
        Ok(())
    }

    /// Registers its metrics in `registry`, whose names are prefixed `want_<name>_`.
    fn register_metrics(&self, _registry: &mut Registry) {}

    /// Its routes, with their OpenAPI description. The kernel puts every one behind the
    /// divergence guard: a node whose state diverged from the majority answers
    /// `503 state_diverged` instead of serving the module's state.
    fn routes(self: Arc<Self>, node: &Node) -> OpenApiRouter;

    /// Starts its background work (called once, after consensus started).
    fn start(self: Arc<Self>, _node: &Node, _shutdown: watch::Receiver<bool>) {}
}

impl Node {
    /// The height of every block committed from now on, in order: what commit observers (blob
    /// repair, indexers) follow. An observer that falls behind gets `Lagged` and reads the
    /// blocks it missed from storage.
    pub fn subscribe_commits(&self) -> broadcast::Receiver<u64> {
        self.shared.blocks.subscribe()
    }

    /// The node part of a module, if registered (to reach a module's own services).
    pub fn module(&self, id: ModuleId) -> Option<&Arc<dyn NodeModule>> {
        self.shared.modules.iter().find(|m| m.id() == id)
    }
}
