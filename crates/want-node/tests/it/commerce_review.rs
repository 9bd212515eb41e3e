//! Reviews over a real dev node: two buyers complete purchases; one reviews, the other likes
//! the review; the shop replies; lists by shop, product and author and the rating aggregates
//! answer through `/v1/commerce/…`, and the review's events reach `/v1/events`. A like by an
//! account without a purchase is refused with its code.

use crate::common;

use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use want_crypto::SigningKey;
use want_types::modules::commerce::{CommerceCall, OfferTerms};
use want_types::Amount;

/// One WANT in base units.
const WANT: Amount = 1_000_000;
const PRICE: Amount = 2 * WANT;
const GTIN: &str = "04012345678901";

/// Sends a commerce call as `key`, waiting for the commit.
fn terms() -> OfferTerms {
    OfferTerms {
        product: GTIN.into(),
        no_ship_deposit_share_bps: 0,
        ..tea_terms(PRICE, 0)
    }
}

/// `buyer` buys one item of offer 1 and the seller delivers: answers the order (purchase) id.
async fn buy(n: &TestNode, seller: &SigningKey, buyer: &SigningKey) -> u64 {
    let v = send_call_ok(
        n,
        buyer,
        CommerceCall::PlaceOrder {
            offer: 1,
            version: 1,
            terms_hash: terms().hash(),
            quantity: 1,
            max_total: PRICE,
        },
    )
    .await;
    let mine = n
        .get_ok(&format!("/v1/commerce/orders?buyer={}", buyer.address()))
        .await;
    let order = mine["orders"][0]["id"]
        .as_u64()
        .unwrap_or_else(|| panic!("{mine} {v}"));
    send_call_ok(
        n,
        seller,
        CommerceCall::AcceptOrder {
            order,
            max_deposit: 0,
        },
    )
    .await;
    send_call_ok(
        n,
        seller,
        CommerceCall::ShipOrder {
            order,
            epcis_event: None,
        },
    )
    .await;
    send_call_ok(n, buyer, CommerceCall::ConfirmDelivery { order }).await;
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_buyer_reviews_another_likes_and_the_lists_and_aggregates_show_it() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_dev(dir.path()).await;
    let seller = dev_key();
    let (alice, bob, carol) = (new_key(), new_key(), new_key());
    for k in [&alice, &bob, &carol] {
        let nonce = n.nonce(&seller.address()).await;
        n.commit(&transfer(&seller, nonce, k.address(), 10 * WANT))
            .await;
    }
    send_call_ok(
        &n,
        &seller,
        CommerceCall::OpenShop {
            handle: "tea-house".into(),
            name: "Tea House".into(),
            payout: seller.address(),
            trace_org: None,
        },
    )
    .await;
    send_call_ok(
        &n,
        &seller,
        CommerceCall::AddOffer {
            shop: "tea-house".into(),
            terms: terms(),
            stock: 10,
        },
    )
    .await;
    let alice_purchase = buy(&n, &seller, &alice).await;
    buy(&n, &seller, &bob).await;

    // Carol bought nothing: she can neither review alice's purchase nor like.
    let (s, v) = send_call(
        &n,
        &carol,
        CommerceCall::AddReview {
            purchase: alice_purchase,
            rating: 5,
            text_cid: "bafyc".into(),
        },
    )
    .await;
    // Refused at admission by the module's rules: never in a block.
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "review_no_purchase", "{v}");

    let height = n.height().await;
    send_call_ok(
        &n,
        &alice,
        CommerceCall::AddReview {
            purchase: alice_purchase,
            rating: 4,
            text_cid: "bafytext".into(),
        },
    )
    .await;
    let (s, v) = send_call(&n, &carol, CommerceCall::LikeReview { review: 1 }).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "review_not_eligible", "{v}");
    send_call_ok(&n, &bob, CommerceCall::LikeReview { review: 1 }).await;
    send_call_ok(&n, &bob, CommerceCall::ShareReview { review: 1 }).await;
    send_call_ok(
        &n,
        &seller,
        CommerceCall::ReplyReview {
            review: 1,
            text_cid: "bafyreply".into(),
        },
    )
    .await;

    let r = n.get_ok("/v1/commerce/reviews/1").await;
    assert_eq!(r["author"], alice.address().to_string(), "{r}");
    assert_eq!(
        (
            r["rating"].as_u64(),
            r["likes"].as_u64(),
            r["shares"].as_u64()
        ),
        (Some(4), Some(1), Some(1))
    );
    // The shop is not endorsed for the GTIN's company prefix: its reviews count within the shop.
    assert_eq!(r["product"], format!("tea-house:{GTIN}"));
    assert_eq!(r["versions"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["reply"]["text_cid"], "bafyreply");

    for path in [
        "/v1/commerce/reviews?shop=Tea-House".to_string(),
        format!("/v1/commerce/reviews?product=tea-house:{GTIN}"),
        "/v1/commerce/reviews?product=Tea-House:4012345678901".to_string(),
        format!("/v1/commerce/reviews?author={}", alice.address()),
    ] {
        let page = n.get_ok(&path).await;
        assert_eq!(
            page["reviews"].as_array().map(Vec::len),
            Some(1),
            "{path}: {page}"
        );
        assert_eq!(page["reviews"][0]["id"], 1, "{path}");
        assert_eq!(page["next"], Value::Null);
    }
    // Nothing in the chain-wide aggregate of the GTIN.
    let page = n
        .get_ok(&format!("/v1/commerce/reviews?product={GTIN}"))
        .await;
    assert_eq!(page["reviews"], serde_json::json!([]), "{page}");
    for path in [
        "/v1/commerce/shops/tea-house/rating",
        "/v1/commerce/products/tea-house:4012345678901/rating",
    ] {
        let rating = n.get_ok(path).await;
        assert_eq!(rating["count"], 1, "{path}: {rating}");
        assert_eq!(rating["sum"], 4);
        assert_eq!(rating["stars"], serde_json::json!([0, 0, 0, 1, 0]));
        assert_eq!(rating["average"], "4.00");
    }
    let (s, v) = n.get("/v1/commerce/reviews/99").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "review_unknown");
    let (s, v) = n.get("/v1/commerce/reviews?shop=a&author=b").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // The review's events are on the stream.
    let url = format!(
        "{}/v1/events?from_height={}&kinds=commerce_event",
        n.base.replace("http://", "ws://"),
        height
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connect");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while ![
        "ReviewAdded",
        "ReviewLiked",
        "ReviewShared",
        "ReviewReplied",
    ]
    .iter()
    .all(|t| seen.iter().any(|m: &String| m.contains(t)))
    {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => seen.push(t.to_string()),
            Ok(Some(Ok(_))) => {}
            other => panic!("review events never arrived ({other:?}); got {seen:?}"),
        }
    }
    n.stop().await;
}
