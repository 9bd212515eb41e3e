//! Integration tests of the cluster commands: `want init`, `want node --config` and
//! `want cluster up`. Every test runs the real binary on temporary directories and free ports.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    free_port, get_json, http_client, process_alive, sigkill, sigterm, wait_exit, wait_until,
    want_bin, want_json, ClusterUp,
};
use serde_json::Value;
use want_crypto::NodeKey;
use want_node::config::{dev_private_key, Allocation, DEV_CHAIN_ID};
use want_node::Genesis;
use want_types::amount::TOTAL_SUPPLY;

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn read_genesis(dir: &Path) -> Genesis {
    let text = std::fs::read_to_string(dir.join("genesis.json")).expect("read genesis.json");
    serde_json::from_str(&text).expect("genesis.json parses as a Genesis")
}

fn read_toml(path: &Path) -> toml::Value {
    let text = std::fs::read_to_string(path).expect("read config");
    toml::from_str(&text).expect("config parses as TOML")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn init_writes_a_genesis_of_a_new_chain_whose_members_are_the_generated_node_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let v = want_json(&[
        "init",
        "--nodes",
        "3",
        "--out",
        s(&dir),
        "--base-port",
        "21001",
    ])
    .ok_json();

    // A chain of its own: its own id, owned by a fresh operator key, never the published dev key.
    let genesis = read_genesis(&dir);
    genesis.validate_members().expect("members validate");
    assert_ne!(genesis.params.chain_id, DEV_CHAIN_ID);
    assert_eq!(v["chain_id"], genesis.params.chain_id);
    assert_eq!(genesis.params.min_fee, Genesis::dev().params.min_fee);
    let operator_path = dir.join("operator-key.hex");
    let operator =
        want_crypto::PrivateKey::from_hex(std::fs::read_to_string(&operator_path).unwrap().trim())
            .expect("the operator key parses");
    assert_eq!(v["operator"]["address"], operator.address().to_string());
    assert_eq!(v["operator"]["admin"], true);
    assert_eq!(v["operator"]["allocation"], TOTAL_SUPPLY.to_string());
    assert_eq!(
        genesis.allocations,
        vec![Allocation {
            address: operator.address(),
            amount: TOTAL_SUPPLY
        }]
    );
    assert_eq!(
        genesis.sections["trace"]["admin"],
        operator.address().to_string()
    );
    assert!(genesis.dev_key_mentions().is_empty(), "{genesis:?}");
    #[cfg(unix)]
    assert_eq!(mode(&operator_path), 0o600);
    assert!(
        !dir.join("dev-key.hex").exists(),
        "no dev key in a real chain"
    );
    assert_eq!(
        v["genesis_hash"],
        genesis.build().unwrap().0.hash().to_string()
    );
    let ids: Vec<u64> = genesis.members.iter().map(|m| m.id).collect();
    assert_eq!(ids, vec![1, 2, 3]);

    // The printed result.
    let canonical = dir.canonicalize().unwrap();
    assert_eq!(
        PathBuf::from(v["genesis"].as_str().expect("genesis path")),
        canonical.join("genesis.json")
    );
    let nodes = v["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);

    for (k, (m, n)) in genesis.members.iter().zip(nodes).enumerate() {
        let id = k as u64 + 1;
        let port = 21000 + id;
        // The members reach node K on its member port, after the three API ports.
        let member_port = 21003 + id;
        assert_eq!(m.url, format!("http://127.0.0.1:{member_port}"));
        assert_eq!(n["id"], id);
        assert_eq!(n["http"], format!("http://127.0.0.1:{port}"));
        assert_eq!(n["member_url"], m.url.as_str());
        assert_eq!(n["public_key"], m.public_key.as_str());
        assert_eq!(
            PathBuf::from(n["config"].as_str().expect("config path")),
            canonical.join(format!("node{id}.toml"))
        );

        // The key file holds the key whose public key the genesis names, readable by its owner only.
        let key_path = dir.join(format!("node{id}/data/node-key.hex"));
        let key = NodeKey::from_hex(std::fs::read_to_string(&key_path).unwrap().trim())
            .expect("node key parses");
        assert_eq!(hex::encode(key.public_key()), m.public_key);
        #[cfg(unix)]
        assert_eq!(mode(&key_path), 0o600, "{}", key_path.display());

        // The config names this node, its address and the shared genesis.
        let cfg = read_toml(&dir.join(format!("node{id}.toml")));
        assert_eq!(cfg["genesis_file"].as_str(), Some("genesis.json"));
        assert_eq!(
            cfg["node"]["data_dir"].as_str(),
            Some(format!("node{id}/data").as_str())
        );
        assert_eq!(
            cfg["node"]["http_addr"].as_str(),
            Some(format!("127.0.0.1:{port}").as_str())
        );
        assert_eq!(
            cfg["node"]["cluster"]["node_id"].as_integer(),
            Some(id as i64)
        );
        assert_eq!(
            cfg["node"]["cluster"]["advertise_url"].as_str(),
            Some(m.url.as_str())
        );
        assert_eq!(
            cfg["node"]["cluster"]["member_addr"].as_str(),
            Some(format!("127.0.0.1:{member_port}").as_str())
        );
    }
    let keys: BTreeSet<&str> = genesis
        .members
        .iter()
        .map(|m| m.public_key.as_str())
        .collect();
    assert_eq!(keys.len(), 3, "every node has its own key");

    // Another init draws another chain id.
    let other = tmp.path().join("other");
    let w = want_json(&["init", "--nodes", "1", "--out", s(&other)]).ok_json();
    assert_ne!(w["chain_id"], v["chain_id"]);
}

#[test]
fn init_without_base_port_gives_each_node_its_own_free_port() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let v = want_json(&["init", "--nodes", "5", "--out", s(&dir)]).ok_json();
    let urls: BTreeSet<String> = read_genesis(&dir)
        .members
        .iter()
        .map(|m| m.url.clone())
        .collect();
    assert_eq!(urls.len(), 5, "distinct ports: {v}");
    for url in &urls {
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    }
}

