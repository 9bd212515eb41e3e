//! `want bench transfers`: drives a running node with many senders' signed transfers and reports
//! committed transfers per second, submit-to-commit latency, and this machine's single-core
//! secp256k1 verification rate measured in the same run.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use parking_lot::Mutex;
use rayon::prelude::*;
use serde_json::{json, Value};
use want_crypto::{PrivateKey, SigningKey};
use want_node::config::dev_private_key;
use want_types::{Address, Call, Hash32, SignedTransaction, TokenCall, Transaction};

use crate::output::{CliError, Out};

mod cluster;
mod commerce;
mod credit;
mod trace;
mod weights;

/// How long to wait for the node to start, for funding to commit, and for the load to commit.
const NODE_START_TIMEOUT: Duration = Duration::from_secs(60);
const COMMIT_TIMEOUT: Duration = Duration::from_secs(300);
/// Most transactions from one sender in flight: what a node admits of one account by default.
const PER_SENDER_MAX: usize = want_node::config::MEMPOOL_SENDER_TXS_MAX_DEFAULT;
/// Duration of the single-core verification measurement.
const VERIFY_MEASURE: Duration = Duration::from_secs(2);

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Borsh,
    Json,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Signed WANT transfers from many senders against one node.
    Transfers(TransferArgs),
    /// One node against a local 3-node cluster: throughput, latency at half load, leader
    /// failover and a lagging follower's catch-up, in one run.
    Cluster(cluster::ClusterBenchArgs),
    /// EPCIS capture and product verification: a 1,700-item portal read's latency, sustained
    /// EPC observations per second, and verify latency of a product with 50 records.
    Trace(trace::TraceBenchArgs),
    /// What each kind of call costs this machine end to end (decode, signature recovery,
    /// execution over a real store, durable commit), and the weight constants fitted to it.
    Weights(weights::WeightsBenchArgs),
    /// Orders through their life (place, accept, ship, confirm) against the transfer rate of
    /// the same node in the same run, and the cost per block of draining due deadlines.
    Commerce(commerce::CommerceBenchArgs),
    /// Credit scores per second on one core with a scorecard, and the training time.
    CreditScore(credit::CreditScoreBenchArgs),
}

#[derive(Args)]
pub struct TransferArgs {
    /// Node to drive; without it a fresh `want dev` node is started on a temporary directory.
    #[arg(long)]
    node: Option<String>,
    /// Private key (hex file) of a funded account; default: the development account.
    #[arg(long)]
    funder_key_file: Option<PathBuf>,
    /// Number of distinct sending accounts.
    #[arg(long, default_value_t = 2_000)]
    senders: usize,
    /// Transfers per sender.
    #[arg(long, default_value_t = 30)]
    txs_per_sender: usize,
    /// Transactions per HTTP batch request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Concurrent HTTP connections submitting batches.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Request body encoding: borsh (application/octet-stream) or json.
    #[arg(long, value_enum, default_value = "borsh")]
    encoding: Encoding,
    /// Offered load in transactions per second (default: as fast as the node accepts). Use it to
    /// measure latency below saturation.
    #[arg(long)]
    rate: Option<f64>,
}

pub fn run(cmd: BenchCommand, out: &Out) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Transfers(a) => transfers(a, out),
        BenchCommand::Cluster(a) => cluster::run(a, out),
        BenchCommand::Trace(a) => trace::run(a, out),
        BenchCommand::Weights(a) => weights::run(a, out),
        BenchCommand::Commerce(a) => commerce::run(a, out),
        BenchCommand::CreditScore(a) => credit::run(a, out),
    }
}

pub(crate) struct SpawnedNode {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for SpawnedNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| CliError::new("bench", format!("no free port: {e}")))?;
    Ok(l.local_addr()
        .map_err(|e| CliError::new("bench", e.to_string()))?
        .port())
}

