//! Tests of reviews, likes and shares (`super::super::review`), on the commerce tests' [`World`].

use want_types::modules::commerce::{CommerceCall, CommerceEvent, CID_BYTES_MAX};
use want_types::Address;

use super::super::codes::*;
use super::super::review::{self, product_id, Rating, ReviewsOf};
use super::*;
use crate::store::WriteSet;

/// Writes trace state straight into the chain (the trace module's tests cover how it gets
/// there): the organisation "teaorg" with the seller's key, licensee of the GS1 Company Prefix
/// of [`GTIN`]; then the seller links its shop to it.
fn endorse_shop(w: &mut World) {
    use crate::modules::trace::state::{self as ts, KeyInfo, OrgInfo, PrefixInfo};
    use want_types::modules::trace::{OrgKind, Role};
    let mut ov = crate::store::Overlay::new(&w.ms);
    ts::put(&mut ov, ts::org_key("teaorg"), &OrgInfo { name: "Tea".into(), kind: OrgKind::Brand, encryption_key: vec![2; 33], registered_at: 1 });
    ts::put(&mut ov, ts::key_key(&seller()), &KeyInfo { org: "teaorg".into(), department: "sales".into(), roles: vec![Role::Retailer], added_at: 1, revoked_at: None });
    ts::put(&mut ov, ts::gcp_key("4012345"), &PrefixInfo { org: "teaorg".into(), registered_at: 1 });
    let changes = ov.into_changes();
    w.ms.apply(&WriteSet(changes.into_iter().collect()));
    w.ok(
        seller(),
        CommerceCall::EditShop {
            handle: "shop".into(),
            name: "Tea House".into(),
            payout: payout(),
            trace_org: Some("teaorg".into()),
        },
    );
}

/// A world where the buyer completed order 1 (purchase 1) and `other` completed order 2, at a
/// shop endorsed for the GTIN's company prefix.
fn with_purchases() -> World {
    let mut w = World::with_shipped();
    endorse_shop(&mut w);
    w.ok(buyer(), CommerceCall::ConfirmDelivery { order: 1 });
    w.ok(other(), place(1, 2));
    w.ok(seller(), accept(2));
    w.ok(seller(), ship(2));
    w.ok(other(), CommerceCall::ConfirmDelivery { order: 2 });
    w
}

fn add(purchase: u64, rating: u8) -> CommerceCall {
    CommerceCall::AddReview {
        purchase,
        rating,
        text_cid: "bafyreview".into(),
    }
}

fn edit(review: u64, rating: u8) -> CommerceCall {
    CommerceCall::EditReview {
        review,
        rating,
        text_cid: format!("bafyedit{rating}"),
    }
}

fn like(review: u64) -> CommerceCall {
    CommerceCall::LikeReview { review }
}

fn share(review: u64) -> CommerceCall {
    CommerceCall::ShareReview { review }
}

fn reply(review: u64) -> CommerceCall {
    CommerceCall::ReplyReview {
        review,
        text_cid: "bafyreply".into(),
    }
}

const GTIN: &str = "04012345678901";

fn shop_rating(w: &World) -> Rating {
    review::shop_rating(&w.ms, "shop").unwrap()
}

fn product_rating(w: &World) -> Rating {
    review::product_rating(&w.ms, GTIN).unwrap()
}

/// Gives `who` a KYC attestation in the trace module's state.
fn attest(w: &mut World, who: Address) {
    let info = crate::modules::trace::state::KycInfo {
        level: 1,
        attestation: Default::default(),
        verifier: seller(),
        attested_at: 1,
    };
    let mut ws = WriteSet(Default::default());
    ws.0.insert(
        crate::modules::trace::state::kyc_key(&who),
        Some(borsh::to_vec(&info).unwrap()),
    );
    w.ms.apply(&ws);
}

