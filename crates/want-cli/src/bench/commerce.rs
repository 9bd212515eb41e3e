//! `want bench commerce`: orders through their whole life on one node, against the transfer rate
//! of the same node in the same run, and the cost per block of draining due deadlines.
//!
//! 1. **Transfers** exactly as `want bench transfers` measures them (many senders, pre-signed,
//!    batched), on the node the run drives: one run of `--buyers` senders ×
//!    `--transfers-per-sender` (by default `--orders-per-buyer`) just before each order wave
//!    below. Each run is as large as the wave it is compared with, so both sides pay as many
//!    pipeline fills and drains (a wave's first commit comes 0.1–0.3 s after its first
//!    submission, a fifth to a third of a 10,000-transaction wave: one run of 40,000 transfers
//!    against four waves of 10,000 measured the wave shape as much as the calls), and each pair
//!    sees the machine in the same state. The transfer rate is the runs' transactions over the
//!    sum of their times.
//! 2. **Orders**: `--shops` shops each list one offer; `--buyers` buyers each place
//!    `--orders-per-buyer` orders of one item spread over the shops; the shops accept and ship
//!    them, the buyers confirm them: four transactions an order, in four waves (each wave waits
//!    for the previous one's commits, since it names what they made). Every wave is submitted
//!    and timed like the transfers (from its first submission to its last commit), except that
//!    each sender's transactions go through one connection, in nonce order; the commerce
//!    rate is all the waves' transactions over the sum of their times, and is divided by the
//!    transfer rate.
//!
//!    Steps 1 and 2 make a round, and run `--rounds` times on the same node; the ratio
//!    reported is the median round's, every round's ratio printed beside it. On a two-core
//!    machine that also runs the driver, one round's ratio varies by ±10 % or more (0.72 to
//!    1.23 seen), which one round alone cannot tell from a change.
//! 3. **Due deadlines**, in-process over a real store (as `want bench weights` runs blocks):
//!    `--backlog` orders are placed with a short acceptance window and never accepted; once the
//!    window has passed, empty blocks run the end-of-block hook, which expires at most
//!    `DUE_PER_BLOCK_MAX` of them per block (buyer refunded, stock back). Each block's execution
//!    (nearly all of it the hook) and durable commit are timed until the backlog is gone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use parking_lot::Mutex;
use rayon::prelude::*;
use serde_json::{json, Value};
use want_crypto::{PrivateKey, SigningKey};
use want_node::config::dev_private_key;
use want_state::kernel::schedule::DUE_PER_BLOCK_MAX;
use want_types::modules::commerce::{CommerceCall, OfferTerms};
use want_types::{Amount, Call, Hash32, SignedTransaction, Transaction};

use super::weights::{self, Expect};
use super::{
    listen, now_ms, percentile, spawn_node, transfer, wait_for_commits, wait_for_nonce, Encoding,
    Http, TransferArgs, COMMIT_TIMEOUT, NODE_START_TIMEOUT, PER_SENDER_MAX, VERIFY_MEASURE,
};
use crate::output::{CliError, Out};

/// Price and seller's deposit of one item of the benchmark offers, in base units.
const PRICE: Amount = 10_000;
const DEPOSIT: Amount = 1_000;
/// Transactions of an order (place, accept, ship, confirm), one wave each.
const ORDER_WAVES: usize = 4;
/// The goal: commerce transactions commit at this fraction of the transfer rate or more.
const GOAL_RATIO: f64 = 0.8;
/// Deadlines of the offers the order waves use (one hour: none passes during the run).
const WINDOW_MS: u64 = 3_600_000;
/// Acceptance window of the orders of the due-deadline backlog (they are never accepted), and
/// how far past it the draining blocks' clock is set.
const BACKLOG_ACCEPT_MS: u64 = 600_000;
const BACKLOG_PAST_MS: u64 = 60_000;
/// Orders placed per block while arming the backlog.
const BACKLOG_BLOCK_TXS: usize = 1_000;
/// Shops the backlog's orders are spread over (their owners are the first senders).
const BACKLOG_SHOPS: usize = 10;
/// Most blocks the drain may take beyond `backlog / DUE_PER_BLOCK_MAX` before it is an error.
const DRAIN_SLACK_BLOCKS: usize = 10;

