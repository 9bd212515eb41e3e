//! One misbehaving member against real nodes: Raft messages that speak for another member,
//! leadership claimed without an election, forged vote grants, snapshots pushed by a member that
//! does not lead, invalid or future-dated blocks. Each is refused with its own code, nothing of
//! the honest members' state moves, and the chain goes on. (The seeded simulation in
//! want-consensus runs the same misbehaviour against thousands of fault schedules.)

use crate::common;

use std::time::Duration;

use common::*;
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest, VoteResponse};
use openraft::{SnapshotMeta, StoredMembership, Vote};
use reqwest::StatusCode;
use serde_json::Value;
use want_consensus::net::{Envelope, EnvelopeHeader, MsgKind};
use want_consensus::raft::guard::{LeaderClaim, VoteAnswer};
use want_consensus::raft::TypeConfig;
use want_consensus::{Consensus, ConsensusError, MemberNode};
use want_types::{Block, BlockHeader, Hash32};

/// Sends `payload` as a `kind` message from member `from` (signed with `key`) to `target`;
/// returns the HTTP status and the refusal code (empty on success).
async fn send(
    c: &TestCluster,
    target: usize,
    from: u64,
    key: &want_crypto::NodeKey,
    kind: MsgKind,
    payload: Vec<u8>,
) -> (StatusCode, String) {
    let seq: u64 = rand::random::<u32>() as u64;
    let header = EnvelopeHeader {
        chain_id: c.genesis.params.chain_id,
        from,
        to: target as u64 + 1,
        kind,
        boot: 4242,
        seq,
        sent_at_ms: now_ms(),
        in_reply_to: [0; 32],
        payload_hash: [0; 32],
    };
    let env = Envelope::seal(header, payload, key);
    let node = c.node(target);
    let r = node
        .http
        .post(node.url("/v1/cluster/rpc"))
        .header("content-type", "application/octet-stream")
        .header(
            want_consensus::net::ENVELOPE_HEADER,
            env.sealed_header().to_field(),
        )
        .body(env.payload.clone())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let code = if status.is_success() {
        String::new()
    } else {
        let v: Value = r.json().await.unwrap_or(Value::Null);
        v["error"]["reason"].as_str().unwrap_or("").to_string()
    };
    (status, code)
}

/// A leader's request `req` with `proof` of its election, as the wire carries it.
fn claim<R: serde::Serialize>(proof: Vec<Vec<u8>>, req: R) -> Vec<u8> {
    postcard::to_allocvec(&LeaderClaim { proof, req }).unwrap()
}

fn append(vote: Vote<u64>, proof: Vec<Vec<u8>>) -> Vec<u8> {
    let req = AppendEntriesRequest::<TypeConfig> {
        vote,
        prev_log_id: None,
        entries: vec![],
        leader_commit: None,
    };
    claim(proof, req)
}

fn committed(term: u64, leader: u64) -> Vote<u64> {
    let mut v = Vote::new(term, leader);
    v.commit();
    v
}

