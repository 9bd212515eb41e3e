//! `want shop|offer|order …` against a real `want dev` process: the sell-and-buy walk-through of
//! the README, every step with `--json` (shop open → offer add → order place → accept → ship →
//! confirm → the order shows completed).

use crate::common;

use common::*;
use serde_json::Value;

/// The field `name` of the first event of type `ty` in a waited send's receipt.
fn event_field(answer: &Value, ty: &str, name: &str) -> u64 {
    answer["receipt"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == ty)
        .and_then(|e| e[name].as_u64())
        .unwrap_or_else(|| panic!("no {ty} event with {name} in {answer}"))
}

#[test]
fn commerce_sell_and_buy_walk_through_completes_an_order_with_json_output() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let (seller, seller_addr) =
        key_file(dir.path(), "seller", &want_node::config::dev_private_key());
    let (buyer, buyer_addr) = key_file(dir.path(), "buyer", &want_crypto::PrivateKey::generate());

    // The buyer gets 50 WANT.
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
        &seller,
        url,
    );

    // 1. The merchant opens a shop and lists an offer.
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
    let shop = want_json(&["shop", "show", "corner-shop", "--node", url]).ok_json();
    assert_eq!(shop["owner"], seller_addr.as_str(), "{shop}");
    let added = signed(
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
            "--deposit",
            "0.5",
            "--terms-cid",
            "bafyterms",
            "--stock",
            "10",
        ],
        &seller,
        url,
    );
    let offer = event_field(&added, "OfferAdded", "offer").to_string();
    let listed = want_json(&["offer", "list", "--shop", "corner-shop", "--node", url]).ok_json();
    assert_eq!(listed["offers"][0]["id"].to_string(), offer, "{listed}");
    assert_eq!(listed["offers"][0]["terms"]["price"], "2500000");

    // 2. The customer orders two: 5 WANT move into escrow (version, terms hash and the most
    //    to pay are read from the offer).
    let placed = signed(
        &["order", "place", "--offer", &offer, "--quantity", "2"],
        &buyer,
        url,
    );
    let order = event_field(&placed, "OrderPlaced", "order").to_string();
    let shown = want_json(&["order", "show", &order, "--node", url]).ok_json();
    assert_eq!(shown["status"], "placed", "{shown}");
    assert_eq!(shown["paid"], "5000000");

    // 3. The merchant accepts (1 WANT deposit) and ships; the customer confirms.
    signed(&["order", "accept", &order], &seller, url);
    let accepted = want_json(&["order", "show", &order, "--node", url]).ok_json();
    assert_eq!(accepted["deposit"], "1000000", "{accepted}");
    signed(&["order", "ship", &order], &seller, url);
    signed(&["order", "confirm", &order], &buyer, url);

    let done = want_json(&["order", "show", &order, "--node", url]).ok_json();
    assert_eq!(done["status"], "completed", "{done}");
    let mine = want_json(&["order", "list", "--buyer", &buyer_addr, "--node", url]).ok_json();
    assert_eq!(mine["orders"][0]["status"], "completed", "{mine}");
}

#[test]
fn commerce_steps_on_an_unknown_order_or_offer_fail_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let (seller, _) = key_file(dir.path(), "seller", &want_node::config::dev_private_key());
    // An order that does not exist: the node refuses the transaction at admission with the
    // module's code (nothing is committed, no fee).
    want_json(&[
        "order",
        "confirm",
        "7",
        "--key-file",
        &seller,
        "--node",
        url,
    ])
    .err_code("order_unknown");
    // Reading an offer that does not exist before ordering it fails with its code too.
    want_json(&[
        "order",
        "place",
        "--offer",
        "9",
        "--key-file",
        &seller,
        "--node",
        url,
    ])
    .err_code("offer_unknown");
}

/// `want order show ID` → its status.
fn status(order: &str, url: &str) -> Value {
    want_json(&["order", "show", order, "--node", url]).ok_json()["status"].clone()
}

