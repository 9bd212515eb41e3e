//! Integration tests of the `want` command line: keys, transactions online and offline, chain
//! queries, error codes, and `want dev` start/restart behaviour. Every test runs the real binary.

use crate::common;

use std::path::{Path, PathBuf};

use common::{
    closed_url, free_port, http_client, password_file, s, transfer, want, want_json, DevNode,
};
use serde_json::Value;
use want_node::config::{dev_private_key, DEV_CHAIN_ID};
use want_types::SignedTransaction;

/// A known TRON key pair (TRON HTTP API `wallet/generateaddress` documentation example).
const TRON_PRIVATE_KEY: &str = "097c8ba8a310f39a41a667d35a20000cd21d58c7322484b584c4ada8ebd3ec06";
const TRON_ADDRESS: &str = "TLHx2Ta9WwtwDjgGxyeifHs5ipmJrJAbZ3";

/// The pbkdf2 test vector of the Web3 Secret Storage Definition (password "testpassword").
const PBKDF2_VECTOR: &str = r#"{
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": { "iv": "6087dab2f9fdbbfaddc31a909735c1e6" },
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {
            "c": 262144,
            "dklen": 32,
            "prf": "hmac-sha256",
            "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"
        },
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3
}"#;
const PBKDF2_VECTOR_SECRET: &str =
    "7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d";

/// `want key new --kdf light`; returns (address, keystore path).
fn key_new(dir: &Path, password_file: &Path, extra: &[&str]) -> (String, PathBuf) {
    let mut args = vec![
        "key",
        "new",
        "--keystore-dir",
        s(dir),
        "--password-file",
        s(password_file),
        "--kdf",
        "light",
    ];
    args.extend_from_slice(extra);
    let v = want_json(&args).ok_json();
    let address = v["address"].as_str().expect("address").to_string();
    let keystore = PathBuf::from(v["keystore"].as_str().expect("keystore path"));
    (address, keystore)
}

/// `want key import --private-key-file`; returns (address, keystore path).
fn import_hex(dir: &Path, key_file: &Path, password_file: &Path) -> (String, PathBuf) {
    let v = want_json(&[
        "key",
        "import",
        "--private-key-file",
        s(key_file),
        "--keystore-dir",
        s(dir),
        "--password-file",
        s(password_file),
        "--kdf",
        "light",
    ])
    .ok_json();
    (
        v["address"].as_str().expect("address").to_string(),
        PathBuf::from(v["keystore"].as_str().expect("keystore")),
    )
}

fn key_show(keystore: &Path, password_file: &Path) -> common::Run {
    want_json(&[
        "key",
        "show",
        "--keystore",
        s(keystore),
        "--password-file",
        s(password_file),
    ])
}

/// A keystore of the (public) development key, made without any node.
fn dev_keystore(dir: &Path, password_file: &Path) -> PathBuf {
    let key_file = dir.join("dev.hex");
    std::fs::write(&key_file, dev_private_key().to_hex()).unwrap();
    let (address, keystore) = import_hex(&dir.join("keys"), &key_file, password_file);
    assert_eq!(address, dev_private_key().address().to_string());
    keystore
}

fn account(address: &str, node: &str) -> Value {
    want_json(&["account", address, "--node", node]).ok_json()
}

#[test]
fn key_new_writes_a_v3_scrypt_keystore_that_only_its_password_unlocks() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "pw", "correct horse");
    let wrong = password_file(dir.path(), "wrong", "battery staple");
    let (address, keystore) = key_new(&dir.path().join("keys"), &pw, &[]);

    assert!(address.starts_with('T'), "{address}");
    assert!(address.parse::<want_types::Address>().is_ok(), "{address}");
    assert!(keystore.exists(), "{}", keystore.display());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&keystore).unwrap()).unwrap();
    assert_eq!(doc["version"], 3, "{doc}");
    assert_eq!(doc["crypto"]["kdf"], "scrypt", "{doc}");
    assert_eq!(doc["crypto"]["cipher"], "aes-128-ctr", "{doc}");
    assert!(doc["crypto"]["mac"].is_string(), "{doc}");

    let shown = key_show(&keystore, &pw).ok_json();
    assert_eq!(shown["address"], address.as_str());
    assert_eq!(shown["type"], "secp256k1");

    let msg = key_show(&keystore, &wrong).err_code("wrong_password");
    assert!(
        !msg.contains("battery"),
        "message leaks the password: {msg}"
    );

    // Missing MAC.
    let mut no_mac = doc.clone();
    no_mac["crypto"].as_object_mut().unwrap().remove("mac");
    let no_mac_path = dir.path().join("no-mac.json");
    std::fs::write(&no_mac_path, no_mac.to_string()).unwrap();
    let msg = key_show(&no_mac_path, &pw).err_code("corrupt_keystore");
    assert!(msg.contains("mac"), "message should name the field: {msg}");

    // Truncated file.
    let text = std::fs::read_to_string(&keystore).unwrap();
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    key_show(&truncated, &pw).err_code("corrupt_keystore");

    // No such file.
    key_show(&dir.path().join("missing.json"), &pw).err_code("keystore_unreadable");
}

