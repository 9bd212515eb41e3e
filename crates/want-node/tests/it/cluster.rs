//! A three-member cluster in one process, over real HTTP between members: election,
//! forwarding, read-your-writes on the member asked, signed envelopes refusing forged,
//! replayed and misaddressed messages, message faults, partitions and member restarts. After
//! every scenario a checker confirms that every acknowledged transaction is committed exactly
//! once and that all members have the same blocks and state roots.

use crate::common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use want_consensus::net::{Envelope, EnvelopeHeader, MsgKind};
use want_consensus::raft::approval::approve;
use want_consensus::raft::authority::{self, MembershipRecord, MembershipState};
use want_types::Address;

/// Commits `count` transfers from the dev account, each submitted with `?wait=commit` to the
/// member chosen by `pick(i)`; returns their ids (all acknowledged as committed).
async fn commit_transfers(
    c: &TestCluster,
    first_nonce: u64,
    count: u64,
    pick: impl Fn(u64) -> usize,
) -> Vec<String> {
    let key = dev_key();
    let to = Address::system("cluster-test-shop");
    let mut ids = Vec::new();
    for i in 0..count {
        let stx = transfer(&key, first_nonce + i, to, 1_000_000 + i as u128);
        let n = c.node(pick(i));
        let v = n.commit_patiently(&stx).await;
        ids.push(v["id"].as_str().expect("id").to_string());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_follower_forwards_to_the_leader_and_answers_after_its_own_commit() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCluster::start(dir.path(), 3).await;
    let leader = c.leader().await;
    let follower = c.follower().await;
    let s = c.node(follower).get_ok("/v1/status").await;
    assert_eq!(s["role"], "follower");
    assert_eq!(s["members"].as_array().unwrap().len(), 3);
    assert_eq!(s["leader_raft_id"], leader as u64 + 1);
    let ids = commit_transfers(&c, 0, 5, |_| follower).await;
    // Read-your-writes: the member asked already has the receipt and the new balance.
    let shop = Address::system("cluster-test-shop");
    let expected: u128 = (0..5).map(|i| 1_000_000 + i as u128).sum();
    assert_eq!(c.node(follower).balance(&shop).await, expected);
    let head = c.converged(1).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    for (_, n) in c.running() {
        assert_eq!(n.balance(&shop).await, expected);
    }
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forged_replayed_misaddressed_and_garbage_messages_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCluster::start(dir.path(), 3).await;
    c.leader().await;
    let target = c.node(1);
    let post = |field: Option<String>, body: Vec<u8>| {
        let mut r = target
            .http
            .post(target.url("/v1/cluster/rpc"))
            .header("content-type", "application/octet-stream");
        if let Some(f) = field {
            r = r.header(want_consensus::net::ENVELOPE_HEADER, f);
        }
        r.body(body).send()
    };
    let rpc = |env: &Envelope| post(Some(env.sealed_header().to_field()), env.payload.clone());
    let header = |from: u64, to: u64, seq: u64| EnvelopeHeader {
        chain_id: c.genesis.params.chain_id,
        from,
        to,
        kind: MsgKind::Vote,
        boot: 77,
        seq,
        sent_at_ms: now_ms(),
        in_reply_to: [0; 32],
        payload_hash: [0; 32],
    };
    // A vote request of term 0 from member 1: harmless to Raft, and properly signed.
    let vote = postcard_vote();
    let refused = |v: &Value| v["error"]["reason"].as_str().unwrap_or("").to_string();

    let genuine = Envelope::seal(header(1, 2, 1), vote.clone(), &c.keys[0]);
    let r = rpc(&genuine).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = rpc(&genuine).await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused(&r.json().await.unwrap()), "replayed");

    let forged = Envelope::seal(
        header(1, 2, 2),
        vote.clone(),
        &want_crypto::NodeKey::generate(),
    );
    let r = rpc(&forged).await.unwrap();
    assert_eq!(refused(&r.json().await.unwrap()), "bad_signature");

    let misaddressed = Envelope::seal(header(1, 3, 3), vote.clone(), &c.keys[0]);
    let r = rpc(&misaddressed).await.unwrap();
    assert_eq!(refused(&r.json().await.unwrap()), "misaddressed");

    let mut tampered = Envelope::seal(header(1, 2, 4), vote.clone(), &c.keys[0]);
    tampered.payload.push(0);
    let r = rpc(&tampered).await.unwrap();
    assert_eq!(refused(&r.json().await.unwrap()), "payload_mismatch");

    let stranger = Envelope::seal(
        header(9, 2, 5),
        vote.clone(),
        &want_crypto::NodeKey::generate(),
    );
    let r = rpc(&stranger).await.unwrap();
    assert_eq!(refused(&r.json().await.unwrap()), "unknown_sender");

    let mut old = header(1, 2, 6);
    old.sent_at_ms -= 120_000;
    let r = rpc(&Envelope::seal(old, vote, &c.keys[0])).await.unwrap();
    assert_eq!(refused(&r.json().await.unwrap()), "stale");

    let r = post(Some("not an envelope".into()), vec![1]).await.unwrap();
    assert_eq!(refused(&r.json().await.unwrap()), "malformed");
    let r = post(None, b"not an envelope".to_vec()).await.unwrap();
    assert_eq!(refused(&r.json().await.unwrap()), "unsigned");

    let metrics = target.get_text("/metrics").await;
    for reason in [
        "replayed",
        "bad_signature",
        "misaddressed",
        "unknown_sender",
        "stale",
        "unsigned",
    ] {
        assert!(
            metrics.contains(&format!(
                "want_cluster_envelopes_refused_total{{code=\"{reason}\"}} 1"
            )),
            "metrics lack {reason}: {metrics}"
        );
    }
    // The cluster still works.
    let ids = commit_transfers(&c, 0, 2, |i| i as usize % 3).await;
    let head = c.converged(1).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}