#[derive(Args)]
pub struct CommerceBenchArgs {
    /// Node to drive; without it a fresh `want dev` node is started on a temporary directory.
    #[arg(long)]
    node: Option<String>,
    /// Buying accounts.
    #[arg(long, default_value_t = 2_000)]
    buyers: usize,
    /// Orders each buyer places (one item each).
    #[arg(long, default_value_t = 5)]
    orders_per_buyer: usize,
    /// Shops (each owned by its own account, with one offer); each accepts and ships
    /// buyers × orders-per-buyer ÷ shops orders, at most the node's per-sender limit.
    #[arg(long, default_value_t = 40)]
    shops: usize,
    /// Transfers per sender in each transfer run (its senders are `--buyers` accounts); by
    /// default `--orders-per-buyer`, so that a transfer run is as large as an order wave.
    #[arg(long)]
    transfers_per_sender: Option<usize>,
    /// Transactions per HTTP batch request.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Concurrent HTTP connections submitting batches.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Due acceptance deadlines armed for the drain measurement (0: skip it).
    #[arg(long, default_value_t = 100_000)]
    backlog: usize,
    /// Rounds of (transfers, then orders) on the same node; the ratio reported is the median
    /// round's, so one round disturbed by the machine does not decide it.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// Deterministic keys, so runs are comparable.
fn bench_key(label: &str, i: usize) -> SigningKey {
    let seed = want_types::hash::sha256(format!("want bench commerce {label} {i}").as_bytes());
    SigningKey::Secp256k1(
        PrivateKey::from_bytes(&seed.0)
            .expect("invariant: a SHA-256 output is a valid key with overwhelming probability"),
    )
}

fn err(e: impl std::fmt::Display) -> anyhow::Error {
    CliError::new("bench", e.to_string()).into()
}

fn terms() -> OfferTerms {
    let mut t = weights::bench_terms(WINDOW_MS);
    t.price = PRICE;
    t.deposit_per_order = DEPOSIT;
    t.ship_within_ms = WINDOW_MS;
    t.confirm_window_ms = WINDOW_MS;
    t.dispute_window_ms = WINDOW_MS;
    t
}

fn commerce_tx(
    key: &SigningKey,
    chain_id: u64,
    nonce: u64,
    fee: Amount,
    call: CommerceCall,
) -> SignedTransaction {
    key.sign_transaction(Transaction {
        chain_id,
        from: key.address(),
        nonce,
        fee,
        expiry_ms: now_ms() + 3_600_000,
        pow_nonce: 0,
        call: Call::Commerce(call),
    })
}

/// What one wave of transactions did.
struct Wave {
    name: &'static str,
    submitted: usize,
    committed: usize,
    refused: HashMap<String, usize>,
    elapsed: f64,
    /// From the first submission to the first commit: the wave's pipeline filling.
    first_commit: f64,
    latencies: Vec<Duration>,
}

impl Wave {
    fn json(&self) -> Value {
        json!({
            "wave": self.name,
            "submitted": self.submitted,
            "committed": self.committed,
            "refused": self.refused,
            "elapsed_seconds": self.elapsed,
            "first_commit_seconds": self.first_commit,
            "tps": self.committed as f64 / self.elapsed.max(1e-9),
            "latency_ms": {"p50": percentile(&self.latencies, 0.5), "p99": percentile(&self.latencies, 0.99)},
        })
    }
}

/// Refusals that mean "not now": the per-sender limit, a nonce ahead of one still in flight on
/// another connection, a full pool. The transaction is sent again.
fn is_back_pressure(code: &str) -> bool {
    matches!(
        code,
        "mempool_full" | "too_many_pending" | "nonce_too_far_ahead"
    )
}

/// Submits `txs` (ordered so each sender's nonces come in order) in batches over `connections`
/// connections and waits for every accepted one to commit; timed from the first submission to
/// the last commit, as the transfers are.
fn wave(
    http: &Http,
    base: &str,
    name: &'static str,
    all: Vec<SignedTransaction>,
    batch: usize,
    connections: usize,
) -> anyhow::Result<Wave> {
    eprintln!("{name}: {} transactions…", all.len());
    let total = all.len();
    let ids: Vec<Hash32> = all.par_iter().map(|t| t.id()).collect();
    let head = http.get("/v1/status")?["height"].as_u64().unwrap_or(0);
    let commits: Arc<Mutex<HashMap<Hash32, Instant>>> =
        Arc::new(Mutex::new(HashMap::with_capacity(total)));
    let listener = {
        let commits = commits.clone();
        let ws_base = base.replacen("http", "ws", 1);
        std::thread::spawn(move || listen(ws_base, head + 1, commits, total))
    };
    let submitted: Mutex<HashMap<Hash32, Instant>> = Mutex::new(HashMap::with_capacity(total));
    let refused: Mutex<HashMap<String, usize>> = Mutex::default();
    // Each sender's transactions go through one connection, in order: the node refuses a nonce
    // ahead of one still in flight, so a few senders with many transactions each (the shops)
    // spread over all connections would be refused and sent again.
    let connections = connections.max(1);
    let mut lane_of: HashMap<want_types::Address, usize> = HashMap::new();
    let mut lanes: Vec<Vec<SignedTransaction>> = vec![Vec::new(); connections];
    for tx in all {
        let next = lane_of.len() % connections;
        let lane = *lane_of.entry(tx.tx.from).or_insert(next);
        lanes[lane].push(tx);
    }
    let lanes: Vec<Vec<Vec<SignedTransaction>>> = lanes
        .iter()
        .map(|l| l.chunks(batch).map(<[SignedTransaction]>::to_vec).collect())
        .collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for lane in &lanes {
            let (submitted, refused) = (&submitted, &refused);
            scope.spawn(move || {
                let client = Http {
                    base: base.to_string(),
                    client: http.client.clone(),
                    encoding: Encoding::Borsh,
                };
                for b in lane {
                    let mut pending = b.clone();
                    let give_up = Instant::now() + COMMIT_TIMEOUT;
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
                        for (tx, r) in pending.into_iter().zip(results) {
                            match r["error"]["code"].as_str() {
                                None => {
                                    submitted.lock().insert(tx.id(), sent_at);
                                }
                                Some(code)
                                    if is_back_pressure(code) && Instant::now() < give_up =>
                                {
                                    retry.push(tx)
                                }
                                Some(code) => {
                                    *refused.lock().entry(code.to_string()).or_default() += 1
                                }
                            }
                        }
                        if !retry.is_empty() {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        pending = retry;
                    }
                }
            });
        }
    });
    let accepted = submitted.lock().len();
    wait_for_commits(&submitted, &commits, accepted, &listener);
    let commits = commits.lock().clone();
    let submitted = submitted.into_inner();
    let mut latencies = Vec::with_capacity(accepted);
    let mut last = start;
    let mut first: Option<Instant> = None;
    for id in &ids {
        if let (Some(s), Some(c)) = (submitted.get(id), commits.get(id)) {
            latencies.push(c.saturating_duration_since(*s));
            last = last.max(*c);
            first = Some(first.map_or(*c, |f| f.min(*c)));
        }
    }
    latencies.sort();
    // Receipts say committed; whether each call succeeded is checked by reading the orders
    // back.
    let w = Wave {
        name,
        submitted: total,
        committed: latencies.len(),
        refused: refused.into_inner(),
        elapsed: last
            .saturating_duration_since(start)
            .as_secs_f64()
            .max(1e-9),
        first_commit: first
            .unwrap_or(start)
            .saturating_duration_since(start)
            .as_secs_f64(),
        latencies,
    };
    if w.committed < accepted || w.committed < total {
        return Err(err(format!(
            "{name}: {} of {total} transactions committed ({accepted} accepted; refused: {:?})",
            w.committed, w.refused
        )));
    }
    Ok(w)
}

