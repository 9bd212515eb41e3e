//! The HTTP API: JSON over REST, a WebSocket event stream, OpenAPI, Prometheus metrics.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use want_state::query;
use want_types::amount::{format_want, TOTAL_SUPPLY};
use want_types::{Address, Hash32, SignedTransaction};

use crate::error::{codes, NodeError};
use crate::node::{Node, Submitted};

/// Largest request body of `POST /v1/transactions`, in bytes (JSON of the largest transaction).
pub const TX_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Largest request body of `POST /v1/transactions/batch`, in bytes.
pub const BATCH_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;

/// An API error, rendered as `{"error": {"code", "message"}}` with a 4xx/5xx status.
pub struct ApiError(pub NodeError);

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body = json!({"error": {"code": self.0.code(), "message": self.0.to_string()}});
        if let Some(path) = self.0.path() {
            body["error"]["path"] = json!(path);
        }
        (status, Json(body)).into_response()
    }
}

pub(crate) type ApiResult = Result<Response, ApiError>;

pub(crate) fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError(NodeError::rejected(code, message))
}

/// The API router.
pub fn router(node: Node) -> Router {
    Router::new()
        .route(
            "/v1/transactions",
            post(submit_tx).layer(DefaultBodyLimit::max(TX_BODY_BYTES_MAX)),
        )
        .route(
            "/v1/transactions/batch",
            post(submit_batch).layer(DefaultBodyLimit::max(BATCH_BODY_BYTES_MAX)),
        )
        .route("/v1/transactions/{id}", get(get_tx))
        .route("/v1/accounts/{address}", get(get_account))
        .route(
            "/v1/accounts/{address}/allowances/{spender}",
            get(get_allowance),
        )
        .route("/v1/blocks/latest", get(get_latest_block))
        .route("/v1/blocks/{height}", get(get_block))
        .route("/v1/status", get(get_status))
        .route("/v1/token", get(get_token))
        .route("/v1/events", get(events))
        .route(
            want_consensus::net::RPC_PATH,
            post(cluster_rpc).layer(DefaultBodyLimit::max(
                want_consensus::net::ENVELOPE_BYTES_MAX,
            )),
        )
        .route("/v1/admin/faults", get(get_faults).put(put_faults))
        .route("/v1/sync/headers", get(sync_headers))
        .route("/v1/sync/blocks", get(sync_blocks))
        .route("/v1/sync/votes", get(sync_votes))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .merge(certificate_routes())
        .merge(crate::api_trace::routes())
        .merge(crate::api_trace::capture_routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            node.clone(),
            refuse_state_when_diverged,
        ))
        .with_state(node)
}

/// Serves the API until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    node: Node,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(node).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `POST /v1/cluster/rpc`: a signed envelope from another member; the answer is the sealed
/// answer, or 403 `envelope_refused` with the reason when the envelope fails its checks.
async fn cluster_rpc(State(node): State<Node>, body: Bytes) -> Response {
    match node.handle_cluster_rpc(&body).await {
        Ok(answer) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            answer,
        )
            .into_response(),
        Err(refusal) => {
            let body = json!({"error": {
                "code": codes::ENVELOPE_REFUSED,
                "reason": refusal.code(),
                "message": format!("the message was refused: {refusal}"),
            }});
            (StatusCode::FORBIDDEN, Json(body)).into_response()
        }
    }
}

#[derive(Deserialize)]
struct RangeQuery {
    from: u64,
    count: u64,
}

fn octets(bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response()
}

