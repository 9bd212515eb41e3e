//! The trace module's routes: EPCIS capture, record queries, lineage, verification, the blob
//! store and the printable product tag with its consumer page. Every JSON answer is a typed
//! view whose schema is the OpenAPI document's.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use want_state::trace::codes as trace_codes;
use want_state::trace::query;
use want_state::trace::state::{GrantInfo, KeyInfo, KycInfo, OrgInfo};
use want_types::trace::{event_hash_id, parse_event_hash_id};
use want_types::Address;

use super::blob_repair::{MEMBER_HEADER, SIGNATURE_HEADER, TIME_HEADER};
use super::capture::Captured;
use super::query::{self as views, EventQuery, EventsPage, LineageView, RecordView};
use super::verify::{Verdict, VerifyReport};
use super::TraceNode;
use crate::api::document::Binary;
use crate::api::{bad, blocking, parse_address, read, ApiError, ApiResult, Json, Path, Query};
use crate::error::{codes, NodeError};
use crate::kernel::node::{now_ms, Node};

/// What the trace module's handlers see: the node and the module's node part.
#[derive(Clone)]
pub struct TraceState {
    pub node: Node,
    pub trace: Arc<TraceNode>,
}

/// The trace module's routes.
pub fn routes(state: TraceState) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(record))
        .routes(routes!(lineage))
        .routes(routes!(verify))
        .routes(routes!(org))
        .routes(routes!(key))
        .routes(routes!(kyc))
        .routes(
            routes!(capture, capture_limits_get, capture_limits)
                .layer(axum::extract::DefaultBodyLimit::max(want_epcis::CAPTURE_BYTES_MAX)),
        )
        .routes(
            routes!(put_blob)
                .layer(axum::extract::DefaultBodyLimit::max(super::blobs::BLOB_BYTES_MAX)),
        )
        .routes(routes!(get_blob))
        .routes(routes!(get_member_blob))
        .routes(routes!(tag))
        .routes(routes!(qr))
        .merge(tag_page_routes())
        .with_state(state)
}

/// The OpenAPI description of the consumer pages' two common forms, which the catch-all routes
/// of [`tag_page_routes`] serve (a router cannot hold both a catch-all and its special cases).
#[derive(utoipa::OpenApi)]
#[openapi(paths(tag_page_serial, tag_page_gtin))]
struct TagPagesDoc;

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError(NodeError::NotFound {
        code: codes::NOT_FOUND,
        message: message.into(),
    })
}

/// A product identifier from a path or query: EPC URNs and GS1 Digital Link URIs are brought to
/// the one form records are indexed under.
pub(crate) fn product_id(s: &str) -> Result<String, ApiError> {
    views::normalize_product(s).map_err(|e| bad(codes::INVALID_QUERY, e))
}

#[utoipa::path(get, path = "/v1/trace/events", tag = "trace", operation_id = "trace_events", params(EventQuery),
    responses((status = 200, description = "a page of records, in anchoring order", body = EventsPage), (status = 400, description = "invalid_query: a limit out of bounds, or a product, location, bizStep or disposition that is neither a GS1 key, a CBV term nor an absolute URI"), (status = 503, description = "state_diverged")))]
async fn events(State(s): State<TraceState>, Query(mut q): Query<EventQuery>) -> ApiResult {
    views::normalize_event_query(&mut q).map_err(|e| bad(codes::INVALID_QUERY, e))?;
    let store = s.node.shared.store.clone();
    let v = read(&s.node, move || views::events(&store.snapshot()?, &q)).await?;
    Ok(Json(v).into_response())
}

/// Page of a record's grants.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct GrantsPage {
    /// The grantee to continue after (the previous page's `grantsNext`).
    #[param(value_type = Option<Address>)]
    grants_cursor: Option<String>,
    /// Most grants (default and at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    grants_limit: Option<usize>,
    /// The organisation whose record of the event hash to answer with (several organisations
    /// may each hold a record of one event hash). Without it: the first record, in anchoring
    /// order, that is not kept apart from its product's history as unendorsed.
    org: Option<String>,
}

/// A record with its owner-wrapped key and a page of its live grants.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordDetail {
    #[serde(flatten)]
    pub record: RecordView,
    /// The record key wrapped (ECIES) to the owning organisation's encryption key, in hex.
    #[schema(value_type = want_types::schema::HexBytes)]
    pub owner_wrapped_key: String,
    pub grants: Vec<GrantInfo>,
    /// The `grantsCursor` of the next page; null on the last one.
    pub grants_next: Option<Address>,
    /// The other organisations' records of the same event hash, in anchoring order, without
    /// their products (ask with `org` for one of them whole). Under the `trace_record_ids` rule
    /// each organisation's record of an event hash is its own: one that anchored another's
    /// event hash first holds a record of its own, not the other's.
    pub other_records: Vec<RecordView>,
}

#[utoipa::path(get, path = "/v1/trace/records/{event}", tag = "trace",
    params(("event" = String, Path, description = "event hash ID (ni:///sha-256;<64 hex>?ver=CBV2.0, percent-encoded) or 64 hex digits",
            pattern = r"^(ni:///sha-256;(0x)?[0-9a-fA-F]{64}(\?[\s\S]*)?|(0x)?[0-9a-fA-F]{64})$"), GrantsPage),
    responses((status = 200, description = "the record with its owner-wrapped key and a page of its live grants", body = RecordDetail), (status = 400, description = "invalid_hash, invalid_address, invalid_query"), (status = 404, description = "not_found"), (status = 503, description = "state_diverged")))]
