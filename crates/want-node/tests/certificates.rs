//! Commit certificates over HTTP: a node's own vote certifies its blocks on a single-member
//! chain; received votes are checked (signature, membership, chain, height window); a majority
//! for another state root stops the node.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use want_crypto::{sign_vote, NodeKey};
use want_node::config::GenesisMember;
use want_node::Genesis;
use want_types::{Certificate, CommitVote, Hash32, SignedVote, VoteSignature};

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

fn assert_error(resp: &(StatusCode, Value), status: u16, code: &str) {
    let (s, v) = resp;
    assert_eq!(s.as_u16(), status, "expected {status} {code}, got {s} {v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        !v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{v}"
    );
}

fn node_public_key(n: &TestNode) -> [u8; 32] {
    n.node.shared.node_key.public_key()
}

/// The vote a block's stored info calls for.
async fn vote_of(n: &TestNode, height: u64) -> CommitVote {
    let b = n.get_ok(&format!("/v1/blocks/{height}")).await;
    CommitVote {
        chain_id: want_node::config::DEV_CHAIN_ID,
        height,
        block_hash: b["hash"].as_str().unwrap().parse().unwrap(),
        state_root: b["state_root"].as_str().unwrap().parse().unwrap(),
    }
}

fn certificate_from(v: &Value) -> Certificate {
    Certificate {
        vote: CommitVote {
            chain_id: v["chain_id"].as_u64().unwrap(),
            height: v["height"].as_u64().unwrap(),
            block_hash: v["block_hash"].as_str().unwrap().parse().unwrap(),
            state_root: v["state_root"].as_str().unwrap().parse().unwrap(),
        },
        signatures: serde_json::from_value::<Vec<VoteSignature>>(v["signatures"].clone()).unwrap(),
    }
}

async fn post_votes(n: &TestNode, votes: &[SignedVote]) -> (StatusCode, Value) {
    n.post_json("/v1/cluster/votes", &serde_json::to_value(votes).unwrap())
        .await
}

async fn votes_held(n: &TestNode, height: u64) -> Vec<SignedVote> {
    let v = n.get_ok(&format!("/v1/cluster/votes/{height}")).await;
    serde_json::from_value(v["votes"].clone()).unwrap()
}

