//! The mempool under flooding, driven through the HTTP API: an attacker with many accounts and
//! proof-of-work stamps (fee-free) and gapped nonces fills the pool, yet an honest fee-paying
//! transfer still gets in and commits, and the pool stays within its bounds; a higher fee
//! replaces a pending transaction; a restart does not bring back more of the journal than the
//! bounds allow.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use want_crypto::SigningKey;
use want_node::config::DEV_MIN_FEE;
use want_node::{Genesis, NodeConfig};
use want_types::{SignedTransaction, TokenCall};

/// The bounds the tests shrink the mempool to.
const POOL_TXS_MAX: usize = 24;
const SENDER_TXS_MAX: usize = 4;
/// A nonce may skip at most `NONCE_WINDOW - 1` nonces.
const NONCE_WINDOW: u64 = 4;
/// Stamps cheap enough for a test (a few hundred hashes).
const POW_BITS: u32 = 8;

fn genesis() -> Genesis {
    let mut g = Genesis::dev();
    g.params.pow_difficulty_bits = POW_BITS;
    g
}

fn bounds(c: &mut NodeConfig) {
    c.block_interval_ms = SLOW_BLOCK_MS;
    c.mempool_txs_max = POOL_TXS_MAX;
    c.mempool_sender_txs_max = SENDER_TXS_MAX;
    c.mempool_nonce_window = NONCE_WINDOW;
}

/// A node with the small bounds (and `tweak`) that makes no block unless the test asks
/// (`Node::produce_block`).
async fn start_bounded(dir: &Path, tweak: impl FnOnce(&mut NodeConfig)) -> TestNode {
    let n = start_node_with(dir, genesis(), |c| {
        bounds(c);
        tweak(c);
    })
    .await
    .expect("start node");
    // Let the producer's first tick pass: nothing commits unless the test proposes a block.
    tokio::time::sleep(Duration::from_millis(200)).await;
    n
}

fn stamped(key: &SigningKey, nonce: u64) -> SignedTransaction {
    common::stamped(key, nonce, POW_BITS)
}

/// Counts a refusal by its code.
fn tally(refused: &mut BTreeMap<String, usize>, (status, v): (StatusCode, Value)) {
    if status != StatusCode::ACCEPTED {
        let code = v["error"]["code"].as_str().unwrap_or("?").to_string();
        *refused.entry(code).or_default() += 1;
    }
}

async fn mempool_size(n: &TestNode) -> usize {
    n.get_ok("/v1/status").await["mempool_size"]
        .as_u64()
        .expect("mempool_size") as usize
}

