//! The shared signer of `want tx …` and the signing `want trace …` commands, against real
//! `want dev` processes: offline signing and later broadcast, proof-of-work stamps from empty
//! accounts, raw key files, RSA keys, several transactions of one command, and the key-source
//! error codes.

use crate::common;

use std::path::{Path, PathBuf};

use common::{closed_url, password_file, want_json, DevNode};
use serde_json::Value;
use want_crypto::PrivateKey;
use want_node::config::{dev_private_key, DEV_CHAIN_ID, DEV_MIN_FEE};
use want_types::trace::TraceCall;
use want_types::{Call, SignedTransaction};

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

fn gs1(file: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/epcis/gs1/JSON")
        .join(file);
    assert!(p.is_file(), "GS1 example {} not found", p.display());
    p
}

/// `want --json` with the arguments of several slices.
fn run(parts: &[&[&str]]) -> common::Run {
    want_json(&parts.concat())
}

/// The development key as a raw key file (64 hex digits), written without any node.
fn dev_key_file(dir: &Path) -> PathBuf {
    let p = dir.join("dev-key.hex");
    std::fs::write(&p, format!("{}\n", dev_private_key().to_hex())).unwrap();
    p
}

/// `want key new --kdf light` (an RSA key with `--type rsa`); returns its JSON and keystore.
fn key_new(dir: &Path, pw: &Path, extra: &[&str]) -> (Value, PathBuf) {
    let v = run(&[
        &[
            "key",
            "new",
            "--keystore-dir",
            s(dir),
            "--password-file",
            s(pw),
            "--kdf",
            "light",
        ],
        extra,
    ])
    .ok_json();
    let keystore = PathBuf::from(v["keystore"].as_str().unwrap());
    (v, keystore)
}

