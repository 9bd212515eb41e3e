//! Upgrades: a data directory written by an older build is migrated, its past blocks keep their
//! meaning, and rules added since apply only from the next block.

use crate::common;

use std::time::Duration;

use common::*;
use want_node::Genesis;
use want_types::params::RULE_FEE_WEIGHTS;

/// Unpacks the format-3 fixture into `dir` (its data directory is `dir/data`).
fn unpack_format3(dir: &std::path::Path) -> std::path::PathBuf {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/format3-dev.tar.gz");
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&fixture)
        .arg("-C")
        .arg(dir)
        .status()
        .expect("run tar");
    assert!(status.success(), "unpack {}", fixture.display());
    dir.join("data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_format_3_dev_chain_is_migrated_keeps_its_history_and_goes_on() {
    let dir = tempdir();
    let data = unpack_format3(dir.path());
    let n = start_node_with(&data, Genesis::dev_before_prices(), |_| {})
        .await
        .unwrap();
    let status = n.get_ok("/v1/status").await;
    assert_eq!(status["height"], 5, "{status}");
    // The rule added since applies from the block after the migrated head, not before.
    assert_eq!(status["activations"][RULE_FEE_WEIGHTS], 6, "{status}");
    assert_eq!(status["activations"]["trace"], 0);

    // Past receipts read as before, their events now named by module.
    let b1 = n.get_ok("/v1/blocks/1?full=true").await;
    let events = &b1["receipts"][0]["events"];
    assert_eq!(events[0]["type"], "FeePaid", "{b1}");
    assert_eq!(events[1]["type"], "Transfer", "{b1}");
    assert_eq!(events[1]["value"], "12500000");
    let id = b1["tx_ids"][0].as_str().unwrap().to_string();
    let tx = n.get_ok(&format!("/v1/transactions/{id}")).await;
    assert_eq!(tx["receipt"]["status"], "success");

    // The records captured before still verify, blobs and all.
    let product = want_node::trace::urlencode("urn:epc:id:sgtin:0614141.107346.2017");
    let v = n.get_ok(&format!("/v1/trace/verify/{product}")).await;
    assert_eq!(v["verdict"], "authentic", "{v}");

    // The chain goes on, under the new rules.
    let dev = dev_key();
    let nonce = n.get_ok(&format!("/v1/accounts/{}", dev.address())).await["nonce"]
        .as_u64()
        .unwrap();
    let stx = transfer(&dev, nonce, new_key().address(), 5);
    let committed = n.commit(&stx).await;
    assert!(committed["block_height"].as_u64().unwrap() >= 6);
    n.stop().await;

    // Started again: nothing more to migrate, the recorded activation stands.
    let n = start_node_with(&data, Genesis::dev_before_prices(), |_| {})
        .await
        .unwrap();
    let status = n.get_ok("/v1/status").await;
    assert_eq!(status["activations"][RULE_FEE_WEIGHTS], 6);
    tokio::time::sleep(Duration::from_millis(50)).await;
    n.stop().await;
}
