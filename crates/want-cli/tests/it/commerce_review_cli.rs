//! `want review …` against a real `want dev` process: the review part of the README's
//! sell-and-buy walk-through with `--json` (two buyers complete purchases → one reviews → the
//! other likes → the shop replies → the author edits → lists by shop and product show the review
//! and the aggregate), and a like by an account without a purchase refused with its code.

use crate::common;

use common::*;
use serde_json::Value;

/// The `order` id of the buyer's OrderPlaced event.
fn placed_order(answer: &Value) -> String {
    answer["receipt"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == "OrderPlaced")
        .and_then(|e| e["order"].as_u64())
        .unwrap_or_else(|| panic!("no OrderPlaced in {answer}"))
        .to_string()
}

#[test]
fn commerce_review_walk_through_reviews_likes_replies_and_lists_with_the_aggregate() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let (seller, seller_addr) =
        key_file(dir.path(), "seller", &want_node::config::dev_private_key());
    let (buyer, buyer_addr) = key_file(dir.path(), "buyer", &want_crypto::PrivateKey::generate());
    let (other, other_addr) = key_file(dir.path(), "other", &want_crypto::PrivateKey::generate());
    let (stranger, _) = key_file(dir.path(), "stranger", &want_crypto::PrivateKey::generate());
    for to in [&buyer_addr, &other_addr] {
        signed(
            &["tx", "transfer", "--to", to, "--amount", "50", "--wait"],
            &seller,
            url,
        );
    }
    signed(
        &[
            "shop",
            "open",
            "corner-shop",
            "--name",
            "The corner shop",
            "--payout",
            &seller_addr,
        ],
        &seller,
        url,
    );
    signed(
        &[
            "offer",
            "add",
            "--shop",
            "corner-shop",
            "--product",
            "04012345678901",
            "--title",
            "Green tea, 100 g",
            "--price",
            "2.5",
            "--terms-cid",
            "bafyterms",
            "--stock",
            "10",
        ],
        &seller,
        url,
    );
    let mut orders = Vec::new();
    for key in [&buyer, &other] {
        let order = placed_order(&signed(&["order", "place", "--offer", "1"], key, url));
        signed(&["order", "accept", &order], &seller, url);
        signed(&["order", "ship", &order], &seller, url);
        signed(&["order", "confirm", &order], key, url);
        orders.push(order);
    }

    let added = signed(
        &[
            "review",
            "add",
            "--purchase",
            &orders[0],
            "--rating",
            "4",
            "--text-cid",
            "bafyreviewtext",
        ],
        &buyer,
        url,
    );
    assert!(added.to_string().contains("ReviewAdded"), "{added}");
    signed(&["review", "like", "1"], &other, url);
    want_json(&[
        "review",
        "like",
        "1",
        "--key-file",
        &stranger,
        "--node",
        url,
    ])
    .err_code("review_not_eligible");
    want_json(&["review", "like", "1", "--key-file", &other, "--node", url])
        .err_code("review_already_liked");
    signed(&["review", "share", "1"], &other, url);
    signed(
        &["review", "reply", "1", "--text-cid", "bafythanks"],
        &seller,
        url,
    );
    signed(
        &[
            "review",
            "edit",
            "1",
            "--rating",
            "5",
            "--text-cid",
            "bafyreviewtext2",
        ],
        &buyer,
        url,
    );

    let by_shop = want_json(&["review", "list", "--shop", "corner-shop", "--node", url]).ok_json();
    assert_eq!(by_shop["reviews"][0]["id"], 1, "{by_shop}");
    assert_eq!(by_shop["reviews"][0]["likes"], 1);
    assert_eq!(by_shop["rating"]["count"], 1, "{by_shop}");
    assert_eq!(by_shop["rating"]["average"], "5.00");
    let by_product = want_json(&[
        "review",
        "list",
        "--product",
        "corner-shop:04012345678901",
        "--node",
        url,
    ])
    .ok_json();
    assert_eq!(by_product["reviews"][0]["id"], 1, "{by_product}");
    assert_eq!(
        by_product["rating"]["stars"],
        serde_json::json!([0, 0, 0, 0, 1])
    );
    let shown = want_json(&["review", "show", "1", "--node", url]).ok_json();
    assert_eq!(
        shown["versions"].as_array().map(Vec::len),
        Some(2),
        "{shown}"
    );
    assert_eq!(shown["reply"]["text_cid"], "bafythanks");
    assert_eq!(shown["shares"], 1);
}
