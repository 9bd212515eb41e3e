//! `want cluster up`: a local multi-node cluster, each node its own OS process
//! (`want node --config DIR/nodeK.toml`), supervised until SIGINT/SIGTERM.
//!
//! The supervisor runs on the main thread and spawns every node from it: on Linux a node gets
//! `PR_SET_PDEATHSIG = SIGTERM`, which fires when the *thread* that forked it exits, so nodes
//! must never be spawned from a short-lived thread. Nodes run in their own process group, so a
//! terminal's Ctrl-C reaches only the supervisor, which then stops them in order.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use want_consensus::AdminCommand;

use crate::init::{self, GENESIS_FILE};
use crate::nodefile;
use crate::output::{CliError, Out};

/// Most nodes `want cluster up` runs on one machine.
const CLUSTER_UP_NODES_MAX: u16 = 9;
/// Size of a new cluster when `--nodes` is not given.
const DEFAULT_NODES: u16 = 3;
/// How often the supervisor looks at its nodes.
const TICK: Duration = Duration::from_millis(100);
/// How often a starting node's status is asked for.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// First delay before a dead node is restarted; doubles per quick death up to the maximum.
const RESTART_BACKOFF_MIN: Duration = Duration::from_secs(1);
const RESTART_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A node that ran at least this long before dying is restarted after the minimum backoff.
const RESTART_HEALTHY_RUN: Duration = Duration::from_secs(60);
/// Bytes of a node's log shown when it fails to come up.
const LOG_TAIL_BYTES: u64 = 2_048;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Start (or restart) a local cluster, one process per node, and supervise it until Ctrl-C.
    Up(UpArgs),
    /// Add a node to a running chain: it catches up as a learner, then votes. Signed with the
    /// node key of the member whose configuration is given; a majority of the voters must
    /// approve (`--approve-only` on their machines prints an approval, `--approval` passes it).
    AddNode(AddNodeArgs),
    /// Remove a node from the voting members. Signed and approved like add-node.
    RemoveNode(RemoveNodeArgs),
    /// Replace a member's node key (and URL); restart that node with the new key afterwards.
    /// Approved like add-node, except that a member replacing its own key needs no approvals.
    SetKey(AddNodeArgs),
}

#[derive(Args)]
pub struct AddNodeArgs {
    /// Configuration of a current member (its node key signs the request).
    #[arg(long)]
    config: PathBuf,
    /// Raft id of the node.
    #[arg(long)]
    id: u64,
    /// The node's Ed25519 public key, 64 hex digits (from its `want node` start line or
    /// `want init --json`).
    #[arg(long)]
    public_key: String,
    /// The URL the other members reach the node at: its member listener
    /// (`[node.cluster] advertise_url`), or its HTTP API when it has none.
    #[arg(long)]
    url: String,
    #[command(flatten)]
    approvals: ApprovalArgs,
}

/// How a membership change gathers the approval of a majority of the voters.
#[derive(Args)]
pub struct ApprovalArgs {
    /// Another voter's approval of this same change, `ID:HEX` as its `--approve-only` printed
    /// (repeat for each).
    #[arg(long = "approval", value_name = "ID:HEX")]
    approvals: Vec<String>,
    /// Only sign this member's approval of the change and print it (`ID:HEX`); send nothing.
    #[arg(long)]
    approve_only: bool,
}

#[derive(Args)]
pub struct RemoveNodeArgs {
    /// Configuration of a current member (its node key signs the request).
    #[arg(long)]
    config: PathBuf,
    /// Raft id of the node to remove.
    #[arg(long)]
    id: u64,
    #[command(flatten)]
    approvals: ApprovalArgs,
}

#[derive(Args)]
pub struct UpArgs {
    /// Number of nodes, 1 to 9 (3 or 5 tolerate 1 or 2 failures). Default: the existing
    /// cluster's size, or 3 for a new one.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=CLUSTER_UP_NODES_MAX as i64))]
    nodes: Option<u16>,
    /// Cluster directory; a new development cluster (the dev genesis and its published key, in
    /// dev-key.hex) is written into it unless it already holds a cluster (genesis.json, e.g. one
    /// written by `want init`), which is then started again.
    #[arg(long, default_value = "want-cluster-data")]
    data_dir: PathBuf,
    /// Do not restart nodes that die (fault tests stop and start nodes themselves).
    #[arg(long)]
    no_restart: bool,
    /// How long every node may take to answer /v1/status with a leader.
    #[arg(long, default_value_t = 60)]
    start_timeout_secs: u64,
    /// A new cluster's members talk over TLS (`https://` member URLs; see `want init
    /// --member-tls`). An existing cluster keeps what its genesis says.
    #[arg(long)]
    member_tls: bool,
}