async fn record(
    State(s): State<TraceState>,
    Path(event): Path<String>,
    Query(page): Query<GrantsPage>,
) -> ApiResult {
    let node = s.node;
    let eh = parse_event_hash_id(&event).ok_or_else(|| {
        bad(
            codes::INVALID_HASH,
            format!("{event:?} is not an event hash ID (ni:///sha-256;<64 hex>?ver=CBV2.0)"),
        )
    })?;
    let after = page.grants_cursor.as_deref().map(parse_address).transpose()?;
    let limit = page_limit(page.grants_limit, query::GRANTS_PAGE_MAX, "grantsLimit")?;
    let store = node.shared.store.clone();
    let org = page.org;
    let v = read(&node, move || {
        let snap = store.snapshot()?;
        let all = query::event_records(&snap, &eh)?;
        let chosen = match &org {
            Some(o) => all.iter().position(|(_, r)| r.org == *o),
            None => primary_record(&snap, &all)?,
        };
        let Some(at) = chosen else {
            return Ok(None);
        };
        let id = all[at].0;
        let Some(rec) = query::record(&snap, &id)? else {
            return Ok(None);
        };
        let grants = query::grants(&snap, &id, after.as_ref(), limit)?;
        let other_records = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != at)
            .map(|(_, (id, r))| views::record_view(id, r))
            .collect();
        Ok(Some(RecordDetail {
            record: views::record_view(&id, &rec),
            owner_wrapped_key: hex::encode(&rec.owner_wrapped_key),
            grants: grants.items,
            grants_next: grants.next,
            other_records,
        }))
    })
    .await?;
    match v {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(not_found(format!("no record {}", event_hash_id(&eh)))),
    }
}

/// Among an event hash's records (in anchoring order), the first one not kept apart from its
/// first product's history as unendorsed, else the first; `None` when there is none.
fn primary_record(
    view: &dyn want_state::StateView,
    records: &[(want_types::Hash32, query::RecordInfo)],
) -> Result<Option<usize>, NodeError> {
    for (i, (id, _)) in records.iter().enumerate() {
        let Some(rec) = query::record(view, id)? else {
            continue;
        };
        let apart = match rec.public.products.first() {
            Some(p) => query::is_unendorsed(view, &p.id, rec.seq)?,
            None => false,
        };
        if !apart {
            return Ok(Some(i));
        }
    }
    Ok((!records.is_empty()).then_some(0))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LineageQuery {
    /// Hops to walk (1 to 16, default 8).
    #[param(minimum = 1, maximum = 16)]
    depth: Option<u32>,
}

/// A page size from a query (`None`: the maximum), refused when 0 or above `max`.
fn page_limit(limit: Option<usize>, max: usize, field: &str) -> Result<usize, ApiError> {
    match limit {
        None => Ok(max),
        Some(n) if n >= 1 && n <= max => Ok(n),
        Some(n) => Err(bad(
            codes::INVALID_QUERY,
            format!("{field} must be 1 to {max}, found {n}"),
        )),
    }
}

/// Lineage depth when a query does not say.
pub const LINEAGE_DEPTH_DEFAULT: u32 = 8;

#[utoipa::path(get, path = "/v1/trace/lineage/{product}", tag = "trace",
    params(("product" = String, Path, description = "EPC URN or GS1 Digital Link, percent-encoded"), LineageQuery),
    responses((status = 200, description = "the products upstream and downstream, and the edges between them", body = LineageView), (status = 400, description = "invalid_query"), (status = 503, description = "state_diverged")))]
async fn lineage(
    State(s): State<TraceState>,
    Path(product): Path<String>,
    Query(q): Query<LineageQuery>,
) -> ApiResult {
    let product = product_id(&product)?;
    let store = s.node.shared.store.clone();
    let depth = q.depth.unwrap_or(LINEAGE_DEPTH_DEFAULT);
    let v = read(&s.node, move || views::lineage(&store.snapshot()?, &product, depth)).await?;
    Ok(Json(v).into_response())
}

#[utoipa::path(get, path = "/v1/trace/verify/{product}", tag = "trace",
    params(("product" = String, Path, description = "EPC URN or GS1 Digital Link, percent-encoded")),
    responses((status = 200, description = "verdict authentic | tampered | unknown, with the proofs a client checks without trusting the node", body = VerifyReport), (status = 400, description = "invalid_query"), (status = 503, description = "state_diverged; blob_unavailable: a record's blob cannot be read now (I/O error), nothing was concluded")))]
async fn verify(State(s): State<TraceState>, Path(product): Path<String>) -> ApiResult {
    let product = product_id(&product)?;
    let node = s.node.clone();
    let v = read(&node, move || s.trace.verify_product(&s.node, &product)).await?;
    Ok(Json(v).into_response())
}

/// Page of an organisation's keys.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct KeysPage {
    /// The key to continue after (the previous page's `keysNext`).
    #[param(value_type = Option<Address>)]
    keys_cursor: Option<String>,
    /// Most keys (default and at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    keys_limit: Option<usize>,
}

/// A department key of an organisation.
#[derive(Serialize, ToSchema)]
pub struct OrgKey {
    pub address: Address,
    pub key: KeyInfo,
}

/// An organisation and a page of its department keys.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrgView {
    pub org: String,
    pub info: OrgInfo,
    pub keys: Vec<OrgKey>,
    /// The `keysCursor` of the next page; null on the last one.
    pub keys_next: Option<Address>,
}

