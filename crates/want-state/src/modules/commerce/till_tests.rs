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
        chain_id: params().chain_id,
    }
}

/// The state machine does not check the signature (the node's precheck does). The payer agrees
/// to pay the request's amount (as the CLI sets it for a request in WANT).
fn pay(request: PaymentRequest) -> CommerceCall {
    let max_want = request.amount;
    pay_at_most(request, max_want)
}

fn pay_at_most(request: PaymentRequest, max_want: Amount) -> CommerceCall {
    CommerceCall::PayRequest {
        request,
        signature: Signature::Secp256k1(vec![0; 65]),
        max_want,
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
            currency: TILL_CURRENCY_WANT.into(),
            rate: None,
        }]
    );
    assert_eq!(w.bal(buyer()), buyer_before - TILL_AMOUNT - r.fee_paid);
    assert_eq!(w.bal(payout()), TILL_AMOUNT - fee);
    assert_eq!(w.bal(pool()), pool_before + r.fee_paid + fee);
    let p = till::payment(&w.ms, 1).unwrap().unwrap();
    assert_eq!((p.buyer, p.amount, p.fee, p.payout), (buyer(), TILL_AMOUNT, fee, payout()));
    assert_eq!(p.rate, None);
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
    req.currency = "XYZ".into();
    w.fails(buyer(), pay(req), PAYMENT_CURRENCY_UNSUPPORTED);
    let mut req = request(&w);
    req.currency = "cny".into();
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
fn a_request_for_another_chain_is_refused_naming_both_chains() {
    let mut w = with_till();
    let mut req = request(&w);
    req.chain_id = params().chain_id + 1;
    let before = w.bal(buyer());
    let r = w.call(buyer(), pay(req.clone()));
    assert_eq!(code(&r), ("failed", PAYMENT_REQUEST_WRONG_CHAIN));
    let m = message(&r);
    assert!(m.contains(&req.chain_id.to_string()) && m.contains(&params().chain_id.to_string()), "{m}");
    assert_eq!(w.bal(buyer()), before - r.fee_paid);
    w.fails(buyer(), pay(req), PAYMENT_REQUEST_WRONG_CHAIN);
}

#[test]
fn a_want_request_above_max_want_is_refused_and_one_below_pays_the_amount() {
    let mut w = with_till();
    let req = request(&w);
    w.fails(buyer(), pay_at_most(req.clone(), TILL_AMOUNT - 1), PAYMENT_ABOVE_MAX);
    let before = w.bal(buyer());
    let r = w.ok(buyer(), pay_at_most(req, TILL_AMOUNT * 2));
    assert_eq!(w.bal(buyer()), before - TILL_AMOUNT - r.fee_paid);
}

#[test]
fn max_spend_of_a_payment_is_its_max_want() {
    use crate::kernel::module::Module;
    let req = request(&with_till());
    let call = pay_at_most(req, 777);
    assert_eq!(super::super::Commerce::max_spend(&params(), &call).unwrap(), 777);
}

/// Reporters of the chain's genesis in [`with_till_and_rates`].
fn reporter(i: u8) -> Address {
    addr(20 + i)
}

/// 1 CNY = 0.137777 / 0.138001 / 0.139 WANT: the median is 0.138001 WANT (138_001 base units).
const CNY_RATE: Amount = 138_001;

/// [`with_till`] on a chain whose genesis names three price reporters, which posted CNY rates
/// whose median is [`CNY_RATE`].
fn with_till_and_rates() -> World {
    use std::collections::BTreeMap;
    use want_types::amount::TOTAL_SUPPLY;
    let allocs: Vec<(Address, Amount)> = [seller(), buyer(), other(), stranger(), reporter(1), reporter(2), reporter(3)]
        .into_iter()
        .map(|a| (a, START))
        .collect();
    let mut all = allocs.clone();
    all.push((addr(200), TOTAL_SUPPLY - START * allocs.len() as Amount));
    let sections: BTreeMap<String, serde_json::Value> = [(
        "commerce".to_string(),
        serde_json::json!({ "price_reporters": [reporter(1), reporter(2), reporter(3)] }),
    )]
    .into_iter()
    .collect();
    let (ws, _) = crate::genesis_state(&crate::GenesisInput {
        params: &params(),
        allocations: &all,
        sections: &sections,
        activations: &want_types::Activations::default(),
    })
    .unwrap();
    let mut ms = MemState::new();
    ms.apply(&ws);
    let mut w = World {
        ms,
        height: 1,
        now: NOW_MS,
    };
    w.ok(seller(), open("shop"));
    w.ok(
        seller(),
        CommerceCall::AddTillKey {
            shop: "shop".into(),
            key: terminal(),
        },
    );
    for (i, rate) in [(1, 139_000), (2, 137_777), (3, CNY_RATE)] {
        w.ok(
            reporter(i),
            CommerceCall::PostPrices {
                rates: vec![want_types::modules::commerce::price::PriceRate {
                    currency: "CNY".into(),
                    rate,
                }],
            },
        );
    }
    w
}

