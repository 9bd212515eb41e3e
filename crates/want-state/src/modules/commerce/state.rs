//! The commerce module's state: every key under `commerce/`, every value borsh.
//!
//! | key | value |
//! |---|---|
//! | `commerce/seq/offer` | last offer id (u64 BE; ids start at 1) |
//! | `commerce/seq/order` | last order id (u64 BE; ids start at 1) |
//! | `commerce/handle/ ‖ folded handle` | the handle holding that look-alike class (UTF-8) |
//! | `commerce/shop/ ‖ handle` | [`Shop`] |
//! | `commerce/offer/ ‖ id (u64 BE)` | [`Offer`] (its current version) |
//! | `commerce/offer-terms/ ‖ offer id (u64 BE) ‖ version (u32 BE)` | `OfferTerms`: the whole terms of a version, written at its first order and kept (orders keep only [`OrderTerms`] and the hash) |
//! | `commerce/order/ ‖ id (u64 BE)` | [`Order`] |
//! | `commerce/purchase/ ‖ buyer (21 bytes) ‖ order id (u64 BE)` | [`PurchaseRecord`] (a till payment's id takes the order id's place) |
//! | `commerce/till-key/ ‖ handle ‖ / ‖ key (21 bytes)` | block time it was added (u64 BE) ([`super::till`]) |
//! | `commerce/till-keys/ ‖ handle` | how many till keys the shop has (u64 BE) |
//! | `commerce/till-payment/ ‖ id (u64 BE)` | [`super::till::TillPayment`] (ids from `commerce/seq/order`) |
//! | `commerce/till-request/ ‖ request hash (32 bytes)` | id of the payment that paid it (u64 BE) |
//! | `commerce/shop-offer/ ‖ handle ‖ / ‖ offer id (u64 BE)` | empty: the shop's offers, by id |
//! | `commerce/buyer-order/ ‖ buyer (21 bytes) ‖ order id (u64 BE)` | empty: the buyer's live orders (removed at retirement) |
//! | `commerce/shop-order/ ‖ handle ‖ / ‖ order id (u64 BE)` | empty: the shop's live orders (removed at retirement) |
//! | `commerce/retired/ ‖ id (u64 BE)` | [`RetiredOrder`]: a final order, [`ORDER_RETENTION_MS`] after it closed (its `commerce/order/` entry is gone) |
//! | `commerce/seq/review`, `commerce/review…`, `commerce/r…/`, `commerce/rating/…` | reviews, their versions, indexes, aggregates, likes and shares: the table of [`super::review`] |
//! | `commerce/admin` | the commerce administrator ([`Address`]; genesis `commerce.admin`) |
//! | `commerce/reporter/ ‖ address (21 bytes)` | empty: a registered price reporter |
//! | `commerce/report/ ‖ currency ‖ '/' ‖ reporter (21 bytes)` | [`super::price::PriceReport`] |
//!
//! Escrowed WANT sits in the token balance of the system account [`escrow`]; the module keeps no
//! amount of its own beside each order's record of what it holds ([`Order::escrowed`]).
//!
//! **Handle look-alikes.** A handle is stored under its folded form ([`fold_handle`]): digits
//! that look like letters become those letters (`0`→`o`, `1`→`l`, `2`→`z`, `3`→`e`, `4`→`a`,
//! `5`→`s`, `6`→`g`, `7`→`t`, `8`→`b`, `9`→`g`), `i` and `j` become `l`, `-` is dropped, then
//! `rn` becomes `m` and `vv` becomes `w`. Two handles with one folded form cannot both exist
//! (`sh0p` and `shop`, `b-ook` and `book`, `rnart` and `mart`). Handles are lowercase only, so
//! uniqueness is case-insensitive too.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::Serialize;
use want_types::address::ADDRESS_LEN;
use want_types::hash::sha256d_tagged;
use want_types::modules::commerce::{OfferTerms, ORDER_RETENTION_MS, ORDER_STATE_HASH_TAG};
use want_types::{Address, Amount, Hash32};

use crate::failure::{overflow, ExecError};
use crate::kernel::schedule::ScheduleId;
use crate::store::{read_u64, Overlay};
use crate::{StateError, StateView};