pub fn run(cmd: ClusterCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Up(args) => up(args, out),
        ClusterCommand::AddNode(a) => admin(
            &a.config,
            AdminCommand::AddMember {
                id: a.id,
                public_key: a.public_key.to_lowercase(),
                url: a.url,
            },
            &a.approvals,
            out,
        ),
        ClusterCommand::SetKey(a) => admin(
            &a.config,
            AdminCommand::SetMemberKey {
                id: a.id,
                public_key: a.public_key.to_lowercase(),
                url: a.url,
            },
            &a.approvals,
            out,
        ),
        ClusterCommand::RemoveNode(a) => admin(
            &a.config,
            AdminCommand::RemoveMember { id: a.id },
            &a.approvals,
            out,
        ),
    }
}

/// How long an admin command looks for the leader (an election may be under way).
const FIND_LEADER_TIMEOUT: Duration = Duration::from_secs(15);

/// The leader's Raft id and transport address, and the log index of the membership in force,
/// as the node at `url` knows them.
fn find_leader(url: &str) -> anyhow::Result<(u64, want_consensus::net::Peer, Option<u64>)> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let deadline = Instant::now() + FIND_LEADER_TIMEOUT;
    loop {
        let status: serde_json::Value = http
            .get(format!("{url}/v1/status"))
            .send()
            .and_then(|r| r.json())
            .map_err(|e| {
                CliError::new(
                    "node_unreachable",
                    format!("cannot read the status of {url}: {e}; is the node running?"),
                )
            })?;
        let leader = status["leader_raft_id"].as_u64();
        let member = leader.and_then(|id| {
            status["member_list"]
                .as_array()?
                .iter()
                .find(|m| m["id"].as_u64() == Some(id))
                .cloned()
        });
        let key: Option<[u8; 32]> = member
            .as_ref()
            .and_then(|m| m["public_key"].as_str())
            .and_then(|k| hex::decode(k).ok())
            .and_then(|k| k.try_into().ok());
        if let (Some(leader), Some(member), Some(public_key)) = (leader, &member, key) {
            let peer = want_consensus::net::Peer {
                public_key,
                url: member["url"].as_str().unwrap_or_default().to_string(),
            };
            return Ok((leader, peer, status["membership_index"].as_u64()));
        }
        if Instant::now() >= deadline {
            return Err(CliError::new(
                "no_leader",
                format!("{url} knows no leader with a valid key and URL; retry once the cluster has elected one"),
            )
            .into());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The leader as the node's membership history, checked from the genesis, knows it. A node's
/// status is read over plain HTTP, so the leader's key and URL it names are used (to seal the
/// request, pin TLS and check the answer) only if the approvals in the history lead to a
/// membership — the one the status names — in which that member is a voter with that key; its
/// URL is the one the history records.
fn verified_leader(
    url: &str,
    genesis: &want_node::Genesis,
    leader: u64,
    claimed: &want_consensus::net::Peer,
    membership_index: Option<u64>,
) -> anyhow::Result<want_consensus::net::Peer> {
    use want_consensus::raft::authority::{membership_after, MembershipState};
    let client = crate::client::Client::new(url)?;
    let records = crate::verify::load_history(&client, None)?.ok_or_else(|| {
        CliError::new(
            "unverified_leader",
            format!("{url} serves no membership history (a node of an older build?): the leader's key cannot be checked"),
        )
    })?;
    let state = membership_after(
        genesis.params.chain_id,
        &MembershipState::genesis(genesis.member_nodes()),
        &records,
    )
    .map_err(|e| {
        CliError::new(
            "unverified_leader",
            format!("the membership history of {url} does not verify from the genesis: {e}"),
        )
    })?;
    leader_in(&state, leader, claimed, membership_index)
}

/// `leader` with key `claimed.public_key` as a voter of the verified membership `state` (which
/// must be the one of log index `membership_index`), with the URL `state` records.
fn leader_in(
    state: &want_consensus::raft::authority::MembershipState,
    leader: u64,
    claimed: &want_consensus::net::Peer,
    membership_index: Option<u64>,
) -> anyhow::Result<want_consensus::net::Peer> {
    if state.index != membership_index {
        return Err(CliError::new(
            "membership_changing",
            format!(
                "the node's membership (log index {membership_index:?}) is not yet in its history (which ends at {:?}): a change is under way; retry in a moment",
                state.index
            ),
        )
        .into());
    }
    let node = state
        .nodes
        .get(&leader)
        .filter(|_| state.voter_ids().contains(&leader))
        .ok_or_else(|| {
            CliError::new(
                "unverified_leader",
                format!("the status names node {leader} as leader, but it is not a voter of the membership the history proves"),
            )
        })?;
    if node.key_bytes() != Some(claimed.public_key) {
        return Err(CliError::new(
            "unverified_leader",
            format!(
                "the status gives leader {leader} the key {}, but the membership history gives it {}",
                hex::encode(claimed.public_key),
                node.public_key
            ),
        )
        .into());
    }
    Ok(want_consensus::net::Peer {
        public_key: claimed.public_key,
        url: node.addr.clone(),
    })
}

/// Sends a membership change to the leader, signed with the member's node key and carrying the
/// other voters' approvals; or, with `--approve-only`, prints this member's approval.
fn admin(
    config: &std::path::Path,
    cmd: AdminCommand,
    approvals: &ApprovalArgs,
    out: &Out,
) -> anyhow::Result<()> {
    use want_consensus::raft::approval::{approve, AdminRequest, Approval};
    let cfg = nodefile::load_config(config)?;
    let genesis = nodefile::load_genesis(&cfg.genesis_file)?;
    let cluster = cfg.node.cluster.clone().ok_or_else(|| {
        CliError::new(
            "not_a_cluster",
            format!("{} has no [node.cluster] section: membership changes need a cluster member's configuration", config.display()),
        )
    })?;
    let key = nodefile::load_member_key(&cfg.node.data_dir)?;
    let given = approvals
        .approvals
        .iter()
        .map(|a| Approval::from_text(a).map_err(|e| CliError::new("invalid_approval", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let (leader, peer, membership_index) = find_leader(&cfg.url())?;
    let peer = verified_leader(&cfg.url(), &genesis, leader, &peer, membership_index)?;
    let chain_id = genesis.params.chain_id;
    if approvals.approve_only {
        let mine = approve(chain_id, membership_index, &cmd, cluster.node_id, &key);
        out.value(
            &serde_json::json!({
                "approval": mine.to_text(),
                "member": cluster.node_id,
                "membership_index": membership_index,
            }),
            |v| v["approval"].as_str().unwrap_or_default().to_string(),
        );
        return Ok(());
    }
    let req = AdminRequest {
        cmd,
        membership_index,
        approvals: given,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let summary = runtime
        .block_on(want_consensus::send_admin(
            chain_id,
            cluster.node_id,
            key,
            leader,
            peer,
            &req,
        ))
        .map_err(|e| CliError::new("membership_change_failed", e))?;
    out.value(
        &serde_json::json!({"ok": true, "leader": leader, "result": summary}),
        |v| v["result"].as_str().unwrap_or_default().to_string(),
    );
    Ok(())
}

/// One supervised node.
struct Member {
    id: u64,
    config: PathBuf,
    /// The node's public API.
    url: String,
    /// Where the other members reach it.
    member_url: Option<String>,
    log: PathBuf,
    child: Option<Child>,
    started: Instant,
    /// When a dead node is due to be started again.
    restart_at: Option<Instant>,
    backoff: Duration,
}

impl Member {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Whether the process has exited (reaped); returns its status.
    fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }
}

fn io_error(what: String) -> anyhow::Error {
    CliError::new("cluster_error", what).into()
}

/// The cluster's members from its directory: existing (a development cluster, or one written by
/// `want init`), or a new local development cluster written now (the development genesis and
/// its published key, as `want dev`).
fn prepare(args: &UpArgs) -> anyhow::Result<Vec<Member>> {
    let dir = &args.data_dir;
    let genesis_path = dir.join(GENESIS_FILE);
    if !genesis_path.exists() {
        init::init_cluster(
            args.nodes.unwrap_or(DEFAULT_NODES),
            dir,
            None,
            "127.0.0.1",
            init::ChainSpec::Dev,
            args.member_tls,
        )?;
    }
    let genesis = nodefile::load_genesis(&genesis_path)?;
    if genesis.members.is_empty() {
        return Err(CliError::new(
            "not_a_cluster",
            format!(
                "{} has no members; it is not a cluster genesis (write one with `want init`)",
                genesis_path.display()
            ),
        )
        .into());
    }
    let size = genesis.members.len();
    if let Some(n) = args.nodes {
        if usize::from(n) != size {
            return Err(CliError::new(
                "cluster_size_mismatch",
                format!(
                    "{} holds a {size}-node cluster but --nodes is {n}; run it with --nodes {size}, or use another --data-dir for a new cluster",
                    dir.display()
                ),
            )
            .into());
        }
    }
    if size > usize::from(CLUSTER_UP_NODES_MAX) {
        return Err(CliError::new(
            "cluster_too_large",
            format!(
                "{} holds a {size}-node cluster; `want cluster up` runs at most {CLUSTER_UP_NODES_MAX} nodes on one machine (start them with `want node --config`)",
                dir.display()
            ),
        )
        .into());
    }
    let mut members = Vec::with_capacity(size);
    for m in &genesis.members {
        let config = init::config_path(dir, m.id);
        // Read and check every configuration before anything is started.
        let cfg = nodefile::load_config(&config)?;
        nodefile::check_config_matches_genesis(&cfg, &genesis)?;
        let key = nodefile::load_member_key(&cfg.node.data_dir)?;
        nodefile::check_member_key(&cfg, &genesis, &key)?;
        members.push(Member {
            id: m.id,
            url: cfg.url(),
            member_url: cfg.member_url(),
            config,
            log: init::node_dir(dir, m.id).join("node.log"),
            child: None,
            started: Instant::now(),
            restart_at: None,
            backoff: RESTART_BACKOFF_MIN,
        });
    }
    Ok(members)
}

/// Starts one node process, its output appended to its log.
fn spawn(exe: &Path, m: &mut Member) -> anyhow::Result<()> {
    let open_err = |e: std::io::Error| io_error(format!("cannot open {}: {e}", m.log.display()));
    if let Some(parent) = m.log.parent() {
        std::fs::create_dir_all(parent).map_err(open_err)?;
    }
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&m.log)
        .map_err(open_err)?;
    let _ = writeln!(
        log,
        "--- want cluster up: starting node {} ({}) ---",
        m.id,
        m.config.display()
    );
    let stderr = log.try_clone().map_err(open_err)?;
    let mut cmd = Command::new(exe);
    cmd.arg("node")
        .arg("--config")
        .arg(&m.config)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(stderr));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let supervisor = std::process::id();
        // SAFETY: runs in the forked child before exec; prctl and getppid are async-signal-safe
        // and nothing here allocates.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The supervisor died before the death signal was armed.
                if libc::getppid() as u32 != supervisor {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn().map_err(|e| {
        io_error(format!(
            "cannot start node {} ({}): {e}",
            m.id,
            exe.display()
        ))
    })?;
    m.child = Some(child);
    m.started = Instant::now();
    m.restart_at = None;
    Ok(())
}

/// Sends SIGTERM to every running node, waits up to [`STOP_GRACE`], then kills the rest.
fn stop_all(members: &mut [Member]) {
    for m in members.iter_mut() {
        if let Some(child) = &m.child {
            terminate(child);
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        for m in members.iter_mut() {
            m.exited();
        }
        if members.iter().all(|m| m.child.is_none()) {
            return;
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for m in members.iter_mut() {
        if let Some(mut child) = m.child.take() {
            eprintln!(
                "want cluster: node {} (pid {}) did not stop within {} s; killing it",
                m.id,
                child.id(),
                STOP_GRACE.as_secs()
            );
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(unix)]
fn terminate(child: &Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

#[cfg(not(unix))]
fn terminate(_child: &Child) {}

/// Set once SIGINT or SIGTERM arrives. The handlers are installed before this returns.
fn watch_signals() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("runtime", format!("cannot start the runtime: {e}")))?;
    #[cfg(unix)]
    let (mut int, mut term) = {
        use tokio::signal::unix::{signal, SignalKind};
        let _guard = rt.enter();
        let install = |e: std::io::Error| {
            CliError::new("runtime", format!("cannot install signal handlers: {e}"))
        };
        (
            signal(SignalKind::interrupt()).map_err(install)?,
            signal(SignalKind::terminate()).map_err(install)?,
        )
    };
    let set = flag.clone();
    std::thread::Builder::new()
        .name("want-signals".into())
        .spawn(move || {
            rt.block_on(async {
                #[cfg(unix)]
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
            });
            set.store(true, Ordering::SeqCst);
        })
        .map_err(|e| CliError::new("runtime", format!("cannot start a thread: {e}")))?;
    Ok(flag)
}

/// The last bytes of a log, from a line start.
fn log_tail(path: &Path) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return "(no log)".into();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return "(log unreadable)".into();
    }
    let mut bytes = Vec::new();
    let _ = f.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let text = if start > 0 {
        text.split_once('\n').map_or(&*text, |(_, rest)| rest)
    } else {
        &text
    };
    text.trim_end().to_string()
}

/// What a starting node answered last.
enum Probe {
    Ready,
    NoLeader,
    NoAnswer(String),
}

fn probe(http: &reqwest::blocking::Client, url: &str) -> Probe {
    let r = match http.get(format!("{url}/v1/status")).send() {
        Ok(r) => r,
        Err(e) => return Probe::NoAnswer(e.without_url().to_string()),
    };
    if !r.status().is_success() {
        return Probe::NoAnswer(format!("status {}", r.status()));
    }
    match r.json::<Value>() {
        Ok(v) if v["leader"].as_str().is_some_and(|l| !l.is_empty()) => Probe::Ready,
        Ok(_) => Probe::NoLeader,
        Err(e) => Probe::NoAnswer(format!("not JSON: {e}")),
    }
}

/// Waits until every node answers `/v1/status` with a leader. Fails at once if a node exits.
fn wait_until_up(
    members: &mut [Member],
    stop: &AtomicBool,
    timeout: Duration,
) -> anyhow::Result<()> {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| CliError::new("client_error", format!("cannot build HTTP client: {e}")))?;
    let deadline = Instant::now() + timeout;
    let mut last: Vec<Probe> = members
        .iter()
        .map(|_| Probe::NoAnswer("not asked yet".into()))
        .collect();
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(CliError::new(
                "interrupted",
                "stopped by a signal before every node was up",
            )
            .into());
        }
        for m in members.iter_mut() {
            if let Some(status) = m.exited() {
                return Err(CliError::new(
                    "node_exited",
                    format!(
                        "node {} exited while starting ({status}); {} ends:\n{}",
                        m.id,
                        m.log.display(),
                        log_tail(&m.log)
                    ),
                )
                .into());
            }
        }
        for (m, p) in members.iter().zip(last.iter_mut()) {
            if !matches!(p, Probe::Ready) {
                *p = probe(&http, &m.url);
            }
        }
        if last.iter().all(|p| matches!(p, Probe::Ready)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let mut message = String::new();
            let waiting: Vec<String> = members
                .iter()
                .zip(&last)
                .filter(|(_, p)| !matches!(p, Probe::Ready))
                .map(|(m, _)| m.id.to_string())
                .collect();
            message.push_str(&format!(
                "node{} {} did not answer /v1/status with a leader within {} s",
                if waiting.len() == 1 { "" } else { "s" },
                waiting.join(", "),
                timeout.as_secs()
            ));
            for (m, p) in members.iter().zip(&last) {
                let why = match p {
                    Probe::Ready => continue,
                    Probe::NoLeader => "answers but knows no leader".to_string(),
                    Probe::NoAnswer(e) => format!("no answer: {e}"),
                };
                message.push_str(&format!(
                    "\n--- node {} at {} ({why}); {} ends:\n{}",
                    m.id,
                    m.url,
                    m.log.display(),
                    log_tail(&m.log)
                ));
            }
            return Err(CliError::new("cluster_start_timeout", message).into());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Restarts dead nodes (unless `no_restart`) until a signal arrives.
fn supervise(exe: &Path, members: &mut [Member], stop: &AtomicBool, no_restart: bool) {
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        for m in members.iter_mut() {
            let pid = m.pid();
            if let Some(status) = m.exited() {
                if no_restart {
                    eprintln!(
                        "want cluster: node {} (pid {}) exited ({status}); not restarting it (--no-restart)",
                        m.id,
                        pid.unwrap_or_default()
                    );
                    continue;
                }
                if now.duration_since(m.started) >= RESTART_HEALTHY_RUN {
                    m.backoff = RESTART_BACKOFF_MIN;
                }
                eprintln!(
                    "want cluster: node {} (pid {}) exited ({status}); restarting it in {} s (log: {})",
                    m.id,
                    pid.unwrap_or_default(),
                    m.backoff.as_secs(),
                    m.log.display()
                );
                m.restart_at = Some(now + m.backoff);
                m.backoff = (m.backoff * 2).min(RESTART_BACKOFF_MAX);
            }
            if m.restart_at.is_some_and(|t| t <= now) {
                match spawn(exe, m) {
                    Ok(()) => eprintln!(
                        "want cluster: node {} restarted (pid {})",
                        m.id,
                        m.pid().unwrap_or_default()
                    ),
                    Err(e) => {
                        eprintln!(
                            "want cluster: {}; trying again in {} s",
                            CliError::from_anyhow(e).message,
                            m.backoff.as_secs()
                        );
                        m.restart_at = Some(now + m.backoff);
                        m.backoff = (m.backoff * 2).min(RESTART_BACKOFF_MAX);
                    }
                }
            }
        }
        std::thread::sleep(TICK);
    }
}

fn up(args: UpArgs, out: &Out) -> anyhow::Result<()> {
    let stop = watch_signals()?;
    let exe = std::env::current_exe().map_err(|e| {
        CliError::new(
            "cluster_error",
            format!("cannot find the want binary to run the nodes: {e}"),
        )
    })?;
    let mut members = prepare(&args)?;
    let started = members
        .iter_mut()
        .try_for_each(|m| spawn(&exe, m))
        .and_then(|()| {
            wait_until_up(
                &mut members,
                &stop,
                Duration::from_secs(args.start_timeout_secs),
            )
        });
    if let Err(e) = started {
        stop_all(&mut members);
        return Err(e);
    }
    let v = json!({
        "nodes": members.iter().map(|m| json!({
            "id": m.id,
            "http": m.url,
            "member_url": m.member_url,
            "pid": m.pid(),
        })).collect::<Vec<_>>(),
    });
    out.value(&v, |_| {
        let mut s = format!(
            "WANT cluster of {} nodes is up (data in {})\n  node  http                          pid\n",
            members.len(),
            args.data_dir.display()
        );
        for m in &members {
            s.push_str(&format!(
                "  {:<5} {:<29} {}\n",
                m.id,
                m.url,
                m.pid().unwrap_or_default()
            ));
        }
        s.push_str(&format!(
            "  dev key in {} (public: never hold real value with it)\n  logs in {}/nodeK/node.log; Ctrl-C stops the cluster.",
            args.data_dir.join(crate::dev::DEV_KEY_FILE).display(),
            args.data_dir.display()
        ));
        s
    });
    supervise(&exe, &mut members, &stop, args.no_restart);
    eprintln!("want cluster: stopping {} nodes", members.len());
    stop_all(&mut members);
    Ok(())
}

#[cfg(test)]
mod tests {
    use want_consensus::net::Peer;
    use want_consensus::raft::authority::MembershipState;
    use want_consensus::MemberNode;

    use super::*;

    fn member(key: &want_crypto::NodeKey, port: u16) -> MemberNode {
        MemberNode {
            public_key: hex::encode(key.public_key()),
            addr: format!("http://127.0.0.1:{port}"),
        }
    }

    #[test]
    fn the_leader_a_status_names_is_used_only_as_the_verified_membership_records_it() {
        let keys: Vec<want_crypto::NodeKey> =
            (0..3).map(|_| want_crypto::NodeKey::generate()).collect();
        let mut state = MembershipState::genesis(
            (1..=3)
                .map(|i| (i, member(&keys[i as usize - 1], 7000 + i as u16)))
                .collect(),
        );
        state.index = Some(4);
        let claimed = |key: &want_crypto::NodeKey, url: &str| Peer {
            public_key: key.public_key(),
            url: url.into(),
        };
        // The genuine leader: its URL comes from the history, not from the status.
        let peer = leader_in(&state, 2, &claimed(&keys[1], "http://evil:1"), Some(4)).unwrap();
        assert_eq!(peer.url, "http://127.0.0.1:7002");
        // A status that gives the leader another key (a man in the middle's) is refused.
        let stranger = want_crypto::NodeKey::generate();
        let err = leader_in(&state, 2, &claimed(&stranger, "http://evil:1"), Some(4)).unwrap_err();
        assert_eq!(
            err.downcast_ref::<CliError>().unwrap().code,
            "unverified_leader"
        );
        // So is a leader that is not a voter of the proven membership.
        let err = leader_in(&state, 9, &claimed(&keys[1], "http://x"), Some(4)).unwrap_err();
        assert_eq!(
            err.downcast_ref::<CliError>().unwrap().code,
            "unverified_leader"
        );
        // A status of a membership the history has not reached yet asks for a retry.
        let err = leader_in(&state, 2, &claimed(&keys[1], "http://x"), Some(6)).unwrap_err();
        assert_eq!(
            err.downcast_ref::<CliError>().unwrap().code,
            "membership_changing"
        );
    }
}
