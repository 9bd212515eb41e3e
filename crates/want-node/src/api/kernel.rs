//! The kernel's routes: transactions, blocks and certificates, status, the members' RPC, votes
//! and catch-up, fault injection (tests), metrics and liveness.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use want_types::{Hash32, SignedTransaction};

use crate::api::{bad, blocking, parse_body, parse_height, parse_json, ApiError, ApiResult};
use crate::error::{codes, NodeError};
use crate::kernel::node::{Node, Submitted};

/// Largest request body of `POST /v1/transactions`, in bytes (JSON of the largest transaction).
pub const TX_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Largest request body of `POST /v1/transactions/batch`, in bytes.
pub const BATCH_BODY_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The kernel's routes that serve the chain's state (transactions: admission reads state, and a
/// transaction's view its receipt), behind the divergence guard.
pub fn state_routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new()
        .routes(routes!(submit_tx).layer(DefaultBodyLimit::max(TX_BODY_BYTES_MAX)))
        .routes(routes!(submit_batch).layer(DefaultBodyLimit::max(BATCH_BODY_BYTES_MAX)))
        .routes(routes!(get_tx))
}

/// The kernel's routes that stay available on a node whose state diverged (blocks, status,
/// certificates, members' traffic, metrics).
pub fn routes() -> OpenApiRouter<Node> {
    OpenApiRouter::new()
        .routes(routes!(get_latest_block))
        .routes(routes!(get_block))
        .routes(routes!(get_certificate))
        .routes(routes!(get_status))
        .routes(routes!(cluster_rpc).layer(DefaultBodyLimit::max(
            want_consensus::net::ENVELOPE_BYTES_MAX,
        )))
        .routes(routes!(get_faults, put_faults))
        .routes(routes!(sync_headers))
        .routes(routes!(sync_blocks))
        .routes(routes!(sync_votes))
        .routes(routes!(post_votes).layer(DefaultBodyLimit::max(
            crate::kernel::certs::VOTES_BODY_BYTES_MAX,
        )))
        .routes(routes!(get_votes))
        .routes(routes!(metrics))
        .routes(routes!(healthz))
}

#[derive(Deserialize)]
struct RangeQuery {
    from: u64,
    count: u64,
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<String>,
}

#[derive(Deserialize)]
struct BlockQuery {
    #[serde(default)]
    full: bool,
}

#[utoipa::path(post, path = "/v1/transactions", tag = "transactions",
    request_body(content = serde_json::Value, description = "a signed transaction (JSON), or its borsh encoding as application/octet-stream"),
    params(("wait" = Option<String>, Query, description = "`commit`: answer 200 with the receipt once the transaction is committed")),
    responses((status = 202, description = "admitted durably: {\"id\"}"), (status = 200, description = "committed (wait=commit)"),
        (status = 400, description = "refused"), (status = 409, description = "duplicate"), (status = 413, description = "too large"), (status = 429, description = "mempool full")))]
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

#[utoipa::path(post, path = "/v1/transactions/batch", tag = "transactions",
    request_body(content = serde_json::Value, description = "an array of signed transactions (JSON), or the borsh Vec as application/octet-stream"),
    responses((status = 200, description = "{\"results\": [{\"id\"} | {\"error\"}]} in request order"), (status = 400, description = "malformed"), (status = 413, description = "too many")))]
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

#[utoipa::path(get, path = "/v1/transactions/{id}", tag = "transactions",
    params(("id" = String, Path, description = "transaction id, 64 hex digits")),
    responses((status = 200, description = "committed (with receipt, block and Merkle inclusion proof) or pending"), (status = 400, description = "invalid_hash"), (status = 404, description = "tx_not_found")))]
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

#[utoipa::path(get, path = "/v1/blocks/latest", tag = "blocks",
    params(("full" = Option<bool>, Query, description = "include transactions and receipts")),
    responses((status = 200, description = "the latest committed block")))]
async fn get_latest_block(State(node): State<Node>, Query(q): Query<BlockQuery>) -> ApiResult {
    let head = node.shared.store.head().map_err(NodeError::from)?;
    block_view(&node, head.height, q.full)
}

#[utoipa::path(get, path = "/v1/blocks/{height}", tag = "blocks",
    params(("height" = u64, Path, description = "block height"), ("full" = Option<bool>, Query, description = "include transactions and receipts")),
    responses((status = 200, description = "a committed block"), (status = 400, description = "invalid_height"), (status = 404, description = "block_not_found")))]
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

#[utoipa::path(get, path = "/v1/status", tag = "node",
    responses((status = 200, description = "node, consensus and chain status")))]
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
        "activations": s.activations,
        "block_interval_ms": s.cfg.block_interval_ms,
        "block_txs_max": s.cfg.block_txs_max,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": s.started.elapsed().as_secs(),
        "pid": std::process::id(),
        "divergence": s.divergence(),
    }))
    .into_response())
}

#[utoipa::path(post, path = "/v1/cluster/rpc", tag = "cluster",
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "borsh Envelope {header, payload, signature}"),
    responses((status = 200, description = "the sealed answer (application/octet-stream)"), (status = 403, description = "envelope_refused")))]
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

fn octets(bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/sync/headers", tag = "cluster",
    params(("from" = u64, Query, description = "first height"), ("count" = u64, Query, description = "how many (at most 2,000)")),
    responses((status = 200, description = "borsh Vec<BlockHeader>")))]
