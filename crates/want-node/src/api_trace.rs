//! The traceability API: EPCIS capture, record queries, lineage, verification, the blob store and
//! the printable product tag.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use want_state::trace::state as st;
use want_types::trace::{event_hash_id, parse_event_hash_id};

use crate::api::{bad, parse_address, ApiError, ApiResult};
use crate::blob_repair::{MEMBER_HEADER, SIGNATURE_HEADER, TIME_HEADER};
use crate::error::{codes, NodeError};
use crate::node::Node;
use crate::trace::{self, EventQuery};

/// Routes of the trace API (merged into the main router).
pub fn routes() -> Router<Node> {
    Router::new()
        .route("/v1/trace/events", get(events))
        .route("/v1/trace/records/{event}", get(record))
        .route("/v1/trace/lineage/{product}", get(lineage))
        .route("/v1/trace/verify/{product}", get(verify))
        .route("/v1/trace/orgs/{org}", get(org))
        .route("/v1/trace/keys/{address}", get(key))
        .route("/v1/trace/kyc/{address}", get(kyc))
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError(NodeError::NotFound {
        code: codes::NOT_FOUND,
        message: message.into(),
    })
}

/// Runs blocking store work off the async runtime.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| bad(codes::SHUTTING_DOWN, "the node is shutting down"))?
        .map_err(ApiError)
}

/// A product identifier from a path or query: EPC URNs and GS1 Digital Link URIs are brought to
/// the one form records are indexed under.
pub(crate) fn product_id(s: &str) -> Result<String, ApiError> {
    crate::trace::normalize_product(s).map_err(|e| bad(codes::INVALID_QUERY, e))
}

async fn events(State(node): State<Node>, Query(mut q): Query<EventQuery>) -> ApiResult {
    if let Some(p) = &q.product {
        q.product = Some(product_id(p)?);
    }
    let store = node.shared.store.clone();
    let v = blocking(move || trace::query_events(&store, &q)).await?;
    Ok(Json(v).into_response())
}

