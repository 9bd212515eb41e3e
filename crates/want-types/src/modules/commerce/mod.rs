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

pub mod till;
pub use till::*;

pub mod order_urn;
pub use order_urn::*;

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
/// Shortest time a seller may give itself to accept or to ship, in ms (1 s: block times are
/// whole seconds apart at best, a shorter window means nothing).
pub const SELLER_WINDOW_MS_MIN: u64 = 1_000;
/// Shortest confirmation or dispute window, in ms (1 hour): after shipping, a buyer always has
/// at least this long to confirm or dispute before the order completes on its own.
pub const BUYER_WINDOW_MS_MIN: u64 = 3_600_000;
/// How long a dispute may stay unsettled, in ms from its opening (30 days). Then it lapses
/// (the order's `Dispute` deadline): the escrow is split by the parties' standing proposals —
/// the one proposal if only one party made one, the midpoint of the two if both did, and the
/// payment back to the buyer and the deposit back to the seller if neither did — so that no
/// silent party can freeze an escrow for ever.
pub const DISPUTE_LAPSE_MS: u64 = 30 * 24 * 3_600_000;
/// Most items one order buys.
pub const ORDER_QUANTITY_MAX: u32 = 1_000_000;
/// Most items an offer holds in stock.
pub const STOCK_MAX: u64 = 1_000_000_000_000;
/// How long a final order stays whole in state, in ms from its closing (90 days). Then it is
/// retired: its record is replaced by a compact summary and the hash of its final state
/// (queries still answer for it by id); its purchase record stays.
pub const ORDER_RETENTION_MS: u64 = 90 * 24 * 3_600_000;
/// Domain tag of an order's final state hash (`sha256d(tag ‖ borsh(order))`), kept when it is
/// retired.
/// (v2 since an order keeps only [`OrderTerms`]-like fields of its terms, not the whole terms.)
pub const ORDER_STATE_HASH_TAG: &[u8] = b"want/commerce/order/v2";
/// Domain tag of a delivery location's hash ([`delivery_location_hash`]).
pub const DELIVERY_LOCATION_TAG: &[u8] = b"want/commerce/location/v1";
/// Longest delivery location URI the CLI hashes, in bytes.
pub const DELIVERY_LOCATION_BYTES_MAX: usize = 512;
/// How far after the block time a receiving event's published time may lie, in ms (5 min of
/// clock skew between the receiving desk and the chain).
pub const RECEIVING_EVENT_AHEAD_MS_MAX: u64 = 300_000;
/// The CBV business step of an EPCIS event that confirms a delivery.
pub const RECEIVING_BIZ_STEP: &str = "receiving";
/// Basis points in a whole (10,000 bps = 100 %).
pub const BPS_WHOLE: u16 = 10_000;
/// Fee on a completed order's payment, in basis points (100 = 1 %), paid into the incentive
/// pool.
pub const COMMERCE_FEE_BPS: u16 = 100;
/// Fewest stars of a review.
pub const REVIEW_RATING_MIN: u8 = 1;
/// Most stars of a review.
pub const REVIEW_RATING_MAX: u8 = 5;
/// Most versions one review keeps (the first plus edits).
pub const REVIEW_VERSIONS_MAX: u32 = 32;
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
    /// The seller must accept within this many ms of placement
    /// ([`SELLER_WINDOW_MS_MIN`]..=[`WINDOW_MS_MAX`]).
    pub accept_within_ms: u64,
    /// The seller must ship within this many ms of acceptance
    /// ([`SELLER_WINDOW_MS_MIN`]..=[`WINDOW_MS_MAX`]).
    pub ship_within_ms: u64,
    /// The order completes this many ms after shipping unless the buyer confirmed or disputed
    /// ([`BUYER_WINDOW_MS_MIN`]..=[`WINDOW_MS_MAX`]).
    pub confirm_window_ms: u64,
    /// A dispute may be opened within this many ms of shipping, while the escrow is held
    /// ([`BUYER_WINDOW_MS_MIN`]..=[`WINDOW_MS_MAX`]).
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
        /// The shop's trace organisation, if any: the signer must hold an active key of it.
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
    /// Anyone runs an order's deadline that has passed but whose trigger has not run yet (a
    /// backlog on the schedule, or a trigger that failed): it does what the trigger would.
    RunDeadline { order: u64 },
    /// The buyer names who receives the goods and where: a trace organisation (a pickup point,
    /// the buyer's shop or warehouse) and the hash of the location URI (EPCIS `bizLocation`, or
    /// `readPoint`; [`delivery_location_hash`]), so the order shows no address in clear. A
    /// `receiving` event that organisation anchors there after shipping then confirms delivery
    /// ([`CommerceCall::ConfirmByEvent`]).
    SetDelivery {
        order: u64,
        org: String,
        location_hash: Hash32,
    },
    /// A key of the order's delivery organisation (with a role that may sign `receiving`)
    /// confirms delivery by the `receiving` event its organisation anchored at the delivery
    /// location after shipping (its EPCIS event hash): the order completes. The key vouches that
    /// the sealed event names the order among its business transactions, which the chain cannot
    /// read.
    ConfirmByEvent { order: u64, event_hash: Hash32 },
    /// Registers a till key of a shop (owner only): it may sign the shop's payment requests.
    AddTillKey { shop: String, key: Address },
    /// Removes a till key of a shop (owner only): requests it signed can no longer be paid.
    RemoveTillKey { shop: String, key: Address },
    /// Pays a shop's payment request signed by `request.terminal` (its owner or a till key):
    /// `request.amount` (converted to WANT at the median rate when in another currency) moves
    /// from the sender to the shop's payout account, less the 1 % fee.
    PayRequest {
        request: PaymentRequest,
        /// By `request.terminal`, over [`PaymentRequest::hash`] (checked at admission).
        signature: crate::Signature,
        /// The most WANT (base units) the payer agreed to pay: a request in another currency
        /// whose conversion comes to more is refused (`payment_above_max`), as is a WANT
        /// request asking for more. The mempool bounds the sender's spending by it.
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        max_want: Amount,
    },
    /// Reviews the sender's completed purchase `purchase` (one review per purchase): a rating
    /// of [`REVIEW_RATING_MIN`]..=[`REVIEW_RATING_MAX`] stars and the text as a public blob
    /// CID. The review takes the purchase's shop and product.
    AddReview {
        purchase: u64,
        rating: u8,
        text_cid: String,
    },
    /// The author edits a review: a new version; every earlier one is kept.
    EditReview {
        review: u64,
        rating: u8,
        text_cid: String,
    },
    /// The shop's owner replies to a review of its shop, once.
    ReplyReview { review: u64, text_cid: String },
    /// Likes a review (once per account; an account with a completed purchase or a KYC
    /// attestation, not the author).
    LikeReview { review: u64 },
    /// Shares a review (once per account; same accounts as [`CommerceCall::LikeReview`]).
    ShareReview { review: u64 },
    /// Registers a price reporter (the commerce administrator only).
    RegisterReporter { reporter: Address },
    /// Removes a price reporter and its reports (the commerce administrator only).
    RemoveReporter { reporter: Address },
    /// A registered reporter's rates (each replaces its earlier report of that currency).
    PostPrices { rates: Vec<price::PriceRate> },
}

