//! Process-level faults of a three-node cluster run by `want cluster up` (which restarts a node
//! that dies): kill -9 of the leader under load, of a follower, and of every node at once.
//! After each scenario the checker confirms that every transaction acknowledged as committed
//! is committed exactly once at the same place on every node, that every node has the same
//! blocks and state roots, and that no block lacks a certificate.

use crate::common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{get_json, http_client, process_alive, sigkill, wait_until, ClusterUp};
use serde_json::Value;
use want_crypto::{PrivateKey, SigningKey};
use want_node::config::{dev_private_key, DEV_CHAIN_ID, DEV_MIN_FEE};
use want_types::{Address, Call, SignedTransaction, TokenCall, Transaction};

/// Load threads, each with its own sender account.
const SENDERS: usize = 3;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn sign(key: &SigningKey, nonce: u64, to: Address, amount: u128) -> SignedTransaction {
    key.sign_transaction(Transaction {
        chain_id: DEV_CHAIN_ID,
        from: key.address(),
        nonce,
        fee: DEV_MIN_FEE,
        expiry_ms: now_ms() + 3_600_000,
        pow_nonce: 0,
        call: Call::Token(TokenCall::Transfer { to, amount }),
    })
}

/// Submits with `?wait=commit` to the nodes in turn until one answers: Ok(id) once committed;
/// Err if every node refused it for good.
fn commit(
    http: &reqwest::blocking::Client,
    urls: &[String],
    stx: &SignedTransaction,
    start: usize,
) -> Result<String, String> {
    let id = stx.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut i = start;
    loop {
        let url = &urls[i % urls.len()];
        i += 1;
        let r = http
            .post(format!("{url}/v1/transactions?wait=commit"))
            .json(stx)
            .send()
            .map(|r| {
                (
                    r.status().as_u16(),
                    r.json::<Value>().unwrap_or(Value::Null),
                )
            });
        match &r {
            Ok((200, v)) if v["receipt"]["status"] == "success" => return Ok(id),
            Ok((200, v)) => return Err(format!("{id} committed but failed: {v}")),
            // Already in that node's mempool (an earlier attempt whose answer was lost to a kill
            // or a timeout): pending is not committed — it may still be dropped when a leader
            // changes. Acknowledged only once the node says committed; otherwise ask again.
            Ok((409, v)) if v["error"]["code"] == "duplicate_transaction" => {
                let status = http
                    .get(format!("{url}/v1/transactions/{id}"))
                    .send()
                    .ok()
                    .and_then(|r| r.json::<Value>().ok());
                if status.is_some_and(|s| s["status"] == "committed") {
                    return Ok(id);
                }
            }
            Ok((400, v)) if v["error"]["code"] == "nonce_too_low" => {
                // Its nonce was used: by this very transaction if it is committed.
                if get_json(http, &format!("{url}/v1/transactions/{id}"))["status"] == "committed" {
                    return Ok(id);
                }
                return Err(format!("{id}: {v}"));
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(format!("{id} not committed within 60 s: last answer {r:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs the load until `stop`; returns the ids acknowledged as committed.
fn spawn_load(
    urls: Vec<String>,
    keys: Vec<SigningKey>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let acked = Arc::new(Mutex::new(Vec::new()));
        let threads: Vec<_> = keys
            .into_iter()
            .enumerate()
            .map(|(t, key)| {
                let urls = urls.clone();
                let stop = stop.clone();
                let acked = acked.clone();
                std::thread::spawn(move || {
                    let http = http_client();
                    let shop = Address::system("fault-test-shop");
                    let mut nonce = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let stx = sign(&key, nonce, shop, 10 + nonce as u128);
                        match commit(&http, &urls, &stx, t + nonce as usize) {
                            Ok(id) => acked.lock().unwrap().push(id),
                            Err(e) => panic!("load thread {t}: {e}"),
                        }
                        nonce += 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("load thread");
        }
        let v = acked.lock().unwrap().clone();
        v
    })
}

/// Funds one fresh account per load thread from the dev account.
fn fund_senders(http: &reqwest::blocking::Client, urls: &[String]) -> Vec<SigningKey> {
    let dev = SigningKey::Secp256k1(dev_private_key());
    (0..SENDERS)
        .map(|i| {
            let key = SigningKey::Secp256k1(PrivateKey::generate());
            let stx = sign(&dev, i as u64, key.address(), 1_000_000_000_000);
            commit(http, urls, &stx, i).expect("fund a sender");
            key
        })
        .collect()
}

/// The node that is leader, by its URL and pid (waits for one).
fn leader(http: &reqwest::blocking::Client, urls: &[String]) -> (String, u32) {
    let mut found = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            for u in urls {
                if let Ok(v) = http
                    .get(format!("{u}/v1/status"))
                    .send()
                    .and_then(|r| r.json::<Value>())
                {
                    if v["role"] == "leader" {
                        found = Some((u.clone(), v["pid"].as_u64().unwrap_or(0) as u32));
                        return true;
                    }
                }
            }
            false
        }),
        "no leader"
    );
    found.expect("leader")
}

fn pid_of(http: &reqwest::blocking::Client, url: &str) -> u32 {
    let mut pid = 0;
    assert!(
        wait_until(Duration::from_secs(60), || {
            match http
                .get(format!("{url}/v1/status"))
                .send()
                .and_then(|r| r.json::<Value>())
            {
                Ok(v) => {
                    pid = v["pid"].as_u64().unwrap_or(0) as u32;
                    pid != 0
                }
                Err(_) => false,
            }
        }),
        "{url} does not answer"
    );
    pid
}

/// The checker (see the module documentation).
fn check(http: &reqwest::blocking::Client, urls: &[String], acked: &[String], up: &ClusterUp) {
    // Same head everywhere.
    let mut head = Value::Null;
    let converged = wait_until(Duration::from_secs(60), || {
        let heads: Vec<Value> = urls
            .iter()
            .map(|u| {
                let s = get_json(http, &format!("{u}/v1/status"));
                serde_json::json!([s["height"], s["head_hash"], s["state_root"]])
            })
            .collect();
        head = heads[0].clone();
        heads.windows(2).all(|w| w[0] == w[1]) && !heads[0][0].is_null()
    });
    assert!(converged, "nodes did not converge\n{}", up.logs());
    let height = head[0].as_u64().unwrap();
    for h in 1..=height {
        let blocks: Vec<Value> = urls
            .iter()
            .map(|u| {
                let b = get_json(http, &format!("{u}/v1/blocks/{h}"));
                serde_json::json!([b["hash"], b["state_root"]])
            })
            .collect();
        assert!(
            blocks.windows(2).all(|w| w[0] == w[1]),
            "block {h} differs: {blocks:?}"
        );
        for u in urls {
            let ok = wait_until(Duration::from_secs(30), || {
                http.get(format!("{u}/v1/blocks/{h}/certificate"))
                    .send()
                    .is_ok_and(|r| r.status().is_success())
            });
            assert!(ok, "{u} has no certificate for block {h}\n{}", up.logs());
        }
    }
    let unique: HashSet<&String> = acked.iter().collect();
    assert_eq!(unique.len(), acked.len(), "an id was acknowledged twice");
    for id in acked {
        let places: Vec<Value> = urls
            .iter()
            .map(|u| {
                let v = get_json(http, &format!("{u}/v1/transactions/{id}"));
                assert_eq!(v["status"], "committed", "{id} on {u}: {v}");
                serde_json::json!([v["block_height"], v["index"]])
            })
            .collect();
        assert!(
            places.windows(2).all(|w| w[0] == w[1]),
            "{id} at {places:?}"
        );
    }
}

fn urls(up: &ClusterUp) -> Vec<String> {
    up.nodes().into_iter().map(|(_, u, _)| u).collect()
}

/// Runs load, applies `fault` in the middle, stops the load and checks.
fn scenario(fault: impl FnOnce(&reqwest::blocking::Client, &[String])) {
    let tmp = tempfile::tempdir().unwrap();
    let up = ClusterUp::start(&tmp.path().join("cluster"), &["--nodes", "3"]);
    let urls = urls(&up);
    let http = http_client();
    let keys = fund_senders(&http, &urls);
    let stop = Arc::new(AtomicBool::new(false));
    let load = spawn_load(urls.clone(), keys, stop.clone());
    std::thread::sleep(Duration::from_secs(2));
    fault(&http, &urls);
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    let acked = load.join().expect("load");
    assert!(acked.len() > 10, "too little load: {}", acked.len());
    check(&http, &urls, &acked, &up);
}

#[test]
fn kill_9_of_the_leader_under_load_loses_nothing() {
    scenario(|http, urls| {
        let (url, pid) = leader(http, urls);
        sigkill(pid);
        assert!(wait_until(Duration::from_secs(5), || !process_alive(pid)));
        // A leader takes over: another member after an election, or the old one restarted by
        // the supervisor before the followers' election timeout (its term's vote is committed,
        // so it resumes leading it). The load goes on either way.
        leader(http, urls);
        pid_of(http, &url);
    });
}

#[test]
fn kill_9_of_a_follower_under_load_loses_nothing() {
    scenario(|http, urls| {
        let (leader_url, _) = leader(http, urls);
        let follower = urls.iter().find(|u| **u != leader_url).expect("a follower");
        let pid = pid_of(http, follower);
        sigkill(pid);
        assert!(wait_until(Duration::from_secs(5), || !process_alive(pid)));
        pid_of(http, follower);
    });
}

#[test]
fn kill_9_of_every_node_at_once_loses_nothing() {
    scenario(|http, urls| {
        let pids: Vec<u32> = urls.iter().map(|u| pid_of(http, u)).collect();
        for pid in &pids {
            sigkill(*pid);
        }
        for pid in &pids {
            assert!(wait_until(Duration::from_secs(5), || !process_alive(*pid)));
        }
        for u in urls {
            pid_of(http, u);
        }
        leader(http, urls);
    });
}
