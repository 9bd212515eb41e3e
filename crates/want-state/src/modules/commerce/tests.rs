//! Tests of the commerce module: whole blocks through `testutil::run_at`.

use want_types::modules::commerce::{
    CommerceCall, CommerceEvent, Deadline, OfferTerms, BUYER_WINDOW_MS_MIN, DISPUTE_LAPSE_MS,
    EPCIS_EVENT_BYTES_MAX, ORDER_QUANTITY_MAX, ORDER_RETENTION_MS, SELLER_WINDOW_MS_MIN,
};
use want_types::{Address, Amount, Call, Event, Hash32, Receipt};

use super::codes::*;
use super::state::{self, escrow, Order, OrderStatus, OrderTerms};
use super::{query, Commerce};
use crate::kernel::module::Module;
use crate::modules::token::codes::INSUFFICIENT_BALANCE;
use crate::testutil::*;
use crate::{audit_supply, BlockOutcome, MemState};

const START: Amount = 10_000_000_000;
const PRICE: Amount = 1_000;
const DEPOSIT: Amount = 500;
const ACCEPT_MS: u64 = 1_000;
const SHIP_MS: u64 = 2_000;
const CONFIRM_MS: u64 = 10_800_000;
const DISPUTE_MS: u64 = 9_000_000;
const SHARE_BPS: u16 = 5_000;
const STOCK: u64 = 10;

fn seller() -> Address {
    addr(1)
}
fn buyer() -> Address {
    addr(2)
}
fn other() -> Address {
    addr(3)
}
fn payout() -> Address {
    addr(4)
}
/// Neither buyer nor seller of anything.
fn stranger() -> Address {
    addr(9)
}

fn terms() -> OfferTerms {
    OfferTerms {
        product: "04012345678901".into(),
        title: "Green tea, 100 g".into(),
        price: PRICE,
        deposit_per_order: DEPOSIT,
        accept_within_ms: ACCEPT_MS,
        ship_within_ms: SHIP_MS,
        confirm_window_ms: CONFIRM_MS,
        dispute_window_ms: DISPUTE_MS,
        terms_cid: "bafyterms".into(),
        no_ship_deposit_share_bps: SHARE_BPS,
        currency: "WANT".into(),
    }
}

/// A chain with a seller, two buyers, and blocks one at a time.
struct World {
    ms: MemState,
    height: u64,
    now: u64,
}

impl World {
    fn new() -> World {
        World {
            ms: state_with(&[
                (seller(), START),
                (buyer(), START),
                (other(), START),
                (stranger(), START),
            ]),
            height: 1,
            now: NOW_MS,
        }
    }

    /// A shop `shop` of the seller with one offer (id 1) of `STOCK` items.
    fn with_offer() -> World {
        let mut w = World::new();
        w.ok(seller(), open("shop"));
        w.ok(
            seller(),
            CommerceCall::AddOffer {
                shop: "shop".into(),
                terms: terms(),
                stock: STOCK,
            },
        );
        w
    }

    /// [`World::with_offer`] and order 1 of two items, placed at `self.now`.
    fn with_order() -> World {
        let mut w = World::with_offer();
        w.ok(buyer(), place(1, 2));
        w
    }

    fn with_accepted() -> World {
        let mut w = World::with_order();
        w.ok(seller(), accept(1));
        w
    }

    fn with_shipped() -> World {
        let mut w = World::with_accepted();
        w.ok(seller(), ship(1));
        w
    }

    /// Runs `calls` in one block at the current time.
    fn block(&mut self, calls: Vec<(Address, CommerceCall)>) -> BlockOutcome {
        let mut nonces = std::collections::BTreeMap::new();
        let txs = calls
            .into_iter()
            .map(|(who, c)| {
                let n = nonces
                    .entry(who)
                    .or_insert_with(|| crate::query::nonce(&self.ms, &who).unwrap());
                let mut t = tx_call(*n, Call::Commerce(c));
                *n += 1;
                t.expiry_ms = self.now + 60_000;
                (who, t)
            })
            .collect();
        let out = run_at(&mut self.ms, self.height, self.now, txs);
        self.height += 1;
        out
    }

    fn call(&mut self, who: Address, c: CommerceCall) -> Receipt {
        self.block(vec![(who, c)]).receipts.remove(0)
    }

    fn ok(&mut self, who: Address, c: CommerceCall) -> Receipt {
        let r = self.call(who, c);
        assert!(r.is_success(), "{r:?}");
        r
    }

    /// The call fails with `expected`, and changes nothing but the sender's fee and nonce.
    fn fails(&mut self, who: Address, c: CommerceCall, expected: &str) {
        let before: Vec<_> = self.ms.iter_prefix(state::PREFIX).map(|(k, v)| (k.clone(), v.clone())).collect();
        let escrow_before = self.bal(escrow());
        let r = self.call(who, c);
        assert_eq!(code(&r), ("failed", expected), "{}", message(&r));
        assert!(!message(&r).is_empty());
        let after: Vec<_> = self.ms.iter_prefix(state::PREFIX).map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(before, after, "a failed call changed commerce state");
        assert_eq!(escrow_before, self.bal(escrow()));
    }

    /// An empty block at `at` ms.
    fn tick(&mut self, at: u64) -> BlockOutcome {
        self.now = at;
        self.block(vec![])
    }

    fn bal(&self, a: Address) -> Amount {
        crate::query::balance(&self.ms, &a).unwrap()
    }

    fn order(&self, id: u64) -> Order {
        state::order(&self.ms, id).unwrap().unwrap()
    }

    fn stock(&self) -> u64 {
        state::offer(&self.ms, 1).unwrap().unwrap().stock
    }

    /// The escrow holds exactly the open orders' funds, and the supply audit holds.
    fn check_books(&self) {
        let mut sum: Amount = 0;
        let mut after = None;
        loop {
            let page = query::orders(&self.ms, after, query::ORDERS_PAGE_MAX).unwrap();
            for o in &page.items {
                sum += o.escrowed().unwrap();
                // Every live order is in its buyer's and its shop's index.
                let id = o.id.to_be_bytes();
                for prefix in [state::buyer_orders_prefix(&o.buyer), state::shop_orders_prefix(&o.shop)] {
                    let key = [prefix, id.to_vec()].concat();
                    assert!(self.ms.0.contains_key(&key), "order {} missing from an index", o.id);
                }
                // Its offer version's whole terms are kept, and are the ones it was placed under.
                let terms = state::offer_terms(&self.ms, o.offer, o.version)
                    .unwrap()
                    .unwrap_or_else(|| panic!("order {}: no terms record of its version", o.id));
                assert_eq!(terms.hash(), o.terms_hash, "order {}: terms record", o.id);
                assert_eq!(OrderTerms::of(&terms), o.terms, "order {}: its terms", o.id);
            }
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(self.bal(escrow()), sum, "escrow != open orders' funds");
        // And no index names an order that is not live.
        for prefix in [state::BUYER_ORDER_PREFIX, state::SHOP_ORDER_PREFIX] {
            for k in self.ms.0.keys().filter(|k| k.starts_with(prefix)) {
                let id = u64::from_be_bytes(k[k.len() - 8..].try_into().unwrap());
                assert!(state::order(&self.ms, id).unwrap().is_some(), "index names order {id}, which is not live");
            }
        }
        assert!(audit_supply(&self.ms).unwrap().holds());
    }
}

fn open(handle: &str) -> CommerceCall {
    CommerceCall::OpenShop {
        handle: handle.into(),
        name: "Tea House".into(),
        payout: payout(),
        trace_org: None,
    }
}

fn place(offer: u64, quantity: u32) -> CommerceCall {
    CommerceCall::PlaceOrder {
        offer,
        version: 1,
        terms_hash: terms().hash(),
        quantity,
        max_total: PRICE * Amount::from(quantity),
    }
}

fn accept(order: u64) -> CommerceCall {
    CommerceCall::AcceptOrder {
        order,
        max_deposit: DEPOSIT * 2,
    }
}

fn ship(order: u64) -> CommerceCall {
    CommerceCall::ShipOrder {
        order,
        epcis_event: Some("urn:uuid:ship-1".into()),
    }
}

fn commerce_events(events: &[Event]) -> Vec<CommerceEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Commerce(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

// ---- shops ----

#[test]
fn a_shop_is_opened_edited_and_closed_by_its_owner() {
    let mut w = World::new();
    let r = w.ok(seller(), open("tea-house"));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::ShopOpened {
            handle: "tea-house".into(),
            owner: seller()
        }]
    );
    w.ok(
        seller(),
        CommerceCall::EditShop {
            handle: "tea-house".into(),
            name: "Tea House 2".into(),
            payout: other(),
            trace_org: None,
        },
    );
    let s = query::shop(&w.ms, "tea-house").unwrap().unwrap();
    assert_eq!((s.name.as_str(), s.payout, s.trace_org), ("Tea House 2", other(), None));
    w.ok(seller(), CommerceCall::CloseShop { handle: "tea-house".into() });
    assert!(query::shop(&w.ms, "tea-house").unwrap().unwrap().closed);
    w.check_books();
}

#[test]
fn a_bad_handle_is_refused() {
    let mut w = World::new();
    for h in ["ab", "Shop", "-shop", "shop-", "sh op", "ünï", &"a".repeat(33)] {
        w.fails(seller(), open(h), SHOP_HANDLE_INVALID);
    }
}