#[test]
fn init_with_one_host_per_node_names_each_in_the_genesis() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&[
        "init",
        "--nodes",
        "3",
        "--out",
        s(&dir),
        "--base-port",
        "8545",
        "--host",
        "10.0.0.1,10.0.0.2,node3.example",
    ])
    .ok_json();
    let urls: Vec<String> = read_genesis(&dir)
        .members
        .iter()
        .map(|m| m.url.clone())
        .collect();
    assert_eq!(
        urls,
        vec![
            "http://10.0.0.1:8548",
            "http://10.0.0.2:8549",
            "http://node3.example:8550"
        ]
    );
    let cfg = read_toml(&dir.join("node3.toml"));
    assert_eq!(
        cfg["node"]["http_addr"].as_str(),
        Some("0.0.0.0:8547"),
        "a node named by host name listens on every interface"
    );
    assert_eq!(
        cfg["node"]["cluster"]["member_addr"].as_str(),
        Some("0.0.0.0:8550"),
        "and so does its member listener"
    );
}

#[test]
fn init_refuses_a_directory_that_already_holds_a_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&["init", "--nodes", "3", "--out", s(&dir)]).ok_json();
    let genesis_before = std::fs::read(dir.join("genesis.json")).unwrap();
    let key_before = std::fs::read(dir.join("node1/data/node-key.hex")).unwrap();

    let m = want_json(&["init", "--nodes", "3", "--out", s(&dir)]).err_code("cluster_exists");
    assert!(m.contains("genesis.json"), "{m}");
    let m = want_json(&["init", "--nodes", "1", "--out", s(&dir)]).err_code("cluster_exists");
    assert!(m.contains(s(&dir)), "{m}");

    assert_eq!(
        std::fs::read(dir.join("genesis.json")).unwrap(),
        genesis_before
    );
    assert_eq!(
        std::fs::read(dir.join("node1/data/node-key.hex")).unwrap(),
        key_before
    );
}

#[test]
fn init_refuses_zero_nodes_and_more_than_64() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    for n in ["0", "65"] {
        let m = want_json(&["init", "--nodes", n, "--out", s(&dir)]).err_code("invalid_arguments");
        assert!(m.contains("--nodes"), "{m}");
    }
    let m = want_json(&[
        "init",
        "--nodes",
        "3",
        "--out",
        s(&dir),
        "--base-port",
        "65534",
    ])
    .err_code("invalid_arguments");
    assert!(m.contains("65535"), "{m}");
    assert!(!dir.exists(), "nothing is written for refused arguments");
}

fn new_address() -> String {
    want_crypto::PrivateKey::generate().address().to_string()
}

#[test]
fn init_takes_the_chain_id_allocations_and_administrator_from_the_operator() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let (shop, treasury, admin) = (new_address(), new_address(), new_address());
    let v = want_json(&[
        "init",
        "--nodes",
        "3",
        "--out",
        s(&dir),
        "--chain-id",
        "424242",
        "--alloc",
        &format!("{treasury}=rest"),
        "--alloc",
        &format!("{shop}=1000.5"),
        "--admin",
        &admin,
    ])
    .ok_json();
    let genesis = read_genesis(&dir);
    assert_eq!(genesis.params.chain_id, 424242);
    assert_eq!(v["chain_id"], 424242);
    let allocations: Vec<(String, u128)> = genesis
        .allocations
        .iter()
        .map(|a| (a.address.to_string(), a.amount))
        .collect();
    assert_eq!(
        allocations,
        vec![
            (treasury, TOTAL_SUPPLY - 1_000_500_000),
            (shop, 1_000_500_000)
        ]
    );
    assert_eq!(genesis.sections["trace"]["admin"], admin.as_str());
    assert!(v["operator"].is_null(), "every role was named: {v}");
    assert!(!dir.join("operator-key.hex").exists());
    assert!(!dir.join("dev-key.hex").exists());

    // Allocations alone: a fresh operator key becomes the administrator, and holds no WANT.
    let dir = tmp.path().join("d");
    let v = want_json(&[
        "init",
        "--nodes",
        "1",
        "--out",
        s(&dir),
        "--alloc",
        &format!("{}=rest", new_address()),
    ])
    .ok_json();
    assert_eq!(v["operator"]["admin"], true, "{v}");
    assert_eq!(v["operator"]["allocation"], "0", "{v}");
    assert_eq!(
        read_genesis(&dir).sections["trace"]["admin"],
        v["operator"]["address"]
    );
}

