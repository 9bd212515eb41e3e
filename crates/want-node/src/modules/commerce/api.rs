//! The commerce module's routes: a shop, offers, orders and a buyer's purchase records, read
//! over one snapshot per request on the node's read pool (`crate::api::read`). Amounts are
//! decimal strings of base units, as in the token module's views. Every list is a page with a
//! cursor (`after`, the `next` of the previous page) and a named maximum.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_state::modules::commerce::codes as commerce_codes;
use want_state::modules::commerce::query;
use want_state::modules::commerce::state::{
    Offer, Order, OrderStatus, PurchaseRecord, RetiredOrder, Shop,
};
use want_state::StateView;
use want_types::modules::commerce::OfferTerms;
use want_types::{Address, Amount, Hash32};

use crate::api::{bad, parse_address, read, ApiError, ApiResult, Json, Path, Query};
use crate::error::{codes, NodeError};
use crate::kernel::node::Node;

/// The commerce module's routes.
pub fn routes(node: &Node) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(get_shop))
        .routes(routes!(list_offers))
        .routes(routes!(get_offer))
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(list_purchases))
        .with_state(node.clone())
}

fn not_found(code: &'static str, message: String) -> NodeError {
    NodeError::NotFound { code, message }
}

/// A page size from the query: `limit` if given (1 to `max`), else `max`.
fn page_limit(limit: Option<usize>, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(max),
        Some(l) if (1..=max).contains(&l) => Ok(l),
        Some(l) => Err(bad(
            codes::INVALID_QUERY,
            format!("limit must be 1 to {max}, found {l}"),
        )),
    }
}

/// A shop.
#[derive(Serialize, ToSchema)]
pub struct ShopView {
    /// Lowercase; unique up to look-alikes.
    pub handle: String,
    pub name: String,
    /// Who opened it: lists offers, accepts and ships its orders, pays their deposits.
    pub owner: Address,
    /// Where its sales are paid.
    pub payout: Address,
    pub trace_org: Option<String>,
    /// A closed shop takes no more orders; its open orders run to their end.
    pub closed: bool,
    /// Block time of its opening, Unix ms.
    pub opened_ms: u64,
}

impl From<Shop> for ShopView {
    fn from(s: Shop) -> Self {
        ShopView {
            handle: s.handle,
            name: s.name,
            owner: s.owner,
            payout: s.payout,
            trace_org: s.trace_org,
            closed: s.closed,
            opened_ms: s.opened_ms,
        }
    }
}

/// The current version of an offer.
#[derive(Serialize, ToSchema)]
pub struct OfferView {
    pub id: u64,
    /// The handle of its shop.
    pub shop: String,
    /// Starts at 1; grows by one each time the terms change. An order names it.
    pub version: u32,
    pub terms: OfferTerms,
    /// The hash of `terms` an order names.
    pub terms_hash: Hash32,
    /// Items in stock.
    pub stock: u64,
    /// Block time of the last change, Unix ms.
    pub updated_ms: u64,
}

impl From<Offer> for OfferView {
    fn from(o: Offer) -> Self {
        OfferView {
            id: o.id,
            shop: o.shop,
            version: o.version,
            terms: o.terms,
            terms_hash: o.terms_hash,
            stock: o.stock,
            updated_ms: o.updated_ms,
        }
    }
}

/// Where an order stands; `completed`, `declined`, `cancelled`, `expired` and `settled` are
/// final.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatusView {
    Placed,
    Accepted,
    Shipped,
    Disputed,
    Completed,
    Declined,
    Cancelled,
    Expired,
    Settled,
}

impl From<OrderStatus> for OrderStatusView {
    fn from(s: OrderStatus) -> Self {
        match s {
            OrderStatus::Placed => OrderStatusView::Placed,
            OrderStatus::Accepted => OrderStatusView::Accepted,
            OrderStatus::Shipped => OrderStatusView::Shipped,
            OrderStatus::Disputed => OrderStatusView::Disputed,
            OrderStatus::Completed => OrderStatusView::Completed,
            OrderStatus::Declined => OrderStatusView::Declined,
            OrderStatus::Cancelled => OrderStatusView::Cancelled,
            OrderStatus::Expired => OrderStatusView::Expired,
            OrderStatus::Settled => OrderStatusView::Settled,
        }
    }
}