fn read_stx(path: &Path) -> SignedTransaction {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn read_stxs(path: &Path) -> Vec<SignedTransaction> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `want trace org register` of `org` (kind brand, records sealed to `enc`) with `signer` flags.
fn register_org(org: &str, enc: &str, signer: &[&str], node: &str) -> common::Run {
    run(&[
        &[
            "trace",
            "org",
            "register",
            "--org",
            org,
            "--name",
            "Test Org",
            "--kind",
            "brand",
            "--encryption-key",
            enc,
            "--node",
            node,
        ],
        signer,
    ])
}

/// `want trace key add` of `address` to `org` with `roles`, with `signer` flags.
fn add_key(org: &str, address: &str, roles: &str, signer: &[&str], node: &str) -> common::Run {
    run(&[
        &[
            "trace",
            "key",
            "add",
            "--org",
            org,
            "--address",
            address,
            "--department",
            "shipping",
            "--roles",
            roles,
            "--node",
            node,
        ],
        signer,
    ])
}

fn account(address: &str, node: &str) -> Value {
    want_json(&["account", address, "--node", node]).ok_json()
}

#[test]
fn a_trace_command_signed_offline_is_broadcast_later_with_tx_send() {
    let dir = tempfile::tempdir().unwrap();
    let kf = dev_key_file(dir.path());
    let dev = dev_private_key().address().to_string();
    let enc = PrivateKey::generate().public_key_compressed_hex();
    let department = PrivateKey::generate().address().to_string();
    // No node anywhere: the URL points to a closed port and must not be contacted.
    let closed = closed_url();
    let admin = ["--key-file", s(&kf)];

    let org_file = dir.path().join("org.json");
    let v = register_org(
        "acme",
        &enc,
        &[
            &admin[..],
            &["--offline", "--nonce", "0", "--out", s(&org_file)],
        ]
        .concat(),
        &closed,
    )
    .ok_json();
    assert_eq!(v["file"], s(&org_file), "{v}");
    assert_eq!(v["nonce"], 0, "{v}");
    assert_eq!(v["sender"], dev.as_str(), "{v}");
    assert!(v["block_height"].is_null(), "not sent: {v}");
    let stx = read_stx(&org_file);
    assert_eq!(v["tx"], stx.id().to_string().as_str());
    let (_, sender) = want_crypto::verify_transaction(&stx).unwrap();
    assert_eq!(sender.to_string(), dev);
    assert_eq!(stx.tx.chain_id, DEV_CHAIN_ID);
    assert_eq!(
        stx.tx.fee, DEV_MIN_FEE,
        "offline: the dev chain's minimum fee"
    );
    assert!(matches!(
        stx.tx.call,
        Call::Trace(TraceCall::RegisterOrg { .. })
    ));

    // Without --out, offline signing prints the signed transaction.
    let v = add_key(
        "acme",
        &department,
        "warehouse",
        &[&admin[..], &["--offline", "--nonce", "1"]].concat(),
        &closed,
    )
    .ok_json();
    let printed: SignedTransaction =
        serde_json::from_value(v["signed_transaction"].clone()).unwrap();
    assert_eq!(printed.tx.nonce, 1);
    assert_eq!(v["tx"], printed.id().to_string().as_str());
    let key_file = dir.path().join("key.json");
    std::fs::write(&key_file, serde_json::to_string(&printed).unwrap()).unwrap();

    // Offline needs a nonce; commands that read from or store on the node cannot run offline.
    add_key(
        "acme",
        &department,
        "warehouse",
        &[&admin[..], &["--offline"]].concat(),
        &closed,
    )
    .err_code("missing_argument");
    let capture = gs1("Example_9.6.1-ObjectEvent.jsonld");
    let msg = run(&[
        &["trace", "capture", s(&capture), "--node", &closed],
        &admin,
        &["--offline", "--nonce", "2"],
    ])
    .err_code("offline_unsupported");
    assert!(msg.contains("--out"), "says what to do instead: {msg}");

    // Later, on a connected machine: both commit, in nonce order.
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    for file in [&org_file, &key_file] {
        let sent = want_json(&["tx", "send", s(file), "--wait", "--node", url]).ok_json();
        assert_eq!(sent["status"], "committed", "{sent}");
        assert_eq!(sent["receipt"]["status"], "success", "{sent}");
    }
    let org = node.get("/v1/trace/orgs/acme");
    assert_eq!(org["keys"][0]["address"], department.as_str(), "{org}");
    assert_eq!(account(&dev, url)["nonce"], 2);
}

#[test]
fn an_account_without_balance_acts_in_trace_with_a_pow_stamp() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let pw = password_file(dir.path(), "pw", "shop password");
    let (shop, shop_ks) = key_new(&dir.path().join("keys"), &pw, &[]);
    let shop_addr = shop["address"].as_str().unwrap();
    let shop_k = ["--keystore", s(&shop_ks), "--password-file", s(&pw)];
    // The administrator signs with the node's dev key file.
    let dev_kf = data.join("dev-key.hex");
    let admin = ["--key-file", s(&dev_kf)];

    let v = register_org("acme", shop["public_key"].as_str().unwrap(), &admin, url).ok_json();
    assert!(v["block_height"].as_u64().is_some(), "waited: {v}");
    add_key("acme", shop_addr, "warehouse,logistics", &admin, url).ok_json();
    assert_eq!(account(shop_addr, url)["balance"], "0");

    // The empty shop key captures with a stamp instead of a fee; the records are anchored.
    let file = gs1("Example_9.6.1-ObjectEvent.jsonld");
    let v = run(&[
        &["trace", "capture", s(&file), "--pow", "--node", url],
        &shop_k,
    ])
    .ok_json();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{v}");
    let tx = events[0]["tx"].as_str().unwrap();
    let shown = want_json(&["tx", "show", tx, "--node", url]).ok_json();
    assert_eq!(shown["receipt"]["status"], "success", "{shown}");
    assert_eq!(shown["receipt"]["fee_paid"], "0", "{shown}");
    let shop_account = account(shop_addr, url);
    assert_eq!(shop_account["balance"], "0", "{shop_account}");
    assert_eq!(shop_account["nonce"], 1, "{shop_account}");
    let record = node.get(&format!(
        "/v1/trace/records/{}",
        want_node::trace::urlencode(events[1]["eventHash"].as_str().unwrap())
    ));
    assert_eq!(record["signer"], shop_addr, "{record}");

    // Without a stamp it cannot pay.
    let shipping = dir.path().join("shipping.jsonld");
    std::fs::write(&shipping, r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE","bizStep":"shipping","epcList":["urn:epc:id:sgtin:0614141.107346.77"]}"#).unwrap();
    run(&[&["trace", "capture", s(&shipping), "--node", url], &shop_k])
        .err_code("insufficient_balance");
}

/// An EPCIS document of `n` distinct commissioning events.
fn many_events(n: usize) -> String {
    let events: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","bizStep":"commissioning","epcList":["urn:epc:id:sgtin:0614141.107346.{}"]}}"#,
                10_000 + i
            )
        })
        .collect();
    format!(
        r#"{{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"EPCISDocument","schemaVersion":"2.0","creationDate":"2024-01-01T00:00:00Z","epcisBody":{{"eventList":[{}]}}}}"#,
        events.join(",")
    )
}