#[test]
fn init_refuses_allocations_that_are_malformed_duplicated_or_not_the_whole_supply() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let a = new_address();
    let b = new_address();
    let init = |allocs: &[String]| {
        let mut args = vec!["init", "--nodes", "1", "--out", s(&dir)];
        for x in allocs {
            args.extend(["--alloc", x.as_str()]);
        }
        want_json(&args)
    };
    let m = init(&["Tnot-an-address=5".into()]).err_code("invalid_address");
    assert!(
        m.contains("--alloc") && m.contains("Tnot-an-address=5"),
        "{m}"
    );
    let m = init(&[format!("{a}=1.0000001")]).err_code("invalid_amount");
    assert!(m.contains("--alloc") && m.contains("1.0000001"), "{m}");
    let m = init(std::slice::from_ref(&a)).err_code("invalid_arguments");
    assert!(m.contains("ADDR=AMOUNT"), "{m}");
    let m = init(&[format!("{a}=5"), format!("{a}=rest")]).err_code("invalid_allocations");
    assert!(m.contains(&a) && m.contains("twice"), "{m}");
    let m = init(&[format!("{a}=5"), format!("{b}=6")]).err_code("invalid_allocations");
    assert!(
        m.contains("11 WANT") && m.contains("short of") && m.contains("=rest"),
        "{m}"
    );
    let m = init(&[format!("{a}=1000000000000000"), format!("{b}=rest")])
        .err_code("invalid_allocations");
    assert!(m.contains("nothing is left"), "{m}");
    let m = init(&[format!("{a}=rest"), format!("{b}=rest")]).err_code("invalid_allocations");
    assert!(m.contains("rest"), "{m}");
    let m = want_json(&[
        "init",
        "--nodes",
        "1",
        "--out",
        s(&dir),
        "--admin",
        "nobody",
    ])
    .err_code("invalid_address");
    assert!(m.contains("--admin") && m.contains("nobody"), "{m}");
    assert!(!dir.exists(), "nothing is written for refused arguments");
}

#[test]
fn init_refuses_the_dev_chain_id_and_the_published_dev_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let dev = dev_private_key().address().to_string();
    let base = ["init", "--nodes", "1", "--out", s(&dir)];
    let m = want_json(&[&base[..], &["--chain-id", &DEV_CHAIN_ID.to_string()]].concat())
        .err_code("invalid_arguments");
    assert!(m.contains("--chain-id") && m.contains("development"), "{m}");
    let m = want_json(&[&base[..], &["--alloc", &format!("{dev}=rest")]].concat())
        .err_code("dev_key_in_genesis");
    assert!(m.contains("allocations[0]") && m.contains("--alloc"), "{m}");
    let m = want_json(&[&base[..], &["--admin", &dev]].concat()).err_code("dev_key_in_genesis");
    assert!(m.contains("trace.admin"), "{m}");
    // A template copied from the dev genesis carries the dev chain id and the dev key.
    let template = tmp.path().join("dev-genesis.json");
    std::fs::write(&template, serde_json::to_string(&Genesis::dev()).unwrap()).unwrap();
    let with_template = [&base[..], &["--genesis-template", s(&template)]].concat();
    let m = want_json(&with_template).err_code("invalid_arguments");
    assert!(m.contains("template") && m.contains("chain_id"), "{m}");
    let m = want_json(&[&with_template[..], &["--chain-id", "7"]].concat())
        .err_code("dev_key_in_genesis");
    assert!(m.contains("trace.orgs[0].keys[0].address"), "{m}");
    assert!(!dir.exists(), "nothing is written for a refused genesis");
}

