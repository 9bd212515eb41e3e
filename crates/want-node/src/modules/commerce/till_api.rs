//! The till's routes (issue 14 item 6): a shop's till keys, till payments (one, or a page by
//! shop and buyer) and whether a payment request was paid, read over one snapshot per request
//! on the node's read pool. The terminal learns of a payment from `/v1/events` (the commerce
//! module's `TillPaid` event); these answer afterwards.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_state::modules::commerce::codes as commerce_codes;
use want_state::modules::commerce::query;
use want_state::modules::commerce::state::PurchaseSource;
use want_state::modules::commerce::till::{self, TillPayment, PAYMENTS_PAGE_MAX};
use want_types::modules::commerce::PaymentRequest;
use want_types::{Address, Amount, Hash32};

use crate::api::{bad, parse_address, read, ApiResult, Json, Path, Query};
use crate::error::{codes, NodeError};
use crate::kernel::node::Node;

/// The till's routes.
pub fn routes(node: &Node) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(get_till_keys))
        .routes(routes!(list_payments))
        .routes(routes!(get_payment))
        .routes(routes!(get_payment_request))
        .with_state(node.clone())
}

fn not_found(code: &'static str, message: String) -> NodeError {
    NodeError::NotFound { code, message }
}

/// What made a purchase record.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseSourceView {
    /// A completed order.
    Order,
    /// A payment at the till.
    Till,
}

impl From<PurchaseSource> for PurchaseSourceView {
    fn from(s: PurchaseSource) -> Self {
        match s {
            PurchaseSource::Order => PurchaseSourceView::Order,
            PurchaseSource::Till => PurchaseSourceView::Till,
        }
    }
}

/// The keys that may sign a shop's payment requests.
#[derive(Serialize, ToSchema)]
pub struct TillKeysView {
    pub shop: String,
    /// The shop's owner, who signs requests too.
    pub owner: Address,
    /// Its registered till keys (at most 64, in address order: the whole list).
    pub keys: Vec<Address>,
    /// Whether the shop is closed (its requests cannot be paid).
    pub closed: bool,
}

/// A payment request paid at the till.
#[derive(Serialize, ToSchema)]
pub struct TillPaymentView {
    /// From the orders' sequence; also the id of the buyer's purchase record.
    pub id: u64,
    pub request_hash: Hash32,
    pub request: PaymentRequest,
    pub buyer: Address,
    /// The shop's payout account when paid.
    pub payout: Address,
    /// WANT paid by the buyer, base units (`request.amount` converted at `rate` for a request
    /// in another currency).
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub amount: Amount,
    /// To the incentive pool, base units.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub fee: Amount,
    /// The block that paid it.
    pub height: u64,
    /// Block time, Unix ms.
    pub time_ms: u64,
    /// WANT base units per whole unit of `request.currency` it converted at (the median rate);
    /// null for a request in WANT.
    #[serde(with = "want_types::amount::dec_opt")]
    #[schema(value_type = Option<want_types::schema::DecimalAmount>)]
    pub rate: Option<Amount>,
}

impl From<TillPayment> for TillPaymentView {
    fn from(p: TillPayment) -> Self {
        TillPaymentView {
            id: p.id,
            request_hash: p.request_hash,
            request: p.request,
            buyer: p.buyer,
            payout: p.payout,
            amount: p.amount,
            fee: p.fee,
            height: p.height,
            time_ms: p.time_ms,
            rate: p.rate,
        }
    }
}

#[utoipa::path(get, path = "/v1/commerce/shops/{handle}/till-keys", tag = "commerce",
    params(("handle" = String, Path, description = "shop handle (case-insensitive)")),
    responses((status = 200, description = "the owner and till keys that may sign the shop's payment requests", body = TillKeysView),
        (status = 404, description = "shop_unknown"), (status = 503, description = "state_diverged, busy")))]
async fn get_till_keys(State(node): State<Node>, Path(handle): Path<String>) -> ApiResult {
    let handle = handle.to_ascii_lowercase();
    let store = node.shared.store.clone();
    let view = read(&node, move || {
        let snap = store.snapshot()?;
        let shop = query::shop(&snap, &handle)?.ok_or_else(|| {
            not_found(
                commerce_codes::SHOP_UNKNOWN,
                format!("no shop has the handle {handle:?}; check its spelling"),
            )
        })?;
        Ok(TillKeysView {
            keys: till::till_keys(&snap, &handle)?,
            shop: shop.handle,
            owner: shop.owner,
            closed: shop.closed,
        })
    })
    .await?;
    Ok(Json(view).into_response())
}