/// Reads every order with an id above `after` (a page of 100 at a time).
fn orders_after(http: &Http, mut after: u64) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    loop {
        let page = http.get(&format!("/v1/commerce/orders?after={after}&limit=100"))?;
        let orders = page["orders"]
            .as_array()
            .ok_or_else(|| err(format!("orders page without orders: {page}")))?;
        out.extend(orders.iter().cloned());
        match page["next"].as_u64() {
            Some(n) if !orders.is_empty() => after = n,
            _ => return Ok(out),
        }
    }
}

/// The highest order id so far (0 when none).
fn last_order_id(http: &Http) -> anyhow::Result<u64> {
    Ok(orders_after(http, 0)?
        .iter()
        .filter_map(|o| o["id"].as_u64())
        .max()
        .unwrap_or(0))
}

pub fn run(a: CommerceBenchArgs, out: &Out) -> anyhow::Result<()> {
    let orders = a.buyers * a.orders_per_buyer;
    if a.buyers == 0
        || a.orders_per_buyer == 0
        || a.shops == 0
        || a.batch == 0
        || a.connections == 0
        || a.rounds == 0
    {
        return Err(CliError::new(
            "invalid_argument",
            "need buyers, orders-per-buyer, shops, batch, connections and rounds ≥ 1",
        )
        .into());
    }
    let transfers_per_sender = a.transfers_per_sender.unwrap_or(a.orders_per_buyer);
    if transfers_per_sender == 0 || transfers_per_sender > PER_SENDER_MAX {
        return Err(CliError::new(
            "invalid_argument",
            format!("--transfers-per-sender is {transfers_per_sender}; it must be 1 to {PER_SENDER_MAX}"),
        )
        .into());
    }
    if orders.div_ceil(a.shops) > PER_SENDER_MAX || 2 * a.orders_per_buyer > PER_SENDER_MAX {
        return Err(CliError::new(
            "invalid_argument",
            format!("each shop accepts buyers × orders-per-buyer ÷ shops orders and each buyer sends 2 × orders-per-buyer: both at most {PER_SENDER_MAX}; add shops or buyers"),
        )
        .into());
    }
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

    // 1 and 2, `--rounds` times: transfers as `want bench transfers` measures them, then the
    // orders' four waves.
    let transfer_args = TransferArgs {
        node: Some(base.clone()),
        funder_key_file: None,
        senders: a.buyers,
        txs_per_sender: transfers_per_sender,
        batch: a.batch,
        connections: a.connections,
        encoding: Encoding::Borsh,
        rate: None,
    };
    let mut rounds = Vec::with_capacity(a.rounds);
    for r in 0..a.rounds {
        eprintln!("round {} of {}", r + 1, a.rounds);
        // A transfer run as large as a wave just before each order wave: both sides pay the
        // same number of pipeline fills and drains, and each pair sees the machine alike.
        let mut runs = Vec::with_capacity(ORDER_WAVES);
        let waves = measure_orders(&a, &base, &mut || {
            let run = super::measure_transfers(&transfer_args, &base, verify_rate)?;
            super::check_all_committed(&run)?;
            runs.push(run);
            Ok(())
        })?;
        rounds.push(round_json(orders, &waves, transfer_runs_json(runs)));
    }
    let median = median_round(&rounds).clone();
    // 3. Due deadlines.
    let drain = if a.backlog > 0 {
        measure_drain(a.backlog)?
    } else {
        Value::Null
    };

    // The median round's figures at the top level (the fields a single round had), every
    // round's ratio beside them.
    let mut v = median;
    v["benchmark"] = json!("commerce");
    v["node"] = json!(base);
    v["buyers"] = json!(a.buyers);
    v["shops"] = json!(a.shops);
    v["goal_ratio"] = json!(GOAL_RATIO);
    v["rounds"] = json!(a.rounds);
    v["round_ratios"] = rounds
        .iter()
        .map(|r| r["ratio_commerce_to_transfer_tps"].clone())
        .collect();
    v["drain"] = drain;
    v["cores"] = json!(std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1));
    out.value(&v, text);
    Ok(())
}