/// A request for 88.88 CNY (micro-units), which comes to ⌈88.88 × 0.138001⌉ WANT.
fn cny_request(w: &World) -> PaymentRequest {
    let mut r = request(w);
    r.currency = "CNY".into();
    r.amount = 88_880_000;
    r
}

#[test]
fn a_cny_request_converts_at_the_median_rate_exactly_as_an_order_would() {
    let mut w = with_till_and_rates();
    let req = cny_request(&w);
    // The conversion of an order's price: the same function, the same rounding (up).
    let want = want_types::modules::commerce::price::to_want(req.amount, CNY_RATE).unwrap();
    let (as_order, _, rate) =
        super::super::price::convert(&w.ms, "CNY", req.amount, 0, w.now).unwrap();
    assert_eq!((want, rate), (as_order, Some(CNY_RATE)));
    assert_eq!(want, 12_265_529); // 88.88 × 138,001 = 12,265,528.88 base units, rounded up
    let fee = want.div_ceil(100);
    let (buyer_before, pool_before) = (w.bal(buyer()), w.bal(pool()));
    let r = w.ok(buyer(), pay_at_most(req.clone(), want));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::TillPaid {
            payment: 1,
            request_hash: req.hash(),
            shop: "shop".into(),
            buyer: buyer(),
            amount: want,
            fee,
            reference: "R-1".into(),
            currency: "CNY".into(),
            rate: Some(CNY_RATE),
        }]
    );
    assert_eq!(w.bal(buyer()), buyer_before - want - r.fee_paid);
    assert_eq!(w.bal(payout()), want - fee);
    assert_eq!(w.bal(pool()), pool_before + r.fee_paid + fee);
    let p = till::payment(&w.ms, 1).unwrap().unwrap();
    assert_eq!((p.amount, p.fee, p.rate), (want, fee, Some(CNY_RATE)));
    assert_eq!((p.request.amount, p.request.currency.as_str()), (88_880_000, "CNY"));
    let rec = state::purchase(&w.ms, &buyer(), 1).unwrap().unwrap();
    assert_eq!(rec.amount, want, "the purchase record is in WANT");
    w.check_books();
}

#[test]
fn a_cny_request_converting_above_max_want_is_refused() {
    let mut w = with_till_and_rates();
    let req = cny_request(&w);
    let want = want_types::modules::commerce::price::to_want(req.amount, CNY_RATE).unwrap();
    let before = w.bal(buyer());
    w.fails(buyer(), pay_at_most(req.clone(), want - 1), PAYMENT_ABOVE_MAX);
    // The rate rises after the wallet's check: the bound the payer signed holds.
    for i in 1..=3 {
        w.ok(
            reporter(i),
            CommerceCall::PostPrices {
                rates: vec![want_types::modules::commerce::price::PriceRate {
                    currency: "CNY".into(),
                    rate: CNY_RATE * 2,
                }],
            },
        );
    }
    w.fails(buyer(), pay_at_most(req, want), PAYMENT_ABOVE_MAX);
    assert!(w.bal(buyer()) > before - want, "only fees were paid");
    assert_eq!(w.bal(payout()), 0);
}

#[test]
fn a_cny_request_with_a_stale_or_missing_rate_is_refused_and_changes_nothing() {
    let mut w = with_till_and_rates();
    let mut usd = cny_request(&w);
    usd.currency = "USD".into();
    w.fails(buyer(), pay_at_most(usd, Amount::MAX), PRICE_UNAVAILABLE);
    let later = w.now + want_types::modules::commerce::price::PRICE_REPORT_AGE_MS_MAX + 1;
    w.tick(later);
    let req = cny_request(&w);
    let before = w.bal(buyer());
    let r = w.call(buyer(), pay_at_most(req.clone(), Amount::MAX));
    assert_eq!(code(&r), ("failed", PRICE_STALE));
    assert!(message(&r).contains("CNY"), "{}", message(&r));
    assert_eq!(w.bal(buyer()), before - r.fee_paid);
    assert_eq!(w.bal(payout()), 0);
    assert_eq!(till::paid_by(&w.ms, &req.hash()).unwrap(), None);
    w.fails(buyer(), pay_at_most(req, Amount::MAX), PRICE_STALE);
}

#[test]
fn a_shop_cannot_pay_its_own_request() {
    let mut w = with_till();
    let req = request(&w);
    w.fails(seller(), pay(req), ORDER_PARTY_NOT_ALLOWED);
}
