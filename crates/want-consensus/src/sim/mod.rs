//! Deterministic simulation of a 3- or 5-member cluster running the real consensus code
//! (openraft through [`RaftConsensus`], the redb [`crate::raft::LogStore`] on temporary
//! directories, the signed envelopes and every receiver check of the [`Transport`]) over an
//! in-memory network ([`wire::SimNet`]) and tokio's paused clock: simulated time jumps to the
//! next timer whenever every task waits, so seconds of cluster life take milliseconds.
//!
//! A seed draws a schedule ([`plan::Plan`]): crashes and restarts (some losing the applier's
//! unsynced tail), partitions and heals, message drop/duplicate/delay rates, per-node clock
//! skew, and in some seeds one Byzantine member that runs no Raft but sends crafted messages
//! signed with its own member key ([`byzantine`]). After the schedule everything heals, and the
//! checker ([`check`]) asserts: no acknowledged block lost, none applied twice, every honest
//! member agrees on every block and state root, the membership is intact, and a new block
//! commits within a bounded simulated time.
//!
//! Run: `cargo test -p want-consensus --lib sim:: -- --nocapture` (`WANT_SIM_SEEDS`,
//! `WANT_SIM_SEED_START`, `WANT_SIM_MS`); replay one seed with `WANT_SIM_SEED=S`.

mod applier;
mod byzantine;
mod check;
mod plan;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use want_crypto::NodeKey;
use want_types::{Block, BlockHeader, Hash32};

use crate::net::{Peer, Transport, UnixClock};
use crate::raft::runtime::seed_thread_rng;
use crate::{AppliedBlock, ClusterNet, Consensus, MemberNode, RaftConsensus, RaftTiming};
use applier::{BlockSource, SimApplier};
use plan::{Action, Plan};
use wire::{NetState, SimNet};

/// Chain id of the simulated cluster.
const CHAIN_ID: u64 = 77;
/// Unix time (ms) at which every simulation starts.
const SIM_EPOCH_MS: u64 = 1_800_000_000_000;
/// The client proposes a block this often (simulated ms).
const CLIENT_INTERVAL_MS: u64 = 40;
/// How long the client waits for one proposal (simulated ms).
const PROPOSE_TIMEOUT_MS: u64 = 2_000;
/// After the schedule: how long a new block may take to commit once all is healed (sim ms).
const FINAL_PROGRESS_MS: u64 = 30_000;
/// After the final block: how long every honest member may take to apply it (sim ms).
const CONVERGE_MS: u64 = 30_000;
/// Default simulated length of a schedule, in ms.
pub const SIM_MS_DEFAULT: u64 = 4_000;
/// Default number of seeds of the CI run.
pub const SIM_SEEDS_DEFAULT: u64 = 200;

fn timing(snapshot_every_entries: u64) -> RaftTiming {
    RaftTiming {
        heartbeat_interval_ms: 50,
        election_timeout_min_ms: 150,
        election_timeout_max_ms: 300,
        leader_wait_ms: 10_000,
        snapshot_every_entries,
    }
}

fn url(id: u64) -> String {
    format!("http://sim-node-{id}")
}

/// What one seed did and what the checker found.
#[derive(Debug, Default, Clone)]
pub struct SimOutcome {
    pub seed: u64,
    pub members: usize,
    pub byzantine: Option<u64>,
    /// Kinds of Byzantine behaviour the schedule used.
    pub byzantine_kinds: BTreeSet<&'static str>,
    pub faults: BTreeMap<&'static str, u64>,
    pub refusals: BTreeMap<&'static str, u64>,
    /// Byzantine messages by (kind, outcome).
    pub byzantine_outcomes: BTreeMap<String, u64>,
    pub acknowledged: u64,
    pub lost: u64,
    /// Checker properties that failed, each with a reason.
    pub violations: Vec<String>,
    pub sim_ms: u64,
    pub trace_hash: u64,
    pub final_height: u64,
}

/// Longest a restart retries while the crashed instance's Raft log is still open (simulated ms).
const RESTART_WAIT_MS: u64 = 10_000;
/// How often it retries (simulated ms).
const RESTART_POLL_MS: u64 = 10;