#[test]
fn a_buyer_reviews_a_completed_purchase_and_the_aggregates_count_it() {
    let mut w = with_purchases();
    let r = w.ok(buyer(), add(1, 4));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::ReviewAdded {
            review: 1,
            purchase: 1,
            author: buyer(),
            shop: "shop".into(),
            product: GTIN.into(),
            rating: 4,
        }]
    );
    w.ok(other(), add(2, 5));
    let expect = Rating {
        count: 2,
        sum: 9,
        stars: [0, 0, 0, 1, 1],
    };
    assert_eq!(shop_rating(&w), expect);
    assert_eq!(product_rating(&w), expect);
    assert_eq!(expect.average(), "4.50");
    let rv = review::review(&w.ms, 1).unwrap().unwrap();
    assert_eq!((rv.author, rv.rating, rv.version), (buyer(), 4, 1));
    let by_shop = review::reviews_of(&w.ms, &ReviewsOf::Shop("shop".into()), None, 1).unwrap();
    assert_eq!(by_shop.items.len(), 1);
    assert_eq!(by_shop.next, Some(1));
    let rest = review::reviews_of(&w.ms, &ReviewsOf::Shop("shop".into()), Some(1), 10).unwrap();
    assert_eq!(rest.items[0].id, 2);
    assert_eq!(rest.next, None);
    let by_author = review::reviews_of(&w.ms, &ReviewsOf::Author(other()), None, 10).unwrap();
    assert_eq!(by_author.items.iter().map(|r| r.id).collect::<Vec<_>>(), vec![2]);
    let by_product = review::reviews_of(&w.ms, &ReviewsOf::Product(GTIN.into()), None, 10).unwrap();
    assert_eq!(by_product.items.len(), 2);
}

#[test]
fn an_edit_appends_a_version_and_moves_the_aggregates_by_the_difference() {
    let mut w = with_purchases();
    w.ok(buyer(), add(1, 2));
    let r = w.ok(buyer(), edit(1, 5));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::ReviewEdited { review: 1, version: 2, rating: 5 }]
    );
    assert_eq!(
        shop_rating(&w),
        Rating { count: 1, sum: 5, stars: [0, 0, 0, 0, 1] }
    );
    let versions = review::versions(&w.ms, 1).unwrap();
    assert_eq!(
        versions.iter().map(|v| (v.version, v.rating, v.text_cid.as_str())).collect::<Vec<_>>(),
        vec![(1, 2, "bafyreview"), (2, 5, "bafyedit5")]
    );
    w.fails(other(), edit(1, 3), REVIEW_AUTHOR_ONLY);
    w.fails(buyer(), edit(1, 0), REVIEW_RATING_INVALID);
    w.fails(buyer(), edit(9, 3), REVIEW_UNKNOWN);
}

#[test]
fn a_review_keeps_at_most_its_versions_max() {
    let mut w = with_purchases();
    w.ok(buyer(), add(1, 1));
    for i in 2..=want_types::modules::commerce::REVIEW_VERSIONS_MAX {
        w.ok(buyer(), edit(1, (i % 5) as u8 + 1));
    }
    w.fails(buyer(), edit(1, 3), REVIEW_VERSIONS_FULL);
    assert_eq!(
        review::versions(&w.ms, 1).unwrap().len(),
        want_types::modules::commerce::REVIEW_VERSIONS_MAX as usize
    );
}

#[test]
fn a_review_without_a_completed_purchase_or_of_someone_elses_is_refused() {
    let mut w = World::with_shipped();
    // Order 1 is shipped, not completed: no purchase yet.
    w.fails(buyer(), add(1, 4), REVIEW_NO_PURCHASE);
    w.ok(buyer(), CommerceCall::ConfirmDelivery { order: 1 });
    w.fails(other(), add(1, 4), REVIEW_NO_PURCHASE);
    w.fails(seller(), add(1, 4), REVIEW_NO_PURCHASE);
    w.fails(buyer(), add(7, 4), REVIEW_NO_PURCHASE);
}