/// A postcard-encoded Raft vote request of term 0 (refused by every member, harmlessly).
fn postcard_vote() -> Vec<u8> {
    let req: openraft::raft::VoteRequest<u64> =
        openraft::raft::VoteRequest::new(openraft::Vote::new(0, 1), None);
    postcard::to_allocvec(&req).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_delayed_duplicated_corrupted_and_forged_messages_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCluster::start(dir.path(), 3).await;
    c.leader().await;
    for i in 0..3 {
        c.set_faults(
            i,
            json!({
                "seed": 1000 + i as u64,
                "drop_per_mille": 100,
                "duplicate_per_mille": 100,
                "corrupt_per_mille": 50,
                "forge_per_mille": 50,
                "delay_ms_max": 30,
            }),
        )
        .await;
    }
    let ids = commit_transfers(&c, 0, 20, |i| i as usize % 3).await;
    c.heal().await;
    let head = c.converged(1).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    let refused: u64 = {
        let mut total = 0;
        for (_, n) in c.running() {
            let m = n.get_text("/metrics").await;
            total += m
                .lines()
                .filter(|l| l.starts_with("want_cluster_envelopes_refused_total"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum::<u64>();
        }
        total
    };
    assert!(refused > 0, "the faults produced no refused message");
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_minority_partition_is_left_behind_and_catches_up_after_healing() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCluster::start(dir.path(), 3).await;
    let leader = c.leader().await;
    let lonely = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    c.partition(&[lonely]).await;
    let ids = commit_transfers(&c, 0, 5, |i| if i % 2 == 0 { leader } else { other }).await;
    // The cut-off member has none of it.
    let s = c.node(lonely).get_ok("/v1/status").await;
    assert!(s["height"].as_u64().unwrap() < 5, "{s}");
    c.heal().await;
    let head = c.converged(5).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_majority_writes_stop_and_resume_after_healing() {
    let dir = tempfile::tempdir().unwrap();
    let c = TestCluster::start(dir.path(), 3).await;
    c.leader().await;
    let mut ids = commit_transfers(&c, 0, 2, |_| 0).await;
    // Everyone alone: no majority anywhere.
    for i in 0..3 {
        let blocked: Vec<u64> = (1..=3).filter(|j| *j != i as u64 + 1).collect();
        c.set_faults(i, json!({ "blocked": blocked })).await;
    }
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    // Submitted now: accepted at most into a mempool, never committed while split.
    let key = dev_key();
    let stx = transfer(&key, 2, Address::system("cluster-test-shop"), 5);
    let id = stx.id().to_string();
    let (status, v) = c.node(0).submit(&stx, false).await;
    let before = c.node(0).height().await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for (_, n) in c.running() {
        assert!(
            n.height().await <= before + 1,
            "a block was committed without a majority"
        );
    }
    c.heal().await;
    if status == StatusCode::ACCEPTED {
        // Acknowledged: it must commit once a majority is back.
        ids.push(id.clone());
        c.node(0)
            .wait_committed_within(&id, Duration::from_secs(30))
            .await;
    } else {
        assert_eq!(v["error"]["code"], "no_leader", "{v}");
    }
    let more = commit_transfers(
        &c,
        if status == StatusCode::ACCEPTED { 3 } else { 2 },
        2,
        |i| i as usize,
    )
    .await;
    ids.extend(more);
    let head = c.converged(3).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_leader_is_replaced_and_catches_up_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestCluster::start(dir.path(), 3).await;
    let old = c.leader().await;
    let mut ids = commit_transfers(&c, 0, 3, |_| old).await;
    c.stop_member(old).await;
    let new = c.leader().await;
    assert_ne!(new, old);
    ids.extend(commit_transfers(&c, 3, 3, |_| new).await);
    c.restart_member(old).await;
    let head = c.converged(6).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_cluster_restarts_on_its_data_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestCluster::start(dir.path(), 3).await;
    c.leader().await;
    let mut ids = commit_transfers(&c, 0, 3, |i| i as usize).await;
    for i in 0..3 {
        c.stop_member(i).await;
    }
    for i in 0..3 {
        c.restart_member(i).await;
    }
    c.leader().await;
    ids.extend(commit_transfers(&c, 3, 3, |i| i as usize).await);
    let head = c.converged(6).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}

/// Snapshots every 20 blocks, empty blocks every 20 ms: a member down for a few hundred blocks
/// is behind the purged log and must catch up from a snapshot.
fn snapshotting(cfg: &mut want_node::NodeConfig) {
    cfg.snapshot_every_blocks = 20;
    cfg.empty_blocks = true;
    cfg.block_interval_ms = 20;
}

/// Waits until every running member's chain is at least `height` (for at most a minute).
async fn wait_height(c: &TestCluster, height: u64) {
    wait_height_within(c, height, Duration::from_secs(60)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_down_past_the_purged_log_catches_up_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestCluster::start_with(dir.path(), 3, snapshotting).await;
    let leader = c.leader().await;
    let down = (leader + 1) % 3;
    let mut ids = commit_transfers(&c, 0, 2, |_| leader).await;
    c.stop_member(down).await;
    let head = past_the_purged_log_and_back(&mut c, leader, down, &mut ids).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}

/// With member `down` stopped: commits transfers through `leader` and 200 blocks until the log
/// is purged past them, restarts `down` and waits until it has caught up by snapshot. Returns
/// the head it reached.
async fn past_the_purged_log_and_back(
    c: &mut TestCluster,
    leader: usize,
    down: usize,
    ids: &mut Vec<String>,
) -> Value {
    let h = c.node(leader).height().await;
    ids.extend(commit_transfers(c, 2, 3, |_| leader).await);
    wait_height(c, h + 200).await;
    let s = c.node(leader).get_ok("/v1/status").await;
    assert!(
        s["purged_index"].as_u64().unwrap_or(0) > h,
        "log not purged: {s}"
    );
    c.restart_member(down).await;
    let head = c.reached(h + 200).await;
    // Raft's metrics report the installed snapshot a moment after the chain has caught up
    // (under load, after the status read that follows): wait for them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = c.node(down).get_ok("/v1/status").await;
        if s["snapshot_index"].as_u64().is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no snapshot installed: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_down_across_a_membership_change_takes_it_from_a_snapshot_with_its_approvals() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestCluster::start_with(dir.path(), 4, snapshotting).await;
    let leader = c.leader().await;
    let down = (leader + 1) % 4;
    let removed = (leader + 2) % 4;
    let mut ids = commit_transfers(&c, 0, 2, |_| leader).await;
    c.stop_member(down).await;
    let removal = want_consensus::AdminCommand::RemoveMember {
        id: removed as u64 + 1,
    };
    let summary = admin(&c, leader, removal.clone()).await;
    assert!(summary.contains("no longer"), "{summary}");
    c.stop_member(removed).await;
    let leader = c.leader().await;
    // Back, the member lacks the removal's log entries: the snapshot carries the membership
    // history that proves it (the approvals of a majority), and the member takes it.
    let head = past_the_purged_log_and_back(&mut c, leader, down, &mut ids).await;
    assert_eq!(voters(c.node(down)).await.len(), 3);
    let history = c.node(down).get_ok("/v1/cluster/membership/history").await;
    let records: Vec<MembershipRecord> =
        serde_json::from_value(history["records"].clone()).expect("history records");
    assert!(
        records.iter().all(|r| r.problem.is_none()),
        "a change taken unproven: {history}"
    );
    assert!(
        records
            .iter()
            .filter_map(|r| r.authorization.as_ref())
            .any(|a| a.cmd == removal),
        "the removal's approvals are not in the history: {history}"
    );
    let genesis = MembershipState::genesis(c.genesis.member_nodes());
    authority::verify_history(c.genesis.params.chain_id, &genesis, &records)
        .unwrap_or_else(|e| panic!("{e}: {history}"));
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_restored_from_an_old_backup_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestCluster::start_with(dir.path(), 3, snapshotting).await;
    let leader = c.leader().await;
    let victim = (leader + 2) % 3;
    let mut ids = commit_transfers(&c, 0, 2, |_| victim).await;
    // Back up the member's data directory while it is stopped.
    c.stop_member(victim).await;
    let backup = dir.path().join("backup");
    copy_dir(&c.dirs[victim], &backup);
    c.restart_member(victim).await;
    let h = c.node(leader).height().await;
    ids.extend(commit_transfers(&c, 2, 3, |i| if i % 2 == 0 { victim } else { leader }).await);
    wait_height(&c, h + 150).await;
    // Disaster: the member comes back from the old backup.
    c.stop_member(victim).await;
    std::fs::remove_dir_all(&c.dirs[victim]).unwrap();
    copy_dir(&backup, &c.dirs[victim]);
    c.restart_member(victim).await;
    let head = c.reached(h + 150).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;
    c.stop_all().await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// Sends a membership change to the leader, signed as member `as_member` (index).
/// Sends `cmd` as member `as_member` with the approvals of every other member (those that are
/// not voters, or whose key changed, are refused one by one; the rest make the majority).
async fn admin(c: &TestCluster, as_member: usize, cmd: want_consensus::AdminCommand) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let leader = c.leader().await;
        let index = c.node(leader).node.consensus_status().membership_index;
        let approvals = (0..c.keys.len())
            .filter(|i| *i != as_member)
            .map(|i| {
                approve(
                    c.genesis.params.chain_id,
                    index,
                    &cmd,
                    i as u64 + 1,
                    &c.keys[i],
                )
            })
            .collect();
        match send_admin_as(c, as_member, &cmd, index, approvals).await {
            Ok(summary) => return summary,
            Err(e) => {
                assert!(std::time::Instant::now() < deadline, "admin {cmd:?}: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Sends `cmd` to the leader as member `as_member`, with `approvals`.
async fn send_admin_as(
    c: &TestCluster,
    as_member: usize,
    cmd: &want_consensus::AdminCommand,
    membership_index: Option<u64>,
    approvals: Vec<want_consensus::raft::approval::Approval>,
) -> Result<String, String> {
    let leader = c.leader().await;
    let peer = want_consensus::net::Peer {
        public_key: c.keys[leader].public_key(),
        url: format!("http://{}", c.addrs[leader]),
    };
    let req = want_consensus::raft::approval::AdminRequest {
        cmd: cmd.clone(),
        membership_index,
        approvals,
    };
    want_consensus::send_admin(
        c.genesis.params.chain_id,
        as_member as u64 + 1,
        c.keys[as_member].clone(),
        leader as u64 + 1,
        peer,
        &req,
    )
    .await
}

async fn voters(n: &TestNode) -> Vec<u64> {
    let s = n.get_ok("/v1/status").await;
    let mut v: Vec<u64> = s["member_list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["voter"] == true)
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_are_added_removed_and_rekeyed_by_signed_admin_commands() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestCluster::start_with(dir.path(), 4, |_| {}).await;
    // Member 4 is not in the genesis: rebuild the cluster with a 3-member genesis and start
    // the fourth node as a newcomer.
    c.stop_all_members().await;
    let mut c = c.with_genesis_members(3).await;
    c.leader().await;
    let mut ids = commit_transfers(&c, 0, 3, |i| i as usize).await;
    assert_eq!(voters(c.node(0)).await, vec![1, 2, 3]);
    // A block committed by the genesis members, before any change.
    let before_changes = c.node(0).height().await;

    // A non-member cannot change the membership.
    let stranger = want_consensus::send_admin(
        c.genesis.params.chain_id,
        9,
        want_crypto::NodeKey::generate(),
        c.leader().await as u64 + 1,
        want_consensus::net::Peer {
            public_key: c.keys[c.leader().await].public_key(),
            url: format!("http://{}", c.addrs[c.leader().await]),
        },
        &want_consensus::raft::approval::AdminRequest {
            cmd: want_consensus::AdminCommand::RemoveMember { id: 1 },
            membership_index: None,
            approvals: vec![],
        },
    )
    .await;
    assert!(stranger.is_err(), "{stranger:?}");
    // One member's key alone cannot remove or re-key the others, nor can it count a forged
    // approval: a majority of the voters must sign.
    let index = c.node(0).node.consensus_status().membership_index;
    let remove_2 = want_consensus::AdminCommand::RemoveMember { id: 2 };
    let alone = send_admin_as(&c, 0, &remove_2, index, vec![]).await;
    assert!(
        alone.as_ref().is_err_and(|e| e.contains("majority")),
        "{alone:?}"
    );
    let forged = approve(c.genesis.params.chain_id, index, &remove_2, 3, &c.keys[0]);
    let with_forged = send_admin_as(&c, 0, &remove_2, index, vec![forged]).await;
    assert!(
        with_forged
            .as_ref()
            .is_err_and(|e| e.contains("does not verify")),
        "{with_forged:?}"
    );
    let rekey_3 = want_consensus::AdminCommand::SetMemberKey {
        id: 3,
        public_key: hex::encode(want_crypto::NodeKey::generate().public_key()),
        url: format!("http://{}", c.addrs[2]),
    };
    let rekey = send_admin_as(&c, 0, &rekey_3, index, vec![]).await;
    assert!(
        rekey.as_ref().is_err_and(|e| e.contains("majority")),
        "{rekey:?}"
    );
    assert_eq!(voters(c.node(0)).await, vec![1, 2, 3]);

    // Add node 4: it catches up, then votes.
    c.restart_member(3).await;
    let summary = admin(
        &c,
        0,
        want_consensus::AdminCommand::AddMember {
            id: 4,
            public_key: hex::encode(c.keys[3].public_key()),
            url: format!("http://{}", c.addrs[3]),
        },
    )
    .await;
    assert!(summary.contains("voting member"), "{summary}");
    for (_, n) in c.running() {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while voters(n).await != vec![1, 2, 3, 4] {
            assert!(
                std::time::Instant::now() < deadline,
                "membership not applied"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    ids.extend(commit_transfers(&c, 3, 2, |_| 3).await);

    // Replace node 3's key: restart it with the new key.
    let new_key = want_crypto::NodeKey::generate();
    admin(
        &c,
        1,
        want_consensus::AdminCommand::SetMemberKey {
            id: 3,
            public_key: hex::encode(new_key.public_key()),
            url: format!("http://{}", c.addrs[2]),
        },
    )
    .await;
    c.stop_member(2).await;
    c.keys[2] = new_key;
    c.restart_member(2).await;
    ids.extend(commit_transfers(&c, 5, 2, |_| 2).await);

    // Remove node 2.
    let summary = admin(&c, 0, want_consensus::AdminCommand::RemoveMember { id: 2 }).await;
    assert!(summary.contains("no longer"), "{summary}");
    c.stop_member(1).await;
    ids.extend(commit_transfers(&c, 7, 2, |i| if i == 0 { 0 } else { 3 }).await);
    assert_eq!(voters(c.node(0)).await, vec![1, 3, 4]);
    let head = c.converged(1).await;
    c.check_consistent(head["height"].as_u64().unwrap(), &ids)
        .await;

    // The membership history lists each change with the approvals that authorised it, and
    // checks from the genesis as `want block verify` checks it; certificates before and after
    // the changes verify against the voters in force at their heights.
    let after_changes = c.node(0).height().await;
    let history = c.node(0).get_ok("/v1/cluster/membership/history").await;
    let records: Vec<MembershipRecord> =
        serde_json::from_value(history["records"].clone()).expect("history records");
    let carried: Vec<String> = records
        .iter()
        .filter_map(|r| r.authorization.as_ref())
        .map(|a| format!("{:?}", a.cmd))
        .collect();
    for change in [
        "AddMember { id: 4",
        "SetMemberKey { id: 3",
        "RemoveMember { id: 2",
    ] {
        assert!(
            carried.iter().any(|c| c.starts_with(change)),
            "{change} not in the history: {history}"
        );
    }
    assert!(
        records.iter().all(|r| r.step.is_some()),
        "an unauthorised change was applied: {history}"
    );
    let genesis = MembershipState::genesis(c.genesis.member_nodes());
    let chain_id = c.genesis.params.chain_id;
    let verified = authority::verify_history(chain_id, &genesis, &records)
        .unwrap_or_else(|e| panic!("{e}: {history}"));
    for (height, changed) in [(before_changes, false), (after_changes, true)] {
        let voters = authority::voters_at(&verified, height).unwrap();
        assert_eq!(voters.keys.len(), 3, "height {height}");
        let cert = certificate_of(c.node(0), height).await;
        let check = want_crypto::verify_certificate(&cert, &voters.keys);
        assert!(check.is_ok(), "height {height}: {check:?}");
        // After the changes, the genesis members alone no longer certify the chain.
        let genesis_keys = genesis.voter_keys();
        let by_genesis = want_crypto::verify_certificate(&cert, &genesis_keys);
        assert_eq!(by_genesis.is_err(), changed, "height {height}");
    }
    c.stop_all().await;
}

/// Block `height`'s certificate as node `n` serves it (waits for the votes to arrive).
async fn certificate_of(n: &TestNode, height: u64) -> want_types::Certificate {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, v) = n.get(&format!("/v1/blocks/{height}/certificate")).await;
        if status == reqwest::StatusCode::OK {
            return want_types::Certificate {
                vote: want_types::CommitVote {
                    chain_id: v["chain_id"].as_u64().unwrap(),
                    height,
                    block_hash: serde_json::from_value(v["block_hash"].clone()).unwrap(),
                    state_root: serde_json::from_value(v["state_root"].clone()).unwrap(),
                },
                signatures: serde_json::from_value(v["signatures"].clone()).unwrap(),
            };
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no certificate for block {height}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Blocks the down member misses in [`a_member_down_for_ten_thousand_blocks_catches_up`].
const DOWN_FOR_BLOCKS: u64 = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_down_for_ten_thousand_blocks_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TestCluster::start_with(dir.path(), 3, |cfg| {
        cfg.empty_blocks = true;
        cfg.block_interval_ms = want_node::config::BLOCK_INTERVAL_MS_MIN;
    })
    .await;
    let leader = c.leader().await;
    let down = (leader + 1) % 3;
    let mut ids = commit_transfers(&c, 0, 2, |_| down).await;
    c.stop_member(down).await;
    let h = c.node(leader).height().await;
    let started = std::time::Instant::now();
    ids.extend(commit_transfers(&c, 2, 2, |_| leader).await);
    wait_height_within(&c, h + DOWN_FOR_BLOCKS, Duration::from_secs(300)).await;
    eprintln!(
        "{DOWN_FOR_BLOCKS} blocks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let s = c.node(leader).get_ok("/v1/status").await;
    assert!(
        s["purged_index"].as_u64().unwrap_or(0) > h,
        "log not purged: {s}"
    );
    let started = std::time::Instant::now();
    c.restart_member(down).await;
    let head = c.reached(h + DOWN_FOR_BLOCKS).await;
    eprintln!("caught up in {:.1} s", started.elapsed().as_secs_f64());
    c.check_consistent(head["height"].as_u64().unwrap().min(h + 20), &ids)
        .await;
    let top = h + DOWN_FOR_BLOCKS;
    c.check_certificates((top - 20..=top).chain([h + DOWN_FOR_BLOCKS / 2]))
        .await;
    c.stop_all().await;
}

async fn wait_height_within(c: &TestCluster, height: u64, limit: Duration) {
    let deadline = std::time::Instant::now() + limit;
    for (i, n) in c.running() {
        loop {
            let h = n.height().await;
            if h >= height {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "member {i} stuck at {h} < {height}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Every member signs captures with the dev key (as `want dev` does on a single node).
pub fn capturing(c: &mut want_node::NodeConfig) {
    std::fs::create_dir_all(&c.data_dir).expect("data dir");
    let key_file = c.data_dir.join("capture-key.hex");
    want_node::write_secret_file(&key_file, &want_node::config::dev_private_key().to_hex())
        .expect("key file");
    c.capture = Some(want_node::trace::capture::CaptureConfig {
        org: want_node::config::DEV_ORG.into(),
        key_file,
        token_file: None,
        publish_non_gs1_places: false,
        confirm_orders: false,
    });
}

#[tokio::test]
async fn an_event_captured_on_a_follower_verifies_on_every_member() {
    let dir = tempdir();
    let c = TestCluster::start_with(dir.path(), 3, capturing).await;
    c.converged(0).await;
    let f = c.follower().await;
    let doc = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/epcis/gs1/JSON/Example_9.6.1-ObjectEvent.jsonld"),
    )
    .expect("GS1 example");
    let (s, v) = c.node(f).post_raw("/v1/epcis/capture", doc).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let product = want_node::trace::urlencode("https://id.gs1.org/01/10614141073464/21/2017");
    for (i, n) in c.running() {
        // The anchor is committed everywhere; the sealed blob is copied to every member.
        let what = format!("member {i} does not verify the record");
        n.wait_record_verified(&product, Duration::from_secs(15), &what)
            .await;
    }
    let h = c.node(0).height().await;
    c.reached(h).await;
    c.stop_all().await;
}

#[tokio::test]
async fn a_member_down_while_a_record_was_captured_fetches_its_blob_when_back() {
    let dir = tempdir();
    let mut c = TestCluster::start_with(dir.path(), 3, capturing).await;
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
    let (_, rec) = c
        .node(leader)
        .get(&format!(
            "/v1/trace/records/{}",
            want_node::trace::urlencode(v["events"][0]["eventHash"].as_str().unwrap())
        ))
        .await;
    let cid = rec["cid"].as_str().expect("record cid").to_string();

    // Only members fetch blobs from members: unsigned and non-member requests are refused.
    let url = c.node(leader).url(&format!("/v1/cluster/blobs/{cid}"));
    let http = &c.node(leader).http;
    let unsigned = http.get(&url).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    let stranger = want_crypto::NodeKey::generate();
    let t = now_ms();
    let signed_by_stranger = http
        .get(&url)
        .header("X-Want-Member", hex::encode(stranger.public_key()))
        .header("X-Want-Time", t.to_string())
        .header(
            "X-Want-Signature",
            hex::encode(
                stranger.sign(
                    want_node::trace::blob_repair::member_read_digest(
                        want_node::config::DEV_CHAIN_ID,
                        &c.keys[leader].public_key(),
                        &cid,
                        t,
                    )
                    .as_bytes(),
                ),
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(signed_by_stranger.status(), StatusCode::FORBIDDEN);
    // A member's request is good only for the chain and the member it was signed for (issue
    // 12, B6): one signed for another member, or for another chain, is refused by the leader.
    let third = (leader + 2) % 3;
    let member_get = |chain: u64, target: usize| {
        let key = &c.keys[third];
        let t = now_ms();
        let digest = want_node::trace::blob_repair::member_read_digest(
            chain,
            &c.keys[target].public_key(),
            &cid,
            t,
        );
        http.get(&url)
            .header("X-Want-Member", hex::encode(key.public_key()))
            .header("X-Want-Time", t.to_string())
            .header("X-Want-Signature", hex::encode(key.sign(digest.as_bytes())))
            .send()
    };
    let for_another_member = member_get(want_node::config::DEV_CHAIN_ID, away)
        .await
        .unwrap();
    assert_eq!(for_another_member.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = for_another_member.json().await.unwrap();
    assert_eq!(body["error"]["code"], "blob_access_denied", "{body}");
    let for_another_chain = member_get(want_node::config::DEV_CHAIN_ID + 1, leader)
        .await
        .unwrap();
    assert_eq!(for_another_chain.status(), StatusCode::FORBIDDEN);
    let for_the_leader = member_get(want_node::config::DEV_CHAIN_ID, leader)
        .await
        .unwrap();
    assert_eq!(for_the_leader.status(), StatusCode::OK);

    // The leader's pushes (to the member that is away, failing) are over before it returns.
    let trace = want_node::trace::TraceNode::of(&c.node(leader).node).expect("trace module");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while trace.replication.queued_bytes() > 0 {
        assert!(std::time::Instant::now() < deadline, "pushes never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The member that was away catches up on the chain and fetches the blob it missed.
    c.restart_member(away).await;
    let product = want_node::trace::urlencode("https://id.gs1.org/01/10614141073464/21/2017");
    let n = c.node(away);
    let what = format!("member {away} did not fetch the blob it missed");
    n.wait_record_verified(&product, Duration::from_secs(30), &what)
        .await;
    // Every blob of the capture arrives by repair (the counter is raised just after the blob is
    // stored, and the blobs of later events may still be on their way: wait for it).
    let captured = v["events"].as_array().unwrap().len() as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = n.get_text("/metrics").await;
        let repaired: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("want_trace_blobs_repaired_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if repaired >= captured || std::time::Instant::now() > deadline {
            assert_eq!(
                repaired, captured,
                "fetched by repair, not pushed: {metrics}"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.stop_all().await;
}
