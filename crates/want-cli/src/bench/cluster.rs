//! `want bench cluster`: one run that compares a single node with a local multi-node cluster on
//! this machine — transfer throughput (single node and cluster leader), submit-to-commit latency
//! at half the cluster's peak load, leader failover (kill -9 to the first commit through a
//! survivor) and the catch-up of a follower that missed many blocks.
//!
//! Every process it starts (the `want dev` node, the `want cluster up` supervisors and the
//! restarted follower) is stopped when it returns, also on error: each is held by a guard that
//! sends SIGTERM and then SIGKILL, and each also gets `PR_SET_PDEATHSIG` so that it stops when
//! this process dies. The clusters' nodes are the supervisors' children, which stop them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};
use want_crypto::SigningKey;
use want_node::config::dev_private_key;
use want_types::Address;

use super::{measure_transfers, spawn_node, transfer, Encoding, TransferArgs, VERIFY_MEASURE};
use crate::output::{CliError, Out};

/// How long `want cluster up` may take to report every node up with a leader.
const CLUSTER_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopped process may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How long to look for a leader.
const LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the failover may take before it is reported as failed.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between failover submissions and status polls.
const FAILOVER_POLL: Duration = Duration::from_millis(10);
/// How long a restarted follower may take to answer its status.
const RESTART_TIMEOUT: Duration = Duration::from_secs(120);
/// Goals of issue 3.
const GOAL_RATIO: f64 = 0.5;
const GOAL_P99_MS: f64 = 250.0;
const GOAL_FAILOVER_MS: f64 = 2_000.0;

#[derive(Args)]
pub struct ClusterBenchArgs {
    /// Cluster size (at least 3: one node is killed and another stopped while the rest commit).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(3..=9))]
    nodes: u16,
    /// Number of distinct sending accounts of each transfer load.
    #[arg(long, default_value_t = 2_000)]
    senders: usize,
    /// Transfers per sender of each transfer load.
    #[arg(long, default_value_t = 30)]
    txs_per_sender: usize,
    /// Blocks the stopped follower misses before it is restarted.
    #[arg(long, default_value_t = 100_000)]
    catch_up_blocks: u64,
    /// Longest time the cluster may spend making those blocks; when it runs out, the blocks made
    /// so far are used and the time for --catch-up-blocks is extrapolated (and labelled so).
    #[arg(long, default_value_t = 900)]
    catch_up_max_secs: u64,
    /// block_interval_ms of the catch-up cluster (which makes empty blocks).
    #[arg(long, default_value_t = want_node::config::BLOCK_INTERVAL_MS_MIN)]
    catch_up_block_interval_ms: u64,
    /// The clusters' members talk over TLS (`want cluster up --member-tls`), to measure its
    /// cost.
    #[arg(long)]
    member_tls: bool,
}

/// A process this benchmark started: SIGTERM, then SIGKILL after [`STOP_GRACE`], when dropped.
struct Proc {
    child: Child,
    what: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        signal(self.child.id(), Signal::Term);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_)) | Err(_)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "bench: {} (pid {}) did not stop within {} s; killing it",
            self.what,
            self.child.id(),
            STOP_GRACE.as_secs()
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Term,
    Kill,
}

/// Sends a signal to a process; false if there is no such process.
#[cfg(unix)]
fn signal(pid: u32, sig: Signal) -> bool {
    let sig = match sig {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill has no memory-safety preconditions; the pid is a process this run started
    // (directly or through the cluster supervisor) and has not seen exit.
    unsafe { libc::kill(pid, sig) == 0 }
}

#[cfg(not(unix))]
fn signal(_pid: u32, _sig: Signal) -> bool {
    false
}

/// Whether a process exists (a zombie not yet reaped by its parent counts).
#[cfg(unix)]
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[cfg(not(unix))]
fn alive(_pid: u32) -> bool {
    false
}

/// Starts `cmd` as a process that is sent SIGTERM when this process dies (Linux). Spawn only
/// from the main thread: the death signal fires when the forking thread exits.
fn spawn_guarded(mut cmd: Command, what: &str) -> anyhow::Result<Proc> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: runs in the forked child before exec; prctl and getppid are
        // async-signal-safe and nothing here allocates.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::getppid() as u32 != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    let child = cmd
        .spawn()
        .map_err(|e| CliError::new("bench", format!("cannot start {what}: {e}")))?;
    Ok(Proc {
        child,
        what: what.to_string(),
    })
}

