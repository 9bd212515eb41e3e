//! Members over TLS: a three-member cluster whose member URLs are `https://` commits transfers
//! and certifies its blocks over TLS between its member listeners; a member listener answers
//! a plain-HTTP request with no HTTP at all, and refuses at the handshake a TLS client whose
//! certificate is not of a member's key, while it answers a member's; a captured record's blob
//! reaches the members by replication and, for one that was down, by repair, over TLS.

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use want_consensus::net::{MemberTable, MemberTls, Peer};
use want_crypto::NodeKey;
use want_types::Address;

/// How long a refused connection may take to be closed.
const REFUSAL_MS: u64 = 5_000;

/// A client with `key`'s certificate that trusts the cluster's member keys (so that only the
/// server's side of the handshake decides).
fn client_with(c: &TestCluster, key: &NodeKey) -> reqwest::Client {
    let members: BTreeMap<u64, Peer> = c
        .keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                i as u64 + 1,
                Peer {
                    public_key: k.public_key(),
                    url: String::new(),
                },
            )
        })
        .collect();
    let tls = MemberTls::new(key, Arc::new(MemberTable::new(members))).unwrap();
    tls.client(reqwest::Client::builder())
        .timeout(Duration::from_millis(REFUSAL_MS))
        .build()
        .unwrap()
}

/// Sends a plain-HTTP request to `addr` and returns whatever comes back before the connection
/// closes (or the wait ends).
async fn plain_http_answer(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET /v1/status HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        Duration::from_millis(REFUSAL_MS),
        stream.read_to_end(&mut answer),
    )
    .await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_over_tls_commit_and_refuse_plain_http_and_strangers() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCluster::start_with_member_tls(dir.path(), 3, |_| {}).await;
    c.leader().await;

    // The members talk over TLS: transfers commit on every member and are certified.
    let ids = c.commit_transfers_round_robin("member-tls-shop", 4).await;
    let head = c.converged(1).await;
    let height = head["height"].as_u64().unwrap();
    c.check_consistent(height, &ids).await;
    c.check_certificates(1..=height).await;
    let urls: Vec<String> = c.node(0).get_ok("/v1/status").await["member_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["url"].as_str().unwrap().to_string())
        .collect();
    assert!(
        urls.len() == 3 && urls.iter().all(|u| u.starts_with("https://")),
        "the membership names the members' https URLs: {urls:?}"
    );

    let addr = c.member_addrs.as_ref().unwrap()[1];
    // A member's certificate gets an answer (the member listener serves no status: 404).
    let r = client_with(&c, &c.keys[0])
        .get(format!("https://{addr}/v1/status"))
        .send()
        .await
        .expect("a member's TLS connection is accepted");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Plain HTTP gets no HTTP answer.
    let answer = plain_http_answer(addr).await;
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&answer)
    );
    let plain = reqwest::Client::builder()
        .timeout(Duration::from_millis(REFUSAL_MS))
        .build()
        .unwrap();
    assert!(plain
        .get(format!("http://{addr}/v1/status"))
        .send()
        .await
        .is_err());

    // A certificate of a key that is not a member's is refused at the handshake.
    let err = client_with(&c, &NodeKey::generate())
        .get(format!("https://{addr}/v1/status"))
        .send()
        .await
        .expect_err("a stranger's certificate is refused");
    assert!(err.is_connect() || err.is_request(), "{err:?}");

    // The cluster goes on after the refusals.
    let stx = transfer(&dev_key(), 4, Address::system("member-tls-shop"), 1_000_000);
    c.node(2).commit_patiently(&stx).await;
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blob_reaches_every_member_over_tls_and_one_that_was_down_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestCluster::start_with_member_tls(dir.path(), 3, crate::cluster::capturing).await;
    c.converged(0).await;
    let leader = c.leader().await;
    let away = (leader + 1) % 3;
    c.stop_member(away).await;
    let doc = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/epcis/gs1/JSON/Example_9.6.1-ObjectEvent.jsonld"),
    )
    .expect("GS1 example");
    let (s, v) = c.node(leader).post_raw("/v1/epcis/capture", doc).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    c.restart_member(away).await;
    // Every member verifies the record with its blob: the one that stayed got it by
    // replication, the one that was down fetches it from a member (both over TLS).
    let product = want_node::trace::urlencode("https://id.gs1.org/01/10614141073464/21/2017");
    for (i, n) in c.running() {
        let what = format!("member {i} does not verify the record");
        n.wait_record_verified(&product, Duration::from_secs(30), &what)
            .await;
    }
    c.stop_all().await;
}
