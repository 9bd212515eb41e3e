//! Tests of paying at the till (`super::super::till`), on the commerce tests' [`World`].

use want_types::modules::commerce::{
    PaymentRequest, PAYMENT_REQUEST_VALIDITY_MS_MAX, TILL_CURRENCY_WANT,
};
use want_types::Signature;

use super::*;
use crate::modules::commerce::state::PurchaseSource;
use crate::modules::commerce::till;

const TILL_AMOUNT: Amount = 12_345;
const VALID_MS: u64 = 60_000;

/// The till key registered in [`with_till`].
fn terminal() -> Address {
    addr(5)
}

fn request(w: &World) -> PaymentRequest {
    PaymentRequest {
        shop: "shop".into(),
        amount: TILL_AMOUNT,
        currency: TILL_CURRENCY_WANT.into(),
        reference: "R-1".into(),
        product: Some("04012345678901".into()),
        expires_ms: w.now + VALID_MS,
        terminal: terminal(),
        nonce: 1,
    }
}

/// The state machine does not check the signature (the node's precheck does).
fn pay(request: PaymentRequest) -> CommerceCall {
    CommerceCall::PayRequest {
        request,
        signature: Signature::Secp256k1(vec![0; 65]),
    }
}

/// A shop `shop` of the seller with the till key [`terminal`].
fn with_till() -> World {
    let mut w = World::new();
    w.ok(seller(), open("shop"));
    w.ok(
        seller(),
        CommerceCall::AddTillKey {
            shop: "shop".into(),
            key: terminal(),
        },
    );
    w
}

#[test]
fn a_request_signed_by_a_till_key_pays_the_shop_less_the_fee_and_records_a_purchase() {
    let mut w = with_till();
    let (buyer_before, pool_before) = (w.bal(buyer()), w.bal(pool()));
    let req = request(&w);
    let r = w.ok(buyer(), pay(req.clone()));
    let fee = TILL_AMOUNT.div_ceil(100);
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::TillPaid {
            payment: 1,
            request_hash: req.hash(),
            shop: "shop".into(),
            buyer: buyer(),
            amount: TILL_AMOUNT,
            fee,
            reference: "R-1".into(),
        }]
    );
    assert_eq!(w.bal(buyer()), buyer_before - TILL_AMOUNT - r.fee_paid);
    assert_eq!(w.bal(payout()), TILL_AMOUNT - fee);
    assert_eq!(w.bal(pool()), pool_before + r.fee_paid + fee);
    let p = till::payment(&w.ms, 1).unwrap().unwrap();
    assert_eq!((p.buyer, p.amount, p.fee, p.payout), (buyer(), TILL_AMOUNT, fee, payout()));
    assert_eq!(till::paid_by(&w.ms, &req.hash()).unwrap(), Some(1));
    let rec = state::purchase(&w.ms, &buyer(), 1).unwrap().unwrap();
    assert_eq!(rec.source, PurchaseSource::Till);
    assert_eq!((rec.product.as_str(), rec.amount), ("04012345678901", TILL_AMOUNT));
    w.check_books();
}

#[test]
fn the_shop_owner_signs_requests_too_and_a_request_without_product_records_an_empty_one() {
    let mut w = with_till();
    let mut req = request(&w);
    req.terminal = seller();
    req.product = None;
    w.ok(buyer(), pay(req));
    assert_eq!(state::purchase(&w.ms, &buyer(), 1).unwrap().unwrap().product, "");
}

#[test]
fn till_payments_and_orders_take_ids_from_one_sequence() {
    let mut w = World::with_order(); // order 1
    w.ok(
        seller(),
        CommerceCall::AddTillKey {
            shop: "shop".into(),
            key: terminal(),
        },
    );
    w.ok(buyer(), pay(request(&w))); // payment 2
    w.ok(buyer(), place(1, 1)); // order 3
    assert!(till::payment(&w.ms, 2).unwrap().is_some());
    assert_eq!(w.order(3).id, 3);
    assert!(state::order(&w.ms, 2).unwrap().is_none());
    let page = till::payments_where(&w.ms, Some("shop"), Some(&buyer()), None, 10).unwrap();
    assert_eq!(page.items.iter().map(|p| p.id).collect::<Vec<_>>(), vec![2]);
    w.check_books();
}

