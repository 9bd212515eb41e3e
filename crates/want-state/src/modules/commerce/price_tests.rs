//! Tests of prices in other currencies through whole blocks: reporters, reports, and orders of
//! offers priced in a currency.

use std::collections::BTreeMap;

use want_types::amount::TOTAL_SUPPLY;
use want_types::modules::commerce::price::{
    PriceRate, PRICE_RATES_PER_TX_MAX, PRICE_REPORTERS_MAX, PRICE_REPORT_AGE_MS_MAX, RATE_MAX,
};
use want_types::modules::commerce::{CommerceCall, CommerceEvent, OfferTerms};
use want_types::{Activations, Address, Amount, Call, Event, Receipt};

use super::codes::*;
use super::price::{self, NoRate};
use super::state::{self, escrow, OrderStatus};
use crate::testutil::*;
use crate::{audit_supply, genesis_state, GenesisInput, MemState};

const START: Amount = 10_000_000_000_000;

fn admin() -> Address {
    addr(10)
}
fn reporter(i: u8) -> Address {
    addr(20 + i)
}
fn seller() -> Address {
    addr(1)
}
fn buyer() -> Address {
    addr(2)
}
fn payout() -> Address {
    addr(4)
}

/// 12.50 USD per item, a deposit of 2 USD per item.
fn usd_terms() -> OfferTerms {
    OfferTerms {
        product: "04012345678901".into(),
        title: "Green tea, 100 g".into(),
        price: 12_500_000,
        deposit_per_order: 2_000_000,
        accept_within_ms: 60_000,
        ship_within_ms: 60_000,
        confirm_window_ms: 3_600_000,
        dispute_window_ms: 3_600_000,
        terms_cid: "bafyterms".into(),
        no_ship_deposit_share_bps: 0,
        currency: "USD".into(),
    }
}

struct World {
    ms: MemState,
    height: u64,
    now: u64,
}

impl World {
    /// A genesis naming `admin()` and reporters 1..=3.
    fn new() -> World {
        let allocs: Vec<(Address, Amount)> = [admin(), seller(), buyer(), reporter(1), reporter(2), reporter(3), reporter(4)]
            .into_iter()
            .map(|a| (a, START))
            .collect();
        let mut all = allocs.clone();
        all.push((addr(200), TOTAL_SUPPLY - START * allocs.len() as Amount));
        let sections: BTreeMap<String, serde_json::Value> = [(
            "commerce".to_string(),
            serde_json::json!({
                "admin": admin(),
                "price_reporters": [reporter(1), reporter(2), reporter(3)],
            }),
        )]
        .into_iter()
        .collect();
        let (ws, _) = genesis_state(&GenesisInput {
            params: &params(),
            allocations: &all,
            sections: &sections,
            activations: &Activations::default(),
        })
        .unwrap();
        let mut ms = MemState::new();
        ms.apply(&ws);
        World {
            ms,
            height: 1,
            now: NOW_MS,
        }
    }

    /// [`World::new`] with a shop and offer 1 priced in USD.
    fn with_usd_offer() -> World {
        let mut w = World::new();
        w.ok(
            seller(),
            CommerceCall::OpenShop {
                handle: "shop".into(),
                name: "Tea House".into(),
                payout: payout(),
                trace_org: None,
            },
        );
        w.ok(
            seller(),
            CommerceCall::AddOffer {
                shop: "shop".into(),
                terms: usd_terms(),
                stock: 10,
            },
        );
        w
    }

    fn call(&mut self, who: Address, c: CommerceCall) -> Receipt {
        let nonce = crate::query::nonce(&self.ms, &who).unwrap();
        let mut t = tx_call(nonce, Call::Commerce(c));
        t.expiry_ms = self.now + 60_000;
        let mut out = run_at(&mut self.ms, self.height, self.now, vec![(who, t)]);
        self.height += 1;
        out.receipts.remove(0)
    }

    fn ok(&mut self, who: Address, c: CommerceCall) -> Receipt {
        let r = self.call(who, c);
        assert!(r.is_success(), "{r:?}");
        r
    }

