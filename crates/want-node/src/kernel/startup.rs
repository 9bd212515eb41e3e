//! Start-up: opening the data directory, the genesis and the recorded activations, building
//! the modules' node parts and their metrics, restoring the mempool journal, the cluster's
//! network and consensus, the background tasks and block production; and the files a node
//! keeps (its key) and its listener.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tracing::{info, warn};
use want_consensus::net::{Peer, Transport};
use want_consensus::{ClusterNet, RaftConsensus, RaftTiming};
use want_crypto::NodeKey;
use want_storage::{ChainIdentity, Store};

use crate::config::{dev_private_key, Genesis, NodeConfig, DEV_CHAIN_ID};
use crate::error::NodeError;
use crate::kernel::activations::reconcile_activations;
use crate::kernel::admission::check_signature;
use crate::kernel::certs::CertState;
use crate::kernel::disk::{DiskGuard, STORAGE_PROBE_INTERVAL_MS};
use crate::kernel::journal::spawn_journal_writer;
use crate::kernel::mempool::{Mempool, MempoolLimits, MEMPOOL_BYTES_MAX};
use crate::kernel::module::BuildCtx;
use crate::kernel::node::{
    now_ms, Executor, Node, Shared, BLOCK_BROADCAST_CAPACITY, NODE_KEY_FILE, SINGLE_NODE_RAFT_ID,
};
use crate::kernel::production::produce_loop;
use crate::kernel::votes::spawn_vote_gossip;
use crate::metrics::Metrics;

impl Node {
    /// Opens the data directory, checks or writes the genesis (and the chain's activations),
    /// builds the modules' node parts, restores the mempool journal, starts consensus (committed
    /// blocks the executor had not recorded before a crash are applied now), the modules'
    /// background work and block production. The HTTP server is started separately (see
    /// [`crate::api::serve`]).
    pub async fn start(
        cfg: NodeConfig,
        genesis: Genesis,
        node_key: NodeKey,
    ) -> Result<Node, NodeError> {
        cfg.validate().map_err(NodeError::Config)?;
        check_genesis_owner(&genesis)?;
        let store = Arc::new(Store::open(&cfg.data_dir)?);
        let cfg_ws_clients_max = cfg.http.ws_clients_max;
        let ws_per_client = crate::api::ratelimit::PerClient::new(cfg.http.client_streams_max);
        let reads = crate::kernel::reads::ReadPool::new(
            cfg.http.reads_max,
            std::time::Duration::from_millis(crate::kernel::reads::READ_WAIT_MS),
        )?;
        let disk = DiskGuard::open(
            &cfg.data_dir,
            cfg.storage.free_floor_mib,
            cfg.storage.reserve_mib,
        )?;
        let (genesis_block, genesis_state, genesis_root) =
            genesis.build().map_err(NodeError::Config)?;
        let identity = ChainIdentity {
            chain_id: genesis.params.chain_id,
            genesis_hash: genesis_block.hash(),
        };
        if store.init_genesis(
            identity,
            &genesis_block,
            &genesis_state,
            genesis_root,
            &genesis.activations,
        )? {
            info!(target: "node", "wrote genesis {} of chain {}", identity.genesis_hash, identity.chain_id);
        }
        let head = store.head()?;
        info!(target: "node", "chain head is block {} ({})", head.height, head.hash);
        let activations = reconcile_activations(&store, &genesis)?;

        let (journal_tx, journal_rx) = mpsc::unbounded_channel();
        let node_id = hex::encode(node_key.public_key());
        let modules = crate::modules::build_all(&BuildCtx {
            cfg: &cfg,
            genesis: &genesis,
        })?;
        let mut metrics = Metrics::new();
        for m in &modules {
            m.register_metrics(metrics.module_registry(m.id()));
        }
        metrics.chain_height.set(head.height as i64);
        let shared = Arc::new(Shared {
            params: genesis.params.clone(),
            activations,
            mempool: Mutex::new(Mempool::new(MempoolLimits {
                txs_max: cfg.mempool_txs_max,
                bytes_max: MEMPOOL_BYTES_MAX,
                sender_txs_max: cfg.mempool_sender_txs_max,
                nonce_window: cfg.mempool_nonce_window,
            })),
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
            certs: CertState::open(&store)?,
            voters: parking_lot::RwLock::new(Vec::new()),
            last_proposed_ms: std::sync::atomic::AtomicU64::new(now_ms()),
            modules,
            ws_slots: Arc::new(tokio::sync::Semaphore::new(cfg_ws_clients_max)),
            ws_per_client,
            reads,
            disk,
            checked_blocks: Mutex::new(Default::default()),
            member_tls: std::sync::OnceLock::new(),
        });
        let storage = shared.disk.status();
        shared.publish_storage(&storage);
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
        // Send own commit votes to the other members, backfill missing ones.
        spawn_vote_gossip(&shared, shutdown_rx.clone());
        spawn_storage_probe(&shared, shutdown_rx.clone());
        let node = Node {
            shared,
            consensus,
            shutdown,
            producer: Arc::new(Mutex::new(None)),
        };
        // The modules' background work (the trace module's blob repair and upkeep, which follow
        // committed blocks through `Node::subscribe_commits`).
        for m in node.shared.modules.clone() {
            m.start(&node, shutdown_rx.clone());
        }
        let producer = tokio::spawn(produce_loop(node.clone(), shutdown_rx));
        *node.producer.lock() = Some(producer);
        Ok(node)
    }
}

