//! The node's consensus is a single-member openraft cluster: blocks go through the Raft log and
//! the chain continues across restarts.

use std::time::Duration;

use want_node::{load_or_create_node_key, Genesis, Node, NodeConfig};

fn config(dir: &std::path::Path) -> NodeConfig {
    let mut cfg = NodeConfig::dev(dir.to_path_buf(), "127.0.0.1:0".parse().unwrap());
    cfg.empty_blocks = true;
    cfg
}

async fn wait_for_height(node: &Node, at_least: u64) -> u64 {
    for _ in 0..200 {
        let h = node.shared.store.head().unwrap().height;
        if h >= at_least {
            return h;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("height {at_least} not reached within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_are_committed_through_raft_and_the_chain_continues_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = load_or_create_node_key(dir.path()).unwrap();
    let node = Node::start(config(dir.path()), Genesis::dev(), key.clone())
        .await
        .unwrap();
    let status = node.consensus_status();
    assert_eq!(status.role, want_consensus::Role::Leader);
    assert_eq!(status.members, vec![status.node_id.clone()]);
    assert_eq!(status.node_id, hex::encode(key.public_key()));
    assert!(dir.path().join("raft-log.redb").exists());
    wait_for_height(&node, 3).await;
    node.stop().await.unwrap();
    let stopped_at = node.shared.store.head().unwrap().height;
    let term = node.consensus_status().term;
    drop(node);

    // The stopped node's background work (the Raft state machine task, the journal thread)
    // lets go of the databases shortly after `stop` returns.
    let mut attempt = 0;
    let node = loop {
        match Node::start(config(dir.path()), Genesis::dev(), key.clone()).await {
            Ok(node) => break node,
            Err(e) if attempt < 100 && e.to_string().contains("in use") => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("restart failed after {attempt} attempts: {e}"),
        }
    };
    assert_eq!(node.shared.store.head().unwrap().height, stopped_at);
    assert!(node.consensus_status().term >= term);
    wait_for_height(&node, stopped_at + 2).await;
    node.stop().await.unwrap();
}
