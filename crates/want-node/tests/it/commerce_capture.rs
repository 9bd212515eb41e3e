//! A captured `receiving` event that names an order confirms it (issue 14 items 3 and 4):
//! through `POST /v1/epcis/capture`, signed by the node's capture key as a key of the order's
//! delivery organisation, the order completes (the seller paid less the fee, the deposit back,
//! the escrow emptied) and the answer's `orders` says so; an order whose delivery organisation
//! is another one is answered `refused` with the chain's code while the capture succeeds and
//! the order stays as it was; a malformed order URN is `ignored` with `order_urn_invalid`;
//! `confirmOrders=false` confirms nothing.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use want_crypto::{PrivateKey, SigningKey};
use want_node::config::DEV_ORG;
use want_types::modules::commerce::{
    delivery_location_hash, order_urn, CommerceCall, OfferTerms, COMMERCE_FEE_BPS,
};
use want_types::trace::{OrgKind, Role, TraceCall};
use want_types::{Address, Amount, Call};

/// One WANT in base units.
const WANT: Amount = 1_000_000;
/// Price of one item.
const PRICE: Amount = 2 * WANT;
/// The seller's deposit per item.
const DEPOSIT: Amount = WANT / 2;
/// Items ordered.
const QUANTITY: u32 = 3;
/// Where the goods are received (a GS1 location: published on the record).
const PICKUP_AT: &str = "urn:epc:id:sgln:4012345.00001.0";

fn terms() -> OfferTerms {
    tea_terms(PRICE, DEPOSIT)
}

/// A funded seller with a shop and an offer, and a funded buyer.
async fn shop_and_buyer(n: &TestNode) -> (SigningKey, SigningKey, u64) {
    let dev = dev_key();
    let (seller, buyer) = (new_key(), new_key());
    for to in [seller.address(), buyer.address()] {
        let nonce = n.nonce(&dev.address()).await;
        n.commit(&transfer(&dev, nonce, to, 100 * WANT)).await;
    }
    send_call_ok(
        n,
        &seller,
        Call::Commerce(CommerceCall::OpenShop {
            handle: "tea-house".into(),
            name: "Tea house".into(),
            payout: seller.address(),
            trace_org: None,
        }),
    )
    .await;
    let added = send_call_ok(
        n,
        &seller,
        Call::Commerce(CommerceCall::AddOffer {
            shop: "tea-house".into(),
            terms: terms(),
            stock: 100,
        }),
    )
    .await;
    let offer = event_u64(&added, "OfferAdded", "offer");
    (seller, buyer, offer)
}