#[utoipa::path(get, path = "/v1/trace/orgs/{org}", tag = "trace",
    params(("org" = String, Path, description = "organisation id"), KeysPage),
    responses((status = 200, description = "the organisation and a page of its department keys", body = OrgView), (status = 400, description = "invalid_address, invalid_query"), (status = 404, description = "not_found"), (status = 503, description = "state_diverged")))]
async fn org(
    State(s): State<TraceState>,
    Path(org): Path<String>,
    Query(page): Query<KeysPage>,
) -> ApiResult {
    let after = page.keys_cursor.as_deref().map(parse_address).transpose()?;
    let limit = page_limit(page.keys_limit, query::KEYS_PAGE_MAX, "keysLimit")?;
    let store = s.node.shared.store.clone();
    let lookup = org.clone();
    let v = read(&s.node, move || {
        let snap = store.snapshot()?;
        let Some(info) = query::org(&snap, &lookup)? else {
            return Ok(None);
        };
        let page = query::org_keys(&snap, &lookup, after.as_ref(), limit)?;
        let keys = page
            .items
            .into_iter()
            .map(|(address, key)| OrgKey { address, key })
            .collect();
        Ok(Some(OrgView {
            org: lookup,
            info,
            keys,
            keys_next: page.next,
        }))
    })
    .await?;
    v.map(|v| Json(v).into_response())
        .ok_or_else(|| not_found(format!("organisation {org:?} is not registered")))
}

/// An account as the trace module knows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub address: Address,
    /// Whether it is the trace administrator.
    pub admin: bool,
    /// Its department key, if it is one.
    pub key: Option<KeyInfo>,
    /// The key's organisation.
    pub org_info: Option<OrgInfo>,
}

#[utoipa::path(get, path = "/v1/trace/keys/{address}", tag = "trace",
    params(("address" = Address, Path, description = "account address")),
    responses((status = 200, description = "the department key, its organisation, whether it is the administrator", body = KeyView), (status = 400, description = "invalid_address"), (status = 503, description = "state_diverged")))]
async fn key(State(s): State<TraceState>, Path(address): Path<String>) -> ApiResult {
    let addr = parse_address(&address)?;
    let store = s.node.shared.store.clone();
    let v = read(&s.node, move || {
        let snap = store.snapshot()?;
        let admin = query::admin(&snap)?;
        let key = query::key(&snap, &addr)?;
        let org = match &key {
            Some(k) => query::org(&snap, &k.org)?,
            None => None,
        };
        Ok(KeyView {
            address: addr,
            admin: admin == Some(addr),
            key,
            org_info: org,
        })
    })
    .await?;
    Ok(Json(v).into_response())
}

/// An account's KYC attestations (level and hash only): the latest, and every verifier's own.
#[derive(Serialize, ToSchema)]
pub struct KycView {
    pub address: Address,
    /// The latest attestation by any verifier.
    pub kyc: Option<KycInfo>,
    /// Each verifier's attestation (one never erases another's), at most 64.
    pub attestations: Vec<KycInfo>,
}

#[utoipa::path(get, path = "/v1/trace/kyc/{address}", tag = "trace",
    params(("address" = Address, Path, description = "account address")),
    responses((status = 200, description = "the KYC attestation: level and hash only", body = KycView), (status = 400, description = "invalid_address"), (status = 503, description = "state_diverged")))]
async fn kyc(State(s): State<TraceState>, Path(address): Path<String>) -> ApiResult {
    let addr = parse_address(&address)?;
    let store = s.node.shared.store.clone();
    let v = read(&s.node, move || {
        let snap = store.snapshot()?;
        let attestations = query::kyc_attestations(&snap, &addr)?;
        Ok(KycView {
            address: addr,
            kyc: query::latest_kyc(&attestations),
            attestations,
        })
    })
    .await?;
    Ok(Json(v).into_response())
}

/// GS1 Application Identifiers of the primary keys whose Digital Link paths serve a tag page.
pub const TAG_PAGE_AIS: [&str; 5] = ["01", "00", "414", "8003", "8004"];

/// The consumer pages of every GS1 Digital Link path under the primary keys (any qualifiers):
/// served here, described in the OpenAPI document by their two common forms ([`TagPagesDoc`]).
fn tag_page_routes() -> OpenApiRouter<TraceState> {
    let mut docs = OpenApiRouter::new();
    docs.get_openapi_mut()
        .merge(<TagPagesDoc as utoipa::OpenApi>::openapi());
    TAG_PAGE_AIS.iter().fold(docs, |r, ai| {
        r.route(
            &format!("/{ai}/{{*rest}}"),
            get(
                move |s: State<TraceState>,
                      rest: Result<axum::extract::Path<String>, PathRejection>,
                      h: axum::http::HeaderMap| async move {
                    match rest {
                        Ok(axum::extract::Path(rest)) => {
                            tag_page(s, format!("/{ai}/{rest}"), h).await
                        }
                        // A path that is not UTF-8 once percent-decoded: a page like the
                        // route's other refusals, not JSON.
                        Err(e) => html_response(
                            400,
                            page("Not a product tag", &format!("<p>{}</p>", esc(&e.body_text()))),
                        ),
                    }
                },
            ),
        )
    })
}

#[utoipa::path(get, path = "/01/{gtin}/21/{serial}", tag = "trace",
    params(("gtin" = String, Path, description = "GTIN-14"), ("serial" = String, Path, description = "serial number")),
    responses((status = 200, description = "the product's provenance page (HTML): verdict, records, QR code", content_type = "text/html", body = String),
        (status = 400, description = "not a product tag (HTML)", content_type = "text/html", body = String),
        (status = 404, description = "no record names the product: the page says so (HTML)", content_type = "text/html", body = String),
        (status = 500, description = "verification failed (HTML)", content_type = "text/html", body = String), (status = 503, description = "state_diverged")))]
