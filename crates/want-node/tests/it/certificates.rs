//! Commit certificates over HTTP: a node's own vote certifies its blocks on a single-member
//! chain; received votes are checked (signature, membership, chain, height window); in a
//! three-member in-process cluster a majority certifies each block, votes a member missed are
//! backfilled from its peers, and a majority for another state root stops the member.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use want_consensus::ConsensusError;
use want_crypto::{sign_vote, NodeKey};
use want_node::{Genesis, NodeError};
use want_types::{Certificate, CommitVote, Hash32, SignedVote, VoteSignature};

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

/// Polls member `n` until it serves a certificate for `height` (and, with `complete`, one that
/// every member signed); returns it.
async fn wait_certificate(n: &TestNode, height: u64, complete: bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, cert) = n.get(&format!("/v1/blocks/{height}/certificate")).await;
        if s == StatusCode::OK && (!complete || cert["complete"] == true) {
            return cert;
        }
        assert!(
            Instant::now() < deadline,
            "no{} certificate for block {height}: {s} {cert}",
            if complete { " complete" } else { "" }
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The hex public keys that signed a certificate, sorted.
fn signers_of(cert: &Value) -> Vec<String> {
    let mut keys: Vec<String> = cert["signatures"]
        .as_array()
        .expect("signatures")
        .iter()
        .map(|s| s["public_key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

/// The hex public keys of the members `which`, sorted.
fn keys_of(c: &TestCluster, which: impl IntoIterator<Item = usize>) -> Vec<String> {
    let mut keys: Vec<String> = which
        .into_iter()
        .map(|i| hex::encode(c.keys[i].public_key()))
        .collect();
    keys.sort();
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_majority_of_three_certifies_and_waits_for_blocks_not_applied_yet() {
    let dir = tempdir();
    let c = TestCluster::start(dir.path(), 3).await;
    let leader = c.leader().await;
    assert_eq!(commit_one_transfer(c.node(leader), 0).await, 1);
    c.converged(1).await;

    for (i, n) in c.running() {
        // Every member's vote reaches every other member: the certificate becomes complete.
        let cert = wait_certificate(n, 1, true).await;
        let block = n.get_ok("/v1/blocks/1").await;
        assert_eq!(cert["block_hash"], block["hash"], "member {i}");
        assert_eq!(cert["state_root"], block["state_root"], "member {i}");
        assert_eq!(
            (&cert["members"], &cert["required"], &cert["complete"]),
            (&json!(3), &json!(2), &json!(true)),
            "member {i}: {cert}"
        );
        assert_eq!(signers_of(&cert), keys_of(&c, 0..3), "member {i}");
    }

    let n = c.node(0);
    let mut members: Vec<[u8; 32]> = n.node.shared.member_keys();
    members.sort();
    let mut genesis_keys: Vec<[u8; 32]> = c.keys.iter().map(NodeKey::public_key).collect();
    genesis_keys.sort();
    assert_eq!(members, genesis_keys);
    let cert = certificate_from(&n.get_ok("/v1/blocks/1/certificate").await);
    let check = want_crypto::verify_certificate(&cert, &members).unwrap();
    assert_eq!(check.signers.len(), 3);
    // Two signatures of three members are a majority; one is not; against a membership of
    // five, two are not either.
    let mut two = cert.clone();
    two.signatures.truncate(2);
    want_crypto::verify_certificate(&two, &members).unwrap();
    let mut one = cert.clone();
    one.signatures.truncate(1);
    want_crypto::verify_certificate(&one, &members).unwrap_err();
    let mut five = members.clone();
    five.extend([
        NodeKey::generate().public_key(),
        NodeKey::generate().public_key(),
    ]);
    want_crypto::verify_certificate(&two, &five).unwrap_err();

    // Votes for a block this node has not applied yet wait for it, within the window.
    let head = n.height().await;
    let vote = vote_of(n, 1).await;
    let ahead = CommitVote {
        height: head + 5,
        ..vote
    };
    let (s, v) = post_votes(n, &[sign_vote(&c.keys[1], ahead)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"accepted": 1, "already_known": 0}));
    assert_eq!(
        votes_held(n, head + 5).await,
        vec![sign_vote(&c.keys[1], ahead)]
    );
    let (s, v) = post_votes(n, &[sign_vote(&c.keys[1], ahead)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"accepted": 0, "already_known": 1}));
    let edge = CommitVote {
        height: head + want_node::kernel::certs::VOTES_AHEAD_MAX,
        ..vote
    };
    let (s, v) = post_votes(n, &[sign_vote(&c.keys[2], edge)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let far = CommitVote {
        height: head + want_node::kernel::certs::VOTES_AHEAD_MAX + 1,
        ..vote
    };
    let r = post_votes(n, &[sign_vote(&c.keys[1], far)]).await;
    assert_error(&r, 400, "vote_too_far_ahead");
    assert!(votes_held(n, far.height).await.is_empty());
    // One member's vote is not a majority: no certificate, no divergence.
    assert_error(
        &n.get(&format!("/v1/blocks/{}/certificate", head + 5)).await,
        404,
        "certificate_missing",
    );
    for (i, n) in c.running() {
        let status = n.get_ok("/v1/status").await;
        assert!(status["divergence"].is_null(), "member {i}: {status}");
    }
    c.stop_all().await;
}

/// Polls member `n` until its status reports a divergence; returns the status.
async fn wait_diverged(n: &TestNode) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = n.get_ok("/v1/status").await;
        if !status["divergence"].is_null() {
            return status;
        }
        assert!(Instant::now() < deadline, "no divergence: {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks that a diverged member serves no state and applies nothing.
async fn assert_refuses_state(n: &TestNode, nonce: u64) {
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
    let stx = transfer(&dev_key(), nonce, new_key().address(), 1);
    assert_error(&n.submit(&stx, false).await, 503, "state_diverged");
    // Blocks stay available.
    n.get_ok("/v1/blocks/1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_majority_for_another_state_root_stops_the_node_even_after_a_restart() {
    let dir = tempdir();
    let mut c = TestCluster::start(dir.path(), 3).await;
    let leader = c.leader().await;
    let target = c.follower().await;
    let others: Vec<usize> = (0..3).filter(|i| *i != target).collect();
    assert_eq!(commit_one_transfer(c.node(leader), 0).await, 1);
    c.converged(1).await;

    // No block is produced without a transaction: the next one is `h`. Before it exists, the
    // two other members' keys sign a vote for `h` with another block and state root, and the
    // target holds those votes until it applies `h` (a member's first vote for a height is the
    // one kept: their real votes, arriving later, do not replace them).
    let h = c.node(target).height().await + 1;
    let theirs = CommitVote {
        height: h,
        block_hash: Hash32([0xa5; 32]),
        state_root: Hash32([0x5a; 32]),
        ..vote_of(c.node(target), 1).await
    };
    let forged: Vec<SignedVote> = others
        .iter()
        .map(|i| sign_vote(&c.keys[*i], theirs))
        .collect();
    let (s, v) = post_votes(c.node(target), &forged).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["accepted"], 2, "{v}");
    let mut held = votes_held(c.node(target), h).await;
    held.sort_by_key(|v| v.node_public_key);
    let mut expected = forged.clone();
    expected.sort_by_key(|v| v.node_public_key);
    assert_eq!(held, expected);
    assert!(c.node(target).get_ok("/v1/status").await["divergence"].is_null());

    // The cluster commits block `h`; the target applies it and finds that a majority signed
    // another state.
    let stx = transfer(&dev_key(), 1, new_key().address(), 1_000_000);
    let committed = c.node(leader).commit(&stx).await;
    assert_eq!(committed["block_height"], h, "{committed}");
    let n = c.node(target);
    let status = wait_diverged(n).await;
    let ours = vote_of(n, h).await;
    assert_eq!(ours, vote_of(c.node(leader), h).await);
    let d = &status["divergence"];
    assert_eq!(d["height"], h, "{status}");
    assert_eq!(d["ours"]["block_hash"], ours.block_hash.to_hex());
    assert_eq!(d["ours"]["state_root"], ours.state_root.to_hex());
    assert_eq!(d["majority"]["block_hash"], theirs.block_hash.to_hex());
    assert_eq!(d["majority"]["state_root"], theirs.state_root.to_hex());
    let mut signers: Vec<String> = serde_json::from_value(d["majority_signers"].clone()).unwrap();
    signers.sort();
    assert_eq!(signers, keys_of(&c, others.iter().copied()));
    // The majority's certificate is served: it is the cluster's, not this node's.
    let cert = n.get_ok(&format!("/v1/blocks/{h}/certificate")).await;
    assert_eq!(cert["state_root"], theirs.state_root.to_hex());

    // No more blocks, no forked state served.
    assert_refuses_state(n, 2).await;
    let (_, metrics) = n.get("/metrics").await;
    let metrics = metrics.as_str().unwrap_or_default().to_string();
    assert!(metrics.contains("want_state_diverged 1"), "{metrics}");
    assert!(
        metrics.contains(&format!("want_diverged_height {h}")),
        "{metrics}"
    );
    // The other members hold their real votes: they certify the real block and did not diverge.
    for i in &others {
        let m = c.node(*i);
        let cert = wait_certificate(m, h, false).await;
        assert_eq!(cert["state_root"], ours.state_root.to_hex(), "member {i}");
        assert!(m.get_ok("/v1/status").await["divergence"].is_null());
    }

    // The divergence is durable: after a restart the node is still stopped.
    c.stop_member(target).await;
    c.restart_member(target).await;
    let n = c.node(target);
    let status = n.get_ok("/v1/status").await;
    assert_eq!(status["divergence"]["height"], h, "{status}");
    assert_eq!(
        status["divergence"]["majority"]["state_root"],
        theirs.state_root.to_hex()
    );
    let (_, metrics) = n.get("/metrics").await;
    assert!(metrics
        .as_str()
        .unwrap_or_default()
        .contains("want_state_diverged 1"));
    assert_refuses_state(n, 2).await;

    // The two healthy members still make a majority and go on; the diverged one applies none
    // of their blocks.
    let stx = transfer(&dev_key(), 2, new_key().address(), 1_000_000);
    let leader = c.leader().await;
    assert_ne!(leader, target);
    let committed = c.node(leader).commit(&stx).await;
    assert_eq!(committed["block_height"], h + 1, "{committed}");
    for i in &others {
        wait_certificate(c.node(*i), h + 1, false).await;
    }
    // Raft hands it the committed block, the refusal stops its consensus (the entry stays in
    // its log), and its head stays at `h`.
    let deadline = Instant::now() + Duration::from_secs(20);
    let stopped = loop {
        match c.node(target).node.consensus().metrics().running_state {
            Err(fatal) => break fatal.to_string(),
            Ok(()) => {
                assert!(Instant::now() < deadline, "consensus still runs");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert!(stopped.contains("diverged"), "{stopped}");
    assert_eq!(c.node(target).height().await, h);

    // Now its Raft log holds a committed block it cannot apply: it refuses to start, saying why.
    c.stop_member(target).await;
    let err = c
        .try_restart_member(target)
        .await
        .expect_err("a diverged member with a committed block it cannot apply starts");
    match &err {
        NodeError::Consensus(ConsensusError::Apply { height, reason }) => {
            assert_eq!(*height, h + 1, "{err}");
            assert!(
                reason.contains(&format!("diverged from the cluster majority at height {h}")),
                "{err}"
            );
        }
        other => panic!("expected an apply error naming the divergence, got {other}"),
    }
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_vote_a_member_missed_is_backfilled_from_its_peer() {
    let dir = tempdir();
    let mut c = TestCluster::start(dir.path(), 3).await;
    let leader = c.leader().await;
    let down = c.follower().await;
    assert_eq!(commit_one_transfer(c.node(leader), 0).await, 1);
    c.converged(1).await;

    // Blocks committed while a member is down: the others push their votes to it in vain and
    // give up after their retries (each batch of votes takes about `retries` to give up, and
    // the batches go one after the other).
    c.stop_member(down).await;
    const BLOCKS_WHILE_DOWN: u64 = 2;
    let first = c.node(leader).height().await + 1;
    for nonce in 1..=BLOCKS_WHILE_DOWN {
        commit_one_transfer(c.node(leader), nonce).await;
    }
    let last = c.node(leader).height().await;
    assert_eq!(last, first + BLOCKS_WHILE_DOWN - 1);
    let retries: u64 = (0..want_node::kernel::certs::VOTE_SEND_ATTEMPTS - 1)
        .map(|k| want_node::kernel::certs::VOTE_RETRY_BASE_MS << k)
        .sum();
    tokio::time::sleep(Duration::from_millis(retries * BLOCKS_WHILE_DOWN + 1_000)).await;

    // Back, the member catches up the blocks through Raft and signs them; the others' votes
    // reach it only by backfill (`GET /v1/cluster/votes/{height}` from its peers).
    c.restart_member(down).await;
    c.converged(last).await;
    let n = c.node(down);
    let members = n.node.shared.member_keys();
    for h in first..=last {
        let cert = wait_certificate(n, h, true).await;
        assert_eq!(signers_of(&cert), keys_of(&c, 0..3), "block {h}");
        want_crypto::verify_certificate(&certificate_from(&cert), &members).unwrap();
        let held = votes_held(n, h).await;
        for k in &c.keys {
            assert!(
                held.iter().any(|v| v.node_public_key == k.public_key()),
                "block {h}: {held:?}"
            );
        }
    }
    // Its own votes reached the others: their certificates are complete too.
    for (i, m) in c.running() {
        for h in first..=last {
            let cert = wait_certificate(m, h, true).await;
            assert_eq!(signers_of(&cert), keys_of(&c, 0..3), "member {i} block {h}");
        }
    }
    c.check_certificates(1..=last).await;
    for (i, m) in c.running() {
        assert!(
            m.get_ok("/v1/status").await["divergence"].is_null(),
            "member {i}"
        );
    }
    c.stop_all().await;
}

/// Polls member `n` until its status lists a vote conflict of `kind` by `member` at `height`.
async fn wait_conflict(n: &TestNode, height: u64, kind: &str, member: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = n.get_ok("/v1/status").await;
        let found = status["vote_conflicts"]
            .as_array()
            .expect("vote_conflicts is a list")
            .iter()
            .find(|c| c["height"] == height && c["kind"] == kind && c["member"] == member)
            .cloned();
        if let Some(c) = found {
            return c;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} conflict of {member} at height {height}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_minority_vote_for_another_block_and_a_second_vote_of_one_member_are_reported() {
    let dir = tempdir();
    let c = TestCluster::start(dir.path(), 3).await;
    let leader = c.leader().await;
    assert_eq!(commit_one_transfer(c.node(leader), 0).await, 1);
    c.converged(1).await;
    let n = c.node(0);
    wait_certificate(n, 1, true).await;
    for (i, m) in c.running() {
        let status = m.get_ok("/v1/status").await;
        assert_eq!(status["vote_conflicts"], json!([]), "member {i}: {status}");
    }

    // Member 1's key signs a second, different vote for block 1 (as a leader telling two
    // members two different blocks would have to): an equivocation, with both votes' states.
    let real = vote_of(n, 1).await;
    let other = CommitVote {
        block_hash: Hash32([0xb6; 32]),
        ..real
    };
    let (s, v) = post_votes(n, &[sign_vote(&c.keys[1], other)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["already_known"], 1, "{v}");
    let member1 = hex::encode(c.keys[1].public_key());
    let e = wait_conflict(n, 1, "equivocates", &member1).await;
    assert_eq!(
        e["theirs"]["block_hash"],
        other.block_hash.to_string().as_str()
    );
    assert_eq!(
        e["other"]["block_hash"],
        real.block_hash.to_string().as_str()
    );

    // Member 2's key signs another state for the next block before it exists; once the block
    // is applied, a majority (this node and member 1) stands behind this node's state, so it
    // goes on — and reports the disagreement.
    let h = n.height().await + 1;
    let theirs = CommitVote {
        height: h,
        block_hash: Hash32([0xc7; 32]),
        state_root: Hash32([0x7c; 32]),
        ..real
    };
    let (s, v) = post_votes(n, &[sign_vote(&c.keys[2], theirs)]).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(commit_one_transfer(c.node(leader), 1).await, h);
    c.converged(h).await;
    let member2 = hex::encode(c.keys[2].public_key());
    let d = wait_conflict(n, h, "disagrees", &member2).await;
    assert_eq!(
        d["theirs"]["state_root"],
        theirs.state_root.to_string().as_str()
    );
    let ours = vote_of(n, h).await;
    assert_eq!(
        d["other"]["state_root"],
        ours.state_root.to_string().as_str()
    );
    let status = n.get_ok("/v1/status").await;
    assert!(status["divergence"].is_null(), "{status}");
    let metrics = n.http.get(n.url("/metrics")).send().await.unwrap();
    let text = metrics.text().await.unwrap();
    let count: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("want_cluster_vote_conflicts_total "))
        .expect("the conflicts counter")
        .trim()
        .parse()
        .unwrap();
    assert!(count >= 2, "{count}");
    // The others saw none of it.
    let status = c.node(1).get_ok("/v1/status").await;
    assert_eq!(status["vote_conflicts"], json!([]), "{status}");
    c.stop_all().await;
}
