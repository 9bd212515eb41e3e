//! `want trace …` against a real `want dev` process: the interface contract of hash, capture and
//! verify, and the merchant's walk-through of the README (organisation, capture, verify, share).

use crate::common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

fn gs1(file: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/epcis/gs1/JSON")
        .join(file);
    assert!(p.is_file(), "GS1 example {} not found", p.display());
    p
}

fn vectors() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../want-epcis/tests/vectors/hash_ids.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Imports a private key (hex) into a keystore with a weak KDF (tests only); returns its path.
fn keystore(dir: &Path, name: &str, key_hex: Option<&str>, pw: &Path) -> (PathBuf, Value) {
    let ks_dir = dir.join(name);
    let run = match key_hex {
        Some(hex) => {
            let f = dir.join(format!("{name}.hex"));
            std::fs::write(&f, hex).unwrap();
            want_json(&[
                "key",
                "import",
                "--private-key-file",
                f.to_str().unwrap(),
                "--keystore-dir",
                ks_dir.to_str().unwrap(),
                "--password-file",
                pw.to_str().unwrap(),
                "--kdf",
                "light",
            ])
        }
        None => want_json(&[
            "key",
            "new",
            "--keystore-dir",
            ks_dir.to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
            "--kdf",
            "light",
        ]),
    };
    let v = run.ok_json();
    (PathBuf::from(v["keystore"].as_str().unwrap()), v)
}

#[test]
fn trace_hash_prints_the_gs1_event_hash_ids_in_document_order_offline() {
    let file = "Example_9.6.1-ObjectEvent.jsonld";
    let v = want_json(&["trace", "hash", gs1(file).to_str().unwrap()]).ok_json();
    let expected = &vectors()[file];
    let got: Vec<&Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["eventHash"])
        .collect();
    let want: Vec<&Value> = expected.as_array().unwrap().iter().collect();
    assert_eq!(got, want);
    assert_eq!(
        v.as_object().unwrap().len(),
        1,
        "exactly {{\"events\": […]}}"
    );
}

