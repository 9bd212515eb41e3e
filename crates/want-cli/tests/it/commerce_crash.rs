//! The crash test mid-lifecycle: a `want dev` node holds orders in every open state (placed,
//! accepted, shipped, disputed) with their deadlines armed, and is killed with SIGKILL while
//! buyers are placing more orders. Restarted on the same data directory, every acknowledged
//! transaction is committed exactly once, every order is in the state its committed
//! transactions made, the escrow account holds exactly the open orders' funds, and an
//! acceptance deadline that passes after the restart still refunds its buyer.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{get_json, http_client, DevNode};
use serde_json::Value;
use want_crypto::{PrivateKey, SigningKey};
use want_node::config::{dev_private_key, DEV_CHAIN_ID, DEV_MIN_FEE};
use want_types::modules::commerce::{CommerceCall, OfferTerms};
use want_types::{Address, Amount, Call, SignedTransaction, TokenCall, Transaction};

const BLOCK_INTERVAL_MS: &str = "50";
/// Buyers placing orders while the node is killed (one thread each).
const LOAD_BUYERS: usize = 3;
const WANT: Amount = 1_000_000;
const PRICE: Amount = 2 * WANT;
const DEPOSIT: Amount = WANT;
/// The acceptance window of the offer whose order must expire after the restart.
const SHORT_ACCEPT_MS: u64 = 12_000;
/// The other deadlines (none passes during the test).
const LONG_MS: u64 = 3_600_000;
/// How long the load runs before the kill.
const LOAD_BEFORE_KILL: Duration = Duration::from_millis(1_500);
/// The whole test must finish within this.
const TEST_BUDGET: Duration = Duration::from_secs(90);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn terms(accept_within_ms: u64) -> OfferTerms {
    OfferTerms {
        product: "04012345678901".into(),
        title: "Green tea, 100 g".into(),
        price: PRICE,
        deposit_per_order: DEPOSIT,
        accept_within_ms,
        ship_within_ms: LONG_MS,
        confirm_window_ms: LONG_MS,
        dispute_window_ms: LONG_MS,
        terms_cid: "bafyterms".into(),
        no_ship_deposit_share_bps: 5_000,
        currency: "WANT".into(),
    }
}

fn sign(key: &SigningKey, nonce: u64, call: Call) -> SignedTransaction {
    key.sign_transaction(Transaction {
        chain_id: DEV_CHAIN_ID,
        from: key.address(),
        nonce,
        fee: DEV_MIN_FEE,
        expiry_ms: now_ms() + 3_600_000,
        pow_nonce: 0,
        call,
    })
}

fn place(offer: u64, accept_within_ms: u64) -> Call {
    Call::Commerce(CommerceCall::PlaceOrder {
        offer,
        version: 1,
        terms_hash: terms(accept_within_ms).hash(),
        quantity: 1,
        max_total: PRICE,
    })
}

/// POST one transaction (`?wait=commit` when `wait`); Ok(status, body) or Err on transport.
fn post(
    http: &reqwest::blocking::Client,
    url: &str,
    stx: &SignedTransaction,
    wait: bool,
) -> Result<(u16, Value), String> {
    let path = if wait {
        "/v1/transactions?wait=commit"
    } else {
        "/v1/transactions"
    };
    let r = http
        .post(format!("{url}{path}"))
        .json(stx)
        .send()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let body: Value = r.json().map_err(|e| format!("reading the answer: {e}"))?;
    Ok((status, body))
}

/// Signs `call` as `key` with its next nonce and waits for a successful commit.
fn commit(url: &str, key: &SigningKey, call: Call) -> Value {
    let http = http_client();
    let account = get_json(&http, &format!("{url}/v1/accounts/{}", key.address()));
    let nonce = account["pending_nonce"].as_u64().unwrap();
    let (status, body) = post(&http, url, &sign(key, nonce, call), true).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["receipt"]["status"], "success", "{body}");
    body
}

fn commerce(c: CommerceCall) -> Call {
    Call::Commerce(c)
}

fn order(url: &str, id: u64) -> Value {
    get_json(&http_client(), &format!("{url}/v1/commerce/orders/{id}"))
}

fn balance(url: &str, address: &Address) -> Amount {
    let a = get_json(&http_client(), &format!("{url}/v1/accounts/{address}"));
    a["balance"].as_str().unwrap().parse().unwrap()
}

/// Every order, a page at a time.
fn all_orders(url: &str) -> Vec<Value> {
    let http = http_client();
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = get_json(
            &http,
            &format!("{url}/v1/commerce/orders?after={after}&limit=100"),
        );
        let orders = page["orders"].as_array().unwrap();
        out.extend(orders.iter().cloned());
        match page["next"].as_u64() {
            Some(n) if !orders.is_empty() => after = n,
            _ => return out,
        }
    }
}