/// A vote answer of `voter` granting `leader` the term, signed with `key` (a forgery when `key`
/// is not the voter's).
fn grant(
    c: &TestCluster,
    voter: u64,
    leader: u64,
    term: u64,
    key: &want_crypto::NodeKey,
) -> Vec<u8> {
    let answer: VoteAnswer = Ok(VoteResponse::new(Vote::new(term, leader), None, true));
    let header = EnvelopeHeader {
        chain_id: c.genesis.params.chain_id,
        from: voter,
        to: leader,
        kind: MsgKind::Response,
        boot: 1,
        seq: 1,
        sent_at_ms: now_ms(),
        in_reply_to: [3; 32],
        payload_hash: [0; 32],
    };
    Envelope::seal(header, postcard::to_allocvec(&answer).unwrap(), key).to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_cannot_speak_for_another_or_lead_without_an_election() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCluster::start(dir.path(), 3).await;
    let leader = c.leader().await;
    let victim = (leader + 1) % 3;
    let bad = (leader + 2) % 3;
    let bad_id = bad as u64 + 1;
    let other_id = leader as u64 + 1;
    let bad_key = &c.keys[bad];
    let term = c.node(victim).node.consensus_status().term;
    let high = term + 5;

    // A vote request naming another candidate.
    let vote = postcard::to_allocvec(&VoteRequest::new(Vote::new(high, other_id), None)).unwrap();
    let r = send(&c, victim, bad_id, bad_key, MsgKind::Vote, vote).await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "impersonation".into()));

    // A vote request carrying a committed vote (which would make the receiver trust the sender
    // as leader without an election).
    let planted = postcard::to_allocvec(&VoteRequest::new(committed(high, bad_id), None)).unwrap();
    let r = send(&c, victim, bad_id, bad_key, MsgKind::Vote, planted).await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "unproven_leader".into()));

    // Append-entries as another member, and as itself of a term it never won.
    let r = send(
        &c,
        victim,
        bad_id,
        bad_key,
        MsgKind::AppendEntries,
        append(committed(high, other_id), vec![]),
    )
    .await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "impersonation".into()));
    let r = send(
        &c,
        victim,
        bad_id,
        bad_key,
        MsgKind::AppendEntries,
        append(committed(high, bad_id), vec![]),
    )
    .await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "unproven_leader".into()));

    // Forged grants: the other members' answers signed with the bad member's key, or a genuine
    // looking grant for another term.
    let forged = vec![
        grant(&c, other_id, bad_id, high, bad_key),
        grant(&c, victim as u64 + 1, bad_id, high, bad_key),
    ];
    let r = send(
        &c,
        victim,
        bad_id,
        bad_key,
        MsgKind::AppendEntries,
        append(committed(high, bad_id), forged),
    )
    .await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "unproven_leader".into()));

    // A snapshot at the victim's own head from a member that does not lead.
    let head = c.node(victim).node.shared.store.head().unwrap();
    let snapshot = InstallSnapshotRequest::<TypeConfig> {
        vote: committed(high, bad_id),
        meta: SnapshotMeta {
            last_log_id: None,
            last_membership: StoredMembership::new(
                None,
                openraft::Membership::new(
                    vec![[bad_id].into()],
                    std::collections::BTreeMap::from([(bad_id, MemberNode::default())]),
                ),
            ),
            snapshot_id: format!("evil-{}", head.height),
        },
        offset: 0,
        data: vec![],
        done: true,
    };
    let r = send(
        &c,
        victim,
        bad_id,
        bad_key,
        MsgKind::InstallSnapshot,
        claim(vec![], snapshot),
    )
    .await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "unproven_leader".into()));

    // Even elected (here: the others' genuine grants), a leader cannot slip in a membership
    // entry of its own, e.g. giving another member a key it holds: no approved request in the
    // log carries it.
    let genuine = vec![
        grant(&c, other_id, bad_id, high, &c.keys[leader]),
        grant(&c, victim as u64 + 1, bad_id, high, &c.keys[victim]),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let m = loop {
        let m = c.node(victim).node.consensus().metrics();
        if m.last_applied.is_some() && m.membership_config.log_id().is_some() {
            break m;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the victim applies nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let prev = m.last_applied.expect("checked above");
    let mut nodes: std::collections::BTreeMap<u64, MemberNode> = m
        .membership_config
        .membership()
        .nodes()
        .map(|(id, n)| (*id, n.clone()))
        .collect();
    let stolen = nodes.get_mut(&other_id).expect("the other member");
    stolen.public_key = hex::encode(want_crypto::NodeKey::generate().public_key());
    let stolen_membership = openraft::Membership::new(
        m.membership_config.membership().get_joint_config().clone(),
        nodes,
    );
    let rekey = AppendEntriesRequest::<TypeConfig> {
        vote: committed(high, bad_id),
        prev_log_id: Some(prev),
        entries: vec![openraft::Entry {
            log_id: openraft::LogId::new(
                openraft::CommittedLeaderId::new(high, bad_id),
                prev.index + 1,
            ),
            payload: openraft::EntryPayload::Membership(stolen_membership.clone()),
        }],
        leader_commit: None,
    };
    let payload = claim(genuine.clone(), rekey);
    let r = send(&c, victim, bad_id, bad_key, MsgKind::AppendEntries, payload).await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "unauthorized_membership".into()));

    // Nor hand the victim that membership by snapshot: a snapshot at the victim's own head
    // (nothing to fetch) whose membership no history of approvals proves.
    let point = {
        let head = c.node(victim).node.shared.store.head().unwrap();
        want_consensus::ChainPoint {
            height: head.height,
            hash: head.hash,
            state_root: head.state_root,
        }
    };
    let far = openraft::LogId::new(
        openraft::CommittedLeaderId::new(high, bad_id),
        prev.index + 1_000,
    );
    // A snapshot up to `far` voted in the claimed term, with no history of approvals.
    let snapshot_at = |membership, point, id: &str| InstallSnapshotRequest::<TypeConfig> {
        vote: committed(high, bad_id),
        meta: SnapshotMeta {
            last_log_id: Some(far),
            last_membership: membership,
            snapshot_id: format!("{id}-{}", far.index),
        },
        offset: 0,
        data: postcard::to_allocvec(&want_consensus::raft::SnapshotData {
            point,
            pending: None,
            history: Vec::new(),
        })
        .unwrap(),
        done: true,
    };
    let forged_snapshot = snapshot_at(
        StoredMembership::new(Some(far), stolen_membership.clone()),
        point,
        "evil",
    );
    let r = send(
        &c,
        victim,
        bad_id,
        bad_key,
        MsgKind::InstallSnapshot,
        claim(genuine.clone(), forged_snapshot),
    )
    .await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "unauthorized_membership".into()));
    let keys_now = c.node(victim).node.consensus().metrics().membership_config;
    assert_eq!(
        keys_now.membership().get_node(&other_id),
        m.membership_config.membership().get_node(&other_id),
        "the victim took the stolen key"
    );

    // Nor a snapshot with the victim's own membership whose chain point contradicts the
    // victim's chain (its head's height, another hash): installing it would fail, and a failed
    // install stops Raft on the victim.
    let genuine_membership = StoredMembership::new(
        *m.membership_config.log_id(),
        m.membership_config.membership().clone(),
    );
    let other_point = want_consensus::ChainPoint {
        hash: Hash32([7; 32]),
        ..point
    };
    let wrong_point = snapshot_at(genuine_membership, other_point, "evil-point");
    let r = send(
        &c,
        victim,
        bad_id,
        bad_key,
        MsgKind::InstallSnapshot,
        claim(genuine.clone(), wrong_point),
    )
    .await;
    assert_eq!(r, (StatusCode::FORBIDDEN, "invalid_snapshot".into()));

    // Nothing moved: the victim's term is not the claimed one, and the chain goes on.
    assert!(c.node(victim).node.consensus_status().term < high);
    let metrics = c.node(victim).get_text("/metrics").await;
    for code in [
        "impersonation",
        "unproven_leader",
        "unauthorized_membership",
        "invalid_snapshot",
    ] {
        assert!(
            metrics.contains(&format!(
                "want_cluster_envelopes_refused_total{{code=\"{code}\"}}"
            )),
            "metrics lack {code}"
        );
    }
    let key = dev_key();
    let nonce = c.node(0).nonce(&key.address()).await;
    let stx = transfer(&key, nonce, new_key().address(), 1_000_000);
    let committed = c.node(victim).commit_patiently(&stx).await;
    let id = committed["id"].as_str().expect("id").to_string();
    let head = c.converged(1).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &[id])
        .await;
    c.stop_all().await;
}