/// Prefix of every key of the module.
pub const PREFIX: &[u8] = b"commerce/";
/// Key of the last offer id.
pub const OFFER_SEQ_KEY: &[u8] = b"commerce/seq/offer";
/// Key of the last order id.
pub const ORDER_SEQ_KEY: &[u8] = b"commerce/seq/order";
/// Prefix of the folded handles.
pub const HANDLE_PREFIX: &[u8] = b"commerce/handle/";
/// Prefix of the shops.
pub const SHOP_PREFIX: &[u8] = b"commerce/shop/";
/// Prefix of the offers.
pub const OFFER_PREFIX: &[u8] = b"commerce/offer/";
/// Prefix of every version's terms of every offer (kept for good: orders name them).
pub const OFFER_TERMS_PREFIX: &[u8] = b"commerce/offer-terms/";
/// Prefix of the orders.
pub const ORDER_PREFIX: &[u8] = b"commerce/order/";
/// Prefix of the purchase records.
pub const PURCHASE_PREFIX: &[u8] = b"commerce/purchase/";
/// Prefix of the retired orders.
pub const RETIRED_PREFIX: &[u8] = b"commerce/retired/";
/// Prefix of the index of offers by shop.
pub const SHOP_OFFER_PREFIX: &[u8] = b"commerce/shop-offer/";
/// Prefix of the index of live orders by buyer.
pub const BUYER_ORDER_PREFIX: &[u8] = b"commerce/buyer-order/";
/// Prefix of the index of live orders by shop.
pub const SHOP_ORDER_PREFIX: &[u8] = b"commerce/shop-order/";

/// The system account holding every order's payment and deposit.
pub fn escrow() -> Address {
    Address::system("commerce-escrow")
}

/// A shop.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Shop {
    pub handle: String,
    pub name: String,
    /// Who opened it: the only account that may edit or close it, list offers and act as the
    /// seller of its orders (accept, ship, refund, cancel, settle). It pays the deposits.
    pub owner: Address,
    /// Where sales are paid.
    pub payout: Address,
    pub trace_org: Option<String>,
    pub closed: bool,
    pub opened_ms: u64,
}

/// The current version of an offer.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Offer {
    pub id: u64,
    pub shop: String,
    /// Starts at 1; grows by one each time the terms change.
    pub version: u32,
    pub terms: OfferTerms,
    /// `terms.hash()`, which an order names.
    pub terms_hash: Hash32,
    pub stock: u64,
    pub updated_ms: u64,
}

/// Where an order stands. `Completed`, `Declined`, `Cancelled`, `Expired` and `Settled` are
/// final: nothing moves an order out of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Paid into escrow, waiting for the seller.
    Placed,
    /// The seller's deposit is in escrow; waiting for shipment.
    Accepted,
    /// Shipped; waiting for the buyer's confirmation or the window's end.
    Shipped,
    /// Frozen until a settlement both parties sign, or a ruling.
    Disputed,
    Completed,
    Declined,
    Cancelled,
    /// A deadline passed (accept or ship).
    Expired,
    Settled,
}

impl OrderStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderStatus::Completed
                | OrderStatus::Declined
                | OrderStatus::Cancelled
                | OrderStatus::Expired
                | OrderStatus::Settled
        )
    }
}

/// An order: a sale contract under one version of an offer.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Order {
    pub id: u64,
    pub offer: u64,
    pub version: u32,
    pub shop: String,
    /// What the order's execution needs of the terms it was placed under (a later offer
    /// version never changes them); the whole terms are kept once per offer version
    /// ([`offer_terms`]), not in every order.
    pub terms: OrderTerms,
    /// The hash of the whole terms (`OfferTerms::hash`) of that offer version.
    pub terms_hash: Hash32,
    pub buyer: Address,
    /// The shop's owner at placement: accepts, ships, pays and gets back the deposit.
    pub seller: Address,
    /// The shop's payout account at placement: receives the payment.
    pub payout: Address,
    pub quantity: u32,
    /// Price × quantity, paid into escrow at placement.
    #[serde(with = "want_types::amount::dec")]
    pub paid: Amount,
    /// Paid back to the buyer by the seller's partial refunds.
    #[serde(with = "want_types::amount::dec")]
    pub refunded: Amount,
    /// The seller's deposit in escrow (0 until accepted).
    #[serde(with = "want_types::amount::dec")]
    pub deposit: Amount,
    pub status: OrderStatus,
    pub placed_ms: u64,
    pub accepted_ms: Option<u64>,
    pub shipped_ms: Option<u64>,
    /// When it reached its final state.
    pub closed_ms: Option<u64>,
    /// The deadline of the current state (accept, ship or confirmation), if one runs.
    pub deadline_ms: Option<u64>,
    /// Its entry on the kernel's schedule for that deadline.
    #[serde(skip)]
    pub trigger: Option<ScheduleId>,
    pub epcis_event: Option<String>,
    /// A cancellation proposed by this party, waiting for the other.
    pub cancel_proposed_by: Option<Address>,
    pub disputed_by: Option<Address>,
    pub evidence: Vec<String>,
    /// The latest settlement proposed by a party: (proposer, buyer's share); the other party
    /// accepts it by naming the same share.
    pub settlement: Option<(Address, Amount)>,
    /// The buyer's standing settlement proposal (its latest buyer's share), if any: what the
    /// dispute's lapse splits by (see [`want_types::modules::commerce::DISPUTE_LAPSE_MS`]).
    #[serde(with = "want_types::amount::dec_opt")]
    pub buyer_proposal: Option<Amount>,
    /// The seller's standing settlement proposal (its latest buyer's share), if any.
    #[serde(with = "want_types::amount::dec_opt")]
    pub seller_proposal: Option<Amount>,
    /// Who receives the goods and where, named by the buyer: a `receiving` event there
    /// confirms delivery.
    pub delivery: Option<Delivery>,
    /// The currency of the terms' price and deposit (`"WANT"` or a code of the price list).
    pub currency: String,
    /// For an offer in another currency, the median rate the order converted at (WANT base
    /// units per unit of `currency`); `None` for WANT.
    pub rate: Option<Amount>,
    /// The deposit the seller locks at acceptance, in base units: deposit × quantity, converted
    /// at `rate` at placement for an offer in another currency.
    #[serde(with = "want_types::amount::dec")]
    pub deposit_due: Amount,
}