    /// The call fails with `expected` and changes no commerce state and no escrow.
    fn fails(&mut self, who: Address, c: CommerceCall, expected: &str) -> String {
        let before: Vec<_> = self.ms.iter_prefix(state::PREFIX).map(|(k, v)| (k.clone(), v.clone())).collect();
        let escrow_before = self.bal(escrow());
        let r = self.call(who, c);
        assert_eq!(code(&r), ("failed", expected), "{}", message(&r));
        let after: Vec<_> = self.ms.iter_prefix(state::PREFIX).map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(before, after, "a failed call changed commerce state");
        assert_eq!(escrow_before, self.bal(escrow()));
        message(&r).to_string()
    }

    fn post(&mut self, who: Address, rates: &[(&str, Amount)]) -> Receipt {
        self.call(who, post(rates))
    }

    fn bal(&self, a: Address) -> Amount {
        crate::query::balance(&self.ms, &a).unwrap()
    }
}

fn post(rates: &[(&str, Amount)]) -> CommerceCall {
    CommerceCall::PostPrices {
        rates: rates
            .iter()
            .map(|(c, r)| PriceRate {
                currency: c.to_string(),
                rate: *r,
            })
            .collect(),
    }
}

fn place(quantity: u32, max_total: Amount) -> CommerceCall {
    CommerceCall::PlaceOrder {
        offer: 1,
        version: 1,
        terms_hash: usd_terms().hash(),
        quantity,
        max_total,
    }
}

#[test]
fn the_genesis_names_the_administrator_and_the_reporters() {
    let w = World::new();
    assert_eq!(price::admin(&w.ms).unwrap(), Some(admin()));
    let mut want = vec![reporter(1), reporter(2), reporter(3)];
    want.sort();
    assert_eq!(price::reporters(&w.ms).unwrap(), want);
}

#[test]
fn a_registered_reporter_posts_rates_stored_per_currency() {
    let mut w = World::new();
    let r = w.post(reporter(1), &[("USD", 7_250_000), ("BTC", 500_000_000_000)]);
    assert!(r.is_success(), "{r:?}");
    let ev: Vec<_> = r.events.iter().filter_map(|e| match e { Event::Commerce(c) => Some(c.clone()), _ => None }).collect();
    assert_eq!(ev, vec![CommerceEvent::PricesPosted { reporter: reporter(1), rates: 2 }]);
    let reports = price::reports_of(&w.ms, &reporter(1)).unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0].0, "USD");
    assert_eq!(reports[0].1.rate, 7_250_000);
    assert_eq!(reports[0].1.time_ms, NOW_MS);
}

#[test]
fn a_price_report_from_an_unregistered_key_is_refused() {
    let mut w = World::new();
    w.fails(reporter(4), post(&[("USD", 1)]), PRICE_REPORTER_UNKNOWN);
    w.fails(buyer(), post(&[("USD", 1)]), PRICE_REPORTER_UNKNOWN);
}

#[test]
fn bad_price_reports_are_refused() {
    let mut w = World::new();
    w.fails(reporter(1), post(&[]), PRICE_REPORT_INVALID);
    w.fails(reporter(1), post(&[("USD", 0)]), PRICE_REPORT_INVALID);
    w.fails(reporter(1), post(&[("USD", RATE_MAX + 1)]), PRICE_REPORT_INVALID);
    w.fails(reporter(1), post(&[("USD", 1), ("USD", 2)]), PRICE_REPORT_INVALID);
    w.fails(reporter(1), post(&[("usd", 1)]), CURRENCY_UNKNOWN);
    w.fails(reporter(1), post(&[("WANT", 1)]), CURRENCY_UNKNOWN);
    let many: Vec<(&str, Amount)> = vec![("USD", 1); PRICE_RATES_PER_TX_MAX + 1];
    w.fails(reporter(1), post(&many), PRICE_REPORT_INVALID);
}