/// A block on top of `node`'s head, signed by its node key, with `txs`.
fn next_block(
    node: &TestNode,
    txs: Vec<want_types::SignedTransaction>,
    tweak: impl FnOnce(&mut BlockHeader),
) -> Block {
    let s = &node.node.shared;
    let head = s.store.head().unwrap();
    let ids: Vec<Hash32> = txs.iter().map(|t| t.id()).collect();
    let mut header = BlockHeader {
        chain_id: s.params.chain_id,
        height: head.height + 1,
        prev_hash: head.hash,
        timestamp_ms: now_ms().max(head.timestamp_ms),
        tx_root: want_crypto::merkle_root(&ids),
        tx_count: txs.len() as u32,
        parent_state_root: head.state_root,
        proposer: vec![],
    };
    tweak(&mut header);
    want_crypto::sign_block(header, txs, &s.node_key)
}

/// A transfer whose signature does not verify.
fn badly_signed() -> want_types::SignedTransaction {
    let mut stx = transfer(&dev_key(), 0, new_key().address(), 1);
    match &mut stx.signature {
        want_types::Signature::Secp256k1(sig) => sig[5] ^= 0x40,
        other => panic!("the dev key signs with secp256k1, not {other:?}"),
    }
    stx
}

/// A well-signed transaction that fails its module's stateless check (which admission runs):
/// a trace grant whose grantee is not the address of the key it names.
fn failing_precheck() -> want_types::SignedTransaction {
    let key = dev_key();
    let mut t = tx(
        0,
        want_types::TokenCall::Transfer {
            to: new_key().address(),
            amount: 1,
        },
    );
    t.from = key.address();
    t.call = want_types::Call::Trace(want_types::modules::trace::TraceCall::Grant {
        event_hash: Hash32([7; 32]),
        grantee: new_key().address(),
        grantee_key: want_crypto::PrivateKey::generate()
            .public_key_compressed()
            .to_vec(),
        permission: want_types::modules::trace::Permission::Read,
        expires_at_ms: now_ms() + 60_000,
        wrapped_key: vec![1; 32],
    });
    key.sign_transaction(t)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_invalid_block_is_skipped_by_every_member_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_slow(dir.path(), |_| {}).await;
    let before = node.node.shared.store.head().unwrap();
    let invalid = [
        next_block(&node, vec![badly_signed()], |_| {}),
        next_block(&node, vec![failing_precheck()], |_| {}),
        next_block(&node, vec![], |h| h.parent_state_root = Hash32([9; 32])),
        next_block(&node, vec![], |h| h.timestamp_ms = before.timestamp_ms - 1),
    ];
    for block in invalid {
        match node.node.consensus().propose(block).await {
            Err(ConsensusError::Stale { reason, .. }) => {
                assert!(reason.contains("invalid"), "{reason}")
            }
            other => panic!("an invalid block must be skipped, got {other:?}"),
        }
    }
    assert_eq!(node.node.shared.store.head().unwrap().hash, before.hash);
    let good = next_block(&node, vec![], |_| {});
    let applied = node.node.consensus().propose(good).await.unwrap();
    assert_eq!(applied.height, before.height + 1);
    node.stop().await;
}

