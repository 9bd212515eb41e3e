//! Traceability over the HTTP API of a real node: EPCIS capture of GS1's examples, read-back,
//! tamper detection, grants, lineage, roles and revocation, bad documents, personal data.

use crate::common;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use want_crypto::{PrivateKey, SigningKey};
use want_node::config::{dev_private_key, DEV_CHAIN_ID, DEV_ORG};
use want_node::trace::urlencode;
use want_node::Genesis;
use want_types::trace::{OrgKind, Permission, Role, TraceCall};

fn testdata() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/epcis/gs1/JSON");
    assert!(
        dir.is_dir(),
        "GS1 EPCIS examples not found at {} (the repository's testdata/epcis/gs1/JSON)",
        dir.display()
    );
    dir
}

fn jsonld_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read testdata dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            jsonld_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "jsonld") {
            out.push(p);
        }
    }
}

async fn capture(n: &TestNode, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    n.post_raw("/v1/epcis/capture", body).await
}

/// The node's identity (its Ed25519 public key), which signed blob reads are bound to.
async fn node_id(n: &TestNode) -> Vec<u8> {
    hex::decode(n.get_ok("/v1/status").await["node_id"].as_str().unwrap()).unwrap()
}

/// The headers of a read of `cid` signed by `key` at `t` for `chain_id` and the node `node`.
fn signed_read(
    cid: &str,
    key: &PrivateKey,
    chain_id: u64,
    node: &[u8],
    t: u64,
) -> [(&'static str, String); 2] {
    let digest = want_types::trace::blob_read_digest(
        chain_id,
        node,
        want_types::trace::BLOB_READ_METHOD,
        &want_types::trace::blob_read_path(cid),
        cid,
        t,
    );
    [
        ("X-Want-Time", t.to_string()),
        ("X-Want-Signature", hex::encode(key.sign_digest(&digest))),
    ]
}

/// Sends a blob read with the given headers.
async fn read_with(
    n: &TestNode,
    cid: &str,
    headers: &[(&'static str, String)],
) -> (StatusCode, Vec<u8>) {
    let mut req = n.http.get(n.url(&format!("/v1/blobs/{cid}")));
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    let r = req.send().await.unwrap();
    let s = r.status();
    (s, r.bytes().await.unwrap().to_vec())
}

/// Signs a blob read as `key` for this node and fetches it.
async fn fetch_blob(n: &TestNode, cid: &str, key: &PrivateKey) -> (StatusCode, Vec<u8>) {
    let node = node_id(n).await;
    read_with(
        n,
        cid,
        &signed_read(cid, key, DEV_CHAIN_ID, &node, now_ms()),
    )
    .await
}

/// The error code of a JSON error body.
fn error_code(body: &[u8]) -> String {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_signed_blob_read_is_served_once_and_only_by_the_node_and_chain_it_names() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let doc = std::fs::read(testdata().join("Example_9.6.1-ObjectEvent.jsonld")).unwrap();
    let (_, v) = capture(&n, doc).await;
    let event = v["events"][0]["eventHash"].as_str().unwrap().to_string();
    let cid = record(&n, &event).await["cid"]
        .as_str()
        .unwrap()
        .to_string();
    let owner = dev_private_key();
    let node = node_id(&n).await;

    // Someone who sees the owner's request cannot send it again.
    let headers = signed_read(&cid, &owner, DEV_CHAIN_ID, &node, now_ms());
    assert_eq!(read_with(&n, &cid, &headers).await.0, StatusCode::OK);
    let (s, body) = read_with(&n, &cid, &headers).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "blob_read_replayed");

    // A read signed for another node or another chain is not this node's to serve.
    let other_node = want_crypto::NodeKey::generate().public_key();
    let (s, body) = read_with(
        &n,
        &cid,
        &signed_read(&cid, &owner, DEV_CHAIN_ID, &other_node, now_ms()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "blob_access_denied");
    let (s, body) = read_with(
        &n,
        &cid,
        &signed_read(&cid, &owner, DEV_CHAIN_ID + 1, &node, now_ms()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(error_code(&body), "blob_access_denied");

    // A fresh signature reads again.
    assert_eq!(fetch_blob(&n, &cid, &owner).await.0, StatusCode::OK);
    n.stop().await;
}

async fn record(n: &TestNode, event_hash_id: &str) -> Value {
    n.get_ok(&format!("/v1/trace/records/{}", urlencode(event_hash_id)))
        .await
}

async fn verify(n: &TestNode, product: &str) -> Value {
    n.get_ok(&format!("/v1/trace/verify/{}", urlencode(product)))
        .await
}

/// Opens a record with the owner's key (the dev key is the dev organisation's encryption key).
async fn open_as_owner(n: &TestNode, event_hash_id: &str) -> Value {
    let rec = record(n, event_hash_id).await;
    let key = dev_private_key();
    let (s, blob) = fetch_blob(n, rec["cid"].as_str().unwrap(), &key).await;
    assert_eq!(s, StatusCode::OK);
    let wrapped = hex::decode(rec["ownerWrappedKey"].as_str().unwrap()).unwrap();
    let rk = want_crypto::unwrap_key(&key, &wrapped).unwrap();
    let opened = want_records::open_record(
        &blob,
        &rk,
        &rec["recordHash"].as_str().unwrap().parse().unwrap(),
        &rec["signer"].as_str().unwrap().parse().unwrap(),
        &want_types::trace::parse_event_hash_id(event_hash_id).unwrap(),
    )
    .expect("the owner opens an authentic record");
    opened.event.to_json()
}

/// Funds `key` for fees and has the administrator (the dev key) register organisation `org` of
/// `kind`, sealed to `key`, with `key` as its one department key holding `roles`.
async fn org_with_key(
    n: &TestNode,
    org: &str,
    kind: OrgKind,
    key: &PrivateKey,
    roles: Vec<Role>,
) -> SigningKey {
    let dev = dev_key();
    let signer = SigningKey::Secp256k1(key.clone());
    let nonce = n.nonce(&dev.address()).await;
    n.commit(&transfer(&dev, nonce, signer.address(), 1_000_000_000))
        .await;
    send_ok(
        n,
        &dev,
        TraceCall::RegisterOrg {
            org: org.into(),
            name: format!("Organisation {org}"),
            kind,
            encryption_key: key.public_key_compressed().to_vec(),
        },
    )
    .await;
    send_ok(
        n,
        &dev,
        TraceCall::AddKey {
            org: org.into(),
            key: signer.address(),
            department: "desk".into(),
            roles,
        },
    )
    .await;
    signer
}

/// Sends a trace call as `key` and waits for its receipt.
async fn send(n: &TestNode, key: &SigningKey, call: TraceCall) -> (StatusCode, Value) {
    let nonce = n.nonce(&key.address()).await;
    n.submit(&signed_call(key, nonce, call), true).await
}

async fn send_ok(n: &TestNode, key: &SigningKey, call: TraceCall) {
    let (s, v) = send(n, key, call).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["receipt"]["status"], "success", "{v}");
}

#[tokio::test]
async fn every_gs1_example_document_is_captured_and_reads_back_equal_in_meaning() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let mut files = Vec::new();
    jsonld_files(&testdata(), &mut files);
    assert!(files.len() >= 40, "only {} example files", files.len());
    let mut seen: HashSet<String> = HashSet::new();
    let mut captured = 0usize;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let parsed = want_epcis::parse_capture(&bytes)
            .unwrap_or_else(|e| panic!("{}: {} at {}", file.display(), e.message, e.path));
        let ids: Vec<String> = parsed.events.iter().map(|e| e.hash_id()).collect();
        let fresh: Vec<usize> = (0..ids.len())
            .filter(|i| !seen.contains(&ids[*i]))
            .collect();
        if fresh.len() == ids.len() && ids.iter().collect::<HashSet<_>>().len() == ids.len() {
            let (s, v) = capture(&n, bytes.clone()).await;
            assert_eq!(s, StatusCode::OK, "{}: {v}", file.display());
            let got: Vec<&str> = v["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["eventHash"].as_str().unwrap())
                .collect();
            assert_eq!(got, ids, "{}: hash IDs in document order", file.display());
        } else if ids.iter().collect::<HashSet<_>>().len() == ids.len()
            && (0..ids.len())
                .all(|i| !seen.contains(&ids[i]) || parsed.events[i].error_declaration().is_some())
        {
            // A correction: each repeated event declares the captured one erroneous (EPCIS
            // errorDeclaration), recorded against it instead of refused as a duplicate.
            let (s, v) = capture(&n, bytes.clone()).await;
            assert_eq!(s, StatusCode::OK, "{}: {v}", file.display());
            let events = v["events"].as_array().unwrap();
            assert_eq!(events.len(), ids.len(), "{}: {v}", file.display());
            for (i, e) in events.iter().enumerate() {
                assert_eq!(e["eventHash"], ids[i].as_str(), "{}", file.display());
                assert_eq!(
                    e["declaredErroneous"].as_bool().unwrap_or(false),
                    parsed.events[i].error_declaration().is_some(),
                    "{}: {v}",
                    file.display()
                );
            }
            for id in &ids {
                if seen.insert(id.clone()) {
                    captured += 1;
                }
            }
            continue;
        } else {
            // GS1 repeats some events across files: the document is refused as a re-submission
            // and nothing of it is stored; its new events are captured one by one.
            let (s, v) = capture(&n, bytes.clone()).await;
            assert_eq!(s, StatusCode::CONFLICT, "{}: {v}", file.display());
            assert_eq!(v["error"]["code"], "duplicate_event");
            assert!(v["error"]["path"].as_str().unwrap().starts_with('$'), "{v}");
            for i in fresh {
                if seen.contains(&ids[i]) {
                    continue;
                }
                let single = serde_json::to_vec(&parsed.events[i].to_json()).unwrap();
                let (s, v) = capture(&n, single).await;
                assert_eq!(s, StatusCode::OK, "{} event {i}: {v}", file.display());
                seen.insert(ids[i].clone());
                captured += 1;
            }
            continue;
        }
        for (i, id) in ids.iter().enumerate() {
            seen.insert(id.clone());
            captured += 1;
            // Read back: the owner decrypts the stored record; it is the same event.
            let back = open_as_owner(&n, id).await;
            assert_eq!(
                back,
                parsed.events[i].to_json(),
                "{} event {i} read back differs",
                file.display()
            );
        }
    }
    assert!(captured >= 40, "captured {captured} events");
    let page = n.get_ok("/v1/trace/events?limit=1000").await;
    assert_eq!(page["events"].as_array().unwrap().len(), captured);
    n.stop().await;
}

#[tokio::test]
async fn bad_documents_are_refused_with_the_path_of_the_first_problem_and_nothing_stored() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("malformed_json", b"{\"type\": \"EPCISDocument\",".to_vec(), "$"),
        (
            "missing_field",
            serde_json::to_vec(&json!({"type": "ObjectEvent", "eventTime": "2020-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "epcList": []})).unwrap(),
            "$.@context",
        ),
        (
            "unknown_event_type",
            serde_json::to_vec(&json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2020-01-01T00:00:00Z", "epcisBody": {"eventList": [{"type": "SensorEvent", "eventTime": "2020-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00"}]}})).unwrap(),
            "$.epcisBody.eventList[0].type",
        ),
        (
            "invalid_time",
            serde_json::to_vec(&json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "ObjectEvent", "eventTime": "yesterday", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "epcList": []})).unwrap(),
            "$.eventTime",
        ),
        (
            "invalid_identifier",
            serde_json::to_vec(&json!({"@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"], "type": "ObjectEvent", "eventTime": "2020-01-01T00:00:00Z", "eventTimeZoneOffset": "+00:00", "action": "OBSERVE", "epcList": ["urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/00614141107349/21/1"]})).unwrap(),
            "$.epcList[1]",
        ),
    ];
    for (code, body, path) in cases {
        let (s, v) = capture(&n, body).await;
        assert!(s.is_client_error(), "{code}: {s} {v}");
        assert_eq!(v["error"]["code"], code, "{v}");
        assert_eq!(v["error"]["path"], path, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let page = n.get_ok("/v1/trace/events").await;
    assert_eq!(page["events"], json!([]));
    assert_eq!(n.height().await, 0, "no transaction was made");
    let blobs = std::fs::read_dir(dir.path().join("blobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(blobs, 0, "no blob was stored");
    // The limits are advertised as EPCIS does.
    let r = n
        .http
        .request(reqwest::Method::OPTIONS, n.url("/v1/epcis/capture"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["GS1-EPCIS-Capture-Limit"],
        want_epcis::CAPTURE_EVENTS_MAX.to_string()
    );
    n.stop().await;
}

/// One ObjectEvent naming `n` SGTINs with serials from `first`.
fn portal_read(first: u64, n: u64, minute: u32) -> Vec<u8> {
    let epcs: Vec<String> = (first..first + n)
        .map(|s| format!("urn:epc:id:sgtin:0614141.107346.{s}"))
        .collect();
    serde_json::to_vec(&json!({
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "ObjectEvent",
        "eventTime": format!("2026-11-30T10:{minute:02}:00.000+08:00"),
        "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE",
        "bizStep": "shipping",
        "epcList": epcs,
    }))
    .unwrap()
}

#[tokio::test]
async fn a_capture_token_keeps_strangers_from_having_the_node_sign() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.path()).unwrap();
    let key_file = dir.path().join("capture-key.hex");
    want_node::write_secret_file(&key_file, &dev_private_key().to_hex()).unwrap();
    let token_file = dir.path().join("capture-token");
    want_node::write_secret_file(&token_file, "7f3a9c0d51e24b8fa6d2c4e1").unwrap();
    let n = start_node_with(dir.path(), Genesis::dev(), |c| {
        c.capture = Some(want_node::trace::capture::CaptureConfig {
            org: DEV_ORG.into(),
            key_file,
            token_file: Some(token_file),
            publish_non_gs1_places: false,
            confirm_orders: false,
        })
    })
    .await
    .expect("start capturing node");
    let post = |authorization: Option<&'static str>| {
        let mut req = n
            .http
            .post(n.url("/v1/epcis/capture"))
            .body(portal_read(7_000, 3, 7));
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    for refused in [
        None,
        Some("Bearer wrong-token-0123456789"),
        Some("7f3a9c0d51e24b8fa6d2c4e1"),
    ] {
        let (s, v) = post(refused).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{refused:?}: {v}");
        assert_eq!(v["error"]["code"], "capture_unauthorized");
    }
    let page = n.get_ok("/v1/trace/events").await;
    assert_eq!(
        page["events"].as_array().unwrap().len(),
        0,
        "nothing signed"
    );
    let (s, v) = post(Some("Bearer 7f3a9c0d51e24b8fa6d2c4e1")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    n.stop().await;
}

#[tokio::test]
async fn overlapping_captures_anchor_each_event_once_and_refuse_a_repeat_in_flight() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let signer = dev_private_key().address();
    let before = n.nonce(&signer).await;

    // Three different reads at once: all anchored (they may share a block).
    let (a, b, c) = tokio::join!(
        capture(&n, portal_read(1_000, 1_700, 1)),
        capture(&n, portal_read(10_000, 1_700, 2)),
        capture(&n, portal_read(20_000, 1_700, 3)),
    );
    for (s, v) in [&a, &b, &c] {
        assert_eq!(*s, StatusCode::OK, "{v}");
    }
    assert_eq!(n.nonce(&signer).await, before + 3);
    let product = "https://id.gs1.org/01/10614141073464/21/10000";
    assert_eq!(verify(&n, product).await["verdict"], "authentic");

    // The same read twice at once: one anchors it, the other is refused as a duplicate
    // (at once, or by the committed state if it came second) — never a failed, fee-paying
    // transaction.
    let body = portal_read(30_000, 1_700, 4);
    let (x, y) = tokio::join!(capture(&n, body.clone()), capture(&n, body));
    let mut outcomes = [x, y];
    outcomes.sort_by_key(|(s, _)| *s);
    assert_eq!(outcomes[0].0, StatusCode::OK, "{}", outcomes[0].1);
    assert_eq!(outcomes[1].0, StatusCode::CONFLICT, "{}", outcomes[1].1);
    assert_eq!(outcomes[1].1["error"]["code"], "duplicate_event");
    assert_eq!(outcomes[1].1["error"]["path"], "$");
    assert_eq!(
        n.nonce(&signer).await,
        before + 4,
        "exactly one more anchor transaction"
    );
    let page = n.get_ok("/v1/trace/events?limit=100").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 4);
    n.stop().await;
}

const ITEM: &str = "https://id.gs1.org/01/10614141073464/21/2017";

#[tokio::test]
async fn an_edited_blob_or_anchor_is_reported_tampered() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let doc = std::fs::read(testdata().join("Example_9.6.1-ObjectEvent.jsonld")).unwrap();
    let (s, v) = capture(&n, doc).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let v = verify(&n, ITEM).await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    let check = want_records::check_report(&v, ITEM).unwrap();
    assert_eq!(check.verdict, "authentic");
    assert_eq!(check.records, 1);

    // Edit the sealed record on disk.
    let cid = v["events"][0]["cid"].as_str().unwrap().to_string();
    let trace = want_node::trace::TraceNode::of(&n.node).unwrap();
    let path = trace.blobs.path_of(&cid).unwrap();
    let original = std::fs::read(&path).unwrap();
    let mut edited = original.clone();
    let last = edited.len() - 1;
    edited[last] ^= 1;
    std::fs::write(&path, &edited).unwrap();
    let v = verify(&n, ITEM).await;
    assert_eq!(v["verdict"], "tampered", "{v}");
    assert_eq!(v["failure"]["reason"], "blob_tampered");
    assert_eq!(v["events"][0]["blob"], "tampered");
    assert_eq!(
        want_records::check_report(&v, ITEM).unwrap().verdict,
        "tampered"
    );
    let (s, _) = fetch_blob(&n, &cid, &dev_private_key()).await;
    assert!(s.is_server_error(), "a tampered blob is never served: {s}");
    std::fs::write(&path, &original).unwrap();
    assert_eq!(verify(&n, ITEM).await["verdict"], "authentic");

    // Edit the product's stored anchor in the database.
    let key = want_state::trace::state::product_info_key(ITEM);
    let snap = n.node.shared.store.snapshot().unwrap();
    let mut info = want_state::trace::state::product(&snap, ITEM)
        .unwrap()
        .unwrap();
    drop(snap);
    info.anchor = want_types::Hash32([7; 32]);
    n.node
        .shared
        .store
        .tamper_state_for_test(&key, &borsh::to_vec(&info).unwrap())
        .unwrap();
    let v = verify(&n, ITEM).await;
    assert_eq!(v["verdict"], "tampered", "{v}");
    assert_eq!(v["failure"]["reason"], "anchor_mismatch");
    assert_eq!(
        want_records::check_report(&v, ITEM).unwrap().verdict,
        "tampered"
    );

    // (The anchor stays edited: a record's failure is reported before the anchor's.)
    // Edit a stored record's public place: it no longer matches what was anchored.
    let id: want_types::Hash32 = v["events"][0]["recordId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let rkey = want_state::trace::state::record_key(&id);
    let snap = n.node.shared.store.snapshot().unwrap();
    let mut rec = want_state::trace::state::record_header(&snap, &id)
        .unwrap()
        .unwrap();
    drop(snap);
    rec.public.location = Some("urn:epc:id:sgln:0000000.00000.0".into());
    n.node
        .shared
        .store
        .tamper_state_for_test(&rkey, &borsh::to_vec(&rec).unwrap())
        .unwrap();
    let v = verify(&n, ITEM).await;
    assert_eq!(v["verdict"], "tampered", "{v}");
    assert_eq!(v["failure"]["reason"], "record_mismatch", "{v}");
    assert_eq!(
        want_records::check_report(&v, ITEM).unwrap().verdict,
        "tampered"
    );

    // A product nobody recorded is unknown.
    let v = verify(&n, "https://id.gs1.org/01/09521234543213/21/404").await;
    assert_eq!(v["verdict"], "unknown");
    n.stop().await;
}

/// An edit of a verification report.
type Alteration<'a> = Box<dyn Fn(&mut Value) + 'a>;

#[tokio::test]
async fn a_verify_report_proves_each_record_with_one_chunk_and_fails_the_client_check_when_altered()
{
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    // Two portal reads of 40 items each; the item 1035 is in both (position 35, then 5).
    for (first, minute) in [(1_000, 1), (1_030, 2)] {
        let (s, v) = capture(&n, portal_read(first, 40, minute)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let item = "https://id.gs1.org/01/10614141073464/21/1035";
    let v = verify(&n, item).await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    let check = want_records::check_report(&v, item).unwrap();
    assert_eq!((check.verdict, check.records), ("authentic", 2));
    for (i, chunk_len) in [(0, 8), (1, 16)] {
        let e = &v["events"][i];
        assert_eq!(e["productCount"], 40);
        assert_eq!(e["relation"], "epc");
        assert!(
            e.get("products").is_none(),
            "the report does not list every item"
        );
        let chunk = e["proof"]["products"].as_array().unwrap();
        assert_eq!(chunk.len(), chunk_len, "{e}");
        assert!(chunk.iter().any(|p| p["id"] == item));
    }
    for proof in v["proofs"].as_object().unwrap().values() {
        assert!(
            proof.get("transaction").is_none(),
            "no whole transaction: {proof}"
        );
        assert_eq!(proof["anchorTx"]["records"], 1);
    }

    // A node (or anyone on the way) that alters any part of the proofs is caught by the client.
    let tx = v["events"][0]["tx"].as_str().unwrap().to_string();
    let alterations: Vec<(&str, Alteration)> = vec![
        (
            "another item in the chunk",
            Box::new(|r: &mut Value| {
                r["events"][0]["proof"]["products"][0]["id"] = json!(item);
            }),
        ),
        (
            "the item's relation",
            Box::new(|r: &mut Value| {
                r["events"][0]["proof"]["products"][3]["relation"] = json!("parent");
            }),
        ),
        (
            "the chunk's path",
            Box::new(|r: &mut Value| {
                r["events"][1]["proof"]["productsPath"]["index"] = json!(1);
            }),
        ),
        (
            "the record's CID",
            Box::new(|r: &mut Value| {
                let cid = r["events"][0]["proof"]["record"]["cid"]
                    .as_str()
                    .unwrap()
                    .to_string();
                r["events"][0]["proof"]["record"]["cid"] = json!(format!("{cid}a"));
                r["events"][0]["cid"] = json!(format!("{cid}a"));
            }),
        ),
        (
            "the record's count of products",
            Box::new(|r: &mut Value| {
                r["events"][0]["proof"]["record"]["public"]["products"]["count"] = json!(41);
            }),
        ),
        (
            "the claimed record hash",
            Box::new(|r: &mut Value| {
                r["events"][1]["recordHash"] = json!(want_types::Hash32([5; 32]));
            }),
        ),
        (
            "the transaction's fee",
            Box::new(move |r: &mut Value| {
                r["proofs"][&tx]["anchorTx"]["fee"] = json!("1");
            }),
        ),
        (
            "the reported relation",
            Box::new(|r: &mut Value| {
                r["events"][0]["relation"] = json!("parent");
            }),
        ),
        (
            "the reported product count",
            Box::new(|r: &mut Value| {
                r["events"][0]["productCount"] = json!(39);
            }),
        ),
        (
            "the reported organisation",
            Box::new(|r: &mut Value| {
                r["events"][0]["org"] = json!("someone-else");
            }),
        ),
        (
            "the record's index in its transaction",
            Box::new(|r: &mut Value| {
                r["events"][0]["index"] = json!(1);
                r["events"][0]["proof"]["recordPath"]["index"] = json!(1);
            }),
        ),
        (
            "the block's transaction count",
            Box::new(|r: &mut Value| {
                let proofs = r["proofs"].as_object_mut().unwrap();
                let proof = proofs.values_mut().next().unwrap();
                proof["merkle"]["tree_size"] = json!(2);
            }),
        ),
        (
            "a missing record proof",
            Box::new(|r: &mut Value| {
                r["events"][1].as_object_mut().unwrap().remove("proof");
            }),
        ),
    ];
    // A genuine report about another item is not a report about this one.
    let other = "https://id.gs1.org/01/10614141073464/21/1034";
    let check = want_records::check_report(&v, other).unwrap();
    assert_eq!(check.verdict, "tampered", "{:?}", check.problem);
    for (what, alter) in alterations {
        let mut altered = v.clone();
        alter(&mut altered);
        let check = want_records::check_report(&altered, item).unwrap();
        assert_eq!(check.verdict, "tampered", "{what}: {:?}", check.problem);
    }

    // Exhaustively: a change of any single value of the report the client can check makes it
    // refuse the report (an error) or find it tampered; never a panic.
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| leaves(x, format!("{at}/{k}"), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
            _ => out.push(at),
        }
    }
    let mut pointers = Vec::new();
    leaves(&v, String::new(), &mut pointers);
    // What only the node can know, or says only for information (who may extend the history
    // and the records kept apart are the node's word: no proof covers them).
    let informational = |p: &str| {
        ["/verdict", "/message", "/tookMs", "/recomputedAnchor"].contains(&p)
            || p.starts_with("/endorsers")
            || p.starts_with("/unendorsed")
            || p.ends_with("/seq")
            || p.ends_with("/blob")
    };
    let mut checked = 0;
    for pointer in pointers.iter().filter(|p| !informational(p)) {
        let mut altered = v.clone();
        let leaf = altered.pointer_mut(pointer).unwrap();
        *leaf = match leaf.clone() {
            Value::String(s) => json!(format!("{s}0")),
            Value::Number(n) => json!(n.as_f64().unwrap_or(0.0) as i64 + 1),
            Value::Bool(b) => json!(!b),
            Value::Null => json!("x"),
            _ => unreachable!("leaves are scalars"),
        };
        if let Ok(check) = want_records::check_report(&altered, item) {
            assert_eq!(
                check.verdict, "tampered",
                "{pointer} changed went unnoticed"
            );
        }
        checked += 1;
    }
    assert!(checked > 100, "{checked} values checked");
    n.stop().await;
}

#[tokio::test]
async fn old_blobs_no_record_references_are_collected_and_the_rest_kept() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let (s, v) = capture(&n, portal_read(9_000, 5, 9)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let rec = record(&n, v["events"][0]["eventHash"].as_str().unwrap()).await;
    let anchored = rec["cid"].as_str().unwrap().to_string();
    let dev = dev_private_key();
    let put = |bytes: &'static [u8]| {
        let (n, dev) = (&n, &dev);
        async move {
            let (s, v) = n.put_blob_signed(dev, bytes.to_vec()).await;
            assert_eq!(s, StatusCode::CREATED, "{v}");
            v["cid"].as_str().unwrap().to_string()
        }
    };
    let orphan = put(b"uploaded, never anchored").await;
    let stored_again = put(b"uploaded, anchored later").await;
    let trace = want_node::trace::TraceNode::of(&n.node).unwrap();
    let blobs = &trace.blobs;
    let three_days_ago = std::time::SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
    for cid in [&anchored, &orphan, &stored_again] {
        std::fs::File::options()
            .write(true)
            .open(blobs.path_of(cid).unwrap())
            .unwrap()
            .set_modified(three_days_ago)
            .unwrap();
    }
    // Storing a blob again makes it young again (a record is about to reference it).
    assert_eq!(put(b"uploaded, anchored later").await, stored_again);
    let deleted =
        want_node::trace::blob_repair::collect_orphans(&n.node.shared, &trace, want_node::now_ms())
            .unwrap();
    assert_eq!(deleted, 1);
    assert!(!blobs.contains(&orphan).unwrap(), "the old orphan is gone");
    assert!(blobs.contains(&stored_again).unwrap());
    assert!(
        blobs.contains(&anchored).unwrap(),
        "an anchored record's blob is kept"
    );
    let v = verify(&n, "https://id.gs1.org/01/10614141073464/21/9000").await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    assert_eq!(v["events"][0]["blob"], "intact");
    n.stop().await;
}

#[tokio::test]
async fn grants_open_a_record_until_they_expire_or_are_revoked() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let doc = std::fs::read(testdata().join("Example_9.6.1-ObjectEvent.jsonld")).unwrap();
    let (_, v) = capture(&n, doc).await;
    let event = v["events"][0]["eventHash"].as_str().unwrap().to_string();
    let rec = record(&n, &event).await;
    let cid = rec["cid"].as_str().unwrap().to_string();
    let owner = dev_private_key();
    let partner = PrivateKey::generate();

    // The owner reads; a stranger is refused whatever it signs.
    assert_eq!(fetch_blob(&n, &cid, &owner).await.0, StatusCode::OK);
    assert_eq!(
        fetch_blob(&n, &cid, &partner).await.0,
        StatusCode::FORBIDDEN
    );

    let rk = want_crypto::unwrap_key(
        &owner,
        &hex::decode(rec["ownerWrappedKey"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let eh = want_types::trace::parse_event_hash_id(&event).unwrap();
    let grant = |expires_at_ms| TraceCall::Grant {
        event_hash: eh,
        grantee: partner.address(),
        grantee_key: partner.public_key_compressed().to_vec(),
        permission: Permission::Read,
        expires_at_ms,
        wrapped_key: want_crypto::wrap_key(&partner.public_key(), &rk).unwrap(),
    };
    let dev = dev_key();
    send_ok(&n, &dev, grant(now_ms() + 600_000)).await;
    let (s, blob) = fetch_blob(&n, &cid, &partner).await;
    assert_eq!(s, StatusCode::OK);
    // The grantee decrypts with its own key.
    let rec = record(&n, &event).await;
    let wrapped = rec["grants"][0]["wrapped_key"].as_str().unwrap();
    let prk = want_crypto::unwrap_key(&partner, &hex::decode(wrapped).unwrap()).unwrap();
    want_records::open_record(
        &blob,
        &prk,
        &rec["recordHash"].as_str().unwrap().parse().unwrap(),
        &rec["signer"].as_str().unwrap().parse().unwrap(),
        &eh,
    )
    .expect("the grantee opens the record");

    // Revoked: refused from the next block on.
    send_ok(
        &n,
        &dev,
        TraceCall::RevokeGrant {
            event_hash: eh,
            grantee: partner.address(),
        },
    )
    .await;
    assert_eq!(
        fetch_blob(&n, &cid, &partner).await.0,
        StatusCode::FORBIDDEN
    );

    // Expiring: works until a block is made after the expiry.
    let expires = now_ms() + 1_500;
    send_ok(&n, &dev, grant(expires)).await;
    assert_eq!(fetch_blob(&n, &cid, &partner).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    // Any later block moves the chain's clock past the expiry.
    let nonce = n.nonce(&dev.address()).await;
    n.commit(&transfer(&dev, nonce, partner.address(), 1)).await;
    let (s, body) = fetch_blob(&n, &cid, &partner).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(String::from_utf8_lossy(&body).contains("expired"));
    // Only the owner grants.
    let partner_signer = SigningKey::Secp256k1(partner.clone());
    let (s, v) = send(&n, &partner_signer, grant(now_ms() + 600_000)).await;
    assert!(s.is_client_error(), "{v}");
    n.stop().await;
}

#[tokio::test]
async fn lineage_runs_through_aggregation_and_transformation() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let doc = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2024-01-01T00:00:00Z",
        "epcisBody": {"eventList": [
            {"type": "TransformationEvent", "eventTime": "2024-01-01T08:00:00Z", "eventTimeZoneOffset": "+08:00",
             "inputEPCList": ["urn:epc:id:sgtin:4012345.011122.25"],
             "outputEPCList": ["urn:epc:id:sgtin:4012345.077889.1"],
             "bizStep": "commissioning"},
            {"type": "AggregationEvent", "eventTime": "2024-01-01T09:00:00Z", "eventTimeZoneOffset": "+08:00",
             "parentID": "urn:epc:id:sscc:4012345.0000000001", "childEPCs": ["urn:epc:id:sgtin:4012345.077889.1"],
             "action": "ADD", "bizStep": "packing"},
            {"type": "AggregationEvent", "eventTime": "2024-01-01T10:00:00Z", "eventTimeZoneOffset": "+08:00",
             "parentID": "urn:epc:id:sscc:4012345.0000000002", "childEPCs": ["urn:epc:id:sscc:4012345.0000000001"],
             "action": "ADD", "bizStep": "packing"}
        ]}
    });
    let (s, v) = capture(&n, serde_json::to_vec(&doc).unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let norm = |s: &str| want_epcis::normalize_identifier(s).unwrap();
    let item = norm("urn:epc:id:sgtin:4012345.077889.1");
    let ingredient = norm("urn:epc:id:sgtin:4012345.011122.25");
    let case = norm("urn:epc:id:sscc:4012345.0000000001");
    let pallet = norm("urn:epc:id:sscc:4012345.0000000002");
    let v = n
        .get_ok(&format!("/v1/trace/lineage/{}?depth=5", urlencode(&item)))
        .await;
    let ids = |k: &str| -> HashSet<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        ids("upstream"),
        [ingredient.clone(), case.clone(), pallet.clone()]
            .into_iter()
            .collect()
    );
    assert!(ids("downstream").is_empty(), "{v}");
    let v = n
        .get_ok(&format!("/v1/trace/lineage/{}?depth=1", urlencode(&pallet)))
        .await;
    let down: Vec<&str> = v["downstream"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(down, vec![case.as_str()], "depth 1 stops at the case");
    // Queries by product (EPC URN accepted), bizStep and time window.
    let q = n
        .get_ok(&format!(
            "/v1/trace/events?product={}",
            urlencode("urn:epc:id:sgtin:4012345.077889.1")
        ))
        .await;
    assert_eq!(q["events"].as_array().unwrap().len(), 2);
    let q = n.get_ok("/v1/trace/events?bizStep=packing&limit=1").await;
    assert_eq!(q["events"].as_array().unwrap().len(), 1);
    let next = q["next"].as_u64().expect("a second page");
    let q2 = n
        .get_ok(&format!(
            "/v1/trace/events?bizStep=packing&limit=1&cursor={next}"
        ))
        .await;
    assert_eq!(q2["events"].as_array().unwrap().len(), 1);
    assert_ne!(q2["events"][0]["eventHash"], q["events"][0]["eventHash"]);
    let from = 1_704_099_600_000i64; // 2024-01-01T09:00:00Z
    let q = n
        .get_ok(&format!("/v1/trace/events?fromMs={from}&org=dev"))
        .await;
    assert_eq!(q["events"].as_array().unwrap().len(), 2);
    n.stop().await;
}

#[tokio::test]
async fn roles_other_organisations_and_revoked_keys_cannot_anchor() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let dev = dev_key();
    let shop_key = PrivateKey::generate();
    let shop = org_with_key(
        &n,
        "shop",
        OrgKind::Retailer,
        &shop_key,
        vec![Role::Retailer],
    )
    .await;
    let anchor =
        |org: &str, step: &str, serial: u32| sealed_anchor(&shop_key, org, step, serial, 0);
    // A retailer sells; it may not commission.
    send_ok(&n, &shop, anchor("shop", "retail_selling", 1)).await;
    let (s, v) = send(&n, &shop, anchor("shop", "commissioning", 2)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "role_not_allowed");
    // It may not sign for another organisation.
    let (s, v) = send(&n, &shop, anchor(DEV_ORG, "retail_selling", 3)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "not_org_key");
    // Revoked: refused from the next block on.
    send_ok(
        &n,
        &dev,
        TraceCall::RevokeKey {
            key: shop.address(),
        },
    )
    .await;
    let (s, v) = send(&n, &shop, anchor("shop", "retail_selling", 4)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "key_revoked");
    // A record signed before the revocation still verifies.
    let v = verify(
        &n,
        &want_epcis::normalize_identifier("urn:epc:id:sgtin:4012345.077889.1").unwrap(),
    )
    .await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    // Only the administrator registers organisations.
    let (s, v) = send(
        &n,
        &shop,
        TraceCall::RegisterOrg {
            org: "rogue".into(),
            name: "Rogue".into(),
            kind: OrgKind::Brand,
            encryption_key: shop_key.public_key_compressed().to_vec(),
        },
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "not_admin");
    n.stop().await;
}

#[tokio::test]
async fn personal_data_never_reaches_the_chain_or_public_views() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let phone = "+86-138-0013-8000";
    let street = "88 Renmin Road, Flat 1702";
    let doc = json!({
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld", {"dlv": "https://example.com/delivery/"}],
        "type": "ObjectEvent", "eventTime": "2024-03-01T10:00:00Z", "eventTimeZoneOffset": "+08:00",
        "action": "OBSERVE", "bizStep": "departing",
        "epcList": ["urn:epc:id:sgtin:4012345.077889.77"],
        // Where the courier stood: the consumer's doorstep, not a GS1 location.
        "readPoint": {"id": "geo:22.54317,114.05791"},
        "dlv:consignee": {"dlv:phone": phone, "dlv:address": street}
    });
    let (s, v) = capture(&n, serde_json::to_vec(&doc).unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let event = v["events"][0]["eventHash"].as_str().unwrap().to_string();
    let tx = v["events"][0]["tx"].as_str().unwrap().to_string();
    // The owner still reads them back.
    let back = open_as_owner(&n, &event).await.to_string();
    assert!(back.contains(phone) && back.contains(street));
    // Public views do not show them.
    let product = want_epcis::normalize_identifier("urn:epc:id:sgtin:4012345.077889.77").unwrap();
    for path in [
        format!("/v1/trace/verify/{}", urlencode(&product)),
        format!("/v1/trace/records/{}", urlencode(&event)),
        "/v1/trace/events".to_string(),
        format!("/v1/transactions/{tx}"),
        "/v1/blocks/latest?full=true".to_string(),
    ] {
        let body = n.get_ok(&path).await.to_string();
        assert!(
            !body.contains(phone) && !body.contains("Renmin") && !body.contains("22.54317"),
            "{path} shows personal data"
        );
    }
    let page = n
        .get_text(&format!(
            "/01/{}",
            product.trim_start_matches("https://id.gs1.org/01/")
        ))
        .await;
    assert!(page.contains("Authentic"), "{page}");
    assert!(!page.contains(phone));
    // Times read as UTC dates, not milliseconds.
    assert!(page.contains("<th>time (UTC)</th>"), "{page}");
    assert!(page.contains("<td>2024-03-01T10:00:00.000Z</td>"), "{page}");
    // A product no record names: the page says so, answered 404.
    let r = n
        .http
        .get(n.url("/01/09521234543213/21/404"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Unknown product"));
    n.stop().await;
    // Nor does any file of the node (chain, state, journal, blobs) hold them in clear.
    let mut files = Vec::new();
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    walk(dir.path(), &mut files);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let hay = String::from_utf8_lossy(&bytes);
        assert!(
            !hay.contains(phone) && !hay.contains("Renmin"),
            "{} holds personal data in clear",
            f.display()
        );
    }
}

#[tokio::test]
async fn kyc_documents_are_sealed_to_the_verifier_and_only_hash_and_level_go_on_chain() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let dev = dev_key();
    // A KYC verifier organisation the administrator approved, and its verifier key.
    let verifier = PrivateKey::generate();
    let verifier_signer = org_with_key(
        &n,
        "kyc-bureau",
        OrgKind::KycVerifier,
        &verifier,
        vec![Role::KycVerifier],
    )
    .await;
    let subject_key = PrivateKey::generate();
    let subject = SigningKey::Secp256k1(subject_key.clone());
    let stranger = PrivateKey::generate();
    let nonce = n.nonce(&dev.address()).await;
    n.commit(&transfer(&dev, nonce, subject.address(), 1_000_000_000))
        .await;
    let passport = b"PASSPORT E12345678 ZHANG SAN 1990-01-01";
    let sealed = want_crypto::ecies_encrypt(&verifier.public_key(), passport).unwrap();
    let (s, v) = n.put_blob_signed(&subject_key, sealed.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let cid = v["cid"].as_str().unwrap().to_string();
    // Unfiled, nobody may read it; filed, the verifier and the subject may, a stranger not.
    assert_eq!(
        fetch_blob(&n, &cid, &verifier).await.0,
        StatusCode::FORBIDDEN
    );
    send_ok(
        &n,
        &subject,
        TraceCall::SubmitKyc {
            verifier: verifier.address(),
            cid: cid.clone(),
        },
    )
    .await;
    let (s, got) = fetch_blob(&n, &cid, &verifier).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        want_crypto::ecies_decrypt(&verifier, &got).unwrap(),
        passport
    );
    assert_eq!(fetch_blob(&n, &cid, &subject_key).await.0, StatusCode::OK);
    assert_eq!(
        fetch_blob(&n, &cid, &stranger).await.0,
        StatusCode::FORBIDDEN
    );
    let attestation = want_types::sha256d(passport);
    // The dev organisation is a brand: its key's kyc_verifier role (genesis) attests nothing.
    let (s, v) = send(
        &n,
        &dev,
        TraceCall::AttestKyc {
            subject: subject.address(),
            level: 3,
            attestation,
        },
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "role_not_allowed", "{v}");
    send_ok(
        &n,
        &verifier_signer,
        TraceCall::AttestKyc {
            subject: subject.address(),
            level: 2,
            attestation,
        },
    )
    .await;
    let v = n
        .get_ok(&format!("/v1/trace/kyc/{}", subject.address()))
        .await;
    assert_eq!(v["kyc"]["level"], 2);
    assert_eq!(v["kyc"]["attestation"], json!(attestation));
    let block = n.get_ok("/v1/blocks/latest?full=true").await.to_string();
    assert!(!block.contains("PASSPORT") && !block.contains("E12345678"));
    n.stop().await;
}

/// An anchor of one ObjectEvent naming `urn:epc:id:sgtin:4012345.077889.{serial}`, sealed to and
/// signed for `org` by `key`.
fn sealed_anchor(key: &PrivateKey, org: &str, step: &str, serial: u32, minute: u32) -> TraceCall {
    let doc = json!({"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "ObjectEvent", "eventTime": format!("2024-02-01T10:{minute:02}:00Z"), "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE", "bizStep": step, "epcList": [format!("urn:epc:id:sgtin:4012345.077889.{serial}")]});
    let event = want_epcis::parse_capture(&serde_json::to_vec(&doc).unwrap())
        .unwrap()
        .events
        .remove(0);
    let sealed = want_records::seal_event(
        &event,
        key,
        &key.public_key(),
        want_records::Publish::default(),
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    TraceCall::Anchor {
        org: org.into(),
        records: vec![sealed.anchor],
    }
}

#[tokio::test]
async fn records_by_organisations_the_brand_did_not_endorse_show_apart_until_custody_is_handed_over(
) {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let dev = dev_key();
    let shop_key = PrivateKey::generate();
    let shop = org_with_key(
        &n,
        "shop",
        OrgKind::Retailer,
        &shop_key,
        vec![Role::Retailer, Role::Warehouse],
    )
    .await;
    // The brand (the dev organisation) licensed prefix 4012345 and commissions item 1.
    send_ok(
        &n,
        &dev,
        TraceCall::RegisterPrefix {
            prefix: "4012345".into(),
            org: DEV_ORG.into(),
        },
    )
    .await;
    let dev_secret = dev_private_key();
    send_ok(
        &n,
        &dev,
        sealed_anchor(&dev_secret, DEV_ORG, "commissioning", 1, 0),
    )
    .await;
    // The shop was handed nothing: its record is anchored but kept apart.
    send_ok(
        &n,
        &shop,
        sealed_anchor(&shop_key, "shop", "retail_selling", 1, 1),
    )
    .await;
    let product = want_epcis::normalize_identifier("urn:epc:id:sgtin:4012345.077889.1").unwrap();
    let v = verify(&n, &product).await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    assert_eq!(v["records"], 1, "{v}");
    assert_eq!(v["events"][0]["org"], DEV_ORG, "{v}");
    assert_eq!(v["endorsers"]["owner"], DEV_ORG, "{v}");
    assert_eq!(v["endorsers"]["prefix"], "4012345", "{v}");
    assert_eq!(v["unendorsed"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["unendorsed"][0]["org"], "shop", "{v}");
    let page = n
        .http
        .get(n.url(product.trim_start_matches("https://id.gs1.org")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Not endorsed by the brand"), "{page}");
    assert!(page.contains("4012345"), "{page}");
    // A product no record of the brand names, only the shop's: unknown, with the shop's apart.
    send_ok(
        &n,
        &shop,
        sealed_anchor(&shop_key, "shop", "retail_selling", 2, 2),
    )
    .await;
    let other = want_epcis::normalize_identifier("urn:epc:id:sgtin:4012345.077889.2").unwrap();
    let v = verify(&n, &other).await;
    assert_eq!(v["verdict"], "unknown", "{v}");
    assert_eq!(v["unendorsed"][0]["org"], "shop", "{v}");
    // The shop may not hand custody to itself; the brand hands item 1 over, and the shop's next
    // record joins the history.
    let (s, v) = send(
        &n,
        &shop,
        TraceCall::HandOver {
            to_org: DEV_ORG.into(),
            products: vec![product.clone()],
        },
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "not_custodian", "{v}");
    send_ok(
        &n,
        &dev,
        TraceCall::HandOver {
            to_org: "shop".into(),
            products: vec![product.clone()],
        },
    )
    .await;
    send_ok(
        &n,
        &shop,
        sealed_anchor(&shop_key, "shop", "retail_selling", 1, 3),
    )
    .await;
    let v = verify(&n, &product).await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    assert_eq!(v["records"], 2, "{v}");
    assert_eq!(v["events"][1]["org"], "shop", "{v}");
    assert_eq!(v["unendorsed"].as_array().unwrap().len(), 1, "{v}");
    // A counterfeit (an unclaimed prefix) "made from" the brand's item does not borrow its past:
    // the record is kept apart from the item's history, so lineage links nothing to it.
    let doc = json!({"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "TransformationEvent", "eventTime": "2024-02-02T10:00:00Z", "eventTimeZoneOffset": "+00:00",
        "bizStep": "retail_selling",
        "inputEPCList": ["urn:epc:id:sgtin:4012345.077889.2"],
        "outputEPCList": ["urn:epc:id:sgtin:9999999.011111.1"]});
    let event = want_epcis::parse_capture(&serde_json::to_vec(&doc).unwrap())
        .unwrap()
        .events
        .remove(0);
    let sealed = want_records::seal_event(
        &event,
        &shop_key,
        &shop_key.public_key(),
        want_records::Publish::default(),
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    send_ok(
        &n,
        &shop,
        TraceCall::Anchor {
            org: "shop".into(),
            records: vec![sealed.anchor],
        },
    )
    .await;
    let fake = want_epcis::normalize_identifier("urn:epc:id:sgtin:9999999.011111.1").unwrap();
    let v = n
        .get_ok(&format!("/v1/trace/lineage/{}?depth=3", urlencode(&fake)))
        .await;
    assert_eq!(v["upstream"], json!([]), "{v}");
    n.stop().await;
}

#[tokio::test]
async fn events_filters_match_every_form_of_a_place_a_step_and_a_disposition() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    // Two events: shipping / in_transit read at urn:epc:id:sgln:0614141.07346.1234; receiving /
    // in_progress at the business location urn:epc:id:sgln:0012345.11111.0.
    let doc = std::fs::read(testdata().join("Example_9.6.1-ObjectEvent.jsonld")).unwrap();
    let (s, v) = capture(&n, doc).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let shipped = v["events"][0]["eventHash"].as_str().unwrap().to_string();
    let received = v["events"][1]["eventHash"].as_str().unwrap().to_string();
    let found = |v: &Value| -> Vec<String> {
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["eventHash"].as_str().unwrap().to_string())
            .collect()
    };
    let cases: [(&str, &[&str], &String); 6] = [
        (
            "location",
            &[
                "urn:epc:id:sgln:0614141.07346.1234",
                "https://id.gs1.org/414/0614141073467/254/1234",
            ],
            &shipped,
        ),
        (
            "location",
            &[
                "urn:epc:id:sgln:0012345.11111.0",
                "https://id.gs1.org/414/0012345111112",
            ],
            &received,
        ),
        (
            "bizStep",
            &[
                "shipping",
                "urn:epcglobal:cbv:bizstep:shipping",
                "https://ref.gs1.org/cbv/BizStep-shipping",
            ],
            &shipped,
        ),
        (
            "bizStep",
            &["receiving", "urn:epcglobal:cbv:bizstep:receiving"],
            &received,
        ),
        (
            "disposition",
            &[
                "in_transit",
                "urn:epcglobal:cbv:disp:in_transit",
                "https://ref.gs1.org/cbv/Disp-in_transit",
            ],
            &shipped,
        ),
        (
            "disposition",
            &["in_progress", "https://ref.gs1.org/cbv/Disp-in_progress"],
            &received,
        ),
    ];
    for (param, forms, expected) in cases {
        for form in forms {
            let (s, v) = n
                .get(&format!("/v1/trace/events?{param}={}", urlencode(form)))
                .await;
            assert_eq!(s, StatusCode::OK, "{param}={form}: {v}");
            assert_eq!(found(&v), vec![expected.clone()], "{param}={form}: {v}");
        }
    }
    // Filters combine: the shipping step at the receiving place is nothing.
    let (s, v) = n
        .get(&format!(
            "/v1/trace/events?bizStep=shipping&location={}",
            urlencode("urn:epc:id:sgln:0012345.11111.0")
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(found(&v).is_empty(), "{v}");

    // A value that could match nothing is refused, not answered with an empty list.
    for (param, bad) in [
        ("bizStep", "shippin"),
        ("bizStep", "urn:epcglobal:cbv:bizstep:teleporting"),
        ("disposition", "lost_in_space"),
        ("location", "urn:epc:id:sgln:0614141.07346"),
        ("location", "warehouse 7"),
    ] {
        let (s, v) = n
            .get(&format!("/v1/trace/events?{param}={}", urlencode(bad)))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{param}={bad}: {v}");
        assert_eq!(v["error"]["code"], "invalid_query", "{param}={bad}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(param),
            "the message names the parameter: {v}"
        );
    }
    // A custom step is a URI, kept as it is.
    let (s, v) = n
        .get(&format!(
            "/v1/trace/events?bizStep={}",
            urlencode("https://example.com/steps/inspecting")
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(found(&v).is_empty(), "{v}");
    n.stop().await;
}

#[tokio::test]
async fn an_error_declaration_is_recorded_against_the_captured_event_which_stays_in_the_history() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let original = std::fs::read(testdata().join("Example_9.6.1-ObjectEvent.jsonld")).unwrap();
    let (s, v) = capture(&n, original.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let captured = v["events"][0]["eventHash"].as_str().unwrap().to_string();
    // The same event, now with an errorDeclaration (EPCIS 2.0 §7.4.1.2).
    let mut doc: Value = serde_json::from_slice(&original).unwrap();
    let mut event = doc["epcisBody"]["eventList"][0].clone();
    event["errorDeclaration"] = json!({
        "declarationTime": "2024-05-01T08:00:00Z",
        "reason": "incorrect_data",
        "correctiveEventIDs": ["urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8"]
    });
    doc["epcisBody"]["eventList"] = json!([event]);
    let declaration = serde_json::to_vec(&doc).unwrap();
    let (s, v) = capture(&n, declaration.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["events"][0]["eventHash"], captured.as_str(), "{v}");
    assert_eq!(v["events"][0]["declaredErroneous"], true, "{v}");
    // Declared once.
    let (s, v) = capture(&n, declaration).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "duplicate_event", "{v}");
    // The record stays in the product's history, shown as declared erroneous.
    let product = want_epcis::normalize_identifier("urn:epc:id:sgtin:0614141.107346.2017").unwrap();
    let v = verify(&n, &product).await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    assert_eq!(v["records"], 1, "{v}");
    let d = &v["events"][0]["errorDeclaration"];
    assert_eq!(d["reason"], "incorrect_data", "{v}");
    assert_eq!(
        d["correctiveEventIds"][0], "urn:uuid:404d95fc-9457-4a51-bd6a-0bba133845a8",
        "{v}"
    );
    let page = n
        .get_text(&format!(
            "/01/{}",
            product.trim_start_matches("https://id.gs1.org/01/")
        ))
        .await;
    assert!(page.contains("Declared erroneous"), "{page}");
    assert!(page.contains("incorrect_data"), "{page}");
    n.stop().await;
}

#[tokio::test]
async fn an_event_hash_another_organisation_anchored_first_is_still_captured_and_verified_as_the_brands(
) {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let dev = dev_key();
    let shop_key = PrivateKey::generate();
    let shop = org_with_key(
        &n,
        "shop",
        OrgKind::Retailer,
        &shop_key,
        vec![Role::Retailer, Role::Warehouse],
    )
    .await;
    send_ok(
        &n,
        &dev,
        TraceCall::RegisterPrefix {
            prefix: "4012345".into(),
            org: DEV_ORG.into(),
        },
    )
    .await;
    // The brand's event, which a partner has seen: its event hash is public to whoever sees it.
    let doc = json!({"@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "ObjectEvent", "eventTime": "2024-02-01T10:00:00Z", "eventTimeZoneOffset": "+00:00",
        "action": "ADD", "bizStep": "commissioning", "epcList": ["urn:epc:id:sgtin:4012345.077889.7"]});
    let bytes = serde_json::to_vec(&doc).unwrap();
    let event = want_epcis::parse_capture(&bytes).unwrap().events.remove(0);
    let event_id = event.hash_id();
    let eh = want_types::trace::parse_event_hash_id(&event_id).unwrap();
    // The shop anchors a record of its own under that event hash first.
    let TraceCall::Anchor { org, mut records } =
        sealed_anchor(&shop_key, "shop", "retail_selling", 7, 1)
    else {
        unreachable!()
    };
    records[0].event_hash = eh;
    send_ok(&n, &shop, TraceCall::Anchor { org, records }).await;
    // The brand's capture is not refused as a duplicate.
    let (s, v) = capture(&n, bytes).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["events"][0]["eventHash"], event_id, "{v}");
    // Its record is the product's authentic history; the shop's is shown apart.
    let product = want_epcis::normalize_identifier("urn:epc:id:sgtin:4012345.077889.7").unwrap();
    let v = verify(&n, &product).await;
    assert_eq!(v["verdict"], "authentic", "{v}");
    assert_eq!(v["records"], 1, "{v}");
    assert_eq!(v["events"][0]["org"], DEV_ORG, "{v}");
    assert_eq!(v["events"][0]["eventHash"], event_id, "{v}");
    let brands = want_types::trace::record_id(DEV_ORG, &eh);
    assert_eq!(v["events"][0]["recordId"], brands.to_hex(), "{v}");
    assert_eq!(v["unendorsed"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["unendorsed"][0]["org"], "shop", "{v}");
    assert_eq!(v["unendorsed"][0]["eventHash"], event_id, "{v}");
    // Looked up by event hash, the brand's record answers; the shop's is listed apart.
    let rec = record(&n, &event_id).await;
    assert_eq!(rec["org"], DEV_ORG, "{rec}");
    assert_eq!(rec["otherRecords"][0]["org"], "shop", "{rec}");
    let theirs = n
        .get_ok(&format!(
            "/v1/trace/records/{}?org=shop",
            urlencode(&event_id)
        ))
        .await;
    assert_eq!(theirs["org"], "shop", "{theirs}");
    assert_eq!(theirs["otherRecords"][0]["org"], DEV_ORG, "{theirs}");
    // The owner opens its record: the event hash is the one it sealed.
    let opened = open_as_owner(&n, &event_id).await;
    assert_eq!(opened["bizStep"], "commissioning", "{opened}");
    // The same event captured again by the brand is still refused.
    let (s, v) = capture(&n, serde_json::to_vec(&doc).unwrap()).await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "duplicate_event", "{v}");
    n.stop().await;
}