#[test]
fn a_taken_or_look_alike_handle_is_refused() {
    let mut w = World::new();
    w.ok(seller(), open("shop"));
    for h in ["shop", "sh0p", "s-hop", "5hop"] {
        w.fails(other(), open(h), SHOP_HANDLE_TAKEN);
    }
    w.ok(other(), open("shoe"));
    // A closed shop keeps its handle.
    w.ok(seller(), CommerceCall::CloseShop { handle: "shop".into() });
    w.fails(other(), open("shop"), SHOP_HANDLE_TAKEN);
}

#[test]
fn a_bad_shop_field_is_refused() {
    let mut w = World::new();
    let mut c = open("shop");
    if let CommerceCall::OpenShop { name, .. } = &mut c {
        *name = String::new();
    }
    w.fails(seller(), c, SHOP_FIELD_INVALID);
    let mut c = open("shop");
    if let CommerceCall::OpenShop { trace_org, .. } = &mut c {
        *trace_org = Some("o".repeat(65));
    }
    w.fails(seller(), c, SHOP_FIELD_INVALID);
}

#[test]
fn only_the_owner_edits_an_existing_open_shop() {
    let mut w = World::new();
    w.fails(seller(), CommerceCall::CloseShop { handle: "shop".into() }, SHOP_UNKNOWN);
    w.ok(seller(), open("shop"));
    w.fails(other(), CommerceCall::CloseShop { handle: "shop".into() }, SHOP_OWNER_ONLY);
    w.ok(seller(), CommerceCall::CloseShop { handle: "shop".into() });
    w.fails(seller(), CommerceCall::CloseShop { handle: "shop".into() }, SHOP_CLOSED);
    w.fails(
        seller(),
        CommerceCall::AddOffer {
            shop: "shop".into(),
            terms: terms(),
            stock: 1,
        },
        SHOP_CLOSED,
    );
}

// ---- offers ----

#[test]
fn an_offer_is_versioned_only_when_its_terms_change() {
    let mut w = World::with_offer();
    let o = query::offer(&w.ms, 1).unwrap().unwrap();
    assert_eq!((o.version, o.stock, o.terms_hash), (1, STOCK, terms().hash()));
    w.ok(
        seller(),
        CommerceCall::UpdateOffer {
            offer: 1,
            terms: terms(),
            stock: 3,
        },
    );
    assert_eq!(query::offer(&w.ms, 1).unwrap().unwrap().version, 1);
    let t2 = OfferTerms {
        price: PRICE * 2,
        ..terms()
    };
    let r = w.ok(
        seller(),
        CommerceCall::UpdateOffer {
            offer: 1,
            terms: t2.clone(),
            stock: 3,
        },
    );
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::OfferUpdated {
            offer: 1,
            version: 2,
            stock: 3
        }]
    );
    let o = query::offer(&w.ms, 1).unwrap().unwrap();
    assert_eq!((o.version, o.terms_hash), (2, t2.hash()));
    w.fails(
        other(),
        CommerceCall::UpdateOffer {
            offer: 1,
            terms: terms(),
            stock: 3,
        },
        SHOP_OWNER_ONLY,
    );
    w.fails(
        seller(),
        CommerceCall::UpdateOffer {
            offer: 9,
            terms: terms(),
            stock: 3,
        },
        OFFER_UNKNOWN,
    );
}

#[test]
fn bad_offer_terms_are_refused() {
    let mut w = World::new();
    w.ok(seller(), open("shop"));
    let bad = [
        OfferTerms { price: 0, ..terms() },
        OfferTerms { accept_within_ms: 0, ..terms() },
        OfferTerms { ship_within_ms: SELLER_WINDOW_MS_MIN - 1, ..terms() },
        OfferTerms { confirm_window_ms: BUYER_WINDOW_MS_MIN - 1, ..terms() },
        OfferTerms { dispute_window_ms: BUYER_WINDOW_MS_MIN - 1, ..terms() },
        OfferTerms { dispute_window_ms: want_types::modules::commerce::WINDOW_MS_MAX + 1, ..terms() },
        OfferTerms { no_ship_deposit_share_bps: 10_001, ..terms() },
        OfferTerms { product: String::new(), ..terms() },
        OfferTerms { price: Amount::MAX / 2, ..terms() },
    ];
    for t in bad {
        w.fails(
            seller(),
            CommerceCall::AddOffer {
                shop: "shop".into(),
                terms: t,
                stock: 1,
            },
            OFFER_INVALID,
        );
    }
}

// ---- placing ----

#[test]
fn placing_an_order_moves_the_payment_into_escrow_and_takes_stock() {
    let mut w = World::with_offer();
    let r = w.ok(buyer(), place(1, 2));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::OrderPlaced {
            order: 1,
            offer: 1,
            version: 1,
            buyer: buyer(),
            quantity: 2,
            total: 2 * PRICE
        }]
    );
    assert_eq!(w.bal(escrow()), 2 * PRICE);
    assert_eq!(w.bal(buyer()), START - MIN_FEE - 2 * PRICE);
    assert_eq!(w.stock(), STOCK - 2);
    let o = w.order(1);
    assert_eq!(o.status, OrderStatus::Placed);
    assert_eq!(o.deadline_ms, Some(NOW_MS + ACCEPT_MS));
    assert_eq!(crate::kernel::schedule::pending(&w.ms, 10).unwrap().len(), 1);
    w.check_books();
}

#[test]
fn ordering_an_unknown_closed_or_sold_out_offer_is_refused() {
    let mut w = World::with_offer();
    w.fails(buyer(), place(7, 1), OFFER_UNKNOWN);
    w.fails(buyer(), place(1, STOCK as u32 + 1), OFFER_SOLD_OUT);
    w.fails(buyer(), place(1, 0), ORDER_QUANTITY_INVALID);
    w.fails(buyer(), place(1, ORDER_QUANTITY_MAX + 1), ORDER_QUANTITY_INVALID);
    w.fails(seller(), place(1, 1), ORDER_PARTY_NOT_ALLOWED);
    w.ok(seller(), CommerceCall::CloseShop { handle: "shop".into() });
    w.fails(buyer(), place(1, 1), OFFER_CLOSED);
}

#[test]
fn ordering_an_old_version_or_other_terms_is_refused() {
    let mut w = World::with_offer();
    let mut c = place(1, 1);
    if let CommerceCall::PlaceOrder { terms_hash, .. } = &mut c {
        *terms_hash = Hash32([9; 32]);
    }
    w.fails(buyer(), c, OFFER_TERMS_MISMATCH);
    w.ok(
        seller(),
        CommerceCall::UpdateOffer {
            offer: 1,
            terms: OfferTerms { price: PRICE + 1, ..terms() },
            stock: STOCK,
        },
    );
    w.fails(buyer(), place(1, 1), OFFER_VERSION_STALE);
}

#[test]
fn paying_less_than_the_price_is_refused() {
    let mut w = World::with_offer();
    let mut c = place(1, 2);
    if let CommerceCall::PlaceOrder { max_total, .. } = &mut c {
        *max_total = 2 * PRICE - 1;
    }
    w.fails(buyer(), c, ORDER_TOTAL_ABOVE_MAX);
    let poor = addr(9);
    let mut w2 = World {
        ms: state_with(&[(seller(), START), (poor, MIN_FEE + PRICE - 1)]),
        height: 1,
        now: NOW_MS,
    };
    w2.ok(seller(), open("shop"));
    w2.ok(seller(), CommerceCall::AddOffer { shop: "shop".into(), terms: terms(), stock: 1 });
    w2.fails(poor, place(1, 1), INSUFFICIENT_BALANCE);
}

#[test]
fn a_new_offer_version_never_changes_a_placed_order() {
    let mut w = World::with_order();
    w.ok(
        seller(),
        CommerceCall::UpdateOffer {
            offer: 1,
            terms: OfferTerms { price: PRICE * 5, confirm_window_ms: BUYER_WINDOW_MS_MIN, ..terms() },
            stock: 1,
        },
    );
    let o = w.order(1);
    assert_eq!(
        (o.terms, o.terms_hash, o.version, o.paid),
        (OrderTerms::of(&terms()), terms().hash(), 1, 2 * PRICE)
    );
    // The order's version's whole terms stay readable; the new version's are kept at its first
    // order.
    assert_eq!(state::offer_terms(&w.ms, 1, 1).unwrap(), Some(terms()));
    assert_eq!(state::offer_terms(&w.ms, 1, 2).unwrap(), None);
    w.ok(
        other(),
        CommerceCall::PlaceOrder {
            offer: 1,
            version: 2,
            terms_hash: OfferTerms { price: PRICE * 5, confirm_window_ms: BUYER_WINDOW_MS_MIN, ..terms() }.hash(),
            quantity: 1,
            max_total: PRICE * 5,
        },
    );
    assert_eq!(
        state::offer_terms(&w.ms, 1, 2).unwrap().map(|t| t.price),
        Some(PRICE * 5)
    );
    assert_eq!(state::offer_terms(&w.ms, 1, 1).unwrap(), Some(terms()));
    w.check_books();
    w.ok(seller(), accept(1));
    w.ok(seller(), ship(1));
    assert_eq!(w.order(1).deadline_ms, Some(NOW_MS + CONFIRM_MS));
}

// ---- accepting, declining ----