/// What an order keeps of its offer version's terms: the deadlines, the no-ship share and the
/// product. The title, price and deposit per item and the terms document stay in the offer
/// version's record, once for all its orders (the order has what it paid, the deposit due and
/// the currency): an order is written at every step of its life, so every byte it carries is
/// written four times or more.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct OrderTerms {
    pub product: String,
    pub accept_within_ms: u64,
    pub ship_within_ms: u64,
    pub confirm_window_ms: u64,
    pub dispute_window_ms: u64,
    pub no_ship_deposit_share_bps: u16,
}

impl OrderTerms {
    pub fn of(t: &OfferTerms) -> OrderTerms {
        OrderTerms {
            product: t.product.clone(),
            accept_within_ms: t.accept_within_ms,
            ship_within_ms: t.ship_within_ms,
            confirm_window_ms: t.confirm_window_ms,
            dispute_window_ms: t.dispute_window_ms,
            no_ship_deposit_share_bps: t.no_ship_deposit_share_bps,
        }
    }
}

/// Where an order's goods are received (see `CommerceCall::SetDelivery`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct Delivery {
    /// The trace organisation that receives the goods.
    pub org: String,
    /// `delivery_location_hash` of the location URI its receiving event publishes.
    pub location_hash: Hash32,
}

impl Order {
    /// What the escrow holds for this order: payment less refunds, plus the deposit (0 once
    /// final).
    pub fn escrowed(&self) -> Result<Amount, ExecError> {
        if self.status.is_final() {
            return Ok(0);
        }
        self.paid
            .checked_sub(self.refunded)
            .and_then(|net| net.checked_add(self.deposit))
            .ok_or_else(|| overflow("an order's escrow"))
    }

    /// Payment less refunds.
    pub fn net_paid(&self) -> Amount {
        self.paid.saturating_sub(self.refunded)
    }

    /// Whether `who` is the buyer or the seller.
    pub fn is_party(&self, who: &Address) -> bool {
        *who == self.buyer || *who == self.seller
    }

    /// `sha256d(ORDER_STATE_HASH_TAG ‖ borsh(order))`: what a retired order keeps of its final
    /// state, so anyone holding the full record (an indexer, a party's wallet, an archive node
    /// at an earlier height) can prove it.
    pub fn state_hash(&self) -> Hash32 {
        sha256d_tagged(ORDER_STATE_HASH_TAG, self)
    }
}

/// What remains of a final order once retired: a summary and the hash of its final state.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct RetiredOrder {
    pub id: u64,
    pub offer: u64,
    pub version: u32,
    /// The hash of the terms it was placed under.
    pub terms_hash: Hash32,
    pub shop: String,
    pub product: String,
    pub buyer: Address,
    pub seller: Address,
    pub payout: Address,
    pub quantity: u32,
    #[serde(with = "want_types::amount::dec")]
    pub paid: Amount,
    #[serde(with = "want_types::amount::dec")]
    pub refunded: Amount,
    /// The seller's deposit it held (0 if never accepted).
    #[serde(with = "want_types::amount::dec")]
    pub deposit: Amount,
    /// Its final state.
    pub status: OrderStatus,
    pub placed_ms: u64,
    pub closed_ms: u64,
    pub retired_ms: u64,
    /// [`Order::state_hash`] of its final state.
    pub final_state_hash: Hash32,
}

