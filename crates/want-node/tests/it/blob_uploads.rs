//! Blob uploads on a real node: only signed uploads by an organisation's key or a funded
//! account are stored, each account and the node are held to their quotas of blobs not yet
//! anchored, copies from "members" must be signed by a member, and a flood of uploads by many
//! funded accounts does not stop an honest client's transfers.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use want_crypto::{PrivateKey, SigningKey};
use want_types::Address;

/// Most an honest transfer may take to commit while the node is flooded (stated latency).
const HONEST_COMMIT_MAX: Duration = Duration::from_secs(10);

async fn start_with_quotas(dir: &std::path::Path, account_mib: u64, node_mib: u64) -> TestNode {
    start_node_with(dir, want_node::Genesis::dev(), |c| {
        c.blobs.account_pending_mib = account_mib;
        c.blobs.node_pending_mib = node_mib;
    })
    .await
    .expect("start")
}

/// A new account funded with `amount` base units by the dev account (nonce `nonce`).
async fn funded(n: &TestNode, nonce: u64, amount: u128) -> PrivateKey {
    let key = PrivateKey::generate();
    n.commit(&transfer(
        &dev_key(),
        nonce,
        SigningKey::Secp256k1(key.clone()).address(),
        amount,
    ))
    .await;
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_forged_stale_and_unfunded_uploads_are_refused() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let blob = b"sealed bytes".to_vec();
    // Unsigned.
    assert_error(
        &n.put_bytes("/v1/blobs", blob.clone()).await,
        403,
        "blob_upload_denied",
    );
    // Signed by an account that holds nothing and is no organisation's key.
    let stranger = PrivateKey::generate();
    let refused = n.put_blob_signed(&stranger, blob.clone()).await;
    assert_error(&refused, 403, "blob_upload_denied");
    assert!(
        refused.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("fund the account"),
        "{}",
        refused.1
    );
    // Signed long ago (a replayed upload).
    let dev = want_node::config::dev_private_key();
    let old = now_ms() - 10 * 60 * 1000;
    let digest = want_types::trace::blob_put_digest(
        want_node::config::DEV_CHAIN_ID,
        &want_crypto::cid_of(&blob),
        old,
    );
    let r = n
        .http
        .put(n.url("/v1/blobs"))
        .header("X-Want-Time", old.to_string())
        .header("X-Want-Signature", hex::encode(dev.sign_digest(&digest)))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A signature over other bytes recovers another address, which holds nothing.
    let other = want_types::trace::blob_put_digest(
        want_node::config::DEV_CHAIN_ID,
        &want_crypto::cid_of(b"other bytes"),
        now_ms(),
    );
    let r = n
        .http
        .put(n.url("/v1/blobs"))
        .header("X-Want-Time", now_ms().to_string())
        .header("X-Want-Signature", hex::encode(dev.sign_digest(&other)))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A "copy from a member" that no member signed.
    let r = n
        .http
        .put(n.url("/v1/blobs"))
        .header("X-Want-Member", "00".repeat(32))
        .header("X-Want-Time", now_ms().to_string())
        .header("X-Want-Signature", "00".repeat(64))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The funded dev account may.
    let (s, v) = n.put_blob_signed(&dev, blob).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_the_node_are_held_to_their_quotas_of_unanchored_blobs() {
    let dir = tempdir();
    let n = start_with_quotas(dir.path(), 1, 2).await;
    let a = funded(&n, 0, 10_000_000).await;
    let b = funded(&n, 1, 10_000_000).await;
    let c = funded(&n, 2, 10_000_000).await;
    let half_mib = |tag: u8| vec![tag; 512 * 1024];
    for tag in [1, 2] {
        let (s, v) = n.put_blob_signed(&a, half_mib(tag)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    // The same bytes again are not counted twice.
    let (s, v) = n.put_blob_signed(&a, half_mib(1)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let over = n.put_blob_signed(&a, half_mib(3)).await;
    assert_error(&over, 429, "blob_quota_exceeded");
    assert!(over.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("blobs.account_pending_mib"));
    // Another account has its own quota, until the node's is used up.
    for tag in [4, 5] {
        let (s, v) = n.put_blob_signed(&b, half_mib(tag)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let full = n.put_blob_signed(&c, half_mib(6)).await;
    assert_error(&full, 429, "blob_quota_exceeded");
    assert!(full.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("blobs.node_pending_mib"));
    n.stop().await;
}

/// The transfer-hop attack (issue 12, B2): one WANT moved from account to account, each
/// filling its quota with blobs it never anchors, no longer fills the node for everyone: the
/// pending uploads of accounts that spent their WANT are forfeited when an honest funded
/// uploader needs the room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moving_one_want_between_accounts_does_not_lock_honest_uploaders_out() {
    let dir = tempdir();
    let n = start_with_quotas(dir.path(), 1, 2).await;
    let fee = want_node::config::DEV_MIN_FEE;
    let hop = 1_000_000u128;
    // a1 holds 1 WANT and what its hop costs.
    let a1 = funded(&n, 0, hop + transfer_fee(hop) + fee).await;
    let a2 = PrivateKey::generate();
    let half_mib = |tag: u8| vec![tag; 512 * 1024];
    for tag in [1, 2] {
        let (s, v) = n.put_blob_signed(&a1, half_mib(tag)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let a2_address = SigningKey::Secp256k1(a2.clone()).address();
    n.commit(&transfer(
        &SigningKey::Secp256k1(a1.clone()),
        0,
        a2_address,
        hop,
    ))
    .await;
    for tag in [3, 4] {
        let (s, v) = n.put_blob_signed(&a2, half_mib(tag)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    // The node's quota (2 MiB) is full of blobs nobody anchors; an honest funded uploader
    // still gets in, because a1 no longer holds the WANT that let it upload.
    let honest = funded(&n, 1, 10_000_000).await;
    let (s, v) = n.put_blob_signed(&honest, half_mib(5)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = n.put_blob_signed(&honest, half_mib(6)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // a2, which holds the WANT now, kept its uploads: the node is full again for a third.
    let third = funded(&n, 2, 10_000_000).await;
    assert_error(
        &n.put_blob_signed(&third, half_mib(7)).await,
        429,
        "blob_quota_exceeded",
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_uploads_by_many_accounts_does_not_stop_honest_transfers() {
    let dir = tempdir();
    let n = start_with_quotas(dir.path(), 2, 16).await;
    let attackers: Vec<PrivateKey> = {
        let mut v = Vec::new();
        for i in 0..8 {
            v.push(funded(&n, i, 2_000_000).await);
        }
        v
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flood = Vec::new();
    for (i, key) in attackers.into_iter().enumerate() {
        let (base, stop) = (n.base.clone(), stop.clone());
        flood.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let (mut stored, mut refused) = (0u32, 0u32);
            let mut round = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                round += 1;
                let mut blob = vec![i as u8; 256 * 1024];
                blob[..4].copy_from_slice(&round.to_be_bytes());
                let time_ms = now_ms();
                let digest = want_types::trace::blob_put_digest(
                    want_node::config::DEV_CHAIN_ID,
                    &want_crypto::cid_of(&blob),
                    time_ms,
                );
                let r = http
                    .put(format!("{base}/v1/blobs"))
                    .header("X-Want-Time", time_ms.to_string())
                    .header("X-Want-Signature", hex::encode(key.sign_digest(&digest)))
                    .body(blob)
                    .send()
                    .await;
                match r.map(|r| r.status()) {
                    Ok(StatusCode::CREATED) => stored += 1,
                    Ok(_) => refused += 1,
                    Err(_) => {}
                }
            }
            (stored, refused)
        }));
    }
    let shop = Address::system("honest-shop");
    let mut slowest = Duration::ZERO;
    for i in 0..10u64 {
        let started = Instant::now();
        n.commit(&transfer(&dev_key(), 8 + i, shop, 1_000)).await;
        slowest = slowest.max(started.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut stored, mut refused) = (0, 0);
    for f in flood {
        let (s, r) = f.await.unwrap();
        stored += s;
        refused += r;
    }
    assert!(refused > 0, "the quotas never refused the flood");
    // 8 accounts × 2 MiB, and the node's 16 MiB: at most 64 blobs of 256 KiB stayed.
    assert!(stored <= 64, "{stored} blobs stored past the quotas");
    assert!(
        slowest < HONEST_COMMIT_MAX,
        "an honest transfer took {slowest:?} during the flood"
    );
    println!("flood: {stored} stored, {refused} refused; slowest honest commit {slowest:?}");
    assert_eq!(n.balance(&shop).await, 10_000);
    let health = n.get_ok("/healthz").await;
    assert_eq!(health["ok"], true);
    n.stop().await;
}