/// Refuses a genesis that gives the publicly known development key anything on a chain that is
/// not the development chain: a transaction signed for the dev chain is refused there (its chain
/// id differs), but a dev key funded or empowered by that chain's own genesis would let anyone
/// who read the README own it. Development chains (`want dev`, `want cluster up`) keep the key.
pub fn check_genesis_owner(genesis: &Genesis) -> Result<(), NodeError> {
    if genesis.params.chain_id == DEV_CHAIN_ID {
        return Ok(());
    }
    let places = genesis.dev_key_mentions();
    if places.is_empty() {
        return Ok(());
    }
    Err(NodeError::DevKeyInGenesis {
        chain_id: genesis.params.chain_id,
        address: dev_private_key().address(),
        places,
    })
}

/// Re-admits the transactions journaled before a restart, each sender's in nonce order, under
/// the mempool's bounds as any submission (a journal holding more than they allow, or gapped
/// transactions, does not come back whole: gapped ones get [`GAPPED_TX_TTL_MS`] from now);
/// drops from the journal what is no longer valid or was displaced.
///
/// [`GAPPED_TX_TTL_MS`]: crate::kernel::mempool::GAPPED_TX_TTL_MS
fn restore_journal(shared: &Arc<Shared>) -> Result<(), NodeError> {
    let entries = shared.store.journal_all()?;
    if entries.is_empty() {
        return Ok(());
    }
    let mut drop_ids = Vec::new();
    let mut txs = Vec::with_capacity(entries.len());
    for entry in entries {
        match entry {
            Ok(stx) => txs.push(stx),
            Err(id) => drop_ids.push(id),
        }
    }
    // The journal is keyed by id: put each sender's transactions back in nonce order, so that
    // the consecutive ones are admitted as such.
    txs.sort_by_key(|stx| (stx.tx.from, stx.tx.nonce));
    let mut restored = 0usize;
    for stx in txs {
        let id = stx.id();
        let snap = shared.store.snapshot()?;
        let ctx = shared.admission_context(snap.head_height());
        match check_signature(stx).and_then(|c| shared.admit(&snap, &ctx, c)) {
            Ok(admission) => {
                restored += 1;
                for d in admission.displaced {
                    info!(target: "mempool::journal", "dropping journaled transaction {}: {}", d.id, d.error());
                    restored = restored.saturating_sub(1);
                    drop_ids.push(d.id);
                }
            }
            Err(e) => {
                info!(target: "mempool::journal", "dropping journaled transaction {id}: {e}");
                drop_ids.push(id);
            }
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

/// Reads the free space every [`STORAGE_PROBE_INTERVAL_MS`] (`disk.rs`).
fn spawn_storage_probe(shared: &Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval(std::time::Duration::from_millis(STORAGE_PROBE_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let Some(shared) = weak.upgrade() else { return };
            // statvfs and, rarely, a reserve allocation: blocking work.
            let probed = tokio::task::spawn_blocking(move || shared.refresh_storage()).await;
            if let Ok(Err(e)) = probed {
                warn!(target: "storage", "{e}");
            }
        }
    });
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

/// Raft timing of a multi-node cluster: followers notice a failed leader after 0.4–0.8 s without
/// a heartbeat, then elect another (failover goal: first new commit within 2 s of the crash).
/// openraft's leader lease is the maximum (0.8 s): a follower refuses to vote while it heard a
/// leader within it, so the first candidate is often refused and the election takes a second
/// timeout — with 0.5–1 s that made failover 1.6–2.05 s, with 0.4–0.8 s it is 1.2–1.4 s.
pub const CLUSTER_TIMING: RaftTiming = RaftTiming {
    heartbeat_interval_ms: 100,
    election_timeout_min_ms: 400,
    election_timeout_max_ms: 800,
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
    if let Some(tls) = transport.member_tls() {
        let _ = shared.member_tls.set(tls.clone());
    }
    let initial_members = genesis.member_nodes();
    Ok((
        cluster.node_id,
        RaftTiming {
            snapshot_every_entries: shared.cfg.snapshot_every_blocks,
            ..CLUSTER_TIMING
        },
        Some(ClusterNet {
            transport: Arc::new(transport),
            initial_members,
            clock: want_consensus::system_clock(),
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

/// Reads a secret file (a key, a token) named by setting `what`, refusing one that other users
/// may read or write (on Unix: any permission bit for group or others), as ssh does with keys.
pub fn read_secret_file(path: &Path, what: &str) -> Result<String, NodeError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .map_err(|e| NodeError::Config(format!("{what} {}: {e}", path.display())))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(NodeError::Config(format!(
                "{what} {} has mode {mode:03o}: other users may read it; make it readable by its owner only (`chmod 600 {}`)",
                path.display(),
                path.display()
            )));
        }
    }
    std::fs::read_to_string(path)
        .map_err(|e| NodeError::Config(format!("{what} {}: {e}", path.display())))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Allocation;
    use want_types::amount::TOTAL_SUPPLY;

    #[test]
    fn the_dev_chain_may_fund_and_empower_the_dev_key() {
        check_genesis_owner(&Genesis::dev()).unwrap();
    }

    #[test]
    fn another_chain_funding_or_empowering_the_dev_key_is_refused_naming_each_place() {
        let mut g = Genesis::dev();
        g.params.chain_id = DEV_CHAIN_ID + 1;
        let e = check_genesis_owner(&g).unwrap_err();
        let NodeError::DevKeyInGenesis {
            chain_id,
            address,
            places,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(*chain_id, DEV_CHAIN_ID + 1);
        assert_eq!(*address, dev_private_key().address());
        assert!(places.contains(&"allocations[0]".to_string()), "{places:?}");
        assert!(places.contains(&"trace.admin".to_string()), "{places:?}");
        let m = e.to_string();
        assert!(
            m.contains("allocations[0]") && m.contains("--alloc") && m.contains("published"),
            "{m}"
        );
    }

    #[test]
    fn another_chain_whose_genesis_gives_the_dev_key_nothing_starts() {
        let owner = want_crypto::PrivateKey::generate();
        let mut g = Genesis::dev();
        g.params.chain_id = DEV_CHAIN_ID + 1;
        g.allocations = vec![Allocation {
            address: owner.address(),
            amount: TOTAL_SUPPLY,
        }];
        g.sections.clear();
        check_genesis_owner(&g).unwrap();
    }
}