#[test]
fn a_request_at_or_after_its_expiry_is_refused() {
    let mut w = with_till();
    let mut req = request(&w);
    req.expires_ms = w.now;
    w.fails(buyer(), pay(req.clone()), PAYMENT_REQUEST_EXPIRED);
    req.expires_ms = w.now - 1;
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_EXPIRED);
    let mut req = request(&w);
    req.expires_ms = w.now + 1;
    w.ok(buyer(), pay(req));
}

#[test]
fn a_request_valid_longer_than_the_bound_is_refused() {
    let mut w = with_till();
    let mut req = request(&w);
    req.expires_ms = w.now + PAYMENT_REQUEST_VALIDITY_MS_MAX + 1;
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_INVALID);
}

#[test]
fn a_request_by_a_key_that_is_not_the_shops_is_refused() {
    let mut w = with_till();
    let mut req = request(&w);
    req.terminal = stranger();
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_TERMINAL_UNKNOWN);
}

#[test]
fn a_request_by_a_removed_till_key_is_refused() {
    let mut w = with_till();
    w.ok(
        seller(),
        CommerceCall::RemoveTillKey {
            shop: "shop".into(),
            key: terminal(),
        },
    );
    let req = request(&w);
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_TERMINAL_UNKNOWN);
}

#[test]
fn a_request_of_a_closed_or_unknown_shop_is_refused() {
    let mut w = with_till();
    w.ok(seller(), CommerceCall::CloseShop { handle: "shop".into() });
    w.fails(buyer(), pay(request(&w)), SHOP_CLOSED);
    let mut req = request(&w);
    req.shop = "nowhere".into();
    w.fails(buyer(), pay(req), SHOP_UNKNOWN);
}

#[test]
fn a_request_is_paid_once() {
    let mut w = with_till();
    let req = request(&w);
    w.ok(buyer(), pay(req.clone()));
    w.fails(other(), pay(req.clone()), PAYMENT_REQUEST_PAID);
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_PAID);
}

#[test]
fn a_request_of_zero_or_in_another_currency_or_with_long_fields_is_refused() {
    let mut w = with_till();
    let mut req = request(&w);
    req.amount = 0;
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_INVALID);
    let mut req = request(&w);
    req.currency = "USD".into();
    w.fails(buyer(), pay(req), PAYMENT_CURRENCY_UNSUPPORTED);
    let mut req = request(&w);
    req.reference = "r".repeat(want_types::modules::commerce::REFERENCE_BYTES_MAX + 1);
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_INVALID);
    let mut req = request(&w);
    req.product = Some(String::new());
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_INVALID);
}

#[test]
fn a_buyer_short_of_funds_pays_nothing() {
    let mut w = with_till();
    let mut req = request(&w);
    req.amount = START * 2;
    w.fails(buyer(), pay(req), INSUFFICIENT_BALANCE);
}

#[test]
fn till_keys_are_managed_by_the_owner_only_and_bounded() {
    let mut w = with_till();
    let add = |key: Address| CommerceCall::AddTillKey {
        shop: "shop".into(),
        key,
    };
    w.fails(buyer(), add(addr(6)), SHOP_OWNER_ONLY);
    w.fails(seller(), add(terminal()), TILL_KEY_EXISTS);
    w.fails(
        seller(),
        CommerceCall::RemoveTillKey {
            shop: "shop".into(),
            key: addr(6),
        },
    TILL_KEY_UNKNOWN,
    );
    let calls = (0..want_types::modules::commerce::TILL_KEYS_MAX - 1)
        .map(|i| (seller(), add(Address::system(&format!("till-{i}")))))
        .collect();
    let out = w.block(calls);
    assert!(out.receipts.iter().all(|r| r.is_success()));
    assert_eq!(
        till::till_keys(&w.ms, "shop").unwrap().len(),
        want_types::modules::commerce::TILL_KEYS_MAX
    );
    w.fails(seller(), add(addr(6)), TILL_KEYS_FULL);
}

