//! The OpenAPI document is complete and consistent (every reference resolves, every operation
//! has a unique id and describes its parameters and answers, every error answer is the `Error`
//! schema whose codes are the registry's, the bounds it states are the node's), and axum's own
//! rejections are JSON errors with registered codes. The document is validated and a live node
//! fuzzed against it by `crates/want-cli/tests/openapi_fuzz.rs`.

use crate::common;

use std::collections::{BTreeSet, HashSet};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// (path, method, operation) of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m.to_string(), op.clone()));
            }
        }
    }
    out
}

/// The parameter `name` of an operation.
fn param<'a>(op: &'a Value, name: &str) -> &'a Value {
    op["parameters"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no parameter {name} in {op}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_every_operation_with_its_types_and_errors() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let doc = n.get_ok("/openapi.json").await;
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");

    // Every reference resolves.
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    for r in &all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(schemas.contains_key(name), "{r} does not resolve");
    }

    // The error codes are the registry's, each once.
    let codes: BTreeSet<String> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode enum")
        .iter()
        .map(|c| c.as_str().expect("a code").to_string())
        .collect();
    let registered: BTreeSet<String> = want_node::error::registry()
        .into_iter()
        .map(|(_, c)| c.code.to_string())
        .collect();
    assert_eq!(codes, registered);
    assert_eq!(
        schemas["Error"]["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );

    let mut ids = HashSet::new();
    for (path, method, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let id = op["operationId"].as_str().unwrap_or_default().to_string();
        assert!(ids.insert(id.clone()), "{what}: operation id {id} twice");
        // Every path parameter is declared.
        for segment in path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let p = param(&op, name);
                assert_eq!(p["in"], "path", "{what}: {name}");
                assert!(p["schema"].is_object(), "{what}: {name} has no schema");
            }
        }
        // Every parameter has a schema; every request body has one per content type.
        for p in op["parameters"].as_array().into_iter().flatten() {
            assert!(p["schema"].is_object(), "{what}: {p} has no schema");
        }
        if let Some(body) = op.get("requestBody") {
            for (ct, c) in body["content"].as_object().expect("content") {
                assert!(
                    c["schema"].is_object(),
                    "{what}: request {ct} has no schema"
                );
            }
        }
        let responses = op["responses"].as_object().expect("responses");
        let mut success = false;
        for (status, r) in responses {
            let code: u16 = status.parse().expect("numeric status");
            let content = r["content"].as_object();
            if code == 101 {
                success = true;
                continue;
            }
            let content = content.unwrap_or_else(|| panic!("{what} {status}: no content"));
            for (ct, c) in content {
                assert!(c["schema"].is_object(), "{what} {status} {ct}: no schema");
                if code >= 400 && ct == "application/json" {
                    assert_eq!(
                        c["schema"]["$ref"], "#/components/schemas/Error",
                        "{what} {status}: errors are the Error schema"
                    );
                }
            }
            success |= code < 300;
        }
        assert!(success, "{what}: no success answer");
        for status in ["500", "503"] {
            assert!(responses.contains_key(status), "{what}: no {status}");
        }
    }

    // Bounds the document states are the node's.
    let faults = &schemas["FaultPlan"]["properties"];
    for field in [
        "drop_per_mille",
        "duplicate_per_mille",
        "corrupt_per_mille",
        "forge_per_mille",
    ] {
        assert_eq!(
            faults[field]["maximum"],
            want_consensus::net::faults::PER_MILLE,
            "{field}"
        );
    }
    assert_eq!(
        faults["delay_ms_max"]["maximum"],
        want_consensus::net::faults::FAULT_DELAY_MS_MAX
    );
    let op = |path: &str| &doc["paths"][path]["get"];
    let limits = [
        (
            "/v1/trace/events",
            "limit",
            want_state::trace::query::EVENTS_PAGE_MAX as u64,
        ),
        (
            "/v1/trace/records/{event}",
            "grantsLimit",
            want_state::trace::query::GRANTS_PAGE_MAX as u64,
        ),
        (
            "/v1/trace/orgs/{org}",
            "keysLimit",
            want_state::trace::query::KEYS_PAGE_MAX as u64,
        ),
        (
            "/v1/trace/lineage/{product}",
            "depth",
            u64::from(want_node::trace::query::LINEAGE_DEPTH_MAX),
        ),
    ];
    for (path, name, max) in limits {
        let s = &param(op(path), name)["schema"];
        assert_eq!(s["maximum"], max, "{path} {name}");
        assert_eq!(s["minimum"], 1, "{path} {name}");
    }
    assert_eq!(
        schemas["TxBatch"]["maxItems"],
        want_node::config::SUBMIT_BATCH_MAX
    );
    assert_eq!(
        schemas["VoteBatch"]["maxItems"],
        want_node::kernel::certs::VOTES_POST_MAX
    );
    // Integers carry the bounds of their type.
    let from = &param(op("/v1/sync/headers"), "from")["schema"];
    assert_eq!(from["format"], "uint64");
    assert_eq!(from["maximum"], u64::MAX);
    n.stop().await;
}

/// The body of an answer that must be a JSON error with `code` and `status`.
async fn json_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let ct = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(ct.starts_with("application/json"), "content type {ct}");
    let v: Value = r.json().await.expect("a JSON body");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_rejections_are_json_errors_with_registered_codes() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let get = |path: &str| n.http.get(n.url(path)).send();

    // A query that does not parse, an unknown query parameter.
    json_error(
        get("/v1/blocks/1?full=maybe").await.unwrap(),
        400,
        "invalid_query",
    )
    .await;
    json_error(
        get("/v1/trace/events?bogus=1").await.unwrap(),
        400,
        "invalid_query",
    )
    .await;
    json_error(
        get("/v1/sync/headers?from=-1&count=1").await.unwrap(),
        400,
        "invalid_query",
    )
    .await;
    // A path that is not UTF-8 once decoded.
    json_error(get("/v1/accounts/%FF").await.unwrap(), 400, "invalid_path").await;
    // The WebSocket route asked without an upgrade; and with a bad query first.
    json_error(get("/v1/events").await.unwrap(), 426, "websocket_required").await;
    json_error(
        get("/v1/events?kinds=nope").await.unwrap(),
        400,
        "invalid_query",
    )
    .await;
    // A method the path does not serve.
    let r = n.http.delete(n.url("/v1/status")).send().await.unwrap();
    json_error(r, 405, "method_not_allowed").await;
    // Bodies over the route's limit, and an empty blob.
    let big = vec![b'x'; want_node::api::TX_BODY_BYTES_MAX + 1];
    let r = n
        .http
        .post(n.url("/v1/transactions"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    json_error(r, 413, "tx_too_large").await;
    let r = n.http.put(n.url("/v1/blobs")).send().await.unwrap();
    json_error(r, 400, "invalid_body").await;
    // A member's message without its signed header is refused before its body is read.
    let r = n
        .http
        .post(n.url("/v1/cluster/rpc"))
        .body(vec![0u8; 16])
        .send()
        .await
        .unwrap();
    json_error(r, 403, "envelope_refused").await;
    // The node still serves.
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    n.stop().await;
}
