//! Heavy reads on a real node: lineage and event pages over records naming thousands of
//! products answer within their stated bounds (flagging what they left out), a saturated read
//! pool answers `503 busy` while transfers still commit, and the event stream replays the chain
//! from height 0 a chunk at a time through the read pool.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};
use want_node::trace::urlencode;
use want_node::Genesis;
use want_types::Address;

/// Inputs of each transformation in the lineage test: three of them into one output name more
/// products upstream of it than a lineage answer lists.
const INPUTS_PER_TRANSFORMATION: usize = 4_000;
/// Transformations into the one output.
const TRANSFORMATIONS: usize = 3;
/// The output every transformation makes.
const OUTPUT: &str = "urn:epc:id:sgtin:4012345.077889.1";

fn input(t: usize, k: usize) -> String {
    format!(
        "urn:epc:id:sgtin:4012345.011122.{}",
        t * INPUTS_PER_TRANSFORMATION + k
    )
}

fn norm(s: &str) -> String {
    want_epcis::normalize_identifier(s).unwrap()
}

/// The products an events page carries, summed over its records.
fn page_products(v: &Value) -> usize {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["products"].as_array().unwrap().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineage_and_event_pages_over_thousands_of_products_answer_within_their_bounds() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let events: Vec<Value> = (0..TRANSFORMATIONS)
        .map(|t| {
            let inputs: Vec<String> = (0..INPUTS_PER_TRANSFORMATION)
                .map(|k| input(t, k))
                .collect();
            json!({"type": "TransformationEvent",
                "eventTime": format!("2024-01-01T0{t}:00:00Z"), "eventTimeZoneOffset": "+00:00",
                "inputEPCList": inputs, "outputEPCList": [OUTPUT], "bizStep": "commissioning"})
        })
        .collect();
    let doc = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": events}
    });
    let (s, v) = n
        .post_raw("/v1/epcis/capture", serde_json::to_vec(&doc).unwrap())
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let output = norm(OUTPUT);

    // Upstream of the output: 12,000 inputs, of which the answer lists the bound, and says so.
    let v = n
        .get_ok(&format!("/v1/trace/lineage/{}?depth=3", urlencode(&output)))
        .await;
    let upstream = v["upstream"].as_array().unwrap();
    assert_eq!(
        upstream.len(),
        want_node::trace::query::LINEAGE_NODES_MAX,
        "upstream lists the most an answer lists"
    );
    assert_eq!(v["truncated"], true, "the answer says it left products out");
    assert!(v["downstream"].as_array().unwrap().is_empty());
    let listed: HashSet<&str> = upstream.iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), upstream.len(), "each product once");
    let edges = v["edges"].as_array().unwrap();
    assert!(edges.len() <= want_node::trace::query::LINEAGE_EDGES_MAX);
    for e in edges {
        assert_eq!(e["to"], output.as_str());
        assert_eq!(e["kind"], "transformation");
        assert!(listed.contains(e["from"].as_str().unwrap()), "{e}");
    }

    // From one input: the output downstream, nothing left out.
    let first = norm(&input(0, 0));
    let v = n
        .get_ok(&format!("/v1/trace/lineage/{}?depth=3", urlencode(&first)))
        .await;
    let down: Vec<&str> = v["downstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(down, vec![output.as_str()]);
    assert!(v["upstream"].as_array().unwrap().is_empty());
    assert_eq!(v["truncated"], false);

    // Event pages stop before the record whose products would pass the bound, and go on from it.
    let products_max = want_state::trace::query::EVENTS_PRODUCTS_MAX;
    for filter in [
        "bizStep=commissioning".to_string(),
        format!("product={}", urlencode(&output)),
    ] {
        let first = n
            .get_ok(&format!("/v1/trace/events?{filter}&limit=1000"))
            .await;
        assert_eq!(first["events"].as_array().unwrap().len(), 2, "{filter}");
        assert!(page_products(&first) <= products_max, "{filter}");
        assert_eq!(first["truncated"], true, "{filter}");
        let next = first["next"]
            .as_u64()
            .expect("a cursor to the record left out");
        let rest = n
            .get_ok(&format!(
                "/v1/trace/events?{filter}&limit=1000&cursor={next}"
            ))
            .await;
        assert_eq!(rest["events"].as_array().unwrap().len(), 1, "{filter}");
        assert_eq!(rest["truncated"], false, "{filter}");
        assert!(rest["next"].is_null(), "{filter}: {}", rest["next"]);
        let seen: HashSet<&str> = first["events"]
            .as_array()
            .unwrap()
            .iter()
            .chain(rest["events"].as_array().unwrap())
            .map(|e| e["eventHash"].as_str().unwrap())
            .collect();
        assert_eq!(seen.len(), TRANSFORMATIONS, "{filter}: every record once");
    }
    n.stop().await;
}