#[allow(dead_code)] // Served by the catch-all route of `/01`; here for its description.
async fn tag_page_serial(
    s: State<TraceState>,
    Path((gtin, serial)): Path<(String, String)>,
    h: axum::http::HeaderMap,
) -> Response {
    tag_page(s, format!("/01/{gtin}/21/{serial}"), h).await
}

#[utoipa::path(get, path = "/01/{gtin}", tag = "trace",
    params(("gtin" = String, Path, description = "GTIN-14")),
    responses((status = 200, description = "the product class's provenance page (HTML)", content_type = "text/html", body = String),
        (status = 400, description = "not a product tag (HTML)", content_type = "text/html", body = String),
        (status = 404, description = "no record names the product: the page says so (HTML)", content_type = "text/html", body = String),
        (status = 500, description = "verification failed (HTML)", content_type = "text/html", body = String), (status = 503, description = "state_diverged")))]
#[allow(dead_code)] // Served by the catch-all route of `/01`; here for its description.
async fn tag_page_gtin(
    s: State<TraceState>,
    Path(gtin): Path<String>,
    h: axum::http::HeaderMap,
) -> Response {
    tag_page(s, format!("/01/{gtin}"), h).await
}

/// The capture limits, advertised as EPCIS 2.0 does.
fn limit_headers() -> [(&'static str, String); 2] {
    [
        (
            "GS1-EPCIS-Capture-Limit",
            want_epcis::CAPTURE_EVENTS_MAX.to_string(),
        ),
        (
            "GS1-EPCIS-Capture-File-Size-Limit",
            want_epcis::CAPTURE_BYTES_MAX.to_string(),
        ),
    ]
}

/// The capture limits, as EPCIS 2.0 advertises them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaptureLimits {
    /// Most events in one capture.
    pub capture_limit: usize,
    /// Most bytes of one capture document.
    pub file_size_limit: usize,
    /// Most identifiers one event names.
    pub event_identifiers_max: usize,
}

#[utoipa::path(options, path = "/v1/epcis/capture", tag = "trace",
    responses((status = 200, description = "capture limits (also as the headers GS1-EPCIS-Capture-Limit, GS1-EPCIS-Capture-File-Size-Limit)", body = CaptureLimits)))]
async fn capture_limits() -> Response {
    limits_response()
}

#[utoipa::path(get, path = "/v1/epcis/capture", tag = "trace",
    responses((status = 200, description = "capture limits (also as the headers GS1-EPCIS-Capture-Limit, GS1-EPCIS-Capture-File-Size-Limit)", body = CaptureLimits)))]
async fn capture_limits_get() -> Response {
    limits_response()
}

fn limits_response() -> Response {
    (
        limit_headers(),
        Json(CaptureLimits {
            capture_limit: want_epcis::CAPTURE_EVENTS_MAX,
            file_size_limit: want_epcis::CAPTURE_BYTES_MAX,
            event_identifiers_max: want_epcis::EVENT_EPCS_MAX,
        }),
    )
        .into_response()
}

/// The schema of a capture document: an `EPCISDocument`, an `EPCISQueryDocument` or one bare
/// event, JSON or JSON-LD (validated by `want_epcis::parse_capture`, which names the JSON path of
/// the first problem).
pub struct EpcisDocument;

impl PartialSchema for EpcisDocument {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A GS1 EPCIS 2.0 capture: an EPCISDocument, an EPCISQueryDocument or one event (JSON or JSON-LD).",
            ))
            .into()
    }
}

impl ToSchema for EpcisDocument {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("EpcisDocument")
    }
}

/// Options of a capture.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct CaptureQuery {
    /// Whether the captured `receiving` events that name an order
    /// (`urn:want:commerce:order:<id>` in their bizTransactionList) confirm it, signed by the
    /// capture key (default true, on a node configured with `capture.confirm_orders = true`;
    /// otherwise they are reported `skipped`); the answer's `orders` says what became of each.
    confirm_orders: Option<bool>,
}

#[utoipa::path(post, path = "/v1/epcis/capture", tag = "trace", params(CaptureQuery),
    request_body(description = "an EPCISDocument, EPCISQueryDocument or single event (JSON / JSON-LD)",
        content((EpcisDocument = "application/json"), (EpcisDocument = "application/ld+json"))),
    responses((status = 200, description = "the anchored events in document order, once committed", body = Captured),
        (status = 400, description = "invalid document: error.path names the first problem (malformed_json, invalid_document, missing_field, invalid_field, …)"),
        (status = 401, description = "capture_unauthorized"), (status = 409, description = "duplicate_event"),
        (status = 413, description = "too_large, too_many_events"), (status = 501, description = "capture_disabled"), (status = 503, description = "state_diverged"),
        (status = 507, description = "insufficient_storage: the node's disk is below its free-space floor")))]
async fn capture(
    State(s): State<TraceState>,
    Query(q): Query<CaptureQuery>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let confirm_orders = q.confirm_orders.unwrap_or(true);
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let result = match body {
        Ok(body) => match s.node.shared.disk.check_room() {
            Ok(()) => {
                s.trace
                    .capture(&s.node, body, authorization, confirm_orders)
                    .await
            }
            Err(e) => Err(e),
        },
        Err(e) => Err(NodeError::Invalid {
            code: "too_large",
            message: format!(
                "the document could not be read ({e}); at most {} bytes are accepted",
                want_epcis::CAPTURE_BYTES_MAX
            ),
            path: "$".into(),
        }),
    };
    let resp = match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => ApiError(e).into_response(),
    };
    (limit_headers(), resp).into_response()
}