#[test]
fn commerce_offer_update_decline_refund_cancel_dispute_and_settle_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    let (seller, seller_addr) =
        key_file(dir.path(), "seller", &want_node::config::dev_private_key());
    let (buyer, buyer_addr) = key_file(dir.path(), "buyer", &want_crypto::PrivateKey::generate());
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
        &seller,
        url,
    );
    signed(
        &[
            "shop",
            "open",
            "tea",
            "--name",
            "Tea",
            "--payout",
            &seller_addr,
        ],
        &seller,
        url,
    );
    let added = signed(
        &[
            "offer",
            "add",
            "--shop",
            "tea",
            "--product",
            "sku-1",
            "--title",
            "Sencha",
            "--price",
            "1",
            "--deposit",
            "1",
            "--terms-cid",
            "bafyterms",
            "--stock",
            "10",
        ],
        &seller,
        url,
    );
    let offer = event_field(&added, "OfferAdded", "offer").to_string();

    // A new price is a new version; the terms not given stay.
    signed(&["offer", "update", &offer, "--price", "2"], &seller, url);
    let updated = want_json(&["offer", "show", &offer, "--node", url]).ok_json();
    assert_eq!(updated["version"], 2, "{updated}");
    assert_eq!(updated["terms"]["price"], "2000000");
    assert_eq!(updated["terms"]["title"], "Sencha");
    assert_eq!(updated["stock"], 10);

    // Placing needs the node (it reads the offer), so --offline is refused before signing.
    want_json(&[
        "order",
        "place",
        "--offer",
        &offer,
        "--offline",
        "--nonce",
        "0",
        "--key-file",
        &buyer,
    ])
    .err_code("offline_unsupported");
    let place = || {
        let placed = signed(&["order", "place", "--offer", &offer], &buyer, url);
        event_field(&placed, "OrderPlaced", "order").to_string()
    };

    // Declined by the seller.
    let declined = place();
    signed(&["order", "decline", &declined], &seller, url);
    assert_eq!(status(&declined, url), "declined");

    // Part refunded, then cancelled by both parties.
    let cancelled = place();
    signed(&["order", "accept", &cancelled], &seller, url);
    signed(
        &["order", "refund", &cancelled, "--amount", "0.5"],
        &seller,
        url,
    );
    let shown = want_json(&["order", "show", &cancelled, "--node", url]).ok_json();
    assert_eq!(shown["refunded"], "500000", "{shown}");
    signed(&["order", "cancel", &cancelled], &buyer, url);
    signed(&["order", "cancel", &cancelled, "--agree"], &seller, url);
    assert_eq!(status(&cancelled, url), "cancelled");

    // Shipped, disputed with evidence, settled by a split both sign.
    let disputed = place();
    signed(&["order", "accept", &disputed], &seller, url);
    signed(&["order", "ship", &disputed], &seller, url);
    signed(
        &["order", "dispute", &disputed, "--evidence", "bafyphoto"],
        &buyer,
        url,
    );
    assert_eq!(status(&disputed, url), "disputed");
    // Its lapse is 30 days away: nobody can run it yet.
    want_json(&[
        "order",
        "deadline",
        &disputed,
        "--key-file",
        &buyer,
        "--node",
        url,
    ])
    .err_code("order_deadline_not_reached");
    signed(
        &["order", "settle", &disputed, "--buyer-share", "1.5"],
        &buyer,
        url,
    );
    signed(
        &[
            "order",
            "settle",
            &disputed,
            "--buyer-share",
            "1.5",
            "--accept",
        ],
        &seller,
        url,
    );
    let settled = want_json(&["order", "show", &disputed, "--node", url]).ok_json();
    assert_eq!(settled["status"], "settled", "{settled}");
    assert_eq!(settled["evidence"], serde_json::json!(["bafyphoto"]));
    let by_shop = want_json(&["order", "list", "--shop", "tea", "--node", url]).ok_json();
    assert_eq!(
        by_shop["orders"].as_array().map(Vec::len),
        Some(3),
        "{by_shop}"
    );
}