fn bench_err(message: impl Into<String>) -> anyhow::Error {
    CliError::new("bench", message).into()
}

fn http_client(timeout: Duration) -> anyhow::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| bench_err(format!("cannot build an HTTP client: {e}")))
}

/// GET a JSON document (whatever the HTTP status).
fn get_json(http: &reqwest::blocking::Client, url: &str) -> anyhow::Result<Value> {
    http.get(url)
        .send()
        .and_then(|r| r.json())
        .map_err(|e| CliError::new("node_unreachable", format!("{url}: {e}")).into())
}

/// One node of a running cluster.
#[derive(Clone)]
struct ClusterNode {
    id: u64,
    url: String,
}

/// A `want cluster up --no-restart` supervisor and its nodes.
struct Cluster {
    nodes: Vec<ClusterNode>,
    dir: PathBuf,
    /// Declared last: the supervisor stops its nodes when it is stopped.
    _supervisor: Proc,
}

/// Runs `want cluster up` on `dir` (written by `want init` unless it already holds a cluster)
/// and waits for its report that every node is up with a leader.
fn start_cluster(exe: &Path, dir: &Path, nodes: u16, member_tls: bool) -> anyhow::Result<Cluster> {
    let log_path = dir.with_extension("supervisor.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| bench_err(format!("cannot create {}: {e}", log_path.display())))?;
    let mut cmd = Command::new(exe);
    cmd.args(["--json", "cluster", "up", "--no-restart", "--nodes"])
        .arg(nodes.to_string())
        .arg("--data-dir")
        .arg(dir)
        .args(member_tls.then_some("--member-tls"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    let mut supervisor = spawn_guarded(cmd, "want cluster up")?;
    let stdout = supervisor
        .child
        .stdout
        .take()
        .ok_or_else(|| bench_err("want cluster up has no stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        let first = lines.next();
        let _ = tx.send(first);
        // Keep the pipe drained until the supervisor exits.
        for _ in lines {}
    });
    let line = match rx.recv_timeout(CLUSTER_UP_TIMEOUT) {
        Ok(Some(Ok(line))) => line,
        Ok(_) => {
            return Err(bench_err(format!(
                "want cluster up exited without a report; see {}",
                log_path.display()
            )))
        }
        Err(_) => {
            return Err(bench_err(format!(
                "want cluster up did not report within {} s; see {}",
                CLUSTER_UP_TIMEOUT.as_secs(),
                log_path.display()
            )))
        }
    };
    let v: Value = serde_json::from_str(&line)
        .map_err(|e| bench_err(format!("want cluster up printed {line:?}: {e}")))?;
    if v.get("error").is_some() {
        return Err(bench_err(format!("want cluster up failed: {}", v["error"])));
    }
    let nodes = v["nodes"]
        .as_array()
        .ok_or_else(|| bench_err(format!("want cluster up printed no nodes: {v}")))?
        .iter()
        .map(|n| {
            Some(ClusterNode {
                id: n["id"].as_u64()?,
                url: n["http"].as_str()?.trim_end_matches('/').to_string(),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| bench_err(format!("want cluster up printed malformed nodes: {v}")))?;
    Ok(Cluster {
        nodes,
        dir: dir.to_path_buf(),
        _supervisor: supervisor,
    })
}

impl Cluster {
    /// The leader's index in `nodes` and its status (as the leader itself reports it).
    fn leader(&self, http: &reqwest::blocking::Client) -> anyhow::Result<(usize, Value)> {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        loop {
            for n in &self.nodes {
                let Ok(s) = get_json(http, &format!("{}/v1/status", n.url)) else {
                    continue;
                };
                let Some(leader) = s["leader_raft_id"].as_u64() else {
                    continue;
                };
                let Some(i) = self.nodes.iter().position(|m| m.id == leader) else {
                    continue;
                };
                if let Ok(ls) = get_json(http, &format!("{}/v1/status", self.nodes[i].url)) {
                    if ls["raft_id"].as_u64() == Some(leader) && ls["pid"].is_u64() {
                        return Ok((i, ls));
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(bench_err(format!(
                    "no node of the cluster in {} reports a leader",
                    self.dir.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn f64_at(v: &Value, path: &[&str]) -> f64 {
    path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or(0.0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

pub fn run(a: ClusterBenchArgs, out: &Out) -> anyhow::Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| bench_err(format!("cannot find the want binary: {e}")))?;
    let tmp = tempfile::tempdir().map_err(|e| bench_err(format!("no temporary directory: {e}")))?;
    let load = |node: &str, rate: Option<f64>| TransferArgs {
        node: Some(node.to_string()),
        funder_key_file: None,
        senders: a.senders,
        txs_per_sender: a.txs_per_sender,
        batch: 500,
        connections: 4,
        encoding: Encoding::Borsh,
        rate,
    };
    super::check_load(&load("", None))?;
    let http = http_client(Duration::from_secs(10))?;
    let started = Instant::now();

    eprintln!(
        "measuring single-core secp256k1 verification for {} s…",
        VERIFY_MEASURE.as_secs()
    );
    let verify_rate = want_crypto::bench::secp256k1_verify_rate(VERIFY_MEASURE);

    eprintln!("[1/5] single node: transfers against a fresh `want dev` node…");
    let single = {
        let (url, _node) = spawn_node()?;
        measure_transfers(&load(&url, None), &url, verify_rate)?
    };
    let single_tps = f64_at(&single, &["tps"]);
    eprintln!("      single node: {single_tps:.0} tps");

    eprintln!(
        "[2/5] cluster: `want cluster up --nodes {} --no-restart`, transfers against the leader…",
        a.nodes
    );
    let cluster = start_cluster(&exe, &tmp.path().join("cluster"), a.nodes, a.member_tls)?;
    let (li, _) = cluster.leader(&http)?;
    let leader_url = cluster.nodes[li].url.clone();
    let peak = measure_transfers(&load(&leader_url, None), &leader_url, verify_rate)?;
    let cluster_tps = f64_at(&peak, &["tps"]);
    let ratio = cluster_tps / single_tps.max(1e-9);
    eprintln!("      cluster: {cluster_tps:.0} tps (ratio {ratio:.3})");

    let half_rate = (cluster_tps / 2.0).max(1.0);
    eprintln!("[3/5] latency at half load: --rate {half_rate:.0} against the leader…");
    let (li, _) = cluster.leader(&http)?;
    let leader_url = cluster.nodes[li].url.clone();
    let half = measure_transfers(
        &load(&leader_url, Some(half_rate)),
        &leader_url,
        verify_rate,
    )?;
    let p99 = f64_at(&half, &["latency_ms", "p99"]);
    eprintln!(
        "      p50 {:.1} ms, p99 {p99:.1} ms",
        f64_at(&half, &["latency_ms", "p50"])
    );

    eprintln!("[4/5] failover: kill -9 the leader, commit through a survivor…");
    let failover = failover(&cluster, &http)?;
    eprintln!(
        "      new leader visible after {} ms, first commit after {} ms",
        failover["new_leader_visible_ms"], failover["first_commit_ms"]
    );
    drop(cluster);

    eprintln!(
        "[5/5] catch-up: a follower misses up to {} blocks (at most {} s of block production)…",
        a.catch_up_blocks, a.catch_up_max_secs
    );
    let catch_up = if a.catch_up_blocks == 0 {
        eprintln!("      skipped (--catch-up-blocks 0)");
        Value::Null
    } else {
        catch_up(&a, &exe, &tmp.path().join("catchup"), &http)?
    };

    let failover_ms = failover["first_commit_ms"].as_f64();
    let v = json!({
        "benchmark": "cluster",
        "nodes": a.nodes,
        "member_tls": a.member_tls,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "senders": a.senders,
        "txs_per_sender": a.txs_per_sender,
        "single_core_verify_per_s": verify_rate,
        "single_node_tps": single_tps,
        "cluster_tps": cluster_tps,
        "ratio": ratio,
        "half_load": {
            "offered_rate": half_rate,
            "tps": f64_at(&half, &["tps"]),
            "p50_ms": f64_at(&half, &["latency_ms", "p50"]),
            "p99_ms": p99,
            "max_ms": f64_at(&half, &["latency_ms", "max"]),
        },
        "failover": failover,
        "catch_up": catch_up,
        "goals": {
            "ratio_at_least_0_5": ratio >= GOAL_RATIO,
            "half_load_p99_below_250_ms": p99 < GOAL_P99_MS,
            "failover_below_2_s": failover_ms.is_some_and(|f| f < GOAL_FAILOVER_MS),
        },
        "runs": {"single_node": single, "cluster": peak, "half_load": half},
        "wall_seconds": started.elapsed().as_secs_f64(),
    });
    out.value(&v, cluster_text);
    for run in ["single_node", "cluster", "half_load"] {
        super::check_all_committed(&v["runs"][run])
            .map_err(|e| bench_err(format!("{run}: {}", CliError::from_anyhow(e).message)))?;
    }
    Ok(())
}

fn cluster_text(v: &Value) -> String {
    let f = |p: &[&str]| f64_at(v, p);
    let yes = |p: &str| {
        if v["goals"][p].as_bool() == Some(true) {
            "met"
        } else {
            "NOT met"
        }
    };
    let opt_ms = |x: &Value| x.as_f64().map_or("—".to_string(), |m| format!("{m:.0} ms"));
    let c = &v["catch_up"];
    let opt_s = |x: &Value| x.as_f64().map_or("—".to_string(), |s| format!("{s:.1} s"));
    format!(
        "cluster benchmark: {} nodes on {} cores, {} senders × {} transfers per load\n\
         \n  measure                              value            goal\n\
         \x20 single-node tps                      {:<16.0} \n\
         \x20 cluster tps (leader)                 {:<16.0} \n\
         \x20 ratio cluster ÷ single               {:<16.3} ≥ 0.5: {}\n\
         \x20 half load ({:.0}/s) p50 / p99        {:<16} p99 < 250 ms: {}\n\
         \x20 failover: new leader visible         {:<16} \n\
         \x20 failover: kill → first commit        {:<16} < 2 s: {}\n\
         \x20 catch-up: blocks behind              {:<16} (asked {}{})\n\
         \x20 catch-up: time / rate                {:<16} {:.0} blocks/s\n\
         \x20 catch-up: {} blocks{}     {}\n\
         \x20 single-core verify/s                 {:.0}",
        v["nodes"],
        v["cores"],
        v["senders"],
        v["txs_per_sender"],
        f(&["single_node_tps"]),
        f(&["cluster_tps"]),
        f(&["ratio"]),
        yes("ratio_at_least_0_5"),
        f(&["half_load", "offered_rate"]),
        format!(
            "{:.0} / {:.0} ms",
            f(&["half_load", "p50_ms"]),
            f(&["half_load", "p99_ms"])
        ),
        yes("half_load_p99_below_250_ms"),
        opt_ms(&v["failover"]["new_leader_visible_ms"]),
        opt_ms(&v["failover"]["first_commit_ms"]),
        yes("failover_below_2_s"),
        c["blocks_behind"].to_string(),
        c["target_blocks"],
        if c["extrapolated"].as_bool() == Some(true) {
            ", production time limit reached"
        } else {
            ""
        },
        opt_s(&c["catch_up_seconds"]),
        c["catch_up_blocks_per_s"].as_f64().unwrap_or(0.0),
        c["target_blocks"],
        if c["extrapolated"].as_bool() == Some(true) {
            " (extrapolated)"
        } else {
            ""
        },
        opt_s(&c["seconds_for_target_blocks"]),
        f(&["single_core_verify_per_s"]),
    )
}

/// Kills the leader with SIGKILL and submits one dev-account transfer with `?wait=commit` to a
/// surviving node until it commits. Reports the time from the kill to that commit and to the
/// first status (of any survivor) naming a new leader.
fn failover(cluster: &Cluster, http: &reqwest::blocking::Client) -> anyhow::Result<Value> {
    let (li, leader_status) = cluster.leader(http)?;
    let old_id = cluster.nodes[li].id;
    let pid = leader_status["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| bench_err(format!("the leader's status has no pid: {leader_status}")))?;
    let survivors: Vec<ClusterNode> = cluster
        .nodes
        .iter()
        .filter(|n| n.id != old_id)
        .cloned()
        .collect();
    let target = survivors[0].url.clone();
    let chain_id = leader_status["chain_id"].as_u64().unwrap_or_default();
    let min_fee: u128 = leader_status["params"]["min_fee"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let dev = SigningKey::Secp256k1(dev_private_key());
    let dev_addr = dev.address();
    let recipient: Address = SigningKey::Secp256k1(
        want_crypto::PrivateKey::from_bytes(&want_types::hash::sha256(b"want bench failover").0)
            .map_err(|e| bench_err(e.to_string()))?,
    )
    .address();
    let sign = |nonce: u64| transfer(&dev, chain_id, nonce, min_fee, recipient, 1_000);
    let read_nonce = |url: &str| -> anyhow::Result<u64> {
        let v = get_json(http, &format!("{url}/v1/accounts/{dev_addr}"))?;
        v["nonce"]
            .as_u64()
            .ok_or_else(|| bench_err(format!("account without nonce: {v}")))
    };
    let mut stx = sign(read_nonce(&target)?);

    let submit = http_client(Duration::from_secs(10))?;
    let probe = http_client(Duration::from_millis(500))?;
    let killed_at = Instant::now();
    if !signal(pid, Signal::Kill) {
        return Err(bench_err(format!("cannot kill the leader (pid {pid})")));
    }
    // Watch the survivors' status for a new leader while the main thread submits.
    let watcher = {
        let survivors = survivors.clone();
        let probe = probe.clone();
        std::thread::spawn(move || -> Option<(Duration, u64)> {
            while killed_at.elapsed() < FAILOVER_TIMEOUT {
                for n in &survivors {
                    if let Ok(s) = get_json(&probe, &format!("{}/v1/status", n.url)) {
                        if let Some(id) = s["leader_raft_id"].as_u64().filter(|id| *id != old_id) {
                            return Some((killed_at.elapsed(), id));
                        }
                    }
                }
                std::thread::sleep(FAILOVER_POLL);
            }
            None
        })
    };

    let mut attempts = 0u32;
    let mut errors: std::collections::BTreeMap<String, u32> = Default::default();
    let mut committed: Option<(Duration, Value)> = None;
    while killed_at.elapsed() < FAILOVER_TIMEOUT {
        attempts += 1;
        let r = submit
            .post(format!("{target}/v1/transactions?wait=commit"))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(borsh::to_vec(&stx).expect("invariant: borsh encoding into a Vec cannot fail"))
            .send()
            .and_then(|r| Ok((r.status(), r.json::<Value>()?)));
        let code = match r {
            Ok((status, v)) if status.is_success() && v["status"] == "committed" => {
                committed = Some((killed_at.elapsed(), v["block_height"].clone()));
                break;
            }
            Ok((_, v)) => v["error"]["code"]
                .as_str()
                .unwrap_or("unexpected_answer")
                .to_string(),
            Err(e) if e.is_timeout() => "client_timeout".to_string(),
            Err(_) => "transport".to_string(),
        };
        *errors.entry(code.clone()).or_default() += 1;
        // Already admitted somewhere, or its nonce used: see whether it committed.
        if matches!(
            code.as_str(),
            "duplicate_transaction" | "nonce_in_use" | "nonce_too_low" | "commit_timeout"
        ) {
            if let Ok(v) = get_json(&probe, &format!("{target}/v1/transactions/{}", stx.id())) {
                if v["status"] == "committed" {
                    committed = Some((killed_at.elapsed(), v["block_height"].clone()));
                    break;
                }
            }
            if code == "nonce_too_low" {
                if let Ok(n) = read_nonce(&target) {
                    stx = sign(n);
                }
            }
        }
        std::thread::sleep(FAILOVER_POLL);
    }
    let new_leader = watcher.join().ok().flatten();
    Ok(json!({
        "killed_leader": old_id,
        "killed_pid": pid,
        "submitted_to": target,
        "new_leader": new_leader.map(|(_, id)| id),
        "new_leader_visible_ms": new_leader.map(|(d, _)| ms(d)),
        "first_commit_ms": committed.as_ref().map(|(d, _)| ms(*d)),
        "committed_at_height": committed.as_ref().map(|(_, h)| h.clone()),
        "attempts": attempts,
        "refusals": errors,
    }))
}

/// Sets `block_interval_ms` and `empty_blocks = true` in every node configuration of a cluster
/// directory written by `want init`.
fn make_empty_blocks(report: &crate::init::InitReport, interval_ms: u64) -> anyhow::Result<()> {
    for n in &report.nodes {
        let text = std::fs::read_to_string(&n.config)
            .map_err(|e| bench_err(format!("cannot read {}: {e}", n.config.display())))?;
        let mut doc: toml::Table = text
            .parse()
            .map_err(|e| bench_err(format!("{}: {e}", n.config.display())))?;
        let node = doc
            .get_mut("node")
            .and_then(|v| v.as_table_mut())
            .ok_or_else(|| bench_err(format!("{} has no [node]", n.config.display())))?;
        node.insert(
            "block_interval_ms".into(),
            toml::Value::Integer(interval_ms as i64),
        );
        node.insert("empty_blocks".into(), toml::Value::Boolean(true));
        std::fs::write(&n.config, doc.to_string())
            .map_err(|e| bench_err(format!("cannot write {}: {e}", n.config.display())))?;
    }
    Ok(())
}

fn height(http: &reqwest::blocking::Client, url: &str) -> Option<u64> {
    get_json(http, &format!("{url}/v1/status")).ok()?["height"].as_u64()
}

/// Stops a follower, lets the cluster make blocks without it, restarts it with
/// `want node --config` and measures how fast it catches up.
fn catch_up(
    a: &ClusterBenchArgs,
    exe: &Path,
    dir: &Path,
    http: &reqwest::blocking::Client,
) -> anyhow::Result<Value> {
    let report = crate::init::init_cluster(
        a.nodes,
        dir,
        None,
        "127.0.0.1",
        crate::init::ChainSpec::Dev,
        a.member_tls,
    )?;
    make_empty_blocks(&report, a.catch_up_block_interval_ms)?;
    let cluster = start_cluster(exe, dir, a.nodes, a.member_tls)?;
    let (li, _) = cluster.leader(http)?;
    let leader_url = cluster.nodes[li].url.clone();
    let follower = cluster
        .nodes
        .iter()
        .find(|n| n.url != leader_url)
        .cloned()
        .ok_or_else(|| bench_err("the cluster has no follower"))?;
    let fs = get_json(http, &format!("{}/v1/status", follower.url))?;
    let fpid = fs["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| bench_err(format!("the follower's status has no pid: {fs}")))?;

    // Stop the follower (SIGTERM) and wait until it is gone.
    signal(fpid, Signal::Term);
    let deadline = Instant::now() + STOP_GRACE;
    while alive(fpid) {
        if Instant::now() > deadline {
            signal(fpid, Signal::Kill);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped_height = {
        // The follower's height as it stopped is read back from its data after the restart;
        // until then the leader's height at the stop is the reference.
        height(http, &leader_url).unwrap_or(0)
    };

    // Let the cluster make the blocks the follower misses.
    let production_started = Instant::now();
    let limit = Duration::from_secs(a.catch_up_max_secs);
    let mut last_report = Instant::now();
    let mut leader_height = stopped_height;
    while leader_height < stopped_height + a.catch_up_blocks && production_started.elapsed() < limit
    {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(h) = height(http, &leader_url) {
            leader_height = h;
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "      {} blocks made without the follower in {:.0} s",
                leader_height - stopped_height,
                production_started.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    }
    let production_secs = production_started.elapsed().as_secs_f64();
    let made = leader_height - stopped_height;

    // Restart the follower and time it.
    let config = crate::init::config_path(&cluster.dir, follower.id);
    let log_path = crate::init::node_dir(&cluster.dir, follower.id).join("node.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| bench_err(format!("cannot open {}: {e}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(|e| bench_err(format!("cannot open {}: {e}", log_path.display())))?;
    let mut cmd = Command::new(exe);
    cmd.arg("node")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let target = height(http, &leader_url).unwrap_or(leader_height);
    let restarted_at = Instant::now();
    let mut node = spawn_guarded(cmd, "the restarted follower")?;
    let probe = http_client(Duration::from_secs(2))?;
    let mut first: Option<(Duration, u64)> = None;
    loop {
        if let Ok(Some(status)) = node.child.try_wait() {
            return Err(bench_err(format!(
                "the restarted follower exited ({status}); see {}",
                log_path.display()
            )));
        }
        if let Some(h) = height(&probe, &follower.url) {
            first = Some((restarted_at.elapsed(), h));
            break;
        }
        if restarted_at.elapsed() > RESTART_TIMEOUT {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (startup, start_height) = first.ok_or_else(|| {
        bench_err(format!(
            "the restarted follower did not answer within {} s; see {}",
            RESTART_TIMEOUT.as_secs(),
            log_path.display()
        ))
    })?;
    let behind = target.saturating_sub(start_height);
    // Expected catch-up time is behind ÷ rate; allow generously more, and at least 5 minutes.
    let catch_up_timeout =
        Duration::from_secs(300).max(Duration::from_secs_f64(production_secs * 2.0));
    let mut reached_target: Option<Duration> = None;
    let mut reached_live: Option<(Duration, u64)> = None;
    let mut last_report = Instant::now();
    let mut follower_height = start_height;
    while restarted_at.elapsed() < catch_up_timeout {
        if let Ok(Some(status)) = node.child.try_wait() {
            return Err(bench_err(format!(
                "the restarted follower exited while catching up ({status}); see {}",
                log_path.display()
            )));
        }
        if let Some(h) = height(&probe, &follower.url) {
            follower_height = h;
        }
        if reached_target.is_none() && follower_height >= target {
            reached_target = Some(restarted_at.elapsed());
        }
        if reached_target.is_some() {
            if let Some(lh) = height(&probe, &leader_url) {
                if follower_height >= lh {
                    reached_live = Some((restarted_at.elapsed(), lh));
                    break;
                }
            }
            // The cluster keeps making blocks; give the live chase as long again as the
            // catch-up itself took (and at least a minute).
            let t = reached_target.unwrap_or_default();
            if restarted_at.elapsed() > t * 2 + Duration::from_secs(60) {
                break;
            }
        }
        if last_report.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "      follower at height {follower_height} of {target} after {:.0} s",
                restarted_at.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let caught = reached_target.map(|d| d.as_secs_f64());
    let rate = caught.map(|s| behind as f64 / s.max(1e-9));
    let rate_after_start = caught.map(|s| behind as f64 / (s - startup.as_secs_f64()).max(1e-9));
    let extrapolated = behind < a.catch_up_blocks;
    let for_target = rate_after_start.map(|r| startup.as_secs_f64() + a.catch_up_blocks as f64 / r);
    drop(node);
    drop(cluster);
    Ok(json!({
        "target_blocks": a.catch_up_blocks,
        "block_interval_ms": a.catch_up_block_interval_ms,
        "empty_blocks": true,
        "follower": follower.id,
        "production_seconds": production_secs,
        "production_blocks_per_s": made as f64 / production_secs.max(1e-9),
        "blocks_behind": behind,
        "follower_height_at_restart": start_height,
        "leader_height_at_restart": target,
        "startup_seconds": startup.as_secs_f64(),
        "catch_up_seconds": caught,
        "catch_up_blocks_per_s": rate,
        "catch_up_blocks_per_s_after_startup": rate_after_start,
        "caught_up_with_live_leader_seconds": reached_live.map(|(d, _)| d.as_secs_f64()),
        "live_leader_height": reached_live.map(|(_, h)| h),
        "extrapolated": extrapolated,
        "seconds_for_target_blocks": if extrapolated { for_target } else { caught },
    }))
}