/// A stored blob: its CIDv1.
#[derive(Serialize, ToSchema)]
pub struct BlobStored {
    pub cid: String,
}

#[utoipa::path(put, path = "/v1/blobs", tag = "trace",
    request_body(content = Binary, content_type = "application/octet-stream", description = "a sealed blob (at most 16 MiB)"),
    params(("X-Want-Time" = u64, Header, description = "Unix ms of the upload"), ("X-Want-Signature" = String, Header, description = "secp256k1 recoverable signature (hex) of sha256d(\"WANT-BLOB-PUT-v1\" || chain_id BE || time_ms BE || cid) by the uploader: an active key of an organisation, or an account holding at least 1 WANT")),
    responses((status = 201, description = "stored: its CIDv1", body = BlobStored), (status = 400, description = "invalid_body: the body is empty or could not be read"),
        (status = 403, description = "blob_upload_denied: unsigned, badly signed, or the signer may not upload"), (status = 413, description = "blob_too_large"),
        (status = 429, description = "blob_quota_exceeded: the uploader's or the node's quota of blobs not yet anchored is used up"), (status = 503, description = "state_diverged"),
        (status = 507, description = "insufficient_storage: the node's disk is below its free-space floor")))]
async fn put_blob(
    State(s): State<TraceState>,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    s.node.shared.disk.check_room()?;
    let body = body.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            bad(
                trace_codes::BLOB_TOO_LARGE,
                format!(
                    "the blob is larger than {} bytes",
                    super::blobs::BLOB_BYTES_MAX
                ),
            )
        } else {
            bad(
                codes::INVALID_BODY,
                format!("the blob could not be read: {e}"),
            )
        }
    })?;
    if body.is_empty() {
        // A sealed blob carries at least its cipher's tag: an empty body is a missing one.
        return Err(bad(codes::INVALID_BODY, "the blob is empty"));
    }
    let cid = want_crypto::cid_of(&body);
    let (shared, trace) = (s.node.shared.clone(), s.trace.clone());
    let bytes = body.clone();
    // The signed-request helpers refuse with `blob_access_denied`: an upload's refusal is
    // `blob_upload_denied`.
    let denied = |e: ApiError| ApiError(upload_denied(e.0));
    if headers.contains_key(MEMBER_HEADER) {
        // A copy pushed by another member (`blob_repair.rs`): signed with its node key.
        let how = "only members push copies with X-Want-Member";
        let member = blob_header(&headers, MEMBER_HEADER, how).map_err(denied)?;
        let signature = blob_header(&headers, SIGNATURE_HEADER, how).map_err(denied)?;
        let time_ms = blob_read_time(&headers, how).map_err(denied)?;
        let stored = blocking(move || {
            let digest = super::blob_repair::member_put_digest(
                shared.params.chain_id,
                &shared.node_key.public_key(),
                &cid,
                time_ms,
            );
            super::blob_repair::authorize_member(
                &shared, &digest, &member, time_ms, &signature, now_ms(),
            )
            .map_err(upload_denied)?;
            trace.blobs.put(&bytes)
        })
        .await?;
        return Ok((
            axum::http::StatusCode::CREATED,
            Json(BlobStored { cid: stored }),
        )
            .into_response());
    }
    let how = "sign the upload with `want trace capture` or `want trace kyc submit` (X-Want-Time, X-Want-Signature over want_types::trace::blob_put_digest)";
    let (time_ms, signature) = signed_request(&headers, how).map_err(denied)?;
    let stored = blocking(move || {
        let uploader = super::access::blob_uploader(
            shared.params.chain_id,
            &cid,
            time_ms,
            &signature,
            now_ms(),
        )?;
        let snap = shared.store.snapshot()?;
        super::uploads::authorize_uploader(&snap, &uploader)?;
        trace
            .uploads
            .count(&snap, &trace.blobs, &uploader, &cid, bytes.len() as u64, now_ms())?;
        trace.blobs.put(&bytes)
    })
    .await?;
    s.trace
        .replicate_blobs(&s.node.shared, vec![body.to_vec()]);
    Ok((axum::http::StatusCode::CREATED, Json(BlobStored { cid: stored })).into_response())
}

/// A refusal of a signed request, re-coded as an upload's refusal.
fn upload_denied(e: NodeError) -> NodeError {
    match e {
        NodeError::Rejected { code, message } if code == trace_codes::BLOB_ACCESS_DENIED => {
            NodeError::rejected(trace_codes::BLOB_UPLOAD_DENIED, message)
        }
        other => other,
    }
}

/// The time and the decoded signature of a request signed by an account (`X-Want-Time`,
/// `X-Want-Signature`), or `blob_access_denied` naming what is missing and `how` to sign.
fn signed_request(headers: &axum::http::HeaderMap, how: &str) -> Result<(u64, Vec<u8>), ApiError> {
    let time_ms = blob_read_time(headers, how)?;
    let signature = hex::decode(blob_header(headers, SIGNATURE_HEADER, how)?).map_err(|_| {
        bad(
            trace_codes::BLOB_ACCESS_DENIED,
            format!("{SIGNATURE_HEADER} is not hex"),
        )
    })?;
    Ok((time_ms, signature))
}