#[test]
fn a_merchant_registers_captures_verifies_and_shares() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("data"), &[]);
    let pw = password_file(dir.path(), "pw", "merchant password");
    let dev_hex = std::fs::read_to_string(dir.path().join("data/dev-key.hex")).unwrap();
    let (admin_ks, _) = keystore(dir.path(), "admin", Some(dev_hex.trim()), &pw);
    let (shop_ks, shop) = keystore(dir.path(), "shop", None, &pw);
    let (partner_ks, partner) = keystore(dir.path(), "partner", None, &pw);
    let n = ["--node", node.url.as_str()];
    let admin = [
        "--keystore",
        admin_ks.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ];
    let shop_k = [
        "--keystore",
        shop_ks.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ];
    let partner_k = [
        "--keystore",
        partner_ks.to_str().unwrap(),
        "--password-file",
        pw.to_str().unwrap(),
    ];
    let shop_addr = shop["address"].as_str().unwrap();
    let shop_pk = shop["public_key"].as_str().unwrap();

    // Fund the shop's key for fees, register its organisation and key.
    want_json(
        &[
            &[
                "tx", "transfer", "--to", shop_addr, "--amount", "100", "--wait",
            ][..],
            &admin,
            &n,
        ]
        .concat(),
    )
    .ok_json();
    want_json(
        &[
            &[
                "trace",
                "org",
                "register",
                "--org",
                "acme",
                "--name",
                "ACME Foods",
                "--kind",
                "brand",
                "--encryption-key",
                shop_pk,
            ][..],
            &admin,
            &n,
        ]
        .concat(),
    )
    .ok_json();
    want_json(
        &[
            &[
                "trace",
                "key",
                "add",
                "--org",
                "acme",
                "--address",
                shop_addr,
                "--department",
                "shipping",
                "--roles",
                "warehouse,logistics",
            ][..],
            &admin,
            &n,
        ]
        .concat(),
    )
    .ok_json();

    // Capture a shipment from GS1's examples.
    let file = gs1("Example_9.6.1-ObjectEvent.jsonld");
    let v = want_json(
        &[
            &["trace", "capture", file.to_str().unwrap()][..],
            &shop_k,
            &n,
        ]
        .concat(),
    )
    .ok_json();
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    let expected = &vectors()["Example_9.6.1-ObjectEvent.jsonld"];
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["eventHash"], expected[i]);
        assert_eq!(e["tx"].as_str().unwrap().len(), 64);
    }
    // Re-submitting is refused.
    let r = want_json(
        &[
            &["trace", "capture", file.to_str().unwrap()][..],
            &shop_k,
            &n,
        ]
        .concat(),
    );
    r.err_code("duplicate_event");
    // The same event with an errorDeclaration declares the captured one erroneous instead.
    let mut doc: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let mut declared = doc["epcisBody"]["eventList"][1].clone();
    declared["errorDeclaration"] =
        serde_json::json!({"declarationTime": "2024-05-01T08:00:00Z", "reason": "did_not_occur"});
    doc["epcisBody"]["eventList"] = serde_json::json!([declared]);
    let declaration = dir.path().join("declaration.jsonld");
    std::fs::write(&declaration, serde_json::to_vec(&doc).unwrap()).unwrap();
    let v = want_json(
        &[
            &["trace", "capture", declaration.to_str().unwrap()][..],
            &shop_k,
            &n,
        ]
        .concat(),
    )
    .ok_json();
    assert_eq!(v["events"][0]["eventHash"], expected[1], "{v}");
    assert_eq!(v["events"][0]["declaredErroneous"], true, "{v}");

    // Outside its roles (a warehouse/logistics key commissioning): refused before anything
    // is stored.
    let commissioning = dir.path().join("commissioning.jsonld");
    std::fs::write(&commissioning, r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"ADD","bizStep":"commissioning","epcList":["urn:epc:id:sgtin:0614141.107346.9"]}"#).unwrap();
    let r = want_json(
        &[
            &["trace", "capture", commissioning.to_str().unwrap()][..],
            &shop_k,
            &n,
        ]
        .concat(),
    );
    r.err_code("role_not_allowed");
    assert_eq!(r.json()["error"]["path"], "$.bizStep");

    // An invalid document: non-zero exit, the error shape with its path, nothing stored.
    let bad = dir.path().join("bad.jsonld");
    std::fs::write(&bad, r#"{"@context":["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],"type":"ObjectEvent","eventTime":"2024-01-01T00:00:00Z","eventTimeZoneOffset":"+00:00","action":"OBSERVE","epcList":[],"quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.998877","quantity":"ten"}]}"#).unwrap();
    let r = want_json(
        &[
            &["trace", "capture", bad.to_str().unwrap()][..],
            &shop_k,
            &n,
        ]
        .concat(),
    );
    assert_eq!(r.code, Some(1));
    let e = r.json();
    assert_eq!(e["error"]["code"], "invalid_quantity", "{e}");
    assert_eq!(e["error"]["path"], "$.quantityList[0].quantity");
    assert!(e["error"]["message"].is_string());
    let page = node.get("/v1/trace/events");
    assert_eq!(
        page["events"].as_array().unwrap().len(),
        2,
        "nothing more stored"
    );

    // Verify the product, checking every proof on this side.
    let v = want_json(
        &[
            &["trace", "verify", "urn:epc:id:sgtin:0614141.107346.2018"][..],
            &n,
        ]
        .concat(),
    )
    .ok_json();
    assert_eq!(v["verdict"], "authentic", "{v}");
    assert_eq!(v["records"], 2, "shipped, then received");
    // With the chain's genesis, every block the proofs lead to must carry a commit certificate
    // of its members; under a genesis of other members the same proofs do not hold.
    let genesis_file = |name: &str, g: &want_node::Genesis| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string(g).unwrap()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let dev = genesis_file("dev-genesis.json", &want_node::Genesis::dev());
    let verify_under = |genesis: &str| {
        want_json(
            &[
                &[
                    "trace",
                    "verify",
                    "urn:epc:id:sgtin:0614141.107346.2018",
                    "--genesis",
                    genesis,
                ][..],
                &n,
            ]
            .concat(),
        )
    };
    let v = verify_under(&dev).ok_json();
    assert_eq!(v["verdict"], "authentic", "{v}");
    assert!(v["certified"]["blocks"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["certified"].get("problem").is_none(), "{v}");
    let mut other = want_node::Genesis::dev();
    other.members = (1..=3)
        .map(|id| want_node::config::GenesisMember {
            id,
            public_key: hex::encode(want_crypto::NodeKey::generate().public_key()),
            url: format!("http://127.0.0.1:{id}"),
        })
        .collect();
    // Another chain's genesis says so; the product is not called tampered.
    let other_path = genesis_file("other-genesis.json", &other);
    let m = verify_under(&other_path).err_code("wrong_genesis");
    assert!(
        m.contains("other-genesis.json") && m.contains("not this chain's genesis"),
        "{m}"
    );
    assert!(m.contains("hashes to"), "same chain id, other genesis: {m}");
    let mut other_chain = other.clone();
    other_chain.params.chain_id = 7;
    let other_chain = genesis_file("other-chain.json", &other_chain);
    let m = verify_under(&other_chain).err_code("wrong_genesis");
    assert!(
        m.contains("chain 7") && m.contains(&want_node::config::DEV_CHAIN_ID.to_string()),
        "{m}"
    );
    // Deep verification with the owner's key opens every record, and says which.
    let v = want_json(
        &[
            &["trace", "verify", "urn:epc:id:sgtin:0614141.107346.2018"][..],
            &shop_k,
            &n,
        ]
        .concat(),
    )
    .ok_json();
    assert_eq!(v["opened"][0]["opened"], "authentic", "{v}");
    let human = want(
        &[
            &["trace", "verify", "urn:epc:id:sgtin:0614141.107346.2018"][..],
            &shop_k,
            &n,
        ]
        .concat(),
    );
    assert_eq!(human.code, Some(0), "{}", human.stderr);
    for e in events {
        let line = format!("opened  {}  authentic", e["eventHash"].as_str().unwrap());
        assert!(human.stdout.contains(&line), "{line}\n{}", human.stdout);
    }

    // Share the first record with a partner, who then reads it; revoke, and it cannot.
    let event = events[0]["eventHash"].as_str().unwrap();
    want_json(&[&["trace", "fetch", event][..], &partner_k, &n].concat()).err_code("no_access");
    want_json(
        &[
            &[
                "trace",
                "grant",
                event,
                "--to-key",
                partner["public_key"].as_str().unwrap(),
                "--expires-in",
                "3600",
            ][..],
            &shop_k,
            &n,
        ]
        .concat(),
    )
    .ok_json();
    let v = want_json(&[&["trace", "fetch", event][..], &partner_k, &n].concat()).ok_json();
    assert_eq!(v["event"]["bizStep"], "shipping", "{v}");
    want_json(
        &[
            &[
                "trace",
                "revoke-grant",
                event,
                "--grantee",
                partner["address"].as_str().unwrap(),
            ][..],
            &shop_k,
            &n,
        ]
        .concat(),
    )
    .ok_json();
    want_json(&[&["trace", "fetch", event][..], &partner_k, &n].concat()).err_code("no_access");

    // The printable tag opens the verdict.
    let v = want_json(
        &[
            &["trace", "tag", "urn:epc:id:sgtin:0614141.107346.2018"][..],
            &n,
        ]
        .concat(),
    )
    .ok_json();
    let url = v["url"].as_str().unwrap();
    let page = http_client().get(url).send().unwrap().text().unwrap();
    assert!(page.contains("Authentic"), "{page}");
}