/// `GET /v1/sync/headers?from&count`: borsh `Vec<BlockHeader>` of the stored blocks from
/// `from` (at most [`crate::sync::SYNC_HEADERS_MAX`]; fewer at the head).
async fn sync_headers(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::sync::SYNC_HEADERS_MAX);
    let store = node.shared.store.clone();
    let headers =
        tokio::task::spawn_blocking(move || -> Result<Vec<want_types::BlockHeader>, NodeError> {
            let mut out = Vec::new();
            for h in q.from..q.from.saturating_add(count) {
                match store.block(h)? {
                    Some(b) => out.push(b.header),
                    None => break,
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| ApiError(NodeError::Io(format!("sync task: {e}"))))??;
    Ok(octets(borsh::to_vec(&headers).expect(
        "invariant: borsh encoding into a Vec cannot fail",
    )))
}

/// `GET /v1/sync/blocks?from&count`: borsh `Vec<Vec<u8>>`, the canonical bytes of the stored
/// blocks from `from` (at most [`crate::sync::SYNC_BLOCKS_MAX`] and about
/// [`crate::sync::SYNC_BYTES_MAX`] bytes).
async fn sync_blocks(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::sync::SYNC_BLOCKS_MAX);
    let store = node.shared.store.clone();
    let blocks = tokio::task::spawn_blocking(move || {
        store.raw_blocks(q.from, count, crate::sync::SYNC_BYTES_MAX)
    })
    .await
    .map_err(|e| ApiError(NodeError::Io(format!("sync task: {e}"))))?
    .map_err(NodeError::from)?;
    Ok(octets(borsh::to_vec(&blocks).expect(
        "invariant: borsh encoding into a Vec cannot fail",
    )))
}

/// `GET /v1/sync/votes?from&count`: borsh `Vec<(u64, Vec<SignedVote>)>`, the commit votes this
/// node holds for each height from `from` (at most [`crate::sync::SYNC_HEADERS_MAX`] heights).
async fn sync_votes(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::sync::SYNC_HEADERS_MAX);
    let shared = node.shared.clone();
    let votes = tokio::task::spawn_blocking(
        move || -> Result<Vec<(u64, Vec<want_types::SignedVote>)>, NodeError> {
            let head = shared.store.head()?.height;
            let mut out = Vec::new();
            for h in q.from.max(1)..q.from.saturating_add(count).min(head + 1) {
                out.push((h, shared.votes_for(h)?));
            }
            Ok(out)
        },
    )
    .await
    .map_err(|e| ApiError(NodeError::Io(format!("sync task: {e}"))))??;
    Ok(octets(borsh::to_vec(&votes).expect(
        "invariant: borsh encoding into a Vec cannot fail",
    )))
}

/// The transport's fault plan, or 403 if fault injection is not enabled on this node.
fn fault_injector(node: &Node) -> Result<&want_consensus::net::FaultInjector, ApiError> {
    node.consensus()
        .transport()
        .map(|t| &t.faults)
        .filter(|f| f.enabled())
        .ok_or_else(|| {
            bad(
                codes::FAULTS_DISABLED,
                "fault injection is disabled on this node (a cluster member with fault_injection = true in its configuration; for fault tests only)",
            )
        })
}

async fn get_faults(State(node): State<Node>) -> ApiResult {
    Ok(Json(fault_injector(&node)?.plan()).into_response())
}

async fn put_faults(State(node): State<Node>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let faults = fault_injector(&node)?;
    let plan: want_consensus::net::FaultPlan = parse_json(body, "fault plan")?;
    faults
        .set(plan)
        .map_err(|e| bad(codes::INVALID_FAULT_PLAN, e))?;
    tracing::warn!(target: "cluster::faults", "fault plan set: {:?}", faults.plan());
    Ok(Json(faults.plan()).into_response())
}

async fn not_found() -> ApiError {
    ApiError(NodeError::NotFound {
        code: codes::NOT_FOUND,
        message: "no such endpoint; see GET /openapi.json".into(),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            bad(
                codes::TX_TOO_LARGE,
                format!("the request body is too large: {e}"),
            )
        } else {
            bad(
                codes::INVALID_JSON,
                format!("could not read the request body: {e}"),
            )
        }
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let code = if inner.is_syntax() || inner.is_eof() {
            codes::INVALID_JSON
        } else {
            codes::INVALID_TRANSACTION
        };
        bad(code, format!("{what} at `{path}`: {inner}"))
    })
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<String>,
}