/// `GET /v1/sync/headers?from&count`: borsh `Vec<BlockHeader>` of the stored blocks from
/// `from` (at most [`crate::kernel::sync::SYNC_HEADERS_MAX`]; fewer at the head).
async fn sync_headers(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::kernel::sync::SYNC_HEADERS_MAX);
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

#[utoipa::path(get, path = "/v1/sync/blocks", tag = "cluster",
    params(("from" = u64, Query, description = "first height"), ("count" = u64, Query, description = "how many (at most 256)")),
    responses((status = 200, description = "borsh Vec<Vec<u8>> of blocks")))]
/// `GET /v1/sync/blocks?from&count`: borsh `Vec<Vec<u8>>`, the canonical bytes of the stored
/// blocks from `from` (at most [`crate::kernel::sync::SYNC_BLOCKS_MAX`] and about
/// [`crate::kernel::sync::SYNC_BYTES_MAX`] bytes).
async fn sync_blocks(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::kernel::sync::SYNC_BLOCKS_MAX);
    let store = node.shared.store.clone();
    let blocks = tokio::task::spawn_blocking(move || {
        store.raw_blocks(q.from, count, crate::kernel::sync::SYNC_BYTES_MAX)
    })
    .await
    .map_err(|e| ApiError(NodeError::Io(format!("sync task: {e}"))))?
    .map_err(NodeError::from)?;
    Ok(octets(borsh::to_vec(&blocks).expect(
        "invariant: borsh encoding into a Vec cannot fail",
    )))
}

#[utoipa::path(get, path = "/v1/sync/votes", tag = "cluster",
    params(("from" = u64, Query, description = "first height"), ("count" = u64, Query, description = "how many (at most 2,000)")),
    responses((status = 200, description = "borsh Vec<(u64, Vec<SignedVote>)>")))]
/// `GET /v1/sync/votes?from&count`: borsh `Vec<(u64, Vec<SignedVote>)>`, the commit votes this
/// node holds for each height from `from` (at most [`crate::kernel::sync::SYNC_HEADERS_MAX`] heights).
async fn sync_votes(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::kernel::sync::SYNC_HEADERS_MAX);
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

#[utoipa::path(get, path = "/v1/admin/faults", tag = "cluster",
    responses((status = 200, description = "the fault plan"), (status = 403, description = "faults_disabled")))]
async fn get_faults(State(node): State<Node>) -> ApiResult {
    Ok(Json(fault_injector(&node)?.plan()).into_response())
}

#[utoipa::path(put, path = "/v1/admin/faults", tag = "cluster",
    request_body(content = serde_json::Value, description = "{seed, drop_per_mille, duplicate_per_mille, corrupt_per_mille, forge_per_mille, delay_ms_max, blocked}"),
    responses((status = 200, description = "the plan in force"), (status = 400, description = "invalid_fault_plan"), (status = 403, description = "faults_disabled")))]
async fn put_faults(State(node): State<Node>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let faults = fault_injector(&node)?;
    let plan: want_consensus::net::FaultPlan = parse_json(body, "fault plan")?;
    faults
        .set(plan)
        .map_err(|e| bad(codes::INVALID_FAULT_PLAN, e))?;
    tracing::warn!(target: "cluster::faults", "fault plan set: {:?}", faults.plan());
    Ok(Json(faults.plan()).into_response())
}

fn parse_hash(s: &str) -> Result<Hash32, ApiError> {
    s.parse()
        .map_err(|e| bad(codes::INVALID_HASH, format!("{e}")))
}

#[utoipa::path(post, path = "/v1/cluster/votes", tag = "cluster",
    request_body(content = serde_json::Value, description = "an array of signed commit votes (JSON), or the borsh Vec as application/octet-stream"),
    responses((status = 200, description = "{\"accepted\", \"already_known\"}"), (status = 400, description = "bad vote"), (status = 413, description = "batch_too_large")))]
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
    if votes.len() > crate::kernel::certs::VOTES_POST_MAX {
        return Err(refused(bad(
            codes::BATCH_TOO_LARGE,
            format!(
                "{} votes in one request; at most {}",
                votes.len(),
                crate::kernel::certs::VOTES_POST_MAX
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

#[utoipa::path(get, path = "/v1/cluster/votes/{height}", tag = "cluster",
    params(("height" = u64, Path, description = "block height")),
    responses((status = 200, description = "every vote this node holds for the height"), (status = 400, description = "invalid_height")))]
/// `GET /v1/cluster/votes/{height}`: every vote this node holds for a height, its own included.
async fn get_votes(State(node): State<Node>, Path(height): Path<String>) -> ApiResult {
    let height = parse_height(&height)?;
    let shared = node.shared.clone();
    let votes = blocking(move || shared.votes_for(height)).await?;
    Ok(Json(json!({"height": height, "votes": votes})).into_response())
}

#[utoipa::path(get, path = "/v1/blocks/{height}/certificate", tag = "blocks",
    params(("height" = u64, Path, description = "block height")),
    responses((status = 200, description = "signatures of a strict majority of the members"), (status = 400, description = "invalid_height"), (status = 404, description = "certificate_missing")))]
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

#[utoipa::path(get, path = "/healthz", tag = "node",
    responses((status = 200, description = "{\"ok\": true, \"height\"}")))]
async fn healthz(State(node): State<Node>) -> ApiResult {
    let head = node.shared.store.head().map_err(NodeError::from)?;
    Ok(Json(json!({"ok": true, "height": head.height})).into_response())
}

#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)")))]
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
