//! A node whose state diverged from its cluster's majority serves none of it: this test walks
//! every route of the router (the OpenAPI document the router is built with, and the consumer
//! tag pages) and checks that each one serving state answers `503 state_diverged`, while the
//! kernel's routes that do not serve state (blocks, certificates, status, members' traffic,
//! metrics, the stream) stay available.

use crate::common;

use std::collections::BTreeSet;

use common::*;
use reqwest::Method;
use serde_json::Value;
use want_node::kernel::certs::{Divergence, VotedState};
use want_node::Genesis;
use want_types::Hash32;

/// A value for a path parameter, by its name.
fn example(name: &str) -> String {
    match name {
        "address" | "spender" => dev_key().address().to_string(),
        "height" => "1".into(),
        "id" => "00".repeat(32),
        "event" => "00".repeat(32),
        "product" => want_node::trace::urlencode("urn:epc:id:sgtin:0614141.107346.2017"),
        "org" => "dev".into(),
        "cid" => "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy".into(),
        "gtin" => "00614141107346".into(),
        "serial" => "2017".into(),
        "handle" => "corner-shop".into(),
        "hash" => "00".repeat(32),
        "currency" => "USD".into(),
        other => panic!("the walk has no example for path parameter {other}: add one"),
    }
}

/// Every (method, path) the document describes, with its parameters filled in.
fn operations(doc: &Value) -> Vec<(Method, String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().expect("path item") {
            let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else {
                continue;
            };
            let mut filled = path.clone();
            while let Some(start) = filled.find('{') {
                let end = filled[start..].find('}').expect("closing brace") + start;
                let name = filled[start + 1..end].to_string();
                filled.replace_range(start..=end, &example(&name));
            }
            out.push((m, path.clone(), filled));
        }
    }
    out
}

/// The paths that serve no state, written out: a new route left outside the divergence guard
/// fails this test until it is added here on purpose. (`/v1/events` is outside the guard but
/// refuses its receipts and events itself; `?full=true` of the block routes likewise.)
const STATELESS: &[&str] = &[
    "/healthz",
    "/metrics",
    "/v1/admin/faults",
    "/v1/admin/storage",
    "/v1/blocks/latest",
    "/v1/blocks/{height}",
    "/v1/blocks/{height}/certificate",
    "/v1/cluster/membership/history",
    "/v1/cluster/rpc",
    "/v1/cluster/votes",
    "/v1/cluster/votes/{height}",
    "/v1/status",
    "/v1/sync/blocks",
    "/v1/sync/headers",
    "/v1/sync/votes",
];

/// The paths of the routes the router leaves outside the divergence guard.
fn unguarded_paths() -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    for doc in [
        want_node::api::kernel::routes().into_openapi(),
        want_node::api::stream::routes().into_openapi(),
    ] {
        paths.extend(doc.paths.paths.keys().cloned());
    }
    paths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diverged_node_refuses_every_route_that_serves_state() {
    let dir = tempdir();
    // A chain with one block, then a divergence recorded as the certificate check does.
    let n = start_dev(dir.path()).await;
    n.commit(&transfer(&dev_key(), 0, new_key().address(), 1_000))
        .await;
    n.stop().await;
    {
        let store = want_storage::Store::open(dir.path()).unwrap();
        let d = Divergence {
            height: 1,
            ours: VotedState {
                block_hash: Hash32([1; 32]),
                state_root: Hash32([2; 32]),
            },
            majority: VotedState {
                block_hash: Hash32([3; 32]),
                state_root: Hash32([4; 32]),
            },
            majority_signers: vec!["00".repeat(32)],
        };
        store
            .record_divergence(&borsh::to_vec(&d).unwrap())
            .unwrap();
    }
    let n = start_node_with(dir.path(), Genesis::dev(), |_| {})
        .await
        .unwrap();
    assert_eq!(n.get_ok("/v1/status").await["divergence"]["height"], 1);

    let doc = n.get_ok("/openapi.json").await;
    let stateless: BTreeSet<String> = STATELESS.iter().map(|p| p.to_string()).collect();
    let mut expected_unguarded = stateless.clone();
    expected_unguarded.insert("/v1/events".into());
    assert_eq!(
        unguarded_paths(),
        expected_unguarded,
        "a route outside the divergence guard: guard it, or list it in STATELESS if it serves no state"
    );
    let ops = operations(&doc);
    let mut refused = 0;
    let mut served = 0;
    for (method, path, url) in &ops {
        let r = n
            .http
            .request(method.clone(), n.url(url))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        let diverged = status == 503 && text.contains("\"state_diverged\"");
        if stateless.contains(path) {
            assert!(
                !diverged,
                "{method} {path} serves no state and must stay available: {status} {text}"
            );
            served += 1;
        } else {
            assert!(
                diverged,
                "{method} {path} serves state: it must answer 503 state_diverged, got {status} {text}"
            );
            refused += 1;
        }
    }
    // What this node's execution produced: blocks with their receipts, and the stream's
    // receipts and events; the blocks alone and the stream of blocks stay available.
    for path in [
        "/v1/blocks/1?full=true",
        "/v1/blocks/latest?full=true",
        "/v1/events?kinds=receipt",
        "/v1/events?kinds=token_event",
    ] {
        let (status, v) = n.get(path).await;
        assert_eq!(status, 503, "{path}: {v}");
        assert_eq!(v["error"]["code"], "state_diverged", "{path}");
        refused += 1;
    }
    let (status, v) = n.get("/v1/blocks/1").await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = n.get("/v1/events?kinds=block").await;
    assert_eq!(v["error"]["code"], "websocket_required", "{status} {v}");
    // The consumer tag pages of every primary key (catch-all routes, any qualifiers).
    for ai in want_node::trace::api::TAG_PAGE_AIS {
        let (status, v) = n.get(&format!("/{ai}/00614141107346/21/2017")).await;
        assert_eq!(status, 503, "/{ai}/…: {v}");
        assert_eq!(v["error"]["code"], "state_diverged", "/{ai}/…");
        refused += 1;
    }
    // Sanity: the walk covered every module (accounts, trace, capture, blobs) and the kernel.
    for must in [
        "/v1/accounts/{address}",
        "/v1/token",
        "/v1/transactions",
        "/v1/trace/events",
        "/v1/trace/verify/{product}",
        "/v1/epcis/capture",
        "/v1/blobs",
        "/v1/status",
        "/v1/blocks/{height}",
    ] {
        assert!(
            ops.iter().any(|(_, p, _)| p == must),
            "the document lacks {must}"
        );
    }
    assert!(
        refused >= 20 && served >= 10,
        "{refused} refused, {served} served"
    );
    n.stop().await;
}
