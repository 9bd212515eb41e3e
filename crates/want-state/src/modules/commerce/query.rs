//! Reads of the commerce module: a shop, an offer, an order, a purchase, and pages of offers,
//! orders and a buyer's purchases.

use want_types::{Address, Amount};

use super::state::{
    escrow, parse_purchase_key, Offer, Order, PurchaseRecord, OFFER_PREFIX, ORDER_PREFIX,
    PURCHASE_PREFIX,
};
use crate::store::{page, Page};
use crate::{StateError, StateView};

pub use super::state::{handle_holder, offer, order, purchase, shop};

/// Most offers one page of [`offers`] returns.
pub const OFFERS_PAGE_MAX: usize = 100;
/// Most orders one page of [`orders`] returns.
pub const ORDERS_PAGE_MAX: usize = 100;
/// Most purchase records one page of [`purchases`] returns.
pub const PURCHASES_PAGE_MAX: usize = 100;

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
