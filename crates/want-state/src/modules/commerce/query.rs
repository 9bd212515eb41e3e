//! Reads of the commerce module: a shop, an offer, an order, a purchase, and pages of offers,
//! orders and a buyer's purchases. Offers of one shop and live orders of one buyer or shop are
//! read through their indexes (`state.rs`); orders of one buyer *and* one shop are the buyer's
//! filtered by shop, so one such page reads at most [`FILTER_SCAN_MAX`] entries and may answer
//! fewer items than asked with a cursor to go on from.

use want_types::{Address, Amount};

use super::state::{
    buyer_orders_prefix, escrow, parse_purchase_key, shop_offers_prefix, shop_orders_prefix, Offer,
    Order, PurchaseRecord, OFFER_PREFIX, ORDER_PREFIX, PURCHASE_PREFIX,
};
use crate::store::{page, Page};
use crate::{StateError, StateView};

pub use super::state::{handle_holder, offer, offer_terms, order, purchase, retired_order, shop};

/// Most offers one page of [`offers`] returns.
pub const OFFERS_PAGE_MAX: usize = 100;
/// Most orders one page of [`orders`] returns.
pub const ORDERS_PAGE_MAX: usize = 100;
/// Most purchase records one page of [`purchases`] returns.
pub const PURCHASES_PAGE_MAX: usize = 100;
/// Most stored offers or orders one filtered page ([`offers_of_shop`], [`orders_where`]) reads,
/// matching or not, before it answers with what it found and the cursor of the last one read.
pub const FILTER_SCAN_MAX: usize = 2_000;

fn id_of(prefix: &[u8], key: &[u8]) -> Result<u64, StateError> {
    key.get(prefix.len()..)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StateError::corrupt(key, "id key of the wrong length"))
}

