//! Reviews, likes and shares of completed purchases (issue 14 item 8, paper §5.3).
//!
//! A purchase is named by its buyer and id ([`state::purchase`]); only its buyer reviews it,
//! once. A review takes the purchase's shop and product (aggregated under [`product_id`]: a
//! GTIN chain-wide only for shops endorsed for its GS1 Company Prefix), keeps
//! every version (an edit appends one, at most [`REVIEW_VERSIONS_MAX`]), may carry one reply by
//! the shop's owner, and counts likes and shares, one of each per account, from accounts with a
//! completed purchase or a KYC attestation of the trace module, never by the author.
//!
//! The rating aggregates of each product and shop ([`Rating`]) move in O(1) per review or edit:
//! an edit moves them by the difference of the ratings. Lists of a shop's, a product's or an
//! author's reviews read an index key per review, never all reviews.
//!
//! Keys (see also the table of [`super::state`]):
//!
//! | key | value |
//! |---|---|
//! | `commerce/seq/review` | last review id (u64 BE; ids start at 1) |
//! | `commerce/review/ ‖ id` | [`Review`] (its current version) |
//! | `commerce/reviewv/ ‖ id ‖ version (u32 BE)` | [`ReviewVersion`] (every version, from 1) |
//! | `commerce/reviewed/ ‖ buyer (21 bytes) ‖ purchase id` | the review id (u64 BE) |
//! | `commerce/rshop/ ‖ len (u8) ‖ handle ‖ review id` | empty (index) |
//! | `commerce/rprod/ ‖ len (u8) ‖ product ‖ review id` | empty (index) |
//! | `commerce/rauthor/ ‖ author (21 bytes) ‖ review id` | empty (index) |
//! | `commerce/rating/s/ ‖ handle` | [`Rating`] of a shop |
//! | `commerce/rating/p/ ‖ product` | [`Rating`] of a product |
//! | `commerce/rlike/ ‖ review id ‖ account (21 bytes)` | empty |
//! | `commerce/rshare/ ‖ review id ‖ account (21 bytes)` | empty |
//!
//! **Who may like.** "Has a completed purchase" is one range read of at most one key under the
//! account's purchase records (`commerce/purchase/ ‖ account`), so any writer of purchase
//! records (orders, till payments) counts without a counter to keep in step.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use want_types::modules::commerce::{
    CommerceCall, CommerceEvent, CID_BYTES_MAX, REVIEW_RATING_MAX, REVIEW_RATING_MIN,
    REVIEW_VERSIONS_MAX,
};
use want_types::Address;

use super::codes::*;
use super::state::{self, next_id, read, write, PURCHASE_PREFIX};
use crate::modules::trace::state as trace_state;
use crate::failure::{fail, overflow, ExecError};
use crate::store::{page, Overlay, Page};
use crate::{StateError, StateView};

/// Weight of a review call: the review, its version, two aggregates and three index keys
/// written, or a like/share key with an eligibility read. Unmeasured estimate, like the module's
/// other weights.
pub const REVIEW_WEIGHT: u64 = 20_000;
/// Most reviews one page of [`reviews_of`] returns.
pub const REVIEWS_PAGE_MAX: usize = 100;

/// Key of the last review id.
pub const REVIEW_SEQ_KEY: &[u8] = b"commerce/seq/review";
/// Prefix of the reviews.
pub const REVIEW_PREFIX: &[u8] = b"commerce/review/";
/// Prefix of the review versions.
pub const REVIEW_VERSION_PREFIX: &[u8] = b"commerce/reviewv/";
/// Prefix of the purchase → review map.
pub const REVIEWED_PREFIX: &[u8] = b"commerce/reviewed/";
/// Prefix of the per-shop review index.
pub const BY_SHOP_PREFIX: &[u8] = b"commerce/rshop/";
/// Prefix of the per-product review index.
pub const BY_PRODUCT_PREFIX: &[u8] = b"commerce/rprod/";
/// Prefix of the per-author review index.
pub const BY_AUTHOR_PREFIX: &[u8] = b"commerce/rauthor/";
/// Prefix of the shop aggregates.
pub const SHOP_RATING_PREFIX: &[u8] = b"commerce/rating/s/";
/// Prefix of the product aggregates.
pub const PRODUCT_RATING_PREFIX: &[u8] = b"commerce/rating/p/";
/// Prefix of the likes.
pub const LIKE_PREFIX: &[u8] = b"commerce/rlike/";
/// Prefix of the shares.
pub const SHARE_PREFIX: &[u8] = b"commerce/rshare/";

