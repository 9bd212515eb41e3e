//! The kernel's routes: transactions, blocks and certificates, status, the members' RPC, votes
//! and catch-up, fault injection (tests), metrics and liveness. Every JSON answer is one of the
//! typed views below, whose schema is the document's.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use want_types::vote::{SignedVote, VoteSignature};
use want_types::{Activations, BlockHeader, ChainParams, Hash32, Receipt, SignedTransaction};

use crate::api::document::{Binary, ErrorBody, ErrorDetail, TxBatch, VoteBatch};
use crate::api::{
    bad, blocking, parse_body, parse_height, parse_json, read, ApiError, ApiResult, Json, Path,
    Query,
};
use crate::error::{codes, NodeError};
use crate::kernel::certs::{Divergence, VoteConflict, VotesStored};
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
        .routes(routes!(cluster_rpc))
        .routes(routes!(get_faults, put_faults))
        .routes(routes!(sync_headers))
        .routes(routes!(sync_blocks))
        .routes(routes!(sync_votes))
        .routes(routes!(post_votes).layer(DefaultBodyLimit::max(
            crate::kernel::certs::VOTES_BODY_BYTES_MAX,
        )))
        .routes(routes!(get_votes))
        .routes(routes!(get_membership_history))
        .routes(routes!(metrics))
        .routes(routes!(healthz))
        .routes(routes!(put_storage_fault))
}

/// A range of heights for catch-up (`GET /v1/sync/…`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RangeQuery {
    /// First height.
    from: u64,
    /// How many heights; larger counts are served as the route's most (fewer at the head).
    count: u64,
}

/// Whether a submission waits for its commit (the values `?wait=` takes).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // The schema of `WaitQuery::wait`, which the handler matches as a string.
#[serde(rename_all = "snake_case")]
enum Wait {
    /// Answer once admitted (the default).
    #[serde(rename = "")]
    Empty,
    /// Answer once admitted.
    None,
    /// Answer with the receipt once committed (on the member asked).
    Commit,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct WaitQuery {
    /// `commit`: answer 200 with the receipt once the transaction is committed; `none` or
    /// absent: answer 202 once it is admitted durably.
    #[param(value_type = Option<Wait>, inline)]
    wait: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct BlockQuery {
    /// Include the transactions and their receipts.
    #[serde(default)]
    full: bool,
}

/// A transaction admitted durably (`202`): its id.
#[derive(Serialize, ToSchema)]
pub struct TxAccepted {
    pub id: Hash32,
}

/// The status of a committed transaction.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommittedStatus {
    Committed,
}

/// The status of a transaction in the mempool.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PendingStatus {
    Pending,
}

/// A transaction committed while its submitter waited (`?wait=commit`).
#[derive(Serialize, ToSchema)]
pub struct TxCommitted {
    pub id: Hash32,
    pub status: CommittedStatus,
    pub block_height: u64,
    pub block_hash: Hash32,
    /// Position in the block.
    pub index: u32,
    pub receipt: Receipt,
}

/// One item of a batch's answer: the id of an admitted transaction, or why it was refused.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Admitted { id: Hash32 },
    Refused { error: ErrorDetail },
}

/// The answer of a batch submission, in request order.
#[derive(Serialize, ToSchema)]
pub struct BatchResults {
    pub results: Vec<BatchItem>,
}

/// A committed transaction with its receipt, block and Merkle inclusion proof.
#[derive(Serialize, ToSchema)]
pub struct CommittedTx {
    pub id: Hash32,
    pub status: CommittedStatus,
    /// The sender recovered from the signature (from the receipt).
    pub sender: Option<want_types::Address>,
    pub tx: SignedTransaction,
    pub block_height: u64,
    pub block_hash: Hash32,
    /// Position in the block.
    pub index: u32,
    pub receipt: Option<Receipt>,
    /// The block header's Merkle root of transaction ids, which `proof` leads to.
    pub tx_root: Hash32,
    pub proof: Option<want_types::merkle::MerkleProof>,
}

/// A transaction waiting in the mempool.
#[derive(Serialize, ToSchema)]
pub struct PendingTx {
    pub id: Hash32,
    pub status: PendingStatus,
    pub sender: want_types::Address,
    pub tx: SignedTransaction,
}