#[test]
fn a_capture_needing_several_anchors_signs_consecutive_nonces_into_one_array_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    // The dev account is a key of the dev organisation with every role.
    let dev_kf = data.join("dev-key.hex");
    let dev = ["--key-file", s(&dev_kf)];
    let n = want_types::trace::ANCHOR_RECORDS_MAX + 1;
    let doc = dir.path().join("many.jsonld");
    std::fs::write(&doc, many_events(n)).unwrap();

    // Anchors over 16 KiB cannot be paid by a stamp: refused before anything is sent.
    run(&[&["trace", "capture", s(&doc), "--pow", "--node", url], &dev]).err_code("fee_too_low");
    assert_eq!(
        account(&dev_private_key().address().to_string(), url)["pending_nonce"],
        0
    );

    let out = dir.path().join("anchors.json");
    let v = run(&[
        &["trace", "capture", s(&doc), "--out", s(&out), "--node", url],
        &dev,
    ])
    .ok_json();
    assert_eq!(v["file"], s(&out), "{v}");
    assert_eq!(v["nonce"], 0, "{v}");
    let stxs = read_stxs(&out);
    assert_eq!(stxs.len(), 2, "one anchor holds {} records", n - 1);
    assert_eq!((stxs[0].tx.nonce, stxs[1].tx.nonce), (0, 1));
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), n);
    assert_eq!(events[0]["tx"], stxs[0].id().to_string().as_str());
    assert_eq!(events[n - 2]["tx"], stxs[0].id().to_string().as_str());
    assert_eq!(events[n - 1]["tx"], stxs[1].id().to_string().as_str());
    // Nothing was sent yet.
    assert_eq!(node.get("/v1/status")["mempool_size"], 0);

    let sent = want_json(&["tx", "send", s(&out), "--wait", "--node", url]).ok_json();
    let answers = sent["transactions"].as_array().unwrap();
    assert_eq!(answers.len(), 2, "{sent}");
    for (a, stx) in answers.iter().zip(&stxs) {
        assert_eq!(a["id"], stx.id().to_string().as_str());
        assert_eq!(a["receipt"]["status"], "success", "{a}");
    }
    let last = node.get(&format!(
        "/v1/trace/records/{}",
        want_node::trace::urlencode(events[n - 1]["eventHash"].as_str().unwrap())
    ));
    assert_eq!(last["tx"], stxs[1].id().to_string().as_str(), "{last}");
}

#[test]
fn a_raw_key_file_signs_tx_transfer_and_trace_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let kf = data.join("dev-key.hex");
    let kf_args = ["--key-file", s(&kf)];
    let recipient = PrivateKey::generate().address().to_string();

    let v = run(&[
        &[
            "tx", "transfer", "--to", &recipient, "--amount", "2", "--wait", "--node", url,
        ],
        &kf_args,
    ])
    .ok_json();
    assert_eq!(v["receipt"]["status"], "success", "{v}");
    assert_eq!(account(&recipient, url)["balance"], "2000000");

    let enc = PrivateKey::generate().public_key_compressed_hex();
    let v = register_org("acme", &enc, &kf_args, url).ok_json();
    assert_eq!(
        v.as_object().unwrap().len(),
        2,
        "exactly tx and block_height: {v}"
    );
    assert!(v["block_height"].as_u64().is_some(), "{v}");
    // --no-wait returns once the node accepted it.
    let department = PrivateKey::generate().address().to_string();
    let v = add_key(
        "acme",
        &department,
        "warehouse",
        &[&kf_args[..], &["--no-wait"]].concat(),
        url,
    )
    .ok_json();
    assert!(v["block_height"].is_null(), "{v}");
    let tx = v["tx"].as_str().unwrap().to_string();
    assert!(
        common::wait_until(std::time::Duration::from_secs(10), || {
            want_json(&["tx", "show", &tx, "--node", url]).json()["status"] == "committed"
        }),
        "the key add commits"
    );

    // Exactly one key source, with stable codes.
    let pw = password_file(dir.path(), "pw", "pw");
    let (_, ks) = key_new(&dir.path().join("keys"), &pw, &[]);
    let transfer = |key: &[&str]| {
        run(&[
            &[
                "tx", "transfer", "--to", &recipient, "--amount", "1", "--node", url,
            ],
            key,
        ])
    };
    transfer(
        &[
            &kf_args[..],
            &["--keystore", s(&ks), "--password-file", s(&pw)],
        ]
        .concat(),
    )
    .err_code("conflicting_arguments");
    transfer(&[&kf_args[..], &["--password-file", s(&pw)]].concat())
        .err_code("conflicting_arguments");
    transfer(&[]).err_code("missing_argument");
    transfer(&["--keystore", s(&ks)]).err_code("missing_argument");
    transfer(&["--password-file", s(&pw)]).err_code("missing_argument");
    transfer(&[&kf_args[..], &["--wait", "--no-wait"]].concat()).err_code("conflicting_arguments");
    transfer(&[&kf_args[..], &["--fee", "1", "--pow"]].concat()).err_code("conflicting_arguments");
    let bad = dir.path().join("bad.hex");
    std::fs::write(&bad, "not a key").unwrap();
    transfer(&["--key-file", s(&bad)]).err_code("invalid_private_key");
    register_org("other", &enc, &[], url).err_code("missing_argument");
}