/// Offers by id, at most `limit` (clamped to [`OFFERS_PAGE_MAX`]) after the id `after`.
pub fn offers(
    view: &dyn StateView,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<Offer, u64>, StateError> {
    let after = after.map(u64::to_be_bytes);
    page(
        view,
        OFFER_PREFIX,
        after.as_ref().map(|a| &a[..]),
        limit.clamp(1, OFFERS_PAGE_MAX),
        |k, v| {
            id_of(OFFER_PREFIX, k)?;
            borsh::from_slice(v).map_err(|e| StateError::corrupt(k, format!("offer: {e}")))
        },
        |o: &Offer| o.id,
    )
}

/// Orders by id, at most `limit` (clamped to [`ORDERS_PAGE_MAX`]) after the id `after`.
pub fn orders(
    view: &dyn StateView,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<Order, u64>, StateError> {
    let after = after.map(u64::to_be_bytes);
    page(
        view,
        ORDER_PREFIX,
        after.as_ref().map(|a| &a[..]),
        limit.clamp(1, ORDERS_PAGE_MAX),
        |k, v| {
            id_of(ORDER_PREFIX, k)?;
            borsh::from_slice(v).map_err(|e| StateError::corrupt(k, format!("order: {e}")))
        },
        |o: &Order| o.id,
    )
}

/// The items of the pages `fetch(cursor)` returns (in id order, from `after`) that `keep`
/// accepts, at most `limit`, reading at most [`FILTER_SCAN_MAX`] items. The next cursor is the
/// id of the last item read when more may follow (also when the page holds fewer than `limit`
/// because the scan bound was reached). A corrupt entry fails the page, never skipped.
pub(crate) fn filtered<T>(
    mut fetch: impl FnMut(Option<u64>) -> Result<Page<T, u64>, StateError>,
    id: impl Fn(&T) -> u64,
    after: Option<u64>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T, u64>, StateError> {
    let mut items = Vec::new();
    let mut cursor = after;
    let mut scanned = 0usize;
    loop {
        let Page { items: batch, next } = fetch(cursor)?;
        let n = batch.len();
        for (i, t) in batch.into_iter().enumerate() {
            scanned += 1;
            cursor = Some(id(&t));
            if keep(&t) {
                items.push(t);
            }
            if items.len() >= limit || scanned >= FILTER_SCAN_MAX {
                let more = i + 1 < n || next.is_some();
                return Ok(Page {
                    items,
                    next: if more { cursor } else { None },
                });
            }
        }
        if next.is_none() || n == 0 {
            return Ok(Page { items, next: None });
        }
    }
}

/// One page of an index whose keys are `prefix ‖ id (u64 BE)`: the items `load(id)` finds, at
/// most `limit` after the id `after`. An index entry whose item is missing is corrupt.
fn indexed<T>(
    view: &dyn StateView,
    prefix: &[u8],
    after: Option<u64>,
    limit: usize,
    what: &str,
    load: impl Fn(u64) -> Result<Option<T>, StateError>,
    id: impl Fn(&T) -> u64,
) -> Result<Page<T, u64>, StateError> {
    let after = after.map(u64::to_be_bytes);
    page(
        view,
        prefix,
        after.as_ref().map(|a| &a[..]),
        limit,
        |k, _| {
            let n = id_of(prefix, k)?;
            load(n)?.ok_or_else(|| StateError::corrupt(k, format!("index entry of a missing {what}")))
        },
        id,
    )
}

/// The offers of shop `shop` by id, at most `limit` (clamped to [`OFFERS_PAGE_MAX`]) after the
/// id `after` (from the index `commerce/shop-offer/`).
pub fn offers_of_shop(
    view: &dyn StateView,
    shop: &str,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<Offer, u64>, StateError> {
    indexed(
        view,
        &shop_offers_prefix(shop),
        after,
        limit.clamp(1, OFFERS_PAGE_MAX),
        "offer",
        |id| super::state::offer(view, id),
        |o: &Offer| o.id,
    )
}

/// The live orders whose buyer is `buyer` (if given) and whose shop is `shop` (if given), by
/// id, at most `limit` (clamped to [`ORDERS_PAGE_MAX`]) after the id `after`. One of them given:
/// its index; both: the buyer's index filtered by shop, reading at most [`FILTER_SCAN_MAX`]
/// orders (see [`filtered`]); neither: every order.
pub fn orders_where(
    view: &dyn StateView,
    buyer: Option<&Address>,
    shop: Option<&str>,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<Order, u64>, StateError> {
    let limit = limit.clamp(1, ORDERS_PAGE_MAX);
    let load = |id| super::state::order(view, id);
    match (buyer, shop) {
        (None, None) => orders(view, after, limit),
        (None, Some(shop)) => indexed(
            view,
            &shop_orders_prefix(shop),
            after,
            limit,
            "order",
            load,
            |o: &Order| o.id,
        ),
        (Some(buyer), None) => indexed(
            view,
            &buyer_orders_prefix(buyer),
            after,
            limit,
            "order",
            load,
            |o: &Order| o.id,
        ),
        (Some(buyer), Some(shop)) => {
            let prefix = buyer_orders_prefix(buyer);
            filtered(
                |c| indexed(view, &prefix, c, ORDERS_PAGE_MAX, "order", load, |o: &Order| o.id),
                |o: &Order| o.id,
                after,
                limit,
                |o| o.shop == shop,
            )
        }
    }
}

/// The purchase records of `buyer` by order id, at most `limit` (clamped to
/// [`PURCHASES_PAGE_MAX`]) after the order `after`. Reviews, credit scoring and consumption
/// mining read purchases here.
pub fn purchases(
    view: &dyn StateView,
    buyer: &Address,
    after: Option<u64>,
    limit: usize,
) -> Result<Page<PurchaseRecord, u64>, StateError> {
    let prefix = [PURCHASE_PREFIX, &buyer.0].concat();
    let after = after.map(u64::to_be_bytes);
    page(
        view,
        &prefix,
        after.as_ref().map(|a| &a[..]),
        limit.clamp(1, PURCHASES_PAGE_MAX),
        |k, v| {
            parse_purchase_key(k)?;
            borsh::from_slice(v)
                .map_err(|e| StateError::corrupt(k, format!("purchase record: {e}")))
        },
        |p: &PurchaseRecord| p.order,
    )
}

/// The WANT the escrow account holds, in base units.
pub fn escrow_balance(view: &dyn StateView) -> Result<Amount, StateError> {
    crate::modules::token::state::balance(view, &escrow())
}
