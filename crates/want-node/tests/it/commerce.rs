//! Commerce over the HTTP API of a real dev node: a shop, an offer and an order through its
//! whole life (place, accept, ship, confirm), read back through `/v1/commerce/…`; unknown items
//! answer 404 with the module's stable codes; an order of an unknown offer is refused with its
//! code and nothing changes.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use want_types::modules::commerce::{CommerceCall, OfferTerms};
use want_types::Amount;

/// One WANT in base units.
const WANT: Amount = 1_000_000;
/// Price of one item of the test offer.
const PRICE: Amount = 2 * WANT;
/// The seller's deposit per item.
const DEPOSIT: Amount = WANT / 2;
/// Items the buyer orders.
const QUANTITY: u32 = 3;

fn terms() -> OfferTerms {
    tea_terms(PRICE, DEPOSIT)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_offer_and_completed_order_read_back_through_the_commerce_routes() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_dev(dir.path()).await;
    let seller = dev_key();
    let buyer = new_key();
    let nonce = n.nonce(&seller.address()).await;
    n.commit(&transfer(&seller, nonce, buyer.address(), 100 * WANT))
        .await;

    send_call_ok(
        &n,
        &seller,
        CommerceCall::OpenShop {
            handle: "corner-shop".into(),
            name: "The corner shop".into(),
            payout: seller.address(),
            trace_org: None,
        },
    )
    .await;
    send_call_ok(
        &n,
        &seller,
        CommerceCall::AddOffer {
            shop: "corner-shop".into(),
            terms: terms(),
            stock: 10,
        },
    )
    .await;

    // The shop, by its handle in any case.
    let shop = n.get_ok("/v1/commerce/shops/Corner-Shop").await;
    assert_eq!(shop["handle"], "corner-shop", "{shop}");
    assert_eq!(shop["owner"], seller.address().to_string());
    assert_eq!(shop["closed"], false);

    // Its offers, and the offer with its terms hash and amounts as decimal strings.
    let page = n.get_ok("/v1/commerce/offers?shop=corner-shop").await;
    let offers = page["offers"].as_array().expect("offers");
    assert_eq!(offers.len(), 1, "{page}");
    assert_eq!(page["next"], Value::Null);
    let id = offers[0]["id"].as_u64().expect("offer id");
    let offer = n.get_ok(&format!("/v1/commerce/offers/{id}")).await;
    assert_eq!(offer["version"], 1, "{offer}");
    assert_eq!(offer["stock"], 10);
    assert_eq!(offer["terms"]["price"], PRICE.to_string());
    assert_eq!(offer["terms_hash"], terms().hash().to_hex());
    let other = n.get_ok("/v1/commerce/offers?shop=another-shop").await;
    assert_eq!(other["offers"], serde_json::json!([]), "{other}");

    // The buyer orders; the seller accepts and ships; the buyer confirms.
    send_call_ok(
        &n,
        &buyer,
        CommerceCall::PlaceOrder {
            offer: id,
            version: 1,
            terms_hash: terms().hash(),
            quantity: QUANTITY,
            max_total: PRICE * Amount::from(QUANTITY),
        },
    )
    .await;
    let mine = n
        .get_ok(&format!("/v1/commerce/orders?buyer={}", buyer.address()))
        .await;
    let orders = mine["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 1, "{mine}");
    let order = orders[0]["id"].as_u64().expect("order id");
    assert_eq!(orders[0]["status"], "placed");
    assert_eq!(
        orders[0]["paid"],
        (PRICE * Amount::from(QUANTITY)).to_string()
    );
    let stock = n.get_ok(&format!("/v1/commerce/offers/{id}")).await;
    assert_eq!(stock["stock"], 10 - u64::from(QUANTITY));

    send_call_ok(
        &n,
        &seller,
        CommerceCall::AcceptOrder {
            order,
            max_deposit: DEPOSIT * Amount::from(QUANTITY),
        },
    )
    .await;
    let accepted = n.get_ok(&format!("/v1/commerce/orders/{order}")).await;
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    assert_eq!(
        accepted["escrowed"],
        ((PRICE + DEPOSIT) * Amount::from(QUANTITY)).to_string()
    );
    send_call_ok(
        &n,
        &seller,
        CommerceCall::ShipOrder {
            order,
            epcis_event: None,
        },
    )
    .await;
    send_call_ok(&n, &buyer, CommerceCall::ConfirmDelivery { order }).await;

    let done = n.get_ok(&format!("/v1/commerce/orders/{order}")).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["escrowed"], "0");
    assert!(done["closed_ms"].is_u64(), "{done}");
    let by_shop = n.get_ok("/v1/commerce/orders?shop=corner-shop").await;
    assert_eq!(by_shop["orders"][0]["id"], order, "{by_shop}");

    let purchases = n
        .get_ok(&format!("/v1/commerce/purchases?buyer={}", buyer.address()))
        .await;
    let records = purchases["purchases"].as_array().expect("purchases");
    assert_eq!(records.len(), 1, "{purchases}");
    assert_eq!(records[0]["order"], order);
    assert_eq!(records[0]["shop"], "corner-shop");
    assert_eq!(records[0]["product"], "04012345678901");
    assert_eq!(
        records[0]["amount"],
        (PRICE * Amount::from(QUANTITY)).to_string()
    );
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commerce_items_are_404_with_stable_codes_and_bad_pages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_dev(dir.path()).await;
    for (path, code) in [
        ("/v1/commerce/shops/no-such-shop", "shop_unknown"),
        ("/v1/commerce/offers/999", "offer_unknown"),
        ("/v1/commerce/orders/999", "order_unknown"),
    ] {
        let (s, v) = n.get(path).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {v}");
        assert_eq!(v["error"]["code"], code, "{path}: {v}");
    }
    for (path, code) in [
        ("/v1/commerce/offers?limit=0", "invalid_query"),
        ("/v1/commerce/offers?limit=101", "invalid_query"),
        ("/v1/commerce/orders?buyer=nobody", "invalid_address"),
        ("/v1/commerce/purchases", "invalid_query"),
        ("/v1/commerce/orders/not-a-number", "invalid_path"),
    ] {
        let (s, v) = n.get(path).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
        assert_eq!(v["error"]["code"], code, "{path}: {v}");
    }
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_of_an_unknown_offer_is_refused_with_offer_unknown_and_no_order_exists() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let buyer = new_key();
    let nonce = n.nonce(&dev.address()).await;
    n.commit(&transfer(&dev, nonce, buyer.address(), 10 * WANT))
        .await;
    let before = n.balance(&buyer.address()).await;
    let (s, v) = send_call(
        &n,
        &buyer,
        CommerceCall::PlaceOrder {
            offer: 42,
            version: 1,
            terms_hash: terms().hash(),
            quantity: 1,
            max_total: PRICE,
        },
    )
    .await;
    // Refused at admission by the module's own rules: never in a block, no fee.
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "offer_unknown", "{v}");
    let orders = n.get_ok("/v1/commerce/orders").await;
    assert_eq!(orders["orders"], serde_json::json!([]), "{orders}");
    assert_eq!(n.balance(&buyer.address()).await, before);
    assert_eq!(n.nonce(&buyer.address()).await, 0);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shops_offers_page_by_cursor_skipping_other_shops_offers() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_dev(dir.path()).await;
    let seller = dev_key();
    for handle in ["tea-house", "bakery"] {
        send_call_ok(
            &n,
            &seller,
            CommerceCall::OpenShop {
                handle: handle.into(),
                name: handle.into(),
                payout: seller.address(),
                trace_org: None,
            },
        )
        .await;
    }
    // Offers 1 and 3 are the tea house's, 2 and 4 the bakery's.
    for shop in ["tea-house", "bakery", "tea-house", "bakery"] {
        send_call_ok(
            &n,
            &seller,
            CommerceCall::AddOffer {
                shop: shop.into(),
                terms: terms(),
                stock: 1,
            },
        )
        .await;
    }
    let first = n.get_ok("/v1/commerce/offers?shop=tea-house&limit=1").await;
    assert_eq!(first["offers"][0]["id"], 1, "{first}");
    assert_eq!(first["offers"].as_array().map(Vec::len), Some(1));
    assert_eq!(first["next"], 1, "{first}");
    let second = n
        .get_ok("/v1/commerce/offers?shop=tea-house&after=1&limit=1")
        .await;
    assert_eq!(second["offers"][0]["id"], 3, "{second}");
    assert_eq!(second["offers"][0]["shop"], "tea-house");
    // The shop's index holds no more: the page knows it is the last.
    assert_eq!(second["next"], Value::Null, "{second}");
    let last = n
        .get_ok("/v1/commerce/offers?shop=tea-house&after=3&limit=1")
        .await;
    assert_eq!(last["offers"], serde_json::json!([]), "{last}");
    assert_eq!(last["next"], Value::Null);
    let all = n.get_ok("/v1/commerce/offers?limit=3").await;
    assert_eq!(all["offers"].as_array().map(Vec::len), Some(3), "{all}");
    assert_eq!(all["next"], 3);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commerce_page_limits_the_openapi_document_states_are_the_query_maxima() {
    use want_state::modules::commerce::query;
    let dir = tempfile::tempdir().unwrap();
    let n = start_dev(dir.path()).await;
    let doc = n.get_ok("/openapi.json").await;
    for (path, max) in [
        ("/v1/commerce/offers", query::OFFERS_PAGE_MAX),
        ("/v1/commerce/orders", query::ORDERS_PAGE_MAX),
        ("/v1/commerce/purchases", query::PURCHASES_PAGE_MAX),
    ] {
        let params = doc["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} has no parameters"));
        let limit = params
            .iter()
            .find(|p| p["name"] == "limit")
            .unwrap_or_else(|| panic!("{path} has no limit"));
        assert_eq!(limit["schema"]["maximum"], max as u64, "{path}");
        assert_eq!(limit["schema"]["minimum"], 1, "{path}");
        // One past the maximum is refused.
        let (s, v) = n.get(&format!("{path}?limit={}", max + 1)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {v}");
    }
    n.stop().await;
}