/// The query string of `GET /v1/commerce/payments`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PaymentsQuery {
    /// Only payments to this shop (case-insensitive handle).
    shop: Option<String>,
    /// Only payments by this buyer.
    #[param(value_type = Option<Address>)]
    buyer: Option<String>,
    /// The `next` of the previous page: payments with a greater id.
    after: Option<u64>,
    /// Most payments (1 to 100, default 100). A filtered page reads at most 2,000 payments
    /// and may hold fewer, with `next` to go on from.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// A page of till payments by id.
#[derive(Serialize, ToSchema)]
pub struct PaymentsPage {
    pub payments: Vec<TillPaymentView>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<u64>,
}

#[utoipa::path(get, path = "/v1/commerce/payments", tag = "commerce", params(PaymentsQuery),
    responses((status = 200, description = "a page of till payments by id", body = PaymentsPage),
        (status = 400, description = "invalid_query, invalid_address"), (status = 503, description = "state_diverged, busy")))]
async fn list_payments(State(node): State<Node>, Query(q): Query<PaymentsQuery>) -> ApiResult {
    let limit = match q.limit {
        None => PAYMENTS_PAGE_MAX,
        Some(l) if (1..=PAYMENTS_PAGE_MAX).contains(&l) => l,
        Some(l) => {
            return Err(bad(
                codes::INVALID_QUERY,
                format!("limit must be 1 to {PAYMENTS_PAGE_MAX}, found {l}"),
            ))
        }
    };
    let buyer = q.buyer.as_deref().map(parse_address).transpose()?;
    let shop = q.shop.map(|s| s.to_ascii_lowercase());
    let store = node.shared.store.clone();
    let page = read(&node, move || {
        let snap = store.snapshot()?;
        Ok(if buyer.is_none() && shop.is_none() {
            till::payments(&snap, q.after, limit)?
        } else {
            till::payments_where(&snap, shop.as_deref(), buyer.as_ref(), q.after, limit)?
        })
    })
    .await?;
    Ok(Json(PaymentsPage {
        payments: page.items.into_iter().map(TillPaymentView::from).collect(),
        next: page.next,
    })
    .into_response())
}

#[utoipa::path(get, path = "/v1/commerce/payments/{id}", tag = "commerce",
    params(("id" = u64, Path, description = "till payment id")),
    responses((status = 200, description = "the till payment", body = TillPaymentView),
        (status = 400, description = "invalid_path"), (status = 404, description = "payment_unknown"),
        (status = 503, description = "state_diverged, busy")))]
async fn get_payment(State(node): State<Node>, Path(id): Path<u64>) -> ApiResult {
    let store = node.shared.store.clone();
    let payment = read(&node, move || {
        till::payment(&store.snapshot()?, id)?.ok_or_else(|| {
            not_found(
                commerce_codes::PAYMENT_UNKNOWN,
                format!("no till payment has the id {id}; list a shop's payments with /v1/commerce/payments?shop=HANDLE"),
            )
        })
    })
    .await?;
    Ok(Json(TillPaymentView::from(payment)).into_response())
}

/// Whether a payment request was paid, and by which payment.
#[derive(Serialize, ToSchema)]
pub struct PaymentRequestView {
    pub request_hash: Hash32,
    pub paid: bool,
    /// The payment that paid it, if paid.
    pub payment: Option<TillPaymentView>,
}

#[utoipa::path(get, path = "/v1/commerce/payment-requests/{hash}", tag = "commerce",
    params(("hash" = String, Path, description = "the payment request's hash (64 hex digits)")),
    responses((status = 200, description = "whether the request was paid, and by which payment", body = PaymentRequestView),
        (status = 400, description = "invalid_path"), (status = 503, description = "state_diverged, busy")))]
async fn get_payment_request(State(node): State<Node>, Path(hash): Path<String>) -> ApiResult {
    let hash: Hash32 = hash.parse().map_err(|e| {
        bad(
            codes::INVALID_PATH,
            format!("{hash:?} is not a payment request hash (64 hex digits): {e}"),
        )
    })?;
    let store = node.shared.store.clone();
    let view = read(&node, move || {
        let snap = store.snapshot()?;
        let payment = match till::paid_by(&snap, &hash)? {
            Some(id) => till::payment(&snap, id)?.map(TillPaymentView::from),
            None => None,
        };
        Ok(PaymentRequestView {
            request_hash: hash,
            paid: payment.is_some(),
            payment,
        })
    })
    .await?;
    Ok(Json(view).into_response())
}