#[test]
fn key_import_of_a_tron_private_key_gives_the_tron_address() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "pw", "pw");
    let key_file = dir.path().join("tron.hex");
    // As TRON wallets export it, with a trailing newline.
    std::fs::write(&key_file, format!("{TRON_PRIVATE_KEY}\n")).unwrap();
    let (address, keystore) = import_hex(&dir.path().join("keys"), &key_file, &pw);
    assert_eq!(address, TRON_ADDRESS);
    assert_eq!(key_show(&keystore, &pw).ok_json()["address"], TRON_ADDRESS);

    let bad = dir.path().join("bad.hex");
    std::fs::write(&bad, "not a key").unwrap();
    want_json(&[
        "key",
        "import",
        "--private-key-file",
        s(&bad),
        "--keystore-dir",
        s(&dir.path().join("keys")),
        "--password-file",
        s(&pw),
        "--kdf",
        "light",
    ])
    .err_code("invalid_private_key");
}

#[test]
fn key_import_of_the_web3_pbkdf2_vector_re_encrypts_it_under_a_new_password() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("vector.json");
    std::fs::write(&source, PBKDF2_VECTOR).unwrap();
    let source_pw = password_file(dir.path(), "source-pw", "testpassword");
    let new_pw = password_file(dir.path(), "new-pw", "a different password");
    let expected = want_crypto::PrivateKey::from_hex(PBKDF2_VECTOR_SECRET)
        .unwrap()
        .address()
        .to_string();

    let v = want_json(&[
        "key",
        "import",
        "--keystore-file",
        s(&source),
        "--source-password-file",
        s(&source_pw),
        "--keystore-dir",
        s(&dir.path().join("keys")),
        "--password-file",
        s(&new_pw),
        "--kdf",
        "light",
    ])
    .ok_json();
    assert_eq!(v["address"], expected.as_str());
    let keystore = PathBuf::from(v["keystore"].as_str().unwrap());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&keystore).unwrap()).unwrap();
    assert_eq!(doc["crypto"]["kdf"], "scrypt");

    // The new keystore opens with the new password only.
    assert_eq!(
        key_show(&keystore, &new_pw).ok_json()["address"],
        expected.as_str()
    );
    key_show(&keystore, &source_pw).err_code("wrong_password");

    // Without --source-password-file the new password is tried on the source: wrong.
    want_json(&[
        "key",
        "import",
        "--keystore-file",
        s(&source),
        "--keystore-dir",
        s(&dir.path().join("keys")),
        "--password-file",
        s(&new_pw),
        "--kdf",
        "light",
    ])
    .err_code("wrong_password");
}

#[test]
fn key_new_rsa_2048_round_trips_through_its_keystore() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "pw", "rsa password");
    let (address, keystore) = key_new(&dir.path().join("keys"), &pw, &["--type", "rsa"]);
    assert!(address.starts_with('T'), "{address}");
    let shown = key_show(&keystore, &pw).ok_json();
    assert_eq!(shown["address"], address.as_str());
    assert_eq!(shown["type"], "rsa");
    let key = want_crypto::read_keystore_file(&keystore, b"rsa password").unwrap();
    match key {
        want_crypto::SigningKey::Rsa(k) => {
            // PKCS#1 DER of a 2048-bit modulus is 270 bytes.
            assert_eq!(k.public_key_pkcs1_der().len(), 270);
        }
        other => panic!("expected an RSA key, got {other:?}"),
    }
}

#[test]
fn empty_password_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "pw", "");
    want_json(&[
        "key",
        "new",
        "--keystore-dir",
        s(&dir.path().join("keys")),
        "--password-file",
        s(&pw),
        "--kdf",
        "light",
    ])
    .err_code("empty_password");
    assert!(!dir.path().join("keys").exists());
}