/// Content type of the binary (borsh) submission format, for high-throughput clients.
pub const BINARY_CONTENT_TYPE: &str = "application/octet-stream";

fn is_binary(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(BINARY_CONTENT_TYPE))
}

/// Parses a request body as JSON, or as borsh when sent as `application/octet-stream`.
fn parse_body<T: serde::de::DeserializeOwned + borsh::BorshDeserialize>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> Result<T, ApiError> {
    if !is_binary(headers) {
        return parse_json(body, what);
    }
    let body = body.map_err(|e| {
        bad(
            codes::TX_TOO_LARGE,
            format!("the request body is too large: {e}"),
        )
    })?;
    borsh::from_slice(&body)
        .map_err(|e| bad(codes::INVALID_TRANSACTION, format!("{what} (borsh): {e}")))
}

async fn submit_tx(
    State(node): State<Node>,
    Query(q): Query<WaitQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let wait = match q.wait.as_deref() {
        None | Some("") | Some("none") => false,
        Some("commit") => true,
        Some(other) => {
            return Err(bad(
                codes::INVALID_QUERY,
                format!("wait={other} is not supported; use wait=commit"),
            ))
        }
    };
    let stx: SignedTransaction = parse_body(&headers, body, "signed transaction")?;
    match node.submit(stx, wait).await? {
        Submitted::Accepted(id) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({"id": id})).into_response(),
        )
            .into_response()),
        Submitted::Committed(id, notice) => {
            let view = json!({
                "id": id,
                "status": "committed",
                "block_height": notice.height,
                "block_hash": notice.block_hash,
                "index": notice.index,
                "receipt": notice.receipt,
            });
            Ok((StatusCode::OK, Json(view)).into_response())
        }
    }
}

async fn submit_batch(
    State(node): State<Node>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let txs: Vec<SignedTransaction> = parse_body(&headers, body, "array of signed transactions")?;
    if txs.len() > crate::config::SUBMIT_BATCH_MAX {
        return Err(bad(
            codes::BATCH_TOO_LARGE,
            format!(
                "{} transactions in one batch; at most {}",
                txs.len(),
                crate::config::SUBMIT_BATCH_MAX
            ),
        ));
    }
    let results: Vec<Value> = node
        .submit_batch(txs)
        .await
        .into_iter()
        .map(|r| match r {
            Ok(id) => json!({"id": id}),
            Err(e) => json!({"error": {"code": e.code(), "message": e.to_string()}}),
        })
        .collect();
    Ok((StatusCode::OK, Json(json!({"results": results}))).into_response())
}

fn parse_hash(s: &str) -> Result<Hash32, ApiError> {
    s.parse()
        .map_err(|e| bad(codes::INVALID_HASH, format!("{e}")))
}

pub(crate) fn parse_address(s: &str) -> Result<Address, ApiError> {
    s.parse()
        .map_err(|e| bad(codes::INVALID_ADDRESS, format!("{e}")))
}

async fn get_tx(State(node): State<Node>, Path(id): Path<String>) -> ApiResult {
    let id = parse_hash(&id)?;
    let view = tokio::task::spawn_blocking(move || tx_view(&node, id))
        .await
        .map_err(|_| bad(codes::SHUTTING_DOWN, "the node is shutting down"))??;
    Ok(Json(view).into_response())
}