#[test]
fn rsa_keys_sign_transactions_but_cannot_sign_or_open_records() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let pw = password_file(dir.path(), "pw", "rsa password");
    let (rsa, rsa_ks) = key_new(&dir.path().join("keys"), &pw, &["--type", "rsa"]);
    assert_eq!(rsa["type"], "rsa");
    let rsa_addr = rsa["address"].as_str().unwrap();
    let rsa_k = ["--keystore", s(&rsa_ks), "--password-file", s(&pw)];

    // Refused before any node is contacted, naming why.
    let closed = closed_url();
    let capture = gs1("Example_9.6.1-ObjectEvent.jsonld");
    let msg = run(&[
        &["trace", "capture", s(&capture), "--node", &closed],
        &rsa_k,
    ])
    .err_code("unsupported_key");
    assert!(
        msg.contains("RSA") && msg.contains("secp256k1") && msg.contains("seals"),
        "{msg}"
    );
    let event = format!("ni:///sha-256;{}?ver=CBV2.0", "ab".repeat(32));
    let partner = PrivateKey::generate().public_key_compressed_hex();
    run(&[
        &[
            "trace", "grant", &event, "--to-key", &partner, "--node", &closed,
        ],
        &rsa_k,
    ])
    .err_code("unsupported_key");
    run(&[&["trace", "fetch", &event, "--node", &closed], &rsa_k]).err_code("unsupported_key");
    run(&[
        &[
            "trace",
            "kyc",
            "attest",
            "--subject",
            rsa_addr,
            "--cid",
            "bafkreia",
            "--level",
            "1",
            "--node",
            &closed,
        ],
        &rsa_k,
    ])
    .err_code("unsupported_key");

    // Commands that only sign a transaction take it: as manager of its organisation, the RSA
    // key (no balance: a stamp) adds and revokes a department key.
    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let dev_kf = data.join("dev-key.hex");
    let admin = ["--key-file", s(&dev_kf)];
    let enc = PrivateKey::generate().public_key_compressed_hex();
    register_org("rsa-org", &enc, &admin, url).ok_json();
    add_key("rsa-org", rsa_addr, "manager", &admin, url).ok_json();
    let department = PrivateKey::generate().address().to_string();
    let v = add_key(
        "rsa-org",
        &department,
        "warehouse",
        &[&rsa_k[..], &["--pow"]].concat(),
        url,
    )
    .ok_json();
    assert!(v["block_height"].as_u64().is_some(), "{v}");
    let key = node.get(&format!("/v1/trace/keys/{department}"));
    assert_eq!(key["key"]["org"], "rsa-org", "{key}");
    run(&[
        &[
            "trace",
            "key",
            "revoke",
            "--address",
            &department,
            "--pow",
            "--node",
            url,
        ],
        &rsa_k,
    ])
    .ok_json();
    let key = node.get(&format!("/v1/trace/keys/{department}"));
    assert!(key["key"]["revoked_at"].as_u64().is_some(), "{key}");
    assert_eq!(account(rsa_addr, url)["balance"], "0");
}
