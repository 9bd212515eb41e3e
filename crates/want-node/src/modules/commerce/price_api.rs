//! The routes of prices in other currencies: `GET /v1/commerce/prices` (the rate of every
//! currency, a page at a time, and the registered reporters) and
//! `GET /v1/commerce/prices/{currency}` (one currency's rate and every report of it). A rate is
//! computed as of the head block's time: the median of at least 3 reports at most 1 hour old
//! (`want_state::modules::commerce::price`).

use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_state::modules::commerce::codes as commerce_codes;
use want_state::modules::commerce::price::{self, Median, NoRate, PriceStatus, PRICES_PAGE_MAX};
use want_types::modules::commerce::price::{
    CURRENCIES, PRICE_REPORTS_MIN, PRICE_REPORT_AGE_MS_MAX,
};
use want_types::{Address, Amount};

use crate::api::{bad, read, ApiResult, Json, Path, Query};
use crate::error::{codes, NodeError};
use crate::kernel::node::Node;

/// The routes of prices.
pub fn routes(node: &Node) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_prices))
        .routes(routes!(get_price))
        .with_state(node.clone())
}

/// The rate of one currency, or why it has none.
#[derive(Serialize, ToSchema)]
pub struct PriceView {
    pub currency: String,
    /// WANT base units per whole unit of the currency (the median of the fresh reports); null
    /// when stale or unavailable.
    #[schema(value_type = Option<want_types::schema::DecimalAmount>)]
    pub rate: Option<String>,
    /// `ok`, `stale` (enough reports but fewer than 3 fresh) or `unavailable` (fewer than 3
    /// reports).
    pub status: String,
    /// Reports by registered reporters.
    pub reports: u32,
    /// Of them, at most `report_age_ms_max` old at `as_of_ms` (the rate's median is of these).
    pub fresh_reports: u32,
    /// Time of the newest and oldest fresh report, Unix ms (null when stale or unavailable).
    pub newest_ms: Option<u64>,
    pub oldest_ms: Option<u64>,
    /// Why there is no rate, for people.
    pub why: Option<String>,
}

impl PriceView {
    fn new(currency: &str, rate: Result<Median, NoRate>, as_of_ms: u64) -> PriceView {
        match rate {
            Ok(m) => PriceView {
                currency: currency.into(),
                rate: Some(m.rate.to_string()),
                status: "ok".into(),
                reports: m.reports,
                fresh_reports: m.reports,
                newest_ms: Some(m.newest_ms),
                oldest_ms: Some(m.oldest_ms),
                why: None,
            },
            Err(NoRate::Unavailable { reports }) => PriceView {
                currency: currency.into(),
                rate: None,
                status: "unavailable".into(),
                reports,
                fresh_reports: 0,
                newest_ms: None,
                oldest_ms: None,
                why: Some(format!(
                    "{reports} reports; a rate needs {PRICE_REPORTS_MIN} from registered reporters"
                )),
            },
            Err(NoRate::Stale {
                reports,
                fresh,
                newest_ms,
            }) => PriceView {
                currency: currency.into(),
                rate: None,
                status: "stale".into(),
                reports,
                fresh_reports: fresh,
                newest_ms: None,
                oldest_ms: None,
                why: Some(format!(
                    "{fresh} of {reports} reports are at most {PRICE_REPORT_AGE_MS_MAX} ms old and {PRICE_REPORTS_MIN} are needed; the newest is {} ms old",
                    as_of_ms.saturating_sub(newest_ms)
                )),
            },
        }
    }
}

/// The view of `p`, with `total` reports by registered reporters (the median counts only the
/// fresh ones).
fn view(p: PriceStatus, total: u32, as_of_ms: u64) -> PriceView {
    let mut v = PriceView::new(p.currency, p.rate, as_of_ms);
    v.reports = total;
    v
}

/// The query string of `GET /v1/commerce/prices`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PricesQuery {
    /// The `next` of the previous page: the currencies after this one in the chain's list.
    after: Option<String>,
    /// Most currencies (1 to 27, default 27).
    #[param(minimum = 1, maximum = 27)]
    limit: Option<usize>,
}

/// The rates of the chain's currencies, in the order of its list.
#[derive(Serialize, ToSchema)]
pub struct PricesPage {
    /// The head block's time the rates are computed at, Unix ms.
    pub as_of_ms: u64,
    /// A report older than this is not used, ms.
    pub report_age_ms_max: u64,
    /// Fewest fresh reports a rate is the median of.
    pub reports_min: u32,
    pub prices: Vec<PriceView>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<String>,
    /// The commerce administrator, who registers reporters (null: none).
    pub admin: Option<Address>,
    /// The registered price reporters (at most 64).
    pub reporters: Vec<Address>,
}