/// The full view of a transaction: committed (with receipt and Merkle inclusion proof) or pending.
pub fn tx_view(node: &Node, id: Hash32) -> Result<Value, ApiError> {
    let store = &node.shared.store;
    if let Some(loc) = store.tx_location(&id).map_err(NodeError::from)? {
        let block = store
            .block(loc.height)
            .map_err(NodeError::from)?
            .ok_or_else(|| {
                ApiError(NodeError::Io(format!(
                    "block {} indexed for {id} is missing",
                    loc.height
                )))
            })?;
        let receipts = store
            .receipts(loc.height)
            .map_err(NodeError::from)?
            .unwrap_or_default();
        let idx = loc.index as usize;
        let stx = block
            .txs
            .get(idx)
            .ok_or_else(|| ApiError(NodeError::Io(format!("index of {id} is out of range"))))?;
        let ids: Vec<Hash32> = block.txs.iter().map(|t| t.id()).collect();
        let proof = want_crypto::merkle_proof(&ids, idx);
        let receipt = receipts.get(idx);
        return Ok(json!({
            "id": id,
            "status": "committed",
            "sender": receipt.map(|r| r.sender),
            "tx": stx,
            "block_height": loc.height,
            "block_hash": block.hash(),
            "index": loc.index,
            "receipt": receipt,
            "tx_root": block.header.tx_root,
            "proof": proof,
        }));
    }
    if let Some(p) = node.shared.mempool.lock().get(&id) {
        return Ok(json!({"id": id, "status": "pending", "sender": p.sender, "tx": p.stx}));
    }
    Err(ApiError(NodeError::NotFound {
        code: codes::TX_NOT_FOUND,
        message: format!("transaction {id} is neither committed nor pending"),
    }))
}

async fn get_account(State(node): State<Node>, Path(address): Path<String>) -> ApiResult {
    let address = parse_address(&address)?;
    let snap = node.shared.store.snapshot().map_err(NodeError::from)?;
    let balance = query::balance(&snap, &address).map_err(NodeError::from)?;
    let nonce = query::nonce(&snap, &address).map_err(NodeError::from)?;
    let pending_nonce = node
        .shared
        .mempool
        .lock()
        .pending_nonce(&address)
        .unwrap_or(nonce)
        .max(nonce);
    Ok(Json(json!({
        "address": address,
        "balance": balance.to_string(),
        "balance_want": format_want(balance),
        "nonce": nonce,
        "pending_nonce": pending_nonce,
    }))
    .into_response())
}

async fn get_allowance(
    State(node): State<Node>,
    Path((owner, spender)): Path<(String, String)>,
) -> ApiResult {
    let owner = parse_address(&owner)?;
    let spender = parse_address(&spender)?;
    let snap = node.shared.store.snapshot().map_err(NodeError::from)?;
    let allowance = query::allowance(&snap, &owner, &spender).map_err(NodeError::from)?;
    Ok(
        Json(json!({"owner": owner, "spender": spender, "allowance": allowance.to_string()}))
            .into_response(),
    )
}

#[derive(Deserialize)]
struct BlockQuery {
    #[serde(default)]
    full: bool,
}

async fn get_latest_block(State(node): State<Node>, Query(q): Query<BlockQuery>) -> ApiResult {
    let head = node.shared.store.head().map_err(NodeError::from)?;
    block_view(&node, head.height, q.full)
}

async fn get_block(
    State(node): State<Node>,
    Path(height): Path<String>,
    Query(q): Query<BlockQuery>,
) -> ApiResult {
    let height: u64 = height.parse().map_err(|_| {
        bad(
            codes::INVALID_HEIGHT,
            format!(
                "block height {height:?} is not a non-negative integer (or use /v1/blocks/latest)"
            ),
        )
    })?;
    block_view(&node, height, q.full)
}

fn block_view(node: &Node, height: u64, full: bool) -> ApiResult {
    let store = &node.shared.store;
    let not_found = || {
        ApiError(NodeError::NotFound {
            code: codes::BLOCK_NOT_FOUND,
            message: format!("there is no block at height {height}"),
        })
    };
    let info = store
        .block_info(height)
        .map_err(NodeError::from)?
        .ok_or_else(not_found)?;
    let block = store
        .block(height)
        .map_err(NodeError::from)?
        .ok_or_else(not_found)?;
    let tx_ids: Vec<Hash32> = block.txs.iter().map(|t| t.id()).collect();
    let mut view = json!({
        "height": height,
        "hash": info.hash,
        "header": block.header,
        "signature": hex::encode(&block.signature),
        "state_root": info.state_root,
        "tx_count": info.tx_count,
        "tx_ids": tx_ids,
    });
    if full {
        let receipts = store
            .receipts(height)
            .map_err(NodeError::from)?
            .unwrap_or_default();
        view["transactions"] = json!(block.txs);
        view["receipts"] = json!(receipts);
    }
    Ok(Json(view).into_response())
}