/// A settlement of a disputed order proposed by one party, waiting for the other.
#[derive(Serialize, ToSchema)]
pub struct SettlementView {
    pub by: Address,
    /// What the buyer would get of the escrow, in base units; the rest goes to the seller.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub buyer_share: Amount,
}

/// An order: a sale contract under one version of an offer.
#[derive(Serialize, ToSchema)]
pub struct OrderView {
    pub id: u64,
    pub offer: u64,
    pub version: u32,
    pub shop: String,
    /// The terms it was placed under (a later offer version never changes them).
    pub terms: OfferTerms,
    /// Their hash, which the order named.
    pub terms_hash: Hash32,
    pub buyer: Address,
    /// The shop's owner at placement.
    pub seller: Address,
    /// The shop's payout account at placement.
    pub payout: Address,
    pub quantity: u32,
    /// Price × quantity paid into escrow at placement, base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub paid: Amount,
    /// Paid back to the buyer by partial refunds, base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub refunded: Amount,
    /// The seller's deposit in escrow (0 until accepted), base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub deposit: Amount,
    /// What the escrow holds for it now (0 once final), base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub escrowed: Amount,
    pub status: OrderStatusView,
    pub placed_ms: u64,
    pub accepted_ms: Option<u64>,
    pub shipped_ms: Option<u64>,
    /// When it reached its final state.
    pub closed_ms: Option<u64>,
    /// The deadline of its current state (accept, ship, confirmation, or a dispute's lapse), if
    /// one runs.
    pub deadline_ms: Option<u64>,
    pub epcis_event: Option<String>,
    /// A cancellation proposed by this party, waiting for the other.
    pub cancel_proposed_by: Option<Address>,
    pub disputed_by: Option<Address>,
    pub evidence: Vec<String>,
    pub settlement: Option<SettlementView>,
    /// The buyer's standing settlement proposal (the buyer's share), base units.
    #[serde(with = "want_types::amount::dec_opt")]
    #[schema(value_type = Option<want_types::schema::DecimalAmount>)]
    pub buyer_proposal: Option<Amount>,
    /// The seller's standing settlement proposal (the buyer's share), base units. A dispute
    /// still open at its lapse is split by these.
    #[serde(with = "want_types::amount::dec_opt")]
    #[schema(value_type = Option<want_types::schema::DecimalAmount>)]
    pub seller_proposal: Option<Amount>,
    /// Who receives the goods, named by the buyer: a `receiving` event of that organisation
    /// at the location (of which only the hash is kept) confirms delivery.
    pub delivery: Option<DeliveryView>,
    /// What the terms' price and deposit are counted in: `WANT` or a currency code.
    pub currency: String,
    /// For an offer in another currency, the median rate it converted at (WANT base units per
    /// unit of `currency`); null for WANT.
    #[schema(value_type = Option<want_types::schema::DecimalAmount>)]
    pub rate: Option<String>,
    /// The deposit the seller locks at acceptance, base units (converted at placement).
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub deposit_due: Amount,
}

/// Where an order's goods are received.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    /// The trace organisation that receives them.
    pub org: String,
    /// The hash of the location URI its receiving event publishes.
    pub location_hash: Hash32,
}