#[test]
fn full_flow_against_a_dev_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let dev_address = dev_private_key().address().to_string();
    assert_eq!(node.info["dev_address"], dev_address.as_str());
    assert_eq!(node.info["chain_id"], DEV_CHAIN_ID);

    // The dev key file: 64 hex digits (and a newline).
    let key_text = std::fs::read_to_string(data.join("dev-key.hex")).unwrap();
    let key_hex = key_text.trim();
    assert_eq!(key_hex.len(), 64, "{key_text:?}");
    assert!(
        key_hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{key_text:?}"
    );

    let pw = password_file(dir.path(), "pw", "pw");
    let keys = dir.path().join("keys");
    let (address, keystore) = import_hex(&keys, &data.join("dev-key.hex"), &pw);
    assert_eq!(address, dev_address);
    let (recipient, _) = key_new(&keys, &pw, &[]);

    let before = account(&dev_address, url);
    assert_eq!(before["nonce"], 0);

    let receipt = transfer(&keystore, &pw, &recipient, "12.5", url).ok_json();
    assert_eq!(receipt["status"], "committed", "{receipt}");
    assert_eq!(receipt["receipt"]["status"], "success", "{receipt}");
    assert_eq!(receipt["block_height"], 1, "{receipt}");
    let id = receipt["id"].as_str().unwrap().to_string();

    let to = account(&recipient, url);
    assert_eq!(to["balance"], "12500000", "{to}");
    assert_eq!(to["balance_want"], "12.5", "{to}");
    assert_eq!(to["nonce"], 0);
    let from = account(&dev_address, url);
    assert_eq!(from["nonce"], 1, "{from}");
    assert_eq!(from["pending_nonce"], 1, "{from}");
    let before_balance: u128 = before["balance"].as_str().unwrap().parse().unwrap();
    let after_balance: u128 = from["balance"].as_str().unwrap().parse().unwrap();
    // Amount, 1 % transfer fee and the minimum fee.
    assert_eq!(
        before_balance - after_balance,
        12_500_000 + 125_000 + want_node::config::DEV_MIN_FEE
    );

    let latest = want_json(&["block", "latest", "--node", url]).ok_json();
    assert_eq!(latest["height"], 1, "{latest}");
    let block1 = want_json(&["block", "1", "--full", "--node", url]).ok_json();
    assert_eq!(block1["hash"], latest["hash"]);
    assert_eq!(block1["tx_ids"][0], id.as_str(), "{block1}");
    assert_eq!(block1["receipts"][0]["status"], "success", "{block1}");
    let block0 = want_json(&["block", "0", "--node", url]).ok_json();
    assert_eq!(block1["header"]["prev_hash"], block0["hash"]);
    want_json(&["block", "99", "--node", url]).err_code("block_not_found");
    want_json(&["block", "1.5", "--node", url]).err_code("invalid_height");

    let status = want_json(&["status", "--node", url]).ok_json();
    assert_eq!(status["chain_id"], DEV_CHAIN_ID);
    assert_eq!(status["height"], 1);
    assert_eq!(status["mempool_size"], 0);
    assert_eq!(status["head_hash"], latest["hash"]);

    let shown = want_json(&["tx", "show", &id, "--node", url]).ok_json();
    assert_eq!(shown["status"], "committed", "{shown}");
    assert_eq!(shown["block_height"], 1);
    assert_eq!(shown["sender"], dev_address.as_str());
    assert_eq!(shown["receipt"]["status"], "success");
    assert!(
        shown["proof"].is_object() || shown["proof"].is_array(),
        "{shown}"
    );
    want_json(&["tx", "show", &"00".repeat(32), "--node", url]).err_code("tx_not_found");
    want_json(&["tx", "show", "xyz", "--node", url]).err_code("invalid_hash");

    // Human output (no --json) works too.
    let human = want(&["status", "--node", url]);
    assert_eq!(human.code, Some(0), "{}", human.stderr);
    assert!(human.stdout.contains("height"), "{}", human.stdout);

    // A transfer the account cannot afford is refused by the node with its code.
    let (poor_address, poor_keystore) = key_new(&keys, &pw, &[]);
    let refused = transfer(&poor_keystore, &pw, &dev_address, "1", url);
    refused.err_code("insufficient_balance");
    assert_eq!(account(&poor_address, url)["nonce"], 0);
}