async fn get_status(State(node): State<Node>) -> ApiResult {
    let s = &node.shared;
    let head = s.store.head().map_err(NodeError::from)?;
    let identity = s.store.identity().map_err(NodeError::from)?;
    let c = node.consensus_status();
    Ok(Json(json!({
        "chain_id": s.params.chain_id,
        "genesis_hash": identity.map(|i| i.genesis_hash),
        "node_id": c.node_id,
        "role": c.role,
        "leader": c.leader,
        "term": c.term,
        "members": c.members,
        "raft_id": c.raft_id,
        "leader_raft_id": c.leader_raft_id,
        "member_list": c.member_list,
        "height": head.height,
        "applied_index": c.applied_index,
        "snapshot_index": c.snapshot_index,
        "purged_index": c.purged_index,
        "head_hash": head.hash,
        "head_time_ms": head.timestamp_ms,
        "state_root": head.state_root,
        "mempool_size": s.mempool.lock().len(),
        "params": s.params,
        "block_interval_ms": s.cfg.block_interval_ms,
        "block_txs_max": s.cfg.block_txs_max,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": s.started.elapsed().as_secs(),
        "pid": std::process::id(),
        "divergence": s.divergence(),
    }))
    .into_response())
}

async fn get_token(State(node): State<Node>) -> ApiResult {
    let s = &node.shared;
    let snap = s.store.snapshot().map_err(NodeError::from)?;
    let burned = query::burned(&snap).map_err(NodeError::from)?;
    let pool = query::balance(&snap, &s.params.incentive_pool).map_err(NodeError::from)?;
    Ok(Json(json!({
        "name": "WANT",
        "symbol": "WANT",
        "decimals": want_types::amount::DECIMALS,
        "total_supply": TOTAL_SUPPLY.to_string(),
        "burned": burned.to_string(),
        "circulating": TOTAL_SUPPLY.saturating_sub(burned).to_string(),
        "incentive_pool": s.params.incentive_pool,
        "incentive_pool_balance": pool.to_string(),
        "transfer_fee_bps": s.params.transfer_fee_bps,
        "min_fee": s.params.min_fee.to_string(),
        "pow_difficulty_bits": s.params.pow_difficulty_bits,
    }))
    .into_response())
}

async fn healthz(State(node): State<Node>) -> ApiResult {
    let head = node.shared.store.head().map_err(NodeError::from)?;
    Ok(Json(json!({"ok": true, "height": head.height})).into_response())
}

async fn metrics(State(node): State<Node>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        node.shared.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}

#[derive(Deserialize)]
struct EventsQuery {
    from_height: Option<u64>,
    /// Comma-separated message types to receive (`block,receipt,token_event`; default all).
    kinds: Option<String>,
}

/// Which message types an event-stream client asked for.
#[derive(Clone, Copy)]
pub struct EventKinds {
    pub block: bool,
    pub receipt: bool,
    pub token_event: bool,
}

impl EventKinds {
    pub const ALL: EventKinds = EventKinds {
        block: true,
        receipt: true,
        token_event: true,
    };

    fn parse(s: Option<&str>) -> Result<EventKinds, ApiError> {
        let Some(s) = s else {
            return Ok(EventKinds::ALL);
        };
        let mut k = EventKinds {
            block: false,
            receipt: false,
            token_event: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "block" => k.block = true,
                "receipt" => k.receipt = true,
                "token_event" => k.token_event = true,
                other => {
                    return Err(bad(
                        codes::INVALID_QUERY,
                        format!(
                        "kinds: unknown message type {other:?}; use block, receipt, token_event"
                    ),
                    ))
                }
            }
        }
        Ok(k)
    }
}