/// Everything one running simulation holds.
struct Sim {
    plan: Plan,
    net: SimNet,
    keys: BTreeMap<u64, NodeKey>,
    dirs: BTreeMap<u64, tempfile::TempDir>,
    appliers: BTreeMap<u64, Arc<SimApplier>>,
    members: BTreeMap<u64, MemberNode>,
    /// Draws the boot numbers and the Byzantine member's choices.
    rng: StdRng,
    acked: Arc<Mutex<Vec<AppliedBlock>>>,
    start: tokio::time::Instant,
    byzantine_seq: u64,
    byzantine_outcomes: Arc<Mutex<BTreeMap<String, u64>>>,
    byzantine_kinds: BTreeSet<&'static str>,
}

/// A node's clock: simulated time since the start, from the epoch, with its skew.
fn node_clock(start: tokio::time::Instant, skew_ms: i64) -> UnixClock {
    Arc::new(move || {
        let now = SIM_EPOCH_MS + start.elapsed().as_millis() as u64;
        now.saturating_add_signed(skew_ms)
    })
}

/// A deterministic node key (the simulation must not draw from the OS).
fn node_key(seed: u64, id: u64) -> NodeKey {
    let mut rng = StdRng::seed_from_u64(seed ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let bytes: [u8; 32] = rng.gen();
    NodeKey::from_hex(&hex::encode(bytes)).expect("invariant: 32 bytes are an Ed25519 seed")
}

impl Sim {
    fn new(plan: Plan) -> Sim {
        let seed = plan.seed;
        let ids: Vec<u64> = (1..=plan.members as u64).collect();
        let keys: BTreeMap<u64, NodeKey> = ids.iter().map(|&i| (i, node_key(seed, i))).collect();
        let members = keys
            .iter()
            .map(|(&i, k)| {
                (
                    i,
                    MemberNode {
                        public_key: hex::encode(k.public_key()),
                        addr: url(i),
                    },
                )
            })
            .collect();
        let net = SimNet {
            state: Arc::new(Mutex::new(NetState::new(StdRng::seed_from_u64(
                seed.wrapping_add(1),
            )))),
        };
        let registry: Arc<Mutex<BTreeMap<String, Weak<SimApplier>>>> = Default::default();
        let source: BlockSource = {
            let registry = registry.clone();
            let state = Arc::downgrade(&net.state);
            Arc::new(move |url: &str, height: u64| {
                let up = state
                    .upgrade()?
                    .lock()
                    .nodes
                    .keys()
                    .any(|&i| self::url(i) == url);
                if !up {
                    return None;
                }
                let a = registry.lock().get(url)?.upgrade()?;
                Some(a.blocks_after(height))
            })
        };
        let appliers: BTreeMap<u64, Arc<SimApplier>> = ids
            .iter()
            .filter(|&&i| Some(i) != plan.byzantine)
            .map(|&i| (i, Arc::new(SimApplier::new(source.clone()))))
            .collect();
        for (i, a) in &appliers {
            registry.lock().insert(url(*i), Arc::downgrade(a));
        }
        Sim {
            byzantine_kinds: plan.byzantine_kinds(),
            rng: StdRng::seed_from_u64(seed.wrapping_add(2)),
            plan,
            net,
            keys,
            dirs: BTreeMap::new(),
            appliers,
            members,
            acked: Default::default(),
            start: tokio::time::Instant::now(),
            byzantine_seq: 0,
            byzantine_outcomes: Default::default(),
        }
    }

    fn honest(&self) -> Vec<u64> {
        self.appliers.keys().copied().collect()
    }

    fn clock(&self, id: u64) -> UnixClock {
        node_clock(self.start, self.plan.skew_ms.get(&id).copied().unwrap_or(0))
    }

    fn live(&self) -> BTreeMap<u64, Arc<RaftConsensus<SimApplier>>> {
        self.net.state.lock().nodes.clone()
    }

    async fn start_node(&mut self, id: u64) -> Result<(), String> {
        let dir = match self.dirs.get(&id) {
            Some(d) => d.path().to_path_buf(),
            None => {
                let d = tempfile::tempdir().map_err(|e| e.to_string())?;
                let p = d.path().to_path_buf();
                self.dirs.insert(id, d);
                p
            }
        };
        let key = self.keys[&id].clone();
        let fallback = self
            .members
            .iter()
            .filter_map(|(&i, m)| m.peer().map(|p| (i, p)))
            .collect::<BTreeMap<u64, Peer>>();
        let transport = Transport::with_wire(
            id,
            CHAIN_ID,
            key,
            fallback,
            Arc::new(self.net.clone()),
            self.clock(id),
            self.rng.gen(),
        );
        let cluster = ClusterNet {
            transport: Arc::new(transport),
            initial_members: self.members.clone(),
            clock: self.clock(id),
        };
        let c = RaftConsensus::start(
            &dir,
            id,
            self.members[&id].public_key.clone(),
            self.appliers[&id].clone(),
            timing(self.plan.snapshot_every_entries),
            Some(cluster),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut s = self.net.state.lock();
        s.event(("start", id));
        *s.starts.entry(id).or_default() += 1;
        s.nodes.insert(id, Arc::new(c));
        Ok(())
    }

    async fn crash(&mut self, id: u64, lose_tail: u64) {
        let node = {
            let mut s = self.net.state.lock();
            s.fault("crash");
            s.event(("crash", id));
            s.nodes.remove(&id)
        };
        let Some(node) = node else { return };
        let purged = node.metrics().purged.map(|l| l.index);
        let _ = node.shutdown().await;
        drop(node);
        if lose_tail > 0 {
            let a = &self.appliers[&id];
            let keep = a.height().saturating_sub(lose_tail);
            let lost = a.lose_tail(keep, purged);
            if lost > 0 {
                let mut s = self.net.state.lock();
                s.fault("lost_unsynced_tail");
                s.event(("lost_tail", id, lost));
            }
        }
    }

    async fn restart(&mut self, id: u64) {
        if self.net.state.lock().nodes.contains_key(&id) {
            return;
        }
        // A process that died is gone at once, its files closed; here tasks of the crashed
        // instance (a message being handled, a replication stream waiting on a long RPC) may
        // still hold its Raft log open for a while: retry, as a supervisor retries a start.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(RESTART_WAIT_MS);
        loop {
            match self.start_node(id).await {
                Ok(()) => return,
                Err(e)
                    if e.contains("is already open") && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(RESTART_POLL_MS)).await;
                }
                Err(e) => {
                    self.net.state.lock().event(("restart_failed", id, e));
                    return;
                }
            }
        }
    }

    fn heal(&self) {
        let mut s = self.net.state.lock();
        s.blocked.clear();
        s.event("heal");
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::Crash { node, lose_tail } => self.crash(node, lose_tail).await,
            Action::Restart { node } => {
                self.net.state.lock().fault("restart");
                self.restart(node).await
            }
            Action::Partition { side } => {
                let all: Vec<u64> = self.keys.keys().copied().collect();
                let mut s = self.net.state.lock();
                s.fault("partition");
                s.event(("partition", side.iter().copied().collect::<Vec<_>>()));
                for &a in &side {
                    for &b in all.iter().filter(|b| !side.contains(b)) {
                        s.blocked.insert((a, b));
                        s.blocked.insert((b, a));
                    }
                }
            }
            Action::Heal => self.heal(),
            Action::Rates(r) => {
                let mut s = self.net.state.lock();
                s.event((
                    "rates",
                    r.drop_per_mille,
                    r.duplicate_per_mille,
                    r.delay_ms_max,
                ));
                s.rates = r;
            }
            Action::Byzantine(kind) => self.byzantine(kind).await,
        }
    }

    /// Proposes blocks on whichever node may, until `stop`.
    fn spawn_client(&self, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
        let net = self.net.clone();
        let appliers = self.appliers.clone();
        let keys = self.keys.clone();
        let acked = self.acked.clone();
        let clocks: BTreeMap<u64, UnixClock> =
            self.keys.keys().map(|&i| (i, self.clock(i))).collect();
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(CLIENT_INTERVAL_MS)).await;
                let leader = net
                    .state
                    .lock()
                    .nodes
                    .iter()
                    .find(|(_, c)| c.can_propose())
                    .map(|(&i, c)| (i, c.clone()));
                let Some((id, node)) = leader else { continue };
                let block = next_block(&appliers[&id], &keys[&id], clocks[&id]());
                let height = block.header.height;
                let r = tokio::time::timeout(
                    Duration::from_millis(PROPOSE_TIMEOUT_MS),
                    node.propose(block),
                )
                .await;
                let ok = matches!(r, Ok(Ok(_)));
                net.state.lock().event(("proposed", id, height, ok));
                if let Ok(Ok(applied)) = r {
                    acked.lock().push(applied);
                }
            }
        })
    }

    async fn run(mut self) -> SimOutcome {
        if std::env::var_os("WANT_SIM_VERBOSE").is_some() {
            println!("{:?}", self.plan);
        }
        for id in self.honest() {
            if let Err(e) = self.start_node(id).await {
                let mut out = self.outcome();
                out.violations.push(format!("start: node {id}: {e}"));
                return out;
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let client = self.spawn_client(stop.clone());
        let events = std::mem::take(&mut self.plan.events);
        let verbose = std::env::var_os("WANT_SIM_VERBOSE").is_some();
        for (at, action) in events {
            tokio::time::sleep_until(self.start + Duration::from_millis(at)).await;
            if verbose {
                println!("{at:>6} ms: {action:?}");
            }
            self.act(action).await;
        }
        if verbose {
            println!(
                "schedule done at {} ms; healing",
                self.start.elapsed().as_millis()
            );
        }
        tokio::time::sleep_until(self.start + Duration::from_millis(self.plan.duration_ms)).await;
        // Heal everything, restart every honest member, let the cluster run.
        self.heal();
        self.net.state.lock().rates = wire::Rates::default();
        for id in self.honest() {
            self.restart(id).await;
        }
        stop.store(true, Ordering::Relaxed);
        let _ = client.await;
        let mut out = self.outcome();
        out.violations = check::check(&self).await;
        out.lost = check::lost(&self);
        out.final_height = self
            .appliers
            .values()
            .map(|a| a.height())
            .max()
            .unwrap_or(0);
        out.sim_ms = self.start.elapsed().as_millis() as u64;
        {
            let s = self.net.state.lock();
            out.trace_hash = std::hash::Hasher::finish(&s.trace);
            out.faults = s.faults.clone();
            out.refusals = s.refusals.clone();
        }
        out.byzantine_outcomes = self.byzantine_outcomes.lock().clone();
        let nodes = std::mem::take(&mut self.net.state.lock().nodes);
        for node in nodes.into_values() {
            let _ = node.shutdown().await;
        }
        out
    }

    fn outcome(&self) -> SimOutcome {
        SimOutcome {
            seed: self.plan.seed,
            members: self.plan.members,
            byzantine: self.plan.byzantine,
            byzantine_kinds: self.byzantine_kinds.clone(),
            acknowledged: self.acked.lock().len() as u64,
            ..SimOutcome::default()
        }
    }
}

/// The block the node `key` proposes on top of `applier`'s head.
fn next_block(applier: &SimApplier, key: &NodeKey, now_ms: u64) -> Block {
    let entries = applier.entries();
    let (height, prev_hash, root, parent_ts) =
        entries
            .last()
            .map_or((0, Hash32::ZERO, Hash32::ZERO, 0), |e| {
                (
                    e.block.header.height,
                    e.block.hash(),
                    e.state_root,
                    e.block.header.timestamp_ms,
                )
            });
    want_crypto::sign_block(
        BlockHeader {
            chain_id: CHAIN_ID,
            height: height + 1,
            prev_hash,
            timestamp_ms: now_ms.max(parent_ts),
            tx_root: want_types::merkle::merkle_root(&[]),
            tx_count: 0,
            parent_state_root: root,
            proposer: vec![],
        },
        vec![],
        key,
    )
}

/// Wall-clock time one seed may take before it is reported as hung (a task spinning without
/// ever waiting stops simulated time).
const SEED_WALL_S_MAX: u64 = 120;

/// Runs one seed's schedule of `duration_ms` simulated ms on a fresh paused-clock runtime (on
/// its own thread, so that a hang is reported instead of stalling the run).
pub fn run_seed(seed: u64, duration_ms: u64) -> SimOutcome {
    let plan = Plan::draw(seed, duration_ms);
    let members = plan.members;
    let byzantine = plan.byzantine;
    let byzantine_kinds = plan.byzantine_kinds();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run_plan(plan));
    });
    rx.recv_timeout(Duration::from_secs(SEED_WALL_S_MAX))
        .unwrap_or_else(|_| SimOutcome {
            seed,
            members,
            byzantine,
            byzantine_kinds,
            violations: vec![format!(
                "hang: the schedule did not finish within {SEED_WALL_S_MAX} s of wall time"
            )],
            ..SimOutcome::default()
        })
}

/// Runs a schedule on a fresh current-thread runtime whose clock is paused.
pub fn run_plan(plan: Plan) -> SimOutcome {
    let seed = plan.seed;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return SimOutcome {
                seed,
                violations: vec![format!("runtime: {e}")],
                ..SimOutcome::default()
            }
        }
    };
    seed_thread_rng(Some(seed));
    let out = rt.block_on(async move { Sim::new(plan).run().await });
    rt.shutdown_timeout(Duration::from_secs(1));
    seed_thread_rng(None);
    out
}

#[cfg(test)]
mod tests;