/// A transaction as `GET /v1/transactions/{id}` shows it: committed or pending.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum TxView {
    Committed(Box<CommittedTx>),
    Pending(Box<PendingTx>),
}

#[utoipa::path(post, path = "/v1/transactions", tag = "transactions",
    request_body(description = "a signed transaction: JSON, or its borsh encoding as application/octet-stream",
        content((SignedTransaction = "application/json"), (Binary = "application/octet-stream"))),
    params(WaitQuery),
    responses((status = 202, description = "admitted durably", body = TxAccepted),
        (status = 200, description = "committed (wait=commit), on the member asked", body = TxCommitted),
        (status = 400, description = "refused: invalid_json, invalid_transaction, bad_signature, wrong_chain_id, expired, expiry_too_far, fee_too_low, nonce_too_low, nonce_too_far_ahead, insufficient_balance_for_fee, a module's refusal of the call"),
        (status = 403, description = "refused by the call's module (e.g. not_admin)"),
        (status = 408, description = "commit_timeout (wait=commit; the message says which nonce a gapped transaction waits for)"),
        (status = 409, description = "duplicate_transaction, nonce_in_use (a replacement of a pending transaction must pay a higher fee; the message names it)"),
        (status = 410, description = "tx_dropped, tx_replaced, tx_evicted (wait=commit)"), (status = 413, description = "tx_too_large"),
        (status = 429, description = "mempool_full (the message names the fee that would get in), too_many_pending"),
        (status = 503, description = "no_leader, not_leader"),
        (status = 507, description = "insufficient_storage: the node's disk is below its free-space floor")))]
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
        Submitted::Accepted(id) => {
            Ok((StatusCode::ACCEPTED, Json(TxAccepted { id })).into_response())
        }
        Submitted::Committed(id, notice) => {
            let view = TxCommitted {
                id,
                status: CommittedStatus::Committed,
                block_height: notice.height,
                block_hash: notice.block_hash,
                index: notice.index,
                receipt: notice.receipt,
            };
            Ok((StatusCode::OK, Json(view)).into_response())
        }
    }
}

#[utoipa::path(post, path = "/v1/transactions/batch", tag = "transactions",
    request_body(description = "an array of signed transactions (JSON), or the borsh Vec as application/octet-stream",
        content((TxBatch = "application/json"), (Binary = "application/octet-stream"))),
    responses((status = 200, description = "per transaction, in request order, its id or why it was refused", body = BatchResults),
        (status = 400, description = "invalid_json, invalid_transaction: the batch does not parse (nothing is admitted)"),
        (status = 413, description = "batch_too_large, tx_too_large")))]
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
    let results: Vec<BatchItem> = node
        .submit_batch(txs)
        .await
        .into_iter()
        .map(|r| match r {
            Ok(id) => BatchItem::Admitted { id },
            Err(e) => BatchItem::Refused {
                error: ErrorDetail {
                    code: e.code(),
                    message: e.to_string(),
                    path: None,
                    reason: None,
                },
            },
        })
        .collect();
    Ok((StatusCode::OK, Json(BatchResults { results })).into_response())
}

#[utoipa::path(get, path = "/v1/transactions/{id}", tag = "transactions",
    params(("id" = Hash32, Path, description = "transaction id, 64 hex digits")),
    responses((status = 200, description = "committed (with receipt, block and Merkle inclusion proof) or pending", body = TxView),
        (status = 400, description = "invalid_hash"), (status = 404, description = "tx_not_found")))]
async fn get_tx(State(node): State<Node>, Path(id): Path<String>) -> ApiResult {
    let id = parse_hash(&id)?;
    let n = node.clone();
    let view = read(&node, move || tx_view(&n, id).map_err(|e| e.0)).await?;
    Ok(Json(view).into_response())
}