#[test]
fn a_second_review_of_one_purchase_and_bad_ratings_or_texts_are_refused() {
    let mut w = with_purchases();
    w.fails(buyer(), add(1, 0), REVIEW_RATING_INVALID);
    w.fails(buyer(), add(1, 6), REVIEW_RATING_INVALID);
    w.fails(
        buyer(),
        CommerceCall::AddReview { purchase: 1, rating: 3, text_cid: String::new() },
        REVIEW_TEXT_INVALID,
    );
    w.fails(
        buyer(),
        CommerceCall::AddReview { purchase: 1, rating: 3, text_cid: "b".repeat(CID_BYTES_MAX + 1) },
        REVIEW_TEXT_INVALID,
    );
    w.ok(buyer(), add(1, 3));
    w.fails(buyer(), add(1, 5), REVIEW_EXISTS);
}

#[test]
fn the_shop_owner_replies_once() {
    let mut w = with_purchases();
    w.ok(buyer(), add(1, 3));
    w.fails(buyer(), reply(1), REVIEW_REPLY_OWNER_ONLY);
    w.fails(other(), reply(1), REVIEW_REPLY_OWNER_ONLY);
    w.fails(seller(), reply(9), REVIEW_UNKNOWN);
    let r = w.ok(seller(), reply(1));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::ReviewReplied { review: 1, by: seller() }]
    );
    let rv = review::review(&w.ms, 1).unwrap().unwrap();
    assert_eq!(rv.reply.map(|r| r.text_cid), Some("bafyreply".into()));
    w.fails(seller(), reply(1), REVIEW_ALREADY_REPLIED);
}

#[test]
fn likes_and_shares_come_once_from_buyers_or_kyc_accounts_never_the_author() {
    let mut w = with_purchases();
    w.ok(buyer(), add(1, 3));
    w.fails(buyer(), like(1), REVIEW_OWN);
    w.fails(buyer(), share(1), REVIEW_OWN);
    // The stranger has neither a purchase nor a KYC attestation; the seller has no purchase.
    w.fails(stranger(), like(1), REVIEW_NOT_ELIGIBLE);
    w.fails(stranger(), share(1), REVIEW_NOT_ELIGIBLE);
    w.fails(seller(), like(1), REVIEW_NOT_ELIGIBLE);
    w.fails(other(), like(9), REVIEW_UNKNOWN);
    let r = w.ok(other(), like(1));
    assert_eq!(
        commerce_events(&r.events),
        vec![CommerceEvent::ReviewLiked { review: 1, by: other() }]
    );
    w.fails(other(), like(1), REVIEW_ALREADY_LIKED);
    w.ok(other(), share(1));
    w.fails(other(), share(1), REVIEW_ALREADY_SHARED);
    attest(&mut w, stranger());
    w.ok(stranger(), like(1));
    w.ok(stranger(), share(1));
    let rv = review::review(&w.ms, 1).unwrap().unwrap();
    assert_eq!((rv.likes, rv.shares), (2, 2));
    assert!(review::liked(&w.ms, 1, &stranger()).unwrap());
    w.check_books();
}

#[test]
fn product_ids_fold_gtins_to_fourteen_digits_and_keep_skus_per_shop() {
    let mut w = World::with_offer();
    let id = |w: &World, p: &str| product_id(&w.ms, "shop", p).unwrap();
    // Not endorsed (no trace organisation): everything stays within the shop.
    assert_eq!(id(&w, "4012345678901"), format!("shop:{GTIN}"));
    assert_eq!(id(&w, "12345670"), "shop:00000012345670");
    assert_eq!(id(&w, "TEA-100"), "shop:TEA-100");
    assert_eq!(id(&w, "12345"), "shop:12345");
    // Endorsed for the prefix 4012345: its GTINs go chain-wide, others stay within the shop.
    endorse_shop(&mut w);
    assert_eq!(id(&w, "4012345678901"), GTIN);
    assert_eq!(id(&w, "12345670"), "shop:00000012345670");
    assert_eq!(id(&w, "TEA-100"), "shop:TEA-100");
}