impl OrderView {
    /// The view of `o`, with the whole terms of its offer version read from `view` (or from
    /// `read`, the versions' terms already read for this answer).
    fn of(
        view: &dyn StateView,
        o: Order,
        read: &mut std::collections::HashMap<(u64, u32), OfferTerms>,
    ) -> Result<Self, NodeError> {
        let terms = match read.get(&(o.offer, o.version)) {
            Some(t) => t.clone(),
            None => {
                let t = query::offer_terms(view, o.offer, o.version)?.ok_or_else(|| {
                    NodeError::Io(format!(
                        "order {}: version {} of offer {} has no terms record; the stored state is inconsistent (a data directory from a build before compact orders: start a new one)",
                        o.id, o.version, o.offer
                    ))
                })?;
                read.insert((o.offer, o.version), t.clone());
                t
            }
        };
        let escrowed = o.escrowed().map_err(|e| {
            NodeError::Io(format!(
                "order {}: its escrow does not add up ({e:?}); the stored order is inconsistent",
                o.id
            ))
        })?;
        Ok(OrderView {
            id: o.id,
            offer: o.offer,
            version: o.version,
            shop: o.shop,
            terms,
            terms_hash: o.terms_hash,
            buyer: o.buyer,
            seller: o.seller,
            payout: o.payout,
            quantity: o.quantity,
            paid: o.paid,
            refunded: o.refunded,
            deposit: o.deposit,
            escrowed,
            status: o.status.into(),
            placed_ms: o.placed_ms,
            accepted_ms: o.accepted_ms,
            shipped_ms: o.shipped_ms,
            closed_ms: o.closed_ms,
            deadline_ms: o.deadline_ms,
            epcis_event: o.epcis_event,
            cancel_proposed_by: o.cancel_proposed_by,
            disputed_by: o.disputed_by,
            evidence: o.evidence,
            settlement: o
                .settlement
                .map(|(by, buyer_share)| SettlementView { by, buyer_share }),
            buyer_proposal: o.buyer_proposal,
            seller_proposal: o.seller_proposal,
            delivery: o.delivery.map(|d| DeliveryView {
                org: d.org,
                location_hash: d.location_hash,
            }),
            currency: o.currency,
            rate: o.rate.map(|r| r.to_string()),
            deposit_due: o.deposit_due,
        })
    }
}

/// A final order retired after its retention period: a summary and the hash of its final state
/// (`sha256d("want/commerce/order/v2" ‖ borsh(order))`).
#[derive(Serialize, ToSchema)]
pub struct RetiredOrderView {
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
    /// Paid into escrow at placement, base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub paid: Amount,
    /// Paid back by partial refunds, base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub refunded: Amount,
    /// The seller's deposit it held, base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub deposit: Amount,
    /// Its final state.
    pub status: OrderStatusView,
    pub placed_ms: u64,
    pub closed_ms: u64,
    /// When its record was replaced by this summary.
    pub retired_ms: u64,
    /// The hash of its final state.
    pub final_state_hash: Hash32,
}

impl From<RetiredOrder> for RetiredOrderView {
    fn from(r: RetiredOrder) -> Self {
        RetiredOrderView {
            id: r.id,
            offer: r.offer,
            version: r.version,
            terms_hash: r.terms_hash,
            shop: r.shop,
            product: r.product,
            buyer: r.buyer,
            seller: r.seller,
            payout: r.payout,
            quantity: r.quantity,
            paid: r.paid,
            refunded: r.refunded,
            deposit: r.deposit,
            status: r.status.into(),
            placed_ms: r.placed_ms,
            closed_ms: r.closed_ms,
            retired_ms: r.retired_ms,
            final_state_hash: r.final_state_hash,
        }
    }
}

/// An order as it stands, or the summary of a retired one.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum OrderLookup {
    Live(Box<OrderView>),
    Retired(Box<RetiredOrderView>),
}

/// A completed purchase.
#[derive(Serialize, ToSchema)]
pub struct PurchaseView {
    pub order: u64,
    pub buyer: Address,
    pub shop: String,
    pub product: String,
    /// What the buyer paid, less refunds, base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub amount: Amount,
    /// When the order completed, Unix ms.
    pub time_ms: u64,
    /// What made it: a completed order, or a till payment (whose id is then `order`).
    pub source: super::till_api::PurchaseSourceView,
}

impl From<PurchaseRecord> for PurchaseView {
    fn from(p: PurchaseRecord) -> Self {
        PurchaseView {
            order: p.order,
            buyer: p.buyer,
            shop: p.shop,
            product: p.product,
            amount: p.amount,
            time_ms: p.time_ms,
            source: p.source.into(),
        }
    }
}