#[test]
fn tx_show_prints_the_inclusion_proof_and_checks_it_against_the_tx_root() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Slow blocks, so that the three transfers share one and each proof has siblings.
    let node = DevNode::start(&data, &["--block-interval-ms", "700"]);
    let url = node.url.as_str();
    let key = data.join("dev-key.hex");
    let to = want_crypto::PrivateKey::generate().address().to_string();
    let ids: Vec<String> = (0..3)
        .map(|nonce| {
            let v = want_json(&[
                "tx",
                "transfer",
                "--key-file",
                s(&key),
                "--to",
                &to,
                "--amount",
                "1",
                "--nonce",
                &nonce.to_string(),
                "--node",
                url,
            ])
            .ok_json();
            v["id"].as_str().expect("an id").to_string()
        })
        .collect();
    for id in &ids {
        let mut shown = Value::Null;
        assert!(
            common::wait_until(std::time::Duration::from_secs(20), || {
                shown = want_json(&["tx", "show", id, "--node", url]).ok_json();
                shown["status"] == "committed"
            }),
            "{shown}"
        );
        let human = want(&["tx", "show", id, "--node", url]);
        assert_eq!(human.code, Some(0), "{}", human.stderr);
        let out = &human.stdout;
        let tx_root = shown["tx_root"].as_str().unwrap();
        assert!(out.contains(&format!("tx root     {tx_root}")), "{out}");
        assert!(
            out.contains(&format!(
                "block hash  {}",
                shown["block_hash"].as_str().unwrap()
            )),
            "{out}"
        );
        assert!(
            out.contains(&format!(
                "leaf {} of {}",
                shown["proof"]["index"], shown["proof"]["tree_size"]
            )),
            "{out}"
        );
        assert!(
            out.contains("leads from the id to the tx root (checked)"),
            "{out}"
        );
        for sibling in shown["proof"]["path"].as_array().unwrap() {
            assert!(out.contains(sibling.as_str().unwrap()), "{out}");
        }
    }
}

#[test]
fn cold_wallet_signs_offline_and_the_file_is_sent_later_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "pw", "cold");
    let keystore = dev_keystore(dir.path(), &pw);
    let recipient = want_crypto::PrivateKey::generate().address().to_string();
    let tx_file = dir.path().join("tx.json");

    // No node anywhere: the URL points to a closed port and must not be contacted.
    let closed = closed_url();
    let signed = want_json(&[
        "tx",
        "transfer",
        "--to",
        &recipient,
        "--amount",
        "3",
        "--keystore",
        s(&keystore),
        "--password-file",
        s(&pw),
        "--offline",
        "--nonce",
        "0",
        "--out",
        s(&tx_file),
        "--node",
        &closed,
    ])
    .ok_json();
    let id = signed["id"].as_str().unwrap().to_string();
    assert_eq!(signed["nonce"], 0);
    let stx: SignedTransaction =
        serde_json::from_str(&std::fs::read_to_string(&tx_file).unwrap()).unwrap();
    assert_eq!(stx.id().to_string(), id);
    assert_eq!(stx.tx.chain_id, DEV_CHAIN_ID);
    let (vid, sender) = want_crypto::verify_transaction(&stx).unwrap();
    assert_eq!(vid.to_string(), id);
    assert_eq!(sender, dev_private_key().address());

    // Offline signing without --nonce is refused (it cannot ask the node).
    want_json(&[
        "tx",
        "transfer",
        "--to",
        &recipient,
        "--amount",
        "3",
        "--keystore",
        s(&keystore),
        "--password-file",
        s(&pw),
        "--offline",
        "--node",
        &closed,
    ])
    .err_code("missing_argument");

    // Later, on a connected machine.
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);
    let sent = want_json(&["tx", "send", s(&tx_file), "--wait", "--node", &node.url]).ok_json();
    assert_eq!(sent["id"], id.as_str());
    assert_eq!(sent["status"], "committed");
    assert_eq!(sent["receipt"]["status"], "success", "{sent}");
    assert_eq!(account(&recipient, &node.url)["balance"], "3000000");

    // A replay of the same file is refused.
    let again = want_json(&["tx", "send", s(&tx_file), "--wait", "--node", &node.url]);
    assert_eq!(again.code, Some(1), "{}", again.stdout);
    let code = again.json()["error"]["code"].as_str().unwrap().to_string();
    assert!(
        code == "duplicate_transaction" || code == "nonce_too_low",
        "unexpected code {code}"
    );
    assert_eq!(account(&recipient, &node.url)["balance"], "3000000");

    // A file that is not a transaction.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, r#"{"tx": 1}"#).unwrap();
    want_json(&["tx", "send", s(&junk), "--node", &node.url]).err_code("invalid_transaction");
}