#[test]
fn a_shop_not_endorsed_for_a_gtins_prefix_does_not_move_that_gtins_chain_wide_rating() {
    // A rival lists the endorsed shop's GTIN and gets a completed purchase of it reviewed.
    let mut w = with_purchases();
    w.ok(buyer(), add(1, 5));
    w.ok(stranger(), open("rival"));
    w.ok(stranger(), CommerceCall::AddOffer { shop: "rival".into(), terms: terms(), stock: 5 });
    w.ok(other(), place(2, 1));
    w.ok(stranger(), accept(3));
    w.ok(stranger(), ship(3));
    w.ok(other(), CommerceCall::ConfirmDelivery { order: 3 });
    let r = w.ok(other(), add(3, 1));
    let rival_id = format!("rival:{GTIN}");
    assert!(matches!(
        commerce_events(&r.events).as_slice(),
        [CommerceEvent::ReviewAdded { product, .. }] if *product == rival_id
    ));
    assert_eq!(product_rating(&w), Rating { count: 1, sum: 5, stars: [0, 0, 0, 0, 1] });
    assert_eq!(review::product_rating(&w.ms, &rival_id).unwrap().count, 1);
    assert_eq!(review::shop_rating(&w.ms, "rival").unwrap().count, 1);
}

#[test]
fn revoking_the_shop_owners_organisation_key_ends_its_gtin_endorsement() {
    let mut w = with_purchases();
    assert_eq!(product_id(&w.ms, "shop", GTIN).unwrap(), GTIN);
    {
        use crate::modules::trace::state::{self as ts, KeyInfo};
        use want_types::modules::trace::Role;
        let mut ov = crate::store::Overlay::new(&w.ms);
        ts::put(&mut ov, ts::key_key(&seller()), &KeyInfo { org: "teaorg".into(), department: "sales".into(), roles: vec![Role::Retailer], added_at: 1, revoked_at: Some(2) });
        let changes = ov.into_changes();
        w.ms.apply(&WriteSet(changes.into_iter().collect()));
    }
    assert_eq!(product_id(&w.ms, "shop", GTIN).unwrap(), format!("shop:{GTIN}"));
    w.ok(buyer(), add(1, 5));
    assert_eq!(product_rating(&w).count, 0);
}

#[test]
fn the_average_rounds_half_up_from_integers() {
    let r = |count, sum| Rating { count, sum, stars: [0; 5] };
    assert_eq!(r(0, 0).average(), "0.00");
    assert_eq!(r(3, 13).average(), "4.33");
    assert_eq!(r(3, 14).average(), "4.67");
    assert_eq!(r(8, 37).average(), "4.63"); // 4.625 rounds up
    assert_eq!(r(u64::MAX, u64::MAX).average(), "1.00");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Add { who: bool, rating: u8 },
        Edit { who: bool, rating: u8 },
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            1 => (any::<bool>(), 0u8..7).prop_map(|(who, rating)| Op::Add { who, rating }),
            3 => (any::<bool>(), 0u8..7).prop_map(|(who, rating)| Op::Edit { who, rating }),
        ]
    }

    /// The aggregate recomputed from scratch over every stored review.
    fn recomputed(w: &World) -> Rating {
        let mut r = Rating::default();
        for id in 1..=2u64 {
            if let Some(rv) = review::review(&w.ms, id).unwrap() {
                r.count += 1;
                r.sum += u64::from(rv.rating);
                r.stars[usize::from(rv.rating - 1)] += 1;
            }
        }
        r
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

        #[test]
        fn aggregates_equal_a_recomputation_over_random_adds_and_edits(
            ops in prop::collection::vec(arb_op(), 1..16)
        ) {
            let mut w = with_purchases();
            for op in &ops {
                match *op {
                    Op::Add { who: b, rating } => {
                        let (who, p) = if b { (buyer(), 1u64) } else { (other(), 2u64) };
                        w.call(who, add(p, rating));
                    }
                    Op::Edit { who: b, rating } => {
                        let who = if b { buyer() } else { other() };
                        let id = review::reviews_of(&w.ms, &ReviewsOf::Author(who), None, 1)
                            .unwrap().items.first().map(|r| r.id);
                        if let Some(id) = id {
                            w.call(who, edit(id, rating));
                        }
                    }
                }
                let expect = recomputed(&w);
                prop_assert_eq!(shop_rating(&w), expect.clone());
                prop_assert_eq!(product_rating(&w), expect);
            }
        }
    }
}