/// A header a signed blob read needs, or `blob_access_denied` naming it and `how` to sign.
fn blob_header(headers: &axum::http::HeaderMap, name: &str, how: &str) -> Result<String, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            bad(
                trace_codes::BLOB_ACCESS_DENIED,
                format!("missing header {name}: {how}"),
            )
        })
}

/// The time a blob read was signed at (`X-Want-Time`, Unix ms).
fn blob_read_time(headers: &axum::http::HeaderMap, how: &str) -> Result<u64, ApiError> {
    blob_header(headers, TIME_HEADER, how)?
        .parse()
        .map_err(|_| {
            bad(
                trace_codes::BLOB_ACCESS_DENIED,
                format!("{TIME_HEADER} is not a number of ms"),
            )
        })
}

/// The stored blob `cid` (its bytes checked against the CID), or `blob_not_found`.
fn stored_blob(trace: &TraceNode, cid: &str) -> Result<Vec<u8>, NodeError> {
    trace.blobs.get(cid)?.ok_or_else(|| NodeError::NotFound {
        code: trace_codes::BLOB_NOT_FOUND,
        message: format!("blob {cid} is not in this node's store"),
    })
}

fn octet_stream(bytes: Vec<u8>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/blobs/{cid}", tag = "trace",
    params(("cid" = String, Path, description = "CIDv1 of the sealed blob"), ("X-Want-Time" = u64, Header, description = "Unix ms of the request"), ("X-Want-Signature" = String, Header, description = "secp256k1 recoverable signature (hex) of want_types::trace::blob_read_digest: sha256d(\"WANT-BLOB-READ-v2\" || chain_id BE || len-prefixed node_id (this node's Ed25519 key, /v1/status), \"GET\", \"/v1/blobs/{cid}\", cid (each u32 BE length first) || time_ms BE); each signed read is served once")),
    responses((status = 200, description = "the sealed blob", content_type = "application/octet-stream", body = Binary), (status = 400, description = "invalid_cid"), (status = 403, description = "blob_access_denied; blob_read_replayed: this signed read was already served"), (status = 404, description = "blob_not_found"), (status = 429, description = "blob_reads_exceeded: the reader signed more reads in five minutes than one reader may, or, while the node remembers as many signed reads as it may, as many as the heaviest reader"), (status = 500, description = "blob_tampered"), (status = 503, description = "state_diverged; blob_unavailable: the stored blob cannot be read now (I/O error, not a mismatch)")))]
async fn get_blob(
    State(s): State<TraceState>,
    Path(cid): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let how = "sign the read with `want trace fetch` (X-Want-Time, X-Want-Signature over want_types::trace::blob_read_digest for this chain and this node's node_id)";
    let (time_ms, signature) = signed_request(&headers, how)?;
    let (shared, trace) = (s.node.shared.clone(), s.trace.clone());
    let bytes = read(&s.node, move || {
        let now = now_ms();
        let reader = super::access::blob_reader(
            shared.params.chain_id,
            &shared.node_key.public_key(),
            &cid,
            time_ms,
            &signature,
            now,
        )?;
        let snap = shared.store.snapshot()?;
        let head = shared.store.head()?;
        super::access::authorize_blob(&snap, head.timestamp_ms, &cid, &reader)?;
        trace.seen_reads.admit(&reader, &cid, time_ms, now)?;
        stored_blob(&trace, &cid)
    })
    .await?;
    Ok(octet_stream(bytes))
}

/// A blob for another member repairing its store (see `blob_repair.rs`): the request is signed
/// with the member's node key.
#[utoipa::path(get, path = "/v1/cluster/blobs/{cid}", tag = "trace",
    params(("cid" = String, Path, description = "CIDv1 of the sealed blob"), ("X-Want-Member" = String, Header, description = "the member's node public key (hex)"), ("X-Want-Time" = u64, Header, description = "Unix ms of the request"), ("X-Want-Signature" = String, Header, description = "Ed25519 signature (hex) of sha256d(\"WANT-BLOB-MEMBER-READ-v2\" || chain_id BE || node_id (the addressed member's node key) || \"GET\" || \"/v1/cluster/blobs/{cid}\" || cid (each u32 BE length first) || time_ms BE)")),
    responses((status = 200, description = "the sealed blob", content_type = "application/octet-stream", body = Binary), (status = 400, description = "invalid_cid"), (status = 403, description = "blob_access_denied"), (status = 404, description = "blob_not_found"), (status = 500, description = "blob_tampered"), (status = 503, description = "state_diverged; blob_unavailable: the stored blob cannot be read now (I/O error, not a mismatch)")))]
async fn get_member_blob(
    State(s): State<TraceState>,
    Path(cid): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let how = "only members fetch blobs here";
    let member = blob_header(&headers, MEMBER_HEADER, how)?;
    let signature = blob_header(&headers, SIGNATURE_HEADER, how)?;
    let time_ms = blob_read_time(&headers, how)?;
    let (shared, trace) = (s.node.shared.clone(), s.trace.clone());
    let bytes = read(&s.node, move || {
        let digest = super::blob_repair::member_read_digest(
            shared.params.chain_id,
            &shared.node_key.public_key(),
            &cid,
            time_ms,
        );
        super::blob_repair::authorize_member(&shared, &digest, &member, time_ms, &signature, now_ms())?;
        stored_blob(&trace, &cid)
    })
    .await?;
    Ok(octet_stream(bytes))
}

/// The URL of a product's printable tag on this node: its GS1 Digital Link path served here.
fn tag_url(base: &str, product: &str) -> Option<String> {
    product
        .strip_prefix("https://id.gs1.org")
        .map(|path| format!("{}{path}", base.trim_end_matches('/')))
}