#[test]
fn only_the_administrator_registers_and_removes_reporters() {
    let mut w = World::new();
    w.fails(buyer(), CommerceCall::RegisterReporter { reporter: reporter(4) }, PRICE_ADMIN_ONLY);
    w.ok(admin(), CommerceCall::RegisterReporter { reporter: reporter(4) });
    w.fails(admin(), CommerceCall::RegisterReporter { reporter: reporter(4) }, PRICE_REPORTER_REGISTERED);
    assert!(w.post(reporter(4), &[("USD", 1)]).is_success());
    w.fails(reporter(1), CommerceCall::RemoveReporter { reporter: reporter(4) }, PRICE_ADMIN_ONLY);
    w.ok(admin(), CommerceCall::RemoveReporter { reporter: reporter(4) });
    assert!(price::report(&w.ms, "USD", &reporter(4)).unwrap().is_none());
    w.fails(admin(), CommerceCall::RemoveReporter { reporter: reporter(4) }, PRICE_REPORTER_UNKNOWN);
    w.fails(reporter(4), post(&[("USD", 1)]), PRICE_REPORTER_UNKNOWN);
}

#[test]
fn reporters_are_capped() {
    let mut w = World::new();
    for i in 0..(PRICE_REPORTERS_MAX - 3) {
        w.ok(admin(), CommerceCall::RegisterReporter { reporter: Address::from_account_id([100 + i as u8; 20]) });
    }
    w.fails(admin(), CommerceCall::RegisterReporter { reporter: reporter(4) }, PRICE_REPORTERS_FULL);
}

#[test]
fn a_removed_reporters_reports_are_ignored() {
    let mut w = World::new();
    w.ok(admin(), CommerceCall::RegisterReporter { reporter: reporter(4) });
    for (i, rate) in [(1, 10), (2, 20), (3, 30), (4, 1_000)] {
        assert!(w.post(reporter(i), &[("EUR", rate)]).is_success());
    }
    // Four reports: the lower middle of 10, 20, 30, 1000.
    assert_eq!(price::median(&w.ms, "EUR", w.now).unwrap().unwrap().rate, 20);
    w.ok(admin(), CommerceCall::RemoveReporter { reporter: reporter(4) });
    let m = price::median(&w.ms, "EUR", w.now).unwrap().unwrap();
    assert_eq!((m.rate, m.reports), (20, 3));
    w.ok(admin(), CommerceCall::RemoveReporter { reporter: reporter(3) });
    assert_eq!(
        price::median(&w.ms, "EUR", w.now).unwrap(),
        Err(NoRate::Unavailable { reports: 2 })
    );
}

#[test]
fn an_order_in_a_currency_converts_at_the_median_and_records_the_rate() {
    let mut w = World::with_usd_offer();
    // 1 USD = 7.25 WANT (median of 7.0, 7.25, 9.0).
    for (i, rate) in [(1, 7_000_000), (2, 9_000_000), (3, 7_250_000)] {
        assert!(w.post(reporter(i), &[("USD", rate)]).is_success());
    }
    // 3 × 12.50 USD = 37.50 USD = 271.875 WANT; deposit 3 × 2 USD = 43.5 WANT.
    let total: Amount = 271_875_000;
    w.fails(buyer(), place(3, total - 1), ORDER_TOTAL_ABOVE_MAX);
    let buyer_before = w.bal(buyer());
    let r = w.ok(buyer(), place(3, total + 1_000));
    assert_eq!(w.bal(buyer()), buyer_before - total - r.fee_paid);
    let o = state::order(&w.ms, 1).unwrap().unwrap();
    assert_eq!(o.paid, total);
    assert_eq!(o.currency, "USD");
    assert_eq!(o.rate, Some(7_250_000));
    assert_eq!(o.deposit_due, 43_500_000);
    assert_eq!(w.bal(escrow()), total);
    // Acceptance locks the deposit recorded at placement, whatever the rate is now.
    for i in 1..=3 {
        assert!(w.post(reporter(i), &[("USD", 1_000_000)]).is_success());
    }
    let seller_before = w.bal(seller());
    let r = w.ok(seller(), CommerceCall::AcceptOrder { order: 1, max_deposit: 43_500_000 });
    assert_eq!(w.bal(seller()), seller_before - 43_500_000 - r.fee_paid);
    assert_eq!(state::order(&w.ms, 1).unwrap().unwrap().status, OrderStatus::Accepted);
    assert!(audit_supply(&w.ms).unwrap().holds());
}