/// The transfer runs of one round as one measurement: their transactions over the sum of their
/// times (as the order waves are summed), each run's figures beside.
fn transfer_runs_json(runs: Vec<Value>) -> Value {
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    let committed: u64 = runs
        .iter()
        .map(|r| r["committed"].as_u64().unwrap_or(0))
        .sum();
    let seconds: f64 = runs.iter().map(|r| f(r, "elapsed_seconds")).sum();
    json!({
        "committed": committed,
        "elapsed_seconds": seconds,
        "tps": committed as f64 / seconds.max(1e-9),
        "runs": runs,
    })
}

/// One round's figures: the orders' waves against the transfers measured just before them.
fn round_json(orders: usize, waves: &[Wave], transfers: Value) -> Value {
    let commerce_txs: usize = waves.iter().map(|w| w.committed).sum();
    let commerce_secs: f64 = waves.iter().map(|w| w.elapsed).sum();
    let commerce_tps = commerce_txs as f64 / commerce_secs.max(1e-9);
    let transfer_tps = transfers["tps"].as_f64().unwrap_or(0.0);
    json!({
        "orders": orders,
        "orders_per_s": orders as f64 / commerce_secs.max(1e-9),
        "commerce_txs": commerce_txs,
        "commerce_seconds": commerce_secs,
        "commerce_tps": commerce_tps,
        "transfer_tps": transfer_tps,
        "ratio_commerce_to_transfer_tps": commerce_tps / transfer_tps.max(1e-9),
        "waves": waves.iter().map(Wave::json).collect::<Vec<_>>(),
        "transfers": transfers,
    })
}

