//! `want block verify`: a block's commit certificate checked offline against the genesis
//! membership, against a real `want dev` node.

use crate::common;

use std::time::Duration;

use common::{want, want_json, DevNode};
use serde_json::Value;
use want_crypto::{NodeKey, SigningKey};
use want_node::config::{dev_private_key, GenesisMember, DEV_CHAIN_ID, DEV_MIN_FEE};
use want_node::Genesis;
use want_types::{Address, Call, TokenCall, Transaction};

/// Commits one transfer from the dev account through the HTTP API; returns its block height.
fn commit_transfer(url: &str) -> u64 {
    let tx = Transaction {
        chain_id: DEV_CHAIN_ID,
        from: Address::system("placeholder"),
        nonce: 0,
        fee: DEV_MIN_FEE,
        expiry_ms: want_node::now_ms() + 600_000,
        pow_nonce: 0,
        call: Call::Token(TokenCall::Transfer {
            to: Address::system("shop"),
            amount: 5_000_000,
        }),
    };
    let stx = SigningKey::Secp256k1(dev_private_key()).sign_transaction(tx);
    let r = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .post(format!("{url}/v1/transactions?wait=commit"))
        .json(&stx)
        .send()
        .unwrap();
    let v: Value = r.json().unwrap();
    assert_eq!(v["receipt"]["status"], "success", "{v}");
    v["block_height"].as_u64().unwrap()
}

fn write_genesis(dir: &std::path::Path, name: &str, genesis: &Genesis) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(genesis).unwrap()).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn block_verify_checks_a_dev_block_certificate_against_the_genesis() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let node_id = node.info["node_id"].as_str().unwrap().to_string();
    let height = commit_transfer(url);
    let h = height.to_string();

    // Dev genesis (no members): the proposer's key is the only member, and the output says so.
    let v = want_json(&["block", "verify", &h, "--node", url]).ok_json();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["height"], height);
    assert_eq!(v["signers"], serde_json::json!([node_id]), "{v}");
    assert_eq!(v["required"], 1);
    assert_eq!(v["members_source"], "block proposer");
    assert!(v["note"].as_str().unwrap().contains("proposer"), "{v}");
    let block = node.get(&format!("/v1/blocks/{height}"));
    assert_eq!(v["block_hash"], block["hash"]);
    assert_eq!(v["state_root"], block["state_root"]);

    // The same genesis read from a file.
    let dev_file = write_genesis(dir.path(), "dev.json", &Genesis::dev());
    let v = want_json(&["block", "verify", &h, "--genesis", &dev_file, "--node", url]).ok_json();
    assert_eq!(v["valid"], true, "{v}");

    // A genesis whose members are other keys: the node's signature does not count.
    let keys: Vec<NodeKey> = (0..3).map(|_| NodeKey::generate()).collect();
    let mut other = Genesis::dev();
    other.members = (1..=3)
        .map(|id| GenesisMember {
            id,
            public_key: hex::encode(keys[id as usize - 1].public_key()),
            url: format!("http://127.0.0.1:{id}"),
        })
        .collect();
    let other_file = write_genesis(dir.path(), "other.json", &other);
    let run = want_json(&[
        "block",
        "verify",
        &h,
        "--genesis",
        &other_file,
        "--node",
        url,
    ]);
    let message = run.err_code("certificate_invalid");
    assert!(message.contains("not a member"), "{message}");
    let v = run.json();
    assert_eq!(v["valid"], false, "{v}");
    assert_eq!(v["required"], 2);
    assert_eq!(v["members_source"], "genesis");
    assert_eq!(v["signers"], serde_json::json!([]));

    // A membership history (`--membership FILE`) whose change only member 1 signed is refused,
    // and a file that is not a history is named.
    let forged = dir.path().join("forged-membership.json");
    std::fs::write(&forged, forged_history(&other, &keys).to_string()).unwrap();
    let message = want_json(&[
        "block",
        "verify",
        &h,
        "--genesis",
        &other_file,
        "--membership",
        forged.to_str().unwrap(),
        "--node",
        url,
    ])
    .err_code("certificate_invalid");
    assert!(
        message.contains("membership history does not verify") && message.contains("majority"),
        "{message}"
    );
    let not_history = dir.path().join("not-history.json");
    std::fs::write(&not_history, r#"{"records": 1}"#).unwrap();
    want_json(&[
        "block",
        "verify",
        &h,
        "--genesis",
        &other_file,
        "--membership",
        not_history.to_str().unwrap(),
        "--node",
        url,
    ])
    .err_code("invalid_membership");

    // No certificate, no block, bad input: stable codes.
    want_json(&["block", "verify", "0", "--node", url]).err_code("certificate_missing");
    want_json(&["block", "verify", "99", "--node", url]).err_code("block_not_found");
    want_json(&["block", "verify", "1.5", "--node", url]).err_code("invalid_height");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"params": 1}"#).unwrap();
    want_json(&[
        "block",
        "verify",
        &h,
        "--genesis",
        bad.to_str().unwrap(),
        "--node",
        url,
    ])
    .err_code("invalid_genesis");

    // Human output, and `want block HEIGHT` still shows a block.
    let human = want(&["block", "verify", &h, "--node", url]);
    assert_eq!(human.code, Some(0), "{}", human.stderr);
    assert!(human.stdout.contains("valid    true"), "{}", human.stdout);
    let shown = want_json(&["block", &h, "--node", url]).ok_json();
    assert_eq!(shown["hash"], block["hash"]);
}

/// The history of `genesis` (members 1..=3 with `keys`) in which member 3 is removed at log index
/// 5 on the approval of member 1 alone (a leader's key), as `GET /v1/cluster/membership/history`
/// serves it.
fn forged_history(genesis: &Genesis, keys: &[NodeKey]) -> Value {
    use want_consensus::raft::approval::{approve, AdminRequest};
    use want_consensus::raft::authority::{MembershipRecord, MembershipState, Step};
    use want_consensus::{AdminCommand, MemberNode};
    let start = MembershipState {
        index: Some(0),
        configs: vec![genesis.members.iter().map(|m| m.id).collect()],
        nodes: genesis
            .members
            .iter()
            .map(|m| {
                let node = MemberNode {
                    public_key: m.public_key.clone(),
                    addr: m.url.clone(),
                };
                (m.id, node)
            })
            .collect(),
        pending: None,
    };
    let initial = MembershipRecord::new(0, 1, &start, &start, &Ok(Step::Initial));
    let cmd = AdminCommand::RemoveMember { id: 3 };
    let chain_id = genesis.params.chain_id;
    let before = MembershipState {
        pending: Some(AdminRequest {
            approvals: vec![approve(chain_id, Some(0), &cmd, 1, &keys[0])],
            cmd,
            membership_index: Some(0),
        }),
        ..start.clone()
    };
    let after = MembershipState {
        index: Some(5),
        configs: vec![[1, 2, 3].into(), [1, 2].into()],
        pending: None,
        ..start
    };
    let removal = MembershipRecord::new(5, 1, &before, &after, &Ok(Step::Authorized));
    serde_json::json!({"records": [initial, removal], "next_after": null})
}