#[utoipa::path(get, path = "/v1/commerce/shops/{handle}", tag = "commerce",
    params(("handle" = String, Path, description = "shop handle (case-insensitive)")),
    responses((status = 200, description = "the shop", body = ShopView),
        (status = 404, description = "shop_unknown"), (status = 503, description = "state_diverged, busy")))]
async fn get_shop(State(node): State<Node>, Path(handle): Path<String>) -> ApiResult {
    let handle = handle.to_ascii_lowercase();
    let store = node.shared.store.clone();
    let shop = read(&node, move || {
        query::shop(&store.snapshot()?, &handle)?.ok_or_else(|| {
            not_found(
                commerce_codes::SHOP_UNKNOWN,
                format!("no shop has the handle {handle:?}; check its spelling"),
            )
        })
    })
    .await?;
    Ok(Json(ShopView::from(shop)).into_response())
}

/// The query string of `GET /v1/commerce/offers`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OffersQuery {
    /// Only this shop's offers (case-insensitive handle).
    shop: Option<String>,
    /// The `next` of the previous page: offers with a greater id.
    after: Option<u64>,
    /// Most offers (1 to 100, default 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// A page of offers by id.
#[derive(Serialize, ToSchema)]
pub struct OffersPage {
    pub offers: Vec<OfferView>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<u64>,
}

#[utoipa::path(get, path = "/v1/commerce/offers", tag = "commerce", params(OffersQuery),
    responses((status = 200, description = "a page of offers by id", body = OffersPage),
        (status = 400, description = "invalid_query"), (status = 503, description = "state_diverged, busy")))]
async fn list_offers(State(node): State<Node>, Query(q): Query<OffersQuery>) -> ApiResult {
    let limit = page_limit(q.limit, query::OFFERS_PAGE_MAX)?;
    let shop = q.shop.map(|s| s.to_ascii_lowercase());
    let store = node.shared.store.clone();
    let page = read(&node, move || {
        let snap = store.snapshot()?;
        Ok(match &shop {
            Some(shop) => query::offers_of_shop(&snap, shop, q.after, limit)?,
            None => query::offers(&snap, q.after, limit)?,
        })
    })
    .await?;
    Ok(Json(OffersPage {
        offers: page.items.into_iter().map(OfferView::from).collect(),
        next: page.next,
    })
    .into_response())
}

#[utoipa::path(get, path = "/v1/commerce/offers/{id}", tag = "commerce",
    params(("id" = u64, Path, description = "offer id")),
    responses((status = 200, description = "the offer's current version", body = OfferView),
        (status = 400, description = "invalid_path"), (status = 404, description = "offer_unknown"),
        (status = 503, description = "state_diverged, busy")))]
async fn get_offer(State(node): State<Node>, Path(id): Path<u64>) -> ApiResult {
    let store = node.shared.store.clone();
    let offer = read(&node, move || {
        query::offer(&store.snapshot()?, id)?.ok_or_else(|| {
            not_found(
                commerce_codes::OFFER_UNKNOWN,
                format!("no offer has the id {id}; list a shop's offers with /v1/commerce/offers?shop=HANDLE"),
            )
        })
    })
    .await?;
    Ok(Json(OfferView::from(offer)).into_response())
}

/// The query string of `GET /v1/commerce/orders`: filters (optional, combined with AND), page
/// size and cursor.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct OrdersQuery {
    /// Only this buyer's orders.
    #[param(value_type = Option<Address>)]
    buyer: Option<String>,
    /// Only this shop's orders (case-insensitive handle).
    shop: Option<String>,
    /// The `next` of the previous page: orders with a greater id.
    after: Option<u64>,
    /// Most orders (1 to 100, default 100). A page filtered by both buyer and shop reads at
    /// most 2,000 of the buyer's orders and may hold fewer, with `next` to go on from. Retired
    /// orders are not listed (`GET /v1/commerce/orders/{id}` still answers for them).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// A page of orders by id.
#[derive(Serialize, ToSchema)]
pub struct OrdersPage {
    pub orders: Vec<OrderView>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<u64>,
}