async fn commit_one_transfer(n: &TestNode, nonce: u64) -> u64 {
    let stx = transfer(&dev_key(), nonce, new_key().address(), 1_000_000);
    n.commit(&stx).await["block_height"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_block_carries_a_certificate_of_its_single_member() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    let height = commit_one_transfer(&n, 0).await;
    assert_eq!(height, 1);

    let cert = n.get_ok("/v1/blocks/1/certificate").await;
    let block = n.get_ok("/v1/blocks/1").await;
    assert_eq!(cert["height"], 1);
    assert_eq!(cert["block_hash"], block["hash"]);
    assert_eq!(cert["state_root"], block["state_root"]);
    assert_eq!(cert["members"], 1);
    assert_eq!(cert["required"], 1);
    assert_eq!(cert["complete"], true);
    let own = hex::encode(node_public_key(&n));
    assert_eq!(cert["signatures"][0]["public_key"], own.as_str());
    let check =
        want_crypto::verify_certificate(&certificate_from(&cert), &[node_public_key(&n)]).unwrap();
    assert_eq!(check.signers, vec![node_public_key(&n)]);

    // The node serves the vote it holds, and nothing certifies a block that does not exist.
    let held = votes_held(&n, 1).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].vote, vote_of(&n, 1).await);
    assert_error(
        &n.get("/v1/blocks/99/certificate").await,
        404,
        "certificate_missing",
    );
    assert_error(
        &n.get("/v1/blocks/x/certificate").await,
        400,
        "invalid_height",
    );

    let status = n.get_ok("/v1/status").await;
    assert!(status["divergence"].is_null(), "{status}");
    let (_, metrics) = n.get("/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(metrics.contains("want_certified_height 1"), "{metrics}");
    assert!(metrics.contains("want_state_diverged 0"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_foreign_and_malformed_votes_are_refused_without_effect() {
    let dir = tempdir();
    let n = start_dev(dir.path()).await;
    commit_one_transfer(&n, 0).await;
    let own = votes_held(&n, 1).await[0];

    let mut forged = own;
    forged.vote.state_root = Hash32([0xee; 32]);
    let r = post_votes(&n, &[forged]).await;
    assert_error(&r, 400, "bad_vote_signature");
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("votes[0]:"));

    let outsider = NodeKey::generate();
    let r = post_votes(&n, &[own, sign_vote(&outsider, own.vote)]).await;
    assert_error(&r, 400, "not_a_member");
    assert!(r.1["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("votes[1]:"));

    let mut other_chain = own.vote;
    other_chain.chain_id += 1;
    let key = NodeKey::generate();
    assert_error(
        &post_votes(&n, &[sign_vote(&key, other_chain)]).await,
        400,
        "wrong_chain_id",
    );
    assert_error(
        &n.post_raw("/v1/cluster/votes", "[{").await,
        400,
        "invalid_json",
    );
    assert_error(
        &n.post_json("/v1/cluster/votes", &json!([{"vote": own.vote}]))
            .await,
        400,
        "invalid_vote",
    );

    assert_eq!(votes_held(&n, 1).await, vec![own]);
    let (s, v) = post_votes(&n, &[own]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"accepted": 0, "already_known": 1}));
    let (_, metrics) = n.get("/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        metrics.contains("want_commit_votes_refused_total{code=\"bad_vote_signature\"} 1"),
        "{metrics}"
    );
}

/// A node that is one of three genesis members (the other two are keys held by the test, their
/// URLs lead nowhere).
async fn start_member_of_three(dir: &std::path::Path) -> (TestNode, Genesis, NodeKey, NodeKey) {
    let own = want_node::load_or_create_node_key(dir).unwrap();
    let (k2, k3) = (NodeKey::generate(), NodeKey::generate());
    let mut genesis = Genesis::dev();
    genesis.members = [&own, &k2, &k3]
        .iter()
        .enumerate()
        .map(|(i, k)| GenesisMember {
            id: i as u64 + 1,
            public_key: hex::encode(k.public_key()),
            url: format!("http://127.0.0.1:{}", 9 + i),
        })
        .collect();
    let n = start_node_with(dir, genesis.clone(), |_| {})
        .await
        .expect("start member");
    (n, genesis, k2, k3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_majority_of_three_certifies_and_waits_for_blocks_not_applied_yet() {
    let dir = tempdir();
    let (n, _, k2, _) = start_member_of_three(dir.path()).await;
    commit_one_transfer(&n, 0).await;
    assert_error(
        &n.get("/v1/blocks/1/certificate").await,
        404,
        "certificate_missing",
    );

    let vote = vote_of(&n, 1).await;
    let (s, v) = post_votes(&n, &[sign_vote(&k2, vote)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 1);
    let cert = n.get_ok("/v1/blocks/1/certificate").await;
    assert_eq!(
        (&cert["members"], &cert["required"], &cert["complete"]),
        (&json!(3), &json!(2), &json!(false))
    );
    let members: Vec<[u8; 32]> = n.node.shared.member_keys();
    assert_eq!(members.len(), 3);
    want_crypto::verify_certificate(&certificate_from(&cert), &members).unwrap();
    // Against a membership of five, two signatures are not a majority.
    let mut five = members.clone();
    five.extend([
        NodeKey::generate().public_key(),
        NodeKey::generate().public_key(),
    ]);
    want_crypto::verify_certificate(&certificate_from(&cert), &five).unwrap_err();

    // Votes for a block this node has not applied yet wait for it, within the window.
    let ahead = CommitVote { height: 6, ..vote };
    let (s, v) = post_votes(&n, &[sign_vote(&k2, ahead)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(votes_held(&n, 6).await, vec![sign_vote(&k2, ahead)]);
    let far = CommitVote {
        height: 1 + want_node::certs::VOTES_AHEAD_MAX + 1,
        ..vote
    };
    assert_error(
        &post_votes(&n, &[sign_vote(&k2, far)]).await,
        400,
        "vote_too_far_ahead",
    );
    assert!(n.get_ok("/v1/status").await["divergence"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_majority_for_another_state_root_stops_the_node_even_after_a_restart() {
    let dir = tempdir();
    let (n, genesis, k2, k3) = start_member_of_three(dir.path()).await;
    commit_one_transfer(&n, 0).await;
    let ours = vote_of(&n, 1).await;
    let theirs = CommitVote {
        state_root: Hash32([0x5a; 32]),
        ..ours
    };
    let (s, v) = post_votes(&n, &[sign_vote(&k2, theirs), sign_vote(&k3, theirs)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let status = n.get_ok("/v1/status").await;
    let d = &status["divergence"];
    assert_eq!(d["height"], 1, "{status}");
    assert_eq!(d["ours"]["state_root"], ours.state_root.to_hex());
    assert_eq!(d["majority"]["state_root"], theirs.state_root.to_hex());
    assert_eq!(d["majority_signers"].as_array().unwrap().len(), 2);
    // The majority's certificate is served: it is the cluster's, not this node's.
    let cert = n.get_ok("/v1/blocks/1/certificate").await;
    assert_eq!(cert["state_root"], theirs.state_root.to_hex());

    // No more blocks, no forked state served.
    let (genesis_block, _, _) = Genesis::dev().build().unwrap();
    let err = n
        .node
        .shared
        .execute(&genesis_block, &[], None)
        .unwrap_err();
    assert_eq!(err.code(), "state_diverged", "{err}");
    assert_error(
        &n.get(&format!("/v1/accounts/{}", dev_key().address()))
            .await,
        503,
        "state_diverged",
    );
    assert_error(&n.get("/v1/token").await, 503, "state_diverged");
    let stx = transfer(&dev_key(), 1, new_key().address(), 1);
    assert_error(&n.submit(&stx, false).await, 503, "state_diverged");
    n.get_ok("/v1/blocks/1").await;
    let (_, metrics) = n.get("/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(metrics.contains("want_state_diverged 1"), "{metrics}");
    assert!(metrics.contains("want_diverged_height 1"), "{metrics}");

    n.stop().await;
    let n = start_node_with(dir.path(), genesis, |_| {})
        .await
        .expect("restart");
    let status = n.get_ok("/v1/status").await;
    assert_eq!(status["divergence"]["height"], 1, "{status}");
    let (_, metrics) = n.get("/metrics").await;
    assert!(metrics
        .as_str()
        .unwrap_or_default()
        .contains("want_state_diverged 1"));
}

/// A node serving HTTP on a given listener (so that its URL can be named in a genesis before it
/// starts).
async fn start_on(
    listener: tokio::net::TcpListener,
    dir: &std::path::Path,
    genesis: Genesis,
) -> want_node::Node {
    let addr = listener.local_addr().unwrap();
    let key = want_node::load_or_create_node_key(dir).unwrap();
    let mut cfg = want_node::NodeConfig::dev(dir.to_path_buf(), addr);
    cfg.block_interval_ms = FAST_BLOCK_MS;
    let node = want_node::Node::start(cfg, genesis, key).await.unwrap();
    tokio::spawn(want_node::api::serve(
        listener,
        node.clone(),
        node.stopping(),
    ));
    node
}

async fn commit_via(http: &reqwest::Client, url: &str) {
    let stx = transfer(&dev_key(), 0, new_key().address(), 1_000_000);
    let v: Value = http
        .post(format!("{url}/v1/transactions?wait=commit"))
        .json(&stx)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["block_height"], 1, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_a_member_missed_is_backfilled_from_its_peer() {
    let (dir_a, dir_b) = (tempdir(), tempdir());
    let key_a = want_node::load_or_create_node_key(dir_a.path()).unwrap();
    let key_b = want_node::load_or_create_node_key(dir_b.path()).unwrap();
    let listener_a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr_b = {
        // Reserve a port for B, then leave it closed until B starts: A's pushes are refused.
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let url_a = format!("http://{}", listener_a.local_addr().unwrap());
    let url_b = format!("http://{addr_b}");
    let mut genesis = Genesis::dev();
    genesis.members = vec![
        GenesisMember {
            id: 1,
            public_key: hex::encode(key_a.public_key()),
            url: url_a.clone(),
        },
        GenesisMember {
            id: 2,
            public_key: hex::encode(key_b.public_key()),
            url: url_b.clone(),
        },
    ];
    let http = reqwest::Client::new();
    let a = start_on(listener_a, dir_a.path(), genesis.clone()).await;
    commit_via(&http, &url_a).await;
    // A gives up pushing its vote to the closed port after its retries (about 1.5 s).
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;

    let b = start_on(
        tokio::net::TcpListener::bind(addr_b).await.unwrap(),
        dir_b.path(),
        genesis,
    )
    .await;
    commit_via(&http, &url_b).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let held = b.shared.votes_for(1).unwrap();
        if held.iter().any(|v| v.node_public_key == key_a.public_key()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B never backfilled A's vote; it holds {held:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // B's own vote was pushed to A. The two chains differ (each node made its own block 1), so
    // neither has a majority, and neither diverged.
    let held_a = a.shared.votes_for(1).unwrap();
    assert!(held_a
        .iter()
        .any(|v| v.node_public_key == key_b.public_key()));
    assert!(a.shared.certificate(1).unwrap().is_none());
    assert!(a.shared.divergence().is_none() && b.shared.divergence().is_none());
    a.shutdown();
    b.shutdown();
}