/// Submits with `?wait=commit` in the background; returns once the node holds it pending.
async fn submit_waiting(
    n: &TestNode,
    stx: &SignedTransaction,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let (http, url, body) = (
        n.http.clone(),
        n.url("/v1/transactions?wait=commit"),
        serde_json::to_string(stx).expect("json"),
    );
    let waiting = tokio::spawn(async move {
        let r = http
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST");
        (r.status(), r.json::<Value>().await.expect("json answer"))
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while n.get(&format!("/v1/transactions/{}", stx.id())).await.0 != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "{} never became pending",
            stx.id()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    waiting
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_transfer_gets_into_a_pool_flooded_with_stamps_and_gapped_nonces_and_commits() {
    let dir = tempdir();
    let n = start_bounded(dir.path(), |_| {}).await;
    let attackers: Vec<SigningKey> = (0..12).map(|_| new_key()).collect();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();

    // Gapped transactions: nonces after a nonce 0 that never comes (they would never be
    // charged). The first one's sender waits for its commit.
    let gapped: Vec<SignedTransaction> = attackers[..3]
        .iter()
        .flat_map(|key| (1..=NONCE_WINDOW).map(|nonce| stamped(key, nonce)))
        .collect();
    let gapped_waiter = submit_waiting(&n, &gapped[0]).await;
    for stx in &gapped[1..] {
        tally(&mut refused, n.submit(stx, false).await);
    }
    assert_eq!(mempool_size(&n).await, 9, "{refused:?}");
    // Runnable stamped transactions from the other accounts, one nonce more than a sender
    // may hold, until the pool is full and beyond: they push the gapped ones out.
    for key in &attackers[3..] {
        for nonce in 0..=SENDER_TXS_MAX as u64 {
            tally(&mut refused, n.submit(&stamped(key, nonce), false).await);
            assert!(mempool_size(&n).await <= POOL_TXS_MAX);
        }
    }
    assert_eq!(mempool_size(&n).await, POOL_TXS_MAX);
    for code in ["nonce_too_far_ahead", "too_many_pending", "mempool_full"] {
        assert!(refused.get(code) > Some(&0), "no {code} in {refused:?}");
    }
    for id in gapped.iter().map(|t| t.id()) {
        assert_error(
            &n.get(&format!("/v1/transactions/{id}")).await,
            404,
            "tx_not_found",
        );
    }
    let (s, v) = gapped_waiter.await.expect("waiter");
    assert_eq!(s, StatusCode::GONE, "{v}");
    assert_eq!(v["error"]["code"], "tx_evicted", "{v}");

    // Another stamp cannot push out a stamp; the node names the fee that would get in.
    let (s, v) = n.submit(&stamped(&new_key(), 0), false).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("a tx.fee of at least")),
        "{v}"
    );

    // An honest transfer paying the minimum fee gets in, and the pool stays full, not fuller.
    let recipient = new_key().address();
    let honest = transfer(&dev_key(), 0, recipient, 5);
    let honest_waiter = submit_waiting(&n, &honest).await;
    assert_eq!(mempool_size(&n).await, POOL_TXS_MAX);
    let block = n
        .node
        .produce_block()
        .await
        .expect("a block")
        .expect("not empty");
    assert!(block.tx_count >= 1);
    let (s, v) = honest_waiter.await.expect("waiter");
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["receipt"]["status"], "success", "{v}");
    assert_eq!(v["receipt"]["fee_paid"], DEV_MIN_FEE.to_string(), "{v}");
    assert_eq!(n.balance(&recipient).await, 5);
    assert!(mempool_size(&n).await <= POOL_TXS_MAX);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_higher_fee_replaces_a_pending_transfer_and_the_first_waiter_learns_it() {
    let dir = tempdir();
    let n = start_bounded(dir.path(), |_| {}).await;
    let dev = dev_key();
    let recipient = new_key().address();
    let first = transfer(&dev, 0, recipient, 1);
    let first_waiter = submit_waiting(&n, &first).await;
    let mut cheap = tx(
        0,
        TokenCall::Transfer {
            to: recipient,
            amount: 2,
        },
    );
    cheap.fee = DEV_MIN_FEE + DEV_MIN_FEE / 20;
    let (s, v) = n.submit(&dev.sign_transaction(cheap), false).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "nonce_in_use");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("at least {}", DEV_MIN_FEE + DEV_MIN_FEE / 10))),
        "{v}"
    );

    let mut better = tx(
        0,
        TokenCall::Transfer {
            to: recipient,
            amount: 3,
        },
    );
    better.fee = DEV_MIN_FEE + DEV_MIN_FEE / 10;
    let better = dev.sign_transaction(better);
    let (s, v) = n.submit(&better, false).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (s, v) = first_waiter.await.expect("waiter");
    assert_eq!(s, StatusCode::GONE, "{v}");
    assert_eq!(v["error"]["code"], "tx_replaced", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&better.id().to_string())),
        "{v}"
    );
    assert_eq!(mempool_size(&n).await, 1);
    // Only the replacement is journaled, and only it commits.
    let journal = n.node.shared.store.journal_all().expect("journal");
    assert_eq!(journal.len(), 1);
    n.node.produce_block().await.expect("a block");
    n.wait_committed(&better.id().to_string()).await;
    assert_eq!(n.balance(&recipient).await, 3);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_brings_back_no_more_of_the_journal_than_the_bounds_allow() {
    let dir = tempdir();
    let roomy = |c: &mut NodeConfig| {
        c.mempool_txs_max = 100;
        c.mempool_nonce_window = 8;
    };
    start_bounded(dir.path(), roomy).await.stop().await;

    // A journal as an older build without these bounds could leave it: ten consecutive
    // transfers of one account, and five accounts' gapped stamps at nonces 1 to 8.
    let dev = dev_key();
    let mut entries = Vec::new();
    for nonce in 0..10 {
        let t = transfer(&dev, nonce, new_key().address(), 1);
        entries.push((t.id(), t.to_bytes()));
    }
    for _ in 0..5 {
        let key = new_key();
        for nonce in 1..=8 {
            let t = stamped(&key, nonce);
            entries.push((t.id(), t.to_bytes()));
        }
    }
    {
        let store = want_storage::Store::open(dir.path()).expect("open the store");
        store.journal_add(&entries).expect("journal");
    }

    let n = start_bounded(dir.path(), roomy).await;
    // Of each account only as many as one account may have pending, in nonce order: the
    // transfers 0 to 3, which the producer's first tick commits at once, and the gapped stamps
    // 1 to 4 (which leave a minute after the restart unless nonce 0 arrives).
    let deadline = Instant::now() + Duration::from_secs(10);
    while n.nonce(&dev.address()).await < SENDER_TXS_MAX as u64 {
        assert!(
            Instant::now() < deadline,
            "the restored transfers did not commit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(n.nonce(&dev.address()).await, SENDER_TXS_MAX as u64);
    let gapped = 5 * SENDER_TXS_MAX;
    assert_eq!(mempool_size(&n).await, gapped);
    // What did not come back left the journal.
    let journal = n.node.shared.store.journal_all().expect("journal");
    assert_eq!(journal.len(), gapped);
    n.stop().await;
}