/// The current version of a review.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Review {
    pub id: u64,
    /// The purchase id (of the author's purchase records).
    pub purchase: u64,
    pub author: Address,
    pub shop: String,
    /// The normalised product id ([`product_id`]).
    pub product: String,
    /// Stars of the current version.
    pub rating: u8,
    /// Text of the current version (a public blob CID).
    pub text_cid: String,
    /// The current version's number (1 for the first).
    pub version: u32,
    pub created_ms: u64,
    pub edited_ms: u64,
    pub reply: Option<ReviewReply>,
    pub likes: u64,
    pub shares: u64,
}

/// One version of a review.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct ReviewVersion {
    pub version: u32,
    pub rating: u8,
    pub text_cid: String,
    pub time_ms: u64,
}

/// The shop's reply to a review.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct ReviewReply {
    pub by: Address,
    pub text_cid: String,
    pub time_ms: u64,
}

/// A rating aggregate: how many reviews, the sum of their ratings and how many gave each number
/// of stars (`stars[0]` for 1 star … `stars[4]` for 5).
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Rating {
    pub count: u64,
    pub sum: u64,
    pub stars: [u64; 5],
}

impl Rating {
    /// The average rating as a decimal string with two decimals, rounded half up ("0.00" when
    /// there is no review). Integers only.
    pub fn average(&self) -> String {
        if self.count == 0 {
            return "0.00".into();
        }
        let (count, sum) = (u128::from(self.count), u128::from(self.sum));
        let hundredths = (sum * 200 + count) / (2 * count);
        format!("{}.{:02}", hundredths / 100, hundredths % 100)
    }

    fn add(&mut self, rating: u8) -> Result<(), ExecError> {
        let star = star_slot(rating)?;
        self.count = self.count.checked_add(1).ok_or_else(|| overflow("a review count"))?;
        self.sum = self
            .sum
            .checked_add(u64::from(rating))
            .ok_or_else(|| overflow("a rating sum"))?;
        *star_of(&mut self.stars, star) += 1;
        Ok(())
    }

    /// One review's rating changes from `old` to `new`.
    fn change(&mut self, old: u8, new: u8) -> Result<(), ExecError> {
        let (o, n) = (star_slot(old)?, star_slot(new)?);
        let corrupt = || overflow("a rating aggregate that lacks the review's old rating");
        self.sum = self
            .sum
            .checked_sub(u64::from(old))
            .and_then(|s| s.checked_add(u64::from(new)))
            .ok_or_else(corrupt)?;
        let slot = star_of(&mut self.stars, o);
        *slot = slot.checked_sub(1).ok_or_else(corrupt)?;
        *star_of(&mut self.stars, n) += 1;
        Ok(())
    }
}

fn star_slot(rating: u8) -> Result<usize, ExecError> {
    if !(REVIEW_RATING_MIN..=REVIEW_RATING_MAX).contains(&rating) {
        return Err(fail(
            REVIEW_RATING_INVALID,
            format!(
                "tx.call.rating is {rating}; give {REVIEW_RATING_MIN} to {REVIEW_RATING_MAX} stars"
            ),
        ));
    }
    Ok(usize::from(rating - REVIEW_RATING_MIN))
}

fn star_of(stars: &mut [u64; 5], slot: usize) -> &mut u64 {
    // slot < 5: star_slot checked the rating is 1..=5.
    &mut stars[slot.min(4)]
}