/// The full view of a transaction: committed (with receipt and Merkle inclusion proof) or pending.
pub fn tx_view(node: &Node, id: Hash32) -> Result<TxView, ApiError> {
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
        let mut receipts = store
            .receipts(loc.height)
            .map_err(NodeError::from)?
            .unwrap_or_default();
        let idx = loc.index as usize;
        let stx = block
            .txs
            .get(idx)
            .ok_or_else(|| ApiError(NodeError::Io(format!("index of {id} is out of range"))))?
            .clone();
        let ids: Vec<Hash32> = block.txs.iter().map(|t| t.id()).collect();
        let proof = want_crypto::merkle_proof(&ids, idx);
        let receipt = (idx < receipts.len()).then(|| receipts.swap_remove(idx));
        return Ok(TxView::Committed(Box::new(CommittedTx {
            id,
            status: CommittedStatus::Committed,
            sender: receipt.as_ref().map(|r| r.sender),
            tx: stx,
            block_height: loc.height,
            block_hash: block.hash(),
            index: loc.index,
            receipt,
            tx_root: block.header.tx_root,
            proof,
        })));
    }
    if let Some(p) = node.shared.mempool.lock().get(&id) {
        return Ok(TxView::Pending(Box::new(PendingTx {
            id,
            status: PendingStatus::Pending,
            sender: p.sender,
            tx: p.stx.clone(),
        })));
    }
    Err(ApiError(NodeError::NotFound {
        code: codes::TX_NOT_FOUND,
        message: format!("transaction {id} is neither committed nor pending"),
    }))
}

/// A committed block: its header, hash, the proposer's signature, the state root after it and
/// its transactions' ids; with `full=true` the transactions and their receipts too.
#[derive(Serialize, ToSchema)]
pub struct BlockView {
    pub height: u64,
    pub hash: Hash32,
    pub header: BlockHeader,
    /// The proposer's Ed25519 signature over the block hash, in hex.
    #[schema(value_type = want_types::schema::HexBytes)]
    pub signature: String,
    /// The state root after executing this block.
    pub state_root: Hash32,
    pub tx_count: u32,
    pub tx_ids: Vec<Hash32>,
    /// The transactions (`full=true` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<Vec<SignedTransaction>>,
    /// Their receipts, in the same order (`full=true` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipts: Option<Vec<Receipt>>,
}

#[utoipa::path(get, path = "/v1/blocks/latest", tag = "blocks", params(BlockQuery),
    responses((status = 200, description = "the latest committed block", body = BlockView)))]
async fn get_latest_block(State(node): State<Node>, Query(q): Query<BlockQuery>) -> ApiResult {
    let n = node.clone();
    let view = read(&node, move || {
        let head = n.shared.store.head()?;
        block_view(&n, head.height, q.full)
    })
    .await?;
    Ok(Json(view).into_response())
}

#[utoipa::path(get, path = "/v1/blocks/{height}", tag = "blocks",
    params(("height" = u64, Path, description = "block height"), BlockQuery),
    responses((status = 200, description = "a committed block", body = BlockView),
        (status = 400, description = "invalid_height"), (status = 404, description = "block_not_found")))]
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
    let n = node.clone();
    let view = read(&node, move || block_view(&n, height, q.full)).await?;
    Ok(Json(view).into_response())
}

/// A block's view, read on the read pool: without `full`, its head and the transaction ids
/// stored with it (no transaction is read, decoded or hashed); with `full`, the transactions
/// and receipts too.
fn block_view(node: &Node, height: u64, full: bool) -> Result<BlockView, NodeError> {
    let store = &node.shared.store;
    let not_found = || NodeError::NotFound {
        code: codes::BLOCK_NOT_FOUND,
        message: format!("there is no block at height {height}"),
    };
    let info = store.block_info(height)?.ok_or_else(not_found)?;
    let (header, signature) = store.block_head(height)?.ok_or_else(not_found)?;
    let tx_ids = store.block_tx_ids(height)?.ok_or_else(not_found)?;
    let (transactions, receipts) = if full {
        // The receipts are this node's execution: a diverged node's are not the chain's.
        node.shared.refuse_if_diverged()?;
        let block = store.block(height)?.ok_or_else(not_found)?;
        let receipts = store.receipts(height)?.unwrap_or_default();
        (Some(block.txs), Some(receipts))
    } else {
        (None, None)
    };
    Ok(BlockView {
        height,
        hash: info.hash,
        header,
        signature: hex::encode(&signature),
        state_root: info.state_root,
        tx_count: info.tx_count,
        tx_ids,
        transactions,
        receipts,
    })
}