async fn events(
    State(node): State<Node>,
    Query(q): Query<EventsQuery>,
    ws: WebSocketUpgrade,
) -> ApiResult {
    let kinds = EventKinds::parse(q.kinds.as_deref())?;
    let from = match q.from_height {
        Some(h) => h,
        None => node.shared.store.head().map_err(NodeError::from)?.height + 1,
    };
    Ok(ws.on_upgrade(move |socket| stream_events(socket, node, from, kinds)))
}

/// The messages describing one committed block: the block, then one `receipt` per transaction,
/// then one `token_event` per event.
pub fn block_messages(
    node: &Node,
    height: u64,
    kinds: EventKinds,
) -> Result<Vec<Value>, NodeError> {
    let store = &node.shared.store;
    let Some(info) = store.block_info(height)? else {
        return Ok(vec![]);
    };
    let receipts = store.receipts(height)?.unwrap_or_default();
    let mut out = Vec::with_capacity(1 + receipts.len() * 3);
    if kinds.block {
        out.push(json!({
        "type": "block",
        "height": height,
        "hash": info.hash,
        "timestamp_ms": info.timestamp_ms,
        "tx_count": info.tx_count,
        "state_root": info.state_root,
        }));
    }
    if !kinds.receipt && !kinds.token_event {
        return Ok(out);
    }
    for (i, r) in receipts.iter().enumerate() {
        if kinds.receipt {
            // The receipt without its events (they follow as token_event messages); built by
            // hand so the events' addresses are not encoded for nothing.
            let mut receipt = json!({
                "type": "receipt",
                "height": height,
                "index": i,
                "tx_id": r.tx_id,
                "sender": r.sender,
                "fee_paid": r.fee_paid.to_string(),
            });
            if let (Value::Object(m), Ok(Value::Object(status))) =
                (&mut receipt, serde_json::to_value(&r.status))
            {
                m.extend(status);
            }
            out.push(receipt);
        }
        if !kinds.token_event {
            continue;
        }
        for e in &r.events {
            out.push(json!({"type": "token_event", "height": height, "tx_id": r.tx_id, "index": i, "event": e}));
        }
    }
    Ok(out)
}

async fn stream_events(mut socket: WebSocket, node: Node, from: u64, kinds: EventKinds) {
    let metrics = &node.shared.metrics;
    metrics.ws_clients.inc();
    let mut blocks = node.shared.blocks.subscribe();
    let stopping = node.stopping();
    tokio::pin!(stopping);
    let mut next = from;
    'outer: loop {
        let head = match node.shared.store.head() {
            Ok(h) => h.height,
            Err(_) => break,
        };
        while next <= head {
            let messages = match block_messages(&node, next, kinds) {
                Ok(m) => m,
                Err(_) => break 'outer,
            };
            for m in messages {
                if socket
                    .send(Message::Text(m.to_string().into()))
                    .await
                    .is_err()
                {
                    break 'outer;
                }
            }
            next += 1;
        }
        tokio::select! {
            _ = &mut stopping => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
            r = blocks.recv() => match r {
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            },
            m = socket.recv() => match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
                Some(Ok(_)) => continue,
            },
        }
    }
    metrics.ws_clients.dec();
}

// Commit certificates ---------------------------------------------------------------------------

/// The routes of commit votes and certificates (see `certs.rs`).
fn certificate_routes() -> Router<Node> {
    Router::new()
        .route(
            "/v1/cluster/votes",
            post(post_votes).layer(DefaultBodyLimit::max(crate::certs::VOTES_BODY_BYTES_MAX)),
        )
        .route("/v1/cluster/votes/{height}", get(get_votes))
        .route("/v1/blocks/{height}/certificate", get(get_certificate))
}