/// The round whose ratio is the median (the lower middle one of an even number).
fn median_round(rounds: &[Value]) -> &Value {
    let ratio = |r: &Value| r["ratio_commerce_to_transfer_tps"].as_f64().unwrap_or(0.0);
    let mut sorted: Vec<&Value> = rounds.iter().collect();
    sorted.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
    sorted[(sorted.len() - 1) / 2]
}

fn text(v: &Value) -> String {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let mut s = format!(
        "commerce: {} orders by {} buyers from {} shops (4 transactions each)\n  completed orders/s     {:.0}\n  commerce tps           {:.0}  ({} transactions in {:.2} s)\n  transfer tps           {:.0}  (same node: before each wave, a transfer run as large)\n  commerce ÷ transfer    {:.2}  (goal ≥ {GOAL_RATIO}; the median of {} rounds: {})\n",
        v["orders"], v["buyers"], v["shops"], f(&v["orders_per_s"]), f(&v["commerce_tps"]),
        v["commerce_txs"], f(&v["commerce_seconds"]), f(&v["transfer_tps"]),
        f(&v["ratio_commerce_to_transfer_tps"]),
        v["rounds"],
        v["round_ratios"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{:.2}", f(r)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    for w in v["waves"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "  {:<8} {:>7} txs in {:>6.2} s (first commit at {:.2} s): {:>6.0} tps, latency p50 {:.0} ms, p99 {:.0} ms\n",
            w["wave"].as_str().unwrap_or(""),
            w["committed"],
            f(&w["elapsed_seconds"]),
            f(&w["first_commit_seconds"]),
            f(&w["tps"]),
            f(&w["latency_ms"]["p50"]),
            f(&w["latency_ms"]["p99"]),
        ));
    }
    let d = &v["drain"];
    if d.is_object() {
        s.push_str(&format!(
            "due deadlines: {} acceptance deadlines armed, drained in {} blocks ({} a block at most)\n  hook (block execution) per block   p50 {:.1} ms, max {:.1} ms CPU\n  durable commit per block           p50 {:.1} ms, max {:.1} ms CPU\n  whole block, wall                  p50 {:.1} ms, max {:.1} ms\n  an empty block with nothing due    {:.2} ms execution, {:.1} ms wall",
            d["backlog"], d["blocks_to_drain"], d["due_per_block_max"],
            f(&d["execute_ms"]["p50"]), f(&d["execute_ms"]["max"]),
            f(&d["commit_ms"]["p50"]), f(&d["commit_ms"]["max"]),
            f(&d["wall_ms"]["p50"]), f(&d["wall_ms"]["max"]),
            f(&d["idle_block"]["execute_ms"]), f(&d["idle_block"]["wall_ms"]),
        ));
    }
    s
}