/// What `GET /v1/status` shows: the node, consensus and the chain.
#[derive(Serialize, ToSchema)]
pub struct StatusView {
    pub chain_id: u64,
    /// The hash of the genesis specification (null before the database records it).
    pub genesis_hash: Option<Hash32>,
    /// This node's Ed25519 public key, in hex.
    pub node_id: String,
    pub role: want_consensus::Role,
    /// The leader's public key, when there is one.
    pub leader: Option<String>,
    pub term: u64,
    /// Public keys of the voting members.
    pub members: Vec<String>,
    pub raft_id: u64,
    pub leader_raft_id: Option<u64>,
    /// Every member (voters and learners) with its Raft id and URL.
    pub member_list: Vec<want_consensus::MemberInfo>,
    pub height: u64,
    /// Index of the last Raft log entry applied here.
    pub applied_index: Option<u64>,
    /// Last log index covered by this node's latest snapshot.
    pub snapshot_index: Option<u64>,
    /// Last log index purged from this node's Raft log.
    pub purged_index: Option<u64>,
    /// Log index of the membership in force: approvals of a membership change name it.
    pub membership_index: Option<u64>,
    pub head_hash: Hash32,
    pub head_time_ms: u64,
    pub state_root: Hash32,
    pub mempool_size: usize,
    pub params: ChainParams,
    pub activations: Activations,
    pub block_interval_ms: u64,
    pub block_txs_max: usize,
    pub version: &'static str,
    pub uptime_s: u64,
    pub pid: u32,
    /// Set when a majority of the members signed another state than this node's (it then
    /// refuses every block and every route that serves state).
    pub divergence: Option<Divergence>,
    /// The latest members' votes that contradict this node's state without a majority, or the
    /// member's own earlier vote (equivocation): a member that diverged, or a leader that told
    /// members different blocks. Empty when all is well.
    pub vote_conflicts: Vec<VoteConflict>,
}

#[utoipa::path(get, path = "/v1/status", tag = "node",
    responses((status = 200, description = "node, consensus and chain status", body = StatusView)))]
async fn get_status(State(node): State<Node>) -> ApiResult {
    let s = &node.shared;
    let head = s.store.head().map_err(NodeError::from)?;
    let identity = s.store.identity().map_err(NodeError::from)?;
    let c = node.consensus_status();
    Ok(Json(StatusView {
        chain_id: s.params.chain_id,
        genesis_hash: identity.map(|i| i.genesis_hash),
        node_id: c.node_id,
        role: c.role,
        leader: c.leader,
        term: c.term,
        members: c.members,
        raft_id: c.raft_id,
        leader_raft_id: c.leader_raft_id,
        member_list: c.member_list,
        height: head.height,
        applied_index: c.applied_index,
        snapshot_index: c.snapshot_index,
        purged_index: c.purged_index,
        membership_index: c.membership_index,
        head_hash: head.hash,
        head_time_ms: head.timestamp_ms,
        state_root: head.state_root,
        mempool_size: s.mempool.lock().len(),
        params: s.params.clone(),
        activations: s.activations.clone(),
        block_interval_ms: s.cfg.block_interval_ms,
        block_txs_max: s.block_txs_max(),
        version: env!("CARGO_PKG_VERSION"),
        uptime_s: s.started.elapsed().as_secs(),
        pid: std::process::id(),
        divergence: s.divergence(),
        vote_conflicts: s.vote_conflicts(),
    })
    .into_response())
}

#[utoipa::path(post, path = "/v1/cluster/rpc", tag = "cluster",
    params(("x-want-envelope" = String, Header, description = "the sealed envelope header: hex of borsh(EnvelopeHeader) followed by the 64-byte Ed25519 signature, checked before the body is read")),
    request_body(content = Binary, content_type = "application/octet-stream", description = "the envelope's payload, whose SHA-256 the signed header names (at most 64 MiB; read only from a member whose header verified)"),
    responses((status = 200, description = "the sealed answer, a borsh Envelope", content_type = "application/octet-stream", body = Binary),
        (status = 403, description = "envelope_refused: error.reason says why (unsigned, malformed, wrong_chain, misaddressed, unknown_sender, bad_signature, stale, from_future, replayed: from the header, before the body is read; too_large, payload_mismatch: the body)"),
        (status = 404, description = "member_listener_only: this node serves members on its member listener (cluster.member_addr)")))]