/// Longest content of a QR code this node renders, in bytes: a tag URL (a base of at most
/// `config::PUBLIC_URL_BYTES_MAX` bytes and a GS1 Digital Link path). Longer is refused
/// `invalid_query`, so a QR code's SVG stays under 128 KiB (about 40 KB for a tag URL on a
/// Host of the longest valid length).
pub const QR_CONTENT_BYTES_MAX: usize = 768;
/// Least width and height of a rendered QR code, in SVG pixels.
const QR_MIN_DIMENSION_PX: u32 = 240;

/// The base of this node's tag URLs: `[http] public_url` when set; otherwise `http://` and the
/// request's `Host` if it is a valid `host[:port]` of at most `config::HOST_BYTES_MAX` bytes;
/// otherwise `http://` and the listen address. A client cannot put anything else in a tag.
fn base_url(headers: &axum::http::HeaderMap, node: &Node) -> String {
    if let Some(url) = &node.shared.cfg.http.public_url {
        return url.trim_end_matches('/').to_string();
    }
    match headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| crate::config::valid_host(h))
    {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", node.shared.cfg.http_addr),
    }
}

/// The QR code of `data` as SVG; CPU-bound, so callers run it on the read pool ([`read`]).
fn qr_svg(data: &str) -> Result<String, NodeError> {
    if data.len() > QR_CONTENT_BYTES_MAX {
        return Err(NodeError::rejected(
            codes::INVALID_QUERY,
            format!(
                "a tag URL of {} bytes is longer than the {QR_CONTENT_BYTES_MAX} bytes a QR code here may hold",
                data.len()
            ),
        ));
    }
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(|e| {
        NodeError::rejected(
            codes::INVALID_QUERY,
            format!("cannot encode a QR code: {e}"),
        )
    })?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(QR_MIN_DIMENSION_PX, QR_MIN_DIMENSION_PX)
        .build())
}

/// `GET /v1/trace/tag/{product}`: the tag's URL (GS1 Digital Link on this node) and its QR code.
/// A product's printable tag: its URL on this node (the GS1 Digital Link path) and its QR code.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagView {
    pub product: String,
    pub url: String,
    /// The QR code of `url`, as SVG.
    pub qr_svg: String,
}

#[utoipa::path(get, path = "/v1/trace/tag/{product}", tag = "trace",
    params(("product" = String, Path, description = "a GS1 product (EPC URN or Digital Link), percent-encoded")),
    responses((status = 200, description = "its tag URL on this node and QR code", body = TagView), (status = 400, description = "invalid_query"), (status = 503, description = "state_diverged")))]
async fn tag(
    State(s): State<TraceState>,
    Path(product): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let product = product_id(&product)?;
    let base = base_url(&headers, &s.node);
    let url = tag_url(&base, &product).ok_or_else(|| {
        bad(
            codes::INVALID_QUERY,
            format!(
                "{product} is not a GS1 key; only GS1 Digital Link products get a printable tag"
            ),
        )
    })?;
    let for_qr = url.clone();
    let svg = read(&s.node, move || qr_svg(&for_qr)).await?;
    Ok(Json(TagView {
        product,
        url,
        qr_svg: svg,
    })
    .into_response())
}

/// `GET /v1/trace/qr/{product}`: the QR code of the product's tag, as SVG.
#[utoipa::path(get, path = "/v1/trace/qr/{product}", tag = "trace",
    params(("product" = String, Path, description = "a GS1 product (EPC URN or Digital Link), percent-encoded")),
    responses((status = 200, description = "the QR code of the product's tag URL", content_type = "image/svg+xml", body = String), (status = 400, description = "invalid_query"), (status = 503, description = "state_diverged")))]
