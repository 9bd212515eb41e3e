//! The commerce module's types: shops, versioned offers (the sale contract's draft), and orders
//! whose payment and seller deposit sit in escrow until the goods arrive (paper §4.8.2, §4.9.1).
//!
//! Amounts are base units of WANT (`u128`). Durations are milliseconds of block time. The rules
//! live in `want_state::modules::commerce`; here is only what crosses the wire.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

pub mod price;

use crate::modules::ModuleCall;
use crate::hash::sha256d_tagged;
use crate::{Address, Amount, Hash32};

/// Shortest shop handle, in bytes (ASCII).
pub const HANDLE_BYTES_MIN: usize = 3;
/// Longest shop handle, in bytes (ASCII).
pub const HANDLE_BYTES_MAX: usize = 32;
/// Longest shop name, in bytes (UTF-8).
pub const SHOP_NAME_BYTES_MAX: usize = 100;
/// Longest trace organisation id a shop may link to, in bytes.
pub const TRACE_ORG_BYTES_MAX: usize = 64;
/// Longest product identifier (a GTIN or a shop SKU), in bytes.
pub const PRODUCT_BYTES_MAX: usize = 64;
/// Longest offer title, in bytes (UTF-8).
pub const TITLE_BYTES_MAX: usize = 200;
/// Longest content identifier (terms, evidence), in bytes.
pub const CID_BYTES_MAX: usize = 128;
/// Longest EPCIS event reference named by a shipment, in bytes.
pub const EPCIS_EVENT_BYTES_MAX: usize = 128;
/// Most evidence CIDs one dispute carries.
pub const EVIDENCE_CIDS_MAX: usize = 16;
/// Longest window or deadline of an offer, in ms (365 days).
pub const WINDOW_MS_MAX: u64 = 365 * 24 * 3_600_000;
/// Most items one order buys.
pub const ORDER_QUANTITY_MAX: u32 = 1_000_000;
/// Most items an offer holds in stock.
pub const STOCK_MAX: u64 = 1_000_000_000_000;
/// Basis points in a whole (10,000 bps = 100 %).
pub const BPS_WHOLE: u16 = 10_000;
/// Fee on a completed order's payment, in basis points (100 = 1 %), paid into the incentive
/// pool.
pub const COMMERCE_FEE_BPS: u16 = 100;
/// Domain tag of an offer's terms hash ([`OfferTerms::hash`]).
pub const TERMS_HASH_TAG: &[u8] = b"want/commerce/terms/v1";

/// The terms of one version of an offer: what a buyer agrees to by naming its hash.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferTerms {
    /// A GTIN (8, 12, 13 or 14 digits) or a shop SKU, at most [`PRODUCT_BYTES_MAX`] bytes.
    pub product: String,
    /// At most [`TITLE_BYTES_MAX`] bytes.
    pub title: String,
    /// Price of one item, in base units of WANT (more than 0).
    #[serde(with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub price: Amount,
    /// What the seller pledges per order item, in base units, locked in escrow at acceptance.
    #[serde(with = "crate::amount::dec")]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
    pub deposit_per_order: Amount,
    /// The seller must accept within this many ms of placement (1..=[`WINDOW_MS_MAX`]).
    pub accept_within_ms: u64,
    /// The seller must ship within this many ms of acceptance (1..=[`WINDOW_MS_MAX`]).
    pub ship_within_ms: u64,
    /// The order completes this many ms after shipping unless the buyer confirmed or disputed
    /// (1..=[`WINDOW_MS_MAX`]).
    pub confirm_window_ms: u64,
    /// A dispute may be opened within this many ms of shipping, while the escrow is held
    /// (1..=[`WINDOW_MS_MAX`]).
    pub dispute_window_ms: u64,
    /// The terms document, content-addressed (at most [`CID_BYTES_MAX`] bytes).
    pub terms_cid: String,
    /// Share of the seller's deposit paid to the buyer when the seller does not ship in time,
    /// in basis points (0..=10,000).
    pub no_ship_deposit_share_bps: u16,
    /// What `price` and `deposit_per_order` are counted in: `"WANT"` (the default; base units)
    /// or a code of [`price::CURRENCIES`] (micro-units of it, converted to WANT at placement at
    /// the current median rate; see [`price`]).
    #[serde(default = "want_currency")]
    pub currency: String,
}

fn want_currency() -> String {
    price::CURRENCY_WANT.to_string()
}

impl OfferTerms {
    /// The hash a buyer names when ordering this version: `sha256d(TERMS_HASH_TAG ‖ borsh(terms))`.
    pub fn hash(&self) -> Hash32 {
        sha256d_tagged(TERMS_HASH_TAG, self)
    }
}