mod random_sequences {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// Pays a new request (or, `again`, the last one) signed by the till key, the owner or a
        /// stranger.
        Pay {
            amount: Amount,
            signer: u8,
            again: bool,
        },
        /// An order placed, accepted, shipped and confirmed.
        Order,
        AddKey,
        RemoveKey,
        /// Time passes (requests expire after `VALID_MS`).
        Tick { ms: u64 },
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..5_000u128, 0..3u8, any::<bool>())
                .prop_map(|(amount, signer, again)| Op::Pay { amount, signer, again }),
            1 => Just(Op::Order),
            1 => Just(Op::AddKey),
            1 => Just(Op::RemoveKey),
            1 => (0..2 * VALID_MS).prop_map(|ms| Op::Tick { ms }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn till_payments_conserve_value_pay_each_request_once_and_share_ids_with_orders(
            ops in proptest::collection::vec(arb_op(), 1..60)
        ) {
            let mut w = with_till();
            w.ok(seller(), CommerceCall::AddOffer { shop: "shop".into(), terms: terms(), stock: 1_000 });
            let mut last: Option<PaymentRequest> = None;
            let mut nonce = 0u64;
            let mut to_payout: Amount = 0;
            let mut paid = BTreeSet::new();
            let mut ids = BTreeSet::new();
            for op in &ops {
                let mut events = Vec::new();
                match op {
                    Op::Pay { amount, signer, again } => {
                        let req = match (&last, again) {
                            (Some(r), true) => r.clone(),
                            _ => {
                                nonce += 1;
                                let mut r = request(&w);
                                r.amount = *amount;
                                r.nonce = nonce;
                                r.terminal = [terminal(), seller(), stranger()][usize::from(*signer)];
                                r
                            }
                        };
                        last = Some(req.clone());
                        events.extend(w.call(buyer(), pay(req)).events);
                    }
                    Op::Order => {
                        let r = w.call(buyer(), place(1, 1));
                        let id = commerce_events(&r.events).iter().find_map(|e| match e {
                            CommerceEvent::OrderPlaced { order, .. } => Some(*order),
                            _ => None,
                        });
                        events.extend(r.events);
                        if let Some(id) = id {
                            w.ok(seller(), CommerceCall::AcceptOrder { order: id, max_deposit: DEPOSIT });
                            w.ok(seller(), ship(id));
                            events.extend(w.ok(buyer(), CommerceCall::ConfirmDelivery { order: id }).events);
                        }
                    }
                    Op::AddKey => {
                        w.call(seller(), CommerceCall::AddTillKey { shop: "shop".into(), key: terminal() });
                    }
                    Op::RemoveKey => {
                        w.call(seller(), CommerceCall::RemoveTillKey { shop: "shop".into(), key: terminal() });
                    }
                    Op::Tick { ms } => {
                        let at = w.now + ms;
                        w.tick(at);
                    }
                }
                for e in commerce_events(&events) {
                    match e {
                        CommerceEvent::TillPaid { payment, request_hash, amount, fee, .. } => {
                            prop_assert!(paid.insert(request_hash), "request {} paid twice", request_hash);
                            prop_assert!(ids.insert(payment), "id {} given twice", payment);
                            to_payout += amount - fee;
                        }
                        CommerceEvent::OrderPlaced { order, .. } => {
                            prop_assert!(ids.insert(order), "id {} given twice", order);
                        }
                        CommerceEvent::OrderCompleted { seller_amount, .. } => to_payout += seller_amount,
                        _ => {}
                    }
                }
                prop_assert_eq!(w.bal(payout()), to_payout);
                w.check_books();
            }
        }
    }
}

#[test]
fn a_shop_cannot_pay_its_own_request() {
    let mut w = with_till();
    let req = request(&w);
    w.fails(seller(), pay(req), ORDER_PARTY_NOT_ALLOWED);
}