/// A future-dated block that became committed (a faulty leader may claim one committed up to
/// `COMMITTED_BLOCK_TIME_DRIFT_MS` ahead) does not stop the blocks after it: they carry its
/// time, and members take them although that time is ahead of their clocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_after_a_committed_future_dated_block_are_taken_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_slow(dir.path(), |_| {}).await;
    let s = &node.node.shared;
    let me = [s.node_key.public_key()];
    let ahead = now_ms() + 60_000;
    let future = next_block(&node, vec![], |h| h.timestamp_ms = ahead);
    node.node.consensus().propose(future).await.unwrap();
    assert_eq!(s.store.head().unwrap().timestamp_ms, ahead);

    let now = now_ms();
    let at_head_time = next_block(&node, vec![], |h| h.timestamp_ms = ahead);
    assert!(s.check_proposal(&at_head_time, &me, Some(now)).is_ok());
    let beyond = next_block(&node, vec![], |h| h.timestamp_ms = ahead + 1);
    let err = s.check_proposal(&beyond, &me, Some(now)).unwrap_err();
    assert!(
        err.to_string().contains("ahead of this member's clock"),
        "{err}"
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_refuses_to_append_invalid_or_future_dated_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_slow(dir.path(), |_| {}).await;
    let s = &node.node.shared;
    let me = [s.node_key.public_key()];
    let now = now_ms();
    let check = |b: &Block| {
        s.check_proposal(b, &me, Some(now))
            .map_err(|e| (e.code().to_string(), e.to_string()))
    };

    assert!(check(&next_block(&node, vec![], |_| {})).is_ok());
    let drift = want_consensus::BLOCK_TIME_DRIFT_MS;
    assert!(check(&next_block(&node, vec![], |h| h.timestamp_ms = now + drift)).is_ok());
    let cases: Vec<(Block, &str)> = vec![
        (
            next_block(&node, vec![], |h| h.timestamp_ms = now + drift + 1),
            "ahead of this member's clock",
        ),
        (next_block(&node, vec![badly_signed()], |_| {}), "signature"),
        (
            next_block(&node, vec![failing_precheck()], |_| {}),
            "is not the address of grantee_key",
        ),
        (
            next_block(&node, vec![], |h| h.parent_state_root = Hash32([9; 32])),
            "parent state root",
        ),
        (next_block(&node, vec![], |h| h.tx_count = 3), "tx_count"),
        (next_block(&node, vec![], |h| h.chain_id += 1), "chain id"),
        (
            next_block(
                &node,
                vec![
                    transfer(&dev_key(), 0, new_key().address(), 1);
                    want_node::config::CLUSTER_BLOCK_TXS_MAX + 1
                ],
                |_| {},
            ),
            "a cluster member proposes at most",
        ),
    ];
    for (block, why) in cases {
        let (code, msg) = check(&block).unwrap_err();
        assert_eq!(code, "invalid_block");
        assert!(msg.contains(why), "{msg} should say {why}");
    }
    // Another proposer's key, and a block re-signed by a stranger.
    let stranger = want_crypto::NodeKey::generate();
    let b = next_block(&node, vec![], |_| {});
    let foreign = want_crypto::sign_block(b.header.clone(), vec![], &stranger);
    let (_, msg) = check(&foreign).unwrap_err();
    assert!(msg.contains("not a voting member"), "{msg}");
    // A committed entry is not held to the clock (a member whose clock is behind still appends it).
    let future = next_block(&node, vec![], |h| h.timestamp_ms = now + 3_600_000);
    assert!(s.check_proposal(&future, &me, None).is_ok());
    tokio::time::sleep(Duration::from_millis(1)).await;
    node.stop().await;
}