async fn qr(
    State(s): State<TraceState>,
    Path(product): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let product = product_id(&product)?;
    let url = tag_url(&base_url(&headers, &s.node), &product)
        .ok_or_else(|| bad(codes::INVALID_QUERY, format!("{product} is not a GS1 key")))?;
    let svg = read(&s.node, move || qr_svg(&url)).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The plain HTML provenance page a consumer reaches by scanning the tag.
async fn tag_page(
    State(s): State<TraceState>,
    path: String,
    headers: axum::http::HeaderMap,
) -> Response {
    let product = match views::normalize_product(&format!("https://id.gs1.org{path}")) {
        Ok(p) => p,
        Err(e) => {
            return html_response(
                400,
                page("Not a product tag", &format!("<p>{}</p>", esc(&e))),
            )
        }
    };
    let p2 = product.clone();
    let s2 = s.clone();
    // The page's QR code is of the product's tag URL (never of the raw request path), rendered
    // on the read pool with the verification.
    let tag = tag_url(&base_url(&headers, &s.node), &product);
    let checked = read(&s.node, move || {
        let report = s2.trace.verify_product(&s2.node, &p2)?;
        let qr = tag.and_then(|url| qr_svg(&url).ok()).unwrap_or_default();
        Ok((report, qr))
    });
    let (report, qr) = match checked.await {
        Ok(r) => r,
        // A busy node (or one shutting down) says so with its status; the reader retries.
        Err(e) if e.0.http_status() == 503 => {
            return html_response(503, page("Busy", &esc(&e.0.to_string())))
        }
        Err(e) => return html_response(500, page("Verification failed", &esc(&e.0.to_string()))),
    };
    let (verdict, events, failure, records, anchor, endorsers, unendorsed) = match &report {
        VerifyReport::Unknown(r) => (
            "unknown",
            &r.events,
            None,
            r.records,
            String::new(),
            r.endorsers.as_ref(),
            &r.unendorsed,
        ),
        VerifyReport::Checked(r) => (
            match r.verdict {
                Verdict::Authentic => "authentic",
                Verdict::Tampered => "tampered",
            },
            &r.events,
            r.failure.as_ref(),
            r.records,
            r.anchor.to_hex(),
            r.endorsers.as_ref(),
            &r.unendorsed,
        ),
    };
    let (colour, headline) = match verdict {
        "authentic" => ("#1b7f3a", "Authentic: every record checks out"),
        "tampered" => ("#b00020", "Warning: tampered or counterfeit"),
        _ => ("#555", "Unknown product: no record on this chain"),
    };
    let rows = event_rows(events);
    let who = match endorsers {
        Some(e) => {
            let parties = if e.parties.is_empty() {
                String::new()
            } else {
                format!(
                    " and the parties it authorised ({}{})",
                    esc(&e.parties.join(", ")),
                    if e.parties_more { ", …" } else { "" }
                )
            };
            format!(
                "<p>History kept by <b>{}</b>, owner of GS1 Company Prefix <code>{}</code>{parties}, and those they handed custody to.</p>",
                esc(&e.owner),
                esc(&e.prefix)
            )
        }
        None => "<p>No GS1 Company Prefix covering this product is registered on this chain: anyone's records join its history.</p>".to_string(),
    };
    let apart = if unendorsed.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Not endorsed by the brand</h2>\n<p>These records name the product, but their organisations were not authorised by the prefix's owner nor handed custody: they are not part of the history above.</p>\n<table border=\"1\" cellpadding=\"4\"><tr><th>time (UTC)</th><th>event</th><th>step</th><th>organisation</th><th>place</th><th>block</th></tr>{}</table>",
            event_rows(unendorsed)
        )
    };
    let failure = failure
        .map(|f| format!("<p><b>Problem:</b> {}</p>", esc(&f.message)))
        .unwrap_or_default();
    let body = format!(
        "<h1 style=\"color:{colour}\">{headline}</h1>\n<p>Product <code>{}</code></p>\n{failure}\n<p>{} records; anchor <code>{}</code></p>\n{who}\n<table border=\"1\" cellpadding=\"4\"><tr><th>time (UTC)</th><th>event</th><th>step</th><th>organisation</th><th>place</th><th>block</th></tr>{rows}</table>\n{apart}\n<p><a href=\"/v1/trace/verify/{}\">Machine-readable verdict with Merkle proofs</a></p>\n<div>{qr}</div>",
        esc(&product),
        records,
        esc(&anchor),
        esc(&urlencode(&product)),
    );
    // An unknown product is a page too (the consumer reads why), answered 404.
    let status = if verdict == "unknown" { 404 } else { 200 };
    html_response(status, page(&format!("Provenance: {verdict}"), &body))
}

/// The rows of a provenance page's table of records.
fn event_rows(events: &[super::verify::VerifiedEvent]) -> String {
    let mut rows = String::new();
    for e in events {
        let time = e
            .event_time_ms
            .map(want_epcis::format_utc_millis)
            .unwrap_or_default();
        let declared = match &e.error_declaration {
            None => String::new(),
            Some(d) => {
                let corrective = if d.corrective_event_ids.is_empty() {
                    String::new()
                } else {
                    format!("; corrected by {}", d.corrective_event_ids.join(", "))
                };
                format!(
                    "<br><b>Declared erroneous</b> on {}: {}{}",
                    esc(&want_epcis::format_utc_millis(d.declared_at_ms)),
                    esc(d.reason.as_deref().unwrap_or("no reason given")),
                    esc(&corrective)
                )
            }
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}{declared}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&time),
            esc(&e.event_type),
            esc(e.biz_step.as_deref().unwrap_or("")),
            esc(&e.org),
            esc(e.location.as_deref().unwrap_or("")),
            esc(&e.height.to_string()),
        ));
    }
    rows
}

/// An HTML answer.
fn html_response(status: u16, body: String) -> Response {
    (
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK),
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title></head><body style=\"font-family:sans-serif;max-width:60em;margin:1em auto\">{body}</body></html>\n",
        esc(title)
    )
}

/// Percent-encodes a product id for a path segment.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod qr_tests {
    use super::*;

    /// Most bytes of SVG a QR code of [`QR_CONTENT_BYTES_MAX`] bytes may take.
    const QR_SVG_BYTES_MAX: usize = 128 * 1024;

    #[test]
    fn qr_content_is_bounded_and_so_is_its_svg() {
        let longest = "a".repeat(QR_CONTENT_BYTES_MAX);
        let svg = qr_svg(&longest).unwrap();
        assert!(svg.len() <= QR_SVG_BYTES_MAX, "{} bytes", svg.len());
        let e = qr_svg(&format!("{longest}a")).unwrap_err();
        assert_eq!(e.code(), codes::INVALID_QUERY);
        // A tag URL on a valid Host of the longest length is well within the bound.
        let host = vec!["a".repeat(63); 4].join(".");
        assert!(crate::config::valid_host(&host) && host.len() == crate::config::HOST_BYTES_MAX);
        let url = format!("http://{host}/01/10614141073464/21/2017");
        assert!(url.len() < QR_CONTENT_BYTES_MAX);
        eprintln!(
            "QR SVG bytes: {} for {} bytes, {} for {} bytes",
            svg.len(),
            longest.len(),
            qr_svg(&url).unwrap().len(),
            url.len()
        );
    }
}