#[test]
fn tx_send_wait_of_a_nonce_ahead_of_the_account_says_what_it_waits_for() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("dev.hex");
    std::fs::write(&key_file, dev_private_key().to_hex()).unwrap();
    let recipient = want_crypto::PrivateKey::generate().address().to_string();
    let sign = |nonce: &str| {
        let file = dir.path().join(format!("tx{nonce}.json"));
        want_json(&[
            "tx",
            "transfer",
            "--to",
            &recipient,
            "--amount",
            "1",
            "--key-file",
            s(&key_file),
            "--offline",
            "--nonce",
            nonce,
            "--out",
            s(&file),
        ])
        .ok_json();
        file
    };
    let (first, second) = (sign("0"), sign("1"));
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);

    // Nonce 1 first: the command says that it waits for nonce 0, then waits.
    let mut waiting = std::process::Command::new(common::want_bin())
        .args([
            "--json",
            "tx",
            "send",
            s(&second),
            "--wait",
            "--node",
            &node.url,
        ])
        .env_remove("WANT_NODE")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut notice = String::new();
    std::io::BufReader::new(waiting.stderr.take().unwrap())
        .read_line(&mut notice)
        .unwrap();
    assert!(
        notice.contains("next nonce 0") && notice.contains("nonce 0 is sent"),
        "{notice}"
    );
    // Once nonce 0 is sent, both commit.
    let sent = want_json(&["tx", "send", s(&first), "--wait", "--node", &node.url]).ok_json();
    assert_eq!(sent["receipt"]["status"], "success", "{sent}");
    let out = waiting.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let answer: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(answer["status"], "committed", "{answer}");
    assert_eq!(answer["receipt"]["status"], "success", "{answer}");
    assert_eq!(account(&recipient, &node.url)["balance"], "2000000");
}

#[test]
fn bad_command_line_input_gets_stable_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), "pw", "pw");
    let keystore = dev_keystore(dir.path(), &pw);
    let closed = closed_url();
    let to = TRON_ADDRESS;
    let base = |to: &str, amount: &str| {
        want_json(&[
            "tx",
            "transfer",
            "--to",
            to,
            "--amount",
            amount,
            "--keystore",
            s(&keystore),
            "--password-file",
            s(&pw),
            "--node",
            &closed,
        ])
    };
    let msg = base(to, "1.0000001").err_code("invalid_amount");
    assert!(msg.contains("6 decimal"), "{msg}");
    base(to, "+1").err_code("invalid_amount");
    base(to, "1e6").err_code("invalid_amount");
    // Zero moves nothing and would still pay the fee.
    for zero in ["0", "0.000000"] {
        let msg = base(to, zero).err_code("invalid_amount");
        assert!(msg.contains("more than 0"), "{msg}");
    }
    base("0x1234", "1").err_code("invalid_address");
    // A checksum error in an otherwise well-formed address.
    base("TLHx2Ta9WwtwDjgGxyeifHs5ipmJrJAbZ4", "1").err_code("invalid_address");
    // Valid input, but nothing listens at the node URL.
    let msg = base(to, "1").err_code("node_unreachable");
    assert!(msg.contains(&closed), "{msg}");
    want_json(&["status", "--node", &closed]).err_code("node_unreachable");
    want_json(&["account", to, "--node", &closed]).err_code("node_unreachable");
    want_json(&["account", "nope", "--node", &closed]).err_code("invalid_address");
    want_json(&["block", "abc", "--node", &closed]).err_code("invalid_height");

    // Arguments clap refuses are reported as one JSON error object too.
    let msg = want_json(&["tx", "transfer", "--to", to]).err_code("invalid_arguments");
    assert!(msg.contains("--amount"), "{msg}");
    let msg = want_json(&["block", "-1", "--node", &closed]).err_code("invalid_arguments");
    assert!(msg.contains("-1"), "{msg}");
    want_json(&["frobnicate"]).err_code("invalid_arguments");
    let help = want_json(&["--help"]);
    assert_eq!(help.code, Some(0));
    assert!(help.stdout.contains("Usage"), "{}", help.stdout);

    // Without --json the error goes to stderr with its code, and the exit code is 1.
    let human = want(&["status", "--node", &closed]);
    assert_eq!(human.code, Some(1));
    assert!(human.stdout.is_empty(), "{}", human.stdout);
    assert!(
        human.stderr.contains("node_unreachable"),
        "{}",
        human.stderr
    );
}