#[test]
fn accepting_locks_the_deposit_and_arms_the_ship_deadline() {
    let mut w = World::with_order();
    let seller_before = w.bal(seller());
    let r = w.ok(seller(), accept(1));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::OrderAccepted { order: 1, deposit: 2 * DEPOSIT }]
    );
    assert_eq!(w.bal(seller()), seller_before - MIN_FEE - 2 * DEPOSIT);
    assert_eq!(w.bal(escrow()), 2 * PRICE + 2 * DEPOSIT);
    let o = w.order(1);
    assert_eq!((o.status, o.deadline_ms), (OrderStatus::Accepted, Some(NOW_MS + SHIP_MS)));
    // The accept deadline's entry was cancelled: one entry remains.
    assert_eq!(crate::kernel::schedule::pending(&w.ms, 10).unwrap().len(), 1);
    w.check_books();
}

#[test]
fn a_second_accept_is_refused() {
    let mut w = World::with_accepted();
    w.fails(seller(), accept(1), ORDER_ALREADY_ACCEPTED);
}

#[test]
fn accept_by_anyone_but_the_seller_or_above_max_deposit_is_refused() {
    let mut w = World::with_order();
    w.fails(buyer(), accept(1), ORDER_PARTY_NOT_ALLOWED);
    w.fails(seller(), accept(5), ORDER_UNKNOWN);
    w.fails(
        seller(),
        CommerceCall::AcceptOrder { order: 1, max_deposit: 2 * DEPOSIT - 1 },
        ORDER_DEPOSIT_ABOVE_MAX,
    );
}

#[test]
fn accept_at_the_deadline_is_refused_and_the_trigger_expires_the_order() {
    let mut w = World::with_order();
    w.now = NOW_MS + ACCEPT_MS;
    // The call fails; the block's trigger then ends the order.
    let r = w.call(seller(), accept(1));
    assert_eq!(code(&r), ("failed", ORDER_DEADLINE_PASSED), "{}", message(&r));
    assert_eq!(w.order(1).status, OrderStatus::Expired);
}

