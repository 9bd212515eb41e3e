//! The crash test: a `want dev` node is killed with SIGKILL in the middle of a transfer load,
//! three times, and restarted on the same data directory. Afterwards every transaction the node
//! acknowledged (202) is committed exactly once and the chain is intact.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{get_json, http_client, DevNode};
use rand::Rng;
use serde_json::Value;
use want_crypto::{PrivateKey, SigningKey};
use want_node::config::{dev_private_key, DEV_CHAIN_ID, DEV_MIN_FEE};
use want_types::{Address, Call, SignedTransaction, TokenCall, Transaction};

const CYCLES: usize = 3;
const THREADS: usize = 3;
const BLOCK_INTERVAL_MS: &str = "50";
/// The whole test must finish within this.
const TEST_BUDGET: Duration = Duration::from_secs(60);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// What the load threads learnt.
#[derive(Default)]
struct Ledger {
    /// Ids the node answered 202 for.
    acknowledged: HashSet<String>,
    /// Transactions whose submission got no answer or an error: the node may or may not have
    /// persisted them. They are sent again after the restart, as a real client would.
    in_doubt: Vec<SignedTransaction>,
}

struct Load {
    key: SigningKey,
    recipients: Vec<Address>,
    next_nonce: Mutex<u64>,
    ledger: Mutex<Ledger>,
}

impl Load {
    fn sign(&self) -> SignedTransaction {
        let nonce = {
            let mut n = self.next_nonce.lock().unwrap();
            let v = *n;
            *n += 1;
            v
        };
        let to = self.recipients[(nonce as usize) % self.recipients.len()];
        self.key.sign_transaction(Transaction {
            chain_id: DEV_CHAIN_ID,
            from: self.key.address(),
            nonce,
            fee: DEV_MIN_FEE,
            expiry_ms: now_ms() + 3_600_000,
            pow_nonce: 0,
            call: Call::Token(TokenCall::Transfer { to, amount: 100 }),
        })
    }
}

/// POST one transaction; Ok(status, body) or Err on a transport failure.
fn post(
    http: &reqwest::blocking::Client,
    url: &str,
    stx: &SignedTransaction,
) -> Result<(u16, Value), String> {
    let r = http
        .post(format!("{url}/v1/transactions"))
        .json(stx)
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let body: Value = r
        .json()
        .map_err(|e| format!("reading the answer failed: {e}"))?;
    Ok((status, body))
}