impl RetiredOrder {
    /// The summary of the final order `o`, retired at `now_ms`.
    pub fn of(o: &Order, now_ms: u64) -> RetiredOrder {
        RetiredOrder {
            id: o.id,
            offer: o.offer,
            version: o.version,
            terms_hash: o.terms_hash,
            shop: o.shop.clone(),
            product: o.terms.product.clone(),
            buyer: o.buyer,
            seller: o.seller,
            payout: o.payout,
            quantity: o.quantity,
            paid: o.paid,
            refunded: o.refunded,
            deposit: o.deposit,
            status: o.status,
            placed_ms: o.placed_ms,
            closed_ms: o.closed_ms.unwrap_or(now_ms),
            retired_ms: now_ms,
            final_state_hash: o.state_hash(),
        }
    }
}

/// When a final order closed at `closed_ms` is retired.
pub fn retire_at(closed_ms: u64) -> u64 {
    closed_ms.saturating_add(ORDER_RETENTION_MS)
}

/// A completed purchase, for reviews, credit scoring and consumption mining.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
pub struct PurchaseRecord {
    pub order: u64,
    pub buyer: Address,
    pub shop: String,
    pub product: String,
    /// What the buyer paid, less refunds.
    #[serde(with = "want_types::amount::dec")]
    pub amount: Amount,
    /// When the order completed.
    pub time_ms: u64,
    /// What made it: a completed order, or a payment at the till (whose id, from the orders'
    /// sequence, is then `order`).
    pub source: PurchaseSource,
}

/// What made a purchase record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseSource {
    /// A completed order (`PurchaseRecord::order` is the order's id).
    Order,
    /// A payment at the till (`PurchaseRecord::order` is the payment's id).
    Till,
}

/// The folded form of a handle (see the module header): look-alikes fold to one string.
pub fn fold_handle(handle: &str) -> String {
    let mapped: String = handle
        .chars()
        .filter(|c| *c != '-')
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' | 'j' => 'l',
            '2' => 'z',
            '3' => 'e',
            '4' => 'a',
            '5' => 's',
            '6' | '9' => 'g',
            '7' => 't',
            '8' => 'b',
            other => other,
        })
        .collect();
    mapped.replace("rn", "m").replace("vv", "w")
}

pub fn handle_key(folded: &str) -> Vec<u8> {
    [HANDLE_PREFIX, folded.as_bytes()].concat()
}

pub fn shop_key(handle: &str) -> Vec<u8> {
    [SHOP_PREFIX, handle.as_bytes()].concat()
}

pub fn offer_key(id: u64) -> Vec<u8> {
    [OFFER_PREFIX, &id.to_be_bytes()].concat()
}

pub fn order_key(id: u64) -> Vec<u8> {
    [ORDER_PREFIX, &id.to_be_bytes()].concat()
}

pub fn retired_key(id: u64) -> Vec<u8> {
    [RETIRED_PREFIX, &id.to_be_bytes()].concat()
}

/// Where the index entries of a shop's offers start (handles hold no `/`).
pub fn shop_offers_prefix(handle: &str) -> Vec<u8> {
    [SHOP_OFFER_PREFIX, handle.as_bytes(), b"/"].concat()
}

/// Where the index entries of a buyer's live orders start.
pub fn buyer_orders_prefix(buyer: &Address) -> Vec<u8> {
    [BUYER_ORDER_PREFIX, &buyer.0[..]].concat()
}

/// Where the index entries of a shop's live orders start (handles hold no `/`).
pub fn shop_orders_prefix(handle: &str) -> Vec<u8> {
    [SHOP_ORDER_PREFIX, handle.as_bytes(), b"/"].concat()
}

/// Writes the index entries of a new order (by buyer and by shop).
pub(crate) fn index_order(ov: &mut Overlay<'_>, o: &Order) {
    let id = o.id.to_be_bytes();
    ov.put([buyer_orders_prefix(&o.buyer), id.to_vec()].concat(), Vec::new());
    ov.put([shop_orders_prefix(&o.shop), id.to_vec()].concat(), Vec::new());
}

/// Removes the index entries of an order that retires.
pub(crate) fn unindex_order(ov: &mut Overlay<'_>, o: &Order) {
    let id = o.id.to_be_bytes();
    ov.delete([buyer_orders_prefix(&o.buyer), id.to_vec()].concat());
    ov.delete([shop_orders_prefix(&o.shop), id.to_vec()].concat());
}

