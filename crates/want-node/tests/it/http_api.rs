//! HTTP integration tests: a node started in-process on a temporary data directory, driven only
//! through its HTTP API (and WebSocket event stream).

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use want_crypto::{MerkleProof, SigningKey};
use want_node::config::{DEV_CHAIN_ID, DEV_MIN_FEE, MEMPOOL_NONCE_WINDOW_DEFAULT};
use want_node::{Genesis, NodeError};
use want_storage::StorageError;
use want_types::amount::TOTAL_SUPPLY;
use want_types::{Address, Amount, Hash32, Signature, TokenCall};

const TOTAL_SUPPLY_STR: &str = "1000000000000000000000";

/// What a refused request must leave unchanged: chain height, mempool, the dev account and the
/// incentive pool.
async fn fingerprint(n: &TestNode) -> Value {
    let status = n.get_ok("/v1/status").await;
    let dev = n
        .get_ok(&format!("/v1/accounts/{}", dev_key().address()))
        .await;
    let token = n.token().await;
    json!({
        "height": status["height"],
        "mempool_size": status["mempool_size"],
        "dev": dev,
        "pool": token["incentive_pool_balance"],
        "burned": token["burned"],
    })
}

fn amount_of(v: &Value) -> Amount {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a string"))
        .parse()
        .expect("decimal amount")
}

fn pool_address(token: &Value) -> Address {
    token["incentive_pool"].as_str().unwrap().parse().unwrap()
}

// 1. Happy path --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_moves_the_exact_amount_and_pays_fees_into_the_pool() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let alice = new_key();
    let dev_before = n.balance(&dev.address()).await;
    let token = n.token().await;
    let pool = pool_address(&token);
    let pool_before = amount_of(&token["incentive_pool_balance"]);
    assert_eq!(dev_before + pool_before, TOTAL_SUPPLY);
    assert_eq!(n.nonce(&dev.address()).await, 0);

    // Committed synchronously.
    let amount: Amount = 12_345_678;
    let stx = transfer(&dev, 0, alice.address(), amount);
    let v = n.commit(&stx).await;
    assert_eq!(v["id"], stx.id().to_hex());
    assert_eq!(v["status"], "committed");
    assert!(v["block_height"].as_u64().unwrap() >= 1);
    assert_eq!(v["receipt"]["tx_id"], stx.id().to_hex());
    assert_eq!(v["receipt"]["sender"], dev.address().to_string());

    let fee = transfer_fee(amount);
    assert_eq!(fee, 123_457, "1 % rounded up");
    assert_eq!(n.balance(&alice.address()).await, amount);
    assert_eq!(
        n.balance(&dev.address()).await,
        dev_before - amount - fee - DEV_MIN_FEE
    );
    let token = n.token().await;
    assert_eq!(
        amount_of(&token["incentive_pool_balance"]),
        pool_before + fee + DEV_MIN_FEE
    );
    assert_eq!(
        n.balance(&pool).await,
        pool_before + fee + DEV_MIN_FEE,
        "the pool's account agrees with /v1/token"
    );
    assert_eq!(n.nonce(&dev.address()).await, 1);
    assert_eq!(n.nonce(&alice.address()).await, 0);

    // Accepted asynchronously, committed later.
    let stx = transfer(&dev, 1, alice.address(), amount);
    let (s, v) = n.submit(&stx, false).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v, json!({"id": stx.id().to_hex()}));
    let view = n.wait_committed(&stx.id().to_hex()).await;
    assert_eq!(view["receipt"]["status"], "success");
    assert_eq!(n.balance(&alice.address()).await, 2 * amount);
    assert_eq!(n.nonce(&dev.address()).await, 2);
    assert_eq!(
        n.balance(&dev.address()).await,
        dev_before - 2 * (amount + fee + DEV_MIN_FEE)
    );

    // The recipient can spend what it received.
    let bob = new_key();
    n.commit(&transfer(&alice, 0, bob.address(), 1_000_000))
        .await;
    assert_eq!(n.balance(&bob.address()).await, 1_000_000);
    assert_eq!(
        n.balance(&alice.address()).await,
        2 * amount - 1_000_000 - 10_000 - DEV_MIN_FEE
    );
    assert_eq!(n.nonce(&alice.address()).await, 1);
    n.stop().await;
}