/// Submits transfers until `stop` is set or the node goes away.
fn load_thread(load: Arc<Load>, url: String, stop: Arc<AtomicBool>) {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut stx = load.sign();
    while !stop.load(Ordering::Relaxed) {
        match post(&http, &url, &stx) {
            Ok((202, body)) => {
                let id = body["id"].as_str().expect("202 carries the id").to_string();
                assert_eq!(id, stx.id().to_string());
                load.ledger.lock().unwrap().acknowledged.insert(id);
                stx = load.sign();
            }
            Ok((status, body)) => {
                let code = body["error"]["code"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if is_back_pressure(&code) {
                    // The account has as many transactions pending as the node holds for one
                    // sender, or another thread's lower nonce is not in yet: send the same
                    // transaction again shortly, as a real client would.
                    std::thread::sleep(BACK_PRESSURE_PAUSE);
                    continue;
                }
                // Any other refusal of a healthy node is a bug; shutting down is not.
                assert!(
                    code == "shutting_down" || status >= 500,
                    "the node refused a valid transfer: {status} {body}"
                );
                load.ledger.lock().unwrap().in_doubt.push(stx);
                return;
            }
            Err(_) => {
                // Killed mid-request: unknown whether it was persisted.
                load.ledger.lock().unwrap().in_doubt.push(stx);
                return;
            }
        }
    }
    // Stopped while holding a signed transaction the node has not acknowledged.
    load.ledger.lock().unwrap().in_doubt.push(stx);
}

/// How long a load thread waits before sending a transaction the node pushed back on.
const BACK_PRESSURE_PAUSE: Duration = Duration::from_millis(20);

/// Refusals that say "not now" rather than "never": one account's transactions come from
/// several threads at a rate above what 50 ms blocks commit, so the node's per-sender limit
/// (`too_many_pending`), its nonce window (`nonce_too_far_ahead`, while another thread's lower
/// nonce waits) or a full pool push back.
fn is_back_pressure(code: &str) -> bool {
    matches!(
        code,
        "too_many_pending" | "nonce_too_far_ahead" | "mempool_full"
    )
}

/// Sends again every in-doubt transaction; each must be accepted now or already known.
fn resubmit_in_doubt(load: &Load, url: &str) {
    let http = http_client();
    let mut in_doubt = std::mem::take(&mut load.ledger.lock().unwrap().in_doubt);
    // Lowest nonce first, so that none waits for a gap below it.
    in_doubt.sort_by_key(|stx| stx.tx.nonce);
    let give_up = Instant::now() + Duration::from_secs(10);
    for stx in in_doubt {
        let id = stx.id().to_string();
        loop {
            let (status, body) = post(&http, url, &stx).expect("the restarted node answers");
            if status == 202 {
                load.ledger.lock().unwrap().acknowledged.insert(id);
                break;
            }
            let code = body["error"]["code"].as_str().unwrap_or_default();
            if is_back_pressure(code) && Instant::now() < give_up {
                std::thread::sleep(BACK_PRESSURE_PAUSE);
                continue;
            }
            assert!(
                code == "duplicate_transaction" || code == "nonce_too_low",
                "resubmitting {id} after the restart: {status} {body}"
            );
            break;
        }
    }
}

/// Right after a restart, every transaction acknowledged since the last check is committed or
/// back in the mempool (restored from the journal). Earlier ones are checked at the end.
fn assert_acknowledged_survived(load: &Load, url: &str, checked: &mut HashSet<String>) {
    let http = http_client();
    let fresh: Vec<String> = load
        .ledger
        .lock()
        .unwrap()
        .acknowledged
        .difference(checked)
        .cloned()
        .collect();
    for id in fresh {
        let r = http
            .get(format!("{url}/v1/transactions/{id}"))
            .send()
            .expect("GET tx");
        let status = r.status();
        let body: Value = r.json().expect("JSON");
        assert!(
            status.is_success() && (body["status"] == "committed" || body["status"] == "pending"),
            "acknowledged transaction {id} was lost by the crash: {status} {body}"
        );
        checked.insert(id);
    }
}

/// Waits until the mempool is empty and the height stopped growing.
fn wait_until_quiet(url: &str, deadline: Instant) -> u64 {
    let http = http_client();
    let mut last = None;
    let mut stable_since = Instant::now();
    loop {
        let s = get_json(&http, &format!("{url}/v1/status"));
        let height = s["height"].as_u64().unwrap();
        let empty = s["mempool_size"] == 0;
        if last != Some(height) || !empty {
            last = Some(height);
            stable_since = Instant::now();
        } else if stable_since.elapsed() > Duration::from_millis(400) {
            return height;
        }
        assert!(
            Instant::now() < deadline,
            "the node did not drain its mempool in time: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn acknowledged_transfers_survive_repeated_kill_9_exactly_once() {
    let started = Instant::now();
    let deadline = started + TEST_BUDGET;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = dev_private_key();
    let dev_address = dev.address();
    let load = Arc::new(Load {
        key: SigningKey::Secp256k1(dev),
        recipients: (0..4).map(|_| PrivateKey::generate().address()).collect(),
        next_nonce: Mutex::new(0),
        ledger: Mutex::new(Ledger::default()),
    });
    let mut rng = rand::thread_rng();
    let args = ["--block-interval-ms", BLOCK_INTERVAL_MS];

    let mut checked = HashSet::new();
    let mut node = DevNode::start(&data, &args);
    for cycle in 0..CYCLES {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let (load, url, stop) = (load.clone(), node.url.clone(), stop.clone());
                std::thread::spawn(move || load_thread(load, url, stop))
            })
            .collect();
        let run_for = Duration::from_millis(rng.gen_range(1_500..3_000));
        std::thread::sleep(run_for);
        // kill -9 while the threads are still submitting.
        node.kill();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().expect("load thread panicked");
        }
        let (acked, in_doubt) = {
            let l = load.ledger.lock().unwrap();
            (l.acknowledged.len(), l.in_doubt.len())
        };
        eprintln!(
            "cycle {cycle}: killed after {run_for:?}; {acked} acknowledged so far, {in_doubt} in doubt"
        );
        assert!(acked > 0, "no transaction was acknowledged");
        drop(node);

        node = DevNode::start(&data, &args);
        assert_acknowledged_survived(&load, &node.url, &mut checked);
        resubmit_in_doubt(&load, &node.url);
        assert!(Instant::now() < deadline, "out of time after cycle {cycle}");
    }

    let height = wait_until_quiet(&node.url, deadline);
    eprintln!("quiet at height {height} after {:?}", started.elapsed());
    let http = http_client();
    let url = node.url.clone();

    // Walk the whole chain.
    let mut seen: HashMap<String, u64> = HashMap::new();
    let mut consumed_nonces = 0u64;
    let mut prev_hash: Option<Value> = None;
    for h in 0..=height {
        let b = get_json(&http, &format!("{url}/v1/blocks/{h}?full=true"));
        assert_eq!(b["height"], h, "block {h}: {b}");
        assert_eq!(b["header"]["height"], h);
        if let Some(prev) = &prev_hash {
            assert_eq!(&b["header"]["prev_hash"], prev, "block {h} does not link");
        }
        prev_hash = Some(b["hash"].clone());
        let ids = b["tx_ids"].as_array().unwrap();
        let receipts = b["receipts"].as_array().unwrap();
        assert_eq!(ids.len(), receipts.len(), "block {h}");
        assert_eq!(b["tx_count"], ids.len(), "block {h}");
        for (id, r) in ids.iter().zip(receipts) {
            let id = id.as_str().unwrap().to_string();
            assert_eq!(r["tx_id"], id.as_str());
            assert_eq!(r["sender"], dev_address.to_string().as_str());
            if r["status"] != "rejected" {
                consumed_nonces += 1;
            }
            if let Some(first) = seen.insert(id.clone(), h) {
                panic!("transaction {id} committed twice: blocks {first} and {h}");
            }
        }
    }
    let beyond = http
        .get(format!("{url}/v1/blocks/{}", height + 1))
        .send()
        .unwrap();
    assert_eq!(beyond.status().as_u16(), 404, "a block beyond the head");

    eprintln!("chain walked after {:?}", started.elapsed());
    let acknowledged = load.ledger.lock().unwrap().acknowledged.clone();
    let acknowledged_list: Vec<&String> = acknowledged.iter().collect();
    std::thread::scope(|scope| {
        for chunk in acknowledged_list.chunks(acknowledged_list.len().div_ceil(THREADS).max(1)) {
            let (seen, url) = (&seen, &url);
            scope.spawn(move || {
                let http = http_client();
                for id in chunk {
                    let Some(height) = seen.get(*id) else {
                        panic!("acknowledged {id} is not in any block");
                    };
                    let t = get_json(&http, &format!("{url}/v1/transactions/{id}"));
                    assert_eq!(t["status"], "committed", "{t}");
                    assert_eq!(t["block_height"], *height, "{t}");
                    assert_eq!(t["receipt"]["status"], "success", "{t}");
                }
            });
        }
    });

    // Every nonce the test handed out was committed, once each, and nothing else.
    let issued = *load.next_nonce.lock().unwrap();
    let account = get_json(&http, &format!("{url}/v1/accounts/{dev_address}"));
    assert_eq!(account["nonce"], consumed_nonces, "{account}");
    assert_eq!(seen.len() as u64, consumed_nonces);
    assert_eq!(consumed_nonces, issued, "{account}");
    eprintln!(
        "{} transactions committed in {height} blocks; {} acknowledged; {:?} in all",
        seen.len(),
        acknowledged.len(),
        started.elapsed()
    );
    assert!(started.elapsed() < TEST_BUDGET);
}