pub(crate) fn spawn_node() -> anyhow::Result<(String, SpawnedNode)> {
    let dir = tempfile::tempdir()
        .map_err(|e| CliError::new("bench", format!("no temporary directory: {e}")))?;
    let port = free_port()?;
    let exe = std::env::current_exe().map_err(|e| CliError::new("bench", e.to_string()))?;
    let child = Command::new(exe)
        .args(["dev", "--data-dir"])
        .arg(dir.path())
        .args(["--http", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| CliError::new("bench", format!("cannot start a node: {e}")))?;
    Ok((
        format!("http://127.0.0.1:{port}"),
        SpawnedNode { child, _dir: dir },
    ))
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

pub(crate) fn transfer(
    key: &SigningKey,
    chain_id: u64,
    nonce: u64,
    fee: u128,
    to: Address,
    amount: u128,
) -> SignedTransaction {
    key.sign_transaction(Transaction {
        chain_id,
        from: key.address(),
        nonce,
        fee,
        expiry_ms: now_ms() + 3_600_000,
        pow_nonce: 0,
        call: Call::Token(TokenCall::Transfer { to, amount }),
    })
}

struct Http {
    base: String,
    client: reqwest::blocking::Client,
    encoding: Encoding,
}

impl Http {
    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .map_err(|e| CliError::new("node_unreachable", format!("{}{path}: {e}", self.base)))?;
        Ok(r.json()
            .map_err(|e| CliError::new("bad_response", e.to_string()))?)
    }

    fn post_batch(&self, txs: &[SignedTransaction]) -> anyhow::Result<Vec<Value>> {
        let request = self
            .client
            .post(format!("{}/v1/transactions/batch", self.base));
        let request = match self.encoding {
            Encoding::Borsh => request
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(
                    borsh::to_vec(txs).expect("invariant: borsh encoding into a Vec cannot fail"),
                ),
            Encoding::Json => request.json(txs),
        };
        let r = request
            .send()
            .map_err(|e| CliError::new("node_unreachable", e.to_string()))?;
        let v: Value = r
            .json()
            .map_err(|e| CliError::new("bad_response", e.to_string()))?;
        v["results"].as_array().cloned().ok_or_else(|| {
            CliError::new("bad_response", format!("batch answer without results: {v}")).into()
        })
    }
}

fn wait_for_nonce(http: &Http, address: &Address, nonce: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + COMMIT_TIMEOUT;
    loop {
        let v = http.get(&format!("/v1/accounts/{address}"))?;
        if v["nonce"].as_u64().unwrap_or(0) >= nonce {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(CliError::new(
                "bench",
                format!("{address} did not reach nonce {nonce} in time"),
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Percentile of sorted durations, in milliseconds.
fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)].as_secs_f64() * 1_000.0
}

fn transfers(a: TransferArgs, out: &Out) -> anyhow::Result<()> {
    check_load(&a)?;
    eprintln!(
        "measuring single-core secp256k1 verification for {} s…",
        VERIFY_MEASURE.as_secs()
    );
    let verify_rate = want_crypto::bench::secp256k1_verify_rate(VERIFY_MEASURE);

    let (base, _spawned) = match &a.node {
        Some(url) => (url.trim_end_matches('/').to_string(), None),
        None => {
            let (url, node) = spawn_node()?;
            (url, Some(node))
        }
    };
    let v = measure_transfers(&a, &base, verify_rate)?;
    out.value(&v, transfers_text);
    check_all_committed(&v)
}

/// The human rendering of one transfers measurement.
pub(crate) fn transfers_text(v: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let (tps, verify_rate) = (f(&v["tps"]), f(&v["single_core_verify_per_s"]));
    format!(
        "transfers: {} submitted, {} committed in {:.2} s\n  committed tps          {:.0}\n  latency p50 / p99      {:.1} ms / {:.1} ms\n  single-core verify/s   {:.0}\n  tps ÷ single-core      {:.3}\n  refused                {}",
        v["submitted"], v["committed"], f(&v["elapsed_seconds"]), tps, f(&v["latency_ms"]["p50"]),
        f(&v["latency_ms"]["p99"]), verify_rate, tps / verify_rate.max(1.0), v["refused"]
    )
}

/// Fails when some accepted transactions of a measurement did not commit before the timeout.
pub(crate) fn check_all_committed(v: &Value) -> anyhow::Result<()> {
    let committed = v["committed"].as_u64().unwrap_or(0);
    let accepted = v["accepted"].as_u64().unwrap_or(0);
    if committed < accepted {
        return Err(CliError::new(
            "bench",
            format!(
                "only {committed} of {accepted} accepted transactions committed before the timeout"
            ),
        )
        .into());
    }
    Ok(())
}

/// Refuses load parameters the driver cannot run.
fn check_load(a: &TransferArgs) -> anyhow::Result<()> {
    if a.senders == 0
        || a.txs_per_sender == 0
        || a.txs_per_sender > PER_SENDER_MAX
        || a.batch == 0
        || a.connections == 0
    {
        return Err(CliError::new("invalid_argument", format!("need senders ≥ 1, 1 ≤ txs-per-sender ≤ {PER_SENDER_MAX}, batch ≥ 1, connections ≥ 1")).into());
    }
    Ok(())
}

/// Runs the transfer load against the node at `base` (waiting for it to answer) and returns the
/// measurement; `verify_rate` is the single-core verification rate reported next to it.
pub(crate) fn measure_transfers(
    a: &TransferArgs,
    base: &str,
    verify_rate: f64,
) -> anyhow::Result<Value> {
    check_load(a)?;
    let base = base.trim_end_matches('/').to_string();
    let http = Http {
        base: base.clone(),
        client: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| CliError::new("bench", e.to_string()))?,
        encoding: a.encoding,
    };
    let started = Instant::now();
    let status = loop {
        match http.get("/v1/status") {
            Ok(v) if v["chain_id"].is_u64() => break v,
            _ if started.elapsed() > NODE_START_TIMEOUT => {
                return Err(CliError::new(
                    "node_unreachable",
                    format!("no node answered at {base}"),
                )
                .into())
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let chain_id = status["chain_id"].as_u64().unwrap_or_default();
    let min_fee: u128 = status["params"]["min_fee"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let funder = match &a.funder_key_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| CliError::new("file_unreadable", format!("{}: {e}", p.display())))?;
            SigningKey::Secp256k1(PrivateKey::from_hex(text.trim())?)
        }
        None => SigningKey::Secp256k1(dev_private_key()),
    };
    let funder_addr = funder.address();

    // Senders, deterministic so runs are comparable.
    eprintln!(
        "preparing {} senders × {} transfers…",
        a.senders, a.txs_per_sender
    );
    let senders: Vec<SigningKey> =
        (0..a.senders)
            .into_par_iter()
            .map(|i| {
                let seed = want_types::hash::sha256(format!("want bench sender {i}").as_bytes());
                SigningKey::Secp256k1(PrivateKey::from_bytes(&seed.0).expect(
                    "invariant: a SHA-256 output is a valid key with overwhelming probability",
                ))
            })
            .collect();
    let amount: u128 = 10_000; // 0.01 WANT
    let per_tx = amount + amount.div_ceil(100) + min_fee;
    let funding = per_tx * a.txs_per_sender as u128 + min_fee;

    // Fund the senders from the funder, at most PER_SENDER_MAX in flight.
    let mut nonce = http.get(&format!("/v1/accounts/{funder_addr}"))?["pending_nonce"]
        .as_u64()
        .unwrap_or(0);
    for chunk in senders.chunks(PER_SENDER_MAX) {
        let txs: Vec<SignedTransaction> = chunk
            .iter()
            .enumerate()
            .map(|(i, s)| {
                transfer(
                    &funder,
                    chain_id,
                    nonce + i as u64,
                    min_fee,
                    s.address(),
                    funding,
                )
            })
            .collect();
        for part in txs.chunks(a.batch) {
            for r in http.post_batch(part)? {
                if r.get("error").is_some() {
                    return Err(CliError::new("bench", format!("funding refused: {r}")).into());
                }
            }
        }
        nonce += chunk.len() as u64;
        wait_for_nonce(&http, &funder_addr, nonce)?;
    }

    // Pre-sign every transfer (not measured), ordered round by round so nonces arrive in order.
    let start_nonces: Vec<u64> = senders
        .iter()
        .map(|s| {
            http.get(&format!("/v1/accounts/{}", s.address()))
                .map(|v| v["pending_nonce"].as_u64().unwrap_or(0))
        })
        .collect::<anyhow::Result<_>>()?;
    let recipients: Vec<Address> = senders.iter().map(|s| s.address()).collect();
    let mut all: Vec<SignedTransaction> = (0..a.txs_per_sender * a.senders)
        .into_par_iter()
        .map(|k| {
            let (round, i) = (k / a.senders, k % a.senders);
            let to = recipients[(i + 1 + round) % recipients.len()];
            transfer(
                &senders[i],
                chain_id,
                start_nonces[i] + round as u64,
                min_fee,
                to,
                amount,
            )
        })
        .collect();
    let total = all.len();
    let ids: Vec<Hash32> = all.par_iter().map(|t| t.id()).collect();

    // Listen for commits on the event stream.
    let head = http.get("/v1/status")?["height"].as_u64().unwrap_or(0);
    let commits: Arc<Mutex<HashMap<Hash32, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(total)));
    let ws_base = base.replacen("http", "ws", 1);
    let listener = {
        let commits = commits.clone();
        std::thread::spawn(move || listen(ws_base, head + 1, commits, total))
    };

    // Submit.
    let submitted: Arc<Mutex<HashMap<Hash32, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(total)));
    let refused: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let batches: Vec<Vec<SignedTransaction>> = {
        let mut v = Vec::new();
        while !all.is_empty() {
            let rest = all.split_off(a.batch.min(all.len()));
            v.push(std::mem::replace(&mut all, rest));
        }
        v
    };
    let next = AtomicUsize::new(0);
    let load_start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..a.connections {
            scope.spawn(|| {
                let client = Http {
                    base: base.clone(),
                    client: http.client.clone(),
                    encoding: a.encoding,
                };
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let Some(batch) = batches.get(n) else { break };
                    if let Some(rate) = a.rate.filter(|r| *r > 0.0) {
                        let due = load_start + Duration::from_secs_f64((n * a.batch) as f64 / rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                    }
                    let mut pending: Vec<SignedTransaction> = batch.clone();
                    while !pending.is_empty() {
                        let sent_at = Instant::now();
                        let results = match client.post_batch(&pending) {
                            Ok(r) => r,
                            Err(e) => {
                                *refused.lock().entry(format!("transport: {e}")).or_default() +=
                                    pending.len();
                                break;
                            }
                        };
                        let mut retry = Vec::new();
                        let mut sub = submitted.lock();
                        for (tx, r) in pending.into_iter().zip(results) {
                            match r["error"]["code"].as_str() {
                                None => {
                                    sub.insert(tx.id(), sent_at);
                                }
                                Some("mempool_full") => retry.push(tx),
                                Some(code) => {
                                    *refused.lock().entry(code.to_string()).or_default() += 1
                                }
                            }
                        }
                        drop(sub);
                        if !retry.is_empty() {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        pending = retry;
                    }
                }
            });
        }
    });
    let submit_secs = load_start.elapsed().as_secs_f64();
    let accepted = submitted.lock().len();

    wait_for_commits(&submitted, &commits, accepted, &listener);
    let stream = if listener.is_finished() {
        match listener.join() {
            Ok(Ok(reconnects)) => json!({"reconnects": reconnects}),
            Ok(Err(e)) => json!({"error": CliError::from_anyhow(e).message}),
            Err(_) => json!({"error": "the listener panicked"}),
        }
    } else {
        json!({"error": "still waiting for receipts at the deadline"})
    };
    let commits = commits.lock().clone();
    let submitted = submitted.lock().clone();
    let mut latencies: Vec<Duration> = Vec::with_capacity(accepted);
    let mut last_commit = load_start;
    let mut first_commit: Option<Instant> = None;
    for id in &ids {
        if let (Some(s), Some(c)) = (submitted.get(id), commits.get(id)) {
            latencies.push(c.saturating_duration_since(*s));
            last_commit = last_commit.max(*c);
            first_commit = Some(first_commit.map_or(*c, |f| f.min(*c)));
        }
    }
    latencies.sort();
    let committed = latencies.len();
    let elapsed = last_commit
        .saturating_duration_since(load_start)
        .as_secs_f64()
        .max(1e-9);
    let tps = committed as f64 / elapsed;
    let v = json!({
        "benchmark": "transfers",
        "node": base,
        "senders": a.senders,
        "offered_rate": a.rate,
        "encoding": a.encoding,
        "txs_per_sender": a.txs_per_sender,
        "submitted": total,
        "accepted": accepted,
        "committed": committed,
        "refused": *refused.lock(),
        "submit_seconds": submit_secs,
        "elapsed_seconds": elapsed,
        "first_commit_seconds": first_commit
            .unwrap_or(load_start)
            .saturating_duration_since(load_start)
            .as_secs_f64(),
        "tps": tps,
        "latency_ms": {"p50": percentile(&latencies, 0.50), "p99": percentile(&latencies, 0.99), "max": percentile(&latencies, 1.0)},
        "single_core_verify_per_s": verify_rate,
        "ratio_tps_to_single_core_verify": tps / verify_rate.max(1.0),
        "event_stream": stream,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    Ok(v)
}

/// Waits until every one of the `accepted` submitted transactions is in `commits`, the commit
/// timeout passes, or the stream `listener` ends.
pub(crate) fn wait_for_commits<T>(
    submitted: &Mutex<HashMap<Hash32, Instant>>,
    commits: &Mutex<HashMap<Hash32, Instant>>,
    accepted: usize,
    listener: &std::thread::JoinHandle<T>,
) {
    let deadline = Instant::now() + COMMIT_TIMEOUT;
    loop {
        let done = {
            let c = commits.lock();
            submitted
                .lock()
                .keys()
                .filter(|id| c.contains_key(id))
                .count()
        };
        if done >= accepted || Instant::now() > deadline || listener.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the event stream, recording when each transaction's receipt first arrives. A dropped
/// stream is resumed from the height of the last receipt seen (the stream is resumable, so no
/// commit is missed); the number of reconnections is returned.
fn listen(
    base_ws: String,
    from_height: u64,
    commits: Arc<Mutex<HashMap<Hash32, Instant>>>,
    expected: usize,
) -> anyhow::Result<usize> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new("bench", e.to_string()))?;
    rt.block_on(async move {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + COMMIT_TIMEOUT + Duration::from_secs(60);
        let mut resume_at = from_height;
        let mut reconnects = 0usize;
        loop {
            let url = format!("{base_ws}/v1/events?kinds=receipt&from_height={resume_at}");
            let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((ws, _)) => ws,
                Err(e) if reconnects == 0 => {
                    return Err(CliError::new(
                        "node_unreachable",
                        format!("event stream {url}: {e}"),
                    )
                    .into())
                }
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    reconnects += 1;
                    continue;
                }
            };
            loop {
                let msg = match tokio::time::timeout_at(deadline, ws.next()).await {
                    Ok(Some(Ok(m))) => m,
                    Ok(_) => break,
                    Err(_) => return Ok(reconnects),
                };
                let Ok(text) = msg.into_text() else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                if v["type"] != "receipt" {
                    continue;
                }
                if let Some(id) = v["tx_id"].as_str().and_then(|s| s.parse::<Hash32>().ok()) {
                    let mut c = commits.lock();
                    c.entry(id).or_insert_with(Instant::now);
                    if c.len() >= expected {
                        return Ok(reconnects);
                    }
                }
                resume_at = v["height"].as_u64().unwrap_or(resume_at);
            }
            reconnects += 1;
            eprintln!("event stream ended; resuming from height {resume_at}");
        }
    })
}