/// Calls of the commerce module. Append variants only (the borsh discriminant is signed).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CommerceCall {
    /// Opens a shop owned by the sender. The handle is lowercase ASCII letters, digits and '-'.
    OpenShop {
        handle: String,
        name: String,
        /// Where the shop's sales are paid.
        payout: Address,
        /// The shop's trace organisation, if any.
        trace_org: Option<String>,
    },
    /// Replaces a shop's name, payout account and trace link (owner only). Orders already
    /// placed keep the payout account they were placed with.
    EditShop {
        handle: String,
        name: String,
        payout: Address,
        trace_org: Option<String>,
    },
    /// Closes a shop (owner only): its offers take no more orders; open orders run to their end.
    /// The handle stays reserved.
    CloseShop { handle: String },
    /// Lists a new offer of a shop (owner only) with `stock` items.
    AddOffer {
        shop: String,
        terms: OfferTerms,
        stock: u64,
    },
    /// Sets an offer's terms and stock (owner only). Changed terms are a new version; placed
    /// orders keep the terms they were placed under.
    UpdateOffer {
        offer: u64,
        terms: OfferTerms,
        stock: u64,
    },
    /// Buys `quantity` items of version `version` (whose terms hash is `terms_hash`) of an
    /// offer; price × quantity moves into escrow at once, at most `max_total`.
    PlaceOrder {
        offer: u64,
        version: u32,
        terms_hash: Hash32,
        quantity: u32,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        max_total: Amount,
    },
    /// The seller accepts an order: deposit × quantity moves from the sender into escrow, at
    /// most `max_deposit`.
    AcceptOrder {
        order: u64,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        max_deposit: Amount,
    },
    /// The seller declines an order: the buyer is refunded.
    DeclineOrder { order: u64 },
    /// The seller marks an accepted order shipped, optionally naming the EPCIS shipping event.
    ShipOrder {
        order: u64,
        epcis_event: Option<String>,
    },
    /// The buyer confirms delivery: the order completes.
    ConfirmDelivery { order: u64 },
    /// The seller refunds part of the payment to the buyer.
    RefundPart {
        order: u64,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        amount: Amount,
    },
    /// Buyer or seller proposes to cancel the order.
    ProposeCancel { order: u64 },
    /// The other party agrees to the proposed cancellation: the buyer is refunded, the deposit
    /// returned.
    AgreeCancel { order: u64 },
    /// Buyer or seller disputes a shipped order; the escrow freezes.
    OpenDispute { order: u64, evidence: Vec<String> },
    /// Buyer or seller proposes how the escrow (payment + deposit) of a disputed order is split:
    /// `buyer_share` to the buyer, the rest to the seller.
    ProposeSettlement {
        order: u64,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        buyer_share: Amount,
    },
    /// The other party accepts the proposed split, naming the same `buyer_share`.
    AcceptSettlement {
        order: u64,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        buyer_share: Amount,
    },
    /// Registers a price reporter (the commerce administrator only).
    RegisterReporter { reporter: Address },
    /// Removes a price reporter and its reports (the commerce administrator only).
    RemoveReporter { reporter: Address },
    /// A registered reporter's rates (each replaces its earlier report of that currency).
    PostPrices { rates: Vec<price::PriceRate> },
}

impl ModuleCall for CommerceCall {
    const TX_BYTES_MAX: usize = crate::TX_BYTES_MAX;
}

/// Which deadline of an order passed.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Deadline {
    /// Not accepted in time: the buyer is refunded.
    Accept,
    /// Not shipped in time: refund plus the deposit's stated share.
    Ship,
    /// The buyer did not confirm in time: the order completes.
    Confirm,
}

/// Events of the commerce module. Append variants only.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(tag = "type")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CommerceEvent {
    ShopOpened {
        handle: String,
        owner: Address,
    },
    ShopEdited {
        handle: String,
    },
    ShopClosed {
        handle: String,
    },
    OfferAdded {
        offer: u64,
        shop: String,
    },
    /// The offer's terms (a new version) or stock changed.
    OfferUpdated {
        offer: u64,
        version: u32,
        stock: u64,
    },
    OrderPlaced {
        order: u64,
        offer: u64,
        version: u32,
        buyer: Address,
        quantity: u32,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        total: Amount,
    },
    OrderAccepted {
        order: u64,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        deposit: Amount,
    },
    OrderDeclined {
        order: u64,
    },
    OrderShipped {
        order: u64,
        epcis_event: Option<String>,
    },
    OrderPartRefunded {
        order: u64,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        amount: Amount,
    },
    /// Completed by the buyer's confirmation or the end of the confirmation window: the seller
    /// was paid `seller_amount`, `fee` went to the incentive pool, the deposit returned.
    OrderCompleted {
        order: u64,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        seller_amount: Amount,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        fee: Amount,
    },
    /// A deadline passed: the order ended with `buyer_amount` to the buyer.
    OrderExpired {
        order: u64,
        deadline: Deadline,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        buyer_amount: Amount,
    },
    OrderCancelProposed {
        order: u64,
        by: Address,
    },
    OrderCancelled {
        order: u64,
    },
    OrderDisputed {
        order: u64,
        by: Address,
    },
    OrderSettlementProposed {
        order: u64,
        by: Address,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        buyer_share: Amount,
    },
    /// A disputed order ended by a split both parties signed (`ruled` false) or by a ruling of
    /// the arbitration module (`ruled` true).
    OrderSettled {
        order: u64,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        buyer_amount: Amount,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        seller_amount: Amount,
        ruled: bool,
    },
    PriceReporterRegistered {
        reporter: Address,
    },
    PriceReporterRemoved {
        reporter: Address,
    },
    /// A reporter posted `rates` rates.
    PricesPosted {
        reporter: Address,
        rates: u32,
    },
}
