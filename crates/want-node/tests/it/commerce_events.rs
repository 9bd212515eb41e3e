//! Order events on `/v1/events`: an order placed, accepted, shipped and confirmed shows as
//! `commerce_event` messages in that order, each with its transaction; an order never accepted
//! expires in the end-of-block hook, whose `OrderExpired` comes without a transaction.

use crate::common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use want_crypto::SigningKey;
use want_node::Genesis;
use want_types::modules::commerce::{CommerceCall, OfferTerms};
use want_types::Amount;

/// One WANT in base units.
const WANT: Amount = 1_000_000;
const PRICE: Amount = 3 * WANT;
const DEPOSIT: Amount = WANT;
/// The acceptance window of the offer whose order is left to expire.
const SHORT_ACCEPT_MS: u64 = 1_500;
/// How long the stream may take to show everything.
const STREAM_WAIT: Duration = Duration::from_secs(20);

fn terms(accept_within_ms: u64) -> OfferTerms {
    OfferTerms {
        accept_within_ms,
        ..tea_terms(PRICE, DEPOSIT)
    }
}

/// Commits a commerce call as `key` and returns the transaction's id and block height.
async fn send_ok(n: &TestNode, key: &SigningKey, call: CommerceCall) -> (String, u64) {
    let nonce = n.nonce(&key.address()).await;
    let stx = signed_call(key, nonce, call);
    let v = n.commit(&stx).await;
    (
        stx.id().to_hex(),
        v["block_height"].as_u64().expect("block_height"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_events_stream_in_order_with_the_hooks_expiry() {
    let dir = tempdir();
    // Blocks keep coming without transactions, so the deadline's hook runs on time.
    let n = start_node_with(dir.path(), Genesis::dev(), |c| c.empty_blocks = true)
        .await
        .expect("start dev node");
    let seller = dev_key();
    let buyer = new_key();
    let nonce = n.nonce(&seller.address()).await;
    n.commit(&transfer(&seller, nonce, buyer.address(), 100 * WANT))
        .await;
    send_ok(
        &n,
        &seller,
        CommerceCall::OpenShop {
            handle: "tea-house".into(),
            name: "The tea house".into(),
            payout: seller.address(),
            trace_org: None,
        },
    )
    .await;
    for accept_ms in [600_000, SHORT_ACCEPT_MS] {
        send_ok(
            &n,
            &seller,
            CommerceCall::AddOffer {
                shop: "tea-house".into(),
                terms: terms(accept_ms),
                stock: 10,
            },
        )
        .await;
    }
    let place = |offer: u64, accept_ms: u64| CommerceCall::PlaceOrder {
        offer,
        version: 1,
        terms_hash: terms(accept_ms).hash(),
        quantity: 1,
        max_total: PRICE,
    };

    // Order 1 through its life; order 2 left unaccepted.
    let (placed, from) = send_ok(&n, &buyer, place(1, 600_000)).await;
    let (accepted, _) = send_ok(
        &n,
        &seller,
        CommerceCall::AcceptOrder {
            order: 1,
            max_deposit: DEPOSIT,
        },
    )
    .await;
    let (shipped, _) = send_ok(
        &n,
        &seller,
        CommerceCall::ShipOrder {
            order: 1,
            epcis_event: None,
        },
    )
    .await;
    let (confirmed, _) = send_ok(&n, &buyer, CommerceCall::ConfirmDelivery { order: 1 }).await;
    let (placed2, _) = send_ok(&n, &buyer, place(2, SHORT_ACCEPT_MS)).await;

    let url = format!(
        "{}/v1/events?from_height={from}&kinds=commerce_event",
        n.base.replace("http://", "ws://")
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connect");
    let mut seen: Vec<Value> = Vec::new();
    let deadline = tokio::time::Instant::now() + STREAM_WAIT;
    while !seen.iter().any(|m| m["event"]["type"] == "OrderExpired") {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no OrderExpired on the stream; got {seen:#?}"));
        match msg {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                assert_eq!(v["type"], "commerce_event", "{v}");
                seen.push(v);
            }
            Some(Ok(_)) => {}
            other => panic!("the stream ended: {other:?}"),
        }
    }
    let got: Vec<(String, u64, Value)> = seen
        .iter()
        .map(|m| {
            (
                m["event"]["type"].as_str().unwrap_or_default().to_string(),
                m["event"]["order"].as_u64().unwrap_or_default(),
                m["tx_id"].clone(),
            )
        })
        .collect();
    let want: Vec<(String, u64, Value)> = [
        ("OrderPlaced", 1, Value::from(placed)),
        ("OrderAccepted", 1, Value::from(accepted)),
        ("OrderShipped", 1, Value::from(shipped)),
        ("OrderCompleted", 1, Value::from(confirmed)),
        ("OrderPlaced", 2, Value::from(placed2)),
        ("OrderExpired", 2, Value::Null),
    ]
    .into_iter()
    .map(|(t, o, id)| (t.to_string(), o, id))
    .collect();
    assert_eq!(got, want, "{seen:#?}");

    // The events carry their figures: the payment, the deposit, the payout less the 1 % fee,
    // and the refund of the expired order.
    assert_eq!(seen[0]["event"]["total"], PRICE.to_string());
    assert_eq!(seen[0]["event"]["buyer"], buyer.address().to_string());
    assert_eq!(seen[1]["event"]["deposit"], DEPOSIT.to_string());
    assert_eq!(seen[3]["event"]["fee"], (PRICE / 100).to_string());
    assert_eq!(
        seen[3]["event"]["seller_amount"],
        (PRICE - PRICE / 100).to_string()
    );
    assert_eq!(seen[5]["event"]["deadline"], "accept");
    assert_eq!(seen[5]["event"]["buyer_amount"], PRICE.to_string());
    let heights: Vec<u64> = seen.iter().map(|m| m["height"].as_u64().unwrap()).collect();
    assert!(heights.windows(2).all(|w| w[0] <= w[1]), "{heights:?}");
    let order2 = n.get_ok("/v1/commerce/orders/2").await;
    assert_eq!(order2["status"], "expired", "{order2}");
    n.stop().await;
}