#[test]
fn init_fills_a_genesis_template_and_its_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let owner = new_address();
    let template = tmp.path().join("template.json");
    std::fs::write(
        &template,
        serde_json::json!({
            "params": {"chain_id": 9001, "min_fee": "5000"},
            "genesis_time_ms": 1_800_000_000_000u64,
            "allocations": [{"address": owner, "amount": TOTAL_SUPPLY.to_string()}],
            "trace": {"admin": owner},
            "members": [{"id": 9, "public_key": "00".repeat(32), "url": "http://x:1"}],
        })
        .to_string(),
    )
    .unwrap();
    let dir = tmp.path().join("c");
    let v = want_json(&[
        "init",
        "--nodes",
        "2",
        "--out",
        s(&dir),
        "--genesis-template",
        s(&template),
    ])
    .ok_json();
    let genesis = read_genesis(&dir);
    assert_eq!(genesis.params.chain_id, 9001);
    assert_eq!(genesis.params.min_fee, 5_000);
    assert_eq!(
        genesis.params.pow_difficulty_bits,
        Genesis::dev().params.pow_difficulty_bits,
        "what the template leaves out has the defaults"
    );
    assert_eq!(genesis.genesis_time_ms, 1_800_000_000_000);
    assert_eq!(genesis.allocations[0].address.to_string(), owner);
    assert_eq!(
        genesis.members.iter().map(|m| m.id).collect::<Vec<_>>(),
        vec![1, 2],
        "the members are the generated nodes"
    );
    assert!(v["operator"].is_null(), "{v}");

    // Flags override the template.
    let admin = new_address();
    let other = new_address();
    let dir = tmp.path().join("d");
    want_json(&[
        "init",
        "--nodes",
        "1",
        "--out",
        s(&dir),
        "--genesis-template",
        s(&template),
        "--chain-id",
        "9002",
        "--alloc",
        &format!("{other}=rest"),
        "--admin",
        &admin,
    ])
    .ok_json();
    let genesis = read_genesis(&dir);
    assert_eq!(genesis.params.chain_id, 9002);
    assert_eq!(genesis.params.min_fee, 5_000);
    assert_eq!(genesis.allocations.len(), 1);
    assert_eq!(genesis.allocations[0].address.to_string(), other);
    assert_eq!(genesis.sections["trace"]["admin"], admin.as_str());

    // A template whose allocations do not add up is refused, naming it.
    std::fs::write(
        &template,
        serde_json::json!({"allocations": [{"address": owner, "amount": "1"}]}).to_string(),
    )
    .unwrap();
    let m = want_json(&[
        "init",
        "--nodes",
        "1",
        "--out",
        s(&tmp.path().join("e")),
        "--genesis-template",
        s(&template),
    ])
    .err_code("invalid_allocations");
    assert!(m.contains("template"), "{m}");
    std::fs::write(&template, "{\"params\": {\"min_fee\": true}}").unwrap();
    let m = want_json(&[
        "init",
        "--nodes",
        "1",
        "--out",
        s(&tmp.path().join("e")),
        "--genesis-template",
        s(&template),
    ])
    .err_code("invalid_genesis");
    assert!(
        m.contains("template.json") && m.contains("params.min_fee"),
        "{m}"
    );
}

#[test]
fn a_transfer_signed_for_the_dev_chain_is_refused_by_a_freshly_initialised_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let v = want_json(&["init", "--nodes", "1", "--out", s(&dir)]).ok_json();
    let url = v["nodes"][0]["http"].as_str().unwrap().to_string();
    let (mut child, _) = start_node(&dir.join("node1.toml"), &url, &tmp.path().join("n.log"));

    // Signed offline for the dev chain with the published key, as anyone could.
    let dev_key = tmp.path().join("dev-key.hex");
    std::fs::write(&dev_key, dev_private_key().to_hex()).unwrap();
    let shop = new_address();
    let tx = tmp.path().join("tx.json");
    want_json(&[
        "tx",
        "transfer",
        "--key-file",
        s(&dev_key),
        "--to",
        &shop,
        "--amount",
        "5",
        "--offline",
        "--nonce",
        "0",
        "--out",
        s(&tx),
    ])
    .ok_json();
    let m = want_json(&["tx", "send", s(&tx), "--wait", "--node", &url]).err_code("wrong_chain_id");
    assert!(m.contains(&v["chain_id"].to_string()), "{m}");

    // The operator's key owns this chain.
    let operator = v["operator"]["key_file"].as_str().unwrap();
    let sent = want_json(&[
        "tx",
        "transfer",
        "--key-file",
        operator,
        "--to",
        &shop,
        "--amount",
        "5",
        "--wait",
        "--node",
        &url,
    ])
    .ok_json();
    assert_eq!(sent["receipt"]["status"], "success", "{sent}");
    let account = want_json(&["account", &shop, "--node", &url]).ok_json();
    assert_eq!(account["balance"], "5000000", "{account}");
    sigterm(child.id());
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), Some(0));
}