/// A metric's value in `/metrics`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_read_pool_answers_busy_while_a_transfer_still_commits() {
    let dir = tempdir();
    let n = start_node_with(dir.path(), Genesis::dev(), |c| c.http.reads_max = 1)
        .await
        .expect("start");
    let held = n
        .node
        .shared
        .reads
        .hold_all_for_test()
        .expect("an idle pool is held");
    for path in [
        "/v1/blocks/latest",
        "/v1/trace/events",
        "/v1/sync/headers?from=0&count=1",
    ] {
        let (status, v) = n.get(path).await;
        assert_error(&(status, v.clone()), 503, "busy");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("retry"),
            "{v}"
        );
    }
    // Admission, consensus and execution never wait for the read pool.
    let stx = transfer(&dev_key(), 0, Address::system("shop"), 1_000);
    let committed = n.commit(&stx).await;
    let height = committed["block_height"].as_u64().unwrap();
    let metrics = n.get_text("/metrics").await;
    assert!(
        metric(&metrics, "want_reads_busy_total") >= 3.0,
        "{metrics}"
    );
    assert!(
        metric(&metrics, "want_reads_waited_total") >= 3.0,
        "{metrics}"
    );
    drop(held);
    // Once the pool frees up, reads are served again; the block lists the stored ids.
    let v = n.get_ok(&format!("/v1/blocks/{height}")).await;
    assert_eq!(v["tx_ids"], json!([stx.id()]));
    assert_eq!(v["tx_count"], 1);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_replays_from_height_zero_in_chunks_through_the_read_pool() {
    let dir = tempdir();
    let chunk = want_node::api::stream::WS_REPLAY_CHUNK_BLOCKS;
    let n = start_node_with(dir.path(), Genesis::dev(), |c| {
        c.http.reads_max = 1;
        c.empty_blocks = true;
    })
    .await
    .expect("start");
    // More blocks than one chunk of the replay.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while n.height().await <= chunk + 2 {
        assert!(std::time::Instant::now() < deadline, "blocks are not made");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // One read of the replay covers at most one chunk.
    let kinds = want_node::api::stream::StreamKinds::all();
    let (node, k) = (n.node.clone(), kinds.clone());
    let (messages, after) = tokio::task::spawn_blocking(move || {
        want_node::api::stream::replay_chunk(&node, 0, u64::MAX, &k)
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(after, chunk, "a chunk stops at its blocks");
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.contains("\"type\":\"block\""))
            .count() as u64,
        chunk
    );

    // While the read pool is held, the replay waits (nothing is read on the async workers);
    // once it frees up, every block arrives in order from height 0.
    let held = n.node.shared.reads.hold_all_for_test().expect("held");
    let url = format!(
        "{}/v1/events?from_height=0&kinds=block",
        n.base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), ws.next()).await;
    assert!(
        early.is_err(),
        "a message arrived while the read pool was held: {early:?}"
    );
    drop(held);
    let target = chunk * 2 + 5;
    let mut expected = 0u64;
    while expected <= target {
        let msg = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("the replay goes on")
            .expect("open")
            .expect("a message");
        let text = msg.into_text().expect("text");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["type"], "block");
        assert_eq!(v["height"], expected, "in order, none missing");
        expected += 1;
    }
    n.stop().await;
}