/// The hash an order keeps of its delivery location: `sha256d(DELIVERY_LOCATION_TAG ‖
/// borsh(location))`, where `location` is the URI exactly as the receiving record publishes it.
pub fn delivery_location_hash(location: &str) -> Hash32 {
    sha256d_tagged(DELIVERY_LOCATION_TAG, location)
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
    /// The dispute was not settled in time ([`DISPUTE_LAPSE_MS`]): the escrow is split by the
    /// parties' standing proposals.
    Dispute,
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
        /// What the seller's side got: its deposit back (what the buyer's share left of it)
        /// and the rest of the payment less the fee.
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        seller_amount: Amount,
        ruled: bool,
        /// The 1 % fee on the part of the payment the seller got, paid into the incentive pool
        /// (a settlement is a sale too).
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        fee: Amount,
    },
    /// The buyer named the organisation that receives the goods (and, hashed, where).
    OrderDeliverySet {
        order: u64,
        org: String,
    },
    /// The delivery organisation's `receiving` event confirmed delivery (an `OrderCompleted`
    /// follows).
    OrderReceived {
        order: u64,
        org: String,
        event_hash: Hash32,
    },
    /// A final order was retired after [`ORDER_RETENTION_MS`]: its record was replaced by a
    /// summary and `final_state_hash`, the hash of its final state.
    OrderRetired {
        order: u64,
        final_state_hash: Hash32,
    },
    TillKeyAdded {
        shop: String,
        key: Address,
    },
    TillKeyRemoved {
        shop: String,
        key: Address,
    },
    /// A payment request was paid at the till: `amount` (WANT base units) less `fee` to the
    /// shop's payout account, `fee` to the incentive pool. `payment` is also the id of the
    /// buyer's purchase record. A request in another currency was converted at `rate`.
    TillPaid {
        payment: u64,
        request_hash: Hash32,
        shop: String,
        buyer: Address,
        /// WANT paid, base units.
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        amount: Amount,
        #[serde(with = "crate::amount::dec")]
        #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::DecimalAmount))]
        fee: Amount,
        reference: String,
        /// The request's currency (`WANT` or one of the chain's list).
        currency: String,
        /// WANT base units per whole unit of `currency` it converted at (the median rate); null
        /// for a request in WANT.
        #[serde(with = "crate::amount::dec_opt")]
        #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::schema::DecimalAmount>))]
        rate: Option<Amount>,
    },
    ReviewAdded {
        review: u64,
        purchase: u64,
        author: Address,
        shop: String,
        /// The normalised product id the product aggregate is kept under.
        product: String,
        rating: u8,
    },
    /// A new version of the review.
    ReviewEdited {
        review: u64,
        version: u32,
        rating: u8,
    },
    ReviewReplied {
        review: u64,
        by: Address,
    },
    ReviewLiked {
        review: u64,
        by: Address,
    },
    ReviewShared {
        review: u64,
        by: Address,
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