#[test]
fn dev_on_a_port_in_use_fails_without_touching_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = dir.path().join("data");
    let run = want_json(&["dev", "--data-dir", s(&data), "--http", &addr]);
    let msg = run.err_code("address_in_use");
    assert!(msg.contains("already in use"), "{msg}");
    assert!(!data.exists(), "the data directory was created");
    assert!(!data.join("chain.redb").exists());

    // An existing, empty data directory stays empty.
    std::fs::create_dir(&data).unwrap();
    let run = want(&["dev", "--data-dir", s(&data), "--http", &addr]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("already in use"), "{}", run.stderr);
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
    drop(taken);
}

#[test]
fn dev_reachable_from_other_machines_protects_capture_with_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = DevNode::start_on("0.0.0.0", &data, &[]);
    let token_file = node.info["capture_token_file"]
        .as_str()
        .expect("a capture token file when listening beyond loopback")
        .to_string();
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.trim().len() >= 32, "{token}");
    let http = http_client();
    let capture = format!("{}/v1/epcis/capture", node.url);
    let r = http.post(&capture).body("{}").send().unwrap();
    assert_eq!(r.status(), 401, "{}", r.text().unwrap());
    // With the token the request gets past authentication (and is refused for its body).
    let r = http
        .post(&capture)
        .header("authorization", format!("Bearer {}", token.trim()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().unwrap());
    // On loopback no token is written.
    let local = DevNode::start(&dir.path().join("local"), &[]);
    assert!(local.info["capture_token_file"].is_null(), "{}", local.info);
}

#[test]
fn dev_restarted_on_the_same_data_dir_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pw = password_file(dir.path(), "pw", "pw");
    let keystore = dev_keystore(dir.path(), &pw);
    let dev_address = dev_private_key().address().to_string();
    let recipient = want_crypto::PrivateKey::generate().address().to_string();

    let mut node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let first_genesis = node.get("/v1/status")["genesis_hash"].clone();
    for amount in ["1", "2"] {
        transfer(&keystore, &pw, &recipient, amount, &node.url).ok_json();
    }
    let height = node.get("/v1/status")["height"].as_u64().unwrap();
    assert_eq!(height, 2);
    let head = node.get("/v1/blocks/latest")["hash"].clone();
    let dev_balance = account(&dev_address, &node.url)["balance"].clone();

    // A second node on the same directory is refused while the first runs.
    let port = free_port();
    let second = want_json(&[
        "dev",
        "--data-dir",
        s(&data),
        "--http",
        &format!("127.0.0.1:{port}"),
    ]);
    second.err_code("data_dir_in_use");

    assert!(node.stop(), "the node did not stop cleanly on SIGTERM");

    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    assert_eq!(node.info["height"], height, "{}", node.info);
    let status = node.get("/v1/status");
    assert_eq!(status["height"], height);
    assert_eq!(status["genesis_hash"], first_genesis);
    assert_eq!(status["head_hash"], head);
    assert_eq!(account(&recipient, &node.url)["balance"], "3000000");
    assert_eq!(account(&dev_address, &node.url)["balance"], dev_balance);
    assert_eq!(account(&dev_address, &node.url)["nonce"], 2);

    // And it keeps going from there.
    let r = transfer(&keystore, &pw, &recipient, "4", &node.url).ok_json();
    assert_eq!(r["block_height"], height + 1, "{r}");
    let b = node.get(&format!("/v1/blocks/{}", height + 1));
    assert_eq!(b["header"]["prev_hash"], head);
    assert_eq!(account(&recipient, &node.url)["balance"], "7000000");
}

#[test]
fn dev_refuses_a_data_dir_of_a_newer_format() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut node = DevNode::start(&data, &[]);
    assert!(node.stop(), "the node did not stop cleanly on SIGTERM");
    drop(node);

    {
        let store = want_storage::Store::open(&data).unwrap();
        store.set_format_version_for_test(99).unwrap();
    }
    let before = std::fs::read(data.join("chain.redb")).unwrap();
    let hash = |b: &[u8]| want_types::hash::sha256(b);

    let port = free_port();
    let run = want_json(&[
        "dev",
        "--data-dir",
        s(&data),
        "--http",
        &format!("127.0.0.1:{port}"),
    ]);
    let msg = run.err_code("format_too_new");
    assert!(msg.contains("99"), "{msg}");
    assert!(
        hash(&std::fs::read(data.join("chain.redb")).unwrap()) == hash(&before),
        "the refused database was modified"
    );
}
