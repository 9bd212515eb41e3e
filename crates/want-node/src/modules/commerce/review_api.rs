//! The review routes of the commerce module: a review with its versions, reply, likes and
//! shares; pages of a shop's, a product's or an author's reviews (read through their index keys);
//! and the rating aggregates of a shop and of a product. Averages are decimal strings computed
//! from integers.

use axum::extract::State;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use want_state::modules::commerce::codes as commerce_codes;
use want_state::modules::commerce::review::{
    self, Rating, Review, ReviewReply, ReviewVersion, ReviewsOf, REVIEWS_PAGE_MAX,
};
use want_types::Address;

use crate::api::{bad, parse_address, read, ApiResult, Json, Path, Query};
use crate::error::{codes, NodeError};
use crate::kernel::node::Node;

/// The review routes.
pub fn routes(node: &Node) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(get_review))
        .routes(routes!(list_reviews))
        .routes(routes!(shop_rating))
        .routes(routes!(product_rating))
        .with_state(node.clone())
}

/// One version of a review.
#[derive(Serialize, ToSchema)]
pub struct ReviewVersionView {
    /// 1 for the first.
    pub version: u32,
    /// Stars, 1 to 5.
    pub rating: u8,
    /// The text, a public blob CID.
    pub text_cid: String,
    /// Block time of the version, Unix ms.
    pub time_ms: u64,
}

impl From<ReviewVersion> for ReviewVersionView {
    fn from(v: ReviewVersion) -> Self {
        ReviewVersionView {
            version: v.version,
            rating: v.rating,
            text_cid: v.text_cid,
            time_ms: v.time_ms,
        }
    }
}

/// The shop's reply to a review.
#[derive(Serialize, ToSchema)]
pub struct ReviewReplyView {
    /// The shop's owner who replied.
    pub by: Address,
    pub text_cid: String,
    pub time_ms: u64,
}

impl From<ReviewReply> for ReviewReplyView {
    fn from(r: ReviewReply) -> Self {
        ReviewReplyView {
            by: r.by,
            text_cid: r.text_cid,
            time_ms: r.time_ms,
        }
    }
}

/// A review (its current version; `versions` in the single-review answer only).
#[derive(Serialize, ToSchema)]
pub struct ReviewView {
    pub id: u64,
    /// The reviewed purchase's id (among the author's purchase records).
    pub purchase: u64,
    pub author: Address,
    pub shop: String,
    /// The product id it is aggregated under: a GTIN as 14 digits when the shop is endorsed
    /// for its GS1 Company Prefix, else `shop:product` (a GTIN there as 14 digits).
    pub product: String,
    /// Stars of the current version, 1 to 5.
    pub rating: u8,
    pub text_cid: String,
    /// The current version's number.
    pub version: u32,
    pub created_ms: u64,
    pub edited_ms: u64,
    pub reply: Option<ReviewReplyView>,
    pub likes: u64,
    pub shares: u64,
    /// Every version, oldest first (only in `GET /v1/commerce/reviews/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<ReviewVersionView>>,
}

impl From<Review> for ReviewView {
    fn from(r: Review) -> Self {
        ReviewView {
            id: r.id,
            purchase: r.purchase,
            author: r.author,
            shop: r.shop,
            product: r.product,
            rating: r.rating,
            text_cid: r.text_cid,
            version: r.version,
            created_ms: r.created_ms,
            edited_ms: r.edited_ms,
            reply: r.reply.map(ReviewReplyView::from),
            likes: r.likes,
            shares: r.shares,
            versions: None,
        }
    }
}

/// A rating aggregate, kept incrementally.
#[derive(Serialize, ToSchema)]
pub struct RatingView {
    /// The shop handle or the normalised product id.
    pub of: String,
    /// Reviews counted.
    pub count: u64,
    /// Sum of their current ratings.
    pub sum: u64,
    /// How many gave 1, 2, 3, 4 and 5 stars (five counts).
    pub stars: Vec<u64>,
    /// sum / count with two decimals, rounded half up ("0.00" without reviews).
    pub average: String,
}

fn rating_view(of: String, r: Rating) -> RatingView {
    RatingView {
        of,
        count: r.count,
        sum: r.sum,
        stars: r.stars.to_vec(),
        average: r.average(),
    }
}

#[utoipa::path(get, path = "/v1/commerce/reviews/{id}", tag = "commerce",
    params(("id" = u64, Path, description = "review id")),
    responses((status = 200, description = "the review with every version, its reply, likes and shares", body = ReviewView),
        (status = 400, description = "invalid_path"), (status = 404, description = "review_unknown"),
        (status = 503, description = "state_diverged, busy")))]