#[test]
fn node_refuses_to_start_a_chain_whose_genesis_funds_the_published_dev_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&["init", "--nodes", "1", "--out", s(&dir)]).ok_json();
    let dev = dev_private_key().address().to_string();
    let path = dir.join("genesis.json");
    let mut genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    genesis["allocations"][0]["address"] = Value::from(dev.as_str());
    genesis["trace"]["admin"] = Value::from(dev.as_str());
    std::fs::write(&path, genesis.to_string()).unwrap();
    let m =
        want_json(&["node", "--config", s(&dir.join("node1.toml"))]).err_code("dev_key_in_genesis");
    assert!(
        m.contains(&dev) && m.contains("allocations[0]") && m.contains("trace.admin"),
        "{m}"
    );
    assert!(m.contains("published") && m.contains("--alloc"), "{m}");
    assert!(
        !dir.join("node1/data/chain.redb").exists(),
        "the data directory holds no chain"
    );
}

#[test]
fn node_with_a_broken_config_names_the_file_and_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&["init", "--nodes", "3", "--out", s(&dir)]).ok_json();

    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "genesis_file = \"genesis.json\"\n[node]\ndata_dir = \"node1/data\"\nhttp_addr = \"not an address\"\n[node.cluster]\nnode_id = 1\nadvertise_url = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    let m = want_json(&["node", "--config", s(&bad)]).err_code("invalid_config");
    assert!(m.contains("bad.toml"), "{m}");
    assert!(m.contains("node.http_addr"), "{m}");

    std::fs::write(
        &bad,
        "genesis_file = \"genesis.json\"\n[node]\ndata_dir = \"node1/data\"\nhttp_addr = \"127.0.0.1:1\"\n[node.cluster]\nnode_id = 1\nadvertize_url = \"http://127.0.0.1:1\"\n",
    )
    .unwrap();
    let m = want_json(&["node", "--config", s(&bad)]).err_code("invalid_config");
    assert!(m.contains("node.cluster"), "{m}");
    assert!(m.contains("advertize_url"), "{m}");

    let m =
        want_json(&["node", "--config", s(&dir.join("missing.toml"))]).err_code("file_unreadable");
    assert!(m.contains("missing.toml"), "{m}");
}

#[test]
fn node_with_a_broken_genesis_names_the_genesis_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&["init", "--nodes", "3", "--out", s(&dir)]).ok_json();
    let mut genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("genesis.json")).unwrap()).unwrap();
    genesis["members"][1]["public_key"] = Value::from("abcd");
    std::fs::write(dir.join("genesis.json"), genesis.to_string()).unwrap();
    let m =
        want_json(&["node", "--config", s(&dir.join("node1.toml"))]).err_code("invalid_genesis");
    assert!(m.contains("genesis.json"), "{m}");
    assert!(m.contains("members[1].public_key"), "{m}");
}

#[test]
fn cluster_node_without_its_key_refuses_to_start_and_creates_none() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&["init", "--nodes", "3", "--out", s(&dir)]).ok_json();
    let key = dir.join("node2/data/node-key.hex");
    std::fs::remove_file(&key).unwrap();
    let m =
        want_json(&["node", "--config", s(&dir.join("node2.toml"))]).err_code("node_key_missing");
    assert!(m.contains("node-key.hex"), "{m}");
    assert!(!key.exists(), "no new key is made for a cluster member");
}

#[test]
fn cluster_node_with_another_members_key_refuses_to_start() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&["init", "--nodes", "3", "--out", s(&dir)]).ok_json();
    std::fs::copy(
        dir.join("node1/data/node-key.hex"),
        dir.join("node2/data/node-key.hex"),
    )
    .unwrap();
    let m =
        want_json(&["node", "--config", s(&dir.join("node2.toml"))]).err_code("node_key_mismatch");
    assert!(m.contains("member 2"), "{m}");
}

#[test]
fn node_on_a_taken_port_names_its_config_and_does_not_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&[
        "init",
        "--nodes",
        "1",
        "--out",
        s(&dir),
        "--base-port",
        &port,
    ])
    .ok_json();
    let m = want_json(&["node", "--config", s(&dir.join("node1.toml"))]).err_code("address_in_use");
    assert!(
        m.contains("node1.toml") && m.contains("node.http_addr"),
        "{m}"
    );
    assert!(
        std::fs::read_dir(dir.join("node1/data")).unwrap().count() == 1,
        "only the key is in the data directory"
    );
}