#[utoipa::path(get, path = "/v1/commerce/orders", tag = "commerce", params(OrdersQuery),
    responses((status = 200, description = "a page of orders by id", body = OrdersPage),
        (status = 400, description = "invalid_query, invalid_address"), (status = 503, description = "state_diverged, busy")))]
async fn list_orders(State(node): State<Node>, Query(q): Query<OrdersQuery>) -> ApiResult {
    let limit = page_limit(q.limit, query::ORDERS_PAGE_MAX)?;
    let buyer = q.buyer.as_deref().map(parse_address).transpose()?;
    let shop = q.shop.map(|s| s.to_ascii_lowercase());
    let store = node.shared.store.clone();
    let page = read(&node, move || {
        let snap = store.snapshot()?;
        let page = if buyer.is_none() && shop.is_none() {
            query::orders(&snap, q.after, limit)?
        } else {
            query::orders_where(&snap, buyer.as_ref(), shop.as_deref(), q.after, limit)?
        };
        // Orders of one offer version share its terms: read each version's once a page.
        let mut terms = std::collections::HashMap::new();
        let orders = page
            .items
            .into_iter()
            .map(|o| OrderView::of(&snap, o, &mut terms))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OrdersPage {
            orders,
            next: page.next,
        })
    })
    .await?;
    Ok(Json(page).into_response())
}

#[utoipa::path(get, path = "/v1/commerce/orders/{id}", tag = "commerce",
    params(("id" = u64, Path, description = "order id")),
    responses((status = 200, description = "the order, or the summary of a retired one", body = OrderLookup),
        (status = 400, description = "invalid_path"), (status = 404, description = "order_unknown"),
        (status = 503, description = "state_diverged, busy")))]
async fn get_order(State(node): State<Node>, Path(id): Path<u64>) -> ApiResult {
    let store = node.shared.store.clone();
    let order = read(&node, move || {
        let snap = store.snapshot()?;
        if let Some(order) = query::order(&snap, id)? {
            return OrderView::of(&snap, order, &mut std::collections::HashMap::new()).map(|o| OrderLookup::Live(Box::new(o)));
        }
        let retired = query::retired_order(&snap, id)?.ok_or_else(|| {
            not_found(
                commerce_codes::ORDER_UNKNOWN,
                format!("no order has the id {id}; list a buyer's orders with /v1/commerce/orders?buyer=ADDRESS"),
            )
        })?;
        Ok(OrderLookup::Retired(Box::new(retired.into())))
    })
    .await?;
    Ok(Json(order).into_response())
}

/// The query string of `GET /v1/commerce/purchases`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PurchasesQuery {
    /// The buyer whose completed purchases to list.
    #[param(value_type = Address)]
    buyer: String,
    /// The `next` of the previous page: purchases of a greater order id.
    after: Option<u64>,
    /// Most records (1 to 100, default 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// A page of a buyer's purchase records by order id.
#[derive(Serialize, ToSchema)]
pub struct PurchasesPage {
    pub purchases: Vec<PurchaseView>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<u64>,
}

#[utoipa::path(get, path = "/v1/commerce/purchases", tag = "commerce", params(PurchasesQuery),
    responses((status = 200, description = "a page of the buyer's purchase records by order id", body = PurchasesPage),
        (status = 400, description = "invalid_query, invalid_address"), (status = 503, description = "state_diverged, busy")))]
async fn list_purchases(State(node): State<Node>, Query(q): Query<PurchasesQuery>) -> ApiResult {
    let limit = page_limit(q.limit, query::PURCHASES_PAGE_MAX)?;
    let buyer = parse_address(&q.buyer)?;
    let store = node.shared.store.clone();
    let page = read(&node, move || {
        Ok(query::purchases(
            &store.snapshot()?,
            &buyer,
            q.after,
            limit,
        )?)
    })
    .await?;
    Ok(Json(PurchasesPage {
        purchases: page.items.into_iter().map(PurchaseView::from).collect(),
        next: page.next,
    })
    .into_response())
}
