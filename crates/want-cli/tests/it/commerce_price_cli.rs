//! `want price post|show` and an offer priced in USD against a real `want dev` process: the dev
//! chain's reporter keys are written beside `dev-key.hex` and can post; with the dev account's
//! report that makes three, so `want order place` of a USD offer converts at the median rate
//! (the README's "prices in other currencies" part).

use crate::common;

use std::path::Path;

use common::*;
use serde_json::Value;

/// Runs `want --json <args> --key-file <key> --node <url>` and asserts a committed success.
fn signed(args: &[&str], key: &Path, url: &str) -> Value {
    let mut all = args.to_vec();
    let key = key.display().to_string();
    all.extend_from_slice(&["--key-file", &key, "--node", url]);
    let v = want_json(&all).ok_json();
    assert_eq!(v["receipt"]["status"], "success", "{args:?}: {v}");
    v
}

#[test]
fn dev_reporters_post_prices_and_an_order_of_a_usd_offer_pays_the_median_rate() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let node = DevNode::start(&data, &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let dev = data.join("dev-key.hex");

    // `want dev` wrote three reporter keys beside its own, the genesis's reporters.
    let mut reporters = Vec::new();
    for i in 1..=3u8 {
        let path = data.join(format!("dev-reporter-{i}.hex"));
        let hex = std::fs::read_to_string(&path).expect("reporter key file");
        assert_eq!(
            hex.trim(),
            want_node::config::dev_reporter_key(i).to_hex(),
            "{}",
            path.display()
        );
        reporters.push(path);
    }
    let shown = want_json(&["price", "show", "--node", url]).ok_json();
    assert_eq!(
        shown["reporters"].as_array().map(Vec::len),
        Some(4),
        "{shown}"
    );

    // Reporters pay fees: the dev account funds two of them and a buyer.
    let buyer_key = want_crypto::PrivateKey::generate();
    let buyer = dir.path().join("buyer.hex");
    std::fs::write(&buyer, buyer_key.to_hex()).unwrap();
    for to in [
        want_node::config::dev_reporter_key(1).address().to_string(),
        want_node::config::dev_reporter_key(2).address().to_string(),
        buyer_key.address().to_string(),
    ] {
        signed(
            &["tx", "transfer", "--to", &to, "--amount", "100", "--wait"],
            &dev,
            url,
        );
    }

    // 1 USD = 7 / 7.25 / 8 WANT: the median is 7.25.
    signed(
        &["price", "post", "--rate", "USD=7", "--rate", "BTC=500000"],
        &dev,
        url,
    );
    signed(&["price", "post", "--rate", "usd=7.25"], &reporters[0], url);
    signed(&["price", "post", "--rate", "USD=8"], &reporters[1], url);
    let usd = want_json(&["price", "show", "USD", "--node", url]).ok_json();
    assert_eq!(usd["price"]["rate"], "7250000", "{usd}");
    assert_eq!(usd["price"]["fresh_reports"], 3);
    let btc = want_json(&["price", "show", "BTC", "--node", url]).ok_json();
    assert_eq!(btc["price"]["status"], "unavailable", "{btc}");
    let text = want(&["price", "show", "--node", url]).stdout;
    assert!(
        text.contains("1 USD   = 7.25 WANT (median of 3 fresh reports)"),
        "{text}"
    );

    // A key that is not a reporter is refused.
    let refused = want_json(&[
        "price",
        "post",
        "--rate",
        "USD=1",
        "--key-file",
        &buyer.display().to_string(),
        "--node",
        url,
    ]);
    refused.err_code("price_reporter_unknown");

    // The dev account sells tea at 2.50 USD; the buyer orders two: 36.25 WANT.
    let dev_addr = want_node::config::dev_private_key().address().to_string();
    signed(
        &[
            "shop",
            "open",
            "usd-shop",
            "--name",
            "Dollar shop",
            "--payout",
            &dev_addr,
        ],
        &dev,
        url,
    );
    signed(
        &[
            "offer",
            "add",
            "--shop",
            "usd-shop",
            "--product",
            "04012345678901",
            "--title",
            "Green tea, 100 g",
            "--price",
            "2.5",
            "--deposit",
            "0.5",
            "--currency",
            "USD",
            "--terms-cid",
            "bafyterms",
            "--stock",
            "10",
        ],
        &dev,
        url,
    );
    let offer = want_json(&["offer", "show", "1", "--node", url]).ok_json();
    assert_eq!(offer["terms"]["currency"], "USD", "{offer}");
    signed(
        &["order", "place", "--offer", "1", "--quantity", "2"],
        &buyer,
        url,
    );
    let order = want_json(&["order", "show", "1", "--node", url]).ok_json();
    assert_eq!(order["paid"], "36250000", "{order}");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["rate"], "7250000");
    assert_eq!(order["deposit_due"], "7250000");
    let text = want(&["order", "show", "1", "--node", url]).stdout;
    assert!(text.contains("price    USD at 1 USD = 7.25 WANT"), "{text}");
    // Acceptance locks the deposit recorded at placement.
    signed(&["order", "accept", "1"], &dev, url);
    let accepted = want_json(&["order", "show", "1", "--node", url]).ok_json();
    assert_eq!(accepted["deposit"], "7250000", "{accepted}");
}