#[test]
fn an_epcis_receiving_event_captured_at_the_buyers_pickup_point_completes_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = DevNode::start(&dir.path().join("data"), &["--block-interval-ms", "20"]);
    let url = node.url.as_str();
    // The dev key is the trace administrator and the seller.
    let (seller, seller_addr) =
        key_file(dir.path(), "seller", &want_node::config::dev_private_key());
    let (buyer, buyer_addr) = key_file(dir.path(), "buyer", &want_crypto::PrivateKey::generate());
    let pickup_key = want_crypto::PrivateKey::generate();
    let (pickup, pickup_addr) = key_file(dir.path(), "pickup", &pickup_key);
    for to in [&buyer_addr, &pickup_addr] {
        signed(
            &["tx", "transfer", "--to", to, "--amount", "50", "--wait"],
            &seller,
            url,
        );
    }
    // A pickup point registered for traceability, with a key that may sign receiving.
    want_json(
        &[
            &[
                "trace",
                "org",
                "register",
                "--org",
                "pickup",
                "--name",
                "Pickup Point",
                "--kind",
                "retailer",
                "--encryption-key",
                &pickup_key.public_key_compressed_hex(),
            ][..],
            &["--key-file", &seller, "--node", url],
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
                "pickup",
                "--address",
                &pickup_addr,
                "--department",
                "desk",
                "--roles",
                "retailer",
            ][..],
            &["--key-file", &seller, "--node", url],
        ]
        .concat(),
    )
    .ok_json();
    signed(
        &[
            "shop",
            "open",
            "tea",
            "--name",
            "Tea",
            "--payout",
            &seller_addr,
        ],
        &seller,
        url,
    );
    let added = signed(
        &[
            "offer",
            "add",
            "--shop",
            "tea",
            "--product",
            "04012345111118",
            "--title",
            "Sencha",
            "--price",
            "2",
            "--deposit",
            "1",
            "--terms-cid",
            "bafyterms",
            "--stock",
            "5",
        ],
        &seller,
        url,
    );
    let offer = event_field(&added, "OfferAdded", "offer").to_string();
    let placed = signed(&["order", "place", "--offer", &offer], &buyer, url);
    let order = event_field(&placed, "OrderPlaced", "order").to_string();
    // The buyer has it delivered to the pickup point.
    const PICKUP_AT: &str = "urn:epc:id:sgln:4012345.00001.0";
    signed(
        &[
            "order",
            "delivery",
            &order,
            "--org",
            "pickup",
            "--location",
            PICKUP_AT,
        ],
        &buyer,
        url,
    );
    signed(&["order", "accept", &order], &seller, url);
    signed(&["order", "ship", &order], &seller, url);

    // The pickup point captures its receiving event, naming the order as a business
    // transaction: the capture itself confirms the delivery (unless --no-confirm-orders).
    let receiving = |name: &str| {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let event_time = want_epcis::format_utc_millis(i64::try_from(now_ms).unwrap());
        let doc = serde_json::json!({
            "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": event_time,
            "epcisBody": {"eventList": [{
                "type": "ObjectEvent",
                "eventTime": event_time,
                "eventTimeZoneOffset": "+00:00",
                "epcList": ["urn:epc:id:sgtin:4012345.011111.1"],
                "action": "OBSERVE",
                "bizStep": "receiving",
                "readPoint": {"id": PICKUP_AT},
                "bizLocation": {"id": PICKUP_AT},
                "bizTransactionList": [
                    {"type": "po", "bizTransaction": format!("urn:want:commerce:order:{order}")}
                ]
            }]}
        });
        let file = dir.path().join(name);
        std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        file
    };
    let file = receiving("held.jsonld");
    let held = want_json(&[
        "trace",
        "capture",
        file.to_str().unwrap(),
        "--no-confirm-orders",
        "--key-file",
        &pickup,
        "--node",
        url,
    ])
    .ok_json();
    assert_eq!(held["orders"], serde_json::json!([]), "{held}");
    assert_eq!(status(&order, url), "shipped");
    let file = receiving("received.jsonld");
    let captured = want_json(&[
        "trace",
        "capture",
        file.to_str().unwrap(),
        "--key-file",
        &pickup,
        "--node",
        url,
    ])
    .ok_json();
    let event_hash = captured["events"][0]["eventHash"]
        .as_str()
        .unwrap_or_else(|| panic!("no event hash in {captured}"))
        .to_string();
    let confirmed = &captured["orders"][0];
    assert_eq!(confirmed["order"], order.as_str(), "{captured}");
    assert_eq!(confirmed["event"], event_hash.as_str(), "{captured}");
    assert_eq!(confirmed["status"], "confirmed", "{captured}");
    assert_eq!(status(&order, url), "completed");
    // By hand, only the pickup point's key may confirm with it, and only a shipped order.
    want_json(&[
        "order",
        "receive",
        &order,
        "--event",
        &event_hash,
        "--key-file",
        &buyer,
        "--node",
        url,
    ])
    .err_code("order_party_not_allowed");
    want_json(&[
        "order",
        "receive",
        &order,
        "--event",
        &event_hash,
        "--key-file",
        &pickup,
        "--node",
        url,
    ])
    .err_code("order_transition_not_allowed");
    assert_eq!(status(&order, url), "completed");
    let shown = want_json(&["order", "show", &order, "--node", url]).ok_json();
    assert_eq!(shown["delivery"]["org"], "pickup", "{shown}");
}