pub fn purchase_key(buyer: &Address, order: u64) -> Vec<u8> {
    [PURCHASE_PREFIX, &buyer.0, &order.to_be_bytes()].concat()
}

/// Reads and decodes one value; a value that does not decode is corrupt.
pub(crate) use crate::store::{read_borsh as read, write_borsh as write};

/// The shop of `handle`, if any.
pub fn shop(view: &dyn StateView, handle: &str) -> Result<Option<Shop>, StateError> {
    read(view, &shop_key(handle), "shop")
}

/// The handle holding the look-alike class of `handle`, if any.
pub fn handle_holder(view: &dyn StateView, handle: &str) -> Result<Option<String>, StateError> {
    let key = handle_key(&fold_handle(handle));
    view.get(&key)?
        .map(|b| String::from_utf8(b).map_err(|e| StateError::corrupt(&key, format!("handle: {e}"))))
        .transpose()
}

/// The offer `id`, if any.
pub fn offer(view: &dyn StateView, id: u64) -> Result<Option<Offer>, StateError> {
    read(view, &offer_key(id), "offer")
}

pub fn offer_terms_key(offer: u64, version: u32) -> Vec<u8> {
    [
        OFFER_TERMS_PREFIX,
        &offer.to_be_bytes(),
        &version.to_be_bytes(),
    ]
    .concat()
}

/// The terms of version `version` of offer `offer`, if that version has had an order.
pub fn offer_terms(
    view: &dyn StateView,
    offer: u64,
    version: u32,
) -> Result<Option<OfferTerms>, StateError> {
    read(view, &offer_terms_key(offer, version), "offer terms")
}

/// Keeps the terms of version `version` of offer `offer` unless they are kept already (written
/// at the version's first order).
pub(crate) fn keep_offer_terms(
    ov: &mut Overlay<'_>,
    offer: u64,
    version: u32,
    terms: &OfferTerms,
) -> Result<(), StateError> {
    let key = offer_terms_key(offer, version);
    if ov.get(&key)?.is_none() {
        write(ov, key, terms);
    }
    Ok(())
}

/// The order `id`, if any.
pub fn order(view: &dyn StateView, id: u64) -> Result<Option<Order>, StateError> {
    read(view, &order_key(id), "order")
}

/// The retired order `id`, if it was retired.
pub fn retired_order(view: &dyn StateView, id: u64) -> Result<Option<RetiredOrder>, StateError> {
    read(view, &retired_key(id), "retired order")
}

/// The purchase record of `buyer`'s completed order `order`, if any. Other modules (reviews,
/// credit, mining) read purchases through this and [`super::query::purchases`].
pub fn purchase(
    view: &dyn StateView,
    buyer: &Address,
    order: u64,
) -> Result<Option<PurchaseRecord>, StateError> {
    read(view, &purchase_key(buyer, order), "purchase record")
}

/// Takes the next id of a sequence (1 for the first).
pub(crate) fn next_id(ov: &mut Overlay<'_>, key: &[u8]) -> Result<u64, ExecError> {
    let next = read_u64(ov, key)?
        .checked_add(1)
        .ok_or_else(|| overflow("an id sequence"))?;
    ov.put(key.to_vec(), next.to_be_bytes().to_vec());
    Ok(next)
}

/// The buyer and order id of a purchase key.
pub(crate) fn parse_purchase_key(key: &[u8]) -> Result<(Address, u64), StateError> {
    let tail = key.get(PURCHASE_PREFIX.len()..).unwrap_or_default();
    let (Ok(raw), Some(Ok(id))) = (
        <[u8; ADDRESS_LEN]>::try_from(tail.get(..ADDRESS_LEN).unwrap_or_default()),
        tail.get(ADDRESS_LEN..).map(<[u8; 8]>::try_from),
    ) else {
        return Err(StateError::corrupt(key, "purchase key of the wrong length"));
    };
    Ok((Address(raw), u64::from_be_bytes(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alike_handles_fold_to_one_key() {
        for (a, b) in [
            ("shop", "sh0p"),
            ("mall", "ma11"),
            ("mall", "mail"),
            ("mart", "rnart"),
            ("web", "vveb"),
            ("book", "b-ook"),
            ("sea", "5e4"),
        ] {
            assert_eq!(fold_handle(a), fold_handle(b), "{a} {b}");
        }
        assert_ne!(fold_handle("shop"), fold_handle("shoe"));
    }
}
