//! The example module of docs/MODULES.md, end to end through every layer it registers in: its
//! call on the wire (want-types), its rules, state, genesis section, schedule and codes
//! (want-state), its routes, metrics and commit observer (want-node) and its commands
//! (want-cli). Built with `--all-features` (the feature `example-module`), as CI runs the suite.
#![cfg(feature = "example-module")]

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use serde_json::{json, Value};
use want_node::{Genesis, Node, NodeConfig};

/// A dev chain whose notes live `ttl_ms`, with the example module active from `active_from`;
/// returns the node, its URL and the server's task.
async fn start(dir: &std::path::Path, ttl_ms: u64, active_from: u64) -> (Node, String) {
    let mut genesis = Genesis::dev();
    genesis.set_section("example", &json!({ "ttl_ms": ttl_ms }));
    if active_from > 0 {
        genesis.sections.remove("example");
        genesis.activations.0.insert("example".into(), active_from);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut cfg = NodeConfig::dev(dir.to_path_buf(), addr);
    cfg.block_interval_ms = 50;
    // Blocks keep coming without transactions, so the end-of-block hook runs on time.
    cfg.empty_blocks = true;
    let key = want_node::load_or_create_node_key(dir).unwrap();
    let node = Node::start(cfg, genesis, key).await.unwrap();
    tokio::spawn(want_node::api::serve(listener, node.clone(), async {
        std::future::pending::<()>().await
    }));
    (node, format!("http://{addr}"))
}

/// Runs the `want` binary off the async workers.
async fn want_async(args: Vec<String>) -> Run {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        want_json(&args)
    })
    .await
    .unwrap()
}

fn dev_key_file(dir: &std::path::Path) -> String {
    let path = dir.join("dev-key.hex");
    std::fs::write(&path, want_node::config::dev_private_key().to_hex()).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_module_posts_serves_streams_and_expires_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = start(&dir.path().join("data"), 1_500, 0).await;
    let key = dev_key_file(dir.path());
    let author = want_node::config::dev_private_key().address().to_string();
    let http = reqwest::Client::new();

    // The command of the module's CLI part, signed by the shared signer, checked at admission
    // by the module's own rules (the same as in blocks).
    let sign = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["example", "post", "--key-file", &key, "--node", &url]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let long = "x".repeat(141);
    want_async(sign(&["--text", &long, "--wait"]))
        .await
        .err_code("note_too_long");
    let posted = want_async(sign(&["--text", "hello, chain", "--wait"]))
        .await
        .ok_json();
    assert_eq!(posted["receipt"]["status"], "success", "{posted}");
    assert!(
        posted["receipt"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["type"] == "NotePosted" && e["author"] == author.as_str()),
        "{posted}"
    );
    let posted_at = posted["block_height"].as_u64().unwrap();
    let note = want_async(vec![
        "example".into(),
        "note".into(),
        author.clone(),
        "--node".into(),
        url.clone(),
    ])
    .await
    .ok_json();
    assert_eq!(note["note"]["text"], "hello, chain");

    // The stream carries the module's events: the post (with its transaction) and, from the
    // end-of-block hook run by the kernel's schedule, the expiry (without one).
    let ws_url = format!(
        "{}/v1/events?from_height={posted_at}&kinds=example_event",
        url.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    let mut seen_post = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    let expired = loop {
        assert!(Instant::now() < deadline, "no NoteExpired on the stream");
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a stream message")
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        assert_eq!(v["type"], "example_event", "{v}");
        match v["event"]["type"].as_str() {
            Some("NotePosted") => {
                assert!(v["tx_id"].is_string(), "{v}");
                seen_post = true;
            }
            Some("NoteExpired") => break v,
            other => panic!("unexpected event {other:?}: {v}"),
        }
    };
    assert!(seen_post);
    assert!(expired["tx_id"].is_null(), "{expired}");
    assert_eq!(expired["event"]["author"], author.as_str());
    let r = http
        .get(format!("{url}/v1/example/notes/{author}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // Its routes are in the document, its metrics under its prefix.
    let doc: Value = http
        .get(format!("{url}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["paths"]["/v1/example/notes/{address}"].is_object());
    let metrics = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("want_example_notes_posted_total 1"),
        "{metrics}"
    );
    node.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_not_yet_active_is_refused_with_its_height() {
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = start(&dir.path().join("data"), 1_000, 1_000_000).await;
    let key = dev_key_file(dir.path());
    let status: Value = reqwest::get(format!("{url}/v1/status"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["activations"]["example"], 1_000_000);
    let msg = want_async(
        [
            "example",
            "post",
            "--text",
            "too early",
            "--key-file",
            &key,
            "--node",
            &url,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )
    .await
    .err_code("module_inactive");
    assert!(msg.contains("1000000"), "{msg}");
    node.stop().await.unwrap();
}
