//! Prices in other currencies on a real dev node: the dev account and two of the dev chain's
//! reporter keys post USD, the rate reads back through `/v1/commerce/prices…`, and an order of
//! an offer priced in USD pays the converted WANT and records the rate. Before three fresh
//! reports, the order is refused with `price_unavailable` and nothing changes.

use crate::common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use want_crypto::SigningKey;
use want_node::config::dev_reporter_key;
use want_types::modules::commerce::price::PriceRate;
use want_types::modules::commerce::{CommerceCall, OfferTerms};
use want_types::Amount;

/// One WANT in base units.
const WANT: Amount = 1_000_000;

/// 12.50 USD per item, a deposit of 1 USD per item.
fn usd_terms() -> OfferTerms {
    OfferTerms {
        no_ship_deposit_share_bps: 0,
        currency: "USD".into(),
        ..tea_terms(12_500_000, 1_000_000)
    }
}

fn usd(rate: Amount) -> CommerceCall {
    CommerceCall::PostPrices {
        rates: vec![PriceRate {
            currency: "USD".into(),
            rate,
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_dev_reporters_make_a_usd_rate_and_an_order_priced_in_usd_pays_it_in_want() {
    let dir = tempfile::tempdir().unwrap();
    let n = start_dev(dir.path()).await;
    let dev = dev_key();
    let seller = new_key();
    let buyer = new_key();
    let r1 = SigningKey::Secp256k1(dev_reporter_key(1));
    let r2 = SigningKey::Secp256k1(dev_reporter_key(2));
    for (who, amount) in [
        (&seller, 100 * WANT),
        (&buyer, 1_000 * WANT),
        (&r1, WANT),
        (&r2, WANT),
    ] {
        let nonce = n.nonce(&dev.address()).await;
        n.commit(&transfer(&dev, nonce, who.address(), amount))
            .await;
    }

    // The dev chain's reporters: the dev account and its three reporter keys.
    let page = n.get_ok("/v1/commerce/prices").await;
    assert_eq!(
        page["reporters"].as_array().map(Vec::len),
        Some(4),
        "{page}"
    );
    assert_eq!(page["admin"], dev.address().to_string());
    assert_eq!(page["prices"].as_array().map(Vec::len), Some(27), "{page}");
    assert_eq!(page["prices"][0]["currency"], "USD");
    assert_eq!(page["prices"][0]["status"], "unavailable");
    assert_eq!(page["next"], Value::Null);
    let first = n.get_ok("/v1/commerce/prices?limit=2").await;
    assert_eq!(first["next"], "EUR", "{first}");
    let second = n.get_ok("/v1/commerce/prices?after=EUR&limit=1").await;
    assert_eq!(second["prices"][0]["currency"], "CNY", "{second}");

    send_call_ok(
        &n,
        &seller,
        CommerceCall::OpenShop {
            handle: "usd-shop".into(),
            name: "Priced in dollars".into(),
            payout: seller.address(),
            trace_org: None,
        },
    )
    .await;
    send_call_ok(
        &n,
        &seller,
        CommerceCall::AddOffer {
            shop: "usd-shop".into(),
            terms: usd_terms(),
            stock: 5,
        },
    )
    .await;
    let offer = n.get_ok("/v1/commerce/offers/1").await;
    assert_eq!(offer["terms"]["currency"], "USD", "{offer}");
    let place = CommerceCall::PlaceOrder {
        offer: 1,
        version: 1,
        terms_hash: usd_terms().hash(),
        quantity: 2,
        max_total: 500 * WANT,
    };

    // Two reports are not a rate.
    send_call_ok(&n, &dev, usd(7_000_000)).await;
    send_call_ok(&n, &r1, usd(7_250_000)).await;
    // Refused at admission by the module's rules: never in a block, no fee, nothing changed.
    let nonce = n.nonce(&buyer.address()).await;
    let before = n.balance(&buyer.address()).await;
    let (s, v) = n
        .submit(&signed_call(&buyer, nonce, place.clone()), true)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "price_unavailable", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("USD"),
        "{v}"
    );
    assert_eq!(n.balance(&buyer.address()).await, before);
    assert_eq!(n.nonce(&buyer.address()).await, nonce);
    assert_eq!(n.get_ok("/v1/commerce/offers/1").await["stock"], 5);

    send_call_ok(&n, &r2, usd(9_000_000)).await;
    let rate = n.get_ok("/v1/commerce/prices/usd").await;
    assert_eq!(rate["price"]["status"], "ok", "{rate}");
    assert_eq!(rate["price"]["rate"], "7250000");
    assert_eq!(rate["price"]["fresh_reports"], 3);
    assert_eq!(rate["reports"].as_array().map(Vec::len), Some(3));
    let (s, v) = n.get("/v1/commerce/prices/XYZ").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"]["code"], "currency_unknown");

    // 2 × 12.50 USD = 25 USD at 7.25 WANT = 181.25 WANT.
    let before = n.balance(&buyer.address()).await;
    let placed = send_call_ok(&n, &buyer, place).await;
    let fee: Amount = placed["receipt"]["fee_paid"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("fee_paid");
    assert_eq!(
        n.balance(&buyer.address()).await,
        before - 181_250_000 - fee
    );
    let order = n.get_ok("/v1/commerce/orders/1").await;
    assert_eq!(order["paid"], "181250000", "{order}");
    assert_eq!(order["currency"], "USD");
    assert_eq!(order["rate"], "7250000");
    assert_eq!(order["deposit_due"], "14500000");
    n.stop().await;
}
