//! `want pay request|send|watch` against a real `want dev` process: the till flow end to end —
//! the terminal makes a request (URI and QR code), the customer pays online and the terminal's
//! watcher prints the receipt from the event stream; a second request is paid by a phone with no
//! network (`--offline --out`) and the terminal broadcasts the handed-over transaction; altered,
//! foreign-key, expired and paid-twice requests are refused before anything is signed. A request
//! in CNY is paid in WANT at the dev reporters' median rate, to the base unit.

use crate::common;

use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn want_cli_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `want pay request` for the shop `corner`, signed by `key`; returns the URI and request hash.
fn request(
    key: &str,
    url: &str,
    amount: &str,
    reference: &str,
    extra: &[&str],
) -> (String, String) {
    let mut args = vec![
        "pay",
        "request",
        "--shop",
        "corner",
        "--amount",
        amount,
        "--reference",
        reference,
        "--key-file",
        key,
        "--node",
        url,
    ];
    args.extend_from_slice(extra);
    let v = want_json(&args).ok_json();
    let uri = v["uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("want:pay?v=2&req="), "{v}");
    (uri, v["request_hash"].as_str().unwrap().to_string())
}

#[test]
fn till_flow_pays_online_and_by_offline_hand_over_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let node = DevNode::start(&d.join("data"), &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let (owner, owner_addr) = key_file(d, "owner", &want_node::config::dev_private_key());
    let (terminal, terminal_addr) = key_file(d, "terminal", &want_crypto::PrivateKey::generate());
    let (buyer, buyer_addr) = key_file(d, "buyer", &want_crypto::PrivateKey::generate());
    let (stranger, _) = key_file(d, "stranger", &want_crypto::PrivateKey::generate());
    let payout = want_crypto::PrivateKey::generate().address().to_string();

    // The shop, its till key, and a customer with 50 WANT.
    signed(
        &[
            "tx",
            "transfer",
            "--to",
            &buyer_addr,
            "--amount",
            "50",
            "--wait",
        ],
        &owner,
        url,
    );
    signed(
        &[
            "shop",
            "open",
            "corner",
            "--name",
            "The corner shop",
            "--payout",
            &payout,
        ],
        &owner,
        url,
    );
    signed(
        &["pay", "add-key", "--shop", "corner", &terminal_addr],
        &owner,
        url,
    );
    let keys = want_json(&["pay", "keys", "corner", "--node", url]).ok_json();
    assert_eq!(keys["owner"], owner_addr.as_str(), "{keys}");
    assert_eq!(keys["keys"][0], terminal_addr.as_str(), "{keys}");

    // 1. The terminal asks for 12.5 WANT: URI printed, QR code written.
    let svg = d.join("req.svg");
    let (uri, hash) = request(
        &terminal,
        url,
        "12.5",
        "R-1",
        &["--qr-out", svg.to_str().unwrap()],
    );
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.contains("<svg"), "{svg_text}");

    // The terminal watches the event stream while the customer pays online.
    let watcher = Command::new(want_bin())
        .args([
            "--json",
            "pay",
            "watch",
            &uri,
            "--timeout",
            "60",
            "--node",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let paid = signed(&["pay", "send", &uri, "--max-amount", "20"], &buyer, url);
    let out = watcher.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "watcher: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let receipt: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(receipt["request_hash"], hash.as_str(), "{receipt}");
    assert_eq!(receipt["buyer"], buyer_addr.as_str());
    assert_eq!(receipt["amount"], "12500000");
    assert_eq!(receipt["fee"], "125000");
    assert_eq!(receipt["tx_id"], paid["id"], "{receipt} {paid}");
    assert_eq!(receipt["height"], paid["block_height"]);
    let payment = receipt["payment"].as_u64().unwrap();
    let shown = reqwest::blocking::get(format!("{url}/v1/commerce/payments/{payment}"))
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert_eq!(shown["request"]["reference"], "R-1", "{shown}");
    let bought = reqwest::blocking::get(format!("{url}/v1/commerce/purchases?buyer={buyer_addr}"))
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert_eq!(bought["purchases"][0]["order"], payment, "{bought}");
    assert_eq!(bought["purchases"][0]["source"], "till", "{bought}");
    let payout_acc = want_json(&["account", &payout, "--node", url]).ok_json();
    assert_eq!(payout_acc["balance"], "12375000", "{payout_acc}");

    // The same request is not paid twice.
    want_json(&["pay", "send", &uri, "--key-file", &buyer, "--node", url])
        .err_code("payment_request_paid");

    // 2. No network on the phone: it signs offline and hands the payment over as a file (and a
    //    QR code); the terminal broadcasts it.
    let (uri2, hash2) = request(&terminal, url, "3", "R-2", &[]);
    let tx_file = d.join("pay.json");
    let tx_svg = d.join("pay.svg");
    let written = want_json(&[
        "pay",
        "send",
        &uri2,
        "--offline",
        "--nonce",
        "1",
        "--out",
        tx_file.to_str().unwrap(),
        "--qr-out",
        tx_svg.to_str().unwrap(),
        "--key-file",
        &buyer,
    ])
    .ok_json();
    assert_eq!(written["sender"], buyer_addr.as_str(), "{written}");
    assert!(std::fs::read_to_string(&tx_svg).unwrap().contains("<svg"));
    let sent = want_json(&[
        "tx",
        "send",
        tx_file.to_str().unwrap(),
        "--wait",
        "--node",
        url,
    ])
    .ok_json();
    assert_eq!(sent["receipt"]["status"], "success", "{sent}");
    // A watcher started after the commit finds it too (it replays from the paying block).
    let receipt2 = want_json(&["pay", "watch", &uri2, "--timeout", "30", "--node", url]).ok_json();
    assert_eq!(receipt2["request_hash"], hash2.as_str());
    assert_eq!(receipt2["tx_id"], sent["id"]);
    assert_eq!(receipt2["amount"], "3000000");

    // `pay request --wait`: the terminal shows the URI (on stderr with --json) and waits for
    //    the payment on the event stream.
    let mut till = Command::new(want_bin())
        .args([
            "--json",
            "pay",
            "request",
            "--shop",
            "corner",
            "--amount",
            "2",
            "--reference",
            "R-W",
            "--wait",
            "--key-file",
            &terminal,
            "--node",
            url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut shown_uri = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(till.stderr.take().unwrap()),
        &mut shown_uri,
    )
    .unwrap();
    let paid_w = signed(&["pay", "send", shown_uri.trim()], &buyer, url);
    let out = till.wait_with_output().unwrap();
    assert!(out.status.success(), "pay request --wait failed");
    let waited: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(waited["request"]["uri"], shown_uri.trim(), "{waited}");
    assert_eq!(waited["receipt"]["tx_id"], paid_w["id"], "{waited}");
    assert_eq!(waited["receipt"]["amount"], "2000000");

    // 3. Bad requests are refused before signing: altered (the amount), signed by a key that is
    //    not the shop's, expired.
    let (uri3, _) = request(&terminal, url, "1", "R-3", &[]);
    let req_hex = uri3
        .split("req=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let mut raw = hex::decode(req_hex).unwrap();
    let amount_at = 4 + "corner".len(); // borsh: u32 length, the handle, then the u128 amount
    raw[amount_at] ^= 1;
    let altered = uri3.replace(req_hex, &hex::encode(raw));
    let m = want_json(&["pay", "send", &altered, "--key-file", &buyer, "--node", url])
        .err_code("payment_request_signature");
    assert!(m.contains("altered"), "{m}");
    // Sent past the wallet's checks, the node refuses it at admission.
    let (req, sig) = want_types::modules::commerce::parse_payment_uri(&altered).unwrap();
    let buyer_key =
        want_crypto::PrivateKey::from_hex(std::fs::read_to_string(&buyer).unwrap().trim()).unwrap();
    let stx = want_crypto::SigningKey::from(buyer_key).sign_transaction(want_types::Transaction {
        chain_id: want_node::config::DEV_CHAIN_ID,
        from: want_types::Address::system("unset"),
        nonce: 3,
        fee: 1_000_000,
        expiry_ms: want_cli_now_ms() + 60_000,
        pow_nonce: 0,
        call: want_types::Call::Commerce(want_types::modules::commerce::CommerceCall::PayRequest {
            max_want: req.amount,
            request: req,
            signature: sig,
        }),
    });
    let refused = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/transactions"))
        .json(&stx)
        .send()
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let body: Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "payment_request_signature", "{body}");

    let (foreign, _) = request(&stranger, url, "1", "R-4", &[]);
    want_json(&["pay", "send", &foreign, "--key-file", &buyer, "--node", url])
        .err_code("payment_request_terminal_unknown");
    let (expired, _) = request(&terminal, url, "1", "R-5", &["--expires-in", "0"]);
    want_json(&["pay", "send", &expired, "--key-file", &buyer, "--node", url])
        .err_code("payment_request_expired");
    want_json(&[
        "pay",
        "send",
        "https://example.com",
        "--key-file",
        &buyer,
        "--node",
        url,
    ])
    .err_code("payment_uri_invalid");

    // The removed till key's requests are refused.
    signed(
        &["pay", "remove-key", "--shop", "corner", &terminal_addr],
        &owner,
        url,
    );
    let (uri6, _) = request(&terminal, url, "1", "R-6", &[]);
    want_json(&["pay", "send", &uri6, "--key-file", &buyer, "--node", url])
        .err_code("payment_request_terminal_unknown");
}

/// The WANT balance of `addr` in base units.
fn balance(addr: &str, url: &str) -> u128 {
    want_json(&["account", addr, "--node", url]).ok_json()["balance"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn a_cny_request_is_paid_in_want_at_the_median_rate_to_the_base_unit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    // The dev account owns the shop and is a price reporter; two more reporters beside it.
    let dev = data.join("dev-key.hex").display().to_string();
    let rep1 = data.join("dev-reporter-1.hex").display().to_string();
    let rep2 = data.join("dev-reporter-2.hex").display().to_string();
    let (buyer, buyer_addr) = key_file(d, "buyer", &want_crypto::PrivateKey::generate());
    let payout = want_crypto::PrivateKey::generate().address().to_string();
    for to in [
        want_node::config::dev_reporter_key(1).address().to_string(),
        want_node::config::dev_reporter_key(2).address().to_string(),
        buyer_addr.clone(),
    ] {
        signed(
            &["tx", "transfer", "--to", &to, "--amount", "100", "--wait"],
            &dev,
            url,
        );
    }
    // 1 CNY = 0.139 / 0.138001 / 0.137777 WANT: the median is 0.138001 WANT.
    signed(&["price", "post", "--rate", "CNY=0.139"], &dev, url);
    signed(&["price", "post", "--rate", "CNY=0.138001"], &rep1, url);
    signed(&["price", "post", "--rate", "cny=0.137777"], &rep2, url);
    signed(
        &[
            "shop",
            "open",
            "cny-shop",
            "--name",
            "Tea in yuan",
            "--payout",
            &payout,
        ],
        &dev,
        url,
    );

    // The till asks for 88.88 CNY; the request names the dev chain.
    let make = |reference: &str, extra: &[&str]| -> String {
        let mut args = vec![
            "pay",
            "request",
            "--shop",
            "cny-shop",
            "--amount",
            "88.88",
            "--currency",
            "cny",
            "--reference",
            reference,
            "--key-file",
            &dev,
            "--node",
            url,
        ];
        args.extend_from_slice(extra);
        let v = want_json(&args).ok_json();
        assert_eq!(v["request"]["currency"], "CNY", "{v}");
        assert_eq!(v["request"]["amount"], "88880000", "{v}");
        v["uri"].as_str().unwrap().to_string()
    };
    let uri = make("R-CNY", &[]);
    let (req, _) = want_types::modules::commerce::parse_payment_uri(&uri).unwrap();
    assert_eq!(req.chain_id, want_node::config::DEV_CHAIN_ID);

    // 88.88 × 0.138001 = 12.26552888 WANT, rounded up to the base unit as an order's price is;
    // max_want is 1 % more (rounded up).
    let want_due: u128 = 12_265_529;
    let max_want: u128 = want_due + (want_due * 100).div_ceil(10_000);
    let before = balance(&buyer_addr, url);
    let paid = signed(&["pay", "send", &uri], &buyer, url);
    assert_eq!(paid["currency"], "CNY", "{paid}");
    assert_eq!(paid["amount"], "88880000", "{paid}");
    assert_eq!(paid["rate"], "138001", "{paid}");
    assert_eq!(paid["want_amount"], want_due.to_string(), "{paid}");
    assert_eq!(paid["max_want"], max_want.to_string(), "{paid}");
    let fee_paid: u128 = paid["receipt"]["fee_paid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(balance(&buyer_addr, url), before - want_due - fee_paid);
    let till_fee = want_due.div_ceil(100);
    assert_eq!(balance(&payout, url), want_due - till_fee);

    // The terminal's receipt shows the WANT paid and the rate.
    let receipt = want_json(&["pay", "watch", &uri, "--timeout", "30", "--node", url]).ok_json();
    assert_eq!(receipt["amount"], want_due.to_string(), "{receipt}");
    assert_eq!(receipt["fee"], till_fee.to_string(), "{receipt}");
    assert_eq!(receipt["currency"], "CNY", "{receipt}");
    assert_eq!(receipt["rate"], "138001", "{receipt}");
    assert_eq!(receipt["request_amount"], "88880000", "{receipt}");
    let text = want(&["pay", "watch", &uri, "--timeout", "30", "--node", url]).stdout;
    assert!(
        text.contains("amount   12.265529 WANT (88.88 CNY at 1 CNY = 0.138001 WANT)"),
        "{text}"
    );
    let payment = receipt["payment"].as_u64().unwrap();
    let shown = reqwest::blocking::get(format!("{url}/v1/commerce/payments/{payment}"))
        .unwrap()
        .json::<Value>()
        .unwrap();
    assert_eq!(shown["rate"], "138001", "{shown}");
    assert_eq!(shown["amount"], want_due.to_string(), "{shown}");

    // A bound below the converted WANT is refused before signing.
    let uri2 = make("R-CNY-2", &[]);
    want_json(&[
        "pay",
        "send",
        &uri2,
        "--max-want",
        "12",
        "--key-file",
        &buyer,
        "--node",
        url,
    ])
    .err_code("payment_above_max");
    // Offline there is no rate: --max-want is required, and then the payment is signed.
    let m = want_json(&[
        "pay",
        "send",
        &uri2,
        "--offline",
        "--nonce",
        "1",
        "--key-file",
        &buyer,
    ])
    .err_code("max_want_required");
    assert!(m.contains("--max-want"), "{m}");
    let tx_file = d.join("pay-cny.json");
    let written = want_json(&[
        "pay",
        "send",
        &uri2,
        "--offline",
        "--nonce",
        "1",
        "--max-want",
        "12.5",
        "--out",
        tx_file.to_str().unwrap(),
        "--key-file",
        &buyer,
    ])
    .ok_json();
    assert_eq!(written["max_want"], "12500000", "{written}");
    assert_eq!(written["rate"], Value::Null, "{written}");
    let sent = want_json(&[
        "tx",
        "send",
        tx_file.to_str().unwrap(),
        "--wait",
        "--node",
        url,
    ])
    .ok_json();
    assert_eq!(sent["receipt"]["status"], "success", "{sent}");
    assert_eq!(balance(&payout, url), 2 * (want_due - till_fee));

    // A request made for another chain is refused by the wallet; a version 1 URI too.
    let foreign = make("R-CNY-3", &["--chain-id", "999"]);
    let m = want_json(&["pay", "send", &foreign, "--key-file", &buyer, "--node", url])
        .err_code("payment_request_wrong_chain");
    assert!(m.contains("999"), "{m}");
    let m = want_json(&[
        "pay",
        "send",
        &uri2.replace("v=2", "v=1"),
        "--key-file",
        &buyer,
        "--node",
        url,
    ])
    .err_code("payment_uri_invalid");
    assert!(m.contains("version 1"), "{m}");
}