#[utoipa::path(get, path = "/v1/commerce/prices", tag = "commerce", params(PricesQuery),
    responses((status = 200, description = "a page of the currencies' rates in WANT", body = PricesPage),
        (status = 400, description = "invalid_query"), (status = 503, description = "state_diverged, busy")))]
async fn list_prices(State(node): State<Node>, Query(q): Query<PricesQuery>) -> ApiResult {
    let limit = match q.limit {
        None => PRICES_PAGE_MAX,
        Some(l) if (1..=PRICES_PAGE_MAX).contains(&l) => l,
        Some(l) => {
            return Err(bad(
                codes::INVALID_QUERY,
                format!("limit must be 1 to {PRICES_PAGE_MAX}, found {l}"),
            ))
        }
    };
    if let Some(a) = &q.after {
        if !CURRENCIES.contains(&a.as_str()) {
            return Err(bad(
                codes::INVALID_QUERY,
                format!(
                    "after {a:?} is not a currency of the chain; give the `next` of the previous page"
                ),
            ));
        }
    }
    let store = node.shared.store.clone();
    let page = read(&node, move || {
        let snap = store.snapshot()?;
        let now = store.head()?.timestamp_ms;
        let page = price::prices(&snap, q.after.as_deref(), limit, now)?;
        let mut prices = Vec::with_capacity(page.items.len());
        for p in page.items {
            let total = u32::try_from(price::reports_for(&snap, p.currency)?.len()).unwrap_or(u32::MAX);
            prices.push(view(p, total, now));
        }
        Ok(PricesPage {
            as_of_ms: now,
            report_age_ms_max: PRICE_REPORT_AGE_MS_MAX,
            reports_min: PRICE_REPORTS_MIN as u32,
            prices,
            next: page.next,
            admin: price::admin(&snap)?,
            reporters: price::reporters(&snap)?,
        })
    })
    .await?;
    Ok(Json(page).into_response())
}

/// One reporter's report of a currency.
#[derive(Serialize, ToSchema)]
pub struct ReportView {
    pub reporter: Address,
    /// WANT base units per whole unit of the currency.
    #[serde(with = "want_types::amount::dec")]
    #[schema(value_type = want_types::schema::DecimalAmount)]
    pub rate: Amount,
    /// Block time of the report, Unix ms.
    pub time_ms: u64,
    /// Whether it is young enough to count.
    pub fresh: bool,
}

/// One currency's rate and every report of it.
#[derive(Serialize, ToSchema)]
pub struct PriceDetail {
    /// The head block's time the rate is computed at, Unix ms.
    pub as_of_ms: u64,
    pub price: PriceView,
    /// Every registered reporter's report of it, in reporter address order (at most 64).
    pub reports: Vec<ReportView>,
}

#[utoipa::path(get, path = "/v1/commerce/prices/{currency}", tag = "commerce",
    params(("currency" = String, Path, description = "a currency code of the chain's list (USD, EUR, BTC, …; case-insensitive)")),
    responses((status = 200, description = "the currency's rate and reports", body = PriceDetail),
        (status = 404, description = "currency_unknown"), (status = 503, description = "state_diverged, busy")))]
async fn get_price(State(node): State<Node>, Path(currency): Path<String>) -> ApiResult {
    let currency = currency.to_ascii_uppercase();
    let Some(code) = CURRENCIES.iter().find(|c| **c == currency).copied() else {
        return Err(NodeError::NotFound {
            code: commerce_codes::CURRENCY_UNKNOWN,
            message: format!(
                "{currency:?} is not a currency of the chain; use one of {}",
                CURRENCIES.join(", ")
            ),
        }
        .into());
    };
    let store = node.shared.store.clone();
    let detail = read(&node, move || {
        let snap = store.snapshot()?;
        let now = store.head()?.timestamp_ms;
        let reports = price::reports_for(&snap, code)?;
        let list: Vec<price::PriceReport> = reports.iter().map(|(_, r)| *r).collect();
        let status = PriceStatus {
            currency: code,
            rate: price::median_of(&list, now),
        };
        Ok(PriceDetail {
            as_of_ms: now,
            price: view(status, u32::try_from(list.len()).unwrap_or(u32::MAX), now),
            reports: reports
                .into_iter()
                .map(|(reporter, r)| ReportView {
                    reporter,
                    rate: r.rate,
                    time_ms: r.time_ms,
                    fresh: now.saturating_sub(r.time_ms) <= PRICE_REPORT_AGE_MS_MAX,
                })
                .collect(),
        })
    })
    .await?;
    Ok(Json(detail).into_response())
}