/// Starts `want --json node --config <config>` and waits until `/healthz` answers; returns the
/// child and the start banner.
fn start_node(config: &Path, url: &str, log: &Path) -> (std::process::Child, Value) {
    use std::io::BufRead;
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = Command::new(want_bin())
        .args(["--json", "node", "--config", s(config)])
        .env("WANT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("spawn want node");
    let http = http_client();
    let up = wait_until(Duration::from_secs(30), || {
        http.get(format!("{url}/healthz"))
            .send()
            .is_ok_and(|r| r.status().is_success())
    });
    if !up {
        let _ = child.kill();
        panic!(
            "want node did not answer within 30 s; log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    let _ = std::io::BufReader::new(stdout).read_line(&mut line);
    let banner = serde_json::from_str(line.trim()).unwrap_or(Value::Null);
    (child, banner)
}

#[test]
fn node_from_a_config_without_cluster_runs_a_chain_that_continues_after_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("genesis.json"),
        serde_json::to_string(&Genesis::dev()).unwrap(),
    )
    .unwrap();
    let port = free_port();
    let config = dir.join("solo.toml");
    std::fs::write(
        &config,
        format!(
            "genesis_file = \"genesis.json\"\n[node]\ndata_dir = \"solo-data\"\nhttp_addr = \"127.0.0.1:{port}\"\nblock_interval_ms = 20\nempty_blocks = true\n"
        ),
    )
    .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let log = dir.join("solo.log");

    let (mut child, banner) = start_node(&config, &url, &log);
    assert_eq!(banner["http"], url.as_str(), "{banner}");
    assert!(banner["raft_id"].is_null(), "{banner}");
    let http = http_client();
    let first = get_json(&http, &format!("{url}/v1/status"));
    assert!(
        dir.join("solo-data/node-key.hex").exists(),
        "a single node makes its own key in the data directory relative to the config"
    );
    assert!(wait_until(Duration::from_secs(10), || {
        get_json(&http, &format!("{url}/v1/status"))["height"]
            .as_u64()
            .is_some_and(|h| h >= 3)
    }));
    sigterm(child.id());
    assert_eq!(
        wait_exit(&mut child, Duration::from_secs(20)),
        Some(0),
        "SIGTERM stops the node cleanly; log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let (genesis_hash, height) = restart_and_read_status(&config, &url, &log);
    assert_eq!(
        genesis_hash, first["genesis_hash"],
        "same chain after restart"
    );
    assert!(height >= 3, "the chain continues from where it stopped");
}

/// Restarts the node; returns (genesis hash, height) it reports, then stops it.
fn restart_and_read_status(config: &Path, url: &str, log: &Path) -> (Value, u64) {
    let (mut child, _) = start_node(config, url, log);
    let v = get_json(&http_client(), &format!("{url}/v1/status"));
    sigterm(child.id());
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), Some(0));
    (v["genesis_hash"].clone(), v["height"].as_u64().unwrap_or(0))
}

#[test]
fn cluster_up_refuses_a_node_count_that_differs_from_the_existing_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    want_json(&["init", "--nodes", "3", "--out", s(&dir)]).ok_json();
    let m = want_json(&["cluster", "up", "--nodes", "5", "--data-dir", s(&dir)])
        .err_code("cluster_size_mismatch");
    assert!(m.contains("3-node"), "{m}");
    assert!(!dir.join("node1/node.log").exists(), "no node was started");
    let m = want_json(&["cluster", "up", "--nodes", "10", "--data-dir", s(&dir)])
        .err_code("invalid_arguments");
    assert!(m.contains("--nodes"), "{m}");
}

// The tests below start real clusters: they need the multi-node Raft work (every node must
// report a leader).