/// `POST /v1/cluster/rpc`: a message from another member, header first. The sealed header
/// (`x-want-envelope`) is checked — sender, signature, chain, address, replay window — before a
/// byte of the body is read; then the body, at most [`want_consensus::net::ENVELOPE_BYTES_MAX`]
/// bytes, must match the signed payload hash. The answer is the sealed answer, or 403
/// `envelope_refused` with the reason.
async fn cluster_rpc(
    State(node): State<Node>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let field = headers
        .get(want_consensus::net::ENVELOPE_HEADER)
        .map(|v| v.as_bytes());
    let answer = match node.check_cluster_rpc_header(field) {
        Ok(checked) => match read_envelope_body(&headers, body).await {
            Ok(payload) => node.handle_cluster_rpc(checked, payload).await,
            Err(refusal) => Err(node.envelope_refused(refusal)),
        },
        Err(refusal) => Err(refusal),
    };
    match answer {
        Ok(answer) => octets(answer),
        Err(refusal) => {
            let body = ErrorBody {
                error: ErrorDetail {
                    code: codes::ENVELOPE_REFUSED,
                    message: format!("the message was refused: {refusal}"),
                    path: None,
                    reason: Some(refusal.code()),
                },
            };
            (StatusCode::FORBIDDEN, Json(body)).into_response()
        }
    }
}

/// Reads an envelope's body as it streams in, refusing it (`too_large`) once it announces or
/// passes [`want_consensus::net::ENVELOPE_BYTES_MAX`] bytes.
async fn read_envelope_body(
    headers: &HeaderMap,
    body: axum::body::Body,
) -> Result<Vec<u8>, want_consensus::net::Refusal> {
    use futures_util::StreamExt;
    use want_consensus::net::{Refusal, ENVELOPE_BYTES_MAX};
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = announced.filter(|n| *n > ENVELOPE_BYTES_MAX as u64) {
        return Err(Refusal::TooLarge(usize::try_from(n).unwrap_or(usize::MAX)));
    }
    let mut stream = body.into_data_stream();
    let mut payload = Vec::with_capacity(announced.map_or(0, |n| n as usize));
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Refusal::Malformed(format!("reading the body: {e}")))?;
        if payload.len() + chunk.len() > ENVELOPE_BYTES_MAX {
            return Err(Refusal::TooLarge(payload.len() + chunk.len()));
        }
        payload.extend_from_slice(&chunk);
    }
    Ok(payload)
}

fn octets(bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/sync/headers", tag = "cluster", params(RangeQuery),
    responses((status = 200, description = "borsh Vec<BlockHeader> of the stored blocks from `from` (at most 2,000 and 1 MiB; fewer at the head)", content_type = "application/octet-stream", body = Binary)))]
/// `GET /v1/sync/headers?from&count`: borsh `Vec<BlockHeader>` of the stored blocks from
/// `from` (at most [`crate::kernel::sync::SYNC_HEADERS_MAX`] and
/// [`crate::kernel::sync::SYNC_HEADERS_BYTES_MAX`]; fewer at the head), read from the stored
/// heads without reading the transactions.
async fn sync_headers(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::kernel::sync::SYNC_HEADERS_MAX);
    let store = node.shared.store.clone();
    let headers = read(&node, move || {
        Ok(store.headers(q.from, count, crate::kernel::sync::SYNC_HEADERS_BYTES_MAX)?)
    })
    .await?;
    Ok(octets(borsh::to_vec(&headers).expect(
        "invariant: borsh encoding into a Vec cannot fail",
    )))
}

#[utoipa::path(get, path = "/v1/sync/blocks", tag = "cluster", params(RangeQuery),
    responses((status = 200, description = "borsh Vec<Vec<u8>>: the canonical bytes of the stored blocks from `from` (at most 256 and about 32 MiB; at least one when there is one)", content_type = "application/octet-stream", body = Binary)))]
/// `GET /v1/sync/blocks?from&count`: borsh `Vec<Vec<u8>>`, the canonical bytes of the stored
/// blocks from `from` (at most [`crate::kernel::sync::SYNC_BLOCKS_MAX`] and about
/// [`crate::kernel::sync::SYNC_BYTES_MAX`] bytes).
async fn sync_blocks(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::kernel::sync::SYNC_BLOCKS_MAX);
    let store = node.shared.store.clone();
    let blocks = read(&node, move || {
        Ok(store.raw_blocks(q.from, count, crate::kernel::sync::SYNC_BYTES_MAX)?)
    })
    .await?;
    Ok(octets(borsh::to_vec(&blocks).expect(
        "invariant: borsh encoding into a Vec cannot fail",
    )))
}