// 2. Lookups, proofs and chain linkage ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_transactions_carry_a_merkle_proof_of_the_block_tx_root() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    // Several transactions per request so that blocks hold more than one transaction.
    let mut ids = Vec::new();
    for round in 0..2u64 {
        let batch: Vec<_> = (0..5u64)
            .map(|i| transfer(&dev, round * 5 + i, new_key().address(), 1_000 + i as u128))
            .collect();
        ids.extend(batch.iter().map(|t| t.id()));
        let (s, v) = n
            .post_json(
                "/v1/transactions/batch",
                &serde_json::to_value(&batch).unwrap(),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        for t in &batch {
            n.wait_committed(&t.id().to_hex()).await;
        }
    }

    let mut max_tree = 0;
    for id in &ids {
        let v = n.get_ok(&format!("/v1/transactions/{id}")).await;
        assert_eq!(v["id"], id.to_hex());
        assert_eq!(v["status"], "committed");
        assert_eq!(v["receipt"]["status"], "success");
        assert_eq!(v["receipt"]["tx_id"], id.to_hex());
        assert_eq!(v["tx"]["tx"]["chain_id"], DEV_CHAIN_ID);
        let height = v["block_height"].as_u64().expect("block_height");
        let index = v["index"].as_u64().expect("index");
        let tx_root: Hash32 = serde_json::from_value(v["tx_root"].clone()).unwrap();
        let proof: MerkleProof = serde_json::from_value(v["proof"].clone()).unwrap();
        assert_eq!(proof.index, index);
        max_tree = max_tree.max(proof.tree_size);
        assert!(
            want_crypto::verify_merkle_proof(id, &proof, &tx_root),
            "proof of {id} does not verify"
        );
        let other = ids.iter().find(|o| *o != id).unwrap();
        assert!(!want_crypto::verify_merkle_proof(other, &proof, &tx_root));

        let block = n.get_ok(&format!("/v1/blocks/{height}")).await;
        assert_eq!(block["height"], height);
        assert_eq!(block["hash"], v["block_hash"]);
        assert_eq!(block["header"]["tx_root"], v["tx_root"]);
        assert_eq!(block["tx_ids"][index as usize], id.to_hex());
        assert_eq!(block["tx_count"].as_u64(), Some(proof.tree_size));
    }
    assert!(max_tree > 1, "no block held more than one transaction");

    // The chain is linked from genesis to the head.
    let latest = n.get_ok("/v1/blocks/latest").await;
    let head = latest["height"].as_u64().unwrap();
    assert!(head >= 2);
    assert_eq!(n.height().await, head);
    let mut prev = n.get_ok("/v1/blocks/0").await;
    assert_eq!(prev["height"], 0);
    for h in 1..=head {
        let b = n.get_ok(&format!("/v1/blocks/{h}")).await;
        assert_eq!(b["header"]["prev_hash"], prev["hash"], "block {h}");
        assert_eq!(b["header"]["height"], h);
        prev = b;
    }
    assert_eq!(prev["hash"], latest["hash"]);
    let full = n.get_ok(&format!("/v1/blocks/{head}?full=true")).await;
    assert_eq!(
        full["transactions"].as_array().unwrap().len(),
        full["receipts"].as_array().unwrap().len()
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_token_health_metrics_and_openapi_describe_the_node() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    n.commit(&transfer(&dev_key(), 0, new_key().address(), 5))
        .await;

    let s = n.get_ok("/v1/status").await;
    let node_id = s["node_id"].as_str().expect("node_id").to_string();
    assert_eq!(node_id, hex::encode(n.node.shared.node_key.public_key()));
    assert_eq!(s["role"], "leader");
    assert_eq!(s["leader"], node_id.as_str());
    assert!(s["term"].as_u64().unwrap() >= 1);
    assert_eq!(s["members"], json!([node_id]));
    assert_eq!(s["height"], 1);
    assert_eq!(s["chain_id"], DEV_CHAIN_ID);

    let t = n.token().await;
    assert_eq!(t["total_supply"], TOTAL_SUPPLY_STR);
    assert_eq!(t["burned"], "0");
    assert_eq!(t["circulating"], TOTAL_SUPPLY_STR);
    assert_eq!(t["decimals"], 6);
    assert_eq!(t["min_fee"], DEV_MIN_FEE.to_string());
    assert!(t["incentive_pool"].as_str().unwrap().starts_with('T'));

    let h = n.get_ok("/healthz").await;
    assert_eq!(h["ok"], true);
    assert_eq!(h["height"], 1);

    // The counter follows the head within moments (it is not updated under the head's lock).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let r = n.http.get(n.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        assert!(text.contains("want_blocks_committed"), "{text}");
        let committed = text
            .lines()
            .find(|l| l.starts_with("want_blocks_committed"))
            .unwrap()
            .to_string();
        if committed.ends_with(" 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the committed-blocks counter did not reach the head's height 1: {committed}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let o = n.get_ok("/openapi.json").await;
    assert!(o["paths"].is_object(), "{o}");
    assert!(o["paths"].get("/v1/transactions").is_some());
    n.stop().await;
}

// 3. TRC20 -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_transfer_from_and_burn_keep_the_total_supply() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let (owner, spender, to) = (new_key(), new_key(), new_key());
    n.commit(&transfer(&dev, 0, owner.address(), 10_000_000))
        .await;
    n.commit(&transfer(&dev, 1, spender.address(), 1_000_000))
        .await;

    let allowance_path = format!(
        "/v1/accounts/{}/allowances/{}",
        owner.address(),
        spender.address()
    );
    assert_eq!(n.get_ok(&allowance_path).await["allowance"], "0");
    n.commit(&owner.sign_transaction(tx(
        0,
        TokenCall::Approve {
            spender: spender.address(),
            amount: 2_000_000,
        },
    )))
    .await;
    let a = n.get_ok(&allowance_path).await;
    assert_eq!(a["allowance"], "2000000");
    assert_eq!(a["owner"], owner.address().to_string());
    assert_eq!(a["spender"], spender.address().to_string());

    // Spends amount + 1 % of the allowance and of the owner's balance; the spender pays the fee.
    let v = n
        .commit(&spender.sign_transaction(tx(
            0,
            TokenCall::TransferFrom {
                from: owner.address(),
                to: to.address(),
                amount: 1_000_000,
            },
        )))
        .await;
    assert!(v["receipt"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "Transfer" && e["to"] == to.address().to_string()));
    assert_eq!(n.balance(&to.address()).await, 1_000_000);
    assert_eq!(n.get_ok(&allowance_path).await["allowance"], "990000");
    assert_eq!(
        n.balance(&owner.address()).await,
        10_000_000 - DEV_MIN_FEE - 1_010_000
    );
    assert_eq!(n.balance(&spender.address()).await, 1_000_000 - DEV_MIN_FEE);

    // Burn.
    let before = n.token().await;
    assert_eq!(before["burned"], "0");
    n.commit(&owner.sign_transaction(tx(1, TokenCall::Burn { amount: 500_000 })))
        .await;
    let after = n.token().await;
    assert_eq!(after["burned"], "500000");
    assert_eq!(
        amount_of(&after["circulating"]),
        amount_of(&before["circulating"]) - 500_000
    );
    assert_eq!(after["total_supply"], TOTAL_SUPPLY_STR);

    // Supply invariant over the API.
    let mut sum: Amount = 0;
    for a in [
        dev.address(),
        owner.address(),
        spender.address(),
        to.address(),
    ] {
        sum += n.balance(&a).await;
    }
    sum += amount_of(&after["incentive_pool_balance"]);
    sum += amount_of(&after["burned"]);
    assert_eq!(sum, TOTAL_SUPPLY);
    n.stop().await;
}

// 4. Bad input ---------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_and_bad_fields_are_refused_without_effect() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let before = fingerprint(&n).await;
    let good = serde_json::to_value(transfer(&dev, 0, new_key().address(), 10)).unwrap();

    let r = n.post_raw("/v1/transactions", "{\"tx\": {").await;
    assert_error(&r, 400, "invalid_json");
    let r = n.post_raw("/v1/transactions", "not json at all").await;
    assert_error(&r, 400, "invalid_json");

    let mut missing = good.clone();
    missing["tx"].as_object_mut().unwrap().remove("fee");
    let r = n.post_json("/v1/transactions", &missing).await;
    assert_error(&r, 400, "invalid_transaction");
    let msg = r.1["error"]["message"].as_str().unwrap();
    assert!(msg.contains("tx") && msg.contains("fee"), "{msg}");

    let mut long_amount = good.clone();
    long_amount["tx"]["call"]["token"]["transfer"]["amount"] = json!("9".repeat(50));
    let r = n.post_json("/v1/transactions", &long_amount).await;
    assert_error(&r, 400, "invalid_transaction");
    let msg = r.1["error"]["message"].as_str().unwrap();
    assert!(msg.contains("tx.call.token.transfer.amount"), "{msg}");

    let mut eth_to = good.clone();
    eth_to["tx"]["call"]["token"]["transfer"]["to"] =
        json!("0x52908400098527886E0F7030069857D2E4169EE7");
    let r = n.post_json("/v1/transactions", &eth_to).await;
    assert_error(&r, 400, "invalid_transaction");

    let mut unknown_field = good.clone();
    unknown_field["extra"] = json!(1);
    let r = n.post_json("/v1/transactions", &unknown_field).await;
    assert_error(&r, 400, "invalid_transaction");

    // Larger than the body limit.
    let oversized = format!(
        "{}{}",
        " ".repeat(want_node::api::TX_BODY_BYTES_MAX + 1),
        good
    );
    let r = n.post_raw("/v1/transactions", oversized).await;
    assert_error(&r, 413, "tx_too_large");

    // A correctly signed transaction whose amount plus fee overflows 128 bits.
    let overflow = transfer(&dev, 0, new_key().address(), u128::MAX);
    assert_eq!(
        serde_json::to_value(&overflow).unwrap()["tx"]["call"]["token"]["transfer"]["amount"],
        "340282366920938463463374607431768211455"
    );
    let r = n.submit(&overflow, false).await;
    assert_error(&r, 400, "amount_overflow");

    let r = n
        .post_raw("/v1/transactions?wait=forever", good.to_string())
        .await;
    assert_error(&r, 400, "invalid_query");

    assert_eq!(fingerprint(&n).await, before);
    // The well-formed transaction is still accepted afterwards.
    let (s, v) = n.post_json("/v1/transactions?wait=commit", &good).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_foreign_signatures_are_refused_without_effect() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let before = fingerprint(&n).await;
    let good = transfer(&dev, 0, new_key().address(), 1_000);

    let mut short = good.clone();
    short.signature = Signature::Secp256k1(vec![7; 64]);
    assert_error(&n.submit(&short, false).await, 400, "bad_signature");

    let mut garbage = good.clone();
    garbage.signature = Signature::Secp256k1(vec![0xff; 65]);
    assert_error(&n.submit(&garbage, false).await, 400, "bad_signature");

    let mut rsa_garbage = good.clone();
    rsa_garbage.signature = Signature::Rsa {
        public_key: vec![1, 2, 3],
        signature: vec![4, 5, 6],
    };
    assert_error(&n.submit(&rsa_garbage, false).await, 400, "bad_signature");

    let mut not_hex = serde_json::to_value(&good).unwrap();
    not_hex["signature"]["secp256k1"] = json!("zz");
    assert_error(
        &n.post_json("/v1/transactions", &not_hex).await,
        400,
        "invalid_transaction",
    );

    // The dev account's body with the amount raised: the signature now recovers another
    // (empty) account, or none.
    let mut tampered = good.clone();
    tampered.tx.call = want_types::Call::Token(TokenCall::Transfer {
        to: new_key().address(),
        amount: 1_000_000_000,
    });
    let r = n.submit(&tampered, false).await;
    let code = r.1["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        code == "insufficient_balance" || code == "bad_signature",
        "{:?}",
        r
    );
    assert_eq!(r.0, StatusCode::BAD_REQUEST);

    // Another key's signature over a tampered body.
    let mallory = new_key();
    let mut foreign = good.clone();
    foreign.signature = mallory.sign_transaction(tampered.tx.clone()).signature;
    let r = n.submit(&foreign, false).await;
    let code = r.1["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        code == "insufficient_balance" || code == "bad_signature",
        "{:?}",
        r
    );

    assert_eq!(fingerprint(&n).await, before);
    n.commit(&good).await;
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_id_expiry_and_minimum_fee_are_enforced() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let to = new_key().address();
    let before = fingerprint(&n).await;
    let call = TokenCall::Transfer { to, amount: 1 };

    let mut t = tx(0, call.clone());
    t.chain_id = DEV_CHAIN_ID + 1;
    assert_error(
        &n.submit(&dev.sign_transaction(t), false).await,
        400,
        "wrong_chain_id",
    );

    let mut t = tx(0, call.clone());
    t.expiry_ms = now_ms() - 1_000;
    assert_error(
        &n.submit(&dev.sign_transaction(t), false).await,
        400,
        "expired",
    );

    let mut t = tx(0, call.clone());
    t.expiry_ms = now_ms() + 48 * 3_600 * 1_000;
    assert_error(
        &n.submit(&dev.sign_transaction(t), false).await,
        400,
        "expiry_too_far",
    );

    for fee in [0, DEV_MIN_FEE - 1] {
        let mut t = tx(0, call.clone());
        t.fee = fee;
        // Make sure the id is not accidentally a valid stamp.
        while t.id().leading_zero_bits() >= want_node::config::DEV_POW_DIFFICULTY_BITS {
            t.pow_nonce += 1;
        }
        assert_error(
            &n.submit(&dev.sign_transaction(t), false).await,
            400,
            "fee_too_low",
        );
    }
    assert_eq!(fingerprint(&n).await, before);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_nonces_duplicates_and_unfunded_spending_are_refused() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let first = transfer(&dev, 0, new_key().address(), 77);
    n.commit(&first).await;
    let before = fingerprint(&n).await;

    // The same committed transaction again.
    assert_error(&n.submit(&first, false).await, 409, "duplicate_transaction");
    assert_error(&n.submit(&first, true).await, 409, "duplicate_transaction");
    // Another transaction with the used nonce.
    assert_error(
        &n.submit(&transfer(&dev, 0, new_key().address(), 78), false)
            .await,
        400,
        "nonce_too_low",
    );
    // Beyond the nonce window (next nonce is 1).
    assert_error(
        &n.submit(
            &transfer(
                &dev,
                1 + MEMPOOL_NONCE_WINDOW_DEFAULT,
                new_key().address(),
                1,
            ),
            false,
        )
        .await,
        400,
        "nonce_too_far_ahead",
    );
    // More than the balance (amount + 1 % + fee > balance).
    let balance = n.balance(&dev.address()).await;
    assert_error(
        &n.submit(&transfer(&dev, 1, new_key().address(), balance), false)
            .await,
        400,
        "insufficient_balance",
    );
    // An empty account cannot pay the fee.
    let empty = new_key();
    assert_error(
        &n.submit(&transfer(&empty, 0, dev.address(), 0), false)
            .await,
        400,
        "insufficient_balance",
    );
    // No allowance.
    let stx = empty.sign_transaction(tx(
        0,
        TokenCall::TransferFrom {
            from: dev.address(),
            to: empty.address(),
            amount: 1,
        },
    ));
    assert_error(&n.submit(&stx, false).await, 400, "insufficient_allowance");
    assert_eq!(fingerprint(&n).await, before);
    assert_eq!(n.balance(&empty.address()).await, 0);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_transactions_hold_their_id_and_nonce() {
    let dir = tempdir();
    let n = start_slow(dir.path(), |_| {}).await;
    let dev = dev_key();
    let pending = transfer(&dev, 0, new_key().address(), 5);
    let (s, v) = n.submit(&pending, false).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let view = n
        .get_ok(&format!("/v1/transactions/{}", pending.id()))
        .await;
    assert_eq!(view["status"], "pending");
    assert_eq!(view["sender"], dev.address().to_string());
    let account = n.get_ok(&format!("/v1/accounts/{}", dev.address())).await;
    assert_eq!(account["nonce"], 0);
    assert_eq!(account["pending_nonce"], 1);
    let before = fingerprint(&n).await;
    assert_eq!(before["mempool_size"], 1);

    assert_error(
        &n.submit(&pending, false).await,
        409,
        "duplicate_transaction",
    );
    assert_error(
        &n.submit(&transfer(&dev, 0, new_key().address(), 6), false)
            .await,
        409,
        "nonce_in_use",
    );
    // The window counts from the next nonce after the pending ones (1 here).
    assert_error(
        &n.submit(
            &transfer(
                &dev,
                1 + MEMPOOL_NONCE_WINDOW_DEFAULT,
                new_key().address(),
                1,
            ),
            false,
        )
        .await,
        400,
        "nonce_too_far_ahead",
    );
    // The pending spending counts against the balance: this one alone would be affordable.
    let balance = n.balance(&dev.address()).await;
    let k = (balance - DEV_MIN_FEE) / 101;
    let affordable_alone = 100 * k;
    assert!(affordable_alone + transfer_fee(affordable_alone) + DEV_MIN_FEE <= balance);
    assert_error(
        &n.submit(
            &transfer(&dev, 1, new_key().address(), affordable_alone),
            false,
        )
        .await,
        400,
        "insufficient_balance",
    );
    assert_eq!(fingerprint(&n).await, before);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmitting_a_pending_transaction_does_not_cancel_the_first_waiter() {
    let dir = tempdir();
    let n = start_node_with(dir.path(), Genesis::dev(), |c| c.block_interval_ms = 600)
        .await
        .unwrap();
    // Let the producer's immediate first tick pass.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stx = transfer(&dev_key(), 0, new_key().address(), 9);
    let first = {
        let (http, url, body) = (
            n.http.clone(),
            n.url("/v1/transactions?wait=commit"),
            serde_json::to_string(&stx).unwrap(),
        );
        tokio::spawn(async move {
            let r = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        })
    };
    // Wait until the first submission is pending, then submit the same transaction again.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while n.get(&format!("/v1/transactions/{}", stx.id())).await.0 != StatusCode::OK {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_error(&n.submit(&stx, true).await, 409, "duplicate_transaction");
    let (s, v) = first.await.unwrap();
    assert_eq!(
        s,
        StatusCode::OK,
        "the first submitter must still learn the commit: {v}"
    );
    assert_eq!(v["receipt"]["status"], "success");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proof_of_work_stamp_replaces_the_fee_for_an_empty_wallet() {
    let dir = tempdir();
    let mut genesis = Genesis::dev();
    genesis.params.pow_difficulty_bits = 8;
    let n = start_node_with(dir.path(), genesis, |_| {}).await.unwrap();
    assert_eq!(n.token().await["pow_difficulty_bits"], 8);
    let empty = new_key();
    let spender = new_key().address();
    let call = TokenCall::Approve {
        spender,
        amount: 42,
    };

    // Without a stamp, a zero fee is too low.
    let mut unstamped = tx(0, call.clone());
    unstamped.from = empty.address();
    unstamped.fee = 0;
    while unstamped.id().leading_zero_bits() >= 8 {
        unstamped.pow_nonce += 1;
    }
    let before = fingerprint(&n).await;
    assert_error(
        &n.submit(&empty.sign_transaction(unstamped.clone()), false)
            .await,
        400,
        "fee_too_low",
    );
    assert_eq!(fingerprint(&n).await, before);

    // The same transaction with a solved stamp commits from a wallet holding nothing.
    let mut stamped = unstamped;
    stamped.solve_pow(8);
    assert!(stamped.id().leading_zero_bits() >= 8);
    let v = n.commit(&empty.sign_transaction(stamped)).await;
    assert_eq!(v["receipt"]["fee_paid"], "0");
    assert_eq!(n.balance(&empty.address()).await, 0);
    assert_eq!(n.nonce(&empty.address()).await, 1);
    let a = n
        .get_ok(&format!(
            "/v1/accounts/{}/allowances/{spender}",
            empty.address()
        ))
        .await;
    assert_eq!(a["allowance"], "42");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_of_unknown_or_malformed_things_answer_json_errors() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    assert_error(&n.get("/v1/accounts/0xabc").await, 400, "invalid_address");
    assert_error(
        &n.get("/v1/accounts/0x52908400098527886E0F7030069857D2E4169EE7")
            .await,
        400,
        "invalid_address",
    );
    assert_error(
        &n.get(&format!(
            "/v1/accounts/{}/allowances/nope",
            dev_key().address()
        ))
        .await,
        400,
        "invalid_address",
    );
    let unknown = Hash32([0xab; 32]);
    assert_error(
        &n.get(&format!("/v1/transactions/{unknown}")).await,
        404,
        "tx_not_found",
    );
    assert_error(&n.get("/v1/transactions/xyz").await, 400, "invalid_hash");
    assert_error(&n.get("/v1/blocks/abc").await, 400, "invalid_height");
    assert_error(&n.get("/v1/blocks/-1").await, 400, "invalid_height");
    assert_error(&n.get("/v1/blocks/999999").await, 404, "block_not_found");
    assert_error(&n.get("/v1/nothing/here").await, 404, "not_found");
    assert_error(&n.get("/").await, 404, "not_found");
    // A fresh account reads as empty rather than missing.
    let fresh = n
        .get_ok(&format!("/v1/accounts/{}", new_key().address()))
        .await;
    assert_eq!(fresh["balance"], "0");
    assert_eq!(fresh["nonce"], 0);
    n.stop().await;
}

// 5. Mempool bound -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mempool_refuses_with_429() {
    let dir = tempdir();
    let n = start_slow(dir.path(), |c| c.mempool_txs_max = 3).await;
    let dev = dev_key();
    for nonce in 0..3 {
        let (s, v) = n
            .submit(&transfer(&dev, nonce, new_key().address(), 1), false)
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    let before = fingerprint(&n).await;
    assert_eq!(before["mempool_size"], 3);
    let fourth = transfer(&dev, 3, new_key().address(), 1);
    assert_error(&n.submit(&fourth, false).await, 429, "mempool_full");
    assert_eq!(fingerprint(&n).await, before);
    assert_error(
        &n.get(&format!("/v1/transactions/{}", fourth.id())).await,
        404,
        "tx_not_found",
    );
    n.stop().await;
}

// 6. Batch -------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_customers_paying_the_same_amount_with_the_same_nonce_are_two_transactions() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let (alice, bob, shop) = (new_key(), new_key(), new_key().address());
    n.commit(&transfer(&dev, 0, alice.address(), 5_000_000))
        .await;
    n.commit(&transfer(&dev, 1, bob.address(), 5_000_000)).await;
    // Same call, nonce, fee and expiry: only the sender differs.
    let body = tx(
        0,
        TokenCall::Transfer {
            to: shop,
            amount: 1_000_000,
        },
    );
    let (a, b) = (
        alice.sign_transaction(body.clone()),
        bob.sign_transaction(body),
    );
    assert_ne!(a.id(), b.id());
    let (ra, rb) = (n.commit(&a).await, n.commit(&b).await);
    assert_eq!(ra["receipt"]["status"], "success");
    assert_eq!(rb["receipt"]["status"], "success");
    assert_eq!(n.balance(&shop).await, 2_000_000);
    // A signature by bob over a body that names alice as the sender is refused.
    let mut forged = a.clone();
    forged.tx.nonce = 1;
    let mut as_bob = forged.tx.clone();
    as_bob.from = bob.address();
    forged.signature = bob.sign_transaction(as_bob).signature;
    assert_error(&n.submit(&forged, false).await, 400, "bad_signature");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_submissions_are_accepted_and_malformed_ones_refused() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let to = new_key().address();
    let one = transfer(&dev, 0, to, 1_000_000);
    let (status, v) = n.post_binary("/v1/transactions", one.to_bytes()).await;
    assert_eq!(status.as_u16(), 202, "{v}");
    assert_eq!(v["id"], one.id().to_hex());
    let batch = vec![
        transfer(&dev, 1, to, 1_000_000),
        transfer(&dev, 2, to, 1_000_000),
    ];
    let (status, v) = n
        .post_binary("/v1/transactions/batch", borsh::to_vec(&batch).unwrap())
        .await;
    assert_eq!(status.as_u16(), 200, "{v}");
    assert_eq!(v["results"][1]["id"], batch[1].id().to_hex());
    n.wait_committed(&batch[1].id().to_hex()).await;
    assert_eq!(n.balance(&to).await, 3_000_000);
    let before = fingerprint(&n).await;
    let mut garbage = one.to_bytes();
    garbage.push(7);
    let resp = n.post_binary("/v1/transactions", garbage).await;
    assert_error(&resp, 400, "invalid_transaction");
    let resp = n.post_binary("/v1/transactions/batch", vec![0xff; 9]).await;
    assert_error(&resp, 400, "invalid_transaction");
    assert_eq!(fingerprint(&n).await, before);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_submission_answers_per_item_in_order() {
    let dir = tempdir();
    let n = start_slow(dir.path(), |_| {}).await;
    let dev = dev_key();
    let a = transfer(&dev, 0, new_key().address(), 1);
    let mut wrong = tx(1, TokenCall::Burn { amount: 1 });
    wrong.chain_id = 1;
    let wrong = dev.sign_transaction(wrong);
    let b = transfer(&dev, 1, new_key().address(), 2);
    let body = serde_json::to_value(vec![&a, &wrong, &b, &a]).unwrap();
    let (s, v) = n.post_json("/v1/transactions/batch", &body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], json!({"id": a.id().to_hex()}));
    assert_eq!(results[1]["error"]["code"], "wrong_chain_id");
    assert_eq!(results[2], json!({"id": b.id().to_hex()}));
    assert_eq!(results[3]["error"]["code"], "duplicate_transaction");
    assert_eq!(n.get_ok("/v1/status").await["mempool_size"], 2);

    // A malformed batch is refused as a whole.
    let r = n.post_raw("/v1/transactions/batch", "[{\"tx\": 1}]").await;
    assert_error(&r, 400, "invalid_transaction");
    let r = n.post_raw("/v1/transactions/batch", "[").await;
    assert_error(&r, 400, "invalid_json");
    assert_eq!(n.get_ok("/v1/status").await["mempool_size"], 2);
    n.stop().await;
}

// 7. WebSocket events --------------------------------------------------------------------------

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws_connect(n: &TestNode, from_height: u64) -> Ws {
    let url = format!(
        "{}/v1/events?from_height={from_height}",
        n.base.replace("http://", "ws://")
    );
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connect");
    ws
}

/// Reads messages until block `last` and everything after it has arrived (the stream then stays
/// quiet for a moment).
async fn ws_read_through(ws: &mut Ws, last: u64) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen_last = out
            .iter()
            .any(|m| m["type"] == "block" && m["height"].as_u64() >= Some(last));
        let wait = if seen_last {
            Duration::from_millis(300)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => out.push(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("websocket ended: {other:?}"),
            Err(_) if seen_last => return out,
            Err(_) => panic!("block {last} never arrived; got {out:?}"),
        }
    }
}

fn block_heights(msgs: &[Value]) -> Vec<u64> {
    msgs.iter()
        .filter(|m| m["type"] == "block")
        .map(|m| m["height"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_stream_replays_from_a_height_and_resumes_without_gaps() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let mut ids = Vec::new();
    let mut recipients = Vec::new();
    for nonce in 0..3 {
        let to = new_key().address();
        let stx = transfer(&dev, nonce, to, 1_000 + nonce as u128);
        n.commit(&stx).await;
        ids.push(stx.id().to_hex());
        recipients.push(to.to_string());
    }
    let head = n.height().await;
    assert_eq!(head, 3);

    let mut ws = ws_connect(&n, 1).await;
    let first = ws_read_through(&mut ws, head).await;
    assert_eq!(block_heights(&first), vec![1, 2, 3]);
    assert_eq!(first[0]["type"], "block");
    let receipts: Vec<&Value> = first.iter().filter(|m| m["type"] == "receipt").collect();
    assert_eq!(
        receipts
            .iter()
            .map(|r| r["tx_id"].clone())
            .collect::<Vec<_>>(),
        ids.iter().map(|i| json!(i)).collect::<Vec<_>>()
    );
    assert!(receipts.iter().all(|r| r["status"] == "success"));
    for (id, to) in ids.iter().zip(&recipients) {
        assert!(
            first.iter().any(|m| m["type"] == "token_event"
                && m["tx_id"] == id.as_str()
                && m["event"]["type"] == "Transfer"
                && m["event"]["to"] == to.as_str()),
            "no Transfer event of {id}"
        );
    }
    // Every message belongs to a block already announced, in order.
    let mut current = 0;
    for m in &first {
        let h = m["height"].as_u64().unwrap();
        if m["type"] == "block" {
            assert_eq!(h, current + 1);
            current = h;
        } else {
            assert_eq!(h, current, "{m}");
        }
    }
    let last = *block_heights(&first).last().unwrap();
    ws.close(None).await.unwrap();
    drop(ws);

    // Live: connect first, then commit.
    let mut ws = ws_connect(&n, last + 1).await;
    for nonce in 3..5 {
        n.commit(&transfer(&dev, nonce, new_key().address(), 1))
            .await;
    }
    let second = ws_read_through(&mut ws, last + 2).await;
    assert_eq!(block_heights(&second), vec![last + 1, last + 2]);
    assert_eq!(second.iter().filter(|m| m["type"] == "receipt").count(), 2);
    let seen: BTreeSet<String> = first
        .iter()
        .chain(&second)
        .filter(|m| m["type"] == "receipt")
        .map(|m| m["tx_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen.len(), 5, "no duplicate receipts");
    ws.close(None).await.unwrap();
    n.stop().await;
}

// 8. RSA accounts ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_account_can_receive_and_send() {
    let rsa = tokio::task::spawn_blocking(|| want_crypto::RsaPrivateKey::generate(2048))
        .await
        .unwrap()
        .expect("RSA key");
    let rsa = SigningKey::Rsa(rsa);
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    n.commit(&transfer(&dev_key(), 0, rsa.address(), 5_000_000))
        .await;
    assert_eq!(n.balance(&rsa.address()).await, 5_000_000);
    let to = new_key().address();
    let stx = transfer(&rsa, 0, to, 1_000_000);
    assert!(matches!(stx.signature, Signature::Rsa { .. }));
    let v = n.commit(&stx).await;
    assert_eq!(v["receipt"]["sender"], rsa.address().to_string());
    assert_eq!(n.balance(&to).await, 1_000_000);
    assert_eq!(
        n.balance(&rsa.address()).await,
        5_000_000 - 1_000_000 - 10_000 - DEV_MIN_FEE
    );
    assert_eq!(n.nonce(&rsa.address()).await, 1);
    n.stop().await;
}

// 9. Restart -----------------------------------------------------------------------------------

/// A genesis of chain `chain_id` whose whole supply belongs to a fresh key (no module section).
fn own_chain(chain_id: u64) -> Genesis {
    let mut g = Genesis::dev();
    g.params.chain_id = chain_id;
    g.allocations = vec![want_node::config::Allocation {
        address: new_key().address(),
        amount: TOTAL_SUPPLY,
    }];
    g.sections.clear();
    g
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_other_than_the_dev_chain_whose_genesis_funds_the_dev_key_does_not_start() {
    let dir = tempdir();
    let mut g = Genesis::dev();
    g.params.chain_id = DEV_CHAIN_ID + 1;
    let err = start_node_with(dir.path(), g, |_| {})
        .await
        .err()
        .expect("a genesis funding the published dev key must be refused");
    assert!(
        matches!(&err, NodeError::DevKeyInGenesis { chain_id, places, .. }
            if *chain_id == DEV_CHAIN_ID + 1 && places.contains(&"allocations[0]".to_string())),
        "{err:?}"
    );
    assert!(
        !dir.path().join(want_storage::DB_FILE_NAME).exists(),
        "the data directory holds no chain"
    );
    // The same chain owned by another key starts.
    let n = start_node_with(dir.path(), own_chain(DEV_CHAIN_ID + 1), |_| {})
        .await
        .expect("a chain of its own keys starts");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_the_chain_and_refuses_another_genesis() {
    let dir = tempdir();
    let dev = dev_key();
    let alice = new_key();
    let n = start_dev(dir.path()).await;
    n.commit(&transfer(&dev, 0, alice.address(), 3_000_000))
        .await;
    n.commit(&transfer(&dev, 1, alice.address(), 4_000_000))
        .await;
    let height = n.height().await;
    let latest = n.get_ok("/v1/blocks/latest").await;
    let dev_balance = n.balance(&dev.address()).await;
    let token = n.token().await;
    n.stop().await;

    // Another chain's genesis is refused and changes nothing.
    let other = own_chain(DEV_CHAIN_ID + 1);
    let err = start_node_with(dir.path(), other, |_| {})
        .await
        .err()
        .expect("another genesis must be refused");
    assert!(
        matches!(
            err,
            NodeError::Storage(StorageError::WrongChain {
                found_chain_id: DEV_CHAIN_ID,
                ..
            })
        ),
        "{err:?}"
    );

    let n = start_dev(dir.path()).await;
    assert_eq!(n.height().await, height);
    assert_eq!(n.get_ok("/v1/blocks/latest").await, latest);
    assert_eq!(n.balance(&alice.address()).await, 7_000_000);
    assert_eq!(n.balance(&dev.address()).await, dev_balance);
    assert_eq!(n.nonce(&dev.address()).await, 2);
    assert_eq!(n.token().await, token);
    // And the chain goes on.
    n.commit(&transfer(&dev, 2, alice.address(), 1)).await;
    assert_eq!(n.height().await, height + 1);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admitted_transactions_are_committed_after_a_restart() {
    let dir = tempdir();
    let dev = dev_key();
    let alice = new_key();
    let n = start_slow(dir.path(), |_| {}).await;
    let pending: Vec<_> = (0..3)
        .map(|nonce| transfer(&dev, nonce, alice.address(), 100 + nonce as u128))
        .collect();
    for stx in &pending {
        let (s, v) = n.submit(stx, false).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    assert_eq!(n.height().await, 0);
    n.stop().await;

    let n = start_dev(dir.path()).await;
    for stx in &pending {
        let v = n.wait_committed(&stx.id().to_hex()).await;
        assert_eq!(v["receipt"]["status"], "success");
    }
    assert_eq!(n.balance(&alice.address()).await, 100 + 101 + 102);
    assert_eq!(n.nonce(&dev.address()).await, 3);
    assert_eq!(n.get_ok("/v1/status").await["mempool_size"], 0);
    n.stop().await;

    // The journal is empty once they are committed: nothing is re-admitted.
    let n = start_slow(dir.path(), |_| {}).await;
    assert_eq!(n.get_ok("/v1/status").await["mempool_size"], 0);
    n.stop().await;
}