#[test]
fn cluster_up_json_prints_every_node_and_each_answers_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let mut up = ClusterUp::start(&dir, &["--nodes", "3", "--no-restart"]);

    // Exactly {"nodes": [{"id", "http", "member_url", "pid"}, ...]}.
    let obj = up.info.as_object().expect("an object");
    assert_eq!(obj.keys().collect::<Vec<_>>(), vec!["nodes"], "{}", up.info);
    for n in up.info["nodes"].as_array().unwrap() {
        let mut keys: Vec<&String> = n.as_object().expect("node object").keys().collect();
        keys.sort();
        assert_eq!(keys, vec!["http", "id", "member_url", "pid"], "{n}");
    }
    let nodes = up.nodes();
    assert_eq!(nodes.iter().map(|n| n.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    let genesis = read_genesis(&dir);
    // A local development cluster: the dev genesis plus the members, and the dev key.
    let mut bare = genesis.clone();
    bare.members.clear();
    assert_eq!(
        bare,
        Genesis::dev(),
        "only the members differ from the dev genesis"
    );
    let dev_key_path = dir.join("dev-key.hex");
    assert_eq!(
        std::fs::read_to_string(&dev_key_path).unwrap().trim(),
        dev_private_key().to_hex()
    );
    #[cfg(unix)]
    assert_eq!(mode(&dev_key_path), 0o600);
    let http = http_client();
    let mut genesis_hashes = BTreeSet::new();
    for (((id, url, pid), member), n) in nodes
        .iter()
        .zip(&genesis.members)
        .zip(up.info["nodes"].as_array().unwrap())
    {
        assert_eq!(
            n["member_url"], member.url,
            "node {id}'s member listener is at its genesis URL"
        );
        assert_ne!(url, &member.url, "node {id}'s API is on a port of its own");
        assert!(process_alive(*pid), "node {id} (pid {pid}) runs");
        let status = get_json(&http, &format!("{url}/v1/status"));
        assert!(
            status["leader"].as_str().is_some(),
            "node {id} knows a leader: {status}"
        );
        genesis_hashes.insert(status["genesis_hash"].to_string());
    }
    assert_eq!(genesis_hashes.len(), 1, "one chain: {genesis_hashes:?}");

    assert_eq!(
        up.stop(),
        Some(0),
        "SIGTERM stops the cluster cleanly\n{}",
        up.logs()
    );
    for (id, _, pid) in &nodes {
        assert!(
            wait_until(Duration::from_secs(5), || !process_alive(*pid)),
            "node {id} (pid {pid}) stopped with the supervisor"
        );
    }
}

#[test]
fn cluster_up_again_on_its_directory_rejoins_the_same_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let http = http_client();
    let (urls, genesis_hash, height) = {
        let mut up = ClusterUp::start(&dir, &["--nodes", "3", "--no-restart"]);
        let urls: Vec<String> = up.nodes().into_iter().map(|n| n.1).collect();
        let status = get_json(&http, &format!("{}/v1/status", urls[0]));
        assert_eq!(up.stop(), Some(0), "{}", up.logs());
        (
            urls,
            status["genesis_hash"].clone(),
            status["height"].as_u64().unwrap_or(0),
        )
    };
    // Without --nodes: the existing cluster's size.
    let mut up = ClusterUp::start(&dir, &["--no-restart"]);
    let again: Vec<String> = up.nodes().into_iter().map(|n| n.1).collect();
    assert_eq!(again, urls, "same nodes at the same addresses");
    for url in &again {
        let status = get_json(&http, &format!("{url}/v1/status"));
        assert_eq!(status["genesis_hash"], genesis_hash, "{url}: {status}");
        assert!(
            status["height"].as_u64().unwrap_or(0) >= height,
            "{url} lost blocks: {status}"
        );
    }
    assert_eq!(up.stop(), Some(0), "{}", up.logs());
}

#[test]
fn cluster_up_restarts_a_node_that_dies() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let mut up = ClusterUp::start(&dir, &["--nodes", "3"]);
    let nodes = up.nodes();
    let (id, url, pid) = nodes[1].clone();
    sigkill(pid);
    assert!(wait_until(Duration::from_secs(5), || !process_alive(pid)));
    let http = http_client();
    let back = wait_until(Duration::from_secs(60), || {
        http.get(format!("{url}/v1/status"))
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .is_some_and(|v| v["leader"].as_str().is_some())
    });
    assert!(
        back,
        "node {id} answers again after a restart\n{}",
        up.logs()
    );
    let stderr = std::fs::read_to_string(&up.stderr_path).unwrap_or_default();
    assert!(
        stderr.contains(&format!("node {id} (pid {pid}) exited")),
        "the supervisor reports the death: {stderr}"
    );
    assert_eq!(up.stop(), Some(0), "{}", up.logs());
}

#[cfg(target_os = "linux")]
#[test]
fn cluster_up_killed_with_sigkill_takes_its_nodes_with_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let mut up = ClusterUp::start(&dir, &["--nodes", "3", "--no-restart"]);
    let nodes = up.nodes();
    let _ = up.child.kill();
    let _ = up.child.wait();
    for (id, _, pid) in &nodes {
        assert!(
            wait_until(Duration::from_secs(20), || !process_alive(*pid)),
            "node {id} (pid {pid}) outlived its supervisor"
        );
    }
}