#[utoipa::path(get, path = "/v1/sync/votes", tag = "cluster", params(RangeQuery),
    responses((status = 200, description = "borsh Vec<(u64, Vec<SignedVote>)>: the commit votes held for each height from `from` (at most 2,000 heights)", content_type = "application/octet-stream", body = Binary)))]
/// `GET /v1/sync/votes?from&count`: borsh `Vec<(u64, Vec<SignedVote>)>`, the commit votes this
/// node holds for each height from `from` (at most [`crate::kernel::sync::SYNC_HEADERS_MAX`] heights).
async fn sync_votes(State(node): State<Node>, Query(q): Query<RangeQuery>) -> ApiResult {
    let count = q.count.min(crate::kernel::sync::SYNC_HEADERS_MAX);
    let shared = node.shared.clone();
    let votes = read(
        &node,
        move || -> Result<Vec<(u64, Vec<want_types::SignedVote>)>, NodeError> {
            let head = shared.store.head()?.height;
            let mut out = Vec::new();
            for h in q.from.max(1)..q.from.saturating_add(count).min(head + 1) {
                out.push((h, shared.votes_for(h)?));
            }
            Ok(out)
        },
    )
    .await?;
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
    responses((status = 200, description = "the fault plan in force", body = want_consensus::net::FaultPlan), (status = 403, description = "faults_disabled")))]
async fn get_faults(State(node): State<Node>) -> ApiResult {
    // The plan was always written in its field order (not through a JSON value).
    Ok(axum::Json(fault_injector(&node)?.plan()).into_response())
}

#[utoipa::path(put, path = "/v1/admin/faults", tag = "cluster",
    request_body(content = want_consensus::net::FaultPlan, description = "the plan: drops, duplicates, corruptions and forgeries per mille, random delays, blocked members (omitted fields are 0 / empty)"),
    responses((status = 200, description = "the plan in force", body = want_consensus::net::FaultPlan),
        (status = 400, description = "invalid_json, invalid_transaction (the plan does not parse), invalid_fault_plan"), (status = 403, description = "faults_disabled")))]
async fn put_faults(State(node): State<Node>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let faults = fault_injector(&node)?;
    let plan: want_consensus::net::FaultPlan = parse_json(body, "fault plan")?;
    faults
        .set(plan)
        .map_err(|e| bad(codes::INVALID_FAULT_PLAN, e))?;
    tracing::warn!(target: "cluster::faults", "fault plan set: {:?}", faults.plan());
    Ok(axum::Json(faults.plan()).into_response())
}

pub(crate) fn parse_hash(s: &str) -> Result<Hash32, ApiError> {
    s.parse()
        .map_err(|e| bad(codes::INVALID_HASH, format!("{e}")))
}

#[utoipa::path(post, path = "/v1/cluster/votes", tag = "cluster",
    request_body(description = "members' signed commit votes: a JSON array, or the borsh Vec as application/octet-stream",
        content((VoteBatch = "application/json"), (Binary = "application/octet-stream"))),
    responses((status = 200, description = "how many votes were kept and how many were already held", body = VotesStored),
        (status = 400, description = "invalid_json, invalid_vote, bad_vote_signature, not_a_member, wrong_chain_id, vote_too_far_ahead (one bad vote refuses the request)"),
        (status = 413, description = "batch_too_large")))]
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
    Ok(Json(stored).into_response())
}

/// Every vote a node holds for a height.
#[derive(Serialize, ToSchema)]
pub struct VotesAtHeight {
    pub height: u64,
    pub votes: Vec<SignedVote>,
}

#[utoipa::path(get, path = "/v1/cluster/votes/{height}", tag = "cluster",
    params(("height" = u64, Path, description = "block height")),
    responses((status = 200, description = "every vote this node holds for the height, its own included", body = VotesAtHeight), (status = 400, description = "invalid_height")))]