/// What one load thread learnt.
#[derive(Default)]
struct Ledger {
    /// Placements the node answered 202 for.
    acknowledged: Vec<String>,
    /// Placements sent without an answer: the node may or may not have kept them.
    in_doubt: Vec<SignedTransaction>,
}

/// Places orders of `offer` as `key` from nonce `first` until `stop` or the node goes away.
fn load(key: SigningKey, first: u64, offer: u64, url: String, stop: Arc<AtomicBool>) -> Ledger {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut ledger = Ledger::default();
    let mut nonce = first;
    let mut stx = sign(&key, nonce, place(offer, LONG_MS));
    while !stop.load(Ordering::Relaxed) {
        match post(&http, &url, &stx, false) {
            Ok((202, body)) => {
                assert_eq!(body["id"], stx.id().to_string(), "{body}");
                ledger.acknowledged.push(stx.id().to_string());
                nonce += 1;
                stx = sign(&key, nonce, place(offer, LONG_MS));
            }
            Ok((status, body)) => {
                let code = body["error"]["code"].as_str().unwrap_or_default();
                if matches!(
                    code,
                    "too_many_pending" | "nonce_too_far_ahead" | "mempool_full"
                ) {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                assert!(
                    code == "shutting_down" || status >= 500,
                    "the node refused a valid placement: {status} {body}"
                );
                break;
            }
            Err(_) => break,
        }
    }
    ledger.in_doubt.push(stx);
    ledger
}

#[test]
fn orders_in_every_state_and_their_deadlines_survive_kill_9() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--block-interval-ms", BLOCK_INTERVAL_MS, "--empty-blocks"];
    let mut node = DevNode::start(&data, &args);
    let url = node.url.clone();
    let seller = SigningKey::Secp256k1(dev_private_key());
    let buyers: Vec<SigningKey> = (0..4 + LOAD_BUYERS)
        .map(|_| SigningKey::Secp256k1(PrivateKey::generate()))
        .collect();
    for b in &buyers {
        commit(
            &url,
            &seller,
            Call::Token(TokenCall::Transfer {
                to: b.address(),
                amount: 10_000 * WANT,
            }),
        );
    }
    commit(
        &url,
        &seller,
        commerce(CommerceCall::OpenShop {
            handle: "night-shop".into(),
            name: "The night shop".into(),
            payout: seller.address(),
            trace_org: None,
        }),
    );
    for accept in [LONG_MS, SHORT_ACCEPT_MS] {
        commit(
            &url,
            &seller,
            commerce(CommerceCall::AddOffer {
                shop: "night-shop".into(),
                terms: terms(accept),
                stock: 1_000_000,
            }),
        );
    }
    // Orders 1 to 4 of buyers 0 to 3: left placed, accepted, shipped, disputed.
    for b in &buyers[..4] {
        commit(&url, b, place(1, LONG_MS));
    }
    for id in 2..=4 {
        commit(
            &url,
            &seller,
            commerce(CommerceCall::AcceptOrder {
                order: id,
                max_deposit: DEPOSIT,
            }),
        );
    }
    for id in 3..=4 {
        commit(
            &url,
            &seller,
            commerce(CommerceCall::ShipOrder {
                order: id,
                epcis_event: None,
            }),
        );
    }
    commit(
        &url,
        &buyers[3],
        commerce(CommerceCall::OpenDispute {
            order: 4,
            evidence: vec!["bafyevidence".into()],
        }),
    );
    // Order 5: buyer 0's order of the short offer, whose acceptance deadline passes after the
    // restart.
    let before_expiry = balance(&url, &buyers[0].address());
    commit(&url, &buyers[0], place(2, SHORT_ACCEPT_MS));
    let short_deadline = order(&url, 5)["deadline_ms"].as_u64().unwrap();

    // Buyers place orders from threads; the node is killed while they do.
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = buyers[4..]
        .iter()
        .map(|b| {
            let (key, url, stop) = (b.clone(), url.clone(), stop.clone());
            std::thread::spawn(move || load(key, 0, 1, url, stop))
        })
        .collect();
    std::thread::sleep(LOAD_BEFORE_KILL);
    node.kill();
    stop.store(true, Ordering::Relaxed);
    let ledgers: Vec<Ledger> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let acked: usize = ledgers.iter().map(|l| l.acknowledged.len()).sum();
    assert!(acked > 0, "no placement was acknowledged before the kill");
    eprintln!("killed after {acked} acknowledged placements");
    drop(node);

    let node = DevNode::start(&data, &args);
    let url = node.url.clone();
    let http = http_client();
    // Everything acknowledged is committed or back in the mempool.
    for id in ledgers.iter().flat_map(|l| &l.acknowledged) {
        let t = get_json(&http, &format!("{url}/v1/transactions/{id}"));
        assert!(
            t["status"] == "committed" || t["status"] == "pending",
            "acknowledged placement {id} was lost by the crash: {t}"
        );
    }
    // The short deadline has not passed yet (if the restart was quick): the order waits.
    if now_ms() + 500 < short_deadline {
        assert_eq!(order(&url, 5)["status"], "placed");
    }
    // The in-doubt placements are sent again, as a client would; each is accepted or known.
    let mut acknowledged: Vec<String> = ledgers
        .iter()
        .flat_map(|l| l.acknowledged.clone())
        .collect();
    for l in &ledgers {
        for stx in &l.in_doubt {
            let (status, body) = post(&http, &url, stx, false).unwrap();
            let code = body["error"]["code"].as_str().unwrap_or_default();
            if status == 202 || code == "duplicate_transaction" {
                acknowledged.push(stx.id().to_string());
            } else {
                assert!(
                    code == "duplicate_transaction" || code == "nonce_too_low",
                    "resubmitting {}: {status} {body}",
                    stx.id()
                );
            }
        }
    }

    // The acceptance deadline fires after the restart: the buyer gets the payment back.
    let deadline = Instant::now() + Duration::from_millis(SHORT_ACCEPT_MS + 10_000);
    while order(&url, 5)["status"] != "expired" {
        assert!(
            Instant::now() < deadline,
            "order 5 never expired: {}",
            order(&url, 5)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let expired = order(&url, 5);
    assert_eq!(expired["escrowed"], "0", "{expired}");
    assert_eq!(
        balance(&url, &buyers[0].address()),
        before_expiry - DEV_MIN_FEE,
        "the buyer of the expired order paid only the placement's fee"
    );

    // Every acknowledged placement committed once, successfully, as an order of its buyer.
    let wait_until = Instant::now() + Duration::from_secs(20);
    for id in &acknowledged {
        let t = loop {
            let t = get_json(&http, &format!("{url}/v1/transactions/{id}"));
            if t["status"] == "committed" || Instant::now() > wait_until {
                break t;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(t["status"], "committed", "{t}");
        assert_eq!(t["receipt"]["status"], "success", "{t}");
    }
    // Quiet: nothing left in the mempool, so each buyer's nonce is final.
    let quiet = Instant::now() + Duration::from_secs(20);
    while get_json(&http, &format!("{url}/v1/status"))["mempool_size"] != 0 {
        assert!(Instant::now() < quiet, "the mempool did not drain");
        std::thread::sleep(Duration::from_millis(50));
    }
    let orders = all_orders(&url);
    let loaded: Vec<String> = buyers[4..]
        .iter()
        .map(|b| b.address().to_string())
        .collect();
    let mut per_buyer = vec![0u64; LOAD_BUYERS];
    for o in &orders {
        if let Some(i) = loaded.iter().position(|a| o["buyer"] == a.as_str()) {
            assert_eq!(o["status"], "placed", "{o}");
            assert_eq!(o["escrowed"], PRICE.to_string(), "{o}");
            per_buyer[i] += 1;
        }
    }
    // Exactly one order per committed placement (each buyer's nonce counts them), and at
    // least one per acknowledged placement.
    for (i, b) in buyers[4..].iter().enumerate() {
        let a = get_json(&http, &format!("{url}/v1/accounts/{}", b.address()));
        assert_eq!(a["nonce"], per_buyer[i], "{a}");
    }
    assert!(
        per_buyer.iter().sum::<u64>() as usize >= acknowledged.len(),
        "{per_buyer:?} orders for {} acknowledged placements",
        acknowledged.len()
    );

    // The orders made before the kill are as their transactions left them.
    let status = |id: u64| order(&url, id)["status"].as_str().unwrap().to_string();
    assert_eq!(
        (1..=5).map(status).collect::<Vec<_>>(),
        ["placed", "accepted", "shipped", "disputed", "expired"]
    );
    assert_eq!(order(&url, 1)["escrowed"], PRICE.to_string());
    for id in 2..=4 {
        assert_eq!(order(&url, id)["escrowed"], (PRICE + DEPOSIT).to_string());
    }
    assert_eq!(
        order(&url, 4)["disputed_by"],
        buyers[3].address().to_string()
    );

    // The escrow account holds exactly the open orders' funds.
    let open: Amount = orders
        .iter()
        .filter(|o| {
            ["placed", "accepted", "shipped", "disputed"].contains(&o["status"].as_str().unwrap())
        })
        .map(|o| o["escrowed"].as_str().unwrap().parse::<Amount>().unwrap())
        .sum();
    let escrow = want_state::modules::commerce::state::escrow();
    assert_eq!(balance(&url, &escrow), open);
    assert!(started.elapsed() < TEST_BUDGET, "{:?}", started.elapsed());
}