/// Funds buyers and shops, opens the shops with one offer each, and runs the four waves.
/// `before_wave` runs just before each of the four timed waves (the transfer run it is
/// compared with).
fn measure_orders(
    a: &CommerceBenchArgs,
    base: &str,
    before_wave: &mut dyn FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Wave>> {
    let http = Http {
        base: base.to_string(),
        client: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(err)?,
        encoding: Encoding::Borsh,
    };
    let started = Instant::now();
    let status = loop {
        match http.get("/v1/status") {
            Ok(v) if v["chain_id"].is_u64() => break v,
            _ if started.elapsed() > NODE_START_TIMEOUT => {
                return Err(CliError::new("node_unreachable", format!("no node at {base}")).into())
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    let chain_id = status["chain_id"].as_u64().unwrap_or_default();
    let fee: Amount = status["params"]["min_fee"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let funder = SigningKey::Secp256k1(dev_private_key());
    let funder_addr = funder.address();
    eprintln!("preparing {} buyers and {} shops…", a.buyers, a.shops);
    let buyers: Vec<SigningKey> = (0..a.buyers)
        .into_par_iter()
        .map(|i| bench_key("buyer", i))
        .collect();
    let shops: Vec<SigningKey> = (0..a.shops).map(|i| bench_key("shop", i)).collect();
    let orders = a.buyers * a.orders_per_buyer;
    let per_shop = orders.div_ceil(a.shops) as Amount;
    let opb = a.orders_per_buyer as Amount;
    // Generous: the transfer fee on the funding itself is paid by the funder.
    let buyer_funds = 2 * (opb * PRICE + 2 * opb * fee);
    let shop_funds = 2 * (per_shop * DEPOSIT + 2 * per_shop * fee + 2 * fee);
    let mut nonce = http.get(&format!("/v1/accounts/{funder_addr}"))?["pending_nonce"]
        .as_u64()
        .unwrap_or(0);
    let targets: Vec<(want_types::Address, Amount)> = buyers
        .iter()
        .map(|b| (b.address(), buyer_funds))
        .chain(shops.iter().map(|s| (s.address(), shop_funds)))
        .collect();
    for chunk in targets.chunks(PER_SENDER_MAX) {
        let txs: Vec<SignedTransaction> = chunk
            .iter()
            .enumerate()
            .map(|(i, (to, amount))| {
                transfer(&funder, chain_id, nonce + i as u64, fee, *to, *amount)
            })
            .collect();
        for part in txs.chunks(a.batch) {
            for r in http.post_batch(part)? {
                if r.get("error").is_some() {
                    return Err(err(format!("funding refused: {r}")));
                }
            }
        }
        nonce += chunk.len() as u64;
        wait_for_nonce(&http, &funder_addr, nonce)?;
    }

    // Shops, each with one offer (handles unique per run).
    let run_tag = now_ms();
    let handles: Vec<String> = (0..a.shops)
        .map(|i| weights::shop_handle(run_tag * 1_000 + i as u64, "bench"))
        .collect();
    // Admission checks a call against the committed state: the shops first, then their offers.
    let mut setup = Vec::new();
    let mut offers_setup = Vec::new();
    let mut shop_nonces = Vec::new();
    for (s, h) in shops.iter().zip(&handles) {
        let n = http.get(&format!("/v1/accounts/{}", s.address()))?["pending_nonce"]
            .as_u64()
            .unwrap_or(0);
        setup.push(commerce_tx(
            s,
            chain_id,
            n,
            fee,
            CommerceCall::OpenShop {
                handle: h.clone(),
                name: format!("Benchmark shop {h}"),
                payout: s.address(),
                trace_org: None,
            },
        ));
        offers_setup.push(commerce_tx(
            s,
            chain_id,
            n + 1,
            fee,
            CommerceCall::AddOffer {
                shop: h.clone(),
                terms: terms(),
                stock: want_types::modules::commerce::STOCK_MAX,
            },
        ));
        shop_nonces.push(n + 2);
    }
    wave(&http, base, "shops", setup, a.batch, a.connections)?;
    wave(&http, base, "offers", offers_setup, a.batch, a.connections)?;
    let mut offers = Vec::with_capacity(a.shops);
    for h in &handles {
        let page = http.get(&format!("/v1/commerce/offers?shop={h}"))?;
        let id = page["offers"][0]["id"]
            .as_u64()
            .ok_or_else(|| err(format!("shop {h} has no offer: {page}")))?;
        offers.push(id);
    }
    let buyer_nonces: Vec<u64> = buyers
        .iter()
        .map(|b| {
            http.get(&format!("/v1/accounts/{}", b.address()))
                .map(|v| v["pending_nonce"].as_u64().unwrap_or(0))
        })
        .collect::<anyhow::Result<_>>()?;
    let first_order = last_order_id(&http)?;

    // Wave 1: place, round by round (each buyer's k-th order in round k).
    let hash = terms().hash();
    let place: Vec<SignedTransaction> = (0..orders)
        .into_par_iter()
        .map(|n| {
            let (k, b) = (n / a.buyers, n % a.buyers);
            let shop = (b * a.orders_per_buyer + k) % a.shops;
            commerce_tx(
                &buyers[b],
                chain_id,
                buyer_nonces[b] + k as u64,
                fee,
                CommerceCall::PlaceOrder {
                    offer: offers[shop],
                    version: 1,
                    terms_hash: hash,
                    quantity: 1,
                    max_total: PRICE,
                },
            )
        })
        .collect();
    before_wave()?;
    let mut waves = vec![wave(&http, base, "place", place, a.batch, a.connections)?];

    // The orders made, by shop and buyer.
    let by_address: HashMap<String, usize> = buyers
        .iter()
        .enumerate()
        .map(|(i, b)| (b.address().to_string(), i))
        .collect();
    let shop_of: HashMap<&str, usize> = handles
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let mut made: Vec<(u64, usize, usize)> = Vec::with_capacity(orders);
    for o in orders_after(&http, first_order)? {
        let (Some(id), Some(b), Some(s)) = (
            o["id"].as_u64(),
            o["buyer"].as_str().and_then(|b| by_address.get(b)),
            o["shop"].as_str().and_then(|s| shop_of.get(s)),
        ) else {
            continue;
        };
        if o["status"] != "placed" {
            return Err(err(format!("order {id} is not placed: {o}")));
        }
        made.push((id, *s, *b));
    }
    if made.len() != orders {
        return Err(err(format!(
            "{} of {orders} orders were placed",
            made.len()
        )));
    }

    // Waves 2 and 3: the shops accept, then ship, each shop's orders in nonce order, the
    // shops' k-th transactions together.
    let mut per_shop_orders: Vec<Vec<u64>> = vec![Vec::new(); a.shops];
    for (id, s, _) in &made {
        per_shop_orders[*s].push(*id);
    }
    let shop_wave = |first: &[u64], call: fn(u64) -> CommerceCall| {
        let rounds = per_shop_orders.iter().map(Vec::len).max().unwrap_or(0);
        let mut txs = Vec::with_capacity(orders);
        for k in 0..rounds {
            for (s, list) in per_shop_orders.iter().enumerate() {
                if let Some(id) = list.get(k) {
                    txs.push(commerce_tx(
                        &shops[s],
                        chain_id,
                        first[s] + k as u64,
                        fee,
                        call(*id),
                    ));
                }
            }
        }
        txs
    };
    let accept = shop_wave(&shop_nonces[..], |order| CommerceCall::AcceptOrder {
        order,
        max_deposit: DEPOSIT,
    });
    before_wave()?;
    waves.push(wave(&http, base, "accept", accept, a.batch, a.connections)?);
    let after_accept: Vec<u64> = shop_nonces
        .iter()
        .zip(&per_shop_orders)
        .map(|(n, l)| n + l.len() as u64)
        .collect();
    let ship = shop_wave(&after_accept[..], |order| CommerceCall::ShipOrder {
        order,
        epcis_event: None,
    });
    before_wave()?;
    waves.push(wave(&http, base, "ship", ship, a.batch, a.connections)?);

    // Wave 4: the buyers confirm, round by round.
    let mut per_buyer: Vec<Vec<u64>> = vec![Vec::new(); a.buyers];
    for (id, _, b) in &made {
        per_buyer[*b].push(*id);
    }
    let mut confirm = Vec::with_capacity(orders);
    for k in 0..a.orders_per_buyer {
        for (b, list) in per_buyer.iter().enumerate() {
            if let Some(order) = list.get(k) {
                confirm.push(commerce_tx(
                    &buyers[b],
                    chain_id,
                    buyer_nonces[b] + (a.orders_per_buyer + k) as u64,
                    fee,
                    CommerceCall::ConfirmDelivery { order: *order },
                ));
            }
        }
    }
    before_wave()?;
    waves.push(wave(
        &http,
        base,
        "confirm",
        confirm,
        a.batch,
        a.connections,
    )?);

    // Every order completed (a failed transition would have left it behind).
    let done = orders_after(&http, first_order)?
        .iter()
        .filter(|o| o["status"] == "completed")
        .count();
    if done != orders {
        return Err(err(format!("{done} of {orders} orders completed")));
    }
    Ok(waves)
}

/// Arms `backlog` due acceptance deadlines in-process and times the blocks that drain them.
fn measure_drain(backlog: usize) -> anyhow::Result<Value> {
    let buyers = backlog.div_ceil(BACKLOG_BLOCK_TXS).clamp(1, 1_000);
    eprintln!("due deadlines: a chain with {buyers} buyers; arming {backlog} deadlines…");
    let mut chain = weights::chain_with_senders(BACKLOG_SHOPS + buyers)?;
    let sender = |i: usize| weights::key("sender", i);
    let short = {
        let mut t = weights::bench_terms(BACKLOG_ACCEPT_MS);
        t.title = "Due-deadline benchmark".into();
        t
    };
    let txs = (0..BACKLOG_SHOPS)
        .map(|j| {
            chain.sign(
                &sender(j),
                weights::open_shop_call(&weights::shop_handle(j as u64, "due")),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    chain.block(txs, Expect::Success)?;
    let txs = (0..BACKLOG_SHOPS)
        .map(|j| {
            chain.sign(
                &sender(j),
                Call::Commerce(CommerceCall::AddOffer {
                    shop: weights::shop_handle(j as u64, "due"),
                    terms: short.clone(),
                    stock: want_types::modules::commerce::STOCK_MAX,
                }),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    chain.block(txs, Expect::Success)?;
    let hash = short.hash();
    let buyer_keys: Vec<SigningKey> = (0..buyers).map(|i| sender(BACKLOG_SHOPS + i)).collect();
    let arm_start = Instant::now();
    let mut left = backlog;
    let mut i = 0usize;
    while left > 0 {
        let n = left.min(BACKLOG_BLOCK_TXS);
        let mut txs = Vec::with_capacity(n);
        for _ in 0..n {
            let call = Call::Commerce(CommerceCall::PlaceOrder {
                offer: (i % BACKLOG_SHOPS) as u64 + 1,
                version: 1,
                terms_hash: hash,
                quantity: 1,
                max_total: weights::BENCH_PRICE,
            });
            txs.push(chain.sign(&buyer_keys[i % buyers], call)?);
            i += 1;
        }
        chain.block(txs, Expect::Success)?;
        left -= n;
    }
    let arm_secs = arm_start.elapsed().as_secs_f64();
    // A block with nothing due, then the clock past every deadline.
    let idle = chain.block(Vec::new(), Expect::Success)?;
    chain.clock_offset_ms = BACKLOG_ACCEPT_MS + BACKLOG_PAST_MS;
    eprintln!("draining {backlog} due deadlines (armed in {arm_secs:.1} s)…");
    let mut execute = Vec::new();
    let mut commit = Vec::new();
    let mut wall = Vec::new();
    let mut expired = 0usize;
    let most = backlog.div_ceil(DUE_PER_BLOCK_MAX) + DRAIN_SLACK_BLOCKS;
    while expired < backlog {
        if execute.len() >= most {
            return Err(err(format!(
                "{expired} of {backlog} deadlines ran in {most} blocks"
            )));
        }
        let st = chain.block(Vec::new(), Expect::Success)?;
        let ran = chain.last_expired;
        if ran == 0 || ran > DUE_PER_BLOCK_MAX {
            return Err(err(format!(
                "a block expired {ran} orders with {} of {backlog} left (1 to {DUE_PER_BLOCK_MAX} expected)",
                backlog - expired
            )));
        }
        expired += ran;
        execute.push(Duration::from_secs_f64(st.execute / 1e9));
        commit.push(Duration::from_secs_f64(st.commit / 1e9));
        wall.push(Duration::from_secs_f64(st.wall / 1e9));
    }
    let blocks = execute.len();
    let max = |v: &[Duration]| v.iter().max().map(|d| d.as_secs_f64() * 1e3).unwrap_or(0.0);
    let (emax, cmax, wmax) = (max(&execute), max(&commit), max(&wall));
    execute.sort();
    commit.sort();
    wall.sort();
    Ok(json!({
        "backlog": backlog,
        "due_per_block_max": DUE_PER_BLOCK_MAX,
        "blocks_to_drain": blocks,
        "arm_seconds": arm_secs,
        "execute_ms": {"p50": percentile(&execute, 0.5), "max": emax},
        "commit_ms": {"p50": percentile(&commit, 0.5), "max": cmax},
        "wall_ms": {"p50": percentile(&wall, 0.5), "max": wmax},
        "idle_block": {"execute_ms": idle.execute / 1e6, "wall_ms": idle.wall / 1e6},
    }))
}