#[test]
fn cluster_remove_node_and_add_it_back_change_the_membership_in_status() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let up = ClusterUp::start(&dir, &["--nodes", "3"]);
    let nodes = up.nodes();
    let http = http_client();
    let config = dir.join("node1.toml");
    let config = config.to_str().unwrap();
    let voters = |url: &str| -> usize {
        get_json(&http, &format!("{url}/v1/status"))["members"]
            .as_array()
            .map_or(0, |m| m.len())
    };
    // One member alone may not remove another: a second voter's approval makes the majority.
    let run = want_json(&["cluster", "remove-node", "--config", config, "--id", "3"]);
    run.err_code("membership_change_failed");
    let config2 = dir.join("node2.toml");
    let approval = want_json(&[
        "cluster",
        "remove-node",
        "--config",
        config2.to_str().unwrap(),
        "--id",
        "3",
        "--approve-only",
    ])
    .ok_json();
    let approval = approval["approval"].as_str().expect("approval").to_string();
    assert!(approval.starts_with("2:"), "{approval}");
    let out = want_json(&[
        "cluster",
        "remove-node",
        "--config",
        config,
        "--id",
        "3",
        "--approval",
        &approval,
    ])
    .ok_json();
    assert_eq!(out["ok"], true, "{out}");
    assert!(
        wait_until(Duration::from_secs(20), || voters(&nodes[0].1) == 2),
        "{}",
        up.logs()
    );
    let status = get_json(&http, &format!("{}/v1/status", nodes[2].1));
    let key = status["node_id"].as_str().unwrap().to_string();
    let url = read_genesis(&dir).members[2].url.clone();
    let add = |cfg: &str, extra: &[&str]| {
        let mut args = vec![
            "cluster",
            "add-node",
            "--config",
            cfg,
            "--id",
            "3",
            "--public-key",
            &key,
            "--url",
            &url,
        ];
        args.extend_from_slice(extra);
        want_json(&args)
    };
    let approval = add(config2.to_str().unwrap(), &["--approve-only"]).ok_json();
    let approval = approval["approval"].as_str().expect("approval").to_string();
    let out = add(config, &["--approval", &approval]).ok_json();
    assert_eq!(out["ok"], true, "{out}");
    assert!(
        wait_until(Duration::from_secs(20), || voters(&nodes[0].1) == 3),
        "{}",
        up.logs()
    );
    // Refused when signed by a key that is not a member's.
    let other = tmp.path().join("other");
    want_json(&["init", "--nodes", "1", "--out", other.to_str().unwrap()]).ok_json();
    let other_config = other.join("node1.toml");
    let other_text = std::fs::read_to_string(&other_config).unwrap();
    // Point the stranger's configuration at this cluster's node 1, keep its own key.
    let port = nodes[0].1.rsplit(':').next().unwrap();
    let stranger = |genesis: Option<&Path>| {
        let mut lines = Vec::new();
        for l in other_text.lines() {
            if l.starts_with("advertise_url") {
                lines.push(format!("advertise_url = \"{}\"", nodes[0].1));
            } else if l.starts_with("http_addr") {
                lines.push(format!("http_addr = \"127.0.0.1:{port}\""));
            } else if let (true, Some(g)) = (l.starts_with("genesis_file"), genesis) {
                lines.push(format!("genesis_file = {:?}", g.to_str().unwrap()));
            } else {
                lines.push(l.to_string());
            }
        }
        std::fs::write(&other_config, lines.join("\n")).unwrap();
        want_json(&[
            "cluster",
            "remove-node",
            "--config",
            other_config.to_str().unwrap(),
            "--id",
            "2",
        ])
    };
    // With its own genesis, the command finds that the node's membership history does not
    // start from it: it trusts none of the leader's details and sends nothing.
    let run = stranger(None);
    run.err_code("unverified_leader");
    // With this cluster's genesis, the leader refuses a request signed by a non-member's key.
    let run = stranger(Some(&dir.join("genesis.json")));
    run.err_code("membership_change_failed");
    assert!(wait_until(Duration::from_secs(5), || voters(&nodes[0].1) == 3));
}

#[test]
fn block_verify_checks_a_cluster_blocks_certificate_against_the_genesis_members() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cluster");
    let up = ClusterUp::start(&dir, &["--nodes", "3"]);
    let nodes = up.nodes();
    let key = want_crypto::SigningKey::Secp256k1(dev_private_key());
    let stx = key.sign_transaction(want_types::Transaction {
        chain_id: want_node::config::DEV_CHAIN_ID,
        from: key.address(),
        nonce: 0,
        fee: want_node::config::DEV_MIN_FEE,
        expiry_ms: want_node::now_ms() + 600_000,
        pow_nonce: 0,
        call: want_types::Call::Token(want_types::TokenCall::Transfer {
            to: want_types::Address::system("verify-shop"),
            amount: 5,
        }),
    });
    // Sent to a follower or the leader alike; answered after the block is executed there.
    let v: Value = http_client()
        .post(format!("{}/v1/transactions?wait=commit", nodes[1].1))
        .json(&stx)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let height = v["block_height"]
        .as_u64()
        .unwrap_or_else(|| panic!("{v}\n{}", up.logs()));
    let genesis = dir.join("genesis.json");
    let mut verified = Value::Null;
    assert!(
        wait_until(Duration::from_secs(20), || {
            let run = want_json(&[
                "block",
                "verify",
                &height.to_string(),
                "--genesis",
                genesis.to_str().unwrap(),
                "--node",
                &nodes[2].1,
            ]);
            verified = run.json();
            verified["valid"] == true
        }),
        "{verified}"
    );
    assert_eq!(verified["members"], 3);
    assert_eq!(verified["required"], 2);
    assert!(
        verified["signers"].as_array().unwrap().len() >= 2,
        "{verified}"
    );
    // Against another cluster's genesis the same certificate does not verify.
    let other = tmp.path().join("other");
    want_json(&["init", "--nodes", "3", "--out", other.to_str().unwrap()]).ok_json();
    let run = want_json(&[
        "block",
        "verify",
        &height.to_string(),
        "--genesis",
        other.join("genesis.json").to_str().unwrap(),
        "--node",
        &nodes[2].1,
    ]);
    assert_eq!(run.json()["valid"], false);
}