#[test]
fn a_price_that_does_not_divide_rounds_up_for_the_seller() {
    let mut w = World::with_usd_offer();
    for i in 1..=3 {
        // 1 USD = 0.000003 WANT: 12.5 USD = 0.0000375 WANT → 38 base units.
        assert!(w.post(reporter(i), &[("USD", 3)]).is_success());
    }
    w.ok(buyer(), place(1, 38));
    assert_eq!(state::order(&w.ms, 1).unwrap().unwrap().paid, 38);
}

#[test]
fn an_order_in_a_currency_without_enough_reports_is_refused() {
    let mut w = World::with_usd_offer();
    let m = w.fails(buyer(), place(1, Amount::MAX / 4), PRICE_UNAVAILABLE);
    assert!(m.contains("USD") && m.contains("0 price reports"), "{m}");
    for i in 1..=2 {
        assert!(w.post(reporter(i), &[("USD", 7_000_000)]).is_success());
    }
    w.fails(buyer(), place(1, Amount::MAX / 4), PRICE_UNAVAILABLE);
}

#[test]
fn an_order_in_a_currency_whose_rate_is_stale_is_refused_with_nothing_changed() {
    let mut w = World::with_usd_offer();
    for i in 1..=3 {
        assert!(w.post(reporter(i), &[("USD", 7_000_000)]).is_success());
    }
    // Exactly at the age limit the reports are fresh; one ms later they are stale.
    w.now += PRICE_REPORT_AGE_MS_MAX + 1;
    let stock_before = state::offer(&w.ms, 1).unwrap().unwrap().stock;
    let m = w.fails(buyer(), place(1, Amount::MAX / 4), PRICE_STALE);
    assert!(m.contains("USD") && m.contains("0 of its 3 reports"), "{m}");
    assert!(m.contains(&format!("{} ms old", PRICE_REPORT_AGE_MS_MAX + 1)), "{m}");
    assert_eq!(state::offer(&w.ms, 1).unwrap().unwrap().stock, stock_before);
    assert!(state::order(&w.ms, 1).unwrap().is_none());
    // One fresh report is not enough; three are.
    assert!(w.post(reporter(1), &[("USD", 7_000_000)]).is_success());
    w.fails(buyer(), place(1, Amount::MAX / 4), PRICE_STALE);
    assert!(w.post(reporter(2), &[("USD", 7_000_000)]).is_success());
    assert!(w.post(reporter(3), &[("USD", 7_000_000)]).is_success());
    w.ok(buyer(), place(1, Amount::MAX / 4));
}

#[test]
fn reports_at_the_age_limit_are_still_fresh() {
    let mut w = World::with_usd_offer();
    for i in 1..=3 {
        assert!(w.post(reporter(i), &[("USD", 7_000_000)]).is_success());
    }
    w.now += PRICE_REPORT_AGE_MS_MAX;
    w.ok(buyer(), place(1, Amount::MAX / 4));
}

#[test]
fn an_offer_in_an_unknown_currency_is_refused() {
    let mut w = World::with_usd_offer();
    for bad in ["usd", "XYZ", "", "WANTS"] {
        w.fails(
            seller(),
            CommerceCall::AddOffer {
                shop: "shop".into(),
                terms: OfferTerms { currency: bad.into(), ..usd_terms() },
                stock: 1,
            },
            CURRENCY_UNKNOWN,
        );
    }
}

#[test]
fn an_order_in_want_records_no_rate() {
    let mut w = World::with_usd_offer();
    let terms = OfferTerms { currency: "WANT".into(), ..usd_terms() };
    w.ok(seller(), CommerceCall::AddOffer { shop: "shop".into(), terms: terms.clone(), stock: 1 });
    w.ok(
        buyer(),
        CommerceCall::PlaceOrder { offer: 2, version: 1, terms_hash: terms.hash(), quantity: 1, max_total: terms.price },
    );
    let o = state::order(&w.ms, 1).unwrap().unwrap();
    assert_eq!((o.paid, o.rate, o.deposit_due), (terms.price, None, terms.deposit_per_order));
    assert_eq!(o.currency, "WANT");
}