fn event_u64(answer: &Value, ty: &str, name: &str) -> u64 {
    answer["receipt"]["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["type"] == ty)
        .and_then(|e| e[name].as_u64())
        .unwrap_or_else(|| panic!("no {ty} event with {name} in {answer}"))
}

/// Places an order delivered to `org` at [`PICKUP_AT`], accepted and shipped.
async fn shipped_order(
    n: &TestNode,
    seller: &SigningKey,
    buyer: &SigningKey,
    offer: u64,
    org: &str,
) -> u64 {
    let placed = send_call_ok(
        n,
        buyer,
        Call::Commerce(CommerceCall::PlaceOrder {
            offer,
            version: 1,
            terms_hash: terms().hash(),
            quantity: QUANTITY,
            max_total: PRICE * Amount::from(QUANTITY),
        }),
    )
    .await;
    let order = event_u64(&placed, "OrderPlaced", "order");
    send_call_ok(
        n,
        buyer,
        Call::Commerce(CommerceCall::SetDelivery {
            order,
            org: org.into(),
            // The location as the receiving record publishes it (capture normalises it).
            location_hash: delivery_location_hash(
                &want_epcis::normalize_identifier(PICKUP_AT).unwrap(),
            ),
        }),
    )
    .await;
    send_call_ok(
        n,
        seller,
        Call::Commerce(CommerceCall::AcceptOrder {
            order,
            max_deposit: DEPOSIT * Amount::from(QUANTITY),
        }),
    )
    .await;
    send_call_ok(
        n,
        seller,
        Call::Commerce(CommerceCall::ShipOrder {
            order,
            epcis_event: None,
        }),
    )
    .await;
    order
}

/// An EPCIS document of `receiving` events at [`PICKUP_AT`], one per entry of `orders` naming
/// those orders, each a millisecond apart from now on (distinct event hashes).
fn receiving_document(orders: &[&[u64]]) -> Vec<u8> {
    let values: Vec<Vec<String>> = orders
        .iter()
        .map(|named| named.iter().map(|o| order_urn(*o)).collect())
        .collect();
    receiving_document_naming(&values)
}

/// As [`receiving_document`], with the business transaction values given as they are.
fn receiving_document_naming(values: &[Vec<String>]) -> Vec<u8> {
    let now = i64::try_from(now_ms()).unwrap();
    let events: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, named)| {
            let time = want_epcis::format_utc_millis(now + i64::try_from(i).unwrap());
            let list: Vec<Value> = named
                .iter()
                .map(|v| json!({"type": "po", "bizTransaction": v}))
                .collect();
            json!({
                "type": "ObjectEvent",
                "eventTime": time,
                "eventTimeZoneOffset": "+00:00",
                "epcList": ["urn:epc:id:sgtin:4012345.011111.1"],
                "action": "OBSERVE",
                "bizStep": "urn:epcglobal:cbv:bizstep:receiving",
                "readPoint": {"id": PICKUP_AT},
                "bizLocation": {"id": PICKUP_AT},
                "bizTransactionList": list
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "@context": ["https://ref.gs1.org/standards/epcis/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": want_epcis::format_utc_millis(now),
        "epcisBody": {"eventList": events}
    }))
    .unwrap()
}

async fn order_json(n: &TestNode, order: u64) -> Value {
    n.get_ok(&format!("/v1/commerce/orders/{order}")).await
}

fn escrow() -> Address {
    want_state::modules::commerce::state::escrow()
}

/// Posts a capture with the node's bearer token ([`CAPTURE_TOKEN`]).
async fn post_capture(
    n: &TestNode,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> (StatusCode, Value) {
    let r = n
        .http
        .post(n.url(path))
        .header("content-type", "application/json")
        .header("Authorization", format!("Bearer {CAPTURE_TOKEN}"))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json::<Value>().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_not_configured_to_confirm_orders_anchors_the_event_and_reports_the_order_skipped() {
    let dir = tempdir();
    let n = start_capturing(dir.path()).await;
    let (seller, buyer, offer) = shop_and_buyer(&n).await;
    let order = shipped_order(&n, &seller, &buyer, offer, DEV_ORG).await;
    let (s, v) = n
        .post_raw("/v1/epcis/capture", receiving_document(&[&[order]]))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["events"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["orders"][0]["status"], "skipped", "{v}");
    let why = v["orders"][0]["message"].as_str().unwrap_or_default();
    assert!(why.contains("capture.confirm_orders"), "{why}");
    assert_eq!(order_json(&n, order).await["status"], "shipped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiving_event_captured_by_the_delivery_organisation_completes_the_order_it_names() {
    let dir = tempdir();
    // The node's capture key is the dev key: a key of organisation DEV_ORG with every role.
    let n = start_capturing_orders(dir.path()).await;
    let (seller, buyer, offer) = shop_and_buyer(&n).await;
    let order = shipped_order(&n, &seller, &buyer, offer, DEV_ORG).await;
    let total = PRICE * Amount::from(QUANTITY);
    let deposit = DEPOSIT * Amount::from(QUANTITY);
    let shipped = order_json(&n, order).await;
    assert_eq!(
        shipped["escrowed"],
        (total + deposit).to_string(),
        "{shipped}"
    );

    // With confirmOrders=false the event is anchored and confirms nothing.
    let (s, v) = post_capture(
        &n,
        "/v1/epcis/capture?confirmOrders=false",
        receiving_document(&[&[order]]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["orders"], json!([]), "{v}");
    assert_eq!(order_json(&n, order).await["status"], "shipped");

    let (seller_before, buyer_before, escrow_before) = (
        n.balance(&seller.address()).await,
        n.balance(&buyer.address()).await,
        n.balance(&escrow()).await,
    );
    // Two receiving events name the order: the first confirms it, the second is skipped.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (s, v) = post_capture(
        &n,
        "/v1/epcis/capture",
        receiving_document(&[&[order], &[order]]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let events = v["events"].as_array().expect("events");
    assert_eq!(events.len(), 2, "{v}");
    let orders = v["orders"].as_array().expect("orders");
    assert_eq!(orders.len(), 2, "{v}");
    assert_eq!(orders[0]["order"], order.to_string(), "{v}");
    assert_eq!(orders[0]["status"], "confirmed", "{v}");
    assert_eq!(orders[0]["event"], events[0]["eventHash"], "{v}");
    assert!(orders[0]["tx"].is_string(), "{v}");
    assert_eq!(orders[1]["status"], "skipped", "{v}");
    assert_eq!(orders[1]["event"], events[1]["eventHash"], "{v}");

    let done = order_json(&n, order).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["escrowed"], "0", "{done}");
    // The seller is paid less the fee and has its deposit back; the buyer pays nothing more.
    let fee = total * Amount::from(COMMERCE_FEE_BPS) / 10_000;
    assert_eq!(
        n.balance(&seller.address()).await,
        seller_before + total - fee + deposit
    );
    assert_eq!(n.balance(&buyer.address()).await, buyer_before);
    assert_eq!(n.balance(&escrow()).await, escrow_before - total - deposit);
    let purchases = n
        .get_ok(&format!("/v1/commerce/purchases?buyer={}", buyer.address()))
        .await;
    assert_eq!(purchases["purchases"][0]["order"], order, "{purchases}");
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiving_event_naming_an_order_delivered_elsewhere_is_refused_and_the_capture_succeeds()
{
    let dir = tempdir();
    let n = start_capturing_orders(dir.path()).await;
    let dev = dev_key();
    // Another organisation receives the goods of this order.
    let pickup = PrivateKey::generate();
    send_call_ok(
        &n,
        &dev,
        Call::Trace(TraceCall::RegisterOrg {
            org: "pickup".into(),
            name: "Pickup point".into(),
            kind: OrgKind::Retailer,
            encryption_key: pickup.public_key_compressed().to_vec(),
        }),
    )
    .await;
    send_call_ok(
        &n,
        &dev,
        Call::Trace(TraceCall::AddKey {
            org: "pickup".into(),
            key: SigningKey::Secp256k1(pickup).address(),
            department: "desk".into(),
            roles: vec![Role::Retailer],
        }),
    )
    .await;
    let (seller, buyer, offer) = shop_and_buyer(&n).await;
    let order = shipped_order(&n, &seller, &buyer, offer, "pickup").await;
    let before = order_json(&n, order).await;
    let escrow_before = n.balance(&escrow()).await;

    // The dev organisation's capture names the order: anchored, the confirmation refused.
    let (s, v) = post_capture(&n, "/v1/epcis/capture", receiving_document(&[&[order]])).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["events"].as_array().map(Vec::len), Some(1), "{v}");
    let event_hash = v["events"][0]["eventHash"].as_str().expect("eventHash");
    let record = n
        .get_ok(&format!(
            "/v1/trace/records/{}",
            want_node::trace::urlencode(event_hash)
        ))
        .await;
    assert_eq!(record["org"], DEV_ORG, "{record}");
    let o = &v["orders"][0];
    assert_eq!(o["order"], order.to_string(), "{v}");
    assert_eq!(o["status"], "refused", "{v}");
    assert_eq!(o["code"], "order_party_not_allowed", "{v}");
    assert!(
        o["message"]
            .as_str()
            .unwrap_or_default()
            .contains("anchored"),
        "{v}"
    );
    // The order is as it was.
    assert_eq!(order_json(&n, order).await, before);
    assert_eq!(n.balance(&escrow()).await, escrow_before);

    // A malformed order URN is ignored with a note; the capture succeeds all the same.
    std::thread::sleep(std::time::Duration::from_millis(5));
    let (s, v) = post_capture(
        &n,
        "/v1/epcis/capture",
        receiving_document_naming(&[vec![format!("urn:want:commerce:order:0{order}")]]),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["events"].as_array().map(Vec::len), Some(1), "{v}");
    let o = &v["orders"][0];
    assert_eq!(o["status"], "ignored", "{v}");
    assert_eq!(o["code"], "order_urn_invalid", "{v}");
    assert_eq!(o["order"], Value::Null, "{v}");
    assert_eq!(order_json(&n, order).await, before);
    n.stop().await;
}