/// A GTIN of 8, 12, 13 or 14 digits in its 14-digit form; `None` for anything else.
pub fn gtin14(product: &str) -> Option<String> {
    let digits = product.bytes().all(|b| b.is_ascii_digit());
    (digits && matches!(product.len(), 8 | 12 | 13 | 14)).then(|| format!("{product:0>14}"))
}

/// The id of a product within one shop: `shop:product`, a GTIN in its 14-digit form.
pub fn shop_product_id(shop: &str, product: &str) -> String {
    format!("{shop}:{}", gtin14(product).as_deref().unwrap_or(product))
}

/// The product id a purchase's reviews are aggregated under. A GTIN counts in the chain-wide
/// aggregate of its 14-digit form only when the shop's trace organisation (linked by a key of
/// it, see `exec::check_trace_org`, and whose key the shop's owner still holds) is the licensee
/// of the GTIN's registered GS1 Company Prefix or a party it authorised: otherwise any shop could list a rival's GTIN and buy its way into
/// that product's rating with sybil buyers. Any other purchase is aggregated within its shop
/// ([`shop_product_id`]).
pub fn product_id(view: &dyn StateView, shop: &str, product: &str) -> Result<String, StateError> {
    let Some(gtin) = gtin14(product) else {
        return Ok(shop_product_id(shop, product));
    };
    // The link counts while the shop's owner still holds an active key of the organisation:
    // revoking the key ends the endorsement.
    let Some((org, owner)) = state::shop(view, shop)?.and_then(|s| Some((s.trace_org?, s.owner)))
    else {
        return Ok(shop_product_id(shop, product));
    };
    let owner_key = trace_state::key(view, &owner)?;
    if !owner_key.is_some_and(|k| k.org == org && k.active()) {
        return Ok(shop_product_id(shop, product));
    }
    let link = format!("https://id.gs1.org/01/{gtin}");
    let endorsed = match trace_state::product_prefix(view, &link)? {
        Some((prefix, info)) => info.org == org || trace_state::is_party(view, &prefix, &org)?,
        None => false,
    };
    Ok(if endorsed {
        gtin
    } else {
        shop_product_id(shop, product)
    })
}