#[test]
fn declining_refunds_the_buyer_and_restocks() {
    let mut w = World::with_order();
    w.fails(buyer(), CommerceCall::DeclineOrder { order: 1 }, ORDER_PARTY_NOT_ALLOWED);
    let r = w.ok(seller(), CommerceCall::DeclineOrder { order: 1 });
    assert_eq!(commerce_events(&r.events), vec![CommerceEvent::OrderDeclined { order: 1 }]);
    assert_eq!(w.bal(buyer()), START - 2 * MIN_FEE);
    assert_eq!(w.stock(), STOCK);
    assert_eq!(w.order(1).status, OrderStatus::Declined);
    only_retirement_pending(&w, 1);
    w.check_books();
    w.fails(seller(), CommerceCall::DeclineOrder { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
}

#[test]
fn an_accepted_order_cannot_be_declined() {
    let mut w = World::with_accepted();
    w.fails(seller(), CommerceCall::DeclineOrder { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
}

// ---- shipping, confirming ----

#[test]
fn ship_before_accept_is_refused() {
    let mut w = World::with_order();
    w.fails(seller(), ship(1), ORDER_NOT_ACCEPTED);
}

#[test]
fn shipping_arms_the_confirmation_window() {
    let mut w = World::with_accepted();
    w.fails(buyer(), ship(1), ORDER_PARTY_NOT_ALLOWED);
    w.fails(
        seller(),
        CommerceCall::ShipOrder { order: 1, epcis_event: Some("e".repeat(EPCIS_EVENT_BYTES_MAX + 1)) },
        ORDER_EVIDENCE_INVALID,
    );
    let r = w.ok(seller(), ship(1));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::OrderShipped { order: 1, epcis_event: Some("urn:uuid:ship-1".into()) }]
    );
    let o = w.order(1);
    assert_eq!((o.status, o.deadline_ms), (OrderStatus::Shipped, Some(NOW_MS + CONFIRM_MS)));
    w.fails(seller(), ship(1), ORDER_TRANSITION_NOT_ALLOWED);
}

#[test]
fn confirm_by_anyone_but_the_buyer_is_refused() {
    let mut w = World::with_shipped();
    w.fails(seller(), CommerceCall::ConfirmDelivery { order: 1 }, ORDER_NOT_BUYER);
    w.fails(other(), CommerceCall::ConfirmDelivery { order: 1 }, ORDER_NOT_BUYER);
}

#[test]
fn confirm_before_shipping_is_refused() {
    let mut w = World::with_accepted();
    w.fails(buyer(), CommerceCall::ConfirmDelivery { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
}

#[test]
fn confirming_pays_the_seller_less_one_percent_returns_the_deposit_and_records_the_purchase() {
    let mut w = World::with_shipped();
    let (seller_before, pool_before) = (w.bal(seller()), w.bal(pool()));
    let r = w.ok(buyer(), CommerceCall::ConfirmDelivery { order: 1 });
    let fee = 2 * PRICE / 100;
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::OrderCompleted { order: 1, seller_amount: 2 * PRICE - fee, fee }]
    );
    assert_eq!(w.bal(payout()), 2 * PRICE - fee);
    assert_eq!(w.bal(pool()), pool_before + MIN_FEE + fee);
    assert_eq!(w.bal(seller()), seller_before + 2 * DEPOSIT);
    assert_eq!(w.bal(escrow()), 0);
    assert_eq!(w.order(1).status, OrderStatus::Completed);
    let p = query::purchase(&w.ms, &buyer(), 1).unwrap().unwrap();
    assert_eq!(
        (p.shop.as_str(), p.product.as_str(), p.amount, p.time_ms),
        ("shop", "04012345678901", 2 * PRICE, NOW_MS)
    );
    assert_eq!(query::purchases(&w.ms, &buyer(), None, 10).unwrap().items, vec![p]);
    only_retirement_pending(&w, 1);
    w.check_books();
    w.fails(buyer(), CommerceCall::ConfirmDelivery { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
}

#[test]
fn the_fee_rounds_up() {
    assert_eq!(super::completion_fee(0), 0);
    assert_eq!(super::completion_fee(1), 1);
    assert_eq!(super::completion_fee(100), 1);
    assert_eq!(super::completion_fee(101), 2);
    assert_eq!(super::completion_fee(Amount::MAX), Amount::MAX.div_ceil(100));
    assert_eq!(super::bps_of(Amount::MAX, 10_000, false), Amount::MAX);
    assert_eq!(super::bps_of(999, 5_000, false), 499);
}

// ---- refunds ----

#[test]
fn a_part_refund_reduces_what_the_seller_gets() {
    let mut w = World::with_shipped();
    w.fails(buyer(), CommerceCall::RefundPart { order: 1, amount: 1 }, ORDER_PARTY_NOT_ALLOWED);
    let buyer_before = w.bal(buyer());
    let r = w.ok(seller(), CommerceCall::RefundPart { order: 1, amount: 500 });
    assert_eq!(commerce_events(&r.events), vec![CommerceEvent::OrderPartRefunded { order: 1, amount: 500 }]);
    assert_eq!(w.bal(buyer()), buyer_before + 500);
    w.check_books();
    w.ok(buyer(), CommerceCall::ConfirmDelivery { order: 1 });
    assert_eq!(w.bal(payout()), 1_500 - 15);
    w.check_books();
}

#[test]
fn refunding_more_than_was_paid_is_refused() {
    let mut w = World::with_accepted();
    w.fails(seller(), CommerceCall::RefundPart { order: 1, amount: 2 * PRICE + 1 }, ORDER_REFUND_ABOVE_PAID);
    w.fails(seller(), CommerceCall::RefundPart { order: 1, amount: 0 }, ORDER_REFUND_ABOVE_PAID);
    w.ok(seller(), CommerceCall::RefundPart { order: 1, amount: 2 * PRICE - 1 });
    w.fails(seller(), CommerceCall::RefundPart { order: 1, amount: 2 }, ORDER_REFUND_ABOVE_PAID);
    w.ok(seller(), CommerceCall::RefundPart { order: 1, amount: 1 });
    w.check_books();
}

// ---- cancellation ----

#[test]
fn cancellation_needs_both_parties_and_refunds_everything() {
    let mut w = World::with_accepted();
    w.fails(buyer(), CommerceCall::AgreeCancel { order: 1 }, ORDER_CANCEL_NOT_PROPOSED);
    w.fails(other(), CommerceCall::ProposeCancel { order: 1 }, ORDER_PARTY_NOT_ALLOWED);
    w.ok(buyer(), CommerceCall::ProposeCancel { order: 1 });
    w.fails(buyer(), CommerceCall::AgreeCancel { order: 1 }, ORDER_PARTY_NOT_ALLOWED);
    let seller_before = w.bal(seller());
    let r = w.ok(seller(), CommerceCall::AgreeCancel { order: 1 });
    assert_eq!(commerce_events(&r.events), vec![CommerceEvent::OrderCancelled { order: 1 }]);
    assert_eq!(w.bal(seller()), seller_before - MIN_FEE + 2 * DEPOSIT);
    // Place, two failed agreements, the proposal: four fees.
    assert_eq!(w.bal(buyer()), START - 4 * MIN_FEE);
    assert_eq!(w.stock(), STOCK);
    assert_eq!(w.order(1).status, OrderStatus::Cancelled);
    only_retirement_pending(&w, 1);
    w.check_books();
    w.fails(buyer(), CommerceCall::ProposeCancel { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
}

#[test]
fn a_cancel_proposal_lapses_when_the_order_moves_on() {
    let mut w = World::with_order();
    w.ok(seller(), CommerceCall::ProposeCancel { order: 1 });
    w.ok(seller(), accept(1));
    w.fails(buyer(), CommerceCall::AgreeCancel { order: 1 }, ORDER_CANCEL_NOT_PROPOSED);
    w.ok(seller(), CommerceCall::ProposeCancel { order: 1 });
    w.ok(seller(), ship(1));
    // Shipped: agreeing to the seller's old proposal would refund the buyer who keeps the goods.
    w.fails(buyer(), CommerceCall::AgreeCancel { order: 1 }, ORDER_CANCEL_NOT_PROPOSED);
    assert_eq!(w.order(1).status, OrderStatus::Shipped);
    w.check_books();
}

#[test]
fn an_order_refunded_in_full_completes_without_a_purchase_record() {
    let mut w = World::with_shipped();
    w.ok(seller(), CommerceCall::RefundPart { order: 1, amount: 2 * PRICE });
    w.ok(buyer(), CommerceCall::ConfirmDelivery { order: 1 });
    assert_eq!(w.order(1).status, OrderStatus::Completed);
    assert!(query::purchases(&w.ms, &buyer(), None, 10).unwrap().items.is_empty());
    w.check_books();
}

#[test]
fn a_shop_cannot_be_paid_into_the_escrow_account() {
    let mut w = World::new();
    let call = |payout| CommerceCall::OpenShop {
        handle: "shop".into(),
        name: "Shop".into(),
        payout,
        trace_org: None,
    };
    w.fails(seller(), call(escrow()), SHOP_FIELD_INVALID);
    w.ok(seller(), call(payout()));
    let edit = CommerceCall::EditShop {
        handle: "shop".into(),
        name: "Shop".into(),
        payout: escrow(),
        trace_org: None,
    };
    w.fails(seller(), edit, SHOP_FIELD_INVALID);
}

#[test]
fn a_cancelled_shipped_order_is_not_restocked() {
    let mut w = World::with_shipped();
    w.ok(seller(), CommerceCall::ProposeCancel { order: 1 });
    w.ok(buyer(), CommerceCall::AgreeCancel { order: 1 });
    assert_eq!(w.stock(), STOCK - 2);
    w.check_books();
}

// ---- disputes and settlement ----

#[test]
fn a_dispute_freezes_the_escrow_past_the_confirmation_window() {
    let mut w = World::with_shipped();
    w.fails(other(), CommerceCall::OpenDispute { order: 1, evidence: vec!["bafy1".into()] }, ORDER_PARTY_NOT_ALLOWED);
    w.fails(buyer(), CommerceCall::OpenDispute { order: 1, evidence: vec![] }, ORDER_EVIDENCE_INVALID);
    let r = w.ok(buyer(), CommerceCall::OpenDispute { order: 1, evidence: vec!["bafy1".into()] });
    assert_eq!(commerce_events(&r.events), vec![CommerceEvent::OrderDisputed { order: 1, by: buyer() }]);
    w.tick(NOW_MS + CONFIRM_MS + 10);
    assert_eq!(w.order(1).status, OrderStatus::Disputed);
    assert_eq!(w.bal(escrow()), 2 * PRICE + 2 * DEPOSIT);
    assert_eq!(w.bal(payout()), 0);
    w.fails(buyer(), CommerceCall::ConfirmDelivery { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
    w.fails(seller(), CommerceCall::OpenDispute { order: 1, evidence: vec!["b".into()] }, ORDER_TRANSITION_NOT_ALLOWED);
    w.check_books();
}

#[test]
fn a_dispute_before_shipping_or_after_the_window_is_refused() {
    let mut w = World::with_accepted();
    w.fails(buyer(), CommerceCall::OpenDispute { order: 1, evidence: vec!["b".into()] }, ORDER_TRANSITION_NOT_ALLOWED);
    let mut w = World::with_shipped();
    w.now = NOW_MS + DISPUTE_MS;
    w.fails(buyer(), CommerceCall::OpenDispute { order: 1, evidence: vec!["b".into()] }, ORDER_DISPUTE_WINDOW_CLOSED);
    let mut w = World::with_shipped();
    w.now = NOW_MS + DISPUTE_MS - 1;
    w.ok(buyer(), CommerceCall::OpenDispute { order: 1, evidence: vec!["b".into()] });
}

#[test]
fn a_settlement_both_parties_sign_splits_the_escrow() {
    let mut w = World::with_shipped();
    w.fails(buyer(), CommerceCall::ProposeSettlement { order: 1, buyer_share: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
    w.ok(buyer(), CommerceCall::OpenDispute { order: 1, evidence: vec!["bafy1".into()] });
    let escrowed = 2 * PRICE + 2 * DEPOSIT;
    w.fails(seller(), CommerceCall::AcceptSettlement { order: 1, buyer_share: 1 }, ORDER_SETTLEMENT_NOT_PROPOSED);
    w.fails(buyer(), CommerceCall::ProposeSettlement { order: 1, buyer_share: escrowed + 1 }, ORDER_SHARE_ABOVE_ESCROW);
    w.fails(other(), CommerceCall::ProposeSettlement { order: 1, buyer_share: 1 }, ORDER_PARTY_NOT_ALLOWED);
    w.ok(buyer(), CommerceCall::ProposeSettlement { order: 1, buyer_share: 1_200 });
    w.fails(buyer(), CommerceCall::AcceptSettlement { order: 1, buyer_share: 1_200 }, ORDER_PARTY_NOT_ALLOWED);
    w.fails(seller(), CommerceCall::AcceptSettlement { order: 1, buyer_share: 1_100 }, ORDER_SETTLEMENT_MISMATCH);
    let buyer_before = w.bal(buyer());
    let seller_before = w.bal(seller());
    let pool_before = w.bal(pool());
    let r = w.ok(seller(), CommerceCall::AcceptSettlement { order: 1, buyer_share: 1_200 });
    // Of the 1,800 left, the seller's 1,000 deposit goes back to it; the 800 of payment is a
    // sale: 1 % fee (8) to the pool, 792 to the payout account.
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::OrderSettled { order: 1, buyer_amount: 1_200, seller_amount: escrowed - 1_200 - 8, ruled: false, fee: 8 }]
    );
    assert_eq!(w.bal(buyer()), buyer_before + 1_200);
    assert_eq!(w.bal(payout()), 792);
    assert_eq!(w.bal(seller()), seller_before - MIN_FEE + 2 * DEPOSIT);
    // The pool also takes the transaction's fee.
    assert_eq!(w.bal(pool()), pool_before + MIN_FEE + 8);
    assert_eq!(w.order(1).status, OrderStatus::Settled);
    // What the seller kept of the payment was a sale: the buyer may review it.
    assert_eq!(query::purchase(&w.ms, &buyer(), 1).unwrap().map(|p| p.amount), Some(800));
    w.check_books();
}

#[test]
fn the_arbitration_hook_rules_on_a_disputed_order_only() {
    use crate::kernel::module::{CallCtx, Mode};
    use crate::store::Overlay;
    let mut w = World::with_shipped();
    let rule = |w: &mut World, share: Amount| {
        let bc = ctx(w.height);
        let mut events = Vec::new();
        let mut ov = Overlay::new(&w.ms);
        let mut cx = CallCtx {
            state: &mut ov,
            block: &bc,
            tx_id: Hash32::ZERO,
            sender: addr(77),
            mode: Mode::Execute,
            events: &mut events,
        };
        let res = super::rule(&mut cx, 1, share);
        let changes = ov.into_changes();
        let ok = res.is_ok();
        if ok {
            w.ms.apply(&crate::WriteSet(changes.into_iter().collect()));
        }
        (ok, events)
    };
    assert!(!rule(&mut w, 0).0);
    w.ok(seller(), CommerceCall::OpenDispute { order: 1, evidence: vec!["b".into()] });
    assert!(!rule(&mut w, 2 * PRICE + 2 * DEPOSIT + 1).0);
    let (ok, events) = rule(&mut w, 2 * PRICE);
    assert!(ok);
    assert_eq!(
        commerce_events(&events),
        vec![CommerceEvent::OrderSettled { order: 1, buyer_amount: 2 * PRICE, seller_amount: 2 * DEPOSIT, ruled: true, fee: 0 }]
    );
    assert_eq!(w.order(1).status, OrderStatus::Settled);
    w.check_books();
}

/// The shipped order 1 disputed by the buyer at `NOW_MS`; `proposals` made right after.
fn disputed_with(proposals: &[(Address, Amount)]) -> World {
    let mut w = World::with_shipped();
    w.ok(buyer(), CommerceCall::OpenDispute { order: 1, evidence: vec!["bafy1".into()] });
    for (who, share) in proposals {
        w.ok(*who, CommerceCall::ProposeSettlement { order: 1, buyer_share: *share });
    }
    w
}

#[test]
fn cancellations_and_settlements_are_refused_at_their_deadline() {
    // Accepted, a cancellation proposed: at the ship deadline the seller may not agree to it
    // (its trigger takes the deposit's share for the buyer).
    let mut w = World::with_accepted();
    w.ok(buyer(), CommerceCall::ProposeCancel { order: 1 });
    w.now = NOW_MS + SHIP_MS;
    let r = w.call(seller(), CommerceCall::AgreeCancel { order: 1 });
    assert_eq!(code(&r), ("failed", ORDER_DEADLINE_PASSED), "{}", message(&r));
    assert_eq!(w.order(1).status, OrderStatus::Expired);
    // Disputed: at the lapse nobody changes or accepts a proposal.
    let mut w = disputed_with(&[(buyer(), 1_000)]);
    w.now = NOW_MS + DISPUTE_LAPSE_MS;
    let r = w.call(seller(), CommerceCall::AcceptSettlement { order: 1, buyer_share: 1_000 });
    assert_eq!(code(&r), ("failed", ORDER_DEADLINE_PASSED), "{}", message(&r));
    assert_eq!(w.order(1).status, OrderStatus::Settled);
    let mut w = disputed_with(&[]);
    w.now = NOW_MS + DISPUTE_LAPSE_MS;
    let r = w.call(seller(), CommerceCall::ProposeSettlement { order: 1, buyer_share: 0 });
    assert_eq!(code(&r), ("failed", ORDER_DEADLINE_PASSED), "{}", message(&r));
    w.check_books();
}

#[test]
fn an_unsettled_dispute_lapses_exactly_after_its_time_by_the_standing_proposals() {
    let escrowed = 2 * PRICE + 2 * DEPOSIT;
    // (proposals, the buyer's share at the lapse)
    let cases: [(&[(Address, Amount)], Amount); 4] = [
        (&[], 2 * PRICE),
        (&[(buyer(), escrowed)], escrowed),
        (&[(seller(), 0)], 0),
        // Both: the midpoint, rounded down; a later proposal of a party replaces its earlier one.
        (&[(buyer(), 2_999), (seller(), 10), (seller(), 100)], (2_999 + 100) / 2),
    ];
    for (proposals, share) in cases {
        let mut w = disputed_with(proposals);
        let buyer_before = w.bal(buyer());
        w.tick(NOW_MS + DISPUTE_LAPSE_MS - 1);
        assert_eq!(w.order(1).status, OrderStatus::Disputed, "{proposals:?}");
        let out = w.tick(NOW_MS + DISPUTE_LAPSE_MS);
        assert_eq!(
            commerce_events(&out.hook_events),
            vec![CommerceEvent::OrderExpired { order: 1, deadline: Deadline::Dispute, buyer_amount: share }],
            "{proposals:?}"
        );
        assert_eq!(w.order(1).status, OrderStatus::Settled);
        assert_eq!(w.bal(buyer()), buyer_before + share, "{proposals:?}");
        w.check_books();
    }
}

#[test]
fn a_settled_dispute_does_not_lapse_again() {
    let mut w = disputed_with(&[(buyer(), 1_500)]);
    w.ok(seller(), CommerceCall::AcceptSettlement { order: 1, buyer_share: 1_500 });
    let buyer_after = w.bal(buyer());
    let out = w.tick(NOW_MS + DISPUTE_LAPSE_MS);
    assert!(out.hook_events.is_empty());
    assert_eq!(w.bal(buyer()), buyer_after);
    w.check_books();
}

#[test]
fn anyone_runs_a_passed_deadline_once_and_not_before() {
    let mut w = World::with_order();
    w.now = NOW_MS + ACCEPT_MS - 1;
    w.fails(stranger(), CommerceCall::RunDeadline { order: 1 }, ORDER_DEADLINE_NOT_REACHED);
    // At the deadline a stranger's call ends the order before the block's trigger; the
    // trigger, cancelled, does nothing more.
    w.now = NOW_MS + ACCEPT_MS;
    let out = w.block(vec![(stranger(), CommerceCall::RunDeadline { order: 1 })]);
    assert!(out.receipts[0].is_success(), "{:?}", out.receipts[0]);
    assert_eq!(
        commerce_events(&out.receipts[0].events),
        vec![CommerceEvent::OrderExpired { order: 1, deadline: Deadline::Accept, buyer_amount: 2 * PRICE }]
    );
    assert!(out.hook_events.is_empty(), "{:?}", out.hook_events);
    assert_eq!(w.order(1).status, OrderStatus::Expired);
    assert_eq!(w.bal(buyer()), START - MIN_FEE);
    w.fails(stranger(), CommerceCall::RunDeadline { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
    w.fails(stranger(), CommerceCall::RunDeadline { order: 9 }, ORDER_UNKNOWN);
    w.check_books();
}

#[test]
fn a_deadline_whose_trigger_never_ran_is_run_by_a_call() {
    // A confirmation deadline stuck behind a backlog (its entry taken off the schedule here):
    // the order waits past its deadline until someone runs it.
    let mut w = World::with_shipped();
    let trigger = w.order(1).trigger.expect("a shipped order has a confirmation trigger");
    let mut ov = crate::store::Overlay::new(&w.ms);
    crate::kernel::schedule::cancel(&mut ov, trigger);
    let changes = ov.into_changes();
    w.ms.apply(&crate::WriteSet(changes.into_iter().collect()));
    w.tick(NOW_MS + CONFIRM_MS + 5_000);
    assert_eq!(w.order(1).status, OrderStatus::Shipped);
    let r = w.ok(stranger(), CommerceCall::RunDeadline { order: 1 });
    let fee = 2 * PRICE / 100;
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::OrderCompleted { order: 1, seller_amount: 2 * PRICE - fee, fee }]
    );
    w.check_books();
}

// ---- delivery confirmed by a receiving event ----

/// A pickup point's location, as its receiving records publish it.
const PICKUP_AT: &str = "https://id.gs1.org/414/4012345000009";

/// A funded account that buys nothing in these tests.
fn pickup_key() -> Address {
    other()
}

/// Writes trace state straight into the chain (the trace module's own tests cover how it
/// gets there): the organisation "pickup" with an active retailer key [`pickup_key`].
fn with_pickup(w: &mut World) {
    use crate::modules::trace::state::{self as ts, KeyInfo, OrgInfo};
    use want_types::modules::trace::{OrgKind, Role};
    let mut ov = crate::store::Overlay::new(&w.ms);
    ts::put(&mut ov, ts::org_key("pickup"), &OrgInfo { name: "Pickup".into(), kind: OrgKind::Retailer, encryption_key: vec![2; 33], registered_at: 1 });
    ts::put(&mut ov, ts::key_key(&pickup_key()), &KeyInfo { org: "pickup".into(), department: "desk".into(), roles: vec![Role::Retailer], added_at: 1, revoked_at: None });
    let changes = ov.into_changes();
    w.ms.apply(&crate::WriteSet(changes.into_iter().collect()));
}

/// The pickup's anchored record of event `[n; 32]`: `step` at `location`, event time `time_ms`.
fn pickup_record(w: &mut World, n: u8, step: &str, location: &str, time_ms: i64) -> Hash32 {
    use crate::modules::trace::state::{self as ts, RecordInfo};
    use want_types::modules::trace::{record_id, PublicFields};
    let event_hash = Hash32([n; 32]);
    let id = record_id("pickup", &event_hash);
    let rec = RecordInfo {
        event_hash,
        org: "pickup".into(),
        signer: pickup_key(),
        record_hash: Hash32([n.wrapping_add(1); 32]),
        cid: format!("bafyrec{n}"),
        owner_wrapped_key: vec![7; 97],
        public: PublicFields {
            event_type: "ObjectEvent".into(),
            biz_step: Some(step.into()),
            disposition: None,
            event_time_ms: Some(time_ms),
            location: Some(location.into()),
            products: vec![],
        },
        height: w.height,
        tx_id: Hash32::ZERO,
        index: 0,
        seq: u64::from(n),
    };
    let mut ov = crate::store::Overlay::new(&w.ms);
    ts::put_record(&mut ov, &id, rec);
    ov.put(ts::event_record_key(&event_hash, "pickup"), id.0.to_vec());
    let changes = ov.into_changes();
    w.ms.apply(&crate::WriteSet(changes.into_iter().collect()));
    event_hash
}

#[test]
fn a_shop_links_only_a_trace_organisation_its_signer_holds_a_key_of() {
    let mut w = World::new();
    with_pickup(&mut w);
    let linked = |handle: &str, org: &str| CommerceCall::OpenShop {
        handle: handle.into(),
        name: "Pickup shop".into(),
        payout: payout(),
        trace_org: Some(org.into()),
    };
    // A stranger cannot claim the organisation, nor a name no organisation has.
    w.fails(seller(), linked("fake-pickup", "pickup"), SHOP_TRACE_ORG_NOT_SIGNERS);
    w.fails(pickup_key(), linked("pickup-shop", "nobody"), SHOP_TRACE_ORG_NOT_SIGNERS);
    assert!(state::shop(&w.ms, "fake-pickup").unwrap().is_none());
    // A key of the organisation links it.
    w.ok(pickup_key(), linked("pickup-shop", "pickup"));
    assert_eq!(state::shop(&w.ms, "pickup-shop").unwrap().unwrap().trace_org.as_deref(), Some("pickup"));
    // Editing to claim it needs a key of it too; keeping an existing link does not.
    w.ok(seller(), open("shop"));
    let edit = |org: Option<&str>| CommerceCall::EditShop {
        handle: "shop".into(),
        name: "Tea House".into(),
        payout: payout(),
        trace_org: org.map(Into::into),
    };
    w.fails(seller(), edit(Some("pickup")), SHOP_TRACE_ORG_NOT_SIGNERS);
    assert_eq!(state::shop(&w.ms, "shop").unwrap().unwrap().trace_org, None);
    // The key is revoked later: the link stays, and the shop may still be edited keeping it.
    {
        use crate::modules::trace::state::{self as ts, KeyInfo};
        use want_types::modules::trace::Role;
        let mut ov = crate::store::Overlay::new(&w.ms);
        ts::put(&mut ov, ts::key_key(&pickup_key()), &KeyInfo { org: "pickup".into(), department: "desk".into(), roles: vec![Role::Retailer], added_at: 1, revoked_at: Some(2) });
        let changes = ov.into_changes();
        w.ms.apply(&crate::WriteSet(changes.into_iter().collect()));
    }
    w.fails(pickup_key(), linked("pickup-two", "pickup"), SHOP_TRACE_ORG_NOT_SIGNERS);
    w.ok(
        pickup_key(),
        CommerceCall::EditShop {
            handle: "pickup-shop".into(),
            name: "Pickup shop, renamed".into(),
            payout: payout(),
            trace_org: Some("pickup".into()),
        },
    );
}

fn set_delivery(org: &str) -> CommerceCall {
    CommerceCall::SetDelivery {
        order: 1,
        org: org.into(),
        location_hash: want_types::modules::commerce::delivery_location_hash(PICKUP_AT),
    }
}

#[test]
fn a_receiving_event_at_the_place_the_buyer_named_confirms_delivery() {
    let mut w = World::with_shipped();
    with_pickup(&mut w);
    let shipped = w.order(1).shipped_ms.unwrap();
    let good = pickup_record(&mut w, 1, "receiving", PICKUP_AT, shipped as i64 + 10);
    let by_event = |e: Hash32| CommerceCall::ConfirmByEvent { order: 1, event_hash: e };
    // No place named yet; only the buyer names one, and only a registered organisation.
    w.fails(pickup_key(), by_event(good), ORDER_DELIVERY_INVALID);
    w.fails(seller(), set_delivery("pickup"), ORDER_NOT_BUYER);
    w.fails(buyer(), set_delivery("nowhere"), ORDER_DELIVERY_INVALID);
    let r = w.ok(buyer(), set_delivery("pickup"));
    assert_eq!(commerce_events(&r.events), vec![CommerceEvent::OrderDeliverySet { order: 1, org: "pickup".into() }]);
    // Events that do not confirm it: another step, another place, before the shipment, unknown.
    let shipping = pickup_record(&mut w, 2, "shipping", PICKUP_AT, shipped as i64 + 10);
    let elsewhere = pickup_record(&mut w, 3, "receiving", "https://id.gs1.org/414/4012345000016", shipped as i64 + 10);
    let early = pickup_record(&mut w, 4, "receiving", PICKUP_AT, shipped as i64 - 1);
    let too_late = (w.now + 300_001) as i64;
    let future = pickup_record(&mut w, 5, "receiving", PICKUP_AT, too_late);
    for e in [shipping, elsewhere, early, future, Hash32([9; 32])] {
        w.fails(pickup_key(), by_event(e), ORDER_DELIVERY_INVALID);
    }
    // Only a key of the named organisation confirms.
    w.fails(buyer(), by_event(good), ORDER_PARTY_NOT_ALLOWED);
    w.fails(stranger(), by_event(good), ORDER_PARTY_NOT_ALLOWED);
    let r = w.ok(pickup_key(), by_event(good));
    let fee = 2 * PRICE / 100;
    assert_eq!(
        commerce_events(&r.events),
        vec![
            CommerceEvent::OrderReceived { order: 1, org: "pickup".into(), event_hash: good },
            CommerceEvent::OrderCompleted { order: 1, seller_amount: 2 * PRICE - fee, fee },
        ]
    );
    assert_eq!(w.order(1).status, OrderStatus::Completed);
    assert!(query::purchase(&w.ms, &buyer(), 1).unwrap().is_some());
    w.fails(pickup_key(), by_event(good), ORDER_TRANSITION_NOT_ALLOWED);
    w.check_books();
}

#[test]
fn a_receiving_event_before_shipping_or_for_an_unshipped_order_confirms_nothing() {
    let mut w = World::with_accepted();
    with_pickup(&mut w);
    w.ok(buyer(), set_delivery("pickup"));
    let e = pickup_record(&mut w, 1, "receiving", PICKUP_AT, NOW_MS as i64 + 10);
    w.fails(pickup_key(), CommerceCall::ConfirmByEvent { order: 1, event_hash: e }, ORDER_TRANSITION_NOT_ALLOWED);
    assert_eq!(w.order(1).status, OrderStatus::Accepted);
}

// ---- retirement ----

#[test]
fn a_final_order_is_retired_after_its_retention_and_still_answers_by_id() {
    let mut w = World::with_shipped();
    let closed_at = NOW_MS + 5_000;
    w.now = closed_at;
    w.ok(buyer(), CommerceCall::ConfirmDelivery { order: 1 });
    let final_order = w.order(1);
    let out = w.tick(closed_at + ORDER_RETENTION_MS - 1);
    assert!(out.hook_events.is_empty());
    assert_eq!(w.order(1), final_order);
    let out = w.tick(closed_at + ORDER_RETENTION_MS);
    assert_eq!(
        commerce_events(&out.hook_events),
        vec![CommerceEvent::OrderRetired { order: 1, final_state_hash: final_order.state_hash() }]
    );
    // Its record is gone; the summary, the hash of its final state and the purchase remain.
    assert!(state::order(&w.ms, 1).unwrap().is_none());
    let r = query::retired_order(&w.ms, 1).unwrap().expect("a retired order answers by id");
    assert_eq!(r, state::RetiredOrder::of(&final_order, closed_at + ORDER_RETENTION_MS));
    assert_eq!((r.status, r.closed_ms, r.paid, r.buyer), (OrderStatus::Completed, closed_at, 2 * PRICE, buyer()));
    assert!(query::purchase(&w.ms, &buyer(), 1).unwrap().is_some());
    // Nothing more happens to it.
    w.fails(buyer(), CommerceCall::ConfirmDelivery { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
    w.fails(stranger(), CommerceCall::RunDeadline { order: 1 }, ORDER_TRANSITION_NOT_ALLOWED);
    w.check_books();
}

#[test]
fn every_way_an_order_ends_schedules_its_retirement() {
    // Declined, cancelled, expired, settled: each is retired at its closing plus the retention.
    let mut w = World::with_offer();
    for _ in 0..4 {
        w.ok(buyer(), place(1, 1));
    }
    w.ok(seller(), CommerceCall::DeclineOrder { order: 1 });
    w.ok(buyer(), CommerceCall::ProposeCancel { order: 2 });
    w.ok(seller(), CommerceCall::AgreeCancel { order: 2 });
    w.ok(seller(), accept(4));
    w.ok(seller(), ship(4));
    w.ok(buyer(), CommerceCall::OpenDispute { order: 4, evidence: vec!["b".into()] });
    w.ok(buyer(), CommerceCall::ProposeSettlement { order: 4, buyer_share: 1 });
    w.ok(seller(), CommerceCall::AcceptSettlement { order: 4, buyer_share: 1 });
    w.tick(NOW_MS + ACCEPT_MS); // order 3 expires
    assert_eq!(w.order(3).status, OrderStatus::Expired);
    w.tick(NOW_MS + ACCEPT_MS + ORDER_RETENTION_MS);
    for id in 1..=4 {
        assert!(state::order(&w.ms, id).unwrap().is_none(), "order {id} not retired");
        assert!(query::retired_order(&w.ms, id).unwrap().is_some());
    }
    w.check_books();
}

// ---- time triggers ----

#[test]
fn the_accept_deadline_refunds_exactly_at_its_time() {
    let mut w = World::with_order();
    let out = w.tick(NOW_MS + ACCEPT_MS - 1);
    assert!(out.hook_events.is_empty());
    assert_eq!(w.order(1).status, OrderStatus::Placed);
    let out = w.tick(NOW_MS + ACCEPT_MS);
    assert_eq!(
        commerce_events(&out.hook_events),
        vec![CommerceEvent::OrderExpired { order: 1, deadline: Deadline::Accept, buyer_amount: 2 * PRICE }]
    );
    assert_eq!(w.order(1).status, OrderStatus::Expired);
    assert_eq!(w.bal(buyer()), START - MIN_FEE);
    assert_eq!(w.stock(), STOCK);
    w.check_books();
}

#[test]
fn the_ship_deadline_refunds_with_the_deposit_share_exactly_at_its_time() {
    let mut w = World::with_accepted();
    let seller_before = w.bal(seller());
    w.tick(NOW_MS + SHIP_MS - 1);
    assert_eq!(w.order(1).status, OrderStatus::Accepted);
    let out = w.tick(NOW_MS + SHIP_MS);
    let share = 2 * DEPOSIT * Amount::from(SHARE_BPS) / 10_000;
    assert_eq!(
        commerce_events(&out.hook_events),
        vec![CommerceEvent::OrderExpired { order: 1, deadline: Deadline::Ship, buyer_amount: 2 * PRICE + share }]
    );
    assert_eq!(w.bal(buyer()), START - MIN_FEE + share);
    assert_eq!(w.bal(seller()), seller_before + 2 * DEPOSIT - share);
    assert_eq!(w.stock(), STOCK);
    w.check_books();
}

#[test]
fn ship_at_the_deadline_is_refused() {
    let mut w = World::with_accepted();
    w.now = NOW_MS + SHIP_MS;
    let r = w.call(seller(), ship(1));
    assert_eq!(code(&r), ("failed", ORDER_DEADLINE_PASSED), "{}", message(&r));
    assert_eq!(w.order(1).status, OrderStatus::Expired);
}

#[test]
fn the_confirmation_window_completes_exactly_at_its_end() {
    let mut w = World::with_shipped();
    w.tick(NOW_MS + CONFIRM_MS - 1);
    assert_eq!(w.order(1).status, OrderStatus::Shipped);
    let out = w.tick(NOW_MS + CONFIRM_MS);
    let fee = 2 * PRICE / 100;
    assert_eq!(
        commerce_events(&out.hook_events),
        vec![CommerceEvent::OrderCompleted { order: 1, seller_amount: 2 * PRICE - fee, fee }]
    );
    assert!(query::purchase(&w.ms, &buyer(), 1).unwrap().is_some());
    w.check_books();
}

#[test]
fn a_deadline_made_moot_by_a_transition_does_nothing() {
    // Accepted just before the accept deadline: at that deadline nothing happens.
    let mut w = World::with_order();
    w.now = NOW_MS + ACCEPT_MS - 1;
    w.ok(seller(), accept(1));
    let out = w.tick(NOW_MS + ACCEPT_MS);
    assert!(out.hook_events.is_empty());
    assert_eq!(w.order(1).status, OrderStatus::Accepted);
    // A stale entry left on the schedule is a no-op too (`on_due` checks state and time).
    let payload = borsh::to_vec(&(1u64, Deadline::Accept)).unwrap();
    let mut ov = crate::store::Overlay::new(&w.ms);
    crate::kernel::schedule::schedule(&mut ov, Commerce::ID, w.now, payload).unwrap();
    let ws = crate::WriteSet(ov.into_changes().into_iter().collect());
    w.ms.apply(&ws);
    let out = w.tick(w.now + 1);
    assert!(out.hook_events.is_empty());
    assert_eq!(w.order(1).status, OrderStatus::Accepted);
    w.check_books();
}

// ---- max_spend, weight ----

#[test]
fn max_spend_is_the_payment_or_the_deposit_bound() {
    let p = params();
    assert_eq!(Commerce::max_spend(&p, &place(1, 3)).unwrap(), 3 * PRICE);
    assert_eq!(Commerce::max_spend(&p, &accept(1)).unwrap(), 2 * DEPOSIT);
    assert_eq!(Commerce::max_spend(&p, &ship(1)).unwrap(), 0);
    assert!(Commerce::weight(&place(1, 1)) > 0);
}

// ---- queries, corruption ----

#[test]
fn offers_and_orders_are_read_a_page_at_a_time() {
    let mut w = World::with_offer();
    for _ in 0..2 {
        w.ok(
            seller(),
            CommerceCall::AddOffer {
                shop: "shop".into(),
                terms: terms(),
                stock: 1,
            },
        );
    }
    let first = query::offers(&w.ms, None, 2).unwrap();
    assert_eq!(
        (first.items.iter().map(|o| o.id).collect::<Vec<_>>(), first.next),
        (vec![1, 2], Some(2))
    );
    let rest = query::offers(&w.ms, first.next, 2).unwrap();
    assert_eq!(
        (rest.items.iter().map(|o| o.id).collect::<Vec<_>>(), rest.next),
        (vec![3], None)
    );
    w.ok(buyer(), place(1, 1));
    w.ok(other(), place(1, 1));
    let page = query::orders(&w.ms, Some(1), 10).unwrap();
    assert_eq!(page.items.iter().map(|o| o.buyer).collect::<Vec<_>>(), vec![other()]);
    assert_eq!(query::escrow_balance(&w.ms).unwrap(), 2 * PRICE);
    // A corrupt entry is an error, never skipped.
    w.ms.0.insert(state::order_key(2), vec![1, 2, 3]);
    assert!(matches!(
        query::orders(&w.ms, None, 10),
        Err(crate::StateError::Corrupt { .. })
    ));
}

#[test]
fn a_shops_offers_and_a_buyers_or_shops_live_orders_are_listed_through_their_indexes() {
    let mut w = World::with_offer();
    w.ok(other(), open("tea-house"));
    for (who, shop) in [(other(), "tea-house"), (seller(), "shop"), (other(), "tea-house")] {
        w.ok(who, CommerceCall::AddOffer { shop: shop.into(), terms: terms(), stock: 5 });
    }
    let ids = |p: crate::store::Page<state::Offer, u64>| p.items.iter().map(|o| o.id).collect::<Vec<_>>();
    assert_eq!(ids(query::offers_of_shop(&w.ms, "shop", None, 10).unwrap()), vec![1, 3]);
    let first = query::offers_of_shop(&w.ms, "tea-house", None, 1).unwrap();
    assert_eq!((ids(first.clone()), first.next), (vec![2], Some(2)));
    assert_eq!(ids(query::offers_of_shop(&w.ms, "tea-house", first.next, 1).unwrap()), vec![4]);
    assert!(query::offers_of_shop(&w.ms, "nobody", None, 10).unwrap().items.is_empty());

    // Orders 1..=4: buyer at shop, stranger at tea-house, buyer at tea-house, stranger at shop.
    for (who, offer) in [(buyer(), 1), (stranger(), 2), (buyer(), 2), (stranger(), 3)] {
        w.ok(who, place(offer, 1));
    }
    fn listed(ms: &MemState, b: Option<Address>, s: Option<&str>) -> (Vec<u64>, Option<u64>) {
        let p = query::orders_where(ms, b.as_ref(), s, None, 10).unwrap();
        (p.items.iter().map(|o| o.id).collect(), p.next)
    }
    assert_eq!(listed(&w.ms, Some(buyer()), None), (vec![1, 3], None));
    assert_eq!(listed(&w.ms, None, Some("tea-house")), (vec![2, 3], None));
    assert_eq!(listed(&w.ms, Some(stranger()), Some("shop")), (vec![4], None));
    assert_eq!(listed(&w.ms, Some(other()), None), (vec![], None));
    assert_eq!(listed(&w.ms, None, None).0, vec![1, 2, 3, 4]);
    let page = query::orders_where(&w.ms, Some(&buyer()), None, Some(1), 10).unwrap();
    assert_eq!(page.items.iter().map(|o| o.id).collect::<Vec<_>>(), vec![3]);

    // A retired order leaves the lists (it still answers by id).
    w.ok(seller(), CommerceCall::DeclineOrder { order: 1 });
    let closed = w.order(1).closed_ms.expect("a declined order has closed");
    w.tick(closed + ORDER_RETENTION_MS);
    assert!(query::retired_order(&w.ms, 1).unwrap().is_some());
    assert_eq!(listed(&w.ms, Some(buyer()), None), (vec![3], None));
    assert_eq!(listed(&w.ms, None, Some("shop")), (vec![4], None));
    // An index entry whose order is missing is corrupt, never skipped.
    w.ms.0.remove(&state::order_key(3));
    assert!(matches!(
        query::orders_where(&w.ms, Some(&buyer()), None, None, 10),
        Err(crate::StateError::Corrupt { .. })
    ));
}

#[test]
fn an_escrow_short_of_an_orders_funds_fails_the_payout_and_drops_its_writes() {
    let mut w = World::with_shipped();
    // Take from the escrow behind the module's back (a bug the code must not hide).
    w.ms.0.insert(
        crate::token::state::balance_key(&escrow()),
        1u128.to_be_bytes().to_vec(),
    );
    let r = w.call(buyer(), CommerceCall::ConfirmDelivery { order: 1 });
    assert_eq!(code(&r), ("failed", ESCROW_SHORT), "{}", message(&r));
    assert_eq!(w.order(1).status, OrderStatus::Shipped);
    // The confirmation trigger fails the same way: its writes are dropped, the entry consumed.
    w.tick(NOW_MS + CONFIRM_MS);
    assert_eq!(w.order(1).status, OrderStatus::Shipped);
    assert_eq!(w.bal(payout()), 0);
}

// ---- a backlog of deadlines ----

/// Schedules `n` deadlines of orders that do not exist, all due at `due_ms`.
/// The schedule holds only the retirement of final order `id`, at its closing plus the
/// retention (its deadlines are gone).
fn only_retirement_pending(w: &World, id: u64) {
    let pending = crate::kernel::schedule::pending(&w.ms, 10).unwrap();
    let closed = w.order(id).closed_ms.expect("a final order has closed");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].0.due_ms, closed + ORDER_RETENTION_MS);
}

fn schedule_phantoms(w: &mut World, n: u64, due_ms: u64) {
    let mut ov = crate::store::Overlay::new(&w.ms);
    for i in 0..n {
        let payload = borsh::to_vec(&super::exec::Due::Deadline(1_000_000 + i, Deadline::Accept)).unwrap();
        crate::kernel::schedule::schedule(&mut ov, Commerce::ID, due_ms, payload).unwrap();
    }
    let ws = crate::WriteSet(ov.into_changes().into_iter().collect());
    w.ms.apply(&ws);
}

fn pending_count(w: &World) -> usize {
    w.ms.iter_prefix(crate::kernel::schedule::DUE_PREFIX).count()
}

#[test]
fn a_backlog_of_100_000_due_deadlines_drains_over_blocks_at_most_due_per_block_max_each() {
    use crate::kernel::schedule::DUE_PER_BLOCK_MAX;
    const BACKLOG: usize = 100_000;
    let mut w = World::with_offer();
    w.ok(buyer(), place(1, 1));
    w.ok(other(), place(1, 1));
    w.ok(buyer(), place(1, 1));
    // Due before the three real deadlines, so those run last.
    schedule_phantoms(&mut w, BACKLOG as u64, NOW_MS);
    assert_eq!(pending_count(&w), BACKLOG + 3);
    w.now = NOW_MS + ACCEPT_MS;
    let mut blocks = 0;
    let mut expired = Vec::new();
    // Entries due by then (the expired orders' retirements, 90 days on, are not).
    let due_soon = |w: &World| {
        let horizon = (NOW_MS + ACCEPT_MS + 1_000).to_be_bytes();
        w.ms.iter_prefix(crate::kernel::schedule::DUE_PREFIX)
            .filter(|(k, _)| k[crate::kernel::schedule::DUE_PREFIX.len()..][..8] <= horizon[..])
            .count()
    };
    while due_soon(&w) > 0 {
        let before = due_soon(&w);
        let out = w.tick(w.now + 1);
        let ran = before - due_soon(&w);
        assert_eq!(ran, before.min(DUE_PER_BLOCK_MAX), "block {blocks}");
        expired.extend(commerce_events(&out.hook_events));
        blocks += 1;
        assert!(blocks <= 200, "the backlog does not drain");
    }
    assert_eq!(blocks, (BACKLOG + 3).div_ceil(DUE_PER_BLOCK_MAX));
    assert_eq!(expired.len(), 3, "{expired:?}");
    for id in 1..=3 {
        assert_eq!(w.order(id).status, OrderStatus::Expired);
    }
    assert_eq!(w.stock(), STOCK);
    w.check_books();
}

// ---- property: random sequences of calls and time ----

mod property {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug)]
    enum Op {
        Place { buyer: bool, quantity: u32 },
        Accept { order: u8, deposit_ok: bool },
        Decline { order: u8 },
        Ship { order: u8 },
        Confirm { order: u8, who: u8 },
        Refund { order: u8, amount: Amount },
        ProposeCancel { order: u8, who: u8 },
        AgreeCancel { order: u8, who: u8 },
        Dispute { order: u8, who: u8 },
        ProposeSettlement { order: u8, who: u8, quarters: u8 },
        AcceptSettlement { order: u8, who: u8, same: bool },
        Reprice { price: Amount },
        Tick { ms: u64 },
        RunDeadline { order: u8 },
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        let o = 0u8..4;
        prop_oneof![
            3 => (any::<bool>(), 0u32..4).prop_map(|(buyer, quantity)| Op::Place { buyer, quantity }),
            6 => (o.clone(), prop::bool::weighted(0.9)).prop_map(|(order, deposit_ok)| Op::Accept { order, deposit_ok }),
            1 => o.clone().prop_map(|order| Op::Decline { order }),
            6 => o.clone().prop_map(|order| Op::Ship { order }),
            2 => (o.clone(), 0u8..3).prop_map(|(order, who)| Op::Confirm { order, who }),
            1 => (o.clone(), prop_oneof![Just(1u128), Just(333), Just(1_000), Just(5_000)]).prop_map(|(order, amount)| Op::Refund { order, amount }),
            1 => (o.clone(), 0u8..3).prop_map(|(order, who)| Op::ProposeCancel { order, who }),
            1 => (o.clone(), 0u8..3).prop_map(|(order, who)| Op::AgreeCancel { order, who }),
            4 => (o.clone(), 0u8..3).prop_map(|(order, who)| Op::Dispute { order, who }),
            4 => (o.clone(), 0u8..3, 0u8..6).prop_map(|(order, who, quarters)| Op::ProposeSettlement { order, who, quarters }),
            4 => (o.clone(), 0u8..3, prop::bool::weighted(0.8)).prop_map(|(order, who, same)| Op::AcceptSettlement { order, who, same }),
            1 => prop_oneof![Just(PRICE), Just(777), Just(PRICE * 3)].prop_map(|price| Op::Reprice { price }),
            3 => prop_oneof![4 => Just(1u64), 4 => Just(100), 3 => Just(499), 1 => Just(999), 1 => Just(1_000), 1 => Just(2_000), 1 => Just(CONFIRM_MS / 2), 1 => Just(DISPUTE_LAPSE_MS / 3), 1 => Just(ORDER_RETENTION_MS / 2)].prop_map(|ms| Op::Tick { ms }),
            2 => o.clone().prop_map(|order| Op::RunDeadline { order }),
        ]
    }

    /// `who`: 0 the seller, 1 the order's buyer, 2 someone else.
    fn party(w: &World, order: u64, who: u8) -> Address {
        let buyer = state::order(&w.ms, order)
            .unwrap()
            .map(|o| o.buyer)
            .unwrap_or(buyer());
        match who {
            0 => seller(),
            1 => buyer,
            _ => stranger(),
        }
    }

    fn step(w: &mut World, op: &Op) {
        let n_orders = crate::store::read_u64(&w.ms, state::ORDER_SEQ_KEY).unwrap();
        // 0: the next (unknown) order; k: the k-th most recent one.
        let pick = |o: u8| (n_orders + 1).saturating_sub(u64::from(o)).max(1);
        let call = match op.clone() {
            Op::Tick { ms } => {
                let at = w.now + ms;
                w.tick(at);
                return;
            }
            Op::Place { buyer: b, quantity } => {
                let offer = state::offer(&w.ms, 1).unwrap().unwrap();
                (
                    if b { buyer() } else { other() },
                    CommerceCall::PlaceOrder {
                        offer: 1,
                        version: offer.version,
                        terms_hash: offer.terms_hash,
                        quantity,
                        max_total: offer.terms.price * Amount::from(quantity),
                    },
                )
            }
            Op::Accept { order, deposit_ok } => (
                seller(),
                CommerceCall::AcceptOrder {
                    order: pick(order),
                    max_deposit: if deposit_ok { Amount::MAX } else { 0 },
                },
            ),
            Op::Decline { order } => (seller(), CommerceCall::DeclineOrder { order: pick(order) }),
            Op::RunDeadline { order } => (stranger(), CommerceCall::RunDeadline { order: pick(order) }),
            Op::Ship { order } => (seller(), ship(pick(order))),
            Op::Confirm { order, who } => {
                let id = pick(order);
                (party(w, id, who.max(1)), CommerceCall::ConfirmDelivery { order: id })
            }
            Op::Refund { order, amount } => (
                seller(),
                CommerceCall::RefundPart { order: pick(order), amount },
            ),
            Op::ProposeCancel { order, who } => {
                let id = pick(order);
                (party(w, id, who), CommerceCall::ProposeCancel { order: id })
            }
            Op::AgreeCancel { order, who } => {
                let id = pick(order);
                (party(w, id, who), CommerceCall::AgreeCancel { order: id })
            }
            Op::Dispute { order, who } => {
                let id = pick(order);
                (
                    party(w, id, who),
                    CommerceCall::OpenDispute { order: id, evidence: vec!["bafyev".into()] },
                )
            }
            Op::ProposeSettlement { order, who, quarters } => {
                let id = pick(order);
                let escrowed = state::order(&w.ms, id)
                    .unwrap()
                    .map(|o| o.escrowed().unwrap())
                    .unwrap_or(0);
                (
                    party(w, id, who),
                    CommerceCall::ProposeSettlement {
                        order: id,
                        buyer_share: escrowed * Amount::from(quarters) / 4,
                    },
                )
            }
            Op::AcceptSettlement { order, who, same } => {
                let id = pick(order);
                let o = state::order(&w.ms, id).unwrap();
                let proposal = o.as_ref().and_then(|o| o.settlement);
                let share = proposal.map(|(_, s)| s).unwrap_or(0);
                // Mostly the other party accepts the proposed split; sometimes anyone, any split.
                let accepter = match (same, &o, proposal) {
                    (true, Some(o), Some((by, _))) if by == o.buyer => o.seller,
                    (true, Some(o), Some(_)) => o.buyer,
                    _ => party(w, id, who),
                };
                (
                    accepter,
                    CommerceCall::AcceptSettlement {
                        order: id,
                        buyer_share: if same { share } else { share + 1 },
                    },
                )
            }
            Op::Reprice { price } => (
                seller(),
                CommerceCall::UpdateOffer {
                    offer: 1,
                    terms: OfferTerms { price, ..terms() },
                    stock: 50,
                },
            ),
        };
        let r = w.call(call.0, call.1);
        // Every failure carries a commerce (or the token's) code and a message.
        if !r.is_success() {
            let (kind, c) = code(&r);
            assert_eq!(kind, "failed", "{r:?}");
            assert!(
                Commerce::codes().iter().any(|e| e.code == c) || c == INSUFFICIENT_BALANCE,
                "{c}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn value_is_conserved_escrow_matches_open_orders_and_final_orders_stay_final(
            ops in prop::collection::vec(arb_op(), 1..80)
        ) {
            let mut w = World::new();
            w.ok(seller(), open("shop"));
            w.ok(seller(), CommerceCall::AddOffer { shop: "shop".into(), terms: terms(), stock: 50 });
            let mut finals: BTreeMap<u64, Order> = BTreeMap::new();
            for op in &ops {
                step(&mut w, op);
                w.check_books();
                for (id, o) in &finals {
                    // A final order stays as it is, or is retired with the hash of that state.
                    match state::order(&w.ms, *id).unwrap() {
                        Some(now) => prop_assert_eq!(&now, o, "order {} left its final state", id),
                        None => {
                            let r = state::retired_order(&w.ms, *id).unwrap().expect("a final order is kept or retired");
                            prop_assert_eq!(r.final_state_hash, o.state_hash());
                        }
                    }
                }
                let mut after = None;
                loop {
                    let page = query::orders(&w.ms, after, query::ORDERS_PAGE_MAX).unwrap();
                    for o in page.items {
                        if o.status.is_final() {
                            finals.entry(o.id).or_insert(o);
                        }
                    }
                    match page.next { Some(n) => after = Some(n), None => break }
                }
            }

        }
    }
}

#[path = "till_tests.rs"]
mod till_tests;
#[path = "review_tests.rs"]
mod review_tests;