async fn record(State(node): State<Node>, Path(event): Path<String>) -> ApiResult {
    let eh = parse_event_hash_id(&event).ok_or_else(|| {
        bad(
            codes::INVALID_HASH,
            format!("{event:?} is not an event hash ID (ni:///sha-256;<64 hex>?ver=CBV2.0)"),
        )
    })?;
    let store = node.shared.store.clone();
    let v = blocking(move || {
        let snap = store.snapshot()?;
        let Some(rec) = st::record(&snap, &eh)? else {
            return Ok(None);
        };
        let mut v = trace::record_view(&rec);
        v["ownerWrappedKey"] = json!(hex::encode(&rec.owner_wrapped_key));
        let grants: Vec<_> = store
            .state_range(&st::grants_prefix(&eh), None, usize::MAX)?
            .into_iter()
            .filter_map(|(_, v)| borsh::from_slice::<st::GrantInfo>(&v).ok())
            .collect();
        v["grants"] = json!(grants);
        Ok(Some(v))
    })
    .await?;
    match v {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(not_found(format!("no record {}", event_hash_id(&eh)))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineageQuery {
    depth: Option<u32>,
}

/// Lineage depth when a query does not say.
pub const LINEAGE_DEPTH_DEFAULT: u32 = 8;

async fn lineage(
    State(node): State<Node>,
    Path(product): Path<String>,
    Query(q): Query<LineageQuery>,
) -> ApiResult {
    let product = product_id(&product)?;
    let store = node.shared.store.clone();
    let depth = q.depth.unwrap_or(LINEAGE_DEPTH_DEFAULT);
    let v = blocking(move || trace::lineage(&store, &product, depth)).await?;
    Ok(Json(v).into_response())
}

async fn verify(State(node): State<Node>, Path(product): Path<String>) -> ApiResult {
    let product = product_id(&product)?;
    let v = blocking(move || node.verify_product(&product)).await?;
    Ok(Json(v).into_response())
}

async fn org(State(node): State<Node>, Path(org): Path<String>) -> ApiResult {
    let store = node.shared.store.clone();
    let lookup = org.clone();
    let v = blocking(move || {
        let snap = store.snapshot()?;
        let Some(info) = st::org(&snap, &lookup)? else {
            return Ok(None);
        };
        let mut keys = Vec::new();
        for (k, _) in store.state_range(&st::org_keys_prefix(&lookup), None, usize::MAX)? {
            let raw = &k[k.len().saturating_sub(want_types::address::ADDRESS_LEN)..];
            let Ok(raw) = <[u8; want_types::address::ADDRESS_LEN]>::try_from(raw) else {
                continue;
            };
            let addr = want_types::Address(raw);
            if let Some(ki) = st::key(&snap, &addr)? {
                keys.push(json!({"address": addr, "key": ki}));
            }
        }
        Ok(Some(json!({"org": lookup, "info": info, "keys": keys})))
    })
    .await?;
    v.map(|v| Json(v).into_response())
        .ok_or_else(|| not_found(format!("organisation {org:?} is not registered")))
}

async fn key(State(node): State<Node>, Path(address): Path<String>) -> ApiResult {
    let addr = parse_address(&address)?;
    let store = node.shared.store.clone();
    let v = blocking(move || {
        let snap = store.snapshot()?;
        let admin = st::admin(&snap)?;
        let key = st::key(&snap, &addr)?;
        let org = match &key {
            Some(k) => st::org(&snap, &k.org)?,
            None => None,
        };
        Ok(json!({
            "address": addr,
            "admin": admin == Some(addr),
            "key": key,
            "orgInfo": org,
        }))
    })
    .await?;
    Ok(Json(v).into_response())
}

async fn kyc(State(node): State<Node>, Path(address): Path<String>) -> ApiResult {
    let addr = parse_address(&address)?;
    let store = node.shared.store.clone();
    let v = blocking(move || {
        let snap = store.snapshot()?;
        Ok(json!({"address": addr, "kyc": st::kyc(&snap, &addr)?}))
    })
    .await?;
    Ok(Json(v).into_response())
}

/// Routes that need the blob store or the capture key.
pub fn capture_routes() -> Router<Node> {
    Router::new()
        .route(
            "/v1/epcis/capture",
            axum::routing::post(capture)
                .options(capture_limits)
                .get(capture_limits)
                .layer(axum::extract::DefaultBodyLimit::max(
                    want_epcis::CAPTURE_BYTES_MAX,
                )),
        )
        .route(
            "/v1/blobs",
            axum::routing::put(put_blob).layer(axum::extract::DefaultBodyLimit::max(
                crate::blobs::BLOB_BYTES_MAX,
            )),
        )
        .route("/v1/blobs/{cid}", get(get_blob))
        .route("/v1/cluster/blobs/{cid}", get(get_member_blob))
        .route("/v1/trace/tag/{product}", get(tag))
        .route("/v1/trace/qr/{product}", get(qr))
        .merge(tag_page_routes())
}

/// GS1 Application Identifiers of the primary keys whose Digital Link paths serve a tag page.
const TAG_PAGE_AIS: [&str; 5] = ["01", "00", "414", "8003", "8004"];

fn tag_page_routes() -> Router<Node> {
    TAG_PAGE_AIS.iter().fold(Router::new(), |r, ai| {
        r.route(
            &format!("/{ai}/{{*rest}}"),
            get(
                move |s: State<Node>, Path(rest): Path<String>, h: axum::http::HeaderMap| {
                    tag_page(s, format!("/{ai}/{rest}"), h)
                },
            ),
        )
    })
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

async fn capture_limits() -> Response {
    (
        limit_headers(),
        Json(json!({
            "captureLimit": want_epcis::CAPTURE_EVENTS_MAX,
            "fileSizeLimit": want_epcis::CAPTURE_BYTES_MAX,
            "eventIdentifiersMax": want_epcis::EVENT_EPCS_MAX,
        })),
    )
        .into_response()
}

async fn capture(
    State(node): State<Node>,
    headers: axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let result = match body {
        Ok(body) => node.capture(body, authorization).await,
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

async fn put_blob(
    State(node): State<Node>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult {
    let shared = node.shared.clone();
    let bytes = body.clone();
    let cid = blocking(move || shared.blobs.put(&bytes)).await?;
    if !headers.contains_key(trace::REPLICA_HEADER) {
        node.shared.replicate_blobs(vec![body.to_vec()]);
    }
    Ok((axum::http::StatusCode::CREATED, Json(json!({"cid": cid}))).into_response())
}

/// A header a signed blob read needs, or `blob_access_denied` naming it and `how` to sign.
fn blob_header(headers: &axum::http::HeaderMap, name: &str, how: &str) -> Result<String, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            bad(
                codes::BLOB_ACCESS_DENIED,
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
                codes::BLOB_ACCESS_DENIED,
                format!("{TIME_HEADER} is not a number of ms"),
            )
        })
}

/// The stored blob `cid` (its bytes checked against the CID), or `blob_not_found`.
fn stored_blob(shared: &crate::node::Shared, cid: &str) -> Result<Vec<u8>, NodeError> {
    shared.blobs.get(cid)?.ok_or_else(|| NodeError::NotFound {
        code: codes::BLOB_NOT_FOUND,
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

async fn get_blob(
    State(node): State<Node>,
    Path(cid): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let how = "sign the read with `want trace fetch` (X-Want-Time, X-Want-Signature)";
    let time_ms = blob_read_time(&headers, how)?;
    let signature = hex::decode(blob_header(&headers, SIGNATURE_HEADER, how)?).map_err(|_| {
        bad(
            codes::BLOB_ACCESS_DENIED,
            format!("{SIGNATURE_HEADER} is not hex"),
        )
    })?;
    let shared = node.shared.clone();
    let bytes = blocking(move || {
        let reader = trace::blob_reader(&cid, time_ms, &signature, crate::node::now_ms())?;
        let snap = shared.store.snapshot()?;
        let head = shared.store.head()?;
        trace::authorize_blob(&snap, head.timestamp_ms, &cid, &reader)?;
        stored_blob(&shared, &cid)
    })
    .await?;
    Ok(octet_stream(bytes))
}

/// A blob for another member repairing its store (see `blob_repair.rs`): the request is signed
/// with the member's node key.
async fn get_member_blob(
    State(node): State<Node>,
    Path(cid): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let how = "only members fetch blobs here";
    let member = blob_header(&headers, MEMBER_HEADER, how)?;
    let signature = blob_header(&headers, SIGNATURE_HEADER, how)?;
    let time_ms = blob_read_time(&headers, how)?;
    let shared = node.shared.clone();
    let bytes = blocking(move || {
        crate::blob_repair::authorize_member(
            &shared,
            &cid,
            &member,
            time_ms,
            &signature,
            crate::node::now_ms(),
        )?;
        stored_blob(&shared, &cid)
    })
    .await?;
    Ok(octet_stream(bytes))
}

impl Node {
    /// Verifies a product against this node's chain and blob store (see [`trace::verify`]).
    pub fn verify_product(&self, product: &str) -> Result<serde_json::Value, NodeError> {
        let started = std::time::Instant::now();
        let blobs = &self.shared.blobs;
        let cache = &self.shared.signer_cache;
        let mut v = trace::verify(
            &self.shared.store,
            cache,
            &self.shared.block_cache,
            product,
            &|cid| blobs.check(cid),
        )?;
        // How long the node took to verify (not part of the verdict; for operators).
        v["tookMs"] = serde_json::json!(started.elapsed().as_secs_f64() * 1_000.0);
        Ok(v)
    }
}

/// The URL of a product's printable tag on this node: its GS1 Digital Link path served here.
fn tag_url(base: &str, product: &str) -> Option<String> {
    product
        .strip_prefix("https://id.gs1.org")
        .map(|path| format!("{}{path}", base.trim_end_matches('/')))
}

fn base_url(headers: &axum::http::HeaderMap, node: &Node) -> String {
    match headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        Some(host) => format!("http://{host}"),
        None => format!("http://{}", node.shared.cfg.http_addr),
    }
}

fn qr_svg(data: &str) -> Result<String, ApiError> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(|e| {
        bad(
            codes::INVALID_QUERY,
            format!("cannot encode a QR code: {e}"),
        )
    })?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build())
}

/// `GET /v1/trace/tag/{product}`: the tag's URL (GS1 Digital Link on this node) and its QR code.
async fn tag(
    State(node): State<Node>,
    Path(product): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let product = product_id(&product)?;
    let base = base_url(&headers, &node);
    let url = tag_url(&base, &product).ok_or_else(|| {
        bad(
            codes::INVALID_QUERY,
            format!(
                "{product} is not a GS1 key; only GS1 Digital Link products get a printable tag"
            ),
        )
    })?;
    let svg = qr_svg(&url)?;
    Ok(Json(json!({"product": product, "url": url, "qrSvg": svg})).into_response())
}

/// `GET /v1/trace/qr/{product}`: the QR code of the product's tag, as SVG.
async fn qr(
    State(node): State<Node>,
    Path(product): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult {
    let product = product_id(&product)?;
    let url = tag_url(&base_url(&headers, &node), &product)
        .ok_or_else(|| bad(codes::INVALID_QUERY, format!("{product} is not a GS1 key")))?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "image/svg+xml")],
        qr_svg(&url)?,
    )
        .into_response())
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
    State(node): State<Node>,
    path: String,
    headers: axum::http::HeaderMap,
) -> Response {
    let html_response = |status: u16, body: String| {
        (
            axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::OK),
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    };
    let product = match crate::trace::normalize_product(&format!("https://id.gs1.org{path}")) {
        Ok(p) => p,
        Err(e) => {
            return html_response(
                400,
                page("Not a product tag", &format!("<p>{}</p>", esc(&e))),
            )
        }
    };
    let p2 = product.clone();
    let n2 = node.clone();
    let report = match blocking(move || n2.verify_product(&p2)).await {
        Ok(r) => r,
        Err(e) => return html_response(500, page("Verification failed", &esc(&e.0.to_string()))),
    };
    let verdict = report["verdict"].as_str().unwrap_or("unknown");
    let (colour, headline) = match verdict {
        "authentic" => ("#1b7f3a", "Authentic: every record checks out"),
        "tampered" => ("#b00020", "Warning: tampered or counterfeit"),
        _ => ("#555", "Unknown product: no record on this chain"),
    };
    let mut rows = String::new();
    for e in report["events"].as_array().into_iter().flatten() {
        let time = e["eventTimeMs"]
            .as_i64()
            .map(|t| t.to_string())
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&time),
            esc(e["eventType"].as_str().unwrap_or("")),
            esc(e["bizStep"].as_str().unwrap_or("")),
            esc(e["org"].as_str().unwrap_or("")),
            esc(e["location"].as_str().unwrap_or("")),
            esc(&e["height"].to_string()),
        ));
    }
    let failure = report["failure"]["message"]
        .as_str()
        .map(|m| format!("<p><b>Problem:</b> {}</p>", esc(m)))
        .unwrap_or_default();
    let base = base_url(&headers, &node);
    let url = format!("{base}{path}");
    let qr = qr_svg(&url).unwrap_or_default();
    let body = format!(
        "<h1 style=\"color:{colour}\">{headline}</h1>\n<p>Product <code>{}</code></p>\n{failure}\n<p>{} records; anchor <code>{}</code></p>\n<table border=\"1\" cellpadding=\"4\"><tr><th>time (ms)</th><th>event</th><th>step</th><th>organisation</th><th>place</th><th>block</th></tr>{rows}</table>\n<p><a href=\"/v1/trace/verify/{}\">Machine-readable verdict with Merkle proofs</a></p>\n<div>{qr}</div>",
        esc(&product),
        report["records"],
        esc(report["anchor"].as_str().unwrap_or("")),
        esc(&urlencode(&product)),
    );
    html_response(200, page(&format!("Provenance: {verdict}"), &body))
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
