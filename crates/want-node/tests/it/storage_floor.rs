//! The storage floor on a real node: below the free-space floor (injected through
//! `PUT /v1/admin/storage`) new work is refused with `507 insufficient_storage`, `/healthz` and
//! `/metrics` say so, reads go on, consensus's reserve is released, and everything resumes
//! once the space is back.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use want_types::Address;

/// The floor the test node runs with, in MiB.
const FLOOR_MIB: u64 = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_floor_new_work_is_refused_reads_go_on_and_work_resumes_with_space() {
    let dir = tempdir();
    let n = start_node_with(dir.path(), want_node::Genesis::dev(), |c| {
        c.fault_injection = true;
        c.storage.free_floor_mib = FLOOR_MIB;
        c.storage.reserve_mib = 1;
    })
    .await
    .expect("start");
    let key = dev_key();
    let shop = Address::system("storage-floor-shop");
    n.commit(&transfer(&key, 0, shop, 1_000)).await;
    let reserve = dir.path().join(want_node::kernel::disk::RESERVE_FILE);
    let health = n.get_ok("/healthz").await;
    assert_eq!(health["ok"], true, "{health}");
    assert_eq!(health["storage"]["low"], false, "{health}");
    assert_eq!(health["storage"]["reserve_held"], true, "{health}");
    assert!(reserve.exists());

    // The disk is nearly full: 100 KiB left.
    let (s, status) = n
        .put_json("/v1/admin/storage", &json!({ "free_bytes": 100 * 1024 }))
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status["low"], true, "{status}");
    // Consensus got its reserve back.
    assert_eq!(status["reserve_held"], false, "{status}");
    assert!(!reserve.exists());

    let health = n.get("/healthz").await;
    assert_error(&health, 503, "storage_low");
    assert!(
        health.1["error"]["message"]
            .as_str()
            .is_some_and(|p| p.contains("storage.free_floor_mib")),
        "{}",
        health.1
    );
    let metrics = n.get_text("/metrics").await;
    assert!(metrics.contains("want_storage_low 1"), "{metrics}");
    assert!(metrics.contains("want_storage_reserve_held 0"), "{metrics}");

    // New work is refused, with a message saying why and what to do.
    let refused = n.submit(&transfer(&key, 1, shop, 1_000), false).await;
    assert_error(&refused, 507, "insufficient_storage");
    assert!(refused.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("freed"));
    let stx = transfer(&key, 1, shop, 1_000);
    let batch = n.post_json("/v1/transactions/batch", &json!([stx])).await;
    assert_eq!(batch.0, StatusCode::OK, "{}", batch.1);
    assert_eq!(
        batch.1["results"][0]["error"]["code"], "insufficient_storage",
        "{}",
        batch.1
    );
    assert_error(
        &n.put_bytes("/v1/blobs", b"sealed blob bytes".to_vec())
            .await,
        507,
        "insufficient_storage",
    );
    assert_error(
        &n.post_json("/v1/epcis/capture", &json!({})).await,
        507,
        "insufficient_storage",
    );
    // Reads go on.
    assert_eq!(n.balance(&shop).await, 1_000);
    assert_eq!(n.nonce(&key.address()).await, 1);

    // Space is back: work resumes and the reserve is allocated again.
    let (s, status) = n
        .put_json("/v1/admin/storage", &json!({ "free_bytes": null }))
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status["low"], false, "{status}");
    assert_eq!(status["reserve_held"], true, "{status}");
    assert!(reserve.exists());
    n.commit(&transfer(&key, 1, shop, 1_000)).await;
    assert_eq!(n.balance(&shop).await, 2_000);
    let health = n.get_ok("/healthz").await;
    assert_eq!(health["ok"], true, "{health}");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_fault_endpoint_is_closed_without_fault_injection() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    assert_error(
        &n.put_json("/v1/admin/storage", &json!({ "free_bytes": 0 }))
            .await,
        403,
        "faults_disabled",
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_on_a_nearly_full_disk_refuses_work_but_serves_reads() {
    let dir = tempdir();
    // A floor above any real disk's free space: the node starts low.
    let n = start_node_with(dir.path(), want_node::Genesis::dev(), |c| {
        c.storage.free_floor_mib = u64::MAX / (1024 * 1024);
        c.storage.reserve_mib = 1;
    })
    .await
    .expect("a node starts on a nearly full disk (it must catch up and serve reads)");
    assert_error(&n.get("/healthz").await, 503, "storage_low");
    let metrics = n.get_text("/metrics").await;
    assert!(metrics.contains("want_storage_reserve_held 0"), "{metrics}");
    assert_error(
        &n.submit(&transfer(&dev_key(), 0, Address::system("x"), 1), false)
            .await,
        507,
        "insufficient_storage",
    );
    n.get_ok("/v1/status").await;
    n.stop().await;
}