/// `GET /v1/cluster/votes/{height}`: every vote this node holds for a height, its own included.
async fn get_votes(State(node): State<Node>, Path(height): Path<String>) -> ApiResult {
    let height = parse_height(&height)?;
    let shared = node.shared.clone();
    let votes = read(&node, move || shared.votes_for(height)).await?;
    Ok(Json(VotesAtHeight { height, votes }).into_response())
}

/// Most membership records one `GET /v1/cluster/membership/history` answers with.
pub const MEMBERSHIP_HISTORY_PAGE_MAX: usize = 256;

/// A page of the membership history (`GET /v1/cluster/membership/history`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    /// Only records after this Raft log index (the previous page's `next_after`).
    after: Option<u64>,
    /// How many records; at most 256 (the default).
    limit: Option<usize>,
}

/// The membership changes this node applied, in log order.
#[derive(Serialize, ToSchema)]
pub struct MembershipHistory {
    /// Each change: `log_index`, `first_height` (the first block it governs), `configs` (the
    /// voter sets), `members` (`id`, `public_key`, `url`, `voter`), `authorization` (the
    /// approved request it carries out, with its approvals: `cmd`, `membership_index`,
    /// `approvals` of `member` and Ed25519 `signature` bytes), `step` (`initial`, `unchanged`,
    /// `completes_joint`, `authorized`; null with a `problem` when the change was not
    /// authorised).
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<want_consensus::raft::authority::MembershipRecord>,
    /// Pass as `after` for the next page; null on the last page.
    pub next_after: Option<u64>,
}

#[utoipa::path(get, path = "/v1/cluster/membership/history", tag = "cluster",
    params(HistoryQuery),
    responses((status = 200, description = "the membership changes this node applied, with the block height each governs from and the approvals that authorised it", body = MembershipHistory)))]
/// `GET /v1/cluster/membership/history`: every membership change this node applied (a member
/// that caught up from a snapshot lacks those before it), paged by log index. `want block
/// verify` checks it from the genesis and counts each certificate against the voters in force
/// at its height.
async fn get_membership_history(
    State(node): State<Node>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult {
    let limit = q
        .limit
        .unwrap_or(MEMBERSHIP_HISTORY_PAGE_MAX)
        .clamp(1, MEMBERSHIP_HISTORY_PAGE_MAX);
    let shared = node.shared.clone();
    let after = q.after;
    let records = read(&node, move || shared.membership_history(after, limit)).await?;
    let next_after = if records.len() == limit {
        records.last().map(|r| r.log_index)
    } else {
        None
    };
    Ok(Json(MembershipHistory {
        records,
        next_after,
    })
    .into_response())
}

/// A block's commit certificate: the signatures of a strict majority of the members over
/// (chain id, height, block hash, state root).
#[derive(Serialize, ToSchema)]
pub struct BlockCertificate {
    pub height: u64,
    pub chain_id: u64,
    pub block_hash: Hash32,
    pub state_root: Hash32,
    pub signatures: Vec<VoteSignature>,
    /// Members in the membership the certificate was counted against.
    pub members: usize,
    /// Signatures needed: a strict majority of `members`.
    pub required: usize,
    /// Every member signed (not just a majority).
    pub complete: bool,
}

#[utoipa::path(get, path = "/v1/blocks/{height}/certificate", tag = "blocks",
    params(("height" = u64, Path, description = "block height")),
    responses((status = 200, description = "the signatures of a strict majority of the members", body = BlockCertificate),
        (status = 400, description = "invalid_height"), (status = 404, description = "certificate_missing")))]
/// `GET /v1/blocks/{height}/certificate`: the signatures of a strict majority of the members
/// over (chain id, height, block hash, state root); `certificate_missing` while there is none.
async fn get_certificate(State(node): State<Node>, Path(height): Path<String>) -> ApiResult {
    let height = parse_height(&height)?;
    let shared = node.shared.clone();
    let Some(view) = read(&node, move || shared.certificate(height)).await? else {
        return Err(ApiError(NodeError::NotFound {
            code: codes::CERTIFICATE_MISSING,
            message: format!(
                "block {height} has no commit certificate (yet): a majority of the members has not signed it, or there is no such block"
            ),
        }));
    };
    let vote = view.certificate.vote;
    Ok(Json(BlockCertificate {
        height: vote.height,
        chain_id: vote.chain_id,
        block_hash: vote.block_hash,
        state_root: vote.state_root,
        signatures: view.certificate.signatures,
        members: view.members,
        required: view.required,
        complete: view.complete,
    })
    .into_response())
}