fn id_bytes(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// `len (u8) ‖ s`: a string a key continues after (handles and product ids are < 256 bytes).
fn sized(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let len = u8::try_from(b.len()).unwrap_or(u8::MAX);
    [&[len][..], &b[..usize::from(len)]].concat()
}

pub fn review_key(id: u64) -> Vec<u8> {
    [REVIEW_PREFIX, &id_bytes(id)].concat()
}

pub fn version_key(id: u64, version: u32) -> Vec<u8> {
    [REVIEW_VERSION_PREFIX, &id_bytes(id), &version.to_be_bytes()].concat()
}

pub fn reviewed_key(buyer: &Address, purchase: u64) -> Vec<u8> {
    [REVIEWED_PREFIX, &buyer.0, &id_bytes(purchase)].concat()
}

pub fn shop_index_prefix(shop: &str) -> Vec<u8> {
    [BY_SHOP_PREFIX, &sized(shop)].concat()
}

pub fn product_index_prefix(product: &str) -> Vec<u8> {
    [BY_PRODUCT_PREFIX, &sized(product)].concat()
}

pub fn author_index_prefix(author: &Address) -> Vec<u8> {
    [BY_AUTHOR_PREFIX, &author.0[..]].concat()
}

pub fn shop_rating_key(shop: &str) -> Vec<u8> {
    [SHOP_RATING_PREFIX, shop.as_bytes()].concat()
}

pub fn product_rating_key(product: &str) -> Vec<u8> {
    [PRODUCT_RATING_PREFIX, product.as_bytes()].concat()
}

pub fn like_key(review: u64, who: &Address) -> Vec<u8> {
    [LIKE_PREFIX, &id_bytes(review), &who.0].concat()
}

pub fn share_key(review: u64, who: &Address) -> Vec<u8> {
    [SHARE_PREFIX, &id_bytes(review), &who.0].concat()
}

/// The review `id`, if any.
pub fn review(view: &dyn StateView, id: u64) -> Result<Option<Review>, StateError> {
    read(view, &review_key(id), "review")
}

/// Every version of review `id`, oldest first (at most [`REVIEW_VERSIONS_MAX`]).
pub fn versions(view: &dyn StateView, id: u64) -> Result<Vec<ReviewVersion>, StateError> {
    let prefix = [REVIEW_VERSION_PREFIX, &id_bytes(id)].concat();
    view.range(&prefix, None, REVIEW_VERSIONS_MAX as usize)?
        .into_iter()
        .map(|(k, v)| {
            borsh::from_slice(&v).map_err(|e| StateError::corrupt(&k, format!("review version: {e}")))
        })
        .collect()
}

/// The review of `buyer`'s purchase `purchase`, if any.
pub fn review_of_purchase(
    view: &dyn StateView,
    buyer: &Address,
    purchase: u64,
) -> Result<Option<u64>, StateError> {
    let key = reviewed_key(buyer, purchase);
    view.get(&key)?
        .map(|b| {
            <[u8; 8]>::try_from(b.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StateError::corrupt(&key, "review id of the wrong length"))
        })
        .transpose()
}

/// The rating aggregate of shop `shop` (empty when it has no review).
pub fn shop_rating(view: &dyn StateView, shop: &str) -> Result<Rating, StateError> {
    Ok(read(view, &shop_rating_key(shop), "shop rating")?.unwrap_or_default())
}

/// The rating aggregate of the normalised product id `product` (empty when it has no review).
pub fn product_rating(view: &dyn StateView, product: &str) -> Result<Rating, StateError> {
    Ok(read(view, &product_rating_key(product), "product rating")?.unwrap_or_default())
}

/// Whether `who` liked review `review`.
pub fn liked(view: &dyn StateView, review: u64, who: &Address) -> Result<bool, StateError> {
    Ok(view.get(&like_key(review, who))?.is_some())
}

/// Whether `who` has at least one completed purchase (one range read of at most one key).
pub fn has_purchase(view: &dyn StateView, who: &Address) -> Result<bool, StateError> {
    let prefix = [PURCHASE_PREFIX, &who.0].concat();
    Ok(!view.range(&prefix, None, 1)?.is_empty())
}

/// Which index a list of reviews reads.
#[derive(Clone, Debug)]
pub enum ReviewsOf {
    Shop(String),
    /// A normalised product id.
    Product(String),
    Author(Address),
}

/// Reviews of a shop, a product or an author by id, at most `limit` (clamped to
/// [`REVIEWS_PAGE_MAX`]) after the review id `after`, read through the index (never all
/// reviews).
pub fn reviews_of(
    view: &dyn StateView,
    of: &ReviewsOf,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<Review, u64>, StateError> {
    let prefix = match of {
        ReviewsOf::Shop(s) => shop_index_prefix(s),
        ReviewsOf::Product(p) => product_index_prefix(p),
        ReviewsOf::Author(a) => author_index_prefix(a),
    };
    let after = after.map(id_bytes);
    let ids = page(
        view,
        &prefix,
        after.as_ref().map(|a| &a[..]),
        limit.clamp(1, REVIEWS_PAGE_MAX),
        |k, _| {
            k.get(prefix.len()..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .ok_or_else(|| StateError::corrupt(k, "review index key of the wrong length"))
        },
        |id: &u64| *id,
    )?;
    let items = ids
        .items
        .iter()
        .map(|id| {
            review(view, *id)?
                .ok_or_else(|| StateError::corrupt(&review_key(*id), "indexed review is missing"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        next: ids.next,
    })
}

fn check_text(field: &str, cid: &str) -> Result<(), ExecError> {
    if cid.is_empty() || cid.len() > CID_BYTES_MAX {
        return Err(fail(
            REVIEW_TEXT_INVALID,
            format!(
                "tx.call.{field} is {} bytes; give the text's blob CID, 1 to {CID_BYTES_MAX} bytes",
                cid.len()
            ),
        ));
    }
    Ok(())
}

fn known(ov: &Overlay<'_>, id: u64) -> Result<Review, ExecError> {
    review(ov, id)?.ok_or_else(|| {
        fail(
            REVIEW_UNKNOWN,
            format!("no review has the id {id}; check tx.call.review"),
        )
    })
}

fn mark(ov: &mut Overlay<'_>, key: Vec<u8>) {
    ov.put(key, Vec::new());
}

fn write_ratings(
    ov: &mut Overlay<'_>,
    r: &Review,
    f: impl Fn(&mut Rating) -> Result<(), ExecError>,
) -> Result<(), ExecError> {
    let mut shop = shop_rating(ov, &r.shop)?;
    f(&mut shop)?;
    let mut product = product_rating(ov, &r.product)?;
    f(&mut product)?;
    write(ov, shop_rating_key(&r.shop), &shop);
    write(ov, product_rating_key(&r.product), &product);
    Ok(())
}

/// Applies a review call of `sender` at block time `now` and returns its event; `None` (and
/// nothing done) when `call` is not a review call.
pub(crate) fn execute(
    ov: &mut Overlay<'_>,
    now: u64,
    sender: Address,
    call: &CommerceCall,
) -> Result<Option<CommerceEvent>, ExecError> {
    let event = match call {
        CommerceCall::AddReview {
            purchase,
            rating,
            text_cid,
        } => add(ov, now, sender, *purchase, *rating, text_cid),
        CommerceCall::EditReview {
            review,
            rating,
            text_cid,
        } => {
            let mut r = known(ov, *review)?;
            if r.author != sender {
                return Err(fail(
                    REVIEW_AUTHOR_ONLY,
                    format!(
                        "{sender} did not write review {review}; only its author {} edits it",
                        r.author
                    ),
                ));
            }
            star_slot(*rating)?;
            check_text("text_cid", text_cid)?;
            if r.version >= REVIEW_VERSIONS_MAX {
                return Err(fail(
                    REVIEW_VERSIONS_FULL,
                    format!(
                        "review {review} has {REVIEW_VERSIONS_MAX} versions, as many as one review keeps"
                    ),
                ));
            }
            let old = r.rating;
            write_ratings(ov, &r, |a| a.change(old, *rating))?;
            r.version += 1; // < REVIEW_VERSIONS_MAX, checked above
            r.rating = *rating;
            r.text_cid = text_cid.clone();
            r.edited_ms = now;
            write(
                ov,
                version_key(r.id, r.version),
                &ReviewVersion {
                    version: r.version,
                    rating: r.rating,
                    text_cid: r.text_cid.clone(),
                    time_ms: now,
                },
            );
            write(ov, review_key(r.id), &r);
            Ok(CommerceEvent::ReviewEdited {
                review: r.id,
                version: r.version,
                rating: r.rating,
            })
        }
        CommerceCall::ReplyReview { review, text_cid } => {
            let mut r = known(ov, *review)?;
            let owner = state::shop(ov, &r.shop)?
                .ok_or_else(|| StateError::corrupt(&review_key(r.id), "review of a shop that does not exist"))?
                .owner;
            if owner != sender {
                return Err(fail(
                    REVIEW_REPLY_OWNER_ONLY,
                    format!(
                        "{sender} does not own the shop {:?} of review {review}; sign with its owner {owner}",
                        r.shop
                    ),
                ));
            }
            if r.reply.is_some() {
                return Err(fail(
                    REVIEW_ALREADY_REPLIED,
                    format!("the shop {:?} already replied to review {review}; a shop replies once", r.shop),
                ));
            }
            check_text("text_cid", text_cid)?;
            r.reply = Some(ReviewReply {
                by: sender,
                text_cid: text_cid.clone(),
                time_ms: now,
            });
            write(ov, review_key(r.id), &r);
            Ok(CommerceEvent::ReviewReplied {
                review: r.id,
                by: sender,
            })
        }
        CommerceCall::LikeReview { review } => {
            let mut r = react(ov, sender, *review, "like")?;
            let key = like_key(r.id, &sender);
            if ov.get(&key)?.is_some() {
                return Err(fail(
                    REVIEW_ALREADY_LIKED,
                    format!("{sender} already liked review {review}; an account likes a review once"),
                ));
            }
            r.likes = r.likes.checked_add(1).ok_or_else(|| overflow("a like count"))?;
            mark(ov, key);
            write(ov, review_key(r.id), &r);
            Ok(CommerceEvent::ReviewLiked {
                review: r.id,
                by: sender,
            })
        }
        CommerceCall::ShareReview { review } => {
            let mut r = react(ov, sender, *review, "share")?;
            let key = share_key(r.id, &sender);
            if ov.get(&key)?.is_some() {
                return Err(fail(
                    REVIEW_ALREADY_SHARED,
                    format!("{sender} already shared review {review}; an account shares a review once"),
                ));
            }
            r.shares = r.shares.checked_add(1).ok_or_else(|| overflow("a share count"))?;
            mark(ov, key);
            write(ov, review_key(r.id), &r);
            Ok(CommerceEvent::ReviewShared {
                review: r.id,
                by: sender,
            })
        }
        _ => return Ok(None),
    };
    event.map(Some)
}

fn add(
    ov: &mut Overlay<'_>,
    now: u64,
    sender: Address,
    purchase: u64,
    rating: u8,
    text_cid: &str,
) -> Result<CommerceEvent, ExecError> {
    let Some(p) = state::purchase(ov, &sender, purchase)? else {
        return Err(fail(
            REVIEW_NO_PURCHASE,
            format!(
                "{sender} has no completed purchase {purchase}; review one of your completed purchases (GET /v1/commerce/purchases?buyer={sender})"
            ),
        ));
    };
    if let Some(existing) = review_of_purchase(ov, &sender, purchase)? {
        return Err(fail(
            REVIEW_EXISTS,
            format!("purchase {purchase} was reviewed already by review {existing}; edit that review"),
        ));
    }
    star_slot(rating)?;
    check_text("text_cid", text_cid)?;
    let id = next_id(ov, REVIEW_SEQ_KEY)?;
    let r = Review {
        id,
        purchase,
        author: sender,
        shop: p.shop.clone(),
        product: product_id(ov, &p.shop, &p.product)?,
        rating,
        text_cid: text_cid.to_string(),
        version: 1,
        created_ms: now,
        edited_ms: now,
        reply: None,
        likes: 0,
        shares: 0,
    };
    write_ratings(ov, &r, |a| a.add(rating))?;
    write(
        ov,
        version_key(id, 1),
        &ReviewVersion {
            version: 1,
            rating,
            text_cid: r.text_cid.clone(),
            time_ms: now,
        },
    );
    ov.put(reviewed_key(&sender, purchase), id_bytes(id).to_vec());
    mark(ov, [shop_index_prefix(&r.shop), id_bytes(id).to_vec()].concat());
    mark(ov, [product_index_prefix(&r.product), id_bytes(id).to_vec()].concat());
    mark(ov, [author_index_prefix(&sender), id_bytes(id).to_vec()].concat());
    write(ov, review_key(id), &r);
    Ok(CommerceEvent::ReviewAdded {
        review: id,
        purchase,
        author: sender,
        shop: r.shop,
        product: r.product,
        rating,
    })
}

/// The review `id` that `sender` may like or share: not its author, and with a completed
/// purchase or a KYC attestation.
fn react(ov: &Overlay<'_>, sender: Address, id: u64, what: &str) -> Result<Review, ExecError> {
    let r = known(ov, id)?;
    if r.author == sender {
        return Err(fail(
            REVIEW_OWN,
            format!("{sender} wrote review {id} and cannot {what} it"),
        ));
    }
    if !has_purchase(ov, &sender)?
        && crate::modules::trace::state::kyc(ov, &sender)?.is_none()
    {
        return Err(fail(
            REVIEW_NOT_ELIGIBLE,
            format!(
                "{sender} has no completed purchase and no KYC attestation; only such accounts {what} reviews"
            ),
        ));
    }
    Ok(r)
}