async fn get_review(State(node): State<Node>, Path(id): Path<u64>) -> ApiResult {
    let store = node.shared.store.clone();
    let view = read(&node, move || {
        let snap = store.snapshot()?;
        let r = review::review(&snap, id)?.ok_or_else(|| NodeError::NotFound {
            code: commerce_codes::REVIEW_UNKNOWN,
            message: format!(
                "no review has the id {id}; list a shop's reviews with /v1/commerce/reviews?shop=HANDLE"
            ),
        })?;
        let versions = review::versions(&snap, id)?;
        let mut v = ReviewView::from(r);
        v.versions = Some(versions.into_iter().map(ReviewVersionView::from).collect());
        Ok(v)
    })
    .await?;
    Ok(Json(view).into_response())
}

/// The query string of `GET /v1/commerce/reviews`: exactly one of `shop`, `product`, `author`.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReviewsQuery {
    /// A shop's reviews (case-insensitive handle).
    shop: Option<String>,
    /// A product's reviews: a GTIN (any of its 8 to 14 digit forms: the reviews at shops
    /// endorsed for its company prefix) or `shop:product` (the reviews at one shop not endorsed
    /// for it; an endorsed shop's reviews of a GTIN are under the GTIN).
    product: Option<String>,
    /// An author's reviews.
    #[param(value_type = Option<Address>)]
    author: Option<String>,
    /// The `next` of the previous page: reviews with a greater id.
    after: Option<u64>,
    /// Most reviews (1 to 100, default 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
}

/// A page of reviews by id.
#[derive(Serialize, ToSchema)]
pub struct ReviewsPage {
    pub reviews: Vec<ReviewView>,
    /// The `after` of the next page; null on the last one.
    pub next: Option<u64>,
}

/// A product id as the aggregates key it: a GTIN of 8, 12, 13 or 14 digits as 14 digits (the
/// chain-wide aggregate of shops endorsed for its company prefix); `shop:product` within a shop
/// (a GTIN there in its 14-digit form).
fn normalise_product(p: &str) -> String {
    match p.split_once(':') {
        Some((shop, product)) => review::shop_product_id(&shop.to_ascii_lowercase(), product),
        None => review::gtin14(p).unwrap_or_else(|| p.to_string()),
    }
}

#[utoipa::path(get, path = "/v1/commerce/reviews", tag = "commerce", params(ReviewsQuery),
    responses((status = 200, description = "a page of reviews by id", body = ReviewsPage),
        (status = 400, description = "invalid_query, invalid_address"), (status = 503, description = "state_diverged, busy")))]
async fn list_reviews(State(node): State<Node>, Query(q): Query<ReviewsQuery>) -> ApiResult {
    let limit = match q.limit {
        None => REVIEWS_PAGE_MAX,
        Some(l) if (1..=REVIEWS_PAGE_MAX).contains(&l) => l,
        Some(l) => {
            return Err(bad(
                codes::INVALID_QUERY,
                format!("limit must be 1 to {REVIEWS_PAGE_MAX}, found {l}"),
            ))
        }
    };
    let of = match (&q.shop, &q.product, &q.author) {
        (Some(s), None, None) => ReviewsOf::Shop(s.to_ascii_lowercase()),
        (None, Some(p), None) => ReviewsOf::Product(normalise_product(p)),
        (None, None, Some(a)) => ReviewsOf::Author(parse_address(a)?),
        _ => {
            return Err(bad(
                codes::INVALID_QUERY,
                "give exactly one of shop, product and author",
            ))
        }
    };
    let store = node.shared.store.clone();
    let page = read(&node, move || {
        Ok(review::reviews_of(&store.snapshot()?, &of, q.after, limit)?)
    })
    .await?;
    Ok(Json(ReviewsPage {
        reviews: page.items.into_iter().map(ReviewView::from).collect(),
        next: page.next,
    })
    .into_response())
}

#[utoipa::path(get, path = "/v1/commerce/shops/{handle}/rating", tag = "commerce",
    params(("handle" = String, Path, description = "shop handle (case-insensitive)")),
    responses((status = 200, description = "the shop's rating aggregate (empty without reviews)", body = RatingView),
        (status = 503, description = "state_diverged, busy")))]
async fn shop_rating(State(node): State<Node>, Path(handle): Path<String>) -> ApiResult {
    let handle = handle.to_ascii_lowercase();
    let store = node.shared.store.clone();
    let view = read(&node, move || {
        let r = review::shop_rating(&store.snapshot()?, &handle)?;
        Ok(rating_view(handle, r))
    })
    .await?;
    Ok(Json(view).into_response())
}

#[utoipa::path(get, path = "/v1/commerce/products/{product}/rating", tag = "commerce",
    params(("product" = String, Path, description = "a GTIN (8 to 14 digits; shops endorsed for its company prefix) or shop:product (a shop not endorsed for it)")),
    responses((status = 200, description = "the product's rating aggregate (empty without reviews)", body = RatingView),
        (status = 503, description = "state_diverged, busy")))]
async fn product_rating(State(node): State<Node>, Path(product): Path<String>) -> ApiResult {
    let product = normalise_product(&product);
    let store = node.shared.store.clone();
    let view = read(&node, move || {
        let r = review::product_rating(&store.snapshot()?, &product)?;
        Ok(rating_view(product, r))
    })
    .await?;
    Ok(Json(view).into_response())
}