/// The node is up and takes new work: its head's height and its disk.
#[derive(Serialize, ToSchema)]
pub struct Health {
    pub ok: bool,
    pub height: u64,
    /// The data directory's free space, its floor and consensus's reserve.
    pub storage: crate::kernel::disk::StorageStatus,
}

#[utoipa::path(get, path = "/healthz", tag = "node",
    responses((status = 200, description = "the node answers and takes new work; its head's height and free space", body = Health),
        (status = 503, description = "storage_low: the node answers but refuses new work, its disk is below the free-space floor (the message gives the figures)")))]
async fn healthz(State(node): State<Node>) -> ApiResult {
    let head = node.shared.store.head().map_err(NodeError::from)?;
    if let Err(e) = node.shared.disk.check_room() {
        return Err(bad(codes::STORAGE_LOW, e.to_string()));
    }
    Ok(Json(Health {
        ok: true,
        height: head.height,
        storage: node.shared.disk.status(),
    })
    .into_response())
}

/// A free-space figure to use instead of the filesystem's (`null`: the filesystem's again).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageFault {
    pub free_bytes: Option<u64>,
}

#[utoipa::path(put, path = "/v1/admin/storage", tag = "node",
    request_body(content = StorageFault, description = "the free space the node should believe it has, in bytes (null: read the filesystem again)"),
    responses((status = 200, description = "the storage status now", body = crate::kernel::disk::StorageStatus),
        (status = 400, description = "invalid_json"), (status = 403, description = "faults_disabled")))]
/// `PUT /v1/admin/storage`: injects a free-space figure (fault tests of the storage floor; only
/// with `fault_injection = true`).
async fn put_storage_fault(
    State(node): State<Node>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    if !node.shared.cfg.fault_injection {
        return Err(bad(
            codes::FAULTS_DISABLED,
            "fault injection is disabled on this node (fault_injection = true in its configuration; for fault tests only)",
        ));
    }
    let fault: StorageFault = parse_json(body, "storage fault")?;
    let shared = node.shared.clone();
    let status = blocking(move || {
        let s = shared.disk.inject_free_bytes(fault.free_bytes)?;
        shared.publish_storage(&s);
        Ok(s)
    })
    .await?;
    tracing::warn!(target: "storage", "injected free space: {:?}", fault.free_bytes);
    Ok(Json(status).into_response())
}

#[utoipa::path(get, path = "/metrics", tag = "node",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text", body = String)))]
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

#[cfg(test)]
mod parser_tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fuzz_inputs::{mutated, nasty_char};

    fn check_hash(s: &str) -> Result<(), TestCaseError> {
        match (parse_hash(s), s.parse::<Hash32>()) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(ApiError(e)), Err(t)) => {
                prop_assert_eq!(e.code(), crate::error::codes::INVALID_HASH);
                prop_assert_eq!(e.to_string(), t.to_string());
            }
            (got, want) => prop_assert!(false, "{s:?}: {:?} but {want:?}", got.map_err(|e| e.0)),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_text_is_a_hash_or_invalid_hash(
            s in prop_oneof![
                any::<String>(),
                prop::collection::vec(nasty_char(), 0..70).prop_map(|v| v.into_iter().collect()),
                "(0x)?[0-9a-fA-F]{60,68}",
            ],
        ) {
            check_hash(&s)?;
        }

        #[test]
        fn mutated_hashes_are_hashes_or_invalid_hash(
            s in mutated(any::<[u8; 32]>().prop_map(|h| Hash32(h).to_string())),
            p in mutated(any::<[u8; 32]>().prop_map(|h| format!("0x{}", Hash32(h)))),
        ) {
            check_hash(&s)?;
            check_hash(&p)?;
        }

        #[test]
        fn printed_hashes_read_back(h in any::<[u8; 32]>()) {
            let h = Hash32(h);
            prop_assert_eq!(parse_hash(&h.to_string()).unwrap(), h);
            prop_assert_eq!(parse_hash(&format!("0x{}", h.to_string().to_uppercase())).unwrap(), h);
        }
    }
}
