//! Members on their own listener, header-first envelopes: a three-member cluster whose members
//! reach each other on their member listeners commits transfers and certifies its blocks; the
//! public API refuses members' messages; the member listener serves nothing else; and a
//! member's message is authenticated from its signed header before a byte of its body is read
//! (a 64 MiB body from anyone else is refused at once, an altered body does not use up the
//! genuine message).

use crate::common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use want_consensus::net::{unix_ms, Envelope, EnvelopeHeader, MsgKind, ENVELOPE_HEADER};
use want_types::Address;

/// How long an answer to a refused request may take: far less than sending 64 MiB would.
const EARLY_ANSWER_MS: u64 = 5_000;

/// A postcard-encoded Raft vote request of term 0 (refused by every member, harmlessly).
fn postcard_vote() -> Vec<u8> {
    let req: openraft::raft::VoteRequest<u64> =
        openraft::raft::VoteRequest::new(openraft::Vote::new(0, 1), None);
    postcard::to_allocvec(&req).unwrap()
}

/// Sends the head of a `POST /v1/cluster/rpc` announcing `content_length` body bytes, then only
/// 16 of them, and returns what the server answers while the rest is still owed.
async fn answer_before_the_body(
    addr: &str,
    envelope_field: Option<&str>,
    content_length: usize,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head = format!(
        "POST /v1/cluster/rpc HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/octet-stream\r\ncontent-length: {content_length}\r\n"
    );
    if let Some(f) = envelope_field {
        head.push_str(&format!("{ENVELOPE_HEADER}: {f}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&[0u8; 16]).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buf[..n]);
                    // The JSON error `{"error":{…}}` is complete.
                    if answer.ends_with(b"}}") {
                        break;
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_millis(EARLY_ANSWER_MS), read)
        .await
        .expect("the node answers before the announced body is sent");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_on_their_own_listener_commit_and_authenticate_before_reading_a_body() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCluster::start_with_member_listeners(dir.path(), 3).await;
    c.leader().await;

    // The members talk on their member listeners: transfers commit and are certified.
    let mut ids = c
        .commit_transfers_round_robin("member-listener-shop", 4)
        .await;
    let head = c.converged(1).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    let members: Vec<String> = c.node(0).get_ok("/v1/status").await["member_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["url"].as_str().unwrap().to_string())
        .collect();
    let member_urls: Vec<String> = c
        .running()
        .map(|(_, n)| n.member_base.clone().unwrap())
        .collect();
    assert_eq!(members, member_urls, "the membership names the member URLs");

    // The public API refuses members' messages; the member listener serves nothing else.
    let target = c.node(1);
    let member_base = target.member_base.clone().unwrap();
    for path in ["/v1/cluster/rpc", "/v1/cluster/votes"] {
        let (s, v) = target.post_binary(path, vec![1, 2, 3]).await;
        assert_error(&(s, v), 404, "member_listener_only");
    }
    let r = target
        .http
        .get(format!("{member_base}/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // Accounts upload on the public API, under its rate limit: the member listener takes only
    // members' copies.
    let r = target
        .http
        .put(format!("{member_base}/v1/blobs"))
        .body(vec![7u8; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "member_listener_only", "{v}");
    let r = target
        .http
        .get(format!("{member_base}/v1/cluster/votes/1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Sealed messages from member 1 to member 2.
    let header = |seq: u64| EnvelopeHeader {
        chain_id: c.genesis.params.chain_id,
        from: 1,
        to: 2,
        kind: MsgKind::Vote,
        boot: 4242,
        seq,
        sent_at_ms: unix_ms(),
        in_reply_to: [0; 32],
        payload_hash: [0; 32],
    };
    let vote = postcard_vote();
    let member_addr = member_base.trim_start_matches("http://").to_string();
    const BIG: usize = 64 * 1024 * 1024;

    // Without a header, with a garbage one, or with a forged one, a 64 MiB body is refused
    // before it is sent.
    let unsigned = answer_before_the_body(&member_addr, None, BIG).await;
    assert!(unsigned.starts_with("HTTP/1.1 403"), "{unsigned}");
    assert!(unsigned.contains("\"reason\":\"unsigned\""), "{unsigned}");
    let garbage = answer_before_the_body(&member_addr, Some("00ff"), BIG).await;
    assert!(garbage.contains("\"reason\":\"malformed\""), "{garbage}");
    let forged = Envelope::seal(header(1), vote.clone(), &want_crypto::NodeKey::generate());
    let answer =
        answer_before_the_body(&member_addr, Some(&forged.sealed_header().to_field()), BIG).await;
    assert!(answer.contains("\"reason\":\"bad_signature\""), "{answer}");
    // A genuine header announcing more than an envelope may hold: refused unread too.
    let huge = Envelope::seal(header(2), vote.clone(), &c.keys[0]);
    let answer = answer_before_the_body(
        &member_addr,
        Some(&huge.sealed_header().to_field()),
        want_consensus::net::ENVELOPE_BYTES_MAX + 1,
    )
    .await;
    assert!(answer.contains("\"reason\":\"too_large\""), "{answer}");

    let post = |field: String, body: Vec<u8>| {
        target
            .http
            .post(format!("{member_base}/v1/cluster/rpc"))
            .header("content-type", "application/octet-stream")
            .header(ENVELOPE_HEADER, field)
            .body(body)
            .send()
    };
    let reason = |v: &Value| v["error"]["reason"].as_str().unwrap_or("").to_string();
    let r = post(forged.sealed_header().to_field(), forged.payload.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(reason(&r.json().await.unwrap()), "bad_signature");

    // An altered body is refused, and the genuine message with the same sequence still gets in
    // once (then it is a replay).
    let genuine = Envelope::seal(header(3), vote.clone(), &c.keys[0]);
    let mut altered = genuine.payload.clone();
    altered.push(0);
    let r = post(genuine.sealed_header().to_field(), altered)
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(reason(&r.json().await.unwrap()), "payload_mismatch");
    let r = post(genuine.sealed_header().to_field(), genuine.payload.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(genuine.sealed_header().to_field(), genuine.payload.clone())
        .await
        .unwrap();
    assert_eq!(reason(&r.json().await.unwrap()), "replayed");

    // The refusals are counted, and the cluster goes on.
    let metrics = target.get_text("/metrics").await;
    for code in [
        "unsigned",
        "malformed",
        "bad_signature",
        "too_large",
        "payload_mismatch",
    ] {
        assert!(
            metrics.contains(&format!(
                "want_cluster_envelopes_refused_total{{code=\"{code}\"}}"
            )),
            "metrics lack {code}"
        );
    }
    let stx = transfer(
        &dev_key(),
        4,
        Address::system("member-listener-shop"),
        1_000_000,
    );
    let v = c.node(2).commit_patiently(&stx).await;
    ids.push(v["id"].as_str().unwrap().to_string());
    let head = c.converged(1).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}