/// Paths that serve this node's state (accounts, token, transactions): refused with
/// `state_diverged` once the node found that its state differs from the cluster majority's, so
/// it never serves a forked state. Blocks, status, metrics and votes stay available.
fn serves_state(path: &str) -> bool {
    path.starts_with("/v1/accounts") || path.starts_with("/v1/transactions") || path == "/v1/token"
}

async fn refuse_state_when_diverged(
    State(node): State<Node>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if serves_state(req.uri().path()) {
        if let Err(e) = node.shared.refuse_if_diverged() {
            return ApiError(e).into_response();
        }
    }
    next.run(req).await
}

fn parse_height(height: &str) -> Result<u64, ApiError> {
    height.parse().map_err(|_| {
        bad(
            codes::INVALID_HEIGHT,
            format!("block height {height:?} is not a non-negative integer"),
        )
    })
}

/// Runs storage and signature work off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| bad(codes::SHUTTING_DOWN, "the node is shutting down"))?
        .map_err(ApiError)
}

/// `POST /v1/cluster/votes`: members' signed votes (a JSON array, or a borsh `Vec<SignedVote>`
/// as `application/octet-stream`). All or nothing: one invalid vote refuses the request.
async fn post_votes(
    State(node): State<Node>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let metrics_node = node.clone();
    let refused = move |e: ApiError| {
        metrics_node.shared.metrics.vote_refused(e.0.code());
        e
    };
    let votes: Vec<want_types::SignedVote> = parse_body(&headers, body, "array of signed votes")
        .map_err(|e| {
            refused(match e.0 {
                NodeError::Rejected { code, message } => ApiError(NodeError::rejected(
                    match code {
                        codes::TX_TOO_LARGE => codes::BATCH_TOO_LARGE,
                        codes::INVALID_TRANSACTION => codes::INVALID_VOTE,
                        other => other,
                    },
                    message,
                )),
                other => ApiError(other),
            })
        })?;
    if votes.len() > crate::certs::VOTES_POST_MAX {
        return Err(refused(bad(
            codes::BATCH_TOO_LARGE,
            format!(
                "{} votes in one request; at most {}",
                votes.len(),
                crate::certs::VOTES_POST_MAX
            ),
        )));
    }
    let shared = node.shared.clone();
    let stored = blocking(move || {
        for (i, check) in shared.check_votes(&votes).into_iter().enumerate() {
            check.map_err(|e| match e {
                NodeError::Rejected { code, message } => {
                    NodeError::rejected(code, format!("votes[{i}]: {message}"))
                }
                other => other,
            })?;
        }
        shared.store_votes(&votes)
    })
    .await
    .map_err(refused)?;
    Ok(Json(json!(stored)).into_response())
}

/// `GET /v1/cluster/votes/{height}`: every vote this node holds for a height, its own included.
async fn get_votes(State(node): State<Node>, Path(height): Path<String>) -> ApiResult {
    let height = parse_height(&height)?;
    let shared = node.shared.clone();
    let votes = blocking(move || shared.votes_for(height)).await?;
    Ok(Json(json!({"height": height, "votes": votes})).into_response())
}

/// `GET /v1/blocks/{height}/certificate`: the signatures of a strict majority of the members
/// over (chain id, height, block hash, state root); `certificate_missing` while there is none.
async fn get_certificate(State(node): State<Node>, Path(height): Path<String>) -> ApiResult {
    let height = parse_height(&height)?;
    let shared = node.shared.clone();
    let Some(view) = blocking(move || shared.certificate(height)).await? else {
        return Err(ApiError(NodeError::NotFound {
            code: codes::CERTIFICATE_MISSING,
            message: format!(
                "block {height} has no commit certificate (yet): a majority of the members has not signed it, or there is no such block"
            ),
        }));
    };
    let vote = view.certificate.vote;
    Ok(Json(json!({
        "height": vote.height,
        "chain_id": vote.chain_id,
        "block_hash": vote.block_hash,
        "state_root": vote.state_root,
        "signatures": view.certificate.signatures,
        "members": view.members,
        "required": view.required,
        "complete": view.complete,
    }))
    .into_response())
}
